//! The update's downtime by Flink's own clock: from the JobManager's trigger of the stop's
//! savepoint to the moment the last subtask of the new job switched to RUNNING. What the REST
//! API shows lags behind (it caches a job's view for up to `web.refresh-interval`, 3 s by
//! default), so the downtime flink-deploy observes through it is longer than the real one.

use std::time::{Duration, Instant};

use flink_rest::{FlinkClient, JobId};
use savepoint_layout::normalize;

/// How often the JobManager's records are read while they are not there yet.
const POLL: Duration = Duration::from_millis(250);

/// When the last subtask of `job` first ran all at once (epoch ms, JobManager clock), polled
/// until every subtask has a RUNNING time or `within` is over.
pub async fn all_running_at(client: &FlinkClient, job: &JobId, within: Duration) -> Option<i64> {
    let deadline = Instant::now() + within;
    loop {
        match client.all_running_at(job).await {
            Ok(Some(at)) => return Some(at),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "no subtask times of {job} yet"),
        }
        if Instant::now() + POLL > deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// When the JobManager triggered the savepoint `location` of `old` (epoch ms), from its
/// checkpoint history; read a few times, as the history of a job just stopped may still be the
/// cached one.
pub async fn savepoint_triggered_at(
    client: &FlinkClient,
    old: &JobId,
    location: &str,
) -> Option<i64> {
    let wanted = normalize(location);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(stats) = client.checkpoints(old).await {
            let found = stats
                .latest
                .savepoint
                .iter()
                .chain(&stats.history)
                .filter(|c| c.is_savepoint && c.trigger_timestamp > 0)
                .find(|c| c.external_path.as_deref().map(normalize) == Some(wanted.clone()))
                .map(|c| c.trigger_timestamp);
            if found.is_some() {
                return found;
            }
        }
        if Instant::now() + POLL > deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The downtime in ms between the two records, when both were found and are in order.
pub fn between(triggered: Option<i64>, all_running: Option<i64>) -> Option<u128> {
    let (from, to) = (triggered?, all_running?);
    u128::try_from(to - from).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downtime_needs_both_records_in_order() {
        assert_eq!(between(Some(1_000), Some(1_250)), Some(250));
        assert_eq!(between(Some(1_000), Some(1_000)), Some(0));
        assert_eq!(between(None, Some(1_250)), None);
        assert_eq!(between(Some(1_000), None), None);
        // Clocks are the JobManager's both times; a reversed pair is a record we misread.
        assert_eq!(between(Some(2_000), Some(1_000)), None);
    }
}
