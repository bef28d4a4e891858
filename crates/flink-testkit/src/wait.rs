//! Waiting for conditions with a patience that slow machines can raise.

use std::future::Future;
use std::time::{Duration, Instant};

/// Scales a wait by `FLINK_OPS_TEST_PATIENCE` (a factor, default 1), for
/// machines slower than the 2-core CI machine.
pub fn patience(base: Duration) -> Duration {
    let factor = std::env::var("FLINK_OPS_TEST_PATIENCE")
        .ok()
        .and_then(|f| f.parse::<f64>().ok())
        .filter(|f| *f > 0.0)
        .unwrap_or(1.0);
    base.mul_f64(factor)
}

/// Polls `check` until it returns `Some`, or panics after `within` (scaled
/// by [`patience`]) with `what` and the last reason `check` gave.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let within = patience(within);
    let deadline = Instant::now() + within;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(reason) => reason,
        };
        if Instant::now() >= deadline {
            panic!("{what}: not within {within:?}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until `job` is RUNNING with all its tasks running (see
/// [`flink_rest::JobDetails::all_tasks_running`]).
pub async fn wait_running(client: &flink_rest::FlinkClient, job: &flink_rest::JobId) {
    eventually(
        &format!("job {job} RUNNING with all its tasks"),
        Duration::from_secs(60),
        || async move {
            let details = client.job(job).await.map_err(|e| e.to_string())?;
            if details.all_tasks_running() {
                Ok(())
            } else {
                Err(format!("state {}", details.state))
            }
        },
    )
    .await
}

/// Waits until `job` has reached a terminal state, and returns it.
pub async fn wait_terminal(
    client: &flink_rest::FlinkClient,
    job: &flink_rest::JobId,
) -> flink_rest::JobState {
    eventually(
        &format!("job {job} in a terminal state"),
        Duration::from_secs(30),
        || async move {
            let state = client.job(job).await.map_err(|e| e.to_string())?.state;
            if state.is_terminal() {
                Ok(state)
            } else {
                Err(state.to_string())
            }
        },
    )
    .await
}
