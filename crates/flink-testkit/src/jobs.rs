//! The example job, compiled against a real Flink.

use std::path::PathBuf;
use std::process::Command;

use std::time::Duration;

use flink_rest::{FlinkClient, JobId};

use crate::cache::{build_once, cache_dir, run};
use crate::dist::FlinkDist;
use crate::wait::eventually;

const SOURCE: &str = include_str!("../java/CounterJob.java");

/// The example job's main class (also in its jar's manifest).
pub const EXAMPLE_MAIN_CLASS: &str = "flinkops.example.CounterJob";

/// Which build of the example job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobVariant {
    /// Counts; its state survives a restore.
    Normal,
    /// Fails on its first record: a broken release.
    Broken,
    /// The counter's operator uid changed: restoring the normal job's
    /// savepoint needs `allowNonRestoredState`.
    Incompatible,
    /// Names its job `self-named-example` in its code, whatever `--name` or `pipeline.name` say.
    SelfNamed,
    /// Appends `-at-run` to `--name` when it runs, not when Flink only builds its graph.
    RenamesAtRun,
    /// Its manifest's Main-Class is not in the jar.
    MissingMain,
    /// Fails once: its first attempt throws on the first record 8 s or more after it opened
    /// (`fails once` in the message); every later attempt counts like [`JobVariant::Normal`].
    FailsOnce,
}

/// The name [`JobVariant::SelfNamed`] gives its job.
pub const SELF_NAMED_JOB: &str = "self-named-example";

impl JobVariant {
    fn name(self) -> &'static str {
        match self {
            JobVariant::Normal => "normal",
            JobVariant::Broken => "broken",
            JobVariant::Incompatible => "incompatible",
            JobVariant::SelfNamed => "self-named",
            JobVariant::RenamesAtRun => "renames-at-run",
            JobVariant::MissingMain => "missing-main",
            JobVariant::FailsOnce => "fails-once",
        }
    }
}

/// The example job's jar for `dist`'s Flink version, built once with
/// `javac` and `jar` and cached.
pub fn example_jar(dist: &FlinkDist, variant: JobVariant) -> PathBuf {
    // Keyed by the source too: a changed job is never served from an older build.
    let dir = cache_dir().join("jars").join(dist.version()).join(format!(
        "{}-{:016x}",
        variant.name(),
        fnv1a(SOURCE)
    ));
    build_once(&dir, |staging| {
        let src = staging.join("src/flinkops/example");
        let classes = staging.join("classes");
        std::fs::create_dir_all(&src).map_err(|e| e.to_string())?;
        std::fs::write(
            src.join("CounterJob.java"),
            source_for(dist).replace("@VARIANT@", variant.name()),
        )
        .map_err(|e| e.to_string())?;
        run(Command::new("javac")
            .args(["--release", "11", "-nowarn", "-cp"])
            .arg(dist.classpath())
            .arg("-d")
            .arg(&classes)
            .arg(src.join("CounterJob.java")))?;
        run(Command::new("jar")
            .arg("--create")
            .arg("--file")
            .arg(staging.join("job.jar"))
            .arg("--main-class")
            .arg(if variant == JobVariant::MissingMain {
                "flinkops.example.NotInThisJar"
            } else {
                EXAMPLE_MAIN_CLASS
            })
            .arg("-C")
            .arg(&classes)
            .arg("."))?;
        std::fs::remove_dir_all(staging.join("src")).map_err(|e| e.to_string())?;
        std::fs::remove_dir_all(&classes).map_err(|e| e.to_string())
    });
    dir.join("job.jar")
}

/// The example job's highest count so far (its `maxCount` gauge, maximum
/// over the counter's subtasks), or why it cannot be read yet.
pub async fn counter_value(client: &FlinkClient, job: &JobId) -> Result<u64, String> {
    let details = client.job(job).await.map_err(|e| e.to_string())?;
    let vertex = details
        .vertices
        .iter()
        .find(|v| v.name.contains("counter"))
        .ok_or_else(|| format!("job {job} has no counter vertex"))?;
    let names = client
        .vertex_metric_names(job, &vertex.id)
        .await
        .map_err(|e| e.to_string())?;
    let name = names
        .iter()
        .find(|n| n.ends_with(".maxCount"))
        .ok_or_else(|| format!("job {job} reports no maxCount metric yet"))?;
    let metrics = client
        .vertex_metrics(job, &vertex.id, &[name])
        .await
        .map_err(|e| e.to_string())?;
    metrics
        .first()
        .and_then(|m| m.max)
        .map(|v| v as u64)
        .ok_or_else(|| format!("job {job}: no value for {name} yet"))
}

