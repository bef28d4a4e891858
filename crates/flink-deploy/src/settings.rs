//! The settings of one deploy: flags, then the spec file, then the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::ArgMatches;
use flink_ops_cli::{parse_duration, RestArgs};
use flink_rest::{ClaimMode, SavepointFormat};
use savepoint_layout::SavepointLayout;
use serde::Deserialize;
use url::Url;

use crate::cli::{ClaimModeArg, DeployArgs, FormatArg};

/// Everything a deploy needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub rest: RestArgs,
    pub url: Url,
    pub job_name: String,
    pub jar: PathBuf,
    pub entry_class: Option<String>,
    pub parallelism: Option<u32>,
    pub layout: Option<SavepointLayout>,
    pub from_savepoint: Option<String>,
    pub allow_non_restored_state: bool,
    pub allow_fresh_start: bool,
    pub claim_mode: ClaimMode,
    pub savepoint_format: SavepointFormat,
    pub savepoint_timeout: Duration,
    pub startup_timeout: Duration,
    pub stable_for: Duration,
    pub require_checkpoint: bool,
    pub no_rollback: bool,
    pub keep_jars: u32,
    pub flink_conf: BTreeMap<String, String>,
    pub program_args: Vec<String>,
}

/// A deploy spec file: the flags' long names as keys.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Spec {
    jobmanager_url: Option<String>,
    job_name: Option<String>,
    jar: Option<PathBuf>,
    entry_class: Option<String>,
    parallelism: Option<u32>,
    savepoint_dir: Option<String>,
    from_savepoint: Option<String>,
    allow_non_restored_state: Option<bool>,
    allow_fresh_start: Option<bool>,
    claim_mode: Option<ClaimModeArg>,
    savepoint_format: Option<FormatArg>,
    savepoint_timeout: Option<String>,
    startup_timeout: Option<String>,
    stable_for: Option<String>,
    require_checkpoint: Option<bool>,
    no_rollback: Option<bool>,
    keep_jars: Option<u32>,
    flink_conf: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    program_args: Option<Vec<String>>,
    ca_cert: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

const SPEC_KEYS: &[&str] = &[
    "jobmanager-url",
    "job-name",
    "jar",
    "entry-class",
    "parallelism",
    "savepoint-dir",
    "from-savepoint",
    "allow-non-restored-state",
    "allow-fresh-start",
    "claim-mode",
    "savepoint-format",
    "savepoint-timeout",
    "startup-timeout",
    "stable-for",
    "require-checkpoint",
    "no-rollback",
    "keep-jars",
    "flink-conf",
    "program-args",
    "ca-cert",
    "client-cert",
    "client-key",
];

impl Spec {
    fn load(path: &Path) -> Result<Spec, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the deploy spec {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("deploy spec {}: {e}", path.display()))
    }

    fn parse(text: &str) -> Result<Spec, String> {
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let map = match value {
            serde_yaml_ng::Value::Null => return Ok(Spec::default()),
            serde_yaml_ng::Value::Mapping(map) => map,
            _ => return Err("must be a map of settings (job-name: orders, ...)".into()),
        };
        for key in map.keys() {
            let key = key.as_str().ok_or("every key must be a string")?;
            if !SPEC_KEYS.contains(&key) {
                return Err(unknown_key(key));
            }
        }
        serde_yaml_ng::from_value(serde_yaml_ng::Value::Mapping(map)).map_err(|e| e.to_string())
    }
}

fn unknown_key(key: &str) -> String {
    let normalized = key.replace('_', "-");
    let closest = SPEC_KEYS
        .iter()
        .map(|k| (strsim::jaro_winkler(&normalized, k), k))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match closest {
        Some((score, k)) if score > 0.8 => format!("unknown key '{key}': did you mean '{k}'?"),
        _ => format!("unknown key '{key}'; valid keys: {}", SPEC_KEYS.join(", ")),
    }
}

/// Picks the flag when it was given on the command line, else the file's
/// value, else the flag's (environment or default).
fn pick<T>(matches: &ArgMatches, id: &str, flag: T, file: Option<T>) -> T {
    if matches.value_source(id) == Some(ValueSource::CommandLine) {
        flag
    } else {
        file.unwrap_or(flag)
    }
}

fn duration(
    matches: &ArgMatches,
    id: &str,
    flag: Duration,
    file: Option<String>,
) -> Result<Duration, String> {
    let file = file
        .map(|s| parse_duration(&s).map_err(|e| format!("{}: {e}", id.replace('_', "-"))))
        .transpose()?;
    Ok(pick(matches, id, flag, file))
}

