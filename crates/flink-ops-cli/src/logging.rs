//! One logging setup for every binary: plain lines or Cloud Logging JSON.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colours only on a terminal).
    #[default]
    Text,
    /// One JSON object per line with `severity`, `message` and `timestamp`,
    /// as Google Cloud Logging reads them.
    Json,
}

/// The `--log-format` flag, the same in every binary.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LogArgs {
    /// How logs are printed on stderr (json: Google Cloud Logging)
    #[arg(long, value_enum, env = crate::env_vars::FLINK_OPS_LOG_FORMAT, default_value = "text", global = true)]
    pub log_format: LogFormat,
}

/// Installs the global subscriber, logging to stderr (stdout stays free for
/// results). The filter comes from `RUST_LOG`, else `default_filter`, with the bucket
/// client's own retry chatter (`object_store` logs each retry at INFO) held to warnings: what
/// a store failure means is logged by the binary itself, once.
pub fn init_logging(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_filter},object_store=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init(),
        LogFormat::Json => builder.event_format(CloudLoggingJson).try_init(),
    };
    // A second call (tests) keeps the first subscriber.
    let _ = result;
    for (old, new) in crate::env_vars::RENAMED {
        if std::env::var_os(old).is_some() {
            tracing::warn!("{old} is no longer read: set {new} instead");
        }
    }
}

/// Formats events as Cloud Logging structured JSON.
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
        let line = json_line(event.metadata().level(), event.metadata().target(), |v| {
            event.record(v)
        });
        writeln!(writer, "{line}")
    }
}

fn json_line(level: &Level, target: &str, record: impl FnOnce(&mut FieldsToJson)) -> String {
    let mut fields = FieldsToJson::default();
    record(&mut fields);
    let mut object = Map::new();
    object.insert("severity".into(), severity(level).into());
    object.insert("message".into(), fields.message.unwrap_or_default().into());
    let now = time::OffsetDateTime::now_utc();
    let timestamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    object.insert("timestamp".into(), timestamp.into());
    object.insert("target".into(), target.into());
    object.extend(fields.fields);
    Value::Object(object).to_string()
}

fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

#[derive(Default)]
struct FieldsToJson {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl Visit for FieldsToJson {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

impl FieldsToJson {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().to_string(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_what_cloud_logging_reads() {
        let line = json_line(&Level::WARN, "flink_deploy", |v| {
            v.message = Some("savepoint slow".into());
            v.fields.insert("job".into(), "orders".into());
        });
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["severity"], "WARNING");
        assert_eq!(parsed["message"], "savepoint slow");
        assert_eq!(parsed["job"], "orders");
        let ts = parsed["timestamp"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok(),
            "{ts}"
        );
    }
}
