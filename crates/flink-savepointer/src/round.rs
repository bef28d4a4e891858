//! One round: list the jobs, take a savepoint of each selected RUNNING job,
//! then apply retention to its savepoints.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use flink_rest::{
    AsyncOperation, Error, FlinkClient, JobId, JobOverview, JobState, OperationStatus,
    SavepointFormat,
};
use savepoint_layout::{normalize, Blame, Listing, SavepointLayout, StoredSavepoint};
use time::{OffsetDateTime, PrimitiveDateTime};
use tokio::sync::{OnceCell, Semaphore};
use tokio::task::{self, JoinError, JoinSet};

use crate::exit::Exit;
use crate::printable;
use crate::retention::{self, Retention};
use crate::select::Selector;
use crate::status::Status;

/// How long polling a savepoint tolerates an unreachable JobManager before
/// giving the round up (the JobManager probably died with the savepoint).
const UNREACHABLE_PATIENCE: Duration = Duration::from_secs(15);

/// What a round does, from the flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which jobs.
    pub selector: Selector,
    /// Where savepoints go, and what retention may touch.
    pub layout: SavepointLayout,
    /// Canonical or native savepoints.
    pub format: SavepointFormat,
    /// How long one savepoint (and one disposal) may take.
    pub timeout: Duration,
    /// What to keep.
    pub retention: Retention,
    /// How many jobs to work on at once.
    pub max_concurrent: usize,
}

/// What happened to one selected job in a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A savepoint completed.
    Saved {
        /// Where Flink wrote it.
        location: String,
        /// From trigger to completion.
        took: Duration,
    },
    /// Triggering or completing the savepoint failed, or it timed out.
    Failed {
        /// What went wrong, for a person.
        cause: String,
        /// True when the JobManager stopped answering.
        unreachable: bool,
    },
    /// The job exists but is not RUNNING.
    NotRunning(JobState),
    /// An earlier savepoint of this job that timed out is still running in
    /// Flink: no second one is started alongside it.
    StillInProgress,
    /// No active job has this `--job-name`.
    Missing(Option<JobState>),
    /// The savepoint store (a bucket) failed before the savepoint was
    /// triggered: nothing was done for this job.
    StoreFailed {
        /// What went wrong, for a person (never a secret).
        cause: String,
        /// The configuration's or the store's.
        blame: Blame,
    },
}

/// One line of a round's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    /// The job's name.
    pub name: String,
    /// Its id, when it exists.
    pub job: Option<JobId>,
    /// What happened.
    pub outcome: Outcome,
    /// True when retention after the savepoint could not list or delete
    /// what it should have (retried next time).
    pub retention_failed: bool,
}

/// The result of a round.
#[derive(Debug, Clone, Default)]
pub struct RoundReport {
    /// Set when the JobManager could not be reached (nothing else was done,
    /// or only part of it).
    pub unreachable: Option<String>,
    /// One line per selected job.
    pub jobs: Vec<JobReport>,
}

impl RoundReport {
    /// The exit code of `once` for this round.
    pub fn exit_code(&self) -> Exit {
        if self.unreachable.is_some() {
            return Exit::Unreachable;
        }
        let store = |blame: Blame| {
            self.jobs
                .iter()
                .any(|j| matches!(j.outcome, Outcome::StoreFailed { blame: b, .. } if b == blame))
        };
        if store(Blame::Input) {
            return Exit::Usage;
        }
        if store(Blame::Unreachable) {
            return Exit::Unreachable;
        }
        let failed = self.jobs.iter().any(|j| {
            matches!(
                j.outcome,
                Outcome::Failed { .. } | Outcome::NotRunning(_) | Outcome::StillInProgress
            )
        });
        if failed {
            Exit::OperationFailed
        } else if self.jobs.iter().any(|j| j.retention_failed) {
            Exit::RetentionIncomplete
        } else if self
            .jobs
            .iter()
            .any(|j| matches!(j.outcome, Outcome::Missing(_)))
        {
            Exit::JobNotFound
        } else {
            Exit::Ok
        }
    }
}

/// Takes savepoints. Cheap to clone: everything is shared.
#[derive(Debug, Clone)]
pub struct Savepointer {
    client: FlinkClient,
    settings: Arc<Settings>,
    status: Arc<Status>,
    /// Savepoints that outlived `--timeout`, by job: polled before the
    /// next trigger so two never overlap.
    in_flight: Arc<Mutex<HashMap<JobId, AsyncOperation>>>,
    /// Names of the jobs whose savepoint this round is working on.
    saving: Arc<Mutex<Vec<String>>>,
}

/// The savepoints active jobs restored from, found once per round when
/// retention first needs them. `None` when that could not be found out:
/// retention then waits for a later round.
type Protected = Arc<OnceCell<Option<HashSet<String>>>>;

