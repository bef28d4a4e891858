//! What to do when the new version is unhealthy, and what to say after: pure decisions, the REST
//! calls are in `deploy.rs`.

use std::fmt;

use flink_rest::{JarFile, JarId, JobId, JobOverview, JobState};

use super::printable;
use crate::health::Unhealthy;
use crate::outcome::Exit;

/// The release a rollback may run: the newest of this job's jars (`jars`, newest first) that was
/// uploaded before the job it would replace started, so a jar that never ran (an orphan of a
/// killed deploy, uploaded after the job started) is never picked.
///
/// The job is the active one of `jobs` (all jobs of the name); with none active, the newest one
/// that was stopped or cancelled (a job that FAILED is no evidence its jar ran healthy). With no
/// such job there is no evidence any jar ran, and there is nothing to roll back to.
pub fn healthy_release<'a>(jars: &'a [JarFile], jobs: &[JobOverview]) -> Option<&'a JarFile> {
    let reference = match jobs.iter().find(|j| j.state.is_active()) {
        Some(active) => active,
        None => jobs
            .iter()
            .filter(|j| matches!(j.state, JobState::Finished | JobState::Canceled))
            .max_by_key(|j| j.start_time)?,
    };
    // Both times are the JobManager's clock: the jar file's time and the job's start.
    jars.iter()
        .filter(|j| j.uploaded <= reference.start_time)
        .max_by_key(|j| (j.uploaded, &j.name))
}

/// This job's jars that were uploaded after `target`: once a rollback runs `target`, they would
/// look like its release to the next deploy, yet none of them ran healthy (the broken one, and
/// orphans of killed deploys). Empty when `target` is not among `jars`.
pub fn shadowing<'a>(jars: &'a [JarFile], target: &JarId) -> Vec<&'a JarId> {
    let Some(target) = jars.iter().find(|j| &j.id == target) else {
        return Vec::new();
    };
    jars.iter()
        .filter(|j| (j.uploaded, &j.name) > (target.uploaded, &target.name))
        .map(|j| &j.id)
        .collect()
}

/// The jars to delete after a successful deploy, keeping `keep` of this job's `jars` (newest
/// first): the new one, then the release the old job ran (so the next rollback has it), then
/// the newest of the rest.
pub fn jars_to_prune<'a>(
    jars: &'a [JarFile],
    new: &JarId,
    previous: Option<&str>,
    keep: usize,
) -> Vec<&'a JarId> {
    let rank = |j: &JarFile| {
        if &j.id == new {
            0
        } else if Some(j.id.as_str()) == previous {
            1
        } else {
            2
        }
    };
    let mut ranked: Vec<&JarFile> = jars.iter().collect();
    // Stable: within a rank, newest first as given.
    ranked.sort_by_key(|j| rank(j));
    ranked.into_iter().skip(keep).map(|j| &j.id).collect()
}

/// What to do about an unhealthy new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollback {
    /// Run nothing.
    Skip(Skip),
    /// Cancel it and run `jar` from `restore`, the point the new version started from.
    RunPrevious {
        /// The release the old job ran.
        jar: JarId,
        /// The savepoint or checkpoint the new version started from.
        restore: Option<String>,
    },
}

/// Why a rollback runs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// `--no-rollback`: leave it as it is and say what to run (exit 6).
    LeaveIt,
    /// A first deploy: cancel it; there is nothing to go back to (exit 5).
    CancelOnly,
    /// The job ran before, but no release of it that ran healthy is on the JobManager (it was
    /// deployed some other way, or its jars are gone): cancel it and say what to run (exit 6).
    NoPreviousRelease,
}

/// Decides what to do about an unhealthy new version.
pub fn decide(
    no_rollback: bool,
    previous: Option<&JarId>,
    fresh_start: bool,
    restore: Option<&str>,
) -> Rollback {
    match (no_rollback, previous) {
        (true, _) => Rollback::Skip(Skip::LeaveIt),
        (false, Some(jar)) => Rollback::RunPrevious {
            jar: jar.clone(),
            restore: restore.map(str::to_string),
        },
        (false, None) if fresh_start => Rollback::Skip(Skip::CancelOnly),
        (false, None) => Rollback::Skip(Skip::NoPreviousRelease),
    }
}

