//! Cloud Run's documented constraints on a service definition, checked
//! before anything starts, as `gcloud run services replace` is refused.
//! Each rule names its source; probe rules are in [`super::probe_rules`],
//! annotation rules in [`super::annotations`].
//!
//! - YAML shape: <https://cloud.google.com/run/docs/reference/yaml/v1>
//! - Service names: <https://cloud.google.com/run/docs/deploying#service>
//! - Ports: <https://cloud.google.com/run/docs/configuring/services/containers#configure-port>
//! - Concurrency 1..1000: <https://cloud.google.com/run/docs/configuring/concurrency>
//! - Request timeout 1..3600 s: <https://cloud.google.com/run/docs/configuring/request-timeout>
//! - Reserved variables: <https://cloud.google.com/run/docs/container-contract#env-vars>
//! - Secrets: <https://cloud.google.com/run/docs/configuring/services/secrets>
//! - Sidecars (several containers): [`super::containers`]
//! - CPU and memory: <https://cloud.google.com/run/docs/configuring/services/cpu>,
//!   <https://cloud.google.com/run/docs/configuring/services/memory-limits>,
//!   <https://cloud.google.com/run/docs/configuring/billing-settings>

use std::collections::HashSet;
use std::time::Duration;

use super::annotations::check_annotations;
use super::containers;
use super::plan::{EnvValue, Plan, Probe, SecretVersion, Sidecar};
use super::probe_rules::{check_probe, ProbeKind};
use super::problems::Problems;
use super::spec::{ContainerSpec, EnvSpec, Scalar, ServiceSpec};

