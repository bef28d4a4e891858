//! The flags that say how to reach the JobManager's REST API.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use flink_rest::{ClientConfig, FlinkClient, SecretHeader};
use url::Url;

use crate::env_vars;
use crate::parse::parse_timeout;

/// How to reach the JobManager: URL, TLS and extra headers.
#[derive(Debug, Clone, Args)]
pub struct RestArgs {
    /// The JobManager's REST endpoint, e.g. http://10.0.0.2:8081 (user:password@ is sent as basic auth, never printed)
    #[arg(long, env = env_vars::FLINK_JOBMANAGER_URL, value_name = "URL", hide_env_values = true)]
    pub jobmanager_url: Option<Url>,

    /// PEM bundle of CAs to trust for an https:// endpoint
    #[arg(long, env = env_vars::FLINK_REST_CA_CERT, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// PEM client certificate, for mutual TLS
    #[arg(long, env = env_vars::FLINK_REST_CLIENT_CERT, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,

    /// PEM key of --client-cert
    #[arg(long, env = env_vars::FLINK_REST_CLIENT_KEY, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,

    /// Extra header for every request, 'Name: value' (repeatable; e.g. a proxy's Authorization). Never printed
    #[arg(long = "header", env = env_vars::FLINK_REST_HEADER, value_name = "HEADER", hide_env_values = true)]
    pub headers: Vec<SecretHeader>,

    /// Timeout of one REST request
    #[arg(long, env = env_vars::FLINK_REST_TIMEOUT, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub request_timeout: Duration,
}

impl RestArgs {
    /// Client settings for the given URL (the flag's, or a default the caller chose).
    pub fn client_config(&self, url: Url) -> ClientConfig {
        let mut config = ClientConfig::new(url);
        config.request_timeout = self.request_timeout;
        config.ca_cert = self.ca_cert.clone();
        config.client_identity = self.client_cert.clone().zip(self.client_key.clone());
        config.headers = self.headers.clone();
        config
    }

    /// A client for `--jobmanager-url`, or `default` when none was given.
    pub fn client_or(&self, default: &Url) -> Result<FlinkClient, flink_rest::Error> {
        let url = self
            .jobmanager_url
            .clone()
            .unwrap_or_else(|| default.clone());
        FlinkClient::new(self.client_config(url))
    }
}
