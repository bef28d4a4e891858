//! Answers a real Flink cannot be made to give on demand: garbled JSON,
//! 503s, answers that never come. A minimal HTTP/1.1 server plays the
//! JobManager; everything else is tested against real clusters in `tests/`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flink_rest::{ClientConfig, Error, FlinkClient, JobId, RetryPolicy, RunJob};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

/// What the fake JobManager answers to the n-th request (from 0), given the request line.
type Responder = Arc<dyn Fn(usize, &str) -> Option<(u16, String)> + Send + Sync>;

/// What a [`fake_server`] does with one request.
enum Reply {
    /// A complete answer: status line, extra header lines, body.
    Full {
        status: u16,
        headers: Vec<String>,
        body: String,
    },
    /// A 200 (or other status) whose body never ends: `{"jobs":[` and then
    /// `{"x":0},` forever, with the given Content-Length (if any).
    Endless {
        status: u16,
        content_length: Option<u64>,
    },
    /// Never answer.
    Silent,
}

/// Every request a fake server saw: its request line and headers.
type Seen = Arc<Mutex<Vec<String>>>;

/// What a [`fake_server`] answers to the n-th request (from 0), given its head.
type Handler = Arc<dyn Fn(usize, &str) -> Reply + Send + Sync>;

/// Serves `respond(n, request head)` on a free port of 127.0.0.1.
async fn fake_server(respond: Handler) -> (Url, Arc<AtomicUsize>, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen: Seen = Default::default();
    let (counter, log) = (count.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let respond = respond.clone();
            let (counter, log) = (counter.clone(), log.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut len = 0;
                while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => len += n,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..len]).to_string();
                // Read the body too: answering before it arrived would break the pipe.
                let head_len = head.find("\r\n\r\n").unwrap() + 4;
                let body_len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                let mut have = len - head_len;
                while have < body_len {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have += n,
                    }
                }
                let n = counter.fetch_add(1, Ordering::SeqCst);
                log.lock().unwrap().push(head.clone());
                match respond(n, &head) {
                    Reply::Full {
                        status,
                        headers,
                        body,
                    } => {
                        let mut reply = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
                        for h in headers {
                            reply.push_str(&h);
                            reply.push_str("\r\n");
                        }
                        reply.push_str("\r\n");
                        reply.push_str(&body);
                        let _ = socket.write_all(reply.as_bytes()).await;
                    }
                    Reply::Endless {
                        status,
                        content_length,
                    } => {
                        let length = content_length
                            .map(|l| format!("content-length: {l}\r\n"))
                            .unwrap_or_default();
                        let head = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{length}connection: close\r\n\r\n{{\"jobs\":[");
                        if socket.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let chunk = "{\"x\":0},".repeat(8 * 1024);
                        // Until the client hangs up.
                        while socket.write_all(chunk.as_bytes()).await.is_ok() {}
                    }
                    Reply::Silent => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    (url, count, seen)
}

/// A fake JobManager answering JSON with `respond`; `None` means "never answer".
async fn fake_jobmanager(respond: Responder) -> (Url, Arc<AtomicUsize>) {
    let (url, count, _) = fake_server(Arc::new(move |n, head| {
        let request_line = head.lines().next().unwrap_or_default();
        match respond(n, request_line) {
            Some((status, body)) => Reply::Full {
                status,
                headers: Vec::new(),
                body,
            },
            None => Reply::Silent,
        }
    }))
    .await;
    (url, count)
}

fn json(status: u16, body: &str) -> Reply {
    Reply::Full {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

fn client(url: Url, retry: RetryPolicy) -> FlinkClient {
    let mut config = ClientConfig::new(url);
    config.retry = retry;
    config.request_timeout = Duration::from_millis(500);
    FlinkClient::new(config).unwrap()
}

fn quick_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn garbled_json_is_an_unexpected_response() {
    let (url, _) = fake_jobmanager(Arc::new(|_, _| Some((200, "{\"jobs\": [".into())))).await;
    let err = client(url, quick_retries(1)).jobs().await.unwrap_err();
    assert!(matches!(err, Error::UnexpectedResponse { .. }), "{err}");
    assert!(err.to_string().contains("/jobs/overview"), "{err}");
}

#[tokio::test]
async fn reads_are_retried_after_503() {
    let (url, count) = fake_jobmanager(Arc::new(|n, _| {
        Some(if n < 2 {
            (503, r#"{"errors":["Service temporarily unavailable due to an ongoing leader election. Please refresh."]}"#.into())
        } else {
            (200, r#"{"jobs":[]}"#.into())
        })
    }))
    .await;
    let jobs = client(url, quick_retries(3)).jobs().await.unwrap();
    assert!(jobs.is_empty());
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_lasting_503_is_a_server_error_with_flinks_text() {
    let (url, count) = fake_jobmanager(Arc::new(|_, _| {
        Some((503, r#"{"errors":["Service temporarily unavailable due to an ongoing leader election. Please refresh."]}"#.into()))
    }))
    .await;
    let err = client(url, quick_retries(2)).overview().await.unwrap_err();
    assert!(
        matches!(err, Error::Server { status, .. } if status.as_u16() == 503),
        "{err}"
    );
    assert!(err.to_string().contains("leader election"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn writes_are_never_retried() {
    let (url, count) = fake_jobmanager(Arc::new(|_, line| {
        Some(if line.starts_with("GET /config") {
            (200, r#"{"flink-version":"2.3.0"}"#.into())
        } else {
            (503, r#"{"errors":["busy"]}"#.into())
        })
    }))
    .await;
    let c = client(url, quick_retries(5));
    let err = c
        .run_jar(&flink_rest::JarId::new("x.jar"), &RunJob::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Server { .. }), "{err}");
    // One GET /config, one POST: the POST was not repeated.
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_silent_jobmanager_times_out_as_unreachable() {
    let (url, _) = fake_jobmanager(Arc::new(|_, _| None)).await;
    let err = client(url, quick_retries(1))
        .job(&JobId::new("a".repeat(32)))
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = Url::parse(&format!("http://user:hunter2@127.0.0.1:{port}/")).unwrap();
    let err = client(url, quick_retries(2)).overview().await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(
        !err.to_string().contains("hunter2"),
        "credentials leaked: {err}"
    );
}

#[tokio::test]
async fn completed_with_failure_cause_is_a_failure() {
    let (url, _) = fake_jobmanager(Arc::new(|_, _| {
        Some((200, r#"{"status":{"id":"COMPLETED"},"operation":{"failure-cause":{"class":"java.util.concurrent.CompletionException","stack-trace":"java.util.concurrent.CompletionException: java.io.IOException: Permission denied\n\tat x.y(Z.java:1)"}}}"#.into()))
    }))
    .await;
    let op = flink_rest::AsyncOperation::Savepoint {
        job: JobId::new("b".repeat(32)),
        trigger: flink_rest::TriggerId::new(TRIGGER),
    };
    let err = client(url, quick_retries(1))
        .wait_for(&op, Duration::from_secs(5))
        .await
        .unwrap_err();
    match err {
        Error::OperationFailed { cause, .. } => {
            assert!(cause.contains("Permission denied"), "{cause}")
        }
        other => panic!("expected a failure, got {other}"),
    }
}

#[tokio::test]
async fn an_operation_in_progress_past_the_deadline_times_out() {
    let (url, _) = fake_jobmanager(Arc::new(|_, _| {
        Some((200, r#"{"status":{"id":"IN_PROGRESS"}}"#.into()))
    }))
    .await;
    let op = flink_rest::AsyncOperation::Disposal {
        path: "file:/x".into(),
        trigger: flink_rest::TriggerId::new(TRIGGER),
    };
    let err = client(url, quick_retries(1))
        .wait_for(&op, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OperationTimedOut { .. }), "{err}");
    assert!(
        err.to_string().contains("disposal of savepoint file:/x"),
        "{err}"
    );
}

// ---- hostile JobManagers (issue 11) ---------------------------------------

const JOB: &str = "0123456789abcdef0123456789abcdef";
const TRIGGER: &str = "fedcba9876543210fedcba9876543210";

fn savepoint_op() -> flink_rest::AsyncOperation {
    flink_rest::AsyncOperation::Savepoint {
        job: JobId::new(JOB),
        trigger: flink_rest::TriggerId::new(TRIGGER),
    }
}

#[tokio::test]
async fn a_savepoint_completed_with_an_empty_location_is_a_failure() {
    for location in [r#""""#, r#""   ""#, "null"] {
        let body =
            format!(r#"{{"status":{{"id":"COMPLETED"}},"operation":{{"location":{location}}}}}"#);
        let (url, _) = fake_jobmanager(Arc::new(move |_, _| Some((200, body.clone())))).await;
        let c = client(url, quick_retries(1));
        let err = c
            .wait_for(&savepoint_op(), Duration::from_secs(5))
            .await
            .unwrap_err();
        match &err {
            Error::OperationFailed { operation, cause } => {
                assert!(operation.contains(JOB), "{err}");
                assert!(
                    cause.contains("no usable location") || cause.contains("no location"),
                    "{err}"
                );
            }
            other => panic!("{location}: expected a failed savepoint, got {other}"),
        }
        // Callers that poll themselves (the savepointer) see a failure too.
        assert!(
            matches!(
                c.operation_status(&savepoint_op()).await.unwrap(),
                flink_rest::OperationStatus::Failed { .. }
            ),
            "{location}"
        );
    }
}

#[tokio::test]
async fn an_empty_checkpoint_path_is_never_a_restore_point() {
    let (url, _) = fake_jobmanager(Arc::new(|_, _| {
        Some((200, r#"{"counts":{"completed":2},"latest":{"completed":{"id":2,"trigger_timestamp":2,"external_path":""},"savepoint":{"id":1,"trigger_timestamp":1,"is_savepoint":true,"external_path":"file:/sp/orders/savepoint-1"},"restored":null},"history":[{"id":3,"status":"COMPLETED","trigger_timestamp":3,"external_path":" "}]}"#.into()))
    }))
    .await;
    let stats = client(url, quick_retries(1))
        .checkpoints(&JobId::new(JOB))
        .await
        .unwrap();
    assert_eq!(
        stats
            .newest_restorable()
            .and_then(|c| c.external_path.as_deref()),
        Some("file:/sp/orders/savepoint-1")
    );
}

#[tokio::test]
async fn redirects_are_not_followed_and_carry_nothing_elsewhere() {
    // The second server records whatever reaches it.
    let (elsewhere, reached, seen) =
        fake_server(Arc::new(|_, _| json(200, r#"{"jobs":[]}"#))).await;
    let target = elsewhere.join("jobs/overview").unwrap().to_string();
    let (url, _, _) = fake_server(Arc::new(move |_, _| Reply::Full {
        status: 307,
        headers: vec![format!("location: {target}")],
        body: String::new(),
    }))
    .await;
    let mut with_secrets = url.clone();
    with_secrets.set_username("alice").unwrap();
    with_secrets.set_password(Some("hunter2")).unwrap();
    let mut config = ClientConfig::new(with_secrets);
    config.retry = quick_retries(3);
    config.headers = vec!["X-Api-Key: k3y-s3cret".parse().unwrap()];
    let c = FlinkClient::new(config).unwrap();

    let err = c.jobs().await.unwrap_err();
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "{:?}",
        seen.lock().unwrap()
    );
    match &err {
        Error::Redirected {
            status,
            location,
            suggestion,
            ..
        } => {
            assert_eq!(status.as_u16(), 307);
            assert_eq!(
                location.as_deref(),
                Some(format!("{elsewhere}jobs/overview").as_str())
            );
            assert_eq!(suggestion.as_deref(), Some(elsewhere.as_str()));
        }
        other => panic!("expected a redirect error, got {other}"),
    }
    let text = err.to_string();
    assert!(text.contains("--jobmanager-url"), "{text}");
    assert!(
        text.contains(&format!("point --jobmanager-url at {elsewhere}")),
        "{text}"
    );
    assert!(
        !text.contains("hunter2") && !text.contains("k3y-s3cret"),
        "{text}"
    );

    // A write is not followed either, and a Location with credentials is shown redacted.
    let (url, _, _) = fake_server(Arc::new(|_, _| Reply::Full {
        status: 308,
        headers: vec!["location: http://bob:t0ps3cret@127.0.0.1:9/x".into()],
        body: String::new(),
    }))
    .await;
    let err = client(url, quick_retries(1))
        .cancel(&JobId::new(JOB))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Redirected { .. }), "{err}");
    assert!(!err.to_string().contains("t0ps3cret"), "{err}");
}

#[tokio::test]
async fn hostile_ids_never_leave_the_base_path() {
    let hostile = "../../jars/../x?y=#";
    let (url, count, seen) = fake_server(Arc::new(move |_, head| {
        let line = head.lines().next().unwrap_or_default().to_string();
        if line.starts_with("GET /config") {
            json(200, r#"{"flink-version":"2.3.0"}"#)
        } else if line.starts_with("GET /jobs/overview") {
            json(200, &format!(r#"{{"jobs":[{{"jid":"{hostile}","name":"orders","state":"RUNNING","start-time":1,"end-time":-1}}]}}"#))
        } else if line.starts_with("POST /jars/") && line.contains("/run") {
            json(200, &format!(r#"{{"jobid":"{hostile}"}}"#))
        } else if line.starts_with("POST /jars/upload") {
            json(200, r#"{"filename":"/tmp/flink-web/flink-web-upload/..","status":"success"}"#)
        } else if line.starts_with("POST /jobs/") {
            json(200, &format!(r#"{{"request-id":"{hostile}"}}"#))
        } else if line.starts_with("GET /jars") {
            json(200, &format!(r#"{{"address":"x","files":[{{"id":"{hostile}","name":"x.jar","uploaded":1,"entry":[]}}]}}"#))
        } else {
            json(404, r#"{"errors":["Not found."]}"#)
        }
    }))
    .await;
    let c = client(url, quick_retries(1));

    let err = c.jobs().await.unwrap_err();
    assert!(matches!(err, Error::UnexpectedResponse { .. }), "{err}");
    assert!(err.to_string().contains("job id"), "{err}");
    let err = c.jars().await.unwrap_err();
    assert!(err.to_string().contains("jar id"), "{err}");
    let err = c
        .run_jar(&flink_rest::JarId::new("uuid_x.jar"), &RunJob::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("job id"), "{err}");
    let err = c
        .trigger_savepoint(
            &JobId::new(JOB),
            None,
            flink_rest::SavepointFormat::Canonical,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("trigger id"), "{err}");
    let jar = std::env::temp_dir().join(format!("faults-{}.jar", std::process::id()));
    std::fs::write(&jar, b"PK").unwrap();
    let err = c.upload_jar(&jar, "x.jar").await.unwrap_err();
    let _ = std::fs::remove_file(&jar);
    assert!(err.to_string().contains("jar id"), "{err}");
    let sent = count.load(Ordering::SeqCst);

    // Ids a caller wraps unchecked are refused before anything is sent.
    let bad_job = JobId::new(hostile);
    assert!(matches!(c.job(&bad_job).await, Err(Error::InvalidId(_))));
    assert!(matches!(c.cancel(&bad_job).await, Err(Error::InvalidId(_))));
    assert!(matches!(
        c.delete_jar(&flink_rest::JarId::new("../../jobs/x")).await,
        Err(Error::InvalidId(_))
    ));
    assert!(matches!(
        c.vertex_metrics(&JobId::new(JOB), "../..", &["busyTimeMsPerSecond"])
            .await,
        Err(Error::InvalidId(_))
    ));
    let op = flink_rest::AsyncOperation::Savepoint {
        job: JobId::new(JOB),
        trigger: flink_rest::TriggerId::new(hostile),
    };
    assert!(matches!(
        c.operation_status(&op).await,
        Err(Error::InvalidId(_))
    ));
    assert_eq!(count.load(Ordering::SeqCst), sent, "nothing more was sent");
    for head in seen.lock().unwrap().iter() {
        let line = head.lines().next().unwrap();
        assert!(!line.contains(".."), "{line}");
    }
}

#[tokio::test]
async fn basic_auth_sends_the_url_credentials_verbatim() {
    let (url, _, seen) = fake_server(Arc::new(|_, _| json(200, r#"{"jobs":[]}"#))).await;
    let with = Url::parse(&format!(
        "http://us+er%40x:pa+ss%2Bw%25rd%20@{}/",
        url.authority()
    ))
    .unwrap();
    client(with, quick_retries(1)).jobs().await.unwrap();
    let head = seen.lock().unwrap()[0].clone();
    let auth = head
        .lines()
        .find_map(|l| l.strip_prefix("authorization: Basic "))
        .unwrap_or_else(|| panic!("no basic auth in {head}"));
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), "us+er@x:pa+ss+w%rd ");
}

fn patient_client(url: Url) -> FlinkClient {
    // A generous timeout: these tests are about size, never about time.
    let mut config = ClientConfig::new(url);
    config.retry = quick_retries(1);
    config.request_timeout = Duration::from_secs(300);
    FlinkClient::new(config).unwrap()
}

#[tokio::test]
async fn an_endless_json_answer_is_cut_off_with_a_clear_error() {
    for content_length in [None, Some(1_500_000_000)] {
        let (url, _, _) = fake_server(Arc::new(move |_, _| Reply::Endless {
            status: 200,
            content_length,
        }))
        .await;
        let err = patient_client(url).jobs().await.unwrap_err();
        assert!(
            matches!(err, Error::ResponseTooLarge { limit, .. } if limit == flink_rest::MAX_JSON_BODY),
            "{content_length:?}: {err}"
        );
        assert!(err.to_string().contains("larger than 16 MiB"), "{err}");
    }
}

#[tokio::test]
async fn an_endless_error_body_is_read_only_as_far_as_it_is_shown() {
    let (url, _, _) = fake_server(Arc::new(|_, _| Reply::Endless {
        status: 500,
        content_length: None,
    }))
    .await;
    let err = patient_client(url).overview().await.unwrap_err();
    match &err {
        Error::Server {
            status, message, ..
        } => {
            assert_eq!(status.as_u16(), 500);
            assert!(message.starts_with("{\"jobs\":["), "{message}");
            assert!(message.chars().count() <= 301, "{}", message.len());
        }
        other => panic!("expected a server error, got {other}"),
    }
}

#[tokio::test]
async fn a_flink_older_than_supported_is_an_unsupported_version() {
    // What Flink 1.2's web frontend answers on /config.
    let (url, _) = fake_jobmanager(Arc::new(|_, line| {
        Some(if line.starts_with("GET /config") {
            (200, r#"{"refresh-interval":10000,"timezone-offset":0,"timezone-name":"Coordinated Universal Time","flink-version":"1.2.0","flink-revision":"1c659cf @ 27.01.2017 @ 15:41:38 UTC"}"#.into())
        } else {
            (404, r#"{"errors":["Not found."]}"#.into())
        })
    }))
    .await;
    let err = client(url, quick_retries(1)).version().await.unwrap_err();
    match &err {
        Error::UnsupportedVersion {
            version, oldest, ..
        } => {
            assert_eq!(version.to_string(), "1.2.0");
            assert_eq!(*oldest, flink_rest::FlinkVersion::OLDEST_SUPPORTED);
        }
        other => panic!("expected an unsupported version, got {other}"),
    }
    assert!(!err.is_unreachable());
    assert!(err.to_string().contains("runs Flink 1.2.0"), "{err}");
    assert!(
        err.to_string().contains("supports Flink 1.19.0 and later"),
        "{err}"
    );
}

#[tokio::test]
async fn a_run_from_a_blank_savepoint_path_is_refused_before_sending() {
    let (url, count) = fake_jobmanager(Arc::new(|_, line| {
        Some(if line.starts_with("GET /config") {
            (200, r#"{"flink-version":"2.3.0"}"#.into())
        } else {
            (200, format!(r#"{{"jobid":"{JOB}"}}"#))
        })
    }))
    .await;
    let c = client(url, quick_retries(1));
    for blank in ["", "  ", "\t"] {
        let run = RunJob {
            savepoint_path: Some(blank.into()),
            ..RunJob::default()
        };
        let err = c
            .run_jar(&flink_rest::JarId::new("uuid_x.jar"), &run)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BlankSavepointPath), "{blank:?}: {err}");
        assert!(err.to_string().contains("empty state"), "{err}");
    }
    assert_eq!(count.load(Ordering::SeqCst), 0, "nothing was sent");
    // No savepoint at all is a fresh start, as asked.
    let id = c
        .run_jar(&flink_rest::JarId::new("uuid_x.jar"), &RunJob::default())
        .await
        .unwrap();
    assert_eq!(id.as_str(), JOB);
}
