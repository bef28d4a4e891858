//! `--recover`: put back a job the JobManager lost.
//!
//! Without high availability, a JobManager that crashes (or whose VM is recreated) comes back
//! knowing no jobs. flink-deploy writes a release record next to the job's savepoints after
//! every deploy (what to run: jar, arguments, configuration); with `--recover`, the sidecar
//! runs that release again, from the newest restore point, when a job is lost.
//!
//! **Lost or ended on purpose** ([`decide`]). A selected job with a release record is *lost*
//! when the JobManager answers, has no active job of that name, and remembers no job of it
//! that ended since the record: neither the recorded job nor one started after it was
//! CANCELED (a person cancelled it), FAILED (it failed for good: running it again would fail
//! again) or FINISHED (stopped outside flink-deploy). A JobManager that restarted remembers
//! nothing, so its jobs are lost. It is not lost when the record's intent is `stopped`
//! (`flink-deploy stop`, or the sidecar itself once it saw the job end: the JobManager's memory
//! of an ended job does not last, the record does). A lease left behind expired (a deploy or recovery killed half-way,
//! e.g. between its stop and its run) makes the ended job the deploy's doing, not a person's:
//! the job is lost. A lease that has not expired means a deploy is in progress: wait.
//!
//! **Never two jobs, never a fresh start** ([`Recoverer::recover`]). The sidecar waits
//! `--recover-grace` after it first saw the job missing, takes the job's lease (a deploy
//! refuses while it is held; a second sidecar gets none), checks again that no job of the
//! name is active and that the record is the same, and submits with a `jobId` derived from
//! the record ([`recovery_job_id`]): a second submission of the same recovery fails in the
//! JobManager instead of starting a copy. Nothing restorable (no complete savepoint in the
//! layout, no retained checkpoint of the recorded job) is no recovery, reported in the log,
//! `/metrics` (`recovery_refused`) and `/readyz`, never a start with empty state.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use flink_rest::{ClaimMode, FlinkClient, JobId, JobOverview, JobState, RunJob};
use savepoint_layout::restore::{self, CheckpointsOf, RestorePoint};
use savepoint_layout::{Intent, LeaseInfo, ReleaseKind, ReleaseRecord, SavepointLayout};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::printable;
use crate::select::Selector;
use crate::status::Status;

/// How long a recovery's lease lasts: long enough to fetch and upload a large jar, short
/// enough that a sidecar killed while recovering blocks a deploy for two minutes at most.
pub const LEASE_TTL: Duration = Duration::from_secs(120);

/// What the sidecar knows about one job name at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The job's current release record.
    pub record: Option<&'a ReleaseRecord>,
    /// The JobManager's jobs of exactly this name.
    pub jobs: &'a [JobOverview],
    /// The job's lease, if one is there.
    pub lease: Option<&'a LeaseInfo>,
    /// How long the sidecar has seen no active job of the name.
    pub missing_for: Duration,
    /// `--recover-grace`.
    pub grace: Duration,
}

/// What to do about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A job of the name is active: nothing to do.
    Active,
    /// No release record: nothing says what to run.
    NoRecord,
    /// `flink-deploy stop` recorded that a person stopped it.
    Stopped,
    /// A deploy (or another sidecar's recovery) holds the lease.
    LeaseHeld {
        /// Who.
        holder: String,
        /// Until when, RFC 3339.
        expires_at: String,
    },
    /// The JobManager remembers a job of the name that ended since the record.
    Ended {
        /// Its id.
        job: JobId,
        /// CANCELED, FAILED or FINISHED.
        state: JobState,
    },
    /// Lost, but missing for less than the grace period.
    Waiting {
        /// How much of the grace period is left.
        left: Duration,
    },
    /// Lost: recover it.
    Recover,
}

