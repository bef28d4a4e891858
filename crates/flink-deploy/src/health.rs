//! Is the new job healthy? Running with all its tasks, then no failure for
//! a while (and, if asked, one completed checkpoint). A rescale of the
//! adaptive scheduler is not a failure: see [`check`].
//!
//! Every wait here has an overall deadline that a slow or retried request
//! cannot overrun: each request is cut off at the deadline.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use flink_rest::{printable_name, FlinkClient, JobDetails, JobId, JobState};
use tokio::time::Instant;

/// How a job that started looks after the checks.
#[derive(Debug)]
pub struct Healthy {
    /// From the submission to all tasks running.
    pub until_running: Duration,
    /// How often the adaptive scheduler rescaled it while it was watched (a restart at
    /// another parallelism that left no failure in Flink's exception history).
    pub rescales: u32,
}

/// Why a job is not healthy.
#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    /// It failed (or is failing, or ended) before all its tasks ran.
    #[error("it is {state}{}", because(.cause))]
    Failed {
        /// Its state.
        state: JobState,
        /// Flink's failure cause, if it has one.
        cause: Option<String>,
    },
    /// It failed before all its tasks ran, and Flink restarts it.
    #[error("it failed while starting (job state {state}, {}){}", failures_text(.failures), because(.cause))]
    FailedStarting {
        /// Its state.
        state: JobState,
        /// The failures in its exception history.
        failures: Failures,
        /// Flink's failure cause.
        cause: Option<String>,
    },
    /// Its tasks did not all run in time.
    #[error("its tasks were not all running after {} (job state {}){}",
        humantime::format_duration(*.waited),
        .state.as_ref().map_or("unknown", JobState::as_str),
        because(.cause))]
    NotRunningInTime {
        /// How long it was given.
        waited: Duration,
        /// Its state then, if it could be read.
        state: Option<JobState>,
        /// Flink's failure cause, if it has one.
        cause: Option<String>,
    },
    /// It left RUNNING for good while being watched.
    #[error("it went {state} while being watched{}", because(.cause))]
    StoppedRunning {
        /// Its state.
        state: JobState,
        /// Flink's failure cause, if it has one.
        cause: Option<String>,
    },
    /// It failed while being watched, even if it recovered: Flink's exception history has it.
    #[error("it failed while being watched ({}){}", failures_text(.failures), because(.cause))]
    FailedWhileWatched {
        /// The failures in its exception history.
        failures: Failures,
        /// Flink's failure cause.
        cause: Option<String>,
    },
    /// It restarted without a failure (a rescale) and did not run all its tasks again in time.
    #[error("it restarted without a failure (a rescale) while being watched and its tasks were not all running again {} after the watch began (job state {})",
        humantime::format_duration(*.waited),
        .state.as_ref().map_or("unknown", JobState::as_str))]
    NotRunningAgain {
        /// How long it was given.
        waited: Duration,
        /// Its state then, if it could be read.
        state: Option<JobState>,
    },
    /// `--require-checkpoint` and none completed in time.
    #[error("no checkpoint completed within {} of it running", humantime::format_duration(*.waited))]
    NoCheckpoint {
        /// How long it was given.
        waited: Duration,
    },
    /// Its state cannot be read (not a passing outage: retried ones are waited out).
    #[error("cannot read its state: {0}")]
    Unreadable(flink_rest::Error),
}

/// How many failures a job's exception history holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// The entries Flink returned.
    pub count: usize,
    /// Whether Flink left older ones out (`web.exception-history-size`).
    pub truncated: bool,
}

fn failures_text(f: &Failures) -> String {
    let more = if f.truncated { " or more" } else { "" };
    format!("{}{more} failure(s) in Flink's exception history", f.count)
}

fn because(cause: &Option<String>) -> String {
    cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default()
}

const POLL: Duration = Duration::from_millis(250);
/// What a last look at a job that did not make it may take.
const LAST_LOOK: Duration = Duration::from_secs(5);

/// `request`, cut off at `deadline` (`None` then).
async fn until<T>(deadline: Instant, request: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout_at(deadline, request).await.ok()
}

/// Waits until every task of `job` runs, within `startup_timeout`. A failure it recovers
/// from on the way is not held against it (see [`wait_started`] for a new release).
pub async fn wait_running(
    client: &FlinkClient,
    job: &JobId,
    startup_timeout: Duration,
) -> Result<Duration, Unhealthy> {
    wait(client, job, startup_timeout, false).await
}

/// Waits until every task of the new job `job` runs, within `startup_timeout`; any failure in
/// its exception history on the way is unhealthy, with Flink's cause, without waiting for the
/// timeout (a restart strategy may retry a broken release for ever).
pub async fn wait_started(
    client: &FlinkClient,
    job: &JobId,
    startup_timeout: Duration,
) -> Result<Duration, Unhealthy> {
    wait(client, job, startup_timeout, true).await
}

