//! flink-savepointer: the savepoint sidecar next to the JobManager.
//!
//! It replaces the cron job that runs `flink list | grep NAME` and
//! `flink savepoint ID DIR/$(date)` on the JobManager: it talks to the REST
//! API, matches job names exactly, writes into the shared savepoint layout
//! (`<dir>/<job>/<UTC %Y-%m-%d-%H-%M>/savepoint-*/`, which flink-deploy reads),
//! disposes old savepoints through Flink, and tells how it goes on
//! `/metrics`, `/healthz` and `/readyz`.
//!
//! - `flink-savepointer run`: the daemon, a round on every tick of
//!   `--every` (monotonic clock) or `--schedule` (cron, UTC).
//! - `flink-savepointer once`: one round, with an exit code for cron.
//! - `flink-savepointer prune`: retention alone, no savepoint taken.
//!
//! The binary's `main` only calls [`main`].
#![deny(missing_docs)]

pub mod cli;
pub mod exit;
pub mod http;
pub mod prune;
pub mod recommend;
pub mod recover;
pub mod retention;
pub mod round;
pub mod schedule;
pub mod select;
pub mod status;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use url::Url;

use crate::cli::{BaseArgs, Cli, Command, OnceArgs, PruneArgs, RunArgs};
use crate::exit::Exit;
use crate::round::Settings;
use crate::round::{RoundReport, Savepointer};
use crate::schedule::Backoff;
use crate::status::Status;
use flink_ops_cli::OrExit as _;

const DEFAULT_JOBMANAGER_URL: &str = "http://localhost:8081";

/// Parses the command line, runs, and turns the result into an exit code.
pub fn main() -> ExitCode {
    let cli = match flink_ops_cli::parse_command_line::<Cli>() {
        Ok((cli, _)) => cli,
        Err(code) => return code,
    };
    let result = flink_ops_cli::runtime(Exit::Failure).and_then(|rt| {
        // In a task, so even a panic ends with one of the documented codes.
        let result = rt
            .block_on(async { tokio::spawn(run(cli)).await })
            .unwrap_or_else(|e| {
                Err(Failure::msg(
                    Exit::Failure,
                    format!("flink-savepointer stopped on an internal error: {e}"),
                ))
            });
        // Whatever is left (abandoned savepoint polls, a blocked listing) is not waited for.
        rt.shutdown_background();
        result
    });
    flink_ops_cli::finish(result)
}

/// An error and the exit code it ends the process with.
pub type Failure = flink_ops_cli::Failure<Exit>;

/// Runs a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> Result<Exit, Failure> {
    match cli.command {
        Command::Run(args) => run_daemon(*args).await,
        Command::Once(args) => run_once(*args).await,
        Command::Prune(args) => run_prune(*args).await,
    }
}

/// Logging, the REST client and the savepointer, from the flags.
fn setup(base: &BaseArgs, settings: Settings) -> Result<Savepointer, Failure> {
    flink_ops_cli::init_logging(base.log.log_format, "info");
    let default_url = Url::parse(DEFAULT_JOBMANAGER_URL).expect("a valid default URL");
    let client = base
        .rest
        .client_or(&default_url)
        .context("cannot set up the REST client")
        .or_exit(Exit::Usage)?;
    Ok(Savepointer::new(client, settings, Arc::new(Status::new())))
}

/// How far the stop signals have gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stop {
    /// No signal yet.
    No,
    /// A first SIGTERM/SIGINT: no new round; the one in flight gets the grace.
    Graceful,
    /// A second one: stop at once.
    Now,
}

/// Follows SIGTERM and SIGINT: the first asks for a graceful stop, the
/// second for an immediate one.
fn stop_signal() -> Result<watch::Receiver<Stop>, Failure> {
    let mut term = signal(SignalKind::terminate())
        .context("cannot listen for SIGTERM")
        .or_exit(Exit::Failure)?;
    let mut int = signal(SignalKind::interrupt())
        .context("cannot listen for SIGINT")
        .or_exit(Exit::Failure)?;
    let (tx, rx) = watch::channel(Stop::No);
    tokio::spawn(async move {
        for stop in [Stop::Graceful, Stop::Now] {
            let name = tokio::select! {
                Some(()) = term.recv() => "SIGTERM",
                Some(()) = int.recv() => "SIGINT",
                else => return,
            };
            if stop == Stop::Graceful {
                tracing::info!(signal = name, "{name} received: stopping");
            } else {
                tracing::warn!(signal = name, "{name} received again: stopping at once");
            }
            tx.send_replace(stop);
        }
    });
    Ok(rx)
}

