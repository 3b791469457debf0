-- Each code is bound to the browser that asked for it: the SHA-256 of a
-- verifier kept in that browser's cookie on the app. Codes stored before
-- (at most a minute old at the upgrade) have none and cannot be redeemed.
ALTER TABLE handoff_codes ADD COLUMN binding_hash BLOB;
