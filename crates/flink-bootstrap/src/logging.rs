//! Logging to stderr: text for people, or JSON for Google Cloud Logging.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber; `filter` is in `RUST_LOG` syntax (`info` when absent).
pub fn init(format: LogFormat, filter: Option<&str>) {
    let filter = EnvFilter::try_new(filter.unwrap_or("info")).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person: container and serial-console logs keep plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second init (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.event_format(CloudLoggingJson).try_init(),
    };
}

/// One JSON object per line: `timestamp`, `severity`, `message`, then the event's fields.
struct CloudLoggingJson;

impl<S, N> FormatEvent<S, N> for CloudLoggingJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writeln!(writer, "{}", to_json(event, std::time::SystemTime::now()))
    }
}

fn to_json(event: &Event<'_>, now: std::time::SystemTime) -> Value {
    let mut fields = Map::new();
    event.record(&mut Fields(&mut fields));
    let mut line = Map::new();
    line.insert(
        "timestamp".into(),
        humantime::format_rfc3339_micros(now).to_string().into(),
    );
    line.insert(
        "severity".into(),
        severity(*event.metadata().level()).into(),
    );
    line.insert(
        "message".into(),
        fields.remove("message").unwrap_or_default(),
    );
    line.insert("target".into(), event.metadata().target().into());
    line.extend(fields);
    Value::Object(line)
}

/// Cloud Logging's `LogSeverity` names.
fn severity(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn json_lines_have_cloud_logging_fields() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let subscriber = tracing_subscriber::fmt()
            .event_format(CloudLoggingJson)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                key = "hearbeat.timeout",
                "unknown key; did you mean heartbeat.timeout?"
            );
        });
        let text = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["severity"], "WARNING");
        assert_eq!(v["message"], "unknown key; did you mean heartbeat.timeout?");
        assert_eq!(v["key"], "hearbeat.timeout");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
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
}
