// Over 400 lines: every row of the table in one place, so what each measures can be compared at a glance.
//! The rows of the table: what each one sends, which load generator sends
//! it, and which servers' peak memory it reads.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use reqwest::Client;

use crate::browser::{excerpt, Browser};
use crate::inputs::Inputs;
use crate::load::{self, Measured, Outcome};
use crate::settings::RunSettings;
use crate::stack::Stack;
use crate::tokens::{self, Minter};
use crate::wrk::{Request, Rotation, Wrk};

/// Codes live 60 s; minting, warm-up and measuring must fit in that.
const CODE_LIFETIME: Duration = Duration::from_secs(60);
const CODE_MARGIN: Duration = Duration::from_secs(5);
const MAX_CODES: usize = 1_000_000;
/// Browser requests in one sign-in with code delivery, as RESULTS.md
/// describes them; a flow that takes another number fails the row.
pub const SIGN_IN_REQUESTS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BaselineWrk,
    AppCookie,
    AppCookieDefaults,
    AppCookieJson,
    AxumBaseline,
    AxumCookie,
    NginxProxyPass,
    NginxAuthRequest,
    GateCookie,
    AppRotatingUsers,
    FreshValid,
    FreshForged,
    AppBearer,
    ForwardAuth,
    LoginRedirect,
    Broker,
    BaselineDriver,
    Redemption,
    SignIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    Wrk,
    Driver,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Public,
    App,
    AppDefaults,
    AppJson,
    Baseline,
    Axum,
    AxumBaseline,
    Gate,
    NginxProxy,
    NginxAuth,
}

pub struct Row {
    pub kind: Kind,
    pub generator: Generator,
    pub measured: Measured,
    pub peak_memory: Vec<(ServerKind, u64)>,
    pub note: Option<String>,
    /// The baseline measured again right before this row, for as long
    /// (wrk rows): the row's ratio is to it, so a machine whose speed
    /// drifts during the run moves both sides alike.
    pub paired_baseline: Option<Measured>,
}

pub struct Runner<'a> {
    pub settings: &'a RunSettings,
    pub stack: &'a Stack,
    pub inputs: &'a Inputs,
    pub client: Client,
    pub wrk: Wrk<'a>,
}

