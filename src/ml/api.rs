//! HTTP routes of the events API: ingest, models, prediction log, OpenAPI.
//!
//! Only translation between HTTP and [`MlMonitor`]: body limits and
//! decoding, query parameters, the `{"status": ...}` envelope Prometheus
//! clients expect, and status codes (400 unreadable, 404 unknown model,
//! 413 too large, 415 encoding, 500 storage).

use crate::ml::body::{self, BodyError};
use crate::ml::drift_job::ReferenceFormat;
use crate::ml::event::{parse_item, Feedback, Prediction, MALFORMED};
use crate::ml::ingest::Items;
use crate::ml::log::{LogItem, LogQuery};
use crate::ml::monitor::{MlMonitor, ReferenceError};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

/// The OpenAPI 3.1 description of these routes.
const OPENAPI: &str = include_str!("openapi.json");

/// Bodies up to this size (not gzip) are parsed on the request's own task
/// (a few single events: tens of microseconds of work); larger ones on a
/// blocking thread.
const INLINE_BODY_BYTES: usize = 16 * 1024;

/// Most items one search returns.
const MAX_PAGE: usize = 10_000;
const DEFAULT_PAGE: usize = 100;

#[derive(Clone)]
struct MlState {
    monitor: MlMonitor,
    max_body_bytes: usize,
}

/// The events API with its state applied. `max_body_bytes` bounds a body
/// before and after gzip.
pub fn router(monitor: MlMonitor, max_body_bytes: usize) -> Router {
    let state = MlState {
        monitor,
        max_body_bytes,
    };
    Router::new()
        .route(
            "/api/v1/predictions",
            post(post_predictions).get(search_predictions),
        )
        .route("/api/v1/feedback", post(post_feedback))
        .route("/api/v1/models", get(list_models))
        .route("/api/v1/models/{model}", get(get_model))
        .route("/api/v1/models/{model}/reference", post(post_reference))
        .route("/api/v1/models/{model}/drift", get(get_drift))
        .route("/api/v1/models/{model}/drift/run", post(run_drift))
        .route("/api/v1/openapi.json", get(openapi))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"status": "error", "errorType": kind, "error": message.into()});
    (status, Json(body)).into_response()
}

fn success(data: serde_json::Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

async fn post_predictions(State(state): State<MlState>, headers: HeaderMap, body: Body) -> Response {
    ingest::<Prediction>(state, headers, body, Items::Predictions).await
}

async fn post_feedback(State(state): State<MlState>, headers: HeaderMap, body: Body) -> Response {
    ingest::<Feedback>(state, headers, body, Items::Feedback).await
}

async fn ingest<T: DeserializeOwned + Send + 'static>(
    state: MlState,
    headers: HeaderMap,
    body: Body,
    items_of: fn(Vec<Result<T, String>>) -> Items,
) -> Response {
    let raw = match axum::body::to_bytes(body, state.max_body_bytes).await {
        Ok(raw) => raw,
        Err(_) => {
            let message = format!("request body larger than {} bytes", state.max_body_bytes);
            return error(StatusCode::PAYLOAD_TOO_LARGE, "bad_data", message);
        }
    };
    let encoding = header_text(&headers, header::CONTENT_ENCODING);
    let ndjson = header_text(&headers, header::CONTENT_TYPE).is_some_and(|t| is_ndjson(&t));
    let limit = state.max_body_bytes;
    // A small body is parsed here: handing it to a blocking thread costs
    // more than parsing it.
    let inline = raw.len() <= INLINE_BODY_BYTES && encoding.is_none();
    let parse = move || read_items::<T>(&raw, encoding.as_deref(), ndjson, limit);
    let parsed = if inline {
        Ok(parse())
    } else {
        tokio::task::spawn_blocking(parse).await
    };
    let items = match parsed {
        Ok(Ok(items)) => items,
        Ok(Err(e @ BodyError::Unreadable(_))) => {
            return error(StatusCode::BAD_REQUEST, "bad_data", e.to_string())
        }
        Ok(Err(e @ BodyError::TooLarge(_))) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "bad_data", e.to_string())
        }
        Ok(Err(e @ BodyError::UnsupportedEncoding(_))) => {
            return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_data", e.to_string())
        }
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    match state.monitor.submit(items_of(items)).await {
        Ok(answer) => success(json!(answer)),
        Err(storage) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", storage),
    }
}

