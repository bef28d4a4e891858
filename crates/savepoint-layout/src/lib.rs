//! The savepoint layout flink-savepointer writes and flink-deploy reads:
//!
//! ```text
//! <root>/<job folder>/<UTC %Y-%m-%d-%H-%M>/savepoint-<jobid6>-<random>/_metadata
//! ```
//!
//! Flink creates the `savepoint-…` folder itself under the target
//! directory it is given; this crate decides the target directory and lists
//! what is there. The root is a local directory (`file://`) or a bucket
//! (`gs://`, `s3://`); [`store`] reads both through one async API, so what
//! counts as a savepoint, and which one is newest, is decided once, here.
//! Other schemes (`hdfs://`, …) are refused when the layout is made.
//!
//! **Job folders** ([`job_folder`]) are the job name with every byte outside
//! `[A-Za-z0-9._-]` (and a leading `.`) written as `~HH`: `my job` is
//! `my~20job`. The mapping is reversible, so two names never share a folder.
//! Earlier versions used a readable form plus a hash (`my-job-6e279c60`),
//! which a job literally named `my-job-6e279c60` also got; see
//! [`legacy_job_folder`] for how those folders are still read, safely.
//!
//! **Target directories** are handed to Flink as literal paths
//! (`file:///data/save points/…`, not `save%20points`): Flink's `Path` takes
//! the string as it is (checked on Flink 1.20 and 2.3), so the folder Flink
//! writes is the folder [`SavepointLayout::list`] reads.
#![deny(missing_docs)]

mod folders;
mod release;
pub mod restore;
mod store;

use std::collections::BTreeMap;
use std::time::SystemTime;

pub use folders::{
    deploy_jar_name, is_deploy_jar_of, job_folder, job_name_of, legacy_job_folder, parse_job_name,
    started_after_upload, MAX_JOB_FOLDER,
};
pub use release::{
    file_sha256, Intent, Lease, LeaseInfo, ReleaseKind, ReleaseRecord, RELEASE_FOLDER,
    RELEASE_FORMAT,
};
pub use store::StoreError;

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use url::Url;

/// How far in the future a dated folder may be and still count: one hour
/// covers clock skew between the machines that write and read the layout;
/// anything later (`2099-01-01-00-00`, a month typed wrong, a local time
/// taken for UTC far east of Greenwich) is never "newest", never restored
/// and never disposed: [`Listing::ignored_future`] reports it.
pub const FUTURE_SKEW: time::Duration = time::Duration::HOUR;

/// Errors of the layout.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The root is neither an absolute path nor a URL.
    #[error("'{0}' is not a savepoint directory: give an absolute path or a URL such as file:///data/savepoints or gs://bucket/savepoints")]
    InvalidRoot(String),
    /// The root holds characters Flink could not be given as a path.
    #[error("'{root}' cannot be a savepoint directory: {why}")]
    UnusableRoot {
        /// The root as given.
        root: String,
        /// What is wrong with it.
        why: String,
    },
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A location that is not one of this job's savepoints in the layout.
    #[error("{0} is not a savepoint of this job's folder in the layout; nothing was deleted")]
    NotOurs(String),
    /// A release file that cannot be read as one (unparseable, a newer format, a jar whose
    /// digest does not match).
    #[error("the release file {location} cannot be used: {why}")]
    Corrupt {
        /// Where it is.
        location: String,
        /// What is wrong with it.
        why: String,
    },
    /// The jar a release record names is not stored.
    #[error("the release's jar {location} is not in the layout")]
    JarMissing {
        /// Where it should be.
        location: String,
    },
    /// A release record that cannot be written as asked (its job, its digest, its jar).
    #[error("cannot record the release: {0}")]
    Release(String),
}

/// Whose a [`LayoutError`] is, for the exit code a binary gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The configuration: the root, the bucket's name, or the credentials
    /// (no such bucket, access denied, none found). Exit 2 in every binary.
    Input,
    /// The store did not answer, or answered what it should not. Exit 3.
    Unreachable,
}

