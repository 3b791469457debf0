//! What the fuzz targets share: fixed keys, a fixed clock and a fixed app
//! registry, so a seed written once (see `examples/make_seeds.rs`) means
//! the same thing on every run, and the checks the targets assert.

pub mod form;
pub mod provider;
pub mod token;

use std::future::Future;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::cookie::Key;
use actix_web::http::header::{HeaderValue, COOKIE};
use actix_web::test::TestRequest;
use actix_web::HttpRequest;
use public_service::apps::{AppRegistry, Delivery};
use handoff_guard::Clock;
use url::Url;

pub const ISSUER: &str = "https://auth.example.com";
pub const AUDIENCE: &str = "https://app.example.com";
/// "Now" for every target: tokens and transactions in the seeds stay
/// valid however long after they were written the fuzzer runs.
pub const NOW: u64 = 1_700_000_000;
pub const TRANSACTION_LIFETIME: Duration = Duration::from_secs(600);

/// The apps `return_to` may point at: default ports and not, an IP
/// literal of each family, and a host that needs IDNA.
pub const APP_ORIGINS: [&str; 5] = [
    "https://app.example.com",
    "https://reports.example.com:8443",
    "http://127.0.0.1:8080",
    "http://[::1]:3000",
    "https://bücher.example",
];

pub struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }
}

/// The login-transaction cookie key (fuzzing only).
pub fn cookie_key() -> &'static Key {
    static KEY: LazyLock<Key> = LazyLock::new(|| Key::from(&[7u8; 64]));
    &KEY
}

pub fn registry() -> &'static AppRegistry {
    static REGISTRY: LazyLock<AppRegistry> = LazyLock::new(|| {
        let origins: Vec<String> = APP_ORIGINS.iter().map(|o| o.to_string()).collect();
        let public_url = Url::parse(ISSUER).expect("the issuer is a URL");
        AppRegistry::parse(&origins, &Delivery::Code, &public_url)
            .expect("the fuzzing registry is valid")
    });
    &REGISTRY
}

/// A request carrying `cookie_header` as its `Cookie` header, or `None`
/// when no HTTP parser would let that value through.
pub fn request_with_cookies(cookie_header: &str) -> Option<HttpRequest> {
    let value = HeaderValue::from_str(cookie_header).ok()?;
    Some(
        TestRequest::default()
            .insert_header((COOKIE, value))
            .to_http_request(),
    )
}

/// Seedable inputs: a mode byte, then text whose first `N - 1` lines are
/// fields and whose rest is the last field (a seed file is readable).
pub fn fields<const N: usize>(data: &[u8]) -> Option<(u8, [&str; N])> {
    let (&mode, rest) = data.split_first()?;
    let text = std::str::from_utf8(rest).ok()?;
    let mut parts = text.splitn(N, '\n');
    let fields = std::array::from_fn(|_| parts.next().unwrap_or(""));
    Some((mode, fields))
}

/// Runs a future that never waits (a verifier with a static key set).
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a verifier with static keys waited"),
    }
}
