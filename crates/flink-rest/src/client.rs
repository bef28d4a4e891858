//! The HTTP client: transport settings, retries, error mapping and the endpoints.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::OnceCell;
use url::Url;

use crate::dialect::{Dialect, FlinkVersion};
use crate::error::{first_meaningful_line, flink_error_text, Error, Result};
use crate::model::*;
use crate::model::{is_hex_id, is_restorable_path};
use crate::redact::{RedactedUrl, SecretHeader};

/// The most this client reads of a JSON answer. Real answers are far
/// smaller (3000 jobs in `/jobs/overview` are about 1 MB); anything longer
/// is not a JobManager's answer and is refused before it fills memory.
pub const MAX_JSON_BODY: u64 = 16 * 1024 * 1024;

/// The most read of an error body: only its first lines are ever shown.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// The most read of a PEM file (CA bundle, client certificate or key).
const MAX_PEM_FILE: u64 = 1024 * 1024;

/// Retries with exponential backoff, used only for idempotent reads.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub attempts: u32,
    /// Wait before the first retry; doubles each time.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// How to reach a JobManager.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The REST endpoint, e.g. `http://10.0.0.2:8081` (may carry
    /// `user:password@`, sent as basic auth and never printed).
    pub url: Url,
    /// Timeout of one request (uploads use [`ClientConfig::upload_timeout`]).
    pub request_timeout: Duration,
    /// Timeout to establish a connection.
    pub connect_timeout: Duration,
    /// Timeout of a jar upload.
    pub upload_timeout: Duration,
    /// Retries of idempotent reads.
    pub retry: RetryPolicy,
    /// A PEM bundle of CAs to trust (Flink's REST SSL with a private CA).
    pub ca_cert: Option<PathBuf>,
    /// A PEM client certificate and its PEM key, for mutual TLS.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// Extra headers sent with every request (e.g. a proxy's `Authorization`).
    pub headers: Vec<SecretHeader>,
}

impl ClientConfig {
    /// Settings for `url` with default timeouts and retries.
    pub fn new(url: Url) -> Self {
        Self {
            url,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            upload_timeout: Duration::from_secs(30 * 60),
            retry: RetryPolicy::default(),
            ca_cert: None,
            client_identity: None,
            headers: Vec::new(),
        }
    }
}

/// A client for one JobManager's REST API.
#[derive(Debug, Clone)]
pub struct FlinkClient {
    http: reqwest::Client,
    /// The endpoint without credentials, ending in `/`.
    base: Url,
    shown: RedactedUrl,
    config: ClientConfig,
    dialect: std::sync::Arc<OnceCell<Dialect>>,
}

