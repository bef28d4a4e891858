//! The smoke scenarios of every Flink version in the matrix that the full suites do not run on
//! (1.18, 1.19, 2.0, 2.1, 2.2; the full suites cover 1.20 and 2.3): one per binary on a
//! real cluster, and the REST client's lifecycle against that version's real answers.
//!
//! Run only these: `cargo nextest run -p flink-ops-tests -E 'test(/^version_matrix::/)'`, one
//! version with `-E 'test(/^version_matrix::.*_on_flink_1_18$/)'`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use flink_rest::{JobId, JobState, RunJob};
use flink_testkit::{
    counter_value, each_smoke_version, eventually, example_jar, wait_counter_at_least,
    wait_counter_parallelism, ClusterBuilder, JobVariant,
};

use crate::bootstrap::{heartbeat_for, jobmanager_config, slots_become, InstanceGroup, LOCALHOST};
use crate::deploy::{assert_exit, restored_from, running_jobs, Deployer};

/// flink-deploy: a first deploy, an update from the stop's savepoint that carries the state, and
/// a broken release rolled back to the previous jar from the same savepoint.
#[each_smoke_version(flavor = "multi_thread")]
async fn deploy_update_and_rollback(version: &str) {
    let cluster = ClusterBuilder::new(version).start().await;
    let client = cluster.client();
    let d = Deployer::new(&cluster);

    let first = d.deploy("orders", JobVariant::Normal, &[]);
    assert_exit(&first, 0);
    assert!(
        first.report.get("restored_from").is_none(),
        "{}",
        first.report
    );
    let first_job = JobId::new(first.str("new_job_id"));

    // The update restores the stop's savepoint: the new job's counter starts where the old one
    // stopped (a job that lost its state would start again from zero).
    let before = wait_counter_at_least(client, &first_job, 40).await;
    let update = d.deploy("orders", JobVariant::Normal, &[]);
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
    let first_count = eventually(
        "the updated job reports its counter",
        Duration::from_secs(60),
        || counter_value(client, &second_job),
    )
    .await;
    assert!(
        first_count >= before,
        "the updated job counted from {first_count}, the old one had reached {before}"
    );
    assert_eq!(
        client.job(&first_job).await.unwrap().state,
        JobState::Finished
    );

    // A broken release: rolled back to the running jar from the same savepoint, exit 5.
    let broken = d.deploy("orders", JobVariant::Broken, &[]);
    assert_exit(&broken, 5);
    let rollback_job = JobId::new(broken.str("rollback_job_id"));
    let rollback_savepoint = broken.str("savepoint").to_string();
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
    let counted = wait_counter_at_least(client, &rollback_job, first_count + 1).await;
    assert!(counted > first_count);
}

/// flink-bootstrap: a JobManager with the elastic profile and one TaskManager, both rendered
/// from (stand-in) instance metadata; the cluster starts from what was rendered and runs a job.
#[each_smoke_version(flavor = "multi_thread")]
async fn bootstrap_renders_and_the_cluster_starts(version: &str) {
    let group = Arc::new(InstanceGroup::new(version, &[]));
    let cluster = ClusterBuilder::new(version)
        .taskmanagers(1)
        .config("jobmanager.bind-host", LOCALHOST)
        .config("rest.bind-address", LOCALHOST)
        .config("taskmanager.bind-host", LOCALHOST)
        .launcher(Arc::clone(&group).launcher())
        .start()
        .await;
    let client = cluster.client();
    assert_eq!(client.version().await.unwrap().to_string(), version);
    slots_become(client, &[1]).await;

    // The JobManager runs with the profile and the project's metadata, in this version's terms.
    let jm = jobmanager_config(cluster.url()).await;
    let (timeout, _) = heartbeat_for(version);
    for (key, value) in [
        ("jobmanager.scheduler", "adaptive"),
        ("restart-strategy.type", "exponential-delay"),
        ("heartbeat.timeout", timeout),
    ] {
        assert_eq!(jm.get(key).map(String::as_str), Some(value), "{key}");
    }
    // The 2.x name of the adaptive scheduler's wait on 2.x, the old one before.
    let submission = "jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout";
    let old = "jobmanager.adaptive-scheduler.resource-stabilization-timeout";
    let (written, unwritten) = if version.starts_with("2.") {
        (submission, old)
    } else {
        (old, submission)
    };
    assert!(jm.contains_key(written), "{written} not set: {jm:?}");
    assert!(!jm.contains_key(unwritten), "{unwritten} set: {jm:?}");

    // Each process rendered the file this version reads.
    let file = if version.starts_with("1.18.") {
        "flink-conf.yaml"
    } else {
        "config.yaml"
    };
    for name in ["jobmanager", "taskmanager-0"] {
        let rendered = cluster.dir().join(format!("conf-{name}/{file}"));
        assert!(
            rendered.is_file(),
            "{} was not rendered",
            rendered.display()
        );
    }

    // A job runs on it: the adaptive scheduler uses the one slot there is.
    let jar = client
        .upload_jar(
            &example_jar(cluster.dist(), JobVariant::Normal),
            "bootstrap-smoke.jar",
        )
        .await
        .expect("the example jar uploads");
    let job = client
        .run_jar(
            &jar,
            &RunJob {
                program_args: vec!["--name".into(), "elastic".into()],
                parallelism: Some(4),
                ..RunJob::default()
            },
        )
        .await
        .expect("the job is submitted");
    wait_counter_parallelism(client, &job, 1, "on the one TaskManager").await;
    wait_counter_at_least(client, &job, 5).await;
}

/// flink-savepointer `once`: savepoints in the layout, exact names, a failing savepoint, and
/// retention that keeps what a running job restored from (the full suites' scenario).
#[each_smoke_version]
async fn savepointer_once_with_retention(version: &str) {
    crate::savepointer::once(version).await;
}

/// The REST dialect against this version's real answers: the version string, uploads, runs with
/// `programArgsList`, savepoint and stop-with-savepoint bodies, a restore (`restoreMode` before
/// 1.20, `claimMode` since) read back from the checkpoint statistics, disposal, cancel.
#[each_smoke_version]
async fn rest_dialect(version: &str) {
    crate::rest_client::lifecycle(version).await;
}