/// Why the new version did not make it.
#[derive(Debug, thiserror::Error)]
pub enum NewVersionFailed {
    /// The run request was refused.
    #[error("Flink refused to run it: {0}")]
    RunRefused(flink_rest::Error),
    /// It ran, and failed the health check.
    #[error("{0}")]
    Unhealthy(Unhealthy),
    /// It runs under another name than `--job-name` (its `main()` named it at run time
    /// otherwise than in the preflight): nothing would find it again.
    #[error("it runs as '{}', not '{}' (--job-name), although its job graph had the right name before it ran: \
             its main() names the job at run time. The next deploy and flink-savepointer would not find it. \
             Change the name in the job's code, or pass --job-name '{}'",
        printable(.actual), printable(.expected), printable(.actual))]
    WrongName {
        /// `--job-name`.
        expected: String,
        /// The running job's name.
        actual: String,
    },
}

/// How the rollback's own job did.
#[derive(Debug)]
pub enum RollbackRun {
    /// It runs with all its tasks.
    Running(JobId),
    /// Flink refused to run the previous jar.
    Refused(flink_rest::Error),
    /// It ran, and is unhealthy too.
    Unhealthy(JobId, Unhealthy),
    /// Submitted, but a signal cut the wait for its tasks short.
    Unchecked(JobId, &'static str),
}

/// How to put things right by hand.
#[derive(Debug, Clone)]
pub struct ByHand {
    /// The unhealthy new job, when it was left running.
    pub cancel_first: Option<JobId>,
    /// The jar to run, if one is known.
    pub jar: Option<JarId>,
    /// What to restore from.
    pub restore: Option<String>,
}

impl fmt::Display for ByHand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("To restore by hand: ")?;
        if let Some(job) = &self.cancel_first {
            write!(f, "cancel job {job}, then ")?;
        }
        match &self.jar {
            Some(jar) => write!(f, "run jar {jar} on the JobManager")?,
            None => f.write_str("run your previous release's jar")?,
        }
        if let Some(p) = &self.restore {
            write!(f, " with savepointPath {p}")?;
        }
        f.write_str(", or fix the release and run flink-deploy again")?;
        if let Some(p) = &self.restore {
            write!(
                f,
                " (with --from-savepoint {p} if the job is not found running)"
            )?;
        }
        f.write_str(".")
    }
}

/// How a deploy of an unhealthy new version ended (the message says what runs and what to do).
#[derive(Debug, thiserror::Error)]
pub enum NotDeployed {
    /// `--no-rollback`.
    #[error("the new version is unhealthy: {why}. It was left as it is (--no-rollback). {manual}")]
    LeftAsIs {
        /// Why.
        why: NewVersionFailed,
        /// What to run.
        manual: ByHand,
    },
    /// A first deploy was cancelled.
    #[error("the new version is unhealthy: {why}. It was cancelled; there is no previous version to go back to.")]
    CancelledFirstDeploy {
        /// Why.
        why: NewVersionFailed,
    },
    /// Cancelled, with nothing healthy to go back to.
    #[error("the new version is unhealthy: {why}. It was cancelled, and no release of '{}' that ran healthy is on the JobManager to roll back to. \
             Nothing of '{}' runs now. {manual}", printable(.name), printable(.name))]
    NoPreviousRelease {
        /// Why.
        why: NewVersionFailed,
        /// The job's name.
        name: String,
        /// What to run.
        manual: ByHand,
    },
    /// Rolled back.
    #[error("the new version is unhealthy: {why}. Rolled back: job {job} runs the previous jar {jar}{}.", from(.restore))]
    RolledBack {
        /// Why.
        why: NewVersionFailed,
        /// The rollback job.
        job: JobId,
        /// The jar it runs.
        jar: JarId,
        /// What it restored from.
        restore: Option<String>,
    },
    /// The previous jar could not be run.
    #[error("the new version is unhealthy: {why}. Rolling back failed: {error}. Nothing of '{}' runs now. {manual}", printable(.name))]
    RollbackRefused {
        /// Why.
        why: NewVersionFailed,
        /// Flink's answer to the rollback's run request.
        error: flink_rest::Error,
        /// The job's name.
        name: String,
        /// What to run.
        manual: ByHand,
    },
    /// The rollback job is unhealthy as well.
    #[error("the new version is unhealthy: {why}. The rollback job {job} (jar {jar}{}) is unhealthy too: {rollback}. {manual}", from(.restore))]
    RollbackUnhealthy {
        /// Why.
        why: NewVersionFailed,
        /// The rollback job.
        job: JobId,
        /// The jar it runs.
        jar: JarId,
        /// What it restored from.
        restore: Option<String>,
        /// Why it is unhealthy.
        rollback: Unhealthy,
        /// What to run.
        manual: ByHand,
    },
    /// A signal cut the check of the rollback job short.
    #[error("the new version is unhealthy: {why}. Rolled back, but {signal} cut the check short: job {job} runs the previous jar {jar}{} \
             and was not watched until all its tasks ran; check it. {manual}", from(.restore))]
    RollbackUnchecked {
        /// Why.
        why: NewVersionFailed,
        /// The signal.
        signal: &'static str,
        /// The rollback job.
        job: JobId,
        /// The jar it runs.
        jar: JarId,
        /// What it restored from.
        restore: Option<String>,
        /// What to run if it is unhealthy.
        manual: ByHand,
    },
}