impl Savepointer {
    /// A savepointer talking to `client`, recording into `status`.
    pub fn new(client: FlinkClient, settings: Settings, status: Arc<Status>) -> Self {
        Self {
            client,
            settings: Arc::new(settings),
            status,
            in_flight: Default::default(),
            saving: Default::default(),
        }
    }

    /// The jobs whose savepoint (or retention) is in progress, for a person.
    pub fn saving(&self) -> Vec<String> {
        self.saving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The shared status.
    pub fn status(&self) -> &Arc<Status> {
        &self.status
    }

    /// The REST client.
    pub(crate) fn client(&self) -> &FlinkClient {
        &self.client
    }

    /// What it does.
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Asks the JobManager for its overview and records whether it answered:
    /// readiness follows the JobManager between rounds too.
    pub async fn probe(&self) {
        let reached = self.client.overview().await;
        self.status
            .jobmanager(reached.map(drop).map_err(|e| e.to_string()));
    }

    /// Runs one round.
    pub async fn round(&self) -> RoundReport {
        let jobs = match self.client.jobs().await {
            Ok(jobs) => {
                self.status.jobmanager(Ok(()));
                jobs
            }
            Err(e) => {
                let reason = e.to_string();
                self.status.jobmanager(Err(reason.clone()));
                if e.is_transient() {
                    tracing::warn!(error = %e, "cannot list the jobs: {e}");
                } else {
                    tracing::error!(error = %e, "cannot list the jobs: {e}");
                }
                return RoundReport {
                    unreachable: Some(reason),
                    jobs: Vec::new(),
                };
            }
        };
        let selection = self.settings.selector.select(&jobs);
        let expected: BTreeSet<String> = match &self.settings.selector {
            Selector::Named(names) => names.clone(),
            Selector::All => selection.to_save.iter().map(|(n, _)| n.clone()).collect(),
        };
        self.status.round(expected);

        let mut report = RoundReport::default();
        // Read only when a selected name matches no job: the jars flink-deploy uploaded, to find
        // an active job that most likely runs one of that name under the name its code gives it
        // (it started within minutes after the upload; Flink does not say which jar a job runs).
        let mut jars: Option<Vec<flink_rest::JarFile>> = None;
        for (name, state) in selection.missing {
            if jars.is_none() {
                jars = Some(self.client.jars().await.unwrap_or_default());
            }
            let elsewhere: Vec<&JobOverview> = jobs
                .iter()
                .filter(|j| j.state.is_active() && j.name != name)
                .filter(|j| {
                    jars.iter().flatten().any(|jar| {
                        savepoint_layout::is_deploy_jar_of(&jar.name, &name)
                            && savepoint_layout::started_after_upload(j.start_time, jar.uploaded)
                    })
                })
                .collect();
            for job in &elsewhere {
                let (shown, other) = (printable(&name), printable(&job.name));
                tracing::warn!(job = %shown, job_id = %job.jid, running_as = %other,
                    "no job named '{shown}', but job {} runs as '{other}' and started just after flink-deploy uploaded a jar for '{shown}': \
                     most likely that release, named otherwise by its code, and it gets no savepoint under '{shown}'. Select it with \
                     --job-name '{other}', or make the job's code use the name '{shown}'", job.jid);
            }
            let misnamed = !elsewhere.is_empty();
            self.status
                .job(&name, |s| s.runs_under_another_name = misnamed);
            let shown = printable(&name);
            match &state {
                Some(state) => {
                    let state = printable(state.as_str());
                    tracing::warn!(job = %shown, last_state = %state, "no running job named '{shown}' (the last one is {state}); no savepoint taken")
                }
                None => {
                    tracing::warn!(job = %shown, "no job named '{shown}' on the JobManager; no savepoint taken")
                }
            }
            self.status.job(&name, |s| s.missing = true);
            report.jobs.push(JobReport {
                name,
                job: None,
                outcome: Outcome::Missing(state),
                retention_failed: false,
            });
        }
        for (name, job, state) in selection.not_running {
            let (shown, shown_state) = (printable(&name), printable(state.as_str()));
            tracing::warn!(job = %shown, job_id = %job, state = %shown_state, "job '{shown}' is {shown_state}, not RUNNING; no savepoint taken this round");
            self.status.job(&name, |s| {
                s.missing = false;
                s.runs_under_another_name = false;
                s.skipped += 1;
            });
            report.jobs.push(JobReport {
                name,
                job: Some(job),
                outcome: Outcome::NotRunning(state),
                retention_failed: false,
            });
        }

        let protected: Protected = Default::default();
        let active: Arc<Vec<JobOverview>> =
            Arc::new(jobs.into_iter().filter(|j| j.state.is_active()).collect());
        let permits = Arc::new(Semaphore::new(self.settings.max_concurrent.max(1)));
        let mut tasks = JoinSet::new();
        let mut spawned = HashMap::new();
        for (name, job) in selection.to_save {
            self.status.job(&name, |s| {
                s.missing = false;
                s.runs_under_another_name = false;
            });
            let this = self.clone();
            let (protected, active, permits) = (protected.clone(), active.clone(), permits.clone());
            let task = tasks.spawn({
                let (name, job) = (name.clone(), job.clone());
                async move {
                    let _permit = permits.acquire_owned().await;
                    let _saving = Saving::start(&this.saving, &name);
                    let (outcome, retention_failed) =
                        this.save(&name, &job, &protected, &active).await;
                    JobReport {
                        name,
                        job: Some(job),
                        outcome,
                        retention_failed,
                    }
                }
            });
            spawned.insert(task.id(), (name, job));
        }
        for job_report in collect(tasks, spawned, &self.status).await {
            if let Outcome::Failed {
                cause,
                unreachable: true,
            } = &job_report.outcome
            {
                report.unreachable.get_or_insert_with(|| cause.clone());
            }
            report.jobs.push(job_report);
        }
        report
    }

    /// Takes one savepoint of a job and applies retention after a success;
    /// true with it when retention failed.
    async fn save(
        &self,
        name: &str,
        job: &JobId,
        protected: &Protected,
        active: &[JobOverview],
    ) -> (Outcome, bool) {
        if let Some(outcome) = self.previous_still_running(name, job).await {
            return (outcome, false);
        }
        if let Some(outcome) = self.check_store(name, job).await {
            return (outcome, false);
        }
        let outcome = self.take_savepoint(name, job).await;
        let mut retention_failed = false;
        let shown = printable(name);
        match &outcome {
            Outcome::Saved { location, took } => {
                let size = self.savepoint_size(job, location).await;
                self.status.job(name, |s| {
                    s.unwritable_dir = None;
                    s.savepoints += 1;
                    s.last_success = Some(SystemTime::now());
                    s.last_success_at = Some(Instant::now());
                    s.last_duration = Some(*took);
                    s.last_size = size.or(s.last_size);
                });
                let location = printable(location);
                tracing::info!(
                    job = %shown,
                    job_id = %job,
                    path = %location,
                    duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                    "savepoint of '{shown}' completed in {:.1}s: {location}",
                    took.as_secs_f64()
                );
                retention_failed = !self.apply_retention(name, protected, active).await;
            }
            Outcome::Failed { cause, .. } => {
                let dir = unwritable_dir(cause);
                let mut first = false;
                self.status.job(name, |s| {
                    s.failures += 1;
                    // Once while the job keeps failing so (each minute's folder is another
                    // path: not a new problem).
                    first = dir.is_some() && s.unwritable_dir.is_none();
                    s.unwritable_dir.clone_from(&dir);
                });
                let cause = printable(cause);
                let hint = match (first, &dir) {
                    (true, Some(dir)) => unwritable_hint(dir, self.settings.layout.root().as_str()),
                    _ => String::new(),
                };
                tracing::error!(job = %shown, job_id = %job, error = %cause, "savepoint of '{shown}' failed: {cause}. The job keeps running; the next round tries again{hint}");
            }
            _ => {}
        }
        (outcome, retention_failed)
    }

    /// With a bucket root, lists the job's folder before asking Flink for a
    /// savepoint: a missing bucket, refused or missing credentials, or a
    /// store that is down are reported as such, before anything is done.
    async fn check_store(&self, name: &str, job: &JobId) -> Option<Outcome> {
        let layout = &self.settings.layout;
        if !layout.is_bucket() {
            return None;
        }
        match layout.list(name, OffsetDateTime::now_utc()).await {
            Ok(_) => {
                self.status.store(Ok(()));
                None
            }
            Err(e) => {
                let cause = e.to_string();
                self.status.store(Err(cause.clone()));
                self.status.job(name, |s| s.failures += 1);
                let (shown, shown_cause) = (printable(name), printable(&cause));
                tracing::error!(job = %shown, job_id = %job, error = %shown_cause, "did not trigger a savepoint of '{shown}': the savepoint store failed: {shown_cause}");
                Some(Outcome::StoreFailed {
                    cause,
                    blame: e.blame(),
                })
            }
        }
    }

    /// Looks after a savepoint an earlier round gave up waiting for.
    async fn previous_still_running(&self, name: &str, job: &JobId) -> Option<Outcome> {
        let op = self.in_flight_op(job)?;
        let shown = printable(name);
        match self.client.operation_status(&op).await {
            Ok(OperationStatus::InProgress) => {
                tracing::warn!(job = %shown, job_id = %job, "the previous savepoint of '{shown}' is still in progress; not starting another");
                return Some(Outcome::StillInProgress);
            }
            Ok(OperationStatus::Completed {
                location: Some(location),
            }) => {
                let location = printable(&location);
                tracing::info!(job = %shown, job_id = %job, path = %location, "the previous savepoint of '{shown}' completed late: {location}");
                self.status.job(name, |s| {
                    s.savepoints += 1;
                    s.last_success = Some(SystemTime::now());
                    s.last_success_at = Some(Instant::now());
                });
            }
            Ok(other) => {
                tracing::debug!(job = %shown, ?other, "the previous savepoint ended");
            }
            Err(e) if e.is_transient() => {
                return Some(Outcome::Failed {
                    cause: format!("cannot ask about the previous savepoint: {e}"),
                    unreachable: e.is_unreachable(),
                });
            }
            // Unknown to the JobManager (restarted, or the result expired).
            Err(e) => {
                tracing::debug!(job = %shown, error = %e, "the previous savepoint is forgotten")
            }
        }
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(job);
        None
    }

    fn in_flight_op(&self, job: &JobId) -> Option<AsyncOperation> {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job)
            .cloned()
    }

