//! The parts of the REST API that differ between Flink versions.

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Map, Value};

use crate::model::{ClaimMode, RunJob};

/// A Flink release version, as reported by `GET /config` (`flink-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlinkVersion {
    /// Major version (1 or 2).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version (0 when the cluster reports none, e.g. a snapshot).
    pub patch: u32,
}

impl FlinkVersion {
    /// A version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// The oldest version this client speaks to.
    pub const OLDEST_SUPPORTED: FlinkVersion = FlinkVersion::new(1, 17, 0);

    /// True when this version is `major.minor` or newer.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl FromStr for FlinkVersion {
    type Err = String;

    /// Parses `2.3.0`, `1.20.3`, `1.20-SNAPSHOT` or `2.0.0-rc1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let core = s.trim().split(['-', '+']).next().unwrap_or_default();
        let mut parts = core.split('.').map(|p| p.parse::<u32>());
        let bad = || format!("'{s}' is not a Flink version (expected e.g. 1.20.3)");
        let major = parts.next().and_then(Result::ok).ok_or_else(bad)?;
        let minor = parts.next().and_then(Result::ok).ok_or_else(bad)?;
        let patch = match parts.next() {
            Some(p) => p.map_err(|_| bad())?,
            None => 0,
        };
        Ok(Self::new(major, minor, patch))
    }
}

impl fmt::Display for FlinkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// How to phrase requests for one Flink version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    version: FlinkVersion,
}

impl Dialect {
    /// The dialect of a cluster reporting `version`.
    pub fn new(version: FlinkVersion) -> Self {
        Self { version }
    }

    /// The version this dialect speaks to.
    pub fn version(&self) -> FlinkVersion {
        self.version
    }

    /// The JSON body of `POST /jars/{id}/run`.
    ///
    /// Program arguments always go as `programArgsList` (the string form is
    /// gone in 2.0). The restore mode is `claimMode` from 1.20 on and
    /// `restoreMode` before; both take `CLAIM` / `NO_CLAIM`.
    pub fn run_body(&self, run: &RunJob) -> Value {
        let mut body = Map::new();
        if let Some(class) = &run.entry_class {
            body.insert("entryClass".into(), json!(class));
        }
        body.insert("programArgsList".into(), json!(run.program_args));
        if let Some(p) = run.parallelism {
            body.insert("parallelism".into(), json!(p));
        }
        if let Some(id) = &run.job_id {
            body.insert("jobId".into(), json!(id.as_str()));
        }
        if let Some(path) = &run.savepoint_path {
            body.insert("savepointPath".into(), json!(path));
            body.insert(
                "allowNonRestoredState".into(),
                json!(run.allow_non_restored_state),
            );
            let mode_key = if self.version.at_least(1, 20) {
                "claimMode"
            } else {
                "restoreMode"
            };
            body.insert(mode_key.into(), json!(claim_mode_name(run.claim_mode)));
        }
        if !run.flink_configuration.is_empty() {
            body.insert("flinkConfiguration".into(), json!(run.flink_configuration));
        }
        Value::Object(body)
    }
}

fn claim_mode_name(mode: ClaimMode) -> &'static str {
    match mode {
        ClaimMode::Claim => "CLAIM",
        ClaimMode::NoClaim => "NO_CLAIM",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobId;

    #[test]
    fn versions_parse_from_what_clusters_report() {
        assert_eq!(
            "2.3.0".parse::<FlinkVersion>().unwrap(),
            FlinkVersion::new(2, 3, 0)
        );
        assert_eq!(
            "1.20.3".parse::<FlinkVersion>().unwrap(),
            FlinkVersion::new(1, 20, 3)
        );
        assert_eq!(
            "1.20-SNAPSHOT".parse::<FlinkVersion>().unwrap(),
            FlinkVersion::new(1, 20, 0)
        );
        assert_eq!(
            "2.0.0-rc1".parse::<FlinkVersion>().unwrap(),
            FlinkVersion::new(2, 0, 0)
        );
        assert!("<unknown>".parse::<FlinkVersion>().is_err());
        assert!("2".parse::<FlinkVersion>().is_err());
        assert!(FlinkVersion::new(1, 20, 0).at_least(1, 20));
        assert!(!FlinkVersion::new(1, 19, 9).at_least(1, 20));
        assert!(FlinkVersion::new(2, 0, 0).at_least(1, 20));
    }

    fn restore_run() -> RunJob {
        RunJob {
            entry_class: Some("com.example.Job".into()),
            program_args: vec!["--name".into(), "orders with spaces".into()],
            parallelism: Some(4),
            job_id: None,
            savepoint_path: Some("file:/sp/orders/2026-11-23-18-15/savepoint-abc".into()),
            allow_non_restored_state: true,
            claim_mode: ClaimMode::NoClaim,
            flink_configuration: [("pipeline.name".to_string(), "x".to_string())].into(),
        }
    }

    #[test]
    fn run_body_uses_claim_mode_from_1_20() {
        for v in [FlinkVersion::new(1, 20, 3), FlinkVersion::new(2, 3, 0)] {
            let body = Dialect::new(v).run_body(&restore_run());
            assert_eq!(body["claimMode"], "NO_CLAIM", "{v}");
            assert!(body.get("restoreMode").is_none(), "{v}");
            assert_eq!(body["programArgsList"][1], "orders with spaces");
            assert!(body.get("programArgs").is_none());
            assert_eq!(
                body["savepointPath"],
                "file:/sp/orders/2026-11-23-18-15/savepoint-abc"
            );
            assert_eq!(body["allowNonRestoredState"], true);
            assert_eq!(body["parallelism"], 4);
            assert_eq!(body["entryClass"], "com.example.Job");
            assert_eq!(body["flinkConfiguration"]["pipeline.name"], "x");
        }
    }

    #[test]
    fn run_body_uses_restore_mode_before_1_20() {
        let body = Dialect::new(FlinkVersion::new(1, 17, 2)).run_body(&restore_run());
        assert_eq!(body["restoreMode"], "NO_CLAIM");
        assert!(body.get("claimMode").is_none());
    }

    #[test]
    fn fresh_run_body_has_no_restore_fields() {
        let run = RunJob {
            job_id: Some(JobId::new("0123456789abcdef0123456789abcdef")),
            ..RunJob::default()
        };
        let body = Dialect::new(FlinkVersion::new(2, 3, 0)).run_body(&run);
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["jobId", "programArgsList"]);
    }
}
