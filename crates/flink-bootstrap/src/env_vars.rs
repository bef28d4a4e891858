//! Every environment variable the bootstrap reads, in one place.
//!
//! Flags read theirs through clap (`--flink-home` from `FLINK_HOME`, ...). The variables of the
//! official Flink image are loaded through [`ImageEnv::load`] from an injectable iterator, so
//! tests never touch the process environment.

use serde::Deserialize;

/// `--flink-home`: the Flink installation.
pub const FLINK_HOME: &str = "FLINK_HOME";
/// `--conf-dir`; also what Flink's scripts read, and what the bootstrap sets for them.
pub const FLINK_CONF_DIR: &str = "FLINK_CONF_DIR";
/// `--metadata`.
pub const METADATA: &str = "FLINK_BOOTSTRAP_METADATA";
/// `--metadata-timeout`.
pub const METADATA_TIMEOUT: &str = "FLINK_BOOTSTRAP_METADATA_TIMEOUT";
/// `--profile`.
pub const PROFILE: &str = "FLINK_BOOTSTRAP_PROFILE";
/// `--strict`.
pub const STRICT: &str = "FLINK_BOOTSTRAP_STRICT";
/// `--run-as`.
pub const RUN_AS: &str = "FLINK_BOOTSTRAP_RUN_AS";
/// `--log-format`.
pub const LOG_FORMAT: &str = "FLINK_BOOTSTRAP_LOG_FORMAT";
/// Host (and port) of the GCE metadata server, as Google's client libraries honour it.
pub const GCE_METADATA_HOST: &str = "GCE_METADATA_HOST";
/// Official image: multi-line `key: value` Flink properties.
pub const FLINK_PROPERTIES: &str = "FLINK_PROPERTIES";
/// Official image: `jobmanager.rpc.address`.
pub const JOB_MANAGER_RPC_ADDRESS: &str = "JOB_MANAGER_RPC_ADDRESS";
/// Official image: `taskmanager.numberOfTaskSlots`.
pub const TASK_MANAGER_NUMBER_OF_TASK_SLOTS: &str = "TASK_MANAGER_NUMBER_OF_TASK_SLOTS";

/// Variables that are inputs to the configuration rather than flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ImageEnv {
    /// [`FLINK_PROPERTIES`].
    pub flink_properties: Option<String>,
    /// [`JOB_MANAGER_RPC_ADDRESS`].
    pub job_manager_rpc_address: Option<String>,
    /// [`TASK_MANAGER_NUMBER_OF_TASK_SLOTS`].
    pub task_manager_number_of_task_slots: Option<String>,
    /// [`GCE_METADATA_HOST`].
    pub gce_metadata_host: Option<String>,
}

impl ImageEnv {
    /// Loads from `(name, value)` pairs, e.g. `std::env::vars()`; other variables are ignored and
    /// empty values count as unset.
    pub fn load(vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let vars = vars.into_iter().filter(|(_, v)| !v.trim().is_empty());
        Ok(envy::from_iter(vars)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_from_a_map() {
        let env = ImageEnv::load([
            (FLINK_PROPERTIES.into(), "a.b: c\n".into()),
            (JOB_MANAGER_RPC_ADDRESS.into(), "jm".into()),
            (TASK_MANAGER_NUMBER_OF_TASK_SLOTS.into(), "".into()),
            ("PATH".into(), "/bin".into()),
        ])
        .unwrap();
        assert_eq!(env.flink_properties.as_deref(), Some("a.b: c\n"));
        assert_eq!(env.job_manager_rpc_address.as_deref(), Some("jm"));
        assert_eq!(env.task_manager_number_of_task_slots, None);
        assert_eq!(env.gce_metadata_host, None);
    }
}
