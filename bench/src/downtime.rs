//! Items 1 and 2: update downtime of each method, and the footprint of the
//! processes doing the update.
//!
//! Downtime is measured the same way for every method, from the
//! JobManager's own records after the fact: from the trigger time of the old
//! job's stop-with-savepoint (its checkpoint history) to the moment the last
//! subtask of the new job switched to RUNNING (`subtasktimes`). No poll
//! interval of the bench enters it.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use flink_rest::{FlinkClient, JarId, JobId, OperationStatus, SavepointFormat};

use crate::lab::{program_args, run_job, Lab, JOB_NAME, PARALLELISM};
use crate::measure::{timed, ProcStats, Series};

/// How a user updates the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `flink-deploy deploy`.
    Deploy,
    /// The article's Python script: stop with savepoint, upload, run.
    Python,
    /// `flink stop --savepointPath` then `flink run -d -s`.
    Cli,
    /// Stop-with-savepoint and a run of an uploaded jar, by REST in-process.
    Floor,
    /// The floor with flink-deploy's preflight just before the stop: `POST /jars/{id}/plan` of
    /// the same run. Against (d), what the preflight does to the downtime.
    FloorPreflight,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Deploy,
        Method::Python,
        Method::Cli,
        Method::Floor,
        Method::FloorPreflight,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Method::Deploy => "(a) `flink-deploy deploy`",
            Method::Python => "(b) Python script (`requests`: stop, upload, run)",
            Method::Cli => "(c) Flink CLI (`flink stop` + `flink run -d -s`)",
            Method::Floor => "(d) floor: REST stop-with-savepoint + run of an uploaded jar",
            Method::FloorPreflight => "(e) the floor after a preflight (`POST /jars/{id}/plan`)",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Method::Deploy => "deploy",
            Method::Python => "python",
            Method::Cli => "cli",
            Method::Floor => "floor",
            Method::FloorPreflight => "floor-preflight",
        }
    }
}

/// Which jar the update deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JarKind {
    Example,
    Padded,
}

impl JarKind {
    pub const ALL: [JarKind; 2] = [JarKind::Example, JarKind::Padded];

    pub fn label(self) -> &'static str {
        match self {
            JarKind::Example => "example jar",
            JarKind::Padded => "jar padded to 256 MB",
        }
    }
}

/// The figures of one (method, jar) pair over the runs.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    /// Seconds, from the JobManager's records (the common definition).
    pub downtime: Series,
    /// Seconds, as the method reports it itself (flink-deploy's JSON, the
    /// floor's own clock), where it does.
    pub self_reported: Series,
    /// Whole processes by step name: `flink-deploy`, `python`, `flink stop`,
    /// `flink run`.
    pub processes: Vec<(&'static str, Vec<ProcStats>)>,
}

impl Figures {
    fn add_process(&mut self, name: &'static str, stats: ProcStats) {
        match self.processes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, all)) => all.push(stats),
            None => self.processes.push((name, vec![stats])),
        }
    }
}

/// All results of items 1 and 2.
#[derive(Debug, Default)]
pub struct Results {
    pub by: Vec<((Method, JarKind), Figures)>,
    /// The padded jar's size in bytes.
    pub padded_bytes: u64,
    pub example_bytes: u64,
    /// Milliseconds from the floor's stop request leaving to the trigger
    /// time the JobManager recorded: how well the common start point
    /// stands for "told to stop".
    pub trigger_lag_ms: Series,
    /// Milliseconds between flink-deploy's reported `timings_ms.downtime` and the bench's own
    /// reading of the same JobManager records, one per flink-deploy update (absolute value).
    pub deploy_disagreement_ms: Series,
}

impl Results {
    pub fn get(&self, method: Method, jar: JarKind) -> Figures {
        self.by
            .iter()
            .find(|(k, _)| *k == (method, jar))
            .map(|(_, f)| f.clone())
            .unwrap_or_default()
    }

    fn entry(&mut self, method: Method, jar: JarKind) -> &mut Figures {
        if !self.by.iter().any(|(k, _)| *k == (method, jar)) {
            self.by.push(((method, jar), Figures::default()));
        }
        let i = self
            .by
            .iter()
            .position(|(k, _)| *k == (method, jar))
            .expect("just added");
        &mut self.by[i].1
    }
}

