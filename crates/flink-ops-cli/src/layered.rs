//! Flags, the environment and a config file as layers of one clap command.
//!
//! A flag is declared once, in clap: its long name is its key in the config file and its `env =`
//! is its variable. [`apply_layers`] turns the environment's and the file's values into the
//! arguments' defaults, so that clap itself gives the precedence cargo, uv and 12-factor tools
//! use: **flag > environment > config file > default**. Every value is checked by the flag's own
//! parser, and an error names where the value came from.

use std::collections::BTreeMap;

use clap::{Arg, ArgAction, Command};

/// A value of a config-file key: one value, or several (a list, or a map of `key=value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileValue {
    /// `key: value`.
    One(String),
    /// `key: [a, b]`, or `key: {a: 1}` as `a=1`.
    Many(Vec<String>),
}

/// Why a layer's value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerError {
    /// A key no flag has.
    #[error("{origin}: unknown key '{key}'{hint}")]
    UnknownKey {
        /// The file.
        origin: String,
        /// The key.
        key: String,
        /// "; did you mean …?" or the valid keys.
        hint: String,
    },
    /// A value the flag's parser refuses.
    #[error("{origin}: {key}: {message}")]
    InvalidValue {
        /// The file, or `environment variable NAME`.
        origin: String,
        /// The key or the variable.
        key: String,
        /// The parser's message.
        message: String,
    },
}

/// The config-file key of `arg`: its long name, else its id in kebab case.
pub fn file_key(arg: &Arg) -> String {
    arg.get_long()
        .map(str::to_string)
        .unwrap_or_else(|| arg.get_id().as_str().replace('_', "-"))
}

/// The config-file keys `command` accepts: every argument but `skip`, `help` and `version`.
pub fn file_keys(command: &Command, skip: &[&str]) -> Vec<String> {
    command
        .get_arguments()
        .filter(|a| {
            !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpLong | ArgAction::Version
            )
        })
        .map(file_key)
        .filter(|k| !skip.contains(&k.as_str()))
        .collect()
}

/// Makes the environment's values (looked up by each argument's `env`; empty counts as unset),
/// then the file's (by [`file_key`]), the defaults of `command`'s arguments, after checking each
/// with its argument's parser. Arguments stop reading the process environment themselves, so
/// `env` is the only environment (tests pass a map). `origin` names the file in errors.
pub fn apply_layers(
    command: Command,
    env: &dyn Fn(&str) -> Option<String>,
    file: &BTreeMap<String, FileValue>,
    origin: &str,
    skip: &[&str],
) -> Result<Command, LayerError> {
    let keys = file_keys(&command, skip);
    for key in file.keys() {
        if !keys.contains(key) {
            return Err(LayerError::UnknownKey {
                origin: origin.to_string(),
                key: key.clone(),
                hint: closest(key, &keys),
            });
        }
    }
    let mut layered = Vec::new();
    for arg in command.get_arguments() {
        let from_env = arg
            .get_env()
            .and_then(|name| Some((name.to_str()?.to_string(), env(name.to_str()?)?)))
            .filter(|(_, value)| !value.is_empty());
        let (source, values) = match from_env {
            Some((name, value)) => (format!("environment variable {name}"), vec![value]),
            None => match file.get(&file_key(arg)) {
                Some(FileValue::One(v)) => (origin.to_string(), vec![v.clone()]),
                Some(FileValue::Many(vs)) => (origin.to_string(), vs.clone()),
                None => {
                    layered.push((arg.get_id().clone(), None));
                    continue;
                }
            },
        };
        let key = if source == origin {
            file_key(arg)
        } else {
            format!("--{}", file_key(arg))
        };
        let many = matches!(arg.get_action(), ArgAction::Append);
        if values.len() != 1 && !many {
            return Err(LayerError::InvalidValue {
                origin: source,
                key,
                message: "takes one value, not a list".into(),
            });
        }
        for value in &values {
            check(arg, value).map_err(|message| LayerError::InvalidValue {
                origin: source.clone(),
                key: key.clone(),
                message,
            })?;
        }
        layered.push((arg.get_id().clone(), Some(values)));
    }
    let mut command = command;
    for (id, values) in layered {
        command = command.mut_arg(id, |arg| {
            let arg = arg.env(None::<&str>);
            match values {
                Some(values) => arg.default_values(values),
                None => arg,
            }
        });
    }
    Ok(command)
}

