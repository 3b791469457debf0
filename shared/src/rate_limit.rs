//! Per-client rate limits (token buckets) for the routes an attacker can
//! drive cheaply: sign-in, callback, code redemption, the token broker.
//! Over the limit, a `429 Too Many Requests` with `Retry-After`.
//!
//! The client is the peer address, or, behind `trusted_proxy_hops`
//! proxies (Cloud Run's front end is one), the address the nearest of
//! them saw: the `X-Forwarded-For` entry that many places from the right.
//! Entries further left are the client's own claims and are not trusted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpResponse;

/// Buckets kept before full (idle) ones are dropped.
const MAX_CLIENTS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub per_minute: u32,
    pub burst: u32,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    name: &'static str,
    limit: Limit,
    trusted_proxy_hops: usize,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub fn new(name: &'static str, limit: Limit, trusted_proxy_hops: usize) -> Arc<Self> {
        Arc::new(Self {
            name,
            limit,
            trusted_proxy_hops,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a token for `client`, or says how long until one is there.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(self.limit.per_minute.max(1)) / 60.0;
        let burst = f64::from(self.limit.burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// The client of `req`, as described in the module docs.
    pub fn client(&self, req: &ServiceRequest) -> Option<IpAddr> {
        let peer = req.peer_addr().map(|a| a.ip());
        if self.trusted_proxy_hops == 0 {
            return peer;
        }
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        forwarded
            .len()
            .checked_sub(self.trusted_proxy_hops)
            .and_then(|i| forwarded.get(i))
            .and_then(|ip| ip.parse().ok())
            .or(peer)
    }
}

/// What the middleware returns.
type Limited<B> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>>,
>;

/// The middleware for one route: `from_fn(limited(limiter))`.
pub fn limited<B: MessageBody + 'static>(
    limiter: Arc<RateLimiter>,
) -> impl Fn(ServiceRequest, Next<B>) -> Limited<B> + Clone {
    move |req, next| {
        let limiter = limiter.clone();
        Box::pin(async move {
            if let Some(client) = limiter.client(&req) {
                if let Err(wait) = limiter.check(client, Instant::now()) {
                    let seconds = wait.as_secs().max(1).to_string();
                    tracing::warn!(route = limiter.name, "rate limited");
                    crate::metrics::count(
                        "rate_limited_total",
                        "Requests refused by a rate limit, by route.",
                        &[("route", limiter.name)],
                    );
                    let response = HttpResponse::TooManyRequests()
                        .insert_header((
                            header::RETRY_AFTER,
                            HeaderValue::from_str(&seconds)
                                .unwrap_or(HeaderValue::from_static("60")),
                        ))
                        .insert_header((
                            header::CACHE_CONTROL,
                            HeaderValue::from_static("no-store"),
                        ))
                        .json(serde_json::json!({
                            "error": "rate_limited",
                            "message": "Too many requests; try again later.",
                        }));
                    return Ok(req.into_response(response).map_into_right_body());
                }
            }
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limiter = RateLimiter::new(
            "t",
            Limit {
                per_minute: 60,
                burst: 3,
            },
            0,
        );
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(ip, start).is_ok());
        }
        let wait = limiter.check(ip, start).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        assert!(
            limiter.check(other, start).is_ok(),
            "buckets are per client"
        );
        assert!(limiter
            .check(ip, start + Duration::from_millis(1100))
            .is_ok());
        assert!(limiter
            .check(ip, start + Duration::from_millis(1100))
            .is_err());
    }
}
