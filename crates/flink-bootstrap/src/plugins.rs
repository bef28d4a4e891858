//! Flink's filesystem plugins, which a bucket state directory needs: Flink reads `gs://` and
//! `s3://` only through a plugin under `plugins/`, and without one every savepoint and
//! checkpoint fails at run time.
//!
//! - [`Plugins::enable`] does what the official image's entrypoint does with
//!   `ENABLE_BUILT_IN_PLUGINS` (which flink-bootstrap replaces as the entrypoint): each named jar
//!   of `opt/` is linked into `plugins/<jar name without .jar>/`.
//! - [`Plugins::missing_for`] finds the state directories on a bucket whose scheme no plugin
//!   serves, so the operator hears it before the first savepoint fails.

use std::path::{Path, PathBuf};

use flink_config::{Diagnostic, Resolved, Severity};

/// The plugin jars (by name prefix) that serve each bucket scheme.
const SCHEMES: &[(&str, &[&str])] = &[
    ("gs", &["flink-gs-fs-hadoop"]),
    ("s3", &["flink-s3-fs-hadoop", "flink-s3-fs-presto"]),
    ("s3a", &["flink-s3-fs-hadoop"]),
    ("s3p", &["flink-s3-fs-presto"]),
];

/// The plugins of one Flink installation: those in `plugins/` and those `ENABLE_BUILT_IN_PLUGINS`
/// asks for.
#[derive(Debug)]
pub struct Plugins {
    home: PathBuf,
    /// Jar file names found under `plugins/*/`.
    installed: Vec<String>,
    /// Jar file names of `opt/` to link, from `ENABLE_BUILT_IN_PLUGINS` and [`Plugins::provide`].
    requested: Vec<String>,
}

impl Plugins {
    /// Reads `home/plugins` and checks that every jar `enable` names (`;`-separated, as the
    /// official image reads it) is a file name in `home/opt`.
    pub fn read(home: &Path, enable: Option<&str>) -> Result<Self, String> {
        let mut requested = Vec::new();
        for name in enable.unwrap_or_default().split(';').map(str::trim) {
            if name.is_empty() {
                continue;
            }
            let plain = !name.contains('/') && name != "." && name != "..";
            if !plain || !name.ends_with(".jar") {
                return Err(format!(
                    "ENABLE_BUILT_IN_PLUGINS names '{name}': give jar file names of {}, e.g. \
                     flink-gs-fs-hadoop-<version>.jar",
                    home.join("opt").display()
                ));
            }
            if !home.join("opt").join(name).is_file() {
                return Err(format!(
                    "ENABLE_BUILT_IN_PLUGINS names {name}, which is not in {} (there: {})",
                    home.join("opt").display(),
                    jars_in(&home.join("opt")).join(", ")
                ));
            }
            requested.push(name.to_string());
        }
        let mut installed = Vec::new();
        if let Ok(dirs) = std::fs::read_dir(home.join("plugins")) {
            for dir in dirs.flatten() {
                installed.extend(jars_in(&dir.path()));
            }
        }
        Ok(Self {
            home: home.to_path_buf(),
            installed,
            requested,
        })
    }

    /// Makes sure a plugin whose jar starts with `prefix` (e.g. `flink-metrics-prometheus`) will
    /// be loaded: already under `plugins/`, or in `opt/` and then linked by [`Plugins::enable`].
    /// The error says where it was looked for.
    pub fn provide(&mut self, prefix: &str) -> Result<(), String> {
        let named = |jar: &String| jar.starts_with(&format!("{prefix}-"));
        if self.installed.iter().chain(&self.requested).any(named) {
            return Ok(());
        }
        let opt = self.home.join("opt");
        match jars_in(&opt).into_iter().find(named) {
            Some(jar) => {
                self.requested.push(jar);
                Ok(())
            }
            None => Err(format!(
                "no {prefix}-*.jar in {} or {}",
                self.home.join("plugins").display(),
                opt.display()
            )),
        }
    }

