//! The bench's Flink cluster and the one job every measurement updates.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use flink_rest::{ClaimMode, FlinkClient, JarId, JobId, JobState, RunJob};
use flink_testkit::{example_jar, Cluster, ClusterBuilder, JobVariant};
use serde_json::Value;

/// The name of the job every method updates.
pub const JOB_NAME: &str = "bench-job";
/// Its parallelism (the cluster has as many slots).
pub const PARALLELISM: u32 = 2;
/// Records per second the example job generates.
const RATE: &str = "50";

/// The job's own arguments, the same for every method.
pub fn program_args() -> Vec<String> {
    ["--name", JOB_NAME, "--rate", RATE]
        .map(String::from)
        .to_vec()
}

/// Where the bench runs: the binaries, a scratch dir and the cluster.
pub struct Lab {
    pub cluster: Cluster,
    pub http: reqwest::Client,
    /// `target/release` with the workspace's binaries.
    pub bins: PathBuf,
    /// `bench/` (scripts and RESULTS.md).
    pub bench_dir: PathBuf,
    /// Scratch space: jars, conf dirs, savepoints.
    pub work: tempfile::TempDir,
    /// A conf dir for the Flink CLI pointing at the cluster.
    pub cli_conf: PathBuf,
    /// The example jar and the padded one.
    pub jars: Jars,
}

/// The jars the updates deploy.
#[derive(Debug, Clone)]
pub struct Jars {
    pub example: PathBuf,
    pub padded: PathBuf,
}

impl Lab {
    /// Starts a cluster of `version` (one TaskManager, [`PARALLELISM`] slots).
    pub async fn start(version: &str, bins: PathBuf, bench_dir: PathBuf) -> Result<Lab> {
        let work = tempfile::Builder::new()
            .prefix("flink-ops-bench-")
            .tempdir()
            .context("a scratch dir")?;
        let cluster = ClusterBuilder::new(version)
            .slots(PARALLELISM)
            // Room for uploads of the padded jar.
            .config("rest.server.max-content-length", (1u64 << 30).to_string())
            .config("rest.client.max-content-length", (1u64 << 30).to_string())
            .start()
            .await;
        let example = example_jar(cluster.dist(), JobVariant::Normal);
        let padded = work.path().join("job-256m.jar");
        pad_jar(&example, &padded, 256)?;
        let cli_conf = work.path().join("cli-conf");
        write_cli_conf(&cluster, &cli_conf)?;
        Ok(Lab {
            cluster,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            bins,
            bench_dir,
            work,
            cli_conf,
            jars: Jars { example, padded },
        })
    }

    pub fn client(&self) -> &FlinkClient {
        self.cluster.client()
    }

    pub fn url(&self) -> &url::Url {
        self.cluster.url()
    }

