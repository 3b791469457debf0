//! `bench/RESULTS.md`: the table, the targets read from it, how the run
//! was made and on what machine.

use std::fmt::Write;
use std::time::Duration;

use crate::cpus::Pinning;
use crate::machine::Facts;
use crate::rows::{servers_of, Generator, Kind, Row, ServerKind, SIGN_IN_REQUESTS};
use crate::settings::RunSettings;
use crate::stack::{self, Service, Stack};
use crate::steps::SignInSteps;

pub struct Report<'a> {
    pub steps: &'a SignInSteps,
    pub settings: &'a RunSettings,
    pub pinning: &'a Pinning,
    pub stack: &'a Stack,
    pub rows: &'a [Row],
    pub facts: &'a Facts,
    pub load_before: String,
    pub load_after: String,
}

const MB: f64 = 1e6;

impl Report<'_> {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Benchmark results\n\nWritten by `bench/run` on {}, commit {}. Do not edit: run `bench/run` again.\n",
            self.facts.date, self.facts.commit
        );
        out += &self.table();
        out += &self.targets();
        out += &self.sign_in_steps();
        out += &self.rows_explained();
        out += &self.how();
        out += &self.machine();
        out
    }

    /// The rows as tab-separated lines (kind, title, requests/s, ratio to
    /// the baseline, p50 and p99 in ms, peak RSS of the row's first server
    /// in bytes), for `bench-compare`, which lays two builds' runs side by
    /// side.
    pub fn figures(&self) -> String {
        let mut out = String::from(
            "kind\ttitle\trequests_per_second\tratio\tp50_ms\tp99_ms\tpeak_rss_bytes\n",
        );
        for row in self.rows {
            let m = &row.measured;
            let peak = row.peak_memory.first().map_or(0, |(_, bytes)| *bytes);
            let _ = writeln!(
                out,
                "{:?}\t{}\t{:.1}\t{:.4}\t{:.3}\t{:.3}\t{}",
                row.kind,
                title(row.kind),
                m.per_second(),
                self.ratio(row),
                m.p50.as_secs_f64() * 1e3,
                m.p99.as_secs_f64() * 1e3,
                peak
            );
        }
        out
    }

    fn table(&self) -> String {
        let mut t = String::from(
            "| Row | Load generator | Requests/s | × baseline | p50 | p99 | Errors | Peak RSS of the server | Start → ready (median of starts) | Release binary |\n|---|---|--:|--:|--:|--:|--:|---|---|---|\n",
        );
        for row in self.rows {
            let m = &row.measured;
            let servers = servers_of(row.kind);
            let per_server = |f: &dyn Fn(ServerKind) -> String| {
                servers.iter().map(|s| f(*s)).collect::<Vec<_>>().join(", ")
            };
            let _ = writeln!(
                t,
                "| {} | {} | {:.0} | {:.2}{} | {} | {} | {} | {} | {} | {} |",
                title(row.kind),
                match row.generator {
                    Generator::Wrk => "wrk",
                    Generator::Driver => "Rust driver",
                },
                m.per_second(),
                self.ratio(row),
                if row.generator == Generator::Driver {
                    " †"
                } else {
                    ""
                },
                ms(m.p50),
                ms(m.p99),
                m.errors,
                per_server(&|s| {
                    let bytes = row
                        .peak_memory
                        .iter()
                        .find(|(k, _)| *k == s)
                        .map_or(0, |p| p.1);
                    format!("{} {:.1} MB", name(s), bytes as f64 / MB)
                }),
                per_server(&|s| format!("{} {}", name(s), ms(self.service(s).median_ready()))),
                per_server(&|s| format!(
                    "{} {:.1} MB",
                    name(s),
                    self.service(s).binary_bytes as f64 / MB
                )),
            );
        }
        let _ = writeln!(
            t,
            "\n{} concurrent connections (wrk) or flows (Rust driver) per row, {} s measured after {} s of warm-up. \
             × baseline: a wrk row against the baseline measured again, as long, right before it (so a machine whose speed drifts during the run moves both alike; the baseline row shows the first of these), a Rust driver row against the baseline row of the driver (†). \
             Errors: non-2xx/3xx answers and socket errors (wrk), failed operations (Rust driver); they are not counted in requests/s. \
             Peak RSS: the server's VmHWM, reset when the measured window starts. \
             Start → ready: from spawn to the first `200` of `/readyz`, polled every millisecond; the median of {} starts (fastest–slowest: {}).\n",
            self.settings.connections,
            self.settings.duration.as_secs(),
            self.settings.warmup.as_secs(),
            self.settings.starts,
            [ServerKind::Public, ServerKind::App, ServerKind::Baseline]
                .iter()
                .map(|s| {
                    let ready = &self.service(*s).ready;
                    format!("{} {}–{}", name(*s), ms(ready[0]), ms(ready[ready.len() - 1]))
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        for row in self.rows.iter().filter(|r| r.note.is_some()) {
            let _ = writeln!(
                t,
                "- {}: {}",
                title(row.kind),
                row.note.as_deref().unwrap_or_default()
            );
        }
        t + "\n"
    }

    fn targets(&self) -> String {
        let mut t = String::from("## Targets\n\n| Target | Measured | |\n|---|---|---|\n");
        let mut line = |target: &str, measured: String, met: bool| {
            let _ = writeln!(
                t,
                "| {target} | {measured} | {} |",
                if met { "met" } else { "**missed**" }
            );
        };
        let ratio = |kind| self.row(kind).map_or(0.0, |r| self.ratio(r));
        let p99 = |kind| self.row(kind).map_or(Duration::MAX, |r| r.measured.p99);
        let baseline_p99 = |kind| {
            self.row(kind)
                .and_then(|r| self.baseline_of(r))
                .map_or(Duration::ZERO, |b| b.p99)
                .as_secs_f64()
        };
        // A row left out of this run (`BENCH_ROWS`) has no target line:
        // it was not measured, so it neither met nor missed anything.
        let ran = |kind| self.row(kind).is_some();
        for kind in [
            Kind::AppCookieDefaults,
            Kind::AppCookieJson,
            Kind::AppRotatingUsers,
            Kind::AxumCookie,
        ] {
            if !ran(kind) {
                continue;
            }
            let r = ratio(kind);
            line(
                &format!("{} ≥ 0.9× baseline requests/s", title(kind)),
                format!("{r:.2}×"),
                r >= 0.9,
            );
            let of_baseline = p99(kind).as_secs_f64() / baseline_p99(kind);
            line(
                &format!("{}: p99 ≤ 1.3× the baseline's p99", title(kind)),
                format!("{} ({of_baseline:.2}×)", ms(p99(kind))),
                of_baseline <= 1.3,
            );
        }
        for (kind, least) in [
            (Kind::LoginRedirect, 0.6),
            (Kind::ForwardAuth, 0.85),
            (Kind::AppBearer, 0.85),
            (Kind::Broker, 0.5),
            (Kind::FreshValid, 0.1),
            (Kind::FreshForged, 0.1),
        ] {
            if !ran(kind) {
                continue;
            }
            let r = ratio(kind);
            line(
                &format!("{} ≥ {least}× baseline", title(kind)),
                format!("{r:.2}×"),
                r >= least,
            );
        }
        // The gate against its rivals, two ways: requests/s of the rows
        // themselves (measured a minute apart), and each row's ratio to
        // the app measured right before it (which cancels drift but adds
        // the two baselines' own noise). Met only if both say so.
        if ran(Kind::GateCookie) {
            let per_second = |kind| {
                self.row(kind)
                    .map_or(0.0, |r: &Row| r.measured.per_second())
            };
            for (rival, least) in [(Kind::NginxAuthRequest, 1.5), (Kind::NginxProxyPass, 0.8)] {
                if !ran(rival) {
                    continue;
                }
                let direct = per_second(Kind::GateCookie) / per_second(rival);
                let by_ratio = ratio(Kind::GateCookie) / ratio(rival);
                line(
                    &format!("Gate ≥ {least}× {} requests/s", name(servers_of(rival)[0])),
                    format!(
                        "{direct:.2}× ({:.0} against {:.0}/s); {by_ratio:.2}× as ratios to their baselines ({:.2}× against {:.2}×)",
                        per_second(Kind::GateCookie),
                        per_second(rival),
                        ratio(Kind::GateCookie),
                        ratio(rival)
                    ),
                    direct >= least && by_ratio >= least,
                );
            }
            let peak = self.peak_of(ServerKind::Gate) as f64 / MB;
            line(
                &format!(
                    "Gate under 30 MB resident at {} connections",
                    self.settings.connections
                ),
                format!("{peak:.1} MB"),
                peak < 30.0,
            );
        }
        for server in [ServerKind::Public, ServerKind::App] {
            let peak = self.peak_of(server) as f64 / MB;
            // Every app instance counts as the app.
            let peak = if server == ServerKind::App {
                [ServerKind::AppDefaults, ServerKind::AppJson]
                    .iter()
                    .map(|s| self.peak_of(*s) as f64 / MB)
                    .fold(peak, f64::max)
            } else {
                peak
            };
            line(
                &format!(
                    "{} under 30 MB resident at {} connections (highest peak of its rows)",
                    service_name(server),
                    self.settings.connections
                ),
                format!("{peak:.1} MB"),
                peak < 30.0,
            );
        }
        for server in [ServerKind::Public, ServerKind::App] {
            let ready = self.service(server).median_ready();
            line(
                &format!(
                    "{} start to ready < 100 ms ({}median of starts)",
                    service_name(server),
                    if server == ServerKind::Public {
                        "SQLite; "
                    } else {
                        ""
                    }
                ),
                ms(ready),
                ready < Duration::from_millis(100),
            );
        }
        t + "\n"
    }

    fn sign_in_steps(&self) -> String {
        if self.steps.steps.is_empty() {
            return String::new();
        }
        let mut t = format!(
            "## A sign-in step by step\n\n{} sign-ins one after another on otherwise idle servers (after the rows above), each step timed from sending the request to the last byte of the answer, as the Rust driver sees it (loopback and client time included, no queueing):\n\n| Step | p50 | p99 | What it is |\n|---|--:|--:|---|\n",
            self.steps.sign_ins
        );
        for step in &self.steps.steps {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} |",
                step.name,
                ms(step.p50),
                ms(step.p99),
                step.what
            );
        }
        t + "\n"
    }

    fn rows_explained(&self) -> String {
        let mut t = String::from("## What one request is in each row\n\n");
        for row in self.rows {
            let _ = writeln!(
                t,
                "- **{}** ({}): {}",
                title(row.kind),
                match row.generator {
                    Generator::Wrk
                        if matches!(
                            row.kind,
                            Kind::AppRotatingUsers | Kind::FreshValid | Kind::FreshForged
                        ) =>
                        "wrk, a token from a list in turn on every request",
                    Generator::Wrk => "wrk, one fixed request on every connection",
                    Generator::Driver =>
                        "the Rust driver in `bench/src`, one operation per task at a time",
                },
                meaning(row.kind)
            );
        }
        t + "\n"
    }

    fn how(&self) -> String {
        format!(
            "## How it was run\n\n\
             - Release builds (`cargo build --release`), on loopback; {pinning}. `WORKERS={workers}` for the public service, the app and the baseline alike; wrk with {threads} thread(s).\n\
             - The public service on SQLite (a fresh file per start, so migrations run at every start), with the separate-sites delivery (`HANDOFF_DELIVERY=code`), `HANDOFF_TTL={ttl}`, the token broker on. The app verifies handoff tokens with the public service's JWKS, polls revoked sessions (default 15 s), and accepts people's ID tokens for one extension client id.\n\
             - `RUST_LOG={log}` on all servers but two more instances of the app, on ports of their own and for the same `APP_URL`: one as shipped (no `RUST_LOG`, text logs) and one with `LOG_FORMAT=json` (what Cloud Run deployments set); the rows marked \"defaults\" and \"JSON logs\" go to them. Their output goes to files in `bench/out/`.\n\
             - The proxies' rows put nginx (`proxy_pass`, or `auth_request` asking the quiet app's `/auth/verify`) or `handoff-gate` in front of the plain axum handler, each pinned with the servers; nginx with one worker per server core, keep-alive on both sides and no access log (`bench/src/proxies.rs`); the gate as shipped.\n\
             - Rate limits raised out of the way: every request comes from 127.0.0.1, so `RATE_LIMIT_SIGN_IN_PER_MINUTE`, `RATE_LIMIT_BACK_CHANNEL_PER_MINUTE` and (one caller) `RATE_LIMIT_BROKER_PER_MINUTE` on the public service and `RATE_LIMIT_HANDOFF_PER_MINUTE` on the app are {limit} (the limiters still run on every request). A row with any failed request stops the run with the first failure's status and body, and no table is written.\n\
             - The mock provider runs inside the driver process, on the load generators' cores: it stands for Google. It signs one RS256 ID token per sign-in, which costs the Rust driver's rows some client time, not the servers'.\n\
             - The Rust driver is reqwest on tokio with {conns} tasks sharing one connection pool; cookies are kept per origin and every redirect is followed by hand.\n\
             - Load average (1, 5, 15 min) before the run: {before}; after: {after}. Other work on the machine shows here and in the numbers.\n\n",
            pinning = self.pinning.describe(),
            workers = self.pinning.server_cores,
            threads = self.pinning.load_cores,
            ttl = stack::HANDOFF_TTL,
            log = stack::LOG_FILTER,
            limit = stack::RATE_LIMIT_PER_MINUTE,
            conns = self.settings.connections,
            before = self.load_before,
            after = self.load_after,
        )
    }

    fn machine(&self) -> String {
        let f = self.facts;
        format!(
            "## Machine\n\n\
             | | |\n|---|---|\n\
             | CPUs online | {} |\n| CPU | {} |\n| Memory | {} |\n| Kernel | {} |\n| rustc | {} |\n| wrk | {} |\n| Date | {} |\n| Commit | {} |\n",
            f.cpus_online, f.cpu_model, f.memory, f.kernel, f.rustc, f.wrk, f.date, f.commit
        )
    }

    fn row(&self, kind: Kind) -> Option<&Row> {
        self.rows.iter().find(|r| r.kind == kind)
    }

    /// Requests per second against the baseline of the same load generator.
    /// What `row` is compared with: the baseline measured right before it
    /// (wrk rows), or the baseline row of its load generator.
    fn baseline_of<'r>(&'r self, row: &'r Row) -> Option<&'r crate::load::Measured> {
        let baseline = match row.generator {
            Generator::Wrk => Kind::BaselineWrk,
            Generator::Driver => Kind::BaselineDriver,
        };
        row.paired_baseline
            .as_ref()
            .or_else(|| self.row(baseline).map(|b| &b.measured))
    }

    fn ratio(&self, row: &Row) -> f64 {
        self.baseline_of(row)
            .map(|b| b.per_second())
            .filter(|b| *b > 0.0)
            .map_or(0.0, |b| row.measured.per_second() / b)
    }

    fn peak_of(&self, server: ServerKind) -> u64 {
        self.rows
            .iter()
            .flat_map(|r| r.peak_memory.iter())
            .filter(|(k, _)| *k == server)
            .map(|(_, bytes)| *bytes)
            .max()
            .unwrap_or(0)
    }

    fn service(&self, server: ServerKind) -> &Service {
        match server {
            ServerKind::Public => &self.stack.public,
            ServerKind::App => &self.stack.app,
            ServerKind::AppDefaults => &self.stack.app_defaults,
            ServerKind::AppJson => &self.stack.app_json,
            ServerKind::Baseline => &self.stack.baseline,
            ServerKind::Axum => &self.stack.axum,
            ServerKind::AxumBaseline => &self.stack.axum_baseline,
            ServerKind::Gate => &self.stack.gate,
            ServerKind::NginxProxy => &self.stack.nginx_proxy,
            ServerKind::NginxAuth => &self.stack.nginx_auth,
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn name(server: ServerKind) -> &'static str {
    match server {
        ServerKind::Public => "public",
        ServerKind::App => "app",
        ServerKind::AppDefaults => "app (defaults)",
        ServerKind::AppJson => "app (JSON logs)",
        ServerKind::Baseline => "baseline",
        ServerKind::Axum => "axum app",
        ServerKind::AxumBaseline => "axum baseline",
        ServerKind::Gate => "gate",
        ServerKind::NginxProxy => "nginx proxy_pass",
        ServerKind::NginxAuth => "nginx auth_request",
    }
}

fn service_name(server: ServerKind) -> &'static str {
    match server {
        ServerKind::Public => "Public service",
        ServerKind::App | ServerKind::AppDefaults | ServerKind::AppJson => "Private app",
        ServerKind::Baseline => "Baseline",
        ServerKind::Axum => "axum example",
        ServerKind::AxumBaseline => "axum baseline",
        ServerKind::Gate => "Gate",
        ServerKind::NginxProxy => "nginx proxy_pass",
        ServerKind::NginxAuth => "nginx auth_request",
    }
}

fn title(kind: Kind) -> &'static str {
    match kind {
        Kind::BaselineWrk => "Baseline: plain actix-web, no auth",
        Kind::AppCookie => "App GET `/api/me`, handoff cookie",
        Kind::AppCookieDefaults => "App GET `/api/me`, handoff cookie, defaults",
        Kind::AppCookieJson => "App GET `/api/me`, handoff cookie, JSON logs",
        Kind::AxumBaseline => "Baseline: plain axum, no auth",
        Kind::AxumCookie => "axum example GET `/api/me`, handoff cookie (ratio to plain axum)",
        Kind::NginxProxyPass => "nginx `proxy_pass` to the plain axum app, no auth (ratio to the app directly)",
        Kind::NginxAuthRequest => "nginx `auth_request` (the app's `/auth/verify`) to the plain axum app, handoff cookie (ratio to the app directly)",
        Kind::GateCookie => "Gate to the plain axum app, handoff cookie, defaults (ratio to the app directly)",
        Kind::AppRotatingUsers => "App GET `/api/me`, 100 users' cookies in rotation, defaults",
        Kind::FreshValid => "App GET `/api/me`, never-seen valid tokens, defaults",
        Kind::FreshForged => "App GET `/api/me`, never-seen forged tokens, defaults",
        Kind::AppBearer => "App GET `/api/me`, Bearer ID token",
        Kind::ForwardAuth => "Forward auth `/auth/verify`",
        Kind::LoginRedirect => "Public login redirect",
        Kind::Broker => "Token broker, cached token",
        Kind::BaselineDriver => "Baseline, from the Rust driver",
        Kind::Redemption => "Handoff code redemption",
        Kind::SignIn => "Full sign-in round trip",
    }
}

