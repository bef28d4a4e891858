//! Flink release versions, shared by the REST client and the config renderer
//! so both read a version string the same way.
//!
//! One parse rule ([`FlinkVersion::from_str`]): `MAJOR.MINOR[.PATCH]` of
//! decimal digits, optionally followed by a `-` or `+` suffix
//! (`1.20-SNAPSHOT`, `2.0.0-rc1`, `1.19.1-csa1.14.0.0`) that is ignored;
//! surrounding whitespace is ignored. Anything else (`1.2.3.4`, `2`, `v1.20`)
//! is an error: guessing a version picks the wrong dialect or key catalog.
//!
//! Besides parsing and ordering, the facts that depend only on the version:
//! the config file it reads and the range flink-ops supports.
#![deny(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A Flink release, e.g. `1.20.3`. Ordered by major, minor, patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlinkVersion {
    /// Major version (1 or 2).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version (0 when the version string has none, e.g. `1.20-SNAPSHOT`).
    pub patch: u32,
}

/// Why a Flink version could not be read or determined.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// A version string that is not `MAJOR.MINOR[.PATCH][-suffix]`.
    #[error("`{0}` is not a Flink version (expected MAJOR.MINOR[.PATCH], e.g. 1.20.3)")]
    Invalid(String),
    /// The `lib` directory could not be listed.
    #[error("cannot list {dir}; is FLINK_HOME a Flink installation?")]
    Unreadable {
        /// The directory that was listed.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No `flink-dist-*.jar` in `lib`.
    #[error("no flink-dist-*.jar in {0}; is FLINK_HOME a Flink installation?")]
    NoDistJar(PathBuf),
    /// More than one `flink-dist-*.jar` with different versions.
    #[error("several flink-dist jars in {dir} ({names}); keep one")]
    Ambiguous {
        /// The `lib` directory.
        dir: PathBuf,
        /// The jar names found.
        names: String,
    },
}

impl FlinkVersion {
    /// The oldest version flink-ops speaks to (REST dialect and key catalog), and the oldest CI
    /// tests. Not 1.17: it does not start on Java 17, which CI and the images run.
    pub const OLDEST_SUPPORTED: Self = Self::new(1, 19, 0);
    /// The newest version the key catalog was extracted from (any 2.3.x).
    pub const NEWEST_KNOWN: Self = Self::new(2, 3, u32::MAX);

    /// A version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Whether flink-ops supports this version (1.19 up to 2.3, any patch release).
    pub fn is_supported(self) -> bool {
        (Self::OLDEST_SUPPORTED..=Self::NEWEST_KNOWN).contains(&self)
    }

    /// Whether this version is `major.minor` or newer.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// The config file this version reads.
    pub fn config_file(self) -> ConfigFile {
        if self.at_least(1, 19) {
            ConfigFile::ConfigYaml
        } else {
            ConfigFile::FlinkConfYaml
        }
    }

