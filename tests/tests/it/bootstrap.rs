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

mod observability;

// ---- the instance group -----------------------------------------------------

/// The address every instance reaches the JobManager at, and the internal IP of every
/// instance: all processes run on this machine.
pub(crate) const LOCALHOST: &str = "127.0.0.1";

/// The GCE side of the article's setup: project metadata every instance sees (the JobManager's
/// address and a `flink-config` map) and per-instance attributes. Each process started gets its
/// own metadata server, as each VM has, kept alive until the test ends.
pub(crate) struct InstanceGroup {
    project_config: BTreeMap<String, String>,
    instance_config: BTreeMap<String, String>,
    standins: Mutex<Vec<MetadataStandin>>,
}

impl InstanceGroup {
    /// Project `flink-config` with the article's settings, shortened so a test is quick, and
    /// `instance_config` as the instance attribute `flink-config` of the instance named
    /// `taskmanager-0` (the others have none).
    pub(crate) fn new(version: &str, instance_config: &[(&str, &str)]) -> Self {
        let (timeout, interval) = heartbeat_for(version);
        let mut project: Vec<(&str, &str)> = vec![
            ("taskmanager.numberOfTaskSlots", "1"),
            // Overrides the elastic profile's 15 s.
            ("heartbeat.timeout", timeout),
            ("heartbeat.interval", interval),
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
        // (scaling-interval.min came with 1.19; before, the default applies).
        if version.starts_with("1.19.") || version.starts_with("1.20.") {
            project.push(("jobmanager.adaptive-scheduler.scaling-interval.min", "1 s"));
        } else if version.starts_with("2.") {
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
    pub(crate) fn launcher(
        self: Arc<Self>,
    ) -> impl Fn(&Launch<'_>) -> Command + Send + Sync + 'static {
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
            // The profile's Prometheus reporter, on a port of its own: its defaults belong to
            // `observability::`, which checks them, and tests run side by side.
            cmd.arg("--set")
                .arg(format!("metrics.reporter.prom.port={}", free_port()));
            cmd.arg(subcommand);
            cmd
        }
    }
}

/// The instance group's heartbeat timeout and interval as `version` reads them: milliseconds
/// before 1.20, durations since.
pub(crate) fn heartbeat_for(version: &str) -> (&'static str, &'static str) {
    if ["1.17.", "1.18.", "1.19."]
        .iter()
        .any(|p| version.starts_with(p))
    {
        ("10000", "2000")
    } else {
        ("10 s", "2 s")
    }
}

fn yaml(config: &BTreeMap<String, String>) -> String {
    config.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

/// The bootstrap for `home`, with no input from the test's own environment.
fn bootstrap(home: &Path) -> Command {
    // As root the bootstrap switches to the image's `flink` user, which this machine lacks.
    let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
    bootstrap_as(home, (uid == 0).then_some("root"))
}

/// The bootstrap for `home` with `--run-as USER` (none: the bootstrap's default).
fn bootstrap_as(home: &Path, run_as: Option<&str>) -> Command {
    let mut cmd = Command::new(workspace_bin("flink-bootstrap"));
    for var in [
        "FLINK_HOME",
        "FLINK_CONF_DIR",
        "FLINK_PROPERTIES",
        "JOB_MANAGER_RPC_ADDRESS",
        "TASK_MANAGER_NUMBER_OF_TASK_SLOTS",
        "ENABLE_BUILT_IN_PLUGINS",
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
    if let Some(user) = run_as {
        cmd.args(["--run-as", user]);
    }
    cmd
}

// ---- the elastic cluster ------------------------------------------------------

/// Waits until the registered TaskManagers offer `expected` slots (sorted).
pub(crate) async fn slots_become(client: &FlinkClient, expected: &[u32]) {
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
pub(crate) async fn jobmanager_config(url: &url::Url) -> BTreeMap<String, String> {
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
            documented_exit_code("the config (or a plugin's link) could not be written"),
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

/// Values Flink would not read (an `int` out of range, a port that is not a number), metadata
/// that is not UTF-8 or too large, and YAML nested too deeply for its parser: each is refused
/// with the documented code before Flink starts, naming what is wrong.
#[tokio::test]
async fn values_flink_cannot_read_are_refused_before_flink_starts() {
    let scratch = Scratch::new(SUPPORTED_VERSIONS[1]);
    let invalid =
        documented_exit_code("invalid configuration (values, metadata, --strict warnings)");

    // Java reads the slot count as an int.
    scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "none"])
                .args(["--set", "taskmanager.numberOfTaskSlots=100000000000"])
                .arg("taskmanager"),
            invalid,
            &[
                "taskmanager.numberOfTaskSlots (from --set): `100000000000` is not valid: \
             expected a whole number from 1 to 2147483647",
                "Flink was not started",
            ],
        )
        .await;
    // The catalog typed rest.port by rest.bind-port, a string option that falls back to it.
    scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "none"])
                .env("FLINK_PROPERTIES", "rest.port: abc\n")
                .arg("jobmanager"),
            invalid,
            &["rest.port (from env (FLINK_PROPERTIES)): `abc` is not valid: expected a port"],
        )
        .await;
    // An enum whose names the catalog did not have.
    scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "none"])
                .args(["--set", "execution.checkpointing.mode=EXACTLY_ONCE_PLEASE"])
                .arg("jobmanager"),
            invalid,
            &[
                "execution.checkpointing.mode",
                "one of EXACTLY_ONCE, AT_LEAST_ONCE",
            ],
        )
        .await;
    // A duration Flink cannot hold in milliseconds.
    scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "none"])
                .args(["--set", "heartbeat.timeout=300000000000 d"])
                .arg("taskmanager"),
            invalid,
            &["heartbeat.timeout (from --set): `300000000000 d` is not valid"],
        )
        .await;

    // The official image's variable, not UTF-8: neither dropped nor decoded with U+FFFD.
    use std::os::unix::ffi::OsStrExt;
    scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "none"])
                .env(
                    "FLINK_PROPERTIES",
                    std::ffi::OsStr::from_bytes(b"taskmanager.host: caf\xe9\n"),
                )
                .arg("taskmanager"),
            invalid,
            &[
                "$FLINK_PROPERTIES is not valid UTF-8",
                "Flink was not started",
            ],
        )
        .await;

    // An instance attribute holding bytes that are not UTF-8, in a value of any text (which
    // U+FFFD would pass as).
    let standin = MetadataStandin::start(
        GceTree::new("flink-tm-bytes", LOCALHOST)
            .project_attribute("flink-jobmanager-address", LOCALHOST)
            .instance_attribute("flink-config", "env.java.opts.all: -Dcity=NOT-UTF8\n")
            .build(),
    )
    .expect("a metadata stand-in");
    standin.replace_in_answers("NOT-UTF8", b"caf\xe9");
    scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "gce"])
                .env("GCE_METADATA_HOST", standin.host())
                .arg("taskmanager"),
            invalid,
            &[
                "metadata value instance/attributes/flink-config is not valid UTF-8",
                "Flink was not started",
            ],
        )
        .await;

    // The 200 KB `[[[…` as the project's flink-config: refused before the YAML parser
    // spends minutes on it.
    let deep = format!("env.java.opts.all: {}\n", "[".repeat(200_000));
    let standin = MetadataStandin::start(
        GceTree::new("flink-tm-deep", LOCALHOST)
            .project_attribute("flink-jobmanager-address", LOCALHOST)
            .project_attribute("flink-config", &deep)
            .build(),
    )
    .expect("a metadata stand-in");
    scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "gce"])
                .env("GCE_METADATA_HOST", standin.host())
                .arg("taskmanager"),
            invalid,
            &[
                "metadata project attribute flink-config",
                "deeply nested YAML takes long to read",
            ],
        )
        .await;
    // Nested past the depth limit with few brackets, in the image's own config file.
    let home = scratch.path("deep-home");
    let conf = home.join("conf");
    std::fs::create_dir_all(&conf).expect("a conf dir");
    for dir in ["lib", "bin"] {
        std::os::unix::fs::symlink(scratch.dist.home().join(dir), home.join(dir))
            .expect("a symlink into the installation");
    }
    let nested = format!(
        "pipeline:\n  global-job-parameters: {}x{}\n",
        "{a: ".repeat(100),
        "}".repeat(100)
    );
    std::fs::write(conf.join("config.yaml"), nested).expect("a config file");
    let mut cmd = bootstrap(&home);
    cmd.arg("--conf-dir")
        .arg(scratch.path("conf"))
        .args(["--metadata", "none", "taskmanager"]);
    scratch
        .refused(
            &mut cmd,
            invalid,
            &[
                "config.yaml",
                "line 2: `[`/`{` nested more than 64 levels deep",
            ],
        )
        .await;

    // A metadata answer far larger than any metadata server sends: not read into memory.
    let standin = MetadataStandin::start(
        GceTree::new("flink-tm-huge", LOCALHOST)
            .project_attribute("flink-jobmanager-address", LOCALHOST)
            .build(),
    )
    .expect("a metadata stand-in");
    standin.pad_answers(64 << 20);
    scratch
        .refused(
            scratch
                .command()
                .args(["--metadata", "gce"])
                .env("GCE_METADATA_HOST", standin.host())
                .arg("taskmanager"),
            documented_exit_code("instance metadata unavailable"),
            &[
                "answered with more than 4194304 bytes",
                "instance metadata is required",
            ],
        )
        .await;
}

