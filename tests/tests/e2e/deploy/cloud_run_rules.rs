//! Cloud Run's documented constraints on a service definition, each with its
//! source, checked on the YAML as `deploy/render.sh` prints it. No schema of
//! Cloud Run's Knative dialect is published in a package registry, so the
//! rules are encoded here. `violations` lists every rule a definition breaks.

use yaml_rust2::Yaml;

/// The connection limit of the default Cloud SQL tier (`db-f1-micro`,
/// 0.6 GB): 25. https://cloud.google.com/sql/docs/postgres/quotas#maximum_concurrent_connections
pub const DEFAULT_TIER_CONNECTIONS: i64 = 25;
/// PostgreSQL keeps `superuser_reserved_connections` (3 by default) of
/// them for superusers: https://www.postgresql.org/docs/15/runtime-config-connection.html
pub const SUPERUSER_RESERVED: i64 = 3;

/// Annotations read on the Service's own `metadata` (service-level), and
/// those read on `spec.template.metadata` (revision-level), as the pages
/// that document them place them in their YAML examples.
const SERVICE_LEVEL: &[(&str, &str)] = &[
    (
        "run.googleapis.com/invoker-iam-disabled",
        "https://cloud.google.com/run/docs/authenticating/public#yaml",
    ),
    (
        "run.googleapis.com/ingress",
        "https://cloud.google.com/run/docs/securing/ingress#yaml",
    ),
];
const REVISION_LEVEL: &[(&str, &str)] = &[
    (
        "autoscaling.knative.dev/minScale",
        "https://cloud.google.com/run/docs/configuring/min-instances#yaml",
    ),
    (
        "autoscaling.knative.dev/maxScale",
        "https://cloud.google.com/run/docs/configuring/max-instances#yaml",
    ),
    (
        "run.googleapis.com/cloudsql-instances",
        "https://cloud.google.com/sql/docs/postgres/connect-run#yaml",
    ),
    (
        "run.googleapis.com/cpu-throttling",
        "https://cloud.google.com/run/docs/configuring/billing-settings#yaml",
    ),
    (
        "run.googleapis.com/startup-cpu-boost",
        "https://cloud.google.com/run/docs/configuring/services/cpu#startup-boost",
    ),
];

fn int(value: &Yaml) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

fn annotation<'a>(metadata: &'a Yaml, name: &str) -> Option<&'a str> {
    metadata["annotations"][name].as_str()
}

/// Memory in MiB from a Kubernetes quantity (`256Mi`, `1Gi`).
fn mebibytes(quantity: &str) -> Option<i64> {
    if let Some(n) = quantity.strip_suffix("Mi") {
        n.parse().ok()
    } else if let Some(n) = quantity.strip_suffix("Gi") {
        n.parse::<i64>().ok().map(|g| g * 1024)
    } else {
        None
    }
}

