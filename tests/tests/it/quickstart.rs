//! The README's quickstart, end to end: the real binaries on a real Flink.

use std::path::Path;
use std::process::{Command, Output};

use flink_testkit::{free_port, workspace_bin};

fn quickstart(state: &Path, port: u16, args: &[&str]) -> Output {
    // The quickstart runs the other binaries from its own directory.
    for sibling in ["flink-bootstrap", "flink-deploy", "flink-savepointer"] {
        workspace_bin(sibling);
    }
    Command::new(workspace_bin("flink-ops-quickstart"))
        .args(args)
        .env("FLINK_OPS_QUICKSTART_DIR", state)
        .env("FLINK_OPS_QUICKSTART_PORT", port.to_string())
        .output()
        .expect("the quickstart runs")
}

/// Stops the quickstart's detached cluster whatever happens in the test.
struct Down<'a>(&'a Path, u16);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let out = quickstart(self.0, self.1, &["down"]);
        if std::thread::panicking() {
            eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn quickstart_deploys_saves_updates_and_reports_state_carried_over() {
    // The prefix puts the cluster's processes under CI's stray-process check.
    let state = tempfile::Builder::new()
        .prefix("flink-ops-cluster-quickstart-")
        .tempdir()
        .unwrap();
    let port = free_port();
    let _down = Down(state.path(), port);

    let first = quickstart(state.path(), port, &[]);
    let out = text(&first);
    assert!(first.status.success(), "{out}");
    assert!(
        out.contains(
            "starting a JobManager (elastic profile) and a TaskManager through flink-bootstrap"
        ),
        "{out}"
    );
    assert!(out.contains("(state carried over)"), "{out}");
    assert!(
        out.contains(&format!(
            "Flink web UI                http://localhost:{port}/"
        )),
        "{out}"
    );
    assert!(out.contains("Stop it with: ./quickstart down"), "{out}");
    let sidecar = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("savepoint by the sidecar"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no sidecar savepoint in:\n{out}"));
    assert!(
        Path::new(sidecar.trim_start_matches("file:"))
            .join("_metadata")
            .is_file(),
        "{sidecar}"
    );

    // Again: the running cluster is reused and the job updated once more.
    let second = quickstart(state.path(), port, &[]);
    let out = text(&second);
    assert!(second.status.success(), "{out}");
    assert!(
        out.contains(&format!("reusing the cluster at http://localhost:{port}/")),
        "{out}"
    );
    assert!(out.contains("(state carried over)"), "{out}");

    let down = quickstart(state.path(), port, &["down"]);
    assert!(
        text(&down).contains("stopped the quickstart cluster"),
        "{}",
        text(&down)
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the REST port still answers"
    );
}

#[test]
fn quickstart_says_when_its_port_is_taken() {
    let state = tempfile::Builder::new()
        .prefix("flink-ops-cluster-quickstart-")
        .tempdir()
        .unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let _down = Down(state.path(), port);
    let out = quickstart(state.path(), port, &[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("port {port} is in use")),
        "{}",
        text(&out)
    );
}
