//! Health, readiness, the server's own metrics and admin actions.

use super::response::{success, ApiError};
use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub async fn healthy() -> &'static str {
    "Sightline is Healthy.\n"
}

/// The listener only opens after the storage has replayed its WAL, so a
/// reachable server is ready.
pub async fn ready() -> &'static str {
    "Sightline is Ready.\n"
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(&state.storage);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Cuts every open chunk, compacts all partitions, then checkpoints so the
/// WAL that covered those chunks is deleted.
pub async fn compact(State(state): State<AppState>) -> Result<Response, ApiError> {
    let storage = state.storage.clone();
    let report = tokio::task::spawn_blocking(move || {
        let report = storage.compact(true)?;
        storage.checkpoint()?;
        Ok::<_, crate::storage::StorageError>(report)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(success(
        json!({
            "partitionsCompacted": report.partitions_compacted,
            "chunksMerged": report.chunks_merged,
            "bytesBefore": report.bytes_before,
            "bytesAfter": report.bytes_after,
        }),
        Vec::new(),
    ))
}
