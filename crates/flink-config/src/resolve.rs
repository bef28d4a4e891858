//! Merging layers of settings by precedence, remembering where each value came from.

use std::collections::BTreeMap;
use std::fmt;

use crate::{key_for_version, FlinkVersion};

/// Where a setting came from, lowest precedence first (the derived order is the precedence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The config already in the image's conf dir.
    ImageConf,
    /// A named profile (`--profile`).
    Profile,
    /// A bootstrap option that stands for Flink keys (`--metrics-reporter prometheus`).
    Option,
    /// Facts about the instance: CPUs, memory, addresses.
    InstanceFacts,
    /// A project-wide metadata attribute.
    MetadataProject,
    /// An instance metadata attribute.
    MetadataInstance,
    /// Environment variables compatible with the official Flink image.
    Env,
    /// `--set key=value` on the command line.
    CommandLine,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ImageConf => "image conf",
            Self::Profile => "profile",
            Self::Option => "option",
            Self::InstanceFacts => "instance facts",
            Self::MetadataProject => "metadata project",
            Self::MetadataInstance => "metadata instance",
            Self::Env => "env",
            Self::CommandLine => "--set",
        })
    }
}

/// A source plus the detail a person needs to find the value (a file, an attribute, a variable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The layer.
    pub source: Source,
    /// E.g. `/opt/flink/conf/config.yaml`, `elastic`, `FLINK_PROPERTIES`, `4 CPUs (cgroup cpu.max)`.
    pub detail: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.source)
        } else {
            write!(f, "{} ({})", self.source, self.detail)
        }
    }
}

/// One `key: value` proposed by a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The key as the layer wrote it (translated for the version when resolving).
    pub key: String,
    /// The value, as text.
    pub value: String,
    /// Why this value, when the layer's detail is not enough (e.g. "4 CPUs from cgroup cpu.max").
    pub note: Option<String>,
}

impl Setting {
    /// A setting without a note.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            note: None,
        }
    }

    /// Adds a note explaining the value.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// The settings of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Where they came from.
    pub origin: Origin,
    /// In order; a later setting of the same key wins.
    pub settings: Vec<Setting>,
}

impl Layer {
    /// A layer from `(key, value)` pairs.
    pub fn new(
        source: Source,
        detail: impl Into<String>,
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        Self {
            origin: Origin {
                source,
                detail: detail.into(),
            },
            settings: pairs.into_iter().map(|(k, v)| Setting::new(k, v)).collect(),
        }
    }
}

/// The winning value of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The value written to the file.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
    /// The setting's note, if any.
    pub note: Option<String>,
    /// The key as the source wrote it, when it was renamed for this version.
    pub renamed_from: Option<String>,
    /// Values of lower-precedence sources that this one replaced.
    pub overrides: Vec<(Origin, String)>,
}

/// The merged configuration for one Flink version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The version keys were translated for.
    pub version: FlinkVersion,
    /// Every key, sorted.
    pub entries: BTreeMap<String, Resolution>,
}

impl Resolved {
    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|r| r.value.as_str())
    }

    /// Keys that were renamed for this version: `(written as, renamed to, origin)`.
    pub fn renames(&self) -> impl Iterator<Item = (&str, &str, &Origin)> {
        self.entries.iter().filter_map(|(key, r)| {
            let from = r.renamed_from.as_deref()?;
            Some((from, key.as_str(), &r.origin))
        })
    }
}

/// Merges layers by [`Source`] precedence (stable for equal sources), translating renamed keys to
/// `version`'s names.
pub fn resolve(layers: &[Layer], version: FlinkVersion) -> Resolved {
    let mut ordered: Vec<&Layer> = layers.iter().collect();
    ordered.sort_by_key(|l| l.origin.source);
    let mut entries: BTreeMap<String, Resolution> = BTreeMap::new();
    for layer in ordered {
        for setting in &layer.settings {
            let (key, rename) = key_for_version(&setting.key, version);
            let next = Resolution {
                value: setting.value.clone(),
                origin: layer.origin.clone(),
                note: setting.note.clone(),
                renamed_from: rename.map(|_| setting.key.clone()),
                overrides: Vec::new(),
            };
            match entries.get_mut(key) {
                Some(current) => {
                    let previous = std::mem::replace(current, next);
                    current.overrides = previous.overrides;
                    current.overrides.push((previous.origin, previous.value));
                }
                None => {
                    entries.insert(key.to_owned(), next);
                }
            }
        }
    }
    Resolved { version, entries }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(source: Source, pairs: &[(&str, &str)]) -> Layer {
        Layer::new(
            source,
            "",
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn higher_sources_win_whatever_the_order_given() {
        let layers = [
            layer(Source::CommandLine, &[("heartbeat.timeout", "20 s")]),
            layer(
                Source::ImageConf,
                &[("heartbeat.timeout", "50 s"), ("a.b", "image")],
            ),
            layer(
                Source::Env,
                &[("heartbeat.timeout", "30 s"), ("c.d", "env")],
            ),
            layer(Source::Profile, &[("heartbeat.timeout", "15 s")]),
            layer(Source::MetadataInstance, &[("a.b", "instance")]),
            layer(Source::MetadataProject, &[("a.b", "project")]),
        ];
        let r = resolve(&layers, FlinkVersion::new(2, 3, 0));
        assert_eq!(r.get("heartbeat.timeout"), Some("20 s"));
        assert_eq!(r.get("a.b"), Some("instance"));
        assert_eq!(r.get("c.d"), Some("env"));
        let hb = &r.entries["heartbeat.timeout"];
        assert_eq!(hb.origin.source, Source::CommandLine);
        let overridden: Vec<_> = hb
            .overrides
            .iter()
            .map(|(o, v)| (o.source, v.as_str()))
            .collect();
        assert_eq!(
            overridden,
            [
                (Source::ImageConf, "50 s"),
                (Source::Profile, "15 s"),
                (Source::Env, "30 s")
            ]
        );
    }

    #[test]
    fn translates_keys_and_merges_old_and_new_names() {
        let layers = [
            layer(
                Source::ImageConf,
                &[(
                    "jobmanager.adaptive-scheduler.submission.resource-wait-timeout",
                    "1 min",
                )],
            ),
            layer(
                Source::Env,
                &[("jobmanager.adaptive-scheduler.resource-wait-timeout", "1 h")],
            ),
        ];
        let r = resolve(&layers, FlinkVersion::new(2, 3, 0));
        let key = "jobmanager.adaptive-scheduler.submission.resource-wait-timeout";
        assert_eq!(r.get(key), Some("1 h"));
        assert_eq!(r.entries.len(), 1);
        assert_eq!(
            r.renames()
                .map(|(from, to, _)| (from, to))
                .collect::<Vec<_>>(),
            [("jobmanager.adaptive-scheduler.resource-wait-timeout", key)]
        );
    }
}
