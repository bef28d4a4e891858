//! What flink-ops' binaries share: one logging setup, the REST connection
//! flags, the names of every environment variable, and value parsers.
#![deny(missing_docs)]

pub mod env_vars;
mod logging;
mod parse;
mod rest;

pub use logging::{init_logging, LogFormat};
pub use parse::{parse_duration, parse_key_value};
pub use rest::RestArgs;