impl Runner<'_> {
    pub async fn all(&self) -> anyhow::Result<Vec<Row>> {
        let (app, public) = (&self.inputs.app_url, &self.inputs.public_url);
        let baseline = self.stack.baseline.server.url();
        let (axum, axum_baseline) = (
            self.stack.axum.server.url(),
            self.stack.axum_baseline.server.url(),
        );
        let (gate, nginx_proxy, nginx_auth) = (
            self.stack.gate.server.url(),
            self.stack.nginx_proxy.server.url(),
            self.stack.nginx_auth.server.url(),
        );
        let (defaults, json) = (
            self.stack.app_defaults.server.url(),
            self.stack.app_json.server.url(),
        );
        let cookie = || vec![("Cookie", self.inputs.app_cookie.clone())];
        let minter = Minter::new(&self.stack.signing_key_pem, &self.inputs.handoff_token)?;
        let rotating = |tokens: Vec<String>| Rotation {
            header: "Cookie",
            prefix: format!("{}=", self.inputs.handoff_cookie_name),
            tokens: Arc::new(tokens),
        };
        let users = rotating(minter.users(tokens::ROTATING_USERS)?);
        eprintln!(
            "bench: minting {} never-seen tokens",
            self.settings.fresh_tokens
        );
        let fresh = minter.fresh(self.settings.fresh_tokens)?;
        let forged = rotating(tokens::forged(&fresh)?);
        let fresh = rotating(fresh);
        let wrk_rows = [
            (Kind::BaselineWrk, get(format!("{baseline}/api/me"), vec![])),
            (Kind::AppCookie, get(format!("{app}/api/me"), cookie())),
            (
                Kind::AppCookieDefaults,
                get(format!("{defaults}/api/me"), cookie()),
            ),
            (Kind::AppCookieJson, get(format!("{json}/api/me"), cookie())),
            (
                Kind::AxumBaseline,
                get(format!("{axum_baseline}/api/me"), vec![]),
            ),
            (Kind::AxumCookie, get(format!("{axum}/api/me"), cookie())),
            (
                Kind::NginxProxyPass,
                get(format!("{nginx_proxy}/api/me"), vec![]),
            ),
            (
                Kind::NginxAuthRequest,
                get(format!("{nginx_auth}/api/me"), cookie()),
            ),
            (Kind::GateCookie, get(format!("{gate}/api/me"), cookie())),
            (
                Kind::AppRotatingUsers,
                Request {
                    rotate: Some(users),
                    ..get(format!("{defaults}/api/me"), vec![])
                },
            ),
            (
                Kind::FreshValid,
                Request {
                    rotate: Some(fresh),
                    ..get(format!("{defaults}/api/me"), vec![])
                },
            ),
            (
                Kind::FreshForged,
                Request {
                    rotate: Some(forged),
                    // The app's refusal of a token that does not verify.
                    expect: Some(401),
                    ..get(format!("{defaults}/api/me"), vec![])
                },
            ),
            (
                Kind::AppBearer,
                get(
                    format!("{app}/api/me"),
                    vec![(
                        "Authorization",
                        format!("Bearer {}", self.inputs.person_id_token),
                    )],
                ),
            ),
            (
                Kind::ForwardAuth,
                get(format!("{app}/auth/verify"), cookie()),
            ),
            (
                Kind::LoginRedirect,
                // With the browser's binding, as the app sends it under the
                // separate-sites delivery: without one `/login` only sends
                // the browser back to the app for it.
                get(
                    format!(
                        "{public}/login?return_to={app}/&binding={}",
                        Inputs::binding()
                    ),
                    vec![],
                ),
            ),
            (
                Kind::Broker,
                Request {
                    method: "POST",
                    url: format!("{public}/broker/token"),
                    headers: vec![
                        (
                            "Authorization",
                            format!("Bearer {}", self.inputs.broker_caller_token),
                        ),
                        ("Content-Type", "application/json".to_owned()),
                    ],
                    body: Some(self.inputs.broker_body.clone()),
                    rotate: None,
                    expect: None,
                },
            ),
        ];
        let mut rows = Vec::new();
        let mut baseline_request: Option<Request> = None;
        // The axum row is paired with the plain axum handler, so that its
        // ratio is the guard's cost on axum, beside the actix rows' on
        // actix; so are the proxies' rows, since that handler is the app
        // they stand in front of.
        let mut axum_baseline_request: Option<Request> = None;
        let runs = |kind: Kind| self.settings.runs(&format!("{kind:?}"));
        let on_axum_baseline = [
            Kind::AxumCookie,
            Kind::NginxProxyPass,
            Kind::NginxAuthRequest,
            Kind::GateCookie,
        ];
        for (kind, request) in wrk_rows {
            let is_baseline = matches!(kind, Kind::BaselineWrk | Kind::AxumBaseline);
            if !is_baseline && !runs(kind) {
                continue;
            }
            if kind == Kind::AxumBaseline && !on_axum_baseline.into_iter().any(runs) {
                continue;
            }
            if kind == Kind::LoginRedirect {
                self.inputs
                    .check_login_redirect(&self.client, &request.url)
                    .await?;
            }
            let pair = if on_axum_baseline.contains(&kind) {
                &axum_baseline_request
            } else {
                &baseline_request
            };
            let paired_baseline = match (kind, pair) {
                (Kind::BaselineWrk | Kind::AxumBaseline, _) | (_, None) => None,
                (_, Some(baseline)) => {
                    let run = tokio::task::block_in_place(|| {
                        self.wrk.run(baseline, self.settings.duration)
                    })?;
                    Some(run.measured)
                }
            };
            eprintln!("bench: {kind:?} (wrk)");
            let row = succeeded(self.wrk_row(kind, &request).await?)?;
            match kind {
                Kind::BaselineWrk => baseline_request = Some(request.clone()),
                Kind::AxumBaseline => axum_baseline_request = Some(request.clone()),
                _ => {}
            }
            rows.push(Row {
                paired_baseline,
                ..row
            });
        }
        if runs(Kind::Redemption) || runs(Kind::SignIn) {
            eprintln!("bench: BaselineDriver");
            rows.push(succeeded(self.baseline_from_driver().await?)?);
        }
        if runs(Kind::Redemption) {
            eprintln!("bench: Redemption");
            rows.push(succeeded(self.redemption().await?)?);
        }
        if runs(Kind::SignIn) {
            eprintln!("bench: SignIn");
            rows.push(succeeded(self.sign_in().await?)?);
        }
        Ok(rows)
    }

    async fn wrk_row(&self, kind: Kind, request: &Request) -> anyhow::Result<Row> {
        let servers = servers_of(kind);
        let never_seen = matches!(kind, Kind::FreshValid | Kind::FreshForged);
        let (warmup, measured_part) = split_for_warmup(request, self.settings, never_seen);
        let mut row = tokio::task::block_in_place(|| {
            if !self.settings.warmup.is_zero() {
                self.wrk.run(&warmup, self.settings.warmup)?;
            }
            self.reset_peaks(servers)?;
            let run = self.wrk.run(&measured_part, self.settings.duration)?;
            if never_seen && run.wrapped > 0 {
                bail!(
                    "{kind:?}: the {} never-seen tokens ran out, so some were sent twice; raise BENCH_FRESH_TOKENS",
                    self.settings.fresh_tokens
                );
            }
            let measured = run.measured;
            anyhow::Ok(Row {
                kind,
                generator: Generator::Wrk,
                measured,
                peak_memory: self.peaks(servers)?,
                note: None,
                paired_baseline: None,
            })
        })?;
        if row.measured.errors > 0 {
            // wrk counts failures but keeps no answer: the same request,
            // sent once more right after, says what the server answers.
            row.note = Some(format!("first error: {}", self.probe(request).await));
        }
        Ok(row)
    }

    /// Sends `request` once and describes the answer: its status, and the
    /// body of a refusal (a success's body may carry a token).
    async fn probe(&self, request: &Request) -> String {
        let method = match reqwest::Method::from_bytes(request.method.as_bytes()) {
            Ok(method) => method,
            Err(e) => return format!("{} is not a method: {e}", request.method),
        };
        let mut sent = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            sent = sent.header(*name, value);
        }
        if let Some(body) = &request.body {
            sent = sent.body(body.clone());
        }
        let path = reqwest::Url::parse(&request.url)
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        match sent.send().await {
            Ok(response) => {
                let status = response.status();
                let body = response.bytes().await.unwrap_or_default();
                if status.is_success() || status.is_redirection() {
                    format!("{} {path} answers {status} when sent once more (the failures were socket errors or intermittent)", request.method)
                } else {
                    format!("{} {path}: {status}: {}", request.method, excerpt(&body))
                }
            }
            Err(e) => format!("{} {path}: {e:#}", request.method),
        }
    }

    /// Runs `op` from this process with the row's concurrency.
    async fn driver_row<F, Fut>(&self, kind: Kind, warmup: Duration, op: F) -> anyhow::Result<Row>
    where
        F: Fn() -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Outcome> + Send,
    {
        let servers = servers_of(kind);
        let measured = load::run(
            self.settings.connections,
            warmup,
            self.settings.duration,
            || self.reset_peaks(servers),
            op,
        )
        .await?;
        Ok(Row {
            kind,
            generator: Generator::Driver,
            measured,
            peak_memory: self.peaks(servers)?,
            note: None,
            paired_baseline: None,
        })
    }

    async fn baseline_from_driver(&self) -> anyhow::Result<Row> {
        let url = format!("{}/api/me", self.stack.baseline.server.url());
        let client = self.client.clone();
        let errors = FirstError::default();
        let seen = errors.clone();
        let row = self
            .driver_row(Kind::BaselineDriver, self.settings.warmup, move || {
                let (client, url, seen) = (client.clone(), url.clone(), seen.clone());
                async move {
                    let result = async {
                        let response = client.get(&url).send().await?;
                        let status = response.status();
                        let body = response.bytes().await?;
                        if status != reqwest::StatusCode::OK {
                            bail!("the baseline answered {status}: {}", excerpt(&body));
                        }
                        Ok(())
                    };
                    seen.outcome(result.await)
                }
            })
            .await?;
        Ok(errors.annotate(row))
    }

    /// Codes are minted first (untimed, by `/renew` with the session
    /// cookie), then redeemed oldest first until they run out or the time
    /// is up.
    async fn redemption(&self) -> anyhow::Result<Row> {
        let settings = self.settings;
        let used = settings.warmup + settings.duration + CODE_MARGIN;
        let minting = used
            .min(CODE_LIFETIME.saturating_sub(used))
            .max(Duration::from_secs(3));
        let codes = Arc::new(Mutex::new(VecDeque::new()));
        let (client, inputs) = (self.client.clone(), Arc::new(self.inputs.clone()));
        let mint_errors = FirstError::default();
        let minted = {
            let (codes, client, inputs, seen) = (
                codes.clone(),
                client.clone(),
                inputs.clone(),
                mint_errors.clone(),
            );
            load::run(
                settings.connections,
                Duration::ZERO,
                minting,
                || Ok(()),
                move || {
                    let (codes, client, inputs, seen) =
                        (codes.clone(), client.clone(), inputs.clone(), seen.clone());
                    async move {
                        if lock(&codes).len() >= MAX_CODES {
                            return Outcome::Exhausted;
                        }
                        let code = inputs.mint_code(&client).await;
                        let code = seen.keep(code);
                        match code {
                            Some(code) => {
                                lock(&codes).push_back(code);
                                Outcome::Done
                            }
                            None => Outcome::Failed,
                        }
                    }
                },
            )
            .await?
        };
        if minted.errors > 0 {
            bail!(
                "minting codes failed {} times: {}",
                minted.errors,
                mint_errors.message().unwrap_or_default()
            );
        }
        let total = lock(&codes).len();
        let errors = FirstError::default();
        let seen = errors.clone();
        let row = self
            .driver_row(Kind::Redemption, settings.warmup, move || {
                let (codes, client, inputs, seen) =
                    (codes.clone(), client.clone(), inputs.clone(), seen.clone());
                async move {
                    let Some(code) = lock(&codes).pop_front() else {
                        return Outcome::Exhausted;
                    };
                    seen.outcome(inputs.redeem(&client, &code).await)
                }
            })
            .await?;
        let mut row = errors.annotate(row);
        let ran_out = row.measured.seconds + 0.5 < settings.duration.as_secs_f64();
        let note = format!(
            "{total} codes minted in {:.0} s beforehand ({:.0}/s); {}",
            minting.as_secs_f64(),
            minted.per_second(),
            if ran_out {
                format!(
                    "they ran out after {:.1} s of measuring",
                    row.measured.seconds
                )
            } else {
                "enough for the whole window".to_owned()
            }
        );
        row.note = Some(row.note.map_or(note.clone(), |n| format!("{note}; {n}")));
        Ok(row)
    }

    async fn sign_in(&self) -> anyhow::Result<Row> {
        let start = format!("{}/", self.inputs.app_url);
        let client = self.client.clone();
        let errors = FirstError::default();
        let seen = errors.clone();
        let row = self
            .driver_row(Kind::SignIn, self.settings.warmup, move || {
                let (client, start, seen) = (client.clone(), start.clone(), seen.clone());
                async move {
                    let mut browser = Browser::new(client);
                    let result = browser.open(&start).await.and_then(|requests| {
                        if requests != SIGN_IN_REQUESTS {
                            bail!("a sign-in took {requests} requests, not {SIGN_IN_REQUESTS}");
                        }
                        Ok(())
                    });
                    seen.outcome(result)
                }
            })
            .await?;
        Ok(errors.annotate(row))
    }

    fn server(&self, kind: ServerKind) -> &crate::process::Server {
        match kind {
            ServerKind::Public => &self.stack.public.server,
            ServerKind::App => &self.stack.app.server,
            ServerKind::AppDefaults => &self.stack.app_defaults.server,
            ServerKind::AppJson => &self.stack.app_json.server,
            ServerKind::Baseline => &self.stack.baseline.server,
            ServerKind::Axum => &self.stack.axum.server,
            ServerKind::AxumBaseline => &self.stack.axum_baseline.server,
            ServerKind::Gate => &self.stack.gate.server,
            ServerKind::NginxProxy => &self.stack.nginx_proxy.server,
            ServerKind::NginxAuth => &self.stack.nginx_auth.server,
        }
    }

    fn reset_peaks(&self, servers: &[ServerKind]) -> anyhow::Result<()> {
        servers
            .iter()
            .try_for_each(|s| self.server(*s).reset_peak_memory())
    }

    fn peaks(&self, servers: &[ServerKind]) -> anyhow::Result<Vec<(ServerKind, u64)>> {
        servers
            .iter()
            .map(|s| Ok((*s, self.server(*s).peak_memory()?)))
            .collect()
    }
}

