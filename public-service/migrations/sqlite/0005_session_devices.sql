-- "Where you're signed in" (docs/flows.md): what a person sees of each of
-- their sessions. `device` is a summary such as "Chrome on macOS" made at
-- sign-in (the raw User-Agent is never stored); `place` is the operator's
-- load balancer's location header, only when SESSION_PLACE_HEADER names
-- it. `revoked_reason` says how a revoked session ended, for the notice
-- on its browser's next sign-in ('signed_out_everywhere').
ALTER TABLE sessions ADD COLUMN device TEXT;
ALTER TABLE sessions ADD COLUMN place TEXT;
ALTER TABLE sessions ADD COLUMN revoked_reason TEXT;

-- The registered apps each session was handed to (at most one row per
-- registered app, so bounded), for the sessions page. Rows of purged
-- sessions go with them (Store::purge).
CREATE TABLE session_apps (
    session_id TEXT NOT NULL,
    app TEXT NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, app)
);
