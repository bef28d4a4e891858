//! Local state directories, checked before Flink starts: a savepoint or checkpoint directory on
//! local (or mounted) disk that the user Flink runs as cannot create or write makes every
//! savepoint fail at run time ("Failed to create savepoint directory at …"), long after the
//! container started. A directory mounted from the host (`-v /data/savepoints:/data/savepoints`)
//! belongs to root when Docker created it, while Flink in the image runs as `flink` (uid 9999).
//!
//! - [`unwritable`] walks up to the nearest existing ancestor of each local state directory and
//!   checks its owner and mode bits against the uid and groups Flink will run as (not against
//!   the bootstrap's own, which may be root's), and says exactly what to run.
//! - [`give_empty_dirs`]: started as root and dropping to another user, the bootstrap gives an
//!   existing, **empty** state directory to that user (as the official image's entrypoint gives
//!   its own directories to `flink`). A directory with anything in it is never changed: it may
//!   hold someone else's data, and a recursive chown of a host's directory is the operator's
//!   decision.

use std::ffi::CString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use flink_config::{Diagnostic, Resolved, Severity};
use nix::unistd::{self, Gid, User};

/// The user Flink will run as: the `--run-as` target, or the bootstrap's own user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsAs {
    /// For messages: the user's name, or its uid.
    pub name: String,
    pub uid: u32,
    /// The primary group.
    pub gid: u32,
    /// Every group the process will have (primary and supplementary).
    pub groups: Vec<u32>,
}

impl RunsAs {
    /// The user `user` (after `initgroups`, as the drop sets them).
    pub fn user(user: &User) -> Self {
        let groups = CString::new(user.name.as_str())
            .ok()
            .and_then(|name| unistd::getgrouplist(&name, user.gid).ok())
            .unwrap_or_else(|| vec![user.gid]);
        Self {
            name: user.name.clone(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            groups: groups.into_iter().map(Gid::as_raw).collect(),
        }
    }

    /// This process's user and groups.
    pub fn current() -> Self {
        let uid = unistd::geteuid();
        let gid = unistd::getegid();
        let mut groups: Vec<u32> = unistd::getgroups()
            .unwrap_or_default()
            .into_iter()
            .map(Gid::as_raw)
            .collect();
        groups.push(gid.as_raw());
        let name = User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |u| u.name);
        Self {
            name,
            uid: uid.as_raw(),
            gid: gid.as_raw(),
            groups,
        }
    }
}

/// The local path of a state directory value: `/x`, `file:/x` or `file:///x`; `None` for a
/// bucket, a relative path or another scheme.
pub fn local_path(value: &str) -> Option<PathBuf> {
    let value = value.trim();
    let path = match value.strip_prefix("file:") {
        Some(rest) => match rest.strip_prefix("//") {
            // file:///x; file://host/x names another host's disk.
            Some(rest) => rest,
            None => rest,
        },
        None => value,
    };
    path.starts_with('/').then(|| PathBuf::from(path))
}

/// The local state directories of `resolved`: key, value, path.
fn local_dirs(resolved: &Resolved) -> Vec<(&'static str, &'static str, &str, PathBuf)> {
    flink_config::state_dir_keys(resolved.version)
        .into_iter()
        .filter_map(|(key, what)| {
            let r = resolved.entries.get(key)?;
            Some((key, what, r.value.as_str(), local_path(&r.value)?))
        })
        .collect()
}

/// Why `who` cannot create and write `path`, if it cannot.
pub fn why_unwritable(path: &Path, who: &RunsAs) -> Option<String> {
    let mut at = path;
    let meta = loop {
        match std::fs::metadata(at) {
            Ok(meta) => break meta,
            // Missing, or a file on the way (ENOTDIR): look further up.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(nix::errno::Errno::ENOTDIR as i32) =>
            {
                match at.parent() {
                    Some(parent) => at = parent,
                    None => return None,
                }
            }
            Err(e) => return Some(format!("{} cannot be read: {e}", at.display())),
        }
    };
    if !meta.is_dir() {
        return Some(format!(
            "{} is not a directory, so nothing can be created under it",
            at.display()
        ));
    }
    // Root's permission checks pass whatever the bits (CAP_DAC_OVERRIDE).
    if who.uid == 0 {
        return None;
    }
    let mode = meta.permissions().mode();
    let bits = if meta.uid() == who.uid {
        mode >> 6
    } else if who.groups.contains(&meta.gid()) || meta.gid() == who.gid {
        mode >> 3
    } else {
        mode
    } & 0o7;
    // Creating an entry needs write and search permission on the directory.
    if bits & 0o3 == 0o3 {
        return None;
    }
    let what = if at == path {
        "cannot write to it"
    } else {
        "cannot create it in its nearest existing parent"
    };
    Some(format!(
        "{what}: {} belongs to uid {} gid {}, mode {:o}",
        at.display(),
        meta.uid(),
        meta.gid(),
        mode & 0o7777
    ))
}

