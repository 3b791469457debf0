//! Where each Cloud Run annotation belongs and what it may say. The YAML
//! reference lists which annotations are the service's own
//! (`metadata.annotations`) and which set properties of the revision
//! (`spec.template.metadata.annotations`):
//! <https://cloud.google.com/run/docs/reference/yaml/v1>. One in the wrong
//! place is refused here (Cloud Run ignores or refuses it; either way the
//! setting does not take effect).

use super::problems::Problems;
use super::spec::{Scalar, ServiceSpec};

/// Annotations of the service itself.
pub const SERVICE_ONLY: &[&str] = &[
    "run.googleapis.com/launch-stage",
    "run.googleapis.com/description",
    "run.googleapis.com/ingress",
    "run.googleapis.com/binary-authorization",
    "run.googleapis.com/binary-authorization-breakglass",
    "run.googleapis.com/minScale",
    "run.googleapis.com/maxScale",
    "run.googleapis.com/function-target",
    // The recommended way to allow public access:
    // <https://cloud.google.com/run/docs/authenticating/public#invoker_check>.
    "run.googleapis.com/invoker-iam-disabled",
    "run.googleapis.com/iap-enabled",
    "run.googleapis.com/scalingMode",
    "run.googleapis.com/manualInstanceCount",
    "run.googleapis.com/custom-audiences",
];

/// Annotations that set properties of the revision.
pub const REVISION_ONLY: &[&str] = &[
    "autoscaling.knative.dev/minScale",
    "autoscaling.knative.dev/maxScale",
    "run.googleapis.com/cpu-throttling",
    "run.googleapis.com/startup-cpu-boost",
    "run.googleapis.com/sessionAffinity",
    "run.googleapis.com/cloudsql-instances",
    "run.googleapis.com/execution-environment",
    "run.googleapis.com/vpc-access-connector",
    "run.googleapis.com/vpc-access-egress",
    "run.googleapis.com/network-interfaces",
    "run.googleapis.com/encryption-key",
    "run.googleapis.com/container-dependencies",
    "run.googleapis.com/health-check-disabled",
];

const BOOLEANS: &[&str] = &[
    "run.googleapis.com/invoker-iam-disabled",
    "run.googleapis.com/iap-enabled",
    "run.googleapis.com/cpu-throttling",
    "run.googleapis.com/startup-cpu-boost",
    "run.googleapis.com/sessionAffinity",
    "run.googleapis.com/health-check-disabled",
];

/// What the annotations decide for the emulator.
pub struct Decided {
    /// `run.googleapis.com/cpu-throttling`: true (request-based billing)
    /// unless set to "false" (<https://cloud.google.com/run/docs/configuring/billing-settings>).
    pub cpu_throttling: bool,
    pub cloudsql_instances: Vec<String>,
    /// The Invoker IAM check: on (Cloud Run's default) unless the service's
    /// `run.googleapis.com/invoker-iam-disabled` is "true"
    /// (<https://cloud.google.com/run/docs/authenticating/public#invoker_check>).
    pub invoker_iam_check: bool,
}

pub fn check_annotations(p: &mut Problems, spec: &ServiceSpec) -> Decided {
    let service = read(p, "metadata.annotations", &spec.service_annotations);
    let revision = read(
        p,
        "spec.template.metadata.annotations",
        &spec.template_annotations,
    );
    for (key, _) in &service {
        if REVISION_ONLY.contains(&key.as_str()) || key.starts_with("autoscaling.knative.dev/") {
            p.add(
                &format!("metadata.annotations[{key}]"),
                "is a revision annotation: put it under spec.template.metadata.annotations.",
            );
        }
    }
    for (key, _) in &revision {
        if SERVICE_ONLY.contains(&key.as_str()) {
            p.add(
                &format!("spec.template.metadata.annotations[{key}]"),
                "is a service annotation: put it under metadata.annotations.",
            );
        }
    }
    for (field, list) in [
        ("metadata.annotations", &service),
        ("spec.template.metadata.annotations", &revision),
    ] {
        for (key, value) in list.iter() {
            check_value(p, &format!("{field}[{key}]"), key, value);
        }
    }
    let get = |key: &str| {
        revision
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let scale = |p: &mut Problems, key: &str| {
        get(key).and_then(|v| match v.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                p.add(
                    &format!("spec.template.metadata.annotations[{key}]"),
                    format!("{v:?} is not a non-negative integer."),
                );
                None
            }
        })
    };
    let (min, max) = (
        scale(p, "autoscaling.knative.dev/minScale"),
        scale(p, "autoscaling.knative.dev/maxScale"),
    );
    if let (Some(min), Some(max)) = (min, max) {
        if min > max || max == 0 {
            p.add("spec.template.metadata.annotations", format!("minScale {min} must not exceed maxScale {max}, and maxScale must be at least 1."));
        }
    }
    let cloudsql_instances: Vec<String> = get("run.googleapis.com/cloudsql-instances")
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    for name in &cloudsql_instances {
        let parts: Vec<&str> = name.split(':').collect();
        if parts.len() != 3 || parts.iter().any(|s| s.is_empty()) {
            p.add(
                "spec.template.metadata.annotations[run.googleapis.com/cloudsql-instances]",
                format!("{name:?} is not an instance connection name PROJECT:REGION:INSTANCE."),
            );
        }
    }
    let invoker_iam_disabled = service
        .iter()
        .any(|(k, v)| k == "run.googleapis.com/invoker-iam-disabled" && v == "true");
    Decided {
        cpu_throttling: get("run.googleapis.com/cpu-throttling").as_deref() != Some("false"),
        cloudsql_instances,
        invoker_iam_check: !invoker_iam_disabled,
    }
}

fn read(p: &mut Problems, field: &str, list: &[(String, Scalar)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.clone(), p.string(&format!("{field}[{k}]"), v)))
        .collect()
}

fn check_value(p: &mut Problems, field: &str, key: &str, value: &str) {
    if BOOLEANS.contains(&key) && value != "true" && value != "false" {
        p.add(
            field,
            format!("must be \"true\" or \"false\", got {value:?}."),
        );
    }
    // <https://cloud.google.com/run/docs/securing/ingress>
    if key == "run.googleapis.com/ingress"
        && !["all", "internal", "internal-and-cloud-load-balancing"].contains(&value)
    {
        p.add(
            field,
            format!("must be all, internal or internal-and-cloud-load-balancing, got {value:?}."),
        );
    }
}
