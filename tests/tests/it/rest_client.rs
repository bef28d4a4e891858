//! flink-rest against real Flink clusters of every supported version.

use std::time::Duration;

use flink_rest::{ClaimMode, Error, JobId, JobState, OperationStatus, RunJob, SavepointFormat};
use flink_testkit::{
    each_version, eventually, example_jar, wait_counter_at_least, wait_running, wait_terminal,
    ClusterBuilder, JobVariant, EXAMPLE_MAIN_CLASS,
};

#[each_version]
pub(crate) async fn lifecycle(version: &str) {
    let cluster = ClusterBuilder::new(version).start().await;
    let client = cluster.client();
    assert_eq!(client.version().await.unwrap().to_string(), version);
    let tms = client.task_managers().await.unwrap();
    assert_eq!(tms.len(), 1);
    assert_eq!(tms[0].slots_number, 2);

    let dist = cluster.dist().clone();
    let jar = client
        .upload_jar(
            &example_jar(&dist, JobVariant::Normal),
            "flink-deploy--lifecycle--1.jar",
        )
        .await
        .unwrap();
    let listed = client.jars().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|j| j.id == jar && j.name == "flink-deploy--lifecycle--1.jar"),
        "{listed:?}"
    );

    let run = RunJob {
        program_args: vec!["--name".into(), "lifecycle job".into()],
        parallelism: Some(2),
        ..RunJob::default()
    };
    let job = client.run_jar(&jar, &run).await.unwrap();
    wait_running(client, &job).await;
    let named = client.jobs_named("lifecycle job").await.unwrap();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].jid, job);
    assert!(
        client.jobs_named("lifecycle").await.unwrap().is_empty(),
        "names match exactly"
    );

    // A plain savepoint leaves the job running.
    let target = cluster.savepoint_dir().join("manual");
    let target = format!("file://{}", target.display());
    let op = client
        .trigger_savepoint(&job, Some(&target), SavepointFormat::Canonical)
        .await
        .unwrap();
    let first = client
        .wait_for(&op, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(first.contains("/savepoints/manual/savepoint-"), "{first}");
    let first_dir = first.trim_start_matches("file:");
    assert!(
        std::path::Path::new(first_dir).join("_metadata").is_file(),
        "{first}"
    );
    assert_eq!(client.job(&job).await.unwrap().state, JobState::Running);

    // Stop with a savepoint once the counter has moved.
    let before_stop = wait_counter_at_least(client, &job, 20).await;
    let op = client
        .stop_with_savepoint(&job, Some(&target), false, SavepointFormat::Canonical)
        .await
        .unwrap();
    let stopped_at = client
        .wait_for(&op, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    eventually(
        "the stopped job FINISHED",
        Duration::from_secs(30),
        || async {
            let state = client.job(&job).await.map_err(|e| e.to_string())?.state;
            if state == JobState::Finished {
                Ok(())
            } else {
                Err(state.to_string())
            }
        },
    )
    .await;

    // Run again from it: the new job restored exactly that savepoint and the count continued.
    let restored = client
        .run_jar(
            &jar,
            &RunJob {
                savepoint_path: Some(stopped_at.clone()),
                claim_mode: ClaimMode::NoClaim,
                entry_class: Some(EXAMPLE_MAIN_CLASS.into()),
                ..run.clone()
            },
        )
        .await
        .unwrap();
    wait_running(client, &restored).await;
    let stats = client.checkpoints(&restored).await.unwrap();
    let from = stats
        .latest
        .restored
        .expect("the new job restored something");
    assert!(from.is_savepoint);
    assert_eq!(from.external_path.as_deref(), Some(stopped_at.as_str()));
    let after = wait_counter_at_least(client, &restored, before_stop + 1).await;
    assert!(after > before_stop);

    // Dispose the first savepoint: its directory is gone.
    let op = client.dispose_savepoint(&first).await.unwrap();
    assert_eq!(
        client.wait_for(&op, Duration::from_secs(60)).await.unwrap(),
        None
    );
    assert!(
        !std::path::Path::new(first_dir).exists(),
        "{first_dir} still exists"
    );

    // Cancel.
    client.cancel(&restored).await.unwrap();
    assert_eq!(wait_terminal(client, &restored).await, JobState::Canceled);

    client.delete_jar(&jar).await.unwrap();
    assert!(client.jars().await.unwrap().iter().all(|j| j.id != jar));
}

#[each_version]
async fn error_paths(version: &str) {
    let cluster = ClusterBuilder::new(version).start().await;
    let client = cluster.client().clone();
    let client = &client;
    let unknown = JobId::new("00000000000000000000000000000001");
    let err = client.job(&unknown).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string().contains("00000000000000000000000000000001"),
        "{err}"
    );
    let err = client.cancel(&unknown).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = client
        .delete_jar(&flink_rest::JarId::new("nope_x.jar"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound { .. } | Error::Client { .. } | Error::Server { .. }
        ),
        "{err}"
    );
    let err = client
        .run_jar(&flink_rest::JarId::new("nope_x.jar"), &RunJob::default())
        .await
        .unwrap_err();
    assert!(!err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("nope_x.jar"), "{err}");

    // A savepoint into a directory the JobManager cannot write fails with Flink's cause.
    let dist = cluster.dist().clone();
    let jar = client
        .upload_jar(&example_jar(&dist, JobVariant::Normal), "errors.jar")
        .await
        .unwrap();
    let job = client
        .run_jar(
            &jar,
            &RunJob {
                program_args: vec!["--name".into(), "errors".into()],
                ..RunJob::default()
            },
        )
        .await
        .unwrap();
    wait_running(client, &job).await;
    let blocked = cluster.dir().join("not-a-dir");
    std::fs::write(&blocked, "a file where a directory should be").unwrap();
    let target = format!("file://{}/sub", blocked.display());
    let op = client
        .trigger_savepoint(&job, Some(&target), SavepointFormat::Canonical)
        .await
        .unwrap();
    let err = client
        .wait_for(&op, Duration::from_secs(60))
        .await
        .unwrap_err();
    match &err {
        Error::OperationFailed { operation, cause } => {
            assert!(operation.contains(job.as_str()), "{err}");
            assert!(!cause.is_empty());
        }
        other => panic!("expected a failed operation, got {other}"),
    }
    // The failed savepoint left the job running.
    assert_eq!(client.job(&job).await.unwrap().state, JobState::Running);
    assert!(matches!(
        client.operation_status(&op).await.unwrap(),
        OperationStatus::Failed { .. }
    ));

    // A JobManager that is down is "unreachable".
    drop(cluster);
    let err = client.overview().await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
}
