//! flink-deploy's hard cases, the built binary against real Flink clusters: every rollback
//! outcome, the rollback target after a killed deploy, a stop that outlives
//! `--savepoint-timeout`, SIGTERM mid-deploy, and `status` with many jobs and awkward names.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::active_jobs;
use flink_rest::{FlinkClient, JarId, JobId, JobState, RunJob};
use flink_testkit::{
    each_version, eventually, example_jar, wait_counter_at_least, wait_running, wait_terminal,
    workspace_bin, Cluster, ClusterBuilder, JobVariant,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

// ---- helpers (as in deploy.rs) ----------------------------------------------

struct Deployer<'a> {
    cluster: &'a Cluster,
    layout: PathBuf,
}

struct Run {
    code: i32,
    report: Value,
    stderr: String,
}

impl Run {
    fn str(&self, key: &str) -> &str {
        self.report[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}\n{}", self.report, self.stderr))
    }
}

impl<'a> Deployer<'a> {
    fn new(cluster: &'a Cluster) -> Self {
        Self {
            cluster,
            layout: cluster.dir().join("layout"),
        }
    }

    fn jar(&self, variant: JobVariant) -> PathBuf {
        example_jar(self.cluster.dist(), variant)
    }

    fn command(&self, job: &str, jar: &Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(workspace_bin("flink-deploy"));
        cmd.arg("deploy")
            .args([
                "--jobmanager-url",
                self.cluster.url().as_str(),
                "--job-name",
                job,
                "--jar",
            ])
            .arg(jar)
            .arg("--savepoint-dir")
            .arg(&self.layout)
            .args(["--output", "json"])
            .args(extra)
            .env_remove("FLINK_JOBMANAGER_URL")
            .env_remove("FLINK_JOB_NAME")
            .env_remove("FLINK_SAVEPOINT_DIR")
            .stdin(Stdio::null());
        if !extra.contains(&"--stable-for") {
            cmd.args(["--stable-for", "2s"]);
        }
        if !extra.contains(&"--startup-timeout") {
            cmd.args(["--startup-timeout", "90s"]);
        }
        cmd.args(["--", "--name", job]);
        cmd
    }

    fn deploy(&self, job: &str, variant: JobVariant, extra: &[&str]) -> Run {
        finish(
            self.command(job, &self.jar(variant), extra)
                .output()
                .expect("flink-deploy runs"),
        )
    }

    /// A deploy running in the background, its log lines collected as they come.
    fn spawn(&self, job: &str, variant: JobVariant, extra: &[&str]) -> Spawned {
        let mut child = self
            .command(job, &self.jar(variant), extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flink-deploy starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        Spawned {
            child: Some(child),
            lines,
        }
    }
}

fn finish(out: Output) -> Run {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}; exit {:?}, signal {:?}): {stdout}\nstderr:\n{stderr}",
            out.status.code(),
            out.status.signal()
        )
    });
    Run {
        code: out
            .status
            .code()
            .expect("an exit code, not a death by signal"),
        report,
        stderr,
    }
}

fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.code, code,
        "exit code; report {}\nstderr:\n{}",
        run.report, run.stderr
    );
}

fn assert_message(run: &Run, parts: &[&str]) {
    let message = run.str("message");
    for part in parts {
        assert!(
            message.contains(part),
            "'{part}' not in the message: {message}\nstderr:\n{}",
            run.stderr
        );
    }
}

/// A flink-deploy running in the background.
struct Spawned {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Spawned {
    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `needle`.
    async fn wait_for_line(&mut self, needle: &str) {
        let lines = self.lines.clone();
        let child = self.child.as_mut().expect("running");
        eventually(
            &format!("flink-deploy logs '{needle}'"),
            Duration::from_secs(120),
            || {
                let log = lines.lock().unwrap().join("\n");
                let exited = child.try_wait().ok().flatten();
                async move {
                    if log.contains(needle) {
                        Ok(())
                    } else if let Some(status) = exited {
                        panic!("flink-deploy ended ({status}) before logging '{needle}':\n{log}")
                    } else {
                        Err(log.lines().last().unwrap_or_default().to_string())
                    }
                }
            },
        )
        .await
    }