/// `row`, unless any of its requests failed or none completed: figures
/// for failures would be figures for error pages, so the run stops, with
/// the first failure's status and body, and writes no table.
fn succeeded(row: Row) -> anyhow::Result<Row> {
    let Measured {
        completed, errors, ..
    } = row.measured;
    if errors > 0 {
        bail!(
            "{:?}: {errors} of {} requests failed; {}",
            row.kind,
            errors + completed,
            row.note.as_deref().unwrap_or("no error was kept")
        );
    }
    if completed == 0 {
        bail!("{:?}: no request completed in the window", row.kind);
    }
    Ok(row)
}

/// For rows of never-seen tokens, the warm-up and the measured window
/// get different tokens (each wrk run starts at the top of its list), in
/// proportion to their lengths; any other request is sent as it is.
fn split_for_warmup(
    request: &Request,
    settings: &RunSettings,
    never_seen: bool,
) -> (Request, Request) {
    let copy = |rotate: Option<Rotation>| Request {
        method: request.method,
        url: request.url.clone(),
        headers: request.headers.clone(),
        body: request.body.clone(),
        rotate,
        expect: request.expect,
    };
    match &request.rotate {
        Some(rotation) if never_seen => {
            let total = settings.warmup + settings.duration;
            let share = settings.warmup.as_secs_f64() / total.as_secs_f64();
            let cut = (rotation.tokens.len() as f64 * share) as usize;
            let (early, late) = rotation.tokens.split_at(cut.max(1));
            let part = |tokens: &[String]| Rotation {
                tokens: Arc::new(tokens.to_vec()),
                ..rotation.clone()
            };
            (copy(Some(part(early))), copy(Some(part(late))))
        }
        _ => (copy(request.rotate.clone()), copy(request.rotate.clone())),
    }
}

