//! The savepoint layout against real Flink: what Flink writes for a target
//! directory the layout hands it is what the layout lists, for roots and
//! job names with characters URLs escape (space, `%`, `#`, non-ASCII).

use std::process::{Command, Stdio};

use flink_rest::{ClaimMode, RunJob, SavepointFormat};
use flink_testkit::{
    each_version, example_jar, wait_running, workspace_bin, ClusterBuilder, JobVariant,
};
use savepoint_layout::{job_folder, normalize, SavepointLayout};

/// A root and a job name that a percent-encoding client would get wrong.
const AWKWARD_DIR: &str = "save points 100% #1 ü";
const AWKWARD_JOB: &str = "my job #1 ü";

#[each_version]
async fn awkward_roots(version: &str) {
    let cluster = ClusterBuilder::new(version).start().await;
    let client = cluster.client();
    // Jars are named after the job folder too (flink-deploy's upload_name):
    // Flink stores, lists and runs one with '~' in its id.
    let jar_name = format!(
        "flink-deploy--{}--20261123181542.jar",
        job_folder(AWKWARD_JOB)
    );
    let jar = client
        .upload_jar(&example_jar(cluster.dist(), JobVariant::Normal), &jar_name)
        .await
        .unwrap();
    assert!(jar.as_str().ends_with(&jar_name), "{jar}");
    assert!(client
        .jars()
        .await
        .unwrap()
        .iter()
        .any(|j| j.id == jar && j.name == jar_name));
    let job = client
        .run_jar(
            &jar,
            &RunJob {
                program_args: vec!["--name".into(), AWKWARD_JOB.into()],
                parallelism: Some(1),
                claim_mode: ClaimMode::NoClaim,
                ..RunJob::default()
            },
        )
        .await
        .unwrap();
    wait_running(client, &job).await;

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(AWKWARD_DIR);
    let layout = SavepointLayout::new(root.to_str().unwrap()).unwrap();

    // Through the library: the folder Flink writes is the one listed.
    let target = layout.target_dir(AWKWARD_JOB, time::OffsetDateTime::now_utc());
    let op = client
        .trigger_savepoint(&job, Some(&target), SavepointFormat::Canonical)
        .await
        .unwrap();
    let location = client
        .wait_for(&op, std::time::Duration::from_secs(120))
        .await
        .unwrap()
        .unwrap();
    let on_disk = std::path::PathBuf::from(normalize(&location));
    assert!(
        on_disk.starts_with(&root) && on_disk.join("_metadata").is_file(),
        "Flink wrote {location}, not under {}",
        root.display()
    );
    let listed = layout
        .list(AWKWARD_JOB, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(listed.savepoints.len(), 1, "{listed:?}");
    assert_eq!(
        normalize(&listed.savepoints[0].location),
        normalize(&location)
    );
    assert!(listed.savepoints[0].complete);
    assert!(layout.contains(AWKWARD_JOB, &location));

    // Through the savepointer binary: its savepoint is found by the layout.
    let out = Command::new(workspace_bin("flink-savepointer"))
        .env_clear()
        .args(["once", "--jobmanager-url", cluster.url().as_str()])
        .arg("--target-dir")
        .arg(&root)
        .args(["--job-name", AWKWARD_JOB])
        .stdin(Stdio::null())
        .output()
        .expect("flink-savepointer runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = layout
        .list(AWKWARD_JOB, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(listed.savepoints.len(), 2, "{listed:?}");
    let newest = listed.newest().expect("a complete savepoint");
    assert!(
        stdout.contains(&format!("{AWKWARD_JOB}\t{}", newest.location))
            || stdout.contains(&normalize(&newest.location)),
        "the savepointer reported {stdout}, the layout lists {}",
        newest.location
    );
    // Nothing was written under a percent-encoded twin of the root.
    let entries: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, [std::ffi::OsString::from(AWKWARD_DIR)]);
}
