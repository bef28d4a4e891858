//! flink-deploy, the built binary, against real Flink clusters.

use crate::common::jar_names;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use flink_rest::{FlinkClient, JobId, JobState, RunJob};
use flink_testkit::{
    each_version, eventually, example_jar, wait_counter_at_least, wait_terminal, workspace_bin,
    Cluster, ClusterBuilder, JobVariant, SUPPORTED_VERSIONS,
};
use serde_json::Value;

pub(crate) struct Deployer<'a> {
    pub(crate) cluster: &'a Cluster,
    pub(crate) layout: PathBuf,
}

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) report: Value,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn str(&self, key: &str) -> &str {
        self.report[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}\n{}", self.report, self.stderr))
    }
}

impl<'a> Deployer<'a> {
    pub(crate) fn new(cluster: &'a Cluster) -> Self {
        Self {
            cluster,
            layout: cluster.dir().join("layout"),
        }
    }

    pub(crate) fn jar(&self, variant: JobVariant) -> PathBuf {
        example_jar(self.cluster.dist(), variant)
    }

    pub(crate) fn command(
        &self,
        subcommand: &str,
        job: &str,
        jar: &Path,
        extra: &[&str],
    ) -> Command {
        self.command_into(&self.layout, subcommand, job, jar, extra)
    }

    pub(crate) fn command_into(
        &self,
        layout: &Path,
        subcommand: &str,
        job: &str,
        jar: &Path,
        extra: &[&str],
    ) -> Command {
        let mut cmd = Command::new(workspace_bin("flink-deploy"));
        cmd.arg(subcommand)
            .args([
                "--jobmanager-url",
                self.cluster.url().as_str(),
                "--job-name",
                job,
                "--jar",
            ])
            .arg(jar)
            .arg("--savepoint-dir")
            .arg(layout)
            .args(["--startup-timeout", "90s", "--output", "json"])
            .args(extra)
            .env_remove("FLINK_JOBMANAGER_URL")
            .env_remove("FLINK_JOB_NAME")
            .env_remove("FLINK_SAVEPOINT_DIR")
            .stdin(Stdio::null());
        if !extra.contains(&"--stable-for") {
            cmd.args(["--stable-for", "2s"]);
        }
        cmd.args(["--", "--name", job]);
        cmd
    }

    pub(crate) fn run(&self, subcommand: &str, job: &str, jar: &Path, extra: &[&str]) -> Run {
        finish(
            self.command(subcommand, job, jar, extra)
                .output()
                .expect("flink-deploy runs"),
        )
    }

    pub(crate) fn deploy(&self, job: &str, variant: JobVariant, extra: &[&str]) -> Run {
        self.run("deploy", job, &self.jar(variant), extra)
    }
}

pub(crate) fn finish(out: Output) -> Run {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("stdout is not one JSON object ({e}): {stdout}\nstderr:\n{stderr}")
    });
    Run {
        code: out.status.code().expect("an exit code"),
        report,
        stderr,
    }
}

pub(crate) fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.code, code,
        "exit code; report {}\nstderr:\n{}",
        run.report, run.stderr
    );
}

pub(crate) async fn running_jobs(client: &FlinkClient, name: &str) -> Vec<JobId> {
    client
        .jobs_named(name)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.state.is_active())
        .map(|j| j.jid)
        .collect()
}

pub(crate) async fn restored_from(client: &FlinkClient, job: &JobId) -> Option<String> {
    client
        .checkpoints(job)
        .await
        .unwrap()
        .latest
        .restored
        .and_then(|r| r.external_path)
}

