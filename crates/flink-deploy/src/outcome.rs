//! Exit codes, failures and the report printed at the end.

use std::time::Duration;

use serde::Serialize;

flink_ops_cli::exit_codes! {
    /// How `flink-deploy` ends (`--help` and the README show this table).
    pub enum Exit {
        /// Rolled back.
        RolledBack = 5 => "the new release was unhealthy and was rolled back (the message names the savepoint)",
        /// Manual action needed.
        ManualAction = 6 => "manual action needed: rollback failed or was disabled (the message says what to run)",
        /// A stop with a savepoint outlived `--savepoint-timeout` and as long again of watching.
        StopUndecided = 7 => "the stop with a savepoint was still in flight; the message says what to check and run",
        /// SIGTERM or SIGINT.
        Interrupted = 8 => "interrupted by SIGTERM or SIGINT; the message says where things stand and what to run",
        /// The preflight (`/jars/{id}/plan`) could not build the new release's job graph.
        InvalidRelease = 9 => "the new release is invalid (its job graph cannot be built); nothing was stopped",
        /// Another deploy, rollback, stop or recovery of the job holds its lease.
        InProgress = 12 => "another deploy, rollback, stop or recovery holds the job's lease; nothing changed",
        /// The job runs (or stopped, for `stop`), but its release record could not be written.
        RecordNotWritten = 13 => "done, the job as reported, but its release record could not be written",
        /// `scale`: the cluster cannot rescale in place (Flink before 1.18, or not the adaptive scheduler).
        NotRescalable = 14 => "scale: cannot rescale in place (Flink < 1.18, not adaptive scheduler); nothing changed",
        /// `scale`: the job did not run at the new parallelism in time.
        ScaleTimeout = 15 => "scale: not at the new parallelism in --timeout (too few slots?); the bounds stay set",
    }
}

/// Why a command stopped early: its exit code and the error chain.
pub type Failure = flink_ops_cli::Failure<Exit>;

/// A REST error of a step that changes nothing yet: the JobManager is
/// unreachable or answered unexpectedly (exit 3).
pub fn rest_failure(doing: &str, e: flink_rest::Error) -> Failure {
    Failure::new(
        Exit::Unreachable,
        anyhow::Error::new(e).context(doing.to_string()),
    )
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
    /// The jar a rollback ran: the release the old job was started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_jar: Option<String>,
    /// True when the release record was written after the deploy or rollback, false when that
    /// failed (absent without `--savepoint-dir`, or when nothing ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_recorded: Option<bool>,
    /// Rescales of the adaptive scheduler during the health watch (absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescales: Option<u32>,
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
    /// The update's downtime by the JobManager's own clock: from its trigger of the stop's
    /// savepoint to the last subtask of the new job running. Left out when Flink's records of
    /// either could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downtime: Option<u128>,
    /// The same span as flink-deploy saw it through the REST API: from its stop request to its
    /// first view of every task running, which lags by up to `web.refresh-interval` (3 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_downtime: Option<u128>,
}

pub fn ms(d: Duration) -> Option<u128> {
    Some(d.as_millis())
}

impl Report {
    pub fn text(&self) -> String {
        let mut lines = vec![format!(
            "{}: {}",
            crate::deploy::printable(&self.job_name),
            self.outcome
        )];
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
        field("rollback jar", &self.rollback_jar);
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
            timing("observed downtime", t.observed_downtime),
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