/// Checks `spec` and returns the plan, or every problem in one message.
pub fn validate(spec: &ServiceSpec) -> Result<Plan, String> {
    let mut p = Problems::default();
    if spec.api_version != "serving.knative.dev/v1" {
        p.add("apiVersion", "must be serving.knative.dev/v1.");
    }
    if spec.kind != "Service" {
        p.add("kind", "must be Service.");
    }
    check_name(&mut p, &spec.name);
    let annotations = check_annotations(&mut p, spec);
    let concurrency = p.int(
        "spec.template.spec.containerConcurrency",
        &spec.container_concurrency,
        80,
    );
    p.range(
        "spec.template.spec.containerConcurrency",
        concurrency,
        1,
        1000,
    );
    let timeout = p.int(
        "spec.template.spec.timeoutSeconds",
        &spec.timeout_seconds,
        300,
    );
    p.range("spec.template.spec.timeoutSeconds", timeout, 1, 3600);
    if let Some(account) = &spec.service_account {
        if !account.contains('@') || account.starts_with('@') || account.ends_with('@') {
            p.add(
                "spec.template.spec.serviceAccountName",
                "must be a service account e-mail.",
            );
        }
    }
    if spec.containers.is_empty() {
        p.add(
            "spec.template.spec.containers",
            "Required field is missing: at least one container.",
        );
        return Err(message(p));
    }
    let ingress = containers::ingress(&mut p, &spec.containers);
    let names = containers::names(&mut p, &spec.containers);
    let dependencies = spec
        .template_annotations
        .iter()
        .find(|(k, _)| k == containers::DEPENDENCIES)
        .map(|(_, v)| v.text());
    let (waits, order) = containers::dependencies(&mut p, dependencies.as_deref(), &names);
    let mut totals = (0.0, 0.0);
    let mut checked = Vec::new();
    for (i, container) in spec.containers.iter().enumerate() {
        let field = format!("spec.template.spec.containers[{i}]");
        if container.image.trim().is_empty() {
            p.add(&format!("{field}.image"), "Required field is missing.");
        }
        let is_ingress = i == ingress;
        // A sidecar has no port: its probes say where it listens.
        let port = match is_ingress {
            true => check_port(&mut p, &field, container),
            false => sidecar_port(&mut p, &field, container),
        };
        let env = check_env(&mut p, &field, &container.env, is_ingress);
        let (cpu, memory) = check_resources(&mut p, &field, container);
        totals = (totals.0 + cpu, totals.1 + memory);
        let startup = container.startup_probe.as_ref().map(|probe| {
            check_probe(
                &mut p,
                &format!("{field}.startupProbe"),
                probe,
                ProbeKind::Startup,
                port,
            )
        });
        let liveness = container.liveness_probe.as_ref().map(|probe| {
            check_probe(
                &mut p,
                &format!("{field}.livenessProbe"),
                probe,
                ProbeKind::Liveness,
                port,
            )
        });
        checked.push((port, env, startup, liveness));
    }
    // The containers share the instance's localhost: a sidecar listening
    // on the ingress container's port could not.
    let ingress_port = checked[ingress].0;
    for (i, (port, ..)) in checked.iter().enumerate() {
        if i != ingress && *port == ingress_port {
            p.add(
                &format!("spec.template.spec.containers[{i}]"),
                format!("its probes name port {port}, the ingress container's: the containers of an instance share localhost, so two cannot listen on one port."),
            );
        }
    }
    let field = match spec.containers.len() {
        1 => "spec.template.spec.containers[0].resources.limits".to_owned(),
        _ => {
            "spec.template.spec.containers[*].resources.limits (all containers together)".to_owned()
        }
    };
    check_instance_size(&mut p, &field, totals, annotations.cpu_throttling);
    if !p.0.is_empty() {
        return Err(message(p));
    }
    let sidecars = order
        .iter()
        .filter(|&&i| i != ingress)
        .map(|&i| {
            let (port, env, startup, liveness) = checked[i].clone();
            Sidecar {
                name: names[i].clone().unwrap_or_default(),
                image: spec.containers[i].image.clone(),
                env,
                startup,
                liveness,
                probe_port: port,
                depends_on: waits[i].clone(),
            }
        })
        .collect();
    let (port, env, startup, liveness) = checked.swap_remove(ingress);
    Ok(Plan {
        name: spec.name.clone(),
        ingress_name: names[ingress].clone(),
        image: spec.containers[ingress].image.clone(),
        container_port: port,
        env,
        startup: startup.unwrap_or_else(Probe::default_startup),
        liveness,
        ingress_depends_on: waits[ingress].clone(),
        sidecars,
        cpu_throttling: annotations.cpu_throttling,
        cloudsql_instances: annotations.cloudsql_instances,
        invoker_iam_check: annotations.invoker_iam_check,
        concurrency: concurrency as u32,
        request_timeout: Duration::from_secs(timeout as u64),
        template_text: spec.template_text.clone(),
    })
}

fn message(p: Problems) -> String {
    format!("The service definition has errors: {}", p.0.join(" "))
}

/// Lowercase letters, digits and hyphens, a letter first, no hyphen
/// last, at most 49 characters.
fn check_name(p: &mut Problems, name: &str) {
    let ok = (1..=49).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        p.add(
            "metadata.name",
            format!("{name:?} is not a valid service name: use at most 49 lowercase letters, digits and hyphens, beginning with a letter and not ending with a hyphen."),
        );
    }
}

/// One port at most, named `http1` or `h2c`; 8080 when none is given.
fn check_port(p: &mut Problems, container: &str, c: &ContainerSpec) -> u16 {
    let field = &format!("{container}.ports");
    match c.ports.as_slice() {
        [] => 8080,
        [port] => {
            if let Some(name) = &port.name {
                if name != "http1" && name != "h2c" {
                    p.add(
                        &format!("{field}[0].name"),
                        format!("must be http1 or h2c, got {name:?}."),
                    );
                }
            }
            let number = p.int(
                &format!("{field}[0].containerPort"),
                &port.container_port,
                8080,
            );
            p.range(&format!("{field}[0].containerPort"), number, 1, 65535);
            number.clamp(1, 65535) as u16
        }
        _ => {
            p.add(
                field,
                "Revision template should contain exactly one container with an exposed port.",
            );
            8080
        }
    }
}

