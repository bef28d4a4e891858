//! Where a layout's root lives: a local directory, or a GCS or S3 bucket behind
//! [`object_store`]. One async API for the three, small on purpose: list what
//! lies under a folder (every page of it), list a folder's subfolders, delete
//! everything under a folder and check it is gone.
//!
//! Credentials are found the way each cloud's own tools find them, by
//! `object_store` reading the environment:
//! - GCS: `GOOGLE_APPLICATION_CREDENTIALS` (or gcloud's application default
//!   credentials file), else the GCE metadata server's
//!   `instance/service-accounts/default/token` (`GCE_METADATA_HOST` moves it).
//!   `STORAGE_EMULATOR_HOST` points the client at an emulator; with no
//!   credentials configured it then goes anonymous, as Google's SDKs do.
//! - S3: the `AWS_*` variables (`AWS_ACCESS_KEY_ID`, `AWS_REGION`,
//!   `AWS_ENDPOINT_URL`, …), else the instance's credentials.
//!
//! No credential is ever part of an error: [`StoreError`] carries the store's
//! own words with every configured secret replaced.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use url::Url;

/// How long one request to a bucket may take, and how long retries of it may
/// go on: a store that is down is reported in seconds, not after minutes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_FOR: Duration = Duration::from_secs(20);

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The bucket does not exist.
    #[error("the bucket {bucket} does not exist")]
    NoSuchBucket {
        /// `gs://name` or `s3://name`.
        bucket: String,
    },
    /// The credentials were refused or are not allowed to do this.
    #[error("access to {bucket} was denied ({detail}); check the credentials the store was given")]
    Denied {
        /// `gs://name` or `s3://name`.
        bucket: String,
        /// The store's answer, secrets removed.
        detail: String,
    },
    /// No access token could be had: no credentials are configured, or the
    /// metadata server or token service refused.
    #[error("no credentials for {bucket} ({detail}); give the store credentials (GOOGLE_APPLICATION_CREDENTIALS, a VM's service account, AWS_ACCESS_KEY_ID, …)")]
    NoCredentials {
        /// `gs://name` or `s3://name`.
        bucket: String,
        /// Why, secrets removed.
        detail: String,
    },
    /// The store did not answer, or its token service failed (a metadata server answering 5xx).
    #[error("{bucket} cannot be reached ({detail})")]
    Unreachable {
        /// `gs://name` or `s3://name`.
        bucket: String,
        /// Why, secrets removed.
        detail: String,
    },
    /// Anything else the store said.
    #[error("{bucket}: {detail}")]
    Other {
        /// `gs://name` or `s3://name`.
        bucket: String,
        /// The store's answer, secrets removed.
        detail: String,
    },
    /// A local directory could not be read or changed.
    #[error("cannot read {}: {detail}", .path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// A local file could not be written.
    #[error("cannot write {}: {detail}", .path.display())]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

/// How [`Store::write`] may replace what is there.
#[derive(Debug, Clone)]
pub(crate) enum WriteMode {
    /// Whatever is there (a whole new object either way).
    Replace,
    /// Only if nothing is there: GCS `ifGenerationMatch=0`, S3 `If-None-Match: *`, locally a
    /// hard link of the finished temp file (fails when the name exists).
    CreateNew,
    /// Only if what is there is still `Version` (read before): GCS generation, S3 `If-Match`,
    /// locally the same bytes, compared under a lock file.
    ReplaceIf(Version),
}

/// What an object was when it was read or written, for [`WriteMode::ReplaceIf`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    e_tag: Option<String>,
    version: Option<String>,
    /// Local files: their bytes (no etags on disk).
    bytes: Vec<u8>,
}

/// What [`Store::write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Written {
    /// Written; its new version.
    Done(Version),
    /// Not written: something is there ([`WriteMode::CreateNew`]) or it changed
    /// ([`WriteMode::ReplaceIf`]).
    Conflict,
}

