//! The official Flink image's variables, which are inputs to the configuration rather than flags.
//!
//! Their names, like every variable's, live in `flink_ops_cli::env_vars`; flags read theirs through
//! clap. [`ImageEnv::load`] reads from an injectable iterator, so tests never touch the process
//! environment.

use serde::Deserialize;

pub use flink_ops_cli::env_vars::{
    ENABLE_BUILT_IN_PLUGINS, FLINK_CONF_DIR, FLINK_HOME, FLINK_PROPERTIES, GCE_METADATA_HOST,
    JOB_MANAGER_RPC_ADDRESS, TASK_MANAGER_NUMBER_OF_TASK_SLOTS,
};

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
    /// [`ENABLE_BUILT_IN_PLUGINS`].
    pub enable_built_in_plugins: Option<String>,
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
