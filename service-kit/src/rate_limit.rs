//! Per-client rate limits (token buckets) for the routes an attacker can
//! drive cheaply: sign-in, callback, an app's `/auth/handoff`; and per
//! authenticated caller for the back-channel routes (code redemption, the
//! token broker), whose callers often share one egress address with
//! others. Over the limit, a `429 Too Many Requests` with `Retry-After`.
//!
//! The client is the peer address, or, behind `trusted_proxy_hops`
//! proxies (Cloud Run's front end is one), the address the nearest of
//! them saw: the `X-Forwarded-For` entry that many places from the right.
//! Entries further left are the client's own claims and are not trusted.
//!
//! The buckets themselves need no web framework (the gate uses them on
//! hyper); the actix middleware and answer are behind the `actix` feature.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[cfg(feature = "actix")]
use actix_web::body::{EitherBody, MessageBody};
#[cfg(feature = "actix")]
use actix_web::dev::{ServiceRequest, ServiceResponse};
#[cfg(feature = "actix")]
use actix_web::http::header::{self, HeaderValue};
#[cfg(feature = "actix")]
use actix_web::middleware::Next;
#[cfg(feature = "actix")]
use actix_web::{HttpRequest, HttpResponse};

/// Buckets kept before full (idle) ones are dropped.
const MAX_CLIENTS: usize = 100_000;
/// How often a full table may be swept for idle buckets: a sweep walks the
/// whole table, and a client with many addresses could otherwise make every
/// request pay for one.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub per_minute: u32,
    pub burst: u32,
}

impl Limit {
    /// `per_minute`, with a burst of half a minute's worth (at least one):
    /// what every route of both services uses.
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            per_minute,
            burst: (per_minute / 2).max(1),
        }
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

struct Buckets<K> {
    by_client: HashMap<K, Bucket>,
    last_sweep: Option<Instant>,
}

/// Buckets keyed by client address (`K = IpAddr`, see [`Self::check`]) or by
/// an authenticated caller (`K = String`, see [`Self::check_caller`]).
pub struct RateLimiter<K = IpAddr> {
    name: &'static str,
    limit: Limit,
    trusted_proxy_hops: usize,
    capacity: usize,
    buckets: Mutex<Buckets<K>>,
}

/// Buckets per authenticated caller (a service account's e-mail).
pub type CallerLimiter = RateLimiter<String>;

impl RateLimiter<IpAddr> {
    pub fn new(name: &'static str, limit: Limit, trusted_proxy_hops: usize) -> Arc<Self> {
        Self::with_capacity(name, limit, trusted_proxy_hops, MAX_CLIENTS)
    }

