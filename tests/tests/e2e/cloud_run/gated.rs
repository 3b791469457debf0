//! The gate as the ingress container of a multi-container service, an
//! app that knows nothing of OpenID Connect as its sidecar
//! (`deploy/gated-service.yaml`, as `deploy.sh` deploys it with
//! `APP_IMAGE`), beside the public service: both containers' processes
//! really run, in the order Cloud Run starts them.

use integration_tests::cloud_run::instance::Instance;
use integration_tests::cloud_run::rehearsal::{Rehearsal, APP, AUTH};
use integration_tests::Landing;

use super::support::{prepare, Ran, ALICE};

/// The process's environment, as it was started with.
fn environment(instance: &Instance) -> Vec<(String, String)> {
    let raw = std::fs::read(format!("/proc/{}/environ", instance.pid())).unwrap();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let text = String::from_utf8_lossy(kv);
            let (k, v) = text.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

fn var(r: &Rehearsal, name: &str) -> String {
    r.vars.iter().find(|(k, _)| k == name).unwrap().1.clone()
}

fn email(body: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(body).unwrap_or_else(|e| panic!("{e}: {body}"))
        ["email"]
        .clone()
}

pub async fn a_person_signs_in_through_the_gate_to_its_sidecar_app() -> Ran {
    let r = prepare().await?;
    r.deploy_auth()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", r.logs_of(AUTH)));
    r.deploy_gated()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", r.logs_of(APP)));
    let revision = r.emulator.service(APP).unwrap().current().unwrap();
    let gate = &revision.instance;
    let [app] = revision.sidecars.as_slice() else {
        panic!("one sidecar")
    };
    assert_eq!(
        (gate.container.as_deref(), app.container.as_deref()),
        (Some("gate"), Some("app"))
    );

    // Start order: the gate's process began only once the app's startup
    // probe had passed, and the revision served only once both had.
    let app_ready = app
        .ready_at
        .lock()
        .unwrap()
        .expect("the app's probe passed");
    assert!(
        gate.started_at >= app_ready,
        "the gate started before the app's startup probe passed"
    );
    let gate_ready = gate
        .ready_at
        .lock()
        .unwrap()
        .expect("the gate's probe passed");
    assert!(revision.ready_at.unwrap() >= gate_ready.max(app_ready));

    // Cloud Run sets PORT in the ingress container only: the app has the
    // YAML's own (APP_PORT, moved to a port of this instance's: see
    // docs/cloud-run-rehearsal.md), the one the gate forwards to; both
    // have K_SERVICE.
    let (gate_env, app_env) = (environment(gate), environment(app));
    let get = |env: &[(String, String)], name: &str| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    };
    assert_eq!(get(&gate_env, "PORT"), Some(gate.port.to_string()));
    let app_port = get(&app_env, "PORT").expect("the YAML gives the app a PORT");
    assert_eq!(app_port, app.port.to_string(), "its probe's port");
    assert_ne!(app_port, gate.port.to_string());
    assert_eq!(
        get(&gate_env, "UPSTREAM_URL"),
        Some(format!("http://127.0.0.1:{app_port}"))
    );
    assert!(r
        .gated_yaml()
        .contains(&format!("value: \"{}\"", var(&r, "APP_PORT"))));
    assert_eq!(get(&app_env, "K_SERVICE").as_deref(), Some(APP));

    // A sign-in through the provider and the public service ends on the
    // app's answer, with the person's e-mail the gate verified.
    let signed_in = r
        .signing_in(ALICE)
        .starting_at(r.app("/api/me"))
        .landing(Landing::Ok)
        .run()
        .await;
    assert_eq!(email(&signed_in.last().body), ALICE);
    let browser = signed_in.browser;

    // Identity headers a client sends never reach the app: a signed-in
    // client's are replaced, an anonymous one is refused by the gate.
    let forged = [
        ("accept", "application/json"),
        ("x-forwarded-email", "mallory@example.com"),
        ("x-forwarded-user", "mallory"),
    ];
    let replaced = browser.request(&r.app("/api/me"), &forged).await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(email(&replaced.body), ALICE);
    let stranger = r.browser().request(&r.app("/api/me"), &forged).await;
    assert_eq!(stranger.status, 401, "{}", stranger.body);
    // The app's own routes are behind the gate too.
    let health = r.browser().get_json(&r.app("/healthz")).await;
    assert_eq!(health.status, 401, "{}", health.body);
    let seen = app.logs();
    assert!(
        seen.iter().any(|l| l.contains(ALICE)),
        "the app logged no request: {seen:#?}"
    );
    assert!(
        !seen.iter().any(|l| l.contains("mallory")),
        "a forged identity reached the app: {seen:#?}"
    );
    r.emulator.shutdown().await;
    Ok(())
}
