//! The connection to the app: hyper-util's pooled client (connections
//! kept alive and reused), bounded in time, over plain HTTP to a sidecar
//! on loopback or TLS to an `https` upstream.

use std::time::Duration;

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::oneshot;
use url::Url;

use crate::answer::GateBody;
use crate::settings::Timeouts;

/// The app the gate forwards to.
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, GateBody>,
    scheme: String,
    authority: String,
}

/// How a forwarded request ended.
pub enum Outcome {
    /// The upstream's answer (its body still to come).
    Answered(Response<Incoming>),
    /// The connection was refused or broke: the reason, for the log line.
    Failed(String),
    /// No connection or no answer in time: which.
    TimedOut(&'static str),
}

/// The upstream cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// `UPSTREAM_URL` has no host.
    #[error("UPSTREAM_URL has no host")]
    NoHost,
    /// TLS could not be set up.
    #[error("TLS to the upstream cannot be set up: {0}")]
    Tls(String),
}

impl Upstream {
    /// A pooled client for `url` (an origin), bounded by `timeouts`.
    pub fn new(url: &Url, timeouts: Timeouts) -> Result<Self, UpstreamError> {
        let host = url.host_str().ok_or(UpstreamError::NoHost)?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(timeouts.connect));
        http.set_nodelay(true);
        // The TLS connector below takes `https`; plain `http` passes through.
        http.enforce_http(false);
        // The provider is named rather than the process default, which
        // rustls cannot pick when two are compiled in.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| UpstreamError::Tls(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(timeouts.idle)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            client,
            scheme: url.scheme().to_owned(),
            authority,
        })
    }

    /// The URI of `path_and_query` on the upstream.
    pub fn uri(&self, path_and_query: &str) -> Option<Uri> {
        Uri::builder()
            .scheme(self.scheme.as_str())
            .authority(self.authority.as_str())
            .path_and_query(path_and_query)
            .build()
            .ok()
    }

    /// Sends `req`; the response has `response_timeout` to begin, counted
    /// from `body_sent` (the end of the request body, or its abandonment),
    /// so that a long upload is not cut off by a timer meant for the app.
    pub async fn send(
        &self,
        req: Request<GateBody>,
        body_sent: oneshot::Receiver<()>,
        response_timeout: Duration,
    ) -> Outcome {
        let answer = self.client.request(req);
        let timer = async move {
            let _ = body_sent.await;
            tokio::time::sleep(response_timeout).await;
        };
        tokio::select! {
            result = answer => match result {
                Ok(response) => Outcome::Answered(response),
                Err(e) if timed_out(&e) => Outcome::TimedOut("connect"),
                Err(e) => Outcome::Failed(describe(&e)),
            },
            () = timer => Outcome::TimedOut("response"),
        }
    }
}

/// Whether the error is the connect timeout (an `io::Error` of kind
/// `TimedOut` somewhere in its chain).
fn timed_out(error: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// The error's chain as one line, for the log (the upstream is the
/// operator's own; its address is in the settings, not here).
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