    async fn take_savepoint(&self, name: &str, job: &JobId) -> Outcome {
        let started = Instant::now();
        let target = self
            .settings
            .layout
            .target_dir(name, OffsetDateTime::now_utc());
        let shown = printable(name);
        tracing::info!(job = %shown, job_id = %job, target_dir = %printable(&target), "savepoint of '{shown}' triggered");
        let op = match self
            .client
            .trigger_savepoint(job, Some(&target), self.settings.format)
            .await
        {
            Ok(op) => op,
            Err(e) => {
                return Outcome::Failed {
                    cause: format!("cannot trigger it: {e}"),
                    unreachable: e.is_unreachable(),
                }
            }
        };
        match self.poll(&op).await {
            Ok(Some(location)) => Outcome::Saved {
                location,
                took: started.elapsed(),
            },
            Ok(None) => Outcome::Failed {
                cause: "Flink reported it complete but gave no location".into(),
                unreachable: false,
            },
            Err(PollError::Failed(cause)) => Outcome::Failed {
                cause,
                unreachable: false,
            },
            Err(PollError::TimedOut) => {
                self.remember(job, op);
                Outcome::Failed {
                    cause: format!(
                        "it did not finish within {}s (--timeout); the next round waits for it before starting another",
                        self.settings.timeout.as_secs()
                    ),
                    unreachable: false,
                }
            }
            Err(PollError::Unreachable(e)) => {
                self.remember(job, op);
                Outcome::Failed {
                    cause: format!("lost track of it: {e}"),
                    unreachable: true,
                }
            }
            Err(PollError::Other(e)) => Outcome::Failed {
                cause: format!("lost track of it: {e}"),
                unreachable: false,
            },
        }
    }

