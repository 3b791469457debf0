use super::*;
use std::sync::Mutex;

/// The text lines `TextFormat` writes while `f` runs.
fn text_lines(f: impl FnOnce()) -> String {
    let out = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .event_format(TextFormat)
        .with_writer(move || Sink(sink.clone()))
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = out.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_text_line_written_during_a_request_carries_its_ids_and_one_outside_none() {
    let trace = "105445aa7843bc8bf206b12000100000";
    let context = Rc::new(RequestContext::new(Some(trace.to_owned())));
    let text = text_lines(|| {
        within(&context, || tracing::info!(status = 401, "request"));
        tracing::info!("after");
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let expected = format!(
        "INFO request{{request_id={} trace_id={trace}}}: request status=401",
        context.request_id()
    );
    assert!(lines[0].ends_with(&expected), "{text}");
    assert!(lines[1].ends_with(" INFO after"), "{text}");
}

#[test]
fn a_text_line_shows_the_spans_it_is_in() {
    let text = text_lines(|| {
        let span = tracing::info_span!("purge", table = "sessions");
        let _entered = span.enter();
        tracing::warn!(rows = 3, "slow");
    });
    assert!(
        text.trim_end()
            .ends_with(" WARN purge{table=\"sessions\"}: slow rows=3"),
        "{text}"
    );
}

fn settings(pairs: &[(&str, &str)]) -> Result<LogSettings, ConfigError> {
    LogSettings::from_env(&Env::from_map(pairs.iter().copied()), "info")
}

#[test]
fn request_log_is_failures_by_default_and_all_when_asked() {
    assert!(!settings(&[]).unwrap().all_requests);
    assert!(
        !settings(&[("REQUEST_LOG", "failures")])
            .unwrap()
            .all_requests
    );
    assert!(settings(&[("REQUEST_LOG", "all")]).unwrap().all_requests);
}

#[test]
fn an_unknown_request_log_value_names_the_variable_and_an_example() {
    let text = settings(&[("REQUEST_LOG", "some")])
        .err()
        .expect("refused")
        .to_string();
    assert!(text.contains("REQUEST_LOG"), "{text}");
    assert!(text.contains("REQUEST_LOG=all"), "{text}");
}

#[test]
fn client_error_lines_are_budgeted_per_status_and_the_rest_summarised() {
    use handoff_guard::OffsetClock;
    use handoff_guard::RefusalLog;
    const IN_FULL: u64 = RefusalLog::IN_FULL;
    const INTERVAL: std::time::Duration = RefusalLog::INTERVAL;
    let clock = OffsetClock::default();
    clock.stop();
    let log = RequestLog::new(Arc::new(clock.clone()));
    let written = |status: u16, n: u64| (0..n).filter(|_| log.writes(status)).count() as u64;
    assert_eq!(written(401, 1000), IN_FULL);
    assert_eq!(written(404, 10), IN_FULL, "a budget per status");
    assert_eq!(
        written(418, 3) + written(422, 3),
        IN_FULL,
        "other 4xx share one"
    );
    assert_eq!(written(200, 1000), 1000, "never a success");
    assert_eq!(written(500, 1000), 1000, "never a failure of ours");
    clock.advance(INTERVAL);
    let text = text_lines(|| log.write_summaries());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].ends_with(&format!(
            "INFO {} more requests answered 401 in the last 10 s, not logged one by one status=401 not_logged={} seconds=10",
            1000 - IN_FULL,
            1000 - IN_FULL
        )),
        "{text}"
    );
    assert!(lines[1].contains("not_logged=5"), "{text}");
    assert!(lines[2].contains("status=4xx not_logged=1"), "{text}");
    assert_eq!(text_lines(|| log.write_summaries()), "", "written once");
}

#[test]
fn successes_are_quiet_by_default_and_only_routine_ones_with_all() {
    assert!(quiet_on_success("/api/me", false));
    assert!(!quiet_on_success("/api/me", true));
    assert!(!quiet_on_success("/healthz", true));
    assert!(quiet_on_success("/readyz", true));
}