fn meaning(kind: Kind) -> String {
    match kind {
        Kind::BaselineWrk => "`GET /api/me` on a plain actix-web handler that returns the same JSON as the app's `/api/me`, with no auth and no middleware (`bench/src/bin/baseline.rs`).",
        Kind::AppCookie => "`GET /api/me` on the app with the handoff cookie of a real sign-in: ES256 verification against the cached JWKS, the revoked-session check, the JSON answer.",
        Kind::AppCookieDefaults => "the same request on the app as shipped: no `RUST_LOG` (its default filter, `info`), text logs.",
        Kind::AppCookieJson => "the same request on the app with `LOG_FORMAT=json` and no `RUST_LOG`, as on Cloud Run.",
        Kind::AxumBaseline => "`GET /api/me` on a plain axum handler returning the same JSON, no auth (`bench/src/bin/axum-baseline.rs`); its ratio is to the actix-web baseline.",
        Kind::AxumCookie => "`GET /api/me` on `examples/axum-service` (`Guard::builder` from two URLs, revocation on, no middleware of ours) with the app's handoff cookie (the same audience): the same gate as the actix app through the axum adapter; its ratio is to the plain axum handler measured right before it.",
        Kind::NginxProxyPass => "`GET /api/me` through nginx (`proxy_pass`, keep-alive to the app, one worker per server core, no access log: `bench/src/proxies.rs`) to the plain axum handler: what a proxy costs with no sign-in at all.",
        Kind::NginxAuthRequest => "`GET /api/me` with the handoff cookie through nginx `auth_request`, which first asks the quiet app's `GET /auth/verify` (keep-alive) and then proxies to the plain axum handler: the way to put the sign-in in front of a non-Rust app before the gate. Peak memory: nginx and the app that verifies.",
        Kind::GateCookie => "`GET /api/me` with the handoff cookie through `handoff-gate` as shipped (no `RUST_LOG`; the same `APP_URL`, so the same cookie; revocation on), which verifies it (ES256, cached) and proxies to the plain axum handler with the identity headers and the assertion.",
        Kind::AppRotatingUsers => "`GET /api/me` on the app as shipped, the handoff cookie taken in turn from 100 users' tokens (minted by the driver with the public service's signing key, with the real sign-in's issuer, audience, session and lifetime): all in the verified-token cache after the first round.",
        Kind::FreshValid => "`GET /api/me` on the app as shipped, each request with a handoff token it has never seen (minted beforehand with the public service's key, each with its own `jti`; the warm-up and the window get different ones, and a row that would send one twice stops the run): a full ES256 verification and a cache insertion per request, `200`.",
        Kind::FreshForged => "`GET /api/me` on the app as shipped, each request with a forged token: a minted token's claims with another one's signature, for the trusted key's `kid`, so the app refuses it only after the full signature check. Success here is the app's `401`; any other answer is an error.",
        Kind::AppBearer => "`GET /api/me` on the app with `Authorization: Bearer` and a person's ID token from the provider: RS256 verification, issuer, audience, e-mail policy.",
        Kind::ForwardAuth => "`GET /auth/verify` on the app with the handoff cookie: `200` with the identity headers.",
        Kind::LoginRedirect => "`GET /login?return_to=<app>/&binding=<the browser's binding>` on the public service, as the app sends a browser under the separate-sites delivery: a sealed login-transaction cookie (state, nonce, PKCE, binding) and a `302` to the provider (checked once before the row).",
        Kind::Broker => "`POST /broker/token` with the caller's service-account ID token (RS256) for a signed-in user whose access token the broker has cached.",
        Kind::BaselineDriver => "the baseline's `GET /api/me` from the Rust driver: the driver's own ceiling, the reference (†) for the rows below.",
        Kind::Redemption => "`POST /handoff/redeem` with the app's service-account ID token and an unused one-time code, as the app calls it. The codes are minted before the window by `GET /renew` with the session cookie (not timed); each is redeemed once, oldest first.",
        Kind::SignIn => return format!("one whole sign-in of a new browser, {SIGN_IN_REQUESTS} browser requests (checked on every sign-in): app `/` → public `/renew` → provider authorize → public `/callback` (which calls the provider's token endpoint) → app `/auth/handoff` (which redeems the code at the public service) → app `/` with the new cookie, `200`. Latency is the whole round trip."),
    }
    .to_owned()
}
