//! The quickstart's steps; see `main.rs`.
//!
//! The cluster's processes are started in their own session so they
//! outlive this command; their pids, ports and Flink home are kept in
//! `<state dir>/cluster.json` so that a second run reuses the cluster and
//! `down` stops it.
#![deny(missing_docs)]

pub mod verify;

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use flink_rest::{ClientConfig, FlinkClient, JobId};
use flink_testkit::{counter_value, example_jar, free_port, FlinkDist, JobVariant};
use savepoint_layout::SavepointLayout;
use serde::{Deserialize, Serialize};
use url::Url;

const JOB_NAME: &str = "quickstart-counter";

/// Where the quickstart keeps its cluster and savepoints.
fn state_dir() -> PathBuf {
    std::env::var_os("FLINK_OPS_QUICKSTART_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".flink-ops/quickstart"))
}

#[derive(Debug, Serialize, Deserialize)]
struct ClusterState {
    flink_home: PathBuf,
    rest_port: u16,
    pids: Vec<i32>,
}

/// Runs `up` (the default) or `down`.
pub fn main(args: Vec<String>) -> Result<()> {
    let state = std::path::absolute(state_dir()).context("cannot resolve the state directory")?;
    match args.first().map(String::as_str) {
        None | Some("up") => tokio::runtime::Runtime::new()?.block_on(up(&state)),
        Some("down") => {
            let stopped = down(&state)?;
            println!(
                "{}",
                if stopped {
                    "stopped the quickstart cluster"
                } else {
                    "no quickstart cluster was running"
                }
            );
            Ok(())
        }
        Some(other) => bail!("unknown command '{other}': use `up` (the default) or `down`"),
    }
}

fn step(text: &str) {
    println!("==> {text}");
}

async fn up(state: &Path) -> Result<()> {
    check_prerequisites()?;
    std::fs::create_dir_all(state).with_context(|| format!("cannot create {}", state.display()))?;
    let version = std::env::var("FLINK_OPS_QUICKSTART_FLINK").unwrap_or_else(|_| "2.3.0".into());

    step(&format!(
        "Flink {version} (fetched from PyPI on the first run, then cached in {})",
        flink_testkit::cache_dir().display()
    ));
    let dist = FlinkDist::get(&version);

    let client = match running_cluster(state).await {
        Some(client) => {
            step(&format!("reusing the cluster at {}", client.url()));
            client
        }
        None => start_cluster(state, &dist).await?,
    };
    let url = client.url().to_string();

    step("compiling the example job (a keyed counter) with javac");
    let jar = example_jar(&dist, JobVariant::Normal);
    let savepoints = state.join("savepoints");
    let layout = SavepointLayout::new(&savepoints.display().to_string())?;

    step(&format!("flink-deploy deploy --job-name {JOB_NAME}"));
    let first = deploy(&url, &jar, &savepoints)?;
    let job = JobId::new(
        first["new_job_id"]
            .as_str()
            .context("flink-deploy reported no job id")?,
    );

    step("letting it count for a few seconds");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let counted = wait_counter(&client, &job, 1).await?;
    println!("    the counter is at {counted}");

    step(&format!("flink-savepointer once --job-name {JOB_NAME}"));
    run(Command::new(sibling("flink-savepointer")?)
        .args([
            "once",
            "--jobmanager-url",
            &url,
            "--job-name",
            JOB_NAME,
            "--target-dir",
        ])
        .arg(&savepoints))?;
    let sidecar_savepoint = layout
        .newest(JOB_NAME)
        .await?
        .map(|s| s.location)
        .unwrap_or_default();

    step("flink-deploy deploy again: an update, from a savepoint");
    let before = wait_counter(&client, &job, counted).await?;
    let update = deploy(&url, &jar, &savepoints)?;
    let new_job = JobId::new(
        update["new_job_id"]
            .as_str()
            .context("flink-deploy reported no job id")?,
    );
    let evidence = verify::evidence(&client, &new_job).await?;
    let verdict = verify::judge(before, update["savepoint"].as_str(), &evidence);

    println!();
    println!("Report");
    println!("  counter before the update   {before}");
    println!(
        "  counter after the update    {} ({})",
        evidence.first_count,
        match &verdict {
            Ok(()) => "state carried over".to_string(),
            Err(lost) => format!("STATE LOST: {lost}"),
        }
    );
    println!(
        "  restored from               {}",
        evidence.restored_from.as_deref().unwrap_or("nothing")
    );
    println!("  savepoint by the sidecar    {sidecar_savepoint}");
    println!(
        "  savepoint of the update     {}",
        update["savepoint"].as_str().unwrap_or("-")
    );
    let timing = |key: &str| {
        update["timings_ms"][key]
            .as_u64()
            .map(|d| format!("{d} ms"))
            .unwrap_or_else(|| "-".into())
    };
    println!("  downtime (Flink's clock)    {}", timing("downtime"));
    println!(
        "  downtime (seen over REST)   {}",
        timing("observed_downtime")
    );
    println!("  Flink web UI                {url}");
    println!();
    println!("The cluster keeps running. Stop it with: ./quickstart down");
    verdict.context("the updated job did not continue from the savepoint's state")?;
    Ok(())
}

fn check_prerequisites() -> Result<()> {
    for (program, args, install) in [
        (
            "java",
            &["-version"][..],
            "Java 17 (Debian: apt-get install openjdk-17-jdk-headless)",
        ),
        (
            "javac",
            &["-version"][..],
            "a JDK 17 with javac (Debian: apt-get install openjdk-17-jdk-headless)",
        ),
        (
            "python3",
            &["-m", "pip", "--version"][..],
            "Python 3 with pip (Debian: apt-get install python3-pip)",
        ),
    ] {
        let ok = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            bail!(
                "`{program} {}` does not work here: install {install}",
                args.join(" ")
            );
        }
    }
    Ok(())
}

