//! The savepoint layout on real bucket emulators: fake-gcs-server (GCS) and
//! moto (S3), started by each test on 127.0.0.1.

use flink_testkit::{Emulated, GcsEmulator, S3Emulator};
use savepoint_layout::SavepointLayout;

fn with_env(emulator: &dyn Emulated) {
    for (key, value) in emulator.client_env() {
        // Each nextest test is its own process: the environment is this test's alone.
        std::env::set_var(key, value);
    }
}

async fn lists_and_deletes(emulator: &dyn Emulated) {
    emulator.create_bucket("flink");
    with_env(emulator);
    let layout = SavepointLayout::new(&emulator.root("flink", "save points")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let dated = layout.target_dir("my job", now);
    let rel = dated.split_once("save points/").unwrap().1.to_string();
    let key = format!("save points/{rel}/savepoint-aaaaaa-1");
    emulator.upload("flink", &format!("{key}/_metadata"), b"meta");
    emulator.upload("flink", &format!("{key}/0a1b"), &[0; 100]);
    let listing = layout.list("my job", now).await.unwrap();
    assert_eq!(listing.savepoints.len(), 1, "{listing:?}");
    let newest = listing.newest().unwrap();
    assert_eq!(newest.bytes, 104);
    let gone = layout.delete("my job", &newest.location).await.unwrap();
    assert_eq!(gone, 2);
    assert!(layout
        .list("my job", now)
        .await
        .unwrap()
        .savepoints
        .is_empty());
}

#[tokio::test]
async fn smoke_gcs() {
    lists_and_deletes(&GcsEmulator::start()).await;
}

#[tokio::test]
async fn smoke_s3() {
    lists_and_deletes(&S3Emulator::start()).await;
}
