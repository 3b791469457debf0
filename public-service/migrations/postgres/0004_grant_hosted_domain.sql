-- The Google Workspace domain (`hd`) the user last signed in with, so the
-- token broker can re-check the access policy on every call. Grants from
-- before take it from the user's newest session; one with no session left
-- has none until the user signs in again (a policy on hosted domains
-- refuses it meanwhile).
ALTER TABLE grants ADD COLUMN hosted_domain TEXT;
UPDATE grants SET hosted_domain = (
    SELECT s.hosted_domain FROM sessions s
    WHERE s.subject = grants.subject
    ORDER BY s.created_at DESC
    LIMIT 1
);
