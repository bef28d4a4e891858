//! Command-line interface.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use flink_ops_cli::{
    env_vars, parse_duration, parse_key_value, parse_timeout, ClaimModeArg, LogArgs, RestArgs,
    SavepointFormatArg,
};

pub(crate) fn exit_codes() -> String {
    flink_ops_cli::help_table::<crate::outcome::Exit>()
}

const EXAMPLES: &str = "\
Examples:
  # Deploy or update (the Cloud Build step):
  flink-deploy deploy --jobmanager-url http://10.0.0.2:8081 --job-name orders \\
      --parallelism 72 --savepoint-dir gs://bucket/savepoints -- --kafka-topic orders
  # What would happen, changing nothing:
  flink-deploy plan --config-file deploy.yaml
  # The cluster's jobs, and the job's current and previous release:
  flink-deploy status --jobmanager-url http://10.0.0.2:8081 --job-name orders --savepoint-dir gs://bucket/savepoints
  # Put the previous release back (from a savepoint of the running one):
  flink-deploy rollback --jobmanager-url http://10.0.0.2:8081 --job-name orders --savepoint-dir gs://bucket/savepoints
  # Stop on purpose, with a savepoint (the recovery sidecar then leaves it stopped):
  flink-deploy stop --jobmanager-url http://10.0.0.2:8081 --job-name orders --savepoint-dir gs://bucket/savepoints
  # Rescale the running job in place (adaptive scheduler, Flink 1.18+):
  flink-deploy scale --jobmanager-url http://10.0.0.2:8081 --job-name orders --parallelism 96";

/// Deploy or update a Flink job with no state lost.
#[derive(Debug, Parser)]
#[command(name = "flink-deploy", version, about, after_long_help = format!("{EXAMPLES}\n\n{}", exit_codes()))]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy the job, or update it: stop with a savepoint, run the new jar from it, check it, roll back if unhealthy
    #[command(after_long_help = exit_codes())]
    Deploy(DeployArgs),
    /// Print what deploy would do, and the new job graph beside the running one; changes nothing but uploads the jar for the preflight and deletes it
    Plan(DeployArgs),
    /// List the cluster's jobs with their newest savepoint or checkpoint, and with --savepoint-dir what the layout holds (and with --job-name its current and previous release)
    Status(StatusArgs),
    /// Put the previous release (from the release record) back: stop the running job with a savepoint, run the previous release from it, check it, roll forward again if it is unhealthy
    #[command(after_long_help = exit_codes())]
    Rollback(RollbackArgs),
    /// Stop the job with a savepoint on purpose and record that it is stopped, so the recovery sidecar never brings it back (a later deploy records it running again)
    #[command(after_long_help = exit_codes())]
    Stop(StopArgs),
    /// Rescale the running job in place (adaptive scheduler, Flink 1.18+): set its resource requirements, wait until it runs at them; its state carries on from the latest checkpoint
    #[command(after_long_help = exit_codes())]
    Scale(ScaleArgs),
}

/// Output of results on stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub rest: RestArgs,

    /// How results are printed on stdout
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,

    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Only the jobs of this name (matched exactly), and its savepoints in the layout even when the JobManager no longer knows it
    #[arg(long, env = env_vars::FLINK_JOB_NAME, alias = "job_name", value_parser = savepoint_layout::parse_job_name)]
    pub job_name: Option<String>,

    /// Root of the savepoint layout: also show what it holds for each job (newest complete savepoint, counts, bytes, set-aside ones)
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_DIR, value_name = "DIR")]
    pub savepoint_dir: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ScaleArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// The running job's name (matched exactly)
    #[arg(long, env = env_vars::FLINK_JOB_NAME, alias = "job_name", value_parser = savepoint_layout::parse_job_name)]
    pub job_name: String,

    /// The new parallelism of every vertex
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=32768), required_unless_present = "vertex")]
    pub parallelism: Option<u32>,

    /// One vertex's new parallelism, ID=N, by its id or exact name (repeatable; wins over --parallelism for that vertex)
    #[arg(long = "vertex", value_parser = parse_vertex_parallelism, value_name = "ID=N")]
    pub vertex: Vec<(String, u32)>,

    /// How long the job may take to run at the new parallelism (exit 15 after it)
    #[arg(long, value_parser = parse_timeout, default_value = "5m", value_name = "DURATION")]
    pub timeout: Duration,

    /// Rescale a job that has no completed checkpoint (its tasks restart without state)
    #[arg(long)]
    pub allow_without_checkpoint: bool,
}

