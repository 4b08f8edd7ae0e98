//! The HTTP surface: Prometheus-compatible API routes, remote-write intake,
//! health and the server's own metrics.
//!
//! Handlers only translate between HTTP and the subsystems (`storage`,
//! `ingest`, `system`); they hold no business logic.

mod admin;
mod params;
mod query;
mod read;
pub mod response;
mod status;
mod write;

use crate::ingest::remote_write::WriteLimits;
use crate::promql::Engine;
use crate::storage::Storage;
use crate::system::SelfMetrics;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub use params::{parse_selector, parse_time};
pub use status::ServerInfo;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub storage: Storage,
    pub metrics: Arc<SelfMetrics>,
    pub write_limits: WriteLimits,
    pub engine: Engine,
    /// One permit per query allowed to run at once.
    pub query_slots: Arc<tokio::sync::Semaphore>,
    pub info: Arc<ServerInfo>,
}

/// Builds the router. `max_body_bytes` bounds every request body.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/api/v1/write", post(write::remote_write))
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route(
            "/api/v1/format_query",
            get(query::format_query).post(query::format_query),
        )
        .route(
            "/api/v1/parse_query",
            get(query::parse_query).post(query::parse_query),
        )
        .route("/api/v1/series", get(read::series).post(read::series))
        .route("/api/v1/labels", get(read::label_names).post(read::label_names))
        .route("/api/v1/label/{name}/values", get(read::label_values))
        .route("/api/v1/status/tsdb", get(read::tsdb_status))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/config", get(status::config))
        .route(
            "/api/v1/query_exemplars",
            get(status::query_exemplars).post(status::query_exemplars),
        )
        .route("/api/v1/admin/tsdb/compact", post(admin::compact))
        .route("/-/healthy", get(admin::healthy).head(admin::healthy))
        .route("/-/ready", get(admin::ready).head(admin::ready))
        .route("/metrics", get(admin::metrics))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
        .merge(crate::system::routes())
}
