//! Upkeep that rides on requests: purging expired sessions, codes and
//! logout-token `jti`s, and trying a database that was down at start.
//!
//! Cloud Run throttles an instance's CPU outside requests under
//! request-based billing, so a timer-driven task may not run for as long
//! as an instance is idle
//! (<https://cloud.google.com/run/docs/tips/general#avoid_background_activities>).
//! Each request therefore checks (two atomic loads) whether upkeep is due
//! and, if so, starts it beside itself, where it gets the request's CPU.
//! Nothing a promise depends on waits for it: expired and revoked sessions
//! are refused whether or not they have been purged.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use handoff_guard::SharedClock;

use crate::store::Storage;

/// How often expired sessions and codes are deleted.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(3600);
/// Revoked sessions are kept this long: apps read revocations within it.
const KEEP_REVOKED: Duration = Duration::from_secs(86_400);

pub struct Housekeeping {
    store: Arc<dyn Storage>,
    /// Both what is expired and when the next purge is due (so tests move
    /// one clock for both).
    clock: SharedClock,
    /// Unix seconds from which the next purge is due.
    purge_due_at: AtomicU64,
    purging: AtomicBool,
}

impl Housekeeping {
    /// The first purge is due at once (the first request starts it).
    pub fn new(store: impl Into<Arc<dyn Storage>>, clock: SharedClock) -> Arc<Self> {
        Arc::new(Self {
            store: store.into(),
            clock,
            purge_due_at: AtomicU64::new(0),
            purging: AtomicBool::new(false),
        })
    }

    /// Starts whatever upkeep is due, beside the caller; returns at once.
    pub fn start_due(self: &Arc<Self>) {
        self.store.prepare_if_due();
        if !self.store.is_prepared()
            || self.clock.unix_seconds() < self.purge_due_at.load(Ordering::Acquire)
            || self.purging.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.purge().await;
            this.purging.store(false, Ordering::Release);
        });
    }

    async fn purge(&self) {
        let now = self.clock.unix_seconds();
        match self.store.purge_sessions(now, KEEP_REVOKED).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "expired sessions purged"),
            Err(e) => {
                // Tried again with the next request rather than in an hour.
                tracing::warn!(reason = %e, "session purge failed");
                return;
            }
        }
        if let Err(e) = self.store.purge_handoff_codes(now).await {
            tracing::warn!(reason = %e, "handoff code purge failed");
            return;
        }
        if let Err(e) = self.store.purge_logout_token_jtis(now).await {
            tracing::warn!(reason = %e, "logout token jti purge failed");
            return;
        }
        let next = self.clock.unix_seconds() + PURGE_INTERVAL.as_secs();
        self.purge_due_at.store(next, Ordering::Release);
    }
}

/// Middleware: every request starts the upkeep that is due (the
/// [`Housekeeping`] registered as app data).
pub async fn on_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(housekeeping) = req.app_data::<web::Data<Housekeeping>>() {
        housekeeping.start_due();
    }
    next.call(req).await
}
