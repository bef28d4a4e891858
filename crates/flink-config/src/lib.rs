//! Flink configuration knowledge: which keys exist in which version and with which type, how keys
//! were renamed between versions, how to read the config files an image ships and how to write one
//! that the installed Flink accepts.
//!
//! The flow is: collect [`Layer`]s (image conf, profile, instance facts, metadata, env, `--set`),
//! [`resolve`] them for the detected [`FlinkVersion`], [`validate`] the result, then [`render`] and
//! [`write_config`]. Every resolved value remembers its [`Source`] so a user can ask where it came
//! from.
#![deny(missing_docs)]

mod catalog;
mod files;
mod log4j;
mod metrics;
mod parse;
mod profile;
mod rename;
mod render;
mod resolve;
mod validate;
mod version;

pub use catalog::{known_keys, lookup, suggest, ValueType};
pub use files::{
    load_image_conf, write_config, FileError, ImageConf, WriteReport, REPLACED_SUFFIX,
};
pub use log4j::{
    image_console_log4j, json_console, write_console_log4j, Log4jError, Log4jReport, CONSOLE_LOG4J,
    LOG4J_HEADER,
};
pub use metrics::{
    port_range, prometheus_reporter, PROMETHEUS_JOBMANAGER_PORT, PROMETHEUS_PLUGIN,
    PROMETHEUS_REPORTER, PROMETHEUS_TASKMANAGER_PORTS,
};
pub use parse::{
    is_key_shaped, parse_config_yaml, parse_flink_conf, parse_properties, parse_untrusted_map,
    ParseError,
};
pub use profile::{damping_keys, DampingKey, Profile, UnknownProfile};
pub use rename::{key_for_version, Rename, RENAMES};
pub use render::{render, RenderError, HEADER};
pub use resolve::{resolve, Layer, Origin, Resolution, Resolved, Setting, Source};
pub use validate::{state_dir_keys, state_dirs_across_hosts, validate, Diagnostic, Severity};
pub use version::{ConfigFile, FlinkVersion, Role, VersionError};