/// The port a sidecar's probes name (each probe of a sidecar must name
/// one: it has no container port to default to); 0 without probes.
fn sidecar_port(p: &mut Problems, container: &str, c: &ContainerSpec) -> u16 {
    let mut port = 0;
    for (kind, probe) in [
        ("startupProbe", &c.startup_probe),
        ("livenessProbe", &c.liveness_probe),
    ] {
        let Some(probe) = probe else { continue };
        let given = probe
            .http_get
            .as_ref()
            .and_then(|h| h.port.clone())
            .or_else(|| probe.tcp_socket.clone().flatten());
        let field = format!("{container}.{kind}.port");
        match given {
            None => p.add(
                &field,
                "Required field is missing: a sidecar has no container port, so its probes name the localhost port it listens on.",
            ),
            Some(given) => {
                let n = p.int(&field, &Some(given), 0);
                p.range(&field, n, 1, 65535);
                if port != 0 && n != i64::from(port) {
                    p.add(&field, format!("must be the port the other probe names ({port})."));
                }
                port = n.clamp(0, 65535) as u16;
            }
        }
    }
    port
}

const RESERVED: [&str; 3] = ["K_SERVICE", "K_REVISION", "K_CONFIGURATION"];

/// `PORT` is reserved in the ingress container only, the one Cloud Run
/// sets it in (<https://cloud.google.com/run/docs/configuring/services/containers#configure-port>):
/// a sidecar may be given one, as Cloud Run's own Nginx example gives its
/// app sidecar (<https://cloud.google.com/run/docs/internet-proxy-nginx-sidecar>).
fn check_env(
    p: &mut Problems,
    container: &str,
    env: &[EnvSpec],
    ingress: bool,
) -> Vec<(String, EnvValue)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, var) in env.iter().enumerate() {
        let field = format!("{container}.env[{i}]");
        if var.name.is_empty() {
            p.add(&format!("{field}.name"), "Required field is missing.");
        } else if RESERVED.contains(&var.name.as_str()) || (ingress && var.name == "PORT") {
            p.add(
                &format!("{field}.name"),
                format!(
                    "{} is a reserved environment variable name set by Cloud Run.",
                    var.name
                ),
            );
        } else if !seen.insert(var.name.clone()) {
            p.add(
                &format!("{field}.name"),
                format!("{} is set more than once.", var.name),
            );
        }
        if var.unsupported_source {
            p.add(
                &format!("{field}.valueFrom"),
                "only secretKeyRef is supported.",
            );
            continue;
        }
        match (&var.value, &var.secret) {
            (Some(_), Some(_)) => p.add(&field, "set either value or valueFrom, not both."),
            (value, None) => {
                let text = p.string(
                    &format!("{field}.value"),
                    value.as_ref().unwrap_or(&Scalar::Null),
                );
                out.push((var.name.clone(), EnvValue::Plain(text)));
            }
            (None, Some(secret)) => {
                let field = format!("{field}.valueFrom.secretKeyRef");
                let name = secret.name.clone().unwrap_or_default();
                let valid_name = (1..=255).contains(&name.len())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !valid_name {
                    p.add(
                        &format!("{field}.name"),
                        format!("{name:?} is not a Secret Manager secret name."),
                    );
                }
                let key = match &secret.key {
                    None | Some(Scalar::Null) => {
                        p.add(
                            &format!("{field}.key"),
                            "Required field is missing: a version number or \"latest\".",
                        );
                        String::new()
                    }
                    Some(key) => p.string(&format!("{field}.key"), key),
                };
                let version = match key.as_str() {
                    "latest" => SecretVersion::Latest,
                    n => match n.parse::<u64>() {
                        Ok(v) if v > 0 => SecretVersion::Number(v),
                        _ => {
                            if !key.is_empty() {
                                p.add(
                                    &format!("{field}.key"),
                                    format!("{key:?} is not a version number or \"latest\"."),
                                );
                            }
                            SecretVersion::Latest
                        }
                    },
                };
                out.push((var.name.clone(), EnvValue::Secret { name, version }));
            }
        }
    }
    out
}