/// When FLINK_HOME/conf cannot be written, the config goes to a new directory only the
/// bootstrap's user can enter, never to a fixed path in the temporary directory where another
/// local user may have planted a symlink to a directory of theirs (and could then swap
/// `env.java.opts` under Flink). The installation is a stand-in whose start script shows what
/// Flink would be given: the real one lives under /root, which the unprivileged user the
/// bootstrap runs as here cannot enter.
#[test]
fn an_unwritable_conf_dir_falls_back_to_a_new_private_dir() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    let scratch = tempfile::Builder::new()
        .prefix("flink-ops-bootstrap-")
        .tempdir()
        .expect("a temp dir");
    mode(scratch.path(), 0o755);
    let home = scratch.path().join("home");
    for dir in ["lib", "bin", "conf"] {
        std::fs::create_dir_all(home.join(dir)).expect("a dir");
    }
    std::fs::write(home.join("lib/flink-dist-2.3.0.jar"), "").expect("a dist jar");
    let script = home.join("bin/taskmanager.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"FLINK_CONF_DIR=$FLINK_CONF_DIR\"\ncat \"$FLINK_CONF_DIR/config.yaml\"\n",
    )
    .expect("a start script");
    mode(&script, 0o755);
    std::fs::write(
        home.join("conf/config.yaml"),
        "taskmanager:\n  numberOfTaskSlots: 1\n",
    )
    .expect("the image's config");
    std::fs::write(
        home.join("conf/log4j-console.properties"),
        "rootLogger.level = INFO\n",
    )
    .expect("a log4j file");
    // Not writable by the bootstrap's user: root is switched to `nobody` below.
    mode(&home.join("conf"), 0o555);

    // A shared temporary directory where someone else planted `flink-conf` -> their directory
    // (writable by all, so that writing into it would succeed).
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir(&tmp).expect("a tmp dir");
    mode(&tmp, 0o1777);
    let theirs = scratch.path().join("someone-elses");
    std::fs::create_dir(&theirs).expect("their dir");
    mode(&theirs, 0o777);
    std::os::unix::fs::symlink(&theirs, tmp.join("flink-conf")).expect("the planted symlink");

    let mut cmd = Command::new(workspace_bin("flink-bootstrap"));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TMPDIR", &tmp)
        .arg("--flink-home")
        .arg(&home)
        .args(["--metadata", "none", "--set", "taskmanager.host=10.0.0.9"])
        .arg("taskmanager");
    let root = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid()) == 0;
    if root {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().expect("flink-bootstrap runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);

    let conf_dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("FLINK_CONF_DIR="))
        .unwrap_or_else(|| panic!("no FLINK_CONF_DIR given to Flink:\n{stdout}\n{stderr}"));
    let conf_dir = Path::new(conf_dir);
    let theirs_entries: Vec<_> = std::fs::read_dir(&theirs)
        .expect("their dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        theirs_entries.is_empty(),
        "wrote {theirs_entries:?} through the planted symlink; stderr:\n{stderr}"
    );
    assert!(
        !conf_dir.starts_with(&theirs) && conf_dir != tmp.join("flink-conf"),
        "Flink was given {}",
        conf_dir.display()
    );
    assert_eq!(
        conf_dir.parent(),
        Some(tmp.as_path()),
        "{}",
        conf_dir.display()
    );
    let meta = std::fs::symlink_metadata(conf_dir).expect("the conf dir");
    assert!(meta.is_dir());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o700,
        "only its owner may enter"
    );
    assert_eq!(
        meta.uid(),
        if root {
            65534
        } else {
            scratch.path().metadata().expect("x").uid()
        }
    );
    // Flink reads the rendered config and the image's logging setup from there.
    assert!(
        stdout.contains("taskmanager.host: '10.0.0.9'\n"),
        "{stdout}"
    );
    assert!(conf_dir.join("log4j-console.properties").is_file());
    assert!(stderr.contains("is not writable"), "{stderr}");
}

