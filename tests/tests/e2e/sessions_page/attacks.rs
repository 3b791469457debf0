//! The sessions page's posts refuse what a forging site or another person
//! could send, and end nothing when they do.

use integration_tests::TestApp;

use super::{hidden, post_from_page, sessions_page, sid_of, token, ALICE, BOB};
use crate::offline::signed_in;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_posts_are_refused_and_end_nothing() {
    let app = TestApp::spawn().await;
    let (mine, other) = (app.browser(), app.browser());
    signed_in(&app, &mine, ALICE).await;
    signed_in(&app, &other, ALICE).await;
    let other_sid = sid_of(&app, &other).await;
    let page = sessions_page(&app, &mine).await;
    let good_token = token(&page);
    let others_token = token(&sessions_page(&app, &other).await);
    assert_ne!(good_token, others_token, "each browser has its own token");

    let app_origin = app.app_audience();
    // This service's own origin, but not as a browser serialises it.
    let own_uppercase = app.issuer().to_ascii_uppercase();
    let own_with_path = format!("{}/account/sessions", app.issuer());
    let own = app.issuer();
    let forged_origins: [&[(&str, &str)]; 8] = [
        &[],
        &[("origin", "https://evil.example")],
        &[("origin", "null")],
        &[("referer", "https://evil.example/page")],
        // Only this service's page has these forms, not even an app.
        &[("origin", app_origin.as_str())],
        &[("origin", own_uppercase.as_str())],
        &[("origin", own_with_path.as_str())],
        &[("origin", own.as_str()), ("origin", "https://evil.example")],
    ];
    for headers in forged_origins {
        for (path, fields) in [
            (
                "/account/sessions/end",
                vec![
                    ("token", good_token.as_str()),
                    ("session", other_sid.as_str()),
                ],
            ),
            (
                "/account/sessions/end-others",
                vec![("token", good_token.as_str())],
            ),
        ] {
            let refused = mine.post_form(&app.auth(path), &fields, headers).await;
            assert_eq!(refused.status, 403, "{path} {headers:?}");
        }
    }
    let wrong_tokens: [Option<&str>; 4] =
        [None, Some(""), Some("forged"), Some(others_token.as_str())];
    for bad in wrong_tokens {
        for path in ["/account/sessions/end", "/account/sessions/end-others"] {
            let mut fields = vec![("session", other_sid.as_str())];
            if let Some(bad) = bad {
                fields.push(("token", bad));
            }
            let refused = post_from_page(&app, &mine, path, &fields).await;
            assert_eq!(refused.status, 403, "{path} token {bad:?}");
            assert!(refused.body.contains("nothing was ended"));
        }
    }
    // Two tokens: no guessing which counts.
    let repeated = post_from_page(
        &app,
        &mine,
        "/account/sessions/end-others",
        &[("token", "forged"), ("token", &good_token)],
    )
    .await;
    assert_eq!(repeated.status, 400);
    // A post without the session cookie (a cross-site form: SameSite=Lax).
    let cookieless = app.browser();
    let refused = post_from_page(
        &app,
        &cookieless,
        "/account/sessions/end-others",
        &[("token", &good_token)],
    )
    .await;
    assert_eq!(refused.status, 401);

    let store = app.store().await;
    for sid in [other_sid, sid_of(&app, &mine).await] {
        let record = store.session(&sid).await.unwrap().unwrap();
        assert_eq!(record.revoked_at, None, "a refused post ended a session");
    }
    assert_eq!(other.get_json(&app.app("/api/me")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_cannot_end_someone_elses_session_nor_sees_it() {
    let app = TestApp::spawn().await;
    let (alice, alice_elsewhere, bob) = (app.browser(), app.browser(), app.browser());
    signed_in(&app, &alice, ALICE).await;
    // A second browser of alice's, so that her page has forms.
    signed_in(&app, &alice_elsewhere, ALICE).await;
    signed_in(&app, &bob, BOB).await;
    let bob_sid = sid_of(&app, &bob).await;
    let alice_sid = sid_of(&app, &alice).await;

    let page = sessions_page(&app, &alice).await;
    assert!(
        !page.body.contains(&bob_sid),
        "bob's session is not on alice's page"
    );
    assert_eq!(
        hidden(&page, "session"),
        [sid_of(&app, &alice_elsewhere).await]
    );
    let refused = post_from_page(
        &app,
        &alice,
        "/account/sessions/end",
        &[("token", &token(&page)), ("session", &bob_sid)],
    )
    .await;
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert!(refused.body.contains("nothing was ended"));
    // "End all others" is alice's others only.
    let all = post_from_page(
        &app,
        &alice,
        "/account/sessions/end-others",
        &[("token", &token(&page))],
    )
    .await;
    assert_eq!(all.status, 303);
    // And this browser's own session ends by signing out, not from here.
    let own = post_from_page(
        &app,
        &alice,
        "/account/sessions/end",
        &[("token", &token(&page)), ("session", &alice_sid)],
    )
    .await;
    assert_eq!(own.status, 400);

    let store = app.store().await;
    assert_eq!(
        store.session(&bob_sid).await.unwrap().unwrap().revoked_at,
        None
    );
    assert_eq!(
        store.session(&alice_sid).await.unwrap().unwrap().revoked_at,
        None
    );
    assert_eq!(bob.get_json(&app.app("/api/me")).await.status, 200);
}
