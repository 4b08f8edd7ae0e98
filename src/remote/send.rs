//! One remote-write 1.0 request to one endpoint: the protocol headers, the
//! configured headers and credentials (files re-read on every request, so
//! rotated secrets are picked up), and the classification Prometheus uses:
//! 5xx, 429 and network errors are worth retrying, other 4xx are not.

use std::time::Duration;

use crate::config::RemoteWriteConfig;

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
    client: reqwest::Client,
}

impl Endpoint {
    pub fn new(config: RemoteWriteConfig) -> Result<Self, String> {
        if config.url.starts_with("https://") {
            return Err(format!(
                "remote_write {}: https endpoints need TLS, which this build's HTTP client lacks",
                config.url
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from(config.remote_timeout))
            .build()
            .map_err(|e| format!("remote_write {}: cannot build HTTP client: {e}", config.url))?;
        Ok(Endpoint { config, client })
    }

    /// POSTs one snappy-compressed `WriteRequest`.
    pub async fn post(&self, body: bytes::Bytes) -> Result<(), SendError> {
        let mut request = self
            .client
            .post(&self.config.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("User-Agent", concat!("Sightline/", env!("CARGO_PKG_VERSION")))
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        for (name, value) in &self.config.headers {
            request = request.header(name, value);
        }
        request = self.authorize(request).map_err(SendError::Unrecoverable)?;
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

    /// Basic auth or `Authorization: <type> <credentials>`, reading secret files now.
    fn authorize(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, String> {
        if let Some(auth) = &self.config.basic_auth {
            let username = match &auth.username_file {
                Some(file) => read_secret(file)?,
                None => auth.username.clone(),
            };
            let password = match (&auth.password_file, &auth.password) {
                (Some(file), _) => read_secret(file)?,
                (None, Some(password)) => password.expose().to_string(),
                (None, None) => String::new(),
            };
            return Ok(request.basic_auth(username, Some(password)));
        }
        if let Some(auth) = &self.config.authorization {
            let credentials = match (&auth.credentials_file, &auth.credentials) {
                (Some(file), _) => read_secret(file)?,
                (None, Some(credentials)) => credentials.expose().to_string(),
                (None, None) => String::new(),
            };
            return Ok(request.header("Authorization", format!("{} {credentials}", auth.r#type)));
        }
        Ok(request)
    }
}

fn read_secret(file: &str) -> Result<String, String> {
    std::fs::read_to_string(file)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|e| format!("cannot read {file}: {e}"))
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
