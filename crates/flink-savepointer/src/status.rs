//! What the sidecar has done so far: the numbers behind `/metrics`, and the
//! verdict behind `/readyz`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flink_autoscaler::{Phase, VertexRecommendation};

use crate::recommend::Published;

/// Counters and timestamps of one job (by name).
#[derive(Debug, Clone, Default)]
pub struct JobStats {
    /// Wall-clock time of the last completed savepoint.
    pub last_success: Option<SystemTime>,
    /// Monotonic time of the last completed savepoint (for readiness).
    pub last_success_at: Option<Instant>,
    /// How long the last completed savepoint took.
    pub last_duration: Option<Duration>,
    /// The state size Flink reported for the last savepoint.
    pub last_size: Option<u64>,
    /// Savepoints completed.
    pub savepoints: u64,
    /// Savepoints that failed or timed out.
    pub failures: u64,
    /// Savepoints disposed by retention.
    pub disposals: u64,
    /// Disposals that failed (retried later).
    pub disposal_failures: u64,
    /// Rounds in which the job was selected but not RUNNING.
    pub skipped: u64,
    /// True while a named job has no active job.
    pub missing: bool,
    /// Complete savepoints of the job in the layout after the last retention,
    /// and their bytes.
    pub kept: Option<(u64, u64)>,
    /// Times retention could not list the job's savepoints.
    pub retention_failures: u64,
    /// True while a named job has no active job but one started from a jar flink-deploy
    /// uploaded under the name runs (under the name its code gives it).
    pub runs_under_another_name: bool,
    /// Set while the last savepoint failed because Flink could not create its directory: the
    /// directory Flink named.
    pub unwritable_dir: Option<String>,
    /// What `--recover` did for the job.
    pub recovery: RecoveryStats,
}

/// What `--recover` did for one job.
#[derive(Debug, Clone, Default)]
pub struct RecoveryStats {
    /// Recoveries that submitted the job again.
    pub recoveries: u64,
    /// Wall-clock time of the last one.
    pub last_recovery: Option<SystemTime>,
    /// Attempts that failed (retried), and recorded jobs whose record could not be written.
    pub failures: u64,
    /// True while a recovery is in flight.
    pub recovering: bool,
    /// Set while the job is lost and the last attempt did not recover it.
    pub blocked: Option<crate::recover::Blocked>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    jobmanager: Option<Result<(), String>>,
    /// Whether the savepoint store answered last time (buckets; local
    /// roots only when a listing failed).
    store: Option<Result<(), String>>,
    rounds: u64,
    /// Names readiness waits for: the named jobs, or the running ones seen last.
    expected: BTreeSet<String>,
    jobs: BTreeMap<String, JobStats>,
    /// `--recover` is on: its metrics are shown.
    recovery: bool,
    /// `--recommend`: each running selected job's latest recommendation, by name.
    recommendations: BTreeMap<String, Published>,
}

/// Shared between the rounds and the HTTP listener.
#[derive(Debug)]
pub struct Status {
    inner: Mutex<Inner>,
}

impl Default for Status {
    fn default() -> Self {
        Self::new()
    }
}

impl Status {
    /// Nothing done yet; the grace period starts now.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                started: Instant::now(),
                jobmanager: None,
                store: None,
                rounds: 0,
                expected: BTreeSet::new(),
                jobs: BTreeMap::new(),
                recovery: false,
                recommendations: BTreeMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind: keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records whether the JobManager answered the round's job listing.
    pub fn jobmanager(&self, reached: Result<(), String>) {
        self.lock().jobmanager = Some(reached);
    }

    /// Records whether the savepoint store answered the last listing or delete.
    pub fn store(&self, reached: Result<(), String>) {
        self.lock().store = Some(reached);
    }

    /// Counts a round and records which job names it expects savepoints of.
    pub fn round(&self, expected: BTreeSet<String>) {
        let mut inner = self.lock();
        inner.rounds += 1;
        inner.expected = expected;
    }

    /// Changes one job's numbers.
    pub fn job(&self, name: &str, change: impl FnOnce(&mut JobStats)) {
        change(self.lock().jobs.entry(name.to_string()).or_default());
    }

