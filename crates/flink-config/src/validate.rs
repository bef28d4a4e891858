//! Checking a resolved configuration against the catalog before Flink sees it.

use std::fmt;

use crate::catalog::known_in_other_version;
use crate::{is_key_shaped, lookup, suggest, Origin, Resolved};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Flink would start, but probably not as intended (an unknown key). `--strict` makes it an
    /// error.
    Warning,
    /// Flink would refuse to start or misbehave.
    Error,
}

/// One finding about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How bad.
    pub severity: Severity,
    /// The key, as it would be written.
    pub key: String,
    /// Where the value came from.
    pub origin: Origin,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {}): {}", self.key, self.origin, self.message)
    }
}

/// Checks every resolved key and value; the result is sorted by key.
pub fn validate(resolved: &Resolved) -> Vec<Diagnostic> {
    let version = resolved.version;
    let mut out = Vec::new();
    for (key, r) in &resolved.entries {
        let mut report = |severity, message: String| {
            out.push(Diagnostic {
                severity,
                key: key.clone(),
                origin: r.origin.clone(),
                message,
            });
        };
        if !is_key_shaped(key) {
            report(Severity::Error, "not a Flink key".into());
            continue;
        }
        if r.value.chars().any(char::is_control) {
            report(
                Severity::Error,
                "the value contains a line break or control character".into(),
            );
            continue;
        }
        match lookup(key, version) {
            Some(ty) => {
                if let Err(expected) = ty.check(&r.value) {
                    report(
                        Severity::Error,
                        format!("`{}` is not valid: expected {expected}", r.value),
                    );
                }
            }
            None if known_in_other_version(key, version) => report(
                Severity::Warning,
                format!("Flink {version} does not have this key; it would be ignored"),
            ),
            None => report(
                Severity::Warning,
                match suggest(key, version) {
                    Some(near) => format!("unknown key; did you mean {near}?"),
                    None => "unknown key; Flink would ignore it".into(),
                },
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{resolve, FlinkVersion, Layer, Source};

    fn check(version: FlinkVersion, pairs: &[(&str, &str)]) -> Vec<(Severity, String, String)> {
        let layer = Layer::new(
            Source::Env,
            "FLINK_PROPERTIES",
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        );
        validate(&resolve(&[layer], version))
            .into_iter()
            .map(|d| (d.severity, d.key, d.message))
            .collect()
    }

    #[test]
    fn the_articles_typo_gets_a_suggestion() {
        let found = check(
            FlinkVersion::new(1, 20, 3),
            &[("hearbeat.timeout", "15000")],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, Severity::Warning);
        assert!(
            found[0].2.contains("did you mean heartbeat.timeout?"),
            "{:?}",
            found
        );
    }

    #[test]
    fn bad_values_are_errors() {
        let v = FlinkVersion::new(2, 3, 0);
        let found = check(
            v,
            &[
                ("heartbeat.timeout", "fast"),
                ("taskmanager.numberOfTaskSlots", "-2"),
                ("jobmanager.rpc.address", "jm; rm -rf /"),
                ("jobmanager.scheduler", "adaptive"),
                ("taskmanager.memory.process.size", "4g"),
            ],
        );
        let errors: Vec<&str> = found
            .iter()
            .filter(|d| d.0 == Severity::Error)
            .map(|d| d.1.as_str())
            .collect();
        assert_eq!(
            errors,
            [
                "heartbeat.timeout",
                "jobmanager.rpc.address",
                "taskmanager.numberOfTaskSlots"
            ]
        );
        assert_eq!(found.len(), 3);
    }

    #[test]
    fn values_flink_would_not_read_are_errors() {
        let v = FlinkVersion::new(2, 3, 0);
        let found = check(
            v,
            &[
                ("taskmanager.numberOfTaskSlots", "100000000000"),
                ("rest.port", "abc"),
                ("parallelism.default", "2147483648"),
                ("heartbeat.timeout", "300000000000 d"),
                ("taskmanager.memory.process.size", "99999999 tb"),
                ("execution.runtime-mode", "STREAMIN"),
            ],
        );
        assert!(found.iter().all(|d| d.0 == Severity::Error), "{found:?}");
        assert_eq!(found.len(), 6, "{found:?}");
        let slots = &found
            .iter()
            .find(|d| d.1 == "taskmanager.numberOfTaskSlots");
        assert!(
            slots.unwrap().2.contains("from 1 to 2147483647"),
            "{found:?}"
        );
    }

    #[test]
    fn control_characters_never_pass() {
        let found = check(FlinkVersion::new(2, 3, 0), &[("rest.port", "8081\nx.y: z")]);
        assert_eq!(found[0].0, Severity::Error);
    }

    #[test]
    fn heartbeat_was_milliseconds_before_1_20() {
        let v = FlinkVersion::new(1, 18, 1);
        assert!(check(v, &[("heartbeat.timeout", "15000")]).is_empty());
        assert_eq!(
            check(v, &[("heartbeat.timeout", "15 s")])[0].0,
            Severity::Error
        );
    }

    #[test]
    fn keys_of_the_other_major_version_are_flagged() {
        let found = check(
            FlinkVersion::new(2, 3, 0),
            &[("jobmanager.heap.size", "1g")],
        );
        assert_eq!(found[0].0, Severity::Warning);
        assert!(found[0].2.contains("does not have this key"));
    }
}

/// The keys of Flink's state directories as `version` spells them, with what each holds:
/// `("state.savepoints.dir", "savepoint")` (`execution.checkpointing.savepoint-dir` from 1.20),
/// then the checkpoint directory's.
pub fn state_dir_keys(version: crate::FlinkVersion) -> [(&'static str, &'static str); 2] {
    [
        (
            crate::key_for_version("state.savepoints.dir", version).0,
            "savepoint",
        ),
        (
            crate::key_for_version("state.checkpoints.dir", version).0,
            "checkpoint",
        ),
    ]
}

/// Where state goes, for a cluster whose TaskManagers run on other hosts than the JobManager
/// (the elastic profile's instance group): a savepoint or checkpoint directory on local disk is
/// then written in parts, each TaskManager on its own disk, and cannot be restored. A warning
/// per such key (`--strict` makes it an error); a bucket or a shared filesystem is fine.
pub fn state_dirs_across_hosts(resolved: &Resolved) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (key, what) in state_dir_keys(resolved.version) {
        let what = format!("{what}s");
        let Some(r) = resolved.entries.get(key) else {
            continue;
        };
        let value = r.value.trim();
        if value.starts_with('/') || value.starts_with("file:") {
            out.push(Diagnostic {
                severity: Severity::Warning,
                key: key.to_string(),
                origin: r.origin.clone(),
                message: format!(
                    "`{value}` is on local disk, but TaskManagers run on other hosts: each writes \
                     its part of the {what} to its own disk, so they cannot be restored. Use a \
                     bucket (gs://BUCKET/{what}, s3://…, with Flink's filesystem plugin) or a \
                     filesystem every host mounts at that path"
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod state_dir_tests {
    use super::*;
    use crate::{resolve, FlinkVersion, Layer, Source};

    fn resolved(version: FlinkVersion, pairs: &[(&str, &str)]) -> Resolved {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(&[Layer::new(Source::CommandLine, "--set", pairs)], version)
    }

    #[test]
    fn local_state_dirs_are_flagged_buckets_are_not() {
        let v2 = FlinkVersion::new(2, 3, 0);
        let r = resolved(
            v2,
            &[
                ("state.savepoints.dir", "file:///data/savepoints"),
                ("state.checkpoints.dir", "/data/checkpoints"),
            ],
        );
        let found = state_dirs_across_hosts(&r);
        let keys: Vec<&str> = found.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "execution.checkpointing.savepoint-dir",
                "execution.checkpointing.dir"
            ]
        );
        assert!(
            found[0].message.contains("cannot be restored"),
            "{}",
            found[0]
        );
        let r = resolved(
            v2,
            &[
                (
                    "execution.checkpointing.savepoint-dir",
                    "gs://bucket/savepoints",
                ),
                ("execution.checkpointing.dir", "s3://bucket/checkpoints"),
            ],
        );
        assert!(state_dirs_across_hosts(&r).is_empty());
        assert!(state_dirs_across_hosts(&resolved(v2, &[])).is_empty());
    }
}
