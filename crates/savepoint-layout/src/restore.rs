//! "Newest restore point wins": what a job that is not running is started from.
//!
//! A job's restore points are its complete savepoints in the layout and the retained
//! checkpoints of its last known job ids (`<checkpoint dir>/<job id>/chk-N/_metadata`, which
//! Flink keeps with `externalized-checkpoint-retention: RETAIN_ON_CANCELLATION`, and which a
//! JobManager that crashed leaves behind anyway). The one taken last wins, whichever kind it
//! is: a savepoint taken every 15 minutes is often older than the last checkpoint, and
//! restoring it would lose what the job did in between.
//!
//! "Taken" is when its `_metadata` was written (Flink writes it last, when the snapshot
//! completes); a savepoint without that time falls back to the end of its dated folder's minute.
//! [`newest`] decides; [`retained_checkpoints`] lists a checkpoint directory.

use std::time::SystemTime;

use time::{OffsetDateTime, PrimitiveDateTime};

use crate::{LayoutError, Listing, SavepointLayout, StoredSavepoint};

/// Flink's keys for the checkpoint directory, the current one first (1.20 renamed
/// `state.checkpoints.dir`, which stays a fallback): a job's configuration wins over the
/// cluster's, and within one configuration the first key set wins.
pub const CHECKPOINT_DIR_KEYS: [&str; 2] = ["execution.checkpointing.dir", "state.checkpoints.dir"];

/// What kind of snapshot a restore point is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreKind {
    /// A savepoint in the layout.
    Savepoint,
    /// A retained checkpoint of job `job_id`, number `number` (`chk-N`).
    Checkpoint {
        /// The id of the job that wrote it.
        job_id: String,
        /// Its `N`.
        number: u64,
    },
}

/// A snapshot a job can be started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePoint {
    /// Its location as Flink takes it for `savepointPath`.
    pub location: String,
    /// When it completed (its `_metadata` was written).
    pub taken_at: SystemTime,
    /// Savepoint or checkpoint.
    pub kind: RestoreKind,
}

impl RestorePoint {
    /// The savepoint `s` as a restore point; `None` when it is incomplete.
    pub fn of_savepoint(s: &StoredSavepoint) -> Option<RestorePoint> {
        s.complete.then(|| RestorePoint {
            location: s.location.clone(),
            taken_at: s.completed_at.unwrap_or_else(|| minute_end(s.taken_at)),
            kind: RestoreKind::Savepoint,
        })
    }

    /// `savepoint taken 2026-11-23T18:15:42Z` or `checkpoint 7 of job 3f2a… taken …`.
    pub fn describe(&self) -> String {
        let at = OffsetDateTime::from(self.taken_at);
        let when = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        match &self.kind {
            RestoreKind::Savepoint => format!("savepoint {} taken {when}", self.location),
            RestoreKind::Checkpoint { job_id, number } => format!(
                "retained checkpoint {number} of job {job_id} ({}) taken {when}",
                self.location
            ),
        }
    }
}

/// The last moment of a dated folder's minute: a savepoint in `18-15` completed by 18:15:59.
fn minute_end(taken_at: PrimitiveDateTime) -> SystemTime {
    (taken_at.assume_utc() + time::Duration::seconds(59)).into()
}

/// The newest of the complete savepoints of `listing` and of `checkpoints`, by the time each
/// was taken. On a tie the savepoint wins (it is self-contained and portable). Points dated
/// more than [`crate::FUTURE_SKEW`] after `now` never win (a clock far off is no evidence).
pub fn newest(
    listing: &Listing,
    checkpoints: &[RestorePoint],
    now: SystemTime,
) -> Option<RestorePoint> {
    let latest = now + std::time::Duration::from_secs(crate::FUTURE_SKEW.whole_seconds() as u64);
    let rank = |p: &RestorePoint| {
        let number = match p.kind {
            RestoreKind::Savepoint => u64::MAX,
            RestoreKind::Checkpoint { number, .. } => number,
        };
        (p.taken_at, number)
    };
    listing
        .savepoints
        .iter()
        .filter_map(RestorePoint::of_savepoint)
        .chain(checkpoints.iter().cloned())
        .filter(|p| p.taken_at <= latest)
        .max_by_key(rank)
}

/// The checkpoint directory a job writes to: the first of [`CHECKPOINT_DIR_KEYS`] set in its
/// own configuration, else in the cluster's.
pub fn checkpoint_dir<'a>(
    job_config: impl Fn(&str) -> Option<&'a str>,
    cluster_config: impl Fn(&str) -> Option<&'a str>,
) -> Option<&'a str> {
    let first = |get: &dyn Fn(&str) -> Option<&'a str>| {
        CHECKPOINT_DIR_KEYS
            .iter()
            .find_map(|k| get(k).filter(|v| !v.trim().is_empty()))
    };
    first(&job_config).or_else(|| first(&cluster_config))
}