    fn remember(&self, job: &JobId, op: AsyncOperation) {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.clone(), op);
    }

    /// Polls an operation until it ends, `--timeout` passes, or the
    /// JobManager stays unreachable too long.
    async fn poll(&self, op: &AsyncOperation) -> Result<Option<String>, PollError> {
        let deadline = Instant::now().checked_add(self.settings.timeout);
        let mut wait = Duration::from_millis(100);
        let mut unreachable_since: Option<Instant> = None;
        loop {
            match self.client.operation_status(op).await {
                Ok(OperationStatus::InProgress) => unreachable_since = None,
                Ok(OperationStatus::Completed { location }) => return Ok(location),
                Ok(OperationStatus::Failed { cause }) => return Err(PollError::Failed(cause)),
                Err(e) if e.is_transient() => {
                    let since = *unreachable_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= UNREACHABLE_PATIENCE {
                        return Err(PollError::Unreachable(e));
                    }
                    tracing::debug!(operation = %op, error = %e, "cannot poll; retrying");
                }
                Err(e) => return Err(PollError::Other(e)),
            }
            let Some(left) = time_left(deadline, Instant::now()) else {
                return Err(PollError::TimedOut);
            };
            tokio::time::sleep(wait.min(left)).await;
            wait = (wait * 2).min(Duration::from_secs(1));
        }
    }

    /// The state size Flink reports for the savepoint at `location`.
    async fn savepoint_size(&self, job: &JobId, location: &str) -> Option<u64> {
        let stats = self
            .client
            .checkpoints(job)
            .await
            .map_err(|e| tracing::debug!(error = %e, "no checkpoint statistics"))
            .ok()?;
        let savepoint = stats.latest.savepoint?;
        let same = savepoint
            .external_path
            .as_deref()
            .is_some_and(|p| normalize(p) == normalize(location));
        same.then_some(savepoint.state_size).flatten()
    }

    /// Deletes the job's savepoints retention no longer wants; false when
    /// that could not be done (the store failed, a delete failed, or which
    /// savepoints jobs restored from is unknown). Failures are reported, not
    /// fatal: the next run lists them again.
    async fn apply_retention(
        &self,
        name: &str,
        protected: &Protected,
        active: &[JobOverview],
    ) -> bool {
        let shown = printable(name);
        let now = OffsetDateTime::now_utc();
        let Some(listing) = self.list_for_retention(name, now).await else {
            return false;
        };
        let at = PrimitiveDateTime::new(now.date(), now.time());
        let policy = self.settings.retention;
        // Only ask Flink what jobs restored from when something would go.
        if retention::to_dispose(&listing.savepoints, &policy, at, |_| false).is_empty() {
            self.status
                .job(name, |s| s.kept = Some(kept(&listing.savepoints)));
            return true;
        }
        let protected = protected
            .get_or_init(|| restored_from(&self.client, active))
            .await;
        let Some(protected) = protected else {
            tracing::warn!(job = %shown, "retention skipped this round: cannot tell which savepoints running jobs restored from");
            self.status
                .job(name, |s| s.kept = Some(kept(&listing.savepoints)));
            return false;
        };
        let pruned = self.carry_out(name, &listing, protected, now, false).await;
        pruned.failed.is_empty()
    }

    /// Lists a job's savepoints for retention, recording whether the store
    /// answered and warning about what is set aside. `None` when it failed.
    pub(crate) async fn list_for_retention(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Option<Listing> {
        let shown = printable(name);
        match self.settings.layout.list(name, now).await {
            Ok(listing) => {
                self.status.store(Ok(()));
                // Left alone, but a person should know: they never win a restore either.
                for (what, odd) in listing.set_aside() {
                    let newest = printable(&odd[odd.len() - 1].location);
                    tracing::warn!(job = %shown, count = odd.len(), %newest, "retention leaves alone {} savepoint(s) of '{shown}' {what}", odd.len());
                }
                Some(listing)
            }
            Err(e) => {
                let cause = e.to_string();
                self.status.store(Err(cause.clone()));
                self.status.job(name, |s| s.retention_failures += 1);
                let cause = printable(&cause);
                tracing::warn!(job = %shown, error = %cause, "retention skipped: cannot list the savepoints of '{shown}': {cause}");
                None
            }
        }
    }

    /// Applies the retention policy to one job's listing: deletes what it
    /// chooses (through the store for a bucket, through Flink's disposal for
    /// a local root), or with `dry_run` only says so. `protected` holds the
    /// normalized locations active jobs restored from.
    pub(crate) async fn carry_out(
        &self,
        name: &str,
        listing: &Listing,
        protected: &HashSet<String>,
        now: OffsetDateTime,
        dry_run: bool,
    ) -> Pruned {
        let layout = &self.settings.layout;
        let shown = printable(name);
        let at = PrimitiveDateTime::new(now.date(), now.time());
        let doomed: HashSet<&str> = retention::to_dispose(
            &listing.savepoints,
            &self.settings.retention,
            at,
            |location| retention::is_protected(protected, location),
        )
        .into_iter()
        .map(|s| s.location.as_str())
        .collect();
        let mut pruned = Pruned {
            set_aside: listing
                .ignored_future
                .iter()
                .chain(&listing.ambiguous_legacy)
                .cloned()
                .collect(),
            ..Pruned::default()
        };
        for savepoint in &listing.savepoints {
            // The layout only lists its own folders; check again anyway.
            if !doomed.contains(savepoint.location.as_str())
                || !layout.contains(name, &savepoint.location)
            {
                if savepoint.complete {
                    pruned.kept.push(savepoint.clone());
                } else {
                    pruned.incomplete.push(savepoint.clone());
                }
                continue;
            }
            let path = printable(&savepoint.location);
            if dry_run {
                tracing::info!(job = %shown, path = %path, "would delete old savepoint {path} (--dry-run)");
                pruned.would_delete.push(savepoint.clone());
                continue;
            }
            match self.delete_savepoint(name, &savepoint.location).await {
                Ok(()) => {
                    self.status.job(name, |s| s.disposals += 1);
                    tracing::info!(job = %shown, path = %path, "disposed old savepoint {path}");
                    pruned.deleted.push(savepoint.clone());
                }
                Err(e) => {
                    self.status.job(name, |s| s.disposal_failures += 1);
                    let shown_e = printable(&e);
                    tracing::warn!(job = %shown, path = %path, error = %shown_e, "cannot dispose {path}: {shown_e}. Tried again next time");
                    pruned.failed.push((savepoint.clone(), e));
                }
            }
        }
        let left: Vec<StoredSavepoint> = pruned
            .kept
            .iter()
            .chain(&pruned.would_delete)
            .chain(pruned.failed.iter().map(|(s, _)| s))
            .cloned()
            .collect();
        self.status.job(name, |s| s.kept = Some(kept(&left)));
        pruned
    }

    /// Deletes one savepoint: a bucket's through the store (Flink would need
    /// its filesystem plugin), a local one through Flink's disposal.
    async fn delete_savepoint(&self, name: &str, location: &str) -> Result<(), String> {
        let layout = &self.settings.layout;
        if layout.is_bucket() {
            return match layout.delete(name, location).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let e = e.to_string();
                    self.status.store(Err(e.clone()));
                    Err(e)
                }
            };
        }
        self.dispose(location).await?;
        remove_empty_parent(location);
        Ok(())
    }

    async fn dispose(&self, location: &str) -> Result<(), String> {
        let op = self
            .client
            .dispose_savepoint(location)
            .await
            .map_err(|e| e.to_string())?;
        match self.poll(&op).await {
            Ok(_) => Ok(()),
            Err(PollError::Failed(cause)) => Err(cause),
            Err(PollError::TimedOut) => Err("timed out".into()),
            Err(PollError::Unreachable(e) | PollError::Other(e)) => Err(e.to_string()),
        }
    }
}