    /// `--recover` is on: `/metrics` shows its numbers.
    pub fn enable_recovery(&self) {
        self.lock().recovery = true;
    }

    /// Changes one job's recovery numbers.
    pub fn recovery(&self, name: &str, change: impl FnOnce(&mut RecoveryStats)) {
        self.job(name, |s| change(&mut s.recovery));
    }

    /// Publishes a job's latest recommendation on `/metrics`.
    pub fn publish_recommendation(&self, name: &str, published: Published) {
        self.lock()
            .recommendations
            .insert(name.to_string(), published);
    }

    /// Drops the recommendations of jobs not in `names` (no longer running or selected).
    pub fn keep_recommendations(&self, names: &HashSet<String>) {
        self.lock()
            .recommendations
            .retain(|name, _| names.contains(name));
    }

    /// A copy of a job's latest recommendation.
    pub fn recommendation(&self, name: &str) -> Option<Published> {
        self.lock().recommendations.get(name).cloned()
    }

    /// A copy of one job's numbers.
    pub fn job_stats(&self, name: &str) -> Option<JobStats> {
        self.lock().jobs.get(name).cloned()
    }

    /// Ready when the JobManager answered last time and, once `grace` has
    /// passed since the start, every expected job's last savepoint is younger
    /// than `fresh`. Otherwise the reasons.
    pub fn readiness(&self, now: Instant, grace: Duration, fresh: Duration) -> Result<(), String> {
        let inner = self.lock();
        let mut reasons = Vec::new();
        match &inner.jobmanager {
            None => reasons.push("the JobManager has not been asked yet".to_string()),
            Some(Err(e)) => reasons.push(format!(
                "the JobManager is unreachable: {}",
                crate::printable(e)
            )),
            Some(Ok(())) => {}
        }
        if let Some(Err(e)) = &inner.store {
            reasons.push(format!(
                "the savepoint store failed: {}",
                crate::printable(e)
            ));
        }
        // A directory Flink cannot create fails every savepoint: not ready, grace or not.
        for name in &inner.expected {
            if let Some(dir) = inner.jobs.get(name).and_then(|s| s.unwritable_dir.as_ref()) {
                reasons.push(format!(
                    "job '{}': Flink cannot create the savepoint directory {}; it must be \
                     writable by the JobManager's Flink user (uid 9999 in the official image)",
                    crate::printable(name),
                    crate::printable(dir)
                ));
            }
        }
        // Recovery: while one is in flight, and while a lost job cannot be recovered.
        for (name, stats) in &inner.jobs {
            let name = crate::printable(name);
            let recovery = &stats.recovery;
            if recovery.recovering {
                reasons.push(format!("job '{name}': recovering (the JobManager lost it)"));
            }
            match &recovery.blocked {
                Some(crate::recover::Blocked::NothingRestorable(why)) => reasons.push(format!(
                    "job '{name}': lost and cannot be recovered: {}",
                    crate::printable(why)
                )),
                Some(crate::recover::Blocked::Failed(why)) => reasons.push(format!(
                    "job '{name}': lost, and its recovery failed: {}",
                    crate::printable(why)
                )),
                None => {}
            }
        }
        if now.saturating_duration_since(inner.started) >= grace {
            for name in &inner.expected {
                let stats = inner.jobs.get(name);
                if stats.is_some_and(|s| s.unwritable_dir.is_some()) {
                    continue;
                }
                // One reason per line: a name cannot add lines.
                let name = crate::printable(name);
                match stats.and_then(|s| s.last_success_at) {
                    Some(at) if now.saturating_duration_since(at) < fresh => {}
                    Some(at) => reasons.push(format!(
                        "job '{name}': last savepoint {}s ago (limit {}s)",
                        now.saturating_duration_since(at).as_secs(),
                        fresh.as_secs()
                    )),
                    None if stats.is_some_and(|s| s.missing) => {
                        reasons.push(format!("job '{name}': no running job of that name"))
                    }
                    None => reasons.push(format!("job '{name}': no savepoint yet")),
                }
            }
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons.join("\n"))
        }
    }

    /// The Prometheus text exposition of everything above.
    pub fn render_metrics(&self, ready: bool) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
            if samples.is_empty() {
                return;
            }
            let _ = writeln!(out, "# HELP flink_savepointer_{name} {help}");
            let _ = writeln!(out, "# TYPE flink_savepointer_{name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "flink_savepointer_{name}{labels} {value}");
            }
        };
        let per_job = |f: &dyn Fn(&JobStats) -> Option<f64>| -> Vec<(String, f64)> {
            inner
                .jobs
                .iter()
                .filter_map(|(name, s)| Some((format!("{{job=\"{}\"}}", escape(name)), f(s)?)))
                .collect()
        };
        let seconds_since_epoch = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64()
        };

        metric(
            "jobmanager_up",
            "gauge",
            "1 when the JobManager answered the last round's job listing.",
            vec![(
                String::new(),
                f64::from(u8::from(matches!(inner.jobmanager, Some(Ok(()))))),
            )],
        );
        metric(
            "ready",
            "gauge",
            "1 when /readyz answers 200.",
            vec![(String::new(), f64::from(u8::from(ready)))],
        );
        if let Some(store) = &inner.store {
            metric(
                "store_up",
                "gauge",
                "1 when the savepoint store answered the last listing or delete.",
                vec![(String::new(), f64::from(u8::from(store.is_ok())))],
            );
        }
        metric(
            "rounds_total",
            "counter",
            "Rounds started.",
            vec![(String::new(), inner.rounds as f64)],
        );
        metric(
            "last_success_timestamp_seconds",
            "gauge",
            "When the job's last savepoint completed, Unix time.",
            per_job(&|s| s.last_success.map(seconds_since_epoch)),
        );
        metric(
            "last_duration_seconds",
            "gauge",
            "How long the job's last completed savepoint took.",
            per_job(&|s| s.last_duration.map(|d| d.as_secs_f64())),
        );
        metric(
            "last_size_bytes",
            "gauge",
            "State size of the job's last savepoint, where Flink reports it.",
            per_job(&|s| s.last_size.map(|b| b as f64)),
        );
        metric(
            "savepoints_total",
            "counter",
            "Savepoints completed.",
            per_job(&|s| Some(s.savepoints as f64)),
        );
        metric(
            "failures_total",
            "counter",
            "Savepoints that failed or timed out.",
            per_job(&|s| Some(s.failures as f64)),
        );
        metric(
            "disposals_total",
            "counter",
            "Old savepoints disposed by retention.",
            per_job(&|s| Some(s.disposals as f64)),
        );
        metric(
            "disposal_failures_total",
            "counter",
            "Disposals that failed; they are retried after the next savepoint.",
            per_job(&|s| Some(s.disposal_failures as f64)),
        );
        metric(
            "retention_failures_total",
            "counter",
            "Times retention could not list the job's savepoints (the store failed).",
            per_job(&|s| Some(s.retention_failures as f64)),
        );
        metric(
            "kept_savepoints",
            "gauge",
            "Complete savepoints of the job in the layout after the last retention.",
            per_job(&|s| s.kept.map(|(n, _)| n as f64)),
        );
        metric(
            "kept_bytes",
            "gauge",
            "Bytes of the job's complete savepoints in the layout after the last retention.",
            per_job(&|s| s.kept.map(|(_, b)| b as f64)),
        );
        metric(
            "skipped_total",
            "counter",
            "Rounds in which the job existed but was not RUNNING.",
            per_job(&|s| Some(s.skipped as f64)),
        );
        metric(
            "job_missing",
            "gauge",
            "1 when no active job has this --job-name.",
            per_job(&|s| Some(f64::from(u8::from(s.missing)))),
        );
        metric(
            "job_runs_under_another_name",
            "gauge",
            "1 when no active job has this --job-name but one started from a jar flink-deploy uploaded for it runs under another name.",
            per_job(&|s| Some(f64::from(u8::from(s.runs_under_another_name)))),
        );
        if inner.recovery {
            metric(
                "recoveries_total",
                "counter",
                "Times --recover submitted the job again after the JobManager lost it.",
                per_job(&|s| Some(s.recovery.recoveries as f64)),
            );
            metric(
                "last_recovery_timestamp_seconds",
                "gauge",
                "When --recover last submitted the job again, Unix time.",
                per_job(&|s| s.recovery.last_recovery.map(seconds_since_epoch)),
            );
            metric(
                "recovery_failures_total",
                "counter",
                "Recovery attempts that failed (retried), and recoveries whose record could not be written.",
                per_job(&|s| Some(s.recovery.failures as f64)),
            );
            metric(
                "recovery_refused",
                "gauge",
                "1 while the job is lost and there is nothing to restore it from (no recovery with empty state).",
                per_job(&|s| {
                    Some(f64::from(u8::from(matches!(
                        s.recovery.blocked,
                        Some(crate::recover::Blocked::NothingRestorable(_))
                    ))))
                }),
            );
            metric(
                "recovering",
                "gauge",
                "1 while a recovery of the job is in flight.",
                per_job(&|s| Some(f64::from(u8::from(s.recovery.recovering)))),
            );
        }
        render_recommendations(&inner.recommendations, &mut metric);
        out
    }
}

