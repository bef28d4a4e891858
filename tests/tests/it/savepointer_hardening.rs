//! flink-savepointer, the built binary, against what a careless user, a
//! hostile client or a hostile job name does (issue 11, items 3, 4, 10 and 14).
//!
//! Build the binary first when running only this file:
//! `cargo build -p flink-savepointer && cargo test -p flink-ops-tests --test savepointer_hardening`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use flink_rest::{ClaimMode, JarId, JobId, RunJob};
use flink_testkit::{
    each_version, eventually, example_jar, free_port, patience, wait_running, workspace_bin,
    Cluster, ClusterBuilder, JobVariant,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

// ---- helpers (as in savepointer.rs) ---------------------------------------------

async fn upload(cluster: &Cluster) -> JarId {
    let jar = example_jar(cluster.dist(), JobVariant::Normal);
    cluster
        .client()
        .upload_jar(&jar, "savepointer-test.jar")
        .await
        .expect("the example jar uploads")
}

/// Runs the example job under `name` and waits until all its tasks run.
async fn submit(cluster: &Cluster, jar: &JarId, name: &str) -> JobId {
    let client = cluster.client();
    let job = client
        .run_jar(
            jar,
            &RunJob {
                program_args: vec!["--name".into(), name.into()],
                parallelism: Some(1),
                claim_mode: ClaimMode::NoClaim,
                ..RunJob::default()
            },
        )
        .await
        .expect("the job starts");
    wait_running(client, &job).await;
    job
}

fn savepointer() -> Command {
    let mut cmd = Command::new(workspace_bin("flink-savepointer"));
    cmd.env_clear().stdin(Stdio::null());
    cmd
}

/// Runs the binary to completion: (exit code, stdout, stderr).
fn run_to_end(args: &[&str]) -> (i32, String, String) {
    let out = savepointer()
        .args(args)
        .output()
        .expect("flink-savepointer runs");
    let code = out.status.code().expect("an exit code, not a signal");
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A flink-savepointer process with its stderr in a file; killed when
/// dropped, its log printed when the test fails.
struct Process {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Process {
    fn start(args: &[&str]) -> Process {
        let dir = tempfile::tempdir().expect("a temp dir");
        let log = dir.path().join("stderr.log");
        let child = savepointer()
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("flink-savepointer starts");
        Process {
            child,
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("flink-savepointer exited ({status}):\n{}", self.log());
        }
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("signal flink-savepointer");
    }

    async fn wait_log(&self, what: &str) {
        eventually(
            &format!("'{what}' in the log"),
            Duration::from_secs(60),
            || {
                let log = self.log();
                async move {
                    if log.contains(what) {
                        Ok(())
                    } else {
                        Err(log)
                    }
                }
            },
        )
        .await
    }

    /// Waits for the process to exit on its own.
    async fn wait_exit(&mut self) -> ExitStatus {
        let child = &mut self.child;
        eventually("flink-savepointer exited", Duration::from_secs(60), || {
            let status = child.try_wait().map_err(|e| e.to_string());
            async move { status?.ok_or_else(|| "still running".to_string()) }
        })
        .await
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- flink-savepointer log ----\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resumes a SIGSTOPped TaskManager when the test ends, however it ends.
struct Paused(Pid);

impl Paused {
    fn taskmanager(cluster: &Cluster) -> Paused {
        let tm = Pid::from_raw(cluster.taskmanager_pid(0).expect("a TaskManager") as i32);
        kill(tm, Signal::SIGSTOP).expect("pause the TaskManager");
        Paused(tm)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

fn lines_starting_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

// ---- durations (item 4's reproduction, item 12) -----------------------------------

/// The duration that overflowed `Instant + Duration` inside a savepoint task
/// (which then counted as a success, exit 0) is refused before anything runs.
#[test]
fn huge_and_zero_durations_are_refused_before_anything_runs() {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("sp");
    let target = target.to_str().unwrap();
    // A JobManager that is not there: had the flags been accepted, the exit
    // code would be 3, not 2.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let base = [
        "--jobmanager-url",
        dead.as_str(),
        "--job-name",
        "orders",
        "--target-dir",
        target,
    ];
    let cases: &[&[&str]] = &[
        &["once", "--timeout", "300000000000y"],
        &["once", "--timeout", "3651d"],
        &["once", "--timeout", "0s"],
        &["once", "--max-age", "300000000000y"],
        &["once", "--shutdown-grace", "300000000000y"],
        &["once", "--request-timeout", "0s"],
        &["run", "--every", "300000000000y"],
        &["run", "--shutdown-grace", "300000000000y"],
    ];
    for case in cases {
        let mut args = case.to_vec();
        args.extend_from_slice(&base);
        let (code, stdout, stderr) = run_to_end(&args);
        assert_eq!(code, 2, "{args:?}:\n{stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(
            stderr.contains(case[2]),
            "{args:?}: the message does not name the value:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}:\n{stderr}");
    }
    assert!(!Path::new(target).exists(), "bad input created {target}");

    // The longest accepted timeout still works: the round runs and finds no JobManager.
    let (code, _, stderr) = run_to_end(&[&["once", "--timeout", "3650d"], &base[..]].concat());
    assert_eq!(code, 3, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---- the /metrics listener (item 14) ----------------------------------------------

/// A complete GET on a fresh connection: (status, body).
fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(patience(Duration::from_secs(60))))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read: {e}"))?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// True once the server has closed `stream` (EOF or reset), reading without
/// waiting. What the server sent before closing is skipped.
fn closed_now(mut stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut buf = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    stream.set_nonblocking(false).expect("blocking");
    closed
}

/// Waits (with the suite's patience, not a timing assertion) until the server
/// closes `stream`.
fn wait_closed(stream: &mut TcpStream) -> Result<(), String> {
    stream
        .set_read_timeout(Some(patience(Duration::from_secs(60))))
        .expect("a read timeout");
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("still open".into())
            }
            Err(_) => return Ok(()),
        }
    }
}

/// Clients that start a request and never finish it are closed by the
/// server; however many there are, a normal request is still answered once
/// they are gone, and at most 64 are served at once.
#[tokio::test]
async fn the_listener_closes_clients_that_never_finish_their_headers() {
    // No JobManager is needed for the listener: the sidecar runs on, unready.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let addr: SocketAddr = listen.parse().unwrap();
    let mut sidecar = Process::start(&[
        "run",
        "--jobmanager-url",
        &dead,
        "--listen",
        &listen,
        "--job-name",
        "orders",
        "--target-dir",
        root.path().to_str().unwrap(),
    ]);
    eventually("/healthz answers", Duration::from_secs(30), || async {
        match http_get(addr, "/healthz")? {
            (200, _) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // One client trickles its headers, a byte a second, for longer than any
    // header timeout: the limit is on the whole header, not between bytes.
    let mut trickler = TcpStream::connect(addr).unwrap();
    trickler
        .write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        .unwrap();
    let trickling = {
        let mut trickler = trickler.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..120 {
                if trickler.write_all(b"a").is_err() {
                    return true;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            false
        })
    };

    // More silent clients than the listener serves at once, each stopped at
    // another point of its request.
    let partial: [&[u8]; 4] = [
        b"",
        b"GE",
        b"GET /healthz HTTP/1.1\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    ];
    let mut slow: Vec<TcpStream> = (0..80)
        .map(|i| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(partial[i % partial.len()]).expect("send");
            s
        })
        .collect();

    // A normal request is answered ...
    let (status, body) = tokio::task::spawn_blocking(move || http_get(addr, "/healthz"))
        .await
        .unwrap()
        .expect("/healthz answers while slow clients are connected");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    // ... only once slow ones made room: 82 connections, at most 64 at once,
    // so at least 18 of the 81 slow ones (17 besides the trickler) are closed.
    let closed = slow.iter().filter(|s| closed_now(s)).count();
    assert!(
        closed > slow.len() - 64,
        "{closed} of {} slow clients were closed when /healthz was answered",
        slow.len()
    );
    // Every slow client is closed by the server.
    for (i, s) in slow.iter_mut().enumerate() {
        wait_closed(s).unwrap_or_else(|e| panic!("slow client {i}: {e}"));
    }
    wait_closed(&mut trickler).expect("the trickling client is closed");
    assert!(
        trickling.join().unwrap(),
        "the trickling client could send for two minutes"
    );
    sidecar.assert_alive();
    assert_eq!(http_get(addr, "/healthz").unwrap().0, 200);
    let (_, metrics) = http_get(addr, "/metrics").unwrap();
    assert!(
        metrics.contains("flink_savepointer_jobmanager_up 0\n"),
        "{metrics}"
    );
}

// ---- names, stdout, signals (items 10, 3, 4) against real Flink ----------------------

/// A job name with a newline and a tab, as the JobManager reports it.
const EVIL: &str = "evil\nforged line\tx";
/// How it is printed.
const EVIL_SHOWN: &str = "evil\\nforged line\\tx";

#[each_version]
async fn names_output_and_signals(version: &str) {
    // A paused TaskManager holds a savepoint in flight only until the
    // JobManager gives up on it: by default after 10 s (an RPC) or 50 s (the
    // heartbeat). Long enough here that only the signals end the wait.
    let cluster = ClusterBuilder::new(version)
        .config("pekko.ask.timeout", "5 min")
        .config("heartbeat.timeout", "5 min")
        .start()
        .await;
    let url = cluster.url().as_str().to_string();
    let jar = upload(&cluster).await;
    let _evil = submit(&cluster, &jar, EVIL).await;
    let _orders = submit(&cluster, &jar, "orders").await;
    let root = tempfile::tempdir().unwrap();
    let root_str = root.path().to_str().unwrap().to_string();
    let all = [
        "once",
        "--jobmanager-url",
        url.as_str(),
        "--target-dir",
        root_str.as_str(),
        "--all-jobs",
    ];

    // A name from the JobManager keeps `once`'s output to one line of two
    // tab-separated fields per savepoint, and forges no log line.
    let (code, stdout, stderr) = run_to_end(&all);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2, "{stdout:?}");
    assert!(lines.iter().all(|fields| fields.len() == 2), "{stdout:?}");
    let mut names: Vec<&str> = lines.iter().map(|fields| fields[0]).collect();
    names.sort();
    assert_eq!(names, [EVIL_SHOWN, "orders"], "{stdout:?}");
    for fields in &lines {
        let path = savepoint_layout::normalize(fields[1]);
        assert!(
            Path::new(&path).join("_metadata").is_file(),
            "{} is not a savepoint",
            fields[1]
        );
    }
    assert!(
        lines_starting_with(&stderr, "forged line").is_empty(),
        "a forged log line:\n{stderr}"
    );
    assert!(stderr.contains(EVIL_SHOWN), "{stderr}");

    // Stdout closed under it (`once ... | head -0`): the savepoints are
    // taken, the failure to print them is an error (exit 1), not a panic.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = savepointer()
        .args(all)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("flink-savepointer runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // With the TaskManager paused no savepoint can complete: the first
    // SIGTERM waits for the grace (ten minutes), a second ends it at once.
    let _paused = Paused::taskmanager(&cluster);
    let listen = format!("127.0.0.1:{}", free_port());
    let mut sidecar = Process::start(&[
        "run",
        "--jobmanager-url",
        &url,
        "--listen",
        &listen,
        "--job-name",
        "orders",
        "--target-dir",
        &root_str,
        "--every",
        "2s",
        "--shutdown-grace",
        "10m",
    ]);
    sidecar.wait_log("savepoint of 'orders' triggered").await;
    sidecar.signal(Signal::SIGTERM);
    sidecar.wait_log("waiting up to 600s").await;
    sidecar.assert_alive();
    sidecar.signal(Signal::SIGTERM);
    let status = sidecar.wait_exit().await;
    let log = sidecar.log();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("SIGTERM received again"), "{log}");
    assert!(log.contains("abandoned (of: 'orders')"), "{log}");
    assert!(log.contains("Flink may still complete them"), "{log}");

    // `once` the same way with SIGINT (Ctrl-C twice): exit 4, the savepoint
    // was not taken. Its job is chosen by its name with a newline.
    let mut once = Process::start(&[
        "once",
        "--jobmanager-url",
        &url,
        "--job-name",
        EVIL,
        "--target-dir",
        &root_str,
        "--shutdown-grace",
        "10m",
    ]);
    once.wait_log(&format!("savepoint of '{EVIL_SHOWN}' triggered"))
        .await;
    once.signal(Signal::SIGINT);
    once.wait_log("waiting up to 600s").await;
    once.assert_alive();
    once.signal(Signal::SIGINT);
    let status = once.wait_exit().await;
    let log = once.log();
    assert_eq!(status.code(), Some(4), "{log}");
    assert!(log.contains("SIGINT received again"), "{log}");
    assert!(
        log.contains(&format!("abandoned (of: '{EVIL_SHOWN}')")),
        "{log}"
    );
    assert!(
        lines_starting_with(&log, "forged line").is_empty(),
        "a forged log line:\n{log}"
    );
}
