//! Did an update keep the job's state? Judged from what the new job itself shows: the snapshot
//! Flink restored it from, and the first value of its counter. Waiting for the counter to reach
//! the old value would always pass, state or no state.

use std::time::Duration;

use anyhow::{Context, Result};
use flink_rest::{FlinkClient, JobId};
use flink_testkit::counter_value;
use savepoint_layout::normalize;

/// What the new job of an update shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The snapshot Flink says the job restored from (`latest.restored.external_path`).
    pub restored_from: Option<String>,
    /// The first counter value the job reported.
    pub first_count: u64,
}

/// Why the update lost state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateLost {
    /// The job started from no snapshot.
    #[error("the new job restored from nothing: it started with empty state")]
    NothingRestored,
    /// It restored from another snapshot than the update's savepoint.
    #[error("the new job restored from {restored}, not from the update's savepoint {savepoint}")]
    OtherSnapshot {
        /// What it restored from.
        restored: String,
        /// The update's savepoint.
        savepoint: String,
    },
    /// Its counter started below where the old job was.
    #[error(
        "the new job's counter started at {first}, below the {before} counted before the update"
    )]
    CounterReset {
        /// The first reading of the new job.
        first: u64,
        /// The last reading of the old job.
        before: u64,
    },
}

/// Judges an update: `before` is the old job's counter before the stop, `savepoint` the
/// savepoint the update reported.
pub fn judge(before: u64, savepoint: Option<&str>, evidence: &Evidence) -> Result<(), StateLost> {
    let restored = evidence
        .restored_from
        .as_deref()
        .ok_or(StateLost::NothingRestored)?;
    if let Some(savepoint) = savepoint {
        if normalize(restored).trim_end_matches('/') != normalize(savepoint).trim_end_matches('/') {
            return Err(StateLost::OtherSnapshot {
                restored: restored.to_string(),
                savepoint: savepoint.to_string(),
            });
        }
    }
    if evidence.first_count < before {
        return Err(StateLost::CounterReset {
            first: evidence.first_count,
            before,
        });
    }
    Ok(())
}

/// Reads the evidence of `job`, waiting up to a minute for its first counter value above zero
/// (the gauge reads 0 until the job's first record).
pub async fn evidence(client: &FlinkClient, job: &JobId) -> Result<Evidence> {
    let mut last = String::new();
    for _ in 0..240 {
        match counter_value(client, job).await {
            Ok(first_count) if first_count > 0 => {
                let stats = client
                    .checkpoints(job)
                    .await
                    .with_context(|| format!("cannot read the checkpoints of job {job}"))?;
                let restored_from = stats.latest.restored.and_then(|r| r.external_path);
                return Ok(Evidence {
                    restored_from,
                    first_count,
                });
            }
            Ok(_) => last = "at 0".into(),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    anyhow::bail!("job {job} reported no counter within 60 s ({last})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(restored: Option<&str>, first: u64) -> Evidence {
        Evidence {
            restored_from: restored.map(str::to_string),
            first_count: first,
        }
    }

    #[test]
    fn an_update_keeps_state_only_when_it_restored_the_savepoint_and_kept_counting() {
        let sp = "file:/sp/orders/2026-12-01-08-00/savepoint-abc";
        assert_eq!(
            judge(
                10,
                Some(sp),
                &ev(
                    Some("file:///sp/orders/2026-12-01-08-00/savepoint-abc/"),
                    12
                )
            ),
            Ok(())
        );
        assert_eq!(
            judge(10, Some(sp), &ev(None, 12)),
            Err(StateLost::NothingRestored)
        );
        assert!(matches!(
            judge(10, Some(sp), &ev(Some("file:/sp/other"), 12)),
            Err(StateLost::OtherSnapshot { .. })
        ));
        assert_eq!(
            judge(10, Some(sp), &ev(Some(sp), 3)),
            Err(StateLost::CounterReset {
                first: 3,
                before: 10
            })
        );
    }
}
