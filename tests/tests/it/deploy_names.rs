//! flink-deploy's preflight and job names, the built binary against real Flink clusters: a
//! release whose job graph cannot be built (a `main()` that throws, a missing entry class) or
//! that names its job otherwise than `--job-name` never touches the running job; a jar that does
//! not name its job gets `--job-name`; `plan` shows the new graph beside the running one; a job
//! started from a jar of one name that runs under another is named by the refusal and by
//! flink-savepointer.
//!
//! Run only these: `cargo nextest run -p flink-ops-tests -E 'test(/^deploy_names::/)'`.

use crate::common::jar_names;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use flink_rest::{FlinkClient, JobId, JobState, RunJob};
use flink_testkit::{
    each_version, example_jar, wait_running, wait_terminal, workspace_bin, Cluster, ClusterBuilder,
    JobVariant, SELF_NAMED_JOB,
};
use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}): {}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn assert_exit(&self, code: i32) {
        assert_eq!(
            self.code, code,
            "exit code; stdout {}\nstderr:\n{}",
            self.stdout, self.stderr
        );
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// `flink-deploy SUBCOMMAND --job-name JOB --jar JAR EXTRA... -- PROGRAM_ARGS...`; unlike
/// `deploy.rs`'s, it passes the job no `--name` unless `program_args` do.
fn flink_deploy(
    cluster: &Cluster,
    subcommand: &str,
    job: &str,
    jar: &Path,
    extra: &[&str],
    program_args: &[&str],
) -> Run {
    let mut cmd = Command::new(workspace_bin("flink-deploy"));
    cmd.arg(subcommand)
        .args([
            "--jobmanager-url",
            cluster.url().as_str(),
            "--job-name",
            job,
            "--jar",
        ])
        .arg(jar)
        .arg("--savepoint-dir")
        .arg(cluster.dir().join("layout"))
        .args(["--startup-timeout", "90s", "--stable-for", "2s"])
        .args(extra)
        .env_remove("FLINK_JOBMANAGER_URL")
        .env_remove("FLINK_JOB_NAME")
        .env_remove("FLINK_SAVEPOINT_DIR")
        .env_remove("FLINK_DEPLOY_CONFIG")
        .stdin(Stdio::null());
    if !program_args.is_empty() {
        cmd.arg("--").args(program_args);
    }
    finish(cmd.output().expect("flink-deploy runs"))
}

async fn active(client: &FlinkClient) -> Vec<(String, JobId)> {
    let mut jobs: Vec<(String, JobId)> = client
        .jobs()
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.state.is_active())
        .map(|j| (j.name, j.jid))
        .collect();
    jobs.sort_by(|a, b| a.0.cmp(&b.0));
    jobs
}

