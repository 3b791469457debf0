//! [`SignIn`]: the one way a suite signs a person in with a test browser,
//! every hop kept so it can be asserted.
//!
//! A sign-in starts at a URL of an app (its home page unless told
//! otherwise), passes the provider's pages ([`ProviderPages`]) and ends on
//! the first page that moves the browser no further. What varies between
//! suites is an option: the browser (a new one, or one that already holds
//! cookies), the person (an address or a whole [`MockUser`]), the start
//! (another app, another path, the public service's `/login` with its
//! `return_to`, extra query parameters, or a page the test already has),
//! headers sent on every hop (a User-Agent), what the landing must be
//! ([`Landing`]) and how the token must have reached the app. A test that
//! needs the provider's answer unvisited stops there
//! ([`SignIn::callback_url`]). [`TestApp::signing_in`] and
//! [`Rehearsal::signing_in`](crate::cloud_run::rehearsal::Rehearsal::signing_in)
//! start one against their deployment.

mod provider_pages;

pub use provider_pages::interaction_form;

use mock_provider::{MockProvider, MockUser};
use url::Url;

use crate::app::{TestApp, TestDelivery};
use crate::browser::{Browser, Page};

/// The `Accept` header of a navigation, as [`Browser::get`] sends it.
const NAVIGATION: (&str, &str) = ("accept", "text/html,application/xhtml+xml");
/// Hops after which a walk that still moves on is taken for a loop.
const MOST_HOPS: usize = 20;
/// The public service's session cookie, as the suites read it.
const SESSION_COOKIE: &str = "__Host-session";

/// How the browser gets past the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderPages {
    /// The mock approves at once as the person (set as its user first).
    MockApproves,
    /// The mock shows its sign-in form (`TestOptions::interactive_provider`)
    /// and the person types their address and approves.
    MockForm,
    /// Another OpenID provider's login and consent forms, filled in as the
    /// person (panva's `oidc-provider` in its dev interactions); the mock is
    /// left alone.
    LoginAndConsentForms,
}

/// What the last page must be for the sign-in to count as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// Anything: the suite asserts the hops itself (refusals, errors).
    Unchecked,
    /// A `200`.
    Ok,
    /// A `200` that shows the person's address.
    ShowsEmail,
    /// A `200` at the very URL the sign-in started at, showing the address.
    BackAtStart,
}

/// A sign-in to walk; see the module documentation.
pub struct SignIn<'a> {
    provider: &'a MockProvider,
    auth_url: String,
    app_url: String,
    browser: Browser,
    user: MockUser,
    start: Start,
    headers: Vec<(String, String)>,
    pages: ProviderPages,
    landing: Landing,
    /// How the token must have reached the app, when the suite says.
    delivery: Option<TestDelivery>,
    /// More to say when a landing check fails (a deployment's logs).
    context: Option<Box<dyn Fn() -> String + Send + Sync + 'a>>,
}

enum Start {
    Url(String),
    /// A page the browser holds already, the walk continues from it.
    Page(Box<Page>),
}

/// The pages walked so far.
struct Walk {
    start_url: Option<String>,
    hops: Vec<Page>,
    /// The callback URL the provider sent the browser to, when the walk
    /// halted there.
    callback: Option<Url>,
}

/// A walked sign-in: the browser that made it and every page it saw.
pub struct SignedIn {
    pub browser: Browser,
    pub hops: Vec<Page>,
}

impl SignedIn {
    /// The page it ended on.
    pub fn last(&self) -> &Page {
        self.hops.last().expect("a sign-in sees at least one page")
    }

    /// The page it ended on, owned.
    pub fn into_last_page(mut self) -> Page {
        self.hops.pop().expect("a sign-in sees at least one page")
    }

    /// The one-time code the app's `/auth/handoff` was given (separate
    /// sites), if the walk passed there.
    pub fn handoff_code(&self) -> Option<String> {
        self.hops
            .iter()
            .find(|p| p.url.path() == "/auth/handoff")
            .and_then(|p| p.url.query_pairs().find(|(k, _)| k == "code"))
            .map(|(_, v)| v.into_owned())
    }

    /// The id of the public service's session the browser holds (the part
    /// of its session cookie before the signature).
    pub fn session_id(&self) -> Option<String> {
        let cookie = self.browser.cookie(SESSION_COOKIE)?;
        cookie.value.split('.').next().map(str::to_owned)
    }
}

