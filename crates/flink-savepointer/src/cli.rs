//! Flags, their environment fallbacks and their validation.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use flink_ops_cli::{
    env_vars, parse_duration, parse_timeout, LogArgs, RestArgs, SavepointFormatArg,
};
use savepoint_layout::SavepointLayout;

use flink_autoscaler::Policy;

use crate::recommend::RecommendSettings;
use crate::retention::Retention;
use crate::round::Settings;
use crate::schedule::{CronSchedule, Schedule};
use crate::select::Selector;

fn exit_codes() -> String {
    flink_ops_cli::help_table::<crate::exit::Exit>()
}

const EXAMPLES: &str = "\
Examples:
  # The sidecar next to the JobManager: every 15 minutes, keep 8 per job
  flink-savepointer run --job-name orders --target-dir /data/savepoints --every 15m

  # A drop-in for a cron job: one round, non-zero exit on any problem
  flink-savepointer once --job-name orders --target-dir gs://bucket/savepoints

Savepoints land in <target-dir>/<job name>/<UTC %Y-%m-%d-%H-%M>/savepoint-*/, the layout
flink-deploy reads.";

const PRUNE_EXAMPLES: &str = "\
Examples:
  # What a tighter policy would delete, deleting nothing
  flink-savepointer prune --job-name orders --target-dir gs://bucket/savepoints --keep 3 --dry-run

  # Apply it to every job folder in the layout
  flink-savepointer prune --all-jobs --target-dir gs://bucket/savepoints --keep 3 --max-age 14d

It asks the JobManager which savepoints running jobs restored from (those stay) and refuses,
deleting nothing, when the JobManager cannot be reached. A --job-name that is not running is
pruned by name all the same; --all-jobs means every job folder in the layout and every active job.
It prints <job name>\\t<what>\\t<savepoint location> per savepoint, <what> being deleted,
would-delete, not-deleted (the delete failed), kept, incomplete or set-aside (left alone).";

/// Takes savepoints of Flink jobs on a schedule through the JobManager's REST API,
/// disposes old ones, and reports how it went on /metrics.
#[derive(Debug, Parser)]
#[command(name = "flink-savepointer", version, after_help = exit_codes())]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: a round on every tick of the schedule, with /metrics, /healthz and /readyz
    #[command(after_help = format!("{EXAMPLES}\n\n{}", exit_codes()))]
    Run(Box<RunArgs>),
    /// One round, then exit: for cron (a drop-in for `flink list | grep` + `flink savepoint`)
    #[command(after_help = format!("{EXAMPLES}\n\n{}", exit_codes()))]
    Once(Box<OnceArgs>),
    /// Retention alone, no savepoint taken: a one-off clean-up, or a changed --keep/--max-age
    #[command(after_help = format!("{PRUNE_EXAMPLES}\n\n{}", exit_codes()))]
    Prune(Box<PruneArgs>),
}

/// Flags of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,

    /// Take savepoints this often (monotonic clock). Default 15m, unless --schedule is given
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_EVERY, value_name = "DURATION", value_parser = parse_every, conflicts_with = "schedule")]
    pub every: Option<Duration>,

    /// Take savepoints on this cron schedule, UTC: 'minute hour day month weekday', e.g. '*/15 * * * *'
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_SCHEDULE, value_name = "CRON", value_parser = CronSchedule::parse)]
    pub schedule: Option<CronSchedule>,

    /// Where /metrics, /healthz and /readyz listen (9248: below the ports of Flink's
    /// Prometheus reporter, 9249 on the JobManager and 9250-9259 on TaskManagers, so the sidecar
    /// fits in the JobManager's network namespace)
    #[arg(long, env = env_vars::FLINK_SAVEPOINTER_LISTEN, value_name = "ADDR", default_value = "127.0.0.1:9248")]
    pub listen: SocketAddr,

    /// On SIGTERM/SIGINT, how long to wait for savepoints in flight before exiting
    #[arg(long, env = env_vars::FLINK_SAVEPOINTER_SHUTDOWN_GRACE, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Recover lost jobs: a selected job with a release record (flink-deploy writes it) that has no active job for --recover-grace, and that no person cancelled or stopped, is submitted again from its newest savepoint or retained checkpoint
    #[arg(long, env = env_vars::FLINK_SAVEPOINTER_RECOVER)]
    pub recover: bool,

    /// With --recover: how long a job must be missing before it is submitted again
    #[arg(long, env = env_vars::FLINK_SAVEPOINTER_RECOVER_GRACE, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub recover_grace: Duration,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub recommend: RecommendArgs,
}

