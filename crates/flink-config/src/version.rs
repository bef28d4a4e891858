//! Flink versions, the config file each one reads, and the process roles.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A Flink release, e.g. `1.20.3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlinkVersion {
    /// Major version (1 or 2).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version (0 when the version string has none).
    pub patch: u32,
}

/// Why the installed Flink version could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
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
    /// A version string that is not `MAJOR.MINOR[.PATCH][-suffix]`.
    #[error("`{0}` is not a Flink version (expected MAJOR.MINOR[.PATCH])")]
    Invalid(String),
}

impl FlinkVersion {
    /// Oldest version the key catalog and renderer were written for.
    pub const OLDEST_SUPPORTED: Self = Self::new(1, 17, 0);
    /// Newest version the key catalog was extracted from.
    pub const NEWEST_KNOWN: Self = Self::new(2, 3, u32::MAX);

    /// A version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Whether the catalog covers this version (1.17 up to 2.3).
    pub fn is_supported(self) -> bool {
        (Self::OLDEST_SUPPORTED..=Self::NEWEST_KNOWN).contains(&self)
    }

    /// Whether this version is at least `major.minor`.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= Self::new(major, minor, 0)
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

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || VersionError::Invalid(s.to_owned());
        // "2.3-SNAPSHOT", "1.20.3-rc1": the suffix does not change which keys exist.
        let core = s.split('-').next().unwrap_or_default();
        let mut parts = core
            .split('.')
            .map(|p| p.parse::<u32>().map_err(|_| invalid()));
        let major = parts.next().ok_or_else(invalid)??;
        let minor = parts.next().ok_or_else(invalid)??;
        let patch = parts.next().transpose()?.unwrap_or(0);
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(Self::new(major, minor, patch))
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

/// Which Flink process is being started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The JobManager (`bin/jobmanager.sh`).
    JobManager,
    /// A TaskManager (`bin/taskmanager.sh`).
    TaskManager,
}

impl Role {
    /// The script under `FLINK_HOME/bin` that starts this role.
    pub fn script(self) -> &'static str {
        match self {
            Self::JobManager => "jobmanager.sh",
            Self::TaskManager => "taskmanager.sh",
        }
    }

    /// The key holding the total process memory of this role.
    pub fn process_memory_key(self) -> &'static str {
        match self {
            Self::JobManager => "jobmanager.memory.process.size",
            Self::TaskManager => "taskmanager.memory.process.size",
        }
    }

    /// Keys that size this role's memory in another way; Flink rejects some combinations with
    /// `*.memory.process.size`, so a derived process size must yield to them.
    pub fn alternative_memory_keys(self) -> &'static [&'static str] {
        match self {
            Self::JobManager => &[
                "jobmanager.memory.flink.size",
                "jobmanager.memory.heap.size",
            ],
            Self::TaskManager => &[
                "taskmanager.memory.flink.size",
                "taskmanager.memory.task.heap.size",
                "taskmanager.memory.managed.size",
            ],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::JobManager => "jobmanager",
            Self::TaskManager => "taskmanager",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            "1.20.3".parse::<FlinkVersion>().unwrap(),
            FlinkVersion::new(1, 20, 3)
        );
        assert_eq!(
            "2.3".parse::<FlinkVersion>().unwrap(),
            FlinkVersion::new(2, 3, 0)
        );
        assert_eq!(
            "2.3-SNAPSHOT".parse::<FlinkVersion>().unwrap(),
            FlinkVersion::new(2, 3, 0)
        );
        assert!("two".parse::<FlinkVersion>().is_err());
        assert!("1.2.3.4".parse::<FlinkVersion>().is_err());
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
    }
}