impl TestApp {
    /// A sign-in as `email` on this deployment's app, in a new browser,
    /// approved by the mock at once, its landing unchecked.
    pub fn signing_in(&self, email: &str) -> SignIn<'_> {
        SignIn::new(
            &self.provider,
            self.auth(""),
            self.app(""),
            self.browser(),
            email,
        )
    }

    /// Opens the app's home page in `browser` as `email` and follows every
    /// hop: [`Self::signing_in`] with its defaults.
    pub async fn sign_in(&self, browser: &Browser, email: &str) -> Vec<Page> {
        self.signing_in(email).in_browser(browser).run().await.hops
    }
}

impl<'a> SignIn<'a> {
    /// A sign-in at the app at `app_url` (whose public service is at
    /// `auth_url`) that `provider` approves.
    pub fn new(
        provider: &'a MockProvider,
        auth_url: String,
        app_url: String,
        browser: Browser,
        email: &str,
    ) -> Self {
        let auth_url = auth_url.trim_end_matches('/').to_owned();
        let app_url = app_url.trim_end_matches('/').to_owned();
        Self {
            provider,
            start: Start::Url(format!("{app_url}/")),
            auth_url,
            app_url,
            browser,
            user: MockUser::new(email),
            headers: Vec::new(),
            pages: ProviderPages::MockApproves,
            landing: Landing::Unchecked,
            delivery: None,
            context: None,
        }
    }

    /// In `browser` (cookies and all) instead of a new one.
    pub fn in_browser(mut self, browser: &Browser) -> Self {
        self.browser = browser.clone();
        self
    }

    /// As this person (a Workspace domain, other claims), not a plain one.
    pub fn as_user(mut self, user: MockUser) -> Self {
        self.user = user;
        self
    }

    /// Starting at `url` (another app, another page of it).
    pub fn starting_at(mut self, url: impl Into<String>) -> Self {
        self.start = Start::Url(url.into());
        self
    }

    /// Starting at the public service's `/login`, to return to the app.
    pub fn at_login(self) -> Self {
        let login = format!("{}/login?return_to={}/", self.auth_url, self.app_url);
        self.starting_at(login)
    }

    /// With `name=value` added to the start URL's query (`scope`, `tab`...).
    pub fn query(mut self, name: &str, value: &str) -> Self {
        let Start::Url(url) = &mut self.start else {
            panic!("a query is added to a start URL, not to a page");
        };
        let mut parsed = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        parsed.query_pairs_mut().append_pair(name, value);
        *url = parsed.into();
        self
    }

    /// Going on from `page`, which the browser holds already.
    pub fn continuing_from(mut self, page: Page) -> Self {
        self.start = Start::Page(Box::new(page));
        self
    }

    /// Sending `name: value` with every hop.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Past the provider this way ([`ProviderPages::MockApproves`] unless
    /// told).
    pub fn through(mut self, pages: ProviderPages) -> Self {
        self.pages = pages;
        self
    }

    /// The landing the walk must end on ([`Landing::Unchecked`] unless
    /// told).
    pub fn landing(mut self, landing: Landing) -> Self {
        self.landing = landing;
        self
    }

    /// The token must have reached the app this way: with
    /// [`TestDelivery::Code`] through the app's `/auth/handoff` with a
    /// code, with [`TestDelivery::SharedCookie`] never through it.
    pub fn delivered_by(mut self, delivery: TestDelivery) -> Self {
        self.delivery = Some(delivery);
        self
    }

    /// Said after a failed landing check (a deployment's logs, say).
    pub fn on_failure(mut self, context: impl Fn() -> String + Send + Sync + 'a) -> Self {
        self.context = Some(Box::new(context));
        self
    }

