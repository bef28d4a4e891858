//! flink-deploy with a savepoint layout in a bucket (`gs://`, `s3://`), the built binary against
//! a real JobManager and real emulators of both stores (fake-gcs-server, moto).
//!
//! The Flink here has no GCS or S3 filesystem plugin, so it writes savepoints to local disk; the
//! tests upload them into the bucket under the layout's dated folders, as Flink's GCS or S3
//! filesystem would have written them. For the same reason no test deploys a restore from a
//! bucket: Flink cannot read `gs://` or `s3://` here. What flink-deploy decides is checked
//! instead, exactly: `plan --output json` names the savepoint a deploy restores from, `status`
//! what the layout holds, against the real JobManager that remembers the job.

use crate::common::{jar_names, start_example};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use flink_rest::{FlinkClient, JobId, SavepointFormat};
use flink_testkit::{
    example_jar, wait_counter_at_least, wait_terminal, workspace_bin, Cluster, ClusterBuilder,
    Emulated, GcsEmulator, JobVariant, S3Emulator, SUPPORTED_VERSIONS,
};
use serde_json::Value;

/// Variables a cloud client reads: cleared for each run, so only the emulator's count.
const CLOUD_VARS: &[&str] = &[
    "STORAGE_EMULATOR_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GCE_METADATA_HOST",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "FLINK_JOBMANAGER_URL",
    "FLINK_JOB_NAME",
    "FLINK_SAVEPOINT_DIR",
];

/// The S3 emulator's secret key (see `S3Emulator::client_env`): never in any output.
const S3_SECRET: &str = "testing-secret";

/// The layout's root prefix in the bucket: a space, so keys are encoded on the way.
const PREFIX: &str = "save points";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}): {}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    fn expect(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code, code,
            "{what}: exit code\nstdout: {}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        for text in [&self.stdout, &self.stderr] {
            assert!(
                !text.contains(S3_SECRET),
                "{what}: a secret leaked:\n{text}"
            );
        }
        self
    }
}

/// `flink-deploy <args>` with exactly the emulator's environment for its store.
fn flink_deploy(store: &dyn Emulated, args: &[&str]) -> Out {
    run(store.client_env(), args)
}

/// `flink-deploy <args>` with no cloud variables but `env`.
fn run(env: Vec<(String, String)>, args: &[&str]) -> Out {
    let mut cmd = Command::new(workspace_bin("flink-deploy"));
    cmd.args(args).stdin(Stdio::null());
    for var in CLOUD_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env);
    let out = cmd.output().expect("flink-deploy runs");
    Out {
        code: out.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `plan` or `deploy` of "orders" with `root`, JSON output.
fn deploy_args<'a>(
    cluster: &'a Cluster,
    jar: &'a str,
    sub: &'a str,
    root: &'a str,
) -> Vec<&'a str> {
    vec![
        sub,
        "--jobmanager-url",
        cluster.url().as_str(),
        "--job-name",
        "orders",
        "--jar",
        jar,
        "--savepoint-dir",
        root,
        "--output",
        "json",
        "--startup-timeout",
        "60s",
        "--stable-for",
        "2s",
    ]
}

