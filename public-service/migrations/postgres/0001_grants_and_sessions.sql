-- Offline grants: one per user (provider subject). Tokens are sealed with
-- AES-256-GCM; the key id is stored beside each ciphertext.
CREATE TABLE grants (
    subject TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    scopes TEXT NOT NULL,
    refresh_token BYTEA,
    refresh_token_key_id TEXT,
    access_token BYTEA,
    access_token_key_id TEXT,
    access_token_expires_at BIGINT,
    -- Bumped whenever the refresh token or the revocation changes; writers
    -- of those compare-and-swap on it.
    version BIGINT NOT NULL DEFAULT 0,
    -- The one instance refreshing the access token holds this lease.
    refresh_lease_id TEXT,
    refresh_lease_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Browser sessions of the public service. The cookie holds the id and a
-- secret; only the secret's SHA-256 is stored.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    secret_hash BYTEA NOT NULL,
    subject TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT,
    hosted_domain TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_by_subject ON sessions (subject);
CREATE INDEX sessions_by_revocation ON sessions (revoked_at);
