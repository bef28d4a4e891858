//! `scale`: a running job's parallelism changed in place, through the adaptive scheduler's
//! resource requirements (`PUT /jobs/{id}/resource-requirements`, Flink 1.18+). The scheduler
//! restarts the job's tasks from its latest checkpoint at the new parallelism: no redeploy, no
//! savepoint, the state carried on.
//!
//! Everything is checked before the one change: the version, the scheduler (another one than
//! the adaptive scheduler answers the requirements call with an error), the vertices and their
//! max parallelism, and a completed checkpoint to carry the state.

use std::collections::BTreeMap;
use std::time::Duration;

use flink_rest::{
    printable_name, FlinkClient, FlinkVersion, JobDetails, JobId, JobState, ParallelismBounds,
    ResourceRequirements, VertexRequirements,
};
use serde::Serialize;
use tokio::time::Instant;

use crate::outcome::{rest_failure, Exit, Failure};

/// The oldest Flink whose REST API takes resource requirements.
pub const OLDEST_RESCALABLE: FlinkVersion = FlinkVersion::new(1, 18, 0);

/// What to scale to.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Every vertex's parallelism, unless named in `vertices`.
    pub parallelism: Option<u32>,
    /// Vertex id or exact name, and its parallelism.
    pub vertices: Vec<(String, u32)>,
}

/// One vertex's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VertexChange {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its parallelism before.
    pub from: u32,
    /// Its parallelism asked for.
    pub to: u32,
}

/// What `scale` did.
#[derive(Debug, Serialize)]
pub struct ScaleReport {
    /// `scaled` or `unchanged`.
    pub outcome: &'static str,
    /// The exit code.
    pub exit_code: u8,
    /// The job's name.
    pub job_name: String,
    /// The job's id (it stays the same).
    pub job_id: String,
    /// Each vertex, before and after.
    pub vertices: Vec<VertexChange>,
    /// From the request to every task running at the new parallelism, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_running_ms: Option<u128>,
}

impl ScaleReport {
    /// Lines for people.
    pub fn text(&self) -> String {
        let mut lines = vec![format!(
            "{} ({}): {}",
            printable_name(&self.job_name),
            self.job_id,
            self.outcome
        )];
        for v in &self.vertices {
            lines.push(format!(
                "  {} {} -> {}",
                printable_name(&v.name),
                v.from,
                v.to
            ));
        }
        if let Some(ms) = self.until_running_ms {
            lines.push(format!("  running at it after {:.1}s", ms as f64 / 1000.0));
        }
        lines.join("\n")
    }
}

/// Each vertex's new parallelism, or why the target does not fit the job (nothing changed).
pub fn plan_changes(details: &JobDetails, target: &Target) -> Result<Vec<VertexChange>, String> {
    let mut wanted: BTreeMap<&str, u32> = BTreeMap::new();
    if let Some(p) = target.parallelism {
        for v in &details.vertices {
            wanted.insert(&v.id, p);
        }
    }
    for (key, p) in &target.vertices {
        let by_id: Vec<_> = details.vertices.iter().filter(|v| v.id == *key).collect();
        let matches = if by_id.is_empty() {
            details.vertices.iter().filter(|v| v.name == *key).collect()
        } else {
            by_id
        };
        match matches.as_slice() {
            [v] => {
                wanted.insert(&v.id, *p);
            }
            [] => {
                return Err(format!(
                    "the job has no vertex with the id or name {:?}; its vertices: {}",
                    printable_name(key),
                    vertex_list(details)
                ))
            }
            _ => {
                return Err(format!(
                    "more than one vertex is named {:?}: give its id ({})",
                    printable_name(key),
                    vertex_list(details)
                ))
            }
        }
    }
    if wanted.is_empty() {
        return Err("give --parallelism N or --vertex ID=N".into());
    }
    let mut changes = Vec::new();
    for v in &details.vertices {
        let to = wanted.get(v.id.as_str()).copied().unwrap_or(v.parallelism);
        if let Some(max) = v.max_parallelism.filter(|max| to > *max) {
            return Err(format!(
                "vertex {} ({}) can run at most at parallelism {max} (its max parallelism, the \
                 number of key groups), not {to}",
                printable_name(&v.name),
                v.id
            ));
        }
        changes.push(VertexChange {
            id: v.id.clone(),
            name: v.name.clone(),
            from: v.parallelism,
            to,
        });
    }
    Ok(changes)
}