/// `run --recommend`: the recommended size of each selected job, from Flink's own metrics.
#[derive(Debug, Args)]
#[command(next_help_heading = "Recommended size (--recommend)")]
pub struct RecommendArgs {
    /// Sample each selected running job's per-vertex metrics and publish the parallelism and TaskManagers it needs on /metrics (flink_savepointer_recommended_*)
    #[arg(long, env = env_vars::FLINK_SAVEPOINTER_RECOMMEND)]
    pub recommend: bool,

    /// Also apply a decided recommendation in place (adaptive scheduler, Flink 1.18+: PUT /jobs/{id}/resource-requirements); the job's tasks restart from its latest checkpoint
    #[arg(long, env = env_vars::FLINK_SAVEPOINTER_APPLY_RECOMMENDATION, requires = "recommend")]
    pub apply_recommendation: bool,

    /// Slots per TaskManager for the TaskManager count; default: the most a registered TaskManager offers
    #[arg(long, env = env_vars::FLINK_SAVEPOINTER_SLOTS_PER_TASKMANAGER, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub slots_per_taskmanager: Option<u32>,

    /// How often the metrics are sampled
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_every)]
    pub recommend_every: Duration,

    /// The span of samples averaged for a decision; nothing is decided before it is covered
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub metrics_window: Duration,

    /// After a rescale (and a job first seen), how long nothing is decided
    #[arg(long, alias = "stabilization", value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub stabilisation: Duration,

    /// The share of time a vertex should be busy (0..1]
    #[arg(
        long,
        alias = "target-utilization",
        value_name = "FRACTION",
        default_value_t = 0.7
    )]
    pub target_utilisation: f64,

    /// How far the utilisation may stray from the target either way before a vertex is resized
    #[arg(
        long,
        alias = "utilization-boundary",
        value_name = "FRACTION",
        default_value_t = 0.2
    )]
    pub utilisation_boundary: f64,

    /// The most one step down removes, as a fraction of the current parallelism [0..1)
    #[arg(long, value_name = "FRACTION", default_value_t = 0.5)]
    pub max_scale_down: f64,

    /// The most one step up adds, as a multiple of the current parallelism
    #[arg(long, value_name = "FACTOR", default_value_t = 10.0)]
    pub max_scale_up: f64,

    /// Never recommend a vertex above this parallelism (nor above its own max parallelism)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallelism: Option<u32>,
}

impl RecommendArgs {
    /// The recommendation's settings, or what is wrong with them; `None` without `--recommend`.
    pub fn settings(&self) -> Result<Option<RecommendSettings>, String> {
        if !self.recommend {
            return Ok(None);
        }
        let policy = Policy {
            target_utilisation: self.target_utilisation,
            utilisation_boundary: self.utilisation_boundary,
            metrics_window: self.metrics_window,
            stabilisation: self.stabilisation,
            max_scale_down_factor: self.max_scale_down,
            max_scale_up_factor: self.max_scale_up,
            min_parallelism: 1,
            max_parallelism: self.max_parallelism,
        }
        .validated()
        .map_err(|e| format!("--recommend: {e}"))?;
        Ok(Some(RecommendSettings {
            every: self.recommend_every,
            policy,
            slots_per_taskmanager: self.slots_per_taskmanager,
            apply: self.apply_recommendation,
        }))
    }
}

impl RunArgs {
    /// The schedule: --schedule, --every, or every 15 minutes.
    pub fn schedule(&self) -> Schedule {
        match (&self.schedule, self.every) {
            (Some(cron), _) => Schedule::Cron(cron.clone()),
            (None, Some(every)) => Schedule::Every(every),
            (None, None) => Schedule::Every(Duration::from_secs(15 * 60)),
        }
    }
}

/// Flags of `once`.
#[derive(Debug, Args)]
pub struct OnceArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: CommonArgs,

    /// On SIGTERM/SIGINT, how long to wait for savepoints in flight before exiting
    #[arg(long, env = env_vars::FLINK_SAVEPOINTER_SHUTDOWN_GRACE, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

/// Flags of `prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub base: BaseArgs,

    /// Only say what would be deleted (the `would-delete` lines); delete nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Flags `run` and `once` have: the ones of every subcommand, and how savepoints are taken.
