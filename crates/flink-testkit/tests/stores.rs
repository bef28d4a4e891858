//! The emulators start and answer their cloud's API.

use std::io::{Read, Write};

fn get(endpoint: &str, path: &str) -> String {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn emulators_answer_their_apis() {
    let mut gcs = flink_testkit::GcsEmulator::start();
    let answer = get(&gcs.endpoint(), "/storage/v1/b?project=test");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let s3 = flink_testkit::S3Emulator::start();
    let answer = get(&s3.endpoint(), "/");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("ListAllMyBucketsResult"),
        "{answer}"
    );
    gcs.stop();
    let addr = gcs.endpoint().trim_start_matches("http://").to_string();
    assert!(std::net::TcpStream::connect(addr).is_err(), "stopped");
}
