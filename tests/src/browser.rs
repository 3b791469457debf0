//! A test browser: one HTTP hop at a time, with a cookie jar that applies
//! the rules a real browser applies (domain and path matching, `Max-Age`,
//! the `__Host-` and `__Secure-` prefixes), so every redirect and every
//! `Set-Cookie` can be asserted.
//!
//! Test host names (`auth.example.test`, `app.example.test`) resolve to
//! 127.0.0.1. Like a browser on `localhost`, this one treats them as
//! trustworthy and sends `Secure` cookies over plain HTTP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::cookie::Cookie;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use url::Url;

#[derive(Debug, Clone)]
pub struct StoredCookie {
    pub name: String,
    pub value: String,
    pub domain: String,
    pub host_only: bool,
    pub path: String,
}

/// One response, fully read.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub set_cookies: Vec<Cookie<'static>>,
    /// `Set-Cookie` header values as sent, to check sizes.
    pub raw_set_cookies: Vec<String>,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<Url> {
        let raw = self.headers.get(LOCATION)?.to_str().ok()?;
        self.url.join(raw).ok()
    }

    pub fn is_redirect(&self) -> bool {
        self.status.is_redirection()
    }

    /// Where a page that moves the browser on at once (meta refresh) goes.
    pub fn refresh_target(&self) -> Option<Url> {
        let marker = "http-equiv=\"refresh\" content=\"0;url=";
        let start = self.body.find(marker)? + marker.len();
        let end = start + self.body[start..].find('"')?;
        let raw = self.body[start..end].replace("&amp;", "&");
        self.url.join(&raw).ok()
    }

    /// Where the browser goes next on its own: a redirect or a refresh.
    pub fn next_url(&self) -> Option<Url> {
        if self.is_redirect() {
            self.location()
        } else {
            self.refresh_target()
        }
    }

    pub fn set_cookie(&self, name: &str) -> Option<&Cookie<'static>> {
        self.set_cookies.iter().find(|c| c.name() == name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Each hop as its host and path (`app.example.test/auth/handoff`), to
/// assert the way a walk went.
pub fn host_paths(hops: &[Page]) -> Vec<String> {
    hops.iter()
        .map(|p| format!("{}{}", p.url.host_str().unwrap_or_default(), p.url.path()))
        .collect()
}

#[derive(Clone)]
pub struct Browser {
    client: reqwest::Client,
    jar: Arc<Mutex<Vec<StoredCookie>>>,
    /// Every page this browser has seen, for leak checks.
    history: Arc<Mutex<Vec<Page>>>,
}

impl Browser {
    /// `hosts`: test host names and where they really are.
    pub fn new(hosts: &[(&str, SocketAddr)]) -> Self {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30));
        for (host, addr) in hosts {
            builder = builder.resolve(host, *addr);
        }
        Self {
            client: builder.build().expect("the test client builds"),
            jar: Arc::default(),
            history: Arc::default(),
        }
    }

    /// A navigation: `Accept: text/html` like a browser address bar.
    pub async fn get(&self, url: &str) -> Page {
        self.request(url, &[("accept", "text/html,application/xhtml+xml")])
            .await
    }

    /// A `fetch()` call asking for JSON.
    pub async fn get_json(&self, url: &str) -> Page {
        self.request(url, &[("accept", "application/json")]).await
    }

    pub async fn request(&self, url: &str, headers: &[(&str, &str)]) -> Page {
        self.send(reqwest::Method::GET, url, headers, None).await
    }

    /// A form submission, as a browser sends it (the caller picks the
    /// `Origin` header, to play a page of this site or of another one).
    pub async fn post_form(
        &self,
        url: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut all = vec![
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "text/html,application/xhtml+xml"),
        ];
        all.extend_from_slice(headers);
        self.send(reqwest::Method::POST, url, &all, Some(body))
            .await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Page {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url:?}: {e}"));
        let mut request = self.client.request(method.clone(), url.clone());
        if let Some(body) = body {
            request = request.body(body);
        }
        for (name, value) in headers {
            request = request.header(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        if let Some(cookies) = self.cookie_header(&url) {
            request = request.header(reqwest::header::COOKIE, cookies);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
        let page = self.read(url, response).await;
        self.history.lock().unwrap().push(page.clone());
        page
    }

    /// Follows redirects (and meta refreshes) like a browser, returning
    /// every hop (at most 10).
    pub async fn navigate(&self, url: &str) -> Vec<Page> {
        let mut hops = vec![self.get(url).await];
        while let Some(next) = hops.last().unwrap().next_url() {
            assert!(
                hops.len() < 10,
                "redirect loop: {:?}",
                hops.iter().map(|p| p.url.as_str()).collect::<Vec<_>>()
            );
            hops.push(self.get(next.as_str()).await);
        }
        hops
    }

    pub fn cookie(&self, name: &str) -> Option<StoredCookie> {
        self.jar
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.name == name)
            .cloned()
    }

    pub fn cookies(&self) -> Vec<StoredCookie> {
        self.jar.lock().unwrap().clone()
    }

    /// Puts a cookie in the jar by hand (tampering, replay).
    pub fn put_cookie(&self, name: &str, value: &str, domain: &str, host_only: bool) {
        let mut jar = self.jar.lock().unwrap();
        jar.retain(|c| !(c.name == name && c.domain == domain));
        jar.push(StoredCookie {
            name: name.into(),
            value: value.into(),
            domain: domain.into(),
            host_only,
            path: "/".into(),
        });
    }

    pub fn clear_cookies(&self) {
        self.jar.lock().unwrap().clear();
    }

    pub fn history(&self) -> Vec<Page> {
        self.history.lock().unwrap().clone()
    }

    /// The `Cookie` header this browser sends with a request to `url`.
    pub fn cookie_header(&self, url: &Url) -> Option<String> {
        let host = url.host_str()?.to_ascii_lowercase();
        let path = url.path();
        let jar = self.jar.lock().unwrap();
        let pairs: Vec<String> = jar
            .iter()
            .filter(|c| domain_matches(c, &host) && path.starts_with(&c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    async fn read(&self, url: Url, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let raw_set_cookies: Vec<String> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let set_cookies: Vec<Cookie<'static>> = raw_set_cookies
            .iter()
            .filter_map(|raw| Cookie::parse(raw.clone()).ok())
            .collect();
        for cookie in &set_cookies {
            self.store(&url, cookie);
        }
        let body = response.text().await.unwrap_or_default();
        Page {
            url,
            status,
            headers,
            set_cookies,
            raw_set_cookies,
            body,
        }
    }

    fn store(&self, url: &Url, cookie: &Cookie<'static>) {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let (domain, host_only) = match cookie.domain() {
            Some(d) => (d.trim_start_matches('.').to_ascii_lowercase(), false),
            None => (host.clone(), true),
        };
        let within = host == domain || host.ends_with(&format!(".{domain}"));
        if !(host_only || within) {
            return; // a browser ignores a cookie for a domain the host is not in
        }
        let path = cookie.path().unwrap_or("/").to_owned();
        let name = cookie.name();
        if name.starts_with("__Host-")
            && (!host_only || path != "/" || cookie.secure() != Some(true))
        {
            return;
        }
        if name.starts_with("__Secure-") && cookie.secure() != Some(true) {
            return;
        }
        let mut jar = self.jar.lock().unwrap();
        jar.retain(|c| !(c.name == name && c.domain == domain && c.path == path));
        let expired = cookie.max_age().is_some_and(|age| age.whole_seconds() <= 0)
            || cookie
                .expires_datetime()
                .is_some_and(|at| at <= actix_web::cookie::time::OffsetDateTime::now_utc());
        if !expired {
            jar.push(StoredCookie {
                name: name.to_owned(),
                value: cookie.value().to_owned(),
                domain,
                host_only,
                path,
            });
        }
    }
}

fn domain_matches(cookie: &StoredCookie, host: &str) -> bool {
    if cookie.host_only {
        host == cookie.domain
    } else {
        host == cookie.domain || host.ends_with(&format!(".{}", cookie.domain))
    }
}