fn vertex_list(details: &JobDetails) -> String {
    details
        .vertices
        .iter()
        .map(|v| format!("{} = {:?}", v.id, printable_name(&v.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The requirements to send: each vertex's upper bound set to its new parallelism, its lower
/// bound kept (a job that got fewer slots still runs), but never above the upper.
pub fn new_requirements(
    current: &ResourceRequirements,
    changes: &[VertexChange],
) -> ResourceRequirements {
    changes
        .iter()
        .map(|c| {
            let lower = current
                .get(&c.id)
                .map_or(1, |r| r.parallelism.lower_bound)
                .clamp(1, c.to);
            let bounds = ParallelismBounds {
                lower_bound: lower,
                upper_bound: c.to,
            };
            (
                c.id.clone(),
                VertexRequirements {
                    parallelism: bounds,
                },
            )
        })
        .collect()
}

/// Rescales the running job named `job_name` to `target` and waits until it runs at it.
pub async fn scale(
    client: &FlinkClient,
    job_name: &str,
    target: &Target,
    timeout: Duration,
    allow_without_checkpoint: bool,
) -> Result<ScaleReport, Failure> {
    let version = client.version().await.map_err(|e| {
        let doing = match e {
            flink_rest::Error::UnsupportedVersion { .. } => "cannot scale on this JobManager",
            _ => "cannot reach the JobManager",
        };
        rest_failure(doing, e)
    })?;
    if version < OLDEST_RESCALABLE {
        return Err(Failure::msg(
            Exit::NotRescalable,
            format!(
                "Flink {version} cannot rescale a job in place (resource requirements came with \
                 Flink {OLDEST_RESCALABLE}); nothing was changed. Redeploy at the new parallelism \
                 instead: flink-deploy deploy --parallelism N"
            ),
        ));
    }
    let job = running_job(client, job_name).await?;
    let details = client
        .job(&job)
        .await
        .map_err(|e| rest_failure("cannot read the job", e))?;
    // Another scheduler than the adaptive one answers with an UnsupportedOperationException.
    let current = client.resource_requirements(&job).await.map_err(|e| {
        refusal(
            job_name,
            &job,
            "cannot read the job's resource requirements",
            e,
        )
    })?;
    // The scheduler is known by what it does: the adaptive one takes its own requirements back
    // unchanged (nothing moves), the default one (and reactive mode) refuses any, with a message
    // of its own. Asked before anything else is checked, so its refusal is the answer.
    client
        .set_resource_requirements(&job, &current)
        .await
        .map_err(|e| refusal(job_name, &job, "cannot check the job's scheduler", e))?;
    let changes = plan_changes(&details, target).map_err(|m| {
        Failure::msg(
            Exit::Usage,
            format!(
                "cannot scale job {job} ({}): {m}; nothing was changed",
                printable_name(job_name)
            ),
        )
    })?;
    let requirements = new_requirements(&current, &changes);
    let mut report = ScaleReport {
        outcome: "unchanged",
        exit_code: 0,
        job_name: job_name.to_string(),
        job_id: job.to_string(),
        vertices: changes.clone(),
        until_running_ms: None,
    };
    if changes.iter().all(|c| c.from == c.to) && requirements == current {
        tracing::info!(job = %job, "the job already runs at that parallelism; nothing to do");
        return Ok(report);
    }
    if !allow_without_checkpoint {
        require_checkpoint(client, &job, job_name).await?;
    }
    let shown: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {} -> {}", printable_name(&c.name), c.from, c.to))
        .collect();
    tracing::info!(job = %job, changes = %shown.join(", "), "setting the job's resource requirements");
    let started = Instant::now();
    client
        .set_resource_requirements(&job, &requirements)
        .await
        .map_err(|e| {
            refusal(
                job_name,
                &job,
                "cannot set the job's resource requirements",
                e,
            )
        })?;
    let wanted: BTreeMap<String, u32> = changes.iter().map(|c| (c.id.clone(), c.to)).collect();
    wait_at(client, &job, job_name, &wanted, timeout).await?;
    report.outcome = "scaled";
    report.until_running_ms = Some(started.elapsed().as_millis());
    tracing::info!(job = %job, "the job runs at its new parallelism");
    Ok(report)
}

/// The one RUNNING job named exactly `name`.
async fn running_job(client: &FlinkClient, name: &str) -> Result<JobId, Failure> {
    let jobs = client
        .jobs_named(name)
        .await
        .map_err(|e| rest_failure("cannot list the jobs", e))?;
    let running: Vec<_> = jobs
        .iter()
        .filter(|j| j.state == JobState::Running)
        .collect();
    match running.as_slice() {
        [one] => Ok(one.jid.clone()),
        [] => Err(Failure::msg(
            Exit::Usage,
            format!(
                "no running job is named {:?}; nothing was changed",
                printable_name(name)
            ),
        )),
        many => Err(Failure::msg(
            Exit::Usage,
            format!(
                "{} running jobs are named {:?} ({}); nothing was changed",
                many.len(),
                printable_name(name),
                many.iter()
                    .map(|j| j.jid.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// A failed requirements call: Flink's refusal (exit 14), or no answer (exit 3).
fn refusal(job_name: &str, job: &JobId, doing: &str, e: flink_rest::Error) -> Failure {
    if e.is_transient() {
        rest_failure(doing, e)
    } else {
        not_rescalable(job_name, job, e)
    }
}

/// Flink refused the requirements call: another scheduler than the adaptive one.
fn not_rescalable(job_name: &str, job: &JobId, e: flink_rest::Error) -> Failure {
    Failure::new(
        Exit::NotRescalable,
        anyhow::Error::new(e).context(format!(
            "job {job} ({}) cannot be rescaled in place: only the adaptive scheduler \
             (jobmanager.scheduler: adaptive, the elastic profile) takes resource requirements; \
             nothing was changed. Redeploy at the new parallelism instead: flink-deploy deploy \
             --parallelism N",
            printable_name(job_name)
        )),
    )
}

/// A rescale restarts the job's tasks from its latest checkpoint: without one, its state is gone.
async fn require_checkpoint(client: &FlinkClient, job: &JobId, name: &str) -> Result<(), Failure> {
    let stats = client
        .checkpoints(job)
        .await
        .map_err(|e| rest_failure("cannot read the job's checkpoints", e))?;
    if stats.counts.completed > 0 {
        return Ok(());
    }
    Err(Failure::msg(
        Exit::Usage,
        format!(
            "job {job} ({}) has no completed checkpoint: a rescale restarts its tasks from the \
             latest one, so its state would be lost; nothing was changed. Enable checkpointing \
             (or wait for the first), or pass --allow-without-checkpoint for a stateless job",
            printable_name(name)
        ),
    ))
}

const POLL: Duration = Duration::from_millis(250);

/// Waits until every vertex runs at `wanted` with all its tasks.
async fn wait_at(
    client: &FlinkClient,
    job: &JobId,
    name: &str,
    wanted: &BTreeMap<String, u32>,
    timeout: Duration,
) -> Result<(), Failure> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("not read yet");
    loop {
        match tokio::time::timeout_at(deadline, client.job(job)).await {
            Ok(Ok(details)) => {
                let at_target = details
                    .vertices
                    .iter()
                    .all(|v| wanted.get(&v.id).is_none_or(|p| *p == v.parallelism));
                if at_target && details.all_tasks_running() {
                    return Ok(());
                }
                if details.state.is_terminal() {
                    let cause = client.last_failure(job).await.ok().flatten();
                    return Err(Failure::msg(
                        Exit::Failure,
                        format!(
                            "job {job} ({}) went {} while rescaling{}",
                            printable_name(name),
                            details.state,
                            cause.map(|c| format!(": {c}")).unwrap_or_default()
                        ),
                    ));
                }
                last = details
                    .vertices
                    .iter()
                    .map(|v| {
                        format!(
                            "{} at {} ({:?})",
                            printable_name(&v.name),
                            v.parallelism,
                            v.tasks
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                last = format!("job {}: {last}", details.state);
            }
            Ok(Err(e)) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot read the job's state; retrying")
            }
            Ok(Err(e)) => return Err(rest_failure("cannot read the job while rescaling", e)),
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return Err(Failure::msg(
                Exit::ScaleTimeout,
                format!(
                    "job {job} ({}) did not run at its new parallelism within {} ({last}). Its \
                     resource requirements are set: the adaptive scheduler runs it at the most \
                     the free slots allow and scales it up when more arrive. Add TaskManagers, or \
                     scale it back with flink-deploy scale",
                    printable_name(name),
                    humantime::format_duration(timeout)
                ),
            ));
        }
        tokio::time::sleep_until((Instant::now() + POLL).min(deadline)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details() -> JobDetails {
        serde_json::from_value(serde_json::json!({
            "jid": "0123456789abcdef0123456789abcdef",
            "name": "orders",
            "state": "RUNNING",
            "start-time": 1,
            "vertices": [
                {"id": "a".repeat(32), "name": "Source: source", "parallelism": 1,
                 "maxParallelism": 128, "status": "RUNNING"},
                {"id": "b".repeat(32), "name": "counter", "parallelism": 2,
                 "maxParallelism": 4, "status": "RUNNING"},
            ]
        }))
        .unwrap()
    }

    fn target(parallelism: Option<u32>, vertices: &[(&str, u32)]) -> Target {
        Target {
            parallelism,
            vertices: vertices.iter().map(|(k, p)| (k.to_string(), *p)).collect(),
        }
    }

    #[test]
    fn every_vertex_or_named_ones() {
        let all = plan_changes(&details(), &target(Some(3), &[])).unwrap();
        assert_eq!(
            all.iter().map(|c| (c.from, c.to)).collect::<Vec<_>>(),
            [(1, 3), (2, 3)]
        );
        let one = plan_changes(&details(), &target(None, &[("counter", 4)])).unwrap();
        assert_eq!(
            one.iter().map(|c| (c.from, c.to)).collect::<Vec<_>>(),
            [(1, 1), (2, 4)]
        );
        let by_id = plan_changes(&details(), &target(Some(2), &[(&"a".repeat(32), 1)])).unwrap();
        assert_eq!(
            by_id.iter().map(|c| c.to).collect::<Vec<_>>(),
            [1, 2],
            "a vertex named wins over --parallelism"
        );
    }

    #[test]
    fn bad_targets_are_refused_with_what_to_do() {
        let e = plan_changes(&details(), &target(None, &[("sink", 2)])).unwrap_err();
        assert!(e.contains("no vertex with the id or name \"sink\""), "{e}");
        assert!(e.contains("counter"), "{e}");
        let e = plan_changes(&details(), &target(Some(5), &[])).unwrap_err();
        assert!(e.contains("at most at parallelism 4"), "{e}");
        let mut twice = details();
        twice.vertices[0].name = "counter".into();
        let e = plan_changes(&twice, &target(None, &[("counter", 2)])).unwrap_err();
        assert!(e.contains("more than one vertex"), "{e}");
        assert!(plan_changes(&details(), &target(None, &[])).is_err());
    }

    #[test]
    fn requirements_keep_the_lower_bound_below_the_new_upper() {
        let changes = plan_changes(&details(), &target(Some(1), &[])).unwrap();
        let current: ResourceRequirements = changes
            .iter()
            .map(|c| {
                let bounds = ParallelismBounds {
                    lower_bound: 2,
                    upper_bound: 2,
                };
                (
                    c.id.clone(),
                    VertexRequirements {
                        parallelism: bounds,
                    },
                )
            })
            .collect();
        let new = new_requirements(&current, &changes);
        for r in new.values() {
            assert_eq!(
                r.parallelism,
                ParallelismBounds {
                    lower_bound: 1,
                    upper_bound: 1
                }
            );
        }
        let up = plan_changes(&details(), &target(Some(3), &[("counter", 4)])).unwrap();
        let new = new_requirements(&ResourceRequirements::new(), &up);
        assert_eq!(new[&"b".repeat(32)].parallelism.upper_bound, 4);
        assert_eq!(new[&"b".repeat(32)].parallelism.lower_bound, 1);
    }
}
