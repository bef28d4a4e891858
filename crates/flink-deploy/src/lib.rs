//! flink-deploy: deploy or update a Flink job from CI with no state lost.
//!
//! `deploy` validates everything first, uploads the new jar while the old
//! job still runs, stops the old job with a savepoint, runs the new jar
//! from it, watches the new job, and rolls back to the previous jar from the
//! same savepoint when it is unhealthy. `plan` prints what `deploy` would
//! do; `status` lists the cluster's jobs and what the savepoint layout holds for them (and the
//! job's current and previous release). With `--savepoint-dir`, every deploy holds the job's
//! lease and records the release it ran (`release`); `rollback` puts the previous recorded
//! release back, `stop` stops the job on purpose and records so; `scale` rescales a running job
//! in place (the adaptive scheduler's resource requirements). Exit codes are in
//! [`outcome::Exit`].

mod cli;
mod deploy;
mod downtime;
mod health;
mod holdings;
mod jar;
mod outcome;
mod plan;
mod preflight;
mod release;
mod scale;
mod settings;
mod status;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser as _;
use flink_ops_cli::{init_logging, Scrubber};

use crate::cli::{Cli, Command, Output};
use crate::outcome::Failure;
use crate::settings::Settings;

pub use outcome::Exit;

/// What a command printed: its exit code, its text and its JSON.
struct Printed {
    exit: Exit,
    text: String,
    json: serde_json::Value,
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let vars = flink_ops_cli::process_vars();
    let mut scrubber = Scrubber::new(&argv, vars.clone());
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return flink_ops_cli::print_clap_error(&e, &scrubber),
    };
    let env: BTreeMap<String, String> = vars.into_iter().collect();
    let output = match &cli.command {
        Command::Deploy(a) | Command::Plan(a) => a.common.output,
        Command::Status(a) => a.common.output,
        Command::Rollback(a) => a.release.common.output,
        Command::Stop(a) => a.release.common.output,
        Command::Scale(a) => a.common.output,
    };
    let result = run(cli, &argv, &env, &mut scrubber);
    match (&result, output) {
        (Ok(printed), Output::Text) if !printed.text.is_empty() => println!("{}", printed.text),
        (Ok(printed), Output::Json) => println!("{}", printed.json),
        (Err(f), Output::Json) => println!(
            "{}",
            serde_json::json!({ "outcome": "failed", "exit_code": flink_ops_cli::ExitStatus::code(f.exit), "message": f.to_string() })
        ),
        _ => {}
    }
    flink_ops_cli::finish(result.map(|printed| printed.exit))
}

/// Resolves the settings, sets up logging and runs the command.
fn run(
    cli: Cli,
    argv: &[OsString],
    env: &BTreeMap<String, String>,
    scrubber: &mut Scrubber,
) -> Result<Printed, Failure> {
    match cli.command {
        Command::Status(args) => {
            init_logging(args.common.log.log_format, "info");
            let client = client_of(&args.common)?;
            let layout = args
                .savepoint_dir
                .as_deref()
                .map(savepoint_layout::SavepointLayout::new)
                .transpose()
                .map_err(|e| Failure::new(Exit::Usage, e))?;
            let report = flink_ops_cli::runtime(Exit::Failure)?.block_on(status::status(
                &client,
                args.job_name.as_deref(),
                layout.as_ref(),
            ))?;

            Ok(Printed {
                exit: Exit::Ok,
                text: report.text(),
                json: serde_json::to_value(&report).unwrap_or_default(),
            })
        }
        Command::Scale(args) => {
            init_logging(args.common.log.log_format, "info");
            let client = client_of(&args.common)?;
            let target = scale::Target {
                parallelism: args.parallelism,
                vertices: args.vertex.clone(),
            };
            let report = flink_ops_cli::runtime(Exit::Failure)?.block_on(scale::scale(
                &client,
                &args.job_name,
                &target,
                args.timeout,
                args.allow_without_checkpoint,
            ))?;
            Ok(Printed {
                exit: Exit::Ok,
                text: report.text(),
                json: serde_json::to_value(&report).unwrap_or_default(),
            })
        }
        Command::Plan(first) => deploy_or_plan(&first, false, argv, env, scrubber),
        Command::Deploy(first) => deploy_or_plan(&first, true, argv, env, scrubber),
        Command::Rollback(args) => {
            init_logging(args.release.common.log.log_format, "info");
            let runtime = flink_ops_cli::runtime(Exit::Failure)?;
            runtime.block_on(rollback(args))
        }
        Command::Stop(args) => {
            init_logging(args.release.common.log.log_format, "info");
            let runtime = flink_ops_cli::runtime(Exit::Failure)?;
            runtime.block_on(async {
                let (report, exit) = deploy::stop_job(&args).await?;
                Ok(Printed {
                    exit,
                    text: report.text(),
                    json: serde_json::to_value(&report).unwrap_or_default(),
                })
            })
        }
    }
}

