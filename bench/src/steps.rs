//! The cost of each step of a sign-in on its own: sign-ins one after
//! another on otherwise idle servers, so that a step's latency is its own
//! work plus loopback and client time, with no queueing behind other
//! flows (the sign-in row gives the figure under load).

use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::Client;

use crate::browser::Browser;
use crate::inputs::Inputs;
use crate::rows::SIGN_IN_REQUESTS;

/// What each browser request of a sign-in is, in order.
const STEPS: [(&str, &str); SIGN_IN_REQUESTS] = [
    ("App redirect", "app: no token, so a `302` to the public service"),
    ("Login", "public: sealed login transaction (state, nonce, PKCE), `302` to the provider"),
    ("Provider authorize", "the mock provider, standing for Google: not ours"),
    ("Callback", "public: transaction check, code exchange at the provider (its time included), ID token checks, grant and session stored, one-time code, `302` to the app"),
    ("Handoff", "app: redeems the code at the public service (below), sets the cookie, `302`"),
    ("First page", "app: the page with the new cookie (ES256 verification, not yet cached)"),
];

pub struct StepCost {
    pub name: &'static str,
    pub what: String,
    pub p50: Duration,
    pub p99: Duration,
}

#[derive(Default)]
pub struct SignInSteps {
    pub sign_ins: usize,
    pub steps: Vec<StepCost>,
}

/// `sign_ins` sign-ins one at a time, and as many code redemptions on
/// their own (the server-to-server call inside the handoff step).
pub async fn measure(
    client: &Client,
    inputs: &Inputs,
    sign_ins: usize,
) -> anyhow::Result<SignInSteps> {
    let mut times: Vec<Vec<Duration>> = (0..SIGN_IN_REQUESTS)
        .map(|_| Vec::with_capacity(sign_ins))
        .collect();
    let mut paths = Vec::new();
    let start = format!("{}/", inputs.app_url);
    for _ in 0..sign_ins {
        let mut browser = Browser::new(client.clone());
        let requests = browser.open(&start).await?;
        if requests != SIGN_IN_REQUESTS {
            bail!("a sign-in took {requests} requests, not {SIGN_IN_REQUESTS}");
        }
        for (i, (_, took)) in browser.steps.iter().enumerate() {
            times[i].push(*took);
        }
        if paths.is_empty() {
            paths = browser.steps.iter().map(|(path, _)| path.clone()).collect();
        }
    }
    let mut redemptions = Vec::with_capacity(sign_ins);
    for _ in 0..sign_ins {
        let code = inputs.mint_code(client).await?;
        let sent = Instant::now();
        inputs.redeem(client, &code).await?;
        redemptions.push(sent.elapsed());
    }
    let mut steps: Vec<StepCost> = STEPS
        .iter()
        .zip(times)
        .zip(&paths)
        .map(|(((name, what), times), path)| cost(name, format!("`GET {path}`: {what}"), times))
        .collect();
    steps.push(cost(
        "Code redemption",
        "`POST /handoff/redeem` on the public service, as the handoff step calls it: caller's ID token, code, binding".to_owned(),
        redemptions,
    ));
    Ok(SignInSteps { sign_ins, steps })
}

fn cost(name: &'static str, what: String, mut times: Vec<Duration>) -> StepCost {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    StepCost {
        name,
        what,
        p50: at(0.5),
        p99: at(0.99),
    }
}