/// Returns once the stop signals have reached `level`.
async fn stop_reached(rx: &mut watch::Receiver<Stop>, level: Stop) {
    // An error means the sender is gone without getting there: it never will.
    if rx.wait_for(|stop| *stop >= level).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs a round; on a stop signal, gives it `grace` to finish, or less if a
/// second signal comes. `None` when it was abandoned; true when stopping.
async fn round_with_grace(
    savepointer: &Savepointer,
    stop: &mut watch::Receiver<Stop>,
    grace: Duration,
) -> (Option<RoundReport>, bool) {
    let round = savepointer.round();
    tokio::pin!(round);
    tokio::select! {
        report = &mut round => return (Some(report), false),
        _ = stop_reached(stop, Stop::Graceful) => {}
    }
    let jobs = jobs_list(&savepointer.saving());
    tracing::info!(
        grace_s = grace.as_secs_f64(),
        jobs = %jobs,
        "waiting up to {}s for the round in flight (savepoints of: {jobs}); a second SIGTERM or SIGINT stops at once",
        grace.as_secs_f64()
    );
    let when = tokio::select! {
        report = tokio::time::timeout(grace, &mut round) => match report {
            Ok(report) => return (Some(report), true),
            Err(_) => "after the grace period",
        },
        _ = stop_reached(stop, Stop::Now) => "on the second signal",
    };
    let jobs = jobs_list(&savepointer.saving());
    tracing::warn!(
        jobs = %jobs,
        "savepoints still in flight {when} are abandoned (of: {jobs}); Flink may still complete them"
    );
    (None, true)
}

/// `'a', 'b'` for a log line, or `none`.
fn jobs_list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    let quoted: Vec<String> = names
        .iter()
        .map(|n| format!("'{}'", printable(n)))
        .collect();
    quoted.join(", ")
}

async fn run_once(args: OnceArgs) -> Result<Exit, Failure> {
    let savepointer = setup(&args.common.base, args.common.settings())?;
    let mut stop = stop_signal()?;
    let (report, _) = round_with_grace(&savepointer, &mut stop, args.shutdown_grace).await;
    let Some(report) = report else {
        return Ok(Exit::OperationFailed);
    };
    if report.unreachable.is_some() {
        tracing::error!(
            "the JobManager at {} did not answer; no savepoint was taken",
            shown_jobmanager_url(&args.common.base)
        );
    }
    let exit = report.exit_code();
    if let Err(e) = print_saved(&report, &mut std::io::stdout().lock()) {
        // Not a panic: the savepoints exist, and their log lines say where.
        tracing::error!(error = %e, "cannot write the savepoint locations to stdout: {e}; the log lines above have them");
        if exit == Exit::Ok {
            return Ok(Exit::Failure);
        }
    }
    Ok(exit)
}

/// `once`'s output: `<job name>\t<location>` per savepoint taken, escaped
/// so that a name with a tab or newline keeps one line of two fields.
fn print_saved(report: &RoundReport, out: &mut impl std::io::Write) -> std::io::Result<()> {
    for job in &report.jobs {
        if let round::Outcome::Saved { location, .. } = &job.outcome {
            writeln!(out, "{}\t{}", printable(&job.name), printable(location))?;
        }
    }
    out.flush()
}

async fn run_prune(args: PruneArgs) -> Result<Exit, Failure> {
    let savepointer = setup(&args.base, args.base.settings())?;
    let report = prune::prune(&savepointer, args.dry_run)
        .await
        .map_err(|e| {
            let url = shown_jobmanager_url(&args.base);
            Failure::msg(e.exit, format!("{} (JobManager {url})", e))
        })?;
    let exit = report.exit_code();
    if let Err(e) = report.print(&mut std::io::stdout().lock()) {
        tracing::error!(error = %e, "cannot write what was pruned to stdout: {e}; the log lines above say it");
        if exit == Exit::Ok {
            return Ok(Exit::Failure);
        }
    }
    Ok(exit)
}

fn shown_jobmanager_url(base: &BaseArgs) -> String {
    base.rest
        .jobmanager_url
        .as_ref()
        .map(|u| flink_rest::RedactedUrl::new(u.clone()).to_string())
        .unwrap_or_else(|| DEFAULT_JOBMANAGER_URL.to_string())
}

/// The failure when a task that should run until the stop ended.
fn ended_early(what: &str, ended: Result<(), tokio::task::JoinError>) -> Failure {
    let why = match ended {
        Ok(()) => "it stopped".to_string(),
        Err(e) => e.to_string(),
    };
    Failure::msg(
        Exit::Failure,
        format!("{what} ended unexpectedly ({why}); exiting so that the sidecar is restarted"),
    )
}

