//! Reading config files, `FLINK_PROPERTIES` and untrusted metadata into flat `(key, value)` pairs.

use serde_yaml_ng::Value;

/// Why a config text could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not YAML.
    #[error("not valid YAML")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// YAML whose top level is not a map.
    #[error("expected a YAML map of Flink keys, found {0}")]
    NotAMap(&'static str),
    /// A value that is not a scalar where only scalars are allowed.
    #[error("`{key}` must be a single value, found {found}")]
    NotAScalar {
        /// The key.
        key: String,
        /// What was found instead.
        found: &'static str,
    },
    /// A key that is not a Flink-style dotted name.
    #[error("`{0}` is not a Flink key (letters, digits, `.`, `-` and `_` only)")]
    BadKey(String),
    /// A `FLINK_PROPERTIES` line that is not `key: value`.
    #[error("line {line} is not `key: value`: {text:?}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
}

/// Whether `key` looks like a Flink key: dotted words of letters, digits, `-` and `_`. Anything
/// else (spaces, `:`, `#`, newlines) could change the meaning of a rendered file.
pub fn is_key_shaped(key: &str) -> bool {
    !key.is_empty()
        && key.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Parses a `config.yaml` (nested maps or flat dotted keys, Flink 1.19+). Lists become Flink's
/// `a;b` form; `null` values are dropped as Flink drops them.
pub fn parse_config_yaml(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    flatten_document(text, false)
}

/// Parses untrusted YAML (a metadata attribute): a map whose leaves are scalars, with Flink-shaped
/// keys. Nested maps are allowed as in `config.yaml`.
pub fn parse_untrusted_map(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    flatten_document(text, true)
}

fn flatten_document(text: &str, strict: bool) -> Result<Vec<(String, String)>, ParseError> {
    let doc: Value = serde_yaml_ng::from_str(text)?;
    let mut out = Vec::new();
    match doc {
        Value::Mapping(map) => flatten(&map, "", strict, &mut out)?,
        // An empty file.
        Value::Null => {}
        other => return Err(ParseError::NotAMap(kind(&other))),
    }
    Ok(out)
}

fn flatten(
    map: &serde_yaml_ng::Mapping,
    prefix: &str,
    strict: bool,
    out: &mut Vec<(String, String)>,
) -> Result<(), ParseError> {
    for (k, v) in map {
        let part = scalar(k).ok_or_else(|| ParseError::BadKey(format!("{k:?}")))?;
        let key = if prefix.is_empty() {
            part
        } else {
            format!("{prefix}.{part}")
        };
        if !is_key_shaped(&key) {
            return Err(ParseError::BadKey(key));
        }
        match v {
            Value::Mapping(inner) => flatten(inner, &key, strict, out)?,
            Value::Null if !strict => {}
            Value::Sequence(items) if !strict => {
                let items: Option<Vec<String>> = items.iter().map(scalar).collect();
                let found = "a list of non-scalars";
                let items = items.ok_or(ParseError::NotAScalar {
                    key: key.clone(),
                    found,
                })?;
                out.push((key, items.join(";")));
            }
            _ => {
                let found = kind(v);
                let value = scalar(v).ok_or(ParseError::NotAScalar {
                    key: key.clone(),
                    found,
                })?;
                out.push((key, value));
            }
        }
    }
    Ok(())
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Parses a legacy `flink-conf.yaml` the way Flink before 1.19 does: one `key: value` per line,
/// everything after `#` is a comment, no YAML quoting.
pub fn parse_flink_conf(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or_default().trim();
            let (key, value) = line.split_once(": ")?;
            let (key, value) = (key.trim(), value.trim());
            (!key.is_empty() && !value.is_empty()).then(|| (key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// Parses `FLINK_PROPERTIES`: `key: value` per line as in the official image, but spaces inside
/// values are kept; blank lines and `#` comment lines are skipped. A YAML-quoted value is unquoted.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || ParseError::BadLine {
            line: i + 1,
            text: raw.to_owned(),
        };
        let (key, value) = line
            .split_once(": ")
            .or_else(|| line.strip_suffix(':').map(|k| (k, "")))
            .ok_or_else(bad)?;
        let key = key.trim();
        if !is_key_shaped(key) {
            return Err(ParseError::BadKey(key.to_owned()));
        }
        let value = value.trim();
        let value = if value.starts_with(['\'', '"']) {
            match serde_yaml_ng::from_str::<Value>(value)? {
                Value::String(s) => s,
                _ => return Err(bad()),
            }
        } else {
            value.to_owned()
        };
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flattens_nested_and_flat_yaml() {
        let text = "jobmanager:\n  rpc:\n    address: jm\n    port: 6123\n\
                    taskmanager.numberOfTaskSlots: 2\n\
                    env.java.opts.all: -XX:+UseG1GC -Dx=y\n\
                    pipeline.jars: [a.jar, b.jar]\n\
                    unset:\n\
                    restart-strategy.exponential-delay.backoff-multiplier: 2.0\n";
        assert_eq!(
            parse_config_yaml(text).unwrap(),
            pairs(&[
                ("jobmanager.rpc.address", "jm"),
                ("jobmanager.rpc.port", "6123"),
                ("taskmanager.numberOfTaskSlots", "2"),
                ("env.java.opts.all", "-XX:+UseG1GC -Dx=y"),
                ("pipeline.jars", "a.jar;b.jar"),
                (
                    "restart-strategy.exponential-delay.backoff-multiplier",
                    "2.0"
                ),
            ])
        );
    }

    #[test]
    fn reads_the_shipped_config_yaml_shape() {
        let text = "# comment\njobmanager:\n  bind-host: localhost\n  memory:\n    process:\n      size: 1600m\nparallelism:\n  default: 1\n";
        assert_eq!(
            parse_config_yaml(text).unwrap(),
            pairs(&[
                ("jobmanager.bind-host", "localhost"),
                ("jobmanager.memory.process.size", "1600m"),
                ("parallelism.default", "1"),
            ])
        );
    }

    #[test]
    fn rejects_duplicate_keys() {
        assert!(parse_config_yaml("a.b: 1\na.b: 2\n").is_err());
    }

    #[test]
    fn untrusted_yaml_must_be_a_map_of_scalars() {
        assert!(matches!(
            parse_untrusted_map("- a\n- b\n"),
            Err(ParseError::NotAMap(_))
        ));
        assert!(matches!(
            parse_untrusted_map("just text"),
            Err(ParseError::NotAMap(_))
        ));
        assert!(matches!(
            parse_untrusted_map("a.b: [1, 2]"),
            Err(ParseError::NotAScalar { .. })
        ));
        assert!(matches!(
            parse_untrusted_map("a.b:\n"),
            Err(ParseError::NotAScalar { .. })
        ));
        assert!(matches!(
            parse_untrusted_map("\"a\\nb: c\": 1"),
            Err(ParseError::BadKey(_))
        ));
        assert!(matches!(
            parse_untrusted_map("\"a b\": 1"),
            Err(ParseError::BadKey(_))
        ));
        // A value may hold anything: the renderer quotes it.
        assert_eq!(
            parse_untrusted_map("heartbeat.timeout: \"15 s\\nx.y: z\"").unwrap(),
            pairs(&[("heartbeat.timeout", "15 s\nx.y: z")])
        );
    }

    #[test]
    fn legacy_flink_conf() {
        let text = "# header\njobmanager.rpc.address: jm # inline\n\nbad line\nkey.only:\nheartbeat.timeout: 15000\n";
        assert_eq!(
            parse_flink_conf(text),
            pairs(&[
                ("jobmanager.rpc.address", "jm"),
                ("heartbeat.timeout", "15000")
            ])
        );
    }

    #[test]
    fn flink_properties_keep_inner_spaces() {
        let text =
            "jobmanager.rpc.address: jm\n\n  # comment\nenv.java.opts.all: -Xss2m  -Dfoo=bar \
                    baz\nheartbeat.timeout: '15 s'\nblob.server.port: 6124\n";
        assert_eq!(
            parse_properties(text).unwrap(),
            pairs(&[
                ("jobmanager.rpc.address", "jm"),
                ("env.java.opts.all", "-Xss2m  -Dfoo=bar baz"),
                ("heartbeat.timeout", "15 s"),
                ("blob.server.port", "6124"),
            ])
        );
        assert!(matches!(
            parse_properties("no colon here"),
            Err(ParseError::BadLine { line: 1, .. })
        ));
    }
}
