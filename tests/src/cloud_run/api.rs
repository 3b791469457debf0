//! The control API the stand-in `gcloud` calls (HTTP on 127.0.0.1):
//!
//! - `PUT /v1/services/{name}` (body: the rendered YAML) → `200
//!   {"url", "revision", "changed"}`, `400 {"error"}` for a refused
//!   definition, `409 {"error"}` when the revision cannot become ready;
//! - `GET /v1/services/{name}` → `200 {"url", "revision", "ready"}` or `404`;
//! - `DELETE /v1/services/{name}`; `GET /v1/services`;
//! - `GET /v1/services/{name}/logs[?revision=NAME]` → the revision's output
//!   (`lines`: the ingress container's; `sidecars`: each sidecar's, by name);
//! - `POST /v1/shutdown` stops everything and ends the server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;
use tokio::sync::watch;

use super::emulator::{DeployError, Emulator};

fn error(status: actix_web::http::StatusCode, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.to_string() }))
}

fn not_found(name: &str) -> HttpResponse {
    error(
        actix_web::http::StatusCode::NOT_FOUND,
        format!("Cannot find service [{name}] in region [emulated]."),
    )
}

async fn replace(
    emulator: web::Data<Arc<Emulator>>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let Ok(yaml) = std::str::from_utf8(&body) else {
        return error(
            actix_web::http::StatusCode::BAD_REQUEST,
            "the service definition is not UTF-8",
        );
    };
    let name = path.into_inner();
    let declared = super::spec::parse(yaml).map(|s| s.name).unwrap_or_default();
    if !declared.is_empty() && declared != name {
        return error(
            actix_web::http::StatusCode::BAD_REQUEST,
            format!("metadata.name {declared:?} does not match the service {name:?} in the URL."),
        );
    }
    match emulator.replace(yaml).await {
        Ok(deployed) => HttpResponse::Ok().json(deployed),
        Err(DeployError::Invalid(e)) => error(actix_web::http::StatusCode::BAD_REQUEST, e),
        Err(DeployError::NotReady(e)) => error(actix_web::http::StatusCode::CONFLICT, e),
    }
}

fn describe(service: &super::emulator::Service) -> serde_json::Value {
    let current = service.current();
    json!({
        "name": service.name,
        "url": service.url_text(),
        "revision": current.as_ref().map(|r| r.name.clone()),
        "ready": current.as_ref().is_some_and(|r| r.instance.exited().is_none()),
        "livenessFailures": current.as_ref().map(|r| r.liveness.counts().2),
    })
}

async fn get(emulator: web::Data<Arc<Emulator>>, path: web::Path<String>) -> HttpResponse {
    match emulator.service(&path) {
        Some(service) => HttpResponse::Ok().json(describe(&service)),
        None => not_found(&path),
    }
}

async fn list(emulator: web::Data<Arc<Emulator>>) -> HttpResponse {
    let services: Vec<_> = emulator.services().iter().map(|s| describe(s)).collect();
    HttpResponse::Ok().json(json!({ "services": services }))
}

async fn delete(emulator: web::Data<Arc<Emulator>>, path: web::Path<String>) -> HttpResponse {
    match emulator.delete(&path).await {
        Some(stopped) => {
            HttpResponse::Ok().json(json!({ "deleted": path.as_str(), "stopped": stopped }))
        }
        None => not_found(&path),
    }
}

#[derive(serde::Deserialize)]
struct LogQuery {
    revision: Option<String>,
}

async fn logs(
    emulator: web::Data<Arc<Emulator>>,
    path: web::Path<String>,
    query: web::Query<LogQuery>,
) -> HttpResponse {
    let Some(service) = emulator.service(&path) else {
        return not_found(&path);
    };
    let revisions = service.revisions();
    let revision = match &query.revision {
        Some(name) => revisions.iter().find(|r| &r.name == name),
        None => revisions.last(),
    };
    match revision {
        Some(r) => {
            let sidecars: serde_json::Map<String, serde_json::Value> = r
                .sidecars
                .iter()
                .map(|s| (s.container.clone().unwrap_or_default(), json!(s.logs())))
                .collect();
            HttpResponse::Ok().json(json!({
                "revision": r.name,
                "lines": r.instance.logs(),
                "sidecars": sidecars,
            }))
        }
        None => error(actix_web::http::StatusCode::NOT_FOUND, "no such revision"),
    }
}

async fn shutdown(
    emulator: web::Data<Arc<Emulator>>,
    stop: web::Data<watch::Sender<bool>>,
) -> HttpResponse {
    emulator.shutdown().await;
    let _ = stop.send(true);
    HttpResponse::Ok().json(json!({ "stopped": true }))
}

/// Serves the control API on `listener`; the receiver turns true after
/// `POST /v1/shutdown`.
pub fn serve(
    listener: TcpListener,
    emulator: Arc<Emulator>,
) -> std::io::Result<(ServerHandle, watch::Receiver<bool>)> {
    let (stop, stopped) = watch::channel(false);
    let stop = web::Data::new(stop);
    let emulator = web::Data::new(emulator);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(emulator.clone())
            .app_data(stop.clone())
            .app_data(web::PayloadConfig::new(1024 * 1024))
            .route("/v1/services", web::get().to(list))
            .route("/v1/services/{name}", web::put().to(replace))
            .route("/v1/services/{name}", web::get().to(get))
            .route("/v1/services/{name}", web::delete().to(delete))
            .route("/v1/services/{name}/logs", web::get().to(logs))
            .route("/v1/shutdown", web::post().to(shutdown))
    })
    .workers(2)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((handle, stopped))
}
