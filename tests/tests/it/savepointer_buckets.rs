//! flink-savepointer with gs:// and s3:// roots, against real emulators
//! (fake-gcs-server, moto) and a real Flink.
//!
//! Flink here has no gs/s3 filesystem plugin, so it cannot write into a
//! bucket: the savepoints are real ones Flink wrote to local disk, uploaded
//! into the bucket with the layout's shape under chosen dated folders. What
//! runs end to end is the built binary's `prune` (and `once`/`run` up to the
//! store check) against the emulators; the "restored from" rule is checked at
//! the library level (Flink cannot restore from gs:// here).
//!
//! Run only these: `cargo nextest run -p flink-ops-tests -E 'test(/^savepointer_buckets::/)'`.

use crate::common::start_example;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use flink_testkit::{
    eventually, free_port, workspace_bin, ClusterBuilder, Emulated, GcsEmulator, S3Emulator,
};
use savepoint_layout::{normalize, SavepointLayout};
use time::OffsetDateTime;

const BUCKET: &str = "flink";
/// One Flink version is enough here: what is new is the store, not Flink.
const VERSION: &str = "2.3.0";

/// Runs the binary with `env` only: (exit code, stdout, stderr).
fn savepointer(args: &[&str], env: &[(String, String)]) -> (i32, String, String) {
    let out = Command::new(workspace_bin("flink-savepointer"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("flink-savepointer runs");
    (
        out.status.code().expect("an exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every key in `bucket`, through the emulator's own listing API.
async fn keys(emulator: &dyn Emulated, bucket: &str) -> BTreeSet<String> {
    let endpoint = emulator.client_env()[0].1.clone();
    let http = reqwest::Client::new();
    let mut found = BTreeSet::new();
    if emulator.scheme() == "gs" {
        let url = format!("{endpoint}/storage/v1/b/{bucket}/o?maxResults=1000");
        let body: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
        for item in body["items"].as_array().into_iter().flatten() {
            found.insert(item["name"].as_str().unwrap().to_string());
        }
    } else {
        let url = format!("{endpoint}/{bucket}?list-type=2&max-keys=1000");
        let body = http.get(url).send().await.unwrap().text().await.unwrap();
        for part in body.split("<Key>").skip(1) {
            let key = part.split("</Key>").next().unwrap();
            found.insert(key.replace("&amp;", "&"));
        }
    }
    found
}

/// The dated folder name of `when` (UTC, `%Y-%m-%d-%H-%M`).
fn dated(when: OffsetDateTime) -> String {
    let layout = SavepointLayout::new("/x").unwrap();
    let dir = layout.target_dir("j", when);
    dir.rsplit('/').next().unwrap().to_string()
}

fn ago(hours: i64) -> String {
    dated(OffsetDateTime::now_utc() - time::Duration::hours(hours))
}

/// What the tests put in a bucket: the job `orders` with five complete
/// savepoints (5 d, 4 d, 3 d, 2 d and 10 min old), an incomplete one (6 d),
/// one dated in the future, objects that are no savepoint, the job
/// `payments` (not running) with two, and a savepoint outside the root.
struct Seeded {
    /// `n` → the key prefix of `orders`' savepoint `n` (below the bucket).
    orders: Vec<(u32, String)>,
    payments: Vec<String>,
}

fn seed(emulator: &dyn Emulated, real: &Path) -> Seeded {
    emulator.create_bucket(BUCKET);
    let mut orders = Vec::new();
    for (n, hours) in [(5, 120), (4, 96), (3, 72), (2, 48), (0, 0)] {
        let dated = if hours == 0 {
            dated(OffsetDateTime::now_utc() - time::Duration::minutes(10))
        } else {
            ago(hours)
        };
        let prefix = format!("sp/orders/{dated}/savepoint-aaaaaa-{n}");
        emulator.upload_dir(BUCKET, &prefix, real);
        orders.push((n, prefix));
    }
    // Incomplete: a data file, no _metadata.
    emulator.upload(
        BUCKET,
        &format!("sp/orders/{}/savepoint-aaaaaa-6/part-0", ago(144)),
        b"half written",
    );
    emulator.upload(
        BUCKET,
        "sp/orders/2099-01-01-00-00/savepoint-ffffff-9/_metadata",
        b"future",
    );
    for foreign in [
        "sp/orders/README.txt".to_string(),
        format!("sp/orders/{}/notes.txt", ago(120)),
        "sp/orders/not-a-date/savepoint-x/_metadata".to_string(),
        format!("other/orders/{}/savepoint-cccccc-1/_metadata", ago(120)),
    ] {
        emulator.upload(BUCKET, &foreign, b"not ours");
    }
    let mut payments = Vec::new();
    for hours in [120, 96] {
        let prefix = format!("sp/payments/{}/savepoint-bbbbbb-{hours}", ago(hours));
        emulator.upload_dir(BUCKET, &prefix, real);
        payments.push(prefix);
    }
    Seeded { orders, payments }
}

impl Seeded {
    fn orders(&self, n: u32) -> &str {
        &self.orders.iter().find(|(m, _)| *m == n).unwrap().1
    }
}

/// The keys under `prefix/`.
fn under<'a>(keys: &'a BTreeSet<String>, prefix: &str) -> Vec<&'a String> {
    keys.iter()
        .filter(|k| k.starts_with(&format!("{prefix}/")))
        .collect()
}

/// The locations of stdout lines `<job>\t<what>\t<location>`, by what.
fn lines(stdout: &str, job: &str, what: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            (f.next() == Some(job) && f.next() == Some(what)).then(|| f.next().unwrap().to_string())
        })
        .collect()
}

fn locations(emulator: &dyn Emulated, prefixes: &[&str]) -> BTreeSet<String> {
    prefixes
        .iter()
        .map(|p| format!("{}://{BUCKET}/{p}", emulator.scheme()))
        .collect()
}

/// Every retention rule through `prune` on one store; `url` is a running
/// JobManager where `orders` runs (restored from nothing).
async fn prune_rules(emulator: &dyn Emulated, url: &str, real: &Path) {
    let seeded = seed(emulator, real);
    let env = emulator.client_env();
    let root = emulator.root(BUCKET, "sp");
    let prune = |extra: &[&str]| {
        let mut args = vec!["prune", "--jobmanager-url", url, "--target-dir", &root];
        args.extend_from_slice(extra);
        savepointer(&args, &env)
    };
    let all = keys(emulator, BUCKET).await;
    assert!(
        all.contains(&format!("{}/_metadata", seeded.orders(5))),
        "{all:?}"
    );

    // --dry-run: says what would go, deletes nothing.
    let (code, stdout, stderr) = prune(&["--job-name", "orders", "--keep", "2", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    let old = [seeded.orders(5), seeded.orders(4), seeded.orders(3)];
    assert_eq!(
        lines(&stdout, "orders", "would-delete"),
        locations(emulator, &old),
        "{stdout}"
    );
    assert_eq!(
        lines(&stdout, "orders", "kept"),
        locations(emulator, &[seeded.orders(2), seeded.orders(0)]),
        "{stdout}"
    );
    assert_eq!(lines(&stdout, "orders", "incomplete").len(), 1, "{stdout}");
    assert_eq!(lines(&stdout, "orders", "set-aside").len(), 1, "{stdout}");
    assert!(lines(&stdout, "orders", "deleted").is_empty(), "{stdout}");
    assert_eq!(
        keys(emulator, BUCKET).await,
        all,
        "--dry-run deleted something"
    );

    // keep 2: exactly the three oldest complete ones go, every object of each.
    let (code, stdout, stderr) = prune(&["--job-name", "orders", "--keep", "2"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        lines(&stdout, "orders", "deleted"),
        locations(emulator, &old),
        "{stdout}"
    );
    let mut expected = all.clone();
    for prefix in old {
        for key in under(&all, prefix) {
            expected.remove(key);
        }
    }
    assert_eq!(keys(emulator, BUCKET).await, expected, "{stderr}");

    // --max-age 36h: the 2-day-old one goes; the incomplete 6-day-old one stays.
    let (code, stdout, stderr) = prune(&["--job-name", "orders", "--max-age", "36h"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        lines(&stdout, "orders", "deleted"),
        locations(emulator, &[seeded.orders(2)]),
        "{stdout}"
    );
    for key in under(&all, seeded.orders(2)) {
        expected.remove(key);
    }
    assert_eq!(keys(emulator, BUCKET).await, expected);

    // Never the newest, however old the policy says it is.
    let (code, stdout, stderr) = prune(&["--job-name", "orders", "--keep", "1", "--max-age", "1s"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(lines(&stdout, "orders", "deleted").is_empty(), "{stdout}");
    assert_eq!(
        lines(&stdout, "orders", "kept"),
        locations(emulator, &[seeded.orders(0)])
    );
    assert_eq!(keys(emulator, BUCKET).await, expected);

    // A named job that is not running is pruned by name; a name with
    // neither a job nor savepoints is exit 10.
    let (code, stdout, stderr) = prune(&["--job-name", "payments", "--keep", "1", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        lines(&stdout, "payments", "would-delete"),
        locations(emulator, &[&seeded.payments[0]]),
        "{stdout}"
    );
    assert!(
        stderr.contains("no active job named 'payments'"),
        "{stderr}"
    );
    let (code, _, stderr) = prune(&["--job-name", "ghost"]);
    assert_eq!(code, 10, "{stderr}");

    // --all-jobs: every job folder in the layout.
    let (code, stdout, stderr) = prune(&["--all-jobs", "--keep", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        lines(&stdout, "payments", "deleted"),
        locations(emulator, &[&seeded.payments[0]]),
        "{stdout}"
    );
    assert!(lines(&stdout, "orders", "deleted").is_empty(), "{stdout}");
    for key in under(&all, &seeded.payments[0]) {
        expected.remove(key);
    }
    let left = keys(emulator, BUCKET).await;
    assert_eq!(left, expected);

    // Exactly what is left: the newest of each job, the incomplete and
    // future ones, and every object that is no savepoint of the layout.
    let mut kept: Vec<&str> = left.iter().map(String::as_str).collect();
    kept.retain(|k| {
        !k.starts_with(&format!("{}/", seeded.orders(0)))
            && !k.starts_with(&format!("{}/", seeded.payments[1]))
    });
    let mut kept: Vec<String> = kept
        .iter()
        .map(|k| {
            let parts: Vec<&str> = k.split('/').collect();
            let dated = parts.get(2).copied().unwrap_or("");
            let generic = if dated.len() == 16 && dated != "2099-01-01-00-00" {
                "DATED"
            } else {
                dated
            };
            let mut p = parts.clone();
            if p.len() > 2 {
                p[2] = generic;
            }
            p.join("/")
        })
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "other/orders/DATED/savepoint-cccccc-1/_metadata",
            "sp/orders/2099-01-01-00-00/savepoint-ffffff-9/_metadata",
            "sp/orders/DATED/notes.txt",
            "sp/orders/DATED/savepoint-aaaaaa-6/part-0",
            "sp/orders/README.txt",
            "sp/orders/not-a-date/savepoint-x/_metadata",
        ],
        "{left:?}"
    );
    // The S3 secret never shows.
    assert!(!stderr.contains("testing-secret"), "{stderr}");
}

/// A `flink-savepointer run` process, killed on drop.
struct Daemon {
    child: std::process::Child,
    base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start(args: &[&str], env: &[(String, String)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let listen = format!("127.0.0.1:{}", free_port());
        let child = Command::new(workspace_bin("flink-savepointer"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(["run", "--listen", &listen])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            base: format!("http://{listen}"),
            log,
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> Result<(u16, String), String> {
        let r = reqwest::get(format!("{}{path}", self.base))
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        Ok((status, r.text().await.map_err(|e| e.to_string())?))
    }

    /// Waits until `path` answers `status` with a body `check` accepts.
    async fn wait_for(&self, path: &str, status: u16, check: impl Fn(&str) -> bool) -> String {
        eventually(
            &format!("{path} answering {status} as expected"),
            Duration::from_secs(60),
            || async {
                let (got, body) = self.get(path).await?;
                if got == status && check(&body) {
                    Ok(body)
                } else {
                    Err(format!("{got}: {body}"))
                }
            },
        )
        .await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- flink-savepointer log ----\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn metric(text: &str, name: &str, job: Option<&str>) -> Option<f64> {
    let prefix = match job {
        Some(job) => format!("flink_savepointer_{name}{{job=\"{job}\"}} "),
        None => format!("flink_savepointer_{name} "),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// One real Flink for everything that needs a JobManager: real savepoints to
/// upload, `prune` on both stores, store errors in `once`, `prune` and `run`,
/// and the kept-savepoint gauges of `run`.
#[tokio::test]
async fn prune_once_and_run_on_buckets() {
    let cluster = ClusterBuilder::new(VERSION).start().await;
    let url = cluster.url().as_str().to_string();
    start_example(&cluster, "buckets.jar", "orders").await;

    // A real savepoint, written by Flink to local disk.
    let local = tempfile::tempdir().unwrap();
    let local_root = local.path().to_str().unwrap().to_string();
    let (code, stdout, stderr) = savepointer(
        &[
            "once",
            "--jobmanager-url",
            &url,
            "--target-dir",
            &local_root,
            "--job-name",
            "orders",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let location = stdout.trim().split('\t').nth(1).unwrap().to_string();
    let real = PathBuf::from(normalize(&location));
    assert!(real.join("_metadata").is_file(), "{}", real.display());

    let mut gcs = GcsEmulator::start();
    let s3 = S3Emulator::start();
    prune_rules(&gcs, &url, &real).await;
    prune_rules(&s3, &url, &real).await;

    // A bucket that does not exist: exit 2, nothing touched, no savepoint triggered.
    for (emulator, root) in [
        (&gcs as &dyn Emulated, "gs://no-such-bucket/sp"),
        (&s3 as &dyn Emulated, "s3://no-such-bucket/sp"),
    ] {
        let env = emulator.client_env();
        let (code, stdout, stderr) = savepointer(
            &[
                "prune",
                "--jobmanager-url",
                &url,
                "--target-dir",
                root,
                "--all-jobs",
            ],
            &env,
        );
        assert_eq!(code, 2, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        let bucket = root.trim_end_matches("/sp");
        assert!(
            stderr.contains(&format!("the bucket {bucket} does not exist"))
                && stderr.contains("nothing was deleted"),
            "{stderr}"
        );
        let (code, _, stderr) = savepointer(
            &[
                "once",
                "--jobmanager-url",
                &url,
                "--target-dir",
                root,
                "--job-name",
                "orders",
            ],
            &env,
        );
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("does not exist"), "{stderr}");
        assert!(
            !stderr.contains("savepoint of 'orders' triggered"),
            "a savepoint was triggered:\n{stderr}"
        );
        assert!(!stderr.contains("testing-secret"), "{stderr}");
    }

    // No usable credentials (a key file that is not there): refused before anything runs.
    let (code, _, stderr) = savepointer(
        &[
            "prune",
            "--jobmanager-url",
            &url,
            "--target-dir",
            "gs://flink/sp",
            "--all-jobs",
        ],
        &[(
            "GOOGLE_APPLICATION_CREDENTIALS".into(),
            "/nonexistent/key.json".into(),
        )],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("gs://flink"), "{stderr}");

    // The daemon with a missing bucket: it runs on, not ready, and says why.
    let daemon = Daemon::start(
        &[
            "--jobmanager-url",
            &url,
            "--target-dir",
            "gs://no-such-bucket/sp",
            "--job-name",
            "orders",
            "--every",
            "1s",
        ],
        &gcs.client_env(),
    );
    let why = daemon
        .wait_for("/readyz", 503, |b| b.contains("does not exist"))
        .await;
    assert!(why.contains("the savepoint store failed"), "{why}");
    let metrics = daemon
        .wait_for("/metrics", 200, |b| {
            metric(b, "failures_total", Some("orders")).is_some_and(|v| v >= 1.0)
        })
        .await;
    assert_eq!(metric(&metrics, "store_up", None), Some(0.0), "{metrics}");
    assert_eq!(
        metric(&metrics, "savepoints_total", Some("orders")),
        Some(0.0)
    );
    drop(daemon);

    // The daemon's kept-savepoint gauges (a local root: Flink writes there).
    let kept_root = tempfile::tempdir().unwrap();
    let kept_str = kept_root.path().to_str().unwrap();
    let daemon = Daemon::start(
        &[
            "--jobmanager-url",
            &url,
            "--target-dir",
            kept_str,
            "--job-name",
            "orders",
            "--every",
            "1s",
            "--keep",
            "2",
        ],
        &[],
    );
    let layout = SavepointLayout::new(kept_str).unwrap();
    eventually(
        "kept_savepoints and kept_bytes match the layout after a disposal",
        Duration::from_secs(90),
        || async {
            let (_, text) = daemon.get("/metrics").await?;
            let disposed = metric(&text, "disposals_total", Some("orders")).unwrap_or(0.0);
            let count = metric(&text, "kept_savepoints", Some("orders"));
            let bytes = metric(&text, "kept_bytes", Some("orders"));
            let listed: Vec<_> = layout
                .list("orders", OffsetDateTime::now_utc())
                .await
                .map_err(|e| e.to_string())?
                .savepoints
                .into_iter()
                .filter(|s| s.complete)
                .collect();
            let sum: u64 = listed.iter().map(|s| s.bytes).sum();
            if disposed >= 1.0
                && count == Some(2.0)
                && listed.len() == 2
                && bytes == Some(sum as f64)
            {
                Ok(())
            } else {
                Err(format!(
                    "disposed {disposed}, gauges {count:?}/{bytes:?}, listed {} ({sum} bytes)",
                    listed.len()
                ))
            }
        },
    )
    .await;
    drop(daemon);

    // The store goes down: exit 3 for prune and once, nothing done.
    gcs.stop();
    let env = gcs.client_env();
    let root = "gs://flink/sp";
    let (code, _, stderr) = savepointer(
        &[
            "prune",
            "--jobmanager-url",
            &url,
            "--target-dir",
            root,
            "--job-name",
            "orders",
        ],
        &env,
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("cannot be reached") && stderr.contains("nothing was deleted"),
        "{stderr}"
    );
    let (code, _, stderr) = savepointer(
        &[
            "once",
            "--jobmanager-url",
            &url,
            "--target-dir",
            root,
            "--job-name",
            "orders",
        ],
        &env,
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("cannot be reached"), "{stderr}");
}

/// Without a JobManager, prune cannot tell what running jobs restored from:
/// it refuses with exit 3 and deletes nothing.
#[tokio::test]
async fn prune_refuses_without_the_jobmanager() {
    let real = tempfile::tempdir().unwrap();
    std::fs::write(real.path().join("_metadata"), b"meta").unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    for emulator in [
        Box::new(GcsEmulator::start()) as Box<dyn Emulated>,
        Box::new(S3Emulator::start()),
    ] {
        seed(emulator.as_ref(), real.path());
        let before = keys(emulator.as_ref(), BUCKET).await;
        let root = emulator.root(BUCKET, "sp");
        let (code, stdout, stderr) = savepointer(
            &[
                "prune",
                "--jobmanager-url",
                &dead,
                "--target-dir",
                &root,
                "--all-jobs",
                "--keep",
                "1",
            ],
            &emulator.client_env(),
        );
        assert_eq!(code, 3, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.contains("nothing was deleted"), "{stderr}");
        assert_eq!(keys(emulator.as_ref(), BUCKET).await, before);
    }
}

/// The "restored from" rule on a real bucket listing. Flink cannot restore
/// from gs:// or s3:// here (no filesystem plugin), so the retention decision
/// (`retention::to_dispose` with `retention::is_protected`, what the binary
/// runs) is fed the emulator's listing and the path Flink would report.
#[tokio::test]
async fn a_savepoint_a_job_restored_from_stays_on_a_real_listing() {
    use flink_savepointer::retention::{is_protected, to_dispose, Retention};
    let real = tempfile::tempdir().unwrap();
    std::fs::write(real.path().join("_metadata"), b"meta").unwrap();
    std::fs::write(real.path().join("0a1b"), [0u8; 64]).unwrap();
    for emulator in [
        Box::new(GcsEmulator::start()) as Box<dyn Emulated>,
        Box::new(S3Emulator::start()),
    ] {
        let emulator = emulator.as_ref();
        let seeded = seed(emulator, real.path());
        for (key, value) in emulator.client_env() {
            // Each nextest test is its own process: the environment is this test's alone.
            std::env::set_var(key, value);
        }
        let layout = SavepointLayout::new(&emulator.root(BUCKET, "sp")).unwrap();
        let now = OffsetDateTime::now_utc();
        let listing = layout.list("orders", now).await.unwrap();
        assert_eq!(listing.savepoints.len(), 6, "{listing:?}");
        // What Flink's /jobs/{id}/checkpoints reports as latest.restored.external_path.
        let restored_from = format!("{}://{BUCKET}/{}", emulator.scheme(), seeded.orders(4));
        let restored: HashSet<String> = [normalize(&restored_from)].into();
        let policy = Retention {
            keep: 1,
            max_age: None,
        };
        let at = time::PrimitiveDateTime::new(now.date(), now.time());
        let chosen: BTreeSet<String> = to_dispose(&listing.savepoints, &policy, at, |l| {
            is_protected(&restored, l)
        })
        .into_iter()
        .map(|s| s.location.clone())
        .collect();
        assert_eq!(
            chosen,
            locations(
                emulator,
                &[seeded.orders(5), seeded.orders(3), seeded.orders(2)]
            )
        );
        // The same path in another bucket protects nothing.
        let elsewhere: HashSet<String> =
            [normalize(&restored_from.replace("://flink/", "://other/"))].into();
        let unprotected = to_dispose(&listing.savepoints, &policy, at, |l| {
            is_protected(&elsewhere, l)
        });
        assert_eq!(unprotected.len(), 4);
        // Deleting what was chosen leaves the restored-from one and the newest.
        for location in &chosen {
            assert!(layout.delete("orders", location).await.unwrap() > 0);
        }
        let left: Vec<String> = layout
            .list("orders", now)
            .await
            .unwrap()
            .savepoints
            .into_iter()
            .filter(|s| s.complete)
            .map(|s| s.location)
            .collect();
        assert_eq!(
            left,
            [
                restored_from.clone(),
                format!("{}://{BUCKET}/{}", emulator.scheme(), seeded.orders(0))
            ]
        );
    }
}
