//! `flink-deploy scale` on real Flink 1.20 and 2.3: the adaptive scheduler rescales the running
//! job in place (same job id) and its keyed state carries on; the default scheduler is refused
//! with Flink's own answer and the job left as it was.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use flink_rest::{FlinkClient, JobId};
use flink_testkit::{
    counter_value, each_version, eventually, wait_counter_at_least, wait_counter_parallelism,
    workspace_bin, Cluster, ClusterBuilder,
};
use serde_json::Value;

use crate::common::{counter_parallelism, elastic_cluster, start_example_with};

fn scale(cluster: &Cluster, args: &[&str]) -> (i32, Value, String) {
    let out: Output = Command::new(workspace_bin("flink-deploy"))
        .arg("scale")
        .args([
            "--jobmanager-url",
            cluster.url().as_str(),
            "--output",
            "json",
        ])
        .args(args)
        .env_remove("FLINK_JOBMANAGER_URL")
        .env_remove("FLINK_JOB_NAME")
        .stdin(Stdio::null())
        .output()
        .expect("flink-deploy runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), report, stderr)
}

async fn completed_checkpoints(client: &FlinkClient, job: &JobId) -> u64 {
    client
        .checkpoints(job)
        .await
        .map(|c| c.counts.completed)
        .unwrap_or(0)
}

#[each_version(flavor = "multi_thread")]
async fn scale_rescales_in_place_with_the_state(version: &str) {
    let cluster = elastic_cluster(version, 2).await;
    let client = cluster.client();
    let rate_file = cluster.dir().join("rate");
    std::fs::write(&rate_file, "400").unwrap();
    let rate_arg = rate_file.to_str().unwrap().to_string();
    let job = start_example_with(
        &cluster,
        "scaled.jar",
        "scaled",
        1,
        &["--rate-file", &rate_arg, "--keys", "8"],
    )
    .await;
    let job = &job;
    wait_counter_at_least(client, job, 300).await;
    // Nearly stop the source, then let a checkpoint hold the count: restarted from scratch the
    // counter could not come back near it at one record a second.
    std::fs::write(&rate_file, "1").unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = counter_value(client, job).await.unwrap();
    let checkpoints = completed_checkpoints(client, job).await;
    eventually(
        "a checkpoint after the source slowed down",
        Duration::from_secs(30),
        || async move {
            match completed_checkpoints(client, job).await {
                n if n > checkpoints => Ok(()),
                n => Err(format!("{n} completed")),
            }
        },
    )
    .await;

    // Bad input changes nothing.
    let (code, _, stderr) = scale(&cluster, &["--job-name", "scaled", "--vertex", "sink=2"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no vertex with the id or name") && stderr.contains("counter"),
        "{stderr}"
    );
    let (code, _, stderr) = scale(&cluster, &["--job-name", "nosuch", "--parallelism", "2"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(counter_parallelism(client, job).await, 1);

    let (code, report, stderr) = scale(
        &cluster,
        &[
            "--job-name",
            "scaled",
            "--vertex",
            "counter=2",
            "--timeout",
            "90s",
        ],
    );
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(report["outcome"], "scaled", "{report}");
    assert_eq!(
        report["job_id"],
        job.to_string(),
        "the same job, not a new one"
    );
    let counter = report["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "counter")
        .cloned()
        .unwrap();
    assert_eq!(
        (counter["from"].as_u64(), counter["to"].as_u64()),
        (Some(1), Some(2))
    );
    // flink-deploy said it runs at 2: it does, with every task running, and the same job.
    wait_counter_parallelism(client, job, 2, "after flink-deploy scale").await;
    let jobs = client.jobs_named("scaled").await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let requirements = client.resource_requirements(job).await.unwrap();
    let bounds: Vec<u32> = requirements
        .values()
        .map(|r| r.parallelism.upper_bound)
        .collect();
    assert!(
        bounds.contains(&2) && bounds.contains(&1),
        "{requirements:?}"
    );

    // The state carried on: the first count the rescaled counter reports is the old one's.
    let after = eventually(
        "the rescaled counter counts",
        Duration::from_secs(60),
        || async move {
            match counter_value(client, job).await {
                Ok(n) if n > 0 => Ok(n),
                Ok(n) => Err(format!("counter at {n}")),
                Err(e) => Err(e),
            }
        },
    )
    .await;
    assert!(
        after >= before,
        "the rescaled counter restarted from scratch: {after} < {before}"
    );

    // The same again is nothing to do.
    let (code, report, stderr) =
        scale(&cluster, &["--job-name", "scaled", "--vertex", "counter=2"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["outcome"], "unchanged", "{report}");
}

#[each_version(flavor = "multi_thread")]
async fn scale_refuses_the_default_scheduler(version: &str) {
    let cluster = ClusterBuilder::new(version).slots(2).start().await;
    let client = cluster.client();
    let job = start_example_with(&cluster, "fixed.jar", "fixed", 1, &[]).await;
    let (code, report, stderr) = scale(&cluster, &["--job-name", "fixed", "--parallelism", "2"]);
    assert_eq!(code, 14, "{report}\n{stderr}");
    assert_eq!(report["outcome"], "failed", "{report}");
    let message = report["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("only the adaptive scheduler") && message.contains("nothing was changed"),
        "{message}"
    );
    // Flink's own answer is in the message, after ours.
    assert!(message.contains("resource-requirements"), "{message}");
    let details = client.job(&job).await.unwrap();
    assert!(details.all_tasks_running(), "{details:?}");
    assert_eq!(counter_parallelism(client, &job).await, 1);
}