async fn wait(
    client: &FlinkClient,
    job: &JobId,
    startup_timeout: Duration,
    failures_count: bool,
) -> Result<Duration, Unhealthy> {
    let start = Instant::now();
    let deadline = start + startup_timeout;
    loop {
        match until(deadline, client.job(job)).await {
            Some(Ok(details)) if details.all_tasks_running() => return Ok(start.elapsed()),
            Some(Ok(details))
                if details.state.is_terminal() || details.state == JobState::Failing =>
            {
                return Err(Unhealthy::Failed {
                    state: details.state,
                    cause: cause(client, job).await,
                });
            }
            Some(Ok(details)) if failures_count => {
                match until(deadline, failures(client, job)).await {
                    Some(Ok(Some(failures))) => {
                        return Err(Unhealthy::FailedStarting {
                            state: details.state,
                            failures: failures.0,
                            cause: failures.1,
                        });
                    }
                    // Unreadable for now: the next round asks again.
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "cannot read the job's exception history; retrying")
                    }
                    Some(Ok(None)) | None => {}
                }
            }
            Some(Ok(_)) | None => {}
            Some(Err(e)) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot read the job's state; retrying")
            }
            Some(Err(e)) => return Err(Unhealthy::Unreadable(e)),
        }
        if Instant::now() >= deadline {
            let state = until(Instant::now() + LAST_LOOK, client.job(job))
                .await
                .and_then(Result::ok)
                .map(|d| d.state);
            return Err(Unhealthy::NotRunningInTime {
                waited: startup_timeout,
                state,
                cause: cause(client, job).await,
            });
        }
        tokio::time::sleep_until((Instant::now() + POLL).min(deadline)).await;
    }
}

/// Each vertex's parallelism (by id, with its name).
fn parallelism(details: &JobDetails) -> BTreeMap<String, (String, u32)> {
    details
        .vertices
        .iter()
        .map(|v| (v.id.clone(), (v.name.clone(), v.parallelism)))
        .collect()
}

