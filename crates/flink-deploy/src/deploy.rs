//! Carrying out a plan: upload, stop with a savepoint, run, check, roll back.
//!
//! The decisions are pure functions in the submodules (`rollback::decide`, `stop::judge`); this
//! module makes the REST calls around them. A SIGTERM or SIGINT never ends a deploy mid-step
//! (see `interrupt`): requests in flight are finished, waits are abandoned, and the message says
//! where things stand.

mod interrupt;
mod rollback;
mod stop;

use std::time::{Duration, Instant};

use flink_rest::{FlinkClient, JarId, JobId, JobState, RunJob};

use crate::downtime;
use crate::health;
use crate::jar::JarInfo;
use crate::outcome::{ms, rest_failure, Exit, Failure, Report};
use crate::plan::{jars_of, upload_name, Plan, Start};
use crate::settings::Settings;

pub use rollback::healthy_release;

use interrupt::Interrupt;
use rollback::{ByHand, NewVersionFailed, Rollback, RollbackRun};
use stop::{NotStopped, Stopped};

/// Names from the JobManager or a user, safe to print on one line.
pub(crate) use flink_rest::printable_name as printable;

/// Where a signal left the deploy (exit 8).
#[derive(Debug, thiserror::Error)]
pub enum Interrupted {
    /// During the upload.
    #[error("{signal} during the upload: the upload was abandoned{}; nothing was changed.",
        if *.leftover_deleted { " and the jar that arrived anyway was deleted" } else { "" })]
    Upload {
        /// The signal.
        signal: &'static str,
        /// A jar of the abandoned upload was found and deleted.
        leftover_deleted: bool,
    },
    /// Before the old job was stopped.
    #[error("{signal} before job {job} was stopped: it was left as it is and the new jar was deleted; nothing was changed.")]
    BeforeStop {
        /// The signal.
        signal: &'static str,
        /// The old job.
        job: JobId,
    },
    /// Before the new jar was run, with no job to stop.
    #[error("{signal} before the new jar was run: it was deleted; nothing was changed.")]
    BeforeRun {
        /// The signal.
        signal: &'static str,
    },
    /// The stop in flight completed; nothing was started after it.
    #[error("{signal} while stopping job {job} ('{}'): it stopped with savepoint {savepoint}, and the new jar was not run{}. \
             Nothing of '{}' runs now: run flink-deploy again (it restores from {savepoint}), or with --from-savepoint {savepoint}.",
        printable(.name), if *.jar_deleted { " (and was deleted)" } else { "" }, printable(.name))]
    AfterStop {
        /// The signal.
        signal: &'static str,
        /// The old job.
        job: JobId,
        /// The job's name.
        name: String,
        /// The savepoint it stopped with.
        savepoint: String,
        /// The new jar was deleted.
        jar_deleted: bool,
    },
    /// The run request was finished; the health check was skipped.
    #[error("{signal} while job {job} was being submitted{}: it was left running, and its health was not checked. \
             Check it (flink-deploy status). If it misbehaves: {manual}", from(.restore))]
    Submitted {
        /// The signal.
        signal: &'static str,
        /// The new job.
        job: JobId,
        /// What it restored from.
        restore: Option<String>,
        /// How to go back.
        manual: ByHand,
    },
    /// The health check was abandoned.
    #[error("{signal} while watching job {job}{}: it runs, and was left running, but its health check was abandoned. \
             Check it (flink-deploy status). If it misbehaves: {manual}", from(.restore))]
    Watching {
        /// The signal.
        signal: &'static str,
        /// The new job.
        job: JobId,
        /// What it restored from.
        restore: Option<String>,
        /// How to go back.
        manual: ByHand,
    },
}

fn from(restore: &Option<String>) -> String {
    restore
        .as_ref()
        .map(|p| format!(" (restored from {p})"))
        .unwrap_or_default()
}

fn interrupted(i: Interrupted) -> Failure {
    Failure::new(Exit::Interrupted, i)
}

