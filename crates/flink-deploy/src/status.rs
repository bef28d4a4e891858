//! `flink-deploy status`: the cluster's jobs at a glance, and with `--savepoint-dir` what the
//! savepoint layout holds for each of them (local and bucket roots alike).

use flink_rest::{FlinkClient, JobOverview};
use futures_util::stream::{self, StreamExt as _};
use savepoint_layout::SavepointLayout;
use serde::Serialize;

use crate::deploy::printable;
use crate::holdings::{exit_of, literal, Holdings};
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

/// What `status` prints.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The cluster's jobs (of `--job-name` only, when given), by name, newest first.
    pub jobs: Vec<JobStatus>,
    /// What the layout holds, with `--savepoint-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutStatus>,
    /// The job's release record, with `--savepoint-dir` and `--job-name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseStatus>,
}

/// The job's current and previous release, and who holds its lease.
#[derive(Debug, Serialize)]
pub struct ReleaseStatus {
    /// Where the record is.
    pub location: String,
    /// The current release (the previous one inside it, as `previous`).
    pub current: Option<savepoint_layout::ReleaseRecord>,
    /// The job's lease, when someone holds one (expired or not).
    pub lease: Option<savepoint_layout::LeaseInfo>,
}

/// What the layout holds for each job name of the cluster (and `--job-name`).
#[derive(Debug, Serialize)]
pub struct LayoutStatus {
    /// The layout's root.
    pub root: String,
    /// One entry per job name, by name.
    pub jobs: Vec<Holdings>,
}

/// The layout could not be listed for a job: exit 2 (its configuration) or 3 (the store).
#[derive(Debug, thiserror::Error)]
#[error("cannot list the savepoints of '{}' under {dir}: {cause}", printable(.job_name))]
pub struct Unlistable {
    /// The job's name.
    pub job_name: String,
    /// Its folder.
    pub dir: String,
    /// What the store said (no credentials in it).
    pub cause: savepoint_layout::LayoutError,
}

/// The cluster's jobs (those named `only`, when given) and, with a `layout`, what it holds for
/// each of their names (and `only`, even when the JobManager no longer knows it).
pub async fn status(
    client: &FlinkClient,
    only: Option<&str>,
    layout: Option<&SavepointLayout>,
) -> Result<Status, Failure> {
    let mut jobs = client
        .jobs()
        .await
        .map_err(|e| rest_failure("cannot list the cluster's jobs", e))?;
    if let Some(name) = only {
        jobs.retain(|j| j.name == name);
    }
    jobs.sort_by(|a, b| (&a.name, b.start_time).cmp(&(&b.name, a.start_time)));
    let mut names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    names.extend(only.map(str::to_string));
    names.sort();
    names.dedup();
    // `buffered` keeps the jobs' order.
    let out = stream::iter(jobs)
        .map(|job| job_status(client, job))
        .buffered(CONCURRENT_REQUESTS)
        .collect()
        .await;
    let release = match (layout, only) {
        (Some(layout), Some(name)) => Some(release(layout, name).await?),
        _ => None,
    };
    let layout = match layout {
        Some(layout) => Some(LayoutStatus {
            root: literal(layout.root()),
            jobs: holdings(layout, names).await?,
        }),
        None => None,
    };
    Ok(Status {
        jobs: out,
        layout,
        release,
    })
}

/// The job's release record and lease.
async fn release(layout: &SavepointLayout, name: &str) -> Result<ReleaseStatus, Failure> {
    let failed = |e: savepoint_layout::LayoutError| {
        Failure::new(
            exit_of(&e),
            anyhow::Error::new(e).context(format!(
                "cannot read the release record of '{}'",
                printable(name)
            )),
        )
    };
    Ok(ReleaseStatus {
        location: layout.release_location(name),
        current: layout.current_release(name).await.map_err(failed)?,
        lease: layout.lease(name).await.map_err(failed)?,
    })
}

/// What the layout holds for each of `names`; the first listing that fails ends `status`.
async fn holdings(layout: &SavepointLayout, names: Vec<String>) -> Result<Vec<Holdings>, Failure> {
    let now = time::OffsetDateTime::now_utc();
    stream::iter(names)
        .map(|name| async move {
            match layout.list(&name, now).await {
                Ok(listing) => Ok(Holdings::of(layout, &name, &listing)),
                Err(cause) => Err(Failure::new(
                    exit_of(&cause),
                    Unlistable {
                        dir: literal(&layout.job_dir(&name)),
                        job_name: name,
                        cause,
                    },
                )),
            }
        })
        .buffered(CONCURRENT_REQUESTS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
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

impl Status {
    /// The jobs' table, then the layout's.
    pub fn text(&self) -> String {
        let mut out = text(&self.jobs);
        if let Some(layout) = &self.layout {
            out.push_str("\n\n");
            out.push_str(&layout_text(layout));
        }
        if let Some(release) = &self.release {
            out.push_str("\n\n");
            out.push_str(&release_text(release));
        }
        out
    }
}

/// A unit enum as its JSON spelling (`deploy`, `running`).
fn word(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The current and previous release, one line each, and the lease.
fn release_text(release: &ReleaseStatus) -> String {
    let mut lines = vec![format!("releases under {}", printable(&release.location))];
    let line = |label: &str, r: &savepoint_layout::ReleaseRecord| {
        format!(
            "{label:<10} {} ({}) {} job {} jar {} (Flink {}) sha256 {} from {}",
            word(&r.kind),
            word(&r.intent),
            r.recorded_at,
            printable(&r.job_id),
            printable(&r.jar_file_name),
            r.flink_version,
            &r.jar_sha256[..r.jar_sha256.len().min(12)],
            printable(r.restored_from.as_deref().unwrap_or("empty state")),
        )
    };
    match &release.current {
        Some(current) => {
            lines.push(line("current", current));
            match current.previous.as_deref() {
                Some(previous) => lines.push(line("previous", previous)),
                None => lines.push(format!("{:<10} -", "previous")),
            }
        }
        None => lines
            .push("  (no release recorded: flink-deploy deploy --savepoint-dir writes one)".into()),
    }
    if let Some(lease) = &release.lease {
        lines.push(format!(
            "{:<10} held by {} until {}{}",
            "lease",
            printable(&lease.holder),
            lease.expires_at,
            if lease.expired { " (expired)" } else { "" }
        ));
    }
    lines.join("\n")
}

/// One line per job name: what the layout holds for it; then the savepoints set aside.
fn layout_text(layout: &LayoutStatus) -> String {
    let mut lines = vec![format!("savepoints under {}", printable(&layout.root))];
    if layout.jobs.is_empty() {
        lines.push("  (no job names to look for: pass --job-name)".into());
    }
    for held in &layout.jobs {
        lines.push(format!(
            "{:<24} {}",
            printable(&held.job_name),
            printable(&held.summary())
        ));
        for aside in &held.set_aside {
            lines.push(format!(
                "{:<24} set aside, never restored on their own: {} {}, newest {}",
                "",
                aside.count,
                aside.why,
                printable(&aside.newest)
            ));
        }
    }
    lines.join("\n")
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