    fn signal(&self, signal: Signal) {
        let pid = self.child.as_ref().expect("running").id();
        kill(Pid::from_raw(pid as i32), signal).unwrap();
    }

    /// Waits for it to end; its report.
    fn finish(mut self) -> Run {
        let mut child = self.child.take().expect("running");
        let status = child.wait().unwrap();
        let mut stdout = Vec::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut stdout)
            .unwrap();
        // Let the reader thread take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        finish(Output {
            status,
            stdout,
            stderr: self.log().into_bytes(),
        })
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The TaskManager, paused (SIGSTOP) so that a savepoint stays in flight; resumed when dropped.
struct Paused(Pid);

impl Paused {
    fn taskmanager(cluster: &Cluster) -> Paused {
        let tm = Pid::from_raw(cluster.taskmanager_pid(0).expect("a TaskManager") as i32);
        kill(tm, Signal::SIGSTOP).unwrap();
        Paused(tm)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

async fn restored_from(client: &FlinkClient, job: &JobId) -> Option<String> {
    client
        .checkpoints(job)
        .await
        .unwrap()
        .latest
        .restored
        .and_then(|r| r.external_path)
}

async fn jar_ids(client: &FlinkClient) -> Vec<String> {
    let mut ids: Vec<String> = client
        .jars()
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id.to_string())
        .collect();
    ids.sort();
    ids
}

/// Runs `jar` as a job named `name` the way a person would, outside flink-deploy.
async fn run_by_hand(
    client: &FlinkClient,
    jar: &JarId,
    name: &str,
    savepoint: Option<&str>,
) -> JobId {
    let job = client
        .run_jar(
            jar,
            &RunJob {
                program_args: vec!["--name".into(), name.into()],
                savepoint_path: savepoint.map(str::to_string),
                ..RunJob::default()
            },
        )
        .await
        .unwrap();
    wait_running(client, &job).await;
    job
}

/// `flink-deploy--<job>--<UTC now>.jar`: the name flink-deploy uploads a release of `job` under.
fn release_name(job: &str) -> String {
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]"
        ))
        .unwrap();
    format!("flink-deploy--{job}--{stamp}.jar")
}

// ---- rollback --------------------------------------------------------------

/// A broken release crash-loops (RESTARTING) until the startup timeout: keep it short.
const BROKEN: &[&str] = &["--startup-timeout", "45s"];

