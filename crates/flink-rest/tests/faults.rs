//! Answers a real Flink cannot be made to give on demand: garbled JSON,
//! 503s, answers that never come. A minimal HTTP/1.1 server plays the
//! JobManager; everything else is tested against real clusters in `tests/`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flink_rest::{ClientConfig, Error, FlinkClient, JobId, RetryPolicy, RunJob};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

/// What the fake JobManager answers to the n-th request (from 0), given the request line.
type Responder = Arc<dyn Fn(usize, &str) -> Option<(u16, String)> + Send + Sync>;

/// Serves `respond` on a free port; `None` means "never answer".
async fn fake_jobmanager(respond: Responder) -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let respond = respond.clone();
            let n = seen.fetch_add(1, Ordering::SeqCst);
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
                let request_line = head.lines().next().unwrap_or_default().to_string();
                match respond(n, &request_line) {
                    Some((status, body)) => {
                        let reply = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = socket.write_all(reply.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    (url, count)
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
        trigger: flink_rest::TriggerId::new("t"),
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
        trigger: flink_rest::TriggerId::new("t"),
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