/// The complete retained checkpoints of job `job_id` under the checkpoint directory `dir`
/// (a path, `file://`, `gs://` or `s3://`): `<dir>/<job id>/chk-N/` with a `_metadata`,
/// oldest first. Nothing when the folder does not exist.
pub async fn retained_checkpoints(
    dir: &str,
    job_id: &str,
) -> Result<Vec<RestorePoint>, LayoutError> {
    // A job id is 32 hex digits: never a path of its own.
    if job_id.len() != 32 || !job_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Vec::new());
    }
    let root = SavepointLayout::new(dir)?;
    let mut found = Vec::new();
    for entry in root.store.entries(job_id).await? {
        let Some((folder, "_metadata")) = entry.relative.split_once('/') else {
            continue;
        };
        let Some(number) = folder
            .strip_prefix("chk-")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let Some(taken_at) = entry.modified.filter(|_| !entry.is_dir) else {
            continue;
        };
        found.push(RestorePoint {
            location: root.store.location(&format!("{job_id}/{folder}")),
            taken_at,
            kind: RestoreKind::Checkpoint {
                job_id: job_id.to_string(),
                number,
            },
        });
    }
    found.sort_by_key(|p| match p.kind {
        RestoreKind::Checkpoint { number, .. } => number,
        RestoreKind::Savepoint => 0,
    });
    Ok(found)
}

/// Where to look for one job's retained checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CheckpointsOf {
    /// The checkpoint directory (without the job id).
    pub dir: String,
    /// The job's id.
    pub job_id: String,
}

/// The retained checkpoints of every source (each listed once), and what could not be listed
/// (`dir: why`, for a warning: a checkpoint directory this process cannot read leaves the
/// savepoints to decide, it does not stop a restore).
pub async fn checkpoints_of(sources: &[CheckpointsOf]) -> (Vec<RestorePoint>, Vec<String>) {
    let mut unique = sources.to_vec();
    unique.sort();
    unique.dedup();
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    for source in &unique {
        match retained_checkpoints(&source.dir, &source.job_id).await {
            Ok(points) => found.extend(points),
            Err(e) => problems.push(format!(
                "{}/{}: {e}",
                source.dir.trim_end_matches('/'),
                source.job_id
            )),
        }
    }
    (found, problems)
}

