//! CORS for the API, for configured origins only (a Chrome extension's
//! `chrome-extension://<id>`): a preflight from one of them is answered,
//! a preflight from anywhere else is refused with `403`, and only their
//! responses carry `Access-Control-Allow-Origin`. Credentials are Bearer
//! tokens, never cookies, so `Access-Control-Allow-Credentials` is never
//! sent.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

/// The origins allowed to call from a browser context.
#[derive(Debug, Clone, Default)]
pub struct CorsOrigins(pub Vec<String>);

impl CorsOrigins {
    fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|allowed| allowed == origin)
    }
}

/// The middleware; register [`CorsOrigins`] as app data.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // Only a configured origin is echoed back; the list is read in place,
    // not copied for every request.
    let allowed = req.headers().get(header::ORIGIN).cloned().filter(|origin| {
        let configured = req.app_data::<web::Data<CorsOrigins>>();
        origin
            .to_str()
            .is_ok_and(|o| configured.is_some_and(|c| c.allows(o)))
    });
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let response = match &allowed {
            Some(origin) => HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "authorization, content-type",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                .insert_header((header::VARY, "Origin"))
                .finish(),
            None => {
                tracing::info!("CORS preflight refused for an origin that is not configured");
                HttpResponse::Forbidden()
                    .insert_header((header::VARY, "Origin"))
                    .finish()
            }
        };
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("www-authenticate"),
        );
    }
    Ok(response.map_into_left_body())
}