/// The update's downtime by the JobManager's records, read with plain GETs: the trigger time of
/// the old job's savepoint at `savepoint` to the last RUNNING time of the new job's subtasks.
async fn flink_downtime_ms(cluster: &Cluster, old: &JobId, savepoint: &str, new: &JobId) -> u64 {
    let get = |path: String| async move {
        let url = cluster.url().join(&path).unwrap();
        reqwest::get(url)
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let path = |p: &str| {
        p.trim_start_matches("file:")
            .trim_start_matches("//")
            .to_string()
    };
    let history = get(format!("jobs/{old}/checkpoints")).await;
    let triggered = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["is_savepoint"] == true
                && c["external_path"].as_str().map(path) == Some(path(savepoint))
        })
        .and_then(|c| c["trigger_timestamp"].as_i64())
        .unwrap_or_else(|| panic!("no savepoint {savepoint} in {history}"));
    let details = get(format!("jobs/{new}")).await;
    let mut running = 0;
    for vertex in details["vertices"].as_array().unwrap() {
        let times = get(format!(
            "jobs/{new}/vertices/{}/subtasktimes",
            vertex["id"].as_str().unwrap()
        ))
        .await;
        for subtask in times["subtasks"].as_array().unwrap() {
            running = running.max(subtask["timestamps"]["RUNNING"].as_i64().unwrap());
        }
    }
    u64::try_from(running - triggered).unwrap()
}

