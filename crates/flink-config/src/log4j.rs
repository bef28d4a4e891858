//! Flink's console logging as Cloud Logging JSON.
//!
//! `bin/jobmanager.sh start-foreground` and `taskmanager.sh start-foreground` run Flink with
//! `$FLINK_CONF_DIR/log4j-console.properties`, whose `Console` appender writes to stdout: on
//! Container-Optimized OS, what reaches Cloud Logging. [`json_console`] gives that appender
//! log4j's `JsonTemplateLayout` with the GCP event template (`GcpLayout.json`, in the jar
//! `log4j-layout-template-json` that Flink 2.x carries in `lib/`), so each line arrives as one
//! entry with its `severity`. Everything else in the file (levels, the rolling log file the web
//! UI shows) stays as the image has it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The file Flink's foreground start reads its log4j configuration from.
pub const CONSOLE_LOG4J: &str = "log4j-console.properties";

/// The first line of a rendered `log4j-console.properties`; it also marks the files this
/// toolkit owns.
pub const LOG4J_HEADER: &str = "# Written by flink-bootstrap --log-format json";

/// Suffix of the copy of the image's file kept before it is first overwritten in place.
const IMAGE_SUFFIX: &str = ".image";

/// The console log configuration cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Log4jError {
    /// The file has no appender of type `Console`.
    #[error("{path} has no appender of type Console: JSON logs need the console appender Flink's foreground start writes to stdout with")]
    NoConsoleAppender {
        /// The file read.
        path: PathBuf,
    },
    /// An I/O error on a path.
    #[error("{action} {path}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Log4jError + 'a {
    move |source| Log4jError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// One `key = value` line of a properties file, with the raw text it came from.
struct Line<'a> {
    key: Option<&'a str>,
    value: &'a str,
    raw: &'a str,
}

/// Logical lines (a trailing `\` continues a line, as in Java's `Properties`).
fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i <= bytes.len() {
        let at_end = i == bytes.len();
        if at_end || bytes[i] == b'\n' {
            let raw = &text[start..i];
            let continued = raw.ends_with('\\') && !raw.ends_with("\\\\") && !at_end;
            if !continued {
                if !(at_end && raw.is_empty()) {
                    out.push(parse_line(raw));
                }
                start = i + 1;
            }
        }
        i += 1;
    }
    out
}

fn parse_line(raw: &str) -> Line<'_> {
    let trimmed = raw.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
        return Line {
            key: None,
            value: "",
            raw,
        };
    }
    let split = trimmed.find(['=', ':']).unwrap_or(trimmed.len());
    let key = trimmed[..split].trim_end();
    let value = trimmed.get(split + 1..).unwrap_or("").trim();
    Line {
        key: Some(key),
        value,
        raw,
    }
}

/// `properties` (the text of a `log4j-console.properties`, read from `path`) with every
/// `Console` appender's layout replaced by `JsonTemplateLayout` with `GcpLayout.json`. Idempotent:
/// a file rendered before gives the same text again.
pub fn json_console(properties: &str, path: &Path) -> Result<String, Log4jError> {
    let lines = lines(properties);
    // `appender.<id>.type = Console` (log4j matches plugin names in any case).
    let consoles: Vec<&str> = lines
        .iter()
        .filter_map(|l| {
            let id = l.key?.strip_prefix("appender.")?.strip_suffix(".type")?;
            (!id.contains('.') && l.value.eq_ignore_ascii_case("console")).then_some(id)
        })
        .collect();
    if consoles.is_empty() {
        return Err(Log4jError::NoConsoleAppender {
            path: path.to_owned(),
        });
    }
    let mut out = format!(
        "{LOG4J_HEADER} from {} on every start: do not edit.\n\
         # The console appender writes one Cloud Logging JSON object a line (GcpLayout.json).\n",
        path.display()
    );
    for line in &lines {
        if line.raw.starts_with(LOG4J_HEADER) || line.raw.starts_with("# The console appender") {
            continue;
        }
        let layout_of = |id: &str| {
            line.key
                .is_some_and(|k| k.starts_with(&format!("appender.{id}.layout.")))
        };
        if consoles.iter().any(|id| layout_of(id)) {
            continue;
        }
        out.push_str(line.raw);
        out.push('\n');
        if let Some(id) = line
            .key
            .and_then(|k| k.strip_prefix("appender.")?.strip_suffix(".type"))
            .filter(|id| consoles.contains(id))
        {
            out.push_str(&format!(
                "appender.{id}.layout.type = JsonTemplateLayout\n\
                 appender.{id}.layout.eventTemplateUri = classpath:GcpLayout.json\n"
            ));
        }
    }
    Ok(out)
}

