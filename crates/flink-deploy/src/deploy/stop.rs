//! Stopping the old job with a savepoint, and never ending while that stop may still complete.
//!
//! Flink goes on with a stop-with-savepoint after its client stops waiting, so a stop that
//! outlives `--savepoint-timeout` is watched for as long again: until Flink reports it failed and
//! the job RUNS again (nothing changed), or the job FINISHES with a savepoint (the update carries
//! on from it). What one look shows is judged by [`judge`], a pure function.

use std::time::Duration;

use flink_rest::{AsyncOperation, FlinkClient, JobId, JobState, OperationStatus};
use tokio::time::Instant;

use super::interrupt::Interrupt;
use super::printable;
use crate::health::{self, Unhealthy};
use crate::settings::Settings;

/// How long a job whose stop was refused may take to FINISH anyway: an interrupted earlier
/// deploy's stop may be closing the tasks (Flink then declines a second stop).
const SETTLE_REFUSED: Duration = Duration::from_secs(10);
/// How long RUNNING must still be seen after the stop is over: the REST API serves a job's state
/// from a cache refreshed every 3 s (`web.refresh-interval`), so a job that FINISHED a moment
/// ago may still read RUNNING.
const SETTLE_OVER: Duration = Duration::from_secs(5);
/// How long a stop in flight is still watched after SIGTERM or SIGINT (a second one ends it).
pub const SIGNAL_GRACE: Duration = Duration::from_secs(5);

/// Why the stop gave no savepoint.
#[derive(Debug, thiserror::Error)]
pub enum StopFailed {
    /// The old job's tasks are not all running: no savepoint can be taken.
    #[error("its tasks are not all running, so it cannot take a savepoint: {0}")]
    NotReady(Unhealthy),
    /// Flink refused the stop request.
    #[error("Flink refused the stop: {0}")]
    Refused(flink_rest::Error),
    /// Flink reported the stop failed.
    #[error("{0}")]
    Failed(String),
    /// Flink reported it complete without a savepoint location.
    #[error("Flink reported it complete but gave no savepoint location")]
    NoLocation,
    /// The JobManager no longer knows the operation.
    #[error("the JobManager cannot tell how it went: {0}")]
    Lost(flink_rest::Error),
}

/// How a stop ended.
#[derive(Debug)]
pub enum Stopped {
    /// The job stopped with this savepoint.
    Savepoint(String),
    /// It did not happen: the job is as it was (`state`, when it could be read: RUNNING, or
    /// another state it was already in when no stop could be requested).
    NothingChanged(StopFailed, Option<JobState>),
    /// The job ended without a savepoint of this stop; `newest` is what it could restore from.
    Ended {
        /// Why there is no savepoint.
        why: StopFailed,
        /// The job's state.
        state: JobState,
        /// Its newest restorable savepoint or checkpoint, if any.
        newest: Option<String>,
    },
    /// A signal came before the stop was requested: the job was left as it is.
    NotRequested,
    /// Still undecided when watching ended: the job may still FINISH with a savepoint.
    InFlight {
        /// How long it was watched.
        waited: Duration,
        /// The stop's request id, to look its outcome up (`None` if it was refused).
        trigger: Option<String>,
    },
}

/// What one look at the operation showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpSeen {
    /// Flink is still at it.
    InProgress,
    /// Done; with its location, if Flink gave one.
    Completed(Option<String>),
    /// Failed, refused, or unknown to the JobManager: the job's state tells what happened.
    Over,
    /// The status could not be read this time (the JobManager is briefly unreachable).
    Unreadable,
}

/// One look at a stop in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The operation.
    pub op: OpSeen,
    /// The job's state, if it could be read.
    pub job: Option<JobState>,
    /// The savepoint it finished with, when it is FINISHED.
    pub finished_with: Option<String>,
    /// A savepoint of the job is in progress (another stop, a sidecar's savepoint).
    pub savepoint_in_flight: bool,
    /// RUNNING is final: the stop has been over for long enough that a FINISHED job reads so.
    pub settled: bool,
}