impl LayoutError {
    /// True when a local directory refused this user (EACCES, EPERM): the layout belongs to
    /// another user (Flink's, uid 9999 in the official image).
    pub fn is_permission_denied(&self) -> bool {
        matches!(
            self,
            Self::Store(StoreError::Unwritable {
                permission_denied: true,
                ..
            })
        )
    }

    /// Whose the error is.
    pub fn blame(&self) -> Blame {
        match self {
            Self::InvalidRoot(_)
            | Self::UnusableRoot { .. }
            | Self::NotOurs(_)
            | Self::Release(_)
            | Self::JarMissing { .. } => Blame::Input,
            Self::Store(
                StoreError::NoSuchBucket { .. }
                | StoreError::Denied { .. }
                | StoreError::NoCredentials { .. }
                | StoreError::Unwritable { .. },
            ) => Blame::Input,
            Self::Corrupt { .. } => Blame::Unreachable,
            Self::Store(
                StoreError::Unreachable { .. } | StoreError::Other { .. } | StoreError::Io { .. },
            ) => Blame::Unreachable,
        }
    }
}

/// The root of a savepoint layout, e.g. `file:///data/savepoints` or
/// `gs://bucket/savepoints`, and the store it lives in.
#[derive(Debug, Clone)]
pub struct SavepointLayout {
    root: Url,
    store: store::Store,
}

impl PartialEq for SavepointLayout {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
    }
}

impl Eq for SavepointLayout {}

/// A savepoint found in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSavepoint {
    /// The dated folder it is in (UTC).
    pub taken_at: PrimitiveDateTime,
    /// Its location as Flink names it (`file:/data/savepoints/orders/…/savepoint-…`),
    /// usable as `savepointPath` and for disposal.
    pub location: String,
    /// True when its `_metadata` exists: Flink finished writing it.
    pub complete: bool,
    /// The bytes of all its files.
    pub bytes: u64,
    /// When its `_metadata` was written (Flink writes it last), when the store says.
    pub completed_at: Option<SystemTime>,
}

/// What [`SavepointLayout::list`] found for one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The job's savepoints, oldest first (from its folder and, during the
    /// migration, its legacy folder): restore from the newest complete one.
    pub savepoints: Vec<StoredSavepoint>,
    /// Savepoints in folders dated more than [`FUTURE_SKEW`] after `now`,
    /// oldest first. Never restored, never disposed: warn about them
    /// ("ignored: dated in the future") and leave them to a person.
    pub ignored_future: Vec<StoredSavepoint>,
    /// Savepoints in this job's legacy folder when another job may own that
    /// folder too (see [`legacy_job_folder`]), oldest first. Never restored
    /// automatically, never disposed: name them so a person can pick one
    /// with `--from-savepoint` if it is this job's.
    pub ambiguous_legacy: Vec<StoredSavepoint>,
}

impl Listing {
    /// The savepoints set aside (never restored, never disposed) with why, for a warning:
    /// `(why, its savepoints oldest first)` for each reason that has any.
    pub fn set_aside(&self) -> Vec<(&'static str, &[StoredSavepoint])> {
        [
            (
                "dated in the future (clock skew or a typo?)",
                &self.ignored_future,
            ),
            (
                "in a legacy folder another job may own",
                &self.ambiguous_legacy,
            ),
        ]
        .into_iter()
        .filter(|(_, found)| !found.is_empty())
        .map(|(why, found)| (why, found.as_slice()))
        .collect()
    }
}

impl Listing {
    /// The newest complete savepoint, if any.
    pub fn newest(&self) -> Option<&StoredSavepoint> {
        self.savepoints.iter().rev().find(|s| s.complete)
    }
}

const DATE_FOLDER: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]-[hour]-[minute]");

