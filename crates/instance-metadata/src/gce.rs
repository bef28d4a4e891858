//! The GCE metadata server client.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::{BoxFuture, InstanceMetadata, MetadataError, MetadataProvider};

/// The metadata server's host inside GCE.
pub const DEFAULT_GCE_HOST: &str = "metadata.google.internal";

const FLAVOR: &str = "metadata-flavor";
const GOOGLE: &str = "Google";

/// The most read of one answer by default. GCE holds at most 512 KB of custom metadata per
/// instance and per project, so a larger answer is not a metadata server's.
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// The most read of an error answer; only its start is shown.
const MAX_ERROR_BYTES: usize = 4 << 10;

/// A client for `http://HOST/computeMetadata/v1/`.
#[derive(Debug, Clone)]
pub struct GceMetadata {
    base: Url,
    client: reqwest::Client,
    deadline: Duration,
    request_timeout: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_answer: usize,
}

impl GceMetadata {
    /// A client for `host` (`GCE_METADATA_HOST`, e.g. `127.0.0.1:8080`) or the real server. The
    /// caller reads the environment, so tests never have to set it.
    pub fn new(host: Option<&str>) -> Result<Self, MetadataError> {
        let host = host.unwrap_or(DEFAULT_GCE_HOST);
        let invalid = |reason: String| MetadataError::InvalidHost {
            host: host.to_owned(),
            reason,
        };
        let base = Url::parse(&format!("http://{host}/computeMetadata/v1/"))
            .map_err(|e| invalid(e.to_string()))?;
        if base.host_str().is_none_or(str::is_empty) || base.path() != "/computeMetadata/v1/" {
            return Err(invalid("expected HOST or HOST:PORT".into()));
        }
        let client = reqwest::Client::builder()
            // The metadata server is link-local: a proxy would answer for something else.
            .no_proxy()
            .connect_timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            base,
            client,
            deadline: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_answer: MAX_ANSWER_BYTES,
        })
    }

    /// The overall time allowed for one fetch, retries included (default 30 s).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The time allowed for one request (default 5 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The first and the longest wait between retries (default 100 ms doubling up to 2 s).
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// The most read of one answer (default [`MAX_ANSWER_BYTES`]); a larger one is an error.
    pub fn with_max_answer(mut self, bytes: usize) -> Self {
        self.max_answer = bytes;
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Whether a metadata server answers at all within `timeout` (one request, no retries).
    pub async fn probe(&self, timeout: Duration) -> bool {
        let request = self
            .client
            .get(self.base.clone())
            .header(FLAVOR, GOOGLE)
            .send();
        match tokio::time::timeout(timeout, request).await {
            Ok(Ok(response)) => response.status().is_success() && has_flavor(&response),
            _ => false,
        }
    }

    /// GETs `path` (relative to the base) as JSON, retrying connection errors, timeouts and 5xx
    /// with exponential backoff until the deadline.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, MetadataError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| MetadataError::InvalidHost {
                host: self.base.to_string(),
                reason: e.to_string(),
            })?;
        let started = Instant::now();
        let deadline = started + self.deadline;
        let mut backoff = self.initial_backoff;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let timeout = deadline
                .saturating_duration_since(Instant::now())
                .min(self.request_timeout);
            let last = match tokio::time::timeout(timeout, self.attempt(&url)).await {
                Err(_) => format!("no answer within {timeout:?}"),
                Ok(Err(Retry(reason))) => reason,
                Ok(Ok(Err(fatal))) => return Err(fatal),
                Ok(Ok(Ok(body))) => return decode(&url, path, &body),
            };
            if Instant::now() + backoff >= deadline {
                return Err(MetadataError::Unavailable {
                    url: url.to_string(),
                    attempts,
                    waited: started.elapsed(),
                    last,
                });
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }

    /// One request: the body, a fatal error, or a reason to retry.
    async fn attempt(&self, url: &Url) -> Result<Result<Vec<u8>, MetadataError>, Retry> {
        let mut response = self
            .client
            .get(url.clone())
            .header(FLAVOR, GOOGLE)
            .send()
            .await
            .map_err(|e| Retry(error_chain(&e)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(Retry(format!("HTTP {status}")));
        }
        if !has_flavor(&response) {
            return Ok(Err(MetadataError::NotMetadataServer {
                url: url.to_string(),
            }));
        }
        let limit = if status.is_success() {
            self.max_answer
        } else {
            MAX_ERROR_BYTES
        };
        let (body, complete) = read_at_most(&mut response, limit)
            .await
            .map_err(|e| Retry(error_chain(&e)))?;
        if !status.is_success() {
            return Ok(Err(MetadataError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            }));
        }
        if !complete {
            return Ok(Err(MetadataError::TooLarge {
                url: url.to_string(),
                max: limit,
            }));
        }
        Ok(Ok(body))
    }

    async fn fetch_all(&self) -> Result<InstanceMetadata, MetadataError> {
        let (instance, project) = tokio::try_join!(
            self.get_json::<GceInstance>("instance/?recursive=true&alt=json"),
            self.get_json::<GceProject>("project/?recursive=true&alt=json"),
        )?;
        let internal_ip = instance
            .network_interfaces
            .first()
            .and_then(|nic| nic.ip.as_deref())
            .map(|ip| {
                ip.parse().map_err(|_| MetadataError::Invalid {
                    field: "instance/network-interfaces/0/ip",
                    value: ip.to_owned(),
                })
            })
            .transpose()?;
        Ok(InstanceMetadata {
            internal_ip,
            hostname: instance.hostname,
            name: instance.name,
            // `projects/123/zones/europe-west1-b`
            zone: instance
                .zone
                .map(|z| z.rsplit('/').next().unwrap_or_default().to_owned()),
            instance_attributes: instance.attributes,
            project_attributes: project.attributes,
        })
    }
}

