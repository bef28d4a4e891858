//! The release record: what it takes to run a job again, kept beside its savepoints.
//!
//! ```text
//! <root>/<job folder>/_release/current.json                 the pointer: {"format":1,"record":"records/…"}
//! <root>/<job folder>/_release/records/<UTC stamp>-<id>.json one record per release, never rewritten
//! <root>/<job folder>/_release/jars/<sha256>.jar             each jar once, under its digest
//! <root>/<job folder>/_release/lease.json                    "a deploy or recovery is in progress"
//! ```
//!
//! `_release` is no dated folder, so the savepoint listing, `job_names`, newest and pruning
//! never see it and never delete it.
//!
//! A record is written as a new object first, then the pointer is replaced (one PUT, or a
//! rename on disk): a reader sees the old release or the new one, never half of one. The
//! lease is created only if absent (GCS `ifGenerationMatch=0`, S3 `If-None-Match: *`, on disk
//! a hard link); an expired one is taken over by a compare-and-swap on its version, so a deploy
//! killed half-way blocks nobody for longer than its lease's time to live.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::{Version, WriteMode, Written};
use crate::{job_folder, LayoutError, SavepointLayout};

/// The record format this version writes and reads.
pub const RELEASE_FORMAT: u32 = 1;

/// The folder of a job's folder that holds its release record, jars and lease.
pub const RELEASE_FOLDER: &str = "_release";

/// Why a release record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseKind {
    /// `flink-deploy deploy` (a first deploy or an update).
    Deploy,
    /// A rollback to the previous release (automatic, or `flink-deploy rollback`).
    Rollback,
    /// The recovery sidecar resubmitted the release after the JobManager lost it.
    Recovery,
    /// `flink-deploy stop`: stopped with a savepoint on purpose.
    Stop,
}

/// What the job should be doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    /// Running: a missing job is a lost one, and may be recovered.
    Running,
    /// A person stopped it on purpose (`flink-deploy stop`): never recover it.
    Stopped,
}

/// What it takes to run a job again: its jar (by digest), arguments and configuration, and
/// what it ran as. Stored as JSON; `format` says which version of this shape it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// The record's format, [`RELEASE_FORMAT`].
    pub format: u32,
    /// The job's name.
    pub job_name: String,
    /// The jar's SHA-256, lowercase hex: its object is `_release/jars/<digest>.jar`.
    pub jar_sha256: String,
    /// The jar's file name as it was given to flink-deploy (for people).
    pub jar_file_name: String,
    /// The entry class, when one was given or found in the manifest.
    pub entry_class: Option<String>,
    /// The program arguments (`programArgsList`).
    pub program_args: Vec<String>,
    /// The parallelism, when one was set.
    pub parallelism: Option<u32>,
    /// The job's `flinkConfiguration`.
    pub flink_config: BTreeMap<String, String>,
    /// `CLAIM` or `NO_CLAIM`.
    pub claim_mode: String,
    /// `allowNonRestoredState` as it was run.
    pub allow_non_restored_state: bool,
    /// The JobManager's Flink version (`2.3.0`).
    pub flink_version: String,
    /// The id the job got.
    pub job_id: String,
    /// What it restored from (a savepoint or checkpoint path); `None` for a fresh start.
    pub restored_from: Option<String>,
    /// When this record was written, RFC 3339 UTC.
    pub recorded_at: String,
    /// Why it was written.
    pub kind: ReleaseKind,
    /// What the job should be doing.
    pub intent: Intent,
    /// For [`ReleaseKind::Stop`]: the savepoint the job stopped with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_with: Option<String>,
    /// The release before this one, without its own `previous` (one level deep).
    pub previous: Option<Box<ReleaseRecord>>,
}

impl ReleaseRecord {
    /// This record as stored: format set, `previous` cut to one level.
    fn bounded(&self) -> ReleaseRecord {
        let mut record = self.clone();
        record.format = RELEASE_FORMAT;
        if let Some(previous) = record.previous.as_mut() {
            previous.previous = None;
        }
        record
    }
}

/// The pointer `_release/current.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Pointer {
    format: u32,
    /// The record's path below `_release/`.
    record: String,
}