/// The job's source for `dist`: written for 1.19 and later. Before 1.19 the APIs that 1.19 added
/// (`OpenContext`, `RuntimeContext.getTaskInfo()`) are replaced by their older forms, and the
/// generator by [`LEGACY_RATE_SOURCE`]: flink-dist holds `DataGeneratorSource` only from 1.19 on.
fn source_for(dist: &FlinkDist) -> String {
    if dist.at_least(1, 19) {
        return SOURCE.to_string();
    }
    let mut source = SOURCE.to_string();
    for (new, old) in [
        (
            "import org.apache.flink.api.common.functions.OpenContext;",
            "import org.apache.flink.configuration.Configuration;",
        ),
        (
            "import org.apache.flink.connector.datagen.source.DataGeneratorSource;",
            "",
        ),
        (
            "import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;",
            "",
        ),
        (
            "        DataGeneratorSource<Long> source = new DataGeneratorSource<>(\n                index -> index, Long.MAX_VALUE, RateLimiterStrategy.perSecond(rate), Types.LONG);\n        env.fromSource(source, WatermarkStrategy.noWatermarks(), \"source\")",
            "        env.addSource(new RateSource(rate), \"source\")",
        ),
        ("public class CounterJob {", LEGACY_RATE_SOURCE),
        (
            "public void open(OpenContext context)",
            "public void open(Configuration parameters)",
        ),
        (
            "getRuntimeContext().getTaskInfo().getAttemptNumber()",
            "getRuntimeContext().getAttemptNumber()",
        ),
    ] {
        assert!(source.contains(new), "CounterJob.java no longer has `{new}`");
        source = source.replace(new, old);
    }
    source
}

/// Before 1.19: a generator of 0, 1, 2, ... at `rate` records per second over all subtasks, as
/// `DataGeneratorSource` with `RateLimiterStrategy.perSecond` is from 1.19 on.
const LEGACY_RATE_SOURCE: &str = r#"public class CounterJob {
    static class RateSource
            extends org.apache.flink.streaming.api.functions.source.RichParallelSourceFunction<Long> {
        private final long rate;
        private volatile boolean running = true;

        RateSource(long rate) {
            this.rate = rate;
        }

        @Override
        public void run(SourceContext<Long> ctx) throws Exception {
            int subtasks = getRuntimeContext().getNumberOfParallelSubtasks();
            long next = getRuntimeContext().getIndexOfThisSubtask();
            double perSecond = (double) rate / subtasks;
            long start = System.nanoTime();
            for (long emitted = 1; running; emitted++) {
                synchronized (ctx.getCheckpointLock()) {
                    ctx.collect(next);
                }
                next += subtasks;
                long wait = start + (long) (emitted * 1e9 / perSecond) - System.nanoTime();
                if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            }
        }

        @Override
        public void cancel() {
            running = false;
        }
    }
"#;

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Waits until the example job's counter reached `at_least`; returns it.
pub async fn wait_counter_at_least(client: &FlinkClient, job: &JobId, at_least: u64) -> u64 {
    eventually(
        &format!("job {job} counted to {at_least}"),
        Duration::from_secs(60),
        || async move {
            let count = counter_value(client, job).await?;
            if count >= at_least {
                Ok(count)
            } else {
                Err(format!("counter at {count}"))
            }
        },
    )
    .await
}

/// Waits until the example job runs all its tasks with its counter at
/// `parallelism` (after a rescale); `what` says why, for the failure message.
pub async fn wait_counter_parallelism(
    client: &FlinkClient,
    job: &JobId,
    parallelism: u32,
    what: &str,
) {
    eventually(
        &format!("{what}: job {job} RUNNING with its counter at parallelism {parallelism}"),
        Duration::from_secs(90),
        || async move {
            let details = client.job(job).await.map_err(|e| e.to_string())?;
            let counter = details
                .vertices
                .iter()
                .find(|v| v.name.contains("counter"))
                .ok_or("no counter vertex")?;
            if counter.parallelism == parallelism && details.all_tasks_running() {
                Ok(())
            } else {
                Err(format!(
                    "{}, counter at parallelism {} ({:?})",
                    details.state, counter.parallelism, counter.tasks
                ))
            }
        },
    )
    .await
}