    /// A binary of the workspace.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bins.join(name)
    }

    /// The Flink CLI of the cluster's distribution.
    pub fn flink_cli(&self) -> PathBuf {
        self.cluster.dist().bin("flink")
    }

    /// A fresh directory under the scratch dir.
    pub fn dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.work.path().join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// `GET` of a REST path as JSON.
    pub async fn get(&self, path: &str) -> Result<Value> {
        let url = self.url().join(path)?;
        let response = self.http.get(url.clone()).send().await?;
        let status = response.status();
        let body = response.text().await?;
        ensure!(status.is_success(), "GET {url}: {status}: {body}");
        serde_json::from_str(&body).with_context(|| format!("GET {url}: not JSON: {body}"))
    }

    /// The running job named [`JOB_NAME`]; there must be exactly one.
    pub async fn running_job(&self) -> Result<JobId> {
        let jobs = self.client().jobs_named(JOB_NAME).await?;
        let running: Vec<_> = jobs
            .into_iter()
            .filter(|j| !j.state.is_terminal())
            .collect();
        match running.as_slice() {
            [one] => Ok(one.jid.clone()),
            other => bail!("{} unfinished jobs named {JOB_NAME}", other.len()),
        }
    }

    /// Waits until every task of `job` runs.
    pub async fn wait_all_running(&self, job: &JobId, within: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let details = self.client().job(job).await?;
            if details.all_tasks_running() {
                return Ok(());
            }
            if details.state.is_terminal() || details.state == JobState::Failing {
                bail!("job {job} is {}", details.state);
            }
            if start.elapsed() > within {
                bail!("job {job} did not run all its tasks within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Submits the first job, from no state.
    pub async fn start_job(&self) -> Result<JobId> {
        let jar = self
            .client()
            .upload_jar(&self.jars.example, "bench-first.jar")
            .await?;
        let job = self.client().run_jar(&jar, &run_job(None)).await?;
        self.wait_all_running(&job, Duration::from_secs(120))
            .await?;
        Ok(job)
    }

    /// Deletes every uploaded jar but `keep` (between measurements: the
    /// padded jar would fill the disk).
    pub async fn delete_jars_except(&self, keep: &[JarId]) -> Result<()> {
        for jar in self.client().jars().await? {
            if !keep.contains(&jar.id) {
                self.client().delete_jar(&jar.id).await?;
            }
        }
        Ok(())
    }

    /// When the JobManager triggered the savepoint of `job` at `location`
    /// (ms since the epoch): for a stopped job, its stop-with-savepoint.
    pub async fn savepoint_triggered_at(&self, job: &JobId, location: &str) -> Result<i64> {
        let start = Instant::now();
        loop {
            // The REST API caches a job's view for a few seconds: retry.
            let stats = self.get(&format!("jobs/{job}/checkpoints")).await?;
            let found = stats["history"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["is_savepoint"].as_bool() == Some(true))
                .find(|c| c["external_path"].as_str() == Some(location))
                .and_then(|c| c["trigger_timestamp"].as_i64());
            if let Some(at) = found {
                return Ok(at);
            }
            if start.elapsed() > Duration::from_secs(15) {
                bail!("job {job} has no savepoint {location} in its checkpoint history: {stats}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// When the last subtask of `job` switched to RUNNING (ms since the
    /// epoch), as the JobManager recorded it.
    pub async fn all_running_at(&self, job: &JobId) -> Result<i64> {
        let details = self.client().job(job).await?;
        let mut last = None;
        for vertex in &details.vertices {
            let times = self
                .get(&format!("jobs/{job}/vertices/{}/subtasktimes", vertex.id))
                .await?;
            for subtask in times["subtasks"].as_array().into_iter().flatten() {
                let running = subtask["timestamps"]["RUNNING"]
                    .as_i64()
                    .filter(|t| *t > 0)
                    .ok_or_else(|| anyhow!("a subtask of {job} never ran: {subtask}"))?;
                last = last.max(Some(running));
            }
        }
        last.ok_or_else(|| anyhow!("job {job} has no subtasks"))
    }

    /// The savepoint `job` restored its state from.
    pub async fn restored_from(&self, job: &JobId) -> Result<String> {
        let start = Instant::now();
        loop {
            let stats = self.get(&format!("jobs/{job}/checkpoints")).await?;
            let restored = &stats["latest"]["restored"];
            if let Some(path) = restored["external_path"].as_str() {
                ensure!(
                    restored["is_savepoint"].as_bool() == Some(true),
                    "job {job} restored from a checkpoint, not a savepoint: {restored}"
                );
                return Ok(path.to_string());
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!("job {job} restored no state: {stats}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The run request every in-process submission uses.
pub fn run_job(savepoint: Option<String>) -> RunJob {
    RunJob {
        entry_class: None,
        program_args: program_args(),
        parallelism: Some(PARALLELISM),
        job_id: None,
        savepoint_path: savepoint,
        allow_non_restored_state: false,
        claim_mode: ClaimMode::NoClaim,
        flink_configuration: Default::default(),
    }
}

/// Copies `jar` to `to` with an extra stored entry of `mb` MiB of random
/// bytes: a jar as big as a fat job jar, that no compression shrinks.
fn pad_jar(jar: &Path, to: &Path, mb: u64) -> Result<()> {
    const SCRIPT: &str = r#"
import os, shutil, sys, zipfile
src, dest, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
shutil.copyfile(src, dest)
with zipfile.ZipFile(dest, "a") as z:
    with z.open(zipfile.ZipInfo("padding/random.bin"), "w", force_zip64=True) as out:
        for _ in range(mb):
            out.write(os.urandom(1 << 20))
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(jar)
        .arg(to)
        .arg(mb.to_string())
        .status()
        .context("python3 to pad the jar")?;
    ensure!(status.success(), "padding the jar failed: {status}");
    Ok(())
}

/// A conf dir for the Flink CLI: the distribution's, with the REST address
/// of the cluster.
fn write_cli_conf(cluster: &Cluster, dir: &Path) -> Result<()> {
    let source = cluster.dist().home().join("conf");
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(&source)? {
        let entry = entry?;
        if entry.path().is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
        }
    }
    let port = cluster.url().port().context("the REST port")?;
    let text = std::fs::read_to_string(source.join("config.yaml"))?;
    let mut config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)?;
    set_key(&mut config, "rest.address", "127.0.0.1".into());
    set_key(&mut config, "rest.port", port.into());
    std::fs::write(dir.join("config.yaml"), serde_yaml_ng::to_string(&config)?)?;
    Ok(())
}

/// Sets a dotted key in a nested YAML map, creating maps on the way.
pub fn set_key(root: &mut serde_yaml_ng::Value, key: &str, value: serde_yaml_ng::Value) {
    use serde_yaml_ng::{Mapping, Value as Y};
    let mut node = root;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !node.is_mapping() {
            *node = Y::Mapping(Mapping::new());
        }
        let map = node.as_mapping_mut().expect("a mapping");
        let k = Y::String(part.to_string());
        if i == parts.len() - 1 {
            map.insert(k, value);
            return;
        }
        node = map.entry(k).or_insert(Y::Mapping(Mapping::new()));
    }
}

/// The flat `key: value` lines of a nested YAML map (the pre-1.19
/// `flink-conf.yaml` form).
pub fn flatten(root: &serde_yaml_ng::Value) -> String {
    fn walk(prefix: &str, node: &serde_yaml_ng::Value, out: &mut String) {
        use serde_yaml_ng::Value as Y;
        match node {
            Y::Mapping(map) => {
                for (k, v) in map {
                    let k = k.as_str().unwrap_or_default();
                    let key = if prefix.is_empty() {
                        k.to_string()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            Y::String(s) => out.push_str(&format!("{prefix}: {s}\n")),
            Y::Number(n) => out.push_str(&format!("{prefix}: {n}\n")),
            Y::Bool(b) => out.push_str(&format!("{prefix}: {b}\n")),
            _ => {}
        }
    }
    let mut out = String::new();
    walk("", root, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_nested_keys_and_flattens_them() {
        let mut config: serde_yaml_ng::Value =
            serde_yaml_ng::from_str("rest:\n  address: localhost\nparallelism:\n  default: 1\n")
                .unwrap();
        set_key(&mut config, "rest.port", 8082.into());
        set_key(&mut config, "rest.address", "127.0.0.1".into());
        assert_eq!(
            flatten(&config),
            "rest.address: 127.0.0.1\nrest.port: 8082\nparallelism.default: 1\n"
        );
    }
}