impl SavepointLayout {
    /// A layout rooted at `root`: an absolute path (taken literally:
    /// `/data/save points`) or a URL (percent-decoded, as URLs are:
    /// `file:///data/save%20points` is the same folder).
    ///
    /// Refused: roots that are not UTF-8 once decoded, hold control
    /// characters, or carry credentials, a query or a fragment, and schemes
    /// other than `file`, `gs` and `s3`. For a bucket, its client is set up
    /// from the environment (see [`store`]); nothing is sent yet.
    pub fn new(root: &str) -> Result<Self, LayoutError> {
        let trimmed = root.trim().trim_end_matches('/');
        let unusable = |why: &str| LayoutError::UnusableRoot {
            root: without_credentials(root),
            why: why.to_string(),
        };
        let url = if trimmed.starts_with('/') {
            Url::from_directory_path(trimmed)
                .map_err(|_| LayoutError::InvalidRoot(root.to_string()))?
        } else {
            let mut url =
                Url::parse(trimmed).map_err(|_| LayoutError::InvalidRoot(root.to_string()))?;
            if url.cannot_be_a_base() {
                return Err(LayoutError::InvalidRoot(root.to_string()));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(unusable(
                    "it has a '?' or '#' part, which Flink would not take as part of the path; \
                     write '?' and '#' in a folder name as %3F and %23",
                ));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(unusable(
                    "it carries credentials; give them to the filesystem, not in the path",
                ));
            }
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            url
        };
        let path = decoded_path(&url).ok_or_else(|| unusable("its path is not UTF-8"))?;
        if path.chars().any(char::is_control) {
            return Err(unusable("its path holds control characters"));
        }
        let store = store::Store::open(&url, &path).map_err(|why| unusable(&why))?;
        Ok(Self { root: url, store })
    }

    /// True when the root is a bucket (`gs://`, `s3://`): savepoints are deleted
    /// through the store, not by Flink.
    pub fn is_bucket(&self) -> bool {
        self.store.is_bucket()
    }

    /// The root, ending in `/` (percent-encoded, as a URL).
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The folder of one job's savepoints, ending in `/`.
    pub fn job_dir(&self, job_name: &str) -> Url {
        self.folder_url(&job_folder(job_name))
    }

    fn folder_url(&self, folder: &str) -> Url {
        // Job folders are made of [A-Za-z0-9._~-] and never "." or "..".
        self.root
            .join(&format!("{folder}/"))
            .expect("job folders are valid relative URLs")
    }

    /// The target directory to hand Flink for a savepoint taken at `now`:
    /// the literal path (`file:///data/save points/orders/2026-11-23-18-15`),
    /// which is what Flink writes to.
    pub fn target_dir(&self, job_name: &str, now: OffsetDateTime) -> String {
        let utc = now.to_offset(time::UtcOffset::UTC);
        let folder = utc.format(DATE_FOLDER).expect("a fixed format");
        let url = self
            .job_dir(job_name)
            .join(&folder)
            .expect("a valid folder");
        literal(&url)
    }

    /// True when `location` (as Flink reports it) lies inside this job's
    /// folder. Its legacy folder does not count: what is disposed is only
    /// ever what the current layout wrote.
    pub fn contains(&self, job_name: &str, location: &str) -> bool {
        let dir = normalize(&literal(&self.job_dir(job_name)));
        normalize(location).starts_with(&dir)
    }