/// First deploy, updates (state carried over, new parallelism), plan,
/// broken and incompatible releases, a failing savepoint, restore of a
/// stopped job from the layout, and exact name matching.
#[each_version(flavor = "multi_thread")]
async fn update_flow(version: &str) {
    let cluster = ClusterBuilder::new(version).slots(4).start().await;
    let client = cluster.client();
    let d = Deployer::new(&cluster);

    // First deploy: fresh start.
    let first = d.deploy("orders", JobVariant::Normal, &[]);
    assert_exit(&first, 0);
    assert!(
        first.report.get("restored_from").is_none(),
        "{}",
        first.report
    );
    let first_job = JobId::new(first.str("new_job_id"));
    assert_eq!(
        client.job(&first_job).await.unwrap().state,
        JobState::Running
    );

    // A neighbour whose name contains ours must never be touched.
    let neighbour = d.deploy("orders-v2", JobVariant::Normal, &[]);
    assert_exit(&neighbour, 0);
    let neighbour_job = JobId::new(neighbour.str("new_job_id"));

    // plan changes nothing.
    let jars_before = jar_names(client).await;
    let plan = d.run("plan", "orders", &d.jar(JobVariant::Normal), &[]);
    assert_exit(&plan, 0);
    assert_eq!(plan.report["start"]["kind"], "update");
    assert_eq!(plan.report["start"]["job_id"], first_job.as_str());
    assert_eq!(jar_names(client).await, jars_before);
    assert_eq!(
        running_jobs(client, "orders").await,
        vec![first_job.clone()]
    );

    // Update with a new parallelism: the new job restores the stop's savepoint and keeps counting.
    let before = wait_counter_at_least(client, &first_job, 20).await;
    let update = d.deploy("orders", JobVariant::Normal, &["--parallelism", "2"]);
    assert_exit(&update, 0);
    assert_eq!(update.str("old_job_id"), first_job.as_str());
    let savepoint = update.str("savepoint").to_string();
    assert!(savepoint.contains("/layout/orders/"), "{savepoint}");
    assert!(Path::new(savepoint.trim_start_matches("file:"))
        .join("_metadata")
        .is_file());
    let second_job = JobId::new(update.str("new_job_id"));
    assert_eq!(
        restored_from(client, &second_job).await.as_deref(),
        Some(savepoint.as_str())
    );
    assert!(wait_counter_at_least(client, &second_job, before + 1).await > before);
    let details = client.job(&second_job).await.unwrap();
    assert!(
        details
            .vertices
            .iter()
            .any(|v| v.name.contains("counter") && v.parallelism == 2),
        "{details:?}"
    );
    // The downtime is Flink's own: the JobManager's records, read here independently, raw.
    let reported = update.report["timings_ms"]["downtime"].as_u64();
    let observed = update.report["timings_ms"]["observed_downtime"].as_u64();
    let records = flink_downtime_ms(&cluster, &first_job, &savepoint, &second_job).await;
    assert_eq!(reported, Some(records), "{}", update.report);
    // The REST view lags behind those records; it never sees the job back sooner.
    assert!(observed.is_some_and(|o| o >= records), "{}", update.report);
    assert_eq!(
        client.job(&first_job).await.unwrap().state,
        JobState::Finished
    );
    assert_eq!(
        running_jobs(client, "orders-v2").await,
        vec![neighbour_job.clone()]
    );

    // A broken release rolls back to the previous jar from the same savepoint: exit 5.
    let broken = d.deploy("orders", JobVariant::Broken, &[]);
    assert_exit(&broken, 5);
    let rollback_job = JobId::new(broken.str("rollback_job_id"));
    let rollback_savepoint = broken.str("savepoint").to_string();
    assert!(
        broken.str("message").contains(&rollback_savepoint),
        "{}",
        broken.report
    );
    assert!(
        broken.str("message").contains("broken release"),
        "Flink's cause is shown: {}",
        broken.report
    );
    assert_eq!(
        running_jobs(client, "orders").await,
        vec![rollback_job.clone()]
    );
    assert_eq!(
        restored_from(client, &rollback_job).await.as_deref(),
        Some(rollback_savepoint.as_str())
    );
    let after_rollback = wait_counter_at_least(client, &rollback_job, before + 1).await;

    // An incompatible release: refused state mapping rolls back; with the flag it deploys.
    let incompatible = d.deploy("orders", JobVariant::Incompatible, &[]);
    assert_exit(&incompatible, 5);
    assert!(
        incompatible
            .str("message")
            .to_lowercase()
            .contains("allownonrestoredstate"),
        "{}",
        incompatible.report
    );
    let current = running_jobs(client, "orders").await;
    assert_eq!(current.len(), 1);
    let allowed = d.deploy(
        "orders",
        JobVariant::Incompatible,
        &["--allow-non-restored-state"],
    );
    assert_exit(&allowed, 0);
    let incompatible_job = JobId::new(allowed.str("new_job_id"));
    assert_eq!(
        running_jobs(client, "orders").await,
        vec![incompatible_job.clone()]
    );
    let _ = after_rollback;

    // A layout root that is a file: the job's lease cannot be taken there, so nothing is
    // touched (exit 2), the job runs on, no jar left behind.
    let jars_before = jar_names(client).await;
    let not_a_dir = cluster.dir().join("not-a-dir");
    std::fs::write(&not_a_dir, "a file where a directory should be").unwrap();
    let cmd = d.command_into(
        &not_a_dir,
        "deploy",
        "orders",
        &d.jar(JobVariant::Incompatible),
        &[],
    );
    let refused = finish({ cmd }.output().unwrap());
    assert_exit(&refused, 2);
    assert!(
        refused.str("message").contains("cannot take the lease"),
        "{}",
        refused.report
    );
    assert_eq!(
        running_jobs(client, "orders").await,
        vec![incompatible_job.clone()]
    );
    assert_eq!(jar_names(client).await, jars_before);

    // A savepoint the JobManager cannot write (a file where the dated folder of these minutes
    // should be): exit 4, the job still runs, no jar left behind.
    let blocked = cluster.dir().join("blocked-layout");
    let blocked_layout = savepoint_layout::SavepointLayout::new(blocked.to_str().unwrap()).unwrap();
    for minute in -1..6 {
        let at = time::OffsetDateTime::now_utc() + time::Duration::minutes(minute);
        let dated = blocked_layout.target_dir("orders", at);
        let dated = Path::new(dated.trim_start_matches("file://"));
        std::fs::create_dir_all(dated.parent().unwrap()).unwrap();
        std::fs::write(dated, "a file where a directory should be").unwrap();
    }
    let cmd = d.command_into(
        &blocked,
        "deploy",
        "orders",
        &d.jar(JobVariant::Incompatible),
        &[],
    );
    let failed = finish({ cmd }.output().unwrap());
    assert_exit(&failed, 4);
    assert!(
        failed
            .str("message")
            .contains("still RUNNING; nothing was changed"),
        "{}",
        failed.report
    );
    assert_eq!(
        running_jobs(client, "orders").await,
        vec![incompatible_job.clone()]
    );
    assert_eq!(jar_names(client).await, jars_before);

    // Not running, savepoints on disk: the newest one is restored.
    let stop = client
        .stop_with_savepoint(
            &incompatible_job,
            // Now, so it is the newest (a folder dated in the future would be ignored).
            Some(
                &savepoint_layout::SavepointLayout::new(d.layout.to_str().unwrap())
                    .unwrap()
                    .target_dir("orders", time::OffsetDateTime::now_utc()),
            ),
            false,
            flink_rest::SavepointFormat::Canonical,
        )
        .await
        .unwrap();
    let newest = client
        .wait_for(&stop, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let restore = d.deploy("orders", JobVariant::Incompatible, &[]);
    assert_exit(&restore, 0);
    assert_eq!(restore.str("restored_from"), newest);
    let restored_job = JobId::new(restore.str("new_job_id"));
    assert_eq!(
        restored_from(client, &restored_job).await.as_deref(),
        Some(newest.as_str())
    );

    // Old jars are pruned to --keep-jars (2 by default).
    let ours = jar_names(client)
        .await
        .into_iter()
        .filter(|n| n.starts_with("flink-deploy--orders--"))
        .count();
    assert_eq!(ours, 2);
}

/// Refusals: two running jobs with one name, an unexpected fresh start.
#[each_version(flavor = "multi_thread")]
async fn refusals(version: &str) {
    let cluster = ClusterBuilder::new(version).slots(4).start().await;
    let client = cluster.client();
    let d = Deployer::new(&cluster);
    let jar = d.jar(JobVariant::Normal);

    // Two jobs named "dup": refused, both untouched.
    let uploaded = client.upload_jar(&jar, "manual.jar").await.unwrap();
    let run = RunJob {
        program_args: vec!["--name".into(), "dup".into()],
        ..RunJob::default()
    };
    let a = client.run_jar(&uploaded, &run).await.unwrap();
    let b = client.run_jar(&uploaded, &run).await.unwrap();
    eventually("both dup jobs RUNNING", Duration::from_secs(60), || async {
        let n = running_jobs(client, "dup").await.len();
        if n == 2 {
            Ok(())
        } else {
            Err(format!("{n} running"))
        }
    })
    .await;
    let jars_before = jar_names(client).await;
    let dup = d.deploy("dup", JobVariant::Normal, &[]);
    assert_exit(&dup, 2);
    assert!(
        dup.str("message").contains(a.as_str()) && dup.str("message").contains(b.as_str()),
        "{}",
        dup.report
    );
    let mut running = running_jobs(client, "dup").await;
    running.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(running, expected);
    assert_eq!(jar_names(client).await, jars_before);

    // A job that ran before (an incomplete savepoint of it in the layout) but has nothing to restore.
    std::fs::create_dir_all(d.layout.join("ghost/2026-11-23-18-15/savepoint-abcdef-123")).unwrap();
    let ghost = d.deploy("ghost", JobVariant::Normal, &[]);
    assert_exit(&ghost, 2);
    assert!(
        ghost.str("message").contains("--allow-fresh-start"),
        "{}",
        ghost.report
    );
    assert!(running_jobs(client, "ghost").await.is_empty());
    assert_eq!(jar_names(client).await, jars_before);
    let allowed = d.deploy("ghost", JobVariant::Normal, &["--allow-fresh-start"]);
    assert_exit(&allowed, 0);
    assert_eq!(running_jobs(client, "ghost").await.len(), 1);

    // A job cancelled without a savepoint in the layout: the JobManager's retained checkpoint is used.
    let ghost_job = JobId::new(allowed.str("new_job_id"));
    wait_counter_at_least(client, &ghost_job, 5).await;
    eventually(
        "a completed checkpoint",
        Duration::from_secs(30),
        || async {
            let c = client
                .checkpoints(&ghost_job)
                .await
                .map_err(|e| e.to_string())?;
            match c.latest.completed.and_then(|c| c.external_path) {
                Some(_) => Ok(()),
                None => Err("none yet".into()),
            }
        },
    )
    .await;
    client.cancel(&ghost_job).await.unwrap();
    wait_terminal(client, &ghost_job).await;
    let again = d.deploy("ghost", JobVariant::Normal, &[]);
    if again.code != 0 {
        let stats = client.checkpoints(&ghost_job).await;
        let on_disk: Vec<_> =
            std::fs::read_dir(cluster.dir().join("checkpoints").join(ghost_job.as_str()))
                .map(|d| d.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
        panic!("exit {}: {}\nthe cancelled job's checkpoint statistics: {stats:?}\non disk: {on_disk:?}", again.code, again.report);
    }
    assert!(
        again.str("restored_from").contains("/checkpoints/"),
        "{}",
        again.report
    );
}

/// Every bad input: a clear message, its exit code, and the cluster untouched.
#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_change_nothing() {
    let cluster = ClusterBuilder::new(SUPPORTED_VERSIONS[1]).start().await;
    let client = cluster.client();
    let d = Deployer::new(&cluster);
    let first = d.deploy("orders", JobVariant::Normal, &[]);
    assert_exit(&first, 0);
    let job = JobId::new(first.str("new_job_id"));
    let jars = jar_names(client).await;

    let dir = tempfile::tempdir().unwrap();
    let not_a_jar = dir.path().join("job.jar");
    std::fs::write(&not_a_jar, "just text").unwrap();
    let spec = dir.path().join("deploy.yaml");
    std::fs::write(&spec, "job-name: orders\nparalelism: 4\n").unwrap();
    let good_jar = d.jar(JobVariant::Normal);
    let unreachable = format!("http://127.0.0.1:{}", flink_testkit::free_port());
    let spec_arg = spec.display().to_string();
    let cases: Vec<(&str, PathBuf, Vec<&str>, i32, &str)> = vec![
        (
            "missing jar",
            dir.path().join("nope.jar"),
            vec![],
            2,
            "does not exist",
        ),
        ("not a jar", not_a_jar.clone(), vec![], 2, "is not a jar"),
        (
            "unknown spec key",
            good_jar.clone(),
            vec!["--config-file", &spec_arg],
            2,
            "did you mean 'parallelism'?",
        ),
        (
            "bad duration",
            good_jar.clone(),
            vec!["--savepoint-timeout", "soon"],
            2,
            "not a duration",
        ),
        (
            "bare number duration",
            good_jar.clone(),
            vec!["--stable-for", "30"],
            2,
            "no unit",
        ),
    ];
    for (what, jar, extra, code, message) in cases {
        let out = d
            .command("deploy", "orders", &jar, &extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{what}: {stdout}\n{stderr}");
        assert!(
            stdout.contains(message) || stderr.contains(message),
            "{what}: expected '{message}' in:\n{stdout}\n{stderr}"
        );
    }

    // A URL that is not one, and a JobManager nobody answers at.
    let mut bad_url = Command::new(workspace_bin("flink-deploy"));
    bad_url
        .args([
            "deploy",
            "--jobmanager-url",
            "not a url",
            "--job-name",
            "orders",
            "--jar",
        ])
        .arg(&good_jar);
    let out = bad_url.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--jobmanager-url"));
    let mut down = Command::new(workspace_bin("flink-deploy"));
    down.args([
        "deploy",
        "--output",
        "json",
        "--jobmanager-url",
        &unreachable,
        "--job-name",
        "orders",
        "--jar",
    ])
    .arg(&good_jar);
    let down = finish(down.output().unwrap());
    assert_exit(&down, 3);
    assert!(
        down.str("message").contains("unreachable"),
        "{}",
        down.report
    );

    // Nothing changed.
    assert_eq!(running_jobs(client, "orders").await, vec![job]);
    assert_eq!(jar_names(client).await, jars);
}

/// A deployer killed mid-update and run again converges: one job of the
/// name, restored from a savepoint, never a fresh start.
#[each_version(flavor = "multi_thread")]
async fn killed_mid_update(version: &str) {
    use std::io::{BufRead, BufReader};
    let cluster = ClusterBuilder::new(version).slots(4).start().await;
    let client = cluster.client();
    let d = Deployer::new(&cluster);
    let first = d.deploy("orders", JobVariant::Normal, &[]);
    assert_exit(&first, 0);
    let before = wait_counter_at_least(client, &JobId::new(first.str("new_job_id")), 10).await;

    for kill_after in ["stopping the running job", "submitted"] {
        let mut child = d
            .command(
                "deploy",
                "orders",
                &d.jar(JobVariant::Normal),
                &["--stable-for", "60s"],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut seen = Vec::new();
        for line in BufReader::new(child.stderr.take().unwrap()).lines() {
            let line = line.unwrap();
            let hit = line.contains(kill_after);
            seen.push(line);
            if hit {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            seen.last().is_some_and(|l| l.contains(kill_after)),
            "never saw '{kill_after}':\n{}",
            seen.join("\n")
        );

        let again = d.deploy("orders", JobVariant::Normal, &[]);
        assert_exit(&again, 0);
        let running = running_jobs(client, "orders").await;
        assert_eq!(
            running.len(),
            1,
            "after a kill at '{kill_after}': {running:?}"
        );
        let restored = again.str("restored_from").to_string();
        assert!(restored.contains("/layout/orders/"), "{}", again.report);
        assert!(wait_counter_at_least(client, &running[0], before + 1).await > before);
    }
}

/// The sidecar and the deployer share one layout: after the job is cancelled, a deploy restores
/// from the newest restore point, the sidecar's savepoint or, when the job checkpointed after
/// it, the cancelled job's newest retained checkpoint; plan says which and why.
#[each_version(flavor = "multi_thread")]
async fn restores_the_sidecars_savepoint(version: &str) {
    let cluster = ClusterBuilder::new(version).start().await;
    let client = cluster.client();
    let d = Deployer::new(&cluster);
    let first = d.deploy("orders", JobVariant::Normal, &[]);
    assert_exit(&first, 0);
    let job = JobId::new(first.str("new_job_id"));
    let counted = wait_counter_at_least(client, &job, 10).await;

    let out = Command::new(workspace_bin("flink-savepointer"))
        .args([
            "once",
            "--jobmanager-url",
            cluster.url().as_str(),
            "--job-name",
            "orders",
            "--target-dir",
        ])
        .arg(&d.layout)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layout = savepoint_layout::SavepointLayout::new(d.layout.to_str().unwrap()).unwrap();
    let sidecars = layout
        .newest("orders")
        .await
        .unwrap()
        .expect("the sidecar's savepoint")
        .location;

    // A checkpoint completes after the savepoint (ids count both), then the job is cancelled:
    // its checkpoints are retained and the newest of them is newer than the savepoint.
    let savepoint_id = client
        .checkpoints(&job)
        .await
        .unwrap()
        .latest
        .savepoint
        .expect("the savepoint")
        .id;
    eventually(
        "a checkpoint after the savepoint",
        Duration::from_secs(30),
        || async {
            let latest = client
                .checkpoints(&job)
                .await
                .map_err(|e| e.to_string())?
                .latest
                .completed;
            match latest {
                Some(c) if c.id > savepoint_id => Ok(()),
                other => Err(format!("latest {:?}", other.map(|c| c.id))),
            }
        },
    )
    .await;
    client.cancel(&job).await.unwrap();
    wait_terminal(client, &job).await;
    let expected = crate::common::newest_checkpoint(&cluster, &job);

    let plan = d.run("plan", "orders", &d.jar(JobVariant::Normal), &[]);
    assert_exit(&plan, 0);
    assert_eq!(
        plan.report["start"]["path"],
        expected.as_str(),
        "{}",
        plan.report
    );
    let why = plan.report["start"]["found_in"].as_str().unwrap();
    assert!(
        why.contains("retained checkpoint")
            && why.contains(&format!("of job {job}"))
            && why.contains(&format!(
                "newer than the layout's newest, savepoint {sidecars} taken"
            )),
        "{}",
        plan.report
    );
    let again = d.deploy("orders", JobVariant::Normal, &[]);
    assert_exit(&again, 0);
    assert_eq!(again.str("restored_from"), expected);
    let restored = JobId::new(again.str("new_job_id"));
    assert_eq!(
        restored_from(client, &restored).await.as_deref(),
        Some(expected.as_str())
    );
    assert!(wait_counter_at_least(client, &restored, counted).await >= counted);

    // Stopped with a savepoint (Flink discards a finished job's checkpoints): the savepoint wins.
    let stopped = client
        .stop_with_savepoint(
            &restored,
            Some(&layout.target_dir("orders", time::OffsetDateTime::now_utc())),
            false,
            flink_rest::SavepointFormat::Canonical,
        )
        .await
        .unwrap();
    let final_savepoint = client
        .wait_for(&stopped, Duration::from_secs(90))
        .await
        .unwrap()
        .expect("a savepoint location");
    wait_terminal(client, &restored).await;
    let last = d.deploy("orders", JobVariant::Normal, &[]);
    assert_exit(&last, 0);
    assert_eq!(
        last.str("restored_from"),
        final_savepoint,
        "{}",
        last.report
    );
}