/// In the elastic setup TaskManagers run on hosts of their own: a savepoint or checkpoint
/// directory on local disk gets a warning saying why its state could not be restored (an
/// error under `--strict`); a bucket does not.
#[tokio::test]
async fn local_state_dirs_are_flagged_in_the_elastic_setup() {
    let scratch = Scratch::new(SUPPORTED_VERSIONS[1]);
    let check = |dir: &str, strict: bool| {
        let mut cmd = scratch.command();
        cmd.args(["--metadata", "none", "--profile", "elastic"])
            .args(["--set", &format!("state.savepoints.dir={dir}")]);
        if strict {
            cmd.arg("--strict");
        }
        cmd.args(["check", "taskmanager"]);
        cmd
    };
    let local = scratch
        .run(&mut check("file:///data/savepoints", false))
        .await;
    assert_eq!(local.code, 0, "{}", local.stderr);
    assert!(
        local
            .stderr
            .contains("execution.checkpointing.savepoint-dir")
            && local.stderr.contains("cannot be restored"),
        "{}",
        local.stderr
    );
    scratch
        .refused(
            &mut check("/data/savepoints", true),
            documented_exit_code("invalid configuration (values, metadata, --strict warnings)"),
            &["cannot be restored"],
        )
        .await;
    let bucket = scratch
        .run(&mut check("gs://bucket/savepoints", false))
        .await;
    assert_eq!(bucket.code, 0, "{}", bucket.stderr);
    assert!(
        !bucket.stderr.contains("cannot be restored"),
        "{}",
        bucket.stderr
    );
}