/// Deploys per `plan`; returns the report and the exit code.
pub async fn deploy(
    client: &FlinkClient,
    s: &Settings,
    jar: &JarInfo,
    plan: Plan,
) -> (Report, Exit) {
    let interrupt = Interrupt::listen().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot listen for SIGTERM and SIGINT: they end flink-deploy at once");
        Interrupt::never()
    });
    let mut report = Report {
        job_name: s.job_name.clone(),
        ..Report::default()
    };
    let result = run(client, s, jar, plan, &interrupt, &mut report).await;
    // Whatever ended the deploy, a signal is why it ended there.
    let result = match (result, interrupt.received()) {
        (Err(f), Some(signal))
            if matches!(
                f.exit,
                Exit::OperationFailed | Exit::RolledBack | Exit::ManualAction | Exit::StopUndecided
            ) =>
        {
            Err(Failure::new(
                Exit::Interrupted,
                f.error
                    .context(format!("{signal} received during the deploy")),
            ))
        }
        (result, _) => result,
    };
    let exit = match result {
        Ok(exit) => exit,
        Err(failure) => {
            report.message = Some(failure.to_string());
            failure.exit
        }
    };
    report.exit_code = flink_ops_cli::ExitStatus::code(exit);
    report.outcome = match exit {
        Exit::Ok => "deployed",
        Exit::RolledBack => "rolled back",
        Exit::ManualAction => "manual action needed",
        Exit::OperationFailed => "savepoint failed, nothing changed",
        Exit::StopUndecided => "stop with a savepoint still in flight",
        Exit::Interrupted => "interrupted",
        Exit::InvalidRelease => "invalid release, nothing changed",
        // A deploy never ends with scale's own codes.
        Exit::Usage
        | Exit::Unreachable
        | Exit::Failure
        | Exit::NotRescalable
        | Exit::ScaleTimeout => "not deployed",
    };
    (report, exit)
}

