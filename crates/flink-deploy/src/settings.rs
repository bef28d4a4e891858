//! The settings of one deploy, from four layers: flag > environment > spec file > default.
//!
//! Every setting is one clap argument of [`DeployArgs`]: its long name is its key in the spec
//! file, its `env =` its variable. [`flink_ops_cli::layered`] makes the environment's and the
//! file's values the arguments' defaults, so clap applies the precedence and each value is checked
//! by the flag's own parser. What is left here is what no single flag can check.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use flink_ops_cli::layered::{apply_layers, FileValue, LayerError};
use flink_ops_cli::Scrubber;
use savepoint_layout::SavepointLayout;
use url::Url;

use crate::cli::{Cli, Command, DeployArgs};

/// Everything a deploy needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Every flag, merged from the four layers.
    pub args: DeployArgs,
    /// `--jobmanager-url`, checked.
    pub url: Url,
    /// `--job-name`, present.
    pub job_name: String,
    /// `--savepoint-dir`, parsed.
    pub layout: Option<SavepointLayout>,
    /// `--flink-conf`, as the run request sends it.
    pub flink_conf: BTreeMap<String, String>,
}

/// Why the settings are invalid (exit 2, nothing touched).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The spec file cannot be read.
    #[error("cannot read the deploy spec {}: {source}", .path.display())]
    SpecUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The spec file is not a map of settings.
    #[error("deploy spec {}: {why}", .path.display())]
    SpecInvalid {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A value of the environment or the spec file is refused (the message is scrubbed).
    #[error("{0}")]
    Layer(String),
    /// No JobManager URL in any layer.
    #[error("no JobManager URL: pass --jobmanager-url or set FLINK_JOBMANAGER_URL")]
    NoUrl,
    /// The URL is not http(s) with a host.
    #[error("'{0}' is not a JobManager URL: it must be http:// or https:// with a host")]
    BadUrl(flink_rest::RedactedUrl),
    /// No job name in any layer.
    #[error("no job name: pass --job-name or set FLINK_JOB_NAME")]
    NoJobName,
    /// Half a client identity.
    #[error("client-cert and client-key go together")]
    HalfClientIdentity,
    /// The savepoint root is not usable.
    #[error(transparent)]
    Layout(#[from] savepoint_layout::LayoutError),
    /// `pipeline.name` in the Flink configuration names the job otherwise than `--job-name`.
    #[error("--flink-conf pipeline.name={pipeline_name} names the job otherwise than --job-name {job_name}: \
             flink-deploy finds the job by --job-name, so they must agree. Drop pipeline.name (flink-deploy \
             sets it to --job-name) or make them equal.")]
    PipelineName {
        /// `--job-name`.
        job_name: String,
        /// `pipeline.name`.
        pipeline_name: String,
    },
    /// The command line itself (clap's message, scrubbed).
    #[error("{0}")]
    CommandLine(String),
}

/// The Flink option naming a job whose `main()` calls `execute()` without a name.
pub const PIPELINE_NAME: &str = "pipeline.name";

/// Keys of the spec file that no flag of the file can set.
const NOT_IN_SPEC: &[&str] = &["config-file"];

impl Settings {
    /// Resolves the settings of `deploy` or `plan` from the command line `argv`, the variables
    /// `env` and the spec file the layers name (`--config-file`). `first` is the command line
    /// parsed as it is, which says which spec file to read.
    pub fn resolve(
        first: &DeployArgs,
        subcommand: &str,
        argv: &[OsString],
        env: &BTreeMap<String, String>,
        scrubber: &mut Scrubber,
    ) -> Result<Settings, SettingsError> {
        let spec = match &first.config_file {
            Some(path) => load_spec(path)?,
            None => BTreeMap::new(),
        };
        for key in ["jobmanager-url", "header"] {
            for value in spec.get(key).map(values).unwrap_or_default() {
                scrubber.add_url(value);
                if key == "header" {
                    scrubber.add_header(value);
                }
            }
        }
        let origin = first
            .config_file
            .as_ref()
            .map(|p| format!("deploy spec {}", p.display()))
            .unwrap_or_default();
        let sub = Cli::command()
            .find_subcommand(subcommand)
            .cloned()
            .expect("deploy and plan are subcommands");
        let layered = apply_layers(
            sub,
            &|name| env.get(name).cloned(),
            &spec,
            &origin,
            NOT_IN_SPEC,
        )
        .map_err(|e: LayerError| SettingsError::Layer(scrubber.scrub(&e.to_string())))?;
        let matches = Cli::command()
            .mut_subcommand(subcommand, move |_| layered)
            .try_get_matches_from(argv)
            .map_err(|e| SettingsError::CommandLine(scrubber.scrub(&e.render().to_string())))?;
        let cli = Cli::from_arg_matches(&matches)
            .map_err(|e| SettingsError::CommandLine(scrubber.scrub(&e.to_string())))?;
        let (Command::Deploy(args) | Command::Plan(args)) = cli.command else {
            unreachable!("{subcommand} parses as deploy or plan")
        };
        Self::validate(args)
    }

    /// The settings of `rollback`: the deploy of the recorded release `previous` (its jar at
    /// `jar`, fetched from the layout), with the command's own timeouts and health rule.
    pub fn of_release(
        args: &crate::cli::RollbackArgs,
        previous: &savepoint_layout::ReleaseRecord,
        jar: PathBuf,
    ) -> Result<Settings, SettingsError> {
        let mut deploy = Self::release_command(&args.release, Some(previous), jar);
        deploy.startup_timeout = args.startup_timeout;
        deploy.stable_for = args.stable_for;
        deploy.require_checkpoint = args.require_checkpoint;
        deploy.no_rollback = args.no_rollback;
        Self::validate(deploy)
    }

    /// The settings of `stop`: what stopping with a savepoint needs (no jar is run).
    pub fn of_stop(args: &crate::cli::StopArgs) -> Result<Settings, SettingsError> {
        Self::validate(Self::release_command(&args.release, None, PathBuf::new()))
    }

    fn release_command(
        args: &crate::cli::ReleaseCommandArgs,
        record: Option<&savepoint_layout::ReleaseRecord>,
        jar: PathBuf,
    ) -> DeployArgs {
        DeployArgs {
            common: args.common.clone(),
            config_file: None,
            job_name: Some(args.job_name.clone()),
            jar,
            entry_class: record.and_then(|r| r.entry_class.clone()),
            parallelism: record.and_then(|r| r.parallelism),
            savepoint_dir: Some(args.savepoint_dir.clone()),
            from_savepoint: None,
            allow_non_restored_state: record.is_some_and(|r| r.allow_non_restored_state),
            allow_fresh_start: false,
            claim_mode: record
                .map(|r| crate::release::claim_mode_arg(&r.claim_mode))
                .unwrap_or_default(),
            savepoint_format: args.savepoint_format,
            savepoint_timeout: args.savepoint_timeout,
            startup_timeout: Duration::from_secs(300),
            stable_for: Duration::from_secs(30),
            require_checkpoint: false,
            no_rollback: false,
            keep_jars: 2,
            flink_conf: record
                .map(|r| r.flink_config.clone().into_iter().collect())
                .unwrap_or_default(),
            program_args: record.map(|r| r.program_args.clone()).unwrap_or_default(),
        }
    }

    /// What no single flag can check.
    fn validate(args: DeployArgs) -> Result<Settings, SettingsError> {
        let rest = &args.common.rest;
        let url = rest.jobmanager_url.clone().ok_or(SettingsError::NoUrl)?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(SettingsError::BadUrl(flink_rest::RedactedUrl::new(url)));
        }
        if rest.client_cert.is_some() != rest.client_key.is_some() {
            return Err(SettingsError::HalfClientIdentity);
        }
        let job_name = args.job_name.clone().ok_or(SettingsError::NoJobName)?;
        let layout = args
            .savepoint_dir
            .as_deref()
            .map(SavepointLayout::new)
            .transpose()?;
        let mut flink_conf: BTreeMap<String, String> = args.flink_conf.iter().cloned().collect();
        // A main() that calls execute() without a name gets the deploy's name; one that names
        // its job itself is checked against it before anything is stopped (the preflight).
        match flink_conf.get(PIPELINE_NAME) {
            Some(set) if *set != job_name => {
                return Err(SettingsError::PipelineName {
                    job_name: flink_rest::printable_name(&job_name).into_owned(),
                    pipeline_name: flink_rest::printable_name(set).into_owned(),
                })
            }
            Some(_) => {}
            None => {
                flink_conf.insert(PIPELINE_NAME.into(), job_name.clone());
            }
        }
        Ok(Settings {
            args,
            url,
            job_name,
            layout,
            flink_conf,
        })
    }
}

