//! The parts of the REST API that differ between Flink versions.

use serde_json::{json, Map, Value};

use crate::model::{ClaimMode, RunJob};

/// A Flink release version, as reported by `GET /config` (`flink-version`):
/// the workspace's one version type.
pub use flink_version::FlinkVersion;

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

impl Dialect {
    /// The body of `POST /jars/{id}/plan` for the run `run` would make: the same entry class,
    /// arguments, parallelism and configuration; nothing about restoring (a plan restores nothing).
    pub fn plan_body(&self, run: &RunJob) -> Value {
        let mut body = self.run_body(run);
        if let Some(fields) = body.as_object_mut() {
            for restore in [
                "savepointPath",
                "allowNonRestoredState",
                "claimMode",
                "restoreMode",
            ] {
                fields.remove(restore);
            }
        }
        body
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
            "1.20-SNAPSHOT".parse::<FlinkVersion>().unwrap(),
            FlinkVersion::new(1, 20, 0)
        );
        assert!("<unknown>".parse::<FlinkVersion>().is_err());
        // The same rule as flink-config's: four parts are not a version.
        assert!("1.2.3.4".parse::<FlinkVersion>().is_err());
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
        for v in [(1, 20, 5), (2, 0, 2), (2, 1, 3), (2, 2, 1), (2, 3, 0)]
            .map(|(a, b, c)| FlinkVersion::new(a, b, c))
        {
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
    fn plan_body_is_the_run_without_restoring() {
        let body = Dialect::new(FlinkVersion::new(2, 3, 0)).plan_body(&restore_run());
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "entryClass",
                "flinkConfiguration",
                "parallelism",
                "programArgsList"
            ]
        );
        assert_eq!(body["programArgsList"][1], "orders with spaces");
    }

    #[test]
    fn run_body_uses_restore_mode_before_1_20() {
        for v in [FlinkVersion::new(1, 18, 1), FlinkVersion::new(1, 19, 3)] {
            let body = Dialect::new(v).run_body(&restore_run());
            assert_eq!(body["restoreMode"], "NO_CLAIM", "{v}");
            assert!(body.get("claimMode").is_none(), "{v}");
        }
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
