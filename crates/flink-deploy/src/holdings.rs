//! What the savepoint layout holds for one job, as `plan` and `status` show it, and the exit code
//! of a layout that cannot be listed.

pub use savepoint_layout::literal;
use savepoint_layout::{Blame, LayoutError, Listing, SavepointLayout, StoredSavepoint};
use serde::Serialize;

use crate::outcome::Exit;

/// One savepoint of the layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// Its location as Flink names it (`gs://bucket/sp/orders/2026-11-23-18-15/savepoint-…`).
    pub location: String,
    /// Its dated folder, UTC (`2026-11-23T18:15Z`).
    pub taken_at: String,
    /// The bytes of its files.
    pub bytes: u64,
}

impl From<&StoredSavepoint> for Found {
    fn from(s: &StoredSavepoint) -> Self {
        let t = s.taken_at;
        Found {
            location: s.location.clone(),
            taken_at: format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            ),
            bytes: s.bytes,
        }
    }
}

/// Savepoints the layout holds but never restores on its own (see [`Listing::set_aside`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetAside {
    /// Why they are set aside.
    pub why: &'static str,
    /// How many.
    pub count: usize,
    /// The newest of them.
    pub newest: String,
}

/// What the layout holds for one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holdings {
    /// The job's name.
    pub job_name: String,
    /// The job's folder (`gs://bucket/sp/orders/`).
    pub folder: String,
    /// The newest complete savepoint: what a deploy of the job, not running, restores from.
    pub newest_complete: Option<Found>,
    /// Complete savepoints (restorable).
    pub complete: usize,
    /// Savepoints without `_metadata` (Flink did not finish them; never restored).
    pub incomplete: usize,
    /// The bytes of all of them, complete and incomplete.
    pub bytes: u64,
    /// Savepoints never restored on their own.
    pub set_aside: Vec<SetAside>,
}

impl Holdings {
    /// The summary of `listing`, `job_name`'s in `layout`.
    pub fn of(layout: &SavepointLayout, job_name: &str, listing: &Listing) -> Holdings {
        let complete = listing.savepoints.iter().filter(|s| s.complete).count();
        Holdings {
            job_name: job_name.to_string(),
            folder: literal(&layout.job_dir(job_name)),
            newest_complete: listing.newest().map(Found::from),
            complete,
            incomplete: listing.savepoints.len() - complete,
            bytes: listing.savepoints.iter().map(|s| s.bytes).sum(),
            set_aside: listing
                .set_aside()
                .into_iter()
                .map(|(why, found)| SetAside {
                    why,
                    count: found.len(),
                    newest: found[found.len() - 1].location.clone(),
                })
                .collect(),
        }
    }

    /// One line: counts, size and the newest complete savepoint.
    pub fn summary(&self) -> String {
        let mut counts = format!("{} complete", self.complete);
        if self.incomplete > 0 {
            counts.push_str(&format!(", {} incomplete", self.incomplete));
        }
        let newest = match &self.newest_complete {
            Some(n) => format!("newest {} ({})", n.location, n.taken_at),
            None => "none to restore".into(),
        };
        format!("{counts}, {}; {newest}", size(self.bytes))
    }
}

/// Bytes for people: `512 B`, `12.3 KiB`, `4.0 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The exit code of a layout that cannot be listed: its configuration's fault (no such bucket,
/// access denied, no credentials, a bad root) is invalid input, 2; a store that does not answer,
/// or answers oddly, is 3.
pub fn exit_of(e: &LayoutError) -> Exit {
    match e.blame() {
        Blame::Input => Exit::Usage,
        Blame::Unreachable => Exit::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use savepoint_layout::StoreError;
    use time::macros::datetime;

    fn sp(at: time::PrimitiveDateTime, name: &str, complete: bool, bytes: u64) -> StoredSavepoint {
        StoredSavepoint {
            taken_at: at,
            location: format!("gs://b/sp/orders/x/{name}"),
            complete,
            bytes,
            completed_at: None,
        }
    }

    #[test]
    fn holdings_count_and_name_the_newest_complete_one() {
        let layout = SavepointLayout::new("gs://b/save points").unwrap();
        let listing = Listing {
            savepoints: vec![
                sp(datetime!(2026-11-23 18:15), "savepoint-a", true, 1000),
                sp(datetime!(2026-11-23 18:30), "savepoint-b", true, 2000),
                sp(datetime!(2026-11-23 18:45), "savepoint-c", false, 48),
            ],
            ignored_future: vec![sp(datetime!(2099-01-01 00:00), "savepoint-d", true, 1)],
            ambiguous_legacy: vec![],
        };
        let h = Holdings::of(&layout, "orders", &listing);
        assert_eq!(h.folder, "gs://b/save points/orders/");
        assert_eq!((h.complete, h.incomplete, h.bytes), (2, 1, 3048));
        let newest = h.newest_complete.as_ref().unwrap();
        assert_eq!(newest.location, "gs://b/sp/orders/x/savepoint-b");
        assert_eq!(newest.taken_at, "2026-11-23T18:30Z");
        assert_eq!(h.set_aside.len(), 1);
        assert_eq!(h.set_aside[0].newest, "gs://b/sp/orders/x/savepoint-d");
        assert_eq!(
            h.summary(),
            "2 complete, 1 incomplete, 3.0 KiB; newest gs://b/sp/orders/x/savepoint-b (2026-11-23T18:30Z)"
        );
        let empty = Holdings::of(&layout, "orders", &Listing::default());
        assert_eq!(empty.summary(), "0 complete, 0 B; none to restore");
    }

    #[test]
    fn a_store_problem_is_the_configurations_or_the_stores() {
        let bucket = || "gs://b".to_string();
        let detail = || "x".to_string();
        for (e, exit) in [
            (StoreError::NoSuchBucket { bucket: bucket() }, Exit::Usage),
            (
                StoreError::Denied {
                    bucket: bucket(),
                    detail: detail(),
                },
                Exit::Usage,
            ),
            (
                StoreError::NoCredentials {
                    bucket: bucket(),
                    detail: detail(),
                },
                Exit::Usage,
            ),
            (
                StoreError::Unreachable {
                    bucket: bucket(),
                    detail: detail(),
                },
                Exit::Unreachable,
            ),
            (
                StoreError::Other {
                    bucket: bucket(),
                    detail: detail(),
                },
                Exit::Unreachable,
            ),
        ] {
            assert_eq!(exit_of(&LayoutError::Store(e.clone())), exit, "{e}");
        }
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
