//! What the gate changes in the headers on the way through.
//!
//! - **Hop-by-hop headers** (RFC 9110, section 7.6.1) are the connection's,
//!   not the message's: `Connection` and every header it names,
//!   `Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding`, `Upgrade`
//!   (kept on a WebSocket upgrade, which the gate passes end to end) and
//!   `TE` (kept only as `TE: trailers`, which gRPC needs) are removed in
//!   both directions, as is `Proxy-Authorization`, a credential for a
//!   proxy (this one) and not the app.
//! - **Identity headers a client sends are always removed**, every copy,
//!   whatever its case (`http`'s header map holds names in lowercase):
//!   the configured names and the defaults of every other convention
//!   ([`STRIPPED_ALWAYS`]), so that switching conventions leaves no name an
//!   app might still read open to forgery.
//! - **Headers with an underscore in their name are removed.** CGI and
//!   WSGI (Flask, Django), Rack and PHP turn `-` into `_` when they put a
//!   header in the environment, so `X-Forwarded_Email` would reach a
//!   Python app as `HTTP_X_FORWARDED_EMAIL`, the very variable the gate's
//!   `X-Forwarded-Email` becomes: which one wins is the server's choice.
//!   nginx drops such names by default for this reason
//!   (`underscores_in_headers off`,
//!   <https://nginx.org/en/docs/http/ngx_http_core_module.html#underscores_in_headers>).
//! - **Forwarding headers** are set by the gate: see [`Forwarding`].

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// The identity headers of the conventions the gate knows, removed from
/// every request whatever the configuration: oauth2-proxy's
/// (`X-Forwarded-*` in proxy mode, `X-Auth-Request-*` in `auth_request`
/// mode), IAP's, this workspace's forward-auth answer's, and the gate's
/// own default assertion header.
pub const STRIPPED_ALWAYS: [&str; 17] = [
    "x-forwarded-email",
    "x-forwarded-user",
    "x-forwarded-preferred-username",
    "x-forwarded-groups",
    "x-forwarded-access-token",
    "x-auth-request-email",
    "x-auth-request-user",
    "x-auth-request-preferred-username",
    "x-auth-request-groups",
    "x-auth-request-access-token",
    "x-goog-authenticated-user-email",
    "x-goog-authenticated-user-id",
    "x-goog-iap-jwt-assertion",
    "x-auth-kind",
    "x-auth-subject",
    "x-auth-email",
    "x-handoff-assertion",
];

/// Headers a client may not choose the name of for the gate to set: the
/// ones the gate sets itself or reads a credential from.
pub const NOT_IDENTITY_NAMES: [&str; 12] = [
    "host",
    "cookie",
    "authorization",
    "connection",
    "upgrade",
    "te",
    "transfer-encoding",
    "content-length",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
];

/// The names the upstream gets the caller's identity under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// The verified e-mail address (default `X-Forwarded-Email`).
    pub email: HeaderName,
    /// The subject, the provider's stable id (default `X-Forwarded-User`).
    pub user: HeaderName,
    /// The verified handoff token (default `X-Handoff-Assertion`).
    pub assertion: HeaderName,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            email: HeaderName::from_static("x-forwarded-email"),
            user: HeaderName::from_static("x-forwarded-user"),
            assertion: HeaderName::from_static("x-handoff-assertion"),
        }
    }
}

impl IdentityHeaders {
    /// Removes every copy of every identity header, configured or known.
    /// Removes every header with an underscore in its name too (see the
    /// module docs), since an app may read it as one of those.
    pub fn strip(&self, headers: &mut HeaderMap) {
        for name in [&self.email, &self.user, &self.assertion] {
            remove_all(headers, name);
        }
        for name in STRIPPED_ALWAYS {
            remove_all(headers, &HeaderName::from_static(name));
        }
        strip_underscored(headers);
    }
}

/// Removes every header whose name holds an `_`.
fn strip_underscored(headers: &mut HeaderMap) {
    let underscored = |name: &HeaderName| name.as_str().contains('_');
    if !headers.keys().any(underscored) {
        return;
    }
    let names: Vec<HeaderName> = headers.keys().filter(|n| underscored(n)).cloned().collect();
    for name in names {
        remove_all(headers, &name);
    }
}