/// A lease as stored in `_release/lease.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseFile {
    format: u32,
    holder: String,
    token: String,
    acquired_at: String,
    expires_at: String,
}

/// Who holds a job's lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseInfo {
    /// Who took it (`flink-deploy deploy on host-1, pid 4242`).
    pub holder: String,
    /// When it was taken, RFC 3339 UTC.
    pub acquired_at: String,
    /// When it expires, RFC 3339 UTC (renewed while its holder works).
    pub expires_at: String,
    /// True when it had expired when it was read (by this machine's clock): anyone may take
    /// it over.
    pub expired: bool,
}

/// A lease held: "a deploy (or recovery) of this job is in progress". Give it back with
/// [`SavepointLayout::drop_lease`]; keep it alive with [`SavepointLayout::renew_lease`].
#[derive(Debug, Clone)]
pub struct Lease {
    job: String,
    token: String,
    info: LeaseInfo,
    version: Version,
}

impl Lease {
    /// Who holds it and until when.
    pub fn info(&self) -> &LeaseInfo {
        &self.info
    }

    /// The job it is for.
    pub fn job(&self) -> &str {
        &self.job
    }
}

/// The SHA-256 of a file, lowercase hex (read in chunks: jars can be large).
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        context.update(&buffer[..read]);
    }
    Ok(hex(context.finish().as_ref()))
}

fn sha256(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats")
}

fn is_digest(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn token() -> String {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    // The system's random source does not fail on Linux; a clock-based token is unique enough.
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        bytes = (nanos as u128 ^ u128::from(std::process::id())).to_le_bytes();
    }
    hex(&bytes)
}

/// What the lease file says, as of `now`; a file that cannot be parsed counts as expired
/// (whoever wrote it cannot be renewing it).
fn lease_info(bytes: &[u8], now: OffsetDateTime) -> (Option<LeaseFile>, LeaseInfo) {
    let parsed: Option<LeaseFile> = serde_json::from_slice(bytes).ok();
    let info = match &parsed {
        Some(f) => {
            let expires = OffsetDateTime::parse(
                &f.expires_at,
                &time::format_description::well_known::Rfc3339,
            );
            LeaseInfo {
                holder: f.holder.clone(),
                acquired_at: f.acquired_at.clone(),
                expires_at: f.expires_at.clone(),
                expired: expires.map_or(true, |at| at <= now),
            }
        }
        None => LeaseInfo {
            holder: "(an unreadable lease file)".into(),
            acquired_at: String::new(),
            expires_at: String::new(),
            expired: true,
        },
    };
    (parsed, info)
}

impl SavepointLayout {
    fn release_path(&self, job: &str, below: &str) -> String {
        format!("{}/{RELEASE_FOLDER}/{below}", job_folder(job))
    }

    /// Where a job's release folder is, as Flink names locations (for messages).
    pub fn release_location(&self, job: &str) -> String {
        self.store.location(&self.release_path(job, ""))
    }

    fn corrupt(&self, job: &str, below: &str, why: impl std::fmt::Display) -> LayoutError {
        LayoutError::Corrupt {
            location: self.store.location(&self.release_path(job, below)),
            why: why.to_string(),
        }
    }