/// What to make of a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Stopped with this savepoint: carry on from it.
    Stopped(String),
    /// The job runs as before.
    NothingChanged,
    /// The job ended without a savepoint of this stop.
    Ended(JobState),
    /// Undecided yet: look again.
    Wait,
}

/// What one look at a stop means.
pub fn judge(seen: &Seen) -> Verdict {
    match &seen.op {
        OpSeen::Completed(Some(location)) if !location.trim().is_empty() => {
            return Verdict::Stopped(location.clone())
        }
        // RUNNING says nothing while the stop is in flight or its status unknown.
        OpSeen::InProgress | OpSeen::Unreadable => return Verdict::Wait,
        OpSeen::Completed(_) | OpSeen::Over => {}
    }
    match &seen.job {
        None => Verdict::Wait,
        Some(JobState::Finished) => match &seen.finished_with {
            Some(savepoint) if !savepoint.trim().is_empty() => Verdict::Stopped(savepoint.clone()),
            _ => Verdict::Ended(JobState::Finished),
        },
        Some(JobState::Running) if seen.savepoint_in_flight || !seen.settled => Verdict::Wait,
        Some(JobState::Running) => Verdict::NothingChanged,
        Some(state) if state.is_terminal() => Verdict::Ended(state.clone()),
        // Restarting, failing, ...: it comes back RUNNING or ends.
        Some(_) => Verdict::Wait,
    }
}

/// Stops `old` with a savepoint into the layout's folder for now (or the cluster's default).
pub async fn stop(
    client: &FlinkClient,
    s: &Settings,
    old: &JobId,
    target: Option<&str>,
    interrupt: &Interrupt,
) -> Stopped {
    // A savepoint needs every task running; a job just (re)started may still be deploying them
    // (e.g. after an interrupted deploy).
    let ready = interrupt
        .unless(health::wait_running(client, old, s.args.startup_timeout))
        .await;
    let (op, why) = match ready {
        None => return Stopped::NotRequested,
        Some(_) if interrupt.received().is_some() => return Stopped::NotRequested,
        Some(Err(why)) => (None, Some(StopFailed::NotReady(why))),
        Some(Ok(_)) => {
            tracing::info!(job_id = %old, target = target.unwrap_or("the cluster's default"), "stopping the running job with a savepoint");
            match client
                .stop_with_savepoint(old, target, false, s.args.savepoint_format.into())
                .await
            {
                Ok(op) => (Some(op), None),
                Err(e) => (None, Some(StopFailed::Refused(e))),
            }
        }
    };
    watch(client, old, op, why, s.args.savepoint_timeout, interrupt).await
}

