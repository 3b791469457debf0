//! The gate's rivals, configured as an operator would tune them: nginx
//! `proxy_pass` in front of the app (no auth at all), and nginx
//! `auth_request` asking the app's forward-auth endpoint before every
//! request (the way to put the sign-in in front of a non-Rust app before
//! the gate). One worker per server core, keep-alive to the client and to
//! every upstream, no access log, so that the comparison is with nginx at
//! its best rather than at its defaults.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Debian's nginx, which `bench/run` installs when it is missing.
pub const NGINX: &str = "/usr/sbin/nginx";

/// Where nginx is to send what it lets through.
pub enum Mode {
    /// Every request straight to the app.
    ProxyPass,
    /// Each request first to `GET <verify_url>` with the client's headers;
    /// `2xx` lets it through, with the identity headers the answer carried.
    AuthRequest { verify_port: u16 },
}

/// Writes an nginx configuration listening on `port` in front of the app
/// on `app_port`; returns the arguments that start nginx with it.
pub fn nginx(
    dir: &Path,
    name: &str,
    port: u16,
    app_port: u16,
    mode: Mode,
    workers: usize,
) -> anyhow::Result<Vec<String>> {
    let prefix: PathBuf = dir.join(name);
    for temp in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(prefix.join(temp))
            .with_context(|| format!("creating {}", prefix.display()))?;
    }
    let d = prefix.display();
    let mut upstreams =
        format!("  upstream app {{ server 127.0.0.1:{app_port}; keepalive 128; }}\n");
    let mut locations = String::new();
    let mut through = String::new();
    if let Mode::AuthRequest { verify_port } = mode {
        let _ = writeln!(
            upstreams,
            "  upstream verify {{ server 127.0.0.1:{verify_port}; keepalive 128; }}"
        );
        let _ = write!(
            locations,
            r#"    location = /_auth {{
      internal;
      proxy_pass http://verify/auth/verify;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host 127.0.0.1:{verify_port};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
    }}
"#
        );
        through = r#"      auth_request /_auth;
      auth_request_set $auth_email $upstream_http_x_auth_email;
      proxy_set_header X-Auth-Email $auth_email;
"#
        .to_owned();
    }
    // One worker: no master, so that the process started is the one that
    // serves and its peak memory is nginx's. More: nginx's usual master
    // and workers (the peak read is then the master's alone).
    let master = if workers <= 1 { "off" } else { "on" };
    let config = format!(
        r#"daemon off;
master_process {master};
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
{upstreams}  server {{
    listen 127.0.0.1:{port};
    location = /readyz {{ return 200; }}
{locations}    location / {{
{through}      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"#
    );
    let path = prefix.join("nginx.conf");
    std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
    Ok(vec![
        "-p".into(),
        prefix.display().to_string(),
        "-c".into(),
        path.display().to_string(),
    ])
}