    /// Links each requested jar into `plugins/<name>/`, as the official entrypoint does; returns
    /// the links made (an existing one is replaced).
    pub fn enable(&self) -> Result<Vec<PathBuf>, String> {
        let mut linked = Vec::new();
        for jar in &self.requested {
            let dir = self.home.join("plugins").join(jar.trim_end_matches(".jar"));
            let link = dir.join(jar);
            let done = std::fs::create_dir_all(&dir)
                .and_then(|()| match std::fs::remove_file(&link) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                })
                .and_then(|()| std::os::unix::fs::symlink(self.home.join("opt").join(jar), &link));
            done.map_err(|e| format!("cannot enable the plugin {jar} in {}: {e}", dir.display()))?;
            linked.push(link);
        }
        Ok(linked)
    }

    /// A warning for each state directory on a bucket no installed or requested plugin serves.
    pub fn missing_for(&self, resolved: &Resolved) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for (key, _) in flink_config::state_dir_keys(resolved.version) {
            let Some(r) = resolved.entries.get(key) else {
                continue;
            };
            let Some((scheme, _)) = r.value.trim().split_once("://") else {
                continue;
            };
            let Some((_, jars)) = SCHEMES.iter().find(|(s, _)| *s == scheme) else {
                continue;
            };
            let served = self
                .installed
                .iter()
                .chain(&self.requested)
                .any(|jar| jars.iter().any(|p| jar.starts_with(&format!("{p}-"))));
            if served {
                continue;
            }
            let opt = jars_in(&self.home.join("opt"))
                .into_iter()
                .find(|jar| jars.iter().any(|p| jar.starts_with(&format!("{p}-"))));
            let fix = match opt {
                Some(jar) => format!("set ENABLE_BUILT_IN_PLUGINS={jar} (it is in opt/)"),
                None => format!(
                    "put {}-{}.jar (from Maven Central) in {}/plugins/{}/",
                    jars[0],
                    resolved.version,
                    self.home.display(),
                    jars[0].trim_start_matches("flink-")
                ),
            };
            out.push(Diagnostic {
                severity: Severity::Warning,
                key: key.to_string(),
                origin: r.origin.clone(),
                message: format!(
                    "`{}` is a {scheme}:// bucket, but no Flink filesystem plugin for {scheme}:// \
                     is installed: every savepoint and checkpoint would fail. To fix: {fix}",
                    r.value
                ),
            });
        }
        out
    }
}

/// The `*.jar` file names in `dir`, sorted; none when it cannot be read.
fn jars_in(dir: &Path) -> Vec<String> {
    let mut jars: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".jar"))
        .collect();
    jars.sort();
    jars
}

#[cfg(test)]
mod tests {
    use super::*;
    use flink_config::{resolve, FlinkVersion, Layer, Source};

