//! Typed errors that say what was asked, what came back and what Flink said.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::dialect::FlinkVersion;
use crate::model::InvalidId;
use crate::redact::RedactedUrl;

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a JobManager.
///
/// The variants are distinct so callers can decide: an unreachable
/// JobManager is worth retrying later, a 404 means the job or jar is gone, a
/// conflict usually means the job already finished.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No HTTP answer: connection refused, DNS failure, TLS failure or timeout.
    #[error("{method} {url}: the JobManager is unreachable ({reason})")]
    Unreachable {
        /// The request's method.
        method: Method,
        /// The request's URL, credentials redacted.
        url: RedactedUrl,
        /// What went wrong, in a few words, with the cause chain.
        reason: String,
    },
    /// 404: the job, jar or operation is unknown to the JobManager.
    #[error("{method} {url}: not found (HTTP 404){}", flink_text(.message))]
    NotFound {
        /// The request's method.
        method: Method,
        /// The request's URL, credentials redacted.
        url: RedactedUrl,
        /// Flink's own error text.
        message: String,
    },
    /// 409: the request conflicts with the job's state (often: already terminated).
    #[error("{method} {url}: conflict (HTTP 409){}", flink_text(.message))]
    Conflict {
        /// The request's method.
        method: Method,
        /// The request's URL, credentials redacted.
        url: RedactedUrl,
        /// Flink's own error text.
        message: String,
    },
    /// Any other 4xx: the request was wrong.
    #[error("{method} {url}: rejected with HTTP {status}{}", flink_text(.message))]
    Client {
        /// The request's method.
        method: Method,
        /// The request's URL, credentials redacted.
        url: RedactedUrl,
        /// The HTTP status.
        status: StatusCode,
        /// Flink's own error text.
        message: String,
    },
    /// 5xx: the JobManager failed to handle the request.
    #[error("{method} {url}: JobManager error HTTP {status}{}", flink_text(.message))]
    Server {
        /// The request's method.
        method: Method,
        /// The request's URL, credentials redacted.
        url: RedactedUrl,
        /// The HTTP status.
        status: StatusCode,
        /// Flink's own error text.
        message: String,
    },
    /// A 2xx answer that is not what the REST API documents (garbled JSON,
    /// missing fields): not a Flink JobManager, or a proxy in between.
    #[error("{method} {url}: unexpected answer from the JobManager: {detail}")]
    UnexpectedResponse {
        /// The request's method.
        method: Method,
        /// The request's URL, credentials redacted.
        url: RedactedUrl,
        /// What was wrong with it.
        detail: String,
    },
    /// A 3xx answer. Redirects are never followed: the request's
    /// credentials and extra headers would go to wherever it points.
    #[error("{method} {url}: the JobManager answered HTTP {status}, a redirect to {}; flink-ops does not follow redirects (credentials and headers would go along): point --jobmanager-url at {} instead", .location.as_deref().unwrap_or("nowhere (no Location header)"), .suggestion.as_deref().or(.location.as_deref()).unwrap_or("the JobManager itself"))]
    Redirected {
        /// The request's method.
        method: Method,
        /// The request's URL, credentials redacted.
        url: RedactedUrl,
        /// The HTTP status.
        status: StatusCode,
        /// Where it pointed (resolved, credentials redacted), if anywhere.
        location: Option<String>,
        /// The base URL to use instead, when the redirect kept the request's
        /// path (e.g. `http://other:8081/` for `…/jobs/overview`).
        suggestion: Option<String>,
    },
    /// An answer longer than this client reads: not a JobManager's answer
    /// (a proxy, a misconfigured port) or one that would exhaust memory.
    #[error("{method} {url}: the answer is larger than {} MiB; refusing to read it (is this a Flink JobManager?)", .limit / (1024 * 1024))]
    ResponseTooLarge {
        /// The request's method.
        method: Method,
        /// The request's URL, credentials redacted.
        url: RedactedUrl,
        /// The most this client reads, in bytes.
        limit: u64,
    },
    /// The JobManager runs a Flink older than the oldest this client speaks.
    #[error("{url} runs Flink {version}; flink-ops supports Flink {oldest} and later: upgrade the cluster or use an older flink-ops")]
    UnsupportedVersion {
        /// The JobManager, credentials redacted.
        url: RedactedUrl,
        /// The version it reports.
        version: FlinkVersion,
        /// The oldest version supported.
        oldest: FlinkVersion,
    },
    /// A request would carry an id that does not have the shape Flink
    /// gives (e.g. a job id that is not 32 hex digits): refused before
    /// anything is sent, so it can never address something outside the
    /// REST API's base path.
    #[error("refusing the request: {0}")]
    InvalidId(#[from] InvalidId),
    /// A job run from a blank savepoint path: Flink would start it empty.
    #[error("refusing to run a job from a blank savepoint path: Flink reads it as \"no savepoint\" and would start the job with empty state; give the savepoint's path, or none for a fresh start")]
    BlankSavepointPath,
    /// An asynchronous operation (savepoint, disposal) finished with a failure.
    #[error("{operation} failed: {cause}")]
    OperationFailed {
        /// What was attempted, e.g. "savepoint of job 3f2a…".
        operation: String,
        /// Flink's failure cause (the first line of its stack trace).
        cause: String,
    },
    /// An asynchronous operation did not finish before the deadline.
    #[error("{operation} did not finish within {}", humanize(*.waited))]
    OperationTimedOut {
        /// What was attempted.
        operation: String,
        /// How long we waited.
        waited: Duration,
    },
    /// A local file (a jar to upload) could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The client could not be built (bad URL, CA bundle or client certificate).
    #[error("invalid REST client settings: {0}")]
    Config(String),
}