impl FlinkClient {
    /// Builds a client. Fails on an unusable URL, CA bundle or certificate;
    /// does not contact the JobManager.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let url = &config.url;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "the JobManager URL must start with http:// or https://, not {}://",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::Config("the JobManager URL has no host".into()));
        }
        // What is shown is what is used: the query and fragment are never sent.
        let mut used = url.clone();
        used.set_query(None);
        used.set_fragment(None);
        let shown = RedactedUrl::new(used);

        let mut headers = HeaderMap::new();
        if !url.username().is_empty() || url.password().is_some() {
            headers.insert(AUTHORIZATION, basic_auth(url)?);
        }
        for h in &config.headers {
            headers.insert(h.name().clone(), h.value().clone());
        }

        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            // Never follow a redirect: the Authorization and extra headers
            // would go to whatever host it names. A 3xx is an error instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("flink-ops/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &config.ca_cert {
            let pem = read_file(ca)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Config(format!("{} is not a PEM CA bundle: {e}", ca.display()))
            })?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "{} holds no PEM certificate",
                    ca.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((cert, key)) = &config.client_identity {
            let mut pem = read_file(cert)?;
            pem.push(b'\n');
            pem.extend(read_file(key)?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                Error::Config(format!(
                    "{} and {} are not a PEM certificate and key: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;

        let mut base = url.clone();
        let _ = base.set_username("");
        let _ = base.set_password(None);
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            http,
            base,
            shown,
            config,
            dialect: Default::default(),
        })
    }

    /// The JobManager URL, safe to print.
    pub fn url(&self) -> &RedactedUrl {
        &self.shown
    }

    /// The URL of `segments` under the base path, each one percent-encoded
    /// as a single segment (ids are checked before they get here), with a
    /// query built by this crate.
    fn endpoint(&self, segments: &[&str], query: Option<&str>) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have a path")
            .pop_if_empty()
            .extend(segments);
        url.set_query(query);
        url
    }

    // ---- transport -------------------------------------------------------

    /// Sends a request once, mapping transport failures and error statuses.
    async fn send(
        &self,
        method: Method,
        url: Url,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let shown = RedactedUrl::new(url.clone());
        let request = build(
            self.http
                .request(method.clone(), url)
                .timeout(self.config.request_timeout),
        );
        tracing::debug!(%method, url = %shown, "flink rest request");
        let response = request.send().await.map_err(|e| Error::Unreachable {
            method: method.clone(),
            url: shown.clone(),
            reason: transport_reason(&e),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.is_redirection() {
            let (location, suggestion) = match response.headers().get(LOCATION) {
                Some(value) => {
                    let (location, suggestion) = self.describe_redirect(shown.expose(), value);
                    (Some(location), suggestion)
                }
                None => (None, None),
            };
            tracing::warn!(%method, url = %shown, %status, location = location.as_deref().unwrap_or("-"), "the JobManager answered with a redirect; not followed");
            return Err(Error::Redirected {
                method,
                url: shown,
                status,
                location,
                suggestion,
            });
        }
        // Only shown, shortened: the rest of a huge error body is never read.
        let body = read_capped(response, MAX_ERROR_BODY)
            .await
            .map(|(body, _)| body)
            .unwrap_or_default();
        let message = flink_error_text(&String::from_utf8_lossy(&body));
        Err(match status {
            StatusCode::NOT_FOUND => Error::NotFound {
                method,
                url: shown,
                message,
            },
            StatusCode::CONFLICT => Error::Conflict {
                method,
                url: shown,
                message,
            },
            s if s.is_client_error() => Error::Client {
                method,
                url: shown,
                status,
                message,
            },
            _ => Error::Server {
                method,
                url: shown,
                status,
                message,
            },
        })
    }

    /// Where a redirect points, redacted, and the base URL to use instead
    /// when it kept the request's path below the base.
    fn describe_redirect(&self, request: &Url, value: &HeaderValue) -> (String, Option<String>) {
        let raw = String::from_utf8_lossy(value.as_bytes());
        let Ok(target) = request.join(&raw) else {
            let mut shown: String = raw.chars().take(200).collect();
            if shown.len() < raw.len() {
                shown.push('…');
            }
            return (format!("{shown:?} (not a URL)"), None);
        };
        let below_base = request
            .path()
            .strip_prefix(self.base.path())
            .filter(|rest| !rest.is_empty());
        let suggestion = below_base
            .and_then(|rest| target.path().strip_suffix(rest))
            .filter(|_| matches!(target.scheme(), "http" | "https"))
            .map(|base_path| {
                let mut base = target.clone();
                base.set_path(base_path);
                base.set_query(None);
                base.set_fragment(None);
                RedactedUrl::new(base).to_string()
            });
        (RedactedUrl::new(target).to_string(), suggestion)
    }

    async fn json<T: DeserializeOwned>(
        method: &Method,
        url: &Url,
        response: Response,
    ) -> Result<T> {
        let unexpected = |detail: String| Error::UnexpectedResponse {
            method: method.clone(),
            url: RedactedUrl::new(url.clone()),
            detail,
        };
        let too_large = || Error::ResponseTooLarge {
            method: method.clone(),
            url: RedactedUrl::new(url.clone()),
            limit: MAX_JSON_BODY,
        };
        if response.content_length().is_some_and(|n| n > MAX_JSON_BODY) {
            return Err(too_large());
        }
        let (bytes, truncated) = read_capped(response, MAX_JSON_BODY)
            .await
            .map_err(|e| unexpected(format!("the answer broke off: {}", transport_reason(&e))))?;
        if truncated {
            return Err(too_large());
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            let start: String = String::from_utf8_lossy(&bytes).chars().take(120).collect();
            unexpected(format!("{e} (answer began with {start:?})"))
        })
    }

    /// An idempotent GET, retried on transport errors and 5xx.
    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        let policy = self.config.retry;
        let mut attempt = 1;
        loop {
            let outcome = match self.send(Method::GET, url.clone(), |r| r).await {
                Ok(response) => Self::json(&Method::GET, &url, response).await,
                Err(e) => Err(e),
            };
            match outcome {
                Err(e) if e.is_transient() && attempt < policy.attempts => {
                    let wait = policy.backoff(attempt);
                    tracing::debug!(error = %e, ?wait, "retrying read");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// A request that changes something: sent once, never retried.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let response = self
            .send(method.clone(), url.clone(), |r| match body {
                Some(b) => r.json(&b),
                None => r,
            })
            .await?;
        Self::json(&method, &url, response).await
    }

    async fn call_no_content(&self, method: Method, url: Url) -> Result<()> {
        self.send(method, url, |r| r).await.map(drop)
    }

    // ---- cluster ---------------------------------------------------------

    /// The cluster's Flink version (`GET /config`), asked once per client.
    pub async fn version(&self) -> Result<FlinkVersion> {
        Ok(self.dialect().await?.version())
    }

    /// The dialect matching the cluster's version.
    pub async fn dialect(&self) -> Result<Dialect> {
        self.dialect
            .get_or_try_init(|| async {
                let url = self.endpoint(&["config"], None);
                let config: ConfigResponse = self.get(url.clone()).await?;
                let version: FlinkVersion =
                    config
                        .flink_version
                        .parse()
                        .map_err(|e: flink_version::VersionError| Error::UnexpectedResponse {
                            method: Method::GET,
                            url: RedactedUrl::new(url),
                            detail: e.to_string(),
                        })?;
                if version < FlinkVersion::OLDEST_SUPPORTED {
                    return Err(Error::UnsupportedVersion {
                        url: self.shown.clone(),
                        version,
                        oldest: FlinkVersion::OLDEST_SUPPORTED,
                    });
                }
                Ok(Dialect::new(version))
            })
            .await
            .copied()
    }

    /// `GET /overview`.
    pub async fn overview(&self) -> Result<ClusterOverview> {
        self.get(self.endpoint(&["overview"], None)).await
    }

    /// The JobManager's effective configuration (`GET /jobmanager/config`): its config file
    /// and `-D` options, key by key. Flink hides the values of sensitive keys (`******`).
    pub async fn jobmanager_config(&self) -> Result<std::collections::BTreeMap<String, String>> {
        #[derive(serde::Deserialize)]
        struct Entry {
            key: String,
            value: String,
        }
        let entries: Vec<Entry> = self
            .get(self.endpoint(&["jobmanager", "config"], None))
            .await?;
        Ok(entries.into_iter().map(|e| (e.key, e.value)).collect())
    }

    /// `GET /taskmanagers`.
    pub async fn task_managers(&self) -> Result<Vec<TaskManager>> {
        Ok(self
            .get::<TaskManagers>(self.endpoint(&["taskmanagers"], None))
            .await?
            .taskmanagers)
    }

    // ---- jobs ------------------------------------------------------------

    /// All jobs the JobManager knows, running or not (`GET /jobs/overview`).
    pub async fn jobs(&self) -> Result<Vec<JobOverview>> {
        Ok(self
            .get::<JobsOverview>(self.endpoint(&["jobs", "overview"], None))
            .await?
            .jobs)
    }

    /// Jobs whose name is exactly `name` (never a substring match).
    pub async fn jobs_named(&self, name: &str) -> Result<Vec<JobOverview>> {
        let mut jobs = self.jobs().await?;
        jobs.retain(|j| j.name == name);
        Ok(jobs)
    }

    /// `GET /jobs/{id}`.
    pub async fn job(&self, job: &JobId) -> Result<JobDetails> {
        self.get(self.endpoint(&["jobs", job.checked()?], None))
            .await
    }

    /// `GET /jobs/{id}/vertices/{vid}/subtasktimes`.
    pub async fn subtask_times(&self, job: &JobId, vertex: &str) -> Result<SubtaskTimes> {
        if !is_hex_id(vertex) {
            return Err(InvalidId::new("vertex id", vertex).into());
        }
        self.get(self.endpoint(
            &["jobs", job.checked()?, "vertices", vertex, "subtasktimes"],
            None,
        ))
        .await
    }

    /// When the last subtask of `job` switched to RUNNING, on the JobManager's clock (epoch
    /// milliseconds); `None` while some subtask has not run yet (the REST API caches a job's
    /// view for up to `web.refresh-interval`).
    pub async fn all_running_at(&self, job: &JobId) -> Result<Option<i64>> {
        let details = self.job(job).await?;
        let mut last = None;
        for vertex in &details.vertices {
            for subtask in self.subtask_times(job, &vertex.id).await?.subtasks {
                match subtask
                    .timestamps
                    .get("RUNNING")
                    .copied()
                    .filter(|t| *t > 0)
                {
                    Some(at) => last = last.max(Some(at)),
                    None => return Ok(None),
                }
            }
        }
        Ok(last)
    }

    /// `GET /jobs/{id}/checkpoints`.
    pub async fn checkpoints(&self, job: &JobId) -> Result<CheckpointStats> {
        self.get(self.endpoint(&["jobs", job.checked()?, "checkpoints"], None))
            .await
    }

    /// Job-level metrics by name (`GET /jobs/{id}/metrics?get=...`), e.g.
    /// `numRestarts`. Metrics the job does not have are left out.
    pub async fn job_metrics(&self, job: &JobId, names: &[&str]) -> Result<Vec<Metric>> {
        let query = format!("get={}", metric_list(names));
        self.get(self.endpoint(&["jobs", job.checked()?, "metrics"], Some(&query)))
            .await
    }

    /// The names of the metrics a vertex's subtasks offer.
    pub async fn vertex_metric_names(&self, job: &JobId, vertex: &str) -> Result<Vec<String>> {
        let url = self.endpoint(
            &[
                "jobs",
                job.checked()?,
                "vertices",
                checked_vertex(vertex)?,
                "subtasks",
                "metrics",
            ],
            None,
        );
        let metrics: Vec<Metric> = self.get(url).await?;
        Ok(metrics.into_iter().map(|m| m.id).collect())
    }

    /// Metrics aggregated over a vertex's subtasks (`max`, `sum` and `avg`).
    pub async fn vertex_metrics(
        &self,
        job: &JobId,
        vertex: &str,
        names: &[&str],
    ) -> Result<Vec<Metric>> {
        let query = format!("get={}&agg=max,sum,avg", metric_list(names));
        let url = self.endpoint(
            &[
                "jobs",
                job.checked()?,
                "vertices",
                checked_vertex(vertex)?,
                "subtasks",
                "metrics",
            ],
            Some(&query),
        );
        self.get(url).await
    }

    /// A vertex's load: busy and back-pressured time, records in and out per second,
    /// aggregated over its subtasks (see [`VertexLoad`]).
    pub async fn vertex_load(&self, job: &JobId, vertex: &str) -> Result<VertexLoad> {
        let metrics = self
            .vertex_metrics(job, vertex, &VertexLoad::METRICS)
            .await?;
        Ok(VertexLoad::from_metrics(&metrics))
    }

    /// The job's per-vertex parallelism bounds (`GET /jobs/{id}/resource-requirements`,
    /// Flink 1.18+). Another scheduler than the adaptive one answers with an error.
    pub async fn resource_requirements(&self, job: &JobId) -> Result<ResourceRequirements> {
        self.get(self.endpoint(&["jobs", job.checked()?, "resource-requirements"], None))
            .await
    }

    /// Sets the job's per-vertex parallelism bounds in place
    /// (`PUT /jobs/{id}/resource-requirements`, Flink 1.18+, adaptive scheduler only): the job
    /// rescales to them without a redeploy, restarting its tasks from the latest checkpoint.
    /// Give every vertex of the job.
    pub async fn set_resource_requirements(
        &self,
        job: &JobId,
        requirements: &ResourceRequirements,
    ) -> Result<()> {
        for vertex in requirements.keys() {
            checked_vertex(vertex)?;
        }
        let url = self.endpoint(&["jobs", job.checked()?, "resource-requirements"], None);
        let body = serde_json::to_value(requirements).expect("requirements serialize");
        self.send(Method::PUT, url, |r| r.json(&body))
            .await
            .map(drop)
    }

    /// The job's exception history (`GET /jobs/{id}/exceptions`), newest first, at most
    /// `max` entries (Flink's own limit without it). Empty for a job that never failed; a
    /// rescale of the adaptive scheduler adds nothing.
    pub async fn exceptions(&self, job: &JobId, max: Option<u32>) -> Result<ExceptionHistory> {
        let query = max.map(|m| format!("maxExceptions={m}"));
        let url = self.endpoint(&["jobs", job.checked()?, "exceptions"], query.as_deref());
        let answer: JobExceptions = self.get(url).await?;
        Ok(answer.exception_history.unwrap_or_default())
    }

    /// Why the job last failed: the [summary](RootException::summary) of the newest entry
    /// of its exception history, if it has failed.
    pub async fn last_failure(&self, job: &JobId) -> Result<Option<String>> {
        let history = self.exceptions(job, Some(1)).await?;
        Ok(history.entries.first().map(RootException::summary))
    }

    /// Cancels a job (`PATCH /jobs/{id}?mode=cancel`).
    pub async fn cancel(&self, job: &JobId) -> Result<()> {
        let url = self.endpoint(&["jobs", job.checked()?], Some("mode=cancel"));
        self.call_no_content(Method::PATCH, url).await
    }

    // ---- jars ------------------------------------------------------------

    /// Uploads a jar, streamed from disk (memory does not grow with its
    /// size), under `upload_name` (what `GET /jars` shows as its name).
    pub async fn upload_jar(&self, path: &Path, upload_name: &str) -> Result<JarId> {
        self.upload_jar_with_progress(path, upload_name, |_, _| {})
            .await
    }

    /// [`FlinkClient::upload_jar`], calling `progress(sent, total)` as
    /// bytes leave (for a progress bar).
    pub async fn upload_jar_with_progress(
        &self,
        path: &Path,
        upload_name: &str,
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> Result<JarId> {
        use futures_util::StreamExt as _;
        let file_error = |source| Error::File {
            path: path.to_path_buf(),
            source,
        };
        let file = tokio::fs::File::open(path).await.map_err(file_error)?;
        let len = file.metadata().await.map_err(file_error)?.len();
        let mut sent = 0u64;
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).inspect(move |chunk| {
                if let Ok(bytes) = chunk {
                    sent += bytes.len() as u64;
                    progress(sent, len);
                }
            });
        let part =
            reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
                .file_name(upload_name.to_string())
                .mime_str("application/x-java-archive")
                .expect("a valid MIME type");
        let form = reqwest::multipart::Form::new().part("jarfile", part);

        let url = self.endpoint(&["jars", "upload"], None);
        let timeout = self.config.upload_timeout;
        let response = self
            .send(Method::POST, url.clone(), |r| {
                r.multipart(form).timeout(timeout)
            })
            .await?;
        let uploaded: JarUploadResponse = Self::json(&Method::POST, &url, response).await?;
        // Flink answers with the stored path; the jar id is its file name.
        let name = uploaded.filename.rsplit('/').next().unwrap_or_default();
        JarId::parse(name).map_err(|e| Error::UnexpectedResponse {
            method: Method::POST,
            url: RedactedUrl::new(url.clone()),
            detail: format!("no usable jar file name in the answer: {e}"),
        })
    }

    /// `GET /jars`.
    pub async fn jars(&self) -> Result<Vec<JarFile>> {
        Ok(self
            .get::<JarList>(self.endpoint(&["jars"], None))
            .await?
            .files)
    }

    /// `DELETE /jars/{id}`.
    pub async fn delete_jar(&self, jar: &JarId) -> Result<()> {
        let url = self.endpoint(&["jars", jar.checked()?], None);
        self.call_no_content(Method::DELETE, url).await
    }

    /// Runs an uploaded jar (`POST /jars/{id}/run`) in the cluster's dialect.
    ///
    /// A blank `savepoint_path` is refused before anything is sent: Flink
    /// reads `"savepointPath": ""` as "no savepoint" and would start the job
    /// with empty state.
    pub async fn run_jar(&self, jar: &JarId, run: &RunJob) -> Result<JobId> {
        if run
            .savepoint_path
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            return Err(Error::BlankSavepointPath);
        }
        let url = self.endpoint(&["jars", jar.checked()?, "run"], None);
        let body = self.dialect().await?.run_body(run);
        let response: JarRunResponse = self.call(Method::POST, url, Some(body)).await?;
        Ok(response.jobid)
    }

    /// The job graph the uploaded jar's `main()` builds for `run`, without running it
    /// (`POST /jars/{id}/plan`). A `main()` that throws is [`Error::Api`] with Flink's trace.
    pub async fn plan_jar(&self, jar: &JarId, run: &RunJob) -> Result<JobPlan> {
        let url = self.endpoint(&["jars", jar.checked()?, "plan"], None);
        let body = self.dialect().await?.plan_body(run);
        let response: JarPlanResponse = self.call(Method::POST, url, Some(body)).await?;
        Ok(response.plan)
    }

    // ---- savepoints ------------------------------------------------------

    /// Triggers a savepoint of a running job into `target_directory` (or
    /// the cluster's default savepoint directory).
    pub async fn trigger_savepoint(
        &self,
        job: &JobId,
        target_directory: Option<&str>,
        format: SavepointFormat,
    ) -> Result<AsyncOperation> {
        // This endpoint's body is hyphenated, unlike stop's.
        let body = json!({
            "target-directory": target_directory,
            "cancel-job": false,
            "formatType": format.as_flink(),
        });
        let url = self.endpoint(&["jobs", job.checked()?, "savepoints"], None);
        let trigger: TriggerResponse = self.call(Method::POST, url, Some(body)).await?;
        Ok(AsyncOperation::Savepoint {
            job: job.clone(),
            trigger: trigger.request_id,
        })
    }

    /// Stops a job with a savepoint (`POST /jobs/{id}/stop`); with `drain`,
    /// sources emit MAX_WATERMARK first (event-time timers fire).
    pub async fn stop_with_savepoint(
        &self,
        job: &JobId,
        target_directory: Option<&str>,
        drain: bool,
        format: SavepointFormat,
    ) -> Result<AsyncOperation> {
        let body = json!({
            "targetDirectory": target_directory,
            "drain": drain,
            "formatType": format.as_flink(),
        });
        let url = self.endpoint(&["jobs", job.checked()?, "stop"], None);
        let trigger: TriggerResponse = self.call(Method::POST, url, Some(body)).await?;
        Ok(AsyncOperation::Savepoint {
            job: job.clone(),
            trigger: trigger.request_id,
        })
    }

    /// Disposes a savepoint through the JobManager (any filesystem it reaches).
    pub async fn dispose_savepoint(&self, path: &str) -> Result<AsyncOperation> {
        let trigger: TriggerResponse = self
            .call(
                Method::POST,
                self.endpoint(&["savepoint-disposal"], None),
                Some(json!({ "savepoint-path": path })),
            )
            .await?;
        Ok(AsyncOperation::Disposal {
            path: path.to_string(),
            trigger: trigger.request_id,
        })
    }

    /// The current state of an asynchronous operation.
    pub async fn operation_status(&self, op: &AsyncOperation) -> Result<OperationStatus> {
        let url = match op {
            AsyncOperation::Savepoint { job, trigger } => self.endpoint(
                &["jobs", job.checked()?, "savepoints", trigger.checked()?],
                None,
            ),
            AsyncOperation::Disposal { trigger, .. } => {
                self.endpoint(&["savepoint-disposal", trigger.checked()?], None)
            }
        };
        let result: AsyncResult = self.get(url).await?;
        let status = match result.status.id.as_str() {
            "IN_PROGRESS" => OperationStatus::InProgress,
            _ => match result.operation.and_then(|o| {
                match o.failure_cause {
                    // COMPLETED with a failure cause is a failure.
                    Some(cause) => Some(Err(describe_cause(cause))),
                    None => o.location.map(Ok),
                }
            }) {
                Some(Err(cause)) => OperationStatus::Failed { cause },
                Some(Ok(location)) => OperationStatus::Completed {
                    location: Some(location),
                },
                None => OperationStatus::Completed { location: None },
            },
        };
        Ok(match (op, status) {
            // A savepoint is only done when it says where it is: restoring
            // from "" would start the job empty and call it restored.
            (AsyncOperation::Savepoint { .. }, OperationStatus::Completed { location })
                if !location.as_deref().is_some_and(is_restorable_path) =>
            {
                OperationStatus::Failed {
                    cause: match location {
                        None => "Flink reported it complete but gave no location".into(),
                        Some(l) => format!(
                            "Flink reported it complete but gave no usable location ({l:?})"
                        ),
                    },
                }
            }
            (_, status) => status,
        })
    }

    /// Polls an operation until it completes, fails or `timeout` passes.
    ///
    /// Returns the savepoint location for savepoints, `None` for disposals.
    /// Transient errors while polling (a JobManager briefly unreachable) are
    /// retried until the deadline.
    pub async fn wait_for(&self, op: &AsyncOperation, timeout: Duration) -> Result<Option<String>> {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut interval = Duration::from_millis(50);
        loop {
            match self.operation_status(op).await {
                Ok(OperationStatus::Completed { location }) => {
                    if matches!(op, AsyncOperation::Savepoint { .. }) && location.is_none() {
                        return Err(Error::OperationFailed {
                            operation: op.to_string(),
                            cause: "Flink reported it complete but gave no location".into(),
                        });
                    }
                    return Ok(location);
                }
                Ok(OperationStatus::Failed { cause }) => {
                    return Err(Error::OperationFailed {
                        operation: op.to_string(),
                        cause,
                    })
                }
                Ok(OperationStatus::InProgress) => {}
                Err(e) if e.is_transient() => {
                    tracing::warn!(operation = %op, error = %e, "cannot poll the operation; retrying");
                }
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::OperationTimedOut {
                    operation: op.to_string(),
                    waited: timeout,
                });
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            // Poll every 50 ms at first: during an update the job is down
            // while we wait, so every poll interval is downtime. Long
            // operations are polled once a second.
            let cap = if start.elapsed() < Duration::from_secs(10) {
                Duration::from_millis(50)
            } else {
                Duration::from_secs(1)
            };
            interval = (interval * 2).min(cap);
        }
    }
}

fn describe_cause(cause: FailureCause) -> String {
    let text = cause
        .stack_trace
        .as_deref()
        .map(first_meaningful_line)
        .filter(|l| !l.is_empty());
    match (text, cause.class) {
        (Some(text), _) => text,
        (None, Some(class)) => crate::printable_name(&class).into_owned(),
        (None, None) => "no cause given".into(),
    }
}

/// The `Authorization` header for the URL's `user:password@`.
///
/// The URL keeps them percent-encoded; they are percent-decoded (not form
/// decoded: a `+` stays a `+`) to the bytes basic auth sends.
fn basic_auth(url: &Url) -> Result<HeaderValue> {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut credentials = decode(url.username());
    if credentials.contains(&b':') {
        return Err(Error::Config(
            "the user name in the JobManager URL contains ':' (%3A), which basic auth cannot carry"
                .into(),
        ));
    }
    credentials.push(b':');
    credentials.extend(url.password().map(decode).unwrap_or_default());
    let mut value = HeaderValue::try_from(format!("Basic {}", BASE64.encode(credentials)))
        .expect("base64 is a valid header value");
    value.set_sensitive(true);
    Ok(value)
}

/// Metric names for a `get=` query: each one encoded, joined by `,`.
fn metric_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join(",")
}

