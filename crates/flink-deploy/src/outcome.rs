//! Exit codes, failures and the report printed at the end.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

/// The documented exit codes (see `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exit {
    /// Deployed.
    Deployed = 0,
    /// Invalid input or an ambiguous situation; nothing was touched.
    Invalid = 2,
    /// The JobManager is unreachable or answered unexpectedly.
    Unreachable = 3,
    /// The savepoint failed; the old job still runs.
    SavepointFailed = 4,
    /// The new version was unhealthy and was rolled back.
    RolledBack = 5,
    /// Manual action needed.
    ManualAction = 6,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Why a command stopped early: its exit code and a message for a person.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Exit::Invalid, message)
    }
}

/// A REST error of a step that changes nothing yet: the JobManager is
/// unreachable or answered unexpectedly (exit 3).
pub fn rest_failure(doing: &str, e: flink_rest::Error) -> Failure {
    Failure::new(Exit::Unreachable, format!("{doing}: {e}"))
}

/// What happened, for people (text) and CI (JSON).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub outcome: &'static str,
    pub exit_code: u8,
    pub job_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_job_id: Option<String>,
    /// The savepoint taken when stopping the old job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savepoint: Option<String>,
    /// What the new job restored from (the savepoint above, or one found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jar_id: Option<String>,
    /// The job that runs after a rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_job_id: Option<String>,
    pub timings_ms: Timings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Durations of the steps, in milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Timings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<u128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savepoint: Option<u128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submission: Option<u128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_running: Option<u128>,
    /// From the stop request to the new job running with all its tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downtime: Option<u128>,
}

pub fn ms(d: Duration) -> Option<u128> {
    Some(d.as_millis())
}

impl Report {
    pub fn text(&self) -> String {
        let mut lines = vec![format!("{}: {}", self.job_name, self.outcome)];
        let mut field = |label: &str, value: &Option<String>| {
            if let Some(v) = value {
                lines.push(format!("  {label:<14} {v}"));
            }
        };
        field("old job", &self.old_job_id);
        field("savepoint", &self.savepoint);
        field("restored from", &self.restored_from);
        field("new job", &self.new_job_id);
        field("rollback job", &self.rollback_job_id);
        field("jar", &self.jar_id);
        let t = &self.timings_ms;
        let timing =
            |label: &str, v: Option<u128>| v.map(|v| format!("{label} {:.1}s", v as f64 / 1000.0));
        let timings: Vec<String> = [
            timing("upload", t.upload),
            timing("savepoint", t.savepoint),
            timing("submission", t.submission),
            timing("until running", t.until_running),
            timing("downtime", t.downtime),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !timings.is_empty() {
            lines.push(format!("  {:<14} {}", "timings", timings.join(", ")));
        }
        lines.join("\n")
    }
}
