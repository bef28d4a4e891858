//! `flink-savepointer prune`: retention alone, no savepoint taken.
//!
//! Which folders: with `--job-name`, each named job's folder, whether the job
//! runs or not (the newest complete savepoint always stays, so a stopped
//! job can still be restored); with `--all-jobs`, every job folder in the
//! layout and every active job. What stays besides the policy's: whatever
//! any active job on the JobManager restored from, so the JobManager must
//! answer; if it cannot, nothing is deleted (exit 3). Every listing is done
//! before the first delete: a store that fails (exit 2 or 3 by its blame)
//! leaves everything as it was.

use std::collections::BTreeSet;
use std::io::Write;

use savepoint_layout::Blame;
use time::OffsetDateTime;

use crate::exit::Exit;
use crate::printable;
use crate::round::{restored_from, Pruned, Savepointer};
use crate::select::Selector;
use crate::Failure;

/// What prune did with one job's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPrune {
    /// The job's name.
    pub name: String,
    /// True when an active job has this name on the JobManager.
    pub active: bool,
    /// What became of its savepoints.
    pub pruned: Pruned,
}

impl JobPrune {
    fn is_empty(&self) -> bool {
        let p = &self.pruned;
        p.deleted.is_empty()
            && p.would_delete.is_empty()
            && p.failed.is_empty()
            && p.kept.is_empty()
            && p.incomplete.is_empty()
            && p.set_aside.is_empty()
    }
}

/// What prune did, per job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Named: only for `--job-name`.
    pub named: bool,
    /// One per job folder looked at, by name.
    pub jobs: Vec<JobPrune>,
}

impl PruneReport {
    /// The exit code: 11 when a delete failed; 10 when a `--job-name` has
    /// neither an active job nor anything in the layout (a typo?); else 0.
    pub fn exit_code(&self) -> Exit {
        if self.jobs.iter().any(|j| !j.pruned.failed.is_empty()) {
            Exit::RetentionIncomplete
        } else if self.named && self.jobs.iter().any(|j| !j.active && j.is_empty()) {
            Exit::JobNotFound
        } else {
            Exit::Ok
        }
    }

    /// `<job name>\t<what>\t<location>` per savepoint, escaped like `once`'s
    /// lines; `<what>` is `deleted`, `would-delete`, `not-deleted`, `kept`,
    /// `incomplete` or `set-aside`.
    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        for job in &self.jobs {
            let name = printable(&job.name);
            let p = &job.pruned;
            let lines = p
                .deleted
                .iter()
                .map(|s| ("deleted", s))
                .chain(p.would_delete.iter().map(|s| ("would-delete", s)))
                .chain(p.failed.iter().map(|(s, _)| ("not-deleted", s)))
                .chain(p.kept.iter().map(|s| ("kept", s)))
                .chain(p.incomplete.iter().map(|s| ("incomplete", s)))
                .chain(p.set_aside.iter().map(|s| ("set-aside", s)));
            for (what, savepoint) in lines {
                writeln!(out, "{name}\t{what}\t{}", printable(&savepoint.location))?;
            }
        }
        out.flush()
    }
}

