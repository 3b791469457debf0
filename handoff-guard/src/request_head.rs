//! What the gate reads of a request, whatever serves it: the path, the
//! query and header values as bytes. actix-web's `HttpRequest` and the
//! `http` crate's request types (axum, tower, hyper, tonic) implement it,
//! so every framework's adapter runs one authentication path.

/// The parts of an HTTP request the gate reads.
pub trait RequestHead {
    /// The path, percent-encoded as sent, without the query.
    fn path(&self) -> &str;
    /// The query string without its `?`, or `""`.
    fn query(&self) -> &str;
    /// Every value of the header `name` (lowercase), in the order sent.
    fn header_values<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a;

    /// The value of a header that may be sent once: `Err(Several)` when it
    /// came more than once (which one a proxy or the app would read is
    /// anyone's guess, so neither is).
    fn single_header(&self, name: &'static str) -> Result<Option<&[u8]>, Several> {
        let mut values = self.header_values(name);
        let first = values.next();
        match values.next() {
            Some(_) => Err(Several),
            None => Ok(first),
        }
    }

    /// Whether a browser is navigating to a page (`Accept` names
    /// `text/html`): it is redirected to sign in; anything else gets `401`.
    fn wants_html(&self) -> bool {
        self.header_values("accept")
            .next()
            .is_some_and(|accept| accept.windows(9).any(|w| w == b"text/html"))
    }
}

/// A header that may be sent once came several times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Several;

#[cfg(feature = "actix")]
impl RequestHead for actix_web::HttpRequest {
    fn path(&self) -> &str {
        actix_web::HttpRequest::path(self)
    }

    fn query(&self) -> &str {
        self.query_string()
    }

    fn header_values<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers().get_all(name).map(|value| value.as_bytes())
    }
}

#[cfg(feature = "http")]
impl RequestHead for http::request::Parts {
    fn path(&self) -> &str {
        self.uri.path()
    }

    fn query(&self) -> &str {
        self.uri.query().unwrap_or("")
    }

    fn header_values<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .get_all(name)
            .iter()
            .map(|value| value.as_bytes())
    }
}

#[cfg(feature = "http")]
impl<B> RequestHead for http::Request<B> {
    fn path(&self) -> &str {
        self.uri().path()
    }

    fn query(&self) -> &str {
        self.uri().query().unwrap_or("")
    }

    fn header_values<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers()
            .get_all(name)
            .iter()
            .map(|value| value.as_bytes())
    }
}
