//! Request and response types of the REST API, as the client exposes them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id as Flink prints it, unchecked. Requests check it
            /// again before it goes into a URL ([`Error::InvalidId`]).
            ///
            /// [`Error::InvalidId`]: crate::Error::InvalidId
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// Wraps an id after checking its shape.
            pub fn parse(id: &str) -> Result<Self, InvalidId> {
                if $check(id) {
                    Ok(Self(id.to_string()))
                } else {
                    Err(InvalidId::new($what, id))
                }
            }

            /// The id as Flink prints it.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id, when it has the shape Flink gives such ids (so it is
            /// one URL path segment that stays under the REST base path).
            pub(crate) fn checked(&self) -> Result<&str, InvalidId> {
                if $check(&self.0) {
                    Ok(&self.0)
                } else {
                    Err(InvalidId::new($what, &self.0))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        // Ids come from the JobManager and go into URLs: a malformed one is
        // an unexpected answer, never a request outside the base path.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let id = String::deserialize(d)?;
                Self::parse(&id).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A job id: 32 hex digits.
    JobId,
    "job id",
    is_hex_id
);
id_type!(
    /// An uploaded jar's id: the stored file name, `<uuid>_<name>.jar`.
    JarId,
    "jar id",
    is_jar_file_name
);
id_type!(
    /// The id of an asynchronous operation (savepoint, disposal): 32 hex digits.
    TriggerId,
    "trigger id",
    is_hex_id
);

/// An id from the JobManager (or a caller) that does not have the shape
/// Flink gives such ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {shown} is not what Flink gives ({expected})")]
pub struct InvalidId {
    /// Which kind of id, e.g. "job id".
    pub what: &'static str,
    /// The id, escaped and shortened for printing.
    pub shown: String,
    /// What it should look like.
    pub expected: &'static str,
}

impl InvalidId {
    pub(crate) fn new(what: &'static str, id: &str) -> Self {
        let mut shown: String = id.chars().take(80).collect();
        if shown.len() < id.len() {
            shown.push('…');
        }
        Self {
            what,
            shown: format!("{shown:?}"),
            expected: match what {
                "jar id" => "a file name ending in .jar",
                _ => "32 hex digits",
            },
        }
    }
}

/// Job, vertex and trigger ids are Flink `AbstractID`s: 32 hex digits.
pub(crate) fn is_hex_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A jar id is the name of a file in the JobManager's upload directory,
/// `<uuid>_<uploaded name>.jar`: one path segment (no `/`, `\`, `.`, `..`)
/// without control characters, ending in `.jar` (Flink lists only those).
/// Other characters are allowed (Flink keeps the uploader's file name) and
/// percent-encoded in URLs.
pub(crate) fn is_jar_file_name(id: &str) -> bool {
    id.len() <= 255
        && id.len() > ".jar".len()
        && id.ends_with(".jar")
        && !id.contains(['/', '\\'])
        && !id.chars().any(char::is_control)
}

/// `GET /overview`: the cluster at a glance.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClusterOverview {
    /// Registered TaskManagers.
    pub taskmanagers: u32,
    /// All task slots.
    pub slots_total: u32,
    /// Free task slots.
    pub slots_available: u32,
    /// Jobs running.
    pub jobs_running: u32,
    /// Jobs finished.
    pub jobs_finished: u32,
    /// Jobs cancelled.
    pub jobs_cancelled: u32,
    /// Jobs failed.
    pub jobs_failed: u32,
    /// The Flink version.
    pub flink_version: String,
}

/// One registered TaskManager (`GET /taskmanagers`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskManager {
    /// Its resource id.
    pub id: String,
    /// Its RPC path (contains its host).
    #[serde(default)]
    pub path: String,
    /// Task slots it offers.
    pub slots_number: u32,
    /// Of which free.
    pub free_slots: u32,
}

#[derive(Deserialize)]
pub(crate) struct TaskManagers {
    pub taskmanagers: Vec<TaskManager>,
}

/// A job's state, as Flink names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Submitted, not yet scheduled.
    Initializing,
    /// Created, waiting for resources.
    Created,
    /// Running (tasks may still be deploying: see [`JobDetails::all_tasks_running`]).
    Running,
    /// Failing.
    Failing,
    /// Failed for good.
    Failed,
    /// Being cancelled.
    Cancelling,
    /// Cancelled.
    Canceled,
    /// Finished (also after stop-with-savepoint).
    Finished,
    /// Restarting after a failure or rescale.
    Restarting,
    /// Suspended (JobManager lost leadership).
    Suspended,
    /// Being reconciled after a JobManager failover.
    Reconciling,
    /// A state this client does not know.
    Other(String),
}

