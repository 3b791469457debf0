use super::*;

fn registry() -> AppRegistry {
    AppRegistry::parse(
        &[
            "https://app.example.com".into(),
            "https://other.example.com:8443".into(),
        ],
        &Delivery::Cookie {
            domain: Some("example.com".into()),
        },
        &Url::parse("https://auth.example.com").unwrap(),
    )
    .unwrap()
}

#[test]
fn a_url_on_a_registered_app_is_accepted_and_normalised() {
    let r = registry()
        .return_to("HTTPS://APP.example.com/page?x=1")
        .unwrap();
    assert_eq!(r.as_str(), "https://app.example.com/page?x=1");
    assert_eq!(r.audience(), "https://app.example.com");
}

#[test]
fn disguised_foreign_destinations_are_refused() {
    let reg = registry();
    for raw in [
        "https://evil.example.net/",
        "//evil.example.net/",
        "/relative/path",
        "https://app.example.com@evil.example.net/",
        "https://evil.example.net@app.example.com/",
        "https://app.example.com\\@evil.example.net/",
        "https:/\\evil.example.net",
        "https%3A%2F%2Fevil.example.net",
        "https://app.example.com.evil.example.net/",
        "https://app.example.com%2eevil.example.net/",
        "http://app.example.com/",
        "https://app.example.com:444/",
        "javascript:alert(1)//https://app.example.com/",
        "data:text/html,https://app.example.com/",
        "https://app.exa\tmple.com/",
        "https://app.example.com/\r\nSet-Cookie: x=y",
        "",
    ] {
        assert!(reg.return_to(raw).is_err(), "accepted {raw:?}");
    }
    assert_eq!(
        reg.return_to(&format!("https://app.example.com/{}", "a".repeat(600))),
        Err(ReturnToError::TooLong)
    );
}

#[test]
fn a_path_that_a_browser_would_read_as_another_host_is_refused() {
    // Found by fuzz/fuzz_targets/return_to.rs: the path alone is what
    // the app redirects to after redeeming a code.
    let reg = registry();
    for raw in [
        "https://app.example.com//evil.example.net/",
        "https://app.example.com//evil.example.net",
        "https://app.example.com/.//evil.example.net",
    ] {
        assert_eq!(
            reg.return_to(raw),
            Err(ReturnToError::PathLooksLikeHost),
            "{raw:?}"
        );
    }
    assert!(reg.return_to("https://app.example.com/a//b").is_ok());
}

#[test]
fn a_return_to_that_outgrows_the_limit_once_parsed_is_refused() {
    // Caught by the invariant of fuzz/fuzz_targets/return_to.rs: the
    // URL is stored as parsed, with `"` and `é` percent-encoded.
    let reg = registry();
    for path in ["\"".repeat(300), "é".repeat(200)] {
        let raw = format!("https://app.example.com/{path}");
        assert!(raw.len() <= MAX_RETURN_TO_LEN);
        assert_eq!(reg.return_to(&raw), Err(ReturnToError::TooLong));
    }
    assert!(reg
        .return_to(&format!("https://app.example.com/{}", "é".repeat(50)))
        .is_ok());
}

#[test]
fn an_app_outside_the_cookie_domain_is_a_configuration_error() {
    let err = AppRegistry::parse(
        &["https://app.elsewhere.org".into()],
        &Delivery::Cookie {
            domain: Some("example.com".into()),
        },
        &Url::parse("https://auth.example.com").unwrap(),
    );
    assert!(err.is_err());
    let err = AppRegistry::parse(
        &["https://notexample.com".into()],
        &Delivery::Cookie {
            domain: Some("example.com".into()),
        },
        &Url::parse("https://auth.example.com").unwrap(),
    );
    assert!(err.is_err());
}

#[test]
fn apps_sharing_a_host_under_a_host_only_cookie_are_a_configuration_error() {
    let public = Url::parse("https://example.com").unwrap();
    let parse = |origins: &[&str], delivery: Delivery| {
        let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
        AppRegistry::parse(&origins, &delivery, &public)
    };
    let host_only = || Delivery::Cookie { domain: None };
    for origins in [
        &["https://example.com:8443", "https://example.com:9443"][..],
        &["https://example.com", "https://EXAMPLE.com:8443"],
        &["https://example.com:8443", "http://example.com:8443"],
        &[
            "https://example.com",
            "https://example.com:444",
            "https://example.com:445",
        ],
    ] {
        let err = parse(origins, host_only()).unwrap_err();
        assert!(
            err.contains("are on one host, example.com") && err.contains("HANDOFF_COOKIE_DOMAIN"),
            "{origins:?}: {err}"
        );
        // Each app sets `__Host-handoff` on its own host with code
        // delivery: the same cookie again.
        let err = parse(origins, Delivery::Code).unwrap_err();
        assert!(err.contains("a host of its own"), "{origins:?}: {err}");
        // On a parent domain each app has a cookie name of its own.
        parse(
            origins,
            Delivery::Cookie {
                domain: Some("example.com".into()),
            },
        )
        .unwrap();
    }
    // One app on the public service's host is the one-host setup.
    parse(&["https://example.com:8443"], host_only()).unwrap();
    parse(
        &[
            "https://app.example.com",
            "https://reports.example.com:8443",
        ],
        Delivery::Code,
    )
    .unwrap();
}

#[test]
fn an_app_origin_with_a_password_is_a_configuration_error() {
    let err = AppRegistry::parse(
        &["https://:hunter2@app.example.com".into()],
        &Delivery::Code,
        &Url::parse("https://auth.example.com").unwrap(),
    );
    assert!(!err.unwrap_err().contains("hunter2"));
}

#[test]
fn an_app_origin_with_a_path_is_a_configuration_error() {
    let err = AppRegistry::parse(
        &["https://app.example.com/app".into()],
        &Delivery::Cookie {
            domain: Some("example.com".into()),
        },
        &Url::parse("https://auth.example.com").unwrap(),
    );
    assert!(err.is_err());
}

#[test]
fn with_code_delivery_apps_may_live_anywhere_and_are_bound_to_their_accounts() {
    let registry = AppRegistry::parse(
        &[
            "https://app-abc.a.run.app".into(),
            "https://reports-def.a.run.app".into(),
        ],
        &Delivery::Code,
        &Url::parse("https://auth-xyz.a.run.app").unwrap(),
    )
    .unwrap()
    .with_service_accounts(&[
        "https://app-abc.a.run.app=App@p.iam.gserviceaccount.com".into(),
        "https://reports-def.a.run.app=reports@p.iam.gserviceaccount.com".into(),
    ])
    .unwrap();
    let app = registry.by_audience("https://app-abc.a.run.app").unwrap();
    assert_eq!(app.service_account(), Some("app@p.iam.gserviceaccount.com"));
    assert_eq!(registry.service_accounts().len(), 2);

    let unknown = AppRegistry::parse(
        &["https://app-abc.a.run.app".into()],
        &Delivery::Code,
        &Url::parse("https://auth-xyz.a.run.app").unwrap(),
    )
    .unwrap()
    .with_service_accounts(&["https://other.a.run.app=x@p.iam.gserviceaccount.com".into()]);
    assert!(unknown.is_err());
    let twice = AppRegistry::parse(
        &["https://a.run.app".into(), "https://A.run.app/".into()],
        &Delivery::Code,
        &Url::parse("https://auth.run.app").unwrap(),
    );
    assert!(twice.is_err());
}
