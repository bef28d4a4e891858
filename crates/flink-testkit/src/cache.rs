//! The cache shared by test runs: Flink distributions and built jars.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Where fetched Flink distributions and built jars are kept between runs:
/// `$FLINK_OPS_CACHE`, else `$XDG_CACHE_HOME/flink-ops`, else
/// `~/.cache/flink-ops`. Never inside the source tree.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLINK_OPS_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("flink-ops")
}

/// Builds `target` once across processes: takes an exclusive lock next to
/// it, and calls `build` with a fresh staging directory only when `target`
/// does not exist yet; the staging directory is renamed into place, so a
/// half-built result is never visible.
pub(crate) fn build_once(
    target: &Path,
    build: impl FnOnce(&Path) -> Result<(), String>,
) -> PathBuf {
    let parent = target.parent().expect("cache entries have a parent");
    std::fs::create_dir_all(parent)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    let lock_path = target.with_extension("lock");
    let lock = File::create(&lock_path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    if !target.exists() {
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(parent)
            .unwrap_or_else(|e| panic!("cannot create a staging dir in {}: {e}", parent.display()));
        if let Err(e) = build(staging.path()) {
            panic!("cannot build {}: {e}", target.display());
        }
        std::fs::rename(staging.keep(), target)
            .unwrap_or_else(|e| panic!("cannot move the build into {}: {e}", target.display()));
    }
    target.to_path_buf()
}

/// Runs a command, turning failure into a message with its output.
pub(crate) fn run(cmd: &mut std::process::Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
