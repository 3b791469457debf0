//! One audit line per admin action, in the shape the service's own JSON
//! logs have (`service_kit::cloud_logging`: `severity`, `message`,
//! `timestamp`, `target`), so that from a Cloud Run job, whose stdout and
//! stderr lines go to Cloud Logging as structured entries when they are
//! JSON (<https://cloud.google.com/run/docs/logging#writing_structured_logs>),
//! it is found with `jsonPayload.target="audit"`. `NOTICE` is Cloud
//! Logging's severity for "normal but significant events"
//! (<https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry#logseverity>).
//!
//! It carries the action, the operator's `--reason`, the subject and
//! counts; never a token or a key.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

pub struct AuditLine<'a> {
    pub action: &'a str,
    pub reason: Option<&'a str>,
    pub subject: Option<&'a str>,
    /// `ok`, or a short word for what did not happen.
    pub outcome: &'a str,
    /// Counts and other plain facts of the action.
    pub details: Value,
}

impl AuditLine<'_> {
    pub fn write(&self, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = Map::new();
        let severity = if self.outcome == "ok" {
            "NOTICE"
        } else {
            "WARNING"
        };
        line.insert("severity".into(), json!(severity));
        line.insert("message".into(), json!(format!("admin {}", self.action)));
        line.insert(
            "timestamp".into(),
            json!({ "seconds": now.as_secs(), "nanos": now.subsec_nanos() }),
        );
        line.insert("target".into(), json!("audit"));
        line.insert("action".into(), json!(self.action));
        line.insert("reason".into(), json!(self.reason));
        line.insert("subject".into(), json!(self.subject));
        line.insert("outcome".into(), json!(self.outcome));
        if let Value::Object(details) = &self.details {
            for (key, value) in details {
                line.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
        let mut bytes = serde_json::to_vec(&Value::Object(line)).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        out.write_all(&bytes)?;
        out.flush()
    }
}