/// Exit 6 for a job first deployed some other way, the rollback target after a killed deploy
/// left an orphan jar, `--no-rollback`, and `status` with a job name holding a newline.
#[each_version(flavor = "multi_thread")]
async fn rollback_outcomes(version: &str) {
    let cluster = ClusterBuilder::new(version).slots(4).start().await;
    let client = cluster.client();
    let d = Deployer::new(&cluster);

    // A job first deployed by hand (no jar of flink-deploy's), then a broken update: nothing to
    // roll back to, so exit 6 with the savepoint to run from; following the message restores it.
    let manual = client
        .upload_jar(&d.jar(JobVariant::Normal), "manual.jar")
        .await
        .unwrap();
    let legacy = run_by_hand(client, &manual, "legacy", None).await;
    let counted = wait_counter_at_least(client, &legacy, 5).await;
    let broken = d.deploy("legacy", JobVariant::Broken, BROKEN);
    assert_exit(&broken, 6);
    let savepoint = broken.str("savepoint").to_string();
    assert_message(
        &broken,
        &[
            "Nothing of 'legacy' runs now",
            &format!("--from-savepoint {savepoint}"),
            "broken release",
        ],
    );
    assert!(active_jobs(client, "legacy").await.is_empty());
    assert!(
        !jar_ids(client)
            .await
            .contains(&broken.str("jar_id").to_string()),
        "the broken jar is gone"
    );
    let again = d.deploy("legacy", JobVariant::Normal, &[]);
    assert_exit(&again, 0);
    assert_eq!(again.str("restored_from"), savepoint);
    let legacy = JobId::new(again.str("new_job_id"));
    assert!(wait_counter_at_least(client, &legacy, counted + 1).await > counted);

    // A healthy release, then an orphan of a killed deploy: a (broken) jar of the job uploaded
    // after the job started. A broken update rolls back to the healthy jar, not the orphan.
    let first = d.deploy("orders", JobVariant::Normal, &[]);
    assert_exit(&first, 0);
    let healthy_jar = first.str("jar_id").to_string();
    let first_job = JobId::new(first.str("new_job_id"));
    let counted = wait_counter_at_least(client, &first_job, 5).await;
    let orphan = client
        .upload_jar(&d.jar(JobVariant::Broken), &release_name("orders"))
        .await
        .unwrap();
    let update = d.deploy("orders", JobVariant::Broken, BROKEN);
    assert_exit(&update, 5);
    assert_eq!(update.str("rollback_jar"), healthy_jar, "{}", update.report);
    let rollback_job = JobId::new(update.str("rollback_job_id"));
    let savepoint = update.str("savepoint").to_string();
    assert_message(
        &update,
        &[&format!("previous jar {healthy_jar} from {savepoint}")],
    );
    assert_eq!(
        active_jobs(client, "orders").await,
        vec![rollback_job.clone()]
    );
    assert_eq!(
        restored_from(client, &rollback_job).await.as_deref(),
        Some(savepoint.as_str())
    );
    assert!(wait_counter_at_least(client, &rollback_job, counted + 1).await > counted);
    assert!(
        !jar_ids(client).await.contains(&orphan.to_string()),
        "the orphan would shadow the healthy jar once the rollback job runs it"
    );

    // --no-rollback: the broken job is left as it is (not cancelled), and the message says to
    // cancel it before running the healthy jar from the savepoint; doing so restores the job.
    let left = d.deploy(
        "orders",
        JobVariant::Broken,
        &["--no-rollback", "--startup-timeout", "45s"],
    );
    assert_exit(&left, 6);
    let broken_job = JobId::new(left.str("new_job_id"));
    let savepoint = left.str("savepoint").to_string();
    assert_message(
        &left,
        &[
            "--no-rollback",
            &format!("cancel job {broken_job}, then run jar {healthy_jar}"),
            &format!("savepointPath {savepoint}"),
        ],
    );
    assert_ne!(
        client.job(&broken_job).await.unwrap().state,
        JobState::Canceled
    );
    assert!(jar_ids(client)
        .await
        .contains(&left.str("jar_id").to_string()));
    if client.job(&broken_job).await.unwrap().state.is_active() {
        client.cancel(&broken_job).await.unwrap();
    }
    wait_terminal(client, &broken_job).await;
    let by_hand = run_by_hand(
        client,
        &JarId::new(&healthy_jar),
        "orders",
        Some(&savepoint),
    )
    .await;
    assert_eq!(
        restored_from(client, &by_hand).await.as_deref(),
        Some(savepoint.as_str())
    );

    // status: a job name with a newline stays on its line.
    let forged = "evil\nforged 00000000000000000000000000000000 RUNNING";
    run_by_hand(client, &manual, forged, None).await;
    let out = Command::new(workspace_bin("flink-deploy"))
        .args(["status", "--jobmanager-url", cluster.url().as_str()])
        .env_remove("FLINK_JOBMANAGER_URL")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let jobs = client.jobs().await.unwrap().len();
    assert_eq!(text.lines().count(), 1 + jobs, "one line per job:\n{text}");
    assert!(text.contains("evil\\nforged"), "{text}");
}

// ---- stops in flight and signals --------------------------------------------

