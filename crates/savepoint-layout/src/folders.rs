//! Job folder names: one folder per job name, reversible, and the legacy
//! names earlier versions wrote.

use std::fmt::Write as _;

/// The longest job folder name: its jar (`flink-deploy--<folder>--<time>.jar`) and its folder
/// must stay under the 255 bytes most filesystems allow in one name.
pub const MAX_JOB_FOLDER: usize = 200;

/// A job name as users type it (`--job-name`): not blank, and short enough for its folder
/// ([`MAX_JOB_FOLDER`] bytes once escaped) that Flink can create it and its jar can be stored.
pub fn parse_job_name(name: &str) -> Result<String, String> {
    if name.trim().is_empty() {
        return Err("the job name is empty".into());
    }
    let folder = job_folder(name).len();
    if folder > MAX_JOB_FOLDER {
        return Err(format!(
            "the job name is too long: its folder name would be {folder} bytes (at most \
             {MAX_JOB_FOLDER}; bytes outside [A-Za-z0-9._-] count three); use a shorter name"
        ));
    }
    Ok(name.to_string())
}

/// The folder name of a job: its name with every byte outside
/// `[A-Za-z0-9._-]`, and a leading `.`, written as `~` and two uppercase
/// hex digits (`my job` → `my~20job`, `ünï` → `~C3~BCn~C3~AF`, `.x` → `~2Ex`;
/// the empty name is `~`). [`job_name_of`] reverses it.
///
/// One more byte is escaped: a name that would otherwise end in `-` and
/// eight lowercase hex digits (`orders-1a2b3c4d` → `orders~2D1a2b3c4d`),
/// because that is the shape of a [`legacy_job_folder`]: so no job's folder
/// is ever another job's legacy folder.
pub fn job_folder(job_name: &str) -> String {
    if job_name.is_empty() {
        return "~".into();
    }
    let mut folder = String::with_capacity(job_name.len());
    for (i, b) in job_name.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            folder.push(char::from(b));
        } else {
            let _ = write!(folder, "~{b:02X}");
        }
    }
    if !folder.contains('~') && has_legacy_hash(&folder) {
        let dash = folder.len() - 9;
        folder.replace_range(dash..=dash, "~2D");
    }
    folder
}

/// The job name whose [`job_folder`] is `folder`, if any.
pub fn job_name_of(folder: &str) -> Option<String> {
    if folder == "~" {
        return Some(String::new());
    }
    let mut bytes = Vec::with_capacity(folder.len());
    let mut rest = folder.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'~' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let name = String::from_utf8(bytes).ok()?;
    // Only the one spelling job_folder produces (uppercase hex, nothing
    // escaped that need not be) belongs to a job.
    (job_folder(&name) == folder).then_some(name)
}

/// Ends in `-` and eight lowercase hex digits, like `{readable}-{hash:08x}`.
fn has_legacy_hash(folder: &str) -> bool {
    let b = folder.as_bytes();
    b.len() >= 9
        && b[b.len() - 9] == b'-'
        && b[b.len() - 8..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// The folder earlier versions gave a job: the name itself when made of
/// `[A-Za-z0-9._-]` and not starting with `.`, otherwise those characters
/// kept, the rest replaced by `-`, and an FNV-1a hash of the name appended
/// (`my job` → `my-job-6e279c60`).
///
/// That mapping was not injective: a job literally named `my-job-6e279c60`
/// got the same folder. Since [`job_folder`] escapes names of that shape,
/// no job writes there any more, and listing a job still reads its legacy
/// folder when it differs from its current one, so savepoints taken before
/// the upgrade are restored. A legacy folder may hold another job's
/// savepoints only when that other job's legacy folder is the same one.
/// When such a job shows up under the root (its current folder exists),
/// [`SavepointLayout::list`] reads neither job's legacy folder into
/// `savepoints` but reports it in [`Listing::ambiguous_legacy`], so one
/// job's state is never restored into another automatically; legacy
/// folders are never disposed from ([`SavepointLayout::contains`] excludes
/// them). The one case this cannot see: both jobs ran only before the
/// upgrade and one of them has not run since; then its twin reads the
/// shared folder as before the upgrade.
pub fn legacy_job_folder(job_name: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !job_name.is_empty() && job_name.chars().all(safe) && !job_name.starts_with('.') {
        return job_name.to_string();
    }
    let readable: String = job_name
        .chars()
        .map(|c| if safe(c) { c } else { '-' })
        .collect();
    format!(
        "{}-{:08x}",
        readable.trim_start_matches('.'),
        fnv1a(job_name.as_bytes())
    )
}

/// FNV-1a, 32 bits: stable across versions and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The name a jar of `job_name` is uploaded under at `now`:
/// `flink-deploy--<job folder>--<UTC yyyymmddHHMMSS>.jar` ([`job_folder`] is injective, so
/// two jobs never share a jar name). flink-deploy uploads its releases under it, and the
/// recovery sidecar the recorded jar, so both count as the job's jars ([`is_deploy_jar_of`]).
pub fn deploy_jar_name(job_name: &str, now: time::OffsetDateTime) -> String {
    let stamp = now
        .to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]"
        ))
        .expect("a fixed format");
    format!("flink-deploy--{}--{stamp}.jar", job_folder(job_name))
}