/// A Flink installation of its own, writable, for plugin tests: the real distribution's `bin`,
/// `lib` and `conf` linked in, an `opt/` holding a GCS filesystem plugin jar, no `plugins/`.
fn home_with_opt_plugin(scratch: &Scratch, jar: &str) -> std::path::PathBuf {
    let home = scratch.path("home");
    std::fs::create_dir_all(home.join("opt")).unwrap();
    for dir in ["bin", "lib", "conf"] {
        std::os::unix::fs::symlink(scratch.dist.home().join(dir), home.join(dir)).unwrap();
    }
    // The plugin's content is Flink's business; what is checked here is that it gets enabled.
    std::fs::write(home.join("opt").join(jar), b"a plugin jar").unwrap();
    home
}

/// A bucket state directory needs Flink's filesystem plugin for its scheme: without one the
/// bootstrap warns (an error under `--strict`) with the fix; `ENABLE_BUILT_IN_PLUGINS` enables one
/// from `opt/` as the official image's entrypoint does, and a plugin name not in `opt/` is refused.
#[tokio::test]
async fn bucket_state_dirs_need_their_filesystem_plugin() {
    let scratch = Scratch::new(SUPPORTED_VERSIONS[0]);
    let version = SUPPORTED_VERSIONS[0];
    let jar = format!("flink-gs-fs-hadoop-{version}.jar");
    let home = home_with_opt_plugin(&scratch, &jar);
    let command = |action: &str, strict: bool, enable: Option<&str>| {
        let mut cmd = bootstrap(&home);
        cmd.arg("--conf-dir").arg(scratch.path("conf"));
        cmd.args([
            "--metadata",
            "none",
            "--set",
            "state.savepoints.dir=gs://bucket/savepoints",
        ]);
        if strict {
            cmd.arg("--strict");
        }
        if let Some(enable) = enable {
            cmd.env("ENABLE_BUILT_IN_PLUGINS", enable);
        }
        cmd.args([action, "jobmanager"]);
        cmd
    };
    let warned = scratch.run(&mut command("check", false, None)).await;
    assert_eq!(warned.code, 0, "{}", warned.stderr);
    assert!(
        warned
            .stderr
            .contains("no Flink filesystem plugin for gs://")
            && warned
                .stderr
                .contains(&format!("ENABLE_BUILT_IN_PLUGINS={jar}")),
        "{}",
        warned.stderr
    );
    let invalid =
        documented_exit_code("invalid configuration (values, metadata, --strict warnings)");
    scratch
        .refused(
            &mut command("render", true, None),
            invalid,
            &["no Flink filesystem plugin"],
        )
        .await;
    scratch
        .refused(
            &mut command("render", false, Some("flink-gs-fs-hadoop-0.0.jar")),
            invalid,
            &[
                "ENABLE_BUILT_IN_PLUGINS names flink-gs-fs-hadoop-0.0.jar",
                &jar,
            ],
        )
        .await;
    assert!(
        !home.join("plugins").exists(),
        "a refused run links nothing"
    );

    let enabled = scratch.run(&mut command("render", true, Some(&jar))).await;
    assert_eq!(enabled.code, 0, "{}", enabled.stderr);
    let link = home
        .join("plugins")
        .join(jar.trim_end_matches(".jar"))
        .join(&jar);
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        home.join("opt").join(&jar)
    );
    // Once installed, no variable is needed.
    let installed = scratch.run(&mut command("check", true, None)).await;
    assert_eq!(installed.code, 0, "{}", installed.stderr);
}