async fn run(
    client: &FlinkClient,
    s: &Settings,
    jar: &JarInfo,
    plan: Plan,
    interrupt: &Interrupt,
    report: &mut Report,
) -> Result<Exit, Failure> {
    // 1. Upload first: it is not part of the downtime.
    let name = upload_name(&s.job_name, time::OffsetDateTime::now_utc());
    tracing::info!(jar = %s.args.jar.display(), size_mb = jar.size / (1024 * 1024), "uploading the jar as {name}");
    let started = Instant::now();
    let upload = interrupt
        .unless(client.upload_jar_with_progress(&s.args.jar, &name, progress_bar()))
        .await;
    let jar_id = match (upload, interrupt.received()) {
        (Some(uploaded), _) => uploaded.map_err(|e| rest_failure("cannot upload the jar", e))?,
        (None, signal) => {
            return Err(interrupted(Interrupted::Upload {
                signal: signal.unwrap_or("a signal"),
                leftover_deleted: delete_uploads_named(client, &name).await,
            }))
        }
    };
    report.timings_ms.upload = ms(started.elapsed());
    report.jar_id = Some(jar_id.to_string());
    tracing::info!(jar_id = %jar_id, "uploaded in {:.1}s", started.elapsed().as_secs_f64());

    // 2. Preflight: Flink builds the new release's job graph. A release that cannot start, or
    //    that names its job otherwise than --job-name, stops here: nothing was stopped, and the
    //    jar is deleted.
    let running = match &plan.start {
        Start::Update { job_id, .. } => Some(JobId::new(job_id.clone())),
        _ => None,
    };
    crate::preflight::preflight(client, s, &jar_id, running.as_ref()).await?;
    if let Some(signal) = interrupt.received() {
        delete_jar(client, &jar_id).await;
        return Err(interrupted(match running {
            Some(job) => Interrupted::BeforeStop { signal, job },
            None => Interrupted::BeforeRun { signal },
        }));
    }

    // 3. Stop the running job with a savepoint, or take the restore point found.
    let downtime_start = Instant::now();
    let restore = match &plan.start {
        Start::Update { job_id, .. } => {
            let old = JobId::new(job_id.clone());
            report.old_job_id = Some(job_id.clone());
            let target = s
                .layout
                .as_ref()
                .map(|l| l.target_dir(&s.job_name, time::OffsetDateTime::now_utc()));
            let stopped = stop::stop(client, s, &old, target.as_deref(), interrupt).await;
            report.timings_ms.savepoint = ms(downtime_start.elapsed());
            let location = match stopped {
                Stopped::Savepoint(location) => location,
                not => {
                    // Whatever happened, the new jar must not linger.
                    let jar_deleted = delete_jar(client, &jar_id).await;
                    return Err(not_stopped(not, s, old, target, jar_deleted, interrupt));
                }
            };
            tracing::info!(savepoint = %location, "stopped with a savepoint");
            report.savepoint = Some(location.clone());
            if let Some(signal) = interrupt.received() {
                return Err(interrupted(Interrupted::AfterStop {
                    signal,
                    job: old,
                    name: s.job_name.clone(),
                    savepoint: location,
                    jar_deleted: delete_jar(client, &jar_id).await,
                }));
            }
            Some(location)
        }
        Start::Restore { path, found_in, .. } => {
            tracing::info!("restoring from {path} (found in {found_in})");
            Some(path.clone())
        }
        Start::Fresh { why } => {
            tracing::info!("starting with empty state: {why}");
            None
        }
    };
    report.restored_from = restore.clone();
    // (An update that was signalled has returned above.)
    if let Some(signal) = interrupt.received() {
        delete_jar(client, &jar_id).await;
        return Err(interrupted(Interrupted::BeforeRun { signal }));
    }

    // 4. Run the new jar and check it. A run request in flight is finished even if a signal
    //    comes: abandoned, it could leave a job running that nobody checks or names.
    let run_job = crate::preflight::run_request(s, restore.clone());
    let previous = plan.previous_jar.as_ref().map(|j| JarId::new(j.clone()));
    let manual = |job: &JobId| ByHand {
        cancel_first: Some(job.clone()),
        jar: previous.clone(),
        restore: restore.clone(),
    };
    let submitted = Instant::now();
    let mut all_running_at = None;
    let outcome = match submit(client, s, &jar_id, &run_job).await {
        Ok(new_job) => {
            let after_submit = Instant::now();
            report.timings_ms.submission = ms(after_submit - submitted);
            report.new_job_id = Some(new_job.to_string());
            if let Some(signal) = interrupt.received() {
                return Err(interrupted(Interrupted::Submitted {
                    signal,
                    manual: manual(&new_job),
                    job: new_job,
                    restore,
                }));
            }
            // A main() may name its job at run time otherwise than in the preflight.
            let wrong_name = match client.job(&new_job).await {
                Ok(d) if d.name != s.job_name => Some(d.name),
                _ => None,
            };
            tracing::info!(job_id = %new_job, "submitted; waiting for all its tasks to run");
            let checked = match wrong_name {
                Some(actual) => Some(Err(NewVersionFailed::WrongName {
                    expected: s.job_name.clone(),
                    actual,
                })),
                None => {
                    // Read alongside the watch: when every subtask first ran, before any restart
                    // during --stable-for could move those times. The watch decides; the
                    // reading never delays its verdict.
                    let watch = interrupt.unless(health::check(
                        client,
                        &new_job,
                        s.args.startup_timeout,
                        s.args.stable_for,
                        s.args.require_checkpoint,
                    ));
                    let reading =
                        downtime::all_running_at(client, &new_job, s.args.startup_timeout);
                    tokio::pin!(watch, reading);
                    let mut read = false;
                    let checked = loop {
                        tokio::select! {
                            checked = &mut watch => break checked,
                            at = &mut reading, if !read => {
                                read = true;
                                all_running_at = at;
                            }
                        }
                    };
                    checked.map(|r| r.map_err(NewVersionFailed::Unhealthy))
                }
            };
            match checked {
                None => {
                    return Err(interrupted(Interrupted::Watching {
                        signal: interrupt.received().unwrap_or("a signal"),
                        manual: manual(&new_job),
                        job: new_job,
                        restore,
                    }))
                }
                Some(Ok(healthy)) => Ok((after_submit, healthy)),
                Some(Err(why)) => Err((Some(new_job), why)),
            }
        }
        Err(e) => Err((None, NewVersionFailed::RunRefused(e))),
    };

    match outcome {
        Ok((after_submit, healthy)) => {
            report.timings_ms.until_running = ms(healthy.until_running);
            report.rescales = (healthy.rescales > 0).then_some(healthy.rescales);
            if let (Some(old), Some(savepoint)) = (&report.old_job_id, &report.savepoint) {
                report.timings_ms.observed_downtime =
                    ms(after_submit + healthy.until_running - downtime_start);
                let old = JobId::new(old.clone());
                let triggered = downtime::savepoint_triggered_at(client, &old, savepoint).await;
                report.timings_ms.downtime = downtime::between(triggered, all_running_at);
                if report.timings_ms.downtime.is_none() {
                    tracing::warn!(
                        "the downtime by Flink's clock is unknown: the JobManager's records of the \
                         stop's savepoint or of the new job's tasks could not be read"
                    );
                }
            }
            prune_jars(client, s, &jar_id, plan.previous_jar.as_deref()).await;
            tracing::info!("deployed");
            Ok(Exit::Ok)
        }
        Err((new_job, why)) => {
            tracing::error!("the new version is unhealthy: {why}");
            let fresh = matches!(plan.start, Start::Fresh { .. });
            let decision = rollback::decide(
                s.args.no_rollback,
                previous.as_ref(),
                fresh,
                restore.as_deref(),
            );
            let done = roll_back(
                client, s, decision, previous, &jar_id, &run_job, why, new_job, interrupt, report,
            )
            .await;
            Err(Failure::new(done.exit(), done))
        }
    }
}