fn remove_all(headers: &mut HeaderMap, name: &HeaderName) {
    // `remove` drops every value under the name; the loop is a guard
    // against a map that keeps several entries per name.
    while headers.remove(name).is_some() {}
}

/// Removes the hop-by-hop headers (see the module docs); `upgrade` keeps
/// `Upgrade` and a `Connection: upgrade` for a WebSocket upgrade.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        if upgrade && name == http::header::UPGRADE {
            continue;
        }
        remove_all(headers, &name);
    }
    let trailers_only = {
        let mut values = headers.get_all(http::header::TE).iter();
        matches!((values.next(), values.next()), (Some(v), None) if v.as_bytes().eq_ignore_ascii_case(b"trailers"))
    };
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "proxy-authorization",
    ] {
        remove_all(headers, &HeaderName::from_static(name));
    }
    if !trailers_only {
        remove_all(headers, &http::header::TE);
    }
    if upgrade {
        headers.insert(
            http::header::CONNECTION,
            HeaderValue::from_static("upgrade"),
        );
    } else {
        remove_all(headers, &http::header::UPGRADE);
    }
}

/// Whether a request asks for a WebSocket upgrade (RFC 6455, section 4.1):
/// `Upgrade: websocket` with `upgrade` among `Connection`'s tokens.
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let websocket = headers
        .get_all(http::header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("websocket"));
    connection_upgrade && websocket
}

/// How the gate sets `X-Forwarded-For`, `-Proto` and `-Host`.
///
/// With `trusted_proxy_hops` = N (as the services read
/// `TRUSTED_PROXY_HOPS`: Cloud Run's front end is one, and appends the
/// address it saw the client at), the last N entries of the
/// `X-Forwarded-For` that arrived were written by proxies in front and are
/// kept; entries before them are the client's own claims and are dropped.
/// The gate then appends its peer's address. The upstream so gets a list
/// whose every entry a trusted hop wrote, and reads its client N + 1
/// entries from the right (or the first one). `X-Forwarded-Proto` is the
/// trusted front end's when there is one (`http` or `https`), else the
/// gate's own listener's, `http`. `X-Forwarded-Host` is the host the
/// request was sent to. Client-sent `Forwarded` headers are removed: the
/// gate does not write RFC 7239's form, and a stale one would contradict.
#[derive(Debug, Clone, Copy, Default)]
pub struct Forwarding {
    /// Proxies in front of the gate whose entries are trusted.
    pub trusted_proxy_hops: usize,
}

