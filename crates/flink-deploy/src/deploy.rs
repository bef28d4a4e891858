//! Carrying out a plan: upload, stop with a savepoint, run, check, roll back.

use std::time::Instant;

use flink_rest::{FlinkClient, JarId, JobId, JobState, RunJob};

use crate::health;
use crate::jar::JarInfo;
use flink_ops_cli::fail;

use crate::outcome::{ms, rest_failure, Exit, Failure, Report};
use crate::plan::{jars_of, upload_name, Plan, Start};
use crate::settings::Settings;

/// Deploys per `plan`; returns the report and the exit code.
pub async fn deploy(
    client: &FlinkClient,
    s: &Settings,
    jar: &JarInfo,
    plan: Plan,
) -> (Report, Exit) {
    let mut report = Report {
        job_name: s.job_name.clone(),
        ..Report::default()
    };
    let exit = match run(client, s, jar, plan, &mut report).await {
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
        Exit::Usage | Exit::Unreachable | Exit::Failure => "not deployed",
    };
    (report, exit)
}

async fn run(
    client: &FlinkClient,
    s: &Settings,
    jar: &JarInfo,
    plan: Plan,
    report: &mut Report,
) -> Result<Exit, Failure> {
    // 1. Upload first: it is not part of the downtime.
    let name = upload_name(&s.job_name, time::OffsetDateTime::now_utc());
    tracing::info!(jar = %s.args.jar.display(), size_mb = jar.size / (1024 * 1024), "uploading the jar as {name}");
    let started = Instant::now();
    let jar_id = client
        .upload_jar_with_progress(&s.args.jar, &name, progress_bar())
        .await
        .map_err(|e| rest_failure("cannot upload the jar", e))?;
    report.timings_ms.upload = ms(started.elapsed());
    report.jar_id = Some(jar_id.to_string());
    tracing::info!(jar_id = %jar_id, "uploaded in {:.1}s", started.elapsed().as_secs_f64());

    // 2. Stop the running job with a savepoint, or take the restore point found.
    let downtime_start = Instant::now();
    let restore = match &plan.start {
        Start::Update { job_id, .. } => {
            let old = JobId::new(job_id.clone());
            report.old_job_id = Some(job_id.clone());
            let location = stop_with_savepoint(client, s, &old, &jar_id).await?;
            report.timings_ms.savepoint = ms(downtime_start.elapsed());
            report.savepoint = Some(location.clone());
            Some(location)
        }
        Start::Restore { path, found_in } => {
            tracing::info!("restoring from {path} (found in {found_in})");
            Some(path.clone())
        }
        Start::Fresh { why } => {
            tracing::info!("starting with empty state: {why}");
            None
        }
    };
    report.restored_from = restore.clone();

    // 3. Run the new jar and check it.
    let run_job = RunJob {
        entry_class: s.args.entry_class.clone(),
        program_args: s.args.program_args.clone(),
        parallelism: s.args.parallelism,
        job_id: None,
        savepoint_path: restore.clone(),
        allow_non_restored_state: s.args.allow_non_restored_state,
        claim_mode: s.args.claim_mode.into(),
        flink_configuration: s.flink_conf.clone(),
    };
    let submitted = Instant::now();
    let outcome = match client.run_jar(&jar_id, &run_job).await {
        Ok(new_job) => {
            let after_submit = Instant::now();
            report.timings_ms.submission = ms(after_submit - submitted);
            report.new_job_id = Some(new_job.to_string());
            tracing::info!(job_id = %new_job, "submitted; waiting for all its tasks to run");
            health::check(
                client,
                &new_job,
                s.args.startup_timeout,
                s.args.stable_for,
                s.args.require_checkpoint,
            )
            .await
            .map(|h| (after_submit, h))
            .map_err(|why| (Some(new_job), why))
        }
        Err(e) => Err((None, format!("Flink refused to run it: {e}"))),
    };

    match outcome {
        Ok((after_submit, healthy)) => {
            report.timings_ms.until_running = ms(healthy.until_running);
            if report.old_job_id.is_some() {
                // From the stop request to every task of the new job running.
                report.timings_ms.downtime =
                    ms(after_submit + healthy.until_running - downtime_start);
            }
            prune_jars(client, s, &jar_id).await;
            tracing::info!("deployed");
            Ok(Exit::Ok)
        }
        Err((new_job, why)) => {
            tracing::error!("the new version is unhealthy: {why}");
            if let Some(job) = &new_job {
                if !s.args.no_rollback {
                    cancel_quietly(client, job).await;
                }
            }
            roll_back(
                client,
                s,
                &plan,
                &jar_id,
                restore.as_deref(),
                &run_job,
                &why,
                report,
            )
            .await
        }
    }
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

async fn stop_with_savepoint(
    client: &FlinkClient,
    s: &Settings,
    old: &JobId,
    new_jar: &JarId,
) -> Result<String, Failure> {
    let target = s
        .layout
        .as_ref()
        .map(|l| l.target_dir(&s.job_name, time::OffsetDateTime::now_utc()));
    // A savepoint needs every task running; a job just (re)started may still
    // be deploying them (e.g. after an interrupted deploy).
    let result = match health::wait_running(client, old, s.args.startup_timeout).await {
        Err(why) => Err(why),
        Ok(_) => {
            tracing::info!(job_id = %old, target = target.as_deref().unwrap_or("the cluster's default"), "stopping the running job with a savepoint");
            take_stop_savepoint(client, s, old, target.as_deref()).await
        }
    };
    let result = match result {
        Ok(location) => Ok(location),
        // An interrupted earlier deploy may have a stop of its own in flight:
        // Flink declines a second one while the tasks close, then the job
        // FINISHES with that stop's savepoint, which is as good as ours.
        Err(why) => match finished_with_savepoint(client, old).await {
            Some(location) => {
                tracing::warn!(job_id = %old, "our stop failed ({why}), but the job finished with a savepoint of an earlier stop");
                Ok(location)
            }
            None => Err(why),
        },
    };
    match result {
        Ok(location) => {
            tracing::info!(savepoint = %location, "stopped with a savepoint");
            Ok(location)
        }
        Err(why) => {
            // Whatever happened, the new jar must not linger.
            let _ = client.delete_jar(new_jar).await;
            let state = client.job(old).await.map(|d| d.state);
            let what = format!("savepoint of job {old} ({}) failed: {why}", s.job_name);
            Err(match state {
                Ok(JobState::Running) => fail(
                    Exit::OperationFailed,
                    format!("{what}. The job is still RUNNING; nothing was changed."),
                ),
                Ok(JobState::Finished) => fail(
                    Exit::OperationFailed,
                    format!(
                        "{what}. The job has FINISHED since (the stop may have completed late): \
                         run flink-deploy again, it restores from the newest savepoint."
                    ),
                ),
                Ok(other) => fail(
                    Exit::OperationFailed,
                    format!("{what}. The job is now {other}: check it in the Flink UI before running flink-deploy again."),
                ),
                Err(read) => fail(
                    Exit::Unreachable,
                    format!("{what}. Its state cannot be read now ({read}): check it before running flink-deploy again."),
                ),
            })
        }
    }
}

/// The savepoint `job` finished with, if it reaches FINISHED within a few
/// seconds (only a stop with a savepoint finishes a streaming job).
async fn finished_with_savepoint(client: &FlinkClient, job: &JobId) -> Option<String> {
    for _ in 0..40 {
        match client.job(job).await.map(|d| d.state) {
            Ok(JobState::Finished) => {
                let stats = client.checkpoints(job).await.ok()?;
                return stats
                    .newest_restorable()
                    .filter(|c| c.is_savepoint)
                    .and_then(|c| c.external_path.clone());
            }
            Ok(state) if state.is_terminal() => return None,
            _ => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
    None
}

async fn take_stop_savepoint(
    client: &FlinkClient,
    s: &Settings,
    old: &JobId,
    target: Option<&str>,
) -> Result<String, String> {
    let result = match client
        .stop_with_savepoint(old, target, false, s.args.savepoint_format.into())
        .await
    {
        Ok(op) => client.wait_for(&op, s.args.savepoint_timeout).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(Some(location)) => Ok(location),
        Ok(None) => Err("Flink gave no savepoint location".into()),
        Err(flink_rest::Error::OperationFailed { cause, .. }) => Err(cause),
        Err(e) => Err(e.to_string()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn roll_back(
    client: &FlinkClient,
    s: &Settings,
    plan: &Plan,
    new_jar: &JarId,
    restore: Option<&str>,
    run_job: &RunJob,
    why: &str,
    report: &mut Report,
) -> Result<Exit, Failure> {
    let from = restore.map(|p| format!(" from {p}")).unwrap_or_default();
    let by_hand = |jar: &str| {
        format!(
            "To restore by hand: run jar {jar} on the JobManager{}, or fix the release and run flink-deploy again{}",
            restore.map(|p| format!(" with savepointPath {p}")).unwrap_or_default(),
            restore.map(|p| format!(" (with --from-savepoint {p} if the job is not found running)")).unwrap_or_default()
        )
    };
    if s.args.no_rollback {
        return Err(fail(
            Exit::ManualAction,
            format!(
                "the new version is unhealthy: {why}. It was left as it is (--no-rollback). {}",
                by_hand(plan.previous_jar.as_deref().unwrap_or("<previous jar>"))
            ),
        ));
    }
    let Some(previous) = plan.previous_jar.as_ref().map(|j| JarId::new(j.clone())) else {
        if matches!(plan.start, Start::Fresh { .. }) {
            return Err(fail(
                Exit::RolledBack,
                format!("the new version is unhealthy: {why}. It was cancelled; there is no previous version to go back to."),
            ));
        }
        return Err(fail(
            Exit::ManualAction,
            format!(
                "the new version is unhealthy: {why}. It was cancelled, and no previous jar of '{}' is on the JobManager to roll back to. \
                 Nothing of '{}' runs now. {}",
                s.job_name, s.job_name, by_hand("<your previous release's jar>")
            ),
        ));
    };
    // The broken jar must not become the "previous" one of the next deploy.
    let _ = client.delete_jar(new_jar).await;
    tracing::warn!(jar = %previous, "rolling back to the previous jar{from}");
    let job = client.run_jar(&previous, run_job).await.map_err(|e| {
        fail(
            Exit::ManualAction,
            format!("the new version is unhealthy: {why}. Rolling back failed: {e}. Nothing of '{}' runs now. {}", s.job_name, by_hand(previous.as_str())),
        )
    })?;
    report.rollback_job_id = Some(job.to_string());
    match health::wait_running(client, &job, s.args.startup_timeout).await {
        Ok(_) => Err(fail(
            Exit::RolledBack,
            format!(
                "the new version is unhealthy: {why}. Rolled back: job {job} runs the previous jar {previous}{from}."
            ),
        )),
        Err(rollback_why) => Err(fail(
            Exit::ManualAction,
            format!(
                "the new version is unhealthy: {why}. The rollback job {job} (jar {previous}{from}) is unhealthy too: {rollback_why}. {}",
                by_hand(previous.as_str())
            ),
        )),
    }
}

async fn cancel_quietly(client: &FlinkClient, job: &JobId) {
    match client.job(job).await {
        Ok(d) if d.state.is_terminal() => {}
        _ => {
            if let Err(e) = client.cancel(job).await {
                tracing::warn!(job_id = %job, error = %e, "cannot cancel the unhealthy job");
            }
            // Wait briefly so a rollback does not compete with it for slots.
            for _ in 0..60 {
                match client.job(job).await {
                    Ok(d) if !d.state.is_terminal() => {
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await
                    }
                    _ => break,
                }
            }
        }
    }
}

/// Keeps this job's newest `keep_jars` jars (the new one among them).
async fn prune_jars(client: &FlinkClient, s: &Settings, new_jar: &JarId) {
    let jars = match jars_of(client, &s.job_name).await {
        Ok(jars) => jars,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the jars to prune");
            return;
        }
    };
    let keep = s.args.keep_jars as usize;
    let mut kept = 1;
    for jar in jars.iter().filter(|j| &j.id != new_jar) {
        if kept < keep {
            kept += 1;
            continue;
        }
        match client.delete_jar(&jar.id).await {
            Ok(()) => tracing::info!(jar = %jar.id, "deleted an old jar"),
            Err(e) => tracing::warn!(jar = %jar.id, error = %e, "cannot delete an old jar"),
        }
    }
}
