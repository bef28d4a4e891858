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
use crate::release;
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

/// Deploys per `plan`; returns the report and the exit code. With a release `record` context,
/// the release is recorded after a successful deploy or rollback, and a rollback can run the
/// recorded release when the JobManager no longer has its jar.
pub async fn deploy(
    client: &FlinkClient,
    s: &Settings,
    jar: &JarInfo,
    plan: Plan,
    record: Option<&release::Context>,
) -> (Report, Exit) {
    let interrupt = Interrupt::listen().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot listen for SIGTERM and SIGINT: they end flink-deploy at once");
        Interrupt::never()
    });
    let mut report = Report {
        job_name: s.job_name.clone(),
        ..Report::default()
    };
    let result = run(client, s, jar, plan, record, &interrupt, &mut report).await;
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
        Exit::InProgress => "another deploy in progress, nothing changed",
        Exit::RecordNotWritten => "deployed, but the release record was not written",
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
    record: Option<&release::Context>,
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
    let mut previous = plan.previous_jar.as_ref().map(|j| JarId::new(j.clone()));
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
            let Some(context) = record else {
                return Ok(Exit::Ok);
            };
            let new_job = report.new_job_id.clone().unwrap_or_default();
            let written = context
                .write(
                    &context.record_of(s, &new_job, restore.clone()),
                    Some(&s.args.jar),
                )
                .await;
            report.release_recorded = Some(written.is_ok());
            match written {
                Ok(()) => Ok(Exit::Ok),
                Err(message) => Err(Failure::new(
                    Exit::RecordNotWritten,
                    anyhow::anyhow!("job {new_job} runs and is healthy, but {message}"),
                )),
            }
        }
        Err((new_job, why)) => {
            tracing::error!("the new version is unhealthy: {why}");
            // The JobManager may no longer have the release the old job ran (it restarted, and
            // its jars went with it): the recorded one is uploaded again.
            let recorded = record.and_then(|c| c.current.as_ref().map(|r| (c, r)));
            if let (None, Some((context, current)), false) =
                (&previous, recorded, s.args.no_rollback)
            {
                previous = upload_recorded(client, context, current).await;
            }
            // The release rolled back to runs as it was recorded (its own arguments), when the
            // record is of the job that was replaced.
            let replaced = report.old_job_id.as_deref();
            let back_request = match recorded {
                Some((_, current)) if replaced.is_none_or(|old| old == current.job_id) => {
                    release::run_request(current, restore.clone())
                }
                _ => run_job.clone(),
            };
            let fresh = matches!(plan.start, Start::Fresh { .. });
            let decision = rollback::decide(
                s.args.no_rollback,
                previous.as_ref(),
                fresh,
                restore.as_deref(),
            );
            let done = roll_back(
                client,
                s,
                decision,
                previous,
                &jar_id,
                &back_request,
                why,
                new_job,
                interrupt,
                report,
            )
            .await;
            let rolled_back = done.exit() == Exit::RolledBack;
            if let (true, Some((context, _)), Some(job)) =
                (rolled_back, recorded, report.rollback_job_id.clone())
            {
                if let Some(back) = context.rolled_back_to(&job, restore.clone()) {
                    let written = context.write(&back, None).await;
                    report.release_recorded = Some(written.is_ok());
                    if let Err(message) = written {
                        return Err(Failure::new(
                            done.exit(),
                            anyhow::Error::new(done).context(message),
                        ));
                    }
                }
            }
            Err(Failure::new(done.exit(), done))
        }
    }
}

