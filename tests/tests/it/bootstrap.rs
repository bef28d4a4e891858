//! flink-bootstrap, the built binary, starting real Flink clusters of every supported version
//! the way the seed article runs them: a JobManager with the adaptive scheduler, and
//! TaskManagers in an autoscaled instance group that learn the JobManager's address and their
//! Flink settings from GCE instance metadata (served by the stand-in).
//!
//! Run only these: `cargo nextest run -p flink-ops-tests -E 'test(/^bootstrap::/)'`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flink_rest::{FlinkClient, RunJob};
use flink_testkit::{
    each_version, eventually, example_jar, free_port, wait_counter_parallelism, workspace_bin,
    ClusterBuilder, FlinkDist, GceTree, JobVariant, Launch, MetadataStandin, Role,
    SUPPORTED_VERSIONS,
};
use serde_json::Value;

// ---- the instance group -----------------------------------------------------

/// The address every instance reaches the JobManager at, and the internal IP of every
/// instance: all processes run on this machine.
const LOCALHOST: &str = "127.0.0.1";

/// The GCE side of the article's setup: project metadata every instance sees (the JobManager's
/// address and a `flink-config` map) and per-instance attributes. Each process started gets its
/// own metadata server, as each VM has, kept alive until the test ends.
struct InstanceGroup {
    project_config: BTreeMap<String, String>,
    instance_config: BTreeMap<String, String>,
    standins: Mutex<Vec<MetadataStandin>>,
}

impl InstanceGroup {
    /// Project `flink-config` with the article's settings, shortened so a test is quick, and
    /// `instance_config` as the instance attribute `flink-config` of the instance named
    /// `taskmanager-0` (the others have none).
    fn new(version: &str, instance_config: &[(&str, &str)]) -> Self {
        let mut project: Vec<(&str, &str)> = vec![
            ("taskmanager.numberOfTaskSlots", "1"),
            // Overrides the elastic profile's 15 s.
            ("heartbeat.timeout", "10 s"),
            ("heartbeat.interval", "2 s"),
            ("restart-strategy.exponential-delay.initial-backoff", "1 s"),
            ("restart-strategy.exponential-delay.max-backoff", "2 s"),
            // Written under its 2.x name by the bootstrap on 2.x.
            (
                "jobmanager.adaptive-scheduler.resource-stabilization-timeout",
                "1 s",
            ),
            ("taskmanager.memory.process.size", "1024m"),
            ("taskmanager.memory.managed.size", "64m"),
        ];
        // How soon a running job scales up when slots arrive (30 s and more by default).
        if version.starts_with("1.") {
            project.push(("jobmanager.adaptive-scheduler.scaling-interval.min", "1 s"));
        } else {
            project.extend([
                (
                    "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling",
                    "1 s",
                ),
                (
                    "jobmanager.adaptive-scheduler.executing.resource-stabilization-timeout",
                    "1 s",
                ),
            ]);
        }
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Self {
            project_config: map(&project),
            instance_config: map(instance_config),
            standins: Mutex::new(Vec::new()),
        }
    }

    /// Starts the metadata server of the instance running `role`; returns its host for
    /// `GCE_METADATA_HOST`.
    fn serve(&self, role: Role) -> String {
        let name = format!("flink-{}", role.name());
        let mut tree = GceTree::new(&name, LOCALHOST)
            .project_attribute("flink-jobmanager-address", LOCALHOST)
            .project_attribute("flink-config", &yaml(&self.project_config));
        if role == Role::TaskManager(0) && !self.instance_config.is_empty() {
            tree = tree.instance_attribute("flink-config", &yaml(&self.instance_config));
        }
        let standin = MetadataStandin::start(tree.build()).expect("a metadata stand-in");
        let host = standin.host();
        self.standins.lock().expect("stand-ins").push(standin);
        host
    }

    /// Whether the metadata sets `key`: the harness must then not pass it with `--set`, which
    /// would win over the metadata.
    fn sets(&self, key: &str) -> bool {
        key == "jobmanager.rpc.address"
            || self.project_config.contains_key(key)
            || self.instance_config.contains_key(key)
    }