impl JobState {
    /// Flink's name for it.
    pub fn as_str(&self) -> &str {
        match self {
            JobState::Initializing => "INITIALIZING",
            JobState::Created => "CREATED",
            JobState::Running => "RUNNING",
            JobState::Failing => "FAILING",
            JobState::Failed => "FAILED",
            JobState::Cancelling => "CANCELLING",
            JobState::Canceled => "CANCELED",
            JobState::Finished => "FINISHED",
            JobState::Restarting => "RESTARTING",
            JobState::Suspended => "SUSPENDED",
            JobState::Reconciling => "RECONCILING",
            JobState::Other(s) => s,
        }
    }

    /// True for states a job never leaves.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobState::Failed | JobState::Canceled | JobState::Finished
        )
    }

    /// True while the job holds (or is acquiring) resources: anything not terminal.
    pub fn is_active(&self) -> bool {
        !self.is_terminal()
    }
}

impl From<&str> for JobState {
    fn from(s: &str) -> Self {
        match s {
            "INITIALIZING" => JobState::Initializing,
            "CREATED" => JobState::Created,
            "RUNNING" => JobState::Running,
            "FAILING" => JobState::Failing,
            "FAILED" => JobState::Failed,
            "CANCELLING" => JobState::Cancelling,
            "CANCELED" => JobState::Canceled,
            "FINISHED" => JobState::Finished,
            "RESTARTING" => JobState::Restarting,
            "SUSPENDED" => JobState::Suspended,
            "RECONCILING" => JobState::Reconciling,
            other => JobState::Other(other.to_string()),
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(JobState::from(String::deserialize(d)?.as_str()))
    }
}

impl Serialize for JobState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One job in `GET /jobs/overview`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct JobOverview {
    /// Its id.
    pub jid: JobId,
    /// Its name (not unique: compare exactly).
    pub name: String,
    /// Its state.
    pub state: JobState,
    /// Start time, epoch milliseconds.
    pub start_time: i64,
    /// End time, epoch milliseconds, or -1 while running.
    pub end_time: i64,
}

#[derive(Deserialize)]
pub(crate) struct JobsOverview {
    pub jobs: Vec<JobOverview>,
}

/// `GET /jobs/{id}`: a job with its vertices.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct JobDetails {
    /// Its id.
    pub jid: JobId,
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: JobState,
    /// Start time, epoch milliseconds.
    pub start_time: i64,
    /// Its vertices (chained operators).
    pub vertices: Vec<Vertex>,
    /// Its job graph, with each vertex's inputs. Read leniently: its shape differs between
    /// versions and states (1.20 can leave out the plan's `name`), and the job's details must
    /// never fail over it; without it, sources are known by name.
    #[serde(
        default,
        deserialize_with = "lenient_plan",
        skip_serializing_if = "Option::is_none"
    )]
    pub plan: Option<JobPlan>,
}

fn lenient_plan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<JobPlan>, D::Error> {
    let raw = Option::<serde_json::Value>::deserialize(d)?;
    Ok(raw.and_then(|v| serde_json::from_value(v).ok()))
}

impl JobDetails {
    /// True when the vertex `id` reads from no other vertex (by the job's plan; without a plan,
    /// by Flink's naming of sources, `Source: ...`).
    pub fn is_source(&self, id: &str) -> bool {
        match self
            .plan
            .as_ref()
            .and_then(|p| p.nodes.iter().find(|n| n.id == id))
        {
            Some(node) => node.inputs.is_empty(),
            None => self
                .vertices
                .iter()
                .any(|v| v.id == id && v.name.starts_with("Source:")),
        }
    }
}

impl JobDetails {
    /// True when the job is RUNNING and every task of every vertex is
    /// RUNNING or FINISHED (a source subtask with no split to read finishes
    /// at once), with at least one task running.
    ///
    /// A job turns RUNNING as soon as it is scheduled; its tasks may still be
    /// deploying or waiting for slots.
    pub fn all_tasks_running(&self) -> bool {
        let count = |v: &Vertex, state: &str| v.tasks.get(state).copied().unwrap_or(0);
        // A vertex reports RUNNING as soon as one task runs: count its tasks
        // where Flink gives the counts.
        let some_running = |v: &Vertex| match v.tasks.is_empty() {
            true => v.status == "RUNNING",
            false => count(v, "RUNNING") > 0,
        };
        let none_pending = |v: &Vertex| match v.tasks.is_empty() {
            true => v.status == "RUNNING",
            false => {
                v.parallelism > 0 && count(v, "RUNNING") + count(v, "FINISHED") == v.parallelism
            }
        };
        self.state == JobState::Running
            && self.vertices.iter().any(some_running)
            && self.vertices.iter().all(none_pending)
    }
}