    fn home(opt: &[&str], plugins: &[&str]) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("opt")).unwrap();
        for jar in opt {
            std::fs::write(home.path().join("opt").join(jar), b"jar").unwrap();
        }
        for jar in plugins {
            let dir = home
                .path()
                .join("plugins")
                .join(jar.trim_end_matches(".jar"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(jar), b"jar").unwrap();
        }
        home
    }

    fn resolved(pairs: &[(&str, &str)]) -> Resolved {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(
            &[Layer::new(Source::CommandLine, "--set", pairs)],
            FlinkVersion::new(1, 20, 3),
        )
    }

    const GS: &str = "flink-gs-fs-hadoop-1.20.3.jar";

    #[test]
    fn a_bucket_without_its_plugin_is_flagged_with_the_fix() {
        let sp = resolved(&[("state.savepoints.dir", "gs://b/sp")]);
        let bare = home(&[GS], &[]);
        let found = Plugins::read(bare.path(), None).unwrap().missing_for(&sp);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0]
            .message
            .contains("ENABLE_BUILT_IN_PLUGINS=flink-gs-fs-hadoop-1.20.3.jar"));
        let none = home(&[], &[]);
        let found = Plugins::read(none.path(), None).unwrap().missing_for(&sp);
        assert!(
            found[0].message.contains("plugins/gs-fs-hadoop/"),
            "{}",
            found[0].message
        );
        // Installed, or asked for: fine. Local paths and other schemes: not this check's.
        let installed = home(&[], &[GS]);
        assert!(Plugins::read(installed.path(), None)
            .unwrap()
            .missing_for(&sp)
            .is_empty());
        let asked = Plugins::read(bare.path(), Some(GS)).unwrap();
        assert!(asked.missing_for(&sp).is_empty());
        let local = resolved(&[("state.checkpoints.dir", "file:///data/cp")]);
        assert!(Plugins::read(none.path(), None)
            .unwrap()
            .missing_for(&local)
            .is_empty());
        // The s3 plugin does not serve gs.
        let s3 = home(&[], &["flink-s3-fs-presto-1.20.3.jar"]);
        assert_eq!(
            Plugins::read(s3.path(), None)
                .unwrap()
                .missing_for(&sp)
                .len(),
            1
        );
        let s3_dir = resolved(&[("state.checkpoints.dir", "s3://b/cp")]);
        assert!(Plugins::read(s3.path(), None)
            .unwrap()
            .missing_for(&s3_dir)
            .is_empty());
    }

    #[test]
    fn enabling_links_opt_jars_as_the_official_entrypoint_does() {
        let h = home(&[GS, "flink-s3-fs-hadoop-1.20.3.jar"], &[]);
        let plugins = Plugins::read(
            h.path(),
            Some(&format!("{GS};flink-s3-fs-hadoop-1.20.3.jar;")),
        )
        .unwrap();
        let linked = plugins.enable().unwrap();
        assert_eq!(linked.len(), 2);
        let link = h.path().join("plugins/flink-gs-fs-hadoop-1.20.3").join(GS);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            h.path().join("opt").join(GS)
        );
        // Twice is fine (a restarted container).
        plugins.enable().unwrap();
        assert!(Plugins::read(h.path(), None)
            .unwrap()
            .installed
            .contains(&GS.to_string()));
    }

    #[test]
    fn a_plugin_is_found_in_plugins_or_linked_from_opt() {
        const PROM: &str = "flink-metrics-prometheus-2.3.0.jar";
        let shipped = home(&[], &[PROM]);
        let mut plugins = Plugins::read(shipped.path(), None).unwrap();
        plugins.provide("flink-metrics-prometheus").unwrap();
        assert!(plugins.requested.is_empty(), "nothing to link");
        let in_opt = home(&[PROM], &[]);
        let mut plugins = Plugins::read(in_opt.path(), None).unwrap();
        plugins.provide("flink-metrics-prometheus").unwrap();
        let linked = plugins.enable().unwrap();
        assert_eq!(
            linked,
            [in_opt
                .path()
                .join("plugins/flink-metrics-prometheus-2.3.0")
                .join(PROM)]
        );
        let none = home(&["flink-metrics-jmx-2.3.0.jar"], &[]);
        let err = Plugins::read(none.path(), None)
            .unwrap()
            .provide("flink-metrics-prometheus")
            .unwrap_err();
        assert!(
            err.contains("no flink-metrics-prometheus-*.jar in"),
            "{err}"
        );
    }

    #[test]
    fn unknown_or_odd_plugin_names_are_refused() {
        let h = home(&[GS], &[]);
        let err = Plugins::read(h.path(), Some("flink-gs-fs-hadoop-9.9.jar")).unwrap_err();
        assert!(err.contains("not in") && err.contains(GS), "{err}");
        for odd in ["../x.jar", "a/b.jar", "flink-gs-fs-hadoop"] {
            let err = Plugins::read(h.path(), Some(odd)).unwrap_err();
            assert!(err.contains("jar file names"), "{odd}: {err}");
        }
    }
}
