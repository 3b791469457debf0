//! Forward auth through a real nginx (Debian's package, started here on
//! loopback): `auth_request` asks the app's `/auth/verify`, and a small
//! upstream with no auth of its own sees only requests nginx let through,
//! with the identity headers the app answered.
//!
//! `.ci/run` installs nginx and sets `NGINX_TEST_REQUIRED=1`; elsewhere a
//! missing nginx skips the test with the reason printed.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use integration_tests::app::EXTENSION_CLIENT_ID;
use integration_tests::TestApp;
use mock_provider::MockUser;

const NGINX: &str = "/usr/sbin/nginx";
const ALICE: &str = "alice@example.com";

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The service behind the proxy: no auth of its own; it echoes what nginx
/// told it about the caller and counts what reached it.
async fn start_upstream(hits: Arc<AtomicUsize>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let hits = hits.clone();
        App::new().default_service(web::to(move |req: HttpRequest| {
            hits.fetch_add(1, Ordering::SeqCst);
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let body = serde_json::json!({
                "path": req.path(),
                "email": header("x-auth-email"),
                "kind": header("x-auth-kind"),
            });
            async move { HttpResponse::Ok().json(body) }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    port
}

fn nginx_config(dir: &Path, port: u16, app_port: u16, upstream_port: u16) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /_auth {{
      internal;
      proxy_pass http://127.0.0.1:{app_port}/auth/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
    }}
    location / {{
      auth_request /_auth;
      auth_request_set $auth_email $upstream_http_x_auth_email;
      auth_request_set $auth_kind $upstream_http_x_auth_kind;
      proxy_set_header X-Auth-Email $auth_email;
      proxy_set_header X-Auth-Kind $auth_kind;
      proxy_pass http://127.0.0.1:{upstream_port};
    }}
  }}
}}
"#
    )
}

async fn start_nginx(dir: &Path, app_port: u16, upstream_port: u16) -> (Nginx, u16) {
    let port = integration_tests::ports::for_a_child();
    let config = dir.join("nginx.conf");
    std::fs::write(&config, nginx_config(dir, port, app_port, upstream_port)).unwrap();
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (nginx, port);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    panic!("nginx did not start listening:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_lets_through_only_what_the_app_vouches_for() {
    if !Path::new(NGINX).exists() {
        if std::env::var_os("NGINX_TEST_REQUIRED").is_some() {
            panic!("the nginx test is required here but {NGINX} is missing");
        }
        integration_tests::skipped(format_args!(
            "no {NGINX} (apt-get install nginx); .ci/run installs it"
        ));
        return;
    }
    let app = TestApp::spawn().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let upstream_port = start_upstream(hits.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (_nginx, port) = start_nginx(dir.path(), app.app_addr.port(), upstream_port).await;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/reports/42");

    // Nobody: refused by nginx, the upstream never sees it.
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let forged = client
        .get(&url)
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // A person's ID token (the extension): through, with the identity, and
    // a header the client made up is replaced by the app's answer.
    let token = app
        .provider
        .mint_id_token(&MockUser::new(ALICE), EXTENSION_CLIENT_ID);
    let through = client
        .get(&url)
        .bearer_auth(&token)
        .header("x-auth-email", "ceo@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(through.status(), 200);
    let seen: serde_json::Value = through.json().await.unwrap();
    assert_eq!(seen["email"], ALICE);
    assert_eq!(seen["kind"], "person");
    assert_eq!(seen["path"], "/reports/42");

    // The handoff cookie of a browser signed in on the shared parent domain.
    let handoff = app.sign(&app.claims_for(ALICE));
    let with_cookie = client
        .get(&url)
        .header("cookie", format!("{}={handoff}", app.handoff_cookie()))
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    let mut expired = app.claims_for(ALICE);
    expired.exp = expired.iat - 120;
    let stale = client
        .get(&url)
        .header(
            "cookie",
            format!("{}={}", app.handoff_cookie(), app.sign(&expired)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}