impl MetadataProvider for GceMetadata {
    fn name(&self) -> &'static str {
        "gce"
    }

    fn fetch(&self) -> BoxFuture<'_, Result<InstanceMetadata, MetadataError>> {
        Box::pin(self.fetch_all())
    }
}

struct Retry(String);

/// Up to `limit` bytes of the body, and whether that was all of it. Reading stops there: a
/// huge or endless answer costs `limit` bytes of memory.
async fn read_at_most(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Ok((Vec::new(), false));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, true))
}

/// The JSON answer to `path`; text that is not UTF-8 is an error naming the fields it is in
/// (rather than becoming U+FFFD).
fn decode<T: DeserializeOwned>(url: &Url, path: &str, body: &[u8]) -> Result<T, MetadataError> {
    let text = std::str::from_utf8(body).map_err(|e| MetadataError::NotUtf8 {
        url: url.to_string(),
        fields: non_utf8_fields(path, body),
        offset: e.valid_up_to(),
    })?;
    serde_json::from_str(text).map_err(|source| MetadataError::Decode {
        url: url.to_string(),
        source,
    })
}

/// The metadata paths (`instance/attributes/flink-config`) of the JSON strings in `body` that
/// hold bytes that are not UTF-8: each such run is replaced by a marker the valid text lacks,
/// and the parsed JSON is searched for it.
fn non_utf8_fields(path: &str, body: &[u8]) -> Vec<String> {
    let valid: String = body.utf8_chunks().map(|c| c.valid()).collect();
    let Some(marker) = ('\u{F0000}'..='\u{FFFFD}').find(|c| !valid.contains(*c)) else {
        return Vec::new();
    };
    let mut text = String::with_capacity(body.len());
    for chunk in body.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            text.push(marker);
        }
    }
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let base = path
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    let mut found = Vec::new();
    let mut pending = vec![(base.to_owned(), &json)];
    while let Some((at, value)) = pending.pop() {
        match value {
            serde_json::Value::String(s) if s.contains(marker) => found.push(at),
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let name = format!("{at}/{}", k.replace(marker, "\u{FFFD}"));
                    if k.contains(marker) {
                        found.push(format!("{name} (its name)"));
                    }
                    pending.push((name, v));
                }
            }
            serde_json::Value::Array(items) => {
                pending.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("{at}/{i}"), v)),
                );
            }
            _ => {}
        }
    }
    found.sort();
    found
}

fn has_flavor(response: &reqwest::Response) -> bool {
    response.headers().get(FLAVOR) == Some(&HeaderValue::from_static(GOOGLE))
}