/// Watches the stop `op` until it is decided, for `timeout` and as long again. A refused stop
/// (`op` is `None`, `why` says why) is watched for [`SETTLE_REFUSED`] twice, or as long as an
/// op of our own when a savepoint of the job is seen in flight. A signal shortens the watch to
/// [`SIGNAL_GRACE`]; a second one ends it.
async fn watch(
    client: &FlinkClient,
    job: &JobId,
    op: Option<AsyncOperation>,
    mut why: Option<StopFailed>,
    timeout: Duration,
    interrupt: &Interrupt,
) -> Stopped {
    let start = Instant::now();
    let first_bound = start + timeout;
    let full_bound = first_bound + timeout;
    let mut bound = match op {
        Some(_) => full_bound,
        None => start + 2 * SETTLE_REFUSED,
    };
    let mut signal_cap: Option<Instant> = None;
    let mut warned = false;
    // Since when the stop is known to be over (a refused one: from the start).
    let mut over_since = op.is_none().then_some(start);
    let settle = if op.is_some() {
        SETTLE_OVER
    } else {
        SETTLE_REFUSED
    };
    let mut last_state: Option<JobState> = None;
    let mut signals = 0;
    let mut interval = Duration::from_millis(50);
    loop {
        if interrupt.count() > signals {
            signals = interrupt.count();
            let now = Instant::now();
            if signals >= 2 {
                signal_cap = Some(now);
            } else {
                signal_cap = Some(now + SIGNAL_GRACE);
                tracing::warn!(job_id = %job, "watching the stop in flight for up to {}s more (a second signal ends it now)", SIGNAL_GRACE.as_secs());
            }
        }
        let bound_now = signal_cap.map_or(bound, |cap| cap.min(bound));
        let look = interrupt.until_more_than(
            signals,
            tokio::time::timeout_at(bound_now, look(client, job, op.as_ref())),
        );
        match look.await {
            None | Some(Err(_)) => {}
            Some(Ok((mut seen, failed))) => {
                last_state = seen.job.clone().or(last_state);
                if let Some(failed) = failed {
                    why = Some(failed);
                }
                if matches!(seen.op, OpSeen::Over | OpSeen::Completed(_)) {
                    over_since.get_or_insert_with(Instant::now);
                }
                // A refused stop while a savepoint is in flight: maybe an earlier deploy's stop.
                if seen.savepoint_in_flight {
                    bound = bound.max(full_bound);
                }
                seen.settled = over_since.is_some_and(|t| t.elapsed() >= settle);
                match judge(&seen) {
                    Verdict::Wait => {}
                    Verdict::Stopped(savepoint) => {
                        if let Some(why) = &why {
                            tracing::warn!(job_id = %job, "the stop did not give a savepoint ({why}), but the job finished with one");
                        }
                        return Stopped::Savepoint(savepoint);
                    }
                    Verdict::NothingChanged => {
                        return Stopped::NothingChanged(
                            why.unwrap_or(StopFailed::NoLocation),
                            Some(JobState::Running),
                        )
                    }
                    Verdict::Ended(state) => {
                        let newest = newest_restorable(client, job).await;
                        return Stopped::Ended {
                            why: why.unwrap_or(StopFailed::NoLocation),
                            state,
                            newest,
                        };
                    }
                }
            }
        }
        let now = Instant::now();
        let bound_now = signal_cap.map_or(bound, |cap| cap.min(bound));
        if now >= first_bound && !warned && op.is_some() {
            warned = true;
            tracing::warn!(job_id = %job,
                "the stop with a savepoint did not finish within {}; Flink goes on with it, so flink-deploy watches it for up to {} more: \
                 the job either runs on (nothing changed) or finishes with a savepoint (the update carries on from it)",
                humantime::format_duration(timeout), whole_seconds(bound_now.saturating_duration_since(now)));
        }
        if now >= bound_now {
            // No stop was asked of Flink (the job was not ready, or Flink answered no): whatever
            // state the job is in, it was in it before.
            let asked = match &why {
                None => true,
                Some(StopFailed::Refused(e)) => e.is_unreachable(),
                Some(_) => op.is_some(),
            };
            if !asked {
                return Stopped::NothingChanged(why.unwrap_or(StopFailed::NoLocation), last_state);
            }
            return Stopped::InFlight {
                waited: now - start,
                trigger: op.as_ref().map(trigger_id),
            };
        }
        let _ = interrupt
            .until_more_than(
                signals,
                tokio::time::sleep_until((now + interval).min(bound_now)),
            )
            .await;
        // Every poll interval of a stop is downtime: poll fast at first, then once a second.
        let cap = if start.elapsed() < Duration::from_secs(10) {
            Duration::from_millis(50)
        } else {
            Duration::from_secs(1)
        };
        interval = (interval * 2).min(cap);
    }
}

/// `d` for people: whole seconds.
fn whole_seconds(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(d.as_secs()))
}

fn trigger_id(op: &AsyncOperation) -> String {
    match op {
        AsyncOperation::Savepoint { trigger, .. } | AsyncOperation::Disposal { trigger, .. } => {
            trigger.to_string()
        }
    }
}