/// A body's items; a body with no readable item is unreadable as a whole.
fn read_items<T: DeserializeOwned>(
    raw: &[u8],
    encoding: Option<&str>,
    ndjson: bool,
    limit: usize,
) -> Result<Vec<Result<T, String>>, BodyError> {
    let decoded = body::decode(raw, encoding, limit)?;
    let text = std::str::from_utf8(&decoded).map_err(|e| BodyError::Unreadable(format!("not UTF-8: {e}")))?;
    let items = parse_items::<T>(text, ndjson)?;
    if !items.is_empty()
        && items
            .iter()
            .all(|i| i.as_ref().is_err_and(|e| e.starts_with(MALFORMED)))
    {
        let first = items.into_iter().find_map(Result::err).unwrap_or_default();
        return Err(BodyError::Unreadable(first));
    }
    Ok(items)
}

/// The items of a body. A JSON array is first read whole, which skips
/// finding each element's end; only when that fails is it split, so each bad
/// element gets its own reason.
fn parse_items<T: DeserializeOwned>(text: &str, ndjson: bool) -> Result<Vec<Result<T, String>>, BodyError> {
    if !ndjson && text.trim_start().starts_with('[') {
        if let Ok(all) = serde_json::from_str::<Vec<T>>(text) {
            return Ok(all.into_iter().map(Ok).collect());
        }
    }
    Ok(body::split_items(text, ndjson)?
        .into_iter()
        .map(parse_item::<T>)
        .collect())
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
}

fn is_ndjson(content_type: &str) -> bool {
    ["ndjson", "jsonl", "json-seq", "jsonlines"]
        .iter()
        .any(|t| content_type.contains(t))
}

async fn list_models(State(state): State<MlState>) -> Response {
    success(json!(state.monitor.describe_all()))
}

async fn get_model(State(state): State<MlState>, Path(model): Path<String>) -> Response {
    match state.monitor.describe(&model) {
        Some(view) => success(view),
        None => error(StatusCode::NOT_FOUND, "not_found", format!("no model {model:?}")),
    }
}

fn reference_error(model: &str, e: ReferenceError) -> Response {
    match e {
        ReferenceError::UnknownModel => {
            error(StatusCode::NOT_FOUND, "not_found", format!("no model {model:?}"))
        }
        ReferenceError::NoReference => error(
            StatusCode::CONFLICT,
            "bad_data",
            format!("model {model:?} has no drift reference: POST one to /api/v1/models/{model}/reference"),
        ),
        ReferenceError::Invalid(message) => error(StatusCode::BAD_REQUEST, "bad_data", message),
        ReferenceError::Storage(message) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
    }
}

