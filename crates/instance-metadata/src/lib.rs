//! Facts about the instance a Flink process starts on.
//!
//! - [`MetadataProvider`]: cloud instance metadata behind a trait, with [`GceMetadata`] for
//!   Google Compute Engine (EC2's IMDSv2 and others can follow). [`select`] implements the
//!   `gce|none|auto` modes.
//! - [`ResourceProbe`]: CPUs and memory available to the container, from cgroup v2 limits,
//!   `available_parallelism` and `/proc/meminfo`.
#![deny(missing_docs)]

mod gce;
mod resources;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

pub use gce::{GceMetadata, DEFAULT_GCE_HOST, MAX_ANSWER_BYTES};
pub use resources::{
    parse_cpu_max, parse_meminfo_total, parse_memory_max, CpuSource, MemorySource, ResourceFacts,
    ResourceProbe,
};

/// A boxed future, so providers can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of instance metadata.
pub trait MetadataProvider: Send + Sync {
    /// A short name for logs (`gce`).
    fn name(&self) -> &'static str;

    /// Fetches everything the bootstrap needs, retrying transient failures within the
    /// provider's deadline.
    fn fetch(&self) -> BoxFuture<'_, Result<InstanceMetadata, MetadataError>>;
}

/// What a provider knows about the instance. All of it is untrusted input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceMetadata {
    /// The internal IP of the first network interface.
    pub internal_ip: Option<IpAddr>,
    /// The instance's host name.
    pub hostname: Option<String>,
    /// The instance name.
    pub name: Option<String>,
    /// The zone name, e.g. `europe-west1-b`.
    pub zone: Option<String>,
    /// Instance attributes (custom metadata).
    pub instance_attributes: BTreeMap<String, String>,
    /// Project-wide attributes.
    pub project_attributes: BTreeMap<String, String>,
}

/// A metadata request failed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The configured host cannot form a URL.
    #[error("`{host}` is not a usable metadata host: {reason}")]
    InvalidHost {
        /// The host given.
        host: String,
        /// Why.
        reason: String,
    },
    /// No usable answer before the deadline (connection errors, timeouts, 5xx).
    #[error(
        "metadata server at {url} unavailable: {attempts} attempt(s) in {waited:?}, last: {last}"
    )]
    Unavailable {
        /// The URL requested.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        waited: Duration,
        /// The last failure.
        last: String,
    },
    /// A non-retryable HTTP status (403, 404, ...).
    #[error("GET {url} answered {status}: {body}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer did not carry `Metadata-Flavor: Google`.
    #[error(
        "GET {url} answered without `Metadata-Flavor: Google`: not a metadata server \
         (a proxy or another service on that address?)"
    )]
    NotMetadataServer {
        /// The URL requested.
        url: String,
    },
    /// The answer was larger than the client reads.
    #[error(
        "GET {url} answered with more than {max} bytes: not what a metadata server sends \
         (GCE holds at most 512 KB of custom metadata); the answer was not read further"
    )]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The limit.
        max: usize,
    },
    /// The answer holds text that is not UTF-8.
    #[error(
        "GET {url}: {} not valid UTF-8 (byte {offset} of the answer); metadata values must be \
         UTF-8 text",
        not_utf8_subject(fields)
    )]
    NotUtf8 {
        /// The URL requested.
        url: String,
        /// Where in the metadata (`instance/attributes/flink-config`), when known.
        fields: Vec<String>,
        /// The offset of the first invalid byte.
        offset: usize,
    },
    /// The answer was not the expected JSON.
    #[error("GET {url} answered with unexpected JSON")]
    Decode {
        /// The URL requested.
        url: String,
        /// The error.
        source: serde_json::Error,
    },
    /// A value with the wrong shape (e.g. an IP address that is not one).
    #[error("metadata field {field} has an invalid value {value:?}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
    },
}

fn not_utf8_subject(fields: &[String]) -> String {
    match fields {
        [] => "the answer is".into(),
        [one] => format!("metadata value {one} is"),
        many => format!("metadata values {} are", many.join(", ")),
    }
}

impl MetadataError {
    /// Whether the metadata server answered, but with metadata that cannot be used as it is
    /// (text that is not UTF-8, an address that is not one): the metadata must be fixed,
    /// rather than the server reached.
    pub fn is_bad_metadata(&self) -> bool {
        matches!(self, Self::NotUtf8 { .. } | Self::Invalid { .. })
    }
}

/// How to find metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataMode {
    /// Use GCE; fail when it does not answer.
    Gce,
    /// Use none.
    None,
    /// Use GCE when it answers within the probe timeout, none otherwise.
    Auto,
}

/// Chooses the provider for `mode`. In `Auto` mode GCE is probed once with `probe_timeout`.
pub async fn select(
    mode: MetadataMode,
    gce: GceMetadata,
    probe_timeout: Duration,
) -> Option<Box<dyn MetadataProvider>> {
    match mode {
        MetadataMode::None => None,
        MetadataMode::Gce => Some(Box::new(gce)),
        MetadataMode::Auto => {
            if gce.probe(probe_timeout).await {
                Some(Box::new(gce))
            } else {
                None
            }
        }
    }
}