/// Looks at the operation, and at the job when the operation does not decide: what was seen,
/// and why the operation failed if it did.
async fn look(
    client: &FlinkClient,
    job: &JobId,
    op: Option<&AsyncOperation>,
) -> (Seen, Option<StopFailed>) {
    let mut failed = None;
    let op_seen = match op {
        None => OpSeen::Over,
        Some(op) => match client.operation_status(op).await {
            Ok(OperationStatus::InProgress) => OpSeen::InProgress,
            Ok(OperationStatus::Completed { location }) => {
                if location.as_deref().is_none_or(|l| l.trim().is_empty()) {
                    failed = Some(StopFailed::NoLocation);
                }
                OpSeen::Completed(location)
            }
            Ok(OperationStatus::Failed { cause }) => {
                failed = Some(StopFailed::Failed(cause));
                OpSeen::Over
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot read the stop's status; retrying");
                OpSeen::Unreadable
            }
            Err(e) => {
                failed = Some(StopFailed::Lost(e));
                OpSeen::Over
            }
        },
    };
    let mut seen = Seen {
        op: op_seen,
        job: None,
        finished_with: None,
        savepoint_in_flight: false,
        settled: false,
    };
    let decided_by_op = matches!(&seen.op, OpSeen::InProgress | OpSeen::Unreadable)
        || matches!(&seen.op, OpSeen::Completed(Some(l)) if !l.trim().is_empty());
    if decided_by_op {
        return (seen, failed);
    }
    seen.job = client.job(job).await.ok().map(|d| d.state);
    let stats = match &seen.job {
        Some(JobState::Finished | JobState::Running) => client.checkpoints(job).await.ok(),
        _ => None,
    };
    if let Some(stats) = stats {
        seen.finished_with = stats
            .newest_restorable()
            .filter(|c| c.is_savepoint)
            .and_then(|c| c.external_path.clone());
        seen.savepoint_in_flight = stats
            .history
            .iter()
            .any(|c| c.is_savepoint && c.status.as_deref() == Some("IN_PROGRESS"));
    }
    (seen, failed)
}

async fn newest_restorable(client: &FlinkClient, job: &JobId) -> Option<String> {
    let stats = tokio::time::timeout(Duration::from_secs(10), client.checkpoints(job))
        .await
        .ok()?
        .ok()?;
    stats.newest_restorable()?.external_path.clone()
}

/// Why a deploy ended at the stop (the message says what runs and what to do).
#[derive(Debug, thiserror::Error)]
pub enum NotStopped {
    /// The stop failed and the job is as it was.
    #[error("savepoint of job {job} ('{}') failed: {why}. The job is still {}; nothing was changed.",
        printable(.name), .state.as_ref().map_or("as it was", JobState::as_str))]
    NothingChanged {
        /// The old job.
        job: JobId,
        /// Its name.
        name: String,
        /// Why.
        why: StopFailed,
        /// Its state, if it could be read.
        state: Option<JobState>,
    },
    /// The job ended without a savepoint of this stop.
    #[error("savepoint of job {job} ('{}') failed: {why}. The job is now {state} and nothing of '{}' runs. {}",
        printable(.name), printable(.name), restore_hint(.newest))]
    Ended {
        /// The old job.
        job: JobId,
        /// Its name.
        name: String,
        /// Why.
        why: StopFailed,
        /// Its state.
        state: JobState,
        /// What it could restore from.
        newest: Option<String>,
    },
    /// The stop was still in flight when watching ended.
    #[error("the stop with a savepoint of job {job} ('{}') was still in flight after {}: Flink may still complete it. \
             If it does, the job FINISHES with a savepoint under {target} and nothing of '{}' runs; if it fails, the job runs on \
             and nothing was changed. The new jar was not run{}. Check the job's state (flink-deploy status{}), then run \
             flink-deploy again: it updates the job if it runs, or restores from the stop's savepoint if it FINISHED.",
        printable(.name), whole_seconds(*.waited), printable(.name),
        if *.jar_deleted { " (and was deleted)" } else { "" },
        .trigger.as_ref().map(|t| format!("; the stop's own outcome is at GET /jobs/{job}/savepoints/{t}")).unwrap_or_default())]
    InFlight {
        /// The old job.
        job: JobId,
        /// Its name.
        name: String,
        /// How long it was watched.
        waited: Duration,
        /// Where the savepoint goes.
        target: String,
        /// The stop's request id.
        trigger: Option<String>,
        /// Whether the new jar was deleted.
        jar_deleted: bool,
    },
}

