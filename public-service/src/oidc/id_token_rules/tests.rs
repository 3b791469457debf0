//! The rules one by one, and each attack against the whole check: ID
//! tokens signed here with a test-only Ed25519 key of "the provider".

use chrono::TimeDelta;
use openidconnect::core::{
    CoreEdDsaPrivateSigningKey, CoreGenderClaim, CoreHmacKey, CoreIdTokenFields,
    CoreJweContentEncryptionAlgorithm, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, Audience, EmptyExtraTokenFields, EndUserEmail, IdToken, IdTokenClaims,
    JsonWebKeyId, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde::Serialize;

use super::super::errors::NO_MATCHING_KEY;
use super::*;

const ISSUER: &str = "https://op.example";
const CLIENT: &str = "our-client";
const SECRET: &str = "our-client-secret";
const NONCE: &str = "the-nonce";
const ACCESS_TOKEN: &str = "the-access-token";
/// Test-only keys, made for these tests: the provider's, and a stranger's.
const PROVIDER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIIexl8NT5GiT21YsGcrWg1xxrSihpMccozdZwL64ipkq
-----END PRIVATE KEY-----";
const STRANGER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINg09icDOSm9DEh0xMII8S2rgVN7fkWHsdu0nVP/Pyzd
-----END PRIVATE KEY-----";

/// `hd` and `sid`, as Google and back-channel providers add them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ProviderClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    hd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}
impl AdditionalClaims for ProviderClaims {}

type Claims = IdTokenClaims<ProviderClaims, CoreGenderClaim>;
type SignedIdToken = IdToken<
    ProviderClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn key(pem: &str, kid: &str) -> CoreEdDsaPrivateSigningKey {
    CoreEdDsaPrivateSigningKey::from_ed25519_pem(pem, Some(JsonWebKeyId::new(kid.into()))).unwrap()
}

fn provider_keys() -> CoreJsonWebKeySet {
    CoreJsonWebKeySet::new(vec![key(PROVIDER_KEY, "k1").as_verification_key()])
}

/// What a good ID token for us says, issued `iat_offset` from now.
fn claims_issued(iat_offset: TimeDelta) -> Claims {
    let standard = StandardClaims::new(SubjectIdentifier::new("alice".into()))
        .set_email(Some(EndUserEmail::new("alice@example.com".into())))
        .set_email_verified(Some(true));
    IdTokenClaims::new(
        IssuerUrl::new(ISSUER.into()).unwrap(),
        vec![Audience::new(CLIENT.into())],
        now() + TimeDelta::hours(1),
        now() + iat_offset,
        standard,
        ProviderClaims {
            hd: Some("example.com".into()),
            sid: Some("op-session-1".into()),
        },
    )
    .set_nonce(Some(Nonce::new(NONCE.into())))
}

fn claims() -> Claims {
    claims_issued(TimeDelta::zero())
}

/// `claims` signed by the provider, its `at_hash` that of the access token.
fn signed(claims: Claims) -> String {
    let access_token = AccessToken::new(ACCESS_TOKEN.into());
    let signer = key(PROVIDER_KEY, "k1");
    SignedIdToken::new(
        claims,
        &signer,
        CoreJwsSigningAlgorithm::EdDsa,
        Some(&access_token),
        None,
    )
    .unwrap()
    .to_string()
}

fn response(id_token: &str) -> CoreTokenResponse {
    CoreTokenResponse::new(
        AccessToken::new(ACCESS_TOKEN.into()),
        CoreTokenType::Bearer,
        CoreIdTokenFields::new(Some(id_token.parse().unwrap()), EmptyExtraTokenFields {}),
    )
}

fn check_with(
    id_token: &str,
    keys: &CoreJsonWebKeySet,
    algorithms: &[IdTokenAlgorithm],
) -> Result<Verified, String> {
    let (client_id, secret) = (
        ClientId::new(CLIENT.into()),
        ClientSecret::new(SECRET.into()),
    );
    let (issuer, nonce) = (
        IssuerUrl::new(ISSUER.into()).unwrap(),
        Nonce::new(NONCE.into()),
    );
    let advertised = [
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::EdDsa,
        CoreJwsSigningAlgorithm::HmacSha256,
        CoreJwsSigningAlgorithm::None,
    ];
    let expected = Expected {
        client_id: &client_id,
        client_secret: &secret,
        issuer: &issuer,
        algorithms: allowed_algorithms(algorithms, &advertised),
        nonce: &nonce,
        now: now(),
        hosted_domain_needed: true,
    };
    verify(&response(id_token), keys, &expected)
}

fn check(id_token: &str) -> Result<Verified, String> {
    check_with(id_token, &provider_keys(), &[IdTokenAlgorithm::EdDsa])
}

fn b64_json(value: serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&value).unwrap())
}