/// One entry found under a folder: a file (an object), or, on local disk
/// only, a directory (so an empty `savepoint-*` folder is seen too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Its path below the folder listed, `/`-separated.
    pub relative: String,
    /// Its size in bytes (0 for a directory).
    pub bytes: u64,
    /// When it was last written.
    pub modified: Option<SystemTime>,
    /// True for a local directory.
    pub is_dir: bool,
}

/// A layout root's storage.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    /// A local directory (`file://`).
    Local(PathBuf),
    /// A bucket, with the key prefix of the root (no leading or trailing `/`).
    Bucket {
        store: Arc<dyn ObjectStore>,
        /// `gs://name` or `s3://name`, for locations and messages.
        bucket: String,
        prefix: String,
    },
}

impl Store {
    /// The store of `root` (a `file://`, `gs://` or `s3://` URL ending in
    /// `/`), with the root's path already percent-decoded in `path`. Builds
    /// the client; nothing is sent until it is used.
    pub fn open(root: &Url, path: &str) -> Result<Store, String> {
        let scheme = root.scheme();
        if scheme == "file" {
            return root
                .to_file_path()
                .map(Store::Local)
                .map_err(|()| "it is not a local path".into());
        }
        let name = root.host_str().unwrap_or_default();
        if name.is_empty() {
            return Err("it names no bucket".into());
        }
        let bucket = format!("{scheme}://{name}");
        let prefix = path.trim_matches('/').to_string();
        if !prefix.is_empty() {
            Key::parse(&prefix).map_err(|e| format!("it is not a valid object name: {e}"))?;
        }
        let store: Arc<dyn ObjectStore> = match scheme {
            "gs" => Arc::new(gcs(name)?),
            "s3" => Arc::new(s3(name)?),
            other => {
                return Err(format!(
                    "{other}:// is not a filesystem flink-ops can list; use file://, gs:// or s3://"
                ))
            }
        };
        Ok(Store::Bucket {
            store,
            bucket,
            prefix,
        })
    }

    /// True for a bucket.
    pub fn is_bucket(&self) -> bool {
        matches!(self, Store::Bucket { .. })
    }

    /// The location of `relative` (a `/`-separated path below the root) as
    /// Flink names it: `file:/data/sp/orders/…` or `gs://bucket/sp/orders/…`.
    pub fn location(&self, relative: &str) -> String {
        match self {
            Store::Local(root) => format!("file:{}", root.join(relative).display()),
            Store::Bucket { bucket, prefix, .. } => match prefix.as_str() {
                "" => format!("{bucket}/{relative}"),
                prefix => format!("{bucket}/{prefix}/{relative}"),
            },
        }
    }