/// reqwest's Display hides the cause ("error sending request"); the chain says what happened.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GceInstance {
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    hostname: Option<String>,
    name: Option<String>,
    zone: Option<String>,
    #[serde(default)]
    network_interfaces: Vec<GceNetworkInterface>,
}

#[derive(Deserialize)]
struct GceNetworkInterface {
    ip: Option<String>,
}

#[derive(Deserialize)]
struct GceProject {
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{select, MetadataMode};
    use gce_metadata_standin::{GceTree, MetadataStandin};

    fn standin() -> MetadataStandin {
        MetadataStandin::start(
            GceTree::new("tm-1", "10.128.0.7")
                .instance_attribute("flink-config", "taskmanager.numberOfTaskSlots: 3\n")
                .project_attribute("flink-jobmanager-address", "10.128.0.2")
                .build(),
        )
        .unwrap()
    }

    fn client(s: &MetadataStandin) -> GceMetadata {
        GceMetadata::new(Some(&s.host()))
            .unwrap()
            .with_deadline(Duration::from_secs(3))
            .with_backoff(Duration::from_millis(10), Duration::from_millis(50))
    }

    #[tokio::test]
    async fn fetches_instance_and_project_in_one_request_each() {
        let s = standin();
        let md = client(&s).fetch().await.unwrap();
        assert_eq!(md.internal_ip, Some("10.128.0.7".parse().unwrap()));
        assert_eq!(md.name.as_deref(), Some("tm-1"));
        assert_eq!(md.zone.as_deref(), Some("europe-west1-b"));
        assert_eq!(
            md.hostname.as_deref(),
            Some("tm-1.europe-west1-b.c.my-project.internal")
        );
        assert_eq!(
            md.instance_attributes["flink-config"],
            "taskmanager.numberOfTaskSlots: 3\n"
        );
        assert_eq!(
            md.project_attributes["flink-jobmanager-address"],
            "10.128.0.2"
        );
        assert_eq!(s.requests(), 2);
    }

    #[tokio::test]
    async fn retries_503_then_succeeds() {
        let s = standin();
        s.fail_next(3);
        let md = client(&s).fetch().await.unwrap();
        assert_eq!(md.name.as_deref(), Some("tm-1"));
        assert_eq!(s.requests(), 5);
    }

    #[tokio::test]
    async fn gives_up_at_the_deadline() {
        let s = standin();
        s.fail_next(u32::MAX);
        let started = Instant::now();
        let gce = client(&s).with_deadline(Duration::from_millis(400));
        let err = gce
            .get_json::<serde_json::Value>("instance/")
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        match err {
            MetadataError::Unavailable { attempts, last, .. } => {
                assert!(attempts > 2, "{attempts}");
                assert!(last.contains("503"), "{last}");
            }
            other => panic!("{other}"),
        }
    }

