//! Named sets of settings for common setups.

use std::fmt;
use std::str::FromStr;

use crate::{key_for_version, FlinkVersion, Setting};

/// A named set of settings, applied above the image conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Adaptive scheduler, fast TaskManager loss detection and unlimited exponential-delay
    /// restarts: TaskManagers in an autoscaled instance group.
    Elastic,
}

/// A profile name that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("unknown profile `{0}` (known: elastic)")]
pub struct UnknownProfile(String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "elastic" => Ok(Self::Elastic),
            other => Err(UnknownProfile(other.to_owned())),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Elastic => "elastic",
        })
    }
}

impl Profile {
    /// The settings, with keys and value formats for `version`.
    pub fn settings(self, version: FlinkVersion) -> Vec<Setting> {
        match self {
            Self::Elastic => {
                let key = |k| key_for_version(k, version).0.to_owned();
                // A Duration from 1.20 on; milliseconds before.
                let heartbeat = if version.at_least(1, 20) {
                    "15 s"
                } else {
                    "15000"
                };
                let mut settings = vec![
                    Setting::new("jobmanager.scheduler", "adaptive"),
                    Setting::new(
                        key("jobmanager.adaptive-scheduler.resource-wait-timeout"),
                        "3600 s",
                    ),
                    Setting::new("heartbeat.timeout", heartbeat),
                    Setting::new("restart-strategy.type", "exponential-delay"),
                    Setting::new("restart-strategy.exponential-delay.initial-backoff", "10 s"),
                    Setting::new("restart-strategy.exponential-delay.max-backoff", "2 min"),
                    Setting::new(
                        "restart-strategy.exponential-delay.backoff-multiplier",
                        "2.0",
                    ),
                    Setting::new(
                        "restart-strategy.exponential-delay.reset-backoff-threshold",
                        "10 min",
                    ),
                    Setting::new("restart-strategy.exponential-delay.jitter-factor", "0.1"),
                ];
                if version.at_least(1, 19) {
                    // Written as executing.cooldown-after-rescaling on 2.x.
                    settings.push(Setting::new(key(SCALING_INTERVAL_MIN), "1 min").with_note(
                        "rescale damping: at most one rescale a minute (Flink: 30 s), so \
                             TaskManagers that join within it come in one restart",
                    ));
                }
                if version.at_least(1, 19) {
                    // Every rescale counts as a restart: never give up.
                    settings.push(
                        Setting::new(
                            "restart-strategy.exponential-delay.attempts-before-reset-backoff",
                            i32::MAX.to_string(),
                        )
                        .with_note("no attempt limit"),
                    );
                }
                settings
            }
        }
    }
}

const SCALING_INTERVAL_MIN: &str = "jobmanager.adaptive-scheduler.scaling-interval.min";

/// One of the adaptive scheduler's rescale damping keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DampingKey {
    /// The key, as the version spells it.
    pub key: &'static str,
    /// Flink's own default, in words.
    pub flink_default: &'static str,
    /// What it does to a running job.
    pub what: &'static str,
}

