//! `flink-savepointer run --recover` against real Flink: a JobManager killed with `kill -9`
//! and started again with empty memory loses its jobs; the sidecar puts the recorded release
//! back from the newest restore point, never twice, never with empty state, never after a
//! person cancelled it.
//!
//! Run only these: `cargo nextest run -p flink-ops-tests -E 'test(/^recovery::/)'`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use flink_rest::{FlinkClient, JobId, SavepointFormat};
use flink_testkit::{
    counter_value, each_version, eventually, example_jar, wait_counter_at_least, wait_running,
    wait_terminal, workspace_bin, Cluster, ClusterBuilder, JobVariant,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use savepoint_layout::{Intent, ReleaseKind, SavepointLayout};

use crate::common::{active_jobs, newest_checkpoint};
use crate::savepointer::Sidecar;

/// `--recover-grace` of these tests.
const GRACE: &str = "3s";

fn layout_dir(cluster: &Cluster) -> PathBuf {
    cluster.dir().join("layout")
}

fn layout(cluster: &Cluster) -> SavepointLayout {
    SavepointLayout::new(layout_dir(cluster).to_str().unwrap()).unwrap()
}

fn deploy_command(cluster: &Cluster, job: &str) -> Command {
    let mut cmd = Command::new(workspace_bin("flink-deploy"));
    cmd.args(["deploy", "--jobmanager-url", cluster.url().as_str()])
        .args(["--job-name", job, "--jar"])
        .arg(example_jar(cluster.dist(), JobVariant::Normal))
        .arg("--savepoint-dir")
        .arg(layout_dir(cluster))
        .args(["--startup-timeout", "90s", "--stable-for", "2s"])
        .args(["--output", "json", "--", "--name", job])
        .env_clear()
        .stdin(Stdio::null());
    cmd
}

/// `flink-deploy deploy` of the example job; the new job's id.
fn deploy(cluster: &Cluster, job: &str) -> JobId {
    let out = deploy_command(cluster, job).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "flink-deploy: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    JobId::new(report["new_job_id"].as_str().unwrap())
}

fn sidecar(cluster: &Cluster, job: &str) -> Sidecar {
    let dir = layout_dir(cluster);
    Sidecar::start(
        cluster.url(),
        &[
            "--job-name",
            job,
            "--target-dir",
            dir.to_str().unwrap(),
            "--every",
            "1h",
            "--recover",
            "--recover-grace",
            GRACE,
        ],
    )
}

/// Waits for the one active job of `name` (the recovered one), within the grace and some.
async fn recovered(client: &FlinkClient, name: &str) -> JobId {
    eventually(
        &format!("'{name}' submitted again by the sidecar"),
        Duration::from_secs(60),
        || async {
            let jobs = active_jobs(client, name).await;
            match jobs.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err("no active job".to_string()),
                more => Err(format!("{} active jobs: {more:?}", more.len())),
            }
        },
    )
    .await
}

/// The first count a job reports once it counted anything: where its restored state starts
/// (plus one; the keys' counts differ by one at most).
async fn first_count(client: &FlinkClient, job: &JobId) -> u64 {
    wait_counter_at_least(client, job, 1).await
}

async fn restored_from(client: &FlinkClient, job: &JobId) -> Option<String> {
    eventually(
        &format!("job {job}'s checkpoint statistics"),
        Duration::from_secs(30),
        || async {
            client
                .checkpoints(job)
                .await
                .map(|c| c.latest.restored.and_then(|r| r.external_path))
                .map_err(|e| e.to_string())
        },
    )
    .await
}

/// Waits until a checkpoint of `job` completes that was triggered after now.
async fn checkpoint_after_now(client: &FlinkClient, job: &JobId) {
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    eventually(
        "a checkpoint after now",
        Duration::from_secs(30),
        || async {
            let latest = client
                .checkpoints(job)
                .await
                .map_err(|e| e.to_string())?
                .latest
                .completed;
            match latest {
                Some(c) if c.trigger_timestamp > now_ms => Ok(()),
                other => Err(format!("latest {:?}", other.map(|c| c.trigger_timestamp))),
            }
        },
    )
    .await
}

