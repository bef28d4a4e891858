//! flink-deploy's health watch on a cluster with the elastic profile (the adaptive scheduler):
//! a TaskManager that joins during `--stable-for` rescales the job, which is not a failure; a
//! failure is one, even when the job recovers from it. Flink's exception history tells the two
//! apart, on real Flink 1.20 and 2.3.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flink_rest::{ClaimMode, FlinkClient, JobId, RunJob};
use flink_testkit::{
    each_version, eventually, example_jar, wait_counter_at_least, wait_counter_parallelism,
    workspace_bin, Cluster, JobVariant,
};

use crate::common::elastic_cluster;
use serde_json::Value;

/// A flink-deploy run in the background; its stderr is collected line by line as it comes.
struct Deploying {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

struct Done {
    code: i32,
    report: Value,
    stderr: String,
}

impl Done {
    fn str(&self, key: &str) -> &str {
        self.report[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}\n{}", self.report, self.stderr))
    }

    fn assert_exit(&self, code: i32) {
        assert_eq!(
            self.code, code,
            "exit code; report {}\nstderr:\n{}",
            self.report, self.stderr
        );
    }
}

fn deploy_command(cluster: &Cluster, jar: PathBuf, extra: &[&str]) -> Command {
    let mut cmd = Command::new(workspace_bin("flink-deploy"));
    cmd.arg("deploy")
        .args([
            "--jobmanager-url",
            cluster.url().as_str(),
            "--job-name",
            "orders",
            "--parallelism",
            "2",
            "--jar",
        ])
        .arg(jar)
        .arg("--savepoint-dir")
        .arg(cluster.dir().join("layout"))
        .args(["--startup-timeout", "90s", "--output", "json"])
        .args(extra)
        .args(["--", "--name", "orders"])
        .env_remove("FLINK_JOBMANAGER_URL")
        .env_remove("FLINK_JOB_NAME")
        .env_remove("FLINK_SAVEPOINT_DIR")
        .stdin(Stdio::null());
    cmd
}

impl Deploying {
    fn start(cluster: &Cluster, variant: JobVariant, extra: &[&str]) -> Self {
        let jar = example_jar(cluster.dist(), variant);
        let mut child = deploy_command(cluster, jar, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flink-deploy starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().expect("its stderr"));
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                sink.lock().expect("stderr lines").push(line);
            }
        });
        Self {
            child,
            stderr,
            reader: Some(reader),
        }
    }

    /// Waits until flink-deploy logged a line containing `text`.
    async fn logged(&self, text: &str) {
        let stderr = self.stderr.clone();
        eventually(
            &format!("flink-deploy logged '{text}'"),
            Duration::from_secs(180),
            || {
                let stderr = stderr.clone();
                async move {
                    let lines = stderr.lock().expect("stderr lines");
                    match lines.iter().any(|l| l.contains(text)) {
                        true => Ok(()),
                        false => Err(format!("its stderr so far:\n{}", lines.join("\n"))),
                    }
                }
            },
        )
        .await
    }

    /// Waits for it to end.
    fn finish(mut self) -> Done {
        let mut stdout = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().expect("its stdout"), &mut stdout)
            .expect("its stdout");
        let status = self.child.wait().expect("flink-deploy ends");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the stderr reader");
        }
        let stderr = self.stderr.lock().expect("stderr lines").join("\n");
        let report = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!("stdout is not one JSON object ({e}): {stdout}\nstderr:\n{stderr}")
        });
        Done {
            code: status.code().expect("an exit code"),
            report,
            stderr,
        }
    }
}