/// The checkpoint directory of job `job_id` from the location of one of its checkpoints
/// (`file:/chk/<job id>/chk-7` → `file:/chk`), when that location has the usual shape.
pub fn checkpoint_dir_of(location: &str, job_id: &str) -> Option<String> {
    let (job_dir, chk) = location.trim_end_matches('/').rsplit_once('/')?;
    let (dir, id) = job_dir.rsplit_once('/')?;
    (chk.starts_with("chk-") && id == job_id && !dir.is_empty()).then(|| dir.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use time::macros::datetime;

    fn at(t: OffsetDateTime) -> SystemTime {
        t.into()
    }

    fn savepoint(folder: PrimitiveDateTime, completed: Option<OffsetDateTime>) -> StoredSavepoint {
        StoredSavepoint {
            taken_at: folder,
            location: format!("file:/sp/orders/{folder}/savepoint-a"),
            complete: true,
            bytes: 1,
            completed_at: completed.map(at),
        }
    }

    fn checkpoint(number: u64, taken: OffsetDateTime) -> RestorePoint {
        RestorePoint {
            location: format!("file:/chk/{}/chk-{number}", "a".repeat(32)),
            taken_at: at(taken),
            kind: RestoreKind::Checkpoint {
                job_id: "a".repeat(32),
                number,
            },
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-23 19:00 UTC);

    #[test]
    fn a_checkpoint_newer_than_the_newest_savepoint_wins() {
        let listing = Listing {
            savepoints: vec![
                savepoint(
                    datetime!(2026-11-23 18:15),
                    Some(datetime!(2026-11-23 18:15:20 UTC)),
                ),
                savepoint(
                    datetime!(2026-11-23 18:30),
                    Some(datetime!(2026-11-23 18:30:20 UTC)),
                ),
            ],
            ..Listing::default()
        };
        let chk = [
            checkpoint(3, datetime!(2026-11-23 18:29 UTC)),
            checkpoint(4, datetime!(2026-11-23 18:31 UTC)),
        ];
        let newest = newest(&listing, &chk, at(NOW)).unwrap();
        assert_eq!(newest, chk[1]);
        // An older checkpoint loses to the savepoint taken after it.
        let newest = super::newest(&listing, &chk[..1], at(NOW)).unwrap();
        assert_eq!(newest.kind, RestoreKind::Savepoint);
        assert!(newest.location.contains("18:30"), "{newest:?}");
    }

    #[test]
    fn within_one_minute_the_metadata_time_decides() {
        // The dated folder says 18:30; the checkpoint at 18:30:40 came after the savepoint.
        let listing = Listing {
            savepoints: vec![savepoint(
                datetime!(2026-11-23 18:30),
                Some(datetime!(2026-11-23 18:30:10 UTC)),
            )],
            ..Listing::default()
        };
        let chk = [checkpoint(9, datetime!(2026-11-23 18:30:40 UTC))];
        assert_eq!(newest(&listing, &chk, at(NOW)).unwrap(), chk[0]);
        // Without the metadata's time the savepoint counts as late as its minute allows.
        let listing = Listing {
            savepoints: vec![savepoint(datetime!(2026-11-23 18:30), None)],
            ..Listing::default()
        };
        assert_eq!(
            newest(&listing, &chk, at(NOW)).unwrap().kind,
            RestoreKind::Savepoint
        );
    }

    #[test]
    fn incomplete_and_future_points_never_win_and_nothing_is_none() {
        let mut incomplete = savepoint(datetime!(2026-11-23 18:50), None);
        incomplete.complete = false;
        let listing = Listing {
            savepoints: vec![incomplete],
            ..Listing::default()
        };
        assert_eq!(newest(&listing, &[], at(NOW)), None);
        assert_eq!(newest(&Listing::default(), &[], at(NOW)), None);
        let far = checkpoint(5, datetime!(2099-01-01 00:00 UTC));
        let real = checkpoint(4, datetime!(2026-11-23 18:00 UTC));
        assert_eq!(newest(&listing, &[real.clone(), far], at(NOW)), Some(real));
    }

    #[test]
    fn the_jobs_checkpoint_dir_wins_over_the_clusters() {
        let job = |k: &str| (k == "state.checkpoints.dir").then_some("file:///job");
        let cluster = |k: &str| (k == "execution.checkpointing.dir").then_some("file:///cluster");
        let none = |_: &str| None;
        assert_eq!(checkpoint_dir(job, cluster), Some("file:///job"));
        assert_eq!(checkpoint_dir(none, cluster), Some("file:///cluster"));
        assert_eq!(checkpoint_dir(none, none), None);
        let blank = |_: &str| Some(" ");
        assert_eq!(checkpoint_dir(blank, cluster), Some("file:///cluster"));
    }

    #[test]
    fn a_checkpoint_location_names_its_directory() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            checkpoint_dir_of(&format!("file:/data/chk/{id}/chk-7"), id).as_deref(),
            Some("file:/data/chk")
        );
        assert_eq!(
            checkpoint_dir_of(&format!("gs://b/chk/{id}/chk-7/"), id).as_deref(),
            Some("gs://b/chk")
        );
        assert_eq!(
            checkpoint_dir_of(&format!("file:/chk/{id}/chk-7"), &"f".repeat(32)),
            None
        );
        assert_eq!(
            checkpoint_dir_of("file:/sp/orders/2026/savepoint-a", id),
            None
        );
    }

    #[tokio::test]
    async fn retained_checkpoints_are_the_complete_chk_folders_of_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let job = "0123456789abcdef0123456789abcdef";
        for (name, complete) in [("chk-2", true), ("chk-10", true), ("chk-11", false)] {
            let d = dir.path().join(job).join(name);
            std::fs::create_dir_all(&d).unwrap();
            if complete {
                std::fs::write(d.join("_metadata"), b"x").unwrap();
            }
        }
        std::fs::create_dir_all(dir.path().join(job).join("shared")).unwrap();
        std::fs::create_dir_all(dir.path().join("ffffffffffffffffffffffffffffffff/chk-99"))
            .unwrap();
        std::fs::write(
            dir.path()
                .join("ffffffffffffffffffffffffffffffff/chk-99/_metadata"),
            b"x",
        )
        .unwrap();
        let root = dir.path().to_str().unwrap();
        let found = retained_checkpoints(root, job).await.unwrap();
        let numbers: Vec<_> = found
            .iter()
            .map(|p| match &p.kind {
                RestoreKind::Checkpoint { number, job_id } => {
                    assert_eq!(job_id, job);
                    *number
                }
                RestoreKind::Savepoint => panic!("{p:?}"),
            })
            .collect();
        assert_eq!(numbers, [2, 10]);
        assert_eq!(
            found[1].location,
            format!("file:{}/{job}/chk-10", dir.path().display())
        );
        assert!(found[1].taken_at <= SystemTime::now() + Duration::from_secs(1));
        // No such job's folder, or not a job id: nothing.
        assert!(retained_checkpoints(root, &"e".repeat(32))
            .await
            .unwrap()
            .is_empty());
        assert!(retained_checkpoints(root, "../x").await.unwrap().is_empty());
    }
}