/// Lost from a JobManager that restarted: back from the newest checkpoint (newer than the
/// sidecar's savepoint), counting on; a person's cancel is left alone; with only a savepoint
/// it comes back from that; with nothing to restore it stays down, said clearly.
#[each_version(flavor = "multi_thread")]
async fn recovers_a_lost_job_from_its_newest_restore_point(version: &str) {
    let mut cluster = ClusterBuilder::new(version).start().await;
    let layout = layout(&cluster);
    let first = deploy(&cluster, "orders");
    let record = layout
        .current_release("orders")
        .await
        .unwrap()
        .expect("flink-deploy's release record");
    assert_eq!(record.job_id, first.as_str());

    // The sidecar's first round takes a savepoint; the job counts on and checkpoints after it.
    let mut sidecar = sidecar(&cluster, "orders");
    sidecar.wait_metric("savepoints_total", "orders", 1.0).await;
    let savepoint = layout.newest("orders").await.unwrap().unwrap().location;
    let at_savepoint = counter_value(cluster.client(), &first).await.unwrap();
    wait_counter_at_least(cluster.client(), &first, at_savepoint + 50).await;
    checkpoint_after_now(cluster.client(), &first).await;

    cluster.kill_jobmanager();
    let checkpoint = newest_checkpoint(&cluster, &first);
    cluster.restart_jobmanager().await;
    let client = cluster.client();
    let back = recovered(client, "orders").await;
    wait_running(client, &back).await;
    assert_eq!(
        restored_from(client, &back).await.as_deref(),
        Some(checkpoint.as_str())
    );
    let resumed = first_count(client, &back).await;
    assert!(
        resumed >= at_savepoint + 50,
        "restored from the checkpoint, the counter goes on from at least {}: {resumed}",
        at_savepoint + 50
    );
    assert_eq!(back, flink_savepointer::recover::recovery_job_id(&record));
    let now = layout.current_release("orders").await.unwrap().unwrap();
    assert_eq!(now.kind, ReleaseKind::Recovery);
    assert_eq!(now.job_id, back.as_str());
    assert_eq!(now.restored_from.as_deref(), Some(checkpoint.as_str()));
    assert_eq!(now.jar_sha256, record.jar_sha256);
    assert_eq!(
        sidecar.metric("recoveries_total", "orders").await.unwrap(),
        1.0
    );
    assert!(
        sidecar
            .metric("last_recovery_timestamp_seconds", "orders")
            .await
            .unwrap()
            > 0.0
    );
    // The log says what it restored from; the sidecar's savepoint was older.
    let log = sidecar.log();
    assert!(log.contains("restored from retained checkpoint"), "{log}");
    assert!(log.contains(&checkpoint), "{log}");
    assert_ne!(checkpoint, savepoint);

    // A person cancels it: the JobManager remembers the CANCELED job; never recovered.
    client.cancel(&back).await.unwrap();
    wait_terminal(client, &back).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(active_jobs(client, "orders").await.is_empty());
    assert_eq!(
        sidecar.metric("recoveries_total", "orders").await.unwrap(),
        1.0
    );
    assert!(
        sidecar.log().contains("cancelled by a person"),
        "{}",
        sidecar.log()
    );
    // The sidecar writes the cancel down: a JobManager that forgets the cancelled job (its job
    // store expires it, or it restarts) does not make it a lost one.
    eventually("the cancel recorded", Duration::from_secs(30), || async {
        match layout.current_release("orders").await.unwrap() {
            Some(r) if r.intent == Intent::Stopped && r.job_id == back.as_str() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    cluster.kill_jobmanager();
    cluster.restart_jobmanager().await;
    let client = cluster.client();
    tokio::time::sleep(Duration::from_secs(15)).await; // five times the grace
    assert!(active_jobs(client, "orders").await.is_empty());
    assert!(
        sidecar.log().contains("stopped on purpose"),
        "{}",
        sidecar.log()
    );

    // Deployed again, with a savepoint of the new job in the layout; the JobManager dies and
    // the checkpoint directory with it (a lost disk): back from the savepoint.
    let third = deploy(&cluster, "orders");
    let counted = wait_counter_at_least(cluster.client(), &third, 10).await;
    let target = layout.target_dir("orders", time::OffsetDateTime::now_utc());
    let op = cluster
        .client()
        .trigger_savepoint(&third, Some(&target), SavepointFormat::Canonical)
        .await
        .unwrap();
    let newest_savepoint = cluster
        .client()
        .wait_for(&op, Duration::from_secs(90))
        .await
        .unwrap()
        .expect("a savepoint");
    cluster.kill_jobmanager();
    std::fs::remove_dir_all(cluster.dir().join("checkpoints")).unwrap();
    std::fs::create_dir_all(cluster.dir().join("checkpoints")).unwrap();
    cluster.restart_jobmanager().await;
    let client = cluster.client();
    let fourth = recovered(client, "orders").await;
    wait_running(client, &fourth).await;
    assert_eq!(
        restored_from(client, &fourth).await.as_deref(),
        Some(newest_savepoint.as_str())
    );
    assert!(first_count(client, &fourth).await >= counted);
    sidecar.wait_metric("recoveries_total", "orders", 2.0).await;

    // Nothing to restore (the layout's savepoints and the checkpoints gone): no recovery, and
    // the log, /metrics and /readyz say why.
    cluster.kill_jobmanager();
    for dated in std::fs::read_dir(layout_dir(&cluster).join("orders"))
        .unwrap()
        .flatten()
    {
        if dated.file_name() != "_release" {
            std::fs::remove_dir_all(dated.path()).unwrap();
        }
    }
    std::fs::remove_dir_all(cluster.dir().join("checkpoints")).unwrap();
    std::fs::create_dir_all(cluster.dir().join("checkpoints")).unwrap();
    cluster.restart_jobmanager().await;
    sidecar.wait_metric("recovery_refused", "orders", 1.0).await;
    let (code, body) = sidecar.get("/readyz").await.unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("job 'orders': lost and cannot be recovered: nothing to restore"),
        "{body}"
    );
    assert!(
        sidecar.log().contains("would start it with empty state"),
        "{}",
        sidecar.log()
    );
    assert!(active_jobs(cluster.client(), "orders").await.is_empty());
    assert_eq!(
        sidecar.metric("recoveries_total", "orders").await.unwrap(),
        2.0
    );
    sidecar.assert_alive();
}

/// Pauses TaskManager `index` until dropped, so a savepoint cannot complete meanwhile.
struct Paused(u32);

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGCONT);
    }
}

