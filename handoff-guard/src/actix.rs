//! The actix-web adapter of the gate ([`HandoffGate`]): register a
//! [`HandoffGate`] as `web::Data` and take [`SignedInUser`],
//! [`ServiceCaller`] or [`Principal`] in a handler; a handler that takes
//! one cannot run for a request the gate refuses. The refusal is an actix
//! `ResponseError`: a redirect to sign in for a browser's page, `401` with
//! JSON otherwise, `403` for the wrong kind of caller, `503` while no key
//! can be had.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::gate::{HandoffGate, Principal, ServiceCaller, SignedInUser, Unauthenticated};

pub use crate::handoff_code::configure as code_redemption_routes;

impl FromRequest for Principal {
    type Error = Unauthenticated;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(gate) = req.app_data::<web::Data<HandoffGate>>() else {
                tracing::error!("an extractor used without a HandoffGate in app data");
                return Err(Unauthenticated::misconfigured());
            };
            gate.authenticate(&req).await
        })
    }
}

impl FromRequest for ServiceCaller {
    type Error = Unauthenticated;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let principal = Principal::from_request(req, payload);
        Box::pin(async move { principal.await?.service() })
    }
}

impl FromRequest for SignedInUser {
    type Error = Unauthenticated;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let principal = Principal::from_request(req, payload);
        Box::pin(async move { principal.await?.person() })
    }
}

impl ResponseError for Unauthenticated {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        for (name, value) in self.headers() {
            match HeaderValue::try_from(value) {
                Ok(value) => {
                    response.append_header((name, value));
                }
                Err(_) => return HttpResponse::InternalServerError().finish(),
            }
        }
        response.body(self.body())
    }
}
