//! Is the new job healthy? Running with all its tasks, then no restart for
//! a while (and, if asked, one completed checkpoint).
//!
//! Every wait here has an overall deadline that a slow or retried request
//! cannot overrun: each request is cut off at the deadline.

use std::future::Future;
use std::time::Duration;

use flink_rest::{FlinkClient, JobId, JobState};
use tokio::time::Instant;

/// How a job that started looks after the checks.
#[derive(Debug)]
pub struct Healthy {
    /// From the submission to all tasks running.
    pub until_running: Duration,
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
    /// It left RUNNING while being watched.
    #[error("it went {state} while being watched{}", because(.cause))]
    StoppedRunning {
        /// Its state.
        state: JobState,
        /// Flink's failure cause, if it has one.
        cause: Option<String>,
    },
    /// It restarted while being watched.
    #[error("it restarted {restarts} time(s) while being watched{}", because(.cause))]
    Restarted {
        /// How often.
        restarts: u64,
        /// Flink's failure cause, if it has one.
        cause: Option<String>,
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

/// Waits until every task of `job` runs, within `startup_timeout`.
pub async fn wait_running(
    client: &FlinkClient,
    job: &JobId,
    startup_timeout: Duration,
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

/// Runs the whole health check: running within `startup_timeout`, then
/// `stable_for` without restarts, and a completed checkpoint if required.
pub async fn check(
    client: &FlinkClient,
    job: &JobId,
    startup_timeout: Duration,
    stable_for: Duration,
    require_checkpoint: bool,
) -> Result<Healthy, Unhealthy> {
    let until_running = wait_running(client, job, startup_timeout).await?;
    tracing::info!(job = %job, "all tasks running after {:.1}s; watching it for {}", until_running.as_secs_f64(), humantime::format_duration(stable_for));
    let watch_start = Instant::now();
    // A required checkpoint may take longer than the stable period.
    let give_up = watch_start + stable_for + startup_timeout;
    loop {
        match until(give_up, client.job(job)).await {
            Some(Ok(d)) if d.state != JobState::Running => {
                return Err(Unhealthy::StoppedRunning {
                    state: d.state,
                    cause: cause(client, job).await,
                });
            }
            Some(Ok(_)) | None => {}
            Some(Err(e)) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot read the job's state; retrying")
            }
            Some(Err(e)) => return Err(Unhealthy::Unreadable(e)),
        }
        if let Some(Some(restarts)) = until(give_up, restarts(client, job)).await {
            if restarts > 0 {
                return Err(Unhealthy::Restarted {
                    restarts,
                    cause: cause(client, job).await,
                });
            }
        }
        let stable = watch_start.elapsed() >= stable_for;
        let checkpointed = !require_checkpoint
            || until(give_up, completed_checkpoints(client, job))
                .await
                .unwrap_or(0)
                > 0;
        if stable && checkpointed {
            return Ok(Healthy { until_running });
        }
        if Instant::now() >= give_up {
            return Err(Unhealthy::NoCheckpoint {
                waited: stable_for + startup_timeout,
            });
        }
        let pause = Duration::from_secs(1).min(stable_for.max(POLL));
        tokio::time::sleep_until((Instant::now() + pause).min(give_up)).await;
    }
}

async fn restarts(client: &FlinkClient, job: &JobId) -> Option<u64> {
    let metrics = client.job_metrics(job, &["numRestarts"]).await.ok()?;
    metrics.first()?.value.as_deref()?.parse().ok()
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
        let restarted = Unhealthy::Restarted {
            restarts: 2,
            cause: None,
        };
        assert_eq!(
            restarted.to_string(),
            "it restarted 2 time(s) while being watched"
        );
    }
}
