//! The server: hyper-util's `auto` connection builder (HTTP/1.1 and h2c
//! from the same port, upgrades allowed) on a listener the gate binds,
//! drained on `SIGTERM` (Cloud Run gives 10 s).

use std::sync::Arc;
use std::time::Duration;

use handoff_guard::Guard;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::proxy::Proxy;
use crate::settings::Settings;
use crate::upstream::{Upstream, UpstreamError};

/// How long a client has to send a request's head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests get to finish after `SIGTERM`.
const DRAIN: Duration = Duration::from_secs(8);

/// Why the gate cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The login service's or the app's URL cannot serve.
    #[error(transparent)]
    Guard(#[from] handoff_guard::BuildError),
    /// The upstream cannot be set up.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// A gate bound to its port, not serving yet.
pub struct Application {
    listener: TcpListener,
    port: u16,
    proxy: Arc<Proxy>,
    guard: Guard,
}

impl Application {
    /// Binds `settings`' address (port 0: any free port, for tests) and
    /// builds the guard and the upstream client.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let address = format!("{}:{}", settings.bind_address, settings.port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| StartError::Bind { address, source })?;
        Self::serving_on(settings, listener)
    }

    /// The same on a listener bound beforehand (`BIND_ADDRESS` and `PORT`
    /// unused): a test deployment must register the gate's URL, port
    /// included, at the login service before the gate starts.
    pub async fn build_on(
        settings: Settings,
        listener: std::net::TcpListener,
    ) -> Result<Self, StartError> {
        let address = format!("{:?}", listener.local_addr());
        let bind_error = |source| StartError::Bind {
            address: address.clone(),
            source,
        };
        listener.set_nonblocking(true).map_err(bind_error)?;
        let listener = TcpListener::from_std(listener).map_err(bind_error)?;
        Self::serving_on(settings, listener)
    }

    fn serving_on(settings: Settings, listener: TcpListener) -> Result<Self, StartError> {
        let guard = build_guard(&settings)?;
        let upstream = Upstream::new(&settings.upstream_url, settings.timeouts)?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                address: format!("{}:{}", settings.bind_address, settings.port),
                source,
            })?
            .port();
        let proxy = Arc::new(Proxy::new(&settings, guard.clone(), upstream));
        Ok(Self {
            listener,
            port,
            proxy,
            guard,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the login service's keys (and, with revocation or code
    /// delivery, the gate's own ID token) can be had; for the start-up
    /// log line.
    pub async fn check(&self) -> Result<(), String> {
        self.guard.check().await
    }

    /// Serves until `SIGTERM` or Ctrl-C, then lets in-flight requests
    /// finish for a few seconds.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let graceful = GracefulShutdown::new();
        tokio::pin!(stop);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors and the like: the next accept may work.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut stop => break,
            };
            let _ = stream.set_nodelay(true);
            let proxy = self.proxy.clone();
            let service = service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, std::convert::Infallible>(proxy.serve(req, peer).await) }
            });
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
            });
        }
        tracing::info!("stopping: finishing the requests in flight");
        if tokio::time::timeout(DRAIN, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight after the drain time; stopping anyway");
        }
        Ok(())
    }
}

fn build_guard(settings: &Settings) -> Result<Guard, handoff_guard::BuildError> {
    let loopback: Vec<&str> = settings.loopback_names.iter().map(String::as_str).collect();
    let mut builder = Guard::builder_with_loopback_names(
        settings.auth_url.as_str().trim_end_matches('/'),
        settings.app_url.as_str().trim_end_matches('/'),
        &loopback,
    )?
    .service_accounts(settings.service_accounts.iter().cloned());
    if let Some(people) = &settings.person_id_tokens {
        builder = builder.person_id_tokens(people.audiences.iter().cloned(), people.people.clone());
    }
    if let Some((issuer, keys)) = &settings.id_token_issuer {
        builder = builder.id_token_issuer(issuer, keys.clone());
    }
    builder = match settings.delivery {
        handoff_guard::Delivery::Code => builder,
        handoff_guard::Delivery::ParentDomainCookie => builder.parent_domain_cookie(),
        handoff_guard::Delivery::HostOnlyCookie => builder.host_only_cookie(),
    };
    if let Some(url) = &settings.backchannel_url {
        builder = builder.back_channel(url.clone());
    }
    if let Some(url) = &settings.metadata_url {
        builder = builder.metadata_server(url.clone());
    }
    builder = match settings.revocation_poll_interval {
        Some(interval) => builder.revocation_every(interval),
        None => builder.without_revocation(),
    };
    Ok(builder.build())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
