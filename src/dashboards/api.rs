//! `/api/v1/dashboards`: list, get, save, delete and Grafana import, in the
//! Prometheus API envelope (`{"status":"success","data":...}` or
//! `{"status":"error","errorType":...,"error":...}`).

use super::grafana;
use super::ml;
use super::model::Dashboard;
use super::store::{DashboardStore, Meta, StoreError};
use crate::storage::{Matcher, Queryable, Storage};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Clone)]
pub struct DashboardsState {
    pub store: DashboardStore,
    pub storage: Storage,
}

/// The dashboards routes, state applied.
pub fn router(state: DashboardsState) -> Router {
    Router::new()
        .route("/api/v1/dashboards", get(list).post(create))
        .route("/api/v1/dashboards/import", post(import))
        .route("/api/v1/dashboards/{uid}", get(fetch).put(replace).delete(remove))
        .with_state(state)
}

struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "errorType": self.1, "error": self.2});
        (self.0, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Provisioned { .. } | StoreError::VersionMismatch { .. } => StatusCode::CONFLICT,
            StoreError::Database(_) | StoreError::Storage(_) | StoreError::Corrupt(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let kind = if status.is_server_error() {
            "internal"
        } else {
            "bad_data"
        };
        ApiError(status, kind, e.to_string())
    }
}

fn bad_request(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "bad_data", message)
}

fn success(data: Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

#[derive(Deserialize, Default)]
struct SaveParams {
    #[serde(default)]
    overwrite: bool,
}

/// Models that have sent predictions, for their generated dashboards.
fn models(storage: &Storage) -> Vec<String> {
    let matchers = [Matcher::equal("__name__", "predictions_total")];
    storage
        .label_values("model", &matchers, i64::MIN, i64::MAX)
        .unwrap_or_default()
}

async fn list(State(state): State<DashboardsState>) -> Result<Response, ApiError> {
    let stored = state.store.list()?;
    let mut items: Vec<Value> = stored
        .iter()
        .map(|s| summary(&s.dashboard, &s.meta, false))
        .collect();
    for model in models(&state.storage) {
        let uid = ml::uid_for(&model);
        if stored.iter().all(|s| s.dashboard.uid != uid) {
            let generated = ml::dashboard_for(&model).map_err(|e| internal(&e))?;
            items.push(summary(&generated, &Meta::default(), true));
        }
    }
    items.sort_by(|a, b| a["title"].as_str().cmp(&b["title"].as_str()));
    Ok(success(Value::Array(items)))
}

fn summary(d: &Dashboard, meta: &Meta, generated: bool) -> Value {
    json!({"uid": d.uid, "title": d.title, "tags": d.tags, "version": d.version, "panels": d.panels.len(),
        "provisioned": meta.provisioned, "generated": generated, "updatedAt": meta.updated_at})
}

fn internal(e: &dyn std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

async fn fetch(State(state): State<DashboardsState>, Path(uid): Path<String>) -> Result<Response, ApiError> {
    if let Some(stored) = state.store.get(&uid)? {
        return Ok(success(
            json!({"dashboard": stored.dashboard, "meta": stored.meta}),
        ));
    }
    let model = models(&state.storage).into_iter().find(|m| ml::uid_for(m) == uid);
    match model {
        Some(model) => {
            let dashboard = ml::dashboard_for(&model).map_err(|e| internal(&e))?;
            Ok(success(
                json!({"dashboard": dashboard, "meta": {"generated": true, "model": model}}),
            ))
        }
        None => Err(StoreError::NotFound(uid).into()),
    }
}

/// `POST /api/v1/dashboards`: the dashboard, or `{"dashboard": ..., "overwrite": bool}`.
async fn create(State(state): State<DashboardsState>, body: Bytes) -> Result<Response, ApiError> {
    let mut value = parse_body(&body)?;
    let overwrite = value.get("overwrite").and_then(Value::as_bool).unwrap_or(false);
    if value.get("dashboard").is_some_and(Value::is_object) {
        value = value["dashboard"].take();
    }
    let mut dashboard = to_dashboard(value)?;
    if dashboard.uid.is_empty() {
        dashboard.uid = super::model::uid_from_title(&dashboard.title);
    }
    saved(state.store.save(dashboard, overwrite)?, &[])
}

async fn replace(
    State(state): State<DashboardsState>,
    Path(uid): Path<String>,
    Query(params): Query<SaveParams>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut dashboard = to_dashboard(parse_body(&body)?)?;
    dashboard.uid = uid;
    saved(state.store.save(dashboard, params.overwrite)?, &[])
}

async fn remove(State(state): State<DashboardsState>, Path(uid): Path<String>) -> Result<Response, ApiError> {
    state.store.delete(&uid)?;
    Ok(success(json!({"uid": uid})))
}

/// `POST /api/v1/dashboards/import[?overwrite=true]`: Grafana dashboard JSON.
async fn import(
    State(state): State<DashboardsState>,
    Query(params): Query<SaveParams>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let imported = grafana::import(parse_body(&body)?).map_err(bad_request)?;
    let mut dashboard = imported.dashboard;
    if let Some(existing) = state.store.get(&dashboard.uid)? {
        if !params.overwrite {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "bad_data",
                format!(
                    "a dashboard with uid {:?} exists; import with overwrite=true to replace it",
                    dashboard.uid
                ),
            ));
        }
        dashboard.version = existing.dashboard.version;
    }
    saved(state.store.save(dashboard, params.overwrite)?, &imported.warnings)
}

fn saved(dashboard: Dashboard, warnings: &[String]) -> Result<Response, ApiError> {
    Ok(success(
        json!({"uid": dashboard.uid, "version": dashboard.version,
        "url": format!("/#/dashboards/{}", dashboard.uid), "warnings": warnings}),
    ))
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("request body is not JSON: {e}")))
}

fn to_dashboard(value: Value) -> Result<Dashboard, ApiError> {
    serde_json::from_value(value).map_err(|e| bad_request(format!("not a dashboard: {e}")))
}
