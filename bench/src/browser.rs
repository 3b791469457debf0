//! A browser reduced to what a sign-in needs: one hop at a time, nothing
//! followed automatically, cookies kept per origin. Errors name the method,
//! path and status of the hop, never its query (which carries codes).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};
use url::Url;

/// More hops than a sign-in takes (six with code delivery).
const MAX_HOPS: usize = 12;

/// The client every simulated browser shares: no redirects followed,
/// bounded time, connections reused as a browser's would be.
pub fn client() -> anyhow::Result<Client> {
    Ok(Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Below the servers' 5 s keep-alive: a request sent on a connection
        // the server is closing fails, and is counted as an error.
        .pool_idle_timeout(Duration::from_secs(4))
        .timeout(Duration::from_secs(30))
        .build()?)
}

pub struct Browser {
    client: Client,
    jar: HashMap<String, BTreeMap<String, String>>,
    /// Each request of the last [`Browser::open`]: its path,
    /// and send to last byte of the answer.
    pub steps: Vec<(String, Duration)>,
}

impl Browser {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            jar: HashMap::new(),
            steps: Vec::new(),
        }
    }

    /// Opens `start` as a page and follows redirects by hand until a page
    /// answers `200`; returns how many requests that took.
    pub async fn open(&mut self, start: &str) -> anyhow::Result<usize> {
        let mut url = Url::parse(start)?;
        self.steps.clear();
        for hop in 1..=MAX_HOPS {
            let sent = Instant::now();
            let origin = url.origin().ascii_serialization();
            let mut request = self.client.get(url.clone()).header(ACCEPT, "text/html");
            if let Some(cookies) = self.cookie_header(&origin) {
                request = request.header(COOKIE, cookies);
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("GET {}", url.path()))?;
            let status = response.status();
            self.keep_cookies(&origin, &response);
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            // Read the body so the connection can be reused.
            let body = response.bytes().await.unwrap_or_default();
            self.steps.push((url.path().to_owned(), sent.elapsed()));
            match (status, location) {
                (StatusCode::OK, _) => return Ok(hop),
                (s, Some(location)) if s.is_redirection() => url = url.join(&location)?,
                (s, _) => bail!(
                    "the sign-in stopped at GET {}: {s}: {}",
                    url.path(),
                    excerpt(&body)
                ),
            }
        }
        bail!("the sign-in took more than {MAX_HOPS} hops")
    }

    /// The value of the cookie `name` this browser keeps for `origin`.
    pub fn cookie(&self, origin: &str, name: &str) -> Option<String> {
        self.jar.get(origin)?.get(name).cloned()
    }

    /// The `Cookie` header this browser sends to `origin`.
    pub fn cookie_header(&self, origin: &str) -> Option<String> {
        let cookies = self.jar.get(origin).filter(|c| !c.is_empty())?;
        Some(
            cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    fn keep_cookies(&mut self, origin: &str, response: &reqwest::Response) {
        let cookies = self.jar.entry(origin.to_owned()).or_default();
        for set in response.headers().get_all(SET_COOKIE) {
            let Some((name, value, removed)) = set.to_str().ok().and_then(parse_set_cookie) else {
                continue;
            };
            if removed {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }
}

/// The start of an answer's body, for an error message: the services'
/// refusals name a reason and carry no secret.
pub fn excerpt(body: &[u8]) -> String {
    const MOST: usize = 400;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    match text.char_indices().nth(MOST) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `name=value; attributes` → name, value, and whether it removes the cookie.
fn parse_set_cookie(header: &str) -> Option<(&str, &str, bool)> {
    let mut parts = header.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let expired = parts.any(|attribute| {
        let attribute = attribute.trim().to_ascii_lowercase();
        attribute == "max-age=0" || attribute.starts_with("max-age=-")
    });
    Some((
        name.trim(),
        value.trim(),
        expired || value.trim().is_empty(),
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_set_cookie;

    #[test]
    fn a_cookie_is_read_with_its_name_and_value() {
        assert_eq!(
            parse_set_cookie("__Host-handoff=abc.def; Path=/; HttpOnly; Max-Age=600"),
            Some(("__Host-handoff", "abc.def", false))
        );
    }

    #[test]
    fn a_removal_cookie_removes() {
        let removal = parse_set_cookie("__Host-session=; Path=/; Max-Age=0").unwrap();
        assert!(removal.2);
    }
}