    /// Takes a token for `client`, or says how long until one is there.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        self.take(client_key(client), now)
    }

    /// The client of `req`, as described in the module docs.
    #[cfg(feature = "actix")]
    pub fn client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let forwarded_for = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok());
        self.client_of(req.peer_addr().map(|a| a.ip()), forwarded_for)
    }

    /// The client of a request from `peer` that carried these
    /// `X-Forwarded-For` values, as described in the module docs: for a
    /// server on another HTTP stack than actix.
    pub fn client_of<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> Option<IpAddr> {
        if self.trusted_proxy_hops == 0 {
            return peer;
        }
        let forwarded: Vec<&str> = forwarded_for
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

impl RateLimiter<String> {
    /// A limiter per authenticated caller.
    pub fn per_caller(name: &'static str, limit: Limit) -> Arc<Self> {
        Self::with_capacity(name, limit, 0, MAX_CLIENTS)
    }

    /// Takes a token for `caller`, or says how long until one is there.
    pub fn check_caller(&self, caller: &str, now: Instant) -> Result<(), Duration> {
        self.take(caller.to_owned(), now)
    }
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    fn with_capacity(
        name: &'static str,
        limit: Limit,
        trusted_proxy_hops: usize,
        capacity: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            name,
            limit,
            trusted_proxy_hops,
            capacity: capacity.max(1),
            buckets: Mutex::new(Buckets {
                by_client: HashMap::new(),
                last_sweep: None,
            }),
        })
    }

    /// The route the limiter guards, as its log lines and metrics name it.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn rate(&self) -> f64 {
        f64::from(self.limit.per_minute.max(1)) / 60.0
    }

    /// The `429` answer for a wait of `wait`, counted and logged.
    #[cfg(feature = "actix")]
    pub fn refusal(&self, wait: Duration) -> HttpResponse {
        let seconds = wait.as_secs().max(1).to_string();
        tracing::warn!(route = self.name, "rate limited");
        crate::metrics::count(
            "rate_limited_total",
            "Requests refused by a rate limit, by route.",
            &[("route", self.name)],
        );
        HttpResponse::TooManyRequests()
            .insert_header((
                header::RETRY_AFTER,
                HeaderValue::from_str(&seconds).unwrap_or(HeaderValue::from_static("60")),
            ))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .json(serde_json::json!({
                "error": "rate_limited",
                "message": "Too many requests; try again later.",
            }))
    }

    fn take(&self, client: K, now: Instant) -> Result<(), Duration> {
        let rate = self.rate();
        let burst = f64::from(self.limit.burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Buckets {
            by_client,
            last_sweep,
        } = &mut *buckets;
        if by_client.len() >= self.capacity && !by_client.contains_key(&client) {
            let sweep_due =
                last_sweep.is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_INTERVAL);
            if sweep_due {
                *last_sweep = Some(now);
                by_client.retain(|_, b| {
                    b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < burst
                });
            }
            // Still full of busy clients: one of them starts over rather
            // than the newcomer being refused (which would let a crowd of
            // addresses lock everyone else out).
            if by_client.len() >= self.capacity {
                if let Some(evicted) = by_client.keys().next().cloned() {
                    by_client.remove(&evicted);
                }
            }
        }
        let bucket = by_client.entry(client).or_insert(Bucket {
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
}

/// The key of a client's bucket: its IPv4 address, or its IPv6 /64 (one
/// host is commonly given a whole /64, and would otherwise have a bucket
/// per address).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// What the middleware returns.
#[cfg(feature = "actix")]
type Limited<B> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>>,
>;

/// The middleware for one route: `from_fn(limited(limiter))`.
#[cfg(feature = "actix")]
pub fn limited<B: MessageBody + 'static>(
    limiter: Arc<RateLimiter>,
) -> impl Fn(ServiceRequest, Next<B>) -> Limited<B> + Clone {
    move |req, next| {
        let limiter = limiter.clone();
        Box::pin(async move {
            if let Some(client) = limiter.client(req.request()) {
                if let Err(wait) = limiter.check(client, Instant::now()) {
                    let response = limiter.refusal(wait);
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

    fn one_a_minute() -> Limit {
        Limit {
            per_minute: 1,
            burst: 1,
        }
    }

    #[test]
    fn addresses_of_one_ipv6_slash_64_share_a_bucket() {
        let limiter = RateLimiter::new("t", one_a_minute(), 0);
        let now = Instant::now();
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_net: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.check(first, now).is_ok());
        assert!(limiter.check(same_net, now).is_err());
        assert!(limiter.check(other_net, now).is_ok());
    }

    #[test]
    fn a_table_full_of_busy_clients_still_serves_a_newcomer_and_stays_bounded() {
        let limiter = RateLimiter::with_capacity("t", one_a_minute(), 0, 8);
        let now = Instant::now();
        for n in 0..8u8 {
            let busy = IpAddr::from([192, 0, 2, n]);
            assert!(limiter.check(busy, now).is_ok());
        }
        let newcomer = IpAddr::from([198, 51, 100, 1]);
        assert!(limiter.check(newcomer, now).is_ok());
        assert!(limiter.check(newcomer, now).is_err(), "its bucket was kept");
        assert_eq!(limiter.buckets.lock().unwrap().by_client.len(), 8);
    }

    #[test]
    fn the_client_is_the_entry_the_nearest_trusted_hop_wrote() {
        let peer: Option<IpAddr> = Some("10.0.0.9".parse().unwrap());
        let forwarded = ["6.6.6.6, 203.0.113.7"];
        let behind = |hops| RateLimiter::new("test", one_a_minute(), hops);
        assert_eq!(behind(0).client_of(peer, forwarded.into_iter()), peer);
        assert_eq!(
            behind(1).client_of(peer, forwarded.into_iter()),
            Some("203.0.113.7".parse().unwrap())
        );
        // Two headers count as one list.
        assert_eq!(
            behind(2).client_of(peer, ["6.6.6.6", "203.0.113.7"].into_iter()),
            Some("6.6.6.6".parse().unwrap())
        );
        // Fewer entries than trusted hops, or one that is no address: the peer.
        assert_eq!(behind(3).client_of(peer, forwarded.into_iter()), peer);
        assert_eq!(
            behind(1).client_of(peer, ["not-an-address"].into_iter()),
            peer
        );
    }

    #[test]
    fn callers_have_buckets_of_their_own() {
        let limiter = RateLimiter::per_caller("t", one_a_minute());
        let now = Instant::now();
        assert!(limiter.check_caller("app@x.iam", now).is_ok());
        assert!(limiter.check_caller("app@x.iam", now).is_err());
        assert!(limiter.check_caller("broker@x.iam", now).is_ok());
    }

    #[test]
    fn a_full_table_drops_idle_buckets_when_swept() {
        let limiter = RateLimiter::with_capacity("t", one_a_minute(), 0, 8);
        let start = Instant::now();
        for n in 0..8u8 {
            assert!(limiter.check(IpAddr::from([192, 0, 2, n]), start).is_ok());
        }
        // A minute later every bucket has refilled: all idle, all dropped.
        let later = start + Duration::from_secs(61);
        assert!(limiter
            .check(IpAddr::from([198, 51, 100, 1]), later)
            .is_ok());
        assert_eq!(limiter.buckets.lock().unwrap().by_client.len(), 1);
    }
}
