//! The parts of a Knative `serving.knative.dev/v1` Service that Cloud Run
//! reads, taken from the YAML `gcloud run services replace` is given, as
//! written (no defaults applied: [`super::validate`] checks and completes
//! them). Field names and placement follow Cloud Run's YAML reference:
//! <https://cloud.google.com/run/docs/reference/yaml/v1>.

use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

/// A scalar as YAML gave it. Cloud Run's API is protobuf behind JSON, so a
/// string field given a number or a boolean is refused
/// (<https://protobuf.dev/programming-guides/json/>): the kind matters.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    /// A boolean or a real, as written.
    Other(String),
    Null,
}

impl Scalar {
    fn from_yaml(y: &Yaml) -> Option<Self> {
        Some(match y {
            Yaml::String(s) => Scalar::Str(s.clone()),
            Yaml::Integer(i) => Scalar::Int(*i),
            Yaml::Real(r) => Scalar::Other(r.clone()),
            Yaml::Boolean(b) => Scalar::Other(b.to_string()),
            Yaml::Null | Yaml::BadValue => Scalar::Null,
            _ => return None,
        })
    }

    pub fn text(&self) -> String {
        match self {
            Scalar::Str(s) | Scalar::Other(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Null => String::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ServiceSpec {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `metadata.annotations`: the service's own.
    pub service_annotations: Vec<(String, Scalar)>,
    /// `spec.template.metadata.annotations`: the revision's.
    pub template_annotations: Vec<(String, Scalar)>,
    pub container_concurrency: Option<Scalar>,
    pub timeout_seconds: Option<Scalar>,
    pub service_account: Option<String>,
    pub containers: Vec<ContainerSpec>,
    /// `spec.template` as canonical text: any change makes a new revision
    /// (<https://cloud.google.com/run/docs/managing/revisions>).
    pub template_text: String,
}

#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// Required when there are several containers (they name each other
    /// in `run.googleapis.com/container-dependencies`).
    pub name: Option<String>,
    pub image: String,
    pub ports: Vec<PortSpec>,
    pub env: Vec<EnvSpec>,
    pub limits: Vec<(String, Scalar)>,
    pub startup_probe: Option<ProbeSpec>,
    pub liveness_probe: Option<ProbeSpec>,
}

#[derive(Debug, Clone, Default)]
pub struct PortSpec {
    pub name: Option<String>,
    pub container_port: Option<Scalar>,
}

#[derive(Debug, Clone, Default)]
pub struct EnvSpec {
    pub name: String,
    pub value: Option<Scalar>,
    pub secret: Option<SecretRef>,
    /// `valueFrom` with something other than `secretKeyRef`.
    pub unsupported_source: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SecretRef {
    pub name: Option<String>,
    pub key: Option<Scalar>,
}

#[derive(Debug, Clone, Default)]
pub struct ProbeSpec {
    pub http_get: Option<HttpGetSpec>,
    /// `tcpSocket`, with its port if given.
    pub tcp_socket: Option<Option<Scalar>>,
    pub grpc: bool,
    pub initial_delay_seconds: Option<Scalar>,
    pub period_seconds: Option<Scalar>,
    pub timeout_seconds: Option<Scalar>,
    pub failure_threshold: Option<Scalar>,
}

#[derive(Debug, Clone, Default)]
pub struct HttpGetSpec {
    pub path: Option<String>,
    pub port: Option<Scalar>,
}

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

fn scalar(y: &Yaml) -> Option<Scalar> {
    match y {
        Yaml::BadValue => None,
        other => Scalar::from_yaml(other),
    }
}

fn annotations(y: &Yaml) -> Vec<(String, Scalar)> {
    y.as_hash()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((text(k)?, Scalar::from_yaml(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

fn probe(y: &Yaml) -> Option<ProbeSpec> {
    y.as_hash()?;
    Some(ProbeSpec {
        http_get: y["httpGet"].as_hash().map(|_| HttpGetSpec {
            path: text(&y["httpGet"]["path"]),
            port: scalar(&y["httpGet"]["port"]),
        }),
        tcp_socket: y["tcpSocket"]
            .as_hash()
            .map(|_| scalar(&y["tcpSocket"]["port"])),
        grpc: !y["grpc"].is_badvalue(),
        initial_delay_seconds: scalar(&y["initialDelaySeconds"]),
        period_seconds: scalar(&y["periodSeconds"]),
        timeout_seconds: scalar(&y["timeoutSeconds"]),
        failure_threshold: scalar(&y["failureThreshold"]),
    })
}

fn env_var(y: &Yaml) -> EnvSpec {
    let from = &y["valueFrom"];
    let secret = from["secretKeyRef"].as_hash().map(|_| SecretRef {
        name: text(&from["secretKeyRef"]["name"]),
        key: scalar(&from["secretKeyRef"]["key"]),
    });
    EnvSpec {
        name: text(&y["name"]).unwrap_or_default(),
        value: scalar(&y["value"]),
        unsupported_source: !from.is_badvalue() && secret.is_none(),
        secret,
    }
}

fn container(y: &Yaml) -> ContainerSpec {
    let list = |key: &str| y[key].as_vec().cloned().unwrap_or_default();
    ContainerSpec {
        name: text(&y["name"]),
        image: text(&y["image"]).unwrap_or_default(),
        ports: list("ports")
            .iter()
            .map(|p| PortSpec {
                name: text(&p["name"]),
                container_port: scalar(&p["containerPort"]),
            })
            .collect(),
        env: list("env").iter().map(env_var).collect(),
        limits: annotations(&y["resources"]["limits"]),
        startup_probe: probe(&y["startupProbe"]),
        liveness_probe: probe(&y["livenessProbe"]),
    }
}

/// Reads a rendered service definition. Errors name what is missing, in
/// the words of Cloud Run's answers.
pub fn parse(yaml: &str) -> Result<ServiceSpec, String> {
    let docs = YamlLoader::load_from_str(yaml)
        .map_err(|e| format!("Could not parse the service definition as YAML: {e}"))?;
    let [doc] = docs.as_slice() else {
        return Err(format!(
            "Expected one YAML document (a Service), found {}.",
            docs.len()
        ));
    };
    if doc.as_hash().is_none() {
        return Err("The service definition is not a YAML mapping.".into());
    }
    let template = &doc["spec"]["template"];
    if template.as_hash().is_none() {
        return Err("spec.template: Required field is missing.".into());
    }
    let mut template_text = String::new();
    YamlEmitter::new(&mut template_text)
        .dump(template)
        .map_err(|e| format!("spec.template cannot be read back: {e}"))?;
    let spec = &template["spec"];
    Ok(ServiceSpec {
        api_version: text(&doc["apiVersion"]).unwrap_or_default(),
        kind: text(&doc["kind"]).unwrap_or_default(),
        name: text(&doc["metadata"]["name"]).unwrap_or_default(),
        service_annotations: annotations(&doc["metadata"]["annotations"]),
        template_annotations: annotations(&template["metadata"]["annotations"]),
        container_concurrency: scalar(&spec["containerConcurrency"]),
        timeout_seconds: scalar(&spec["timeoutSeconds"]),
        service_account: text(&spec["serviceAccountName"]),
        containers: spec["containers"]
            .as_vec()
            .map(|v| v.iter().map(container).collect())
            .unwrap_or_default(),
        template_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_cloud_run_uses_and_keeps_their_kinds() {
        let spec = parse(
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: app\n  annotations:\n    run.googleapis.com/ingress: all\nspec:\n  template:\n    metadata:\n      annotations:\n        autoscaling.knative.dev/maxScale: 3\n    spec:\n      containers:\n        - image: r/p/private-service:1\n          env:\n            - name: A\n              value: x\n            - name: S\n              valueFrom:\n                secretKeyRef: {name: s, key: latest}\n          startupProbe:\n            httpGet: {path: /readyz}\n            periodSeconds: 2\n",
        )
        .unwrap();
        assert_eq!(spec.name, "app");
        assert_eq!(spec.template_annotations[0].1, Scalar::Int(3));
        let c = &spec.containers[0];
        assert_eq!(c.env[0].value, Some(Scalar::Str("x".into())));
        assert_eq!(c.env[1].secret.as_ref().unwrap().name.as_deref(), Some("s"));
        let probe = c.startup_probe.as_ref().unwrap();
        assert_eq!(probe.period_seconds, Some(Scalar::Int(2)));
        assert!(probe.timeout_seconds.is_none());
        assert!(spec.template_text.contains("/readyz"));
    }

    #[test]
    fn a_definition_without_a_template_is_refused() {
        let e = parse("apiVersion: serving.knative.dev/v1\nkind: Service\n").unwrap_err();
        assert!(e.contains("spec.template"), "{e}");
        assert!(parse(": : :\n- [").is_err());
    }
}