fn values(v: &FileValue) -> Vec<&str> {
    match v {
        FileValue::One(v) => vec![v.as_str()],
        FileValue::Many(vs) => vs.iter().map(String::as_str).collect(),
    }
}

/// Reads a spec file into keys and values (a map such as `flink-conf` becomes `key=value`s).
fn load_spec(path: &Path) -> Result<BTreeMap<String, FileValue>, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::SpecUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    parse_spec(&text).map_err(|why| SettingsError::SpecInvalid {
        path: path.to_path_buf(),
        why,
    })
}

fn parse_spec(text: &str) -> Result<BTreeMap<String, FileValue>, String> {
    use serde_yaml_ng::Value;
    let map = match serde_yaml_ng::from_str::<Value>(text).map_err(|e| e.to_string())? {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Mapping(map) => map,
        _ => return Err("must be a map of settings (job-name: orders, ...)".into()),
    };
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let key = key
            .as_str()
            .ok_or("every key must be a string")?
            .to_string();
        let value = match value {
            Value::Null => continue,
            Value::Sequence(items) => FileValue::Many(
                items
                    .iter()
                    .map(|v| scalar(v).ok_or(format!("{key}: every item must be a string, number or boolean")))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Mapping(entries) => FileValue::Many(
                entries
                    .iter()
                    .map(|(k, v)| match (k.as_str(), scalar(v)) {
                        (Some(k), Some(v)) => Ok(format!("{k}={v}")),
                        _ => Err(format!("{key}: every entry must be 'key: value' with a string, number or boolean")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => FileValue::One(
                scalar(&other).ok_or(format!("{key}: must be a string, number, boolean or list"))?,
            ),
        };
        out.insert(key, value);
    }
    Ok(out)
}

fn scalar(v: &serde_yaml_ng::Value) -> Option<String> {
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
    use std::time::Duration;

    /// Resolves `deploy` with these flags, variables and spec file; the process environment is
    /// never read.
    fn resolve(
        args: &[&str],
        env: &[(&str, &str)],
        spec: Option<&str>,
    ) -> Result<Settings, SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        let mut argv: Vec<OsString> = vec!["flink-deploy".into(), "deploy".into()];
        if let Some(text) = spec {
            let path = dir.path().join("deploy.yaml");
            std::fs::write(&path, text).unwrap();
            argv.push("--config-file".into());
            argv.push(path.into());
        }
        argv.extend(args.iter().map(OsString::from));
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // As `main` does: the first parse's errors are scrubbed too.
        let mut scrubber = Scrubber::new(&argv, env.clone());
        let first = Cli::try_parse_from(&argv)
            .map_err(|e| SettingsError::CommandLine(scrubber.scrub(&e.to_string())))?;
        let Command::Deploy(first) = first.command else {
            unreachable!()
        };
        Settings::resolve(&first, "deploy", &argv, &env, &mut scrubber)
    }

    use clap::Parser as _;

    fn message(r: Result<Settings, SettingsError>) -> String {
        r.map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn each_layer_wins_over_the_ones_below() {
        let spec = "job-name: from-file\nparallelism: 8\nstable-for: 1m\njobmanager-url: http://file:8081\n";
        // Default only.
        let s = resolve(&[], &[], Some(spec)).unwrap();
        assert_eq!(s.args.keep_jars, 2);
        assert_eq!(s.args.savepoint_timeout, Duration::from_secs(15 * 60));
        // File over default.
        assert_eq!(s.job_name, "from-file");
        assert_eq!(s.args.stable_for, Duration::from_secs(60));
        assert_eq!(s.url.as_str(), "http://file:8081/");
        // Environment over file: `docker run -e FLINK_JOBMANAGER_URL=…` beats the image's spec.
        let env = [
            ("FLINK_JOB_NAME", "from-env"),
            ("FLINK_JOBMANAGER_URL", "http://env:8081"),
        ];
        let s = resolve(&[], &env, Some(spec)).unwrap();
        assert_eq!(s.job_name, "from-env");
        assert_eq!(s.url.as_str(), "http://env:8081/");
        assert_eq!(s.args.parallelism, Some(8));
        // Flag over environment.
        let s = resolve(
            &[
                "--parallelism",
                "72",
                "--jobmanager-url",
                "http://flag:8081",
            ],
            &env,
            Some(spec),
        )
        .unwrap();
        assert_eq!(s.args.parallelism, Some(72));
        assert_eq!(s.url.as_str(), "http://flag:8081/");
        assert_eq!(s.job_name, "from-env");
    }

    #[test]
    fn unknown_spec_keys_name_the_closest_key() {
        let err = message(resolve(&[], &[], Some("job-name: x\nparalelism: 3\n")));
        assert!(
            err.contains("unknown key 'paralelism': did you mean 'parallelism'?"),
            "{err}"
        );
        let err = message(resolve(&[], &[], Some("job_name: x\n")));
        assert!(err.contains("did you mean 'job-name'?"), "{err}");
        let err = message(resolve(&[], &[], Some("- a\n- b\n")));
        assert!(err.contains("must be a map"), "{err}");
        let err = message(resolve(&[], &[], Some("config-file: other.yaml\n")));
        assert!(err.contains("unknown key 'config-file'"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected_with_their_key_and_source() {
        let base = ["--jobmanager-url", "http://jm:8081", "--job-name", "orders"];
        let err = message(resolve(&base, &[], Some("stable-for: soon\n")));
        assert!(
            err.contains("deploy.yaml: stable-for:") && err.contains("not a duration"),
            "{err}"
        );
        let err = message(resolve(&base, &[], Some("parallelism: [1, 2]\n")));
        assert!(err.contains("parallelism: takes one value"), "{err}");
        let err = message(resolve(&base, &[], Some("parallelism: {a: 1}\n")));
        assert!(err.contains("parallelism: invalid value"), "{err}");
        let err = message(resolve(&base, &[], Some("parallelism: '0'\n")));
        assert!(err.contains("parallelism:") && err.contains("0"), "{err}");
        let err = message(resolve(&base, &[], Some("program-args: [[a]]\n")));
        assert!(err.contains("program-args: every item"), "{err}");
        let err = message(resolve(
            &["--job-name", "x", "--jobmanager-url", "ftp://jm"],
            &[],
            None,
        ));
        assert!(err.contains("http:// or https://"), "{err}");
        let err = message(resolve(
            &["--job-name", "x", "--jobmanager-url", "not a url"],
            &[],
            None,
        ));
        assert!(err.contains("invalid value"), "{err}");
        let err = message(resolve(&["--job-name", "x"], &[], None));
        assert!(err.contains("--jobmanager-url"), "{err}");
        let err = message(resolve(&["--jobmanager-url", "http://jm:8081"], &[], None));
        assert!(err.contains("no job name"), "{err}");
        let err = message(resolve(
            &[&base[..], &["--savepoint-dir", "relative/dir"]].concat(),
            &[],
            None,
        ));
        assert!(err.contains("absolute path"), "{err}");
        let err = message(resolve(
            &[&base[..], &["--startup-timeout", "10"]].concat(),
            &[],
            None,
        ));
        assert!(err.contains("no unit"), "{err}");
        let err = message(resolve(&base, &[("FLINK_REST_TIMEOUT", "0s")], None));
        assert!(
            err.contains("environment variable FLINK_REST_TIMEOUT") && err.contains("zero"),
            "{err}"
        );
    }

    #[test]
    fn empty_restore_paths_are_refused_from_every_layer() {
        let base = ["--jobmanager-url", "http://jm:8081", "--job-name", "orders"];
        for (args, spec) in [
            (vec!["--from-savepoint", ""], None),
            (vec!["--from-savepoint", "  "], None),
            (vec![], Some("from-savepoint: ''\n")),
        ] {
            let err = message(resolve(&[&base[..], &args].concat(), &[], spec));
            assert!(
                err.contains("the path is empty"),
                "{args:?} {spec:?}: {err}"
            );
        }
        let err = message(resolve(
            &["--jobmanager-url", "http://jm:8081", "--job-name", " "],
            &[],
            None,
        ));
        assert!(err.contains("job name is empty"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_errors() {
        let err = message(resolve(
            &[
                "--job-name",
                "x",
                "--jobmanager-url",
                "ftp://alice:s3cret@jm",
            ],
            &[],
            None,
        ));
        assert!(!err.contains("s3cret") && !err.contains("alice"), "{err}");
        let err = message(resolve(
            &[
                "--job-name",
                "x",
                "--jobmanager-url",
                "http://alice:s3cret@jm:99999",
            ],
            &[],
            None,
        ));
        assert!(
            !err.contains("s3cret") && err.contains("invalid value"),
            "{err}"
        );
        let err = message(resolve(
            &["--job-name", "x"],
            &[],
            Some("jobmanager-url: 'http://bob:t0ps3cret@jm:99999'\n"),
        ));
        assert!(!err.contains("t0ps3cret") && !err.contains("bob"), "{err}");
        let err = message(resolve(
            &["--job-name", "x", "--jobmanager-url", "http://jm:8081"],
            &[("FLINK_REST_HEADER", "X-Api-Key k3y-from-env")],
            None,
        ));
        assert!(!err.contains("k3y-from-env"), "{err}");
        let err = message(resolve(
            &["--job-name", "x", "--jobmanager-url", "http://jm:8081"],
            &[],
            Some("header: 'X-Api-Key f1le-secret'\n"),
        ));
        assert!(!err.contains("f1le-secret"), "{err}");
    }

    #[test]
    fn program_args_and_flink_conf_come_from_flags_or_file() {
        let spec = "job-name: j\njobmanager-url: http://jm:8081\nflink-conf:\n  pipeline.max-parallelism: 128\n  execution.checkpointing.interval: 10 s\nprogram-args: [--topic, orders]\n";
        let s = resolve(&[], &[], Some(spec)).unwrap();
        assert_eq!(s.flink_conf["pipeline.max-parallelism"], "128");
        assert_eq!(s.flink_conf["execution.checkpointing.interval"], "10 s");
        assert_eq!(s.args.program_args, ["--topic", "orders"]);
        let s = resolve(
            &["--flink-conf", "a=b", "--", "--x", "y z"],
            &[],
            Some(spec),
        )
        .unwrap();
        // --flink-conf a=b, and the job's name as pipeline.name.
        assert_eq!(s.flink_conf.len(), 2);
        assert_eq!(s.flink_conf["pipeline.name"], "j");
        assert_eq!(s.args.program_args, ["--x", "y z"]);
        let s = resolve(
            &[],
            &[],
            Some(&format!("{spec}no-rollback: true\nclaim-mode: claim\n")),
        )
        .unwrap();
        assert!(s.args.no_rollback);
        assert_eq!(s.args.claim_mode, flink_ops_cli::ClaimModeArg::Claim);
    }

    #[test]
    fn pipeline_name_is_the_job_name_unless_set_to_another() {
        let base = ["--job-name", "orders", "--jobmanager-url", "http://jm:8081"];
        let s = resolve(&base, &[], None).unwrap();
        assert_eq!(s.flink_conf["pipeline.name"], "orders");
        let same = [&base[..], &["--flink-conf", "pipeline.name=orders"]].concat();
        assert_eq!(
            resolve(&same, &[], None).unwrap().flink_conf["pipeline.name"],
            "orders"
        );
        let other = [&base[..], &["--flink-conf", "pipeline.name=orders-v2"]].concat();
        let err = message(resolve(&other, &[], None));
        assert!(
            err.contains("pipeline.name=orders-v2") && err.contains("--job-name orders"),
            "{err}"
        );
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