/// What one update produced.
struct Update {
    new_job: JobId,
    /// When the stop request left (ms since the epoch), where the bench sent it.
    stop_requested_ms: Option<i64>,
    self_reported_s: Option<f64>,
    processes: Vec<(&'static str, ProcStats)>,
}

/// Runs every method `runs` times with each jar, one after the other on the
/// same job (each update restores the previous one's savepoint).
pub async fn measure(lab: &Lab, runs: usize) -> Result<Results> {
    let mut results = Results {
        padded_bytes: std::fs::metadata(&lab.jars.padded)?.len(),
        example_bytes: std::fs::metadata(&lab.jars.example)?.len(),
        ..Results::default()
    };
    lab.start_job().await?;
    // The floor runs jars uploaded beforehand.
    let floor_jars = [
        lab.client()
            .upload_jar(&lab.jars.example, "bench-floor-example.jar")
            .await?,
        lab.client()
            .upload_jar(&lab.jars.padded, "bench-floor-padded.jar")
            .await?,
    ];
    lab.delete_jars_except(&floor_jars).await?;
    for jar in JarKind::ALL {
        for run in 0..runs {
            // Rotate the order so that no method always follows the same one.
            for i in 0..Method::ALL.len() {
                let method = Method::ALL[(i + run) % Method::ALL.len()];
                eprintln!(
                    "[bench] update {}/{runs} with the {}: {}",
                    run + 1,
                    jar.label(),
                    method.label()
                );
                let old = lab.running_job().await?;
                lab.wait_all_running(&old, Duration::from_secs(120)).await?;
                // A steady job: running for a while, checkpoints completing.
                tokio::time::sleep(Duration::from_secs(3)).await;
                let update = update(lab, method, jar, &old, &floor_jars)
                    .await
                    .with_context(|| format!("{} with the {}", method.label(), jar.label()))?;
                lab.wait_all_running(&update.new_job, Duration::from_secs(180))
                    .await?;
                let restored = lab.restored_from(&update.new_job).await?;
                let stopped = lab.savepoint_triggered_at(&old, &restored).await?;
                let running = lab.all_running_at(&update.new_job).await?;
                let downtime = (running - stopped) as f64 / 1000.0;
                if let Some(requested) = update.stop_requested_ms {
                    results.trigger_lag_ms.push((stopped - requested) as f64);
                }
                eprintln!("[bench]   downtime {downtime:.2}s, restored from {restored}");
                if let (Method::Deploy, Some(reported)) = (method, update.self_reported_s) {
                    let off_ms = ((reported - downtime) * 1000.0).abs();
                    eprintln!(
                        "[bench]   flink-deploy reported {reported:.3}s ({off_ms:.0} ms off)"
                    );
                    results.deploy_disagreement_ms.push(off_ms);
                }
                let figures = results.entry(method, jar);
                figures.downtime.push(downtime);
                if let Some(s) = update.self_reported_s {
                    figures.self_reported.push(s);
                }
                for (name, stats) in update.processes {
                    figures.add_process(name, stats);
                }
                lab.delete_jars_except(&floor_jars).await?;
            }
        }
    }
    Ok(results)
}

async fn update(
    lab: &Lab,
    method: Method,
    jar: JarKind,
    old: &JobId,
    floor_jars: &[JarId; 2],
) -> Result<Update> {
    let jar_path = match jar {
        JarKind::Example => &lab.jars.example,
        JarKind::Padded => &lab.jars.padded,
    };
    let savepoints = lab.dir(&format!("savepoints/{}", method.slug()))?;
    let scratch = lab.work.path();
    match method {
        Method::Deploy => {
            let mut cmd = Command::new(lab.bin("flink-deploy"));
            cmd.arg("deploy")
                .args([
                    "--jobmanager-url",
                    lab.url().as_str(),
                    "--job-name",
                    JOB_NAME,
                ])
                .arg("--jar")
                .arg(jar_path)
                .arg("--savepoint-dir")
                .arg(&savepoints)
                .args(["--parallelism", &PARALLELISM.to_string()])
                // The health watch after RUNNING is not downtime; keep it short.
                .args(["--stable-for", "1s", "--output", "json"])
                .arg("--")
                .args(program_args());
            scrub_env(&mut cmd);
            let out = timed(&cmd, scratch).await?.ok("flink-deploy deploy")?;
            let report: serde_json::Value = serde_json::from_str(out.stdout.trim())
                .with_context(|| format!("flink-deploy printed no JSON: {}", out.stdout))?;
            let new_job = report["new_job_id"]
                .as_str()
                .ok_or_else(|| anyhow!("no new_job_id in {report}"))?;
            let downtime_ms = report["timings_ms"]["downtime"].as_f64();
            Ok(Update {
                new_job: JobId::new(new_job.to_string()),
                stop_requested_ms: None,
                self_reported_s: downtime_ms.map(|ms| ms / 1000.0),
                processes: vec![("flink-deploy deploy", out.stats)],
            })
        }
        Method::Python => {
            let mut cmd = Command::new("python3");
            cmd.arg(lab.bench_dir.join("deploy_or_update_job.py"))
                .args([
                    "--jobmanager-url",
                    lab.url().as_str(),
                    "--job-name",
                    JOB_NAME,
                ])
                .arg("--jar")
                .arg(jar_path)
                .arg("--savepoint-dir")
                .arg(format!("file://{}", savepoints.display()))
                .args(["--parallelism", &PARALLELISM.to_string()])
                .arg("--")
                .args(program_args());
            let out = timed(&cmd, scratch).await?.ok("deploy_or_update_job.py")?;
            let report: serde_json::Value = serde_json::from_str(out.stdout.trim())
                .with_context(|| format!("the Python script printed no JSON: {}", out.stdout))?;
            let new_job = report["new_job_id"]
                .as_str()
                .ok_or_else(|| anyhow!("no new_job_id in {report}"))?;
            Ok(Update {
                new_job: JobId::new(new_job.to_string()),
                stop_requested_ms: None,
                self_reported_s: None,
                processes: vec![("python deploy_or_update_job.py", out.stats)],
            })
        }
        Method::Cli => {
            let mut stop = lab.flink_command();
            stop.arg("stop")
                .arg("--savepointPath")
                .arg(format!("file://{}", savepoints.display()))
                .arg(old.to_string());
            let stopped = timed(&stop, scratch).await?.ok("flink stop")?;
            let savepoint = after(&stopped.stdout, "Savepoint completed. Path:")
                .ok_or_else(|| anyhow!("flink stop printed no path: {}", stopped.stdout))?;
            let mut run = lab.flink_command();
            run.args([
                "run",
                "-d",
                "-p",
                &PARALLELISM.to_string(),
                "-s",
                &savepoint,
            ])
            .arg(jar_path)
            .args(program_args());
            let ran = timed(&run, scratch).await?.ok("flink run")?;
            let new_job = after(&ran.stdout, "Job has been submitted with JobID")
                .ok_or_else(|| anyhow!("flink run printed no job id: {}", ran.stdout))?;
            Ok(Update {
                new_job: JobId::new(new_job),
                stop_requested_ms: None,
                self_reported_s: None,
                processes: vec![("flink stop", stopped.stats), ("flink run -d", ran.stats)],
            })
        }
        Method::Floor | Method::FloorPreflight => {
            let jar_id = match jar {
                JarKind::Example => &floor_jars[0],
                JarKind::Padded => &floor_jars[1],
            };
            if method == Method::FloorPreflight {
                lab.client().plan_jar(jar_id, &run_job(None)).await?;
            }
            let target = format!("file://{}", savepoints.display());
            let (new_job, requested, took) = floor(lab.client(), old, jar_id, &target).await?;
            Ok(Update {
                new_job,
                stop_requested_ms: Some(requested),
                self_reported_s: Some(took.as_secs_f64()),
                processes: Vec::new(),
            })
        }
    }
}

/// Flink's own minimum: stop with a savepoint, run the uploaded jar from it,
/// wait for all tasks; polling every 20 ms.
async fn floor(
    client: &FlinkClient,
    old: &JobId,
    jar: &JarId,
    target: &str,
) -> Result<(JobId, i64, Duration)> {
    let poll = Duration::from_millis(20);
    let requested = epoch_ms();
    let start = Instant::now();
    let op = client
        .stop_with_savepoint(old, Some(target), false, SavepointFormat::Canonical)
        .await?;
    let location = loop {
        match client.operation_status(&op).await? {
            OperationStatus::InProgress => tokio::time::sleep(poll).await,
            OperationStatus::Completed {
                location: Some(location),
            } => break location,
            other => bail!("the stop-with-savepoint ended as {other:?}"),
        }
        if start.elapsed() > Duration::from_secs(300) {
            bail!("the stop-with-savepoint took over 5 minutes");
        }
    };
    let new_job = client.run_jar(jar, &run_job(Some(location))).await?;
    loop {
        let details = client.job(&new_job).await?;
        if details.all_tasks_running() {
            return Ok((new_job, requested, start.elapsed()));
        }
        if details.state.is_terminal() {
            bail!("the new job is {}", details.state);
        }
        if start.elapsed() > Duration::from_secs(300) {
            bail!("the new job did not run within 5 minutes");
        }
        tokio::time::sleep(poll).await;
    }
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The rest of the line after `marker`, trimmed of spaces and dots.
fn after(output: &str, marker: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let at = line.find(marker)?;
        let rest = line[at + marker.len()..].trim().trim_end_matches('.');
        (!rest.is_empty()).then(|| rest.to_string())
    })
}