    /// `relative` (below the root) from a location [`Store::location`] made.
    pub fn relative<'a>(&self, location: &'a str) -> Option<&'a str> {
        let root = self.location("");
        location.strip_prefix(&root).filter(|r| !r.is_empty())
    }

    /// Everything under the folder `relative` (below the root), every page
    /// of it; nothing when the folder does not exist.
    pub async fn entries(&self, relative: &str) -> Result<Vec<Entry>, StoreError> {
        match self {
            Store::Local(root) => {
                let dir = root.join(relative);
                blocking(move || walk(&dir)).await
            }
            Store::Bucket { store, bucket, .. } => {
                let folder = self.key(relative)?;
                let mut found = Vec::new();
                let mut objects = store.list(Some(&folder));
                while let Some(object) = objects.next().await {
                    let object = object.map_err(|e| classify(bucket, e))?;
                    let Some(below) = object
                        .location
                        .as_ref()
                        .strip_prefix(folder.as_ref())
                        .and_then(|r| r.strip_prefix('/'))
                    else {
                        continue;
                    };
                    found.push(Entry {
                        relative: below.to_string(),
                        bytes: object.size,
                        modified: Some(object.last_modified.into()),
                        is_dir: false,
                    });
                }
                Ok(found)
            }
        }
    }

    /// The names of the root's subfolders.
    pub async fn folders(&self) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Local(root) => {
                let root = root.clone();
                blocking(move || {
                    Ok(subdirs(&root)?
                        .into_iter()
                        .filter_map(|d| Some(d.file_name()?.to_str()?.to_string()))
                        .collect())
                })
                .await
            }
            Store::Bucket {
                store,
                bucket,
                prefix,
            } => {
                let root = (!prefix.is_empty()).then(|| Key::from(prefix.as_str()));
                let listed = store
                    .list_with_delimiter(root.as_ref())
                    .await
                    .map_err(|e| classify(bucket, e))?;
                Ok(listed
                    .common_prefixes
                    .iter()
                    .filter_map(|p| p.filename().map(str::to_string))
                    .collect())
            }
        }
    }

    /// Deletes every object under the folder `relative`, then lists it again
    /// to check nothing is left. Returns how many objects went.
    pub async fn delete_folder(&self, relative: &str) -> Result<usize, StoreError> {
        let (store, bucket) = match self {
            Store::Local(root) => {
                let dir = root.join(relative);
                return blocking(move || {
                    let count = walk(&dir)?.iter().filter(|e| !e.is_dir).count();
                    match std::fs::remove_dir_all(&dir) {
                        Ok(()) => Ok(count),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
                        Err(e) => Err(io(&dir, e)),
                    }
                })
                .await;
            }
            Store::Bucket { store, bucket, .. } => (store, bucket),
        };
        let folder = self.key(relative)?;
        let doomed = store
            .list(Some(&folder))
            .map_ok(|meta| meta.location)
            .boxed();
        // An object already gone (a concurrent prune) is no failure; the listing below decides.
        let mut deleted = 0;
        let mut results = store.delete_stream(doomed);
        while let Some(result) = results.next().await {
            match result {
                Ok(_) => deleted += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(classify(bucket, e)),
            }
        }
        let left = self.entries(relative).await?;
        if let Some(first) = left.first() {
            return Err(StoreError::Other {
                bucket: bucket.clone(),
                detail: format!(
                    "{} object(s) are still there after deleting, e.g. {}",
                    left.len(),
                    self.location(&format!("{relative}/{}", first.relative))
                ),
            });
        }
        Ok(deleted)
    }

    /// The bytes of the object `relative` (below the root) and its version; `None` when it
    /// does not exist.
    pub async fn read(&self, relative: &str) -> Result<Option<(Vec<u8>, Version)>, StoreError> {
        match self {
            Store::Local(root) => {
                let path = root.join(relative);
                blocking(move || match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some((bytes.clone(), Version::local(bytes)))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(io(&path, e)),
                })
                .await
            }
            Store::Bucket { store, bucket, .. } => {
                use object_store::ObjectStoreExt as _;
                let key = self.key(relative)?;
                let got = match store.get(&key).await {
                    Ok(got) => got,
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(classify(bucket, e)),
                };
                let version = Version {
                    e_tag: got.meta.e_tag.clone(),
                    version: got.meta.version.clone(),
                    bytes: Vec::new(),
                };
                let bytes = got.bytes().await.map_err(|e| classify(bucket, e))?;
                Ok(Some((bytes.to_vec(), version)))
            }
        }
    }

    /// True when the object `relative` exists.
    pub async fn exists(&self, relative: &str) -> Result<bool, StoreError> {
        match self {
            Store::Local(root) => {
                let path = root.join(relative);
                blocking(move || match std::fs::metadata(&path) {
                    Ok(meta) => Ok(meta.is_file()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(io(&path, e)),
                })
                .await
            }
            Store::Bucket { store, bucket, .. } => {
                use object_store::ObjectStoreExt as _;
                match store.head(&self.key(relative)?).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(classify(bucket, e)),
                }
            }
        }
    }

    /// Writes `bytes` as the object `relative`, whole or not at all: a bucket's PUT replaces
    /// an object in one step; on disk a temp file beside it is renamed (or linked) over it.
    pub async fn write(
        &self,
        relative: &str,
        bytes: Vec<u8>,
        mode: WriteMode,
    ) -> Result<Written, StoreError> {
        match self {
            Store::Local(root) => {
                let path = root.join(relative);
                blocking(move || write_local(&path, bytes, mode)).await
            }
            Store::Bucket { store, bucket, .. } => {
                use object_store::{PutMode, PutOptions, UpdateVersion};
                let mode = match mode {
                    WriteMode::Replace => PutMode::Overwrite,
                    WriteMode::CreateNew => PutMode::Create,
                    WriteMode::ReplaceIf(v) => PutMode::Update(UpdateVersion {
                        e_tag: v.e_tag,
                        version: v.version,
                    }),
                };
                let options = PutOptions {
                    mode,
                    ..PutOptions::default()
                };
                match store
                    .put_opts(&self.key(relative)?, bytes.into(), options)
                    .await
                {
                    Ok(put) => Ok(Written::Done(Version {
                        e_tag: put.e_tag,
                        version: put.version,
                        bytes: Vec::new(),
                    })),
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => Ok(Written::Conflict),
                    Err(e) => Err(classify(bucket, e)),
                }
            }
        }
    }

    /// Deletes the object `relative`; one already gone is fine. With `only_if`, a local file
    /// is deleted only if it still holds those bytes (checked under the lock file); a bucket's
    /// object is compared by etag right before the delete (buckets have no conditional delete).
    pub async fn delete_object(
        &self,
        relative: &str,
        only_if: Option<Version>,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Local(root) => {
                let path = root.join(relative);
                blocking(move || {
                    let _lock = only_if.as_ref().map(|_| lock_beside(&path)).transpose()?;
                    if let Some(expected) = &only_if {
                        match std::fs::read(&path) {
                            Ok(bytes) if bytes == expected.bytes => {}
                            Ok(_) => return Ok(false),
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                            Err(e) => return Err(io(&path, e)),
                        }
                    }
                    match std::fs::remove_file(&path) {
                        Ok(()) => Ok(true),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                        Err(e) => Err(unwritable(&path, e)),
                    }
                })
                .await
            }
            Store::Bucket { store, bucket, .. } => {
                use object_store::ObjectStoreExt as _;
                let key = self.key(relative)?;
                if let Some(expected) = &only_if {
                    match store.head(&key).await {
                        Ok(meta) if meta.e_tag == expected.e_tag => {}
                        Ok(_) | Err(object_store::Error::NotFound { .. }) => return Ok(false),
                        Err(e) => return Err(classify(bucket, e)),
                    }
                }
                match store.delete(&key).await {
                    Ok(()) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(classify(bucket, e)),
                }
            }
        }
    }

    fn key(&self, relative: &str) -> Result<Key, StoreError> {
        let Store::Bucket { bucket, prefix, .. } = self else {
            unreachable!("local paths have no keys")
        };
        let relative = relative.trim_matches('/');
        let joined = match (prefix.as_str(), relative) {
            ("", r) => r.to_string(),
            (p, "") => p.to_string(),
            (p, r) => format!("{p}/{r}"),
        };
        Key::parse(&joined).map_err(|e| StoreError::Other {
            bucket: bucket.clone(),
            detail: format!("'{joined}' is not a valid object name: {e}"),
        })
    }
}