/// The preflight and the name checks, on one cluster: a first deploy of a jar that names its
/// job otherwise is refused before anything runs; a jar that does not name its job gets
/// --job-name; plan shows the graph diff; a main() that throws, a missing entry class and a job
/// named otherwise are refused with the running job untouched and no jar left; a job renamed
/// at run time is rolled back.
#[each_version(flavor = "multi_thread")]
async fn preflight_and_names(version: &str) {
    let cluster = ClusterBuilder::new(version).slots(4).start().await;
    let client = cluster.client();
    let jar = |v| example_jar(cluster.dist(), v);

    // A first deploy of a jar that names its job itself, otherwise: exit 2, nothing runs, no jar.
    let first = flink_deploy(
        &cluster,
        "deploy",
        "orders",
        &jar(JobVariant::SelfNamed),
        &["--output", "json"],
        &[],
    );
    first.assert_exit(2);
    let message = first.message();
    assert!(
        message.contains(&format!("'{SELF_NAMED_JOB}'"))
            && message.contains("'orders'")
            && message.contains(&format!("--job-name '{SELF_NAMED_JOB}'"))
            && message.contains("change the name in the job's code"),
        "{message}"
    );
    assert!(active(client).await.is_empty());
    assert!(jar_names(client).await.is_empty());

    // A jar that does not name its job (no --name) gets --job-name, through pipeline.name.
    let deployed = flink_deploy(
        &cluster,
        "deploy",
        "orders",
        &jar(JobVariant::Normal),
        &["--output", "json"],
        &[],
    );
    deployed.assert_exit(0);
    let job = JobId::new(deployed.json()["new_job_id"].as_str().unwrap());
    assert_eq!(
        active(client).await,
        vec![("orders".to_string(), job.clone())]
    );
    let jars = jar_names(client).await;
    assert_eq!(jars.len(), 1, "{jars:?}");

    // plan: the new graph beside the running one. The incompatible build renames the
    // counter's uid (a new vertex, the old one gone); --parallelism changes the source.
    let running = client.job(&job).await.unwrap();
    let source = running
        .vertices
        .iter()
        .find(|v| v.name.contains("source"))
        .unwrap();
    let counter = running
        .vertices
        .iter()
        .find(|v| v.name.contains("counter"))
        .unwrap();
    let plan = flink_deploy(
        &cluster,
        "plan",
        "orders",
        &jar(JobVariant::Incompatible),
        &["--output", "json", "--parallelism", "3"],
        &[],
    );
    plan.assert_exit(0);
    let report = plan.json();
    let graph = &report["graph"];
    assert_eq!(graph["job_name"], "orders", "{report}");
    assert_eq!(graph["running_job_id"], job.as_str(), "{report}");
    let vertices = graph["vertices"].as_array().unwrap();
    let by_id = |id: &str| vertices.iter().find(|v| v["id"] == id);
    let src = by_id(&source.id).unwrap_or_else(|| panic!("no source vertex in {report}"));
    assert_eq!(src["change"], "changed", "{report}");
    assert_eq!(src["new"]["parallelism"], 3, "{report}");
    assert_eq!(
        src["running"]["parallelism"], source.parallelism,
        "{report}"
    );
    let gone = by_id(&counter.id).unwrap_or_else(|| panic!("no old counter in {report}"));
    assert_eq!(gone["change"], "gone", "{report}");
    assert!(gone.get("new").is_none(), "{report}");
    if let Some(max) = counter.max_parallelism {
        assert_eq!(gone["running"]["max_parallelism"], max, "{report}");
    }
    let new: Vec<&Value> = vertices.iter().filter(|v| v["change"] == "new").collect();
    assert_eq!(new.len(), 1, "{report}");
    assert!(
        new[0]["new"]["name"].as_str().unwrap().contains("counter"),
        "{report}"
    );
    assert_eq!(new[0]["new"]["parallelism"], 3, "{report}");
    // The same in text, and plan leaves no jar and the job untouched.
    let text = flink_deploy(
        &cluster,
        "plan",
        "orders",
        &jar(JobVariant::Incompatible),
        &["--parallelism", "3"],
        &[],
    );
    text.assert_exit(0);
    for word in ["job graph of the new release", "changed", "new", "gone"] {
        assert!(text.stdout.contains(word), "{word}: {}", text.stdout);
    }
    assert_eq!(jar_names(client).await, jars);
    assert_eq!(
        active(client).await,
        vec![("orders".to_string(), job.clone())]
    );

    // A main() that throws on a bad argument: exit 9 with Flink's cause, the job untouched.
    let throws = flink_deploy(
        &cluster,
        "deploy",
        "orders",
        &jar(JobVariant::Normal),
        &["--output", "json"],
        &["--rate", "fast"],
    );
    throws.assert_exit(9);
    let message = throws.message();
    assert!(
        message.contains("invalid")
            && message.contains("--rate must be a positive number")
            && message.contains("Nothing was stopped"),
        "{message}"
    );
    assert_eq!(
        active(client).await,
        vec![("orders".to_string(), job.clone())]
    );
    assert_eq!(client.job(&job).await.unwrap().state, JobState::Running);
    assert_eq!(jar_names(client).await, jars);
    // plan says the same.
    let plan_throws = flink_deploy(
        &cluster,
        "plan",
        "orders",
        &jar(JobVariant::Normal),
        &["--output", "json"],
        &["--rate", "fast"],
    );
    plan_throws.assert_exit(9);
    assert_eq!(jar_names(client).await, jars);

    // A missing entry class: the same.
    let missing = flink_deploy(
        &cluster,
        "deploy",
        "orders",
        &jar(JobVariant::MissingMain),
        &["--output", "json"],
        &[],
    );
    missing.assert_exit(9);
    let message = missing.message();
    assert!(message.contains("NotInThisJar"), "{message}");
    assert_eq!(
        active(client).await,
        vec![("orders".to_string(), job.clone())]
    );
    assert_eq!(jar_names(client).await, jars);

    // An update to a jar that names its job otherwise: exit 2, both names, the job untouched.
    let other = flink_deploy(
        &cluster,
        "deploy",
        "orders",
        &jar(JobVariant::SelfNamed),
        &["--output", "json"],
        &[],
    );
    other.assert_exit(2);
    let message = other.message();
    assert!(
        message.contains(&format!("'{SELF_NAMED_JOB}'")) && message.contains("'orders'"),
        "{message}"
    );
    assert_eq!(
        active(client).await,
        vec![("orders".to_string(), job.clone())]
    );
    assert_eq!(client.job(&job).await.unwrap().state, JobState::Running);
    assert_eq!(jar_names(client).await, jars);

    // pipeline.name set to another name: a usage error before anything.
    let conf = flink_deploy(
        &cluster,
        "deploy",
        "orders",
        &jar(JobVariant::Normal),
        &[
            "--output",
            "json",
            "--flink-conf",
            "pipeline.name=orders-v2",
        ],
        &[],
    );
    conf.assert_exit(2);
    assert!(
        conf.message().contains("pipeline.name"),
        "{}",
        conf.message()
    );
    assert_eq!(jar_names(client).await, jars);

    // A main() that names its job right in the preflight and otherwise when it runs: the
    // running name is checked too; unhealthy, rolled back to the previous release.
    let renamed = flink_deploy(
        &cluster,
        "deploy",
        "orders",
        &jar(JobVariant::RenamesAtRun),
        &["--output", "json"],
        &["--name", "orders"],
    );
    renamed.assert_exit(5);
    let report = renamed.json();
    let message = report["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'orders-at-run'") && message.contains("--job-name 'orders-at-run'"),
        "{message}"
    );
    let wrong = JobId::new(report["new_job_id"].as_str().unwrap());
    assert_eq!(wait_terminal(client, &wrong).await, JobState::Canceled);
    let back = JobId::new(report["rollback_job_id"].as_str().unwrap());
    assert_eq!(active(client).await, vec![("orders".to_string(), back)]);
}