async fn run_daemon(args: RunArgs) -> Result<Exit, Failure> {
    let recommend = args
        .recommend
        .settings()
        .map_err(|e| Failure::msg(Exit::Usage, e))?;
    let savepointer = setup(&args.common.base, args.common.settings())?;
    let schedule = args.schedule();
    let interval = schedule.nominal_interval();
    let mut stop = stop_signal()?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", args.listen))
        .or_exit(Exit::Failure)?;
    let health = http::Health::new(savepointer.status().clone(), interval, args.common.timeout);
    let mut server = {
        let mut stop = stop.clone();
        tokio::spawn(http::serve(listener, http::router(health), async move {
            stop_reached(&mut stop, Stop::Graceful).await
        }))
    };
    tracing::info!(
        jobmanager = %shown_jobmanager_url(&args.common.base),
        listen = %args.listen,
        schedule = %schedule,
        target_dir = %args.common.base.target_dir.root(),
        "flink-savepointer started: savepoints {schedule} into {}",
        args.common.base.target_dir.root()
    );

    // Between rounds (15 minutes by default), readiness still follows the JobManager.
    let mut probe = {
        let savepointer = savepointer.clone();
        let period = interval.clamp(Duration::from_secs(1), Duration::from_secs(10));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                savepointer.probe().await;
            }
        })
    };

    // --recover: its own loop, a few checks per grace period, independent of the schedule.
    let mut recovery = match args.recover {
        false => tokio::spawn(std::future::pending::<()>()),
        true => {
            savepointer.status().enable_recovery();
            let recoverer = recover::Recoverer::new(
                savepointer.client().clone(),
                args.common.base.target_dir.clone(),
                args.common.base.selector(),
                args.recover_grace,
                savepointer.status().clone(),
            );
            tracing::info!(
                grace_s = args.recover_grace.as_secs_f64(),
                "recovery is on: a selected job with a release record that the JobManager lost is submitted again after {}s",
                args.recover_grace.as_secs_f64()
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(recoverer.period()).await;
                    recoverer.check().await;
                }
            })
        }
    };
    // --recommend: its own loop on its own interval; a round of savepoints does not delay it.
    let mut recommending = recommend.map(|settings| {
        tracing::info!(
            every_s = settings.every.as_secs_f64(),
            window_s = settings.policy.metrics_window.as_secs_f64(),
            stabilisation_s = settings.policy.stabilisation.as_secs_f64(),
            apply = settings.apply,
            "recommending each job's size from its metrics{}",
            if settings.apply {
                ", and applying it in place"
            } else {
                ""
            }
        );
        tokio::spawn(recommend::run(
            savepointer.client().clone(),
            args.common.base.selector(),
            settings,
            savepointer.status().clone(),
        ))
    });

    let mut ticker = schedule.ticker();
    let mut backoff = Backoff::new(
        Duration::from_secs(1),
        interval.min(Duration::from_secs(30)),
    );
    let mut retry: Option<Duration> = None;
    loop {
        let wait = async {
            match retry {
                Some(wait) => tokio::time::sleep(wait).await,
                None => ticker.tick().await,
            }
        };
        tokio::select! {
            biased;
            _ = stop_reached(&mut stop, Stop::Graceful) => break,
            // Without its listener or probe the sidecar would look healthy while blind.
            ended = &mut server => return Err(ended_early("the HTTP listener", ended)),
            ended = &mut probe => return Err(ended_early("the JobManager probe", ended)),
            ended = &mut recovery => return Err(ended_early("the recovery loop", ended)),
            ended = async {
                match recommending.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            } => return Err(ended_early("the recommendation loop", ended)),
            _ = wait => {}
        }
        let (report, stopping) =
            round_with_grace(&savepointer, &mut stop, args.shutdown_grace).await;
        if stopping {
            break;
        }
        match report.and_then(|r| r.unreachable) {
            Some(_) => {
                let wait = backoff.next_wait();
                tracing::warn!(
                    retry_in_s = wait.as_secs_f64(),
                    "the JobManager is unreachable; trying again in {}s",
                    wait.as_secs_f64()
                );
                retry = Some(wait);
            }
            None => {
                if retry.take().is_some() {
                    tracing::info!("the JobManager answers again");
                    ticker.restart();
                }
                backoff.reset();
            }
        }
    }

    probe.abort();
    // A recovery in flight is abandoned with its lease, which expires (recover::LEASE_TTL).
    recovery.abort();
    if let Some(recommending) = recommending {
        recommending.abort();
    }
    if *stop.borrow() < Stop::Now {
        match tokio::time::timeout(Duration::from_secs(15), server).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP listener failed: {e}"),
            Ok(Ok(())) => {}
            Err(_) => tracing::warn!("the HTTP listener did not stop in time"),
        }
    }
    tracing::info!("flink-savepointer stopped");
    Ok(Exit::Ok)
}

/// Text from the JobManager, safe to print on one line (see [`flink_rest::printable_name`]).
pub(crate) use flink_rest::printable_name as printable;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round::{JobReport, Outcome};

    #[test]
    fn once_prints_one_line_of_two_fields_per_savepoint() {
        let report = RoundReport {
            unreachable: None,
            jobs: vec![
                JobReport {
                    name: "evil\nforged\tline".into(),
                    job: None,
                    outcome: Outcome::Saved {
                        location: "file:/sp/x\ny".into(),
                        took: Duration::ZERO,
                    },
                    retention_failed: false,
                },
                JobReport {
                    name: "failed".into(),
                    job: None,
                    outcome: Outcome::Failed {
                        cause: "x".into(),
                        unreachable: false,
                    },
                    retention_failed: false,
                },
            ],
        };
        let mut out = Vec::new();
        print_saved(&report, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out, "evil\\nforged\\tline\tfile:/sp/x\\ny\n");
    }

    #[test]
    fn jobs_are_listed_escaped() {
        assert_eq!(jobs_list(&[]), "none");
        assert_eq!(
            jobs_list(&["orders".into(), "a\nb".into()]),
            "'orders', 'a\\nb'"
        );
    }
}