fn restore_hint(newest: &Option<String>) -> String {
    match newest {
        Some(p) => format!(
            "Its newest restorable savepoint or checkpoint is {p}: run flink-deploy again with --from-savepoint {p}."
        ),
        None => "No savepoint or checkpoint of it is known to the JobManager: check the job in the Flink UI, \
                 then run flink-deploy again with --from-savepoint PATH."
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(op: OpSeen, job: Option<JobState>) -> Seen {
        Seen {
            op,
            job,
            finished_with: None,
            savepoint_in_flight: false,
            settled: true,
        }
    }

    #[test]
    fn a_stop_in_flight_is_never_taken_for_nothing_changed() {
        // The job stays RUNNING while its stop's savepoint is pending.
        assert_eq!(
            judge(&seen(OpSeen::InProgress, Some(JobState::Running))),
            Verdict::Wait
        );
        assert_eq!(
            judge(&seen(OpSeen::Unreadable, Some(JobState::Running))),
            Verdict::Wait
        );
        // Over, but another savepoint is in flight (an earlier stop): wait for it.
        let mut other = seen(OpSeen::Over, Some(JobState::Running));
        other.savepoint_in_flight = true;
        assert_eq!(judge(&other), Verdict::Wait);
        // Just over, or refused: RUNNING may be a stale read until it had time to settle.
        let mut refused = seen(OpSeen::Over, Some(JobState::Running));
        refused.settled = false;
        assert_eq!(judge(&refused), Verdict::Wait);
        // Failed, and RUNNING again: nothing changed.
        assert_eq!(
            judge(&seen(OpSeen::Over, Some(JobState::Running))),
            Verdict::NothingChanged
        );
        // Restarting after a failed stop: it comes back or ends.
        assert_eq!(
            judge(&seen(OpSeen::Over, Some(JobState::Restarting))),
            Verdict::Wait
        );
        assert_eq!(judge(&seen(OpSeen::Over, None)), Verdict::Wait);
    }

    #[test]
    fn a_savepoint_is_taken_from_the_operation_or_the_finished_job() {
        assert_eq!(
            judge(&seen(
                OpSeen::Completed(Some("file:/sp/savepoint-1".into())),
                None
            )),
            Verdict::Stopped("file:/sp/savepoint-1".into())
        );
        let mut finished = seen(OpSeen::Over, Some(JobState::Finished));
        finished.finished_with = Some("file:/sp/savepoint-2".into());
        assert_eq!(
            judge(&finished),
            Verdict::Stopped("file:/sp/savepoint-2".into())
        );
        // An empty location is no savepoint.
        assert_eq!(
            judge(&seen(
                OpSeen::Completed(Some(" ".into())),
                Some(JobState::Running)
            )),
            Verdict::NothingChanged
        );
        assert_eq!(
            judge(&seen(OpSeen::Completed(None), Some(JobState::Finished))),
            Verdict::Ended(JobState::Finished)
        );
        assert_eq!(
            judge(&seen(OpSeen::Over, Some(JobState::Canceled))),
            Verdict::Ended(JobState::Canceled)
        );
    }

    #[test]
    fn the_in_flight_message_says_what_may_happen_and_what_to_run() {
        let text = NotStopped::InFlight {
            job: JobId::new("a".repeat(32)),
            name: "orders".into(),
            waited: Duration::from_secs(10),
            target: "file:///sp/orders/2026-12-01-08-00".into(),
            trigger: Some("t1".into()),
            jar_deleted: true,
        }
        .to_string();
        for part in [
            "still in flight after 10s",
            "FINISHES with a savepoint under file:///sp/orders/2026-12-01-08-00",
            "The new jar was not run (and was deleted)",
            "/savepoints/t1",
            "run flink-deploy again",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert!(
            !text.contains("still RUNNING; nothing was changed"),
            "{text}"
        );
    }
}