    /// Records `record` as the job's current release. With `jar`, the jar is stored first,
    /// once under its SHA-256 (skipped when that object exists; the digest must be
    /// `record.jar_sha256`); without, the stored jar must exist already. Then the record is
    /// written as a new object, then the pointer to it: a reader never sees half a record.
    /// `previous` is kept one level deep.
    pub async fn put_release(
        &self,
        job: &str,
        record: &ReleaseRecord,
        jar: Option<&Path>,
    ) -> Result<(), LayoutError> {
        if record.job_name != job {
            return Err(LayoutError::Release(format!(
                "the record is of job '{}', not '{job}'",
                record.job_name
            )));
        }
        if !is_digest(&record.jar_sha256) {
            return Err(LayoutError::Release(format!(
                "'{}' is not a SHA-256 in hex",
                record.jar_sha256
            )));
        }
        let jar_key = self.release_path(job, &format!("jars/{}.jar", record.jar_sha256));
        match jar {
            Some(path) => {
                if !self.store.exists(&jar_key).await? {
                    let path = path.to_path_buf();
                    let bytes = tokio::task::spawn_blocking(move || std::fs::read(&path))
                        .await
                        .map_err(|e| LayoutError::Release(format!("reading the jar: {e}")))?
                        .map_err(|e| {
                            LayoutError::Release(format!("cannot read the jar to store it: {e}"))
                        })?;
                    let digest = sha256(&bytes);
                    if digest != record.jar_sha256 {
                        return Err(LayoutError::Release(format!(
                            "the jar's SHA-256 is {digest}, the record says {}",
                            record.jar_sha256
                        )));
                    }
                    self.store
                        .write(&jar_key, bytes, WriteMode::Replace)
                        .await?;
                }
            }
            None => {
                if !self.store.exists(&jar_key).await? {
                    return Err(LayoutError::JarMissing {
                        location: self.store.location(&jar_key),
                    });
                }
            }
        }
        let stored = record.bounded();
        let json = serde_json::to_vec_pretty(&stored).expect("a record serializes");
        let stamp = OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
            ))
            .expect("a fixed format");
        let name = format!(
            "records/{stamp}-{}-{}.json",
            safe(&record.job_id),
            &token()[..8]
        );
        match self
            .store
            .write(&self.release_path(job, &name), json, WriteMode::CreateNew)
            .await?
        {
            Written::Done(_) => {}
            Written::Conflict => {
                return Err(self.corrupt(job, &name, "a record of this name exists already"))
            }
        }
        let pointer = serde_json::to_vec(&Pointer {
            format: RELEASE_FORMAT,
            record: name,
        })
        .expect("a pointer serializes");
        self.store
            .write(
                &self.release_path(job, "current.json"),
                pointer,
                WriteMode::Replace,
            )
            .await?;
        Ok(())
    }

    /// The job's current release record; `None` when none was ever written.
    pub async fn current_release(&self, job: &str) -> Result<Option<ReleaseRecord>, LayoutError> {
        let Some((bytes, _)) = self
            .store
            .read(&self.release_path(job, "current.json"))
            .await?
        else {
            return Ok(None);
        };
        let pointer: Pointer = serde_json::from_slice(&bytes)
            .map_err(|e| self.corrupt(job, "current.json", format!("unreadable: {e}")))?;
        if pointer.format != RELEASE_FORMAT {
            return Err(self.corrupt(
                job,
                "current.json",
                format!(
                    "format {} (this flink-ops reads {RELEASE_FORMAT}: a newer version wrote it)",
                    pointer.format
                ),
            ));
        }
        if !pointer.record.starts_with("records/") || pointer.record.contains("..") {
            return Err(self.corrupt(job, "current.json", "it points outside records/"));
        }
        let Some((bytes, _)) = self
            .store
            .read(&self.release_path(job, &pointer.record))
            .await?
        else {
            return Err(self.corrupt(job, &pointer.record, "the current record is missing"));
        };
        let record: ReleaseRecord = serde_json::from_slice(&bytes)
            .map_err(|e| self.corrupt(job, &pointer.record, format!("unreadable: {e}")))?;
        if record.format != RELEASE_FORMAT {
            return Err(self.corrupt(
                job,
                &pointer.record,
                format!(
                    "format {} (this flink-ops reads {RELEASE_FORMAT})",
                    record.format
                ),
            ));
        }
        Ok(Some(record))
    }

    /// Copies the record's jar into `dest_dir` as `<sha256>.jar`, after checking its digest;
    /// returns its path.
    pub async fn fetch_jar(
        &self,
        record: &ReleaseRecord,
        dest_dir: &Path,
    ) -> Result<PathBuf, LayoutError> {
        if !is_digest(&record.jar_sha256) {
            return Err(LayoutError::Release(format!(
                "'{}' is not a SHA-256 in hex",
                record.jar_sha256
            )));
        }
        let below = format!("jars/{}.jar", record.jar_sha256);
        let key = self.release_path(&record.job_name, &below);
        let Some((bytes, _)) = self.store.read(&key).await? else {
            return Err(LayoutError::JarMissing {
                location: self.store.location(&key),
            });
        };
        let digest = sha256(&bytes);
        if digest != record.jar_sha256 {
            return Err(self.corrupt(
                &record.job_name,
                &below,
                format!("its SHA-256 is {digest}, not {}", record.jar_sha256),
            ));
        }
        let dest = dest_dir.join(format!("{}.jar", record.jar_sha256));
        let target = dest.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write as _;
            let dir = target.parent().unwrap_or(Path::new("/"));
            let mut temp = tempfile::NamedTempFile::new_in(dir)?;
            temp.write_all(&bytes)?;
            temp.persist(&target).map_err(|e| e.error)?;
            Ok(())
        })
        .await
        .map_err(|e| LayoutError::Release(format!("writing the jar: {e}")))?
        .map_err(|e| LayoutError::Release(format!("cannot write {}: {e}", dest.display())))?;
        Ok(dest)
    }

    /// Takes the job's lease for `ttl`: `None` when someone else holds one that has not
    /// expired. An expired lease (its holder was killed, or stopped renewing) is taken over.
    pub async fn acquire_lease(
        &self,
        job: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, LayoutError> {
        let key = self.release_path(job, "lease.json");
        // A few rounds: another taker may create or take over the lease between our read and
        // our write; then it holds it, and the next read says so.
        for _ in 0..3 {
            let now = OffsetDateTime::now_utc();
            let token = token();
            let file = LeaseFile {
                format: RELEASE_FORMAT,
                holder: holder.to_string(),
                token: token.clone(),
                acquired_at: rfc3339(now),
                expires_at: rfc3339(now + ttl),
            };
            let bytes = serde_json::to_vec(&file).expect("a lease serializes");
            let mode = match self.store.read(&key).await? {
                None => WriteMode::CreateNew,
                Some((held, version)) => {
                    let (_, info) = lease_info(&held, now);
                    if !info.expired {
                        return Ok(None);
                    }
                    tracing::warn!(job, holder = %info.holder, expired_at = %info.expires_at, "taking over an expired lease");
                    WriteMode::ReplaceIf(version)
                }
            };
            if let Written::Done(version) = self.store.write(&key, bytes, mode).await? {
                return Ok(Some(Lease {
                    job: job.to_string(),
                    token,
                    info: LeaseInfo {
                        holder: file.holder,
                        acquired_at: file.acquired_at,
                        expires_at: file.expires_at,
                        expired: false,
                    },
                    version,
                }));
            }
        }
        Ok(None)
    }

    /// Extends a lease held to `ttl` from now. `false` when it is no longer ours (it expired
    /// and someone took it over): the holder should stop what it guards as soon as it safely can.
    pub async fn renew_lease(&self, lease: &mut Lease, ttl: Duration) -> Result<bool, LayoutError> {
        let key = self.release_path(&lease.job, "lease.json");
        let now = OffsetDateTime::now_utc();
        let file = LeaseFile {
            format: RELEASE_FORMAT,
            holder: lease.info.holder.clone(),
            token: lease.token.clone(),
            acquired_at: lease.info.acquired_at.clone(),
            expires_at: rfc3339(now + ttl),
        };
        let bytes = serde_json::to_vec(&file).expect("a lease serializes");
        match self
            .store
            .write(&key, bytes, WriteMode::ReplaceIf(lease.version.clone()))
            .await?
        {
            Written::Done(version) => {
                lease.version = version;
                lease.info.expires_at = file.expires_at;
                Ok(true)
            }
            Written::Conflict => Ok(false),
        }
    }

    /// Who holds the job's lease, if anyone has one (expired or not).
    pub async fn lease(&self, job: &str) -> Result<Option<LeaseInfo>, LayoutError> {
        let key = self.release_path(job, "lease.json");
        Ok(self
            .store
            .read(&key)
            .await?
            .map(|(bytes, _)| lease_info(&bytes, OffsetDateTime::now_utc()).1))
    }

    /// Gives the lease back; one that was taken over meanwhile is left to its new holder.
    pub async fn drop_lease(&self, lease: Lease) -> Result<(), LayoutError> {
        let key = self.release_path(&lease.job, "lease.json");
        let ours = match self.store.read(&key).await? {
            Some((bytes, _)) => {
                let (file, _) = lease_info(&bytes, OffsetDateTime::now_utc());
                file.is_some_and(|f| f.token == lease.token)
            }
            None => false,
        };
        if ours {
            self.store.delete_object(&key, Some(lease.version)).await?;
        } else {
            tracing::warn!(job = %lease.job, "the lease was taken over before it was given back");
        }
        Ok(())
    }
}

