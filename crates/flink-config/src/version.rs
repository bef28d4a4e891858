//! Flink versions (one type for the whole workspace, from `flink-version`),
//! the config file each one reads, and the process roles.

use std::fmt;

pub use flink_version::{ConfigFile, FlinkVersion, VersionError};

/// Which Flink process is being started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The JobManager (`bin/jobmanager.sh`).
    JobManager,
    /// A TaskManager (`bin/taskmanager.sh`).
    TaskManager,
}

impl Role {
    /// The script under `FLINK_HOME/bin` that starts this role.
    pub fn script(self) -> &'static str {
        match self {
            Self::JobManager => "jobmanager.sh",
            Self::TaskManager => "taskmanager.sh",
        }
    }

    /// The key holding the total process memory of this role.
    pub fn process_memory_key(self) -> &'static str {
        match self {
            Self::JobManager => "jobmanager.memory.process.size",
            Self::TaskManager => "taskmanager.memory.process.size",
        }
    }

    /// Keys that size this role's memory in another way; Flink rejects some combinations with
    /// `*.memory.process.size`, so a derived process size must yield to them.
    pub fn alternative_memory_keys(self) -> &'static [&'static str] {
        match self {
            Self::JobManager => &[
                "jobmanager.memory.flink.size",
                "jobmanager.memory.heap.size",
            ],
            Self::TaskManager => &[
                "taskmanager.memory.flink.size",
                "taskmanager.memory.task.heap.size",
                "taskmanager.memory.managed.size",
            ],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::JobManager => "jobmanager",
            Self::TaskManager => "taskmanager",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_name_their_script_and_memory_key() {
        assert_eq!(Role::JobManager.script(), "jobmanager.sh");
        assert_eq!(
            Role::TaskManager.process_memory_key(),
            "taskmanager.memory.process.size"
        );
        assert_eq!(Role::TaskManager.to_string(), "taskmanager");
    }

    #[test]
    fn versions_are_the_shared_type() {
        // One rule across the workspace: four parts are not a version.
        assert!("1.2.3.4".parse::<FlinkVersion>().is_err());
        assert_eq!(
            FlinkVersion::new(1, 18, 1).config_file(),
            ConfigFile::FlinkConfYaml
        );
    }
}
