//! `/api/v1/status/*` and `/api/v1/query_exemplars`:
//! what Grafana, promtool and other Prometheus clients ask a server about itself.

use super::params::Params;
use super::response::{success, ApiError};
use super::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use parking_lot::RwLock;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// What the server was started with, for the status endpoints.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub start_time: chrono::DateTime<chrono::Utc>,
    /// The running configuration as YAML (the file's text, or the built-in
    /// defaults); a successful reload replaces it.
    pub config_yaml: Arc<RwLock<String>>,
    /// Command-line flags and their effective values.
    pub flags: Vec<(String, String)>,
    pub retention: String,
}

pub async fn buildinfo() -> Response {
    success(
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "revision": option_env!("SIGHTLINE_GIT_REVISION").unwrap_or("unknown"),
            "branch": option_env!("SIGHTLINE_GIT_BRANCH").unwrap_or("unknown"),
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }),
        Vec::new(),
    )
}

pub async fn runtimeinfo(State(state): State<AppState>) -> Response {
    let info = &state.info;
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let counters = state.storage.counters();
    success(
        json!({
            "startTime": info.start_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "CWD": cwd,
            "reloadConfigSuccess": state.metrics.config_last_reload_successful.get() == 1,
            "lastConfigTime": last_config_time(&state).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "corruptionCount": counters.corrupt_chunks.load(std::sync::atomic::Ordering::Relaxed),
            "goroutineCount": 0,
            "GOMAXPROCS": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "GOMEMLIMIT": 0,
            "GOGC": "",
            "GODEBUG": "",
            "storageRetention": info.retention,
        }),
        Vec::new(),
    )
}

/// When the configuration was last loaded successfully (the start, until a reload succeeds).
fn last_config_time(state: &AppState) -> chrono::DateTime<chrono::Utc> {
    let seconds = state.metrics.config_last_reload_success_timestamp.get() as i64;
    chrono::DateTime::from_timestamp(seconds, 0)
        .filter(|_| seconds > 0)
        .unwrap_or(state.info.start_time)
}

pub async fn flags(State(state): State<AppState>) -> Response {
    let map: Map<String, Value> = state
        .info
        .flags
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    success(Value::Object(map), Vec::new())
}

pub async fn config(State(state): State<AppState>) -> Response {
    let yaml = crate::config::redact_secrets(&state.info.config_yaml.read());
    success(json!({ "yaml": yaml }), Vec::new())
}

/// Exemplars are not stored (remote-write exemplars are skipped), so every
/// valid request gets an empty list, as Prometheus gives with exemplar
/// storage disabled.
pub async fn query_exemplars(RawQuery(q): RawQuery, body: Bytes) -> Result<Response, ApiError> {
    let params = Params::parse(q.as_deref(), &body);
    match params.get("query") {
        Some(query) if !query.is_empty() => {
            promql_parser::parser::parse(query)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
        }
        _ => {
            return Err(ApiError::bad_data(
                "invalid parameter \"query\": query must not be empty",
            ))
        }
    }
    Ok(success(json!([]), Vec::new()))
}