fn from(restore: &Option<String>) -> String {
    restore
        .as_ref()
        .map(|p| format!(" from {p}"))
        .unwrap_or_default()
}

impl NotDeployed {
    /// The exit code it ends with.
    pub fn exit(&self) -> Exit {
        match self {
            NotDeployed::CancelledFirstDeploy { .. } | NotDeployed::RolledBack { .. } => {
                Exit::RolledBack
            }
            NotDeployed::LeftAsIs { .. }
            | NotDeployed::NoPreviousRelease { .. }
            | NotDeployed::RollbackRefused { .. }
            | NotDeployed::RollbackUnhealthy { .. } => Exit::ManualAction,
            NotDeployed::RollbackUnchecked { .. } => Exit::Interrupted,
        }
    }
}

/// How the deploy ends when the rollback runs nothing. `new_job` is the unhealthy new job, when
/// it was submitted; `previous` the release the old job ran, if known.
pub fn conclude(
    skip: Skip,
    why: NewVersionFailed,
    name: &str,
    new_job: Option<&JobId>,
    previous: Option<&JarId>,
    restore: Option<&str>,
) -> NotDeployed {
    let manual = |cancel_first: Option<&JobId>| ByHand {
        cancel_first: cancel_first.cloned(),
        jar: previous.cloned(),
        restore: restore.map(str::to_string),
    };
    match skip {
        Skip::LeaveIt => NotDeployed::LeftAsIs {
            why,
            manual: manual(new_job),
        },
        Skip::CancelOnly => NotDeployed::CancelledFirstDeploy { why },
        Skip::NoPreviousRelease => NotDeployed::NoPreviousRelease {
            why,
            name: name.to_string(),
            manual: manual(None),
        },
    }
}