    /// What a job's folder holds, as of `now` (UTC).
    ///
    /// Folders that are not dated folders, and entries that are not
    /// `savepoint-*` folders, are ignored: the layout never touches
    /// what it did not write. Dated folders beyond `now` + [`FUTURE_SKEW`]
    /// are reported in [`Listing::ignored_future`]. The job's legacy folder
    /// (when it differs) is read too; see [`legacy_job_folder`].
    pub async fn list(&self, job_name: &str, now: OffsetDateTime) -> Result<Listing, LayoutError> {
        let now = now.to_offset(time::UtcOffset::UTC);
        let latest = PrimitiveDateTime::new(now.date(), now.time()) + FUTURE_SKEW;

        let folder = job_folder(job_name);
        let mut found = self.scan(&folder).await?;
        let mut ambiguous = Vec::new();
        let legacy = legacy_job_folder(job_name);
        if legacy != folder {
            let old = self.scan(&legacy).await?;
            if !old.is_empty() {
                if self.another_claimant(job_name, &legacy).await?.is_some() {
                    ambiguous = old;
                } else {
                    found.extend(old);
                }
            }
        }

        let (ignored_future, savepoints) = found
            .into_iter()
            .partition::<Vec<_>, _>(|(_, s)| s.taken_at > latest);
        Ok(Listing {
            savepoints: sorted(savepoints),
            ignored_future: sorted(ignored_future),
            ambiguous_legacy: sorted(ambiguous),
        })
    }

    /// The newest complete savepoint of a job by the system clock, if any
    /// (never one dated in the future: [`SavepointLayout::list`] with the
    /// current time).
    pub async fn newest(&self, job_name: &str) -> Result<Option<StoredSavepoint>, LayoutError> {
        Ok(self
            .list(job_name, OffsetDateTime::now_utc())
            .await?
            .newest()
            .cloned())
    }

