//! Waiting for conditions with a patience that slow machines can raise.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

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

/// How long [`eventually`] waits between two checks.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Polls `check` until it returns `Ok`, or panics after `within` (scaled by
/// [`patience`]) with `what` and the last reason `check` gave.
///
/// `within` is one overall deadline: a check still running then (a request
/// being retried, a JobManager that does not answer) is cut off, and no
/// pause between checks reaches past it.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let within = patience(within);
    let deadline = Instant::now() + within;
    let mut last = String::from("no check finished");
    while Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, check()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(reason)) => last = reason,
            Err(_) => panic!(
                "{what}: not within {within:?}; the last check was still running at the \
                 deadline; the one before: {last}"
            ),
        }
        tokio::time::sleep_until((Instant::now() + POLL_INTERVAL).min(deadline)).await;
    }
    panic!("{what}: not within {within:?}; last: {last}")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `eventually` in a task and returns its panic message, failing
    /// the test if it has not ended long after its deadline.
    async fn panic_of<F, Fut>(within: Duration, check: F) -> String
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send,
    {
        let task =
            tokio::spawn(async move { eventually("the test's condition", within, check).await });
        let ended = tokio::time::timeout(patience(within) + Duration::from_secs(30), task)
            .await
            .expect("eventually did not end at its deadline");
        let panic = ended.expect_err("the condition never held").into_panic();
        panic
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "a panic without a message".into())
    }

    #[tokio::test]
    async fn returns_what_the_check_found() {
        let mut calls = 0;
        let found = eventually("the third check", Duration::from_secs(30), || {
            calls += 1;
            let n = calls;
            async move {
                if n == 3 {
                    Ok(n)
                } else {
                    Err(format!("call {n}"))
                }
            }
        })
        .await;
        assert_eq!(found, 3);
    }

    #[tokio::test]
    async fn gives_up_with_the_last_reason() {
        let message = panic_of(Duration::from_millis(300), || async {
            Err("state CREATED".to_string())
        })
        .await;
        assert!(
            message.starts_with("the test's condition: not within"),
            "{message}"
        );
        assert!(message.ends_with("last: state CREATED"), "{message}");
    }

    /// A check that never answers (a request retried for longer than the
    /// wait) ends at the deadline instead of holding the test.
    #[tokio::test]
    async fn cuts_off_a_check_that_outlasts_the_deadline() {
        let mut first = true;
        let message = panic_of(Duration::from_millis(300), move || {
            let hang = !std::mem::replace(&mut first, false);
            async move {
                if hang {
                    std::future::pending::<()>().await;
                }
                Err("state INITIALIZING".to_string())
            }
        })
        .await;
        assert!(
            message.contains("still running at the deadline; the one before: state INITIALIZING"),
            "{message}"
        );
    }
}