/// The other binaries of this build, next to this one.
fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    if !path.is_file() {
        bail!("{} is missing: build everything with `cargo build --locked --bins` (./quickstart does)", path.display());
    }
    Ok(path)
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn deploy(url: &str, jar: &Path, savepoints: &Path) -> Result<serde_json::Value> {
    let mut cmd = Command::new(sibling("flink-deploy")?);
    cmd.args([
        "deploy",
        "--jobmanager-url",
        url,
        "--job-name",
        JOB_NAME,
        "--jar",
    ])
    .arg(jar)
    .arg("--savepoint-dir")
    .arg(savepoints)
    .args([
        "--parallelism",
        "2",
        "--stable-for",
        "5s",
        "--output",
        "json",
        "--",
        "--name",
        JOB_NAME,
    ]);
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run flink-deploy")?;
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("flink-deploy printed no JSON report")?;
    if !out.status.success() {
        bail!(
            "flink-deploy failed ({}): {}",
            out.status,
            report["message"].as_str().unwrap_or("see above")
        );
    }
    Ok(report)
}

async fn wait_counter(client: &FlinkClient, job: &JobId, at_least: u64) -> Result<u64> {
    let mut last = String::new();
    for _ in 0..120 {
        match counter_value(client, job).await {
            Ok(v) if v >= at_least => return Ok(v),
            Ok(v) => last = format!("at {v}"),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("the counter of job {job} did not reach {at_least} within 60 s ({last})")
}

fn client_for(port: u16) -> FlinkClient {
    let url = Url::parse(&format!("http://localhost:{port}/")).expect("a URL");
    FlinkClient::new(ClientConfig::new(url)).expect("a client")
}

/// The cluster of an earlier run, if its processes and REST API are alive.
async fn running_cluster(state: &Path) -> Option<FlinkClient> {
    let saved: ClusterState =
        serde_json::from_slice(&std::fs::read(state.join("cluster.json")).ok()?).ok()?;
    if !saved.pids.iter().all(|pid| alive(*pid)) {
        return None;
    }
    let client = client_for(saved.rest_port);
    let overview = client.overview().await.ok()?;
    (overview.taskmanagers > 0).then_some(client)
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

async fn start_cluster(state: &Path, dist: &FlinkDist) -> Result<FlinkClient> {
    // Leftovers of an earlier run whose cluster died.
    let _ = down(state);
    let rest_port: u16 = match std::env::var("FLINK_OPS_QUICKSTART_PORT") {
        Ok(p) => p
            .parse()
            .context("FLINK_OPS_QUICKSTART_PORT must be a port number")?,
        Err(_) => 8081,
    };
    if std::net::TcpListener::bind(("127.0.0.1", rest_port)).is_err() {
        bail!("port {rest_port} is in use: stop what listens there, or pick another port with FLINK_OPS_QUICKSTART_PORT=8082");
    }
    let rpc_port = free_port();
    let bootstrap = sibling("flink-bootstrap")?;
    let log_dir = state.join("log");
    std::fs::create_dir_all(&log_dir)?;
    let checkpoints = format!("file://{}", state.join("checkpoints").display());
    let common = |role: &str| -> Result<Command> {
        let mut cmd = Command::new(&bootstrap);
        cmd.arg("--flink-home")
            .arg(dist.home())
            .arg("--conf-dir")
            .arg(state.join(format!("conf-{role}")))
            .args(["--metadata", "none", "--profile", "elastic"])
            // Flink's Prometheus reporter binds every interface: not on a laptop's LAN.
            .args(["--metrics-reporter", "none"])
            .args(["--set", &format!("rest.port={rest_port}")])
            .args([
                "--set",
                "rest.address=localhost",
                "--set",
                "rest.bind-address=127.0.0.1",
            ])
            .args([
                "--set",
                "jobmanager.rpc.address=localhost",
                "--set",
                &format!("jobmanager.rpc.port={rpc_port}"),
            ])
            .args([
                "--set",
                "jobmanager.bind-host=127.0.0.1",
                "--set",
                "taskmanager.bind-host=127.0.0.1",
            ])
            .args(["--set", "taskmanager.host=localhost"])
            .args([
                "--set",
                "jobmanager.memory.process.size=1024m",
                "--set",
                "taskmanager.memory.process.size=1024m",
            ])
            .args([
                "--set",
                "taskmanager.memory.managed.size=64m",
                "--set",
                "taskmanager.numberOfTaskSlots=2",
            ])
            .args([
                "--set",
                &format!("execution.checkpointing.dir={checkpoints}"),
            ])
            .args(["--set", "metrics.fetcher.update-interval=1000"]);
        if nix::unistd::geteuid().is_root() {
            cmd.args(["--run-as", "root"]);
        }
        cmd.arg(role)
            .env("FLINK_LOG_DIR", &log_dir)
            .stdin(Stdio::null())
            .stdout(File::create(log_dir.join(format!("{role}.out")))?)
            .stderr(File::create(log_dir.join(format!("{role}.err")))?)
            // Its own session: the cluster outlives this command.
            .process_group(0);
        Ok(cmd)
    };
    step(&format!("starting a JobManager (elastic profile) and a TaskManager through flink-bootstrap; logs in {}", log_dir.display()));
    let mut children = Vec::new();
    for role in ["jobmanager", "taskmanager"] {
        children.push(
            common(role)?
                .spawn()
                .with_context(|| format!("cannot start flink-bootstrap {role}"))?,
        );
    }
    let pids = children.iter().map(|c| c.id() as i32).collect();
    let saved = ClusterState {
        flink_home: dist.home().to_path_buf(),
        rest_port,
        pids,
    };
    std::fs::write(
        state.join("cluster.json"),
        serde_json::to_vec_pretty(&saved)?,
    )?;

    let client = client_for(rest_port);
    for attempt in 0.. {
        if let Ok(o) = client.overview().await {
            if o.taskmanagers > 0 {
                break;
            }
        }
        let exited = children
            .iter_mut()
            .any(|c| c.try_wait().ok().flatten().is_some());
        if attempt > 180 || exited {
            let _ = down(state);
            bail!(
                "the cluster did not come up; see the logs in {}",
                log_dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("    Flink web UI at {}", client.url());
    Ok(client)
}

/// Stops the cluster of `state`; false when there was none.
fn down(state: &Path) -> Result<bool> {
    let file = state.join("cluster.json");
    let Ok(bytes) = std::fs::read(&file) else {
        return Ok(false);
    };
    let saved: ClusterState = serde_json::from_slice(&bytes)?;
    for pid in &saved.pids {
        // The whole process group: the JVM and anything it started.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    for _ in 0..40 {
        if !saved.pids.iter().any(|p| alive(*p)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    for pid in saved.pids.iter().filter(|p| alive(**p)) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    std::fs::remove_file(&file)?;
    Ok(true)
}