/// The GCS client of bucket `name`.
fn gcs(name: &str) -> Result<impl ObjectStore, String> {
    use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder};
    use object_store::StaticCredentialProvider;
    let mut builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(name);
    let mut options = client_options();
    if let Some(emulator) = env("STORAGE_EMULATOR_HOST") {
        let endpoint = with_scheme(&emulator);
        options = options.with_allow_http(endpoint.starts_with("http:"));
        builder = builder.with_base_url(&endpoint);
        let configured = [
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_SERVICE_ACCOUNT",
            "GOOGLE_SERVICE_ACCOUNT_PATH",
            "GOOGLE_SERVICE_ACCOUNT_KEY",
            "GCE_METADATA_HOST",
        ]
        .iter()
        .any(|v| env(v).is_some());
        if !configured {
            // As Google's SDKs do with an emulator: no credentials, no metadata server.
            builder =
                builder.with_credentials(Arc::new(StaticCredentialProvider::new(GcpCredential {
                    bearer: String::new(),
                })));
        }
    }
    builder
        .with_client_options(options)
        .with_retry(retry())
        .build()
        .map_err(|e| format!("cannot set up its GCS client: {}", scrub(&e.to_string())))
}

/// The S3 client of bucket `name`.
fn s3(name: &str) -> Result<impl ObjectStore, String> {
    use object_store::aws::AmazonS3Builder;
    let mut options = client_options();
    if env("AWS_ENDPOINT_URL")
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .is_some_and(|e| e.starts_with("http:"))
    {
        options = options.with_allow_http(true);
    }
    AmazonS3Builder::from_env()
        .with_bucket_name(name)
        .with_client_options(options)
        .with_retry(retry())
        .build()
        .map_err(|e| format!("cannot set up its S3 client: {}", scrub(&e.to_string())))
}

fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_timeout(REQUEST_TIMEOUT)
        .with_connect_timeout(CONNECT_TIMEOUT)
}

fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        retry_timeout: RETRY_FOR,
        ..RetryConfig::default()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn with_scheme(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.contains("://") {
        host.to_string()
    } else {
        format!("http://{host}")
    }
}

/// The store's error as one of ours, its text without secrets.
fn classify(bucket: &str, error: object_store::Error) -> StoreError {
    use object_store::Error as E;
    let detail = scrub(&error.to_string());
    let bucket = bucket.to_string();
    match &error {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            return StoreError::Denied { bucket, detail }
        }
        E::NotFound { .. } => return StoreError::NoSuchBucket { bucket },
        _ => {}
    }
    let lower = detail.to_ascii_lowercase();
    let token_failed = lower.contains("token request") || lower.contains("credential");
    // A token service answering 5xx (the metadata server in maintenance) is down for now, not
    // missing credentials: the configuration is fine, a later run works. One that cannot be
    // connected to stays "no credentials": off GCE, that is the metadata server not being there.
    let token_service_down = lower.contains("status code: 5");
    if token_failed && token_service_down {
        StoreError::Unreachable { bucket, detail }
    } else if token_failed {
        StoreError::NoCredentials { bucket, detail }
    } else if lower.contains("nosuchbucket")
        || lower.contains("bucket does not exist")
        // fake-gcs-server (the GCS emulator) answers a missing bucket's listing with a 500
        // "no bucket named X"; GCS itself answers 404 NoSuchBucket (NotFound above).
        || lower.contains("no bucket named")
    {
        StoreError::NoSuchBucket { bucket }
    } else if lower.contains("accessdenied")
        || lower.contains("invalidaccesskeyid")
        || lower.contains("signaturedoesnotmatch")
        || lower.contains("403 forbidden")
        || lower.contains("401 unauthorized")
    {
        StoreError::Denied { bucket, detail }
    } else if unreachable(&error) {
        StoreError::Unreachable { bucket, detail }
    } else {
        StoreError::Other { bucket, detail }
    }
}

