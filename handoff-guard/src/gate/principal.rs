//! Whom the gate admitted: a [`Person`] (and how they proved it) or a
//! [`Service`], and the extractors' types for routes of one kind only.

use super::Unauthenticated;
use crate::claims::{SessionId, Subject};

/// How a person proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A handoff token in this app's cookie
    /// ([`HandoffGate::cookie_name`](crate::HandoffGate::cookie_name)).
    HandoffCookie,
    /// A handoff token sent as `Authorization: Bearer` (an API client that
    /// holds one).
    HandoffBearer,
    /// A provider-signed ID token (a Chrome extension's).
    IdToken,
}

/// A person the gate admitted, and how.
#[derive(Debug, Clone)]
pub struct Person {
    /// The provider's identifier of the person (`sub`): unlike the e-mail
    /// address it does not change, so key what is stored per person on it.
    pub subject: Subject,
    /// The person's e-mail address, verified by the provider: as the
    /// provider gave it with a handoff token, ASCII-lower-cased with an ID
    /// token. Compare it without ASCII case.
    pub email: String,
    /// The display name, when the provider shared one.
    pub name: Option<String>,
    /// The public service's session, for handoff tokens.
    pub session_id: Option<SessionId>,
    /// Unix seconds when the token that proved it expires (its `exp`).
    /// After that (and the leeway) the token is refused: a browser is sent
    /// for a new one, an API client must bring one.
    pub expires_at: u64,
    /// How the person proved who they are.
    pub via: Via,
}

/// A service account the gate admitted: a provider-signed ID token for
/// this app's URL, of an account on the list.
#[derive(Debug, Clone)]
pub struct Service {
    /// The service account's e-mail address, ASCII-lower-cased: the entry
    /// of the list it matched.
    pub email: String,
    /// The token's `sub`: the provider's unique id of the account.
    pub subject: Subject,
}

/// Whoever sent an authenticated request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A person: a handoff token, or a person's ID token passing the
    /// access policy.
    Person(Person),
    /// A listed service account, with an ID token for this app's URL.
    Service(Service),
}

impl Principal {
    /// The person, or the `403` a service gets on a person's route.
    pub fn person(self) -> Result<SignedInUser, Unauthenticated> {
        match self {
            Self::Person(person) => Ok(SignedInUser(person)),
            Self::Service(_) => Err(Unauthenticated::forbidden("this route is for people")),
        }
    }

    /// The service, or the `403` a person gets on a service-only route.
    pub fn service(self) -> Result<ServiceCaller, Unauthenticated> {
        match self {
            Self::Service(service) => Ok(ServiceCaller(service)),
            Self::Person(_) => Err(Unauthenticated::forbidden("this route is for services")),
        }
    }
}

/// A service account calling a service-only route.
#[derive(Debug, Clone)]
pub struct ServiceCaller(pub Service);

/// A person: a valid handoff token (cookie or Bearer) or a person's ID token.
#[derive(Debug, Clone)]
pub struct SignedInUser(Person);

impl SignedInUser {
    /// The person's e-mail address, verified by the provider (see
    /// [`Person::email`] for its case).
    pub fn email(&self) -> &str {
        &self.0.email
    }
    /// The provider's identifier of the person (`sub`), which does not
    /// change: key what is stored per person on it.
    pub fn subject(&self) -> &Subject {
        &self.0.subject
    }
    /// The display name, when the provider shared one.
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// The public service's session id; `None` for an ID token.
    pub fn session_id(&self) -> Option<&SessionId> {
        self.0.session_id.as_ref()
    }
    /// Unix seconds when the token that proved it expires (see
    /// [`Person::expires_at`]).
    pub fn expires_at(&self) -> u64 {
        self.0.expires_at
    }
    /// How the person proved who they are.
    pub fn via(&self) -> Via {
        self.0.via
    }
}
