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
//!
//! The binary's `main` only calls [`main`].
#![deny(missing_docs)]

pub mod cli;
pub mod exit;
pub mod http;
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

use crate::cli::{Cli, Command, CommonArgs, OnceArgs, RunArgs};
use crate::exit::Exit;
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
    let result = flink_ops_cli::runtime(Exit::Failure).and_then(|rt| rt.block_on(run(cli)));
    flink_ops_cli::finish(result)
}

/// An error and the exit code it ends the process with.
pub type Failure = flink_ops_cli::Failure<Exit>;

/// Runs a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> Result<Exit, Failure> {
    match cli.command {
        Command::Run(args) => run_daemon(*args).await,
        Command::Once(args) => run_once(*args).await,
    }
}

/// Logging, the REST client and the savepointer, from the common flags.
fn setup(common: &CommonArgs) -> Result<Savepointer, Failure> {
    flink_ops_cli::init_logging(common.log.log_format, "info");
    let default_url = Url::parse(DEFAULT_JOBMANAGER_URL).expect("a valid default URL");
    let client = common
        .rest
        .client_or(&default_url)
        .context("cannot set up the REST client")
        .or_exit(Exit::Usage)?;
    Ok(Savepointer::new(
        client,
        common.settings(),
        Arc::new(Status::new()),
    ))
}

/// A receiver that turns true on the first SIGTERM or SIGINT.
fn stop_signal() -> Result<watch::Receiver<bool>, Failure> {
    let mut term = signal(SignalKind::terminate())
        .context("cannot listen for SIGTERM")
        .or_exit(Exit::Failure)?;
    let mut int = signal(SignalKind::interrupt())
        .context("cannot listen for SIGINT")
        .or_exit(Exit::Failure)?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "{name} received: stopping");
        let _ = tx.send(true);
    });
    Ok(rx)
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: never stopped by it.
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs a round; on a stop signal, gives it `grace` to finish. `None` when
/// it was abandoned.
async fn round_with_grace(
    savepointer: &Savepointer,
    stop: &mut watch::Receiver<bool>,
    grace: Duration,
) -> (Option<RoundReport>, bool) {
    let round = savepointer.round();
    tokio::pin!(round);
    tokio::select! {
        report = &mut round => (Some(report), false),
        _ = stopped(stop) => {
            tracing::info!(grace_s = grace.as_secs_f64(), "waiting up to {}s for the savepoints in flight", grace.as_secs_f64());
            match tokio::time::timeout(grace, round).await {
                Ok(report) => (Some(report), true),
                Err(_) => {
                    tracing::warn!("savepoints still in flight after the grace period: abandoned (Flink may still complete them)");
                    (None, true)
                }
            }
        }
    }
}

async fn run_once(args: OnceArgs) -> Result<Exit, Failure> {
    let savepointer = setup(&args.common)?;
    let mut stop = stop_signal()?;
    let (report, _) = round_with_grace(&savepointer, &mut stop, args.shutdown_grace).await;
    let Some(report) = report else {
        return Ok(Exit::OperationFailed);
    };
    for job in &report.jobs {
        if let round::Outcome::Saved { location, .. } = &job.outcome {
            println!("{}\t{location}", job.name);
        }
    }
    if report.unreachable.is_some() {
        tracing::error!(
            "the JobManager at {} did not answer; no savepoint was taken",
            shown_jobmanager_url(&args.common)
        );
    }
    Ok(report.exit_code())
}

fn shown_jobmanager_url(common: &CommonArgs) -> String {
    common
        .rest
        .jobmanager_url
        .as_ref()
        .map(|u| flink_rest::RedactedUrl::new(u.clone()).to_string())
        .unwrap_or_else(|| DEFAULT_JOBMANAGER_URL.to_string())
}

async fn run_daemon(args: RunArgs) -> Result<Exit, Failure> {
    let savepointer = setup(&args.common)?;
    let schedule = args.schedule();
    let interval = schedule.nominal_interval();
    let mut stop = stop_signal()?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", args.listen))
        .or_exit(Exit::Failure)?;
    let health = http::Health::new(savepointer.status().clone(), interval, args.common.timeout);
    let server = {
        let mut stop = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, http::router(health))
                .with_graceful_shutdown(async move { stopped(&mut stop).await })
                .await
        })
    };
    tracing::info!(
        jobmanager = %shown_jobmanager_url(&args.common),
        listen = %args.listen,
        schedule = %schedule,
        target_dir = %args.common.target_dir.root(),
        "flink-savepointer started: savepoints {schedule} into {}",
        args.common.target_dir.root()
    );

    // Between rounds (15 minutes by default), readiness still follows the JobManager.
    let probe = {
        let savepointer = savepointer.clone();
        let period = interval.clamp(Duration::from_secs(1), Duration::from_secs(10));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                savepointer.probe().await;
            }
        })
    };

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
            _ = stopped(&mut stop) => break,
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
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the HTTP listener failed"),
        Ok(_) => {}
        Err(_) => tracing::warn!("the HTTP listener did not stop in time"),
    }
    tracing::info!("flink-savepointer stopped");
    Ok(Exit::Ok)
}