/// True when a connection could not be made or an answer never came.
fn unreachable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(e) = e.downcast_ref::<object_store::client::HttpError>() {
            use object_store::client::HttpErrorKind as K;
            if matches!(e.kind(), K::Connect | K::Timeout | K::Interrupted) {
                return true;
            }
        }
        if let Some(e) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(
                e.kind(),
                K::ConnectionRefused | K::ConnectionReset | K::TimedOut | K::UnexpectedEof
            ) {
                return true;
            }
        }
        cause = e.source();
    }
    let text = error.to_string().to_ascii_lowercase();
    [
        "error sending request",
        "connection refused",
        "timed out",
        "dns error",
    ]
    .iter()
    .any(|t| text.contains(t))
}

/// `text` with the value of every credential variable replaced by `****`.
pub(crate) fn scrub(text: &str) -> String {
    const SECRETS: [&str; 4] = [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "GOOGLE_SERVICE_ACCOUNT_KEY",
    ];
    let mut text = text.to_string();
    for name in SECRETS {
        if let Some(value) = env(name).filter(|v| v.len() >= 4) {
            text = text.replace(&value, "****");
        }
    }
    text
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(StoreError::Io {
            path: PathBuf::new(),
            detail: format!("the listing task ended: {e}"),
        })
    })
}

impl Version {
    fn local(bytes: Vec<u8>) -> Version {
        Version {
            e_tag: None,
            version: None,
            bytes,
        }
    }
}

/// A local write: a temp file in the same directory, synced, then renamed over the target
/// (or, for [`WriteMode::CreateNew`], hard-linked to it, which fails when the name exists).
fn write_local(path: &FsPath, bytes: Vec<u8>, mode: WriteMode) -> Result<Written, StoreError> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(FsPath::new("/"));
    std::fs::create_dir_all(dir).map_err(|e| unwritable(dir, e))?;
    let _lock = match &mode {
        WriteMode::ReplaceIf(_) => Some(lock_beside(path)?),
        _ => None,
    };
    if let WriteMode::ReplaceIf(expected) = &mode {
        match std::fs::read(path) {
            Ok(now) if now == expected.bytes => {}
            Ok(_) => return Ok(Written::Conflict),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Written::Conflict),
            Err(e) => return Err(io(path, e)),
        }
    }
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| unwritable(dir, e))?;
    temp.write_all(&bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| unwritable(temp.path(), e))?;
    match mode {
        WriteMode::CreateNew => match std::fs::hard_link(temp.path(), path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Ok(Written::Conflict)
            }
            Err(e) => return Err(unwritable(path, e)),
        },
        WriteMode::Replace | WriteMode::ReplaceIf(_) => {
            temp.persist(path).map_err(|e| unwritable(path, e.error))?;
        }
    }
    Ok(Written::Done(Version::local(bytes)))
}

/// An exclusive lock on `<path>.lock`, held until dropped: two processes on one machine (or
/// one NFS share with working locks) never compare-and-swap `path` at once.
fn lock_beside(path: &FsPath) -> Result<std::fs::File, StoreError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock = path.with_file_name(name);
    if let Some(dir) = lock.parent() {
        std::fs::create_dir_all(dir).map_err(|e| unwritable(dir, e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|e| unwritable(&lock, e))?;
    file.lock().map_err(|e| unwritable(&lock, e))?;
    Ok(file)
}

fn unwritable(path: &FsPath, e: std::io::Error) -> StoreError {
    StoreError::Unwritable {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

fn io(path: &FsPath, e: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// Every file and directory under `dir`, depth first; nothing when it does
/// not exist. Symbolic links are not followed.
fn walk(dir: &FsPath) -> Result<Vec<Entry>, StoreError> {
    let mut found = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, relative)) = pending.pop() {
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&path, e)),
        };
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            let below = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            if meta.is_dir() {
                pending.push((entry.path(), below.clone()));
            }
            found.push(Entry {
                relative: below,
                bytes: if meta.is_file() { meta.len() } else { 0 },
                modified: meta.modified().ok(),
                is_dir: meta.is_dir(),
            });
        }
    }
    Ok(found)
}

fn subdirs(dir: &FsPath) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, e)),
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    Ok(dirs)
}
