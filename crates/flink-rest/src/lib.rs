//! A typed async client for the Apache Flink JobManager REST API.
//!
//! One [`FlinkClient`] talks to one JobManager. It speaks the dialect of the
//! cluster's reported version (Flink 1.18 through 2.3): the request bodies
//! that changed between versions are built by [`Dialect`], so callers never
//! branch on versions themselves.
//!
//! Errors are typed ([`Error`]) so callers can tell an unreachable JobManager
//! from an unknown job, a conflict, or a failed asynchronous operation, and
//! each one says what was asked (method and URL, credentials redacted), what
//! came back, and Flink's own error text.
#![deny(missing_docs)]

mod client;
mod dialect;
mod error;
mod model;
mod printable;
mod redact;

pub use client::{ClientConfig, FlinkClient, RetryPolicy, MAX_JSON_BODY};
pub use dialect::{Dialect, FlinkVersion};
pub use error::{Error, Result};
pub use model::*;
pub use printable::printable_name;
pub use redact::{RedactedUrl, SecretHeader};
