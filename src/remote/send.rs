//! One remote-write 1.0 request to one endpoint: the protocol headers, the
//! configured headers and credentials (files re-read on every request, so
//! rotated secrets are picked up), and the classification Prometheus uses:
//! 5xx, 429 and network errors are worth retrying, other 4xx are not.

use std::time::Duration;

use crate::config::RemoteWriteConfig;
use crate::http_client::{HttpClient, HttpSettings};

/// Why a request failed.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Network error, timeout, 5xx or 429: try again after a backoff.
    Recoverable(String),
    /// Any other non-2xx answer: the receiver refuses these samples for good.
    Unrecoverable(String),
}

/// How much of a refusal's body goes into the log.
const ERROR_BODY_CHARS: usize = 256;

pub struct Endpoint {
    config: RemoteWriteConfig,
    client: HttpClient,
}

impl Endpoint {
    pub fn new(config: RemoteWriteConfig) -> Result<Self, String> {
        let client = HttpClient::new(HttpSettings {
            basic_auth: config.basic_auth.clone(),
            authorization: config.authorization.clone(),
            tls: config.tls_config.clone(),
            follow_redirects: true,
            compression: false,
        })
        .map_err(|e| format!("remote_write {}: {e}", config.url))?;
        Ok(Endpoint { config, client })
    }

    /// POSTs one snappy-compressed `WriteRequest`.
    pub async fn post(&self, body: bytes::Bytes) -> Result<(), SendError> {
        let mut request = self
            .client
            .client
            .post(&self.config.url)
            .timeout(Duration::from(self.config.remote_timeout))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("User-Agent", concat!("Sightline/", env!("CARGO_PKG_VERSION")))
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        for (name, value) in &self.config.headers {
            request = request.header(name, value);
        }
        request = self.client.authorize(request).map_err(SendError::Unrecoverable)?;
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Recoverable(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let snippet: String = text.chars().take(ERROR_BODY_CHARS).collect();
        let message = format!("server returned HTTP status {status}: {}", snippet.trim());
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(SendError::Recoverable(message))
        } else {
            Err(SendError::Unrecoverable(message))
        }
    }
}

/// The error and its causes; the URL is left out (it may hold a token).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
