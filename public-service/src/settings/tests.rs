use super::*;
use p256::pkcs8::{EncodePrivateKey, LineEnding};

fn pem() -> String {
    p256::SecretKey::random(&mut rand::rngs::OsRng)
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap()
        .to_string()
}

fn base() -> Vec<(&'static str, String)> {
    vec![
        ("PUBLIC_URL", "https://auth.example.com".into()),
        ("OIDC_CLIENT_ID", "id".into()),
        ("OIDC_CLIENT_SECRET", "secret".into()),
        ("APP_ORIGINS", "https://app.example.com".into()),
        ("HANDOFF_COOKIE_DOMAIN", "example.com".into()),
        ("ALLOWED_DOMAINS", "example.com".into()),
        ("SIGNING_KEY", pem()),
        ("COOKIE_SECRET", STANDARD.encode([7u8; 32])),
        ("DATABASE_URL", "postgres://auth@db/auth".into()),
        (
            "TOKEN_ENCRYPTION_KEYS",
            format!("k1:{}", STANDARD.encode([9u8; 32])),
        ),
    ]
}

fn error_for(overrides: &[(&'static str, &str)]) -> ConfigError {
    let mut vars = base();
    vars.retain(|(k, _)| !overrides.iter().any(|(o, _)| o == k));
    vars.extend(
        overrides
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (*k, v.to_string())),
    );
    match Settings::from_env(&Env::from_map(vars)) {
        Ok(_) => panic!("{overrides:?} was accepted"),
        Err(e) => e,
    }
}

#[test]
fn a_complete_environment_parses_with_google_defaults() {
    let settings = Settings::from_env(&Env::from_map(base())).unwrap();
    assert_eq!(settings.port, 8080);
    assert_eq!(settings.issuer(), "https://auth.example.com");
    assert_eq!(
        settings.redirect_url().as_str(),
        "https://auth.example.com/callback"
    );
    assert_eq!(settings.provider.display_name, "Google");
    assert_eq!(settings.handoff.ttl, Duration::from_secs(600));
    assert_eq!(settings.provider.offline, OfflineAccess::Google);
    assert_eq!(settings.broker.caller_audience, "https://auth.example.com");
    assert_eq!(settings.broker.caller_issuers.len(), 2);
    assert!(settings.broker.allowed_callers.is_empty());
    assert!(!settings.broker.requires_session);
    assert_eq!(settings.token_cipher.sealing_key_id(), "k1");
}

#[test]
fn broker_callers_need_their_scopes_listed_and_get_only_those() {
    let caller = "backend@p.iam.gserviceaccount.com";
    let e = error_for(&[("BROKER_ALLOWED_CALLERS", caller)]);
    assert_eq!(e.name, "BROKER_CALLER_SCOPES");
    assert!(e.problem.contains(&format!("{caller}=email")), "{e}");
    let e = error_for(&[
        ("BROKER_ALLOWED_CALLERS", caller),
        ("BROKER_CALLER_SCOPES", "email"),
    ]);
    assert_eq!(e.name, "BROKER_CALLER_SCOPES");
    assert!(e.problem.contains("e.g."), "{e}");

    let mut vars = base();
    vars.extend([
        ("BROKER_ALLOWED_CALLERS", caller.to_owned()),
        (
            "OIDC_OPTIONAL_SCOPES",
            "https://www.googleapis.com/auth/drive.readonly".to_owned(),
        ),
        (
            "BROKER_CALLER_SCOPES",
            format!("{caller}=email https://www.googleapis.com/auth/drive.readonly"),
        ),
        ("BROKER_CALLER_USERS", format!("{caller}=@example.com")),
        ("BROKER_REQUIRES_SESSION", "true".to_owned()),
    ]);
    let settings = Settings::from_env(&Env::from_map(vars.clone())).unwrap();
    let rules = settings.broker.rules.for_caller(caller).unwrap();
    assert!(rules.allows_scope("email") && !rules.allows_scope("profile"));
    assert!(rules.admits_user("a@example.com") && !rules.admits_user("a@example.org"));
    assert!(settings.broker.requires_session);
    assert!(settings.broker.narrows_scopes);
    let whole_grant = ["openid".to_owned(), "profile".to_owned()];
    assert_eq!(
        rules.scopes_beyond(&whole_grant),
        whole_grant,
        "no caller accepts the whole grant unless listed"
    );

    vars.push(("BROKER_WHOLE_GRANT_CALLERS", caller.to_owned()));
    let settings = Settings::from_env(&Env::from_map(vars.clone())).unwrap();
    let rules = settings.broker.rules.for_caller(caller).unwrap();
    assert!(rules.scopes_beyond(&whole_grant).is_empty());
    assert!(!rules.allows_scope("profile"), "nor may it ask for more");
    vars.push((
        "BROKER_WHOLE_GRANT_CALLERS",
        "other@p.iam.gserviceaccount.com".to_owned(),
    ));
    let e = Settings::from_env(&Env::from_map(vars))
        .err()
        .expect("refused");
    assert_eq!(e.name, "BROKER_WHOLE_GRANT_CALLERS");
}

#[test]
fn another_provider_gets_the_offline_access_scope_and_extra_parameters() {
    let mut vars = base();
    vars.push((
        "OIDC_ISSUER_URL",
        "https://login.example.org/realms/x".into(),
    ));
    vars.push((
        "OIDC_EXTRA_AUTH_PARAMS",
        "prompt=consent&audience=api".into(),
    ));
    let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
    assert_eq!(settings.provider.offline, OfflineAccess::OfflineAccessScope);
    assert_eq!(
        settings.provider.extra_auth_params,
        [
            ("prompt".into(), "consent".into()),
            ("audience".into(), "api".into())
        ]
    );
}

#[test]
fn a_default_scope_in_another_spelling_is_asked_once_in_the_operators() {
    let mut vars = base();
    vars.push((
        "OIDC_SCOPES",
        format!("{},calendar,profile", crate::scopes::GOOGLE_EMAIL),
    ));
    let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
    assert_eq!(
        settings.provider.scopes,
        ["openid", crate::scopes::GOOGLE_EMAIL, "profile", "calendar"]
    );
}

#[test]
fn an_empty_environment_is_told_every_missing_variable_at_once() {
    let err = Settings::from_env(&Env::from_map(Vec::<(String, String)>::new()))
        .err()
        .expect("refused");
    let text = err.to_string();
    for name in [
        "PUBLIC_URL=https://",
        "APP_ORIGINS=https://",
        "OIDC_CLIENT_ID=",
        "OIDC_CLIENT_SECRET=",
        "ALLOWED_EMAILS=",
        "DATABASE_URL=sqlite:",
        "TOKEN_ENCRYPTION_KEYS=k1:",
        "SIGNING_KEY=",
        "COOKIE_SECRET=",
    ] {
        assert!(text.contains(&format!("\n    {name}")), "{name}: {text}");
    }
    assert!(text.contains("cargo run --bin local-stack"), "{text}");
    // DEV_MODE needs neither keys nor a database.
    let dev = Settings::from_env(&Env::from_map([("DEV_MODE", "true")]))
        .err()
        .expect("refused");
    assert!(!dev.to_string().contains("SIGNING_KEY"), "{dev}");
    assert!(dev.to_string().contains("PUBLIC_URL"), "{dev}");
}

#[test]
fn each_bad_setting_is_named() {
    assert_eq!(error_for(&[("PUBLIC_URL", "")]).name, "PUBLIC_URL");
    assert_eq!(error_for(&[("PORT", "eighty")]).name, "PORT");
    assert_eq!(
        error_for(&[("APP_ORIGINS", "https://app.elsewhere.org")]).name,
        "APP_ORIGINS"
    );
    assert!(error_for(&[("ALLOWED_DOMAINS", "")])
        .name
        .starts_with("ALLOWED_EMAILS or ALLOWED_DOMAINS"));
    assert_eq!(
        error_for(&[("SIGNING_KEY", "not a pem")]).name,
        "SIGNING_KEY"
    );
    assert_eq!(
        error_for(&[("COOKIE_SECRET", "c2hvcnQ=")]).name,
        "COOKIE_SECRET"
    );
    assert_eq!(error_for(&[("HANDOFF_TTL", "1d")]).name, "HANDOFF_TTL");
    assert_eq!(
        error_for(&[("OIDC_CLIENT_AUTH_METHOD", "private_key_jwt")]).name,
        "OIDC_CLIENT_AUTH_METHOD"
    );
    assert_eq!(error_for(&[("DATABASE_URL", "")]).name, "DATABASE_URL");
    assert_eq!(
        error_for(&[("DATABASE_URL", "mysql://x/y")]).name,
        "DATABASE_URL"
    );
    assert_eq!(
        error_for(&[("TOKEN_ENCRYPTION_KEYS", "k1:c2hvcnQ=")]).name,
        "TOKEN_ENCRYPTION_KEYS"
    );
    assert_eq!(
        error_for(&[
            ("SESSION_MAX_LIFETIME", "1h"),
            ("SESSION_IDLE_TIMEOUT", "2h")
        ])
        .name,
        "SESSION_MAX_LIFETIME"
    );
    assert_eq!(
        error_for(&[(
            "OIDC_EXTRA_AUTH_PARAMS",
            "redirect_uri=https://evil.example"
        )])
        .name,
        "OIDC_EXTRA_AUTH_PARAMS"
    );
    assert_eq!(
        error_for(&[("OFFLINE_ACCESS", "sometimes")]).name,
        "OFFLINE_ACCESS"
    );
    assert_eq!(
        error_for(&[("BACKCHANNEL_LOGOUT", "on")]).name,
        "BACKCHANNEL_LOGOUT"
    );
}

/// Every setting of this service whose value is a URL or a list of
/// them. Each is read through `service_kit::config`'s URL readers, and
/// the test below fails until a new one is listed here.
const URL_SETTINGS: [&str; 5] = [
    "PUBLIC_URL",
    "APP_ORIGINS",
    "OIDC_ISSUER_URL",
    "CALLER_TOKEN_JWKS_URL",
    "METADATA_URL",
];

/// Names that look like URL settings but are not read as URLs.
const NOT_URL_SETTINGS: [(&str, &str); 3] = [
    (
        "DATABASE_URL",
        "a sqlite:, postgres:// or firestore:// connection string, checked by store::check_url",
    ),
    (
        "TEST_DATABASE_URL",
        "the storage conformance tests' PostgreSQL server; tests only, never the service",
    ),
    (
        "CALLER_TOKEN_ISSUERS",
        "issuer names compared with a token's iss, never fetched (Google's has no scheme)",
    ),
];

#[test]
fn every_url_setting_is_https_or_plain_http_to_loopback() {
    let mut environment: Vec<(String, String)> = base()
        .into_iter()
        .filter(|(k, _)| *k != "HANDOFF_COOKIE_DOMAIN")
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    // Code delivery: apps may be anywhere, so an app origin can move
    // to loopback alone.
    for (name, value) in [
        ("HANDOFF_DELIVERY", "code"),
        (
            "APP_SERVICE_ACCOUNTS",
            "https://app.example.com=app@p.iam.gserviceaccount.com",
        ),
        ("OIDC_ISSUER_URL", "https://login.example.org/realms/x"),
        ("CALLER_TOKEN_JWKS_URL", "https://keys.example.org/certs"),
        ("METADATA_URL", "http://metadata.google.internal"),
    ] {
        environment.push((name.to_owned(), value.to_owned()));
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    service_kit::config::testing::UrlSettings {
        environment,
        url_settings: &URL_SETTINGS,
        not_url_settings: &NOT_URL_SETTINGS,
        sources: vec![root.join("src"), root.join("../service-kit/src")],
        // The environment reader, whose own tests use example names.
        skip: &["config.rs"],
        parse: &|env| Settings::from_env(env).map(|_| ()),
    }
    .assert_each_is_checked();
}

#[test]
fn apps_sharing_a_host_under_a_host_only_cookie_are_refused() {
    // Cookie delivery without a domain: the public service sets
    // `__Host-handoff` on its own host, where both apps are.
    let e = error_for(&[
        ("HANDOFF_COOKIE_DOMAIN", ""),
        (
            "APP_ORIGINS",
            "https://auth.example.com:8443,https://auth.example.com:9443",
        ),
    ]);
    assert_eq!(e.name, "APP_ORIGINS");
    assert!(
        e.problem.contains("are on one host, auth.example.com")
            && e.problem.contains("HANDOFF_COOKIE_DOMAIN"),
        "{e}"
    );
    // One app there is the one-host setup.
    let mut vars = base();
    vars.retain(|(k, _)| !["HANDOFF_COOKIE_DOMAIN", "APP_ORIGINS"].contains(k));
    vars.push(("APP_ORIGINS", "https://auth.example.com:8443".into()));
    Settings::from_env(&Env::from_map(vars)).unwrap();
}

#[test]
fn backchannel_logout_follows_discovery_unless_turned_off() {
    let settings = Settings::from_env(&Env::from_map(base())).unwrap();
    assert!(settings.provider.backchannel_logout);
    let mut vars = base();
    vars.push(("BACKCHANNEL_LOGOUT", "off".into()));
    let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
    assert!(!settings.provider.backchannel_logout);
}

#[test]
fn id_token_algorithms_default_to_rs256_and_refuse_none_and_hmac() {
    let settings = Settings::from_env(&Env::from_map(base())).unwrap();
    assert_eq!(
        settings.provider.id_token_algorithms,
        [IdTokenAlgorithm::Rs256]
    );
    let mut vars = base();
    vars.push((
        "OIDC_ID_TOKEN_ALGORITHMS",
        "ES256, RS256,PS256,EdDSA".into(),
    ));
    let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
    assert_eq!(
        settings.provider.id_token_algorithms,
        [
            IdTokenAlgorithm::Es256,
            IdTokenAlgorithm::Rs256,
            IdTokenAlgorithm::Ps256,
            IdTokenAlgorithm::EdDsa
        ]
    );
    for bad in ["none", "HS256", "RS256,HS512", "rs256", "ES384"] {
        let e = error_for(&[("OIDC_ID_TOKEN_ALGORITHMS", bad)]);
        assert_eq!(e.name, "OIDC_ID_TOKEN_ALGORITHMS", "{bad}");
        assert!(e.to_string().contains("RS256,ES256"), "{bad}: {e}");
    }
}

#[test]
fn a_firestore_database_is_named_exactly() {
    for good in [
        "firestore://my-project",
        "firestore://my-project/sessions-db",
    ] {
        let mut vars = base();
        vars.retain(|(k, _)| *k != "DATABASE_URL");
        vars.push(("DATABASE_URL", good.into()));
        let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
        assert_eq!(settings.database.firestore.emulator_host, None, "{good}");
    }
    for bad in [
        "firestore://My-Project",
        "firestore://my-project:443",
        "firestore://user@my-project",
        "firestore://my-project/db/extra",
        "firestore://my-project?x=1",
        "firestore://my-project/",
    ] {
        let e = error_for(&[("DATABASE_URL", bad)]);
        assert_eq!(e.name, "DATABASE_URL", "{bad}");
        assert!(
            e.to_string().contains("firestore://my-project"),
            "{bad}: {e}"
        );
    }
    let e = error_for(&[
        ("DATABASE_URL", "firestore://my-project"),
        ("FIRESTORE_EMULATOR_HOST", "http://localhost:8686"),
    ]);
    assert_eq!(e.name, "FIRESTORE_EMULATOR_HOST");
    let mut vars = base();
    vars.push(("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8686".into()));
    let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
    assert_eq!(
        settings.database.firestore.emulator_host.as_deref(),
        Some("127.0.0.1:8686")
    );
}

#[test]
fn a_configuration_error_never_quotes_a_secret() {
    let e = error_for(&[("TOKEN_ENCRYPTION_KEYS", "k1:c2VjcmV0LXZhbHVlLXNob3J0")]);
    assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
    let e = error_for(&[("DATABASE_URL", "mysql://user:hunter2@db/x")]);
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[test]
fn dev_mode_makes_keys_optional() {
    let mut vars = base();
    vars.retain(|(k, _)| {
        ![
            "SIGNING_KEY",
            "COOKIE_SECRET",
            "DATABASE_URL",
            "TOKEN_ENCRYPTION_KEYS",
        ]
        .contains(k)
    });
    assert!(Settings::from_env(&Env::from_map(vars.clone())).is_err());
    vars.push(("DEV_MODE", "true".into()));
    assert!(Settings::from_env(&Env::from_map(vars)).unwrap().dev_mode);
}

#[test]
fn previous_signing_keys_are_read_from_concatenated_pems() {
    let mut vars = base();
    vars.push(("PREVIOUS_SIGNING_KEYS", format!("{}\n{}", pem(), pem())));
    let settings = Settings::from_env(&Env::from_map(vars)).unwrap();
    assert_eq!(settings.handoff.previous_keys.len(), 2);
}
