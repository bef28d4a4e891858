//! Reading config files, `FLINK_PROPERTIES` and untrusted metadata into flat `(key, value)` pairs.

use serde_yaml_ng::Value;

/// The largest config text read from any source (a metadata attribute holds at most 256 KB on
/// GCE; Flink's shipped `config.yaml` is 15 KB).
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// The deepest nesting of YAML flow collections (`[…]`, `{…}`) accepted. The YAML parser takes
/// time quadratic in this depth (a 200 KB `[[[…` takes tens of seconds to be refused), so it is
/// checked before parsing.
pub const MAX_NESTING: usize = 64;

/// At most this many `[` and `{` in one text, wherever they are: a bound on the nesting depth
/// that holds whatever quoting tricks defeat the depth scan.
const MAX_BRACKETS: usize = 4096;

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
    /// A text over [`MAX_CONFIG_BYTES`].
    #[error("{bytes} bytes is more than the {max} bytes a config text may have")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// YAML nested deeper than [`MAX_NESTING`], refused before parsing.
    #[error(
        "line {line}: `[`/`{{` nested more than {max} levels deep; refused before parsing \
         (deeply nested YAML takes long to read)"
    )]
    TooDeep {
        /// 1-based line where the limit was passed.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// More `[` and `{` than any config needs, refused before parsing.
    #[error(
        "{count} `[` and `{{` characters; at most {max} are accepted (deeply nested YAML takes \
         long to read)"
    )]
    TooManyBrackets {
        /// How many were found.
        count: usize,
        /// The limit.
        max: usize,
    },
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

/// Refuses texts over [`MAX_CONFIG_BYTES`].
pub fn check_size(text: &str) -> Result<(), ParseError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(ParseError::TooLarge {
            bytes: text.len(),
            max: MAX_CONFIG_BYTES,
        });
    }
    Ok(())
}

/// Refuses texts that are too large or nested too deeply to be given to the YAML parser.
pub fn check_yaml_shape(text: &str) -> Result<(), ParseError> {
    check_size(text)?;
    let count = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    if count > MAX_BRACKETS {
        return Err(ParseError::TooManyBrackets {
            count,
            max: MAX_BRACKETS,
        });
    }
    match flow_depth_exceeds(text, MAX_NESTING) {
        Some(line) => Err(ParseError::TooDeep {
            line,
            max: MAX_NESTING,
        }),
        None => Ok(()),
    }
}

/// The line where flow collections nest deeper than `max`, if they do. A scan of YAML's lexical
/// rules that matter for brackets: quoted scalars (which start a token), `#` comments (after
/// white space) and block scalars (`|`, `>`: more indented lines are text). Brackets inside a
/// plain scalar of block context are not collections, but counting them only errs towards
/// refusing.
fn flow_depth_exceeds(text: &str, max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    // The indentation of the line that opened a block scalar, while inside one.
    let mut block_scalar: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(parent) = block_scalar {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        let bytes = line.as_bytes();
        let mut prev = b' ';
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(b'\'') if b == b'\'' => {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 1;
                    } else {
                        quote = None;
                    }
                }
                Some(b'"') if b == b'\\' => i += 1,
                Some(b'"') if b == b'"' => quote = None,
                Some(_) => {}
                None => {
                    let token_start = matches!(prev, b' ' | b'\t')
                        || (depth > 0 && matches!(prev, b'[' | b'{' | b',' | b':'));
                    match b {
                        b'#' if matches!(prev, b' ' | b'\t') => break,
                        b'\'' | b'"' if token_start => quote = Some(b),
                        b'[' | b'{' if depth > 0 || token_start => {
                            depth += 1;
                            if depth > max {
                                return Some(n + 1);
                            }
                        }
                        b']' | b'}' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
            }
            prev = b;
            i += 1;
        }
        // `key: |`, `- >-`: the following more indented lines are text.
        let last = line[..i.min(line.len())].split_whitespace().next_back();
        let indicator = last.is_some_and(|t| {
            t.starts_with(['|', '>'])
                && t[1..]
                    .bytes()
                    .all(|c| matches!(c, b'-' | b'+' | b'1'..=b'9'))
        });
        if quote.is_none() && depth == 0 && indicator {
            block_scalar = Some(indent);
        }
    }
    None
}

fn flatten_document(text: &str, strict: bool) -> Result<Vec<(String, String)>, ParseError> {
    check_yaml_shape(text)?;
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
    check_size(text)?;
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
            check_yaml_shape(value)?;
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
    fn deep_nesting_is_refused_before_parsing() {
        // The 200 KB value: the YAML parser would take tens of seconds to refuse it.
        let deep = format!("a: {}", "[".repeat(200_000));
        for parse in [parse_config_yaml, parse_untrusted_map] {
            assert!(matches!(
                parse(&deep),
                Err(ParseError::TooManyBrackets { .. })
            ));
        }
        let deep = format!("a: {}1{}", "[".repeat(65), "]".repeat(65));
        assert!(matches!(
            parse_untrusted_map(&deep),
            Err(ParseError::TooDeep { line: 1, max: 64 })
        ));
        let deep = format!("a:\n  b: {}", "{c: ".repeat(100));
        assert!(matches!(
            parse_config_yaml(&deep),
            Err(ParseError::TooDeep { line: 2, .. })
        ));
        let value = format!("a.b: '' {}\n", "[".repeat(100));
        assert!(matches!(
            parse_properties(&value),
            Err(ParseError::TooDeep { .. })
        ));
        let err = parse_untrusted_map(&format!("x: {}", "[".repeat(100))).unwrap_err();
        assert!(
            err.to_string().contains("nested more than 64 levels"),
            "{err}"
        );
    }

    #[test]
    fn brackets_that_are_text_do_not_count() {
        let many = "[".repeat(100);
        for text in [
            format!("a.b: '{many}'\n"),
            format!("a.b: \"{many}\\\" {many}\"\n"),
            format!("a.b: 'it''s {many}'\n"),
            format!("# {many}\na.b: c\n"),
            format!("a.b: c # {many}\n"),
            format!("a.b: x{many}\n"),
            format!("a.b: |\n  {many}\n  {many}\n\nc.d: [1, [2, {{e: 3}}]]\n"),
            format!("a:\n  b: >-\n    {many}\n  c: [x]\n"),
            format!("a.b: \"multi\n  line {many}\"\n"),
        ] {
            assert_eq!(
                check_yaml_shape(&text).map_err(|e| e.to_string()),
                Ok(()),
                "{text}"
            );
        }
        // After a block scalar, brackets count again.
        let text = format!("a: |\n  x\nb: {}", "[".repeat(65));
        assert!(check_yaml_shape(&text).is_err());
    }

    #[test]
    fn large_texts_are_refused() {
        let big = format!("a.b: {}\n", "x".repeat(MAX_CONFIG_BYTES));
        for parse in [parse_config_yaml, parse_untrusted_map, parse_properties] {
            assert!(matches!(parse(&big), Err(ParseError::TooLarge { .. })));
        }
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