/// How the deploy ends after running the previous release `jar` from `restore`.
pub fn conclude_run(
    jar: JarId,
    restore: Option<String>,
    why: NewVersionFailed,
    ran: RollbackRun,
    name: &str,
) -> NotDeployed {
    let manual = |cancel_first: Option<&JobId>| ByHand {
        cancel_first: cancel_first.cloned(),
        jar: Some(jar.clone()),
        restore: restore.clone(),
    };
    match ran {
        RollbackRun::Running(job) => NotDeployed::RolledBack {
            why,
            job,
            jar,
            restore,
        },
        RollbackRun::Unhealthy(job, rollback) => NotDeployed::RollbackUnhealthy {
            why,
            manual: manual(Some(&job)),
            job,
            jar,
            restore,
            rollback,
        },
        RollbackRun::Unchecked(job, signal) => NotDeployed::RollbackUnchecked {
            why,
            signal,
            manual: manual(Some(&job)),
            job,
            jar,
            restore,
        },
        RollbackRun::Refused(error) => NotDeployed::RollbackRefused {
            why,
            error,
            name: name.to_string(),
            manual: manual(None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn jar(name: &str, uploaded: i64) -> JarFile {
        JarFile {
            id: JarId::new(format!("uuid_{name}")),
            name: name.into(),
            uploaded,
        }
    }

    fn job(state: JobState, start_time: i64) -> JobOverview {
        JobOverview {
            jid: JobId::new(format!("{start_time:032x}")),
            name: "orders".into(),
            state,
            start_time,
            end_time: -1,
        }
    }

    fn broken() -> NewVersionFailed {
        NewVersionFailed::Unhealthy(Unhealthy::Failed {
            state: JobState::Failed,
            cause: Some("broken release".into()),
        })
    }

    #[test]
    fn the_rollback_target_is_the_jar_the_running_job_started_from() {
        // Newest first, as jars_of gives them: an orphan uploaded after the job started.
        let jars = [jar("orphan", 300), jar("healthy", 100), jar("older", 50)];
        let running = [job(JobState::Finished, 10), job(JobState::Running, 200)];
        assert_eq!(healthy_release(&jars, &running).unwrap().name, "healthy");
        // Uploaded in the same millisecond as the job started: it may be its jar.
        assert_eq!(
            healthy_release(&jars, &[job(JobState::Running, 300)])
                .unwrap()
                .name,
            "orphan"
        );
        // Nothing active: the newest stopped or cancelled job decides; a FAILED one does not.
        let stopped = [
            job(JobState::Finished, 120),
            job(JobState::Failed, 400),
            job(JobState::Canceled, 60),
        ];
        assert_eq!(healthy_release(&jars, &stopped).unwrap().name, "healthy");
        // No job known, or none started after any jar: no evidence any jar ran.
        assert!(healthy_release(&jars, &[]).is_none());
        assert!(healthy_release(&jars, &[job(JobState::Failed, 400)]).is_none());
        assert!(healthy_release(&jars, &[job(JobState::Running, 10)]).is_none());
    }

    #[test]
    fn after_a_rollback_no_newer_jar_shadows_the_release_that_runs() {
        let jars = [jar("orphan", 300), jar("healthy", 100), jar("older", 50)];
        let ids = |target: &str| {
            shadowing(&jars, &JarId::new(target))
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("uuid_healthy"), ["uuid_orphan"]);
        assert_eq!(ids("uuid_older"), ["uuid_orphan", "uuid_healthy"]);
        assert!(ids("uuid_orphan").is_empty());
        assert!(ids("uuid_unknown").is_empty());
        // Once they are gone, the rollback job's start picks its own jar again.
        let after = [jar("healthy", 100), jar("older", 50)];
        assert_eq!(
            healthy_release(&after, &[job(JobState::Running, 400)])
                .unwrap()
                .name,
            "healthy"
        );
    }

    #[test]
    fn pruning_keeps_the_new_jar_and_the_release_the_old_job_ran() {
        let jars = [
            jar("new", 400),
            jar("orphan", 300),
            jar("healthy", 100),
            jar("older", 50),
        ];
        let new = JarId::new("uuid_new");
        let names = |ids: Vec<&JarId>| ids.iter().map(|i| i.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(jars_to_prune(&jars, &new, Some("uuid_healthy"), 2)),
            ["uuid_orphan", "uuid_older"]
        );
        assert_eq!(
            names(jars_to_prune(&jars, &new, Some("uuid_healthy"), 3)),
            ["uuid_older"]
        );
        assert_eq!(
            names(jars_to_prune(&jars, &new, None, 2)),
            ["uuid_healthy", "uuid_older"]
        );
        // keep 1: only the new one.
        assert_eq!(
            names(jars_to_prune(&jars, &new, Some("uuid_healthy"), 1)),
            ["uuid_healthy", "uuid_orphan", "uuid_older"]
        );
    }

    #[test]
    fn every_decision() {
        let p = JarId::new("uuid_p");
        let skip = Rollback::Skip;
        assert_eq!(
            decide(true, Some(&p), false, Some("s")),
            skip(Skip::LeaveIt)
        );
        assert_eq!(decide(true, None, true, None), skip(Skip::LeaveIt));
        assert_eq!(decide(false, None, true, None), skip(Skip::CancelOnly));
        assert_eq!(
            decide(false, None, false, Some("s")),
            skip(Skip::NoPreviousRelease)
        );
        assert_eq!(
            decide(false, Some(&p), false, Some("s")),
            Rollback::RunPrevious {
                jar: p.clone(),
                restore: Some("s".into())
            }
        );
        // A fresh start with an earlier release on the JobManager goes back to it, with no state.
        assert_eq!(
            decide(false, Some(&p), true, None),
            Rollback::RunPrevious {
                jar: p,
                restore: None
            }
        );
    }

    #[test]
    fn every_outcome_has_its_exit_code_and_says_what_runs() {
        let p = JarId::new("uuid_p");
        let new = JobId::new("0".repeat(32));
        let back = JobId::new("1".repeat(32));
        let sp = Some("file:/sp/savepoint-1");
        let run = |ran| conclude_run(p.clone(), sp.map(str::to_string), broken(), ran, "orders");

        let left = conclude(Skip::LeaveIt, broken(), "orders", Some(&new), Some(&p), sp);
        assert_eq!(left.exit(), Exit::ManualAction);
        let text = left.to_string();
        assert!(text.contains("--no-rollback"), "{text}");
        assert!(
            text.contains(&format!("cancel job {new}, then run jar uuid_p")),
            "the unhealthy job still runs: {text}"
        );
        assert!(
            text.contains("--from-savepoint file:/sp/savepoint-1"),
            "{text}"
        );

        let first = conclude(Skip::CancelOnly, broken(), "orders", Some(&new), None, None);
        assert_eq!(first.exit(), Exit::RolledBack);
        assert!(first.to_string().contains("no previous version"), "{first}");

        let none = conclude(
            Skip::NoPreviousRelease,
            broken(),
            "orders\nforged",
            Some(&new),
            None,
            sp,
        );
        assert_eq!(none.exit(), Exit::ManualAction);
        let text = none.to_string();
        assert!(
            text.contains("Nothing of 'orders\\nforged' runs now"),
            "{text}"
        );
        assert!(
            text.contains("savepointPath file:/sp/savepoint-1"),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");

        // Running the previous release is concluded from how its job did.
        let back_ok = run(RollbackRun::Running(back.clone()));
        assert_eq!(back_ok.exit(), Exit::RolledBack);
        assert!(
            back_ok.to_string().ends_with(&format!(
                "Rolled back: job {back} runs the previous jar uuid_p from file:/sp/savepoint-1."
            )),
            "{back_ok}"
        );
        assert!(matches!(
            back_ok,
            NotDeployed::RolledBack {
                why: NewVersionFailed::Unhealthy(Unhealthy::Failed { .. }),
                ..
            }
        ));

        let refused = run(RollbackRun::Refused(flink_rest::Error::Config("no".into())));
        assert_eq!(refused.exit(), Exit::ManualAction);
        assert!(
            refused.to_string().contains(
                "run jar uuid_p on the JobManager with savepointPath file:/sp/savepoint-1"
            ),
            "{refused}"
        );

        let unhealthy = run(RollbackRun::Unhealthy(
            back.clone(),
            Unhealthy::NotRunningInTime {
                waited: Duration::from_secs(5),
                state: Some(JobState::Created),
                cause: None,
            },
        ));
        assert_eq!(unhealthy.exit(), Exit::ManualAction);
        assert!(matches!(
            unhealthy,
            NotDeployed::RollbackUnhealthy {
                rollback: Unhealthy::NotRunningInTime { .. },
                ..
            }
        ));
        assert!(
            unhealthy
                .to_string()
                .contains(&format!("cancel job {back}, then run jar uuid_p")),
            "{unhealthy}"
        );

        let unchecked = run(RollbackRun::Unchecked(back.clone(), "SIGTERM"));
        assert_eq!(unchecked.exit(), Exit::Interrupted);
        assert!(
            unchecked
                .to_string()
                .contains("SIGTERM cut the check short"),
            "{unchecked}"
        );
    }
}
