//! Which jobs a round takes savepoints of: exact names, or every running job.

use std::collections::BTreeSet;

use flink_rest::{JobId, JobOverview, JobState};

/// The jobs the sidecar looks after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Jobs with exactly these names (never a substring: `orders` is not `orders-v2`).
    Named(BTreeSet<String>),
    /// Every job that is not finished, cancelled or failed.
    All,
}

/// A round's plan, from the JobManager's job list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// RUNNING jobs to take a savepoint of: (name, id).
    pub to_save: Vec<(String, JobId)>,
    /// Selected jobs that exist but are not RUNNING (restarting, created, ...).
    pub not_running: Vec<(String, JobId, JobState)>,
    /// Names given with `--job-name` that no active job has. The state of
    /// the newest ended job of that name, if there is one.
    pub missing: Vec<(String, Option<JobState>)>,
}

impl Selector {
    /// Sorts the JobManager's jobs into what to save, skip and report missing.
    pub fn select(&self, jobs: &[JobOverview]) -> Selection {
        let mut selection = Selection::default();
        let wanted = |name: &str| match self {
            Selector::Named(names) => names.contains(name),
            Selector::All => true,
        };
        for job in jobs
            .iter()
            .filter(|j| j.state.is_active() && wanted(&j.name))
        {
            if job.state == JobState::Running {
                selection.to_save.push((job.name.clone(), job.jid.clone()));
            } else {
                selection
                    .not_running
                    .push((job.name.clone(), job.jid.clone(), job.state.clone()));
            }
        }
        if let Selector::Named(names) = self {
            for name in names {
                let active = jobs.iter().any(|j| &j.name == name && j.state.is_active());
                if !active {
                    let ended = jobs
                        .iter()
                        .filter(|j| &j.name == name)
                        .max_by_key(|j| j.start_time)
                        .map(|j| j.state.clone());
                    selection.missing.push((name.clone(), ended));
                }
            }
        }
        selection.to_save.sort();
        selection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, name: &str, state: &str, start: i64) -> JobOverview {
        JobOverview {
            jid: JobId::new(id),
            name: name.into(),
            state: JobState::from(state),
            start_time: start,
            end_time: -1,
        }
    }

    fn named(names: &[&str]) -> Selector {
        Selector::Named(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn names_match_exactly() {
        let jobs = [
            job("a", "orders", "RUNNING", 1),
            job("b", "orders-v2", "RUNNING", 1),
            job("c", "my-orders", "RUNNING", 1),
        ];
        let s = named(&["orders"]).select(&jobs);
        assert_eq!(s.to_save, [("orders".to_string(), JobId::new("a"))]);
        assert!(s.missing.is_empty() && s.not_running.is_empty());
    }

    #[test]
    fn a_name_with_no_active_job_is_missing_with_its_last_state() {
        let jobs = [
            job("a", "orders", "CANCELED", 1),
            job("b", "orders", "FAILED", 2),
            job("c", "orders-v2", "RUNNING", 1),
        ];
        let s = named(&["orders", "ghost"]).select(&jobs);
        assert!(s.to_save.is_empty());
        assert_eq!(
            s.missing,
            [
                ("ghost".to_string(), None),
                ("orders".to_string(), Some(JobState::Failed))
            ]
        );
    }

    #[test]
    fn active_jobs_that_are_not_running_are_skipped_not_missing() {
        let jobs = [
            job("a", "orders", "CANCELED", 1),
            job("b", "orders", "RESTARTING", 2),
        ];
        let s = named(&["orders"]).select(&jobs);
        assert!(s.to_save.is_empty() && s.missing.is_empty());
        assert_eq!(
            s.not_running,
            [("orders".into(), JobId::new("b"), JobState::Restarting)]
        );
    }

    #[test]
    fn all_jobs_takes_every_running_job_and_ignores_ended_ones() {
        let jobs = [
            job("a", "orders", "RUNNING", 1),
            job("b", "payments", "RUNNING", 1),
            job("c", "old", "FINISHED", 1),
            job("d", "starting", "CREATED", 1),
        ];
        let s = Selector::All.select(&jobs);
        assert_eq!(s.to_save.len(), 2);
        assert_eq!(s.not_running.len(), 1);
        assert!(s.missing.is_empty());
    }
}