/// Writes one metric: its name, type, help and labelled samples.
type WriteMetric<'a> = dyn FnMut(&str, &str, &str, Vec<(String, f64)>) + 'a;

/// `--recommend`'s metrics: per job, and per vertex with the inputs each decision used.
fn render_recommendations(
    recommendations: &BTreeMap<String, Published>,
    metric: &mut WriteMetric<'_>,
) {
    let per_job = |f: &dyn Fn(&Published) -> Option<f64>| -> Vec<(String, f64)> {
        recommendations
            .iter()
            .filter_map(|(name, p)| Some((format!("{{job=\"{}\"}}", escape(name)), f(p)?)))
            .collect()
    };
    let per_vertex = |f: &dyn Fn(&VertexRecommendation) -> Option<f64>| -> Vec<(String, f64)> {
        recommendations
            .iter()
            .flat_map(|(name, p)| {
                p.recommendation.vertices.iter().filter_map(move |v| {
                    let labels = format!(
                        "{{job=\"{}\",vertex=\"{}\",vertex_id=\"{}\"}}",
                        escape(name),
                        escape(&v.name),
                        escape(&v.id)
                    );
                    Some((labels, f(v)?))
                })
            })
            .collect()
    };
    metric(
        "recommended_taskmanagers",
        "gauge",
        "TaskManagers the job needs for its load (recommended slots / slots per TaskManager, rounded up).",
        per_job(&|p| Some(f64::from(p.taskmanagers()))),
    );
    metric(
        "current_taskmanagers",
        "gauge",
        "TaskManagers the job needs at its current parallelism.",
        per_job(&|p| Some(f64::from(p.current_taskmanagers()))),
    );
    metric(
        "recommended_slots",
        "gauge",
        "Slots the job needs for its load (its widest vertex: one slot-sharing group).",
        per_job(&|p| Some(f64::from(p.recommendation.slots()))),
    );
    metric(
        "slots_per_taskmanager",
        "gauge",
        "Slots per TaskManager the recommendation counts with.",
        per_job(&|p| Some(f64::from(p.slots_per_taskmanager))),
    );
    metric(
        "recommendation_evaluated",
        "gauge",
        "1 when the recommendation was decided from a full metrics window; 0 while stabilising after a rescale or collecting (it then holds the current parallelism).",
        per_job(&|p| Some(f64::from(u8::from(p.recommendation.phase == Phase::Evaluated)))),
    );
    metric(
        "recommended_parallelism",
        "gauge",
        "The parallelism the vertex needs for its load.",
        per_vertex(&|v| Some(f64::from(v.recommended))),
    );
    metric(
        "current_parallelism",
        "gauge",
        "The parallelism the vertex runs at.",
        per_vertex(&|v| Some(f64::from(v.current))),
    );
    metric(
        "vertex_busy_ms_per_second",
        "gauge",
        "Busy time of the vertex's busiest subtask, ms per second (window mean once evaluated).",
        per_vertex(&|v| v.busy_ms_per_s),
    );
    metric(
        "vertex_back_pressured_ms_per_second",
        "gauge",
        "Back-pressured time of the vertex's most back-pressured subtask, ms per second.",
        per_vertex(&|v| v.back_pressured_ms_per_s),
    );
    metric(
        "vertex_records_in_per_second",
        "gauge",
        "Records the vertex reads per second, all subtasks.",
        per_vertex(&|v| v.records_in_per_s),
    );
    metric(
        "vertex_records_out_per_second",
        "gauge",
        "Records the vertex emits per second, all subtasks.",
        per_vertex(&|v| v.records_out_per_s),
    );
    metric(
        "vertex_true_processing_rate",
        "gauge",
        "Records per second the vertex could handle at its parallelism if always busy.",
        per_vertex(&|v| v.true_processing_rate),
    );
    metric(
        "vertex_utilisation",
        "gauge",
        "The rate the vertex is given / its true processing rate (the autoscaler's utilisation).",
        per_vertex(&|v| v.utilisation),
    );
}

