//! The built `flink-deploy` against fake JobManagers on 127.0.0.1 that
//! answer what a real Flink never does: redirects elsewhere, hostile ids,
//! endless bodies. (Everything a real Flink can do is tested against one.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use flink_testkit::workspace_bin;

/// What the fake answers to one request.
enum Reply {
    /// Status, extra header lines, body.
    Full(u16, Vec<String>, String),
    /// A status with a JSON-looking body that never ends.
    Endless(u16),
}

/// Every request head a fake server received.
type Seen = Arc<Mutex<Vec<String>>>;

/// Serves `respond(request head)` on a free port until the test ends.
fn fake(respond: impl Fn(&str) -> Reply + Send + Sync + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let seen: Seen = Default::default();
    let log = seen.clone();
    let respond = Arc::new(respond);
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            let (log, respond) = (log.clone(), respond.clone());
            std::thread::spawn(move || serve(socket, &log, &*respond));
        }
    });
    (url, seen)
}

fn serve(mut socket: TcpStream, log: &Seen, respond: &dyn Fn(&str) -> Reply) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    log.lock().unwrap().push(head.clone());
    match respond(&head) {
        Reply::Full(status, headers, body) => {
            let mut reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for h in headers {
                reply.push_str(&h);
                reply.push_str("\r\n");
            }
            reply.push_str("\r\n");
            reply.push_str(&body);
            let _ = socket.write_all(reply.as_bytes());
        }
        Reply::Endless(status) => {
            let start = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{{\"jobs\":["
            );
            if socket.write_all(start.as_bytes()).is_err() {
                return;
            }
            let chunk = "{\"jid\":\"0\"},".repeat(4096);
            // Until the client hangs up.
            while socket.write_all(chunk.as_bytes()).is_ok() {}
        }
    }
}

fn json(body: &str) -> Reply {
    Reply::Full(200, Vec::new(), body.to_string())
}

/// `flink-deploy ARGS` with a clean environment: (exit code, stdout, stderr).
fn deploy(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(workspace_bin("flink-deploy"))
        .env_clear()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("flink-deploy runs");
    (
        out.status.code().expect("an exit code, not a signal"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn request_lines(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|h| h.lines().next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_redirect_is_not_followed_and_secrets_stay_home() {
    let (elsewhere, reached) = fake(|_| json(r#"{"jobs":[]}"#));
    let location = format!("{elsewhere}jobs/overview");
    let (jobmanager, _) =
        fake(move |_| Reply::Full(307, vec![format!("location: {location}")], String::new()));
    let with_credentials = jobmanager.replace("http://", "http://alice:hunter2@");
    let (code, _, stderr) = deploy(&[
        "status",
        "--jobmanager-url",
        &with_credentials,
        "--header",
        "X-Api-Key: k3y-s3cret",
    ]);
    assert!(
        reached.lock().unwrap().is_empty(),
        "the other host received {:?}",
        reached.lock().unwrap()
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("307"), "{stderr}");
    assert!(
        stderr.contains(&format!("point --jobmanager-url at {elsewhere}")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2") && !stderr.contains("k3y-s3cret"),
        "{stderr}"
    );
}

#[test]
fn hostile_job_ids_never_leave_the_base_path() {
    let (jobmanager, seen) = fake(|head| {
        if head.starts_with("GET /config") {
            json(r#"{"flink-version":"2.3.0"}"#)
        } else if head.starts_with("GET /jobs/overview") {
            json(
                r#"{"jobs":[{"jid":"../../jars/../x?y=#","name":"orders\nforged","state":"RUNNING","start-time":1,"end-time":-1}]}"#,
            )
        } else {
            Reply::Full(404, Vec::new(), r#"{"errors":["Not found."]}"#.into())
        }
    });
    let (code, stdout, stderr) = deploy(&["status", "--jobmanager-url", &jobmanager]);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stderr.contains("job id"), "{stderr}");
    for line in request_lines(&seen) {
        assert!(
            line.starts_with("GET /config ") || line.starts_with("GET /jobs/overview "),
            "a request outside the known paths: {line}"
        );
    }
}

#[test]
fn an_endless_answer_is_cut_off_with_a_clear_error() {
    let (jobmanager, _) = fake(|_| Reply::Endless(200));
    // The timeout only bounds the damage should the cap ever break.
    let (code, _, stderr) = deploy(&[
        "status",
        "--jobmanager-url",
        &jobmanager,
        "--request-timeout",
        "10s",
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("larger than 16 MiB"), "{stderr}");
}

#[test]
fn an_endless_error_body_is_not_read_to_its_end() {
    let (jobmanager, _) = fake(|_| Reply::Endless(500));
    let (code, _, stderr) = deploy(&[
        "status",
        "--jobmanager-url",
        &jobmanager,
        "--request-timeout",
        "10s",
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("HTTP 500"), "{stderr}");
    // Its start is shown (read, not waited out), and only its start.
    assert!(stderr.contains(r#"{"jobs":[{"jid":"0"},"#), "{stderr}");
    assert!(stderr.len() < 16 * 1024, "{} bytes of stderr", stderr.len());
}

#[test]
fn a_plus_in_the_url_password_stays_a_plus() {
    let (jobmanager, seen) = fake(|_| json(r#"{"jobs":[]}"#));
    let url = jobmanager.replace("http://", "http://b+ob:pa+ss%2B%25@");
    let (code, _, stderr) = deploy(&["status", "--jobmanager-url", &url]);
    assert_eq!(code, 0, "{stderr}");
    let heads = seen.lock().unwrap().clone();
    assert!(!heads.is_empty());
    for head in heads {
        let encoded = head
            .lines()
            .find_map(|l| l.strip_prefix("authorization: Basic "))
            .unwrap_or_else(|| panic!("no basic auth in {head}"));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "b+ob:pa+ss+%");
    }
    assert!(!stderr.contains("pa+ss"), "{stderr}");
}
