//! flink-deploy: deploy or update a Flink job from CI with no state lost.
//!
//! `deploy` validates everything first, uploads the new jar while the old
//! job still runs, stops the old job with a savepoint, runs the new jar
//! from it, watches the new job, and rolls back to the previous jar from the
//! same savepoint when it is unhealthy. `plan` prints what `deploy` would
//! do; `status` lists the cluster's jobs. Exit codes are in [`outcome::Exit`].

mod cli;
mod deploy;
mod health;
mod jar;
mod outcome;
mod plan;
mod settings;
mod status;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use flink_ops_cli::init_logging;

use crate::cli::{Cli, Command, Output};
use crate::outcome::{Exit, Failure};
use crate::settings::Settings;

pub use outcome::Exit as ExitStatus;

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Invalid.into()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return Exit::Invalid.into();
        }
    };
    let sub_matches = matches
        .subcommand()
        .map(|(_, m)| m.clone())
        .expect("a subcommand is required");
    let (common, output) = match &cli.command {
        Command::Deploy(a) | Command::Plan(a) => (&a.common, a.common.output),
        Command::Status(a) => (&a.common, a.common.output),
    };
    init_logging(common.log_format, "info");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (exit, text, json) = runtime.block_on(run(cli.command, &sub_matches));
    match output {
        Output::Text => {
            if !text.is_empty() {
                println!("{text}");
            }
        }
        Output::Json => println!("{json}"),
    }
    exit.into()
}

/// Runs a command: its exit code, its text and its JSON output.
async fn run(command: Command, matches: &clap::ArgMatches) -> (Exit, String, serde_json::Value) {
    match command {
        Command::Status(args) => {
            let url = args.common.rest.jobmanager_url.clone();
            let result = match url {
                None => Err(Failure::invalid(
                    "no JobManager URL: pass --jobmanager-url or set FLINK_JOBMANAGER_URL",
                )),
                Some(url) => match args.common.rest.client_or(&url) {
                    Ok(client) => status::status(&client).await,
                    Err(e) => Err(Failure::invalid(e.to_string())),
                },
            };
            match result {
                Ok(jobs) => (
                    Exit::Deployed,
                    status::text(&jobs),
                    serde_json::json!({ "jobs": jobs }),
                ),
                Err(f) => failed(f),
            }
        }
        Command::Plan(args) => match prepare(args, matches).await {
            Ok((_, settings, _, plan)) => {
                let text = plan.text(&settings);
                (
                    Exit::Deployed,
                    text,
                    serde_json::to_value(&plan).unwrap_or_default(),
                )
            }
            Err(f) => failed(f),
        },
        Command::Deploy(args) => match prepare(args, matches).await {
            Ok((client, settings, jar, plan)) => {
                let (report, exit) = deploy::deploy(&client, &settings, &jar, plan).await;
                if let Some(message) = &report.message {
                    tracing::error!("{message}");
                }
                let json = serde_json::to_value(&report).unwrap_or_default();
                (exit, report.text(), json)
            }
            Err(f) => failed(f),
        },
    }
}

fn failed(f: Failure) -> (Exit, String, serde_json::Value) {
    tracing::error!("{}", f.message);
    let json =
        serde_json::json!({ "outcome": "failed", "exit_code": f.exit as u8, "message": f.message });
    (f.exit, String::new(), json)
}

/// Everything before the first change: settings, the jar, the cluster, the plan.
async fn prepare(
    args: cli::DeployArgs,
    matches: &clap::ArgMatches,
) -> Result<(flink_rest::FlinkClient, Settings, jar::JarInfo, plan::Plan), Failure> {
    let settings = Settings::resolve(args, matches).map_err(Failure::invalid)?;
    let jar =
        jar::inspect(&settings.jar, settings.entry_class.as_deref()).map_err(Failure::invalid)?;
    let client = flink_rest::FlinkClient::new(settings.rest.client_config(settings.url.clone()))
        .map_err(|e| Failure::invalid(e.to_string()))?;
    let version = client
        .version()
        .await
        .map_err(|e| outcome::rest_failure("cannot reach the JobManager", e))?;
    tracing::info!(jobmanager = %client.url(), flink = %version, job = %settings.job_name, "connected");
    let plan = plan::make_plan(&client, &settings).await?;
    Ok((client, settings, jar, plan))
}
