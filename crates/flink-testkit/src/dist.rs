//! A real Flink distribution, fetched from PyPI.

use std::path::{Path, PathBuf};
use std::process::Command;

use flink_rest::FlinkVersion;

use crate::cache::{build_once, cache_dir, run};

/// The Flink versions the full suites run against: the 1.x LTS and the newest.
/// Listed once, with [`each_version`](crate::each_version), which generates a
/// test per version from this list.
pub const SUPPORTED_VERSIONS: [&str; 2] = flink_testkit_macros::supported_versions!();

/// Every Flink version CI tests: the newest patch release of each minor from 1.19 to 2.3.
pub const MATRIX_VERSIONS: [&str; 6] = flink_testkit_macros::matrix_versions!();

/// The versions of [`MATRIX_VERSIONS`] that get the smoke scenarios only
/// ([`each_smoke_version`](crate::each_smoke_version)), not the full suites.
pub const SMOKE_VERSIONS: [&str; 4] = flink_testkit_macros::smoke_versions_list!();

/// A Flink installation laid out as `FLINK_HOME`.
#[derive(Debug, Clone)]
pub struct FlinkDist {
    version: String,
    home: PathBuf,
}

// Extracts the parts of PyFlink's archives that make up FLINK_HOME. The
// wheels hold `pyflink/{bin,conf,lib,opt,plugins}`; the 1.x libraries come
// as an sdist holding `deps/{bin,lib,opt,plugins}`.
const LAYOUT_SCRIPT: &str = r#"
import os, sys, tarfile, zipfile
src, home = sys.argv[1], sys.argv[2]
parts = ("bin", "conf", "lib", "opt", "plugins")
def place(name, read):
    segs = name.split("/")
    for i, seg in enumerate(segs[:-1]):
        if seg in ("pyflink", "deps") and segs[i + 1] in parts and len(segs) > i + 2:
            rel = os.path.join(*segs[i + 1:])
            dest = os.path.join(home, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(read())
            return
for archive in sorted(os.listdir(src)):
    path = os.path.join(src, archive)
    if archive.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.is_dir():
                    place(info.filename, lambda: z.read(info))
    elif archive.endswith(".tar.gz"):
        with tarfile.open(path) as t:
            for member in t:
                if member.isfile():
                    place(member.name, lambda: t.extractfile(member).read())
for name in os.listdir(os.path.join(home, "bin")):
    os.chmod(os.path.join(home, "bin", name), 0o755)
os.makedirs(os.path.join(home, "log"), exist_ok=True)
"#;

impl FlinkDist {
    /// The distribution of `version`, fetched on first use.
    ///
    /// Runs `pip download` for `apache-flink` and `apache-flink-libraries`
    /// (about 330 MB) and extracts them; later calls, from any process,
    /// reuse the result.
    pub fn get(version: &str) -> FlinkDist {
        let home = cache_dir().join(format!("flink-{version}"));
        build_once(&home, |staging| {
            let downloads = staging.join("downloads");
            let home = staging.join("home");
            pip_download(
                &downloads,
                &[
                    &format!("apache-flink=={version}"),
                    &format!("apache-flink-libraries=={version}"),
                ],
            )?;
            run(Command::new(python())
                .args(["-c", LAYOUT_SCRIPT])
                .arg(&downloads)
                .arg(&home))?;
            std::fs::remove_dir_all(&downloads).map_err(|e| e.to_string())?;
            // The staging dir becomes the cache entry: keep only FLINK_HOME's parts.
            for entry in std::fs::read_dir(&home).map_err(|e| e.to_string())? {
                let entry = entry.map_err(|e| e.to_string())?;
                std::fs::rename(entry.path(), staging.join(entry.file_name()))
                    .map_err(|e| e.to_string())?;
            }
            std::fs::remove_dir(&home).map_err(|e| e.to_string())?;
            check_layout(staging, version)
        });
        FlinkDist {
            version: version.to_string(),
            home,
        }
    }

    /// The Flink version, e.g. `2.3.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether this is Flink `major.minor` or newer.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        parse_version(&self.version).at_least(major, minor)
    }

    /// `FLINK_HOME`.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// `FLINK_HOME/bin/<script>`.
    pub fn bin(&self, script: &str) -> PathBuf {
        self.home.join("bin").join(script)
    }

    /// The classpath to compile jobs against: `FLINK_HOME/lib/*`.
    pub fn classpath(&self) -> String {
        format!("{}/lib/*", self.home.display())
    }
}

/// `pip download --no-deps` of `specs` into `dir`: PyPI is where the tests' Flink and emulators
/// come from.
pub(crate) fn pip_download(dir: &Path, specs: &[&str]) -> Result<(), String> {
    run(Command::new(python())
        .args(["-m", "pip", "download", "--quiet", "--no-deps"])
        .args(["--disable-pip-version-check", "-d"])
        .arg(dir)
        .args(specs))
}

pub(crate) fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn parse_version(version: &str) -> FlinkVersion {
    version
        .parse()
        .unwrap_or_else(|e| panic!("Flink version {version:?}: {e}"))
}

fn check_layout(home: &Path, version: &str) -> Result<(), String> {
    // 1.19 introduced config.yaml; older releases ship only flink-conf.yaml.
    let conf = if parse_version(version).at_least(1, 19) {
        "conf/config.yaml"
    } else {
        "conf/flink-conf.yaml"
    };
    for needed in [
        "bin/jobmanager.sh".to_string(),
        "bin/taskmanager.sh".to_string(),
        "bin/bash-java-utils.jar".to_string(),
        conf.to_string(),
        format!("lib/flink-dist-{version}.jar"),
    ] {
        if !home.join(&needed).exists() {
            return Err(format!(
                "the PyPI archives of Flink {version} have no {needed}"
            ));
        }
    }
    Ok(())
}