/// `counter 1 -> 2, source 1 -> 2`: the vertices whose parallelism changed.
fn rescale_text(
    before: &BTreeMap<String, (String, u32)>,
    after: &BTreeMap<String, (String, u32)>,
) -> String {
    after
        .iter()
        .filter_map(|(id, (name, p))| {
            let old = before.get(id).map(|(_, p)| *p);
            (old != Some(*p)).then(|| {
                let old = old.map_or("-".to_string(), |o| o.to_string());
                format!("{} {old} -> {p}", printable_name(name))
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the whole health check: running within `startup_timeout`, then `stable_for` without
/// a failure, and a completed checkpoint if required.
///
/// Failures and rescales are told apart by Flink's own records: a failure (a task's
/// exception, a lost TaskManager) leaves an entry in the job's exception history, even when
/// the job recovers from it; a rescale of the adaptive scheduler (a TaskManager joined)
/// restarts the job without one and it runs again at another parallelism. A rescale is
/// logged and waited out (the check ends with every task running); a failure is unhealthy.
pub async fn check(
    client: &FlinkClient,
    job: &JobId,
    startup_timeout: Duration,
    stable_for: Duration,
    require_checkpoint: bool,
) -> Result<Healthy, Unhealthy> {
    let until_running = wait_started(client, job, startup_timeout).await?;
    tracing::info!(job = %job, "all tasks running after {:.1}s; watching it for {}", until_running.as_secs_f64(), humantime::format_duration(stable_for));
    let watch_start = Instant::now();
    // A required checkpoint, or a rescale, may take longer than the stable period.
    let give_up = watch_start + stable_for + startup_timeout;
    let mut last_running: Option<BTreeMap<String, (String, u32)>> = None;
    let mut rescales = 0;
    let mut restarting_logged = false;
    let mut checkpointed = !require_checkpoint;
    loop {
        let mut running = None;
        match until(give_up, client.job(job)).await {
            Some(Ok(d)) if d.state.is_terminal() || d.state == JobState::Failing => {
                return Err(Unhealthy::StoppedRunning {
                    state: d.state,
                    cause: cause(client, job).await,
                });
            }
            Some(Ok(d)) => running = Some(d),
            None => {}
            Some(Err(e)) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot read the job's state; retrying")
            }
            Some(Err(e)) => return Err(Unhealthy::Unreadable(e)),
        }
        // Read after the state: a job seen running again has its failure recorded by then.
        match until(give_up, failures(client, job)).await {
            Some(Ok(Some((failures, cause)))) => {
                return Err(Unhealthy::FailedWhileWatched { failures, cause })
            }
            Some(Ok(None)) => {}
            Some(Err(e)) if !e.is_transient() => return Err(Unhealthy::Unreadable(e)),
            // Unreadable for now: no verdict either way, and never healthy on it.
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the job's exception history; retrying");
                running = None;
            }
            None => running = None,
        }
        let all_running = match &running {
            Some(d) if d.all_tasks_running() => {
                let now = parallelism(d);
                match &last_running {
                    Some(before) if *before != now => {
                        rescales += 1;
                        tracing::info!(job = %job, "rescaled by the adaptive scheduler while being watched, not a failure (Flink's exception history has none): {}", rescale_text(before, &now));
                    }
                    _ => {}
                }
                last_running = Some(now);
                restarting_logged = false;
                true
            }
            Some(d) => {
                if !restarting_logged && last_running.is_some() {
                    tracing::info!(job = %job, state = %d.state, "not all its tasks run, with no failure in Flink's exception history (a rescale?): waiting for them to run again");
                    restarting_logged = true;
                }
                false
            }
            None => false,
        };
        if !checkpointed {
            // Once is enough: a rescale may start the checkpoint counts again.
            checkpointed = until(give_up, completed_checkpoints(client, job))
                .await
                .unwrap_or(0)
                > 0;
        }
        let stable = watch_start.elapsed() >= stable_for;
        if stable && checkpointed && all_running {
            return Ok(Healthy {
                until_running,
                rescales,
            });
        }
        if Instant::now() >= give_up {
            let waited = stable_for + startup_timeout;
            if !all_running {
                return Err(Unhealthy::NotRunningAgain {
                    waited,
                    state: running.map(|d| d.state),
                });
            }
            return Err(Unhealthy::NoCheckpoint { waited });
        }
        let pause = Duration::from_secs(1).min(stable_for.max(POLL));
        tokio::time::sleep_until((Instant::now() + pause).min(give_up)).await;
    }
}

/// The failures in `job`'s exception history, with the cause to show: the first one's (a
/// restart strategy repeats it) and, when it differs, the newest one's. `None` when there are
/// none.
async fn failures(
    client: &FlinkClient,
    job: &JobId,
) -> flink_rest::Result<Option<(Failures, Option<String>)>> {
    // Asked for one entry on every poll; for all of them only when there is one.
    let Some(newest) = client
        .exceptions(job, Some(1))
        .await?
        .entries
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let all = client.exceptions(job, None).await.ok();
    let (count, truncated, first) = match &all {
        Some(h) if !h.entries.is_empty() => (h.entries.len(), h.truncated, h.entries.last()),
        _ => (1, true, None),
    };
    let newest_text = newest.summary();
    let cause = match first.map(|f| f.summary()) {
        Some(first) if first != newest_text => format!("{first}; the newest: {newest_text}"),
        _ => newest_text,
    };
    Ok(Some((Failures { count, truncated }, Some(cause))))
}

async fn completed_checkpoints(client: &FlinkClient, job: &JobId) -> u64 {
    client
        .checkpoints(job)
        .await
        .map(|c| c.counts.completed)
        .unwrap_or(0)
}

/// Flink's failure cause of `job`, when it has one (asked briefly: it only adds detail).
async fn cause(client: &FlinkClient, job: &JobId) -> Option<String> {
    match until(Instant::now() + LAST_LOOK, client.last_failure(job)).await {
        Some(Ok(cause)) => cause,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rescale_names_the_vertices_whose_parallelism_changed() {
        let map = |pairs: &[(&str, &str, u32)]| {
            pairs
                .iter()
                .map(|(id, name, p)| (id.to_string(), (name.to_string(), *p)))
                .collect::<BTreeMap<_, _>>()
        };
        let before = map(&[
            ("a", "Source: source", 1),
            ("b", "counter", 1),
            ("c", "sink", 4),
        ]);
        let after = map(&[
            ("a", "Source: source", 2),
            ("b", "counter", 2),
            ("c", "sink", 4),
        ]);
        assert_eq!(
            rescale_text(&before, &after),
            "Source: source 1 -> 2, counter 1 -> 2"
        );
        let added = map(&[("d", "new\nline", 3)]);
        assert_eq!(rescale_text(&before, &added), "new\\nline - -> 3");
    }

    #[test]
    fn messages_name_the_state_and_flinks_cause() {
        let failed = Unhealthy::Failed {
            state: JobState::Failed,
            cause: Some("java.lang.IllegalStateException: broken release".into()),
        };
        assert_eq!(
            failed.to_string(),
            "it is FAILED: java.lang.IllegalStateException: broken release"
        );
        let late = Unhealthy::NotRunningInTime {
            waited: Duration::from_secs(90),
            state: None,
            cause: None,
        };
        assert_eq!(
            late.to_string(),
            "its tasks were not all running after 1m 30s (job state unknown)"
        );
        let failed = Unhealthy::FailedWhileWatched {
            failures: Failures {
                count: 2,
                truncated: false,
            },
            cause: Some("java.lang.IllegalStateException: once (in task counter (1/1)#0)".into()),
        };
        assert_eq!(
            failed.to_string(),
            "it failed while being watched (2 failure(s) in Flink's exception history): \
             java.lang.IllegalStateException: once (in task counter (1/1)#0)"
        );
        let starting = Unhealthy::FailedStarting {
            state: JobState::Restarting,
            failures: Failures {
                count: 16,
                truncated: true,
            },
            cause: Some("x".into()),
        };
        assert_eq!(
            starting.to_string(),
            "it failed while starting (job state RESTARTING, 16 or more failure(s) in Flink's exception history): x"
        );
    }
}