/// Whether the job of `facts` is lost and may be recovered now; see the module's docs.
pub fn decide(facts: &Facts<'_>) -> Decision {
    if facts.jobs.iter().any(|j| j.state.is_active()) {
        return Decision::Active;
    }
    let Some(record) = facts.record else {
        return Decision::NoRecord;
    };
    if record.intent == Intent::Stopped {
        return Decision::Stopped;
    }
    match facts.lease {
        Some(lease) if !lease.expired => {
            return Decision::LeaseHeld {
                holder: lease.holder.clone(),
                expires_at: lease.expires_at.clone(),
            }
        }
        // Left behind by a deploy killed half-way: whatever ended was its doing.
        Some(_) => {}
        None => {
            let recorded_ms = OffsetDateTime::parse(&record.recorded_at, &Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .unwrap_or(i64::MAX);
            let ended = facts
                .jobs
                .iter()
                .filter(|j| j.state.is_terminal())
                .filter(|j| j.jid.as_str() == record.job_id || j.start_time >= recorded_ms)
                .max_by_key(|j| j.start_time);
            if let Some(job) = ended {
                return Decision::Ended {
                    job: job.jid.clone(),
                    state: job.state.clone(),
                };
            }
        }
    }
    if facts.missing_for < facts.grace {
        return Decision::Waiting {
            left: facts.grace - facts.missing_for,
        };
    }
    Decision::Recover
}

/// The `jobId` of the recovery of `record`: the same for every sidecar (and every attempt)
/// that recovers this record, so a second submission fails in the JobManager
/// (`DuplicateJobSubmissionException`) instead of starting a second job; a new one for each
/// record, so the job recovered next time gets a new id.
pub fn recovery_job_id(record: &ReleaseRecord) -> JobId {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!(
            "flink-ops recovery\n{}\n{}\n{}",
            record.job_name, record.job_id, record.recorded_at
        )
        .as_bytes(),
    );
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    JobId::new(hex)
}

/// The checkpoint sources of `record`'s job: its own id and the id its recovery gets (a
/// recovery whose record could not be written left its checkpoints there), in the
/// checkpoint directory of the record's configuration or else the cluster's.
pub fn checkpoint_sources(
    record: &ReleaseRecord,
    cluster_config: &BTreeMap<String, String>,
) -> Vec<CheckpointsOf> {
    let Some(dir) = restore::checkpoint_dir(
        |k| record.flink_config.get(k).map(String::as_str),
        |k| cluster_config.get(k).map(String::as_str),
    ) else {
        return Vec::new();
    };
    [record.job_id.clone(), recovery_job_id(record).to_string()]
        .into_iter()
        .map(|job_id| CheckpointsOf {
            dir: dir.to_string(),
            job_id,
        })
        .collect()
}

/// The record of a recovery: the same release, run as `job` from `from`.
pub fn recovery_record(
    record: &ReleaseRecord,
    job: &JobId,
    from: &RestorePoint,
    flink_version: String,
    now: OffsetDateTime,
) -> ReleaseRecord {
    ReleaseRecord {
        job_id: job.to_string(),
        restored_from: Some(from.location.clone()),
        recorded_at: now.format(&Rfc3339).expect("a UTC time formats"),
        kind: ReleaseKind::Recovery,
        intent: Intent::Running,
        stopped_with: None,
        flink_version,
        // The same release runs again: the one before it stays what a rollback goes to.
        previous: record.previous.clone(),
        ..record.clone()
    }
}

/// The record of a job that ended outside flink-deploy (a person's cancel, a failure for
/// good): the same release, stopped on purpose, so no recovery brings it back.
pub fn ended_record(record: &ReleaseRecord, job: &JobId, now: OffsetDateTime) -> ReleaseRecord {
    ReleaseRecord {
        job_id: job.to_string(),
        recorded_at: now.format(&Rfc3339).expect("a UTC time formats"),
        kind: ReleaseKind::Stop,
        intent: Intent::Stopped,
        stopped_with: None,
        previous: record.previous.clone(),
        ..record.clone()
    }
}