/// A job id for a file name: only `[A-Za-z0-9]`.
fn safe(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect();
    if kept.is_empty() {
        "none".into()
    } else {
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(job: &str, jar_sha256: &str, job_id: &str) -> ReleaseRecord {
        ReleaseRecord {
            format: RELEASE_FORMAT,
            job_name: job.into(),
            jar_sha256: jar_sha256.into(),
            jar_file_name: "job.jar".into(),
            entry_class: Some("com.example.Main".into()),
            program_args: vec!["--topic".into(), "orders".into()],
            parallelism: Some(2),
            flink_config: BTreeMap::from([("pipeline.max-parallelism".into(), "128".into())]),
            claim_mode: "NO_CLAIM".into(),
            allow_non_restored_state: false,
            flink_version: "2.3.0".into(),
            job_id: job_id.into(),
            restored_from: None,
            recorded_at: rfc3339(OffsetDateTime::now_utc()),
            kind: ReleaseKind::Deploy,
            intent: Intent::Running,
            stopped_with: None,
            previous: None,
        }
    }

    fn jar(dir: &Path, content: &[u8]) -> (PathBuf, String) {
        let path = dir.join(format!("{}.jar", content.len()));
        std::fs::write(&path, content).unwrap();
        let digest = file_sha256(&path).unwrap();
        (path, digest)
    }

    #[test]
    fn digests_are_sha256() {
        assert_eq!(
            sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn a_release_is_recorded_with_its_jar_once_and_one_previous() {
        let root = tempfile::tempdir().unwrap();
        let jars = tempfile::tempdir().unwrap();
        let layout = SavepointLayout::new(root.path().to_str().unwrap()).unwrap();
        assert_eq!(layout.current_release("orders").await.unwrap(), None);

        let (first_jar, first_sha) = jar(jars.path(), b"first");
        let first = record("orders", &first_sha, "a1");
        layout
            .put_release("orders", &first, Some(&first_jar))
            .await
            .unwrap();
        assert_eq!(
            layout.current_release("orders").await.unwrap().unwrap(),
            first
        );

        let mut second = record("orders", &first_sha, "b2");
        second.previous = Some(Box::new(first.clone()));
        layout
            .put_release("orders", &second, Some(&first_jar))
            .await
            .unwrap();
        let mut third = record("orders", &first_sha, "c3");
        third.previous = Some(Box::new(second.clone()));
        layout.put_release("orders", &third, None).await.unwrap();

        let current = layout.current_release("orders").await.unwrap().unwrap();
        assert_eq!(current.job_id, "c3");
        let previous = current.previous.unwrap();
        assert_eq!(previous.job_id, "b2");
        assert_eq!(previous.previous, None, "one level deep");

        let release = root.path().join("orders/_release");
        let stored: Vec<_> = std::fs::read_dir(release.join("jars"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(stored, [format!("{first_sha}.jar")], "the jar once");
        assert_eq!(
            std::fs::read_dir(release.join("records")).unwrap().count(),
            3
        );

        let out = tempfile::tempdir().unwrap();
        let fetched = layout
            .fetch_jar(&current_with(&first_sha), out.path())
            .await;
        assert_eq!(std::fs::read(fetched.unwrap()).unwrap(), b"first");
    }

    fn current_with(sha: &str) -> ReleaseRecord {
        record("orders", sha, "x")
    }

    #[tokio::test]
    async fn a_record_without_its_jar_or_with_a_wrong_digest_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let jars = tempfile::tempdir().unwrap();
        let layout = SavepointLayout::new(root.path().to_str().unwrap()).unwrap();
        let (path, sha) = jar(jars.path(), b"jar");
        let first = record("orders", &sha, "a");
        let missing = layout.put_release("orders", &first, None).await;
        assert!(matches!(missing, Err(LayoutError::JarMissing { .. })));
        let wrong = record("orders", &"0".repeat(64), "a");
        let err = layout.put_release("orders", &wrong, Some(&path)).await;
        assert!(err.unwrap_err().to_string().contains("SHA-256"));
        assert_eq!(layout.current_release("orders").await.unwrap(), None);

        // A stored jar that changed under its name is not handed out.
        layout
            .put_release("orders", &record("orders", &sha, "a"), Some(&path))
            .await
            .unwrap();
        std::fs::write(
            root.path().join(format!("orders/_release/jars/{sha}.jar")),
            b"tampered",
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        let fetched = layout.fetch_jar(&first, out.path()).await;
        assert!(matches!(fetched, Err(LayoutError::Corrupt { .. })));
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_lease_is_held_by_one_until_dropped_or_expired() {
        let root = tempfile::tempdir().unwrap();
        let layout = SavepointLayout::new(root.path().to_str().unwrap()).unwrap();
        let long = Duration::from_secs(600);
        let first = layout.acquire_lease("orders", "one", long).await.unwrap();
        let first = first.expect("a free lease");
        assert!(layout
            .acquire_lease("orders", "two", long)
            .await
            .unwrap()
            .is_none());
        let info = layout.lease("orders").await.unwrap().unwrap();
        assert_eq!((info.holder.as_str(), info.expired), ("one", false));
        layout.drop_lease(first).await.unwrap();
        assert_eq!(layout.lease("orders").await.unwrap(), None);

        // Expired: taken over; the old holder can neither renew nor drop it any more.
        let mut stale = layout
            .acquire_lease("orders", "killed", Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        assert!(layout.lease("orders").await.unwrap().unwrap().expired);
        let taker = layout.acquire_lease("orders", "taker", long).await.unwrap();
        let mut taker = taker.expect("an expired lease is taken over");
        assert!(!layout.renew_lease(&mut stale, long).await.unwrap());
        layout.drop_lease(stale).await.unwrap();
        assert_eq!(
            layout.lease("orders").await.unwrap().unwrap().holder,
            "taker"
        );
        assert!(layout.renew_lease(&mut taker, long).await.unwrap());
        assert!(layout.renew_lease(&mut taker, long).await.unwrap());
        layout.drop_lease(taker).await.unwrap();
        assert_eq!(layout.lease("orders").await.unwrap(), None);
    }

    #[tokio::test]
    async fn many_takers_at_once_get_one_lease() {
        let root = tempfile::tempdir().unwrap();
        let layout = SavepointLayout::new(root.path().to_str().unwrap()).unwrap();
        let takers = (0..8).map(|i| {
            let layout = layout.clone();
            tokio::spawn(async move {
                layout
                    .acquire_lease("orders", &format!("taker {i}"), Duration::from_secs(60))
                    .await
                    .unwrap()
                    .is_some()
            })
        });
        let mut won = 0;
        for taker in takers {
            won += usize::from(taker.await.unwrap());
        }
        assert_eq!(won, 1);
    }

    #[tokio::test]
    async fn release_files_are_no_savepoints_and_no_jobs() {
        let root = tempfile::tempdir().unwrap();
        let jars = tempfile::tempdir().unwrap();
        let layout = SavepointLayout::new(root.path().to_str().unwrap()).unwrap();
        let (path, sha) = jar(jars.path(), b"jar");
        layout
            .put_release("orders", &record("orders", &sha, "a"), Some(&path))
            .await
            .unwrap();
        let _lease = layout
            .acquire_lease("orders", "x", Duration::from_secs(60))
            .await
            .unwrap();
        let listing = layout.list("orders", OffsetDateTime::now_utc()).await;
        assert_eq!(listing.unwrap(), crate::Listing::default());
        assert_eq!(layout.job_names().await.unwrap(), ["orders"]);
        // Pruning deletes through `delete`, which refuses anything but a savepoint folder.
        for below in [
            "",
            "jars",
            &format!("jars/{sha}.jar"),
            "records",
            "current.json",
        ] {
            let location = format!("{}{below}", layout.release_location("orders"));
            let refused = layout.delete("orders", &location).await;
            assert!(
                matches!(refused, Err(LayoutError::NotOurs(_))),
                "{location}: {refused:?}"
            );
        }
        assert!(layout.current_release("orders").await.unwrap().is_some());
        assert!(root
            .path()
            .join(format!("orders/_release/jars/{sha}.jar"))
            .is_file());
    }
}
