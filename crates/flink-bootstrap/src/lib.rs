//! `flink-bootstrap`: the entrypoint of a Flink image. It resolves the Flink configuration from
//! the image's conf dir, a profile, facts about the container (CPUs, memory, addresses), GCE
//! instance metadata, the official image's environment variables and `--set`; validates it
//! against the catalog of the installed Flink version; writes it atomically; drops root; and
//! execs `bin/jobmanager.sh` or `bin/taskmanager.sh start-foreground` so the JVM gets signals.
#![deny(missing_docs)]

pub mod cli;
pub mod env_vars;
pub mod exit;
pub mod layers;
mod logs;
mod plugins;
mod privileges;
mod run;
mod state_dirs;

pub use run::{main, run};