/// Two sidecars at once: one recovery between them, one job, the state carried on.
#[each_version(flavor = "multi_thread")]
async fn two_sidecars_make_one_job(version: &str) {
    let mut cluster = ClusterBuilder::new(version).start().await;
    let first = deploy(&cluster, "orders");
    let counted = wait_counter_at_least(cluster.client(), &first, 10).await;
    let sidecars = [sidecar(&cluster, "orders"), sidecar(&cluster, "orders")];
    for s in &sidecars {
        s.wait_metric("savepoints_total", "orders", 1.0).await;
    }

    cluster.restart_jobmanager().await;
    let client = cluster.client();
    let back = recovered(client, "orders").await;
    wait_running(client, &back).await;
    assert!(first_count(client, &back).await >= counted);
    // Both sidecars looked several times more: still one job, one recovery between them.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(active_jobs(client, "orders").await, [back]);
    let mut total = 0.0;
    for s in &sidecars {
        total += s.metric("recoveries_total", "orders").await.unwrap();
    }
    assert_eq!(total, 1.0);
}

/// A deploy killed between its stop and its run, while the sidecar runs: the job is FINISHED
/// and the deploy's lease left behind. The sidecar waits for the lease to expire, then brings
/// the job back from the stop's savepoint, once.
#[each_version(flavor = "multi_thread")]
async fn a_deploy_killed_between_stop_and_run(version: &str) {
    use std::io::{BufRead, BufReader};
    let cluster = ClusterBuilder::new(version).start().await;
    let layout = layout(&cluster);
    let client = cluster.client();
    let first = deploy(&cluster, "orders");
    let before = wait_counter_at_least(client, &first, 10).await;
    let sidecar = sidecar(&cluster, "orders");
    sidecar.wait_metric("savepoints_total", "orders", 1.0).await;

    // The TaskManager paused holds the stop's savepoint back while the deploy is killed.
    let tm = cluster.taskmanager_pid(0).unwrap();
    let mut child = deploy_command(&cluster, "orders")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut paused = None;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        if line.unwrap().contains("stopping the running job") {
            kill(Pid::from_raw(tm as i32), Signal::SIGSTOP).unwrap();
            paused = Some(Paused(tm));
            break;
        }
    }
    assert!(paused.is_some(), "the deploy never stopped the job");
    tokio::time::sleep(Duration::from_secs(2)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let lease = layout
        .lease("orders")
        .await
        .unwrap()
        .expect("the killed deploy's lease");
    assert!(
        !lease.expired && lease.holder.contains("flink-deploy"),
        "{lease:?}"
    );
    drop(paused);
    wait_terminal(client, &first).await;
    let stop_savepoint = layout.newest("orders").await.unwrap().unwrap().location;

    let again = eventually(
        "the job back after the dead deploy's lease expired",
        Duration::from_secs(120),
        || async {
            match active_jobs(client, "orders").await.as_slice() {
                [one] => Ok(one.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    wait_running(client, &again).await;
    assert_eq!(
        restored_from(client, &again).await.as_deref(),
        Some(stop_savepoint.as_str())
    );
    assert!(first_count(client, &again).await >= before);
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(active_jobs(client, "orders").await, [again]);
    assert_eq!(
        sidecar.metric("recoveries_total", "orders").await.unwrap(),
        1.0
    );
    assert!(
        sidecar.log().contains("holds its lease"),
        "{}",
        sidecar.log()
    );
}