/// One vertex of a job.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Vertex {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its current parallelism.
    pub parallelism: u32,
    /// The most it can be rescaled to (the number of key groups), where Flink reports it.
    #[serde(
        default,
        rename = "maxParallelism",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_parallelism: Option<u32>,
    /// Its aggregated execution state (`RUNNING`, `DEPLOYING`, ...).
    pub status: String,
    /// How many of its tasks are in each execution state.
    #[serde(default)]
    pub tasks: BTreeMap<String, u32>,
}

/// `GET /jobs/{id}/checkpoints`: checkpoint statistics.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CheckpointStats {
    /// Counts of checkpoints by outcome.
    pub counts: CheckpointCounts,
    /// The latest ones of each kind.
    pub latest: LatestCheckpoints,
    /// Recent checkpoints of every outcome, newest first.
    #[serde(default)]
    pub history: Vec<CompletedCheckpoint>,
}

impl CheckpointStats {
    /// The newest completed checkpoint or savepoint that is externalized
    /// and not discarded: what a job could restore from.
    pub fn newest_restorable(&self) -> Option<&CompletedCheckpoint> {
        [&self.latest.savepoint, &self.latest.completed]
            .into_iter()
            .flatten()
            .chain(
                self.history
                    .iter()
                    .filter(|c| c.status.as_deref() == Some("COMPLETED")),
            )
            .filter(|c| !c.discarded && c.external_path.as_deref().is_some_and(is_restorable_path))
            .max_by_key(|c| (c.trigger_timestamp, c.id))
    }
}

/// Counts of checkpoints by outcome.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CheckpointCounts {
    /// Restores so far.
    #[serde(default)]
    pub restored: u64,
    /// Completed checkpoints and savepoints.
    #[serde(default)]
    pub completed: u64,
    /// Failed ones.
    #[serde(default)]
    pub failed: u64,
}

/// The latest checkpoints of each kind.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct LatestCheckpoints {
    /// The newest completed checkpoint.
    pub completed: Option<CompletedCheckpoint>,
    /// The newest savepoint.
    pub savepoint: Option<CompletedCheckpoint>,
    /// What the job restored from, if anything.
    pub restored: Option<RestoredCheckpoint>,
}

/// A completed checkpoint or savepoint.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CompletedCheckpoint {
    /// Its id.
    pub id: u64,
    /// True for a savepoint.
    #[serde(default)]
    pub is_savepoint: bool,
    /// When it was triggered, epoch milliseconds.
    #[serde(default)]
    pub trigger_timestamp: i64,
    /// Where it is stored (`file:/...`), when externalized. Blank paths
    /// and Flink's `<checkpoint-not-externally-addressable>` read as none:
    /// neither is anything a job can restore from.
    #[serde(default, deserialize_with = "restorable_path")]
    pub external_path: Option<String>,
    /// Size of its state in bytes, where Flink reports it.
    #[serde(default)]
    pub state_size: Option<u64>,
    /// True when Flink has discarded it.
    #[serde(default)]
    pub discarded: bool,
    /// `COMPLETED`, `IN_PROGRESS` or `FAILED` (history entries only).
    #[serde(default)]
    pub status: Option<String>,
}

/// An `external_path` as a restore point: none when it is blank (a job
/// run with `"savepointPath": ""` starts empty) or a marker such as
/// `<checkpoint-not-externally-addressable>` (checkpoints kept only in the
/// JobManager's memory).
fn restorable_path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let path = Option::<String>::deserialize(d)?;
    Ok(path.filter(|p| is_restorable_path(p)))
}

/// True for a non-blank path that is not one of Flink's `<...>` markers.
pub(crate) fn is_restorable_path(path: &str) -> bool {
    let path = path.trim();
    !path.is_empty() && !path.starts_with('<')
}

/// What a job restored from.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RestoredCheckpoint {
    /// The checkpoint's id.
    pub id: u64,
    /// When the restore happened, epoch milliseconds.
    #[serde(default)]
    pub restore_timestamp: i64,
    /// True when it was a savepoint.
    #[serde(default)]
    pub is_savepoint: bool,
    /// Its path (none when Flink gives a blank one or its
    /// `<checkpoint-not-externally-addressable>` marker).
    #[serde(default, deserialize_with = "restorable_path")]
    pub external_path: Option<String>,
}

/// An uploaded jar (`GET /jars`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct JarFile {
    /// Its id, to run or delete it.
    pub id: JarId,
    /// The file name it was uploaded under.
    pub name: String,
    /// Upload time, epoch milliseconds.
    pub uploaded: i64,
}

#[derive(Deserialize)]
pub(crate) struct JarList {
    pub files: Vec<JarFile>,
}