/// Uploads the jar of the recorded release `current` (fetched from the layout, digest checked)
/// for a rollback; `None`, logged, when it cannot be had.
async fn upload_recorded(
    client: &FlinkClient,
    context: &release::Context,
    current: &savepoint_layout::ReleaseRecord,
) -> Option<JarId> {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            tracing::error!(error = %e, "cannot make a temp dir for the recorded release's jar");
            return None;
        }
    };
    let fetched = match context.layout.fetch_jar(current, dir.path()).await {
        Ok(path) => path,
        Err(e) => {
            tracing::error!(error = %e, "the JobManager has no jar of the previous release, and the recorded one cannot be fetched");
            return None;
        }
    };
    let name = upload_name(&current.job_name, time::OffsetDateTime::now_utc());
    match client.upload_jar(&fetched, &name).await {
        Ok(jar) => {
            tracing::info!(jar = %jar, sha256 = %current.jar_sha256, "uploaded the recorded previous release for the rollback");
            Some(jar)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot upload the recorded previous release's jar");
            None
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

/// `flink-deploy stop`: stops the job with a savepoint into the layout, under its lease, and
/// records the intent `stopped` so the recovery sidecar leaves it stopped. The job is never
/// stopped without a savepoint: a stop that fails leaves it running (exit 4).
pub async fn stop_job(args: &crate::cli::StopArgs) -> Result<(Report, Exit), Failure> {
    let s = Settings::of_stop(args).map_err(|e| Failure::new(Exit::Usage, e))?;
    let layout = s.layout.clone().expect("stop always has a savepoint dir");
    let client = FlinkClient::new(s.args.common.rest.client_config(s.url.clone()))
        .map_err(|e| Failure::new(Exit::Usage, e))?;
    let lease = release::LeaseKeeper::take(&layout, &s.job_name, "stop").await?;
    let result = stop_holding(&client, &s, &layout).await;
    lease.give_back().await;
    let (mut report, exit) = match result {
        Ok(done) => done,
        Err(failure) => {
            let mut report = Report {
                job_name: s.job_name.clone(),
                ..Report::default()
            };
            report.message = Some(failure.to_string());
            (report, failure.exit)
        }
    };
    report.exit_code = flink_ops_cli::ExitStatus::code(exit);
    report.outcome = match exit {
        Exit::Ok => "stopped",
        Exit::RecordNotWritten => "stopped, but the release record was not written",
        Exit::OperationFailed => "savepoint failed, nothing changed",
        Exit::StopUndecided => "stop with a savepoint still in flight",
        Exit::ManualAction => "manual action needed",
        Exit::InProgress => "another deploy in progress, nothing changed",
        _ => "not stopped",
    };
    if let Some(message) = &report.message {
        if exit == Exit::Ok {
            tracing::warn!("{message}");
        } else {
            tracing::error!("{message}");
        }
    }
    Ok((report, exit))
}

async fn stop_holding(
    client: &FlinkClient,
    s: &Settings,
    layout: &savepoint_layout::SavepointLayout,
) -> Result<(Report, Exit), Failure> {
    let name = &s.job_name;
    let current = layout.current_release(name).await.map_err(|e| {
        Failure::new(
            crate::holdings::exit_of(&e),
            anyhow::Error::new(e).context("cannot read the release record; nothing was changed"),
        )
    })?;
    let jobs = client
        .jobs_named(name)
        .await
        .map_err(|e| rest_failure("cannot list the cluster's jobs", e))?;
    let active: Vec<_> = jobs.iter().filter(|j| j.state.is_active()).collect();
    let old = match active.as_slice() {
        [one] => one.jid.clone(),
        [] => {
            return Err(Failure::new(
                Exit::Usage,
                anyhow::anyhow!(
                "no job named '{}' is running, so there is nothing to stop; nothing was changed",
                printable(name)
            ),
            ))
        }
        many => {
            return Err(Failure::new(
                Exit::Usage,
                crate::plan::Refusal::AmbiguousJobs {
                    job_name: name.clone(),
                    jobs: many
                        .iter()
                        .map(|j| format!("{} ({})", j.jid, j.state))
                        .collect::<Vec<_>>()
                        .join(", "),
                    count: many.len(),
                },
            ))
        }
    };
    let interrupt = Interrupt::listen().unwrap_or_else(|_| Interrupt::never());
    let target = layout.target_dir(name, time::OffsetDateTime::now_utc());
    let mut report = Report {
        job_name: name.clone(),
        old_job_id: Some(old.to_string()),
        ..Report::default()
    };
    let started = Instant::now();
    let savepoint = match stop::stop(client, s, &old, Some(&target), &interrupt).await {
        Stopped::Savepoint(location) => location,
        not => return Err(not_stopped(not, s, old, Some(target), false, &interrupt)),
    };
    report.timings_ms.savepoint = ms(started.elapsed());
    tracing::info!(savepoint = %savepoint, "stopped with a savepoint");
    report.savepoint = Some(savepoint.clone());
    let Some(current) = current else {
        report.message = Some(format!(
            "'{}' has no release record under {} (it was not deployed by flink-deploy with \
             --savepoint-dir), so none records it stopped; the recovery sidecar has no release \
             of it to bring back either.",
            printable(name),
            layout.release_location(name)
        ));
        return Ok((report, Exit::Ok));
    };
    let stopped = savepoint_layout::ReleaseRecord {
        job_id: old.to_string(),
        recorded_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a UTC time formats"),
        kind: savepoint_layout::ReleaseKind::Stop,
        intent: savepoint_layout::Intent::Stopped,
        stopped_with: Some(savepoint.clone()),
        previous: current.previous.clone(),
        ..current
    };
    match layout.put_release(name, &stopped, None).await {
        Ok(()) => {
            report.release_recorded = Some(true);
            Ok((report, Exit::Ok))
        }
        Err(e) => {
            report.release_recorded = Some(false);
            report.message = Some(format!(
                "job {old} stopped with savepoint {savepoint}, but recording that it is \
                     stopped on purpose failed under {}: {e}. The recovery sidecar may bring it \
                     back; run flink-deploy stop again once the store is writable (after starting \
                     it with flink-deploy deploy), or stop the sidecar.",
                layout.release_location(name)
            ));
            Ok((report, Exit::RecordNotWritten))
        }
    }
}
