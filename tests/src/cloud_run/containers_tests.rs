//! One test per multi-container rule, each against a definition that
//! differs from a valid gated service in that rule only.

use super::super::plan::{EnvValue, ProbeAction};
use super::super::spec::parse;
use super::super::validate::validate;

const GATED: &str = r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: app
spec:
  template:
    metadata:
      annotations:
        run.googleapis.com/container-dependencies: '{"gate":["app"]}'
    spec:
      containers:
        - name: gate
          image: europe-west1-docker.pkg.dev/p/auth/handoff-gate:abc
          ports:
            - name: http1
              containerPort: 8081
          resources:
            limits:
              cpu: "1"
              memory: 256Mi
          env:
            - name: UPSTREAM_URL
              value: http://127.0.0.1:9000
          startupProbe:
            httpGet:
              path: /auth/healthz
              port: 8081
        - name: app
          image: europe-west1-docker.pkg.dev/p/apps/web:1
          resources:
            limits:
              cpu: "1"
              memory: 512Mi
          env:
            - name: PORT
              value: "9000"
          startupProbe:
            tcpSocket:
              port: 9000
            periodSeconds: 2
            timeoutSeconds: 1
            failureThreshold: 60
"#;

fn with(from: &str, to: &str) -> String {
    assert!(
        GATED.contains(from),
        "{from:?} is not in the gated definition"
    );
    GATED.replacen(from, to, 1)
}

fn refused(yaml: &str, expected: &str) {
    let e = validate(&parse(yaml).unwrap()).unwrap_err();
    assert!(e.contains(expected), "{expected:?} not in: {e}");
}

/// A small sidecar, as YAML, named `name`, listening on `port`.
fn sidecar(name: &str, port: u16) -> String {
    format!(
        "        - name: {name}\n          image: r/p/a/{name}:1\n          resources:\n            limits:\n              cpu: 100m\n              memory: 256Mi\n          startupProbe:\n            tcpSocket:\n              port: {port}\n"
    )
}

#[test]
fn the_gate_is_the_ingress_and_the_app_a_sidecar_it_waits_for() {
    let plan = validate(&parse(GATED).unwrap()).unwrap();
    assert_eq!(plan.ingress_name.as_deref(), Some("gate"));
    assert_eq!(plan.container_port, 8081);
    assert_eq!(plan.ingress_depends_on, ["app"]);
    assert!(matches!(plan.startup.action, ProbeAction::HttpGet { .. }));
    let [app] = plan.sidecars.as_slice() else {
        panic!("one sidecar: {:?}", plan.sidecars)
    };
    assert_eq!((app.name.as_str(), app.probe_port), ("app", 9000));
    assert!(app.depends_on.is_empty());
    assert_eq!(app.startup.as_ref().unwrap().action, ProbeAction::Tcp);
    // A sidecar may be given PORT; Cloud Run sets it in the ingress only.
    assert_eq!(
        app.env,
        [("PORT".to_owned(), EnvValue::Plain("9000".to_owned()))]
    );
}

#[test]
fn at_most_ten_containers_per_instance() {
    let ten: String = (1..=9)
        .map(|i| sidecar(&format!("s{i}"), 9000 + i))
        .collect();
    let at_limit = format!("{GATED}{ten}").replace("'{\"gate\":[\"app\"]}'", "'{}'");
    assert!(
        validate(&parse(&at_limit.replacen(&sidecar("s9", 9009), "", 1)).unwrap()).is_ok(),
        "ten containers are allowed"
    );
    refused(&at_limit, "at most 10 containers per instance");
}

#[test]
fn exactly_one_container_has_a_port() {
    refused(
        &with(
            "          ports:\n            - name: http1\n              containerPort: 8081\n",
            "",
        ),
        "exactly one container must have a port",
    );
    refused(
        &with(
            "          image: europe-west1-docker.pkg.dev/p/apps/web:1\n",
            "          image: europe-west1-docker.pkg.dev/p/apps/web:1\n          ports:\n            - containerPort: 9000\n",
        ),
        "only one container may have a port",
    );
}

#[test]
fn with_several_containers_each_has_a_unique_valid_name() {
    refused(
        &with("        - name: app\n          image", "        - image"),
        "containers[1].name: Required field is missing",
    );
    refused(
        &with("        - name: app\n", "        - name: gate\n"),
        "\"gate\" names two containers: container names must be unique",
    );
    refused(
        &with("        - name: app\n", "        - name: App_1\n"),
        "is not a valid container name",
    );
}

#[test]
fn dependencies_name_existing_containers_and_form_no_cycle() {
    let deps = "'{\"gate\":[\"app\"]}'";
    refused(
        &with(deps, "'{\"gate\":[\"db\"]}'"),
        "\"gate\" depends on \"db\", which names no container",
    );
    refused(
        &with(deps, "'{\"proxy\":[\"app\"]}'"),
        "\"proxy\" names no container",
    );
    refused(
        &with(deps, "'{\"gate\":[\"app\"],\"app\":[\"gate\"]}'"),
        "the dependencies form a cycle among gate, app",
    );
    refused(
        &with(deps, "'{\"app\":[\"app\"]}'"),
        "form a cycle among app",
    );
    refused(&with(deps, "'gate: app'"), "is not a JSON object");
    // Without the annotation both start at once: valid, no order.
    let plan = validate(&parse(&with(deps, "'{}'")).unwrap()).unwrap();
    assert!(plan.ingress_depends_on.is_empty());
}

#[test]
fn a_sidecars_probe_names_its_own_localhost_port() {
    refused(
        &with("            tcpSocket:\n              port: 9000\n", "            tcpSocket: {}\n"),
        "containers[1].startupProbe.port: Required field is missing: a sidecar has no container port",
    );
    // The containers share localhost: not the ingress container's port.
    refused(
        &with("              port: 9000", "              port: 8081"),
        "the containers of an instance share localhost",
    );
}

#[test]
fn port_is_reserved_in_the_ingress_container_only_and_k_variables_everywhere() {
    refused(
        &with(
            "            - name: UPSTREAM_URL",
            "            - name: PORT",
        ),
        "containers[0].env[0].name: PORT is a reserved environment variable name",
    );
    refused(
        &with(
            "            - name: PORT\n",
            "            - name: K_REVISION\n",
        ),
        "containers[1].env[0].name: K_REVISION is a reserved",
    );
}

#[test]
fn the_instance_has_the_sum_of_its_containers_cpu_and_memory() {
    // 3 GiB each on 1 vCPU each: 6 GiB on 2 vCPU, within the table,
    // though one container of 6 GiB on 1 vCPU would not be.
    let both = |memory: &str| {
        GATED
            .replace("memory: 256Mi", &format!("memory: {memory}"))
            .replace("memory: 512Mi", &format!("memory: {memory}"))
    };
    assert!(validate(&parse(&both("3Gi")).unwrap()).is_ok());
    refused(
        &both("5Gi"),
        "10240 MiB is outside 128..8192 MiB, what 2 vCPU allows",
    );
    refused(
        &GATED.replace("cpu: \"1\"", "cpu: \"8\""),
        "16 vCPU in all exceeds the 8 vCPU an instance can have",
    );
}