/// What a restored job does with the snapshot it starts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimMode {
    /// The job owns the snapshot and may delete it later.
    Claim,
    /// The snapshot stays the user's; the job takes a full first checkpoint.
    #[default]
    NoClaim,
}

/// How `POST /jars/{id}/run` should start a job.
#[derive(Debug, Clone, Default)]
pub struct RunJob {
    /// The main class, when the jar's manifest has none or another is wanted.
    pub entry_class: Option<String>,
    /// The program's own arguments.
    pub program_args: Vec<String>,
    /// Default parallelism.
    pub parallelism: Option<u32>,
    /// A fixed job id.
    pub job_id: Option<JobId>,
    /// The savepoint or retained checkpoint to restore from.
    pub savepoint_path: Option<String>,
    /// Skip state that maps to no operator of the new job.
    pub allow_non_restored_state: bool,
    /// Who owns the restored snapshot.
    pub claim_mode: ClaimMode,
    /// Job-level configuration (`flinkConfiguration`).
    pub flink_configuration: BTreeMap<String, String>,
}

/// The on-disk format of a savepoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SavepointFormat {
    /// Portable across state backends.
    #[default]
    Canonical,
    /// The state backend's own format: faster, not portable.
    Native,
}

impl SavepointFormat {
    /// Flink's name for it.
    pub fn as_flink(&self) -> &'static str {
        match self {
            SavepointFormat::Canonical => "CANONICAL",
            SavepointFormat::Native => "NATIVE",
        }
    }
}

/// An asynchronous operation to poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsyncOperation {
    /// A savepoint (plain or stop-with-savepoint) of a job.
    Savepoint {
        /// The job.
        job: JobId,
        /// The trigger id returned when it was started.
        trigger: TriggerId,
    },
    /// The disposal of a savepoint.
    Disposal {
        /// The savepoint's path.
        path: String,
        /// The trigger id returned when it was started.
        trigger: TriggerId,
    },
}

impl fmt::Display for AsyncOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsyncOperation::Savepoint { job, .. } => write!(f, "savepoint of job {job}"),
            AsyncOperation::Disposal { path, .. } => write!(f, "disposal of savepoint {path}"),
        }
    }
}

/// The state of an asynchronous operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationStatus {
    /// Still running.
    InProgress,
    /// Done; for a savepoint, with its location.
    Completed {
        /// Where the savepoint was written (none for disposals).
        location: Option<String>,
    },
    /// Done, with Flink's failure cause.
    Failed {
        /// The first line of Flink's stack trace.
        cause: String,
    },
}

#[derive(Deserialize)]
pub(crate) struct AsyncResult {
    pub status: AsyncStatusId,
    #[serde(default)]
    pub operation: Option<AsyncOperationBody>,
}

#[derive(Deserialize)]
pub(crate) struct AsyncStatusId {
    pub id: String,
}

#[derive(Deserialize)]
pub(crate) struct AsyncOperationBody {
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default, rename = "failure-cause")]
    pub failure_cause: Option<FailureCause>,
}

#[derive(Deserialize)]
pub(crate) struct FailureCause {
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default, rename = "stack-trace")]
    pub stack_trace: Option<String>,
}

/// A savepoint that completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavepointDone {
    /// Where Flink wrote it (`file:/.../savepoint-...`).
    pub location: String,
    /// How long it took from trigger to completion, as seen by the client.
    pub took: Duration,
}

#[derive(Deserialize)]
pub(crate) struct TriggerResponse {
    #[serde(rename = "request-id")]
    pub request_id: TriggerId,
}

#[derive(Deserialize)]
pub(crate) struct JarUploadResponse {
    pub filename: String,
}

/// `GET /jobs/{id}/vertices/{vid}/subtasktimes`: when each subtask of a vertex entered each
/// execution state, on the JobManager's clock.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SubtaskTimes {
    /// One entry per subtask.
    #[serde(default)]
    pub subtasks: Vec<SubtaskTime>,
}

/// When one subtask entered each state.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SubtaskTime {
    /// Its index.
    #[serde(default)]
    pub subtask: u32,
    /// State name (`RUNNING`, `DEPLOYING`, …) to epoch milliseconds; 0 for a state not reached.
    #[serde(default)]
    pub timestamps: BTreeMap<String, i64>,
}

/// `POST /jars/{id}/plan`: the job graph a jar's `main()` builds, without running it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct JobPlan {
    /// The job's name, as `main()` passed it to `execute()` (or `pipeline.name`).
    pub name: String,
    /// Its vertices (chained operators), sources first as Flink lists them.
    #[serde(default)]
    pub nodes: Vec<PlanNode>,
}

