//! The savepoint layout flink-savepointer writes and flink-deploy reads:
//!
//! ```text
//! <root>/<job folder>/<UTC %Y-%m-%d-%H-%M>/savepoint-<jobid6>-<random>/_metadata
//! ```
//!
//! Flink creates the `savepoint-…` folder itself under the target
//! directory it is given; this crate decides the target directory and lists
//! what is there. The job folder is the job name when it is a safe folder
//! name, else a readable form of it plus a hash, so two names never share a
//! folder. Listing works for `file://` roots; other filesystems (`gs://`,
//! `s3://`) are refused with a clear error until a store for them exists.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use url::Url;

/// Errors of the layout.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The root is neither an absolute path nor a URL.
    #[error("'{0}' is not a savepoint directory: give an absolute path or a URL such as file:///data/savepoints or gs://bucket/savepoints")]
    InvalidRoot(String),
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

const DATE_FOLDER: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]-[hour]-[minute]");

impl SavepointLayout {
    /// A layout rooted at `root`: an absolute path or a URL.
    pub fn new(root: &str) -> Result<Self, LayoutError> {
        let trimmed = root.trim().trim_end_matches('/');
        let url = if trimmed.starts_with('/') {
            Url::from_directory_path(trimmed)
                .map_err(|_| LayoutError::InvalidRoot(root.to_string()))?
        } else {
            let mut url =
                Url::parse(trimmed).map_err(|_| LayoutError::InvalidRoot(root.to_string()))?;
            if url.cannot_be_a_base() {
                return Err(LayoutError::InvalidRoot(root.to_string()));
            }
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            url
        };
        Ok(Self { root: url })
    }

    /// The root, ending in `/`.
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The folder of one job's savepoints, ending in `/`.
    pub fn job_dir(&self, job_name: &str) -> Url {
        self.root
            .join(&format!("{}/", job_folder(job_name)))
            .expect("job folders are valid relative URLs")
    }

    /// The target directory to hand Flink for a savepoint taken at `now`.
    pub fn target_dir(&self, job_name: &str, now: OffsetDateTime) -> String {
        let utc = now.to_offset(time::UtcOffset::UTC);
        let folder = utc.format(DATE_FOLDER).expect("a fixed format");
        let url = self
            .job_dir(job_name)
            .join(&folder)
            .expect("a valid folder");
        url.to_string()
    }

    /// True when `location` (as Flink reports it) lies inside this job's folder.
    pub fn contains(&self, job_name: &str, location: &str) -> bool {
        let dir = normalize(self.job_dir(job_name).as_str());
        normalize(location).starts_with(&dir)
    }

    /// The savepoints of a job, oldest first. Folders that are not dated
    /// folders, and entries that are not `savepoint-*` directories, are
    /// ignored: the layout never touches what it did not write.
    pub fn list(&self, job_name: &str) -> Result<Vec<StoredSavepoint>, LayoutError> {
        let job_dir = self.job_dir(job_name);
        if job_dir.scheme() != "file" {
            return Err(LayoutError::UnsupportedScheme(self.root.to_string()));
        }
        let dir = job_dir
            .to_file_path()
            .map_err(|_| LayoutError::InvalidRoot(self.root.to_string()))?;
        let mut found = Vec::new();
        for (dated, taken_at) in subdirs(&dir)?.into_iter().filter_map(|d| {
            let name = d.file_name()?.to_str()?.to_string();
            PrimitiveDateTime::parse(&name, DATE_FOLDER)
                .ok()
                .map(|t| (d, t))
        }) {
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
        // Dated folders have minute resolution; within one, _metadata's time decides.
        found.sort_by_key(|(modified, s)| (s.taken_at, *modified));
        Ok(found.into_iter().map(|(_, s)| s).collect())
    }

    /// The newest complete savepoint of a job, if any.
    pub fn newest(&self, job_name: &str) -> Result<Option<StoredSavepoint>, LayoutError> {
        Ok(self.list(job_name)?.into_iter().rev().find(|s| s.complete))
    }
}

/// Compares Flink locations (`file:/a`, `file:///a`) as paths.
pub fn normalize(location: &str) -> String {
    let rest = location.strip_prefix("file:").unwrap_or(location);
    format!("/{}", rest.trim_start_matches('/'))
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

/// The folder name of a job: the name itself when it is made of letters,
/// digits, `.`, `_` and `-` only; otherwise those characters kept, the rest
/// replaced by `-`, and a hash of the exact name appended.
pub fn job_folder(job_name: &str) -> String {
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
    fn job_folders_are_unique_and_safe() {
        assert_eq!(job_folder("orders"), "orders");
        assert_eq!(job_folder("orders-v2"), "orders-v2");
        let spaced = job_folder("my job");
        assert!(spaced.starts_with("my-job-"), "{spaced}");
        assert_ne!(job_folder("my job"), job_folder("my/job"));
        assert_ne!(job_folder("my job"), "my-job");
        assert!(!job_folder("..").contains('/'));
        assert!(!job_folder("../etc").contains('/'));
        assert!(!job_folder("../etc").starts_with('.'));
        assert_ne!(job_folder(""), "");
    }

    #[test]
    fn roots_must_be_absolute() {
        assert!(SavepointLayout::new("relative/dir").is_err());
        assert!(SavepointLayout::new("file:///ok").is_ok());
        let err = SavepointLayout::new("gs://b/sp")
            .unwrap()
            .list("orders")
            .unwrap_err();
        assert!(err.to_string().contains("only file://"), "{err}");
    }

    #[test]
    fn listing_finds_complete_savepoints_newest_last_and_ignores_the_rest() {
        let root = tempfile::tempdir().unwrap();
        let layout = SavepointLayout::new(root.path().to_str().unwrap()).unwrap();
        let job = root.path().join("orders");
        let make = |dated: &str, name: &str, complete: bool| {
            let dir = job.join(dated).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            if complete {
                std::fs::write(dir.join("_metadata"), b"x").unwrap();
            }
        };
        make("2026-11-23-18-15", "savepoint-aaaaaa-1", true);
        make("2026-11-23-18-30", "savepoint-aaaaaa-2", true);
        make("2026-11-23-18-45", "savepoint-aaaaaa-3", false);
        make("2026-11-23-18-45", "not-a-savepoint", true);
        make("backup", "savepoint-aaaaaa-4", true);
        std::fs::create_dir_all(
            root.path()
                .join("orders-v2/2026-11-23-19-00/savepoint-bbbbbb-1"),
        )
        .unwrap();

        let all = layout.list("orders").unwrap();
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(all[0]
            .location
            .ends_with("/orders/2026-11-23-18-15/savepoint-aaaaaa-1"));
        assert!(!all[2].complete);
        let newest = layout.newest("orders").unwrap().unwrap();
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
        assert!(layout.list("missing").unwrap().is_empty());
    }
}