/// Memory in MiB from a Kubernetes quantity (`256Mi`, `1Gi`, `512M`).
pub fn memory_mib(text: &str) -> Option<f64> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number: f64 = digits.parse().ok()?;
    let factor = match &text[digits.len()..] {
        "Ki" => 1.0 / 1024.0,
        "Mi" => 1.0,
        "Gi" => 1024.0,
        "k" => 1000.0 / 1_048_576.0,
        "M" => 1_000_000.0 / 1_048_576.0,
        "G" => 1e9 / 1_048_576.0,
        "" => 1.0 / 1_048_576.0,
        _ => return None,
    };
    Some(number * factor)
}

/// vCPUs from `1`, `2`, `0.5` or `500m`.
pub fn cpus(text: &str) -> Option<f64> {
    match text.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
        None => text.parse().ok(),
    }
}

/// One container's limits (default 1 vCPU and 512 MiB): each a supported
/// value on its own.
fn check_resources(p: &mut Problems, container: &str, c: &ContainerSpec) -> (f64, f64) {
    let field = format!("{container}.resources.limits");
    let mut cpu = 1.0;
    let mut memory = 512.0;
    for (key, value) in &c.limits {
        let text = p.string(&format!("{field}.{key}"), value);
        match key.as_str() {
            "cpu" => match cpus(&text) {
                Some(n) if n >= 0.08 && (n < 1.0 || [1.0, 2.0, 4.0, 6.0, 8.0].contains(&n)) => {
                    cpu = n
                }
                _ => p.add(
                    &format!("{field}.cpu"),
                    format!(
                        "{text:?} is not a supported CPU limit: 0.08 to 1, or 1, 2, 4, 6 or 8."
                    ),
                ),
            },
            "memory" => match memory_mib(&text) {
                Some(m) if (128.0..=32_768.0).contains(&m) => memory = m,
                _ => p.add(
                    &format!("{field}.memory"),
                    format!("{text:?} is not a supported memory limit: 128Mi to 32Gi."),
                ),
            },
            "nvidia.com/gpu" => {}
            other => p.add(
                &format!("{field}.{other}"),
                "only cpu, memory and nvidia.com/gpu can be limited.",
            ),
        }
    }
    (cpu, memory)
}

/// The instance's CPU and memory (every container's together) against
/// the vCPU and memory table of the CPU page.
fn check_instance_size(
    p: &mut Problems,
    field: &str,
    (cpu, memory): (f64, f64),
    cpu_throttling: bool,
) {
    if cpu > 8.0 {
        p.add(
            field,
            format!("{cpu} vCPU in all exceeds the 8 vCPU an instance can have."),
        );
    }
    let (min, max) = match cpu {
        n if n < 0.5 => (128.0, 512.0),
        n if n < 1.0 => (128.0, 1024.0),
        n if n <= 1.0 => (128.0, 4096.0),
        n if n <= 2.0 => (128.0, 8192.0),
        n if n <= 4.0 => (2048.0, 16_384.0),
        n if n <= 6.0 => (4096.0, 24_576.0),
        _ => (4096.0, 32_768.0),
    };
    if memory < min || memory > max {
        p.add(
            &format!("{field}.memory"),
            format!("{memory} MiB is outside {min}..{max} MiB, what {cpu} vCPU allows."),
        );
    }
    // Instance-based billing (CPU always allocated) needs at least 1 vCPU
    // and 512 MiB.
    if !cpu_throttling && (cpu < 1.0 || memory < 512.0) {
        p.add(field, "CPU always allocated (run.googleapis.com/cpu-throttling: \"false\") requires at least 1 CPU and 512Mi of memory.");
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
