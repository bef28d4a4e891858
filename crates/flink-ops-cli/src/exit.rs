//! One exit-code scheme for every binary.
//!
//! The codes 0 to 4 mean the same for `flink-deploy`, `flink-savepointer` and `flink-bootstrap`;
//! each binary adds its own above them, with numbers no other binary uses, so a number seen in a
//! CI log means one thing. [`exit_codes!`](crate::exit_codes) declares a binary's enum: the shared
//! codes plus its own, one table for `--help` and the README.

use std::fmt::Write as _;

/// What every exit-code enum of the toolkit can tell about itself.
pub trait ExitStatus: Copy + Eq + std::fmt::Debug + Send + Sync + 'static {
    /// Every code, in order.
    const ALL: &'static [Self];
    /// The process exit code.
    fn code(self) -> u8;
    /// What it means, for `--help` and the README.
    fn meaning(self) -> &'static str;
}

/// The codes every binary shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shared {
    /// Done.
    Ok,
    /// Anything not listed (a bug, or an error without a code of its own).
    Failure,
    /// Invalid input or an ambiguous situation; nothing was touched.
    Usage,
    /// The JobManager (or the savepoint store) could not be reached or answered unexpectedly.
    Unreachable,
    /// A Flink operation (savepoint, disposal) failed; the job runs as before, nothing changed.
    OperationFailed,
}

impl Shared {
    /// The shared codes, in order.
    pub const ALL: [Shared; 5] = [
        Self::Ok,
        Self::Failure,
        Self::Usage,
        Self::Unreachable,
        Self::OperationFailed,
    ];

    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Failure => 1,
            Self::Usage => 2,
            Self::Unreachable => 3,
            Self::OperationFailed => 4,
        }
    }

    /// What it means.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::Ok => "done",
            Self::Failure => "another failure (the message says what)",
            Self::Usage => "invalid input or an ambiguous situation; nothing was touched",
            Self::Unreachable => {
                "the JobManager or the savepoint store could not be reached, or answered unexpectedly"
            }
            Self::OperationFailed => {
                "a Flink operation (savepoint, disposal) failed; the job runs as before, nothing changed"
            }
        }
    }
}

/// The `Exit codes:` block of `--help`: one line per code.
pub fn help_table<E: ExitStatus>() -> String {
    let mut out = String::from("Exit codes:\n");
    for e in E::ALL {
        let _ = writeln!(out, "  {:<3} {}", e.code(), e.meaning());
    }
    out.truncate(out.trim_end().len());
    out
}

/// The same table as Markdown, as the README shows it.
pub fn markdown_table<E: ExitStatus>() -> String {
    let mut out = String::from("| exit code | meaning |\n|---|---|\n");
    for e in E::ALL {
        let _ = writeln!(out, "| {} | {} |", e.code(), e.meaning());
    }
    out
}

/// Declares a binary's exit-code enum: the [`Shared`] codes (as `Ok`, `Failure`, `Usage`,
/// `Unreachable`, `OperationFailed`) followed by the binary's own.
///
/// ```
/// flink_ops_cli::exit_codes! {
///     /// The example's exit codes.
///     pub enum Exit {
///         /// It was rolled back.
///         RolledBack = 5 => "the new release was unhealthy and was rolled back",
///     }
/// }
/// use flink_ops_cli::ExitStatus;
/// assert_eq!(Exit::RolledBack.code(), 5);
/// assert_eq!(Exit::Usage.code(), 2);
/// ```
#[macro_export]
macro_rules! exit_codes {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $meaning:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            /// Done (shared).
            Ok,
            /// Another failure (shared).
            Failure,
            /// Invalid input; nothing was touched (shared).
            Usage,
            /// The JobManager or store could not be reached (shared).
            Unreachable,
            /// A Flink operation failed; nothing changed (shared).
            OperationFailed,
            $( $(#[$vmeta])* $variant, )*
        }

        impl $crate::ExitStatus for $name {
            const ALL: &'static [Self] = &[
                Self::Ok,
                Self::Failure,
                Self::Usage,
                Self::Unreachable,
                Self::OperationFailed,
                $( Self::$variant, )*
            ];

            fn code(self) -> u8 {
                match self {
                    Self::Ok => $crate::Shared::Ok.code(),
                    Self::Failure => $crate::Shared::Failure.code(),
                    Self::Usage => $crate::Shared::Usage.code(),
                    Self::Unreachable => $crate::Shared::Unreachable.code(),
                    Self::OperationFailed => $crate::Shared::OperationFailed.code(),
                    $( Self::$variant => $code, )*
                }
            }

            fn meaning(self) -> &'static str {
                match self {
                    Self::Ok => $crate::Shared::Ok.meaning(),
                    Self::Failure => $crate::Shared::Failure.meaning(),
                    Self::Usage => $crate::Shared::Usage.meaning(),
                    Self::Unreachable => $crate::Shared::Unreachable.meaning(),
                    Self::OperationFailed => $crate::Shared::OperationFailed.meaning(),
                    $( Self::$variant => $meaning, )*
                }
            }
        }

        impl From<$name> for std::process::ExitCode {
            fn from(e: $name) -> Self {
                std::process::ExitCode::from($crate::ExitStatus::code(e))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::exit_codes! {
        /// A test binary's codes.
        enum Demo {
            /// Its own.
            Own = 9 => "its own meaning",
        }
    }

    #[test]
    fn shared_codes_come_first_and_own_codes_follow() {
        let codes: Vec<u8> = Demo::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 9]);
        assert_eq!(Demo::Unreachable.meaning(), Shared::Unreachable.meaning());
        let help = help_table::<Demo>();
        assert!(help.starts_with("Exit codes:\n  0   done\n"), "{help}");
        assert!(help.ends_with("  9   its own meaning"), "{help}");
        let md = markdown_table::<Demo>();
        assert!(md.contains("| 9 | its own meaning |\n"), "{md}");
    }
}