impl Settings {
    /// Merges the flags (`matches` says which were typed) with the spec file
    /// and validates what can be checked without the cluster.
    pub fn resolve(args: DeployArgs, matches: &ArgMatches) -> Result<Settings, String> {
        let spec = match &args.config_file {
            Some(path) => Spec::load(path)?,
            None => Spec::default(),
        };
        let m = matches;
        let mut rest = args.common.rest;
        let url = match pick(
            m,
            "jobmanager_url",
            rest.jobmanager_url.clone().map(|u| u.to_string()),
            spec.jobmanager_url.map(Some),
        ) {
            Some(url) => parse_url(&url)?,
            None => {
                return Err(
                    "no JobManager URL: pass --jobmanager-url or set FLINK_JOBMANAGER_URL".into(),
                )
            }
        };
        rest.ca_cert = pick(m, "ca_cert", rest.ca_cert, spec.ca_cert.map(Some));
        rest.client_cert = pick(
            m,
            "client_cert",
            rest.client_cert,
            spec.client_cert.map(Some),
        );
        rest.client_key = pick(m, "client_key", rest.client_key, spec.client_key.map(Some));
        if rest.client_cert.is_some() != rest.client_key.is_some() {
            return Err("client-cert and client-key go together".into());
        }
        let job_name = pick(m, "job_name", args.job_name, spec.job_name.map(Some))
            .ok_or("no job name: pass --job-name or set FLINK_JOB_NAME")?;
        if job_name.trim().is_empty() {
            return Err("the job name is empty".into());
        }
        let savepoint_dir = pick(
            m,
            "savepoint_dir",
            args.savepoint_dir,
            spec.savepoint_dir.map(Some),
        );
        let layout = savepoint_dir
            .as_deref()
            .map(SavepointLayout::new)
            .transpose()
            .map_err(|e| e.to_string())?;
        let flink_conf = match spec.flink_conf {
            Some(file) if m.value_source("flink_conf") != Some(ValueSource::CommandLine) => file
                .into_iter()
                .map(|(k, v)| {
                    scalar_string(&v).map(|v| (k.clone(), v)).ok_or(format!(
                        "flink-conf.{k}: the value must be a string, number or boolean"
                    ))
                })
                .collect::<Result<_, _>>()?,
            _ => args.flink_conf.into_iter().collect(),
        };
        let program_args = if args.program_args.is_empty() {
            spec.program_args.unwrap_or_default()
        } else {
            args.program_args
        };
        let settings = Settings {
            url,
            job_name,
            jar: pick(m, "jar", args.jar, spec.jar),
            entry_class: pick(
                m,
                "entry_class",
                args.entry_class,
                spec.entry_class.map(Some),
            ),
            parallelism: pick(
                m,
                "parallelism",
                args.parallelism,
                spec.parallelism.map(Some),
            ),
            layout,
            from_savepoint: pick(
                m,
                "from_savepoint",
                args.from_savepoint,
                spec.from_savepoint.map(Some),
            ),
            allow_non_restored_state: pick(
                m,
                "allow_non_restored_state",
                args.allow_non_restored_state,
                spec.allow_non_restored_state,
            ),
            allow_fresh_start: pick(
                m,
                "allow_fresh_start",
                args.allow_fresh_start,
                spec.allow_fresh_start,
            ),
            claim_mode: pick(m, "claim_mode", args.claim_mode, spec.claim_mode).into(),
            savepoint_format: pick(
                m,
                "savepoint_format",
                args.savepoint_format,
                spec.savepoint_format,
            )
            .into(),
            savepoint_timeout: duration(
                m,
                "savepoint_timeout",
                args.savepoint_timeout,
                spec.savepoint_timeout,
            )?,
            startup_timeout: duration(
                m,
                "startup_timeout",
                args.startup_timeout,
                spec.startup_timeout,
            )?,
            stable_for: duration(m, "stable_for", args.stable_for, spec.stable_for)?,
            require_checkpoint: pick(
                m,
                "require_checkpoint",
                args.require_checkpoint,
                spec.require_checkpoint,
            ),
            no_rollback: pick(m, "no_rollback", args.no_rollback, spec.no_rollback),
            keep_jars: pick(m, "keep_jars", args.keep_jars, spec.keep_jars),
            flink_conf,
            program_args,
            rest,
        };
        if settings.keep_jars == 0 {
            return Err("keep-jars must be at least 1 (the jar of the running job)".into());
        }
        if settings.parallelism == Some(0) {
            return Err("parallelism must be at least 1".into());
        }
        Ok(settings)
    }
}

fn parse_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| {
        format!("'{s}' is not a JobManager URL ({e}); write e.g. http://10.0.0.2:8081")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "'{}' is not a JobManager URL: it must be http:// or https:// with a host",
            flink_rest::RedactedUrl::new(url)
        ));
    }
    Ok(url)
}