/// The JobManager client of `status` and `scale`: `--jobmanager-url` is required (exit 2).
fn client_of(common: &cli::CommonArgs) -> Result<flink_rest::FlinkClient, Failure> {
    let url = common
        .rest
        .jobmanager_url
        .clone()
        .ok_or(settings::SettingsError::NoUrl)
        .map_err(|e| Failure::new(Exit::Usage, e))?;
    common
        .rest
        .client_or(&url)
        .map_err(|e| Failure::new(Exit::Usage, e))
}

/// `rollback`: a deploy of the previous recorded release, its jar fetched from the layout.
async fn rollback(args: cli::RollbackArgs) -> Result<Printed, Failure> {
    let layout = savepoint_layout::SavepointLayout::new(&args.release.savepoint_dir)
        .map_err(|e| Failure::new(Exit::Usage, e))?;
    let job = args.release.job_name.clone();
    let lease = release::LeaseKeeper::take(&layout, &job, "rollback").await?;
    let result = rollback_holding(&args, &layout).await;
    lease.give_back().await;
    result
}

async fn rollback_holding(
    args: &cli::RollbackArgs,
    layout: &savepoint_layout::SavepointLayout,
) -> Result<Printed, Failure> {
    let job = &args.release.job_name;
    let refuse = |why: String| {
        Failure::new(
            Exit::Usage,
            anyhow::anyhow!(
                "cannot roll '{}' back: {why}. Nothing was changed.",
                flink_rest::printable_name(job)
            ),
        )
    };
    let current = layout.current_release(job).await.map_err(|e| {
        Failure::new(
            holdings::exit_of(&e),
            anyhow::Error::new(e).context("cannot read the release record; nothing was changed"),
        )
    })?;
    let Some(current) = current else {
        return Err(refuse(format!(
            "no release of it is recorded under {} (flink-deploy records one after each deploy with --savepoint-dir)",
            layout.release_location(job)
        )));
    };
    let Some(previous) = current.previous.as_deref() else {
        return Err(refuse(
            "its record names no previous release (it was deployed once)".into(),
        ));
    };
    let dir = tempfile::tempdir().map_err(|e| {
        Failure::new(
            Exit::Failure,
            anyhow::anyhow!("cannot make a temp dir: {e}"),
        )
    })?;
    let jar = layout.fetch_jar(previous, dir.path()).await.map_err(|e| {
        Failure::new(
            holdings::exit_of(&e),
            anyhow::Error::new(e)
                .context("cannot fetch the previous release's jar; nothing was changed"),
        )
    })?;
    tracing::info!(job = %job, job_id = %previous.job_id, recorded_at = %previous.recorded_at, sha256 = %previous.jar_sha256, "rolling back to the previous release");
    let settings = settings::Settings::of_release(args, previous, jar)
        .map_err(|e| Failure::new(Exit::Usage, e))?;
    let (client, jar, plan) = prepare(&settings).await?;
    if let plan::Start::Fresh { why } = &plan.start {
        return Err(refuse(format!(
            "there is nothing to restore it from ({why})"
        )));
    }
    let version = client_version(&client).await?;
    let context = release::Context::read(
        layout,
        &settings,
        version,
        savepoint_layout::ReleaseKind::Rollback,
    )
    .await?;
    let (report, exit) = deploy::deploy(&client, &settings, &jar, plan, Some(&context)).await;
    if let Some(message) = &report.message {
        tracing::error!("{message}");
    }
    Ok(Printed {
        exit,
        text: report.text(),
        json: serde_json::to_value(&report).unwrap_or_default(),
    })
}