/// The layout's dated folder of `t` (UTC).
fn dated(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}-{:02}-{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// Savepoints "orders" left, taken by Flink to local disk in the layout `local`.
struct Taken {
    job: JobId,
    /// Dated folder and local location of each, oldest first.
    savepoints: Vec<(String, String)>,
}

/// Runs "orders", takes two real savepoints of it into `local`'s dated folders of two and one
/// hour ago, and cancels it: the JobManager remembers the job and its newest savepoint.
async fn ran_and_cancelled(cluster: &Cluster, local: &Path) -> Taken {
    let client = cluster.client();
    let job = start_example(cluster, "by-hand.jar", "orders").await;
    let now = time::OffsetDateTime::now_utc();
    let mut savepoints = Vec::new();
    for hours_ago in [2_i64, 1] {
        wait_counter_at_least(client, &job, 5 * (3 - hours_ago) as u64).await;
        let folder = dated(now - time::Duration::hours(hours_ago));
        let target = format!("file://{}/orders/{folder}", local.display());
        let op = client
            .trigger_savepoint(&job, Some(&target), SavepointFormat::Canonical)
            .await
            .unwrap();
        let location = client
            .wait_for(&op, Duration::from_secs(90))
            .await
            .unwrap()
            .expect("a savepoint location");
        savepoints.push((folder, location));
    }
    client.cancel(&job).await.unwrap();
    wait_terminal(client, &job).await;
    // Its retained checkpoints would be the newest restore point (they come every second);
    // these tests are about the savepoints in buckets.
    std::fs::remove_dir_all(cluster.dir().join("checkpoints").join(job.as_str())).unwrap();
    Taken { job, savepoints }
}

fn local_path(location: &str) -> &Path {
    Path::new(location.trim_start_matches("file:"))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                dir_bytes(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

async fn jobs_seen(client: &FlinkClient) -> Vec<(String, String)> {
    let mut jobs: Vec<(String, String)> = client
        .jobs()
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.jid.to_string(), j.state.to_string()))
        .collect();
    jobs.sort();
    jobs
}

/// The bucket "flink" holds the job's real savepoints under their dated folders, a newer
/// incomplete one, one dated in the future, and objects that are no savepoint of "orders".
fn fill_bucket(store: &dyn Emulated, local: &Path, taken: &Taken) {
    store.create_bucket("flink");
    // The whole local layout of the job, as Flink's GCS or S3 filesystem would have written it.
    store.upload_dir("flink", &format!("{PREFIX}/orders"), &local.join("orders"));
    let (_, newest) = &taken.savepoints[1];
    let newest = local_path(newest);
    let now = dated(time::OffsetDateTime::now_utc());
    // Newer but incomplete: every file of a savepoint but its _metadata (Flink died writing it).
    for entry in std::fs::read_dir(newest).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "_metadata" && entry.path().is_file() {
            store.upload(
                "flink",
                &format!("{PREFIX}/orders/{now}/savepoint-000000-incomplete/{name}"),
                &std::fs::read(entry.path()).unwrap(),
            );
        }
    }
    store.upload(
        "flink",
        &format!("{PREFIX}/orders/{now}/savepoint-000000-incomplete/0a1b2c"),
        &[0; 64],
    );
    let metadata = std::fs::read(newest.join("_metadata")).unwrap();
    for foreign in [
        format!("{PREFIX}/orders/{now}/not-a-savepoint/_metadata"),
        format!("{PREFIX}/orders/backup/savepoint-aaaaaa-9/_metadata"),
        format!("{PREFIX}/orders/{now}/savepoint-file-not-a-folder"),
        format!("{PREFIX}/orders-v2/{now}/savepoint-bbbbbb-1/_metadata"),
        format!("other/orders/{now}/savepoint-cccccc-1/_metadata"),
        format!("{PREFIX}/orders/2099-01-01-00-00/savepoint-dddddd-1/_metadata"),
    ] {
        store.upload("flink", &foreign, &metadata);
    }
    store.upload(
        "flink",
        &format!("{PREFIX}/orders/notes.txt"),
        b"not a savepoint",
    );
}