/// Why an attempt did not end in a recovery, for the log, `/metrics` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// Nothing to restore: a recovery would start with empty state.
    NothingRestorable(String),
    /// The attempt failed (the store, the JobManager); retried on the next check.
    Failed(String),
}

/// Watches the selected jobs and recovers the lost ones.
pub struct Recoverer {
    client: FlinkClient,
    layout: SavepointLayout,
    selector: Selector,
    grace: Duration,
    status: Arc<Status>,
    holder: String,
    /// Since when each job name has had no active job (monotonic).
    missing_since: Mutex<BTreeMap<String, Instant>>,
    /// The last thing logged per name, so a state that lasts is logged once.
    said: Mutex<BTreeMap<String, String>>,
}

impl Recoverer {
    /// A recoverer of `selector`'s jobs, with `grace` as `--recover-grace`.
    pub fn new(
        client: FlinkClient,
        layout: SavepointLayout,
        selector: Selector,
        grace: Duration,
        status: Arc<Status>,
    ) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown host".into());
        Self {
            client,
            layout,
            selector,
            grace,
            status,
            holder: format!(
                "flink-savepointer recovery on {host}, pid {}",
                std::process::id()
            ),
            missing_since: Mutex::new(BTreeMap::new()),
            said: Mutex::new(BTreeMap::new()),
        }
    }

    /// How often [`Recoverer::check`] should run: a few times per grace period.
    pub fn period(&self) -> Duration {
        (self.grace / 4).clamp(Duration::from_millis(500), Duration::from_secs(10))
    }

    /// Logs `message` for `name` unless it was the last thing said about it.
    fn say_once(&self, name: &str, message: String, warn: bool) {
        let mut said = self.said.lock().unwrap_or_else(|p| p.into_inner());
        if said.get(name) == Some(&message) {
            return;
        }
        if warn {
            tracing::warn!(job = %printable(name), "{message}");
        } else {
            tracing::info!(job = %printable(name), "{message}");
        }
        said.insert(name.to_string(), message);
    }

    /// One look at every selected job; recovers the ones lost for longer than the grace.
    pub async fn check(&self) {
        // The round's probe reports an unreachable JobManager; nothing to decide without it.
        let Ok(jobs) = self.client.jobs().await else {
            return;
        };
        let names: Vec<String> = match &self.selector {
            Selector::Named(names) => names.iter().cloned().collect(),
            // Every job of the layout: the ones with a record are the ones flink-deploy ran.
            Selector::All => match self.layout.job_names().await {
                Ok(names) => names,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list the jobs of the layout for recovery: {e}");
                    return;
                }
            },
        };
        for name in names {
            let of_name: Vec<JobOverview> =
                jobs.iter().filter(|j| j.name == name).cloned().collect();
            self.check_job(&name, &of_name).await;
        }
    }

    async fn check_job(&self, name: &str, jobs: &[JobOverview]) {
        let now = Instant::now();
        let missing_for = {
            let mut since = self.missing_since.lock().unwrap_or_else(|p| p.into_inner());
            if jobs.iter().any(|j| j.state.is_active()) {
                since.remove(name);
                Duration::ZERO
            } else {
                now.saturating_duration_since(*since.entry(name.to_string()).or_insert(now))
            }
        };
        if missing_for.is_zero() && jobs.iter().any(|j| j.state.is_active()) {
            self.status.recovery(name, |r| r.blocked = None);
            self.said
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(name);
            return;
        }
        let record = match self.layout.current_release(name).await {
            Ok(record) => record,
            Err(e) => {
                self.blocked(
                    name,
                    Blocked::Failed(format!("cannot read its release record: {e}")),
                );
                return;
            }
        };
        let lease = match self.layout.lease(name).await {
            Ok(lease) => lease,
            Err(e) => {
                self.blocked(name, Blocked::Failed(format!("cannot read its lease: {e}")));
                return;
            }
        };
        let decision = decide(&Facts {
            record: record.as_ref(),
            jobs,
            lease: lease.as_ref(),
            missing_for,
            grace: self.grace,
        });
        let not_recovered = |why: String| {
            self.status.recovery(name, |r| r.blocked = None);
            self.say_once(name, why, false);
        };
        match decision {
            Decision::Active | Decision::Waiting { .. } => {}
            Decision::NoRecord => not_recovered(
                "no active job and no release record (flink-deploy writes one): not recovered"
                    .into(),
            ),
            Decision::Stopped => not_recovered(
                "stopped on purpose (flink-deploy stop recorded it): not recovered".into(),
            ),
            Decision::LeaseHeld { holder, expires_at } => not_recovered(format!(
                "no active job, but {} holds its lease until {expires_at}: waiting",
                printable(&holder)
            )),
            Decision::Ended { job, state } => {
                not_recovered(format!(
                    "job {job} {state} since the last release record{}: not recovered \
                     (deploy it again to bring it back)",
                    match state {
                        JobState::Canceled => " (cancelled by a person)",
                        JobState::Failed => " (it failed for good)",
                        _ => " (stopped outside flink-deploy)",
                    }
                ));
                let record = record.expect("Ended needs a record");
                self.record_ended(name, &record, &job, &state).await;
            }
            Decision::Recover => {
                let record = record.expect("Recover needs a record");
                match self.recover(name, &record).await {
                    Ok(()) => {}
                    Err(blocked) => self.blocked(name, blocked),
                }
            }
        }
    }

    /// Writes down that `record`'s job ended on purpose, as `flink-deploy stop` would: the
    /// JobManager forgets ended jobs (its job store expires them after
    /// `jobstore.expiration-time`, an hour by default, and a restart forgets all), and a
    /// cancelled job must not come back then. Under the lease, and only if the record is still
    /// the one decided on; a failure is retried at the next check while the JobManager still
    /// remembers the job.
    async fn record_ended(
        &self,
        name: &str,
        record: &ReleaseRecord,
        job: &JobId,
        state: &JobState,
    ) {
        let lease = match self
            .layout
            .acquire_lease(name, &self.holder, LEASE_TTL)
            .await
        {
            Ok(Some(lease)) => lease,
            Ok(None) => return, // a deploy is starting: what it records wins
            Err(e) => {
                tracing::warn!(job = %printable(name), error = %e, "cannot take the lease to record that job {job} {state}: {e}; trying again");
                return;
            }
        };
        let outcome = match self.layout.current_release(name).await {
            Ok(Some(current)) if current == *record => self
                .layout
                .put_release(
                    name,
                    &ended_record(record, job, OffsetDateTime::now_utc()),
                    None,
                )
                .await
                .map(|()| true),
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        };
        if let Err(e) = self.layout.drop_lease(lease).await {
            tracing::warn!(job = %printable(name), error = %e, "cannot drop the lease: {e}; it expires in {}s", LEASE_TTL.as_secs());
        }
        match outcome {
            Ok(true) => tracing::info!(
                job = %printable(name),
                "recorded that job {job} {state} on purpose: not recovered, even once the \
                 JobManager forgets it; flink-deploy deploy brings it back"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(job = %printable(name), error = %e, "cannot record that job {job} {state}: {e}; trying again")
            }
        }
    }

    fn blocked(&self, name: &str, blocked: Blocked) {
        match &blocked {
            Blocked::NothingRestorable(why) => {
                self.say_once(name, format!("lost, and not recovered: {why}"), true)
            }
            Blocked::Failed(why) => {
                tracing::warn!(job = %printable(name), "recovery failed: {why}; trying again");
                self.status.recovery(name, |r| r.failures += 1);
            }
        }
        self.status.recovery(name, |r| {
            r.recovering = false;
            r.blocked = Some(blocked);
        });
    }

    /// The newest restore point of `record`'s job, or why there is none to use.
    async fn restore_point(
        &self,
        name: &str,
        record: &ReleaseRecord,
    ) -> Result<RestorePoint, Blocked> {
        let failed =
            |what: &str, e: &dyn std::fmt::Display| Blocked::Failed(format!("{what}: {e}"));
        let listing = self
            .layout
            .list(name, OffsetDateTime::now_utc())
            .await
            .map_err(|e| failed("cannot list its savepoints", &e))?;
        let cluster = self
            .client
            .jobmanager_config()
            .await
            .map_err(|e| failed("cannot read the JobManager's configuration", &e))?;
        let sources = checkpoint_sources(record, &cluster);
        let (checkpoints, problems) = restore::checkpoints_of(&sources).await;
        // A checkpoint directory that cannot be listed may hold the newest state: never guess.
        if !problems.is_empty() {
            return Err(Blocked::Failed(format!(
                "cannot list retained checkpoints: {}",
                problems.join("; ")
            )));
        }
        restore::newest(&listing, &checkpoints, SystemTime::now()).ok_or_else(|| {
            let searched = match sources.first() {
                Some(s) => format!(
                    ", nor a retained checkpoint of job {} under {}",
                    record.job_id, s.dir
                ),
                None => ", and no checkpoint directory is configured".into(),
            };
            Blocked::NothingRestorable(format!(
                "nothing to restore: no complete savepoint under {}{searched}; a recovery \
                 would start it with empty state. Deploy it with flink-deploy \
                 (--from-savepoint or --allow-fresh-start)",
                savepoint_layout::literal(&self.layout.job_dir(name))
            ))
        })
    }

    /// Runs `record` again from the newest restore point, under the job's lease.
    pub async fn recover(&self, name: &str, record: &ReleaseRecord) -> Result<(), Blocked> {
        let point = self.restore_point(name, record).await?;
        let failed =
            |what: &str, e: &dyn std::fmt::Display| Blocked::Failed(format!("{what}: {e}"));
        let Some(lease) = self
            .layout
            .acquire_lease(name, &self.holder, LEASE_TTL)
            .await
            .map_err(|e| failed("cannot take its lease", &e))?
        else {
            return Ok(()); // someone else took it a moment ago: the next check sees what they did
        };
        let outcome = self.recover_under_lease(name, record, &point).await;
        if let Err(e) = self.layout.drop_lease(lease).await {
            tracing::warn!(job = %printable(name), error = %e, "cannot drop the recovery's lease: {e}; it expires in {}s", LEASE_TTL.as_secs());
        }
        outcome
    }

    async fn recover_under_lease(
        &self,
        name: &str,
        record: &ReleaseRecord,
        point: &RestorePoint,
    ) -> Result<(), Blocked> {
        let failed =
            |what: &str, e: &dyn std::fmt::Display| Blocked::Failed(format!("{what}: {e}"));
        // Under the lease, look again: another sidecar may have recovered it, or a deploy run.
        let jobs = self
            .client
            .jobs_named(name)
            .await
            .map_err(|e| failed("cannot list the jobs", &e))?;
        if jobs.iter().any(|j| j.state.is_active()) {
            return Ok(());
        }
        let current = self
            .layout
            .current_release(name)
            .await
            .map_err(|e| failed("cannot read its release record", &e))?;
        if current.as_ref() != Some(record) {
            return Ok(()); // a new record: decide again on the next check
        }
        self.status.recovery(name, |r| r.recovering = true);
        tracing::info!(
            job = %printable(name),
            restore_from = %point.location,
            "job lost (no active job for {}s): recovering its release from the newest restore point, {}",
            self.grace.as_secs(),
            point.describe()
        );
        let dir =
            tempfile::tempdir().map_err(|e| failed("cannot make a temporary directory", &e))?;
        let jar = self
            .layout
            .fetch_jar(record, dir.path())
            .await
            .map_err(|e| failed("cannot fetch the recorded jar", &e))?;
        let uploaded = self
            .client
            .upload_jar(
                &jar,
                &savepoint_layout::deploy_jar_name(name, OffsetDateTime::now_utc()),
            )
            .await
            .map_err(|e| failed("cannot upload the recorded jar", &e))?;
        let job_id = recovery_job_id(record);
        let run = run_request(record, &job_id, point);
        match self.client.run_jar(&uploaded, &run).await {
            Ok(job) => {
                self.recovered(name, record, &job, point, jar.as_path())
                    .await;
                Ok(())
            }
            Err(e) => {
                // The same recovery submitted by someone else first: theirs runs.
                if self
                    .client
                    .job(&job_id)
                    .await
                    .is_ok_and(|d| d.state.is_active())
                {
                    tracing::info!(job = %printable(name), job_id = %job_id, "job {job_id} was submitted by another recovery first; nothing more to do");
                    self.status.recovery(name, |r| r.recovering = false);
                    let _ = self.client.delete_jar(&uploaded).await;
                    return Ok(());
                }
                let _ = self.client.delete_jar(&uploaded).await;
                Err(failed(
                    &format!("the run request from {} failed", point.location),
                    &e,
                ))
            }
        }
    }

    async fn recovered(
        &self,
        name: &str,
        record: &ReleaseRecord,
        job: &JobId,
        point: &RestorePoint,
        _jar: &Path,
    ) {
        let version = self
            .client
            .version()
            .await
            .map(|v| v.to_string())
            .unwrap_or_else(|_| record.flink_version.clone());
        let next = recovery_record(record, job, point, version, OffsetDateTime::now_utc());
        tracing::info!(
            job = %printable(name),
            job_id = %job,
            restored_from = %point.location,
            "recovered: job {job} runs the recorded release again, restored from {}",
            point.describe()
        );
        if let Err(e) = self.layout.put_release(name, &next, None).await {
            tracing::error!(job = %printable(name), job_id = %job, error = %e, "the recovered job runs, but its release record cannot be written: {e}; the next recovery restores from the old record's job, and also searches this job's checkpoints");
            self.status.recovery(name, |r| r.failures += 1);
        }
        self.said
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.status.recovery(name, |r| {
            r.recovering = false;
            r.blocked = None;
            r.recoveries += 1;
            r.last_recovery = Some(SystemTime::now());
        });
    }
}

