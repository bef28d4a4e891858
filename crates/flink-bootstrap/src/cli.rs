//! Command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use flink_config::{is_key_shaped, Profile, Role};
use flink_ops_cli::{env_vars as env, parse_key_value as key_value, parse_timeout, LogArgs};
use instance_metadata::MetadataMode;

/// Render the Flink configuration from the image, a profile, instance facts, instance metadata,
/// the environment and --set, then exec the JobManager or TaskManager in the foreground.
#[derive(Debug, Parser)]
#[command(
    name = "flink-bootstrap",
    version,
    after_help = after_help(),
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// The Flink installation.
    #[arg(long, global = true, env = env::FLINK_HOME, default_value = "/opt/flink")]
    pub flink_home: PathBuf,

    /// Where to write the config [default: FLINK_HOME/conf when writable, otherwise a
    /// temporary directory passed to Flink as FLINK_CONF_DIR].
    #[arg(long, global = true, env = env::FLINK_CONF_DIR)]
    pub conf_dir: Option<PathBuf>,

    /// Where instance metadata comes from; `auto` uses GCE when it answers within a second.
    #[arg(long, global = true, env = env::FLINK_BOOTSTRAP_METADATA, value_enum, default_value_t = MetadataArg::Auto)]
    pub metadata: MetadataArg,

    /// How long to keep retrying the metadata server.
    #[arg(long, global = true, env = env::FLINK_BOOTSTRAP_METADATA_TIMEOUT, default_value = "30s",
          value_parser = parse_timeout)]
    pub metadata_timeout: Duration,

    /// A Flink setting that overrides every other source (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,

    /// A named set of settings; `elastic` is the autoscaling setup (adaptive scheduler, 15 s
    /// heartbeat timeout, unlimited exponential-delay restarts, a 1 min rescale cooldown, the
    /// Prometheus reporter).
    #[arg(long, global = true, env = env::FLINK_BOOTSTRAP_PROFILE)]
    pub profile: Option<Profile>,

    /// Treat warnings (unknown keys) as errors.
    #[arg(long, global = true, env = env::FLINK_BOOTSTRAP_STRICT)]
    pub strict: bool,

    /// The user Flink runs as [default: `flink` when started as root]. `root` keeps root.
    #[arg(long, global = true, env = env::FLINK_BOOTSTRAP_RUN_AS)]
    pub run_as: Option<String>,

    /// Flink's metrics reporter on this process: `prometheus` serves /metrics on port 9249 of
    /// the JobManager and the first free of 9250-9259 of a TaskManager, on every interface
    /// (`--set metrics.reporter.prom.port=…` moves it) [default: prometheus with --profile
    /// elastic, none otherwise].
    #[arg(long, global = true, env = env::FLINK_BOOTSTRAP_METRICS_REPORTER, value_enum)]
    pub metrics_reporter: Option<MetricsReporter>,

    /// `json` also makes Flink's console log (stdout) Cloud Logging JSON (see the help's end).
    #[command(flatten)]
    pub log: LogArgs,
}

/// `--metrics-reporter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricsReporter {
    /// Flink's Prometheus reporter (the plugin `plugins/metrics-prometheus`).
    Prometheus,
    /// No reporter added (one configured elsewhere stays).
    None,
}