/// What is left of a deadline at `now`; `None` once it passed. No deadline
/// (a timeout beyond what `Instant` can hold) never passes.
/// The directory Flink could not create, from a savepoint's failure `cause`: Flink's own
/// "Failed to create savepoint directory at DIR" (a directory it may not write: the issue's
/// root-owned mount), or the `FileAlreadyExistsException: PATH` of a regular file where a
/// directory of the path should be (which fails for root too).
fn unwritable_dir(cause: &str) -> Option<String> {
    [
        "Failed to create savepoint directory at ",
        "FileAlreadyExistsException: ",
    ]
    .into_iter()
    .find_map(|mark| {
        let at = cause.find(mark)? + mark.len();
        let dir: String = cause[at..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ')' | ',' | ';'))
            .collect();
        (!dir.is_empty()).then_some(dir)
    })
}

/// What to do about a savepoint directory Flink cannot create, said once per job. The sidecar
/// cannot know the uid the JobManager runs Flink as: the official image's is named.
fn unwritable_hint(dir: &str, root: &str) -> String {
    let root = root.trim_start_matches("file://");
    format!(
        ". The JobManager's Flink cannot create {dir} (or a directory under it): the savepoint \
         directory must be writable \
         by the user the JobManager runs Flink as (uid 9999, gid 9999 in the official Flink image \
         and in docker/flink.Dockerfile's). For a directory mounted from the host, run there \
         `sudo chown -R 9999:9999 HOST_DIR` (with `-v HOST_DIR:{root}`); a path under a regular \
         file cannot be created by anyone. flink-bootstrap checks this before Flink starts when \
         the JobManager's savepoint directory is set to it"
    )
}