    /// The names of the jobs that have a folder (of the current naming)
    /// under the root, sorted; folders that are no job's folder are left out.
    pub async fn job_names(&self) -> Result<Vec<String>, LayoutError> {
        let mut names: Vec<String> = self
            .store
            .folders()
            .await?
            .iter()
            .filter_map(|f| job_name_of(f))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Deletes one savepoint of `job_name` through the store, and checks by
    /// listing that it is gone; returns how many objects (files) went.
    /// Refused, with nothing deleted, for anything but a `savepoint-*`
    /// folder in a dated folder of the job's own folder.
    pub async fn delete(&self, job_name: &str, location: &str) -> Result<usize, LayoutError> {
        let not_ours = || LayoutError::NotOurs(location.to_string());
        let relative = self.store.relative(location).ok_or_else(not_ours)?;
        let parts: Vec<&str> = relative.trim_end_matches('/').split('/').collect();
        let shaped = matches!(parts.as_slice(), [folder, dated, savepoint]
            if *folder == job_folder(job_name)
                && PrimitiveDateTime::parse(dated, DATE_FOLDER).is_ok()
                && savepoint.starts_with("savepoint-"));
        if !shaped || !self.contains(job_name, location) {
            return Err(not_ours());
        }
        Ok(self.store.delete_folder(&parts.join("/")).await?)
    }

    /// The savepoints under the folder `folder` of the root, with the time
    /// of their `_metadata`.
    async fn scan(&self, folder: &str) -> Result<Vec<Found>, LayoutError> {
        #[derive(Default)]
        struct Seen {
            metadata: Option<Option<SystemTime>>,
            bytes: u64,
        }
        let mut seen: BTreeMap<(PrimitiveDateTime, String, String), Seen> = BTreeMap::new();
        for entry in self.store.entries(folder).await? {
            let mut parts = entry.relative.splitn(3, '/');
            let (Some(dated), Some(savepoint)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Ok(taken_at) = PrimitiveDateTime::parse(dated, DATE_FOLDER) else {
                continue;
            };
            if !savepoint.starts_with("savepoint-") {
                continue;
            }
            let rest = parts.next();
            if rest.is_none() && !entry.is_dir {
                continue; // a file named savepoint-*, not a savepoint
            }
            let acc = seen
                .entry((taken_at, dated.to_string(), savepoint.to_string()))
                .or_default();
            if !entry.is_dir {
                acc.bytes += entry.bytes;
                if rest == Some("_metadata") {
                    acc.metadata = Some(entry.modified);
                }
            }
        }
        Ok(seen
            .into_iter()
            .map(|((taken_at, dated, savepoint), seen)| {
                (
                    seen.metadata.flatten(),
                    StoredSavepoint {
                        taken_at,
                        location: self
                            .store
                            .location(&format!("{folder}/{dated}/{savepoint}")),
                        complete: seen.metadata.is_some(),
                        bytes: seen.bytes,
                        completed_at: seen.metadata.flatten(),
                    },
                )
            })
            .collect())
    }

    /// A job other than `job_name` whose current folder exists under the
    /// root and whose legacy folder is `legacy` too.
    async fn another_claimant(
        &self,
        job_name: &str,
        legacy: &str,
    ) -> Result<Option<String>, LayoutError> {
        Ok(self
            .job_names()
            .await?
            .into_iter()
            .find(|other| other != job_name && legacy_job_folder(other) == legacy))
    }
}

/// `root` for an error message: a URL's user name and password replaced.
fn without_credentials(root: &str) -> String {
    match Url::parse(root.trim()) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("****");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => root.to_string(),
    }
}

/// A savepoint and its `_metadata`'s modification time, for sorting.
type Found = (Option<SystemTime>, StoredSavepoint);

fn sorted(mut found: Vec<Found>) -> Vec<StoredSavepoint> {
    // Dated folders have minute resolution; within one, _metadata's time decides.
    found.sort_by(|(ma, a), (mb, b)| {
        (a.taken_at, ma, &a.location).cmp(&(b.taken_at, mb, &b.location))
    });
    found.into_iter().map(|(_, s)| s).collect()
}

/// Compares Flink locations (`file:/a`, `file:///a`) as paths.
pub fn normalize(location: &str) -> String {
    let rest = location.strip_prefix("file:").unwrap_or(location);
    format!("/{}", rest.trim_start_matches('/'))
}

/// A URL of the layout ([`SavepointLayout::root`], [`SavepointLayout::job_dir`]) as the
/// literal string Flink is given and reports: scheme and authority, then the percent-decoded
/// path (`gs://bucket/save points/orders/`; Flink's `Path` decodes nothing).
pub fn literal(url: &Url) -> String {
    let path = decoded_path(url).expect("checked to be UTF-8 when the layout was made");
    format!("{}{path}", &url[..url::Position::BeforePath])
}

fn decoded_path(url: &Url) -> Option<String> {
    percent_encoding::percent_decode_str(url.path())
        .decode_utf8()
        .ok()
        .map(|p| p.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 19:00 UTC);

    fn make(root: &Path, folder: &str, dated: &str, name: &str, complete: bool) -> String {
        let dir = root.join(folder).join(dated).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        if complete {
            std::fs::write(dir.join("_metadata"), b"x").unwrap();
        }
        format!("file:{}", dir.display())
    }

    #[test]
    fn job_names_must_fit_a_folder() {
        assert_eq!(parse_job_name("orders").unwrap(), "orders");
        assert!(parse_job_name(" ").unwrap_err().contains("empty"));
        assert!(parse_job_name(&"a".repeat(200)).is_ok());
        assert!(parse_job_name(&"a".repeat(201))
            .unwrap_err()
            .contains("too long"));
        // Escaped bytes count three: 67 umlauts are 134 bytes, 402 escaped.
        assert!(parse_job_name(&"ü".repeat(67))
            .unwrap_err()
            .contains("402 bytes"));
    }

    #[test]
    fn target_dirs_are_dated_in_utc() {
        let layout = SavepointLayout::new("/data/savepoints/").unwrap();
        let at = datetime!(2026-11-23 19:15:42 +01:00);
        assert_eq!(
            layout.target_dir("orders", at),
            "file:///data/savepoints/orders/2026-11-23-18-15"
        );
        let gs = SavepointLayout::new("gs://bucket/sp").unwrap();
        assert_eq!(
            gs.target_dir("orders", at),
            "gs://bucket/sp/orders/2026-11-23-18-15"
        );
    }

    #[test]
    fn target_dirs_are_literal_paths() {
        let at = datetime!(2026-11-23 18:15 UTC);
        // Flink takes the target directory literally: no percent-encoding.
        let layout = SavepointLayout::new("/data/save points/100%/#1/ü").unwrap();
        assert_eq!(
            layout.target_dir("my job", at),
            "file:///data/save points/100%/#1/ü/my~20job/2026-11-23-18-15"
        );
        assert!(layout.contains(
            "my job",
            "file:/data/save points/100%/#1/ü/my~20job/2026-11-23-18-15/savepoint-a"
        ));
        assert!(!layout.contains(
            "my job",
            "file:/data/save%20points/100%25/%231/%C3%BC/my~20job/2026-11-23-18-15/savepoint-a"
        ));
        // A URL root is percent-decoded, as URLs are.
        let url = SavepointLayout::new("file:///data/save%20points").unwrap();
        assert_eq!(
            url.target_dir("orders", at),
            "file:///data/save points/orders/2026-11-23-18-15"
        );
    }

    #[test]
    fn unusable_roots_are_refused_clearly() {
        for (root, says) in [
            ("file:///data/sp?x=1", "'?' or '#'"),
            ("file:///data/sp#frag", "'?' or '#'"),
            ("gs://user:secret@bucket/sp", "credentials"),
            ("file:///data/%FF", "not UTF-8"),
            ("/data/new\nline", "control characters"),
            ("file:///data/tab%09", "control characters"),
        ] {
            let err = SavepointLayout::new(root).unwrap_err();
            assert!(err.to_string().contains(says), "{root}: {err}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn job_folders_are_injective_readable_and_safe() {
        assert_eq!(job_folder("orders"), "orders");
        assert_eq!(job_folder("orders-v2"), "orders-v2");
        assert_eq!(job_folder("a--b_c.d"), "a--b_c.d");
        assert_eq!(job_folder("my job"), "my~20job");
        assert_eq!(job_folder("my/job"), "my~2Fjob");
        assert_eq!(job_folder("~"), "~7E");
        assert_eq!(job_folder(""), "~");
        assert_eq!(job_folder(".."), "~2E.");
        assert_eq!(job_folder("../etc"), "~2E.~2Fetc");
        assert_eq!(job_folder("Köln"), "K~C3~B6ln");
        // The issue's pair: distinct folders now.
        assert_eq!(job_folder("my-job-6e279c60"), "my-job~2D6e279c60");
        assert_ne!(job_folder("my job"), job_folder("my-job-6e279c60"));
        // Not the legacy shape: unchanged.
        assert_eq!(job_folder("orders-1A2B3C4D"), "orders-1A2B3C4D");
        assert_eq!(job_folder("orders-1a2b3c4"), "orders-1a2b3c4");

        let names = [
            "",
            "~",
            "~7E",
            "~~",
            "a",
            ".a",
            "~2Ea",
            "my job",
            "my~20job",
            "my-job-6e279c60",
            "my-job~2D6e279c60",
            "-00000000",
            "~2D00000000",
            "Köln",
            "K~C3~B6ln",
            "a\nb",
            "..",
        ];
        let mut folders = std::collections::HashSet::new();
        for name in names {
            let folder = job_folder(name);
            assert!(folders.insert(folder.clone()), "{name:?} shares {folder}");
            assert_eq!(job_name_of(&folder).as_deref(), Some(name), "{folder}");
            assert!(!folder.is_empty() && !folder.starts_with('.'), "{folder}");
            assert!(
                folder
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-~".contains(&b)),
                "{folder}"
            );
            // Never a legacy folder of anyone, unless the same (plain) name's.
            assert!(
                folder == legacy_job_folder(name) || folder.contains('~'),
                "{name:?}: {folder}"
            );
        }
        // Folders job_folder never writes belong to no job.
        for odd in ["~2e", "~41", "my-job-6e279c60", "~", "~2", "~ZZ", "~C3"] {
            if let Some(name) = job_name_of(odd) {
                assert_eq!(job_folder(&name), odd);
            }
        }
        assert_eq!(job_name_of("~41"), None, "A needs no escape");
        assert_eq!(job_name_of("~2e"), None, "lowercase hex is not ours");
        assert_eq!(
            job_name_of("my-job-6e279c60"),
            None,
            "a legacy hashed folder"
        );
    }

    #[test]
    fn legacy_folders_are_what_earlier_versions_wrote() {
        assert_eq!(legacy_job_folder("orders"), "orders");
        assert_eq!(legacy_job_folder("my job"), "my-job-6e279c60");
        assert_eq!(legacy_job_folder("my-job-6e279c60"), "my-job-6e279c60");
    }

    #[test]
    fn roots_must_be_absolute() {
        assert!(SavepointLayout::new("relative/dir").is_err());
        assert!(SavepointLayout::new("file:///ok").is_ok());
        assert!(SavepointLayout::new("gs://b/sp").unwrap().is_bucket());
        assert!(SavepointLayout::new("s3://b").unwrap().is_bucket());
        for root in ["hdfs://nn/sp", "abfs://container/sp", "gs:///sp"] {
            let err = SavepointLayout::new(root).unwrap_err().to_string();
            assert!(
                err.contains("use file://, gs:// or s3://") || err.contains("names no bucket"),
                "{root}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn listing_finds_complete_savepoints_newest_last_and_ignores_the_rest() {
        let root = tempfile::tempdir().unwrap();
        let layout = SavepointLayout::new(root.path().to_str().unwrap()).unwrap();
        let r = root.path();
        make(r, "orders", "2026-11-23-18-15", "savepoint-aaaaaa-1", true);
        make(r, "orders", "2026-11-23-18-30", "savepoint-aaaaaa-2", true);
        make(r, "orders", "2026-11-23-18-45", "savepoint-aaaaaa-3", false);
        make(r, "orders", "2026-11-23-18-45", "not-a-savepoint", true);
        make(r, "orders", "backup", "savepoint-aaaaaa-4", true);
        make(
            r,
            "orders-v2",
            "2026-11-23-19-00",
            "savepoint-bbbbbb-1",
            false,
        );

        let all = layout.list("orders", NOW).await.unwrap();
        assert_eq!(all.savepoints.len(), 3, "{all:?}");
        assert!(all.ignored_future.is_empty() && all.ambiguous_legacy.is_empty());
        assert!(all.savepoints[0]
            .location
            .ends_with("/orders/2026-11-23-18-15/savepoint-aaaaaa-1"));
        assert!(!all.savepoints[2].complete);
        let newest = layout
            .list("orders", NOW)
            .await
            .unwrap()
            .newest()
            .unwrap()
            .clone();
        assert!(
            newest.location.ends_with("savepoint-aaaaaa-2"),
            "{newest:?}"
        );
        assert!(newest.location.starts_with("file:/"));
        assert!(layout.contains("orders", &newest.location));
        assert!(!layout.contains("orders", "file:/elsewhere/savepoint-x"));
        assert!(!layout.contains(
            "orders",
            &format!("file:{}/orders-v2/x", root.path().display())
        ));
        assert_eq!(
            layout.list("missing", NOW).await.unwrap(),
            Listing::default()
        );
    }

    #[tokio::test]
    async fn future_dated_folders_never_win_and_are_reported() {
        let root = tempfile::tempdir().unwrap();
        let layout = SavepointLayout::new(root.path().to_str().unwrap()).unwrap();
        let r = root.path();
        let real = make(r, "orders", "2026-11-23-18-45", "savepoint-aaaaaa-1", true);
        // Within the skew allowance: a clock a little ahead still counts.
        let skewed = make(r, "orders", "2026-11-23-20-00", "savepoint-aaaaaa-2", true);
        let typo = make(r, "orders", "2099-01-01-00-00", "savepoint-aaaaaa-3", true);
        let ahead = make(r, "orders", "2026-11-23-20-01", "savepoint-aaaaaa-4", true);

        let listing = layout.list("orders", NOW).await.unwrap();
        let locations =
            |s: &[StoredSavepoint]| s.iter().map(|s| s.location.clone()).collect::<Vec<_>>();
        assert_eq!(
            locations(&listing.savepoints),
            [real.clone(), skewed.clone()]
        );
        assert_eq!(locations(&listing.ignored_future), [ahead, typo.clone()]);
        assert_eq!(listing.newest().unwrap().location, skewed);
        // The same folders count once their time has come.
        let later = layout
            .list("orders", datetime!(2099-01-01 00:00 UTC))
            .await
            .unwrap();
        assert_eq!(later.newest().unwrap().location, typo);
        assert!(later.ignored_future.is_empty());
        // Only future ones: nothing to restore, but they are reported.
        let only = tempfile::tempdir().unwrap();
        make(
            only.path(),
            "orders",
            "2099-01-01-00-00",
            "savepoint-aaaaaa-1",
            true,
        );
        let layout = SavepointLayout::new(only.path().to_str().unwrap()).unwrap();
        let listing = layout.list("orders", NOW).await.unwrap();
        assert!(listing.newest().is_none());
        assert_eq!(listing.ignored_future.len(), 1);
    }

    #[tokio::test]
    async fn legacy_folders_are_read_until_another_job_claims_them() {
        let root = tempfile::tempdir().unwrap();
        let layout = SavepointLayout::new(root.path().to_str().unwrap()).unwrap();
        let r = root.path();
        // Written by an earlier version for "my job".
        let old = make(
            r,
            "my-job-6e279c60",
            "2026-11-23-18-00",
            "savepoint-aaaaaa-1",
            true,
        );
        let listing = layout.list("my job", NOW).await.unwrap();
        assert_eq!(listing.newest().unwrap().location, old);
        assert!(
            !layout.contains("my job", &old),
            "legacy folders are never disposed from"
        );
        // Newer savepoints in the current folder win; both are listed.
        let new = make(
            r,
            "my~20job",
            "2026-11-23-18-30",
            "savepoint-aaaaaa-2",
            true,
        );
        let listing = layout.list("my job", NOW).await.unwrap();
        assert_eq!(listing.savepoints.len(), 2);
        assert_eq!(listing.newest().unwrap().location, new);
        assert!(layout.contains("my job", &new));

        // A job literally named like the legacy folder has its own folder now...
        assert_eq!(
            layout
                .list("my-job-6e279c60", NOW)
                .await
                .unwrap()
                .savepoints
                .len(),
            0,
            "it reads the legacy folder only as ambiguous: 'my job' has a folder"
        );
        let twin = layout.list("my-job-6e279c60", NOW).await.unwrap();
        assert_eq!(twin.ambiguous_legacy.len(), 1);
        // ...and once it has written there, "my job" stops trusting the shared folder too.
        make(
            r,
            "my-job~2D6e279c60",
            "2026-11-23-18-40",
            "savepoint-bbbbbb-1",
            true,
        );
        let listing = layout.list("my job", NOW).await.unwrap();
        assert_eq!(
            listing
                .savepoints
                .iter()
                .map(|s| &s.location)
                .collect::<Vec<_>>(),
            [&new]
        );
        assert_eq!(listing.ambiguous_legacy.len(), 1);
        assert_eq!(listing.ambiguous_legacy[0].location, old);
        let twin = layout.list("my-job-6e279c60", NOW).await.unwrap();
        assert_eq!(twin.savepoints.len(), 1);
        assert!(twin.savepoints[0].location.contains("/my-job~2D6e279c60/"));
        assert_eq!(twin.ambiguous_legacy.len(), 1);

        // Same names (plain ones) have no legacy folder to read twice.
        make(r, "orders", "2026-11-23-18-00", "savepoint-cccccc-1", true);
        assert_eq!(
            layout.list("orders", NOW).await.unwrap().savepoints.len(),
            1
        );
    }
}