/// A stop that outlives --savepoint-timeout (the TaskManager paused holds its savepoint), and
/// SIGTERM during a stop and during the health watch.
#[each_version(flavor = "multi_thread")]
async fn stops_in_flight_and_signals(version: &str) {
    // The paused TaskManager must not be taken for lost (nor its trigger RPC time out) while a
    // test holds it.
    let cluster = ClusterBuilder::new(version)
        .config("pekko.ask.timeout", "120 s")
        .config("heartbeat.timeout", "120000")
        .start()
        .await;
    let client = cluster.client();
    let d = Deployer::new(&cluster);
    let first = d.deploy("orders", JobVariant::Normal, &[]);
    assert_exit(&first, 0);
    let mut job = JobId::new(first.str("new_job_id"));
    let mut counted = wait_counter_at_least(client, &job, 5).await;

    // 1. The stop outlives --savepoint-timeout, then completes while being watched: the update
    //    carries on from its savepoint (it used to say "nothing was changed", exit 4, and the
    //    job FINISHED moments later with nothing running).
    let paused = Paused::taskmanager(&cluster);
    let mut deploy = d.spawn(
        "orders",
        JobVariant::Normal,
        &["--savepoint-timeout", "20s"],
    );
    deploy.wait_for_line("did not finish within 20s").await;
    drop(paused);
    let carried = deploy.finish();
    assert_exit(&carried, 0);
    let savepoint = carried.str("savepoint").to_string();
    assert_eq!(carried.str("restored_from"), savepoint);
    assert_eq!(client.job(&job).await.unwrap().state, JobState::Finished);
    job = JobId::new(carried.str("new_job_id"));
    assert_eq!(
        restored_from(client, &job).await.as_deref(),
        Some(savepoint.as_str())
    );
    counted = wait_counter_at_least(client, &job, counted + 1).await;

    // 2. The stop is still in flight when the watching ends: exit 7, the message says what may
    //    still happen, the new jar is gone; once resumed, a deploy converges.
    let jars = jar_ids(client).await;
    let paused = Paused::taskmanager(&cluster);
    let undecided = d.deploy("orders", JobVariant::Normal, &["--savepoint-timeout", "3s"]);
    drop(paused);
    assert_exit(&undecided, 7);
    assert_message(
        &undecided,
        &[
            "still in flight",
            "Flink may still complete it",
            "FINISHES with a savepoint under",
            "run flink-deploy again",
        ],
    );
    assert!(
        !undecided
            .str("message")
            .contains("still RUNNING; nothing was changed"),
        "{}",
        undecided.report
    );
    assert_eq!(jar_ids(client).await, jars, "the new jar was deleted");
    job = converge(&d, client, &job, counted).await;
    counted = wait_counter_at_least(client, &job, counted + 1).await;

    // 3. SIGTERM while the stop is in flight: exit 8 within the grace (not 143), saying the stop
    //    may still complete; the new jar is gone; once resumed, a deploy converges.
    let jars = jar_ids(client).await;
    let paused = Paused::taskmanager(&cluster);
    let mut deploy = d.spawn(
        "orders",
        JobVariant::Normal,
        &["--savepoint-timeout", "10m"],
    );
    deploy
        .wait_for_line("stopping the running job with a savepoint")
        .await;
    deploy.signal(Signal::SIGTERM);
    let interrupted = deploy.finish();
    drop(paused);
    assert_exit(&interrupted, 8);
    assert_eq!(interrupted.str("outcome"), "interrupted");
    assert_message(
        &interrupted,
        &[
            "SIGTERM received",
            "Flink may still complete it",
            "run flink-deploy again",
        ],
    );
    assert_eq!(jar_ids(client).await, jars, "the new jar was deleted");
    job = converge(&d, client, &job, counted).await;
    counted = wait_counter_at_least(client, &job, counted + 1).await;

    // 4. SIGTERM while the new job is watched: exit 8, the new job is left running and named.
    let mut deploy = d.spawn("orders", JobVariant::Normal, &["--stable-for", "10m"]);
    deploy.wait_for_line("watching it for").await;
    deploy.signal(Signal::SIGTERM);
    let interrupted = deploy.finish();
    assert_exit(&interrupted, 8);
    let new_job = JobId::new(interrupted.str("new_job_id"));
    let savepoint = interrupted.str("savepoint").to_string();
    assert_message(
        &interrupted,
        &[
            "SIGTERM",
            &format!("watching job {new_job} (restored from {savepoint})"),
            "left running",
        ],
    );
    assert_eq!(active_jobs(client, "orders").await, vec![new_job.clone()]);
    assert_eq!(client.job(&job).await.unwrap().state, JobState::Finished);
    assert!(wait_counter_at_least(client, &new_job, counted + 1).await > counted);
}