fn time_left(deadline: Option<Instant>, now: Instant) -> Option<Duration> {
    match deadline {
        Some(deadline) if now >= deadline => None,
        Some(deadline) => Some(deadline - now),
        None => Some(Duration::MAX),
    }
}

/// Marks a job's savepoint as in progress while it lives (also when its
/// task panics or is cancelled).
struct Saving<'a> {
    saving: &'a Mutex<Vec<String>>,
    name: String,
}

impl<'a> Saving<'a> {
    fn start(saving: &'a Mutex<Vec<String>>, name: &str) -> Self {
        saving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_string());
        Self {
            saving,
            name: name.to_string(),
        }
    }
}

impl Drop for Saving<'_> {
    fn drop(&mut self) {
        let mut saving = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = saving.iter().position(|n| *n == self.name) {
            saving.remove(i);
        }
    }
}

/// Waits for a round's savepoint tasks, `spawned` naming each one's job.
/// A task that panicked or was cancelled is a failed savepoint of its job,
/// reported and counted: dropped, it would look like a success.
async fn collect(
    mut tasks: JoinSet<JobReport>,
    mut spawned: HashMap<task::Id, (String, JobId)>,
    status: &Status,
) -> Vec<JobReport> {
    let mut reports = Vec::new();
    while let Some(done) = tasks.join_next_with_id().await {
        match done {
            Ok((id, report)) => {
                spawned.remove(&id);
                reports.push(report);
            }
            Err(e) => reports.push(abnormal_end(spawned.remove(&e.id()), &e, status)),
        }
    }
    reports
}

fn abnormal_end(spawned: Option<(String, JobId)>, e: &JoinError, status: &Status) -> JobReport {
    let (name, job) = match spawned {
        Some((name, job)) => (name, Some(job)),
        None => ("(unknown job)".to_string(), None),
    };
    let how = if e.is_panic() {
        "panicked"
    } else {
        "was cancelled"
    };
    let cause = format!(
        "the savepoint task {how}, an internal error ({}); whether Flink took the savepoint is unknown",
        printable(&e.to_string())
    );
    status.job(&name, |s| s.failures += 1);
    let shown = printable(&name);
    match &job {
        Some(job) => {
            tracing::error!(job = %shown, job_id = %job, error = %cause, "savepoint of '{shown}' failed: {cause}. The job keeps running; the next round tries again")
        }
        None => tracing::error!(error = %cause, "a savepoint failed: {cause}"),
    }
    JobReport {
        name,
        job,
        outcome: Outcome::Failed {
            cause,
            unreachable: false,
        },
        retention_failed: false,
    }
}

enum PollError {
    Failed(String),
    TimedOut,
    Unreachable(Error),
    Other(Error),
}

