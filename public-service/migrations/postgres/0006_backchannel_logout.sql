-- OpenID Connect Back-Channel Logout 1.0: the provider's session id (the
-- ID token's `sid`) each session was signed in with, so that a logout
-- token naming it ends the session; sessions from before have none (a
-- logout token naming only `sub` still ends them).
ALTER TABLE sessions ADD COLUMN provider_sid TEXT;
CREATE INDEX sessions_by_provider_sid ON sessions (provider_sid);

-- The logout tokens' `jti`s taken, each until its token would be refused
-- anyway (past its `exp` or too old): a replay within that time is
-- refused by the primary key. Purged by the request-driven housekeeping.
CREATE TABLE logout_token_jtis (
    jti TEXT PRIMARY KEY NOT NULL,
    remember_until BIGINT NOT NULL
);
CREATE INDEX logout_token_jtis_by_expiry ON logout_token_jtis (remember_until);