/// A warning for each local state directory `who` cannot create or write, with the fix.
pub fn unwritable(resolved: &Resolved, who: &RunsAs) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (key, what, value, path) in local_dirs(resolved) {
        let Some(why) = why_unwritable(&path, who) else {
            continue;
        };
        let (uid, gid, dir) = (who.uid, who.gid, path.display());
        out.push(Diagnostic {
            severity: Severity::Warning,
            key: key.to_string(),
            origin: resolved.entries[key].origin.clone(),
            message: format!(
                "`{value}`: Flink runs as {} (uid {uid}, gid {gid}) and {why}; every {what} \
                 would fail (\"Failed to create {what} directory\"). To fix, on the host: \
                 `sudo mkdir -p HOST_DIR && sudo chown -R {uid}:{gid} HOST_DIR` for the \
                 directory mounted at {dir} (`-v HOST_DIR:{dir}`); or mount a volume \
                 (`--mount type=volume,src=flink-state,dst={dir}`) and start the container with \
                 `--user root`: flink-bootstrap then gives the empty directory to uid {uid} \
                 before it drops to that user",
                who.name
            ),
        });
    }
    out
}

/// Started as root, before dropping to `who`: gives each local state directory that exists, is
/// empty and is not `who`'s to `who`. Returns what it changed, and what it could not.
pub fn give_empty_dirs(resolved: &Resolved, who: &RunsAs) -> Vec<Result<PathBuf, String>> {
    let mut out = Vec::new();
    for (_, _, _, path) in local_dirs(resolved) {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let empty = std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none());
        if !meta.is_dir() || !empty || (meta.uid() == who.uid && meta.gid() == who.gid) {
            continue;
        }
        let done = std::os::unix::fs::chown(&path, Some(who.uid), Some(who.gid));
        out.push(done.map(|()| path.clone()).map_err(|e| {
            format!(
                "cannot give the empty state directory {} to uid {}: {e}",
                path.display(),
                who.uid
            )
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flink_config::{resolve, FlinkVersion, Layer, Source};

    fn resolved(version: FlinkVersion, pairs: &[(&str, &str)]) -> Resolved {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(&[Layer::new(Source::CommandLine, "--set", pairs)], version)
    }

    fn someone(uid: u32, gid: u32) -> RunsAs {
        RunsAs {
            name: format!("u{uid}"),
            uid,
            gid,
            groups: vec![gid],
        }
    }

    #[test]
    fn local_paths_are_recognised() {
        assert_eq!(local_path("/data/sp"), Some("/data/sp".into()));
        assert_eq!(local_path("file:///data/sp"), Some("/data/sp".into()));
        assert_eq!(local_path("file:/data/sp"), Some("/data/sp".into()));
        for other in [
            "gs://b/sp",
            "s3://b/sp",
            "sp",
            "file://host/sp",
            "hdfs:///sp",
        ] {
            assert_eq!(local_path(other), None, "{other}");
        }
    }

    /// Owner, group and other bits are read for the uid and groups Flink runs as; a missing
    /// directory is judged by its nearest existing parent; a file on the way is never writable,
    /// not even for root.
    #[test]
    fn writability_is_judged_for_the_user_flink_runs_as() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sp");
        std::fs::create_dir(&dir).unwrap();
        // As root (root ignores the bits), the directory is given to another owner first.
        if unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&dir, Some(4242), Some(4242)).unwrap();
        }
        let meta = std::fs::metadata(&dir).unwrap();
        let (owner, group) = (meta.uid(), meta.gid());
        let set = |mode| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode));
        let stranger = someone(owner + 1000, group + 1000);
        let member = RunsAs {
            groups: vec![group + 1000, group],
            ..stranger.clone()
        };
        set(0o755).unwrap();
        assert_eq!(why_unwritable(&dir, &someone(owner, group)), None);
        let why = why_unwritable(&dir, &stranger).unwrap();
        assert!(
            why.contains(&format!("belongs to uid {owner} gid {group}, mode 755")),
            "{why}"
        );
        assert!(why_unwritable(&dir, &member).is_some());
        set(0o775).unwrap();
        assert_eq!(why_unwritable(&dir, &member), None);
        assert!(why_unwritable(&dir, &stranger).is_some());
        set(0o1777).unwrap();
        assert_eq!(why_unwritable(&dir, &stranger), None);
        // Not yet there: its nearest existing parent decides.
        set(0o755).unwrap();
        let deeper = dir.join("job/2026");
        let why = why_unwritable(&deeper, &stranger).unwrap();
        assert!(why.contains("nearest existing parent"), "{why}");
        assert!(why.contains(&dir.display().to_string()), "{why}");
        assert_eq!(why_unwritable(&deeper, &someone(owner, group)), None);
        // The owner without write permission (and root ignores the bits).
        set(0o555).unwrap();
        assert!(why_unwritable(&dir, &someone(owner, group)).is_some());
        assert_eq!(why_unwritable(&dir, &someone(0, 0)), None);
        set(0o755).unwrap();
        // Under a regular file: nobody can, root neither.
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let why = why_unwritable(&file.join("sp"), &someone(0, 0)).unwrap();
        assert!(why.contains("is not a directory"), "{why}");
    }

    #[test]
    fn the_warning_names_the_key_uid_gid_and_the_commands() {
        let tmp = tempfile::tempdir().unwrap();
        let meta = std::fs::metadata(tmp.path()).unwrap();
        let dir = tmp.path().join("savepoints");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let flink = someone(meta.uid() + 9999, meta.gid() + 9999);
        let value = format!("file://{}", dir.display());
        for (version, key) in [
            (FlinkVersion::new(1, 19, 1), "state.savepoints.dir"),
            (
                FlinkVersion::new(2, 3, 0),
                "execution.checkpointing.savepoint-dir",
            ),
        ] {
            let r = resolved(
                version,
                &[
                    ("state.savepoints.dir", &value),
                    ("state.checkpoints.dir", "gs://bucket/cp"),
                ],
            );
            let found = unwritable(&r, &flink);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].key, key);
            let m = &found[0].message;
            let (uid, gid) = (flink.uid, flink.gid);
            for part in [
                format!("uid {uid}, gid {gid}"),
                format!("sudo chown -R {uid}:{gid} HOST_DIR"),
                format!("-v HOST_DIR:{}", dir.display()),
                format!("dst={}", dir.display()),
                "--user root".to_string(),
                "Failed to create savepoint directory".to_string(),
            ] {
                assert!(m.contains(&part), "`{part}` not in: {m}");
            }
            assert!(unwritable(&r, &someone(meta.uid(), meta.gid())).is_empty());
        }
        // A checkpoint directory too.
        let cp = resolved(
            FlinkVersion::new(2, 3, 0),
            &[("state.checkpoints.dir", dir.to_str().unwrap())],
        );
        let found = unwritable(&cp, &flink);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("every checkpoint would fail"));
    }

    /// Only an existing empty directory is given away; one with data in it is left alone.
    #[test]
    fn only_empty_directories_are_given_to_flinks_user() {
        if !unistd::geteuid().is_root() {
            // chown to another user needs root; as anyone else it is refused, and said so.
            let tmp = tempfile::tempdir().unwrap();
            let r = resolved(
                FlinkVersion::new(2, 3, 0),
                &[("state.savepoints.dir", tmp.path().to_str().unwrap())],
            );
            let done = give_empty_dirs(&r, &someone(0, 0));
            assert!(done.iter().all(Result::is_err), "{done:?}");
            return;
        }
        let nobody = RunsAs::user(&User::from_name("nobody").unwrap().unwrap());
        let tmp = tempfile::tempdir().unwrap();
        let (empty, full) = (tmp.path().join("empty"), tmp.path().join("full"));
        std::fs::create_dir(&empty).unwrap();
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join("data"), b"x").unwrap();
        let r = resolved(
            FlinkVersion::new(2, 3, 0),
            &[
                (
                    "state.savepoints.dir",
                    &format!("file://{}", empty.display()),
                ),
                ("state.checkpoints.dir", full.to_str().unwrap()),
            ],
        );
        assert_eq!(unwritable(&r, &nobody).len(), 2);
        let done = give_empty_dirs(&r, &nobody);
        assert_eq!(done, vec![Ok(empty.clone())]);
        assert_eq!(std::fs::metadata(&empty).unwrap().uid(), nobody.uid);
        assert_eq!(std::fs::metadata(&full).unwrap().uid(), 0);
        let left = unwritable(&r, &nobody);
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].key, "execution.checkpointing.dir");
        // Twice: nothing more to do.
        assert!(give_empty_dirs(&r, &nobody).is_empty());
    }
}
