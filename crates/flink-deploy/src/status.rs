//! `flink-deploy status`: the cluster's jobs at a glance.

use flink_rest::{FlinkClient, JobOverview};
use futures_util::stream::{self, StreamExt as _};
use serde::Serialize;

use crate::deploy::printable;
use crate::outcome::{rest_failure, Failure};

/// Checkpoint statistics asked for at once: thousands of jobs in seconds, without flooding the
/// JobManager.
const CONCURRENT_REQUESTS: usize = 16;

#[derive(Debug, Serialize)]
pub struct JobStatus {
    pub name: String,
    pub id: String,
    pub state: String,
    pub start_time: String,
    pub newest_savepoint: Option<String>,
    pub newest_checkpoint: Option<String>,
}

pub async fn status(client: &FlinkClient) -> Result<Vec<JobStatus>, Failure> {
    let mut jobs = client
        .jobs()
        .await
        .map_err(|e| rest_failure("cannot list the cluster's jobs", e))?;
    jobs.sort_by(|a, b| (&a.name, b.start_time).cmp(&(&b.name, a.start_time)));
    // `buffered` keeps the jobs' order.
    let out = stream::iter(jobs)
        .map(|job| job_status(client, job))
        .buffered(CONCURRENT_REQUESTS)
        .collect()
        .await;
    Ok(out)
}

async fn job_status(client: &FlinkClient, job: JobOverview) -> JobStatus {
    // Jobs that never checkpointed answer without these; that is fine.
    let stats = client.checkpoints(&job.jid).await.ok();
    let path = |c: Option<flink_rest::CompletedCheckpoint>| c.and_then(|c| c.external_path);
    let (savepoint, checkpoint) = match stats {
        Some(s) => (path(s.latest.savepoint), path(s.latest.completed)),
        None => (None, None),
    };
    JobStatus {
        name: job.name,
        id: job.jid.to_string(),
        state: job.state.to_string(),
        start_time: format_millis(job.start_time),
        newest_savepoint: savepoint,
        newest_checkpoint: checkpoint,
    }
}

fn format_millis(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

pub fn text(jobs: &[JobStatus]) -> String {
    if jobs.is_empty() {
        return "no jobs".into();
    }
    let mut lines = vec![format!(
        "{:<24} {:<32} {:<10} {:<24} {}",
        "NAME", "ID", "STATE", "STARTED", "NEWEST SAVEPOINT / CHECKPOINT"
    )];
    for j in jobs {
        let newest = j
            .newest_savepoint
            .as_deref()
            .or(j.newest_checkpoint.as_deref())
            .unwrap_or("-");
        // Names, states and paths come from the JobManager: one job, one line.
        lines.push(format!(
            "{:<24} {:<32} {:<10} {:<24} {}",
            printable(&j.name),
            printable(&j.id),
            printable(&j.state),
            j.start_time,
            printable(newest)
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_a_newline_stays_on_its_line() {
        let job = JobStatus {
            name: "orders\nforged-job 00000000000000000000000000000000 RUNNING".into(),
            id: "a".repeat(32),
            state: "RUNNING".into(),
            start_time: "2026-12-01T08:00:00Z".into(),
            newest_savepoint: Some("file:/sp/x\ny".into()),
            newest_checkpoint: None,
        };
        let out = text(&[job]);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.contains("orders\\nforged-job"), "{out}");
        assert!(out.ends_with("file:/sp/x\\ny"), "{out}");
    }
}
