use super::*;
use secrecy::ExposeSecret;

#[test]
fn a_positive_count_refuses_zero_and_says_what_would_do() {
    let env = |value: &str| Env::from_map(vec![("RATE".to_owned(), value.to_owned())]);
    assert_eq!(env("5").positive_or("RATE", 60).unwrap(), 5);
    assert_eq!(
        Env::from_map(Vec::<(String, String)>::new())
            .positive_or("RATE", 60)
            .unwrap(),
        60
    );
    let zero = env("0").positive_or("RATE", 60).unwrap_err();
    assert_eq!(zero.name, "RATE");
    assert!(zero.to_string().contains("e.g. 60"), "{zero}");
    assert!(env("-1").positive_or("RATE", 60).is_err());
}

#[test]
fn durations_accept_units_and_bare_seconds() {
    assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
    assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
    assert!(parse_duration("ten").is_err());
    assert!(parse_duration("10y").is_err());
}

/// The refusal of `value` for a setting named `U`, or `None` if accepted.
fn refusal(value: &str, rule: UrlRule) -> Option<String> {
    Env::from_map([("U", value)])
        .optional_url_with("U", rule)
        .err()
        .map(|e| e.to_string())
}

#[test]
fn a_url_setting_is_https_or_plain_http_to_loopback_exactly() {
    for accepted in [
        "https://auth.example.com",
        "https://keys.example.net/certs?x=1",
        "http://127.0.0.1:8080/certs",
        "http://127.9.8.7",
        "http://[::1]:8080",
        "http://localhost:8080",
        "http://LOCALHOST:8080",
        "HTTP://127.0.0.1:8080",
    ] {
        assert_eq!(refusal(accepted, UrlRule::default()), None, "{accepted}");
    }
    for refused in [
        "http://jwks.example.net/certs",
        "HTTP://jwks.example.net/certs",
        "http://10.0.0.7",
        "http://0.0.0.0:8080",
        "http://localhost.evil.com/certs",
        "http://localhost.:8080",
        "http://127.0.0.1.nip.io/certs",
        "http://127.0.0.1@evil.com/certs",
        "http://[::ffff:127.0.0.1]/certs",
        "http://metadata.google.internal",
    ] {
        let e =
            refusal(refused, UrlRule::default()).unwrap_or_else(|| panic!("{refused} accepted"));
        assert!(e.starts_with("U: "), "{refused}: {e}");
    }
    let e = refusal("http://jwks.example.net/certs", UrlRule::default()).unwrap();
    assert!(
        e.contains("must be an https URL") && e.contains("https://jwks.example.net"),
        "{e}"
    );
}

