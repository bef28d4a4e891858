//! The savepoint layout on real bucket emulators: fake-gcs-server (GCS) and
//! moto (S3), started by each test on 127.0.0.1. Each scenario is written once
//! against [`Emulated`] and run on both; where one store cannot play a part,
//! the test says why. A mock HTTP server stands in only for what neither
//! emulator does (a GCS 403), and the GCE metadata stand-in for GCS tokens.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flink_testkit::{Emulated, GceTree, GcsEmulator, MetadataStandin, S3Emulator};
use savepoint_layout::{Blame, LayoutError, SavepointLayout, StoreError};
use time::macros::datetime;
use time::OffsetDateTime;

/// The layout's clock in these tests: dated folders are written relative to it.
const NOW: OffsetDateTime = datetime!(2026-11-23 19:00 UTC);

fn with_env(emulator: &dyn Emulated) {
    for (key, value) in emulator.client_env() {
        // Each nextest test is its own process: the environment is this test's alone.
        std::env::set_var(key, value);
    }
}

/// Uploads a savepoint of `files` data files (`0000`, `0001`, …, 10 bytes each) and, when
/// `complete`, its `_metadata` (4 bytes); returns its key.
fn savepoint(
    emulator: &dyn Emulated,
    under: &str,
    name: &str,
    files: usize,
    complete: bool,
) -> String {
    let key = format!("{under}/{name}");
    for i in 0..files {
        emulator.upload("flink", &format!("{key}/{i:04}"), &[7; 10]);
    }
    if complete {
        emulator.upload("flink", &format!("{key}/_metadata"), b"meta");
    }
    key
}