/// `POST /api/v1/models/{model}/reference`: a CSV (`text/csv`) or JSON/NDJSON
/// rows in the body, or `?start=&end=` to take logged predictions.
async fn post_reference(
    State(state): State<MlState>,
    Path(model): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Response {
    let raw_body = match axum::body::to_bytes(body, state.max_body_bytes).await {
        Ok(raw) => raw,
        Err(_) => {
            let message = format!("request body larger than {} bytes", state.max_body_bytes);
            return error(StatusCode::PAYLOAD_TOO_LARGE, "bad_data", message);
        }
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let window = match time_window(&pairs) {
        Ok(window) => window,
        Err(message) => return error(StatusCode::BAD_REQUEST, "bad_data", message),
    };
    let encoding = header_text(&headers, header::CONTENT_ENCODING);
    let content_type = header_text(&headers, header::CONTENT_TYPE).unwrap_or_default();
    let format = if content_type.contains("csv") {
        ReferenceFormat::Csv
    } else {
        ReferenceFormat::Json
    };
    let monitor = state.monitor.clone();
    let limit = state.max_body_bytes;
    let name = model.clone();
    let work = move || {
        let now = crate::storage::now_ms();
        if let Some((start, end)) = window {
            return monitor.set_reference_from_log(&name, start, end, now);
        }
        let decoded = body::decode(&raw_body, encoding.as_deref(), limit)
            .map_err(|e| ReferenceError::Invalid(e.to_string()))?;
        monitor.set_reference(&name, format, &decoded, now)
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(summary)) => success(summary),
        Ok(Err(e)) => reference_error(&model, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

/// `start` and `end` together, or neither.
fn time_window(pairs: &[(String, String)]) -> Result<Option<(i64, i64)>, String> {
    let find = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| crate::api::parse_time(v))
    };
    match (find("start").transpose()?, find("end").transpose()?) {
        (Some(start), Some(end)) if start <= end => Ok(Some((start, end))),
        (None, None) => Ok(None),
        _ => Err("a reference from logged predictions needs start <= end".into()),
    }
}

async fn run_drift(State(state): State<MlState>, Path(model): Path<String>) -> Response {
    let monitor = state.monitor.clone();
    let name = model.clone();
    match tokio::task::spawn_blocking(move || monitor.run_drift(&name, crate::storage::now_ms())).await {
        Ok(Ok(report)) => success(report),
        Ok(Err(e)) => reference_error(&model, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

/// `GET /api/v1/models/{model}/drift`: the newest report, JSON or `?format=html`.
async fn get_drift(
    State(state): State<MlState>,
    Path(model): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let html =
        form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).any(|(k, v)| k == "format" && v == "html");
    if !state.monitor.has_model(&model) {
        return error(StatusCode::NOT_FOUND, "not_found", format!("no model {model:?}"));
    }
    match state.monitor.latest_report(&model, html) {
        Ok(Some(page)) if html => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
        }
        Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
            Ok(report) => success(report),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("stored report unreadable: {e}"),
            ),
        },
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("model {model:?} has no drift report yet"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn search_predictions(
    State(state): State<MlState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let (query, ndjson) = match log_query(&pairs) {
        Ok(parsed) => parsed,
        Err(message) => return error(StatusCode::BAD_REQUEST, "bad_data", message),
    };
    let ndjson = ndjson
        || header_text(&headers, header::ACCEPT)
            .is_some_and(|a| is_ndjson(&a) && !a.contains("application/json"));
    let monitor = state.monitor.clone();
    let page = match tokio::task::spawn_blocking(move || monitor.search_log(query)).await {
        Ok(Ok(page)) => page,
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    let token = page.next_page_token.as_deref().map(hex);
    if ndjson {
        return ndjson_response(&page.items, token);
    }
    success(json!({"items": page.items, "next_page_token": token}))
}

fn ndjson_response(items: &[LogItem], token: Option<String>) -> Response {
    let mut body = Vec::new();
    for item in items {
        if serde_json::to_writer(&mut body, item).is_ok() {
            body.push(b'\n');
        }
    }
    let mut response = ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response();
    if let Some(token) = token.and_then(|t| t.parse().ok()) {
        response.headers_mut().insert("x-next-page-token", token);
    }
    response
}

/// Parses the search parameters; the bool is `format=ndjson`.
fn log_query(pairs: &[(String, String)]) -> Result<(LogQuery, bool), String> {
    let mut query = LogQuery {
        limit: DEFAULT_PAGE,
        ..LogQuery::default()
    };
    let mut ndjson = false;
    for (name, value) in pairs {
        match name.as_str() {
            "model" => query.model = Some(value.clone()),
            "model_version" | "version" => query.version = Some(value.clone()),
            "request_id" => query.request_id = Some(value.clone()),
            "start" => query.start_ms = Some(crate::api::parse_time(value)?),
            "end" => query.end_ms = Some(crate::api::parse_time(value)?),
            "segment" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| format!("segment {value:?} is not name=value"))?;
                query.segment.insert(k.to_string(), v.to_string());
            }
            "misclassified" => query.misclassified = Some(parse_bool(value)?),
            "min_confidence" => query.min_confidence = Some(parse_number(name, value)?),
            "max_confidence" => query.max_confidence = Some(parse_number(name, value)?),
            "limit" => query.limit = parse_limit(value)?,
            "next_page_token" | "page_token" => query.page_token = Some(unhex(value)?),
            "format" => ndjson = value == "ndjson",
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    Ok((query, ndjson))
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("misclassified must be true or false, not {value:?}")),
    }
}

fn parse_number(name: &str, value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{name} {value:?} is not a number"))
}

fn parse_limit(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(format!("limit must be between 1 and {MAX_PAGE}, not {value:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    let invalid = || format!("next_page_token {text:?} is not a token this server issued");
    if !text.len().is_multiple_of(2) {
        return Err(invalid());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(invalid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A batch's items as the whole-array reader gives them and one by
    /// one, in Debug form.
    fn both_readers<T: DeserializeOwned + std::fmt::Debug>(items: &[String]) -> (String, String) {
        let body = format!("[{}]", items.join(","));
        let whole = parse_items::<T>(&body, false).unwrap_or_else(|e| panic!("{e}"));
        let single: Vec<Result<T, String>> = items.iter().map(|i| parse_item::<T>(i)).collect();
        (format!("{whole:?}"), format!("{single:?}"))
    }

    #[test]
    fn a_batch_read_whole_and_read_item_by_item_agree() {
        let event = |features: &str| {
            format!(
                r#"{{"model":"m","model_version":"1","request_id":"r","prediction":"a","features":{{{features}}}}}"#
            )
        };
        let items = [
            event(r#""a\u0062":"x\ny","n":0.1,"z":-0"#),
            event(r#""big":123456789012345678901234567890,"tiny":5e-324,"max":1.7976931348623157e308"#),
            event(r#""sub":2.2250738585072011e-308,"e":1E+2,"b":true,"m":null"#),
            event("\"tab\":\"a\tb\""),
            event(r#""lone":"\ud800""#),
            event(r#""huge":1e400"#),
            event(r#""zero":01"#),
            event(r#""nan":NaN"#),
            event(r#""comma":1,"#),
            r#"{"model":"m","model":"n","model_version":"1","request_id":"r","prediction":"a","features":{}}"#
                .to_string(),
            r#"{"model":"m","model_version":"1","request_id":"r","prediction":"a","features":{},"extra":1}"#
                .to_string(),
        ];
        for item in &items {
            let (whole, single) = both_readers::<Prediction>(std::slice::from_ref(item));
            assert_eq!(whole, single, "{item}");
        }
        let feedback = [r#"{"model":"m","request_id":"r","ground_truth":"a"}"#.to_string()];
        let (whole, single) = both_readers::<Feedback>(&feedback);
        assert_eq!(whole, single);
    }

    proptest! {
        /// Numbers are read correctly rounded by both readers.
        #[test]
        fn both_readers_round_numbers_correctly(
            digits in "[1-9][0-9]{0,24}",
            point in 0usize..26,
            exponent in -330i32..310,
        ) {
            let (whole, fraction) = digits.split_at(point.min(digits.len()));
            let or_zero = |part: &str| if part.is_empty() { "0".to_string() } else { part.to_string() };
            let text = format!("{}.{}e{exponent}", or_zero(whole), or_zero(fraction));
            let exact: f64 = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            prop_assume!(exact.is_finite());
            let item = format!(
                r#"{{"model":"m","model_version":"1","request_id":"r","prediction":"a","features":{{"x":{text}}}}}"#
            );
            let expected = format!("Number({exact:?})");
            let (whole, single) = both_readers::<Prediction>(&[item]);
            prop_assert!(whole.contains(&expected), "{text}: {whole}");
            prop_assert!(single.contains(&expected), "{text}: {single}");
        }
    }

    #[test]
    fn search_parameters_parse_and_refuse_nonsense() {
        let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let (query, ndjson) = log_query(&pairs(&[
            ("model", "m"),
            ("segment", "tier=gold"),
            ("misclassified", "true"),
            ("start", "2024-01-01T00:00:00Z"),
            ("limit", "5"),
            ("format", "ndjson"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(ndjson);
        assert_eq!(query.limit, 5);
        assert_eq!(query.start_ms, Some(1_704_067_200_000));
        assert_eq!(query.segment.get("tier").map(String::as_str), Some("gold"));
        for bad in [
            ("limit", "0"),
            ("segment", "tier"),
            ("misclassified", "maybe"),
            ("next_page_token", "zz"),
            ("x", "1"),
        ] {
            assert!(log_query(&pairs(&[bad])).is_err(), "{bad:?}");
        }
        assert_eq!(unhex(&hex(&[0, 255, 16])), Ok(vec![0, 255, 16]));
    }

    #[test]
    fn openapi_document_is_json_naming_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap_or_default();
        assert_eq!(doc["openapi"], "3.1.0");
        for path in [
            "/api/v1/predictions",
            "/api/v1/feedback",
            "/api/v1/models",
            "/api/v1/models/{model}",
            "/api/v1/models/{model}/reference",
            "/api/v1/models/{model}/drift",
            "/api/v1/models/{model}/drift/run",
            "/api/v1/openapi.json",
        ] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
    }
}
