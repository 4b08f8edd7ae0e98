//! `/api/v1/incidents`: list (filter by `state`, page with `limit` and
//! `offset`; the total before paging is in the `X-Total-Count` header), one
//! incident, acknowledge and resolve. Prometheus's envelope: `{"status":
//! "success","data":...}`, errors as `{"status":"error","errorType","error"}`.
//! Only translation between HTTP and [`Incidents`] lives here.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxumState};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Incidents, Refusal, State};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The incident routes with their state applied, for the server to merge.
pub fn routes(incidents: Incidents) -> Router {
    Router::new()
        .route("/api/v1/incidents", get(list))
        .route("/api/v1/incidents/{id}", get(one))
        .route("/api/v1/incidents/{id}/acknowledge", post(acknowledge))
        .route("/api/v1/incidents/{id}/resolve", post(resolve))
        .with_state(incidents)
}

struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "errorType": self.1, "error": self.2});
        (self.0, Json(body)).into_response()
    }
}

fn bad_data(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "bad_data", message)
}

fn refused(id: u64, refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::NotFound => ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("incident {id} not found"),
        ),
        Refusal::Conflict(message) => ApiError(StatusCode::CONFLICT, "conflict", message),
    }
}

fn success(data: impl serde::Serialize) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

struct ListQuery {
    states: Vec<State>,
    limit: usize,
    offset: usize,
}

fn parse_list_query(raw: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery {
        states: Vec::new(),
        limit: DEFAULT_LIMIT,
        offset: 0,
    };
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "state" => {
                for name in value.split(',').filter(|s| !s.is_empty()) {
                    let state = State::parse(name).ok_or_else(|| {
                        bad_data(format!(
                            "invalid parameter \"state\": {name:?} is not one of open, acknowledged, resolved"
                        ))
                    })?;
                    query.states.push(state);
                }
            }
            "limit" => query.limit = count_param("limit", &value)?.min(MAX_LIMIT),
            "offset" => query.offset = count_param("offset", &value)?,
            _ => {}
        }
    }
    Ok(query)
}

fn count_param(name: &str, value: &str) -> Result<usize, ApiError> {
    value.parse().map_err(|_| {
        bad_data(format!(
            "invalid parameter {name:?}: {value:?} is not a non-negative integer"
        ))
    })
}

fn parse_id(text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| bad_data(format!("invalid incident id {text:?}: expected a number")))
}

async fn list(
    AxumState(incidents): AxumState<Incidents>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = parse_list_query(raw.as_deref())?;
    let (page, total) = incidents.list(&query.states, query.offset, query.limit);
    let mut response = success(page);
    response
        .headers_mut()
        .insert("X-Total-Count", HeaderValue::from(total));
    Ok(response)
}

async fn one(
    AxumState(incidents): AxumState<Incidents>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let incident = incidents.get(id).ok_or_else(|| refused(id, Refusal::NotFound))?;
    Ok(success(incident))
}

/// Optional body of acknowledge and resolve.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeRequest {
    #[serde(default)]
    by: String,
    #[serde(default)]
    comment: String,
}

fn parse_change_request(body: &[u8]) -> Result<ChangeRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ChangeRequest::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        bad_data(format!(
            "invalid body at line {} column {}: {e}; expected {{\"by\": \"...\", \"comment\": \"...\"}}",
            e.line(),
            e.column()
        ))
    })
}

async fn acknowledge(
    AxumState(incidents): AxumState<Incidents>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let request = parse_change_request(&body)?;
    let incident = incidents
        .acknowledge(id, &request.by, &request.comment)
        .map_err(|r| refused(id, r))?;
    Ok(success(incident))
}

async fn resolve(
    AxumState(incidents): AxumState<Incidents>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let request = parse_change_request(&body)?;
    let incident = incidents
        .resolve(id, &request.by, &request.comment)
        .map_err(|r| refused(id, r))?;
    Ok(success(incident))
}