/// A job ran and was cancelled; its real savepoints are in a bucket with a newer incomplete
/// one, a future-dated one and foreign objects. On GCS and on S3, `plan` and `status` choose
/// exactly the newest complete one, with its date and size, over the JobManager's memory of the
/// job; `status` shows the same for the local layout Flink wrote; nothing changes.
#[tokio::test(flavor = "multi_thread")]
async fn plan_and_status_choose_the_newest_complete_savepoint_in_buckets() {
    let cluster = ClusterBuilder::new(SUPPORTED_VERSIONS[1]).start().await;
    let client = cluster.client();
    let local = cluster.dir().join("local-layout");
    let taken = ran_and_cancelled(&cluster, &local).await;
    let jar = example_jar(cluster.dist(), JobVariant::Normal);
    let jar = jar.to_str().unwrap();
    let (newest_folder, newest_local) = taken.savepoints[1].clone();
    let newest_name = local_path(&newest_local)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let newest_bytes = dir_bytes(local_path(&newest_local));
    let jars = jar_names(client).await;
    let jobs = jobs_seen(client).await;

    // The JobManager remembers the cancelled job's newest savepoint, on local disk: without
    // the bucket, that is what a deploy restores (the layout wins when it has one).
    let remembered = client
        .checkpoints(&taken.job)
        .await
        .unwrap()
        .latest
        .savepoint;
    assert_eq!(
        remembered.and_then(|s| s.external_path).as_deref(),
        Some(newest_local.as_str())
    );

    // The local layout Flink wrote: status shows what it holds.
    let local_root = local.to_str().unwrap();
    let status = run(
        Vec::new(),
        &[
            "status",
            "--jobmanager-url",
            cluster.url().as_str(),
            "--savepoint-dir",
            local_root,
            "--output",
            "json",
        ],
    );
    let report = status.expect(0, "status of the local layout").json();
    let held = &report["layout"]["jobs"][0];
    assert_eq!(held["job_name"], "orders", "{report}");
    assert_eq!(held["complete"], 2, "{report}");
    assert_eq!(held["newest_complete"]["location"], newest_local.as_str());

    let mut stores: [Box<dyn Emulated>; 2] = [
        Box::new(GcsEmulator::start()),
        Box::new(S3Emulator::start()),
    ];
    for store in &mut stores {
        let store = store.as_ref();
        let scheme = store.scheme();
        fill_bucket(store, &local, &taken);
        let root = store.root("flink", PREFIX);
        let expected = format!("{scheme}://flink/{PREFIX}/orders/{newest_folder}/{newest_name}");

        let plan = flink_deploy(store, &deploy_args(&cluster, jar, "plan", &root));
        let plan = plan.expect(0, &format!("{scheme}: plan")).json();
        let start = &plan["start"];
        assert_eq!(start["kind"], "restore", "{scheme}: {plan}");
        assert_eq!(start["path"], expected.as_str(), "{scheme}: {plan}");
        assert!(
            start["found_in"]
                .as_str()
                .unwrap()
                .contains(&format!("{scheme}://flink/{PREFIX}/")),
            "{scheme}: {plan}"
        );
        let chosen = &start["layout_savepoint"];
        assert_eq!(chosen["location"], expected.as_str(), "{scheme}: {plan}");
        assert_eq!(chosen["bytes"], newest_bytes, "{scheme}: {plan}");
        assert!(
            chosen["taken_at"]
                .as_str()
                .unwrap()
                .starts_with(&newest_folder[..10]),
            "{scheme}: {plan}"
        );
        let layout = &plan["layout"];
        assert_eq!(layout["complete"], 2, "{scheme}: {plan}");
        assert_eq!(layout["incomplete"], 1, "{scheme}: {plan}");
        let aside = layout["set_aside"].as_array().unwrap();
        assert_eq!(aside.len(), 1, "{scheme}: {plan}");
        assert!(
            aside[0]["newest"]
                .as_str()
                .unwrap()
                .ends_with("/orders/2099-01-01-00-00/savepoint-dddddd-1"),
            "{scheme}: {plan}"
        );

        // The same for people.
        let mut text_args = deploy_args(&cluster, jar, "plan", &root);
        text_args.retain(|a| *a != "--output" && *a != "json");
        let text = flink_deploy(store, &text_args);
        text.expect(0, &format!("{scheme}: plan, text"));
        assert!(
            text.stdout
                .contains(&format!("run the new jar from {expected}")),
            "{scheme}: {}",
            text.stdout
        );
        assert!(
            text.stdout.contains("2 complete, 1 incomplete"),
            "{}",
            text.stdout
        );

        // status: for the job the JobManager knows, and for --job-name.
        for only in [None, Some("orders")] {
            let mut args = vec![
                "status",
                "--jobmanager-url",
                cluster.url().as_str(),
                "--savepoint-dir",
                &root,
                "--output",
                "json",
            ];
            args.extend(only.map(|name| ["--job-name", name]).into_iter().flatten());
            let status = flink_deploy(store, &args);
            let report = status.expect(0, &format!("{scheme}: status")).json();
            let held = report["layout"]["jobs"].as_array().unwrap();
            assert_eq!(held.len(), 1, "{scheme}: only 'orders' ran: {report}");
            assert_eq!(held[0]["job_name"], "orders");
            assert_eq!(held[0]["newest_complete"]["location"], expected.as_str());
            assert_eq!(
                (&held[0]["complete"], &held[0]["incomplete"]),
                (&2.into(), &1.into())
            );
            assert!(
                held[0]["bytes"].as_u64().unwrap() > newest_bytes,
                "{scheme}: {report}"
            );
            assert_eq!(report["jobs"][0]["id"], taken.job.as_str(), "{report}");
        }
        let text = flink_deploy(
            store,
            &[
                "status",
                "--jobmanager-url",
                cluster.url().as_str(),
                "--savepoint-dir",
                &root,
            ],
        );
        text.expect(0, &format!("{scheme}: status, text"));
        assert!(
            text.stdout.contains(&format!("newest {expected}")),
            "{scheme}: {}",
            text.stdout
        );
    }

    // Read only: no jar uploaded, no job started.
    assert_eq!(jar_names(client).await, jars);
    assert_eq!(jobs_seen(client).await, jobs);
}

