//! Our per-address rate limiter in front of the library's code-redemption
//! routes.

use actix_web::{HttpRequest, HttpResponse};
use handoff_guard::Throttle;

use crate::rate_limit::RateLimiter;

impl Throttle for RateLimiter {
    fn refuse(&self, req: &HttpRequest) -> Option<HttpResponse> {
        let client = self.client(req)?;
        let wait = self.check(client, std::time::Instant::now()).err()?;
        Some(self.refusal(wait))
    }
}
