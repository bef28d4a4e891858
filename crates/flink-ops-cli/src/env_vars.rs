//! Every environment variable flink-ops reads, in one place.
//!
//! Each flag a CI system or a container sets has one of these as its
//! fallback; the README lists them.

/// The JobManager's REST endpoint (all binaries).
pub const FLINK_JOBMANAGER_URL: &str = "FLINK_JOBMANAGER_URL";
/// A PEM CA bundle to trust for the REST endpoint.
pub const FLINK_REST_CA_CERT: &str = "FLINK_REST_CA_CERT";
/// A PEM client certificate for mutual TLS.
pub const FLINK_REST_CLIENT_CERT: &str = "FLINK_REST_CLIENT_CERT";
/// The PEM key of the client certificate.
pub const FLINK_REST_CLIENT_KEY: &str = "FLINK_REST_CLIENT_KEY";
/// One extra header, `Name: value` (e.g. a proxy's `Authorization`); never printed.
pub const FLINK_REST_HEADER: &str = "FLINK_REST_HEADER";
/// Timeout of one REST request.
pub const FLINK_REST_TIMEOUT: &str = "FLINK_REST_TIMEOUT";
/// `text` or `json` logs.
pub const FLINK_OPS_LOG_FORMAT: &str = "FLINK_OPS_LOG_FORMAT";
/// The log filter, `RUST_LOG` syntax (e.g. `info,flink_rest=debug`).
pub const RUST_LOG: &str = "RUST_LOG";

/// flink-deploy: the job's name.
pub const FLINK_JOB_NAME: &str = "FLINK_JOB_NAME";
/// flink-deploy: the job's jar.
pub const FLINK_JOB_JAR: &str = "FLINK_JOB_JAR";
/// flink-deploy and flink-savepointer: the root of the savepoint layout.
pub const FLINK_SAVEPOINT_DIR: &str = "FLINK_SAVEPOINT_DIR";
/// flink-deploy: a YAML deploy spec.
pub const FLINK_DEPLOY_CONFIG: &str = "FLINK_DEPLOY_CONFIG";

/// flink-savepointer: `true` to take savepoints of every running job instead of `--job-name`.
pub const FLINK_SAVEPOINT_ALL_JOBS: &str = "FLINK_SAVEPOINT_ALL_JOBS";
/// flink-savepointer: take a savepoint this often (e.g. `15m`).
pub const FLINK_SAVEPOINT_EVERY: &str = "FLINK_SAVEPOINT_EVERY";
/// flink-savepointer: take savepoints on this cron schedule, UTC (e.g. `*/15 * * * *`).
pub const FLINK_SAVEPOINT_SCHEDULE: &str = "FLINK_SAVEPOINT_SCHEDULE";
/// flink-savepointer: `canonical` or `native` savepoints.
pub const FLINK_SAVEPOINT_FORMAT: &str = "FLINK_SAVEPOINT_FORMAT";
/// flink-savepointer: how long one savepoint may take.
pub const FLINK_SAVEPOINT_TIMEOUT: &str = "FLINK_SAVEPOINT_TIMEOUT";
/// flink-savepointer: how many savepoints of each job to keep.
pub const FLINK_SAVEPOINT_KEEP: &str = "FLINK_SAVEPOINT_KEEP";
/// flink-savepointer: dispose savepoints older than this (e.g. `7d`).
pub const FLINK_SAVEPOINT_MAX_AGE: &str = "FLINK_SAVEPOINT_MAX_AGE";
/// flink-savepointer: how many jobs to take savepoints of at once.
pub const FLINK_SAVEPOINT_MAX_CONCURRENT: &str = "FLINK_SAVEPOINT_MAX_CONCURRENT";
/// flink-savepointer: the address of `/metrics`, `/healthz` and `/readyz`.
pub const FLINK_SAVEPOINTER_LISTEN: &str = "FLINK_SAVEPOINTER_LISTEN";
/// flink-savepointer: how long a stop signal waits for savepoints in flight.
pub const FLINK_SAVEPOINTER_SHUTDOWN_GRACE: &str = "FLINK_SAVEPOINTER_SHUTDOWN_GRACE";
