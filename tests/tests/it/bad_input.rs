//! Bad input to any of the three binaries: a clear message naming what is wrong, exit 2, no
//! secret echoed, and a real cluster left exactly as it was.

use std::process::{Command, Output, Stdio};

use flink_rest::{FlinkClient, JobId, JobState};
use flink_testkit::{
    example_jar, wait_running, wait_terminal, workspace_bin, ClusterBuilder, JobVariant,
    SUPPORTED_VERSIONS,
};

fn run(bin: &str, args: &[&str]) -> (i32, String) {
    let out: Output = Command::new(workspace_bin(bin))
        .args(args)
        .env_remove("FLINK_JOBMANAGER_URL")
        .env_remove("FLINK_REST_HEADER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("an exit code, not a signal"), text)
}

async fn jobs(client: &FlinkClient) -> Vec<(JobId, JobState)> {
    let mut jobs: Vec<_> = client
        .jobs()
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.jid, j.state))
        .collect();
    jobs.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    jobs
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_before_anything_changes() {
    let cluster = ClusterBuilder::new(SUPPORTED_VERSIONS[1]).start().await;
    let client = cluster.client();
    let url = cluster.url().to_string();
    let jar = example_jar(cluster.dist(), JobVariant::Normal);
    let jar = jar.to_str().unwrap();
    let layout = cluster.dir().join("layout");
    let layout = layout.to_str().unwrap();
    let deploy = |extra: &[&str]| {
        let mut args = vec![
            "deploy",
            "--jobmanager-url",
            &url,
            "--job-name",
            "orders",
            "--jar",
            jar,
            "--savepoint-dir",
            layout,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "--name", "orders"]);
        run("flink-deploy", &args)
    };

    // A job that ran and was cancelled: the next deploy must restore, never start empty.
    let (code, text) = deploy(&["--stable-for", "1s"]);
    assert_eq!(code, 0, "{text}");
    let job = client.jobs_named("orders").await.unwrap()[0].jid.clone();
    wait_running(client, &job).await;
    client.cancel(&job).await.unwrap();
    wait_terminal(client, &job).await;
    let before = jobs(client).await;
    let jars = client.jars().await.unwrap().len();

    let dir = tempfile::tempdir().unwrap();
    let spec = |text: &str| {
        let path = dir.path().join(format!("{}.yaml", text.len()));
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let empty_in_spec = spec("from-savepoint: ''\n");
    let list_in_spec = spec("parallelism: [1, 2]\n");
    let secret_in_spec = spec("jobmanager-url: 'http://bob:f1le-s3cret@jm:99999'\n");
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        // An empty restore path (an unset CI variable) would start the job empty.
        (
            "empty --from-savepoint",
            vec!["--from-savepoint", ""],
            "the path is empty",
        ),
        (
            "blank --from-savepoint",
            vec!["--from-savepoint", " "],
            "the path is empty",
        ),
        (
            "empty from-savepoint in the spec",
            vec!["--config-file", &empty_in_spec],
            "from-savepoint: invalid value",
        ),
        // Durations out of range, before the jar is uploaded.
        (
            "huge --savepoint-timeout",
            vec!["--savepoint-timeout", "300000000000y"],
            "--savepoint-timeout",
        ),
        (
            "huge --stable-for",
            vec!["--stable-for", "3651d"],
            "too long",
        ),
        (
            "zero --request-timeout",
            vec!["--request-timeout", "0s"],
            "zero",
        ),
        // A spec value of the wrong type names its key.
        (
            "list for a number",
            vec!["--config-file", &list_in_spec],
            "parallelism: takes one value",
        ),
    ];
    for (what, extra, message) in cases {
        let (code, text) = deploy(&extra);
        assert_eq!(code, 2, "{what}: {text}");
        assert!(
            text.contains(message),
            "{what}: expected '{message}' in:\n{text}"
        );
    }

    // Secrets in a bad value are not echoed, from flags, the environment or the spec file.
    let (code, text) = run(
        "flink-deploy",
        &[
            "deploy",
            "--job-name",
            "orders",
            "--jar",
            jar,
            "--jobmanager-url",
            "http://alice:fl4g-s3cret@jm:99999",
        ],
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("invalid value") && !text.contains("fl4g-s3cret") && !text.contains("alice"),
        "{text}"
    );
    let (code, text) = run(
        "flink-deploy",
        &[
            "deploy",
            "--job-name",
            "orders",
            "--jar",
            jar,
            "--config-file",
            &secret_in_spec,
        ],
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("jobmanager-url") && !text.contains("f1le-s3cret"),
        "{text}"
    );
    let (code, text) = run(
        "flink-savepointer",
        &[
            "once",
            "--job-name",
            "orders",
            "--target-dir",
            layout,
            "--header",
            "X-Api-Key h3ader-s3cret",
        ],
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("--header") && !text.contains("h3ader-s3cret"),
        "{text}"
    );
    let out = Command::new(workspace_bin("flink-deploy"))
        .args(["status"])
        .env("FLINK_JOBMANAGER_URL", "http://carol:env-s3cret@jm:99999")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        !text.contains("env-s3cret") && !text.contains("carol"),
        "{text}"
    );

    // A job name too long for a folder or a jar name ("file name too long" from Flink before).
    let long = "x".repeat(300);
    let (code, text) = run(
        "flink-deploy",
        &[
            "deploy",
            "--jobmanager-url",
            &url,
            "--job-name",
            &long,
            "--jar",
            jar,
            "--savepoint-dir",
            layout,
        ],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("the job name is too long"), "{text}");
    let (code, text) = run(
        "flink-savepointer",
        &[
            "once",
            "--jobmanager-url",
            &url,
            "--job-name",
            &long,
            "--target-dir",
            layout,
        ],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("the job name is too long"), "{text}");

    // The other binaries range-check their durations the same way.
    let (code, text) = run(
        "flink-savepointer",
        &[
            "once",
            "--jobmanager-url",
            &url,
            "--job-name",
            "orders",
            "--target-dir",
            layout,
            "--timeout",
            "300000000000y",
        ],
    );
    assert_eq!(code, 2, "{text}");
    let (code, text) = run(
        "flink-savepointer",
        &[
            "run",
            "--jobmanager-url",
            &url,
            "--job-name",
            "orders",
            "--target-dir",
            layout,
            "--every",
            "3651d",
        ],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("too long"), "{text}");
    let (code, text) = run(
        "flink-bootstrap",
        &[
            "--metadata",
            "none",
            "--metadata-timeout",
            "300000000000y",
            "check",
            "taskmanager",
        ],
    );
    assert_eq!(code, 2, "{text}");

    // Nothing changed: no job started, no jar uploaded, no savepoint taken.
    assert_eq!(jobs(client).await, before);
    assert_eq!(client.jars().await.unwrap().len(), jars);
}