/// What retention did with one job's savepoints (each list oldest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Deleted.
    pub deleted: Vec<StoredSavepoint>,
    /// Chosen, not deleted: `--dry-run`.
    pub would_delete: Vec<StoredSavepoint>,
    /// Chosen, but the delete failed: why.
    pub failed: Vec<(StoredSavepoint, String)>,
    /// Complete savepoints retention keeps.
    pub kept: Vec<StoredSavepoint>,
    /// Incomplete ones (no `_metadata`): never deleted.
    pub incomplete: Vec<StoredSavepoint>,
    /// Dated in the future, or in a legacy folder another job may own: never deleted.
    pub set_aside: Vec<StoredSavepoint>,
}

/// How many complete savepoints `left` holds, and their bytes.
fn kept(left: &[StoredSavepoint]) -> (u64, u64) {
    left.iter()
        .filter(|s| s.complete)
        .fold((0, 0), |(n, b), s| (n + 1, b + s.bytes))
}

/// The normalized paths active jobs restored from, or `None` when a job's
/// statistics could not be read.
pub(crate) async fn restored_from(
    client: &FlinkClient,
    active: &[JobOverview],
) -> Option<HashSet<String>> {
    let mut paths = HashSet::new();
    for job in active {
        match client.checkpoints(&job.jid).await {
            Ok(stats) => {
                if let Some(path) = stats.latest.restored.and_then(|r| r.external_path) {
                    paths.insert(normalize(&path));
                }
            }
            // The job is gone since the listing: it needs nothing.
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                tracing::warn!(job = %printable(&job.name), job_id = %job.jid, error = %e, "cannot read checkpoint statistics");
                return None;
            }
        }
    }
    Some(paths)
}

