//! Which savepoints of a job to dispose: a pure decision, unit tested here,
//! carried out by the caller (through the store for a bucket, through
//! Flink's `/savepoint-disposal` for a local root).

use std::collections::HashSet;
use std::time::Duration;

use savepoint_layout::{normalize, StoredSavepoint};
use time::PrimitiveDateTime;

/// How many savepoints to keep, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep this many complete savepoints per job, newest first (at least 1).
    pub keep: usize,
    /// Also dispose complete savepoints taken longer ago than this.
    pub max_age: Option<Duration>,
}

/// True when `location` is one of `restored` (the normalized paths active
/// jobs restored from, as Flink reports them): the `protected` test of
/// [`to_dispose`].
pub fn is_protected(restored: &HashSet<String>, location: &str) -> bool {
    restored.contains(&normalize(location))
}

/// The savepoints to dispose, oldest first, from a job's savepoints as the
/// layout lists them (oldest first).
///
/// Never chosen: the newest complete savepoint; a savepoint `protected`
/// says a job restored from; an incomplete one (no `_metadata`: being
/// written, or left behind by a failure, and not something Flink could
/// dispose). Protected savepoints still count towards `keep`.
pub fn to_dispose<'a>(
    stored: &'a [StoredSavepoint],
    policy: &Retention,
    now: PrimitiveDateTime,
    protected: impl Fn(&str) -> bool,
) -> Vec<&'a StoredSavepoint> {
    let keep = policy.keep.max(1);
    let too_old = |s: &StoredSavepoint| match policy.max_age {
        Some(max_age) => (now - s.taken_at) > max_age,
        None => false,
    };
    let mut chosen: Vec<&StoredSavepoint> = stored
        .iter()
        .rev()
        .filter(|s| s.complete)
        .enumerate()
        // Rank 0 is the newest complete one: never disposed.
        .filter(|(rank, s)| *rank > 0 && (*rank >= keep || too_old(s)))
        .map(|(_, s)| s)
        .filter(|s| !protected(&s.location))
        .collect();
    chosen.reverse();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sp(taken_at: PrimitiveDateTime, n: u32, complete: bool) -> StoredSavepoint {
        StoredSavepoint {
            taken_at,
            location: format!("file:/sp/orders/x/savepoint-{n}"),
            complete,
            bytes: 1,
            completed_at: None,
        }
    }

    fn names(chosen: &[&StoredSavepoint]) -> Vec<String> {
        chosen
            .iter()
            .map(|s| s.location.rsplit('/').next().unwrap().to_string())
            .collect()
    }

    fn five() -> Vec<StoredSavepoint> {
        (0..5)
            .map(|i| {
                sp(
                    datetime!(2026-11-23 18:00) + time::Duration::minutes(15 * i64::from(i)),
                    i,
                    true,
                )
            })
            .collect()
    }

    const NOW: PrimitiveDateTime = datetime!(2026-11-23 19:10);

    #[test]
    fn keeps_the_newest_n() {
        let all = five();
        let policy = Retention {
            keep: 2,
            max_age: None,
        };
        let chosen = to_dispose(&all, &policy, NOW, |_| false);
        assert_eq!(
            names(&chosen),
            ["savepoint-0", "savepoint-1", "savepoint-2"]
        );
        let policy = Retention {
            keep: 8,
            max_age: None,
        };
        assert!(to_dispose(&all, &policy, NOW, |_| false).is_empty());
    }

    #[test]
    fn max_age_disposes_old_ones_but_never_the_newest() {
        let all = five();
        let policy = Retention {
            keep: 100,
            max_age: Some(Duration::from_secs(30 * 60)),
        };
        // 18:00, 18:15, 18:30 are older than 30 minutes at 19:10.
        let chosen = to_dispose(&all, &policy, NOW, |_| false);
        assert_eq!(
            names(&chosen),
            ["savepoint-0", "savepoint-1", "savepoint-2"]
        );
        // A day later everything is too old; the newest stays.
        let later = NOW + time::Duration::days(1);
        let chosen = to_dispose(&all, &policy, later, |_| false);
        assert_eq!(chosen.len(), 4);
        assert!(!names(&chosen).contains(&"savepoint-4".to_string()));
    }

    #[test]
    fn the_newest_complete_one_survives_even_keep_one_and_incomplete_newer_ones() {
        let mut all = five();
        all.push(sp(datetime!(2026-11-23 19:05), 5, false));
        let policy = Retention {
            keep: 1,
            max_age: Some(Duration::ZERO),
        };
        let chosen = to_dispose(&all, &policy, NOW, |_| false);
        assert_eq!(
            names(&chosen),
            ["savepoint-0", "savepoint-1", "savepoint-2", "savepoint-3"]
        );
        // keep 0 is treated as 1.
        let policy = Retention {
            keep: 0,
            max_age: None,
        };
        assert_eq!(to_dispose(&all, &policy, NOW, |_| false).len(), 4);
    }

    #[test]
    fn incomplete_ones_are_never_chosen() {
        let mut all = five();
        all[0].complete = false;
        let policy = Retention {
            keep: 1,
            max_age: None,
        };
        let chosen = to_dispose(&all, &policy, NOW, |_| false);
        assert_eq!(
            names(&chosen),
            ["savepoint-1", "savepoint-2", "savepoint-3"]
        );
    }

    #[test]
    fn a_savepoint_a_job_restored_from_is_kept() {
        let all = five();
        let policy = Retention {
            keep: 1,
            max_age: None,
        };
        let chosen = to_dispose(&all, &policy, NOW, |loc| loc.ends_with("savepoint-1"));
        assert_eq!(
            names(&chosen),
            ["savepoint-0", "savepoint-2", "savepoint-3"]
        );
    }

    #[test]
    fn nothing_listed_nothing_chosen() {
        let policy = Retention {
            keep: 1,
            max_age: Some(Duration::ZERO),
        };
        assert!(to_dispose(&[], &policy, NOW, |_| false).is_empty());
    }
}