#[test]
fn a_good_id_token_says_who_signed_in_and_in_which_provider_session() {
    let verified = check(&signed(claims())).unwrap();
    assert_eq!(verified.identity.subject, "alice");
    assert_eq!(
        verified.identity.email.as_deref(),
        Some("alice@example.com")
    );
    assert!(verified.identity.email_verified);
    assert_eq!(
        verified.identity.hosted_domain.as_deref(),
        Some("example.com")
    );
    assert_eq!(verified.provider_sid.as_deref(), Some("op-session-1"));
    assert_eq!(verified.for_policy, ForPolicy::Complete);
}

#[test]
fn algorithms_are_those_configured_that_the_provider_advertises() {
    use CoreJwsSigningAlgorithm as A;
    let configured = [IdTokenAlgorithm::Rs256, IdTokenAlgorithm::Es256];
    assert_eq!(
        allowed_algorithms(
            &configured,
            &[A::EcdsaP256Sha256, A::HmacSha256, A::RsaSsaPkcs1V15Sha256]
        ),
        vec![A::RsaSsaPkcs1V15Sha256, A::EcdsaP256Sha256],
        "in the configured order, HS256 left out"
    );
    // A provider advertising only what we never take leaves nothing.
    assert!(allowed_algorithms(&configured, &[A::None, A::HmacSha256, A::HmacSha512]).is_empty());
    assert!(allowed_algorithms(&[IdTokenAlgorithm::Es256], &[A::RsaSsaPkcs1V15Sha256]).is_empty());
}

#[test]
fn an_hs256_token_signed_with_our_client_secret_is_refused() {
    // The secret is ours and the provider's: a token "signed" with it
    // proves nothing the provider said. No configuration can allow it.
    let forged = SignedIdToken::new(
        claims(),
        &CoreHmacKey::new(SECRET.as_bytes().to_vec()),
        CoreJwsSigningAlgorithm::HmacSha256,
        None,
        None,
    )
    .unwrap()
    .to_string();
    let reason = check(&forged).unwrap_err();
    assert!(reason.starts_with("signature"), "{reason}");
}

#[test]
fn an_unsigned_token_with_alg_none_is_refused() {
    let payload = serde_json::to_value(claims()).unwrap();
    let unsigned = format!(
        "{}.{}.",
        b64_json(serde_json::json!({ "alg": "none" })),
        b64_json(payload)
    );
    let reason = check(&unsigned).unwrap_err();
    assert!(reason.starts_with("signature"), "{reason}");
}

#[test]
fn a_good_signature_with_an_algorithm_not_allowed_is_refused() {
    let reason = check_with(
        &signed(claims()),
        &provider_keys(),
        &[IdTokenAlgorithm::Rs256],
    )
    .unwrap_err();
    assert!(reason.starts_with("signature"), "{reason}");
}

#[test]
fn a_token_of_a_key_the_provider_does_not_publish_finds_no_key() {
    let stranger = SignedIdToken::new(
        claims(),
        &key(STRANGER_KEY, "k2"),
        CoreJwsSigningAlgorithm::EdDsa,
        None,
        None,
    )
    .unwrap()
    .to_string();
    assert_eq!(check(&stranger).unwrap_err(), NO_MATCHING_KEY);
    // Under the provider's own kid, the stranger's signature does not verify.
    let impostor = SignedIdToken::new(
        claims(),
        &key(STRANGER_KEY, "k1"),
        CoreJwsSigningAlgorithm::EdDsa,
        None,
        None,
    )
    .unwrap()
    .to_string();
    assert!(check(&impostor).unwrap_err().starts_with("signature"));
}

#[test]
fn another_clients_token_or_another_sign_ins_nonce_is_refused() {
    let theirs = claims().set_audiences(vec![Audience::new("their-client".into())]);
    assert_eq!(check(&signed(theirs)).unwrap_err(), "wrong audience");
    let replayed = claims().set_nonce(Some(Nonce::new("another-nonce".into())));
    assert_eq!(check(&signed(replayed)).unwrap_err(), "wrong nonce");
}