/// `deploy`, or with `deploying` false, `plan`.
fn deploy_or_plan(
    first: &cli::DeployArgs,
    deploying: bool,
    argv: &[OsString],
    env: &BTreeMap<String, String>,
    scrubber: &mut Scrubber,
) -> Result<Printed, Failure> {
    let subcommand = if deploying { "deploy" } else { "plan" };
    let settings = Settings::resolve(first, subcommand, argv, env, scrubber);
    let log_format = match &settings {
        Ok(s) => s.args.common.log.log_format,
        Err(_) => first.common.log.log_format,
    };
    init_logging(log_format, "info");
    let settings = settings.map_err(|e| Failure::new(Exit::Usage, e))?;
    let runtime = flink_ops_cli::runtime(Exit::Failure)?;
    runtime.block_on(async {
        let (client, jar, mut plan) = prepare(&settings).await?;
        if !deploying {
            plan.graph = Some(preflight::plan_graph(&client, &settings, &plan).await?);
            return Ok(Printed {
                exit: Exit::Ok,
                text: plan.text(&settings),
                json: serde_json::to_value(&plan).unwrap_or_default(),
            });
        }
        let (report, exit) = match &settings.layout {
            // With a layout, the job's lease covers the deploy from a fresh plan on: nothing
            // else stops, runs or recovers the job meanwhile. (The first plan, made before,
            // refuses what is wrong without touching the store.)
            Some(layout) => {
                match release::LeaseKeeper::take_unless_denied(layout, &settings.job_name, "deploy")
                    .await?
                {
                    Some(lease) => {
                        let done = deploy_recorded(&settings, layout, &client, &jar).await;
                        lease.give_back().await;
                        done?
                    }
                    None => deploy::deploy(&client, &settings, &jar, plan, None).await,
                }
            }
            None => deploy::deploy(&client, &settings, &jar, plan, None).await,
        };
        if let Some(message) = &report.message {
            tracing::error!("{message}");
        }
        Ok(Printed {
            exit,
            text: report.text(),
            json: serde_json::to_value(&report).unwrap_or_default(),
        })
    })
}

/// A deploy with the lease held: planned again (the job may have changed while the lease was
/// taken), the current record read, then deployed and recorded.
async fn deploy_recorded(
    settings: &Settings,
    layout: &savepoint_layout::SavepointLayout,
    client: &flink_rest::FlinkClient,
    jar: &jar::JarInfo,
) -> Result<(outcome::Report, Exit), Failure> {
    let plan = plan::make_plan(client, settings).await?;
    let context = release::Context::read(
        layout,
        settings,
        client_version(client).await?,
        savepoint_layout::ReleaseKind::Deploy,
    )
    .await?;
    Ok(deploy::deploy(client, settings, jar, plan, Some(&context)).await)
}

/// The JobManager's Flink version, for the record.
async fn client_version(client: &flink_rest::FlinkClient) -> Result<String, Failure> {
    client
        .version()
        .await
        .map(|v| v.to_string())
        .map_err(|e| outcome::rest_failure("cannot reach the JobManager", e))
}

/// Everything before the first change: the jar, the cluster, the plan.
async fn prepare(
    settings: &Settings,
) -> Result<(flink_rest::FlinkClient, jar::JarInfo, plan::Plan), Failure> {
    let args = &settings.args;
    let jar = jar::inspect(&args.jar, args.entry_class.as_deref())
        .map_err(|e| Failure::new(Exit::Usage, e))?;
    let client = flink_rest::FlinkClient::new(args.common.rest.client_config(settings.url.clone()))
        .map_err(|e| Failure::new(Exit::Usage, e))?;
    let version = client.version().await.map_err(|e| {
        let doing = match e {
            flink_rest::Error::UnsupportedVersion { .. } => "cannot deploy to this JobManager",
            _ => "cannot reach the JobManager",
        };
        outcome::rest_failure(doing, e)
    })?;
    tracing::info!(jobmanager = %client.url(), flink = %version, job = %settings.job_name, "connected");
    let plan = plan::make_plan(&client, settings).await?;
    Ok((client, jar, plan))
}
