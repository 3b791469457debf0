//! One test per documented rule, each against a definition that differs
//! from a valid one in that rule only. Sources are in the rule modules.

use std::time::Duration;

use super::super::plan::{EnvValue, ProbeAction, SecretVersion};
use super::super::spec::parse;
use super::validate;

const VALID: &str = r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: auth
  annotations:
    run.googleapis.com/ingress: all
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/minScale: "0"
        autoscaling.knative.dev/maxScale: "10"
        run.googleapis.com/cloudsql-instances: p:europe-west1:auth-db
    spec:
      serviceAccountName: auth-service@p.iam.gserviceaccount.com
      containerConcurrency: 80
      timeoutSeconds: 30
      containers:
        - image: europe-west1-docker.pkg.dev/p/auth/public-service:abc
          ports:
            - name: http1
              containerPort: 8080
          resources:
            limits:
              cpu: "1"
              memory: 256Mi
          env:
            - name: PUBLIC_URL
              value: https://auth.example.com
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: database-url
                  key: latest
          startupProbe:
            httpGet:
              path: /readyz
              port: 8080
            periodSeconds: 2
            timeoutSeconds: 2
            failureThreshold: 30
          livenessProbe:
            httpGet:
              path: /healthz
            periodSeconds: 15
            timeoutSeconds: 3
"#;

fn with(from: &str, to: &str) -> String {
    assert!(
        VALID.contains(from),
        "{from:?} is not in the valid definition"
    );
    VALID.replacen(from, to, 1)
}

fn refused(yaml: &str, expected: &str) {
    let e = validate(&parse(yaml).unwrap()).expect_err("refused");
    assert!(e.contains(expected), "{expected:?} not in: {e}");
}

#[test]
fn the_valid_definition_gives_cloud_runs_plan_with_defaults() {
    let plan = validate(&parse(VALID).unwrap()).unwrap();
    assert_eq!(plan.container_port, 8080);
    assert!(plan.cpu_throttling, "request-based billing is the default");
    assert_eq!(plan.cloudsql_instances, ["p:europe-west1:auth-db"]);
    assert_eq!(plan.startup.period, Duration::from_secs(2));
    assert_eq!(
        plan.startup.action,
        ProbeAction::HttpGet {
            path: "/readyz".into()
        }
    );
    let live = plan.liveness.unwrap();
    assert_eq!(
        (live.failure_threshold, live.initial_delay),
        (3, Duration::ZERO)
    );
    assert_eq!(
        plan.env[1].1,
        EnvValue::Secret {
            name: "database-url".into(),
            version: SecretVersion::Latest
        }
    );
}

#[test]
fn without_a_startup_probe_the_default_tcp_probe_applies() {
    let yaml = VALID.split("          startupProbe:").next().unwrap();
    let plan = validate(&parse(yaml).unwrap()).unwrap();
    assert_eq!(plan.startup.action, ProbeAction::Tcp);
    assert_eq!(plan.startup.timeout, Duration::from_secs(240));
    assert_eq!(plan.startup.failure_threshold, 1);
}

#[test]
fn a_probe_timeout_longer_than_its_period_is_refused() {
    refused(
        &with(
            "timeoutSeconds: 2\n            failureThreshold",
            "timeoutSeconds: 3\n            failureThreshold",
        ),
        "startupProbe.timeoutSeconds: must be less than or equal to periodSeconds (3 > 2)",
    );
    refused(
        &with("timeoutSeconds: 3\n", "timeoutSeconds: 16\n"),
        "livenessProbe.timeoutSeconds",
    );
}

#[test]
fn probe_fields_outside_their_ranges_are_refused() {
    refused(
        &with("periodSeconds: 2", "periodSeconds: 0"),
        "startupProbe.periodSeconds: must be between 1 and 240",
    );
    refused(
        &with("failureThreshold: 30", "failureThreshold: 0"),
        "failureThreshold: must be between 1",
    );
    refused(
        &with("periodSeconds: 15", "periodSeconds: 3601"),
        "livenessProbe.periodSeconds",
    );
    refused(
        &with("periodSeconds: 2", "periodSeconds: two"),
        "expected an integer",
    );
}

#[test]
fn a_startup_probe_longer_than_240_seconds_in_all_is_refused() {
    refused(
        &with("failureThreshold: 30", "failureThreshold: 121"),
        "(121 × 2 s) must not exceed 240 seconds",
    );
}

#[test]
fn a_tcp_liveness_probe_and_a_probe_on_another_port_are_refused() {
    refused(
        &with(
            "httpGet:\n              path: /healthz",
            "tcpSocket:\n              port: 8080",
        ),
        "liveness probes must be HTTP or gRPC",
    );
    refused(
        &with(
            "port: 8080\n            periodSeconds",
            "port: 9090\n            periodSeconds",
        ),
        "must be the container port 8080",
    );
}

#[test]
fn service_annotations_in_the_template_and_revision_annotations_on_the_service_are_refused() {
    refused(
        &with("        autoscaling.knative.dev/minScale", "        run.googleapis.com/invoker-iam-disabled: \"true\"\n        autoscaling.knative.dev/minScale"),
        "[run.googleapis.com/invoker-iam-disabled]: is a service annotation",
    );
    refused(
        &with(
            "    run.googleapis.com/ingress: all",
            "    run.googleapis.com/ingress: all\n    run.googleapis.com/cpu-throttling: \"false\"",
        ),
        "[run.googleapis.com/cpu-throttling]: is a revision annotation",
    );
    refused(
        &with(
            "    run.googleapis.com/ingress: all",
            "    run.googleapis.com/ingress: all\n    autoscaling.knative.dev/maxScale: \"3\"",
        ),
        "is a revision annotation",
    );
    let ok = with("    run.googleapis.com/ingress: all", "    run.googleapis.com/ingress: all\n    run.googleapis.com/invoker-iam-disabled: \"true\"");
    assert!(validate(&parse(&ok).unwrap()).is_ok());
}

