//! Helpers several test areas share.

use flink_config::{FlinkVersion, Profile};
use flink_rest::{ClaimMode, FlinkClient, JobId, RunJob};
use flink_testkit::{example_jar, wait_running, Cluster, ClusterBuilder, JobVariant};

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
    start_example_with(cluster, jar_name, job_name, 1, &[]).await
}

/// [`start_example`] at `parallelism`, with `args` after `--name` (e.g. `--rate-file`).
pub async fn start_example_with(
    cluster: &Cluster,
    jar_name: &str,
    job_name: &str,
    parallelism: u32,
    args: &[&str],
) -> JobId {
    let client = cluster.client();
    let jar = client
        .upload_jar(&example_jar(cluster.dist(), JobVariant::Normal), jar_name)
        .await
        .expect("the example jar uploads");
    let mut program_args = vec!["--name".to_string(), job_name.to_string()];
    program_args.extend(args.iter().map(|a| a.to_string()));
    let job = client
        .run_jar(
            &jar,
            &RunJob {
                program_args,
                parallelism: Some(parallelism),
                claim_mode: ClaimMode::NoClaim,
                ..RunJob::default()
            },
        )
        .await
        .expect("the example job starts");
    wait_running(client, &job).await;
    job
}

/// A cluster with the elastic profile's settings, made quick for a test: short restart backoffs,
/// and a running job scales up about a second after slots arrive. One TaskManager with `slots`.
pub async fn elastic_cluster(version: &str, slots: u32) -> Cluster {
    elastic_builder(version, slots).start().await
}

/// [`elastic_cluster`]'s settings, to add more before it starts.
pub fn elastic_builder(version: &str, slots: u32) -> ClusterBuilder {
    let parsed: FlinkVersion = version.parse().expect("a Flink version");
    let mut builder = ClusterBuilder::new(version).slots(slots);
    for setting in Profile::Elastic.settings(parsed) {
        builder = builder.config(&setting.key, setting.value);
    }
    let wait_key = flink_config::key_for_version(
        "jobmanager.adaptive-scheduler.resource-stabilization-timeout",
        parsed,
    )
    .0;
    builder = builder
        .config("restart-strategy.exponential-delay.initial-backoff", "1 s")
        .config("restart-strategy.exponential-delay.max-backoff", "2 s")
        .config(wait_key, "1 s");
    // How soon a running job scales up when slots arrive (30 s and more by default).
    builder = if version.starts_with("1.") {
        builder.config("jobmanager.adaptive-scheduler.scaling-interval.min", "1 s")
    } else {
        builder
            .config(
                "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling",
                "1 s",
            )
            .config(
                "jobmanager.adaptive-scheduler.executing.resource-stabilization-timeout",
                "1 s",
            )
    };
    builder
}

/// The newest complete `chk-N` of `job` on disk, as Flink names it.
pub fn newest_checkpoint(cluster: &Cluster, job: &JobId) -> String {
    let dir = cluster.dir().join("checkpoints").join(job.as_str());
    let (_, path) = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("_metadata").is_file())
        .filter_map(|e| {
            let n = e
                .file_name()
                .to_str()?
                .strip_prefix("chk-")?
                .parse::<u64>()
                .ok()?;
            Some((n, e.path()))
        })
        .max()
        .unwrap_or_else(|| panic!("no complete checkpoint under {}", dir.display()));
    format!("file:{}", path.display())
}

/// The parallelism of the example job's counter vertex.
pub async fn counter_parallelism(client: &FlinkClient, job: &JobId) -> u32 {
    let details = client.job(job).await.unwrap();
    details
        .vertices
        .iter()
        .find(|v| v.name.contains("counter"))
        .expect("a counter vertex")
        .parallelism
}

/// The ids of the active (not yet terminal) jobs named `name`.
pub async fn active_jobs(client: &FlinkClient, name: &str) -> Vec<JobId> {
    client
        .jobs_named(name)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.state.is_active())
        .map(|j| j.jid)
        .collect()
}