/// Every documented rule `doc` breaks, each naming its source.
pub fn violations(doc: &Yaml) -> Vec<String> {
    let mut found = Vec::new();
    let mut fail = |rule: String| found.push(rule);
    let template = &doc["spec"]["template"];
    let spec = &template["spec"];
    let container = &spec["containers"][0];

    // https://cloud.google.com/run/docs/deploying#service : a name of
    // lowercase letters, digits and hyphens, starting with a letter, at
    // most 49 characters.
    let name = doc["metadata"]["name"].as_str().unwrap_or("");
    let valid_name = name.len() <= 49
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_name {
        fail(format!(
            "service name {name:?}: https://cloud.google.com/run/docs/deploying#service"
        ));
    }

    for (key, source) in SERVICE_LEVEL {
        if annotation(&template["metadata"], key).is_some() {
            fail(format!("{key} is a service-level annotation (metadata.annotations), not a revision one: {source}"));
        }
    }
    for (key, source) in REVISION_LEVEL {
        if annotation(&doc["metadata"], key).is_some() {
            fail(format!("{key} is a revision-level annotation (spec.template.metadata.annotations): {source}"));
        }
    }

    // One container port, named http1 or h2c:
    // https://cloud.google.com/run/docs/configuring/services/containers#configure-port
    let ports = container["ports"].as_vec().cloned().unwrap_or_default();
    let port = ports.first().and_then(|p| int(&p["containerPort"]));
    if ports.len() != 1
        || !matches!(ports[0]["name"].as_str(), Some("http1" | "h2c"))
        || !port.is_some_and(|p| (1..=65535).contains(&p))
    {
        fail("exactly one container port, named http1 or h2c: https://cloud.google.com/run/docs/configuring/services/containers#configure-port".into());
    }

    // Probes: https://cloud.google.com/run/docs/configuring/healthchecks
    // timeoutSeconds (default 1) at most periodSeconds (default 10); a
    // startup probe's periodSeconds and failureThreshold x periodSeconds at
    // most 240 s; the probe goes to the container's port.
    for (probe_name, limit) in [("startupProbe", 240), ("livenessProbe", 3600)] {
        let probe = &container[probe_name];
        if probe.is_badvalue() {
            continue;
        }
        let period = int(&probe["periodSeconds"]).unwrap_or(10);
        let timeout = int(&probe["timeoutSeconds"]).unwrap_or(1);
        let threshold = int(&probe["failureThreshold"]).unwrap_or(3);
        let source = "https://cloud.google.com/run/docs/configuring/healthchecks";
        if timeout < 1 || timeout > period {
            fail(format!("{probe_name}: timeoutSeconds {timeout} must be between 1 and periodSeconds {period}: {source}"));
        }
        if !(1..=limit).contains(&period) {
            fail(format!(
                "{probe_name}: periodSeconds {period} must be 1 to {limit}: {source}"
            ));
        }
        if probe_name == "startupProbe" && threshold * period > 240 {
            fail(format!(
                "startupProbe: failureThreshold x periodSeconds = {} s is over 240 s: {source}",
                threshold * period
            ));
        }
        let probe_port = int(&probe["httpGet"]["port"]).or(port);
        if probe_port != port {
            fail(format!("{probe_name}: probes the port {probe_port:?}, not the container port {port:?}: {source}"));
        }
    }

    // Concurrency 1 to 1000; below 1 vCPU it must be 1:
    // https://cloud.google.com/run/docs/about-concurrency and
    // https://cloud.google.com/run/docs/configuring/services/cpu
    let concurrency = int(&spec["containerConcurrency"]).unwrap_or(80);
    let cpu: f64 = container["resources"]["limits"]["cpu"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1.0);
    if !(1..=1000).contains(&concurrency) || (cpu < 1.0 && concurrency != 1) {
        fail(format!("containerConcurrency {concurrency} with {cpu} vCPU: https://cloud.google.com/run/docs/about-concurrency"));
    }
    // At least 128 MiB: https://cloud.google.com/run/docs/configuring/services/memory-limits
    let memory = container["resources"]["limits"]["memory"]
        .as_str()
        .and_then(mebibytes);
    if memory.is_none_or(|m| m < 128) {
        fail(format!("memory {memory:?} MiB: https://cloud.google.com/run/docs/configuring/services/memory-limits"));
    }
    // Request timeout 1 to 3600 s: https://cloud.google.com/run/docs/configuring/request-timeout
    if !int(&spec["timeoutSeconds"]).is_some_and(|t| (1..=3600).contains(&t)) {
        fail(
            "timeoutSeconds: https://cloud.google.com/run/docs/configuring/request-timeout".into(),
        );
    }

    for var in container["env"].as_vec().cloned().unwrap_or_default() {
        let name = var["name"].as_str().unwrap_or("");
        // Set by Cloud Run itself:
        // https://cloud.google.com/run/docs/container-contract#env-vars
        if ["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"].contains(&name) {
            fail(format!(
                "{name} is reserved: https://cloud.google.com/run/docs/container-contract#env-vars"
            ));
        }
        // Secrets in environment variables are resolved when an instance
        // starts; pin a version rather than `latest`:
        // https://cloud.google.com/run/docs/configuring/services/secrets
        let reference = &var["valueFrom"]["secretKeyRef"];
        if !reference.is_badvalue() {
            let version = reference["key"].as_str().unwrap_or("");
            if version.parse::<u32>().map_or(true, |v| v == 0) {
                fail(format!("{name}: secret version {version:?} is not pinned: https://cloud.google.com/run/docs/configuring/services/secrets"));
            }
        }
    }

    // No always-allocated CPU by default: it bills every instance's whole
    // life (https://cloud.google.com/run/docs/configuring/billing-settings);
    // the services do their background work on requests.
    if annotation(&template["metadata"], "run.googleapis.com/cpu-throttling") == Some("false") {
        fail("cpu-throttling \"false\" (instance-based billing) is not the default: deploy/README.md".into());
    }
    found
}

/// The public service's pool, times its instances, against the default
/// Cloud SQL tier's connections less the superusers' reserve.
pub fn pool_fits_default_tier(doc: &Yaml, pool: i64) -> Result<(), String> {
    let max_scale = int(
        &doc["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/maxScale"]
    )
    .ok_or("no maxScale: instances (and so connections) are unbounded")?;
    let usable = DEFAULT_TIER_CONNECTIONS - SUPERUSER_RESERVED;
    if pool * max_scale > usable {
        return Err(format!(
            "{pool} connections x {max_scale} instances = {} > {usable}",
            pool * max_scale
        ));
    }
    Ok(())
}
