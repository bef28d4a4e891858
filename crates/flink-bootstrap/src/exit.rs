//! The exit codes of `flink-bootstrap`: the toolkit's shared ones, then its own, which follow
//! `sysexits.h` where one fits. Once Flink runs, its own exit code is the container's.

pub use flink_ops_cli::{fail, OrExit};

flink_ops_cli::exit_codes! {
    /// Why the bootstrap stopped.
    pub enum Exit {
        /// The configuration is invalid (bad value, unknown key with `--strict`, bad metadata).
        InvalidConfig = 65 => "invalid configuration (values, metadata, --strict warnings)",
        /// `--run-as` names a user that does not exist.
        UnknownUser = 67 => "the --run-as user does not exist",
        /// `--metadata gce` (or `auto` after a successful probe) and no usable answer in time.
        MetadataUnavailable = 69 => "instance metadata unavailable",
        /// `--flink-home` is not a Flink installation.
        FlinkNotFound = 72 => "no Flink installation at --flink-home",
        /// The config, or a plugin `ENABLE_BUILT_IN_PLUGINS` asks for, could not be written.
        ConfDirUnwritable = 73 => "the config (or a plugin's link) could not be written",
        /// Dropping privileges failed, or `--run-as` needs root.
        PrivilegeDrop = 77 => "could not drop privileges to --run-as",
        /// Flink's start script could not be executed.
        ExecFailed = 126 => "could not exec Flink",
    }
}

/// An error with the exit code it ends the process with.
pub type Failure = flink_ops_cli::Failure<Exit>;
