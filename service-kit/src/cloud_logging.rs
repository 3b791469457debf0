//! One JSON object per line, in Cloud Logging's structured format:
//! `severity`, `message`, `timestamp`, the request's `httpRequest`, and
//! `logging.googleapis.com/trace` so lines group under their trace. The
//! request's ids ([`crate::request_context`]) and the fields of enclosing
//! spans are on every line.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

pub struct CloudLoggingLayer {
    /// `GOOGLE_CLOUD_PROJECT`: traces are named `projects/<id>/traces/<trace>`.
    project: Option<String>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl CloudLoggingLayer {
    pub fn new(project: Option<String>, out: Box<dyn Write + Send>) -> Self {
        Self {
            project,
            out: Mutex::new(out),
        }
    }
}

/// Fields recorded on a span, kept in its extensions.
#[derive(Default)]
struct SpanFields(Map<String, Value>);

#[derive(Default)]
struct Collector {
    fields: Map<String, Value>,
    message: Option<String>,
}

impl Visit for Collector {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, json!(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, json!(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, json!(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, json!(value));
    }
}

impl Collector {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl<S> Layer<S> for CloudLoggingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut collector = Collector::default();
        attrs.record(&mut collector);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(collector.fields));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let mut collector = Collector::default();
        values.record(&mut collector);
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(fields) = extensions.get_mut::<SpanFields>() {
                fields.0.extend(collector.fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut collector = Collector::default();
        event.record(&mut collector);
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(span_fields) = span.extensions().get::<SpanFields>() {
                    fields.extend(span_fields.0.clone());
                }
            }
        }
        crate::request_context::current(|request| {
            if let Some(request) = request {
                fields.insert("request_id".into(), json!(request.request_id()));
                if let Some(trace) = request.trace() {
                    fields.insert("trace_id".into(), json!(trace));
                }
            }
        });
        fields.extend(collector.fields);
        let line = self.line(event.metadata(), collector.message, fields);
        // Serialised straight to bytes (not through `Display`), then
        // written in one piece.
        let Ok(mut bytes) = serde_json::to_vec(&line) else {
            return;
        };
        bytes.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all(&bytes);
    }
}

impl CloudLoggingLayer {
    fn line(
        &self,
        metadata: &tracing::Metadata<'_>,
        message: Option<String>,
        mut fields: Map<String, Value>,
    ) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = Map::new();
        line.insert("severity".into(), json!(severity(metadata.level())));
        line.insert("message".into(), json!(message.unwrap_or_default()));
        line.insert(
            "timestamp".into(),
            json!({ "seconds": now.as_secs(), "nanos": now.subsec_nanos() }),
        );
        line.insert("target".into(), json!(metadata.target()));
        if let Some(Value::String(trace)) = fields.remove("trace_id") {
            let trace = match &self.project {
                Some(project) => format!("projects/{project}/traces/{trace}"),
                None => trace,
            };
            line.insert("logging.googleapis.com/trace".into(), json!(trace));
        }
        if line["message"] == "request" || line["message"] == "request failed" {
            if let Some(http) = http_request(&mut fields) {
                line.insert("httpRequest".into(), http);
            }
        }
        line.extend(fields);
        Value::Object(line)
    }
}

/// The request line's fields as Cloud Logging's `HttpRequest`.
fn http_request(fields: &mut Map<String, Value>) -> Option<Value> {
    let method = fields.remove("method")?;
    let path = fields.remove("path")?;
    let status = fields.remove("status")?;
    let latency_ms = fields.remove("latency_ms").and_then(|v| v.as_f64())?;
    Some(json!({
        "requestMethod": method,
        "requestUrl": path,
        "status": status,
        "latency": format!("{:.6}s", latency_ms / 1000.0),
    }))
}

fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

/// The trace id of `X-Cloud-Trace-Context: TRACE/SPAN;o=1` or of
/// `traceparent: 00-TRACE-SPAN-01`, only if it is 32 hex digits (a header
/// value never reaches a log line unchecked).
pub fn trace_id(cloud_trace_context: Option<&str>, traceparent: Option<&str>) -> Option<String> {
    let from_cloud = cloud_trace_context.and_then(|v| v.split('/').next());
    let from_w3c = traceparent.and_then(|v| v.split('-').nth(1));
    from_cloud
        .into_iter()
        .chain(from_w3c)
        .find(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_come_from_either_header_and_only_when_well_formed() {
        let id = "105445aa7843bc8bf206b12000100000";
        assert_eq!(
            trace_id(Some(&format!("{id}/1;o=1")), None).as_deref(),
            Some(id)
        );
        assert_eq!(
            trace_id(None, Some(&format!("00-{id}-00f067aa0ba902b7-01"))).as_deref(),
            Some(id)
        );
        assert_eq!(trace_id(Some("x\"}{injected/1"), None), None);
        assert_eq!(trace_id(Some("123/1"), Some("garbage")), None);
    }
}