#[test]
fn annotation_values_must_be_strings_of_the_right_form() {
    refused(&with("minScale: \"0\"", "minScale: 0"), "(TYPE_STRING), 0");
    refused(
        &with("ingress: all", "ingress: everyone"),
        "must be all, internal",
    );
    refused(
        &with("p:europe-west1:auth-db", "auth-db"),
        "is not an instance connection name",
    );
    refused(
        &with("maxScale: \"10\"", "maxScale: \"-1\""),
        "not a non-negative integer",
    );
    let yaml = with("        autoscaling.knative.dev/minScale", "        run.googleapis.com/cpu-throttling: \"no\"\n        autoscaling.knative.dev/minScale");
    refused(&yaml, "must be \"true\" or \"false\"");
}

#[test]
fn cpu_throttling_false_turns_request_based_billing_off_and_needs_512mi() {
    let off = with("        autoscaling.knative.dev/minScale", "        run.googleapis.com/cpu-throttling: \"false\"\n        autoscaling.knative.dev/minScale");
    refused(&off, "requires at least 1 CPU and 512Mi");
    let plan = validate(&parse(&off.replace("memory: 256Mi", "memory: 512Mi")).unwrap()).unwrap();
    assert!(!plan.cpu_throttling);
}

#[test]
fn concurrency_and_request_timeout_have_documented_ranges() {
    refused(
        &with("containerConcurrency: 80", "containerConcurrency: 1001"),
        "containerConcurrency: must be between 1 and 1000",
    );
    refused(
        &with("timeoutSeconds: 30", "timeoutSeconds: 3601"),
        "spec.template.spec.timeoutSeconds: must be between 1 and 3600",
    );
}

#[test]
fn one_port_named_http1_or_h2c() {
    refused(&with("name: http1", "name: http"), "must be http1 or h2c");
    refused(
        &with(
            "containerPort: 8080",
            "containerPort: 8080\n            - name: h2c\n              containerPort: 8081",
        ),
        "exactly one container with an exposed port",
    );
}

#[test]
fn secret_references_need_a_name_and_a_version_or_latest() {
    refused(
        &with("key: latest", "key: newest"),
        "is not a version number or \"latest\"",
    );
    refused(&with("key: latest", "key: 2"), "(TYPE_STRING), 2");
    refused(
        &with("                  key: latest\n", ""),
        "key: Required field is missing",
    );
    let pinned = validate(&parse(&with("key: latest", "key: \"2\"")).unwrap()).unwrap();
    assert_eq!(
        pinned.env[1].1,
        EnvValue::Secret {
            name: "database-url".into(),
            version: SecretVersion::Number(2)
        }
    );
    refused(
        &with("name: database-url", "name: database/url"),
        "is not a Secret Manager secret name",
    );
}

#[test]
fn environment_names_are_unique_and_not_reserved_and_values_are_strings() {
    refused(
        &with("name: PUBLIC_URL", "name: PORT"),
        "PORT is a reserved environment variable name",
    );
    refused(&with("name: PUBLIC_URL", "name: K_SERVICE"), "reserved");
    refused(
        &with("name: DATABASE_URL", "name: PUBLIC_URL"),
        "PUBLIC_URL is set more than once",
    );
    refused(
        &with("value: https://auth.example.com", "value: 1"),
        "env[0].value' (TYPE_STRING), 1",
    );
    refused(
        &with("value: https://auth.example.com", "value: true"),
        "(TYPE_STRING), true",
    );
}

#[test]
fn resource_limits_follow_the_cpu_and_memory_table() {
    refused(
        &with("cpu: \"1\"", "cpu: \"3\""),
        "is not a supported CPU limit",
    );
    refused(
        &with("memory: 256Mi", "memory: 64Mi"),
        "is not a supported memory limit",
    );
    refused(&with("memory: 256Mi", "memory: 8Gi"), "what 1 vCPU allows");
    refused(&with("cpu: \"1\"", "cpu: \"4\""), "what 4 vCPU allows");
    assert!(validate(&parse(&with("cpu: \"1\"", "cpu: 500m")).unwrap()).is_ok());
}

#[test]
fn names_kinds_and_service_accounts_are_checked() {
    refused(
        &with("name: auth", "name: Auth"),
        "is not a valid service name",
    );
    refused(&with("kind: Service", "kind: Job"), "kind: must be Service");
    refused(
        &with("auth-service@p.iam.gserviceaccount.com", "auth-service"),
        "must be a service account e-mail",
    );
}

#[test]
fn the_invoker_iam_check_is_on_unless_the_service_disables_it() {
    let plan = |yaml: &str| validate(&parse(yaml).unwrap()).unwrap();
    assert!(plan(VALID).invoker_iam_check, "Cloud Run's default");
    let service = |value: &str| {
        with(
            "    run.googleapis.com/ingress: all",
            &format!("    run.googleapis.com/ingress: all\n    run.googleapis.com/invoker-iam-disabled: \"{value}\""),
        )
    };
    assert!(!plan(&service("true")).invoker_iam_check);
    assert!(plan(&service("false")).invoker_iam_check);
    // A service setting: the revision template is the same either way.
    assert_eq!(
        plan(&service("true")).template_text,
        plan(VALID).template_text
    );
}