/// Runs `arg`'s parser on `value`; its message without clap's decoration.
fn check(arg: &Arg, value: &str) -> Result<(), String> {
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        // Flags (`--no-rollback`) take true or false from a layer.
        return match value {
            "true" | "false" => Ok(()),
            _ => Err(format!("'{value}' is not true or false")),
        };
    }
    // The argument itself may require or conflict with others: check with its parser alone.
    let probe = Arg::new("value")
        .long("value")
        .value_parser(arg.get_value_parser().clone())
        .action(ArgAction::Set)
        .allow_hyphen_values(true);
    let parsed = Command::new("check")
        .no_binary_name(true)
        .arg(probe)
        .try_get_matches_from([format!("--value={value}")]);
    parsed.map(|_| ()).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let first = first.trim_start_matches("error: ");
        // "invalid value 'x' for '--value <value>': why" -> "invalid value 'x': why"
        first.replace(" for '--value <value>'", "")
    })
}

fn closest(key: &str, keys: &[String]) -> String {
    let normalized = key.replace('_', "-");
    let best = keys
        .iter()
        .map(|k| (strsim::jaro_winkler(&normalized, k), k))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((score, k)) if score > 0.8 => format!(": did you mean '{k}'?"),
        _ => format!("; valid keys: {}", keys.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, FromArgMatches};
    use std::time::Duration;

    #[derive(Debug, Args)]
    struct Demo {
        /// A name.
        #[arg(long, env = "DEMO_NAME")]
        name: Option<String>,
        /// A timeout.
        #[arg(long, value_parser = crate::parse_timeout, default_value = "30s")]
        timeout: Duration,
        /// A flag.
        #[arg(long)]
        careful: bool,
        /// Repeatable.
        #[arg(long = "conf", value_parser = crate::parse_key_value)]
        conf: Vec<(String, String)>,
    }

    fn parse(
        argv: &[&str],
        env: &[(&str, &str)],
        file: &[(&str, FileValue)],
    ) -> Result<Demo, String> {
        let command = Demo::augment_args(Command::new("demo"));
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let file: BTreeMap<String, FileValue> = file
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let command = apply_layers(command, &|n| env.get(n).cloned(), &file, "demo.yaml", &[])
            .map_err(|e| e.to_string())?;
        let matches = command
            .try_get_matches_from(std::iter::once("demo").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        Demo::from_arg_matches(&matches).map_err(|e| e.to_string())
    }

    fn one(v: &str) -> FileValue {
        FileValue::One(v.into())
    }

    #[test]
    fn flag_beats_environment_beats_file_beats_default() {
        let file = [("name", one("file")), ("timeout", one("1m"))];
        let d = parse(&["--name", "flag"], &[("DEMO_NAME", "env")], &file).unwrap();
        assert_eq!(d.name.as_deref(), Some("flag"));
        let d = parse(&[], &[("DEMO_NAME", "env")], &file).unwrap();
        assert_eq!(d.name.as_deref(), Some("env"));
        let d = parse(&[], &[("DEMO_NAME", "")], &file).unwrap();
        assert_eq!(
            d.name.as_deref(),
            Some("file"),
            "an empty variable is unset"
        );
        assert_eq!(d.timeout, Duration::from_secs(60));
        let d = parse(&[], &[], &[]).unwrap();
        assert_eq!((d.name, d.timeout), (None, Duration::from_secs(30)));
    }

    #[test]
    fn flags_and_lists_come_from_the_file_too() {
        let file = [
            ("careful", one("true")),
            ("conf", FileValue::Many(vec!["a=1".into(), "b=2".into()])),
        ];
        let d = parse(&[], &[], &file).unwrap();
        assert!(d.careful);
        assert_eq!(d.conf.len(), 2);
        let d = parse(&["--conf", "c=3"], &[], &file).unwrap();
        assert_eq!(d.conf, [("c".to_string(), "3".to_string())]);
    }

    #[test]
    fn errors_name_the_source_and_the_key() {
        let err = parse(&[], &[], &[("timeout", one("soon"))]).unwrap_err();
        assert!(err.starts_with("demo.yaml: timeout: "), "{err}");
        assert!(err.contains("not a duration"), "{err}");
        let err = parse(&[], &[], &[("timeout", one("0s"))]).unwrap_err();
        assert!(err.contains("zero"), "{err}");
        let err = parse(&[], &[], &[("careful", one("yes"))]).unwrap_err();
        assert!(err.contains("careful: 'yes' is not true or false"), "{err}");
        let err = parse(&[], &[], &[("timout", one("1s"))]).unwrap_err();
        assert!(
            err.contains("unknown key 'timout': did you mean 'timeout'?"),
            "{err}"
        );
        let err = parse(&[], &[], &[("name", FileValue::Many(vec![]))]).unwrap_err();
        assert!(err.contains("name: takes one value"), "{err}");
    }
}