impl Forwarding {
    /// Rewrites the forwarding headers of a request from `peer` to `host`.
    pub fn apply(&self, headers: &mut HeaderMap, peer: IpAddr, host: Option<&str>) {
        let arrived: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|entry| entry.trim().to_owned())
            .filter(|entry| !entry.is_empty())
            .collect();
        let proto = if self.trusted_proxy_hops > 0 {
            let mut values = headers.get_all("x-forwarded-proto").iter();
            match (values.next(), values.next()) {
                (Some(v), None) if v == "https" => "https",
                _ => "http",
            }
        } else {
            "http"
        };
        let keep_from = arrived.len().saturating_sub(self.trusted_proxy_hops);
        let mut chain: Vec<String> = if self.trusted_proxy_hops == 0 {
            Vec::new()
        } else {
            arrived[keep_from..].to_vec()
        };
        chain.push(peer.to_string());
        for name in [
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "forwarded",
        ] {
            remove_all(headers, &HeaderName::from_static(name));
        }
        if let Ok(value) = HeaderValue::from_str(&chain.join(", ")) {
            headers.insert("x-forwarded-for", value);
        }
        headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
        if let Some(value) = host.and_then(|h| HeaderValue::from_str(h).ok()) {
            headers.insert("x-forwarded-host", value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn hop_by_hop_headers_go_and_the_ones_connection_names_with_them() {
        let mut headers = map(&[
            ("Connection", "keep-alive, X-Secret"),
            ("connection", "x-other"),
            ("X-Secret", "1"),
            ("x-secret", "2"),
            ("X-Other", "3"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "gzip"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic eDp5"),
            ("Accept", "text/plain"),
        ]);
        strip_hop_by_hop(&mut headers, false);
        let names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept"]);
        let mut trailers = map(&[("te", "Trailers")]);
        strip_hop_by_hop(&mut trailers, false);
        assert_eq!(trailers.get("te").unwrap(), "Trailers");
        let mut twice = map(&[("te", "trailers"), ("te", "gzip")]);
        strip_hop_by_hop(&mut twice, false);
        assert!(twice.get("te").is_none());
    }

    #[test]
    fn a_websocket_upgrade_keeps_upgrade_and_nothing_else_of_the_connection() {
        let mut headers = map(&[
            ("Connection", "Upgrade, X-Secret"),
            ("Upgrade", "websocket"),
            ("X-Secret", "1"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert!(is_websocket_upgrade(&headers));
        strip_hop_by_hop(&mut headers, true);
        assert_eq!(headers.get("upgrade").unwrap(), "websocket");
        assert_eq!(headers.get("connection").unwrap(), "upgrade");
        assert!(headers.get("x-secret").is_none());
        assert!(headers.get("sec-websocket-key").is_some());
        assert!(!is_websocket_upgrade(&map(&[("Upgrade", "websocket")])));
        assert!(!is_websocket_upgrade(&map(&[
            ("Connection", "upgrade"),
            ("Upgrade", "h2c")
        ])));
    }

    #[test]
    fn names_with_an_underscore_go_since_cgi_reads_them_as_dashes() {
        let mut headers = map(&[
            ("X-Forwarded_Email", "mallory@example.com"),
            ("x_forwarded_user", "mallory"),
            ("X_Handoff_Assertion", "forged"),
            ("X-Anything_Else", "1"),
            ("Accept", "text/plain"),
            ("X-Request-Id", "abc"),
        ]);
        IdentityHeaders::default().strip(&mut headers);
        let mut names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "x-request-id"]);
    }

    #[test]
    fn identity_headers_go_in_every_case_and_copy_configured_or_not() {
        let configured = IdentityHeaders {
            email: HeaderName::from_static("x-goog-authenticated-user-email"),
            user: HeaderName::from_static("x-app-user"),
            assertion: HeaderName::from_static("x-goog-iap-jwt-assertion"),
        };
        let mut headers = map(&[
            ("X-App-User", "mallory"),
            ("x-APP-user", "mallory"),
            ("X-Forwarded-Email", "a@example.com"),
            ("x-forwarded-EMAIL", "b@example.com"),
            ("X-Handoff-Assertion", "forged"),
            ("X-Goog-IAP-JWT-Assertion", "forged"),
            ("X-Auth-Request-Email", "c@example.com"),
            ("X-Auth-Email", "d@example.com"),
            ("Accept", "*/*"),
        ]);
        configured.strip(&mut headers);
        let names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept"]);
    }

    #[test]
    fn forwarded_for_keeps_only_what_trusted_hops_wrote_then_the_peer() {
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        let arrived = || {
            map(&[
                ("X-Forwarded-For", "6.6.6.6, 7.7.7.7"),
                ("x-forwarded-for", "203.0.113.5"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "evil.example"),
                ("Forwarded", "for=6.6.6.6"),
            ])
        };
        let mut edge = arrived();
        Forwarding {
            trusted_proxy_hops: 0,
        }
        .apply(&mut edge, peer, Some("app.example.com"));
        assert_eq!(edge.get("x-forwarded-for").unwrap(), "10.0.0.9");
        assert_eq!(edge.get("x-forwarded-proto").unwrap(), "http");
        assert_eq!(edge.get("x-forwarded-host").unwrap(), "app.example.com");
        assert!(edge.get("forwarded").is_none());
        let mut cloud_run = arrived();
        Forwarding {
            trusted_proxy_hops: 1,
        }
        .apply(&mut cloud_run, peer, Some("app.example.com"));
        assert_eq!(
            cloud_run.get("x-forwarded-for").unwrap(),
            "203.0.113.5, 10.0.0.9"
        );
        assert_eq!(cloud_run.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(cloud_run.get("x-forwarded-proto").unwrap(), "https");
        let mut short = map(&[]);
        Forwarding {
            trusted_proxy_hops: 2,
        }
        .apply(&mut short, peer, None);
        assert_eq!(short.get("x-forwarded-for").unwrap(), "10.0.0.9");
        assert!(short.get("x-forwarded-host").is_none());
    }
}