/// A job started from a jar flink-deploy uploaded for `my-flink-job` but named by its code
/// `flink-ops-example` (what the example image did before flink-deploy checked names): the
/// next deploy's refusal names it, and flink-savepointer warns about it.
#[each_version(flavor = "multi_thread")]
async fn a_job_running_under_another_name_is_named(version: &str) {
    let cluster = ClusterBuilder::new(version).slots(2).start().await;
    let client = cluster.client();
    let jar = example_jar(cluster.dist(), JobVariant::Normal);
    let uploaded = client
        .upload_jar(&jar, "flink-deploy--my-flink-job--20261201120000.jar")
        .await
        .unwrap();
    let job = client
        .run_jar(
            &uploaded,
            &RunJob {
                program_args: vec!["--name".into(), "flink-ops-example".into()],
                parallelism: Some(1),
                ..RunJob::default()
            },
        )
        .await
        .unwrap();
    wait_running(client, &job).await;

    let refused = flink_deploy(
        &cluster,
        "deploy",
        "my-flink-job",
        &jar,
        &["--output", "json"],
        &[],
    );
    refused.assert_exit(2);
    let message = refused.message();
    assert!(
        message.contains("no savepoint to restore")
            && message.contains(job.as_str())
            && message.contains("'flink-ops-example'")
            && message.contains("--job-name 'flink-ops-example'"),
        "{message}"
    );
    assert_eq!(client.job(&job).await.unwrap().state, JobState::Running);

    let layout = cluster.dir().join("savepoints");
    let out = Command::new(workspace_bin("flink-savepointer"))
        .args(["once", "--jobmanager-url", cluster.url().as_str()])
        .args(["--job-name", "my-flink-job", "--target-dir"])
        .arg(&layout)
        .env_remove("FLINK_JOB_NAME")
        .env_remove("FLINK_JOBMANAGER_URL")
        .stdin(Stdio::null())
        .output()
        .expect("flink-savepointer runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert_eq!(
        stderr.matches("runs as 'flink-ops-example'").count(),
        1,
        "one warning per round: {stderr}"
    );
    assert!(stderr.contains(job.as_str()), "{stderr}");
}