/// Escapes a label value for the Prometheus text format.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_running_under_another_name_is_a_gauge() {
        let status = Status::new();
        status.job("my-flink-job", |s| {
            s.missing = true;
            s.runs_under_another_name = true;
        });
        status.job("orders", |_| {});
        let text = status.render_metrics(true);
        assert!(
            text.contains("# TYPE flink_savepointer_job_runs_under_another_name gauge\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "flink_savepointer_job_runs_under_another_name{job=\"my-flink-job\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("flink_savepointer_job_runs_under_another_name{job=\"orders\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn recommendations_are_gauges_per_job_and_vertex() {
        use flink_autoscaler::{Recommendation, VertexRecommendation};
        let vertex = |id: &str, name: &str, current, recommended| VertexRecommendation {
            id: id.into(),
            name: name.into(),
            current,
            recommended,
            busy_ms_per_s: Some(990.0),
            back_pressured_ms_per_s: Some(0.0),
            records_in_per_s: Some(1500.0),
            records_out_per_s: None,
            true_processing_rate: Some(1515.0),
            utilisation: Some(0.99),
            reason: String::new(),
        };
        let status = Status::new();
        status.publish_recommendation(
            "orders",
            Published {
                job_id: "j".into(),
                recommendation: Recommendation {
                    phase: Phase::Evaluated,
                    vertices: vec![
                        vertex("aa", "Source: \"in\"", 3, 2),
                        vertex("bb", "counter", 3, 5),
                    ],
                },
                slots_per_taskmanager: 2,
            },
        );
        let text = status.render_metrics(true);
        for line in [
            "# TYPE flink_savepointer_recommended_taskmanagers gauge\n",
            "flink_savepointer_recommended_taskmanagers{job=\"orders\"} 3\n",
            "flink_savepointer_current_taskmanagers{job=\"orders\"} 2\n",
            "flink_savepointer_recommended_slots{job=\"orders\"} 5\n",
            "flink_savepointer_recommendation_evaluated{job=\"orders\"} 1\n",
            "flink_savepointer_recommended_parallelism{job=\"orders\",vertex=\"counter\",vertex_id=\"bb\"} 5\n",
            "flink_savepointer_current_parallelism{job=\"orders\",vertex=\"Source: \\\"in\\\"\",vertex_id=\"aa\"} 3\n",
            "flink_savepointer_vertex_utilisation{job=\"orders\",vertex=\"counter\",vertex_id=\"bb\"} 0.99\n",
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
        assert!(
            !text.contains("vertex_records_out_per_second"),
            "unreported values are left out"
        );
        status.keep_recommendations(&HashSet::new());
        assert!(!status.render_metrics(true).contains("recommended_"));
    }

    #[test]
    fn metrics_are_prometheus_text_per_job() {
        let status = Status::new();
        status.jobmanager(Ok(()));
        status.job("orders", |s| {
            s.savepoints = 3;
            s.last_success = Some(UNIX_EPOCH + Duration::from_secs(1_763_920_000));
            s.last_duration = Some(Duration::from_millis(1500));
            s.last_size = Some(4096);
        });
        status.job("we\"ird\\name\n", |s| s.failures = 1);
        let text = status.render_metrics(true);
        assert!(
            text.contains("# TYPE flink_savepointer_savepoints_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("flink_savepointer_savepoints_total{job=\"orders\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "flink_savepointer_last_success_timestamp_seconds{job=\"orders\"} 1763920000\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("flink_savepointer_last_duration_seconds{job=\"orders\"} 1.5\n"),
            "{text}"
        );
        assert!(
            text.contains("flink_savepointer_last_size_bytes{job=\"orders\"} 4096\n"),
            "{text}"
        );
        assert!(
            text.contains("flink_savepointer_failures_total{job=\"we\\\"ird\\\\name\\n\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("flink_savepointer_jobmanager_up 1\n"),
            "{text}"
        );
        assert!(text.contains("flink_savepointer_ready 1\n"), "{text}");
        assert!(!text.contains("store_up"), "not asked yet: {text}");
        assert!(!text.contains("kept_savepoints"), "{text}");
        status.job("orders", |s| s.kept = Some((2, 2048)));
        status.store(Err("the bucket gs://b does not exist".into()));
        let text = status.render_metrics(false);
        assert!(
            text.contains("flink_savepointer_kept_savepoints{job=\"orders\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("flink_savepointer_kept_bytes{job=\"orders\"} 2048\n"),
            "{text}"
        );
        assert!(text.contains("flink_savepointer_store_up 0\n"), "{text}");
        let why = status
            .readiness(Instant::now(), Duration::from_secs(3600), Duration::ZERO)
            .unwrap_err();
        assert!(why.contains("savepoint store failed: the bucket"), "{why}");
        // A job without a success has no timestamp sample.
        assert!(
            !text.contains("last_success_timestamp_seconds{job=\"we"),
            "{text}"
        );
    }

    #[test]
    fn readiness_needs_the_jobmanager_then_fresh_savepoints_after_the_grace() {
        let status = Status::new();
        let start = Instant::now();
        let grace = Duration::from_secs(60);
        let fresh = Duration::from_secs(30);
        assert!(
            status.readiness(start, grace, fresh).is_err(),
            "not asked yet"
        );
        status.jobmanager(Ok(()));
        status.round(["orders".to_string()].into());
        assert!(
            status.readiness(start, grace, fresh).is_ok(),
            "within the grace"
        );
        let later = start + Duration::from_secs(61);
        let why = status.readiness(later, grace, fresh).unwrap_err();
        assert!(why.contains("'orders': no savepoint yet"), "{why}");
        status.job("orders", |s| s.last_success_at = Some(later));
        assert!(status.readiness(later, grace, fresh).is_ok());
        let stale = later + Duration::from_secs(31);
        let why = status.readiness(stale, grace, fresh).unwrap_err();
        assert!(why.contains("last savepoint 31s ago"), "{why}");
        status.jobmanager(Err("connection refused".into()));
        let why = status.readiness(later, grace, fresh).unwrap_err();
        assert!(why.contains("unreachable: connection refused"), "{why}");
    }

    #[test]
    fn a_directory_flink_cannot_create_is_why_it_is_not_ready() {
        let status = Status::new();
        status.jobmanager(Ok(()));
        status.round(["orders".to_string()].into());
        let now = Instant::now();
        let (grace, fresh) = (Duration::from_secs(3600), Duration::from_secs(60));
        assert_eq!(status.readiness(now, grace, fresh), Ok(()));
        status.job("orders", |s| {
            s.unwritable_dir = Some("file:/data/savepoints/orders/2026-12-01-08-01".into())
        });
        let why = status.readiness(now, grace, fresh).unwrap_err();
        assert_eq!(
            why,
            "job 'orders': Flink cannot create the savepoint directory \
             file:/data/savepoints/orders/2026-12-01-08-01; it must be writable by the \
             JobManager's Flink user (uid 9999 in the official image)"
        );
        // After the grace: still this reason, once, not \"no savepoint yet\" beside it.
        let later = now + grace;
        assert_eq!(status.readiness(later, grace, fresh).unwrap_err(), why);
        status.job("orders", |s| s.unwritable_dir = None);
        assert_eq!(status.readiness(now, grace, fresh), Ok(()));
    }

    #[test]
    fn readiness_reasons_keep_one_line_per_job() {
        let status = Status::new();
        let start = Instant::now();
        status.jobmanager(Ok(()));
        status.round(["evil\nforged: ready".to_string()].into());
        let why = status
            .readiness(
                start + Duration::from_secs(2),
                Duration::ZERO,
                Duration::ZERO,
            )
            .unwrap_err();
        assert_eq!(why, "job 'evil\\nforged: ready': no savepoint yet");
    }
}