    /// Walks it; panics when the landing is not the one asked for.
    pub async fn run(self) -> SignedIn {
        self.try_run().await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Walks it; `Err` says how the landing differed from the one asked
    /// for (for a load test that counts failures instead of stopping).
    pub async fn try_run(mut self) -> Result<SignedIn, String> {
        let walk = self.walk(false).await?;
        let signed_in = SignedIn {
            browser: self.browser.clone(),
            hops: walk.hops,
        };
        match self.check_landing(&signed_in, walk.start_url.as_deref()) {
            Ok(()) => Ok(signed_in),
            Err(e) => {
                let more = self.context.as_ref().map(|c| c()).unwrap_or_default();
                Err(format!("{e}\n{}\n{more}", urls(&signed_in.hops).join("\n")))
            }
        }
    }

    /// Walks it up to the provider's redirect back to the public service's
    /// callback, and returns that URL unvisited (a test that replays it,
    /// delays it, or hands it to someone else).
    pub async fn callback_url(mut self) -> String {
        let walk = self.walk(true).await.unwrap_or_else(|e| panic!("{e}"));
        match walk.callback {
            Some(url) => url.into(),
            None => panic!(
                "the provider never sent the browser back: {:?}",
                urls(&walk.hops)
            ),
        }
    }

    async fn walk(&mut self, halt_at_callback: bool) -> Result<Walk, String> {
        if self.pages != ProviderPages::LoginAndConsentForms {
            self.provider.set_user(self.user.clone());
        }
        let start = std::mem::replace(&mut self.start, Start::Url(String::new()));
        let (start_url, first) = match start {
            Start::Url(url) => (Some(url.clone()), self.get(&url).await),
            Start::Page(page) => (None, *page),
        };
        let mut walk = Walk {
            start_url,
            hops: vec![first],
            callback: None,
        };
        let mut forms_filled = 0;
        loop {
            let page = walk.hops.last().expect("a first page");
            let next = match page.next_url() {
                Some(url) if halt_at_callback && url.path() == "/callback" => {
                    walk.callback = Some(url);
                    return Ok(walk);
                }
                Some(url) => self.get(url.as_str()).await,
                None => match self.fill_in(page).await {
                    Some(answer) => {
                        forms_filled += 1;
                        answer
                    }
                    None => break,
                },
            };
            walk.hops.push(next);
            if walk.hops.len() > MOST_HOPS {
                return Err(format!("no end to the redirects: {:?}", urls(&walk.hops)));
            }
        }
        if self.pages == ProviderPages::MockForm && forms_filled == 0 {
            let hops = urls(&walk.hops);
            return Err(format!("the mock's sign-in form never came: {hops:?}"));
        }
        Ok(walk)
    }

    /// The answer to the provider's form on `page`, filled in as the
    /// person; `None` when `page` is no such form.
    async fn fill_in(&self, page: &Page) -> Option<Page> {
        let (action, fields) = match self.pages {
            ProviderPages::MockApproves => return None,
            ProviderPages::MockForm => provider_pages::mock_form(page, &self.user.email)?,
            ProviderPages::LoginAndConsentForms => {
                provider_pages::login_or_consent(page, &self.user.email)?
            }
        };
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let headers = self.extra_headers();
        Some(
            self.browser
                .post_form(action.as_str(), &fields, &headers)
                .await,
        )
    }

    async fn get(&self, url: &str) -> Page {
        let mut headers = vec![NAVIGATION];
        headers.extend(self.extra_headers());
        self.browser.request(url, &headers).await
    }

    fn extra_headers(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The first way the walk differs from the landing and the delivery
    /// asked for, if any.
    fn check_landing(&self, signed_in: &SignedIn, start: Option<&str>) -> Result<(), String> {
        let last = signed_in.last();
        let email = &self.user.email;
        let must_land = self.landing != Landing::Unchecked;
        let must_show = matches!(self.landing, Landing::ShowsEmail | Landing::BackAtStart);
        let must_return = self.landing == Landing::BackAtStart;
        let failure = if must_land && last.status != 200 {
            Some("the sign-in did not land")
        } else if must_show && !last.body.contains(email.as_str()) {
            Some("the app does not show the person signed in")
        } else if must_return && start != Some(last.url.as_str()) {
            Some("the sign-in did not end where it started")
        } else {
            match (self.delivery, signed_in.handoff_code()) {
                (Some(TestDelivery::Code), None) => {
                    Some("the sign-in did not go through the app's handoff route")
                }
                (Some(TestDelivery::SharedCookie), Some(_)) => {
                    Some("a shared-cookie sign-in went through a handoff code")
                }
                _ => None,
            }
        };
        match failure {
            None => Ok(()),
            Some(what) => Err(format!(
                "{what} ({email}): ended on {} {}: {}",
                last.status,
                last.url,
                provider_pages::page_text(&last.body)
            )),
        }
    }
}

/// Each hop as `STATUS URL`, for failure messages.
pub fn urls(hops: &[Page]) -> Vec<String> {
    hops.iter()
        .map(|p| format!("{} {}", p.status, p.url))
        .collect()
}
