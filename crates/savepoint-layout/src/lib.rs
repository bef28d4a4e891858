//! The savepoint layout flink-savepointer writes and flink-deploy reads:
//!
//! ```text
//! <root>/<job folder>/<UTC %Y-%m-%d-%H-%M>/savepoint-<jobid6>-<random>/_metadata
//! ```
//!
//! Flink creates the `savepoint-…` folder itself under the target
//! directory it is given; this crate decides the target directory and lists
//! what is there. Listing works for `file://` roots; other filesystems
//! (`gs://`, `s3://`) are refused with a clear error until a store for them
//! exists.
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

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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
    /// The root's filesystem cannot be listed by this build.
    #[error("cannot list savepoints under {0}: only file:// directories can be listed so far")]
    UnsupportedScheme(String),
    /// Listing failed.
    #[error("cannot list {}: {source}", .path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The root of a savepoint layout, e.g. `file:///data/savepoints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavepointLayout {
    root: Url,
}

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
    /// characters, or carry credentials, a query or a fragment.
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
        Ok(Self { root: url })
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
    /// `savepoint-*` directories, are ignored: the layout never touches
    /// what it did not write. Dated folders beyond `now` + [`FUTURE_SKEW`]
    /// are reported in [`Listing::ignored_future`]. The job's legacy folder
    /// (when it differs) is read too; see [`legacy_job_folder`].
    pub fn list(&self, job_name: &str, now: OffsetDateTime) -> Result<Listing, LayoutError> {
        let root = self.local_root()?;
        let now = now.to_offset(time::UtcOffset::UTC);
        let latest = PrimitiveDateTime::new(now.date(), now.time()) + FUTURE_SKEW;

        let mut found = Vec::new();
        scan(&root.join(job_folder(job_name)), &mut found)?;
        let mut ambiguous = Vec::new();
        let legacy = legacy_job_folder(job_name);
        let legacy_dir = root.join(&legacy);
        if legacy != job_folder(job_name) && legacy_dir.is_dir() {
            if another_claimant(&root, job_name, &legacy)?.is_some() {
                scan(&legacy_dir, &mut ambiguous)?;
            } else {
                scan(&legacy_dir, &mut found)?;
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
    pub fn newest(&self, job_name: &str) -> Result<Option<StoredSavepoint>, LayoutError> {
        Ok(self
            .list(job_name, OffsetDateTime::now_utc())?
            .newest()
            .cloned())
    }

    fn local_root(&self) -> Result<PathBuf, LayoutError> {
        if self.root.scheme() != "file" {
            return Err(LayoutError::UnsupportedScheme(self.root.to_string()));
        }
        self.root
            .to_file_path()
            .map_err(|_| LayoutError::InvalidRoot(self.root.to_string()))
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
type Found = (Option<std::time::SystemTime>, StoredSavepoint);

/// Collects the `savepoint-*` folders of the dated folders of `job_dir`.
fn scan(job_dir: &Path, found: &mut Vec<Found>) -> Result<(), LayoutError> {
    for dated in subdirs(job_dir)? {
        let Some(taken_at) = dated
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| PrimitiveDateTime::parse(n, DATE_FOLDER).ok())
        else {
            continue;
        };
        for savepoint in subdirs(&dated)? {
            let is_savepoint = savepoint
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("savepoint-"));
            if !is_savepoint {
                continue;
            }
            let metadata = savepoint.join("_metadata");
            found.push((
                metadata.metadata().and_then(|m| m.modified()).ok(),
                StoredSavepoint {
                    taken_at,
                    location: format!("file:{}", savepoint.display()),
                    complete: metadata.is_file(),
                },
            ));
        }
    }
    Ok(())
}

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

/// A URL as the literal string Flink is given: scheme and authority, then
/// the percent-decoded path (Flink's `Path` decodes nothing).
fn literal(url: &Url) -> String {
    let path = decoded_path(url).expect("checked to be UTF-8 when the layout was made");
    format!("{}{path}", &url[..url::Position::BeforePath])
}

fn decoded_path(url: &Url) -> Option<String> {
    percent_encoding::percent_decode_str(url.path())
        .decode_utf8()
        .ok()
        .map(|p| p.into_owned())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, LayoutError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LayoutError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The longest job folder name: its jar (`flink-deploy--<folder>--<time>.jar`) and its folder
/// must stay under the 255 bytes most filesystems allow in one name.
pub const MAX_JOB_FOLDER: usize = 200;

/// A job name as users type it (`--job-name`): not blank, and short enough for its folder
/// ([`MAX_JOB_FOLDER`] bytes once escaped) that Flink can create it and its jar can be stored.
pub fn parse_job_name(name: &str) -> Result<String, String> {
    if name.trim().is_empty() {
        return Err("the job name is empty".into());
    }
    let folder = job_folder(name).len();
    if folder > MAX_JOB_FOLDER {
        return Err(format!(
            "the job name is too long: its folder name would be {folder} bytes (at most \
             {MAX_JOB_FOLDER}; bytes outside [A-Za-z0-9._-] count three); use a shorter name"
        ));
    }
    Ok(name.to_string())
}

/// The folder name of a job: its name with every byte outside
/// `[A-Za-z0-9._-]`, and a leading `.`, written as `~` and two uppercase
/// hex digits (`my job` → `my~20job`, `ünï` → `~C3~BCn~C3~AF`, `.x` → `~2Ex`;
/// the empty name is `~`). [`job_name_of`] reverses it.
///
/// One more byte is escaped: a name that would otherwise end in `-` and
/// eight lowercase hex digits (`orders-1a2b3c4d` → `orders~2D1a2b3c4d`),
/// because that is the shape of a [`legacy_job_folder`]: so no job's folder
/// is ever another job's legacy folder.
pub fn job_folder(job_name: &str) -> String {
    if job_name.is_empty() {
        return "~".into();
    }
    let mut folder = String::with_capacity(job_name.len());
    for (i, b) in job_name.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            folder.push(char::from(b));
        } else {
            let _ = write!(folder, "~{b:02X}");
        }
    }
    if !folder.contains('~') && has_legacy_hash(&folder) {
        let dash = folder.len() - 9;
        folder.replace_range(dash..=dash, "~2D");
    }
    folder
}

/// The job name whose [`job_folder`] is `folder`, if any.
pub fn job_name_of(folder: &str) -> Option<String> {
    if folder == "~" {
        return Some(String::new());
    }
    let mut bytes = Vec::with_capacity(folder.len());
    let mut rest = folder.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'~' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let name = String::from_utf8(bytes).ok()?;
    // Only the one spelling job_folder produces (uppercase hex, nothing
    // escaped that need not be) belongs to a job.
    (job_folder(&name) == folder).then_some(name)
}

/// Ends in `-` and eight lowercase hex digits, like `{readable}-{hash:08x}`.
fn has_legacy_hash(folder: &str) -> bool {
    let b = folder.as_bytes();
    b.len() >= 9
        && b[b.len() - 9] == b'-'
        && b[b.len() - 8..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// The folder earlier versions gave a job: the name itself when made of
/// `[A-Za-z0-9._-]` and not starting with `.`, otherwise those characters
/// kept, the rest replaced by `-`, and an FNV-1a hash of the name appended
/// (`my job` → `my-job-6e279c60`).
///
/// That mapping was not injective: a job literally named `my-job-6e279c60`
/// got the same folder. Since [`job_folder`] escapes names of that shape,
/// no job writes there any more, and listing a job still reads its legacy
/// folder when it differs from its current one, so savepoints taken before
/// the upgrade are restored. A legacy folder may hold another job's
/// savepoints only when that other job's legacy folder is the same one.
/// When such a job shows up under the root (its current folder exists),
/// [`SavepointLayout::list`] reads neither job's legacy folder into
/// `savepoints` but reports it in [`Listing::ambiguous_legacy`], so one
/// job's state is never restored into another automatically; legacy
/// folders are never disposed from ([`SavepointLayout::contains`] excludes
/// them). The one case this cannot see: both jobs ran only before the
/// upgrade and one of them has not run since; then its twin reads the
/// shared folder as before the upgrade.
pub fn legacy_job_folder(job_name: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !job_name.is_empty() && job_name.chars().all(safe) && !job_name.starts_with('.') {
        return job_name.to_string();
    }
    let readable: String = job_name
        .chars()
        .map(|c| if safe(c) { c } else { '-' })
        .collect();
    format!(
        "{}-{:08x}",
        readable.trim_start_matches('.'),
        fnv1a(job_name.as_bytes())
    )
}

/// A job other than `job_name` whose current folder exists under `root`
/// and whose legacy folder is `legacy` too.
fn another_claimant(
    root: &Path,
    job_name: &str,
    legacy: &str,
) -> Result<Option<String>, LayoutError> {
    for dir in subdirs(root)? {
        let Some(other) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(job_name_of)
        else {
            continue;
        };
        if other != job_name && legacy_job_folder(&other) == legacy {
            return Ok(Some(other));
        }
    }
    Ok(None)
}

/// FNV-1a, 32 bits: stable across versions and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let err = SavepointLayout::new("gs://b/sp")
            .unwrap()
            .list("orders", NOW)
            .unwrap_err();
        assert!(err.to_string().contains("only file://"), "{err}");
    }

    #[test]
    fn listing_finds_complete_savepoints_newest_last_and_ignores_the_rest() {
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

        let all = layout.list("orders", NOW).unwrap();
        assert_eq!(all.savepoints.len(), 3, "{all:?}");
        assert!(all.ignored_future.is_empty() && all.ambiguous_legacy.is_empty());
        assert!(all.savepoints[0]
            .location
            .ends_with("/orders/2026-11-23-18-15/savepoint-aaaaaa-1"));
        assert!(!all.savepoints[2].complete);
        let newest = layout
            .list("orders", NOW)
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
        assert_eq!(layout.list("missing", NOW).unwrap(), Listing::default());
    }

    #[test]
    fn future_dated_folders_never_win_and_are_reported() {
        let root = tempfile::tempdir().unwrap();
        let layout = SavepointLayout::new(root.path().to_str().unwrap()).unwrap();
        let r = root.path();
        let real = make(r, "orders", "2026-11-23-18-45", "savepoint-aaaaaa-1", true);
        // Within the skew allowance: a clock a little ahead still counts.
        let skewed = make(r, "orders", "2026-11-23-20-00", "savepoint-aaaaaa-2", true);
        let typo = make(r, "orders", "2099-01-01-00-00", "savepoint-aaaaaa-3", true);
        let ahead = make(r, "orders", "2026-11-23-20-01", "savepoint-aaaaaa-4", true);

        let listing = layout.list("orders", NOW).unwrap();
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
        let listing = layout.list("orders", NOW).unwrap();
        assert!(listing.newest().is_none());
        assert_eq!(listing.ignored_future.len(), 1);
    }

    #[test]
    fn legacy_folders_are_read_until_another_job_claims_them() {
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
        let listing = layout.list("my job", NOW).unwrap();
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
        let listing = layout.list("my job", NOW).unwrap();
        assert_eq!(listing.savepoints.len(), 2);
        assert_eq!(listing.newest().unwrap().location, new);
        assert!(layout.contains("my job", &new));

        // A job literally named like the legacy folder has its own folder now...
        assert_eq!(
            layout
                .list("my-job-6e279c60", NOW)
                .unwrap()
                .savepoints
                .len(),
            0,
            "it reads the legacy folder only as ambiguous: 'my job' has a folder"
        );
        let twin = layout.list("my-job-6e279c60", NOW).unwrap();
        assert_eq!(twin.ambiguous_legacy.len(), 1);
        // ...and once it has written there, "my job" stops trusting the shared folder too.
        make(
            r,
            "my-job~2D6e279c60",
            "2026-11-23-18-40",
            "savepoint-bbbbbb-1",
            true,
        );
        let listing = layout.list("my job", NOW).unwrap();
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
        let twin = layout.list("my-job-6e279c60", NOW).unwrap();
        assert_eq!(twin.savepoints.len(), 1);
        assert!(twin.savepoints[0].location.contains("/my-job~2D6e279c60/"));
        assert_eq!(twin.ambiguous_legacy.len(), 1);

        // Same names (plain ones) have no legacy folder to read twice.
        make(r, "orders", "2026-11-23-18-00", "savepoint-cccccc-1", true);
        assert_eq!(layout.list("orders", NOW).unwrap().savepoints.len(), 1);
    }
}
