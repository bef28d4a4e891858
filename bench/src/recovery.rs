//! Item 6: the JobManager lost and started again with empty memory; `flink-savepointer run
//! --recover` beside it puts the job back. Measured: from the JobManager's return (its REST API
//! answers again) to the job RUNNING again (every task), and to the sidecar's submission.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::lab::Lab;
use crate::measure::Series;

/// The job this item deploys (not the other items' job).
const JOB: &str = "bench-recovery";

/// `--recover-grace` of the sidecar: the wait before a missing job counts as lost.
pub const GRACE_S: u64 = 5;

/// The figures of item 6.
#[derive(Debug, Default)]
pub struct Results {
    /// JobManager answering again → the recovered job's every task RUNNING, s.
    pub return_to_running_s: Series,
    /// JobManager answering again → a job of the name active (the sidecar's run request), s.
    pub return_to_submitted_s: Series,
    /// JobManager answering again → its TaskManager registered, s.
    pub return_to_taskmanager_s: Series,
}

pub async fn measure(lab: &mut Lab, runs: usize) -> Result<Results> {
    let layout = lab.dir("recovery-layout")?;
    eprintln!("[bench] recovery: deploying {JOB} with flink-deploy");
    let out = Command::new(lab.bin("flink-deploy"))
        .args([
            "deploy",
            "--jobmanager-url",
            lab.url().as_str(),
            "--job-name",
            JOB,
        ])
        .arg("--jar")
        .arg(&lab.jars.example)
        .arg("--savepoint-dir")
        .arg(&layout)
        .args([
            "--stable-for",
            "2s",
            "--output",
            "json",
            "--",
            "--name",
            JOB,
        ])
        .env_clear()
        .output()
        .context("running flink-deploy")?;
    if !out.status.success() {
        bail!(
            "flink-deploy deploy failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let listen = format!("127.0.0.1:{}", flink_testkit::free_port());
    let mut sidecar = Command::new(lab.bin("flink-savepointer"))
        .args([
            "run",
            "--jobmanager-url",
            lab.url().as_str(),
            "--job-name",
            JOB,
        ])
        .args(["--listen", &listen, "--every", "1h", "--recover"])
        .args(["--recover-grace", &format!("{GRACE_S}s"), "--target-dir"])
        .arg(&layout)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting flink-savepointer run --recover")?;
    let result = async {
        let mut results = Results::default();
        for run in 0..runs {
            let job = active_job(lab).await?.context("no job to lose")?;
            lab.wait_all_running(&job, Duration::from_secs(120)).await?;
            // A few checkpoints (one a second) to restore from.
            tokio::time::sleep(Duration::from_secs(4)).await;
            eprintln!(
                "[bench] recovery {}/{runs}: kill -9 the JobManager",
                run + 1
            );
            lab.cluster.kill_jobmanager();
            lab.cluster.start_jobmanager();
            let started = Instant::now();
            while lab.client().overview().await.is_err() {
                if started.elapsed() > Duration::from_secs(120) {
                    bail!("the JobManager did not answer again within 2 minutes");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let back = Instant::now();
            let (mut submitted, mut taskmanager) = (None, None);
            let recovered = loop {
                if back.elapsed() > Duration::from_secs(180) {
                    bail!(
                        "the job was not RUNNING again within 3 minutes of the JobManager's return"
                    );
                }
                if taskmanager.is_none()
                    && lab
                        .client()
                        .task_managers()
                        .await
                        .is_ok_and(|t| !t.is_empty())
                {
                    taskmanager = Some(back.elapsed());
                }
                if let Some(job) = active_job(lab).await? {
                    submitted.get_or_insert_with(|| back.elapsed());
                    if lab.client().job(&job).await?.all_tasks_running() {
                        break back.elapsed();
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            results.return_to_running_s.push(recovered.as_secs_f64());
            results
                .return_to_submitted_s
                .push(submitted.unwrap_or(recovered).as_secs_f64());
            results
                .return_to_taskmanager_s
                .push(taskmanager.unwrap_or(recovered).as_secs_f64());
        }
        Ok(results)
    }
    .await;
    let _ = sidecar.kill();
    let _ = sidecar.wait();
    result
}

async fn active_job(lab: &Lab) -> Result<Option<flink_rest::JobId>> {
    let jobs = lab.client().jobs_named(JOB).await?;
    let active: Vec<_> = jobs.into_iter().filter(|j| j.state.is_active()).collect();
    match active.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.jid.clone())),
        more => bail!("{} active jobs named {JOB}: never two", more.len()),
    }
}