#[test]
fn a_url_setting_with_credentials_a_fragment_or_another_scheme_is_refused() {
    for (value, says) in [
        (
            "https://user:hunter2@auth.example.com/",
            "user name or password",
        ),
        (
            "https://:hunter2@auth.example.com/",
            "user name or password",
        ),
        ("https://user@auth.example.com/", "user name or password"),
        ("https://auth.example.com/#frag", "#fragment"),
        ("https://auth.example.com/#", "#fragment"),
        ("ftp://auth.example.com/", "not an http(s) URL"),
        ("file:///etc/passwd", "not an http(s) URL"),
        ("chrome-extension://abcdef", "not an http(s) URL"),
    ] {
        let e = refusal(value, UrlRule::default()).unwrap_or_else(|| panic!("{value} accepted"));
        assert!(e.contains(says), "{value}: {e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}

#[test]
fn a_rule_allows_only_the_hosts_and_schemes_it_names() {
    for ok in [
        "http://metadata.google.internal",
        "http://169.254.169.254/computeMetadata/v1",
        "http://127.0.0.1:9000/metadata",
    ] {
        assert_eq!(refusal(ok, METADATA_SERVER), None, "{ok}");
    }
    for refused in [
        "http://metadata.google.internal.evil.com",
        "http://169.254.169.254.nip.io",
        "http://metadata.example.net",
    ] {
        let e = refusal(refused, METADATA_SERVER).unwrap_or_else(|| panic!("{refused} accepted"));
        assert!(e.contains("metadata.google.internal"), "{e}");
    }
    let extension = UrlRule {
        other_schemes: &["chrome-extension"],
        ..UrlRule::default()
    };
    assert_eq!(refusal("chrome-extension://abcdef", extension), None);
    assert!(refusal("chrome-extension://user@abcdef", extension).is_some());
}

#[test]
fn a_url_list_names_the_setting_and_the_entry_and_records_its_name() {
    let env = Env::from_map([
        ("LIST", "https://a.example.com, http://b.example.com"),
        ("GOOD", "https://a.example.com,http://127.0.0.1:8001"),
    ]);
    let e = env.url_list("LIST", UrlRule::default()).unwrap_err();
    assert_eq!(e.name, "LIST");
    assert!(
        e.problem
            .starts_with("\"http://b.example.com\": must be an https URL"),
        "{e}"
    );
    assert_eq!(env.url_list("GOOD", UrlRule::default()).unwrap().len(), 2);
    env.optional_url("UNSET").unwrap();
    assert_eq!(env.url_names_read(), ["GOOD", "LIST", "UNSET"]);
}

#[test]
fn only_code_can_take_another_name_as_loopback() {
    let vars = [("U", "http://auth.example.test:8000")];
    assert!(Env::from_map(vars).url("U").is_err());
    let harness = Env::from_map(vars).with_loopback_names(&["auth.example.test"]);
    harness.url("U").unwrap();
    let sibling = Env::from_map([("U", "http://other.auth.example.test")])
        .with_loopback_names(&["auth.example.test"]);
    assert!(sibling.url("U").is_err());
}

#[test]
fn an_error_names_the_setting() {
    let env = Env::from_map([("PUBLIC_URL", "not a url")]);
    let err = env.url("PUBLIC_URL").unwrap_err();
    assert_eq!(err.name, "PUBLIC_URL");
    assert!(err.to_string().starts_with("PUBLIC_URL: "), "{err}");
}

#[test]
fn a_url_error_is_in_words_a_person_understands() {
    let env = Env::from_map([
        ("PUBLIC_URL", "foo"),
        ("APP_URL", "auth.example.com"),
        ("AUTH_URL", "https://auth.example.com:99999"),
        ("METADATA_URL", "ftp://files.example.com"),
        ("OIDC_ISSUER_URL", "https://user:hunter2@:80"),
    ]);
    assert_eq!(
        env.url("PUBLIC_URL").unwrap_err().to_string(),
        "PUBLIC_URL: \"foo\" is not an absolute URL; expected something like https://auth.example.com"
    );
    let app = env.url("APP_URL").unwrap_err().to_string();
    assert!(
        app.contains("\"auth.example.com\" is not an absolute URL")
            && app.contains("https://app.example.com"),
        "{app}"
    );
    let port = env.url("AUTH_URL").unwrap_err().to_string();
    assert!(port.contains("port that is not a number"), "{port}");
    let scheme = env.url("METADATA_URL").unwrap_err().to_string();
    assert!(scheme.contains("is not an http(s) URL"), "{scheme}");
    for err in [app, port, scheme] {
        assert!(!err.contains("relative URL without a base"), "{err}");
    }
    // A value that might hold a password is not repeated.
    let secret = env.url("OIDC_ISSUER_URL").unwrap_err().to_string();
    assert!(!secret.contains("hunter2"), "{secret}");
}

#[test]
fn every_missing_required_variable_is_named_at_once_with_an_example() {
    let dir = std::env::temp_dir().join(format!("cfg-required-{}", std::process::id()));
    let env = Env::from_map([
        ("B", "set"),
        ("C_FILE", dir.to_string_lossy().as_ref()),
        ("E", "x"),
    ]);
    let required = [
        Required::var(&["A"], "https://a.example.com"),
        Required::var(&["B"], "b"),
        Required::secret(&["C"], "c"),
        Required::secret(&["D"], "$(openssl rand -base64 32)"),
        Required::var(&["F", "E"], "e"),
        Required::var(&["G", "H"], "g@example.com"),
    ];
    let err = env.check_required(&required).unwrap_err();
    assert_eq!(err.name, "A, D, G or H");
    let text = err.to_string();
    assert!(text.contains("\n    A=https://a.example.com\n"), "{text}");
    assert!(
        text.contains("\n    D=$(openssl rand -base64 32)   (or D_FILE="),
        "{text}"
    );
    assert!(text.contains("\n    G=g@example.com\n"), "{text}");
    assert!(text.contains("cargo run --bin local-stack"), "{text}");
    for set in ["B", "C", "E", "F"] {
        assert!(!text.contains(&format!("\n    {set}=")), "{text}");
    }
    assert!(env.check_required(&required[1..3]).is_ok());
}

#[test]
fn a_secret_comes_from_a_file_and_not_from_both() {
    let dir = std::env::temp_dir().join(format!("cfg-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("secret");
    std::fs::write(&path, "s3cr3t\n").unwrap();
    let path = path.to_string_lossy().into_owned();

    let env = Env::from_map([("KEY_FILE", path.as_str())]);
    assert_eq!(
        env.secret("KEY").unwrap().unwrap().expose_secret(),
        "s3cr3t"
    );

    let env = Env::from_map([("KEY_FILE", path.as_str()), ("KEY", "x")]);
    assert!(env.secret("KEY").is_err());
}

#[test]
fn flags_refuse_anything_but_a_boolean() {
    let env = Env::from_map([("DEV_MODE", "maybe")]);
    assert_eq!(env.flag_or("DEV_MODE", false).unwrap_err().name, "DEV_MODE");
}