impl Cli {
    /// The reporter asked for, else the profile's: `(reporter, asked for explicitly)`.
    pub fn metrics_reporter(&self) -> (MetricsReporter, bool) {
        match (self.metrics_reporter, self.profile) {
            (Some(r), _) => (r, true),
            (None, Some(Profile::Elastic)) => (MetricsReporter::Prometheus, false),
            (None, None) => (MetricsReporter::None, false),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the config and exec `bin/jobmanager.sh start-foreground [ARGS]`.
    Jobmanager {
        /// Extra arguments for Flink's script, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Write the config and exec `bin/taskmanager.sh start-foreground [ARGS]`.
    Taskmanager {
        /// Extra arguments for Flink's script, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Write the config and exit.
    Render {
        /// The process the config is for.
        role: RoleArg,
    },
    /// Print every resolved key, its value and where it came from.
    Explain {
        /// The process the config is for.
        role: RoleArg,
    },
    /// Validate only; write nothing.
    Check {
        /// The process the config is for.
        role: RoleArg,
    },
}

/// What a command does after resolving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Write and exec.
    Start,
    /// Write.
    Render,
    /// Print.
    Explain,
    /// Validate.
    Check,
}

impl Command {
    /// The role, the action and Flink's extra arguments.
    pub fn parts(&self) -> (Role, Action, &[String]) {
        match self {
            Self::Jobmanager { args } => (Role::JobManager, Action::Start, args),
            Self::Taskmanager { args } => (Role::TaskManager, Action::Start, args),
            Self::Render { role } => (role.into(), Action::Render, &[]),
            Self::Explain { role } => (role.into(), Action::Explain, &[]),
            Self::Check { role } => (role.into(), Action::Check, &[]),
        }
    }
}

/// `jobmanager` or `taskmanager`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// The JobManager.
    Jobmanager,
    /// A TaskManager.
    Taskmanager,
}

impl From<&RoleArg> for Role {
    fn from(r: &RoleArg) -> Self {
        match r {
            RoleArg::Jobmanager => Role::JobManager,
            RoleArg::Taskmanager => Role::TaskManager,
        }
    }
}

/// `--metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetadataArg {
    /// The GCE metadata server (GCE_METADATA_HOST overrides its host).
    Gce,
    /// No metadata: facts from the container only.
    None,
    /// GCE when it answers quickly, none otherwise.
    Auto,
}

impl From<MetadataArg> for MetadataMode {
    fn from(m: MetadataArg) -> Self {
        match m {
            MetadataArg::Gce => Self::Gce,
            MetadataArg::None => Self::None,
            MetadataArg::Auto => Self::Auto,
        }
    }
}

fn after_help() -> String {
    format!(
        "Sources, lowest precedence first: the image's conf dir, --profile, --metrics-reporter, \
         instance facts (CPUs, \
         memory, addresses), GCE metadata (project then instance attribute `flink-config`, a YAML \
         map; attribute `flink-jobmanager-address`), the environment ({}, {}, {}), --set.\n\n\
         --log-format json also renders Flink's log4j-console.properties into the conf dir with \
         log4j's JsonTemplateLayout and GcpLayout.json, so Flink's stdout is Cloud Logging JSON; \
         it needs log4j-layout-template-json in FLINK_HOME/lib (Flink 2.x ships it, 1.20 does \
         not: there Flink's console log stays text with a warning, and --strict refuses).\n\n\
         Examples:\n  flink-bootstrap --profile elastic taskmanager\n  \
         flink-bootstrap --metadata none --set taskmanager.numberOfTaskSlots=2 explain taskmanager\n  \
         flink-bootstrap --log-format json --profile elastic jobmanager\n  \
         flink-bootstrap jobmanager -- -Drest.port=8082\n\n{}",
        env::FLINK_PROPERTIES,
        env::JOB_MANAGER_RPC_ADDRESS,
        env::TASK_MANAGER_NUMBER_OF_TASK_SLOTS,
        flink_ops_cli::help_table::<crate::exit::Exit>()
    )
}

/// `KEY=VALUE` with a Flink-shaped key (the toolkit's one `key=value` rule, plus the key check).
fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (key, value) = key_value(s)?;
    if !is_key_shaped(&key) {
        return Err(format!("`{key}` is not a Flink key"));
    }
    Ok((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_key_values() {
        assert_eq!(
            parse_key_value("heartbeat.timeout=15 s"),
            Ok(("heartbeat.timeout".into(), "15 s".into()))
        );
        assert_eq!(
            parse_key_value("env.java.opts.all=-Da=b"),
            Ok(("env.java.opts.all".into(), "-Da=b".into()))
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("bad key=1").is_err());
        assert!(parse_key_value("a\nb: c=1").is_err());
    }

    #[test]
    fn extra_args_follow_a_double_dash() {
        let cli = Cli::try_parse_from([
            "flink-bootstrap",
            "--metadata",
            "none",
            "taskmanager",
            "--profile",
            "elastic",
            "--",
            "-Drest.port=8082",
        ])
        .unwrap();
        let (role, action, args) = cli.command.parts();
        assert_eq!((role, action), (Role::TaskManager, Action::Start));
        assert_eq!(args, ["-Drest.port=8082"]);
        assert_eq!(cli.profile, Some(Profile::Elastic));
    }

    #[test]
    fn the_elastic_profile_turns_the_prometheus_reporter_on() {
        let reporter = |args: &[&str]| {
            let mut argv = vec!["flink-bootstrap"];
            argv.extend_from_slice(args);
            argv.push("jobmanager");
            Cli::try_parse_from(argv).unwrap().metrics_reporter()
        };
        assert_eq!(reporter(&[]), (MetricsReporter::None, false));
        assert_eq!(
            reporter(&["--profile", "elastic"]),
            (MetricsReporter::Prometheus, false)
        );
        assert_eq!(
            reporter(&["--profile", "elastic", "--metrics-reporter", "none"]),
            (MetricsReporter::None, true)
        );
        assert_eq!(
            reporter(&["--metrics-reporter", "prometheus"]),
            (MetricsReporter::Prometheus, true)
        );
        assert!(Cli::try_parse_from([
            "flink-bootstrap",
            "--metrics-reporter",
            "jmx",
            "check",
            "jobmanager"
        ])
        .is_err());
    }

    #[test]
    fn help_lists_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("69  instance metadata unavailable"), "{help}");
    }
}
