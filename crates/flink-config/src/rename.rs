//! Keys that Flink renamed; values are written under the installed version's name.

use crate::FlinkVersion;

/// A key renamed in a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rename {
    /// The name before `since`.
    pub old: &'static str,
    /// The name from `since` on.
    pub new: &'static str,
    /// The first release using `new`.
    pub since: FlinkVersion,
}

const fn rename(old: &'static str, new: &'static str, major: u32, minor: u32) -> Rename {
    Rename {
        old,
        new,
        since: FlinkVersion::new(major, minor, 0),
    }
}

/// Renames the toolkit translates, checked against the deprecated keys of flink-dist 1.20 and the
/// options of 2.3.
pub static RENAMES: &[Rename] = &[
    rename(
        "state.savepoints.dir",
        "execution.checkpointing.savepoint-dir",
        1,
        20,
    ),
    rename(
        "state.checkpoints.dir",
        "execution.checkpointing.dir",
        1,
        20,
    ),
    rename(
        "state.checkpoints.num-retained",
        "execution.checkpointing.num-retained",
        1,
        20,
    ),
    rename(
        "state.checkpoint-storage",
        "execution.checkpointing.storage",
        1,
        20,
    ),
    rename(
        "state.backend.incremental",
        "execution.checkpointing.incremental",
        1,
        20,
    ),
    rename(
        "state.backend.local-recovery",
        "execution.state-recovery.from-local",
        1,
        20,
    ),
    rename(
        "execution.savepoint.path",
        "execution.state-recovery.path",
        1,
        20,
    ),
    rename(
        "execution.savepoint-restore-mode",
        "execution.state-recovery.claim-mode",
        1,
        20,
    ),
    // The same option under its 2.x name; 2.x reads the old one as a deprecated key.
    rename(
        "jobmanager.adaptive-scheduler.scaling-interval.min",
        "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling",
        2,
        0,
    ),
    // The old adaptive scheduler keys still parse on 2.x but no longer do anything.
    rename(
        "jobmanager.adaptive-scheduler.resource-wait-timeout",
        "jobmanager.adaptive-scheduler.submission.resource-wait-timeout",
        2,
        0,
    ),
    rename(
        "jobmanager.adaptive-scheduler.resource-stabilization-timeout",
        "jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout",
        2,
        0,
    ),
];

/// The name of `key` in `version`, and the rename applied if it changed. Works both ways: a new
/// name is written under its old name for a version that predates it.
pub fn key_for_version(key: &str, version: FlinkVersion) -> (&str, Option<&'static Rename>) {
    for r in RENAMES {
        if version >= r.since && key == r.old {
            return (r.new, Some(r));
        }
        if version < r.since && key == r.new {
            return (r.old, Some(r));
        }
    }
    (key, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_both_ways() {
        let v2 = FlinkVersion::new(2, 3, 0);
        let v1 = FlinkVersion::new(1, 20, 3);
        let wait = "jobmanager.adaptive-scheduler.resource-wait-timeout";
        let submission = "jobmanager.adaptive-scheduler.submission.resource-wait-timeout";
        assert_eq!(key_for_version(wait, v2).0, submission);
        assert_eq!(key_for_version(wait, v1), (wait, None));
        assert_eq!(key_for_version(submission, v1).0, wait);
        assert_eq!(
            key_for_version("state.savepoints.dir", v1).0,
            "execution.checkpointing.savepoint-dir"
        );
        assert_eq!(
            key_for_version("execution.checkpointing.dir", FlinkVersion::new(1, 19, 1)).0,
            "state.checkpoints.dir"
        );
        assert_eq!(
            key_for_version("heartbeat.timeout", v2),
            ("heartbeat.timeout", None)
        );
    }

    #[test]
    fn renames_follow_the_catalog_of_every_minor() {
        // The new name exists from `since` on and not before; the old one exists before.
        let matrix = [
            (1, 17, 2),
            (1, 18, 1),
            (1, 19, 3),
            (1, 20, 5),
            (2, 0, 2),
            (2, 1, 3),
            (2, 2, 1),
            (2, 3, 0),
        ]
        .map(|(a, b, c)| FlinkVersion::new(a, b, c));
        for r in RENAMES {
            // A key younger than the matrix (the cooldown's old name arrived in 1.19) is checked
            // from the first minor that knows either name on: no holes after that.
            let known = |key, v| crate::lookup(key, v).is_some();
            let first = matrix
                .into_iter()
                .find(|&v| known(r.old, v) || known(r.new, v))
                .unwrap_or_else(|| panic!("no minor knows {} or {}", r.old, r.new));
            for v in matrix.into_iter().filter(|&v| v >= first) {
                let new_known = crate::lookup(r.new, v).is_some();
                assert_eq!(new_known, v >= r.since, "{} in {v}", r.new);
                if v < r.since {
                    assert!(crate::lookup(r.old, v).is_some(), "{} in {v}", r.old);
                }
                // Whatever name a user gives, the one written is known to the version.
                for given in [r.old, r.new] {
                    let (written, _) = key_for_version(given, v);
                    assert!(
                        crate::lookup(written, v).is_some(),
                        "{given} -> {written} in {v}"
                    );
                }
            }
        }
    }
}