#[test]
fn a_token_for_several_audiences_or_another_authorized_party_is_refused() {
    // `openidconnect` refuses audiences besides ours before the azp rule
    // is reached; the rule stands behind it (and checks logout tokens).
    let audiences = vec![
        Audience::new(CLIENT.into()),
        Audience::new("their-client".into()),
    ];
    for azp in [None, Some("their-client"), Some(CLIENT)] {
        let shared = claims()
            .set_audiences(audiences.clone())
            .set_authorized_party(azp.map(|azp| ClientId::new(azp.into())));
        assert!(check(&signed(shared)).is_err(), "azp {azp:?}");
    }
    let theirs = claims().set_authorized_party(Some(ClientId::new("their-client".into())));
    assert!(check(&signed(theirs)).is_err(), "azp another client");
    let ours = claims().set_authorized_party(Some(ClientId::new(CLIENT.into())));
    assert!(check(&signed(ours)).is_ok());

    assert_eq!(check_authorized_party(CLIENT, None, 1), Ok(()));
    assert_eq!(check_authorized_party(CLIENT, Some(CLIENT), 3), Ok(()));
    assert_eq!(
        check_authorized_party(CLIENT, Some("their-client"), 1),
        Err("azp is another client")
    );
    assert_eq!(
        check_authorized_party(CLIENT, None, 2),
        Err("several audiences and no azp")
    );
}

#[test]
fn an_id_token_whose_at_hash_is_of_another_access_token_is_refused() {
    // Signed for another access token: ours was swapped on the way.
    let signer = key(PROVIDER_KEY, "k1");
    let swapped = SignedIdToken::new(
        claims(),
        &signer,
        CoreJwsSigningAlgorithm::EdDsa,
        Some(&AccessToken::new("another-access-token".into())),
        None,
    )
    .unwrap()
    .to_string();
    assert_eq!(
        check(&swapped).unwrap_err(),
        "at_hash does not match the access token"
    );

    let alg = CoreJwsSigningAlgorithm::EdDsa;
    let public = signer.as_verification_key();
    let ours = AccessToken::new(ACCESS_TOKEN.into());
    let hash = AccessTokenHash::from_token(&ours, &alg, &public).unwrap();
    assert_eq!(
        check_access_token_hash(Some(&hash), &ours, &alg, &public),
        Ok(())
    );
    assert_eq!(check_access_token_hash(None, &ours, &alg, &public), Ok(()));
    let other = AccessToken::new("another-access-token".into());
    assert!(check_access_token_hash(Some(&hash), &other, &alg, &public).is_err());
}

#[test]
fn an_id_token_issued_in_the_future_beyond_the_skew_is_refused() {
    assert!(check(&signed(claims_issued(TimeDelta::seconds(60)))).is_ok());
    assert!(check(&signed(claims_issued(TimeDelta::minutes(-5)))).is_ok());
    let reason = check(&signed(claims_issued(TimeDelta::seconds(61)))).unwrap_err();
    assert_eq!(reason, "expired or issued at a bad time");

    assert!(check_issued_at(now() + TimeDelta::seconds(60), now()).is_ok());
    assert!(check_issued_at(now() + TimeDelta::seconds(61), now()).is_err());
    assert!(check_issued_at(now() - TimeDelta::days(1), now()).is_ok());
}

#[test]
fn an_expired_id_token_is_refused() {
    let expired = claims().set_expiration(now() - TimeDelta::seconds(1));
    assert_eq!(
        check(&signed(expired)).unwrap_err(),
        "expired or issued at a bad time"
    );
}

#[test]
fn hd_and_sid_are_read_from_the_verified_token_and_a_sid_we_cannot_store_is_left_out() {
    let with = |hd: Option<&str>, sid: Option<String>| {
        let mut claims = claims();
        *claims.additional_claims_mut() = ProviderClaims {
            hd: hd.map(str::to_owned),
            sid,
        };
        check(&signed(claims)).unwrap()
    };
    let consumer = with(None, None);
    assert_eq!(consumer.identity.hosted_domain, None);
    assert_eq!(consumer.provider_sid, None);
    // The policy uses hosted domains here: without `hd`, UserInfo is asked.
    assert!(matches!(
        consumer.for_policy,
        ForPolicy::Lacking(Present {
            hosted_domain: false,
            email: true,
            ..
        })
    ));
    assert_eq!(
        with(None, Some("s".repeat(255)))
            .provider_sid
            .map(|s| s.len()),
        Some(255)
    );
    assert_eq!(with(None, Some("s".repeat(256))).provider_sid, None);
    assert_eq!(with(None, Some(String::new())).provider_sid, None);
}

#[test]
fn the_claims_are_enough_for_the_policy_only_with_everything_it_reads() {
    let all = Present {
        email: true,
        email_verified: true,
        name: false,
        hosted_domain: true,
    };
    assert_eq!(for_policy(all, true), ForPolicy::Complete);
    let no_hd = Present {
        hosted_domain: false,
        ..all
    };
    assert_eq!(for_policy(no_hd, false), ForPolicy::Complete);
    assert_eq!(for_policy(no_hd, true), ForPolicy::Lacking(no_hd));
    let unverified = Present {
        email_verified: false,
        ..all
    };
    assert_eq!(
        for_policy(unverified, false),
        ForPolicy::Lacking(unverified)
    );
}