/// Runs the new jar. A request that got no answer may still have started the job: with the old
/// one stopped, an active job of the name is ours, and must be checked, not doubled by a rollback.
async fn submit(
    client: &FlinkClient,
    s: &Settings,
    jar: &JarId,
    run_job: &RunJob,
) -> Result<JobId, flink_rest::Error> {
    match client.run_jar(jar, run_job).await {
        Err(e) if e.is_unreachable() => {
            let active = client.jobs_named(&s.job_name).await.ok().and_then(|jobs| {
                jobs.into_iter()
                    .find(|j| j.state.is_active())
                    .map(|j| j.jid)
            });
            match active {
                Some(job) => {
                    tracing::warn!(job_id = %job, error = %e, "the run request got no answer, but a job of this name was started: checking it");
                    Ok(job)
                }
                None => Err(e),
            }
        }
        other => other,
    }
}

/// The failure of a deploy that ended at the stop.
fn not_stopped(
    not: Stopped,
    s: &Settings,
    job: JobId,
    target: Option<String>,
    jar_deleted: bool,
    interrupt: &Interrupt,
) -> Failure {
    let name = s.job_name.clone();
    match not {
        Stopped::NothingChanged(why, state) => Failure::new(
            Exit::OperationFailed,
            NotStopped::NothingChanged {
                job,
                name,
                why,
                state,
            },
        ),
        Stopped::Ended { why, state, newest } => Failure::new(
            Exit::ManualAction,
            NotStopped::Ended {
                job,
                name,
                why,
                state,
                newest,
            },
        ),
        Stopped::InFlight { waited, trigger } => Failure::new(
            Exit::StopUndecided,
            NotStopped::InFlight {
                job,
                name,
                waited,
                target: target
                    .unwrap_or_else(|| "the cluster's default savepoint directory".into()),
                trigger,
                jar_deleted,
            },
        ),
        Stopped::NotRequested | Stopped::Savepoint(_) => interrupted(Interrupted::BeforeStop {
            signal: interrupt.received().unwrap_or("a signal"),
            job,
        }),
    }
}

/// Carries out the rollback `decision` and says how the deploy ends.
#[allow(clippy::too_many_arguments)]
async fn roll_back(
    client: &FlinkClient,
    s: &Settings,
    decision: Rollback,
    previous: Option<JarId>,
    new_jar: &JarId,
    run_job: &RunJob,
    why: NewVersionFailed,
    new_job: Option<JobId>,
    interrupt: &Interrupt,
    report: &mut Report,
) -> rollback::NotDeployed {
    let (jar, restore) = match decision {
        Rollback::Skip(skip) => {
            if skip != rollback::Skip::LeaveIt {
                discard(client, new_job.as_ref(), new_jar, interrupt).await;
            }
            let restore = run_job.savepoint_path.as_deref();
            return rollback::conclude(
                skip,
                why,
                &s.job_name,
                new_job.as_ref(),
                previous.as_ref(),
                restore,
            );
        }
        Rollback::RunPrevious { jar, restore } => {
            discard(client, new_job.as_ref(), new_jar, interrupt).await;
            (jar, restore)
        }
    };
    tracing::warn!(jar = %jar, from = restore.as_deref().unwrap_or("empty state"), "rolling back to the release the old job ran");
    report.rollback_jar = Some(jar.to_string());
    let rollback_run = RunJob {
        savepoint_path: restore.clone(),
        ..run_job.clone()
    };
    // Like the new version's, this run request is finished even after a signal.
    let ran = match client.run_jar(&jar, &rollback_run).await {
        Err(e) => RollbackRun::Refused(e),
        Ok(job) => {
            report.rollback_job_id = Some(job.to_string());
            delete_shadowing(client, s, &jar).await;
            let running = match interrupt.received() {
                Some(_) => None,
                None => {
                    interrupt
                        .unless(health::wait_running(client, &job, s.args.startup_timeout))
                        .await
                }
            };
            match running {
                None => RollbackRun::Unchecked(job, interrupt.received().unwrap_or("a signal")),
                Some(Ok(_)) => RollbackRun::Running(job),
                Some(Err(unhealthy)) => RollbackRun::Unhealthy(job, unhealthy),
            }
        }
    };
    rollback::conclude_run(jar, restore, why, ran, &s.job_name)
}

