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