/// Runs retention over the selected jobs' folders; `dry_run` deletes nothing.
/// `Err` when nothing was deleted because the JobManager or the store failed.
pub async fn prune(savepointer: &Savepointer, dry_run: bool) -> Result<PruneReport, Failure> {
    let settings = savepointer.settings();
    let layout = &settings.layout;
    let client = savepointer.client();
    let nothing = "nothing was deleted";

    let jobs = client.jobs().await.map_err(|e| {
        Failure::msg(
            Exit::Unreachable,
            format!("cannot list the jobs on the JobManager ({e}), so which savepoints running jobs restored from is unknown; {nothing}"),
        )
    })?;
    let active: Vec<_> = jobs.into_iter().filter(|j| j.state.is_active()).collect();
    let Some(protected) = restored_from(client, &active).await else {
        return Err(Failure::msg(
            Exit::Unreachable,
            format!("cannot read which savepoints running jobs restored from (their checkpoint statistics); {nothing}"),
        ));
    };

    let names: BTreeSet<String> = match &settings.selector {
        Selector::Named(names) => names.clone(),
        Selector::All => {
            let mut names: BTreeSet<String> = layout
                .job_names()
                .await
                .map_err(|e| store_failure(&e, nothing))?
                .into_iter()
                .collect();
            names.extend(active.iter().map(|j| j.name.clone()));
            names
        }
    };

    // Every listing first: a store that fails leaves everything as it was.
    let now = OffsetDateTime::now_utc();
    let mut listings = Vec::new();
    for name in names {
        let listing = layout
            .list(&name, now)
            .await
            .map_err(|e| store_failure(&e, nothing))?;
        savepointer.status().store(Ok(()));
        for (what, odd) in listing.set_aside() {
            let shown = printable(&name);
            tracing::warn!(job = %shown, count = odd.len(), "left alone: {} savepoint(s) of '{shown}' {what}", odd.len());
        }
        listings.push((name, listing));
    }

    let mut report = PruneReport {
        named: matches!(settings.selector, Selector::Named(_)),
        jobs: Vec::new(),
    };
    for (name, listing) in listings {
        let active = active.iter().any(|j| j.name == name);
        let shown = printable(&name);
        if !active {
            tracing::info!(job = %shown, "no active job named '{shown}': its folder is pruned by name (the newest complete savepoint stays)");
        }
        let pruned = savepointer
            .carry_out(&name, &listing, &protected, now, dry_run)
            .await;
        let verb = if dry_run { "would delete" } else { "deleted" };
        let chosen = pruned.deleted.len() + pruned.would_delete.len();
        tracing::info!(
            job = %shown,
            chosen,
            kept = pruned.kept.len(),
            failed = pruned.failed.len(),
            "prune of '{shown}': {verb} {chosen}, kept {}, failed {}, left alone {}",
            pruned.kept.len(),
            pruned.failed.len(),
            pruned.incomplete.len() + pruned.set_aside.len()
        );
        report.jobs.push(JobPrune {
            name,
            active,
            pruned,
        });
    }
    Ok(report)
}

fn store_failure(e: &savepoint_layout::LayoutError, nothing: &str) -> Failure {
    let exit = match e.blame() {
        Blame::Input => Exit::Usage,
        Blame::Unreachable => Exit::Unreachable,
    };
    Failure::msg(exit, format!("the savepoint store failed: {e}; {nothing}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use savepoint_layout::StoredSavepoint;
    use time::macros::datetime;

    fn sp(n: u32) -> StoredSavepoint {
        StoredSavepoint {
            taken_at: datetime!(2026-11-23 18:00),
            location: format!("gs://b/sp/orders/2026-11-23-18-00/savepoint-{n}"),
            complete: true,
            bytes: 1,
            completed_at: None,
        }
    }

    #[test]
    fn exit_codes_and_lines() {
        let mut report = PruneReport {
            named: true,
            jobs: vec![JobPrune {
                name: "or\tders".into(),
                active: false,
                pruned: Pruned {
                    deleted: vec![sp(0)],
                    kept: vec![sp(1)],
                    ..Pruned::default()
                },
            }],
        };
        assert_eq!(report.exit_code(), Exit::Ok);
        let mut out = Vec::new();
        report.print(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "or\\tders\tdeleted\tgs://b/sp/orders/2026-11-23-18-00/savepoint-0\n\
             or\\tders\tkept\tgs://b/sp/orders/2026-11-23-18-00/savepoint-1\n"
        );
        report.jobs.push(JobPrune {
            name: "ghost".into(),
            active: false,
            pruned: Pruned::default(),
        });
        assert_eq!(report.exit_code(), Exit::JobNotFound);
        report.named = false;
        assert_eq!(report.exit_code(), Exit::Ok);
        report.jobs[0].pruned.failed.push((sp(2), "denied".into()));
        assert_eq!(report.exit_code(), Exit::RetentionIncomplete);
    }
}
