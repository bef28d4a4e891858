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
