//! Item 3: one savepoint by `flink-savepointer once` against the article's
//! cron script, and the daemon's idle memory.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::lab::{Lab, JOB_NAME};
use crate::measure::{timed, ProcStats, Series};

/// The figures of item 3.
#[derive(Debug, Default)]
pub struct Results {
    pub savepointer: Vec<ProcStats>,
    pub cron: Vec<ProcStats>,
    /// `VmRSS` of `flink-savepointer run` after idling, MiB.
    pub idle_rss_mb: Series,
    /// `VmHWM` (its peak so far, the first round included), MiB.
    pub idle_hwm_mb: Series,
}

pub async fn measure(lab: &Lab, runs: usize) -> Result<Results> {
    let mut results = Results::default();
    let scratch = lab.work.path();
    for run in 0..runs {
        for i in 0..2 {
            let job = lab.running_job().await?;
            lab.wait_all_running(&job, Duration::from_secs(120)).await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            if (i + run) % 2 == 0 {
                eprintln!(
                    "[bench] savepoint {}/{runs}: flink-savepointer once",
                    run + 1
                );
                let dir = lab.dir("savepoints/savepointer")?;
                let mut cmd = Command::new(lab.bin("flink-savepointer"));
                cmd.arg("once")
                    .args([
                        "--jobmanager-url",
                        lab.url().as_str(),
                        "--job-name",
                        JOB_NAME,
                    ])
                    .arg("--target-dir")
                    .arg(&dir)
                    .env_remove("FLINK_SAVEPOINT_DIR")
                    .env_remove("FLINK_JOBMANAGER_URL");
                let out = timed(&cmd, scratch).await?.ok("flink-savepointer once")?;
                results.savepointer.push(out.stats);
            } else {
                eprintln!("[bench] savepoint {}/{runs}: cron script", run + 1);
                let dir = lab.dir("savepoints/cron")?;
                let mut cmd = Command::new("bash");
                cmd.arg(lab.bench_dir.join("cron-savepoint.sh"))
                    .env("FLINK", lab.flink_cli())
                    .env("FLINK_CONF_DIR", &lab.cli_conf)
                    .env("FLINK_LOG_DIR", lab.work.path().join("cli-log"))
                    .env("JOB_NAME", JOB_NAME)
                    .env("SAVEPOINT_FOLDER", &dir);
                let out = timed(&cmd, scratch).await?.ok("cron-savepoint.sh")?;
                if !out.stdout.contains("Savepoint completed") {
                    bail!("the cron script took no savepoint:\n{}", out.stdout);
                }
                results.cron.push(out.stats);
            }
        }
    }
    for run in 0..runs {
        eprintln!(
            "[bench] idle memory of flink-savepointer run {}/{runs}",
            run + 1
        );
        let (rss, hwm) = idle_daemon(lab).await?;
        results.idle_rss_mb.push(rss);
        results.idle_hwm_mb.push(hwm);
    }
    Ok(results)
}

/// Starts `flink-savepointer run` (a round at once, then every hour), lets
/// it idle, and reads `VmRSS` and `VmHWM` from /proc.
async fn idle_daemon(lab: &Lab) -> Result<(f64, f64)> {
    let port = flink_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let dir = lab.dir("savepoints/daemon")?;
    let mut child = Command::new(lab.bin("flink-savepointer"))
        .arg("run")
        .args([
            "--jobmanager-url",
            lab.url().as_str(),
            "--job-name",
            JOB_NAME,
        ])
        .args(["--listen", &listen, "--every", "1h"])
        .arg("--target-dir")
        .arg(&dir)
        .env_remove("FLINK_SAVEPOINT_DIR")
        .env_remove("FLINK_JOBMANAGER_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting flink-savepointer run")?;
    let result = async {
        let start = Instant::now();
        let ready = format!("http://{listen}/healthz");
        while lab.http.get(&ready).send().await.is_err() {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("flink-savepointer run did not answer on {listen}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Its first round (one savepoint) and then a few seconds of idling.
        tokio::time::sleep(Duration::from_secs(8)).await;
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
        Ok((field_mb(&status, "VmRSS:")?, field_mb(&status, "VmHWM:")?))
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn field_mb(status: &str, name: &str) -> Result<f64> {
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {name} in /proc/PID/status"))?;
    Ok(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_status_fields() {
        let status = "Name:\tflink-savepointer\nVmHWM:\t   10240 kB\nVmRSS:\t    8192 kB\n";
        assert_eq!(field_mb(status, "VmRSS:").unwrap(), 8.0);
        assert_eq!(field_mb(status, "VmHWM:").unwrap(), 10.0);
        assert!(field_mb(status, "VmSwap:").is_err());
    }
}