#[derive(Debug, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub base: BaseArgs,

    /// Savepoint format
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_FORMAT, value_enum, default_value_t = SavepointFormatArg::Canonical)]
    pub format: SavepointFormatArg,

    /// How long one savepoint may take; a slower one counts as failed, and the next round waits for it instead of starting another
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_TIMEOUT, value_name = "DURATION", default_value = "10m", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Take savepoints of at most this many jobs at once
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_MAX_CONCURRENT, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent: u32,
}

/// Flags every subcommand has: the JobManager, the jobs, the layout and retention.
#[derive(Debug, Args)]
pub struct BaseArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub rest: RestArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub jobs: JobArgs,

    /// Root of the savepoint layout: an absolute path or a URL (file:///data/savepoints, gs://bucket/sp, s3://bucket/sp). A local path must be the same for this process and the JobManager; a bucket is read and pruned through its own API (credentials from the environment: GOOGLE_APPLICATION_CREDENTIALS or the VM's service account, AWS_*)
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_DIR, value_name = "DIR", value_parser = parse_target_dir)]
    pub target_dir: SavepointLayout,

    /// Keep this many complete savepoints per job (newest first); retention deletes older ones
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_KEEP, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,

    /// Also delete savepoints older than this (the newest complete one is always kept)
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_MAX_AGE, value_name = "DURATION", value_parser = parse_timeout)]
    pub max_age: Option<Duration>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub log: LogArgs,
}

/// Which jobs: by exact name, or all.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct JobArgs {
    /// A job to take savepoints of, by exact name (repeatable). `orders` never matches `orders-v2`
    #[arg(long = "job-name", env = env_vars::FLINK_JOB_NAME, value_name = "NAME", value_parser = savepoint_layout::parse_job_name)]
    pub job_names: Vec<String>,

    /// Take savepoints of every running job
    #[arg(long, env = env_vars::FLINK_SAVEPOINT_ALL_JOBS)]
    pub all_jobs: bool,
}

impl BaseArgs {
    /// What the jobs selection says.
    pub fn selector(&self) -> Selector {
        if self.jobs.all_jobs {
            Selector::All
        } else {
            Selector::Named(self.jobs.job_names.iter().cloned().collect::<BTreeSet<_>>())
        }
    }

    /// The retention policy.
    pub fn retention(&self) -> Retention {
        Retention {
            keep: self.keep as usize,
            max_age: self.max_age,
        }
    }

    /// What `prune` does: no savepoint is taken, so the savepoint settings
    /// are the defaults (a disposal through Flink may take 10 minutes).
    pub fn settings(&self) -> Settings {
        Settings {
            selector: self.selector(),
            layout: self.target_dir.clone(),
            format: SavepointFormatArg::Canonical.into(),
            timeout: Duration::from_secs(600),
            retention: self.retention(),
            max_concurrent: 1,
        }
    }
}

impl CommonArgs {
    /// What a round does.
    pub fn settings(&self) -> Settings {
        Settings {
            format: self.format.into(),
            timeout: self.timeout,
            max_concurrent: self.max_concurrent as usize,
            ..self.base.settings()
        }
    }
}

fn parse_target_dir(s: &str) -> Result<SavepointLayout, String> {
    SavepointLayout::new(s).map_err(|e| e.to_string())
}

