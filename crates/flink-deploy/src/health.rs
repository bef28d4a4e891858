//! Is the new job healthy? Running with all its tasks, then no restart for
//! a while (and, if asked, one completed checkpoint).

use std::time::{Duration, Instant};

use flink_rest::{FlinkClient, JobId, JobState};

/// How a job that started looks after the checks.
#[derive(Debug)]
pub struct Healthy {
    /// From the submission to all tasks running.
    pub until_running: Duration,
}

const POLL: Duration = Duration::from_millis(250);

/// Waits until every task of `job` runs, within `startup_timeout`.
pub async fn wait_running(
    client: &FlinkClient,
    job: &JobId,
    startup_timeout: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        match client.job(job).await {
            Ok(details) if details.all_tasks_running() => return Ok(start.elapsed()),
            Ok(details) if details.state.is_terminal() || details.state == JobState::Failing => {
                return Err(format!(
                    "it is {}{}",
                    details.state,
                    cause(client, job).await
                ));
            }
            Ok(_) => {}
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot read the job's state; retrying")
            }
            Err(e) => return Err(format!("cannot read its state: {e}")),
        }
        if start.elapsed() >= startup_timeout {
            let state = client
                .job(job)
                .await
                .map(|d| d.state.to_string())
                .unwrap_or_else(|_| "unknown".into());
            return Err(format!(
                "its tasks were not all running after {} (job state {state}){}",
                humantime::format_duration(startup_timeout),
                cause(client, job).await
            ));
        }
        tokio::time::sleep(POLL).await;
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
) -> Result<Healthy, String> {
    let until_running = wait_running(client, job, startup_timeout).await?;
    tracing::info!(job = %job, "all tasks running after {:.1}s; watching it for {}", until_running.as_secs_f64(), humantime::format_duration(stable_for));
    let watch_start = Instant::now();
    // A required checkpoint may take longer than the stable period.
    let give_up = watch_start + stable_for + startup_timeout;
    loop {
        let details = client.job(job).await;
        match details {
            Ok(d) if d.state != JobState::Running => {
                return Err(format!(
                    "it went {} while being watched{}",
                    d.state,
                    cause(client, job).await
                ));
            }
            Ok(_) => {}
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot read the job's state; retrying")
            }
            Err(e) => return Err(format!("cannot read its state: {e}")),
        }
        if let Some(restarts) = restarts(client, job).await {
            if restarts > 0 {
                return Err(format!(
                    "it restarted {restarts} time(s) while being watched{}",
                    cause(client, job).await
                ));
            }
        }
        let stable = watch_start.elapsed() >= stable_for;
        let checkpointed = !require_checkpoint || completed_checkpoints(client, job).await > 0;
        if stable && checkpointed {
            return Ok(Healthy { until_running });
        }
        if Instant::now() >= give_up {
            return Err(format!(
                "no checkpoint completed within {} of it running",
                humantime::format_duration(stable_for + startup_timeout)
            ));
        }
        tokio::time::sleep(Duration::from_secs(1).min(stable_for.max(POLL))).await;
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

/// ": <Flink's failure cause>" when the job has one.
async fn cause(client: &FlinkClient, job: &JobId) -> String {
    match client.last_failure(job).await {
        Ok(Some(cause)) => format!(": {cause}"),
        _ => String::new(),
    }
}
