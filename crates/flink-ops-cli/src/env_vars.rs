//! Every environment variable flink-ops reads, for every binary, in one place.
//!
//! Each flag a CI system or a container sets has one of these as its fallback (clap's `env =`);
//! the README lists them, and a test checks it names every one in [`ALL`].

macro_rules! env_vars {
    ($( $(#[doc = $doc:literal])+ $name:ident, )*) => {
        $( $(#[doc = $doc])+ pub const $name: &str = stringify!($name); )*
        /// Every variable above, with its first doc line.
        pub const ALL: &[(&str, &str)] = &[ $( (stringify!($name), first_line(&[$($doc),+])), )* ];
    };
}

const fn first_line(docs: &[&'static str]) -> &'static str {
    docs[0]
}

env_vars! {
    /// The JobManager's REST endpoint (all binaries); `user:password@` is sent as basic auth.
    FLINK_JOBMANAGER_URL,
    /// A PEM CA bundle to trust for the REST endpoint.
    FLINK_REST_CA_CERT,
    /// A PEM client certificate for mutual TLS.
    FLINK_REST_CLIENT_CERT,
    /// The PEM key of the client certificate.
    FLINK_REST_CLIENT_KEY,
    /// One extra header, `Name: value` (e.g. a proxy's `Authorization`); never printed.
    FLINK_REST_HEADER,
    /// Timeout of one REST request.
    FLINK_REST_TIMEOUT,
    /// `text` or `json` logs (all binaries).
    FLINK_OPS_LOG_FORMAT,
    /// The log filter, `RUST_LOG` syntax (e.g. `info,flink_rest=debug`).
    RUST_LOG,

    /// flink-deploy and flink-savepointer: the job's name.
    FLINK_JOB_NAME,
    /// flink-deploy: the job's jar.
    FLINK_JOB_JAR,
    /// flink-deploy and flink-savepointer: the root of the savepoint layout.
    FLINK_SAVEPOINT_DIR,
    /// flink-deploy: a YAML deploy spec.
    FLINK_DEPLOY_CONFIG,

    /// flink-savepointer: `true` to take savepoints of every running job instead of `--job-name`.
    FLINK_SAVEPOINT_ALL_JOBS,
    /// flink-savepointer: take a savepoint this often (e.g. `15m`).
    FLINK_SAVEPOINT_EVERY,
    /// flink-savepointer: take savepoints on this cron schedule, UTC (e.g. `*/15 * * * *`).
    FLINK_SAVEPOINT_SCHEDULE,
    /// flink-savepointer: `canonical` or `native` savepoints.
    FLINK_SAVEPOINT_FORMAT,
    /// flink-savepointer: how long one savepoint may take.
    FLINK_SAVEPOINT_TIMEOUT,
    /// flink-savepointer: how many savepoints of each job to keep.
    FLINK_SAVEPOINT_KEEP,
    /// flink-savepointer: dispose savepoints older than this (e.g. `7d`).
    FLINK_SAVEPOINT_MAX_AGE,
    /// flink-savepointer: how many jobs to take savepoints of at once.
    FLINK_SAVEPOINT_MAX_CONCURRENT,
    /// flink-savepointer: the address of `/metrics`, `/healthz` and `/readyz`.
    FLINK_SAVEPOINTER_LISTEN,
    /// flink-savepointer: how long a stop signal waits for savepoints in flight.
    FLINK_SAVEPOINTER_SHUTDOWN_GRACE,
    /// flink-savepointer: `true` to submit lost jobs again from their release record (`--recover`).
    FLINK_SAVEPOINTER_RECOVER,
    /// flink-savepointer: how long a job must be missing before `--recover` submits it again.
    FLINK_SAVEPOINTER_RECOVER_GRACE,
    /// flink-savepointer: `true` to publish each job's recommended parallelism and TaskManagers (`--recommend`).
    FLINK_SAVEPOINTER_RECOMMEND,
    /// flink-savepointer: `true` to apply the recommendation in place (`--apply-recommendation`).
    FLINK_SAVEPOINTER_APPLY_RECOMMENDATION,
    /// flink-savepointer: slots per TaskManager for the recommended TaskManager count.
    FLINK_SAVEPOINTER_SLOTS_PER_TASKMANAGER,

    /// flink-bootstrap: the Flink installation (`--flink-home`).
    FLINK_HOME,
    /// flink-bootstrap: where to write the config (`--conf-dir`); also what Flink's scripts read.
    FLINK_CONF_DIR,
    /// flink-bootstrap: where instance metadata comes from (`--metadata`).
    FLINK_BOOTSTRAP_METADATA,
    /// flink-bootstrap: how long to keep retrying the metadata server (`--metadata-timeout`).
    FLINK_BOOTSTRAP_METADATA_TIMEOUT,
    /// flink-bootstrap: a named set of settings (`--profile`).
    FLINK_BOOTSTRAP_PROFILE,
    /// flink-bootstrap: treat warnings as errors (`--strict`).
    FLINK_BOOTSTRAP_STRICT,
    /// flink-bootstrap: the user Flink runs as (`--run-as`).
    FLINK_BOOTSTRAP_RUN_AS,
    /// flink-bootstrap: `prometheus` or `none`, Flink's metrics reporter (`--metrics-reporter`).
    FLINK_BOOTSTRAP_METRICS_REPORTER,
    /// flink-bootstrap: host (and port) of the GCE metadata server, as Google's libraries read it.
    GCE_METADATA_HOST,
    /// flink-bootstrap, as in the official image: multi-line `key: value` Flink properties.
    FLINK_PROPERTIES,
    /// flink-bootstrap, as in the official image: `jobmanager.rpc.address`.
    JOB_MANAGER_RPC_ADDRESS,
    /// flink-bootstrap, as in the official image: `taskmanager.numberOfTaskSlots`.
    TASK_MANAGER_NUMBER_OF_TASK_SLOTS,
    /// flink-bootstrap, as in the official image: `;`-separated jars of `opt/` to enable as plugins.
    ENABLE_BUILT_IN_PLUGINS,
}

/// Variables that were renamed: the old name and the new one. Binaries warn when an old one is set.
pub const RENAMED: &[(&str, &str)] = &[("FLINK_BOOTSTRAP_LOG_FORMAT", FLINK_OPS_LOG_FORMAT)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_is_listed_once_with_its_doc() {
        let mut names: Vec<&str> = ALL.iter().map(|(n, _)| *n).collect();
        assert!(names.contains(&FLINK_JOBMANAGER_URL) && names.contains(&FLINK_HOME));
        assert!(ALL.iter().all(|(_, doc)| !doc.trim().is_empty()));
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
