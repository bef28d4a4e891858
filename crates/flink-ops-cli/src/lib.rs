//! What flink-ops' binaries share, so that a user meets the same contract in each: the exit-code
//! scheme and the failure type, the shape of `main`, one logging setup, the REST connection
//! flags, the names of every environment variable, value parsers, and secret scrubbing.
#![deny(missing_docs)]

pub mod env_vars;
mod exit;
mod failure;
pub mod layered;
mod logging;
mod parse;
mod process;
mod rest;
mod secrets;
mod values;

pub use exit::{help_table, markdown_table, ExitStatus, Shared};
pub use failure::{fail, Failure, OrExit};
pub use logging::{init_logging, LogArgs, LogFormat};
pub use parse::{parse_duration, parse_key_value, parse_timeout, MAX_DURATION};
pub use process::{finish, parse_command_line, print_clap_error, process_vars, runtime};
pub use rest::RestArgs;
pub use secrets::Scrubber;
pub use values::{ClaimModeArg, SavepointFormatArg};

#[doc(hidden)]
pub use anyhow;
