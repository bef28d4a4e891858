//! A stand-in for the GCE metadata server (`http://metadata.google.internal/computeMetadata/v1/`)
//! for tests, bound to `127.0.0.1:0` and following the real protocol:
//!
//! - requests without `Metadata-Flavor: Google` get `403` with GCE's HTML body;
//! - every answer carries `Metadata-Flavor: Google` and `Server: Metadata Server for VM`;
//! - `?recursive=true` / `?alt=json` return the subtree as JSON with GCE's camelCase names
//!   (`networkInterfaces`, `machineType`), while paths use the hyphenated names
//!   (`instance/network-interfaces/0/ip`); leaves are plain text; directories list their
//!   children (`name/` for sub-directories);
//! - unknown paths are `404`;
//! - [`MetadataStandin::fail_next`] answers the next N requests with `503`, as during
//!   maintenance, and [`MetadataStandin::set_delay`] makes it slow.
//! - `instance/service-accounts/default/token` issues a fresh access token each time
//!   (`{"access_token", "expires_in", "token_type": "Bearer"}`), of a lifetime
//!   [`MetadataStandin::set_token_lifetime`] sets, counted by [`MetadataStandin::tokens_issued`];
//!   `…/default/email` names the account. [`MetadataStandin::remove_service_account`] makes
//!   both `404`, as on a VM created without a service account.
//!
//! Faults no real server produces, for clients' limits: [`MetadataStandin::pad_answers`] makes
//! JSON answers huge or endless, [`MetadataStandin::replace_in_answers`] puts arbitrary bytes
//! (invalid UTF-8) into them.
//!
//! Point a client at it with `GCE_METADATA_HOST=<MetadataStandin::host()>`. The server runs on
//! its own thread, so sync tests (driving a binary) and async tests can both use it.
#![deny(missing_docs)]

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

const PREFIX: &str = "/computeMetadata/v1";

/// The account a VM gets unless told otherwise: the project's Compute Engine default one.
const DEFAULT_SERVICE_ACCOUNT: &str = "123456789012-compute@developer.gserviceaccount.com";

/// GCE hands out tokens with an hour to live, minus the second it took.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3599);

#[derive(Default)]
struct Shared {
    tree: Mutex<Value>,
    fail_next: AtomicU32,
    delay_ms: AtomicU64,
    omit_flavor: AtomicBool,
    requests: AtomicU32,
    padding: AtomicU64,
    replacements: Mutex<Vec<(String, Vec<u8>)>>,
    /// `None`: the VM has no service account.
    service_account: Mutex<Option<String>>,
    token_lifetime_secs: AtomicU64,
    tokens_issued: AtomicU32,
}

