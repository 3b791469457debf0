//! The tower layer in front of a plain `http` service: a verified token
//! reaches the service as a `Principal` in the request's extensions; any
//! other request is answered by the layer, `401` for HTTP and gRPC's
//! `UNAUTHENTICATED` for gRPC, and never reaches the service.
#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use handoff_guard::login_service::HandoffSigner;
use handoff_guard::login_service::SigningKey;
use handoff_guard::tower::HandoffLayer;
use handoff_guard::KeySet;
use handoff_guard::KeySource;
use handoff_guard::{HandoffClaims, HandoffGate, HandoffVerifier, Principal};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://app.example.com";

/// Answers with the e-mail of the principal the layer put in the request.
#[derive(Clone)]
struct Echo;

impl Service<Request<String>> for Echo {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let who = match request.extensions().get::<Principal>() {
            Some(Principal::Person(person)) => person.email.clone(),
            Some(Principal::Service(service)) => service.email.clone(),
            None => "nobody".to_owned(),
        };
        ready(Ok(Response::new(who)))
    }
}

fn token(signer: &HandoffSigner) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    signer
        .sign(&HandoffClaims {
            iss: ISS.into(),
            aud: AUD.into(),
            sub: "1234".into(),
            email: "alice@example.com".into(),
            name: None,
            sid: "sid".into(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: "jti".into(),
        })
        .unwrap()
}

fn protected(signer: &HandoffSigner) -> handoff_guard::tower::Handoff<Echo> {
    let verifier = HandoffVerifier::new(
        handoff_guard::Issuer::new(ISS),
        handoff_guard::Audience::new(AUD),
        KeySource::Static(KeySet::from_jwks(signer.jwks())),
    );
    let gate = HandoffGate::new(
        verifier,
        format!("{ISS}/login").parse().unwrap(),
        AUD.parse().unwrap(),
    );
    HandoffLayer::new(Arc::new(gate)).layer(Echo)
}

async fn send(
    service: &mut handoff_guard::tower::Handoff<Echo>,
    headers: &[(&str, &str)],
) -> Response<String> {
    let mut request = Request::builder().uri("/api/me");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    service
        .call(request.body(String::new()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_verified_token_reaches_the_service_as_a_principal() {
    let signer = HandoffSigner::new(SigningKey::generate(), vec![]);
    let mut service = protected(&signer);
    let bearer = format!("Bearer {}", token(&signer));
    let answer = send(&mut service, &[("authorization", &bearer)]).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.body(), "alice@example.com");
    let cookie = format!("__Host-handoff={}", token(&signer));
    let answer = send(
        &mut service,
        &[("cookie", &cookie), ("accept", "text/html")],
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.body(), "alice@example.com");
}

#[tokio::test]
async fn anything_else_is_answered_by_the_layer_never_with_a_redirect() {
    let signer = HandoffSigner::new(SigningKey::generate(), vec![]);
    let stranger = HandoffSigner::new(SigningKey::generate(), vec![]);
    let mut service = protected(&signer);
    let forged = format!("Bearer {}", token(&stranger));
    for headers in [
        vec![],
        vec![("accept", "text/html")],
        vec![("authorization", forged.as_str())],
        vec![("authorization", "Basic YWxpY2U6cGFzcw==")],
    ] {
        let answer = send(&mut service, &headers).await;
        assert_eq!(answer.status(), 401, "{headers:?}");
        assert!(answer.headers().contains_key("www-authenticate"));
        assert_eq!(answer.body(), "", "the service was not reached");
    }
    let grpc = send(
        &mut service,
        &[
            ("content-type", "application/grpc+proto"),
            ("authorization", &forged),
        ],
    )
    .await;
    assert_eq!(grpc.status(), 200, "gRPC carries its status in grpc-status");
    assert_eq!(grpc.headers()["grpc-status"], "16");
    assert_eq!(grpc.body(), "");
}