    /// The cluster's launcher: `flink-bootstrap --profile elastic --metadata gce jobmanager` or
    /// `... taskmanager`, each rendering into its own conf dir, with the harness' settings
    /// (ports, memory, directories, bind addresses) as `--set` unless the metadata has them.
    fn launcher(self: Arc<Self>) -> impl Fn(&Launch<'_>) -> Command + Send + Sync + 'static {
        move |launch| {
            let subcommand = match launch.role {
                Role::JobManager => "jobmanager",
                Role::TaskManager(_) => "taskmanager",
            };
            let mut cmd = bootstrap(launch.dist.home());
            cmd.arg("--conf-dir")
                .arg(launch.dir.join(format!("conf-{}", launch.role.name())))
                .args(["--profile", "elastic", "--metadata", "gce"])
                .env("GCE_METADATA_HOST", self.serve(launch.role));
            for (key, value) in launch.config {
                if !self.sets(key) {
                    cmd.arg("--set").arg(format!("{key}={value}"));
                }
            }
            cmd.arg(subcommand);
            cmd
        }
    }
}

fn yaml(config: &BTreeMap<String, String>) -> String {
    config.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

/// The bootstrap for `home`, with no input from the test's own environment.
fn bootstrap(home: &Path) -> Command {
    let mut cmd = Command::new(workspace_bin("flink-bootstrap"));
    for var in [
        "FLINK_HOME",
        "FLINK_CONF_DIR",
        "FLINK_PROPERTIES",
        "JOB_MANAGER_RPC_ADDRESS",
        "TASK_MANAGER_NUMBER_OF_TASK_SLOTS",
        "GCE_METADATA_HOST",
        "FLINK_BOOTSTRAP_METADATA",
        "FLINK_BOOTSTRAP_METADATA_TIMEOUT",
        "FLINK_BOOTSTRAP_PROFILE",
        "FLINK_BOOTSTRAP_STRICT",
        "FLINK_BOOTSTRAP_RUN_AS",
        "FLINK_OPS_LOG_FORMAT",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("--flink-home").arg(home);
    // As root the bootstrap switches to the image's `flink` user, which this machine lacks.
    let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
    if uid == 0 {
        cmd.args(["--run-as", "root"]);
    }
    cmd
}

// ---- the elastic cluster ------------------------------------------------------

/// Waits until the registered TaskManagers offer `expected` slots (sorted).
async fn slots_become(client: &FlinkClient, expected: &[u32]) {
    eventually(
        &format!("TaskManagers with {expected:?} slots"),
        Duration::from_secs(60),
        || async move {
            let tms = client.task_managers().await.map_err(|e| e.to_string())?;
            let mut slots: Vec<u32> = tms.iter().map(|tm| tm.slots_number).collect();
            slots.sort();
            if slots == expected {
                Ok(())
            } else {
                Err(format!("{slots:?}"))
            }
        },
    )
    .await
}

/// The JobManager's effective configuration (`GET /jobmanager/config`).
async fn jobmanager_config(url: &url::Url) -> BTreeMap<String, String> {
    let entries: Value = reqwest::get(url.join("jobmanager/config").expect("a URL"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("GET /jobmanager/config")
        .json()
        .await
        .expect("JSON");
    entries
        .as_array()
        .expect("a list of {key, value}")
        .iter()
        .filter_map(|e| Some((e["key"].as_str()?.into(), e["value"].as_str()?.into())))
        .collect()
}

/// The article's setup end to end: TaskManagers configured from metadata join the JobManager,
/// a job submitted with more parallelism than slots uses every slot, and it follows the
/// instance group down when a TaskManager dies and up when one is added.
#[each_version(flavor = "multi_thread")]
async fn elastic_instance_group(version: &str) {
    // TaskManager 0 gets 2 slots from its instance attribute; the others the project's 1.
    let group = Arc::new(InstanceGroup::new(
        version,
        &[("taskmanager.numberOfTaskSlots", "2")],
    ));
    let mut cluster = ClusterBuilder::new(version)
        .taskmanagers(2)
        // The bootstrap binds 0.0.0.0 so other instances can connect; here they are local.
        .config("jobmanager.bind-host", LOCALHOST)
        .config("rest.bind-address", LOCALHOST)
        .config("taskmanager.bind-host", LOCALHOST)
        .launcher(Arc::clone(&group).launcher())
        .start()
        .await;
    let client = cluster.client();

    // Each TaskManager registered with the slots rendered for it: instance over project.
    slots_become(client, &[1, 2]).await;
    // The JobManager runs with the profile, overridden by the project's metadata.
    let jm = jobmanager_config(cluster.url()).await;
    assert_eq!(
        jm.get("jobmanager.scheduler").map(String::as_str),
        Some("adaptive")
    );
    assert_eq!(
        jm.get("restart-strategy.type").map(String::as_str),
        Some("exponential-delay")
    );
    assert_eq!(
        jm.get("heartbeat.timeout").map(String::as_str),
        Some("10 s")
    );
    // Every process rendered its own config.
    for name in ["jobmanager", "taskmanager-0", "taskmanager-1"] {
        let file = cluster.dir().join(format!("conf-{name}/config.yaml"));
        assert!(file.is_file(), "{} was not rendered", file.display());
    }

    // More parallelism than slots: the adaptive scheduler uses every slot.
    let jar = client
        .upload_jar(
            &example_jar(cluster.dist(), JobVariant::Normal),
            "bootstrap-test.jar",
        )
        .await
        .expect("the example jar uploads");
    let job = client
        .run_jar(
            &jar,
            &RunJob {
                program_args: vec!["--name".into(), "elastic".into()],
                parallelism: Some(16),
                ..RunJob::default()
            },
        )
        .await
        .expect("the job is submitted");
    wait_counter_parallelism(client, &job, 3, "on both TaskManagers").await;

    // The instance with 2 slots goes away: the job runs on what is left.
    cluster.kill_taskmanager(0);
    let client = cluster.client();
    wait_counter_parallelism(client, &job, 1, "after TaskManager 0 was killed").await;
    slots_become(client, &[1]).await;

    // The group scales out again: the job follows.
    cluster.start_taskmanager().await;
    let client = cluster.client();
    wait_counter_parallelism(client, &job, 2, "after a TaskManager was added").await;
    slots_become(client, &[1, 1]).await;
}

// ---- bad inputs -----------------------------------------------------------------

/// How a bootstrap that was expected not to start Flink ended.
struct Ended {
    code: i32,
    stderr: String,
}

/// A scratch dir (named like a cluster's, so a stray JVM would fail CI's check) with the
/// installation under test, where each run's Flink logs would appear.
struct Scratch {
    dir: tempfile::TempDir,
    dist: FlinkDist,
}

impl Scratch {
    fn new(version: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("flink-ops-cluster-")
            .tempdir()
            .expect("a temp dir");
        Self {
            dir,
            dist: FlinkDist::get(version),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// `flink-bootstrap` for the installation, rendering into `conf`.
    fn command(&self) -> Command {
        self.command_into(&self.path("conf"))
    }

    /// `flink-bootstrap` for the installation, rendering into `conf_dir`.
    fn command_into(&self, conf_dir: &Path) -> Command {
        let mut cmd = bootstrap(self.dist.home());
        cmd.arg("--conf-dir").arg(conf_dir);
        cmd
    }

    /// Runs `cmd` and waits for it to end by itself; a bootstrap that execs Flink would not,
    /// so after a while it is killed and the test fails.
    async fn run(&self, cmd: &mut Command) -> Ended {
        let log_dir = self.path("log");
        std::fs::create_dir_all(&log_dir).expect("a log dir");
        let stderr_path = self.path("bootstrap.stderr");
        let stderr = std::fs::File::create(&stderr_path).expect("a stderr file");
        let child = cmd
            .env("FLINK_LOG_DIR", &log_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("flink-bootstrap starts");
        let mut child = KillOnDrop(child);
        let status = eventually(
            &format!("{cmd:?} exiting by itself (did it start Flink?)"),
            Duration::from_secs(60),
            || {
                let status = child.0.try_wait().expect("wait for flink-bootstrap");
                let stderr_path = &stderr_path;
                async move {
                    status.ok_or_else(|| {
                        let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
                        format!("still running; its stderr:\n{stderr}")
                    })
                }
            },
        )
        .await;
        let stderr = std::fs::read_to_string(&stderr_path).expect("stderr");
        let flink_logs: Vec<_> = std::fs::read_dir(&log_dir)
            .expect("the log dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            flink_logs.is_empty(),
            "Flink was started (logs {flink_logs:?}); bootstrap said:\n{stderr}"
        );
        Ended {
            code: status.code().expect("an exit code, not a signal"),
            stderr,
        }
    }

    /// Asserts the bootstrap refused with `code` (as documented in `--help`), said so
    /// mentioning each of `mentions`, and wrote no config.
    async fn refused(&self, cmd: &mut Command, code: i32, mentions: &[&str]) -> Ended {
        let _ = std::fs::remove_dir_all(self.path("conf"));
        let ended = self.run(cmd).await;
        assert_eq!(ended.code, code, "exit code; stderr:\n{}", ended.stderr);
        for text in mentions {
            assert!(
                ended.stderr.contains(text),
                "`{text}` not in stderr:\n{}",
                ended.stderr
            );
        }
        for file in ["config.yaml", "flink-conf.yaml"] {
            assert!(
                !self.path("conf").join(file).exists(),
                "{file} was written; stderr:\n{}",
                ended.stderr
            );
        }
        ended
    }
}

/// A child process killed (and reaped) when the test is done with it, e.g. when it
/// panicked while waiting for the child to exit.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The exit code `flink-bootstrap --help` documents for `description`.
fn documented_exit_code(description: &str) -> i32 {
    let out = Command::new(workspace_bin("flink-bootstrap"))
        .arg("--help")
        .output()
        .expect("flink-bootstrap --help");
    let help = String::from_utf8_lossy(&out.stdout);
    help.lines()
        .find_map(|line| {
            let (code, text) = line.trim().split_once(char::is_whitespace)?;
            (text.trim() == description).then(|| code.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no exit code for `{description}` in --help:\n{help}"))
}

/// The article's TaskManager settings, typo included, as the official image's variable.
const ARTICLE_TASKMANAGER: &str =
    "jobmanager.rpc.address: 10.0.0.2\nhearbeat.timeout: 15000\ntaskmanager.numberOfTaskSlots: 2\n";

#[tokio::test]
async fn bad_inputs_are_refused_before_flink_starts() {
    let scratch = Scratch::new(SUPPORTED_VERSIONS[1]);
    let invalid =
        documented_exit_code("invalid configuration (values, metadata, --strict warnings)");
    assert_eq!(invalid, 65);

    // The article's typo: a warning that names the real key; the config is still rendered.
    let typo = scratch
        .run(
            scratch
                .command()
                .args(["--metadata", "none", "--profile", "elastic"])
                .env("FLINK_PROPERTIES", ARTICLE_TASKMANAGER)
                .args(["render", "taskmanager"]),
        )
        .await;
    assert_eq!(typo.code, 0, "stderr:\n{}", typo.stderr);
    assert!(
        typo.stderr
            .contains("hearbeat.timeout (from env (FLINK_PROPERTIES)): unknown key; did you mean heartbeat.timeout?"),
        "{}",
        typo.stderr
    );
    let rendered = std::fs::read_to_string(scratch.path("conf/config.yaml")).expect("rendered");
    assert!(
        rendered.contains("heartbeat.timeout: '15 s'\n"),
        "the profile's timeout, not the typo's: {rendered}"
    );

    // With --strict the same typo stops the TaskManager from starting.
    let strict = scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "none", "--profile", "elastic", "--strict"])
                .env("FLINK_PROPERTIES", ARTICLE_TASKMANAGER)
                .arg("taskmanager"),
            invalid,
            &[
                "did you mean heartbeat.timeout?",
                "(--strict)",
                "Flink was not started",
            ],
        )
        .await;
    assert!(!strict.stderr.contains("exec "), "{}", strict.stderr);

    // A value of the wrong type, from the project's metadata: an error naming key, value and
    // where it came from.
    let standin = MetadataStandin::start(
        GceTree::new("flink-tm-bad", LOCALHOST)
            .project_attribute("flink-jobmanager-address", LOCALHOST)
            .project_attribute("flink-config", "heartbeat.timeout: fast\n")
            .build(),
    )
    .expect("a metadata stand-in");
    scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "gce", "--profile", "elastic"])
                .env("GCE_METADATA_HOST", standin.host())
                .arg("taskmanager"),
            invalid,
            &[
                "heartbeat.timeout (from metadata project (project attribute flink-config)): \
             `fast` is not valid",
                "Flink was not started",
            ],
        )
        .await;

    // A conf dir that cannot be written (a read-only filesystem).
    scratch
        .refused(
            scratch
                .command_into(Path::new("/proc/flink-ops-conf"))
                .args(["--metadata", "none", "jobmanager"]),
            documented_exit_code("the config could not be written"),
            &["/proc/flink-ops-conf"],
        )
        .await;

    // The metadata server answers 503 (maintenance) for longer than --metadata-timeout: retried,
    // then its own exit code.
    let unavailable = documented_exit_code("instance metadata unavailable");
    assert_eq!(unavailable, 69);
    standin.fail_next(u32::MAX);
    let before = standin.requests();
    scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "gce", "--metadata-timeout", "2s"])
                .env("GCE_METADATA_HOST", standin.host())
                .arg("taskmanager"),
            unavailable,
            &["instance metadata is required", "attempt(s)", "503"],
        )
        .await;
    let tries = standin.requests() - before;
    assert!(tries > 2, "the metadata server was asked {tries} time(s)");

    // No metadata server at all.
    scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "gce", "--metadata-timeout", "2s"])
                .env("GCE_METADATA_HOST", format!("{LOCALHOST}:{}", free_port()))
                .arg("taskmanager"),
            unavailable,
            &["instance metadata is required"],
        )
        .await;

    // No Flink where --flink-home points.
    let missing = scratch.path("no-flink-here");
    let mut cmd = bootstrap(&missing);
    cmd.arg("--conf-dir")
        .arg(scratch.path("conf"))
        .args(["--metadata", "none", "jobmanager"]);
    scratch
        .refused(
            &mut cmd,
            documented_exit_code("no Flink installation at --flink-home"),
            &[
                missing.to_str().expect("a UTF-8 path"),
                "a Flink installation",
            ],
        )
        .await;
}