    /// Detects the installed version from `FLINK_HOME/lib/flink-dist-*.jar`.
    pub fn detect(flink_home: &Path) -> Result<Self, VersionError> {
        let dir = flink_home.join("lib");
        let entries = std::fs::read_dir(&dir).map_err(|source| VersionError::Unreadable {
            dir: dir.clone(),
            source,
        })?;
        let mut found: Vec<(String, Self)> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|name| Some((name.clone(), Self::from_dist_jar(&name)?)))
            .collect();
        found.sort();
        found.dedup_by_key(|(_, v)| *v);
        match found.as_slice() {
            [] => Err(VersionError::NoDistJar(dir)),
            [(_, version)] => Ok(*version),
            many => Err(VersionError::Ambiguous {
                dir,
                names: many
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The version in a dist jar name: `flink-dist-1.20.3.jar`, `flink-dist_2.12-1.14.6.jar`.
    fn from_dist_jar(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("flink-dist")?.strip_suffix(".jar")?;
        rest.split('-').skip(1).find_map(|part| part.parse().ok())
    }
}

impl FromStr for FlinkVersion {
    type Err = VersionError;

    /// Parses `2.3.0`, `1.20.3`, `2.3`, `1.20-SNAPSHOT` or `2.0.0-rc1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || VersionError::Invalid(s.to_owned());
        let core = s.trim().split(['-', '+']).next().unwrap_or_default();
        let number = |p: &str| -> Result<u32, VersionError> {
            // u32::from_str accepts "+1"; a version part is digits only.
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            p.parse().map_err(|_| invalid())
        };
        let parts: Vec<&str> = core.split('.').collect();
        match parts.as_slice() {
            [major, minor] => Ok(Self::new(number(major)?, number(minor)?, 0)),
            [major, minor, patch] => Ok(Self::new(number(major)?, number(minor)?, number(patch)?)),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for FlinkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The configuration file a Flink version reads from its conf dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFile {
    /// `config.yaml`: standard YAML, Flink 1.19 and later.
    ConfigYaml,
    /// `flink-conf.yaml`: flat `key: value` lines, before 1.19.
    FlinkConfYaml,
}

impl ConfigFile {
    /// The file name inside the conf dir.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::ConfigYaml => "config.yaml",
            Self::FlinkConfYaml => "flink-conf.yaml",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<FlinkVersion> {
        s.parse().ok()
    }

    #[test]
    fn parses_what_clusters_and_distributions_report() {
        let v = FlinkVersion::new;
        assert_eq!(parse("2.3.0"), Some(v(2, 3, 0)));
        assert_eq!(parse("1.20.3"), Some(v(1, 20, 3)));
        assert_eq!(parse("2.3"), Some(v(2, 3, 0)));
        assert_eq!(parse("1.20-SNAPSHOT"), Some(v(1, 20, 0)));
        assert_eq!(parse("2.3-SNAPSHOT"), Some(v(2, 3, 0)));
        assert_eq!(parse("2.0.0-rc1"), Some(v(2, 0, 0)));
        assert_eq!(parse("1.19.1-csa1.14.0.0"), Some(v(1, 19, 1)));
        assert_eq!(parse("1.18.1+build7"), Some(v(1, 18, 1)));
        assert_eq!(parse(" 1.20.3\n"), Some(v(1, 20, 3)));
        assert_eq!(parse("1.2.0"), Some(v(1, 2, 0)));
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "two",
            "2",
            "1.2.3.4",
            "1..2",
            "1.2.",
            "v1.20",
            "1.+2",
            "1.-2",
            "<unknown>",
            "1.2 .3",
            "99999999999.1",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} parsed");
        }
        let err = "1.2.3.4".parse::<FlinkVersion>().unwrap_err();
        assert!(
            err.to_string().contains("`1.2.3.4` is not a Flink version"),
            "{err}"
        );
    }

    #[test]
    fn orders_and_compares() {
        assert!(FlinkVersion::new(1, 20, 0).at_least(1, 20));
        assert!(!FlinkVersion::new(1, 19, 9).at_least(1, 20));
        assert!(FlinkVersion::new(2, 0, 0).at_least(1, 20));
        assert!(FlinkVersion::new(1, 2, 0) < FlinkVersion::OLDEST_SUPPORTED);
        assert!(FlinkVersion::new(1, 9, 0) < FlinkVersion::new(1, 10, 0));
        assert!(FlinkVersion::new(1, 19, 0).is_supported());
        assert!(!FlinkVersion::new(1, 18, 1).is_supported());
        assert!(FlinkVersion::new(2, 3, 7).is_supported());
        assert!(!FlinkVersion::new(1, 16, 3).is_supported());
        assert!(!FlinkVersion::new(2, 4, 0).is_supported());
        assert_eq!(FlinkVersion::new(1, 20, 3).to_string(), "1.20.3");
    }

    #[test]
    fn reads_dist_jar_names() {
        let v = FlinkVersion::from_dist_jar;
        assert_eq!(v("flink-dist-2.3.0.jar"), Some(FlinkVersion::new(2, 3, 0)));
        assert_eq!(
            v("flink-dist_2.12-1.14.6.jar"),
            Some(FlinkVersion::new(1, 14, 6))
        );
        assert_eq!(
            v("flink-dist-1.20-SNAPSHOT.jar"),
            Some(FlinkVersion::new(1, 20, 0))
        );
        assert_eq!(v("flink-table-runtime-2.3.0.jar"), None);
    }

    #[test]
    fn detects_from_lib_dir() {
        let home = tempfile::tempdir().unwrap();
        assert!(matches!(
            FlinkVersion::detect(home.path()),
            Err(VersionError::Unreadable { .. })
        ));
        std::fs::create_dir(home.path().join("lib")).unwrap();
        assert!(matches!(
            FlinkVersion::detect(home.path()),
            Err(VersionError::NoDistJar(_))
        ));
        std::fs::write(home.path().join("lib/flink-dist-1.20.3.jar"), "").unwrap();
        std::fs::write(home.path().join("lib/flink-json-1.20.3.jar"), "").unwrap();
        assert_eq!(
            FlinkVersion::detect(home.path()).unwrap(),
            FlinkVersion::new(1, 20, 3)
        );
        std::fs::write(home.path().join("lib/flink-dist-2.3.0.jar"), "").unwrap();
        assert!(matches!(
            FlinkVersion::detect(home.path()),
            Err(VersionError::Ambiguous { .. })
        ));
    }

    #[test]
    fn picks_the_config_file() {
        assert_eq!(
            FlinkVersion::new(1, 18, 1).config_file(),
            ConfigFile::FlinkConfYaml
        );
        assert_eq!(
            FlinkVersion::new(1, 19, 0).config_file(),
            ConfigFile::ConfigYaml
        );
        assert_eq!(
            FlinkVersion::new(2, 3, 0).config_file(),
            ConfigFile::ConfigYaml
        );
        assert_eq!(ConfigFile::ConfigYaml.file_name(), "config.yaml");
    }
}