/// What [`write_console_log4j`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Log4jReport {
    /// Rendered as JSON into this file.
    Json(PathBuf),
    /// The image's own file was put back (the previous start rendered JSON in place).
    Restored(PathBuf),
    /// Nothing to do: text logs, and the file is the image's.
    Untouched,
}

/// The text of the image's `log4j-console.properties` in `image_dir`: the copy kept before a
/// rendering in place, else the file. `None` when there is neither.
pub fn image_console_log4j(image_dir: &Path) -> Result<Option<(PathBuf, String)>, Log4jError> {
    for name in [
        format!("{CONSOLE_LOG4J}{IMAGE_SUFFIX}"),
        CONSOLE_LOG4J.into(),
    ] {
        let path = image_dir.join(name);
        match fs::read_to_string(&path) {
            Ok(text) => return Ok(Some((path, text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("cannot read", &path)(e)),
        }
    }
    Ok(None)
}

/// Writes `rendered` (JSON logs) as `conf_dir/log4j-console.properties`, or with `None` (text
/// logs) puts back the image's file where an earlier start rendered JSON in place. Atomic; the
/// image's own file is copied aside (`.image`) before it is first overwritten.
pub fn write_console_log4j(
    conf_dir: &Path,
    rendered: Option<&str>,
) -> Result<Log4jReport, Log4jError> {
    let path = conf_dir.join(CONSOLE_LOG4J);
    let keep = conf_dir.join(format!("{CONSOLE_LOG4J}{IMAGE_SUFFIX}"));
    let existing = match fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("cannot read", &path)(e)),
    };
    let ours = existing
        .as_deref()
        .is_some_and(|t| t.starts_with(LOG4J_HEADER));
    let contents = match rendered {
        Some(text) => {
            if let (Some(original), false) = (&existing, ours) {
                // `create_new` neither follows nor replaces a symlink planted at `keep`.
                match fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&keep)
                {
                    Ok(mut copy) => copy
                        .write_all(original.as_bytes())
                        .map_err(io("cannot keep a copy of", &path))?,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io("cannot keep a copy of", &path)(e)),
                }
            }
            text.to_owned()
        }
        None if ours => match fs::read_to_string(&keep) {
            Ok(original) => original,
            Err(e) => return Err(io("cannot read the image's copy", &keep)(e)),
        },
        None => return Ok(Log4jReport::Untouched),
    };
    if existing.as_deref() != Some(contents.as_str()) {
        let mut tmp = tempfile::NamedTempFile::new_in(conf_dir)
            .map_err(io("cannot create a file in", conf_dir))?;
        let tmp_path = tmp.path().to_owned();
        tmp.write_all(contents.as_bytes())
            .and_then(|()| {
                // Temporary files are 0600; Flink may run as another user than the one rendering.
                tmp.as_file()
                    .set_permissions(fs::Permissions::from_mode(0o644))
            })
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(io("cannot write", &tmp_path))?;
        tmp.persist(&path)
            .map_err(|e| io("cannot replace", &path)(e.error))?;
    }
    Ok(match rendered {
        Some(_) => Log4jReport::Json(path),
        None => Log4jReport::Restored(path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The console part of Flink's own `log4j-console.properties` (1.20 and 2.3 alike).
    const FLINK: &str = "\
monitorInterval=30
rootLogger.level = ${env:ROOT_LOG_LEVEL:-INFO}
rootLogger.appenderRef.console.ref = ConsoleAppender
rootLogger.appenderRef.rolling.ref = RollingFileAppender
# Log all infos to the console
appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = ${sys:console.log.level:-ALL}
appender.rolling.name = RollingFileAppender
appender.rolling.type = RollingFile
appender.rolling.layout.type = PatternLayout
appender.rolling.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
";

    fn path() -> &'static Path {
        Path::new("/opt/flink/conf/log4j-console.properties")
    }

    #[test]
    fn the_console_appender_gets_the_gcp_json_layout_and_nothing_else_changes() {
        let out = json_console(FLINK, path()).unwrap();
        assert!(out.starts_with(LOG4J_HEADER), "{out}");
        assert!(out.contains(
            "appender.console.type = CONSOLE\n\
             appender.console.layout.type = JsonTemplateLayout\n\
             appender.console.layout.eventTemplateUri = classpath:GcpLayout.json\n"
        ));
        assert!(!out.contains("appender.console.layout.pattern"), "{out}");
        assert!(!out.contains("appender.console.layout.type = PatternLayout"));
        // The rolling file (the web UI's log) keeps its pattern; levels and filters stay.
        assert!(out.contains("appender.rolling.layout.type = PatternLayout\n"));
        assert!(out.contains("appender.rolling.layout.pattern = %d{"));
        assert!(out
            .contains("appender.console.filter.threshold.level = ${sys:console.log.level:-ALL}\n"));
        assert!(out.contains("rootLogger.level = ${env:ROOT_LOG_LEVEL:-INFO}\n"));
        // Rendering a rendered file changes nothing.
        assert_eq!(json_console(&out, path()).unwrap(), out);
    }

    #[test]
    fn any_console_appender_and_continued_lines_are_handled() {
        let text = "appender.out.type=Console\nappender.out.layout.type=PatternLayout\n\
                    appender.out.layout.pattern=%m \\\n  %n\nlogger.a.name = a\n";
        let out = json_console(text, path()).unwrap();
        assert!(
            out.contains("appender.out.layout.type = JsonTemplateLayout\n"),
            "{out}"
        );
        assert!(
            !out.contains("%n"),
            "the continued pattern line is gone: {out}"
        );
        assert!(out.contains("logger.a.name = a\n"));
    }

    #[test]
    fn a_file_without_a_console_appender_is_refused() {
        let err = json_console("appender.f.type = RollingFile\n", path()).unwrap_err();
        assert!(
            err.to_string().contains("no appender of type Console"),
            "{err}"
        );
        assert!(
            err.to_string().contains("log4j-console.properties"),
            "{err}"
        );
    }

    #[test]
    fn writes_json_in_place_and_puts_the_images_file_back_for_text() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CONSOLE_LOG4J);
        fs::write(&file, FLINK).unwrap();
        let (from, text) = image_console_log4j(dir.path()).unwrap().unwrap();
        assert_eq!(from, file);
        let json = json_console(&text, &from).unwrap();
        assert_eq!(
            write_console_log4j(dir.path(), Some(&json)).unwrap(),
            Log4jReport::Json(file.clone())
        );
        assert_eq!(fs::read_to_string(&file).unwrap(), json);
        let mode = fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        // The next start renders from the image's copy, not from its own output.
        let (from, text) = image_console_log4j(dir.path()).unwrap().unwrap();
        assert_eq!(from, dir.path().join("log4j-console.properties.image"));
        assert_eq!(text, FLINK);
        write_console_log4j(dir.path(), Some(&json)).unwrap();
        assert_eq!(
            fs::read_to_string(&from).unwrap(),
            FLINK,
            "the copy is made once"
        );
        // Text logs again: the image's file is back.
        assert_eq!(
            write_console_log4j(dir.path(), None).unwrap(),
            Log4jReport::Restored(file.clone())
        );
        assert_eq!(fs::read_to_string(&file).unwrap(), FLINK);
        assert_eq!(
            write_console_log4j(dir.path(), None).unwrap(),
            Log4jReport::Untouched
        );
    }

    #[test]
    fn the_kept_copy_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let victim = elsewhere.path().join("victim");
        fs::write(dir.path().join(CONSOLE_LOG4J), FLINK).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("log4j-console.properties.image"))
            .unwrap();
        let json = json_console(FLINK, path()).unwrap();
        write_console_log4j(dir.path(), Some(&json)).unwrap();
        assert!(!victim.exists(), "wrote through the symlink");
    }
}
