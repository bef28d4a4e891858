//! Writing a resolved configuration as the text of the file the installed Flink reads.

use crate::{is_key_shaped, ConfigFile, Resolved};

/// The first line of every rendered file; it also marks files this toolkit owns.
pub const HEADER: &str = "# Written by flink-bootstrap";

/// A value the target file format cannot hold.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A key that would change the file's structure.
    #[error("`{0}` is not a Flink key; refusing to write it")]
    BadKey(String),
    /// A value the format cannot represent.
    #[error("{key}: {reason}")]
    Unrepresentable {
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },
}

/// Renders flat, sorted `key: value` lines. For `config.yaml` every value is single-quoted so
/// YAML keeps it a string (`2.0` stays `2.0`, `off` stays `off`) and Flink converts it to the
/// key's type; the legacy `flink-conf.yaml` parser has no quoting, so values are written bare.
pub fn render(resolved: &Resolved, file: ConfigFile) -> Result<String, RenderError> {
    let mut out = format!(
        "{HEADER} for Flink {} on every start: do not edit.\n\
         # `flink-bootstrap explain ROLE` shows where each value comes from.\n",
        resolved.version
    );
    for (key, r) in &resolved.entries {
        if !is_key_shaped(key) {
            return Err(RenderError::BadKey(key.clone()));
        }
        let unrepresentable = |reason| RenderError::Unrepresentable {
            key: key.clone(),
            reason,
        };
        let value = &r.value;
        if value.chars().any(char::is_control) {
            return Err(unrepresentable(
                "line breaks and control characters cannot be written",
            ));
        }
        let rendered = match file {
            ConfigFile::ConfigYaml => format!("'{}'", value.replace('\'', "''")),
            ConfigFile::FlinkConfYaml => {
                if value.contains('#') {
                    return Err(unrepresentable(
                        "flink-conf.yaml cannot hold `#` in a value",
                    ));
                }
                if value.trim().is_empty() {
                    return Err(unrepresentable(
                        "flink-conf.yaml cannot hold an empty value",
                    ));
                }
                value.trim().to_owned()
            }
        };
        out.push_str(key);
        out.push_str(": ");
        out.push_str(&rendered);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_config_yaml, parse_flink_conf, resolve, FlinkVersion, Layer, Source};

    fn resolved(version: FlinkVersion, pairs: &[(&str, &str)]) -> Resolved {
        let layer = Layer::new(
            Source::CommandLine,
            "",
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        );
        resolve(&[layer], version)
    }

    const ARTICLE: &[(&str, &str)] = &[
        (
            "restart-strategy.exponential-delay.backoff-multiplier",
            "2.0",
        ),
        ("jobmanager.scheduler", "adaptive"),
        (
            "jobmanager.adaptive-scheduler.resource-wait-timeout",
            "3600 s",
        ),
        ("heartbeat.timeout", "15 s"),
        ("web.submit.enable", "false"),
        ("env.java.opts.all", "-Dquote='x' -Dhash=#1 -Dcolon=a: b"),
        ("jobmanager.rpc.address", "10.128.0.7"),
    ];

    #[test]
    fn renders_config_yaml_for_2_3() {
        let text = render(
            &resolved(FlinkVersion::new(2, 3, 0), ARTICLE),
            ConfigFile::ConfigYaml,
        )
        .unwrap();
        let expected = "\
# Written by flink-bootstrap for Flink 2.3.0 on every start: do not edit.
# `flink-bootstrap explain ROLE` shows where each value comes from.
env.java.opts.all: '-Dquote=''x'' -Dhash=#1 -Dcolon=a: b'
heartbeat.timeout: '15 s'
jobmanager.adaptive-scheduler.submission.resource-wait-timeout: '3600 s'
jobmanager.rpc.address: '10.128.0.7'
jobmanager.scheduler: 'adaptive'
restart-strategy.exponential-delay.backoff-multiplier: '2.0'
web.submit.enable: 'false'
";
        assert_eq!(text, expected);
    }

    #[test]
    fn rendered_yaml_reads_back_as_the_same_strings() {
        let r = resolved(FlinkVersion::new(1, 20, 3), ARTICLE);
        let text = render(&r, ConfigFile::ConfigYaml).unwrap();
        assert!(text.contains("jobmanager.adaptive-scheduler.resource-wait-timeout: '3600 s'"));
        let back = parse_config_yaml(&text).unwrap();
        let expected: Vec<(String, String)> = r
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        assert_eq!(back, expected);
        // Deterministic: the same input renders the same bytes.
        assert_eq!(render(&r, ConfigFile::ConfigYaml).unwrap(), text);
    }

    #[test]
    fn renders_legacy_flink_conf() {
        let r = resolved(
            FlinkVersion::new(1, 18, 1),
            &[
                ("heartbeat.timeout", "15000"),
                ("state.savepoints.dir", "gs://b/sp"),
            ],
        );
        let text = render(&r, ConfigFile::FlinkConfYaml).unwrap();
        assert!(text.ends_with("heartbeat.timeout: 15000\nstate.savepoints.dir: gs://b/sp\n"));
        assert_eq!(parse_flink_conf(&text).len(), 2);
        let hash = resolved(FlinkVersion::new(1, 18, 1), &[("a.b", "x#y")]);
        assert!(render(&hash, ConfigFile::FlinkConfYaml).is_err());
    }

    #[test]
    fn refuses_what_could_inject_lines() {
        let r = resolved(FlinkVersion::new(2, 3, 0), &[("a.b", "x\nc.d: e")]);
        assert!(render(&r, ConfigFile::ConfigYaml).is_err());
        let r = resolved(FlinkVersion::new(2, 3, 0), &[("a: b", "x")]);
        assert!(matches!(
            render(&r, ConfigFile::ConfigYaml),
            Err(RenderError::BadKey(_))
        ));
    }
}
