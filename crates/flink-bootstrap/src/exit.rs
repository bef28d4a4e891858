//! Named exit codes and the error type that carries one.

use std::fmt;
use std::process::ExitCode;

/// Why the bootstrap stopped; the numbers follow `sysexits.h` where one fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything not listed below.
    Failure = 1,
    /// The configuration is invalid (bad value, unknown key with `--strict`, bad metadata).
    InvalidConfig = 65,
    /// `--run-as` names a user that does not exist.
    UnknownUser = 67,
    /// `--metadata gce` (or `auto` after a successful probe) and no usable answer in time.
    MetadataUnavailable = 69,
    /// `--flink-home` is not a Flink installation.
    FlinkNotFound = 72,
    /// The config could not be written.
    ConfDirUnwritable = 73,
    /// Dropping privileges failed, or `--run-as` needs root.
    PrivilegeDrop = 77,
    /// Flink's start script could not be executed.
    ExecFailed = 126,
}

impl Exit {
    const ALL: [Self; 8] = [
        Self::Failure,
        Self::InvalidConfig,
        Self::UnknownUser,
        Self::MetadataUnavailable,
        Self::FlinkNotFound,
        Self::ConfDirUnwritable,
        Self::PrivilegeDrop,
        Self::ExecFailed,
    ];

    fn describe(self) -> &'static str {
        match self {
            Self::Failure => "other failure",
            Self::InvalidConfig => "invalid configuration (values, metadata, --strict warnings)",
            Self::UnknownUser => "the --run-as user does not exist",
            Self::MetadataUnavailable => "instance metadata unavailable",
            Self::FlinkNotFound => "no Flink installation at --flink-home",
            Self::ConfDirUnwritable => "the config could not be written",
            Self::PrivilegeDrop => "could not drop privileges to --run-as",
            Self::ExecFailed => "could not exec Flink",
        }
    }

    /// The exit code.
    pub fn code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }

    /// The exit code table for `--help`.
    pub fn help() -> String {
        let mut out = String::from(
            "Exit codes:\n  0    success (or Flink's own code once it runs)\n  2    usage error\n",
        );
        for e in Self::ALL {
            out.push_str(&format!("  {:<4} {}\n", e as u8, e.describe()));
        }
        out
    }
}

/// An error with the exit code it should end the process with.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong, with context.
    pub error: anyhow::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// Attaches an exit code to an error.
pub trait OrExit<T> {
    /// Turns the error into a [`Failure`] with `exit`.
    fn or_exit(self, exit: Exit) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> OrExit<T> for Result<T, E> {
    fn or_exit(self, exit: Exit) -> Result<T, Failure> {
        self.map_err(|e| Failure {
            exit,
            error: e.into(),
        })
    }
}

/// A [`Failure`] from a message.
pub fn fail(exit: Exit, message: impl fmt::Display) -> Failure {
    Failure {
        exit,
        error: anyhow::anyhow!("{message}"),
    }
}
