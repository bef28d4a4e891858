//! Helpers several test areas share.

use flink_rest::{ClaimMode, FlinkClient, JobId, RunJob};
use flink_testkit::{example_jar, wait_running, Cluster, JobVariant};

/// The names of the jars on the JobManager, sorted.
pub async fn jar_names(client: &FlinkClient) -> Vec<String> {
    let mut names: Vec<String> = client
        .jars()
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.name)
        .collect();
    names.sort();
    names
}

/// Uploads the example job as `jar_name`, runs it as `job_name` (parallelism 1) and waits until
/// all its tasks run.
pub async fn start_example(cluster: &Cluster, jar_name: &str, job_name: &str) -> JobId {
    let client = cluster.client();
    let jar = client
        .upload_jar(&example_jar(cluster.dist(), JobVariant::Normal), jar_name)
        .await
        .expect("the example jar uploads");
    let job = client
        .run_jar(
            &jar,
            &RunJob {
                program_args: vec!["--name".into(), job_name.into()],
                parallelism: Some(1),
                claim_mode: ClaimMode::NoClaim,
                ..RunJob::default()
            },
        )
        .await
        .expect("the example job starts");
    wait_running(client, &job).await;
    job
}