/// A local savepoint directory the user Flink runs as cannot create is flagged before Flink
/// starts, with that user's uid and gid and the commands to run (an error under `--strict`).
/// Started as root, the bootstrap gives an empty one to the user it drops to, and Flink (here a
/// start script standing in for it, which records who it runs as) can write there.
#[tokio::test]
async fn local_state_dirs_flink_cannot_write_are_flagged_with_the_fix() {
    let scratch = Scratch::new(SUPPORTED_VERSIONS[1]);
    let root = nix::unistd::geteuid().is_root();
    // As root, the check is for `--run-as nobody`; otherwise for ourselves, on a read-only dir.
    let (run_as, uid, gid) = if root {
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        (Some("nobody"), nobody.uid.as_raw(), nobody.gid.as_raw())
    } else {
        (
            None,
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    };
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    // The user Flink runs as must reach the scratch dir (a temp dir is 0700).
    mode(scratch.dir.path(), 0o755);
    let savepoints = scratch.path("savepoints");
    std::fs::create_dir(&savepoints).unwrap();
    mode(&savepoints, if root { 0o755 } else { 0o555 });
    let check = |dir: &str, strict: bool| {
        let mut cmd = bootstrap_as(scratch.dist.home(), run_as);
        cmd.arg("--conf-dir").arg(scratch.path("conf"));
        cmd.args(["--metadata", "none"])
            .args(["--set", &format!("state.savepoints.dir={dir}")]);
        if strict {
            cmd.arg("--strict");
        }
        cmd.args(["check", "jobmanager"]);
        cmd
    };
    let deeper = format!("file://{}/orders", savepoints.display());
    let warned = scratch.run(&mut check(&deeper, false)).await;
    assert_eq!(warned.code, 0, "{}", warned.stderr);
    for part in [
        "execution.checkpointing.savepoint-dir".to_string(),
        format!("uid {uid}, gid {gid}"),
        format!("{} belongs to uid", savepoints.display()),
        format!("sudo chown -R {uid}:{gid} HOST_DIR"),
        format!("-v HOST_DIR:{}/orders", savepoints.display()),
    ] {
        assert!(
            warned.stderr.contains(&part),
            "`{part}` not in:\n{}",
            warned.stderr
        );
    }
    let invalid =
        documented_exit_code("invalid configuration (values, metadata, --strict warnings)");
    scratch
        .refused(
            &mut check(savepoints.to_str().unwrap(), true),
            invalid,
            &[&format!("sudo chown -R {uid}:{gid} HOST_DIR")],
        )
        .await;
    // Under a regular file nobody can create it, root neither.
    std::fs::write(scratch.path("a-file"), b"x").unwrap();
    let under_file = format!("{}/savepoints", scratch.path("a-file").display());
    let flagged = scratch.run(&mut check(&under_file, false)).await;
    assert!(
        flagged.stderr.contains("is not a directory"),
        "{}",
        flagged.stderr
    );
    // A writable one is not flagged.
    let fine = scratch.path("fine");
    std::fs::create_dir(&fine).unwrap();
    mode(&fine, 0o777);
    let ok = scratch.run(&mut check(fine.to_str().unwrap(), true)).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);

    if !root {
        eprintln!("not root: giving an empty directory to Flink's user is not exercised");
        return;
    }
    // Started as root: the empty directory becomes nobody's before the exec. The installation's
    // start script stands in for Flink and records who it runs as, in the directory itself.
    let home = scratch.path("home");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    for dir in ["lib", "conf"] {
        std::os::unix::fs::symlink(scratch.dist.home().join(dir), home.join(dir)).unwrap();
    }
    let script = home.join("bin/jobmanager.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nid -u > {}/written-by-flink\n",
            savepoints.display()
        ),
    )
    .unwrap();
    mode(&script, 0o755);
    let mut start = bootstrap_as(&home, run_as);
    start.arg("--conf-dir").arg(scratch.path("conf"));
    start.args(["--metadata", "none", "--strict"]).args([
        "--set",
        &format!("state.savepoints.dir=file://{}", savepoints.display()),
        "jobmanager",
    ]);
    let started = scratch.run(&mut start).await;
    assert_eq!(started.code, 0, "{}", started.stderr);
    assert!(
        started.stderr.contains(&format!(
            "gave the empty state directory {} to nobody (uid {uid}, gid {gid})",
            savepoints.display()
        )),
        "{}",
        started.stderr
    );
    assert_eq!(std::fs::metadata(&savepoints).unwrap().uid(), uid);
    let written = std::fs::read_to_string(savepoints.join("written-by-flink"))
        .unwrap_or_else(|e| panic!("the start script did not write: {e}\n{}", started.stderr));
    assert_eq!(written.trim(), uid.to_string());
    // Not empty any more: never changed again (here it is nobody's already, and stays so).
    let other = scratch.path("full");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("data"), b"someone's").unwrap();
    let mut again = bootstrap_as(&home, run_as);
    again.arg("--conf-dir").arg(scratch.path("conf"));
    again.args(["--metadata", "none"]).args([
        "--set",
        &format!("state.checkpoints.dir={}", other.display()),
        "jobmanager",
    ]);
    let kept = scratch.run(&mut again).await;
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    assert_eq!(std::fs::metadata(&other).unwrap().uid(), 0);
    assert!(kept.stderr.contains("chown -R"), "{}", kept.stderr);
}