/// A bucket that does not exist is exit 2 and names the bucket; a store that is down is exit
/// 3: `deploy`, `plan` and `status` alike, on GCS and on S3, and `--allow-fresh-start` does not
/// change that. The JobManager remembers the cancelled job's savepoint, which a deploy that
/// ignored the store would restore (an older state than the bucket may hold): nothing is
/// uploaded, nothing started, and no secret is printed.
#[tokio::test(flavor = "multi_thread")]
async fn store_problems_refuse_with_their_exit_code_and_change_nothing() {
    let cluster = ClusterBuilder::new(SUPPORTED_VERSIONS[1]).start().await;
    let client = cluster.client();
    let local = cluster.dir().join("local-layout");
    ran_and_cancelled(&cluster, &local).await;
    let jar = example_jar(cluster.dist(), JobVariant::Normal);
    let jar = jar.to_str().unwrap();
    let jars = jar_names(client).await;
    let jobs = jobs_seen(client).await;

    let mut stores: [Box<dyn Emulated>; 2] = [
        Box::new(GcsEmulator::start()),
        Box::new(S3Emulator::start()),
    ];
    for store in &mut stores {
        let scheme = store.scheme();
        store.create_bucket("flink");
        let missing = store.root("no-such-bucket", PREFIX);
        let reachable = store.root("flink", PREFIX);

        for (sub, extra) in [
            ("deploy", None),
            ("deploy", Some("--allow-fresh-start")),
            ("plan", None),
        ] {
            let mut args = deploy_args(&cluster, jar, sub, &missing);
            args.extend(extra);
            let out = flink_deploy(store.as_ref(), &args);
            let what = format!("{scheme}: {sub} {extra:?}, no such bucket");
            let report = out.expect(2, &what).json();
            let message = report["message"].as_str().unwrap();
            assert_eq!(report["exit_code"], 2, "{what}: {report}");
            assert!(
                message.contains(&format!(
                    "the bucket {scheme}://no-such-bucket does not exist"
                )),
                "{what}: {message}"
            );
            assert!(message.contains("Nothing was changed"), "{what}: {message}");
        }
        let status = flink_deploy(
            store.as_ref(),
            &[
                "status",
                "--jobmanager-url",
                cluster.url().as_str(),
                "--savepoint-dir",
                &missing,
            ],
        );
        status.expect(2, &format!("{scheme}: status, no such bucket"));
        assert!(
            status
                .stderr
                .contains(&format!("{scheme}://no-such-bucket")),
            "{}",
            status.stderr
        );

        // The store goes down.
        store.stop();
        for sub in ["deploy", "plan"] {
            let out = flink_deploy(store.as_ref(), &deploy_args(&cluster, jar, sub, &reachable));
            let what = format!("{scheme}: {sub}, store down");
            let report = out.expect(3, &what).json();
            let message = report["message"].as_str().unwrap();
            assert!(
                message.contains("cannot be listed")
                    && message.contains(&format!("{scheme}://flink")),
                "{what}: {message}"
            );
        }
        let status = flink_deploy(
            store.as_ref(),
            &[
                "status",
                "--jobmanager-url",
                cluster.url().as_str(),
                "--savepoint-dir",
                &reachable,
                "--output",
                "json",
            ],
        );
        let report = status
            .expect(3, &format!("{scheme}: status, store down"))
            .json();
        assert_eq!(report["exit_code"], 3, "{report}");
    }

    // Nothing changed on the JobManager: no jar uploaded, no job started.
    assert_eq!(jar_names(client).await, jars);
    assert_eq!(jobs_seen(client).await, jobs);
}