    #[tokio::test]
    async fn a_slow_server_counts_against_the_deadline() {
        let s = standin();
        s.set_delay(Duration::from_secs(2));
        let gce = client(&s)
            .with_deadline(Duration::from_millis(500))
            .with_request_timeout(Duration::from_millis(200));
        let started = Instant::now();
        let err = gce.fetch().await.unwrap_err();
        assert!(matches!(err, MetadataError::Unavailable { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_millis(1500));
    }

    #[tokio::test]
    async fn connection_refused_is_retried_then_unavailable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let gce = GceMetadata::new(Some(&format!("127.0.0.1:{port}")))
            .unwrap()
            .with_deadline(Duration::from_millis(300))
            .with_backoff(Duration::from_millis(10), Duration::from_millis(50));
        match gce.fetch().await.unwrap_err() {
            MetadataError::Unavailable { attempts, .. } => assert!(attempts > 1),
            other => panic!("{other}"),
        }
    }

    #[tokio::test]
    async fn requires_the_flavor_header_on_answers() {
        let s = standin();
        s.omit_flavor_header(true);
        let err = client(&s).fetch().await.unwrap_err();
        assert!(
            matches!(err, MetadataError::NotMetadataServer { .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn standin_refuses_requests_without_the_header() {
        let s = standin();
        let url = format!("http://{}/computeMetadata/v1/instance/name", s.host());
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["metadata-flavor"], "Google");
        let body = response.text().await.unwrap();
        assert!(
            body.contains("Missing Metadata-Flavor:Google header."),
            "{body}"
        );
    }

    #[tokio::test]
    async fn not_found_is_not_retried() {
        let s = standin();
        let err = client(&s)
            .get_json::<serde_json::Value>("instance/attributes/missing?alt=json")
            .await
            .unwrap_err();
        assert!(
            matches!(err, MetadataError::Status { status: 404, .. }),
            "{err}"
        );
        assert_eq!(s.requests(), 1);
    }

    #[tokio::test]
    async fn leaf_values_are_plain_text() {
        let s = standin();
        let url = format!(
            "http://{}/computeMetadata/v1/instance/network-interfaces/0/ip",
            s.host()
        );
        let response = reqwest::Client::new()
            .get(&url)
            .header(FLAVOR, GOOGLE)
            .send()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "10.128.0.7");
    }

    #[tokio::test]
    async fn auto_uses_gce_only_when_it_answers_quickly() {
        let s = standin();
        let quick = Duration::from_millis(300);
        let found = select(MetadataMode::Auto, client(&s), quick).await;
        assert_eq!(found.map(|p| p.name()), Some("gce"));
        s.set_delay(Duration::from_secs(1));
        assert!(select(MetadataMode::Auto, client(&s), quick)
            .await
            .is_none());
        assert!(select(MetadataMode::None, client(&s), quick)
            .await
            .is_none());
    }

    #[tokio::test]
    async fn a_huge_answer_is_an_error_not_memory() {
        let s = standin();
        s.pad_answers(8 << 20);
        let err = client(&s)
            .get_json::<serde_json::Value>("instance/?recursive=true&alt=json")
            .await
            .unwrap_err();
        assert!(
            matches!(err, MetadataError::TooLarge { max, .. } if max == MAX_ANSWER_BYTES),
            "{err}"
        );
        assert_eq!(s.requests(), 1, "not retried");
        assert!(err.to_string().contains("more than 4194304 bytes"), "{err}");
    }

    #[tokio::test]
    async fn an_endless_answer_is_an_error() {
        let s = standin();
        s.pad_answers(u64::MAX);
        let err = client(&s)
            .with_max_answer(1 << 20)
            .fetch()
            .await
            .unwrap_err();
        assert!(matches!(err, MetadataError::TooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn values_that_are_not_utf8_are_named() {
        let s = MetadataStandin::start(
            GceTree::new("tm-1", "10.128.0.7")
                .instance_attribute("flink-config", "taskmanager.host: BAD\n")
                .instance_attribute("other", "fine \u{FFFD}")
                .project_attribute("flink-config", "a.b: BAD")
                .build(),
        )
        .unwrap();
        s.replace_in_answers("BAD", b"caf\xe9");
        let err = client(&s).fetch().await.unwrap_err();
        let MetadataError::NotUtf8 { fields, .. } = &err else {
            panic!("{err}");
        };
        assert!(
            fields == &["instance/attributes/flink-config"]
                || fields == &["project/attributes/flink-config"],
            "{fields:?}"
        );
        assert!(err.is_bad_metadata());
        assert!(
            err.to_string()
                .contains("attributes/flink-config is not valid UTF-8"),
            "{err}"
        );
        // A replacement character that is really there is text like any other.
        let md = client(&standin()).fetch().await.unwrap();
        assert!(!md.instance_attributes["flink-config"].contains('\u{FFFD}'));
    }

    #[test]
    fn finds_every_field_that_is_not_utf8() {
        let body = b"{\"attributes\":{\"a\":\"x\xff\",\"b\":\"ok\",\"c\xfe\":\"\xc3\"}}";
        assert_eq!(
            non_utf8_fields("project/?recursive=true", body),
            [
                "project/attributes/a",
                "project/attributes/c\u{FFFD}",
                "project/attributes/c\u{FFFD} (its name)"
            ]
        );
    }

    #[test]
    fn rejects_unusable_hosts() {
        assert!(GceMetadata::new(Some("host/with/path")).is_err());
        assert!(GceMetadata::new(Some("")).is_err());
        assert_eq!(
            GceMetadata::new(None).unwrap().base_url().as_str(),
            "http://metadata.google.internal/computeMetadata/v1/"
        );
    }
}