/// One vertex of a [`JobPlan`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PlanNode {
    /// The vertex id (stable for the same operator uids).
    pub id: String,
    /// Its name, e.g. `Source: events -> Map`.
    #[serde(default)]
    pub description: String,
    /// The parallelism it would run with.
    #[serde(default)]
    pub parallelism: u32,
    /// The vertices it reads from (none for a source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<PlanInput>,
}

/// An input edge of a [`PlanNode`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PlanInput {
    /// The upstream vertex's id.
    pub id: String,
}

#[derive(Deserialize)]
pub(crate) struct JarPlanResponse {
    pub plan: JobPlan,
}

#[derive(Deserialize)]
pub(crate) struct JarRunResponse {
    pub jobid: JobId,
}

#[derive(Deserialize)]
pub(crate) struct ConfigResponse {
    #[serde(rename = "flink-version")]
    pub flink_version: String,
}

/// The answer of `GET /jobs/{id}/exceptions`: only its history is read (the first-level
/// `root-exception`, `all-exceptions`, ... of Flink 1.x are deprecated and gone in 2.x).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobExceptions {
    #[serde(default)]
    pub exception_history: Option<ExceptionHistory>,
}

/// A job's exception history (`exceptionHistory` of `GET /jobs/{id}/exceptions`): every
/// failure Flink handled for the job, newest first, up to `web.exception-history-size`
/// (16 by default). A rescale of the adaptive scheduler leaves no entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExceptionHistory {
    /// The failures, newest first.
    #[serde(default)]
    pub entries: Vec<RootException>,
    /// Whether Flink left older ones out (the history size or `maxExceptions`).
    #[serde(default)]
    pub truncated: bool,
}

/// One failure of a job: the exception that made Flink restart or fail it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RootException {
    /// The exception's class, e.g. `java.lang.IllegalStateException`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub exception_name: String,
    /// Its stack trace, with its `Caused by:` chain.
    #[serde(default, deserialize_with = "null_as_default")]
    pub stacktrace: String,
    /// When it happened, in ms since the epoch (the JobManager's clock).
    #[serde(default, deserialize_with = "null_as_default")]
    pub timestamp: i64,
    /// The task it happened in (`counter (1/2)#0`), absent for a global failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    /// Where the task ran (`host:port`), from 1.20 on (see [`RootException::where_it_ran`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Where the task ran, up to 1.20 (deprecated there, beside `endpoint`; gone in 2.x).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The TaskManager the task ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_manager_id: Option<String>,
    /// Labels failure enrichers attached.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub failure_labels: BTreeMap<String, String>,
    /// Failures of other tasks that Flink handled with this one.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub concurrent_exceptions: Vec<RootException>,
}

/// A JSON `null` read as the type's default (Flink writes `null` for absent collections).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl RootException {
    /// Where the task ran, whichever of `endpoint` and `location` Flink wrote.
    pub fn where_it_ran(&self) -> Option<&str> {
        self.endpoint.as_deref().or(self.location.as_deref())
    }

    /// Its root cause in one printable line: the exception's message and, when Flink wrapped
    /// it, the last `Caused by:` (a class not found, a state that cannot be mapped, the user's
    /// exception), then the task it happened in.
    pub fn summary(&self) -> String {
        let line = crate::error::first_meaningful_line(&self.stacktrace);
        let line = if line.is_empty() {
            crate::printable_name(&self.exception_name).into_owned()
        } else {
            line
        };
        match &self.task_name {
            Some(task) if !task.trim().is_empty() => {
                format!("{line} (in task {})", crate::printable_name(task))
            }
            _ => line,
        }
    }
}

/// One metric value as the REST API reports it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Metric {
    /// Its name.
    pub id: String,
    /// Its value, for a plain metric query.
    #[serde(default)]
    pub value: Option<String>,
    /// Aggregates, for a subtask-aggregated query.
    #[serde(default)]
    pub max: Option<f64>,
    /// Aggregates, for a subtask-aggregated query.
    #[serde(default)]
    pub sum: Option<f64>,
    /// Aggregates, for a subtask-aggregated query: the mean over the subtasks.
    #[serde(default)]
    pub avg: Option<f64>,
}

/// One vertex's parallelism bounds in `GET/PUT /jobs/{id}/resource-requirements` (Flink 1.18+,
/// adaptive scheduler only): the scheduler runs the vertex at the highest parallelism within
/// the bounds that the free slots allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct VertexRequirements {
    /// Its parallelism bounds.
    pub parallelism: ParallelismBounds,
}

/// Lower and upper bound of a vertex's parallelism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParallelismBounds {
    /// The least the vertex may run at (the job waits for slots below it).
    pub lower_bound: u32,
    /// The most it may run at.
    pub upper_bound: u32,
}

/// A job's resource requirements: each vertex id with its bounds.
pub type ResourceRequirements = BTreeMap<String, VertexRequirements>;