/// After an undecided or interrupted stop of `old`, with the TaskManager resumed: the held stop
/// completes (nothing cancels it), so the job FINISHES with a savepoint although flink-deploy
/// had ended; a deploy then restores from that savepoint and keeps the count.
async fn converge(d: &Deployer<'_>, client: &FlinkClient, old: &JobId, counted: u64) -> JobId {
    assert_eq!(wait_terminal(client, old).await, JobState::Finished);
    let stop_savepoint = client
        .checkpoints(old)
        .await
        .unwrap()
        .latest
        .savepoint
        .and_then(|s| s.external_path)
        .expect("the held stop's savepoint");
    let again = d.deploy("orders", JobVariant::Normal, &[]);
    assert_exit(&again, 0);
    assert_eq!(again.str("restored_from"), stop_savepoint);
    let job = JobId::new(again.str("new_job_id"));
    assert_eq!(active_jobs(client, "orders").await, vec![job.clone()]);
    assert!(wait_counter_at_least(client, &job, counted + 1).await > counted);
    job
}

// ---- status ------------------------------------------------------------------

/// `status` asks for many jobs' checkpoints at once, but never more than 16, and keeps the
/// order. A JobManager with 48 jobs is a scale this machine cannot run: a stand-in on
/// 127.0.0.1 answers the two endpoints `status` reads, as Flink does, slowly.
#[test]
fn status_reads_checkpoints_in_parallel_and_keeps_the_order() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let jobs: Vec<(String, String)> = (0..48)
        .map(|i| (format!("{i:032x}"), format!("job-{:02}", 47 - i)))
        .collect();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let overview = serde_json::json!({
        "jobs": jobs.iter().map(|(id, name)| serde_json::json!({
            "jid": id, "name": name, "state": "RUNNING", "start-time": 1_796_000_000_000_i64, "end-time": -1
        })).collect::<Vec<_>>()
    })
    .to_string();
    {
        let (in_flight, most) = (in_flight.clone(), most.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (overview, in_flight, most) =
                    (overview.clone(), in_flight.clone(), most.clone());
                std::thread::spawn(move || serve(stream, &overview, &in_flight, &most));
            }
        });
    }
    let out = Command::new(workspace_bin("flink-deploy"))
        .args([
            "status",
            "--output",
            "json",
            "--jobmanager-url",
            &format!("http://127.0.0.1:{port}"),
        ])
        .env_remove("FLINK_JOBMANAGER_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: Vec<(&str, &str, &str)> = report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap(),
                j["id"].as_str().unwrap(),
                j["newest_savepoint"].as_str().unwrap(),
            )
        })
        .collect();
    let mut expected: Vec<&(String, String)> = jobs.iter().collect();
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(listed.len(), expected.len());
    for ((name, id, savepoint), (want_id, want_name)) in listed.iter().zip(expected) {
        assert_eq!((*name, *id), (want_name.as_str(), want_id.as_str()));
        assert_eq!(*savepoint, format!("file:/savepoints/{want_id}"));
    }
    let most = most.load(Ordering::SeqCst);
    assert!(
        most > 1,
        "the checkpoints were asked for one at a time ({most} at most)"
    );
    assert!(most <= 16, "{most} requests at once: more than 16");
}

/// One keep-alive connection of the stand-in JobManager.
fn serve(mut stream: TcpStream, overview: &str, in_flight: &AtomicUsize, most: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                break;
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
        let body = if path == "/jobs/overview" {
            overview.to_string()
        } else if let Some(id) = path
            .strip_prefix("/jobs/")
            .and_then(|p| p.strip_suffix("/checkpoints"))
        {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            // Slow enough that requests sent together are in flight together.
            std::thread::sleep(Duration::from_millis(150));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            serde_json::json!({
                "counts": {"restored": 0, "completed": 1, "failed": 0},
                "latest": {
                    "completed": null,
                    "savepoint": {"id": 1, "is_savepoint": true, "trigger_timestamp": 1, "external_path": format!("file:/savepoints/{id}")},
                    "restored": null
                },
                "history": []
            })
            .to_string()
        } else {
            let body = r#"{"errors":["Not found."]}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            continue;
        };
        if write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .is_err()
        {
            return;
        }
    }
}