/// Removes the dated folder a disposed savepoint was in, when it is now
/// empty (local filesystems only; `remove_dir` never removes content).
fn remove_empty_parent(location: &str) {
    if location.starts_with("file:") || location.starts_with('/') {
        let path = std::path::PathBuf::from(normalize(location));
        if let Some(parent) = path.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcomes: Vec<Outcome>) -> RoundReport {
        RoundReport {
            unreachable: None,
            jobs: outcomes
                .into_iter()
                .map(|outcome| JobReport {
                    name: "j".into(),
                    job: None,
                    outcome,
                    retention_failed: false,
                })
                .collect(),
        }
    }

    #[test]
    fn flinks_unwritable_directory_is_recognised_with_its_hint() {
        let cause = "java.util.concurrent.CompletionException: java.io.IOException: Failed to \
                     create savepoint directory at file:/data/savepoints/orders/2026-12-01-08-01 \
                     (caused by …)";
        assert_eq!(
            unwritable_dir(cause).as_deref(),
            Some("file:/data/savepoints/orders/2026-12-01-08-01")
        );
        assert_eq!(unwritable_dir("java.io.IOException: disk full"), None);
        // A file on the path, as Flink 1.20 and 2.3 report it.
        let file = "java.util.concurrent.CompletionException: org.apache.flink.runtime.checkpoint.\
                    CheckpointException: An Exception occurred while triggering the checkpoint. \
                    IO-problem detected. (caused by java.nio.file.FileAlreadyExistsException: \
                    /tmp/x/blocker)";
        assert_eq!(unwritable_dir(file).as_deref(), Some("/tmp/x/blocker"));
        let hint = unwritable_hint("file:/data/savepoints/x", "file:///data/savepoints");
        assert!(hint.contains("uid 9999"), "{hint}");
        assert!(
            hint.contains(
                "`sudo chown -R 9999:9999 HOST_DIR` (with `-v HOST_DIR:/data/savepoints`)"
            ),
            "{hint}"
        );
    }

    #[test]
    fn exit_codes_say_what_went_wrong() {
        let saved = || Outcome::Saved {
            location: "file:/x".into(),
            took: Duration::ZERO,
        };
        let failed = || Outcome::Failed {
            cause: "x".into(),
            unreachable: false,
        };
        assert_eq!(report(vec![saved()]).exit_code(), Exit::Ok);
        assert_eq!(report(vec![]).exit_code(), Exit::Ok);
        assert_eq!(
            report(vec![saved(), failed()]).exit_code(),
            Exit::OperationFailed
        );
        assert_eq!(
            report(vec![saved(), Outcome::NotRunning(JobState::Restarting)]).exit_code(),
            Exit::OperationFailed
        );
        assert_eq!(
            report(vec![saved(), Outcome::Missing(None)]).exit_code(),
            Exit::JobNotFound
        );
        assert_eq!(
            report(vec![failed(), Outcome::Missing(None)]).exit_code(),
            Exit::OperationFailed
        );
        let mut retention = report(vec![saved()]);
        retention.jobs[0].retention_failed = true;
        assert_eq!(retention.exit_code(), Exit::RetentionIncomplete);
        retention.jobs.push(report(vec![failed()]).jobs.remove(0));
        assert_eq!(retention.exit_code(), Exit::OperationFailed);
        let store = |blame| Outcome::StoreFailed {
            cause: "the bucket gs://x does not exist".into(),
            blame,
        };
        assert_eq!(
            report(vec![store(Blame::Input), failed()]).exit_code(),
            Exit::Usage
        );
        assert_eq!(
            report(vec![store(Blame::Unreachable)]).exit_code(),
            Exit::Unreachable
        );
        let mut unreachable = report(vec![failed()]);
        unreachable.unreachable = Some("down".into());
        assert_eq!(unreachable.exit_code(), Exit::Unreachable);
    }

    type Work = std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send>>;

    /// A round's tasks: one per job, each running its work.
    fn spawn_all(
        jobs: Vec<(&str, Work)>,
    ) -> (JoinSet<JobReport>, HashMap<task::Id, (String, JobId)>) {
        let mut tasks = JoinSet::new();
        let mut spawned = HashMap::new();
        for (i, (name, work)) in jobs.into_iter().enumerate() {
            let job = JobId::new(format!("{i:032x}"));
            let (n, j) = (name.to_string(), job.clone());
            let task = tasks.spawn(async move {
                let outcome = work.await;
                JobReport {
                    name: n,
                    job: Some(j),
                    outcome,
                    retention_failed: false,
                }
            });
            spawned.insert(task.id(), (name.to_string(), job));
        }
        (tasks, spawned)
    }

    #[tokio::test]
    async fn a_task_that_panics_is_a_failed_savepoint_not_a_missing_one() {
        let saved = Outcome::Saved {
            location: "file:/sp/ok".into(),
            took: Duration::ZERO,
        };
        let (tasks, spawned) = spawn_all(vec![
            ("ok", Box::pin(async move { saved })),
            (
                "boom",
                Box::pin(async {
                    panic!("deadline overflow");
                }),
            ),
        ]);
        let status = Status::new();
        let reports = collect(tasks, spawned, &status).await;
        assert_eq!(reports.len(), 2, "{reports:?}");
        let boom = reports.iter().find(|r| r.name == "boom").expect("reported");
        assert_eq!(boom.job, Some(JobId::new(format!("{:032x}", 1))));
        match &boom.outcome {
            Outcome::Failed { cause, unreachable } => {
                assert!(!unreachable);
                assert!(cause.contains("panicked"), "{cause}");
                assert!(cause.contains("deadline overflow"), "{cause}");
            }
            other => panic!("{other:?}"),
        }
        let report = RoundReport {
            unreachable: None,
            jobs: reports,
        };
        assert_eq!(report.exit_code(), Exit::OperationFailed);
        assert_eq!(status.job_stats("boom").expect("counted").failures, 1);
        assert!(status.job_stats("ok").is_none());
        assert!(status
            .render_metrics(false)
            .contains("flink_savepointer_failures_total{job=\"boom\"} 1\n"));
    }

    #[tokio::test]
    async fn a_cancelled_task_is_a_failed_savepoint() {
        let (mut tasks, spawned) =
            spawn_all(vec![("stuck", Box::pin(std::future::pending::<Outcome>()))]);
        tasks.abort_all();
        let status = Status::new();
        let reports = collect(tasks, spawned, &status).await;
        assert_eq!(reports.len(), 1);
        assert!(
            matches!(&reports[0].outcome, Outcome::Failed { cause, .. } if cause.contains("cancelled")),
            "{reports:?}"
        );
        assert_eq!(status.job_stats("stuck").unwrap().failures, 1);
    }

    #[test]
    fn deadlines_beyond_what_an_instant_holds_never_pass() {
        let now = Instant::now();
        assert_eq!(now.checked_add(Duration::MAX), None);
        assert_eq!(time_left(None, now), Some(Duration::MAX));
        let deadline = now + Duration::from_secs(5);
        assert_eq!(time_left(Some(deadline), now), Some(Duration::from_secs(5)));
        assert_eq!(time_left(Some(deadline), deadline), None);
        assert_eq!(time_left(Some(now), deadline), None);
    }

    #[test]
    fn saving_lists_jobs_while_their_savepoint_runs() {
        let saving = Mutex::new(Vec::new());
        let a = Saving::start(&saving, "a");
        let b = Saving::start(&saving, "b");
        assert_eq!(*saving.lock().unwrap(), ["a", "b"]);
        drop(a);
        assert_eq!(*saving.lock().unwrap(), ["b"]);
        drop(b);
        assert!(saving.lock().unwrap().is_empty());
    }

    #[test]
    fn only_empty_dated_folders_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let dated = root.path().join("orders/2026-11-23-18-15");
        std::fs::create_dir_all(dated.join("savepoint-b")).unwrap();
        let gone = format!("file:{}/savepoint-a", dated.display());
        remove_empty_parent(&gone);
        assert!(dated.is_dir(), "a folder with content stays");
        std::fs::remove_dir(dated.join("savepoint-b")).unwrap();
        remove_empty_parent(&gone);
        assert!(!dated.exists());
    }
}