/// `ID=N`: a vertex (id or name) and a parallelism of 1 to 32768.
fn parse_vertex_parallelism(s: &str) -> Result<(String, u32), String> {
    let (vertex, n) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected ID=N (a vertex id or name, a parallelism), not {s:?}"))?;
    if vertex.trim().is_empty() {
        return Err(format!("no vertex before '=' in {s:?}"));
    }
    let n: u32 = n
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=32768).contains(n))
        .ok_or_else(|| format!("the parallelism in {s:?} must be a number from 1 to 32768"))?;
    Ok((vertex.to_string(), n))
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// A YAML deploy spec holding any of these settings, keyed by their long names; flags and the environment win over it
    #[arg(long, env = env_vars::FLINK_DEPLOY_CONFIG, value_name = "FILE", alias = "config_file")]
    pub config_file: Option<PathBuf>,

    /// The job's name; running jobs are matched exactly
    #[arg(long, env = env_vars::FLINK_JOB_NAME, alias = "job_name", value_parser = savepoint_layout::parse_job_name)]
    pub job_name: Option<String>,

    /// The job's jar
    #[arg(long, env = env_vars::FLINK_JOB_JAR, default_value = "/opt/flink-job/job.jar")]
    pub jar: PathBuf,

    /// The main class, when the jar's manifest names none (or another is wanted)
    #[arg(long, value_name = "CLASS")]
    pub entry_class: Option<String>,

    /// The job's parallelism (with the adaptive scheduler: its upper bound)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=32768))]
    pub parallelism: Option<u32>,

    /// Root of the savepoint layout, shared with flink-savepointer: <dir>/<job>/<UTC date>/savepoint-*
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_DIR, value_name = "DIR")]
    pub savepoint_dir: Option<String>,

    /// Restore from this savepoint or retained checkpoint (only when the job is not running)
    #[arg(long, value_name = "PATH", value_parser = parse_restore_path)]
    pub from_savepoint: Option<String>,

    /// Skip state that maps to no operator of the new version
    #[arg(long)]
    pub allow_non_restored_state: bool,

    /// Start without state when the job ran before but no savepoint is found
    #[arg(long)]
    pub allow_fresh_start: bool,

    /// Who owns the restored savepoint: no-claim (it stays yours) or claim (the job may delete it)
    #[arg(long, value_enum, default_value = "no-claim")]
    pub claim_mode: ClaimModeArg,

    /// Format of the savepoint taken when stopping
    #[arg(long, value_enum, default_value = "canonical")]
    pub savepoint_format: SavepointFormatArg,

    /// How long the stop-with-savepoint may take. Flink goes on with a stop after that, so flink-deploy then watches it as long again (until the job runs on or finishes with a savepoint) before it gives up with exit 7; after SIGTERM/SIGINT, 5s more at most
    #[arg(long, value_parser = parse_timeout, default_value = "15m", value_name = "DURATION")]
    pub savepoint_timeout: Duration,

    /// How long the new job may take until it and all its tasks run
    #[arg(long, value_parser = parse_timeout, default_value = "5m", value_name = "DURATION")]
    pub startup_timeout: Duration,

    /// How long the new job must run without a failure in Flink's exception history to count as
    /// healthy (a rescale of the adaptive scheduler is logged, not a failure)
    #[arg(long, value_parser = parse_duration, default_value = "30s", value_name = "DURATION")]
    pub stable_for: Duration,

    /// Also require one completed checkpoint before the new job counts as healthy
    #[arg(long)]
    pub require_checkpoint: bool,

    /// Leave an unhealthy new job as it is instead of rolling back (exit 6)
    #[arg(long)]
    pub no_rollback: bool,

    /// How many of this job's jars to keep on the JobManager (the new one included)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_jars: u32,

    /// Job configuration, key=value (repeatable), sent as the job's flinkConfiguration
    #[arg(long = "flink-conf", value_parser = parse_key_value, value_name = "KEY=VALUE")]
    pub flink_conf: Vec<(String, String)>,

    /// The job's own arguments
    #[arg(last = true, value_name = "PROGRAM_ARGS")]
    pub program_args: Vec<String>,
}

/// A restore path: not blank (Flink reads an empty `savepointPath` as "no savepoint", which
/// would start the job empty).
fn parse_restore_path(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err(
            "the path is empty (an unset variable?): give a savepoint or checkpoint path, \
             or leave the flag out"
                .into(),
        );
    }
    Ok(s.to_string())
}

/// The steps of a rollback or stop that work like a deploy's.
#[derive(Debug, Clone, Args)]
pub struct ReleaseCommandArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// The job's name; running jobs are matched exactly
    #[arg(long, env = env_vars::FLINK_JOB_NAME, alias = "job_name", value_parser = savepoint_layout::parse_job_name)]
    pub job_name: String,

    /// Root of the savepoint layout, where the release record is
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_DIR, value_name = "DIR")]
    pub savepoint_dir: String,

    /// Format of the savepoint taken when stopping
    #[arg(long, value_enum, default_value = "canonical")]
    pub savepoint_format: SavepointFormatArg,

    /// How long the stop-with-savepoint may take (then watched as long again, as deploy does)
    #[arg(long, value_parser = parse_timeout, default_value = "15m", value_name = "DURATION")]
    pub savepoint_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub release: ReleaseCommandArgs,

    /// How long the previous release may take until it and all its tasks run
    #[arg(long, value_parser = parse_timeout, default_value = "5m", value_name = "DURATION")]
    pub startup_timeout: Duration,

    /// How long the previous release must run without a failure to count as healthy
    #[arg(long, value_parser = parse_duration, default_value = "30s", value_name = "DURATION")]
    pub stable_for: Duration,

    /// Also require one completed checkpoint before it counts as healthy
    #[arg(long)]
    pub require_checkpoint: bool,

    /// Leave an unhealthy previous release as it is instead of rolling forward again (exit 6)
    #[arg(long)]
    pub no_rollback: bool,
}

#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub release: ReleaseCommandArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vertex_parallelism_parses_id_or_name() {
        assert_eq!(
            parse_vertex_parallelism("counter=4").unwrap(),
            ("counter".to_string(), 4)
        );
        // A name may hold '=': the number is after the last one.
        assert_eq!(
            parse_vertex_parallelism("a=b=2").unwrap(),
            ("a=b".to_string(), 2)
        );
        for bad in ["counter", "=3", "counter=0", "counter=x", "counter=40000"] {
            assert!(parse_vertex_parallelism(bad).is_err(), "{bad}");
        }
    }
}