fn not_ours(result: Result<usize, LayoutError>, what: &str) {
    match result {
        Err(e @ LayoutError::NotOurs(_)) => assert_eq!(e.blame(), Blame::Input),
        other => panic!("{what}: {other:?}"),
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

/// Over 1000 objects in a job folder, most in one savepoint. Data files (`0000`…) sort before
/// `_metadata`, so a listing that stopped at the first 1000 keys would see the big savepoint
/// incomplete and miss the later ones: counts, completeness and newest all depend on every
/// page. moto pages at 1000 as S3 does (checked below). fake-gcs-server ignores max-keys and
/// answers its XML listing in one page, so on GCS this shows only that nothing is lost in a
/// long answer; GCS's own paging is not exercised here.
async fn over_a_thousand_objects(emulator: &dyn Emulated, pages: bool) {
    emulator.create_bucket("flink");
    with_env(emulator);
    let layout = SavepointLayout::new(&emulator.root("flink", "sp")).unwrap();
    let big = savepoint(
        emulator,
        "sp/orders/2026-11-23-18-00",
        "savepoint-aaaaaa-1",
        1100,
        true,
    );
    let small = savepoint(
        emulator,
        "sp/orders/2026-11-23-18-30",
        "savepoint-aaaaaa-2",
        3,
        true,
    );
    savepoint(
        emulator,
        "sp/orders/2026-11-23-18-45",
        "savepoint-aaaaaa-3",
        2,
        false,
    );
    assert_eq!(emulator.keys("flink", "sp/orders/").len(), 1101 + 4 + 2);
    assert_eq!(raw_listing_is_paged(emulator, "sp/orders/"), pages);

    let listing = layout.list("orders", NOW).await.unwrap();
    let summary: Vec<_> = listing
        .savepoints
        .iter()
        .map(|s| (s.location.rsplit('/').next().unwrap(), s.complete, s.bytes))
        .collect();
    assert_eq!(
        summary,
        [
            ("savepoint-aaaaaa-1", true, 1100 * 10 + 4),
            ("savepoint-aaaaaa-2", true, 34),
            ("savepoint-aaaaaa-3", false, 20),
        ]
    );
    let newest = listing.newest().unwrap();
    assert_eq!(newest.location, emulator.root("flink", &small));

    // Deleting the big one takes every object of it (on S3: two bulk deletes of a paged listing).
    let big_location = emulator.root("flink", &big);
    assert_eq!(layout.delete("orders", &big_location).await.unwrap(), 1101);
    assert!(emulator.keys("flink", &format!("{big}/")).is_empty());
    assert_eq!(emulator.keys("flink", "sp/orders/").len(), 4 + 2);
    let listing = layout.list("orders", NOW).await.unwrap();
    assert_eq!(listing.savepoints.len(), 2, "{listing:?}");
    assert_eq!(
        listing.newest().unwrap().location,
        emulator.root("flink", &small)
    );
}

/// True when the emulator's own XML listing of `prefix` (default page size) is truncated.
fn raw_listing_is_paged(emulator: &dyn Emulated, prefix: &str) -> bool {
    let endpoint = emulator
        .client_env()
        .into_iter()
        .find(|(k, _)| k == "STORAGE_EMULATOR_HOST" || k == "AWS_ENDPOINT_URL")
        .unwrap()
        .1;
    let addr = endpoint.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /flink?list-type=2&prefix={prefix} HTTP/1.0\r\nHost: {addr}\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.contains(" 200 "),
        "{}",
        &answer[..answer.len().min(500)]
    );
    answer.contains("<IsTruncated>true</IsTruncated>")
}

#[tokio::test]
async fn over_a_thousand_objects_gcs() {
    over_a_thousand_objects(&GcsEmulator::start(), false).await;
}

#[tokio::test]
async fn over_a_thousand_objects_s3() {
    over_a_thousand_objects(&S3Emulator::start(), true).await;
}

/// What the layout did not write is never listed and never deleted: folders that are not
/// dated, entries that are not `savepoint-*` folders, a file named like a savepoint, another
/// job's folder that shares a prefix (`orders-v2`), and a savepoint whose name extends
/// another's (`…-1x`, which a prefix match on `…-1` would take).
async fn foreign_objects(emulator: &dyn Emulated) {
    emulator.create_bucket("flink");
    with_env(emulator);
    let layout = SavepointLayout::new(&emulator.root("flink", "sp")).unwrap();
    let dated = "sp/orders/2026-11-23-18-00";
    let first = savepoint(emulator, dated, "savepoint-aaaaaa-1", 1, true);
    let sibling = savepoint(emulator, dated, "savepoint-aaaaaa-1x", 1, true);
    let unfinished = savepoint(
        emulator,
        "sp/orders/2026-11-23-18-10",
        "savepoint-aaaaaa-2",
        1,
        false,
    );
    let foreign = [
        "sp/orders/backup/savepoint-aaaaaa-9/_metadata",
        "sp/orders/backup/notes.txt",
        "sp/orders/2026-11-23-18-00/not-a-savepoint/_metadata",
        "sp/orders/2026-11-23-18-00/savepoint-x",
        "sp/orders/2026-13-40-99-99/savepoint-aaaaaa-5/_metadata",
        "sp/orders/README",
        "sp/orders",
        "sp/orders-v2/2026-11-23-18-20/savepoint-bbbbbb-1/_metadata",
        "elsewhere/orders/2026-11-23-18-20/savepoint-cccccc-1/_metadata",
    ];
    for key in foreign {
        emulator.upload("flink", key, b"not ours");
    }

    let listing = layout.list("orders", NOW).await.unwrap();
    let found: Vec<_> = listing
        .savepoints
        .iter()
        .map(|s| (s.location.clone(), s.complete))
        .collect();
    let at = |key: &str| emulator.root("flink", key);
    assert_eq!(
        found,
        [
            (at(&first), true),
            (at(&sibling), true),
            (at(&unfinished), false)
        ]
    );
    assert!(listing.ignored_future.is_empty() && listing.ambiguous_legacy.is_empty());
    assert_eq!(listing.newest().unwrap().location, at(&sibling));

    // Refused, nothing deleted: not of the savepoint shape, or not in this job's folder.
    for location in [
        at("sp/orders/backup/savepoint-aaaaaa-9"),
        at("sp/orders/2026-11-23-18-00/not-a-savepoint"),
        at("sp/orders/2026-11-23-18-00"),
        at("sp/orders"),
        at("sp/orders/"),
        at("sp"),
        at("sp/orders-v2/2026-11-23-18-20/savepoint-bbbbbb-1"),
        at("elsewhere/orders/2026-11-23-18-20/savepoint-cccccc-1"),
        at(&format!("{sibling}/_metadata")),
        at("sp/orders/2026-11-23-18-00/../../orders-v2/2026-11-23-18-20/savepoint-bbbbbb-1"),
        at("sp/orders/2026-11-23-18-00/savepoint-aaaaaa-1/../savepoint-aaaaaa-1x"),
        at("sp//orders/2026-11-23-18-00/savepoint-aaaaaa-1"),
        format!(
            "{}://other/sp/orders/2026-11-23-18-00/savepoint-aaaaaa-1",
            emulator.scheme()
        ),
        "file:/sp/orders/2026-11-23-18-00/savepoint-aaaaaa-1".into(),
    ] {
        not_ours(layout.delete("orders", &location).await, &location);
    }
    // The other job's savepoint is not "orders"' to delete, even given its exact location.
    not_ours(
        layout.delete("orders-v2", &at(&first)).await,
        "orders' savepoint as orders-v2's",
    );

    assert_eq!(layout.delete("orders", &at(&first)).await.unwrap(), 2);
    assert_eq!(layout.delete("orders", &at(&unfinished)).await.unwrap(), 1);
    // A file named like a savepoint has no objects under it: nothing to delete, and it stays.
    assert_eq!(
        layout
            .delete("orders", &at("sp/orders/2026-11-23-18-00/savepoint-x"))
            .await
            .unwrap(),
        0
    );

    let mut left = emulator.keys("flink", "");
    left.sort();
    let mut expected: Vec<String> = foreign.iter().map(|k| k.to_string()).collect();
    expected.extend([format!("{sibling}/0000"), format!("{sibling}/_metadata")]);
    expected.sort();
    assert_eq!(left, expected);
    let listing = layout.list("orders", NOW).await.unwrap();
    assert_eq!(listing.savepoints.len(), 1, "{listing:?}");
    assert_eq!(
        layout
            .list("orders-v2", NOW)
            .await
            .unwrap()
            .savepoints
            .len(),
        1
    );
}

#[tokio::test]
async fn foreign_objects_gcs() {
    foreign_objects(&GcsEmulator::start()).await;
}

#[tokio::test]
async fn foreign_objects_s3() {
    foreign_objects(&S3Emulator::start()).await;
}

/// Job names with spaces, unicode and `/`, under a root whose prefix has spaces and unicode:
/// the folder Flink is told to write (`target_dir`) is the folder listed, locations are those
/// literal strings, `contains` and `delete` agree with them, and no name reaches another's
/// savepoints. The legacy folder of `my job` (earlier versions) is read, never deleted from.
async fn special_names(emulator: &dyn Emulated) {
    emulator.create_bucket("flink");
    with_env(emulator);
    let prefix = "save points/ü x";
    let layout = SavepointLayout::new(&emulator.root("flink", prefix)).unwrap();
    let bucket_root = emulator.root("flink", "");
    let names = ["my job", "Köln 東京", "team/orders", "a~b", "team"];
    let mut locations = Vec::new();
    for name in names {
        let dated = layout.target_dir(name, NOW - time::Duration::minutes(30));
        let key = dated.strip_prefix(&bucket_root).unwrap().to_string();
        assert!(key.starts_with(&format!("{prefix}/")), "{key}");
        let key = savepoint(emulator, &key, "savepoint-abcdef-1", 1, true);
        locations.push(emulator.root("flink", &key));
    }
    // `team/orders` is a folder of its own, not `orders` inside `team`'s.
    assert!(locations[2].contains("/team~2Forders/"), "{}", locations[2]);

    for (name, location) in names.iter().zip(&locations) {
        let listing = layout.list(name, NOW).await.unwrap();
        assert_eq!(listing.savepoints.len(), 1, "{name}: {listing:?}");
        let newest = listing.newest().unwrap();
        assert_eq!(&newest.location, location, "{name}");
        assert_eq!(newest.bytes, 14);
        assert!(layout.contains(name, location), "{name}");
        for other in names.iter().filter(|n| *n != name) {
            assert!(
                !layout.contains(other, location),
                "{other} contains {name}'s"
            );
            not_ours(layout.delete(other, location).await, other);
        }
    }

    // A legacy folder (earlier versions' `my-job-6e279c60`) is read, never deleted from.
    let legacy = savepoint(
        emulator,
        &format!("{prefix}/my-job-6e279c60/2026-11-23-18-00"),
        "savepoint-abcdef-0",
        1,
        true,
    );
    let legacy = emulator.root("flink", &legacy);
    let listing = layout.list("my job", NOW).await.unwrap();
    assert_eq!(listing.savepoints.len(), 2, "{listing:?}");
    assert_eq!(listing.savepoints[0].location, legacy);
    assert!(!layout.contains("my job", &legacy));
    not_ours(layout.delete("my job", &legacy).await, "the legacy folder");

    for (name, location) in names.iter().zip(&locations) {
        assert_eq!(layout.delete(name, location).await.unwrap(), 2, "{name}");
    }
    let left = emulator.keys("flink", "");
    assert_eq!(left.len(), 2, "only the legacy savepoint: {left:?}");
}

#[tokio::test]
async fn special_names_gcs() {
    special_names(&GcsEmulator::start()).await;
}

#[tokio::test]
async fn special_names_s3() {
    special_names(&S3Emulator::start()).await;
}

/// A bucket that does not exist is the configuration's fault, named as such.
async fn missing_bucket(scheme: &str) {
    let layout = SavepointLayout::new(&format!("{scheme}://no-such-bucket/sp")).unwrap();
    let bucket = format!("{scheme}://no-such-bucket");
    let listed = layout.list("orders", NOW).await.unwrap_err();
    let location = format!("{bucket}/sp/orders/2026-11-23-18-00/savepoint-aaaaaa-1");
    let deleted = layout.delete("orders", &location).await.unwrap_err();
    for err in [listed, deleted] {
        assert!(
            matches!(&err, LayoutError::Store(StoreError::NoSuchBucket { bucket: b }) if *b == bucket),
            "{err:?}"
        );
        assert_eq!(err.blame(), Blame::Input);
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}

/// fake-gcs-server answers a missing bucket with `500` and "no bucket named …", unlike GCS,
/// so GCS's real answer comes from a server on 127.0.0.1 (anonymous, as with an emulator).
#[tokio::test]
async fn missing_bucket_gcs() {
    let (endpoint, _) = gcs_answering("404 Not Found", GCS_NO_SUCH_BUCKET);
    std::env::set_var("STORAGE_EMULATOR_HOST", endpoint);
    missing_bucket("gs").await;
}

#[tokio::test]
async fn missing_bucket_s3() {
    let emulator = S3Emulator::start();
    emulator.create_bucket("flink");
    with_env(&emulator);
    missing_bucket("s3").await;
}

/// A store that is down is reported as unreachable (the store's fault, not the input's), and
/// within the client's retry budget rather than hanging. The time it took is printed.
async fn store_down(emulator: &mut dyn Emulated) {
    emulator.create_bucket("flink");
    with_env(emulator);
    let layout = SavepointLayout::new(&emulator.root("flink", "sp")).unwrap();
    assert!(layout
        .list("orders", NOW)
        .await
        .unwrap()
        .savepoints
        .is_empty());
    emulator.stop();
    let started = Instant::now();
    let err = layout.list("orders", NOW).await.unwrap_err();
    eprintln!(
        "{}: unreachable reported after {:?}: {err}",
        emulator.scheme(),
        started.elapsed()
    );
    assert!(
        matches!(err, LayoutError::Store(StoreError::Unreachable { .. })),
        "{err:?}"
    );
    assert_eq!(err.blame(), Blame::Unreachable);
    assert!(err.to_string().contains("cannot be reached"), "{err}");
}

#[tokio::test]
async fn store_down_gcs() {
    store_down(&mut GcsEmulator::start()).await;
}

#[tokio::test]
async fn store_down_s3() {
    store_down(&mut S3Emulator::start()).await;
}

/// S3 with auth enforced (moto checks keys as S3 does) and keys it does not know: denied,
/// and neither the secret nor the key id appears in the error.
#[tokio::test]
async fn denied_s3() {
    let emulator = S3Emulator::start();
    emulator.create_bucket("flink");
    savepoint(
        &emulator,
        "sp/orders/2026-11-23-18-00",
        "savepoint-aaaaaa-1",
        1,
        true,
    );
    with_env(&emulator);
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY";
    const KEY_ID: &str = "AKIAWRONGKEYID123456";
    std::env::set_var("AWS_ACCESS_KEY_ID", KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET);
    emulator.enforce_auth();
    let layout = SavepointLayout::new(&emulator.root("flink", "sp")).unwrap();
    let listed = layout.list("orders", NOW).await.unwrap_err();
    let deleted = layout
        .delete(
            "orders",
            "s3://flink/sp/orders/2026-11-23-18-00/savepoint-aaaaaa-1",
        )
        .await
        .unwrap_err();
    for err in [listed, deleted] {
        assert!(
            matches!(&err, LayoutError::Store(StoreError::Denied { .. })),
            "{err:?}"
        );
        assert_eq!(err.blame(), Blame::Input);
        let text = format!("{err} {err:?}");
        assert!(text.contains("InvalidAccessKeyId"), "{text}");
        assert!(!text.contains(SECRET) && !text.contains(KEY_ID), "{text}");
    }
}

/// GCS's XML API answer to a caller without `storage.objects.list` (the API object_store
/// lists with; the JSON API's body differs, and is not what this client would read).
const GCS_403: &str = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>\
    <Message>Access denied.</Message><Details>123456789012-compute@developer.gserviceaccount.com \
    does not have storage.objects.list access to the Google Cloud Storage bucket. Permission \
    'storage.objects.list' denied on resource (or it may not exist).</Details></Error>";

/// GCS's XML API answer for a bucket that does not exist.
const GCS_NO_SUCH_BUCKET: &str = "<?xml version='1.0' encoding='UTF-8'?><Error>\
    <Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message></Error>";

/// A server on 127.0.0.1 answering every request with `status` and GCS's XML `body`; the
/// requests' heads are kept.
fn gcs_answering(status: &'static str, body: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/xml; charset=UTF-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), heads)
}

/// GCE metadata stand-in for tokens; the client falls back to GCE_METADATA_IP when the host
/// fails, so both point at the stand-in: no request leaves 127.0.0.1.
fn gce_tokens() -> MetadataStandin {
    let standin = MetadataStandin::start(GceTree::new("flink-1", "10.128.0.7").build()).unwrap();
    std::env::set_var("GCE_METADATA_HOST", standin.host());
    std::env::set_var("GCE_METADATA_IP", standin.host());
    standin
}

/// GCS refusing a VM's service account (a 403, which fake-gcs-server cannot produce): denied,
/// with GCS's reason, and the bearer token the store was given is not in the error.
#[tokio::test]
async fn denied_gcs() {
    let standin = gce_tokens();
    let (endpoint, heads) = gcs_answering("403 Forbidden", GCS_403);
    std::env::set_var("STORAGE_EMULATOR_HOST", &endpoint);
    let layout = SavepointLayout::new("gs://flink/sp").unwrap();
    let err = layout.list("orders", NOW).await.unwrap_err();
    assert!(
        matches!(&err, LayoutError::Store(StoreError::Denied { .. })),
        "{err:?}"
    );
    assert_eq!(err.blame(), Blame::Input);
    let text = format!("{err} {err:?}");
    assert!(text.contains("storage.objects.list"), "{text}");
    assert!(!text.contains("ya29."), "{text}");
    assert!(standin.tokens_issued() >= 1);
    let heads = heads.lock().unwrap();
    assert!(
        heads.iter().all(|h| h
            .to_ascii_lowercase()
            .contains("authorization: bearer ya29.standin-")),
        "the token was sent: {heads:?}"
    );
}

/// Tokens from the metadata server are fetched again once they near expiry. object_store
/// refreshes a GCS token with under 4 minutes left, but reuses one fetched in the last 100 ms;
/// with a 60 s lifetime, a listing more than 100 ms after the last fetch needs a new token.
/// Then the VM loses its service account: a clear "no credentials", without any token in it.
#[tokio::test]
async fn tokens_refreshed_then_refused_gcs() {
    let emulator = GcsEmulator::start();
    emulator.create_bucket("flink");
    savepoint(
        &emulator,
        "sp/orders/2026-11-23-18-00",
        "savepoint-aaaaaa-1",
        1,
        true,
    );
    with_env(&emulator);
    let standin = gce_tokens();
    standin.set_token_lifetime(Duration::from_secs(60));
    let layout = SavepointLayout::new(&emulator.root("flink", "sp")).unwrap();

    let listing = layout.list("orders", NOW).await.unwrap();
    assert_eq!(listing.savepoints.len(), 1);
    let after_first = standin.tokens_issued();
    assert!(after_first >= 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(layout.list("orders", NOW).await.unwrap(), listing);
    assert!(
        standin.tokens_issued() > after_first,
        "{} tokens after two listings",
        standin.tokens_issued()
    );

    standin.remove_service_account();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = layout.list("orders", NOW).await.unwrap_err();
    assert!(
        matches!(&err, LayoutError::Store(StoreError::NoCredentials { .. })),
        "{err:?}"
    );
    assert_eq!(err.blame(), Blame::Input);
    let text = format!("{err} {err:?}");
    assert!(!text.contains("ya29."), "{text}");
    assert!(text.contains("no credentials for gs://flink"), "{text}");
    eprintln!("refused: {err}");
}

/// The metadata server in maintenance (`503` to every request, as GCE answers then) is a
/// store that cannot be reached for now, not missing credentials: nothing in the
/// configuration is wrong, and a later run succeeds.
#[tokio::test]
async fn metadata_server_in_maintenance_gcs() {
    let emulator = GcsEmulator::start();
    emulator.create_bucket("flink");
    with_env(&emulator);
    let standin = gce_tokens();
    standin.fail_next(1000);
    let layout = SavepointLayout::new(&emulator.root("flink", "sp")).unwrap();
    let err = layout.list("orders", NOW).await.unwrap_err();
    assert!(
        matches!(&err, LayoutError::Store(StoreError::Unreachable { .. })),
        "{err:?}"
    );
    assert_eq!(err.blame(), Blame::Unreachable);
    assert_eq!(standin.tokens_issued(), 0);
    standin.fail_next(0);
    assert!(layout
        .list("orders", NOW)
        .await
        .unwrap()
        .savepoints
        .is_empty());
    assert_eq!(standin.tokens_issued(), 1);
}
