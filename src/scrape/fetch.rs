//! One HTTP scrape: the request Prometheus sends, and the body within its limits.
//!
//! Owns the `Accept` header, the timeout header, status handling, the body size
//! limit (counted on the decompressed body, as Prometheus does) and error
//! messages that name the reason. Parsing is not done here.
//!
//! The body is read into a buffer sized from `Content-Length` when the server
//! sends one, and belongs to one scrape: ten targets of a megabyte each would
//! otherwise each keep a megabyte between their scrapes.

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};

use crate::http_client::HttpClient;

/// What Prometheus 2.42 asks for: OpenMetrics first, then the text format.
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Reserved up front at most, whatever `Content-Length` claims.
const MAX_RESERVED_BODY: u64 = 16 << 20;

/// A scraped body and its content type.
#[derive(Debug)]
pub struct Scraped {
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Fetches `url` within `timeout` and `body_limit` bytes (`0`: no limit).
pub async fn fetch(
    client: &HttpClient,
    url: &str,
    timeout: Duration,
    body_limit: u64,
) -> Result<Scraped, String> {
    match tokio::time::timeout(timeout, fetch_within(client, url, timeout, body_limit)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "Get {url:?}: context deadline exceeded (scrape timeout {}s)",
            timeout.as_secs_f64()
        )),
    }
}

async fn fetch_within(
    client: &HttpClient,
    url: &str,
    timeout: Duration,
    body_limit: u64,
) -> Result<Scraped, String> {
    let request = client.client.get(url).header(ACCEPT, ACCEPT_HEADER).header(
        "X-Prometheus-Scrape-Timeout-Seconds",
        timeout.as_secs_f64().to_string(),
    );
    let mut response = client
        .authorize(request)?
        .send()
        .await
        .map_err(|err| request_error(url, &err))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("server returned HTTP status {status}"));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::with_capacity(reserved_body(response.content_length(), body_limit));
    while let Some(chunk) = response.chunk().await.map_err(|err| request_error(url, &err))? {
        body.extend_from_slice(&chunk);
        if body_limit > 0 && body.len() as u64 > body_limit {
            return Err(format!("body size limit exceeded (limit: {body_limit} bytes)"));
        }
    }
    Ok(Scraped { content_type, body })
}

/// What to reserve for a body of `content_length`: not past the limit (a body
/// over it fails anyway) nor past [`MAX_RESERVED_BODY`].
fn reserved_body(content_length: Option<u64>, body_limit: u64) -> usize {
    let limit = if body_limit > 0 {
        body_limit.saturating_add(1)
    } else {
        u64::MAX
    };
    content_length.unwrap_or(0).min(limit).min(MAX_RESERVED_BODY) as usize
}

/// `Get "url": reason: cause: ...`, like Go's `url.Error`.
fn request_error(url: &str, err: &reqwest::Error) -> String {
    let mut message = format!("Get {url:?}");
    let mut source: Option<&dyn std::error::Error> = err.source();
    if source.is_none() {
        message.push_str(&format!(": {err}"));
    }
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_what_the_server_announces_within_the_limits() {
        assert_eq!(reserved_body(None, 0), 0);
        assert_eq!(reserved_body(Some(700_000), 0), 700_000);
        assert_eq!(reserved_body(Some(700_000), 1000), 1001);
        assert_eq!(reserved_body(Some(u64::MAX), 0), MAX_RESERVED_BODY as usize);
    }
}