/// Keeps the environment of the bench's shell from changing the tools'
/// settings.
fn scrub_env(cmd: &mut Command) {
    for var in [
        "FLINK_JOBMANAGER_URL",
        "FLINK_JOB_NAME",
        "FLINK_JOB_JAR",
        "FLINK_SAVEPOINT_DIR",
        "FLINK_DEPLOY_CONFIG",
    ] {
        cmd.env_remove(var);
    }
}

impl Lab {
    /// `bin/flink` with the conf dir that points at the cluster.
    pub fn flink_command(&self) -> Command {
        let mut cmd = Command::new(self.flink_cli());
        cmd.env("FLINK_CONF_DIR", &self.cli_conf)
            .env("FLINK_LOG_DIR", self.work.path().join("cli-log"));
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_the_cli_prints() {
        let stop = "Suspending job \"abc\" with a CANONICAL savepoint.\nSavepoint completed. Path: file:/tmp/sp/savepoint-abc-123\n";
        assert_eq!(
            after(stop, "Savepoint completed. Path:").as_deref(),
            Some("file:/tmp/sp/savepoint-abc-123")
        );
        let run = "Job has been submitted with JobID 0123456789abcdef0123456789abcdef\n";
        assert_eq!(
            after(run, "Job has been submitted with JobID").as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(after("nothing", "Path:"), None);
    }
}