/// A vertex's load as the autoscaler reads it: aggregates over its subtasks of
/// `busyTimeMsPerSecond`, `backPressuredTimeMsPerSecond`, `numRecordsInPerSecond` and
/// `numRecordsOutPerSecond`. A value Flink does not report (yet) is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct VertexLoad {
    /// Busy time of the busiest subtask, ms per second (0..=1000): as the Kubernetes operator's
    /// autoscaler reads it by default, so one hot subtask (a skewed key) counts.
    pub busy_ms_per_s: Option<f64>,
    /// Back-pressured time of the most back-pressured subtask, ms per second (0..=1000).
    pub back_pressured_ms_per_s: Option<f64>,
    /// Records in per second, summed over the subtasks.
    pub records_in_per_s: Option<f64>,
    /// Records out per second, summed over the subtasks.
    pub records_out_per_s: Option<f64>,
}

impl VertexLoad {
    /// The metric names [`VertexLoad`] is read from.
    pub const METRICS: [&'static str; 4] = [
        "busyTimeMsPerSecond",
        "backPressuredTimeMsPerSecond",
        "numRecordsInPerSecond",
        "numRecordsOutPerSecond",
    ];

    /// The load from a subtask-aggregated answer for [`VertexLoad::METRICS`]; a value that is
    /// not a finite number is read as not reported.
    pub fn from_metrics(metrics: &[Metric]) -> Self {
        let find = |name: &str| metrics.iter().find(|m| m.id == name);
        let max = |name: &str| find(name).and_then(|m| m.max).filter(|v| v.is_finite());
        let sum = |name: &str| find(name).and_then(|m| m.sum).filter(|v| v.is_finite());
        Self {
            busy_ms_per_s: max("busyTimeMsPerSecond"),
            back_pressured_ms_per_s: max("backPressuredTimeMsPerSecond"),
            records_in_per_s: sum("numRecordsInPerSecond"),
            records_out_per_s: sum("numRecordsOutPerSecond"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_the_vertices_without_inputs() {
        // Trimmed from GET /jobs/{id} of Flink 2.3 (the example job).
        let body = r#"{"jid":"0123456789abcdef0123456789abcdef","name":"load","state":"RUNNING","start-time":1,
            "vertices":[{"id":"aa","name":"Source: source","parallelism":3,"maxParallelism":128,"status":"RUNNING","tasks":{"RUNNING":3}},
                        {"id":"bb","name":"counter","parallelism":3,"maxParallelism":128,"status":"RUNNING","tasks":{"RUNNING":3}}],
            "plan":{"jid":"0123456789abcdef0123456789abcdef","name":"load","type":"STREAMING","nodes":[
                {"id":"bb","parallelism":3,"operator":"","operator_strategy":"","description":"counter",
                 "inputs":[{"num":0,"id":"aa","ship_strategy":"HASH","exchange":"pipelined_bounded"}],"optimizer_properties":{}},
                {"id":"aa","parallelism":3,"operator":"","operator_strategy":"","description":"Source: source","optimizer_properties":{}}]}}"#;
        let job: JobDetails = serde_json::from_str(body).unwrap();
        assert!(job.is_source("aa"));
        assert!(!job.is_source("bb"));
        // A plan of another shape (no `name`) leaves the details readable, without a plan.
        let odd = body.replacen(r#""name":"load","type""#, r#""type""#, 1);
        assert!(serde_json::from_str::<JobDetails>(&odd)
            .unwrap()
            .plan
            .is_none());
        let unplanned = JobDetails { plan: None, ..job };
        assert!(unplanned.is_source("aa"), "by its name without a plan");
        assert!(!unplanned.is_source("bb"));
    }

    #[test]
    fn vertex_load_reads_the_aggregates_it_needs() {
        let metrics: Vec<Metric> = serde_json::from_str(
            r#"[{"id":"busyTimeMsPerSecond","min":10.0,"max":990.0,"avg":500.0,"sum":1500.0},
                {"id":"numRecordsInPerSecond","max":500.0,"avg":400.0,"sum":1200.0}]"#,
        )
        .unwrap();
        let load = VertexLoad::from_metrics(&metrics);
        assert_eq!(load.busy_ms_per_s, Some(990.0), "the busiest subtask");
        assert_eq!(load.records_in_per_s, Some(1200.0), "all subtasks");
        assert_eq!(load.back_pressured_ms_per_s, None);
        assert_eq!(load.records_out_per_s, None);
    }

    #[test]
    fn exception_histories_of_both_versions_parse() {
        // Trimmed answers of real Flink with the adaptive scheduler (no taskName there).
        let v1_20 = r#"{"root-exception":null,"timestamp":null,"all-exceptions":[],"truncated":false,"exceptionHistory":{"entries":[{"exceptionName":"java.lang.IllegalStateException","stacktrace":"java.lang.IllegalStateException: fails once\n\tat a.b(C.java:1)\n","timestamp":1796129552850,"failureLabels":{},"concurrentExceptions":[]}],"truncated":false}}"#;
        let v2_3 = r#"{"exceptionHistory":{"entries":[{"exceptionName":"java.lang.IllegalStateException","stacktrace":"java.lang.IllegalStateException: fails once\n\tat a.b(C.java:1)\n","timestamp":1796129598770,"failureLabels":{},"concurrentExceptions":[]}],"truncated":false}}"#;
        for body in [v1_20, v2_3] {
            let answer: JobExceptions = serde_json::from_str(body).unwrap();
            let history = answer.exception_history.unwrap();
            assert!(!history.truncated);
            assert_eq!(history.entries.len(), 1);
            let entry = &history.entries[0];
            assert!(entry.timestamp > 0);
            assert_eq!(entry.task_name, None);
            assert_eq!(
                entry.summary(),
                "java.lang.IllegalStateException: fails once"
            );
        }
        // The default scheduler names the task and where it ran (`location` up to 1.20).
        let entry: RootException = serde_json::from_str(
            r#"{"exceptionName":"org.apache.flink.runtime.JobException","stacktrace":"org.apache.flink.runtime.JobException: Recovery is suppressed\n\tat x.y(Z.java:1)\nCaused by: java.lang.ClassNotFoundException: com.example.Gone\n\tat q.r(S.java:2)","timestamp":1,"taskName":"counter (1/2)#0","location":"localhost:3456","endpoint":"localhost:3456","taskManagerId":"tm-1","failureLabels":null,"concurrentExceptions":[{"exceptionName":"x","stacktrace":"x","timestamp":null,"taskName":null,"location":null}]}"#,
        )
        .unwrap();
        assert_eq!(entry.where_it_ran(), Some("localhost:3456"));
        assert_eq!(entry.concurrent_exceptions.len(), 1);
        assert_eq!(
            entry.summary(),
            "org.apache.flink.runtime.JobException: Recovery is suppressed \
             (caused by java.lang.ClassNotFoundException: com.example.Gone) (in task counter (1/2)#0)"
        );
        // A history Flink answers without entries, or without the history at all.
        let empty: JobExceptions =
            serde_json::from_str(r#"{"exceptionHistory":{"entries":[],"truncated":false}}"#)
                .unwrap();
        assert!(empty.exception_history.unwrap().entries.is_empty());
        let absent: JobExceptions = serde_json::from_str("{}").unwrap();
        assert!(absent.exception_history.is_none());
    }

    #[test]
    fn the_newest_restorable_checkpoint_skips_discarded_and_unfinished_ones() {
        // A stale "latest" (subsumed since, so discarded) next to the newer one in the history.
        let body = r#"{"counts":{"completed":7},"latest":{"completed":{"id":6,"trigger_timestamp":6,"external_path":"file:/c/chk-6","discarded":true},"savepoint":null,"restored":null},
            "history":[{"id":8,"status":"IN_PROGRESS","trigger_timestamp":8},{"id":7,"status":"COMPLETED","trigger_timestamp":7,"external_path":"file:/c/chk-7","discarded":false},{"id":6,"status":"COMPLETED","trigger_timestamp":6,"external_path":"file:/c/chk-6","discarded":true}]}"#;
        let stats: CheckpointStats = serde_json::from_str(body).unwrap();
        assert_eq!(
            stats.newest_restorable().unwrap().external_path.as_deref(),
            Some("file:/c/chk-7")
        );
        let none: CheckpointStats = serde_json::from_str(
            r#"{"counts":{},"latest":{"completed":null,"savepoint":null,"restored":null}}"#,
        )
        .unwrap();
        assert!(none.newest_restorable().is_none());
    }

    #[test]
    fn blank_and_marker_paths_are_never_restore_points() {
        // An empty newest savepoint must not hide the older real one, nor win.
        let body = r#"{"counts":{"completed":3},"latest":{"completed":{"id":3,"trigger_timestamp":3,"external_path":"<checkpoint-not-externally-addressable>"},"savepoint":{"id":2,"trigger_timestamp":2,"is_savepoint":true,"external_path":"  "},"restored":{"id":1,"is_savepoint":true,"external_path":""}},
            "history":[{"id":4,"status":"COMPLETED","trigger_timestamp":4,"external_path":""},{"id":1,"status":"COMPLETED","trigger_timestamp":1,"external_path":"file:/sp/savepoint-1"}]}"#;
        let stats: CheckpointStats = serde_json::from_str(body).unwrap();
        assert_eq!(
            stats.newest_restorable().unwrap().external_path.as_deref(),
            Some("file:/sp/savepoint-1")
        );
        assert_eq!(stats.latest.restored.unwrap().external_path, None);
        // Built by hand (not deserialized): the same rule.
        let mut by_hand = stats.history[1].clone();
        by_hand.external_path = Some(String::new());
        by_hand.trigger_timestamp = 9;
        let stats = CheckpointStats {
            history: vec![by_hand],
            ..CheckpointStats::default()
        };
        assert!(stats.newest_restorable().is_none());
    }

    #[test]
    fn ids_from_the_jobmanager_are_checked() {
        let ok: JobId = serde_json::from_str(r#""0123456789abcdef0123456789ABCDEF""#).unwrap();
        assert_eq!(ok.as_str(), "0123456789abcdef0123456789ABCDEF");
        for bad in [
            r#""../../jars/../x?y=#""#,
            r#""0123456789abcdef0123456789abcde""#,
            r#""0123456789abcdef0123456789abcdeg""#,
            r#""""#,
        ] {
            let err = serde_json::from_str::<JobId>(bad).unwrap_err();
            assert!(err.to_string().contains("job id"), "{bad}: {err}");
            assert!(serde_json::from_str::<TriggerId>(bad).is_err(), "{bad}");
        }
        let jar: JarId = serde_json::from_str(
            r#""5b1e6f6e-8a3e-4a77-9d7e-0e1c2b3a4d5f_flink-deploy--my~20job--20261123181542.jar""#,
        )
        .unwrap();
        assert!(jar.as_str().ends_with(".jar"));
        assert!(
            JarId::parse("uuid_a b #1.jar").is_ok(),
            "odd but one segment"
        );
        for bad in [
            "../x.jar", "a/b.jar", "a\\b.jar", "x\n.jar", "x", ".jar", "..", "",
        ] {
            assert!(JarId::parse(bad).is_err(), "{bad:?}");
        }
        let err = JobId::parse("a\nb").unwrap_err();
        assert!(err.to_string().contains(r#""a\nb""#), "escaped: {err}");
    }

    #[test]
    fn unknown_job_states_are_kept() {
        let s: JobState = serde_json::from_str("\"SOMETHING_NEW\"").unwrap();
        assert_eq!(s, JobState::Other("SOMETHING_NEW".into()));
        assert_eq!(s.to_string(), "SOMETHING_NEW");
        assert!(s.is_active());
        let s: JobState = serde_json::from_str("\"CANCELED\"").unwrap();
        assert!(s.is_terminal());
    }

    #[test]
    fn jobs_overview_of_2_x_parses() {
        let body = r#"{"jobs":[{"jid":"a2f6b0b7e0b5c4d3e2f1a0b9c8d7e6f5","name":"orders","start-time":1763920000000,"end-time":-1,"duration":5,"state":"RUNNING","last-modification":1,"tasks":{"running":2},"jobType":"STREAMING","schedulerType":"Adaptive","pending-operators":0}]}"#;
        let jobs: JobsOverview = serde_json::from_str(body).unwrap();
        assert_eq!(jobs.jobs[0].name, "orders");
        assert_eq!(jobs.jobs[0].state, JobState::Running);
        assert_eq!(jobs.jobs[0].end_time, -1);
    }

    #[test]
    fn all_tasks_running_needs_every_vertex() {
        let job = |statuses: &[&str]| JobDetails {
            jid: JobId::new("x"),
            name: "j".into(),
            state: JobState::Running,
            start_time: 0,
            vertices: statuses
                .iter()
                .map(|s| Vertex {
                    id: "v".into(),
                    name: "v".into(),
                    parallelism: 1,
                    max_parallelism: None,
                    status: s.to_string(),
                    tasks: BTreeMap::new(),
                })
                .collect(),
            plan: None,
        };
        assert!(job(&["RUNNING", "RUNNING"]).all_tasks_running());
        assert!(!job(&["RUNNING", "DEPLOYING"]).all_tasks_running());
        assert!(!job(&[]).all_tasks_running());
        let mut half = job(&["RUNNING"]);
        half.vertices[0].parallelism = 2;
        half.vertices[0].tasks = [("RUNNING".to_string(), 1), ("DEPLOYING".to_string(), 1)].into();
        assert!(!half.all_tasks_running());
        // A source subtask without a split finishes at once: still healthy.
        half.vertices[0].tasks = [("RUNNING".to_string(), 1), ("FINISHED".to_string(), 1)].into();
        assert!(half.all_tasks_running());
        half.vertices[0].tasks = [("FINISHED".to_string(), 2)].into();
        assert!(!half.all_tasks_running());
    }
}
