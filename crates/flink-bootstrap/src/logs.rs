//! `--log-format json` for Flink itself: its console log (stdout, which Container-Optimized OS
//! sends to Cloud Logging) rendered with log4j's JsonTemplateLayout and the GCP template. The
//! layout is a jar of its own; Flink 2.x carries it in `lib/`, 1.20 does not.

use std::path::{Path, PathBuf};

/// The jar (a name prefix) of log4j's JSON template layout.
const LAYOUT_JAR: &str = "log4j-layout-template-json";

/// The event template the console appender uses, from the layout jar.
const GCP_TEMPLATE: &[u8] = b"GcpLayout.json";

/// The layout jar in `home/lib` that carries `GcpLayout.json`; the error says what to do.
pub fn json_layout_jar(home: &Path) -> Result<PathBuf, String> {
    let lib = home.join("lib");
    let mut jars: Vec<PathBuf> = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    jars.sort();
    let named = |prefix: &str| {
        let prefix = format!("{prefix}-");
        jars.iter()
            .filter(move |j| {
                j.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".jar"))
            })
            .cloned()
    };
    // A jar names its entries in plain bytes (local headers and the central directory).
    let carries_template = |jar: &PathBuf| {
        std::fs::read(jar)
            .is_ok_and(|bytes| bytes.windows(GCP_TEMPLATE.len()).any(|w| w == GCP_TEMPLATE))
    };
    if let Some(jar) = named(LAYOUT_JAR).find(carries_template) {
        return Ok(jar);
    }
    // Name the exact jar to add: the layout of the log4j Flink ships.
    let wanted = named("log4j-core")
        .next()
        .and_then(|core| {
            let name = core.file_name()?.to_str()?.to_owned();
            Some(name.replace("log4j-core", LAYOUT_JAR))
        })
        .unwrap_or_else(|| format!("{LAYOUT_JAR}-<log4j version>.jar"));
    Err(format!(
        "--log-format json renders Flink's console log with log4j's JsonTemplateLayout and \
         GcpLayout.json, but {} holds no {LAYOUT_JAR}-*.jar with that template (Flink 2.x ships \
         it, Flink 1.20 does not). Add {wanted} from Maven Central to {}, or use --log-format text",
        lib.display(),
        lib.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(jars: &[(&str, &[u8])]) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("lib")).unwrap();
        for (name, bytes) in jars {
            std::fs::write(home.path().join("lib").join(name), bytes).unwrap();
        }
        home
    }

    #[test]
    fn the_layout_jar_must_carry_the_gcp_template() {
        let with = home(&[
            ("log4j-core-2.25.3.jar", b"PK"),
            (
                "log4j-layout-template-json-2.25.3.jar",
                b"PK..GcpLayout.json..PK",
            ),
        ]);
        assert_eq!(
            json_layout_jar(with.path()).unwrap(),
            with.path()
                .join("lib/log4j-layout-template-json-2.25.3.jar")
        );
        // Flink 1.20's lib/: log4j, no layout jar. The message names the jar to add.
        let without = home(&[("log4j-core-2.24.3.jar", b"PK")]);
        let err = json_layout_jar(without.path()).unwrap_err();
        assert!(
            err.contains("Add log4j-layout-template-json-2.24.3.jar from Maven Central"),
            "{err}"
        );
        assert!(err.contains("--log-format text"), "{err}");
        // An older layout without the template is no better.
        let old = home(&[(
            "log4j-layout-template-json-2.14.0.jar",
            b"PK..EcsLayout.json",
        )]);
        assert!(json_layout_jar(old.path()).is_err());
    }
}