/// The adaptive scheduler's keys that damp rescales, as `version` names them (checked against
/// `JobManagerOptions` of flink-dist 1.20.3 and 2.3.0: 2.0 renamed the cooldown, added the
/// stabilisation of a running job and the checkpoint trigger, and stopped reading
/// `min-parallelism-increase` and `scaling-interval.max`). `explain` lists them, set or not.
pub fn damping_keys(version: FlinkVersion) -> Vec<DampingKey> {
    let k = |key, flink_default, what| DampingKey {
        key,
        flink_default,
        what,
    };
    if version.at_least(2, 0) {
        return vec![
            k(
                "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling",
                "30 s",
                "after a rescale, how long before the next one may start",
            ),
            k(
                "jobmanager.adaptive-scheduler.executing.resource-stabilization-timeout",
                "60 s",
                "after a TaskManager joins a running job, how long to wait for more before \
                 rescaling to what there is",
            ),
            k(
                "jobmanager.adaptive-scheduler.rescale-trigger.max-delay",
                "3 checkpoint intervals, 0 without checkpointing",
                "how long a due rescale waits for a checkpoint to complete, so that less is \
                 processed again",
            ),
            k(
                "jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout",
                "10 s",
                "how long a starting or restarting job waits for more slots than it has",
            ),
        ];
    }
    let mut keys = Vec::new();
    if version.at_least(1, 19) {
        keys.push(k(
            SCALING_INTERVAL_MIN,
            "30 s",
            "the shortest time between two rescales",
        ));
        keys.push(k(
            "jobmanager.adaptive-scheduler.scaling-interval.max",
            "off",
            "after this long a rescale happens even below min-parallelism-increase",
        ));
    }
    keys.push(k(
        "jobmanager.adaptive-scheduler.min-parallelism-increase",
        "1",
        "how much more parallelism makes a scale-up worth a restart",
    ));
    keys.push(k(
        "jobmanager.adaptive-scheduler.resource-stabilization-timeout",
        "10 s",
        "how long a starting or restarting job waits for more slots than it has",
    ));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{resolve, validate, Layer, Source};

    #[test]
    fn elastic_is_valid_for_every_supported_version() {
        for v in ["1.17.2", "1.18.1", "1.19.1", "1.20.3", "2.0.0", "2.3.0"] {
            let version: FlinkVersion = v.parse().unwrap();
            let layer = Layer {
                origin: crate::Origin {
                    source: Source::Profile,
                    detail: "elastic".into(),
                },
                settings: Profile::Elastic.settings(version),
            };
            let resolved = resolve(&[layer], version);
            assert_eq!(validate(&resolved), [], "{v}");
            assert!(resolved.renames().next().is_none(), "{v}: no rename notes");
        }
    }

    #[test]
    fn damps_rescales_under_each_versions_names() {
        let rendered = |v: FlinkVersion| {
            let layer = Layer {
                origin: crate::Origin {
                    source: Source::Profile,
                    detail: "elastic".into(),
                },
                settings: Profile::Elastic.settings(v),
            };
            resolve(&[layer], v)
        };
        let v2 = rendered(FlinkVersion::new(2, 3, 0));
        assert_eq!(
            v2.get("jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling"),
            Some("1 min")
        );
        assert_eq!(
            v2.get("jobmanager.adaptive-scheduler.scaling-interval.min"),
            None
        );
        let v1 = rendered(FlinkVersion::new(1, 20, 3));
        assert_eq!(
            v1.get("jobmanager.adaptive-scheduler.scaling-interval.min"),
            Some("1 min")
        );
        // Before 1.19 the cooldown does not exist: nothing Flink would ignore is written.
        let v118 = rendered(FlinkVersion::new(1, 18, 1));
        assert!(
            !v118.entries.keys().any(|k| k.contains("scaling-interval")),
            "{:?}",
            v118.entries.keys()
        );
        // Every damping key named exists in its version, and every one the profile sets is
        // among them.
        for v in ["1.18.1", "1.20.3", "2.0.0", "2.3.0"] {
            let version: FlinkVersion = v.parse().unwrap();
            let keys = damping_keys(version);
            for d in &keys {
                assert!(crate::lookup(d.key, version).is_some(), "{v}: {}", d.key);
            }
            for key in rendered(version).entries.keys() {
                if key.starts_with("jobmanager.adaptive-scheduler.")
                    && !key.contains("resource-wait-timeout")
                {
                    assert!(keys.iter().any(|d| d.key == key), "{v}: {key}");
                }
            }
        }
        let names = |v| {
            damping_keys(v)
                .into_iter()
                .map(|d| d.key)
                .collect::<Vec<_>>()
        };
        assert!(!names(FlinkVersion::new(2, 3, 0))
            .contains(&"jobmanager.adaptive-scheduler.min-parallelism-increase"));
        assert!(names(FlinkVersion::new(1, 20, 3))
            .contains(&"jobmanager.adaptive-scheduler.min-parallelism-increase"));
    }

    #[test]
    fn uses_the_versions_wait_timeout_key() {
        let keys = |v| {
            Profile::Elastic
                .settings(v)
                .into_iter()
                .map(|s| s.key)
                .collect::<Vec<_>>()
        };
        assert!(keys(FlinkVersion::new(2, 3, 0))
            .contains(&"jobmanager.adaptive-scheduler.submission.resource-wait-timeout".into()));
        assert!(keys(FlinkVersion::new(1, 20, 3))
            .contains(&"jobmanager.adaptive-scheduler.resource-wait-timeout".into()));
    }
}