impl Error {
    /// True when no HTTP answer came back at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }

    /// True for a 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// True for errors worth retrying later: unreachable or a 5xx, except
    /// [an unsupported operation](Error::is_unsupported_operation).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unreachable { .. } | Error::Server { .. })
            && !self.is_unsupported_operation()
    }

    /// True when the JobManager cannot do what was asked at all: Flink answers HTTP 500 with
    /// a `java.lang.UnsupportedOperationException`, e.g. resource requirements of a job on
    /// another scheduler than the adaptive one. Asking again will not help.
    pub fn is_unsupported_operation(&self) -> bool {
        matches!(self, Error::Server { message, .. }
            if message.contains("java.lang.UnsupportedOperationException"))
    }
}

fn flink_text(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else if secs > 0 {
        format!("{secs}s")
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Extracts Flink's error text from an error body: `{"errors": ["..."]}`.
///
/// Flink often puts a whole Java stack trace in the first entry; only its
/// first line (the exception and message) is worth showing a person.
pub(crate) fn flink_error_text(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        errors: Vec<String>,
    }
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(parsed) => parsed
            .errors
            .iter()
            .map(|e| first_meaningful_line(e))
            .filter(|e| !e.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => {
            let trimmed = body.trim();
            let mut text: String = trimmed.chars().take(300).collect();
            if text.len() < trimmed.len() {
                text.push('…');
            }
            // Shown in logs and errors: a hostile body must not forge lines.
            crate::printable_name(&text).into_owned()
        }
    }
}

/// The first line of a Java stack trace that says something, skipping the
/// generic "Internal server error." wrapper Flink adds, followed by the
/// root cause (the last `Caused by:`) when there is one: Flink often wraps
/// the cause a person needs ("... set allowNonRestoredState ...") in
/// generic exceptions ("Could not execute application.").
pub(crate) fn first_meaningful_line(trace: &str) -> String {
    let mut lines = trace
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("at ") && *l != "<Exception on server side:");
    let mut first = lines.next().unwrap_or_default();
    if first.eq_ignore_ascii_case("Internal server error.") {
        if let Some(next) = lines.next() {
            first = next;
        }
    }
    let root = trace
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Caused by: "))
        .next_back();
    // Shown in logs and errors: a hostile trace must not forge lines.
    let line = match root {
        Some(root) if root != first && !first.contains(root) => {
            format!("{first} (caused by {root})")
        }
        _ => first.to_string(),
    };
    crate::printable_name(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsupported_operation_is_not_worth_retrying() {
        let url = RedactedUrl::new(
            "http://127.0.0.1:8081/jobs/x/resource-requirements"
                .parse()
                .unwrap(),
        );
        // What Flink 1.20 and 2.3 answer for a job on the default scheduler.
        let body = r#"{"errors":["Internal server error.","<Exception on server side:\njava.lang.UnsupportedOperationException: The DefaultScheduler does not support changing the parallelism without a job restart. This feature is currently only expected to work with the AdaptiveScheduler.\n\tat org.apache.flink.runtime.scheduler.SchedulerBase.requestJobResourceRequirements(SchedulerBase.java:1)\n"]}"#;
        let unsupported = Error::Server {
            method: Method::GET,
            url: url.clone(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: flink_error_text(body),
        };
        assert!(unsupported.is_unsupported_operation(), "{unsupported}");
        assert!(!unsupported.is_transient());
        assert!(
            unsupported.to_string().contains("AdaptiveScheduler"),
            "{unsupported}"
        );
        let busy = Error::Server {
            method: Method::GET,
            url,
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "Service temporarily unavailable".into(),
        };
        assert!(busy.is_transient() && !busy.is_unsupported_operation());
    }

    #[test]
    fn flink_error_bodies_are_reduced_to_their_message() {
        let body = r#"{"errors":["org.apache.flink.runtime.rest.handler.RestHandlerException: Job 00000000000000000000000000000001 not found\n\tat org.apache.flink.Foo.bar(Foo.java:1)"]}"#;
        assert_eq!(
            flink_error_text(body),
            "org.apache.flink.runtime.rest.handler.RestHandlerException: Job 00000000000000000000000000000001 not found"
        );
    }

    #[test]
    fn internal_server_error_wrapper_is_skipped() {
        let body = r#"{"errors":["Internal server error.","<Exception on server side:\njava.lang.IllegalStateException: boom\n\tat x.y(Z.java:1)"]}"#;
        assert_eq!(
            flink_error_text(body),
            "Internal server error.; java.lang.IllegalStateException: boom"
        );
        assert_eq!(
            first_meaningful_line(
                "Internal server error.\n<Exception on server side:\njava.io.IOException: disk"
            ),
            "java.io.IOException: disk"
        );
    }

    #[test]
    fn the_root_cause_follows_a_generic_wrapper() {
        let trace = "org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application.\n\tat a.b(C.java:1)\nCaused by: java.util.concurrent.CompletionException: x\nCaused by: java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint. Cannot map checkpoint/savepoint state for operator abc to the new program. --allowNonRestoredState\n\tat d.e(F.java:2)";
        let text = first_meaningful_line(trace);
        assert!(text.starts_with("org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application."), "{text}");
        assert!(text.ends_with("(caused by java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint. Cannot map checkpoint/savepoint state for operator abc to the new program. --allowNonRestoredState)"), "{text}");
    }

    #[test]
    fn error_texts_never_span_lines() {
        let forged = "oops\n2026-11-23T18:15:00Z INFO deploy succeeded\u{1b}[0m";
        let text = flink_error_text(forged);
        assert!(!text.contains('\n') && !text.contains('\u{1b}'), "{text}");
        assert!(text.starts_with("oops\\n2026"), "{text}");
        let json = r#"{"errors":["java.lang.Exception: a\rb\u001b[31m"]}"#;
        let text = flink_error_text(json);
        assert_eq!(text, "java.lang.Exception: a\\rb\\u{1b}[31m");
    }

    #[test]
    fn non_json_bodies_are_truncated() {
        let body = "x".repeat(1000);
        let text = flink_error_text(&body);
        assert_eq!(text.chars().count(), 301);
        assert!(text.ends_with('…'));
    }
}