/// A vertex id (from `GET /jobs/{id}`) before it goes into a URL.
fn checked_vertex(vertex: &str) -> Result<&str, InvalidId> {
    if is_hex_id(vertex) {
        Ok(vertex)
    } else {
        Err(InvalidId::new("vertex id", vertex))
    }
}

/// Reads at most `limit` bytes of a body, chunk by chunk; true when more
/// was there (the rest is never read: the connection is dropped).
async fn read_capped(
    mut response: Response,
    limit: u64,
) -> std::result::Result<(Vec<u8>, bool), reqwest::Error> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// Reads a small local file (a PEM bundle), refusing one that is not small.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let file_error = |source| Error::File {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_FILE + 1).read_to_end(&mut bytes))
        .map_err(file_error)?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(file_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than {} KiB: not a PEM certificate or key",
                MAX_PEM_FILE / 1024
            ),
        )));
    }
    Ok(bytes)
}

/// A short reason for a transport failure, with its cause chain.
fn transport_reason(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = s.source();
    }
    let reason = if causes.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", causes.join(": "))
    };
    match tls_hint(&reason) {
        Some(hint) => format!("{reason}; {hint}"),
        None => reason,
    }
}

/// What to do about a TLS handshake that failed for a known reason.
fn tls_hint(reason: &str) -> Option<&'static str> {
    // Flink 1.x offers only TLS_RSA_WITH_AES_128_CBC_SHA unless told otherwise.
    reason.contains("HandshakeFailure").then_some(
        "no cipher suite in common: Flink before 2.0 offers only TLS_RSA_WITH_AES_128_CBC_SHA by default; \
         set security.ssl.algorithms to e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 \
         (or the JobManager wants a client certificate: --client-cert/--client-key)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_become_basic_auth_and_leave_the_url() {
        let client = FlinkClient::new(ClientConfig::new(
            Url::parse("https://ali%40ce:p%3Ass@flink.example:8443/proxy?x=1").unwrap(),
        ))
        .unwrap();
        assert_eq!(client.base.as_str(), "https://flink.example:8443/proxy/");
        assert_eq!(
            client.endpoint(&["jobs", "overview"], None).as_str(),
            "https://flink.example:8443/proxy/jobs/overview"
        );
        assert!(!client.url().to_string().contains("p%3Ass"));
        // What is shown is what is used: the query is never sent, nor shown.
        assert_eq!(
            client.url().to_string(),
            "https://****@flink.example:8443/proxy"
        );
        let header = basic_auth(&Url::parse("http://ali%40ce:p%3Ass@h/").unwrap()).unwrap();
        assert_eq!(
            header.to_str().unwrap(),
            format!("Basic {}", BASE64.encode("ali@ce:p:ss"))
        );
        assert!(header.is_sensitive());
    }

    #[test]
    fn basic_auth_percent_decodes_and_keeps_plus_signs() {
        let auth = |url: &str| {
            let header = basic_auth(&Url::parse(url).unwrap()).unwrap();
            let b64 = header
                .to_str()
                .unwrap()
                .strip_prefix("Basic ")
                .unwrap()
                .to_string();
            String::from_utf8(BASE64.decode(b64).unwrap()).unwrap()
        };
        // A '+' is a '+' (form decoding made it a space).
        assert_eq!(auth("http://bob:pa+ss@h/"), "bob:pa+ss");
        assert_eq!(auth("http://bo+b:x@h/"), "bo+b:x");
        assert_eq!(auth("http://bob:a%2Bb%20c%25d@h/"), "bob:a+b c%d");
        assert_eq!(auth("http://b%C3%B6b:%E2%82%AC@h/"), "böb:€");
        // Typed raw, the URL parser encodes what userinfo cannot hold.
        assert_eq!(auth("http://bob:a b@h/"), "bob:a b");
        // A password with ':' is fine; only the user name cannot have one.
        assert_eq!(auth("http://bob:a:b@h/"), "bob:a:b");
        assert_eq!(auth("http://:only-password@h/"), ":only-password");
        let err = basic_auth(&Url::parse("http://a%3Ab:s3cret@h/").unwrap()).unwrap_err();
        assert!(err.to_string().contains("user name"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn ids_are_single_segments_under_the_base_path() {
        let client =
            FlinkClient::new(ClientConfig::new(Url::parse("http://h:1/proxy/").unwrap())).unwrap();
        let url = client.endpoint(&["jars", "uuid_a b#?%.jar", "run"], Some("x=1"));
        assert_eq!(
            url.as_str(),
            "http://h:1/proxy/jars/uuid_a%20b%23%3F%25.jar/run?x=1"
        );
        assert_eq!(metric_list(&["a.b", "c d", "e,f"]), "a.b,c+d,e%2Cf");
        assert!(checked_vertex("../../jars").is_err());
        assert!(checked_vertex(&"a".repeat(32)).is_ok());
        assert!(JobId::new("../../jars/../x?y=#").checked().is_err());
    }

    #[test]
    fn unusable_urls_are_rejected_before_any_request() {
        for url in ["ftp://flink:8081", "file:///tmp/x"] {
            let err = FlinkClient::new(ClientConfig::new(Url::parse(url).unwrap())).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{url}: {err}");
        }
    }

    #[test]
    fn missing_ca_bundle_is_a_file_error() {
        let mut config = ClientConfig::new(Url::parse("https://flink:8081").unwrap());
        config.ca_cert = Some("/nonexistent/ca.pem".into());
        let err = FlinkClient::new(config).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn garbage_ca_bundle_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let mut config = ClientConfig::new(Url::parse("https://flink:8081").unwrap());
        config.ca_cert = Some(ca);
        let err = FlinkClient::new(config).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
    }

    #[test]
    fn handshake_failures_say_what_to_change() {
        let hint = tls_hint(
            "cannot connect: client error (Connect): received fatal alert: HandshakeFailure",
        )
        .unwrap();
        assert!(hint.contains("security.ssl.algorithms"));
        assert!(hint.contains("--client-cert"));
        assert!(tls_hint("cannot connect: Connection refused (os error 111)").is_none());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(400));
        assert_eq!(p.backoff(4), Duration::from_millis(500));
    }
}