/// The run request of a recovery: the recorded release, from `point`, as `job_id`.
pub fn run_request(record: &ReleaseRecord, job_id: &JobId, point: &RestorePoint) -> RunJob {
    RunJob {
        entry_class: record.entry_class.clone(),
        program_args: record.program_args.clone(),
        parallelism: record.parallelism,
        job_id: Some(job_id.clone()),
        savepoint_path: Some(point.location.clone()),
        allow_non_restored_state: record.allow_non_restored_state,
        claim_mode: if record.claim_mode.eq_ignore_ascii_case("CLAIM") {
            ClaimMode::Claim
        } else {
            ClaimMode::NoClaim
        },
        flink_configuration: record.flink_config.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use savepoint_layout::restore::RestoreKind;

    const JOB: &str = "0123456789abcdef0123456789abcdef";

    fn record() -> ReleaseRecord {
        ReleaseRecord {
            format: 1,
            job_name: "orders".into(),
            jar_sha256: "a".repeat(64),
            jar_file_name: "job.jar".into(),
            entry_class: Some("com.example.Main".into()),
            program_args: vec!["--name".into(), "orders".into()],
            parallelism: Some(2),
            flink_config: BTreeMap::new(),
            claim_mode: "NO_CLAIM".into(),
            allow_non_restored_state: false,
            flink_version: "2.3.0".into(),
            job_id: JOB.into(),
            restored_from: None,
            recorded_at: "2026-12-01T15:00:00Z".into(),
            kind: ReleaseKind::Deploy,
            intent: Intent::Running,
            stopped_with: None,
            previous: None,
        }
    }

    /// 2026-12-01T15:00:00Z in epoch milliseconds.
    const RECORDED_MS: i64 = 1_796_137_200_000;

    fn job(id: &str, state: &str, start: i64) -> JobOverview {
        JobOverview {
            jid: JobId::new(id),
            name: "orders".into(),
            state: JobState::from(state),
            start_time: start,
            end_time: -1,
        }
    }

    fn lease(expired: bool) -> LeaseInfo {
        LeaseInfo {
            holder: "flink-deploy deploy on ci, pid 7".into(),
            acquired_at: "2026-12-01T15:10:00Z".into(),
            expires_at: "2026-12-01T15:11:00Z".into(),
            expired,
        }
    }

    fn decide_with(
        record: Option<&ReleaseRecord>,
        jobs: &[JobOverview],
        lease: Option<&LeaseInfo>,
        missing_for: u64,
    ) -> Decision {
        decide(&Facts {
            record,
            jobs,
            lease,
            missing_for: Duration::from_secs(missing_for),
            grace: Duration::from_secs(30),
        })
    }

    #[test]
    fn the_recorded_time_is_what_the_tests_assume() {
        let t = OffsetDateTime::parse(&record().recorded_at, &Rfc3339).unwrap();
        assert_eq!((t.unix_timestamp_nanos() / 1_000_000) as i64, RECORDED_MS);
    }

    #[test]
    fn a_jobmanager_that_remembers_nothing_lost_the_job_after_the_grace() {
        let r = record();
        assert_eq!(
            decide_with(Some(&r), &[], None, 10),
            Decision::Waiting {
                left: Duration::from_secs(20)
            }
        );
        assert_eq!(decide_with(Some(&r), &[], None, 30), Decision::Recover);
        // Jobs of the name that ended before the record (the release before) prove nothing.
        let old = job(&"b".repeat(32), "FINISHED", RECORDED_MS - 60_000);
        assert_eq!(decide_with(Some(&r), &[old], None, 31), Decision::Recover);
    }

    #[test]
    fn an_active_job_a_missing_record_or_a_stop_is_never_recovered() {
        let r = record();
        for state in ["RUNNING", "RESTARTING", "CREATED", "INITIALIZING"] {
            let running = [job(JOB, state, RECORDED_MS)];
            assert_eq!(
                decide_with(Some(&r), &running, None, 99),
                Decision::Active,
                "{state}"
            );
        }
        assert_eq!(decide_with(None, &[], None, 99), Decision::NoRecord);
        let mut stopped = record();
        stopped.intent = Intent::Stopped;
        assert_eq!(
            decide_with(Some(&stopped), &[], None, 99),
            Decision::Stopped
        );
        // Even with a dead deploy's lease: a stop is a person's.
        assert_eq!(
            decide_with(Some(&stopped), &[], Some(&lease(true)), 99),
            Decision::Stopped
        );
    }

    #[test]
    fn a_job_that_ended_since_the_record_is_a_persons_doing() {
        let r = record();
        for state in ["CANCELED", "FAILED", "FINISHED"] {
            // The recorded job itself.
            let ended = [job(JOB, state, RECORDED_MS - 5_000)];
            assert_eq!(
                decide_with(Some(&r), &ended, None, 99),
                Decision::Ended {
                    job: JobId::new(JOB),
                    state: JobState::from(state)
                },
                "{state}"
            );
            // A job of the name started after the record, by hand.
            let other = "c".repeat(32);
            let by_hand = [job(&other, state, RECORDED_MS + 5_000)];
            assert!(matches!(
                decide_with(Some(&r), &by_hand, None, 99),
                Decision::Ended { job, .. } if job.as_str() == other
            ));
        }
    }

    #[test]
    fn a_lease_waits_and_a_dead_deploys_lease_makes_the_job_lost() {
        let r = record();
        let held = lease(false);
        assert_eq!(
            decide_with(Some(&r), &[], Some(&held), 99),
            Decision::LeaseHeld {
                holder: held.holder.clone(),
                expires_at: held.expires_at.clone()
            }
        );
        // Killed between its stop and its run: the stopped job is FINISHED, the lease expired.
        let stopped = [job(JOB, "FINISHED", RECORDED_MS - 5_000)];
        assert_eq!(
            decide_with(Some(&r), &stopped, Some(&lease(true)), 99),
            Decision::Recover
        );
        // ... still after the grace only.
        assert!(matches!(
            decide_with(Some(&r), &stopped, Some(&lease(true)), 1),
            Decision::Waiting { .. }
        ));
    }

    #[test]
    fn the_recovery_job_id_is_the_same_for_one_record_and_new_for_the_next() {
        let r = record();
        let id = recovery_job_id(&r);
        assert_eq!(id, recovery_job_id(&r.clone()));
        assert_eq!(id.as_str().len(), 32);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        let point = RestorePoint {
            location: "file:/chk/x/chk-3".into(),
            taken_at: SystemTime::UNIX_EPOCH,
            kind: RestoreKind::Checkpoint {
                job_id: JOB.into(),
                number: 3,
            },
        };
        let now = time::macros::datetime!(2026-12-01 16:00 UTC);
        let next = recovery_record(&r, &id, &point, "2.3.0".into(), now);
        assert_ne!(recovery_job_id(&next), id);
        assert_eq!(next.kind, ReleaseKind::Recovery);
        assert_eq!(next.job_id, id.as_str());
        assert_eq!(next.restored_from.as_deref(), Some("file:/chk/x/chk-3"));
        assert_eq!(next.recorded_at, "2026-12-01T16:00:00Z");
        assert_eq!(next.jar_sha256, r.jar_sha256);
        let run = run_request(&r, &id, &point);
        assert_eq!(run.job_id.as_ref(), Some(&id));
        assert_eq!(run.savepoint_path.as_deref(), Some("file:/chk/x/chk-3"));
        assert_eq!(run.program_args, r.program_args);
        assert_eq!(run.parallelism, Some(2));
        assert_eq!(run.claim_mode, ClaimMode::NoClaim);
    }

    #[test]
    fn a_job_seen_ended_is_recorded_stopped_and_then_never_recovered() {
        let r = record();
        let cancelled = JobId::new("c".repeat(32));
        let now = time::macros::datetime!(2026-12-01 16:00 UTC);
        let ended = ended_record(&r, &cancelled, now);
        assert_eq!(
            (ended.kind, ended.intent),
            (ReleaseKind::Stop, Intent::Stopped)
        );
        assert_eq!(ended.job_id, cancelled.as_str());
        assert_eq!(ended.stopped_with, None);
        assert_eq!(ended.jar_sha256, r.jar_sha256);
        assert_eq!(ended.previous, r.previous);
        // A JobManager that forgot the cancelled job: the record still says stopped.
        assert_eq!(
            decide_with(Some(&ended), &[], None, 3600),
            Decision::Stopped
        );
    }

    #[test]
    fn checkpoints_are_searched_in_the_records_dir_else_the_clusters() {
        let mut r = record();
        let cluster: BTreeMap<String, String> = [(
            "execution.checkpointing.dir".to_string(),
            "file:///cluster".to_string(),
        )]
        .into();
        let sources = checkpoint_sources(&r, &cluster);
        assert_eq!(sources.len(), 2);
        assert!(sources.iter().all(|s| s.dir == "file:///cluster"));
        assert_eq!(sources[0].job_id, JOB);
        assert_eq!(sources[1].job_id, recovery_job_id(&r).as_str());
        r.flink_config
            .insert("state.checkpoints.dir".into(), "s3://b/chk".into());
        assert!(checkpoint_sources(&r, &cluster)
            .iter()
            .all(|s| s.dir == "s3://b/chk"));
        assert!(checkpoint_sources(&record(), &BTreeMap::new()).is_empty());
    }
}