fn scalar_string(v: &serde_yaml_ng::Value) -> Option<String> {
    match v {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::{CommandFactory, FromArgMatches};

    fn resolve(
        args: &[&str],
        env: &[(&str, &str)],
        spec: Option<&str>,
    ) -> Result<Settings, String> {
        let dir = tempfile::tempdir().unwrap();
        let mut argv: Vec<String> = vec!["flink-deploy".into(), "deploy".into()];
        if let Some(text) = spec {
            let path = dir.path().join("deploy.yaml");
            std::fs::write(&path, text).unwrap();
            argv.push("--config-file".into());
            argv.push(path.display().to_string());
        }
        argv.extend(args.iter().map(|s| s.to_string()));
        // Environment fallbacks are read by clap; tests pass them by
        // rewriting the env defaults instead of mutating the process.
        let mut command = Cli::command();
        for (var, value) in env {
            command = command.mut_subcommand("deploy", |sub| {
                let id = sub
                    .get_arguments()
                    .find(|a| a.get_env().is_some_and(|e| e == *var))
                    .map(|a| a.get_id().clone())
                    .expect("an arg with that env var");
                let value: &'static str = Box::leak(value.to_string().into_boxed_str());
                sub.mut_arg(id, |a| a.env(None::<&str>).default_value(value))
            });
        }
        let matches = command
            .try_get_matches_from(argv)
            .map_err(|e| e.to_string())?;
        let cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
        let Command::Deploy(args) = cli.command else {
            unreachable!()
        };
        Settings::resolve(args, matches.subcommand_matches("deploy").unwrap())
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_the_environment() {
        let spec = "job-name: from-file\nparallelism: 8\nstable-for: 1m\njobmanager-url: http://file:8081\n";
        let s = resolve(
            &["--parallelism", "72"],
            &[
                ("FLINK_JOB_NAME", "from-env"),
                ("FLINK_JOBMANAGER_URL", "http://env:8081"),
            ],
            Some(spec),
        )
        .unwrap();
        assert_eq!(s.parallelism, Some(72));
        assert_eq!(s.job_name, "from-file");
        assert_eq!(s.url.as_str(), "http://file:8081/");
        assert_eq!(s.stable_for, Duration::from_secs(60));
        let s = resolve(
            &["--jobmanager-url", "http://flag:8081"],
            &[("FLINK_JOB_NAME", "from-env")],
            None,
        )
        .unwrap();
        assert_eq!(s.job_name, "from-env");
        assert_eq!(s.url.as_str(), "http://flag:8081/");
        assert_eq!(s.keep_jars, 2);
        assert_eq!(s.savepoint_timeout, Duration::from_secs(15 * 60));
    }

    #[test]
    fn unknown_spec_keys_name_the_closest_key() {
        let err = resolve(&[], &[], Some("job-name: x\nparalelism: 3\n")).unwrap_err();
        assert!(
            err.contains("unknown key 'paralelism': did you mean 'parallelism'?"),
            "{err}"
        );
        let err = resolve(&[], &[], Some("job_name: x\n")).unwrap_err();
        assert!(err.contains("did you mean 'job-name'?"), "{err}");
        let err = resolve(&[], &[], Some("- a\n- b\n")).unwrap_err();
        assert!(err.contains("must be a map"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected_with_their_key() {
        let base = ["--jobmanager-url", "http://jm:8081", "--job-name", "orders"];
        let err = resolve(&base, &[], Some("stable-for: soon\n")).unwrap_err();
        assert!(
            err.contains("stable-for") && err.contains("not a duration"),
            "{err}"
        );
        let err = resolve(
            &["--job-name", "x", "--jobmanager-url", "ftp://jm"],
            &[],
            None,
        )
        .unwrap_err();
        assert!(err.contains("http:// or https://"), "{err}");
        let err = resolve(
            &["--job-name", "x", "--jobmanager-url", "not a url"],
            &[],
            None,
        )
        .unwrap_err();
        assert!(
            err.contains("not a JobManager URL") || err.contains("invalid value"),
            "{err}"
        );
        let err = resolve(&["--job-name", "x"], &[], None).unwrap_err();
        assert!(err.contains("--jobmanager-url"), "{err}");
        let err = resolve(
            &[&base[..], &["--savepoint-dir", "relative/dir"]].concat(),
            &[],
            None,
        )
        .unwrap_err();
        assert!(err.contains("absolute path"), "{err}");
        let err = resolve(
            &[&base[..], &["--startup-timeout", "10"]].concat(),
            &[],
            None,
        )
        .unwrap_err();
        assert!(err.contains("no unit"), "{err}");
    }

    #[test]
    fn program_args_and_flink_conf_come_from_flags_or_file() {
        let spec = "job-name: j\njobmanager-url: http://jm:8081\nflink-conf:\n  pipeline.max-parallelism: 128\n  execution.checkpointing.interval: 10 s\nprogram-args: [--topic, orders]\n";
        let s = resolve(&[], &[], Some(spec)).unwrap();
        assert_eq!(s.flink_conf["pipeline.max-parallelism"], "128");
        assert_eq!(s.flink_conf["execution.checkpointing.interval"], "10 s");
        assert_eq!(s.program_args, ["--topic", "orders"]);
        let s = resolve(
            &["--flink-conf", "a=b", "--", "--x", "y z"],
            &[],
            Some(spec),
        )
        .unwrap();
        assert_eq!(s.flink_conf.len(), 1);
        assert_eq!(s.program_args, ["--x", "y z"]);
    }

    #[test]
    fn the_articles_underscore_flags_still_work() {
        let s = resolve(
            &[
                "--job_name",
                "my-flink-job",
                "--jobmanager-url",
                "http://jm:8081",
            ],
            &[],
            None,
        )
        .unwrap();
        assert_eq!(s.job_name, "my-flink-job");
    }
}
