//! `flink-deploy status`: the cluster's jobs at a glance.

use flink_rest::FlinkClient;
use serde::Serialize;

use crate::outcome::{rest_failure, Failure};

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
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        // Jobs that never checkpointed answer without these; that is fine.
        let stats = client.checkpoints(&job.jid).await.ok();
        let path = |c: Option<flink_rest::CompletedCheckpoint>| c.and_then(|c| c.external_path);
        let (savepoint, checkpoint) = match stats {
            Some(s) => (path(s.latest.savepoint), path(s.latest.completed)),
            None => (None, None),
        };
        out.push(JobStatus {
            name: job.name,
            id: job.jid.to_string(),
            state: job.state.to_string(),
            start_time: format_millis(job.start_time),
            newest_savepoint: savepoint,
            newest_checkpoint: checkpoint,
        });
    }
    Ok(out)
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
        lines.push(format!(
            "{:<24} {:<32} {:<10} {:<24} {newest}",
            j.name, j.id, j.state, j.start_time
        ));
    }
    lines.join("\n")
}