/// A running stand-in; stops when dropped.
pub struct MetadataStandin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetadataStandin {
    /// Starts serving `tree` (the JSON of `/computeMetadata/v1/?recursive=true`, e.g. from
    /// [`GceTree::build`]).
    pub fn start(tree: Value) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            tree: Mutex::new(tree),
            service_account: Mutex::new(Some(DEFAULT_SERVICE_ACCOUNT.into())),
            token_lifetime_secs: AtomicU64::new(DEFAULT_TOKEN_LIFETIME.as_secs()),
            ..Shared::default()
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .expect("the listener was bound just before");
                // Stopping does not wait for answers in flight (an endless one never ends):
                // the runtime is dropped with the thread, closing every connection.
                tokio::select! {
                    served = axum::serve(listener, app) => served.expect("stand-in server failed"),
                    _ = stopped => {}
                }
            });
        });
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:PORT`, the value for `GCE_METADATA_HOST`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers the next `n` requests with `503 Service Unavailable`.
    pub fn fail_next(&self, n: u32) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// Waits this long before answering each request.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Leaves out the `Metadata-Flavor: Google` response header, as something that is not a
    /// metadata server (a proxy, a captive portal) would.
    pub fn omit_flavor_header(&self, omit: bool) {
        self.shared.omit_flavor.store(omit, Ordering::SeqCst);
    }

    /// Follows every JSON answer with `bytes` spaces (still valid JSON), streamed in chunks;
    /// `u64::MAX` makes an answer that never ends.
    pub fn pad_answers(&self, bytes: u64) {
        self.shared.padding.store(bytes, Ordering::SeqCst);
    }

    /// Replaces every occurrence of `text` in the body of answers by `bytes` (e.g. bytes that
    /// are not UTF-8, which a value set through the API cannot hold).
    pub fn replace_in_answers(&self, text: &str, bytes: &[u8]) {
        self.shared
            .replacements
            .lock()
            .expect("replacements lock")
            .push((text.to_owned(), bytes.to_vec()));
    }

    /// How many requests arrived so far (including failed ones).
    pub fn requests(&self) -> u32 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The `expires_in` of tokens issued from now on (whole seconds). Clients refresh a token
    /// some minutes before it expires (`object_store`: within 4 minutes), so a short lifetime
    /// makes them fetch one for every request.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared
            .token_lifetime_secs
            .store(lifetime.as_secs(), Ordering::SeqCst);
    }

    /// How many access tokens were handed out so far.
    pub fn tokens_issued(&self) -> u32 {
        self.shared.tokens_issued.load(Ordering::SeqCst)
    }

    /// Detaches the VM's service account: `instance/service-accounts/default/*` (token, email)
    /// answer `404` with GCE's HTML, as on a VM created with `--no-service-account`.
    pub fn remove_service_account(&self) {
        *self.shared.service_account.lock().expect("account lock") = None;
    }

    /// Attaches `email` as the VM's service account (the default one is attached at start).
    pub fn set_service_account(&self, email: &str) {
        *self.shared.service_account.lock().expect("account lock") = Some(email.into());
    }

    /// Changes the served tree.
    pub fn update(&self, change: impl FnOnce(&mut Value)) {
        change(&mut self.shared.tree.lock().expect("tree lock"));
    }
}

impl Drop for MetadataStandin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut response = answer(&shared, uri.path(), &headers, &query);
    let h = response.headers_mut();
    h.insert(
        header::SERVER,
        HeaderValue::from_static("Metadata Server for VM"),
    );
    if !shared.omit_flavor.load(Ordering::SeqCst) {
        h.insert("metadata-flavor", HeaderValue::from_static("Google"));
    }
    response
}

fn answer(
    shared: &Shared,
    path: &str,
    headers: &HeaderMap,
    query: &std::collections::HashMap<String, String>,
) -> Response {
    let html = |status, body: String| {
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
            body,
        )
            .into_response()
    };
    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
        return html(
            StatusCode::FORBIDDEN,
            format!(
                "<p>Your client does not have permission to get URL <code>{path}</code> from \
                 this server. Missing Metadata-Flavor:Google header.</p>"
            ),
        );
    }
    let failing = shared
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            "<p>Service Unavailable: the metadata server is under maintenance.</p>".into(),
        );
    }
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return html(StatusCode::NOT_FOUND, not_found(path));
    };
    // Not part of the tree: GCE leaves tokens out of `?recursive=true` answers too.
    if let Some(leaf) = rest.strip_prefix("/instance/service-accounts/default/") {
        if let Some(found) = service_account(shared, leaf) {
            return found;
        }
        return html(StatusCode::NOT_FOUND, not_found(path));
    }
    let tree = shared.tree.lock().expect("tree lock");
    let Some(node) = lookup(&tree, rest) else {
        return html(StatusCode::NOT_FOUND, not_found(path));
    };
    let json = query.get("recursive").is_some_and(|v| v == "true")
        || query.get("alt").is_some_and(|v| v == "json");
    if json && query.get("alt").is_none_or(|v| v == "json") {
        let body = padded(
            replaced(shared, node.to_string()),
            shared.padding.load(Ordering::SeqCst),
        );
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    let text = match node {
        Value::String(s) => s.clone(),
        Value::Object(map) => listing(map.iter().map(|(k, v)| (kebab(k), v))),
        Value::Array(items) => listing(items.iter().enumerate().map(|(i, v)| (i.to_string(), v))),
        other => other.to_string(),
    };
    (
        [(header::CONTENT_TYPE, "application/text")],
        replaced(shared, text),
    )
        .into_response()
}

/// The default service account's `token` or `email`; `None` when the VM has no account or
/// the leaf is not one of those.
fn service_account(shared: &Shared, leaf: &str) -> Option<Response> {
    let account = shared
        .service_account
        .lock()
        .expect("account lock")
        .clone()?;
    match leaf {
        "email" => Some(([(header::CONTENT_TYPE, "application/text")], account).into_response()),
        "token" => {
            let issued = shared.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
            let body = json!({
                "access_token": fresh_token(issued),
                "expires_in": shared.token_lifetime_secs.load(Ordering::SeqCst),
                "token_type": "Bearer",
            });
            Some(
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
                    .into_response(),
            )
        }
        _ => None,
    }
}

/// A token unlike any other: Google's `ya29.` prefix (so tests can look for leaks), the
/// count, and random bits.
fn fresh_token(issued: u32) -> String {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("ya29.standin-{issued}-{random:016x}")
}

/// `text` with the configured replacements made.
fn replaced(shared: &Shared, text: String) -> Vec<u8> {
    let replacements = shared.replacements.lock().expect("replacements lock");
    let mut body = text.into_bytes();
    for (from, to) in replacements.iter() {
        let from = from.as_bytes();
        let mut out = Vec::with_capacity(body.len());
        let mut rest = &body[..];
        while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(to);
            rest = &rest[at + from.len()..];
        }
        out.extend_from_slice(rest);
        body = out;
    }
    body
}

/// `body` followed by `padding` spaces, streamed so a huge or endless answer costs no memory.
fn padded(body: Vec<u8>, padding: u64) -> Body {
    use futures_util::stream::{self, StreamExt};
    const CHUNK: usize = 64 * 1024;
    if padding == 0 {
        return Body::from(body);
    }
    let spaces = Bytes::from(vec![b' '; CHUNK]);
    let chunks = stream::unfold(padding, move |left| {
        let spaces = spaces.clone();
        async move {
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK);
            // u64::MAX never runs out.
            let left = if left == u64::MAX {
                left
            } else {
                left - n as u64
            };
            (n > 0).then(|| (spaces.slice(..n), left))
        }
    });
    let all = stream::once(async move { Bytes::from(body) }).chain(chunks);
    Body::from_stream(all.map(Ok::<_, std::convert::Infallible>))
}

fn not_found(path: &str) -> String {
    format!("<p>The requested URL <code>{path}</code> was not found on this server.</p>")
}

fn listing<'a>(children: impl Iterator<Item = (String, &'a Value)>) -> String {
    children
        .map(|(name, v)| match v {
            Value::Object(_) | Value::Array(_) => format!("{name}/\n"),
            _ => format!("{name}\n"),
        })
        .collect()
}

/// Finds the node at a hyphenated path; attribute names are matched as they are.
fn lookup<'a>(tree: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .try_fold(tree, |node, segment| match node {
            Value::Object(map) => map.get(segment).or_else(|| map.get(&camel(segment))),
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
            _ => None,
        })
}

fn camel(segment: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in segment.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn kebab(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('-');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Builds a metadata tree with the shapes GCE uses.
#[derive(Debug, Clone)]
pub struct GceTree {
    name: String,
    ip: String,
    zone: String,
    project_id: String,
    project_number: u64,
    instance_attributes: Map<String, Value>,
    project_attributes: Map<String, Value>,
}

impl GceTree {
    /// An instance `name` with internal IP `ip` in project `my-project` (number 123456789012),
    /// zone `europe-west1-b`.
    pub fn new(name: &str, ip: &str) -> Self {
        Self {
            name: name.into(),
            ip: ip.into(),
            zone: "europe-west1-b".into(),
            project_id: "my-project".into(),
            project_number: 123_456_789_012,
            instance_attributes: Map::new(),
            project_attributes: Map::new(),
        }
    }

    /// Sets the zone name.
    pub fn zone(mut self, zone: &str) -> Self {
        self.zone = zone.into();
        self
    }

    /// Adds an instance attribute.
    pub fn instance_attribute(mut self, key: &str, value: &str) -> Self {
        self.instance_attributes.insert(key.into(), value.into());
        self
    }

    /// Adds a project-wide attribute.
    pub fn project_attribute(mut self, key: &str, value: &str) -> Self {
        self.project_attributes.insert(key.into(), value.into());
        self
    }

    /// The tree served at `/computeMetadata/v1/`.
    pub fn build(self) -> Value {
        let n = self.project_number;
        json!({
            "instance": {
                "attributes": self.instance_attributes,
                "cpuPlatform": "Intel Broadwell",
                "description": "",
                "hostname": format!("{}.{}.c.{}.internal", self.name, self.zone, self.project_id),
                "id": 4_520_031_799_277_581_759_u64,
                "image": "projects/cos-cloud/global/images/cos-stable-117-18613-75-37",
                "machineType": format!("projects/{n}/machineTypes/e2-standard-4"),
                "maintenanceEvent": "NONE",
                "name": self.name,
                "networkInterfaces": [{
                    "accessConfigs": [],
                    "dnsServers": ["169.254.169.254"],
                    "forwardedIps": [],
                    "gateway": "10.128.0.1",
                    "ip": self.ip,
                    "ipAliases": [],
                    "mac": "42:01:0a:80:00:07",
                    "mtu": 1460,
                    "network": format!("projects/{n}/networks/default"),
                    "subnetmask": "255.255.240.0",
                    "targetInstanceIps": []
                }],
                "preempted": "FALSE",
                "scheduling": {
                    "automaticRestart": "TRUE",
                    "onHostMaintenance": "MIGRATE",
                    "preemptible": "FALSE"
                },
                "tags": ["flink"],
                "zone": format!("projects/{n}/zones/{}", self.zone)
            },
            "project": {
                "attributes": self.project_attributes,
                "numericProjectId": n,
                "projectId": self.project_id
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_put_raw_bytes_into_answers() {
        let shared = Shared::default();
        shared
            .replacements
            .lock()
            .unwrap()
            .push(("BAD".into(), vec![0xff, 0xfe]));
        assert_eq!(
            replaced(&shared, "{\"a\":\"xBADyBAD\"}".into()),
            b"{\"a\":\"x\xff\xfey\xff\xfe\"}"
        );
    }

    #[test]
    fn paths_map_to_gce_names() {
        let tree = GceTree::new("tm-1", "10.128.0.7")
            .instance_attribute("flink-config", "a: b")
            .build();
        let at = |p| lookup(&tree, p).cloned();
        assert_eq!(
            at("/instance/network-interfaces/0/ip"),
            Some(json!("10.128.0.7"))
        );
        assert_eq!(at("/instance/attributes/flink-config"), Some(json!("a: b")));
        assert_eq!(
            at("/instance/zone"),
            Some(json!("projects/123456789012/zones/europe-west1-b"))
        );
        assert_eq!(at("/instance/nope"), None);
        assert_eq!(kebab("networkInterfaces"), "network-interfaces");
    }

    /// One plain HTTP/1.1 GET, as a client on the VM sends it: (status, body).
    fn get(standin: &MetadataStandin, path: &str, flavor: bool) -> (u16, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(standin.addr()).unwrap();
        let flavor = if flavor {
            "Metadata-Flavor: Google\r\n"
        } else {
            ""
        };
        write!(
            stream,
            "GET {PREFIX}{path} HTTP/1.1\r\nHost: metadata.google.internal\r\n{flavor}\
             Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer[9..12].parse().unwrap();
        let body = answer.split_once("\r\n\r\n").unwrap().1.to_string();
        (status, body)
    }

    const TOKEN: &str = "/instance/service-accounts/default/token";

    #[test]
    fn tokens_are_fresh_each_time_and_counted() {
        let standin = MetadataStandin::start(GceTree::new("tm-1", "10.0.0.7").build()).unwrap();
        let (status, first) = get(&standin, TOKEN, true);
        assert_eq!(status, 200, "{first}");
        let first: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(first["token_type"], "Bearer");
        assert_eq!(first["expires_in"], 3599);
        assert!(first["access_token"].as_str().unwrap().starts_with("ya29."));

        standin.set_token_lifetime(Duration::from_secs(5));
        let (_, second) = get(&standin, &format!("{TOKEN}?audience=x"), true);
        let second: Value = serde_json::from_str(&second).unwrap();
        assert_eq!(second["expires_in"], 5);
        assert_ne!(first["access_token"], second["access_token"]);
        assert_eq!(standin.tokens_issued(), 2);

        // The protocol still holds: no flavor header, no token.
        let (status, body) = get(&standin, TOKEN, false);
        assert_eq!(status, 403, "{body}");
        assert_eq!(standin.tokens_issued(), 2);
        // Nor does a recursive answer carry one.
        let (_, tree) = get(&standin, "/?recursive=true", true);
        assert!(!tree.contains("ya29."), "{tree}");
    }

    #[test]
    fn a_vm_without_a_service_account_has_no_token() {
        let standin = MetadataStandin::start(GceTree::new("tm-1", "10.0.0.7").build()).unwrap();
        let (status, email) = get(&standin, "/instance/service-accounts/default/email", true);
        assert_eq!((status, email.as_str()), (200, DEFAULT_SERVICE_ACCOUNT));

        standin.remove_service_account();
        for leaf in ["token", "email"] {
            let (status, body) = get(
                &standin,
                &format!("/instance/service-accounts/default/{leaf}"),
                true,
            );
            assert_eq!(status, 404, "{leaf}: {body}");
            assert!(body.contains("was not found on this server"), "{body}");
        }
        assert_eq!(standin.tokens_issued(), 0);

        standin.set_service_account("flink@my-project.iam.gserviceaccount.com");
        let (status, _) = get(&standin, TOKEN, true);
        assert_eq!(status, 200);
        let (_, email) = get(&standin, "/instance/service-accounts/default/email", true);
        assert_eq!(email, "flink@my-project.iam.gserviceaccount.com");
        // Other leaves of the account are not served.
        let (status, _) = get(&standin, "/instance/service-accounts/default/nope", true);
        assert_eq!(status, 404);
    }

    #[test]
    fn token_requests_fail_in_maintenance_like_the_rest() {
        let standin = MetadataStandin::start(GceTree::new("tm-1", "10.0.0.7").build()).unwrap();
        standin.fail_next(1);
        assert_eq!(get(&standin, TOKEN, true).0, 503);
        assert_eq!(get(&standin, TOKEN, true).0, 200);
        assert_eq!(standin.tokens_issued(), 1);
    }
}
