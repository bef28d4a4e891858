//! A standalone Flink session cluster for one test.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use flink_rest::{ClientConfig, FlinkClient};
use tempfile::TempDir;
use url::Url;

use crate::dist::FlinkDist;
use crate::wait::eventually;

/// A TCP port that was free a moment ago on 127.0.0.1.
///
/// Picked below Linux's ephemeral range (32768 and up), where the kernel
/// hands out ports for `bind(0)` and outgoing connections: a port from that
/// range could be taken by another cluster's JVM between this check and the
/// JVM binding it.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    for attempt in 0u64..1000 {
        let random = RandomState::new().hash_one((std::process::id(), attempt));
        let port = 20_000 + (random % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000 on 127.0.0.1")
}

/// A process of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The JobManager.
    JobManager,
    /// The TaskManager with this index (counting every one started).
    TaskManager(usize),
}

impl Role {
    /// Its name in log file names: `jobmanager`, `taskmanager-0`, ...
    pub fn name(self) -> String {
        match self {
            Role::JobManager => "jobmanager".into(),
            Role::TaskManager(index) => format!("taskmanager-{index}"),
        }
    }

    /// Flink's start script for it: `jobmanager.sh` or `taskmanager.sh`.
    pub fn script(self) -> &'static str {
        match self {
            Role::JobManager => "jobmanager.sh",
            Role::TaskManager(_) => "taskmanager.sh",
        }
    }
}

/// What a launcher (see [`ClusterBuilder::launcher`]) knows about the
/// process to start.
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    /// Which process.
    pub role: Role,
    /// The Flink distribution.
    pub dist: &'a FlinkDist,
    /// The cluster's own directory, whose name starts with
    /// `flink-ops-cluster-` (`conf/` holds a copy of the distribution's).
    pub dir: &'a Path,
    /// The cluster's configuration: ports, memory, directories and what the
    /// builder was given.
    pub config: &'a BTreeMap<String, String>,
}

type LaunchFn = dyn Fn(&Launch<'_>) -> Command + Send + Sync;

/// Builds the command of each process; the default runs Flink's scripts.
#[derive(Clone)]
struct Launcher(Arc<LaunchFn>);

impl std::fmt::Debug for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Launcher")
    }
}

/// `bin/{jobmanager,taskmanager}.sh start-foreground -D key=value ...`
/// with the cluster's conf dir.
fn flink_scripts(launch: &Launch<'_>) -> Command {
    let mut cmd = Command::new(launch.dist.bin(launch.role.script()));
    cmd.arg("start-foreground");
    for (k, v) in launch.config {
        cmd.arg("-D").arg(format!("{k}={v}"));
    }
    cmd.env("FLINK_CONF_DIR", launch.dir.join("conf"));
    cmd
}

/// Settings of a cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    dist: FlinkDist,
    taskmanagers: usize,
    config: BTreeMap<String, String>,
    launcher: Launcher,
    https: Option<RestTls>,
}

/// How the cluster's own client reaches a REST API that speaks TLS.
#[derive(Debug, Clone)]
struct RestTls {
    ca: PathBuf,
    identity: Option<(PathBuf, PathBuf)>,
}

impl ClusterBuilder {
    /// One JobManager and one TaskManager with two slots, of `version`.
    pub fn new(version: &str) -> Self {
        Self {
            dist: FlinkDist::get(version),
            taskmanagers: 1,
            config: BTreeMap::new(),
            launcher: Launcher(Arc::new(flink_scripts)),
            https: None,
        }
        .slots(2)
    }

    /// How many TaskManagers to start.
    pub fn taskmanagers(mut self, n: usize) -> Self {
        self.taskmanagers = n;
        self
    }

    /// Task slots per TaskManager.
    pub fn slots(self, n: u32) -> Self {
        self.config("taskmanager.numberOfTaskSlots", n.to_string())
    }

    /// Sets a Flink configuration key (passed as `-D key=value`).
    pub fn config(mut self, key: &str, value: impl Into<String>) -> Self {
        self.config.insert(key.to_string(), value.into());
        self
    }

    /// The REST API speaks TLS (configure Flink's `security.ssl.rest.*`
    /// keys with [`ClusterBuilder::config`]): the cluster's URL is
    /// `https://` and its client trusts `ca` and, for mutual TLS, presents
    /// the PEM certificate and key of `identity`.
    pub fn https(mut self, ca: PathBuf, identity: Option<(PathBuf, PathBuf)>) -> Self {
        self.https = Some(RestTls { ca, identity });
        self
    }

