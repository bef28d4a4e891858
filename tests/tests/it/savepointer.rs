//! flink-savepointer, the built binary, against real Flink clusters of every
//! supported version.
//!
//! Run only these: `cargo nextest run -p flink-ops-tests -E 'test(/^savepointer::/)'`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use flink_rest::{ClaimMode, FlinkClient, JarId, JobId, JobState, RunJob};
use flink_testkit::{
    each_version, eventually, example_jar, free_port, wait_running, wait_terminal, workspace_bin,
    Cluster, ClusterBuilder, JobVariant,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use savepoint_layout::{SavepointLayout, StoredSavepoint};

// ---- the cluster side -------------------------------------------------------

async fn upload(cluster: &Cluster) -> JarId {
    let jar = example_jar(cluster.dist(), JobVariant::Normal);
    cluster
        .client()
        .upload_jar(&jar, "savepointer-test.jar")
        .await
        .expect("the example jar uploads")
}

/// Runs the example job under `name` (optionally restored from a savepoint)
/// and waits until all its tasks run.
async fn submit(cluster: &Cluster, jar: &JarId, name: &str, restore: Option<&str>) -> JobId {
    let client = cluster.client();
    let job = client
        .run_jar(
            jar,
            &RunJob {
                program_args: vec!["--name".into(), name.into()],
                parallelism: Some(1),
                savepoint_path: restore.map(str::to_string),
                claim_mode: ClaimMode::NoClaim,
                ..RunJob::default()
            },
        )
        .await
        .expect("the job starts");
    wait_running(client, &job).await;
    job
}

async fn cancel(client: &FlinkClient, job: &JobId) {
    client.cancel(job).await.expect("cancel");
    assert_eq!(wait_terminal(client, job).await, JobState::Canceled);
}

// ---- the sidecar side -------------------------------------------------------

/// Runs the binary to completion: (exit code, stdout, stderr).
fn run_once(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(workspace_bin("flink-savepointer"))
        .env_clear()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("flink-savepointer runs");
    let code = out.status.code().expect("an exit code, not a signal");
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `flink-savepointer run` process; killed when dropped, its log printed
/// when the test fails.
pub(crate) struct Sidecar {
    child: Child,
    log: PathBuf,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Sidecar {
    pub(crate) fn start(url: &url::Url, args: &[&str]) -> Sidecar {
        let dir = tempfile::tempdir().expect("a temp dir");
        let log = dir.path().join("stderr.log");
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(workspace_bin("flink-savepointer"))
            .env_clear()
            .arg("run")
            .args(["--jobmanager-url", url.as_str(), "--listen", &listen])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("flink-savepointer starts");
        Sidecar {
            child,
            log,
            base: format!("http://{listen}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("an HTTP client"),
            _dir: dir,
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("the sidecar exited ({status}):\n{}", self.log());
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Result<(u16, String), String> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    async fn metric(&self, name: &str, job: &str) -> Result<f64, String> {
        let (_, text) = self.get("/metrics").await?;
        metric_value(&text, name, job)
            .ok_or_else(|| format!("no flink_savepointer_{name} for job {job} in:\n{text}"))
    }

    /// Waits until metric `name` of `job` reaches `at_least`.
    async fn wait_metric(&self, name: &str, job: &str, at_least: f64) -> f64 {
        eventually(
            &format!("flink_savepointer_{name}{{job=\"{job}\"}} >= {at_least}"),
            Duration::from_secs(90),
            || async {
                let value = self.metric(name, job).await?;
                if value >= at_least {
                    Ok(value)
                } else {
                    Err(format!("at {value}"))
                }
            },
        )
        .await
    }

    async fn wait_ready(&self, ready: bool) {
        let want = if ready { 200 } else { 503 };
        eventually(
            &format!("/readyz answering {want}"),
            Duration::from_secs(90),
            || async {
                let (status, body) = self.get("/readyz").await?;
                if status == want {
                    Ok(())
                } else {
                    Err(format!("{status}: {body}"))
                }
            },
        )
        .await
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("signal the sidecar");
    }

    /// Waits for the process to exit on its own (it was signalled).
    async fn wait_exit(&mut self) -> ExitStatus {
        let child = &mut self.child;
        eventually("the sidecar exited", Duration::from_secs(60), || {
            let status = child.try_wait().map_err(|e| e.to_string());
            async move { status?.ok_or_else(|| "still running".to_string()) }
        })
        .await
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- flink-savepointer log ({}) ----\n{}",
                self.base,
                self.log()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `flink_savepointer_<name>{job="<job>"}` in Prometheus text.
fn metric_value(text: &str, name: &str, job: &str) -> Option<f64> {
    let prefix = format!("flink_savepointer_{name}{{job=\"{job}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

fn path_of(location: &str) -> PathBuf {
    PathBuf::from(savepoint_layout::normalize(location))
}

async fn complete(layout: &SavepointLayout, job: &str) -> Vec<StoredSavepoint> {
    let mut all = layout
        .list(job, time::OffsetDateTime::now_utc())
        .await
        .expect("the layout lists")
        .savepoints;
    all.retain(|s| s.complete);
    all
}

/// Asserts a savepoint sits at `<root>/<job>/<dated folder>/savepoint-<jobid6>-*/_metadata`.
fn assert_laid_out(root: &Path, job_name: &str, job: &JobId, savepoint: &StoredSavepoint) {
    let path = path_of(&savepoint.location);
    assert!(
        path.join("_metadata").is_file(),
        "{} has no _metadata",
        path.display()
    );
    let dated = path.parent().expect("a dated folder");
    assert_eq!(
        dated.parent(),
        Some(root.join(job_name).as_path()),
        "{}",
        path.display()
    );
    let dated_name = dated.file_name().unwrap().to_str().unwrap();
    let shape = dated_name.len() == 16
        && dated_name.chars().enumerate().all(|(i, c)| {
            if [4, 7, 10, 13].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    assert!(shape, "{dated_name} is not %Y-%m-%d-%H-%M");
    let folder = path.file_name().unwrap().to_str().unwrap();
    assert!(
        folder.starts_with(&format!("savepoint-{}", &job.as_str()[..6])),
        "{folder} is not a savepoint of job {job}"
    );
}

fn target_dir_now(layout: &SavepointLayout, job: &str) -> PathBuf {
    path_of(&layout.target_dir(job, time::OffsetDateTime::now_utc()))
}

// ---- once -------------------------------------------------------------------

#[each_version]
async fn once(version: &str) {
    let cluster = ClusterBuilder::new(version).start().await;
    let client = cluster.client();
    let url = cluster.url().as_str().to_string();
    let jar = upload(&cluster).await;
    let orders = submit(&cluster, &jar, "orders", None).await;
    let _v2 = submit(&cluster, &jar, "orders-v2", None).await;
    let root = tempfile::tempdir().unwrap();
    let root_str = root.path().to_str().unwrap().to_string();
    let layout = SavepointLayout::new(&root_str).unwrap();
    let once = |extra: &[&str]| {
        let mut args = vec!["once", "--jobmanager-url", &url, "--target-dir", &root_str];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_once(&args)
    };

    // One round: exit 0, a savepoint under today's dated folder, with _metadata;
    // `orders` never selects `orders-v2`.
    let before = target_dir_now(&layout, "orders");
    let (code, stdout, stderr) = run(once(&["--job-name", "orders"]));
    let after = target_dir_now(&layout, "orders");
    assert_eq!(code, 0, "{stderr}");
    let saved = complete(&layout, "orders").await;
    assert_eq!(saved.len(), 1, "{saved:?}\n{stderr}");
    assert_laid_out(root.path(), "orders", &orders, &saved[0]);
    let dated = path_of(&saved[0].location).parent().unwrap().to_path_buf();
    assert!(
        dated == before || dated == after,
        "{} is not {} or {}",
        dated.display(),
        before.display(),
        after.display()
    );
    assert!(
        stdout.contains(&format!("orders\t{}", saved[0].location)),
        "{stdout}"
    );
    assert!(
        !root.path().join("orders-v2").exists(),
        "orders-v2 was saved too"
    );
    let first = saved[0].location.clone();

    // A named job that does not exist: exit 10, and the one that exists is saved anyway.
    let (code, _, stderr) = run(once(&["--job-name", "orders", "--job-name", "ghost"]));
    assert_eq!(code, 10, "{stderr}");
    assert!(stderr.contains("ghost"), "{stderr}");
    assert_eq!(complete(&layout, "orders").await.len(), 2);

    // A savepoint into a directory the JobManager cannot create: exit 4; the job runs on.
    let blocker = root.path().join("blocker");
    std::fs::write(&blocker, "a file where a directory should be").unwrap();
    let blocked = blocker.join("sp");
    let (code, _, stderr) = run(vec![
        "once".into(),
        "--jobmanager-url".into(),
        url.clone(),
        "--target-dir".into(),
        blocked.display().to_string(),
        "--job-name".into(),
        "orders-v2".into(),
    ]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("failed"), "{stderr}");
    let v2 = client.jobs_named("orders-v2").await.unwrap();
    assert_eq!(v2[0].state, JobState::Running);

    // Retention never disposes what a running job restored from: run `orders`
    // again from the first savepoint, then keep 1. The second goes, the first
    // (restored from) and the new one stay.
    cancel(client, &orders).await;
    let second = complete(&layout, "orders").await[1].location.clone();
    let restored = submit(&cluster, &jar, "orders", Some(&first)).await;
    let (code, _, stderr) = run(once(&["--job-name", "orders", "--keep", "1"]));
    assert_eq!(code, 0, "{stderr}");
    let left = complete(&layout, "orders").await;
    assert_eq!(left.len(), 2, "{left:?}\n{stderr}");
    assert_eq!(
        left[0].location, first,
        "the savepoint the job restored from stays"
    );
    assert_laid_out(root.path(), "orders", &restored, &left[1]);
    assert!(
        !path_of(&second).exists(),
        "{second} was not disposed\n{stderr}"
    );

    // A job that is not running (cancelled, no other of that name): exit 10.
    cancel(client, &restored).await;
    let (code, _, stderr) = run(once(&["--job-name", "orders"]));
    assert_eq!(code, 10, "{stderr}");
    assert!(stderr.contains("CANCELED"), "{stderr}");
}

/// Bad input exits 2 and touches nothing; a JobManager that is not there exits 3.
#[test]
fn usage_errors_and_an_unreachable_jobmanager() {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("sp");
    let target = target.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["once", "--target-dir", target],
        &[
            "once",
            "--job-name",
            "a",
            "--all-jobs",
            "--target-dir",
            target,
        ],
        &[
            "run",
            "--job-name",
            "a",
            "--target-dir",
            target,
            "--every",
            "1m",
            "--schedule",
            "*/15 * * * *",
        ],
        &[
            "run",
            "--job-name",
            "a",
            "--target-dir",
            target,
            "--every",
            "15",
        ],
        &["once", "--job-name", "a", "--target-dir", "relative/sp"],
        &[
            "once",
            "--job-name",
            "a",
            "--target-dir",
            target,
            "--ca-cert",
            "/nonexistent/ca.pem",
        ],
    ];
    for args in cases {
        let (code, _, stderr) = run_once(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(!stderr.trim().is_empty(), "{args:?}: no message");
    }
    assert!(!Path::new(target).exists(), "bad input created {target}");
    assert!(!Path::new("relative").exists());

    let (code, _, stderr) = run_once(&["--help"]);
    assert_eq!(code, 0, "{stderr}");

    let dead = format!("http://127.0.0.1:{}", free_port());
    let (code, _, stderr) = run_once(&[
        "once",
        "--jobmanager-url",
        &dead,
        "--job-name",
        "a",
        "--target-dir",
        target,
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert!(!Path::new(target).exists());
}

// ---- run ----------------------------------------------------------------------

#[each_version]
async fn daemon(version: &str) {
    let mut cluster = ClusterBuilder::new(version).start().await;
    let jar = upload(&cluster).await;
    let orders = submit(&cluster, &jar, "orders", None).await;
    let _v2 = submit(&cluster, &jar, "orders-v2", None).await;
    let root = tempfile::tempdir().unwrap();
    let root_str = root.path().to_str().unwrap();
    let layout = SavepointLayout::new(root_str).unwrap();

    let mut sidecar = Sidecar::start(
        cluster.url(),
        &[
            "--job-name",
            "orders",
            "--target-dir",
            root_str,
            "--every",
            "2s",
            "--keep",
            "2",
            "--timeout",
            "30s",
            "--shutdown-grace",
            "3s",
            "--log-format",
            "json",
        ],
    );

    // Rounds write dated savepoints with _metadata, and /metrics shows them.
    sidecar.wait_metric("savepoints_total", "orders", 1.0).await;
    let first = complete(&layout, "orders").await[0].clone();
    assert_laid_out(root.path(), "orders", &orders, &first);
    let (_, metrics) = sidecar.get("/metrics").await.unwrap();
    for name in [
        "last_success_timestamp_seconds",
        "last_duration_seconds",
        "last_size_bytes",
        "failures_total",
    ] {
        assert!(
            metric_value(&metrics, name, "orders").is_some(),
            "{name} missing:\n{metrics}"
        );
    }
    sidecar.wait_ready(true).await;
    assert_eq!(sidecar.get("/healthz").await.unwrap().0, 200);

    // Retention disposes the oldest and keeps 2.
    sidecar.wait_metric("disposals_total", "orders", 2.0).await;
    assert!(
        !path_of(&first.location).exists(),
        "the oldest savepoint was not disposed"
    );
    eventually(
        "2 savepoints of orders kept",
        Duration::from_secs(30),
        || async {
            let n = complete(&layout, "orders").await.len();
            if n == 2 {
                Ok(())
            } else {
                Err(format!("{n} kept"))
            }
        },
    )
    .await;
    assert!(
        !root.path().join("orders-v2").exists(),
        "orders-v2 was saved too"
    );

    // One JSON log line per savepoint, with job, path and duration.
    let log = sidecar.log();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("completed"))
        })
        .unwrap_or_else(|| panic!("no savepoint line in:\n{log}"));
    assert_eq!(line["severity"], "INFO", "{line}");
    assert_eq!(line["job"], "orders", "{line}");
    assert!(
        line["path"]
            .as_str()
            .is_some_and(|p| p.contains("/orders/")),
        "{line}"
    );
    assert!(line["duration_ms"].is_u64(), "{line}");

    // A savepoint into an unwritable directory is a failure, retried next round;
    // a missing named job is reported. It recovers once the directory is usable.
    let blocker = root.path().join("blocker");
    std::fs::write(&blocker, "a file where a directory should be").unwrap();
    let blocked = blocker.join("sp");
    let mut failing = Sidecar::start(
        cluster.url(),
        &[
            "--job-name",
            "orders-v2",
            "--job-name",
            "ghost",
            "--target-dir",
            blocked.to_str().unwrap(),
            "--every",
            "2s",
            "--timeout",
            "30s",
        ],
    );
    failing
        .wait_metric("failures_total", "orders-v2", 2.0)
        .await;
    assert_eq!(
        failing
            .metric("savepoints_total", "orders-v2")
            .await
            .unwrap(),
        0.0
    );
    assert_eq!(failing.metric("job_missing", "ghost").await.unwrap(), 1.0);
    failing.assert_alive();
    // A directory Flink cannot create gets what to do, once, and /readyz says why it is not
    // ready. The tests may run as root, which any mode bits let through: a path under a regular
    // file fails for root too (Flink's FileAlreadyExistsException; its "Failed to create
    // savepoint directory at …" of a directory it may not write is recognised the same way, a
    // unit test of round.rs).
    let log = failing.log();
    assert!(
        log.matches("FileAlreadyExistsException").count() >= 2,
        "{log}"
    );
    let hint = "must be writable by the user the JobManager runs Flink as (uid 9999, gid 9999";
    assert_eq!(log.matches(hint).count(), 1, "the hint once:\n{log}");
    assert!(log.contains("`sudo chown -R 9999:9999 HOST_DIR`"), "{log}");
    let (code, body) = failing.get("/readyz").await.unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains(&format!(
            "job 'orders-v2': Flink cannot create the savepoint directory {}",
            blocker.display()
        )) && body.contains("uid 9999"),
        "{body}"
    );
    std::fs::remove_file(&blocker).unwrap();
    failing
        .wait_metric("savepoints_total", "orders-v2", 1.0)
        .await;
    let (_, body) = failing.get("/readyz").await.unwrap();
    assert!(!body.contains("cannot create"), "{body}");
    failing.signal(Signal::SIGTERM);
    assert_eq!(
        failing.wait_exit().await.code(),
        Some(0),
        "{}",
        failing.log()
    );

    // The JobManager dies: the sidecar stays up and turns not ready; the
    // JobManager comes back (without HA the job is gone: submit it again), and
    // the sidecar takes savepoints again by itself.
    let before = sidecar.metric("savepoints_total", "orders").await.unwrap();
    cluster.kill_jobmanager();
    sidecar.wait_ready(false).await;
    assert_eq!(sidecar.get("/healthz").await.unwrap().0, 200);
    let (_, metrics) = sidecar.get("/metrics").await.unwrap();
    assert!(
        metrics.contains("flink_savepointer_jobmanager_up 0\n"),
        "{metrics}"
    );
    sidecar.assert_alive();
    cluster.restart_jobmanager().await;
    sidecar.assert_alive();
    let jar = upload(&cluster).await;
    let again = submit(&cluster, &jar, "orders", None).await;
    sidecar
        .wait_metric("savepoints_total", "orders", before + 1.0)
        .await;
    sidecar.wait_ready(true).await;
    let newest = layout.newest("orders").await.unwrap().expect("a savepoint");
    assert_laid_out(root.path(), "orders", &again, &newest);
    sidecar.assert_alive();

    // SIGTERM between rounds: a clean exit.
    sidecar.signal(Signal::SIGTERM);
    assert_eq!(
        sidecar.wait_exit().await.code(),
        Some(0),
        "{}",
        sidecar.log()
    );

    // SIGTERM while a savepoint is in flight (the TaskManager is paused, so it
    // cannot complete): the sidecar waits its grace, then exits 0.
    let tm = Pid::from_raw(cluster.taskmanager_pid(0).expect("a TaskManager") as i32);
    kill(tm, Signal::SIGSTOP).unwrap();
    let mut paused = ResumeOnDrop {
        sidecar: Sidecar::start(
            cluster.url(),
            &[
                "--job-name",
                "orders",
                "--target-dir",
                root_str,
                "--every",
                "2s",
                "--shutdown-grace",
                "2s",
            ],
        ),
        tm,
    };
    eventually("a savepoint triggered", Duration::from_secs(30), || {
        let log = paused.log();
        async move {
            if log.contains("triggered") {
                Ok(())
            } else {
                Err(log)
            }
        }
    })
    .await;
    paused.signal(Signal::SIGTERM);
    let status = paused.wait_exit().await;
    let log = paused.log();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("abandoned"), "{log}");
    assert!(log.contains("flink-savepointer stopped"), "{log}");
}

/// A sidecar that resumes the paused TaskManager `tm` when it goes away.
struct ResumeOnDrop {
    sidecar: Sidecar,
    tm: Pid,
}

impl std::ops::Deref for ResumeOnDrop {
    type Target = Sidecar;
    fn deref(&self) -> &Sidecar {
        &self.sidecar
    }
}

impl std::ops::DerefMut for ResumeOnDrop {
    fn deref_mut(&mut self) -> &mut Sidecar {
        &mut self.sidecar
    }
}

impl Drop for ResumeOnDrop {
    fn drop(&mut self) {
        let _ = kill(self.tm, Signal::SIGCONT);
    }
}
