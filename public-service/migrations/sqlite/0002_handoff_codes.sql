-- One-time codes of the separate-sites delivery: stored only as a hash,
-- bound to one app, redeemed at most once, valid about a minute.
CREATE TABLE handoff_codes (
    code_hash BLOB PRIMARY KEY NOT NULL,
    audience TEXT NOT NULL,
    session_id TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX handoff_codes_by_expiry ON handoff_codes (expires_at);
