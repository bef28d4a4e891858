//! The release record flink-deploy writes beside the savepoints, against real Flink: deploy and
//! update record it (the jar once, the previous release one level deep), `status` shows it,
//! `rollback` puts the previous release back from a savepoint of the running one, also after
//! the JobManager restarted with empty memory (its jars gone), `stop` records the intent, and
//! the job's lease keeps two deploys apart. The record and the lease are read through
//! savepoint-layout, the library the recovery sidecar reads them with.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use flink_rest::{ClaimMode, FlinkClient, JobId, JobState, RunJob};
use flink_testkit::{
    counter_value, each_version, eventually, wait_counter_at_least, wait_running, wait_terminal,
    workspace_bin, Cluster, ClusterBuilder, JobVariant,
};
use savepoint_layout::{Intent, ReleaseKind, ReleaseRecord, SavepointLayout};

use crate::common::{counter_parallelism, jar_names};
use crate::deploy::{assert_exit, finish, restored_from, running_jobs, Deployer, Run};

const JOB: &str = "orders";

/// `flink-deploy SUBCOMMAND` with the JobManager, the job and the layout, JSON out.
fn release_command(cluster: &Cluster, layout: &Path, subcommand: &str, extra: &[&str]) -> Run {
    let out = Command::new(workspace_bin("flink-deploy"))
        .arg(subcommand)
        .args([
            "--jobmanager-url",
            cluster.url().as_str(),
            "--job-name",
            JOB,
        ])
        .arg("--savepoint-dir")
        .arg(layout)
        .args(["--output", "json"])
        .args(extra)
        .env_remove("FLINK_JOBMANAGER_URL")
        .env_remove("FLINK_JOB_NAME")
        .env_remove("FLINK_SAVEPOINT_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("flink-deploy runs");
    finish(out)
}

fn layout_of(d: &Deployer) -> SavepointLayout {
    SavepointLayout::new(d.layout.to_str().unwrap()).unwrap()
}

async fn current(d: &Deployer<'_>) -> ReleaseRecord {
    layout_of(d)
        .current_release(JOB)
        .await
        .unwrap()
        .expect("a release is recorded")
}

/// The first count the job reports: a job restored from the state reports at least what was
/// counted before; a fresh one starts from nothing.
async fn first_count(client: &FlinkClient, job: &JobId) -> u64 {
    eventually(
        &format!("job {job} reports its count"),
        Duration::from_secs(90),
        || async move { counter_value(client, job).await },
    )
    .await
}

fn stored_jars(d: &Deployer) -> Vec<String> {
    let mut jars: Vec<String> = std::fs::read_dir(d.layout.join(JOB).join("_release/jars"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    jars.sort();
    jars
}

/// Deploy, update, status, the JobManager restarted with its jars gone, rollback from the
/// record.
#[each_version(flavor = "multi_thread")]
async fn release_flow(version: &str) {
    let mut cluster = ClusterBuilder::new(version).slots(4).start().await;
    let (first_job, second_job, update_savepoint) = {
        let client = cluster.client();
        let d = Deployer::new(&cluster);

        // First deploy: recorded, with its jar, nothing before it.
        let first = d.deploy(JOB, JobVariant::Normal, &[]);
        assert_exit(&first, 0);
        assert_eq!(first.report["release_recorded"], true, "{}", first.report);
        let first_job = JobId::new(first.str("new_job_id"));
        let record = current(&d).await;
        assert_eq!(record.job_id, first_job.as_str());
        assert_eq!(
            (record.kind, record.intent),
            (ReleaseKind::Deploy, Intent::Running)
        );
        assert_eq!(record.previous, None);
        assert_eq!(record.parallelism, None);
        assert_eq!(record.program_args, ["--name", JOB]);
        assert_eq!(record.flink_version, version.to_string());
        assert_eq!(
            record.flink_config.get("pipeline.name").map(String::as_str),
            Some(JOB)
        );
        let sha = savepoint_layout::file_sha256(&d.jar(JobVariant::Normal)).unwrap();
        assert_eq!(record.jar_sha256, sha);
        assert_eq!(stored_jars(&d), [format!("{sha}.jar")]);
        // The lease was given back.
        assert_eq!(layout_of(&d).lease(JOB).await.unwrap(), None);

        // Update at parallelism 2: the record names the new job, what it restored from, and the
        // first release as previous; the same jar is stored once.
        wait_counter_at_least(client, &first_job, 10).await;
        let update = d.deploy(JOB, JobVariant::Normal, &["--parallelism", "2"]);
        assert_exit(&update, 0);
        let second_job = JobId::new(update.str("new_job_id"));
        let savepoint = update.str("savepoint").to_string();
        let record = current(&d).await;
        assert_eq!(record.job_id, second_job.as_str());
        assert_eq!(record.parallelism, Some(2));
        assert_eq!(record.restored_from.as_deref(), Some(savepoint.as_str()));
        let previous = record
            .previous
            .as_deref()
            .expect("the first release as previous");
        assert_eq!(previous.job_id, first_job.as_str());
        assert_eq!(previous.parallelism, None);
        assert_eq!(previous.previous, None);
        assert_eq!(
            stored_jars(&d),
            [format!("{sha}.jar")],
            "the jar stored once"
        );

        // status shows both, in JSON and in text.
        let status = release_command(&cluster, &d.layout, "status", &[]);
        assert_exit(&status, 0);
        let release = &status.report["release"];
        assert_eq!(
            release["current"]["job_id"],
            second_job.as_str(),
            "{}",
            status.report
        );
        assert_eq!(release["current"]["previous"]["job_id"], first_job.as_str());
        let text = Command::new(workspace_bin("flink-deploy"))
            .args([
                "status",
                "--jobmanager-url",
                cluster.url().as_str(),
                "--job-name",
                JOB,
            ])
            .arg("--savepoint-dir")
            .arg(&d.layout)
            .env_remove("FLINK_JOBMANAGER_URL")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout).to_string();
        let line = |label: &str| {
            text.lines()
                .find(|l| l.starts_with(label))
                .unwrap_or_else(|| panic!("no {label} line in:\n{text}"))
                .to_string()
        };
        assert!(line("current").contains(second_job.as_str()), "{text}");
        assert!(line("previous").contains(first_job.as_str()), "{text}");
        (first_job, second_job, savepoint)
    };

    // The JobManager dies and comes back with empty memory: no jobs. The testkit keeps
    // `web.upload.dir` in the cluster's folder, so its jars are deleted as well, as a new VM
    // (or the default temp upload dir) would have none. The release is put back by hand from
    // the update's savepoint under a jar name flink-deploy does not know (what a recovery
    // would do): the JobManager has no jar of either recorded release.
    let before = wait_counter_at_least(cluster.client(), &second_job, 30).await;
    cluster.restart_jobmanager().await;
    let client = cluster.client();
    assert!(running_jobs(client, JOB).await.is_empty());
    for jar in client.jars().await.unwrap() {
        client.delete_jar(&jar.id).await.unwrap();
    }
    assert!(jar_names(client).await.is_empty());
    let d = Deployer::new(&cluster);
    let by_hand = client
        .upload_jar(&d.jar(JobVariant::Normal), "put-back-by-hand.jar")
        .await
        .unwrap();
    let recovered = client
        .run_jar(
            &by_hand,
            &RunJob {
                program_args: vec!["--name".into(), JOB.into()],
                parallelism: Some(2),
                savepoint_path: Some(update_savepoint.clone()),
                claim_mode: ClaimMode::NoClaim,
                ..RunJob::default()
            },
        )
        .await
        .unwrap();
    wait_running(client, &recovered).await;
    let counted = wait_counter_at_least(client, &recovered, before + 5).await;

    // rollback: the previous (first) release, its jar from the layout, from a savepoint of
    // the running job; its parallelism as recorded, the state carried.
    let rollback = release_command(
        &cluster,
        &d.layout,
        "rollback",
        &["--startup-timeout", "90s", "--stable-for", "2s"],
    );
    assert_exit(&rollback, 0);
    assert_eq!(rollback.str("old_job_id"), recovered.as_str());
    let rolled = JobId::new(rollback.str("new_job_id"));
    let rollback_savepoint = rollback.str("savepoint").to_string();
    assert!(
        rollback_savepoint.contains("/layout/orders/"),
        "{rollback_savepoint}"
    );
    assert_eq!(
        restored_from(client, &rolled).await.as_deref(),
        Some(rollback_savepoint.as_str())
    );
    assert_eq!(running_jobs(client, JOB).await, vec![rolled.clone()]);
    assert_eq!(
        counter_parallelism(client, &rolled).await,
        1,
        "the first release's parallelism"
    );
    let carried = first_count(client, &rolled).await;
    assert!(
        carried >= counted,
        "restored count {carried}, counted before {counted}"
    );
    assert!(
        jar_names(client)
            .await
            .iter()
            .any(|n| n.starts_with("flink-deploy--orders--")),
        "the recorded jar was uploaded: {:?}",
        jar_names(client).await
    );
    let record = current(&d).await;
    assert_eq!(
        (record.kind, record.job_id.as_str()),
        (ReleaseKind::Rollback, rolled.as_str())
    );
    assert_eq!(record.parallelism, None);
    assert_eq!(
        record.restored_from.as_deref(),
        Some(rollback_savepoint.as_str())
    );
    assert_eq!(
        record.previous.as_deref().map(|p| p.job_id.as_str()),
        Some(second_job.as_str()),
        "the release rolled away from is the previous one now"
    );
    let _ = first_job;
}

/// stop records the intent and a later deploy records the job running again; the lease held
/// by another refuses deploy and rollback with nothing changed, an expired one is taken over.
#[each_version(flavor = "multi_thread")]
async fn stop_and_lease(version: &str) {
    let cluster = ClusterBuilder::new(version).slots(2).start().await;
    let client = cluster.client();
    let d = Deployer::new(&cluster);
    let first = d.deploy(JOB, JobVariant::Normal, &[]);
    assert_exit(&first, 0);
    let rolled = JobId::new(first.str("new_job_id"));
    let counted = wait_counter_at_least(client, &rolled, 10).await;

    // stop: with a savepoint into the layout, recorded as stopped on purpose.
    let stop = release_command(&cluster, &d.layout, "stop", &[]);
    assert_exit(&stop, 0);
    assert_eq!(stop.str("outcome"), "stopped");
    let stopped_with = stop.str("savepoint").to_string();
    assert!(Path::new(stopped_with.trim_start_matches("file:"))
        .join("_metadata")
        .is_file());
    assert_eq!(wait_terminal(client, &rolled).await, JobState::Finished);
    assert!(running_jobs(client, JOB).await.is_empty());
    let record = current(&d).await;
    assert_eq!(
        (record.kind, record.intent),
        (ReleaseKind::Stop, Intent::Stopped)
    );
    assert_eq!(record.stopped_with.as_deref(), Some(stopped_with.as_str()));
    assert_eq!(record.job_id, rolled.as_str());
    // Nothing runs: a second stop is refused, and changes nothing.
    let again = release_command(&cluster, &d.layout, "stop", &[]);
    assert_exit(&again, 2);
    assert!(
        again.str("message").contains("nothing to stop"),
        "{}",
        again.report
    );
    assert_eq!(current(&d).await, record);

    // A later deploy restores from the stop's savepoint and records the job running again.
    let back = d.deploy(JOB, JobVariant::Normal, &[]);
    assert_exit(&back, 0);
    assert_eq!(back.str("restored_from"), stopped_with);
    let back_job = JobId::new(back.str("new_job_id"));
    let carried = first_count(client, &back_job).await;
    assert!(
        carried >= counted,
        "restored count {carried}, counted before {counted}"
    );
    let record = current(&d).await;
    assert_eq!(
        (record.kind, record.intent),
        (ReleaseKind::Deploy, Intent::Running)
    );
    assert_eq!(record.job_id, back_job.as_str());

    // A lease held by someone else: refused with its holder named, exit 12, nothing changed.
    let layout = layout_of(&d);
    let held = layout
        .acquire_lease(JOB, "a deploy elsewhere", Duration::from_secs(600))
        .await
        .unwrap()
        .expect("the lease is free");
    let jars = jar_names(client).await;
    let refused = d.deploy(JOB, JobVariant::Normal, &[]);
    assert_exit(&refused, 12);
    let message = refused.str("message");
    assert!(message.contains("a deploy elsewhere"), "{message}");
    assert!(message.contains(&held.info().expires_at), "{message}");
    assert!(message.contains("Nothing was changed"), "{message}");
    assert_eq!(running_jobs(client, JOB).await, vec![back_job.clone()]);
    assert_eq!(jar_names(client).await, jars);
    assert_eq!(current(&d).await, record);
    let rollback_refused = release_command(&cluster, &d.layout, "rollback", &[]);
    assert_exit(&rollback_refused, 12);
    assert_eq!(running_jobs(client, JOB).await, vec![back_job.clone()]);
    layout.drop_lease(held).await.unwrap();

    // An expired lease (its holder was killed half-way) is taken over.
    let _stale = layout
        .acquire_lease(JOB, "a killed deploy", Duration::ZERO)
        .await
        .unwrap()
        .expect("the lease is free");
    let taken_over = d.deploy(JOB, JobVariant::Normal, &[]);
    assert_exit(&taken_over, 0);
    assert!(
        taken_over.stderr.contains("taking over an expired lease"),
        "{}",
        taken_over.stderr
    );
    assert_eq!(current(&d).await.job_id, taken_over.str("new_job_id"));
    assert_eq!(layout.lease(JOB).await.unwrap(), None);
}

/// A record that cannot be written after a successful deploy: a warning, exit 13, and the job
/// runs. The records' folder is a file, so the store refuses that write only (the lease and
/// the jar are written beside it).
#[each_version(flavor = "multi_thread")]
async fn record_write_failure(version: &str) {
    let cluster = ClusterBuilder::new(version).slots(2).start().await;
    let client = cluster.client();
    let d = Deployer::new(&cluster);
    let release = d.layout.join(JOB).join("_release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::write(
        release.join("records"),
        "a file where the records' folder should be",
    )
    .unwrap();

    let run = d.deploy(JOB, JobVariant::Normal, &[]);
    assert_exit(&run, 13);
    assert_eq!(run.report["release_recorded"], false, "{}", run.report);
    let job = JobId::new(run.str("new_job_id"));
    let message = run.str("message");
    assert!(
        message.contains(&format!("job {job} runs and is healthy")),
        "{message}"
    );
    assert!(message.contains("could not be written"), "{message}");
    assert!(
        run.stderr.contains("could not be written"),
        "{}",
        run.stderr
    );
    assert_eq!(running_jobs(client, JOB).await, vec![job.clone()]);
    assert_eq!(client.job(&job).await.unwrap().state, JobState::Running);
    assert_eq!(layout_of(&d).current_release(JOB).await.unwrap(), None);
    // The lease was given back all the same.
    assert_eq!(layout_of(&d).lease(JOB).await.unwrap(), None);
}