/// The servers that do a row's work.
pub fn servers_of(kind: Kind) -> &'static [ServerKind] {
    match kind {
        Kind::BaselineWrk | Kind::BaselineDriver => &[ServerKind::Baseline],
        Kind::AppCookie | Kind::AppBearer | Kind::ForwardAuth => &[ServerKind::App],
        Kind::AppCookieDefaults | Kind::AppRotatingUsers | Kind::FreshValid | Kind::FreshForged => {
            &[ServerKind::AppDefaults]
        }
        Kind::AppCookieJson => &[ServerKind::AppJson],
        Kind::AxumCookie => &[ServerKind::Axum],
        Kind::AxumBaseline => &[ServerKind::AxumBaseline],
        Kind::NginxProxyPass => &[ServerKind::NginxProxy],
        Kind::NginxAuthRequest => &[ServerKind::NginxAuth, ServerKind::App],
        Kind::GateCookie => &[ServerKind::Gate],
        Kind::LoginRedirect | Kind::Broker | Kind::Redemption => &[ServerKind::Public],
        Kind::SignIn => &[ServerKind::Public, ServerKind::App],
    }
}

fn get(url: String, headers: Vec<(&'static str, String)>) -> Request {
    Request {
        method: "GET",
        url,
        headers,
        body: None,
        rotate: None,
        expect: None,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The first failure of a row, kept to say why it failed (the messages
/// name routes and statuses, never tokens or codes).
#[derive(Clone, Default)]
struct FirstError(Arc<Mutex<Option<String>>>);

impl FirstError {
    fn keep<T>(&self, result: anyhow::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                lock(&self.0).get_or_insert_with(|| format!("{e:#}"));
                None
            }
        }
    }

    fn outcome(&self, result: anyhow::Result<()>) -> Outcome {
        match self.keep(result) {
            Some(()) => Outcome::Done,
            None => Outcome::Failed,
        }
    }

    fn message(&self) -> Option<String> {
        lock(&self.0).clone()
    }

    fn annotate(&self, mut row: Row) -> Row {
        if row.measured.errors > 0 {
            row.note = self.message().map(|m| format!("first error: {m}"));
        }
        row
    }
}