fn parse_every(s: &str) -> Result<Duration, String> {
    let every = parse_duration(s)?;
    if every < Duration::from_secs(1) {
        return Err(format!(
            "'{s}' is too short: take savepoints at most once a second"
        ));
    }
    Ok(every)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use flink_rest::SavepointFormat;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("flink-savepointer").chain(args.iter().copied()))
    }

    fn run_args(args: &[&str]) -> RunArgs {
        match parse(args).unwrap().command {
            Command::Run(run) => *run,
            _ => panic!("not run"),
        }
    }

    #[test]
    fn defaults() {
        let run = run_args(&["run", "--job-name", "orders", "--target-dir", "/sp"]);
        assert_eq!(run.listen.to_string(), "127.0.0.1:9248");
        assert!(matches!(run.schedule(), Schedule::Every(d) if d == Duration::from_secs(900)));
        let settings = run.common.settings();
        assert_eq!(
            settings.retention,
            Retention {
                keep: 8,
                max_age: None
            }
        );
        assert_eq!(settings.timeout, Duration::from_secs(600));
        assert_eq!(settings.format, SavepointFormat::Canonical);
        assert_eq!(settings.max_concurrent, 4);
        assert_eq!(
            settings.selector,
            Selector::Named(["orders".to_string()].into())
        );
    }

    #[test]
    fn every_flag() {
        let run = run_args(&[
            "run",
            "--all-jobs",
            "--target-dir",
            "file:///sp",
            "--every",
            "90s",
            "--keep",
            "3",
            "--max-age",
            "7d",
            "--format",
            "native",
        ]);
        assert!(matches!(run.schedule(), Schedule::Every(d) if d == Duration::from_secs(90)));
        let settings = run.common.settings();
        assert_eq!(settings.selector, Selector::All);
        assert_eq!(settings.retention.keep, 3);
        assert_eq!(
            settings.retention.max_age,
            Some(Duration::from_secs(7 * 86400))
        );
        assert_eq!(settings.format, SavepointFormat::Native);
    }

    #[test]
    fn repeated_job_names() {
        let run = run_args(&[
            "run",
            "--job-name",
            "orders",
            "--job-name",
            "payments",
            "--target-dir",
            "/sp",
            "--schedule",
            "*/15 * * * *",
        ]);
        assert!(matches!(run.schedule(), Schedule::Cron(_)));
        assert_eq!(
            run.common.settings().selector,
            Selector::Named(["orders".to_string(), "payments".to_string()].into())
        );
    }

    #[test]
    fn prune_shares_the_selection_and_retention_flags() {
        let Command::Prune(prune) = parse(&[
            "prune",
            "--job-name",
            "orders",
            "--target-dir",
            "/sp",
            "--keep",
            "2",
            "--max-age",
            "1d",
            "--dry-run",
        ])
        .unwrap()
        .command
        else {
            panic!("not prune")
        };
        assert!(prune.dry_run);
        let settings = prune.base.settings();
        assert_eq!(
            settings.retention,
            Retention {
                keep: 2,
                max_age: Some(Duration::from_secs(86400))
            }
        );
        assert_eq!(
            settings.selector,
            Selector::Named(["orders".to_string()].into())
        );
        // Flags about taking savepoints are not prune's.
        for extra in [["--format", "native"], ["--timeout", "1m"]] {
            let mut args = vec!["prune", "--all-jobs", "--target-dir", "/sp"];
            args.extend(extra);
            assert_eq!(parse(&args).unwrap_err().exit_code(), 2, "{extra:?}");
        }
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        let cases: &[&[&str]] = &[
            // Neither --job-name nor --all-jobs.
            &["once", "--target-dir", "/sp"],
            // Both.
            &[
                "once",
                "--job-name",
                "a",
                "--all-jobs",
                "--target-dir",
                "/sp",
            ],
            // Both schedules.
            &[
                "run",
                "--job-name",
                "a",
                "--target-dir",
                "/sp",
                "--every",
                "1m",
                "--schedule",
                "* * * * *",
            ],
            // A relative target dir.
            &["once", "--job-name", "a", "--target-dir", "savepoints"],
            // No target dir.
            &["once", "--job-name", "a"],
            // A duration without unit, a bad cron, keep 0, an empty name.
            &[
                "run",
                "--job-name",
                "a",
                "--target-dir",
                "/sp",
                "--every",
                "15",
            ],
            &[
                "run",
                "--job-name",
                "a",
                "--target-dir",
                "/sp",
                "--schedule",
                "often",
            ],
            &[
                "once",
                "--job-name",
                "a",
                "--target-dir",
                "/sp",
                "--keep",
                "0",
            ],
            &["once", "--job-name", "", "--target-dir", "/sp"],
            &[
                "once",
                "--job-name",
                "a",
                "--target-dir",
                "/sp",
                "--timeout",
                "soon",
            ],
            &[
                "run",
                "--job-name",
                "a",
                "--target-dir",
                "/sp",
                "--listen",
                "9248",
            ],
        ];
        for args in cases {
            let err = parse(args).expect_err(&format!("{args:?} should be refused"));
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
            assert_ne!(err.kind(), ErrorKind::DisplayHelp);
        }
        let err = parse(&["once", "--job-name", "a", "--target-dir", "savepoints"]).unwrap_err();
        assert!(err.to_string().contains("absolute path"), "{err}");
    }

    #[test]
    fn help_documents_exit_codes() {
        let err = parse(&["once", "--help"]).unwrap_err();
        let help = err.to_string();
        assert!(help.contains("Exit codes:"), "{help}");
        assert!(
            help.contains(&flink_ops_cli::help_table::<crate::exit::Exit>()),
            "{help}"
        );
        assert!(
            help.contains("10  a --job-name matches no running job"),
            "{help}"
        );
        assert!(help.contains("FLINK_SAVEPOINT_DIR"), "{help}");
    }
}
