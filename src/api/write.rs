//! `POST /api/v1/write`: Prometheus remote-write 1.0.
//!
//! Answers as Prometheus's receiver does: 204 when stored, 400 with the
//! reason as plain text for anything the sender must not retry (bad snappy,
//! bad protobuf, invalid labels, out-of-order or duplicate samples), 413 when
//! too large, 500 when the storage failed (the sender retries).

use super::AppState;
use crate::ingest::remote_write::{decode_resolving, WriteLimits};
use crate::storage::{RefAppender, Storage};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

pub async fn remote_write(State(state): State<AppState>, body: Bytes) -> Response {
    let limits = state.write_limits;
    let storage = state.storage.clone();
    let metrics = state.metrics.clone();
    let outcome = tokio::task::spawn_blocking(move || decode_and_append(&storage, &body, &limits)).await;
    let (status, message) = match outcome {
        Ok(Ok(samples)) => {
            metrics.samples_ingested.inc_by(samples);
            metrics.count_request(204);
            return StatusCode::NO_CONTENT.into_response();
        }
        Ok(Err((status, reason, samples, message))) => {
            metrics.reject(reason, samples);
            (status, message)
        }
        Err(e) => (500, format!("internal error: {e}")),
    };
    plain_error(&metrics, status, &message)
}

/// Why a request failed: status, reason label, samples refused, message.
type Refusal = (u16, &'static str, u64, String);

/// Decodes and appends one request; returns the samples stored. Series the
/// storage holds are appended by reference; when retention removes series
/// between their lookup and the append, they are looked up again.
fn decode_and_append(storage: &Storage, body: &[u8], limits: &WriteLimits) -> Result<u64, Refusal> {
    for _ in 0..LOOKUP_TRIES {
        // Removals only add up: the same epoch at the append means no series
        // found by a lookup below was removed in between.
        let epoch = storage.ref_epoch();
        let batch = decode_resolving(body, limits, |key| storage.lookup_canonical().get(key))
            .map_err(|e| (e.status(), e.reason(), 0, e.to_string()))?;
        let samples = batch.samples.len() as u64;
        let appended = storage.append_ordered(batch, epoch).map_err(|e| {
            let status = if e.is_client_error() { 400 } else { 500 };
            (status, e.reason(), samples, e.to_string())
        })?;
        if appended.is_some() {
            return Ok(samples);
        }
    }
    let message = "series were removed during every append attempt; retry".to_string();
    Err((500, "storage", 0, message))
}

/// Lookups per request before giving up: series are removed only by
/// retention, a few times an hour, so a second try practically always wins.
const LOOKUP_TRIES: usize = 3;

fn plain_error(metrics: &crate::system::SelfMetrics, status: u16, message: &str) -> Response {
    metrics.count_request(status);
    if status >= 500 {
        tracing::error!("remote write failed: {message}");
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}
