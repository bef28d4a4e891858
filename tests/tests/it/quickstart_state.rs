//! The quickstart's "state carried over" verdict, on real Flink: an update that restores the
//! stop's savepoint passes it, and one that starts the new job without it (state lost) fails it.

use std::time::Duration;

use flink_ops_quickstart::verify::{evidence, judge, StateLost};
use flink_rest::{RunJob, SavepointFormat};
use flink_testkit::{
    example_jar, wait_counter_at_least, wait_running, wait_terminal, ClusterBuilder, JobVariant,
};

#[tokio::test]
async fn the_quickstart_verdict_catches_an_update_that_lost_its_state() {
    let cluster = ClusterBuilder::new("2.3.0").start().await;
    let client = cluster.client();
    let jar = client
        .upload_jar(
            &example_jar(cluster.dist(), JobVariant::Normal),
            "verdict.jar",
        )
        .await
        .unwrap();
    let target = format!("file://{}", cluster.savepoint_dir().display());
    let run = |savepoint: Option<String>| RunJob {
        savepoint_path: savepoint,
        ..RunJob::default()
    };

    // Each round: count, stop with a savepoint, start the next job with or without it.
    let mut job = client.run_jar(&jar, &run(None)).await.unwrap();
    for keep_state in [true, false] {
        wait_running(client, &job).await;
        let before = wait_counter_at_least(client, &job, 30).await;
        let op = client
            .stop_with_savepoint(&job, Some(&target), false, SavepointFormat::Canonical)
            .await
            .unwrap();
        let savepoint = client
            .wait_for(&op, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        wait_terminal(client, &job).await;
        job = client
            .run_jar(&jar, &run(keep_state.then(|| savepoint.clone())))
            .await
            .unwrap();
        let shown = evidence(client, &job).await.unwrap();
        let verdict = judge(before, Some(&savepoint), &shown);
        if keep_state {
            assert_eq!(verdict, Ok(()), "{shown:?}");
        } else {
            assert_eq!(verdict, Err(StateLost::NothingRestored), "{shown:?}");
        }
    }
}