    /// Starts every process with the command `launch` builds instead of
    /// Flink's scripts, e.g. through an entrypoint such as `flink-bootstrap`.
    ///
    /// The command must run the process in the foreground and end up as
    /// its JVM (`exec`). The cluster adds what every process gets: stdin
    /// from `/dev/null`, stdout and stderr into `log/<role>.out`, and
    /// `FLINK_LOG_DIR` and `FLINK_IDENT_STRING` for Flink's own logs. It
    /// owns the child as it does with the scripts: killed when the test
    /// ends, logs printed when it fails.
    pub fn launcher(
        mut self,
        launch: impl Fn(&Launch<'_>) -> Command + Send + Sync + 'static,
    ) -> Self {
        self.launcher = Launcher(Arc::new(launch));
        self
    }

    /// Starts the cluster and waits until every TaskManager has registered.
    pub async fn start(self) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("flink-ops-cluster-")
            .tempdir()
            .expect("a temp dir for the cluster");
        let conf_dir = dir.path().join("conf");
        copy_dir(&self.dist.home().join("conf"), &conf_dir);
        for sub in ["log", "savepoints", "checkpoints", "uploads"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("cluster dirs");
        }
        let rest_port = free_port();
        let file_url = |sub: &str| format!("file://{}", dir.path().join(sub).display());
        // 1.20 moved the state directories under execution.checkpointing.*; older releases
        // ignore the new names.
        let (checkpoint_dir_key, savepoint_dir_key) = if !self.dist.at_least(1, 20) {
            ("state.checkpoints.dir", "state.savepoints.dir")
        } else {
            (
                "execution.checkpointing.dir",
                "execution.checkpointing.savepoint-dir",
            )
        };
        let mut config: BTreeMap<String, String> = [
            ("rest.port", rest_port.to_string()),
            ("rest.address", "localhost".into()),
            ("jobmanager.rpc.address", "localhost".into()),
            ("jobmanager.rpc.port", free_port().to_string()),
            ("jobmanager.memory.process.size", "1024m".into()),
            ("taskmanager.memory.process.size", "1024m".into()),
            ("taskmanager.memory.managed.size", "64m".into()),
            (
                "web.upload.dir",
                dir.path().join("uploads").display().to_string(),
            ),
            (checkpoint_dir_key, file_url("checkpoints")),
            (savepoint_dir_key, file_url("savepoints")),
            (
                "execution.checkpointing.externalized-checkpoint-retention",
                "RETAIN_ON_CANCELLATION".into(),
            ),
            // Metrics reach the REST API at this interval (default 10 s).
            ("metrics.fetcher.update-interval", "1000".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        config.extend(self.config);

        let scheme = if self.https.is_some() {
            "https"
        } else {
            "http"
        };
        let url = Url::parse(&format!("{scheme}://127.0.0.1:{rest_port}/")).expect("a URL");
        let mut client_config = ClientConfig::new(url.clone());
        if let Some(tls) = self.https {
            client_config.ca_cert = Some(tls.ca);
            client_config.client_identity = tls.identity;
        }
        let client = FlinkClient::new(client_config).expect("a REST client");
        let mut cluster = Cluster {
            dist: self.dist,
            dir,
            url,
            config,
            client,
            launcher: self.launcher,
            jobmanager: None,
            taskmanagers: Vec::new(),
        };
        cluster.start_jobmanager();
        for _ in 0..self.taskmanagers {
            cluster.spawn_taskmanager();
        }
        cluster.wait_for_taskmanagers(self.taskmanagers).await;
        cluster
    }
}

/// A running standalone cluster. Dropping it kills its processes and, when
/// the test is failing, prints the tail of every log.
pub struct Cluster {
    dist: FlinkDist,
    dir: TempDir,
    url: Url,
    config: BTreeMap<String, String>,
    client: FlinkClient,
    launcher: Launcher,
    jobmanager: Option<Child>,
    taskmanagers: Vec<Option<Child>>,
}

impl Cluster {
    /// The REST endpoint, e.g. `http://127.0.0.1:43121/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// A REST client for the cluster.
    pub fn client(&self) -> &FlinkClient {
        &self.client
    }

    /// The Flink distribution it runs.
    pub fn dist(&self) -> &FlinkDist {
        &self.dist
    }

    /// The cluster's own directory (logs, savepoints, checkpoints, uploads).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The cluster's default savepoint directory.
    pub fn savepoint_dir(&self) -> PathBuf {
        self.dir().join("savepoints")
    }

    /// The configuration every process was started with.
    pub fn config(&self) -> &BTreeMap<String, String> {
        &self.config
    }

    fn spawn(&self, role: Role) -> Child {
        let log_name = role.name();
        let out = File::create(self.dir().join("log").join(format!("{log_name}.out")))
            .expect("a log file");
        let mut cmd = (self.launcher.0)(&Launch {
            role,
            dist: &self.dist,
            dir: self.dir(),
            config: &self.config,
        });
        cmd.env("FLINK_LOG_DIR", self.dir().join("log"))
            .env("FLINK_IDENT_STRING", &log_name)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("a log file"))
            .stderr(out);
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot start {log_name} ({cmd:?}): {e}"))
    }

    /// Starts the JobManager (after [`Cluster::kill_jobmanager`]).
    pub fn start_jobmanager(&mut self) {
        assert!(
            self.jobmanager.is_none(),
            "the JobManager is running already"
        );
        self.jobmanager = Some(self.spawn(Role::JobManager));
    }

    /// Kills the JobManager process (SIGKILL), as a crash would.
    pub fn kill_jobmanager(&mut self) {
        if let Some(mut jm) = self.jobmanager.take() {
            let _ = jm.kill();
            let _ = jm.wait();
        }
    }

    /// Kills and restarts the JobManager, then waits until its REST API
    /// answers and the running TaskManagers have registered again.
    pub async fn restart_jobmanager(&mut self) {
        self.kill_jobmanager();
        self.start_jobmanager();
        let running = self.taskmanagers.iter().flatten().count();
        self.wait_for_taskmanagers(running).await;
    }

    fn spawn_taskmanager(&mut self) -> usize {
        let index = self.taskmanagers.len();
        let child = self.spawn(Role::TaskManager(index));
        self.taskmanagers.push(Some(child));
        index
    }

    /// Starts one more TaskManager and waits until it has registered;
    /// returns its index.
    pub async fn start_taskmanager(&mut self) -> usize {
        let index = self.spawn_taskmanager();
        let running = self.taskmanagers.iter().flatten().count();
        self.wait_for_taskmanagers(running).await;
        index
    }

    /// Kills TaskManager `index` (SIGKILL), as losing its instance would.
    pub fn kill_taskmanager(&mut self, index: usize) {
        if let Some(mut tm) = self.taskmanagers.get_mut(index).and_then(Option::take) {
            let _ = tm.kill();
            let _ = tm.wait();
        }
    }

    /// The process id of TaskManager `index` (its JVM: the start script
    /// `exec`s it), while it runs. Tests use it to pause a TaskManager
    /// (SIGSTOP), e.g. to hold a savepoint in flight.
    pub fn taskmanager_pid(&self, index: usize) -> Option<u32> {
        self.taskmanagers
            .get(index)
            .and_then(Option::as_ref)
            .map(Child::id)
    }

    async fn wait_for_taskmanagers(&mut self, count: usize) {
        let client = &self.client;
        let (jobmanager, taskmanagers) = (&mut self.jobmanager, &mut self.taskmanagers);
        eventually(
            &format!("{count} TaskManager(s) registered at {}", self.url),
            Duration::from_secs(90),
            || {
                // A process that ended (e.g. a launcher refused its config) never registers.
                let processes = jobmanager.iter_mut().map(|c| (Role::JobManager, c)).chain(
                    taskmanagers
                        .iter_mut()
                        .enumerate()
                        .filter_map(|(i, c)| c.as_mut().map(|c| (Role::TaskManager(i), c))),
                );
                for (role, child) in processes {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!("the {} exited ({status}); see its log", role.name());
                    }
                }
                async move {
                    // A TaskManager registers before it reports its slots.
                    let tms = client.task_managers().await.map_err(|e| e.to_string())?;
                    let with_slots = tms.iter().filter(|tm| tm.slots_number > 0).count();
                    if tms.len() == count && with_slots == count {
                        Ok(())
                    } else {
                        Err(format!("{} registered, {with_slots} with slots", tms.len()))
                    }
                }
            },
        )
        .await
    }

    /// The last `lines` lines of every log of the cluster.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(self.dir().join("log")) else {
            return out;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let Ok(f) = File::open(&file) else { continue };
            let all: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
            let start = all.len().saturating_sub(lines);
            out.push_str(&format!(
                "==== {} (last {} lines)\n",
                file.display(),
                all.len() - start
            ));
            for line in &all[start..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- logs of the Flink cluster at {} ----\n{}",
                self.url,
                self.log_tail(80)
            );
        }
        let children = self
            .jobmanager
            .iter_mut()
            .chain(self.taskmanagers.iter_mut().flatten());
        for child in children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a conf dir");
    for entry in std::fs::read_dir(from)
        .expect("the distribution's conf dir")
        .flatten()
    {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a conf file");
        }
    }
}