/// True when `file_name` is a jar flink-deploy uploaded for `job_name`:
/// `flink-deploy--<job folder>--<UTC yyyymmddHHMMSS>.jar` (or the folder of
/// [`legacy_job_folder`]), as listed by `/jars` or, with Flink's `<uuid>_`
/// prefix, as named in a job's `pipeline.jars`. flink-savepointer and
/// flink-deploy both use it to find a job started from a jar of that name.
pub fn is_deploy_jar_of(file_name: &str, job_name: &str) -> bool {
    const PREFIX: &str = "flink-deploy--";
    let name = match file_name.strip_prefix(PREFIX) {
        Some(rest) => rest,
        None => match file_name.split_once('_') {
            Some((uuid, rest))
                if !uuid.is_empty()
                    && uuid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                match rest.strip_prefix(PREFIX) {
                    Some(rest) => rest,
                    None => return false,
                }
            }
            _ => return false,
        },
    };
    let Some(rest) = name.strip_suffix(".jar") else {
        return false;
    };
    match rest.rsplit_once("--") {
        Some((folder, stamp)) => {
            (folder == job_folder(job_name) || folder == legacy_job_folder(job_name))
                && stamp.len() == 14
                && stamp.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// How long after a jar's upload flink-deploy may run it: the preflight, the stop with a
/// savepoint and the run request come right after the upload.
pub const DEPLOY_RUN_WINDOW_MS: i64 = 10 * 60 * 1000;

/// True when a job that started at `job_start` (epoch ms, the JobManager's clock) was most
/// likely started by flink-deploy from a jar uploaded at `jar_uploaded` (same clock): within
/// [`DEPLOY_RUN_WINDOW_MS`] after it. Flink's REST API does not say which jar a job runs.
pub fn started_after_upload(job_start: i64, jar_uploaded: i64) -> bool {
    (0..=DEPLOY_RUN_WINDOW_MS).contains(&(job_start - jar_uploaded))
}

#[cfg(test)]
mod deploy_jar_tests {
    use super::is_deploy_jar_of;

    #[test]
    fn deploy_jars_are_recognised_with_or_without_flinks_prefix() {
        let jar = "flink-deploy--my~20job--20261201120000.jar";
        assert!(is_deploy_jar_of(jar, "my job"));
        assert!(is_deploy_jar_of(
            &format!("0f1e2d3c-aaaa-bbbb-cccc-0123456789ab_{jar}"),
            "my job"
        ));
        assert!(!is_deploy_jar_of(jar, "my job 2"));
        assert!(!is_deploy_jar_of(
            "flink-deploy-plan--my~20job--20261201120000.jar",
            "my job"
        ));
        assert!(!is_deploy_jar_of(
            "x_y_flink-deploy--my~20job--20261201120000.jar",
            "my job"
        ));
        assert!(!is_deploy_jar_of(
            "flink-deploy--my~20job--2026.jar",
            "my job"
        ));
    }
}