/// A progress bar on a terminal; nothing in CI logs (the step lines say enough).
fn progress_bar() -> impl Fn(u64, u64) + Send + Sync + 'static {
    use std::io::{IsTerminal, Write};
    use std::sync::atomic::{AtomicU64, Ordering};
    let terminal = std::io::stderr().is_terminal();
    let shown = AtomicU64::new(u64::MAX);
    move |sent, total| {
        let percent = (sent * 100).checked_div(total).unwrap_or(100);
        if !terminal || shown.swap(percent, Ordering::Relaxed) == percent {
            return;
        }
        let width = 30;
        let filled = (percent as usize * width) / 100;
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r  uploading [{}{}] {percent:>3}% of {} MB",
            "#".repeat(filled),
            " ".repeat(width - filled),
            total / (1024 * 1024)
        );
        if sent >= total {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

/// Deletes a jar; true when it is gone.
async fn delete_jar(client: &FlinkClient, jar: &JarId) -> bool {
    match client.delete_jar(jar).await {
        Ok(()) => true,
        Err(e) if e.is_not_found() => true,
        Err(e) => {
            tracing::warn!(jar = %jar, error = %e, "cannot delete the new jar");
            false
        }
    }
}

/// Deletes this job's jars uploaded after `running`, the release a rollback runs now: the next
/// deploy must find `running` as the release of the running job, not an orphan.
async fn delete_shadowing(client: &FlinkClient, s: &Settings, running: &JarId) {
    let jars = match jars_of(client, &s.job_name).await {
        Ok(jars) => jars,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the jars uploaded after the release that runs now");
            return;
        }
    };
    for jar in rollback::shadowing(&jars, running) {
        match client.delete_jar(jar).await {
            Ok(()) => {
                tracing::info!(jar = %jar, "deleted a jar uploaded after the release that runs now (it never ran healthy)")
            }
            Err(e) => {
                tracing::warn!(jar = %jar, error = %e, "cannot delete a jar uploaded after the release that runs now")
            }
        }
    }
}

/// Deletes what an abandoned upload under `name` may have left; true when one was found.
async fn delete_uploads_named(client: &FlinkClient, name: &str) -> bool {
    let Ok(Ok(jars)) = tokio::time::timeout(Duration::from_secs(10), client.jars()).await else {
        return false;
    };
    let mut found = false;
    for jar in jars.iter().filter(|j| j.name == name) {
        found |= delete_jar(client, &jar.id).await;
    }
    found
}

/// Cancels the unhealthy new job and deletes its jar: the broken jar must not become the release
/// of the next rollback.
async fn discard(client: &FlinkClient, job: Option<&JobId>, jar: &JarId, interrupt: &Interrupt) {
    if let Some(job) = job {
        cancel_quietly(client, job, interrupt).await;
    }
    delete_jar(client, jar).await;
}

/// Cancels the unhealthy job, and waits a little (not after a signal) for it to end so that a
/// rollback does not compete with it for slots.
async fn cancel_quietly(client: &FlinkClient, job: &JobId, interrupt: &Interrupt) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    if state_until(client, job, deadline)
        .await
        .is_some_and(|s| s.is_terminal())
    {
        return;
    }
    if let Err(e) = client.cancel(job).await {
        tracing::warn!(job_id = %job, error = %e, "cannot cancel the unhealthy job");
    }
    while tokio::time::Instant::now() < deadline && interrupt.received().is_none() {
        if state_until(client, job, deadline)
            .await
            .is_some_and(|s| s.is_terminal())
        {
            return;
        }
        let _ = interrupt
            .unless(tokio::time::sleep(Duration::from_millis(500)))
            .await;
    }
}

/// The job's state, if it can be read before `deadline`.
async fn state_until(
    client: &FlinkClient,
    job: &JobId,
    deadline: tokio::time::Instant,
) -> Option<JobState> {
    tokio::time::timeout_at(deadline, client.job(job))
        .await
        .ok()?
        .ok()
        .map(|d| d.state)
}

/// Keeps this job's newest `keep_jars` jars: the new one, the release the old job ran, then the
/// newest of the rest.
async fn prune_jars(client: &FlinkClient, s: &Settings, new_jar: &JarId, previous: Option<&str>) {
    let jars = match jars_of(client, &s.job_name).await {
        Ok(jars) => jars,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the jars to prune");
            return;
        }
    };
    for jar in rollback::jars_to_prune(&jars, new_jar, previous, s.args.keep_jars as usize) {
        match client.delete_jar(jar).await {
            Ok(()) => tracing::info!(jar = %jar, "deleted an old jar"),
            Err(e) => tracing::warn!(jar = %jar, error = %e, "cannot delete an old jar"),
        }
    }
}