impl Drop for Deploying {
    fn drop(&mut self) {
        // A failing test must not leave it running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deploys `variant` and waits for flink-deploy to end.
fn deploy(cluster: &Cluster, variant: JobVariant, extra: &[&str]) -> Done {
    Deploying::start(cluster, variant, extra).finish()
}

async fn exception_count(client: &FlinkClient, job: &JobId) -> usize {
    client
        .exceptions(job, None)
        .await
        .expect("the exception history")
        .entries
        .len()
}

/// Flink's own records, which the health watch relies on: a failure the job recovers from
/// leaves one entry in `/jobs/{id}/exceptions` (with the fields flink-rest reads), a rescale of
/// the adaptive scheduler (a TaskManager joined) leaves none, and a TaskManager that leaves
/// (killed) is a failure again.
#[each_version(flavor = "multi_thread")]
async fn a_failure_is_in_the_exception_history_a_rescale_is_not(version: &str) {
    let mut cluster = elastic_cluster(version, 1).await;
    let client = cluster.client().clone();
    let jar = client
        .upload_jar(
            &example_jar(cluster.dist(), JobVariant::FailsOnce),
            "fails-once.jar",
        )
        .await
        .expect("the jar uploads");
    let job = client
        .run_jar(
            &jar,
            &RunJob {
                program_args: vec!["--name".into(), "fails-once".into()],
                parallelism: Some(2),
                claim_mode: ClaimMode::NoClaim,
                ..RunJob::default()
            },
        )
        .await
        .expect("the job is submitted");
    let client = &client;
    let job = &job;
    let failure = eventually(
        "the job's first attempt failed",
        Duration::from_secs(90),
        || async move {
            let history = client
                .exceptions(job, None)
                .await
                .map_err(|e| e.to_string())?;
            history
                .entries
                .first()
                .cloned()
                .ok_or_else(|| "no entry yet".to_string())
        },
    )
    .await;
    // What Flink answers, for whoever reads the test's output.
    let raw = reqwest::get(
        cluster
            .url()
            .join(&format!("jobs/{job}/exceptions"))
            .unwrap(),
    )
    .await
    .expect("the exceptions endpoint")
    .text()
    .await
    .expect("its body");
    eprintln!("GET /jobs/{job}/exceptions: {raw}");
    assert_eq!(failure.exception_name, "java.lang.IllegalStateException");
    assert!(
        failure.stacktrace.contains("fails once"),
        "{}",
        failure.stacktrace
    );
    assert!(failure.timestamp > 0, "{failure:?}");
    // The task, where Flink names it.
    if let Some(task) = &failure.task_name {
        assert!(task.contains("counter"), "{failure:?}");
    }
    let summary = failure.summary();
    assert!(
        summary.starts_with("java.lang.IllegalStateException: fails once"),
        "{summary}"
    );
    assert_eq!(
        client.last_failure(job).await.unwrap().as_deref(),
        Some(summary.as_str())
    );

    // It recovers, and keeps counting at the one slot there is.
    wait_counter_parallelism(client, job, 1, "after its one failure").await;
    let counted = wait_counter_at_least(client, job, 1).await;
    assert_eq!(exception_count(client, job).await, 1);

    // A TaskManager joins: the adaptive scheduler restarts it at parallelism 2, no new entry.
    cluster.start_taskmanager().await;
    let client = cluster.client();
    wait_counter_parallelism(client, job, 2, "after a TaskManager joined").await;
    wait_counter_at_least(client, job, counted + 1).await;
    let restarts = client.job_metrics(job, &["numRestarts"]).await.unwrap();
    eprintln!("numRestarts after the rescale: {restarts:?}");
    assert_eq!(
        exception_count(client, job).await,
        1,
        "a rescale adds no entry to the exception history"
    );

    // A TaskManager that leaves is a failure in Flink's records: its tasks fail.
    cluster.kill_taskmanager(1);
    let client = cluster.client();
    let lost = eventually(
        "the lost TaskManager's failure is in the history",
        Duration::from_secs(90),
        || async move {
            let history = client
                .exceptions(job, None)
                .await
                .map_err(|e| e.to_string())?;
            // At least one new entry: while the lost TaskManager's slots still look registered
            // (until its heartbeat times out), restarts onto them can fail again, more entries.
            match history.entries.len() {
                n if n >= 2 => Ok(history.entries[0].summary()),
                n => Err(format!("{n} entries")),
            }
        },
    )
    .await;
    eprintln!("a TaskManager killed: {lost}");
    wait_counter_parallelism(client, job, 1, "after a TaskManager left").await;
}

/// A TaskManager joining during `--stable-for` rescales the new job: logged once, exit 0, the job
/// runs at the new parallelism; `--require-checkpoint` is met across the rescale.
#[each_version(flavor = "multi_thread")]
async fn a_taskmanager_joining_during_the_watch_is_not_a_failure(version: &str) {
    let mut cluster = elastic_cluster(version, 1).await;
    let first = deploy(&cluster, JobVariant::Normal, &["--stable-for", "1s"]);
    first.assert_exit(0);
    let old_job = JobId::new(first.str("new_job_id"));
    let before = wait_counter_at_least(cluster.client(), &old_job, 10).await;

    let update = Deploying::start(
        &cluster,
        JobVariant::Normal,
        &["--stable-for", "30s", "--require-checkpoint"],
    );
    update.logged("watching it for").await;
    cluster.start_taskmanager().await;
    let done = update.finish();
    done.assert_exit(0);
    assert_eq!(done.report["rescales"], 1, "{}", done.report);
    let logged: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("rescaled by the adaptive scheduler"))
        .collect();
    assert_eq!(logged.len(), 1, "one rescale logged:\n{}", done.stderr);
    eprintln!("logged: {}", logged[0]);
    assert!(logged[0].contains("counter 1 -> 2"), "{}", logged[0]);

    let client = cluster.client();
    let new_job = JobId::new(done.str("new_job_id"));
    assert_eq!(done.str("old_job_id"), old_job.as_str());
    wait_counter_parallelism(client, &new_job, 2, "after the deploy").await;
    assert!(wait_counter_at_least(client, &new_job, before + 1).await > before);
    assert_eq!(exception_count(client, &new_job).await, 0);
    assert!(
        client.checkpoints(&new_job).await.unwrap().counts.completed > 0,
        "--require-checkpoint"
    );
}

/// Failures roll back, with Flink's cause in the message: a broken release (fails on every
/// record, restarted for ever by the profile's restart strategy) and one that fails once during
/// the watch and recovers.
#[each_version(flavor = "multi_thread")]
async fn a_failure_rolls_back_even_when_the_job_recovers(version: &str) {
    let cluster = elastic_cluster(version, 1).await;
    let client = cluster.client();
    let first = deploy(&cluster, JobVariant::Normal, &["--stable-for", "1s"]);
    first.assert_exit(0);
    let healthy = JobId::new(first.str("new_job_id"));
    wait_counter_at_least(client, &healthy, 5).await;

    let broken = deploy(&cluster, JobVariant::Broken, &["--stable-for", "10s"]);
    broken.assert_exit(5);
    let message = broken.str("message");
    eprintln!("broken: {message}");
    assert!(
        message.contains("java.lang.IllegalStateException: broken release")
            && message.contains("exception history"),
        "Flink's cause is named: {message}"
    );
    assert!(!message.contains("not all running"), "{message}");
    let rolled_back = JobId::new(broken.str("rollback_job_id"));
    wait_counter_at_least(client, &rolled_back, 1).await;

    let once = deploy(&cluster, JobVariant::FailsOnce, &["--stable-for", "40s"]);
    once.assert_exit(5);
    let message = once.str("message");
    eprintln!("fails once: {message}");
    assert!(
        message.contains("failed while being watched")
            && message.contains("java.lang.IllegalStateException: fails once"),
        "a failure is a failure, with its cause: {message}"
    );
    let failed = JobId::new(once.str("new_job_id"));
    assert_eq!(exception_count(client, &failed).await, 1);
    let rolled_back = JobId::new(once.str("rollback_job_id"));
    wait_counter_at_least(client, &rolled_back, 1).await;
}
