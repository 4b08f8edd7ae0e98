//! Metadata reads: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values` and `/api/v1/status/tsdb`. Translates HTTP
//! parameters into `Queryable` calls and results into Prometheus's JSON.

use super::params::{parse_selector, Params};
use super::response::{success, ApiError};
use super::AppState;
use crate::storage::labels::is_valid_label_name;
use crate::storage::{Labels, Matcher, Queryable};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::BTreeSet;

/// Time range and matcher sets common to the three endpoints.
struct ReadRequest {
    matcher_sets: Vec<Vec<Matcher>>,
    mint: i64,
    maxt: i64,
    limit: Option<usize>,
}

fn read_request(query: Option<String>, body: &[u8], require_match: bool) -> Result<ReadRequest, ApiError> {
    let params = Params::parse(query.as_deref(), body);
    let mut matcher_sets = Vec::new();
    for selector in params.all("match[]") {
        matcher_sets.extend(parse_selector(selector).map_err(ApiError::bad_data)?);
    }
    if require_match && matcher_sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let mint = params.time_or("start", i64::MIN).map_err(ApiError::bad_data)?;
    let maxt = params.time_or("end", i64::MAX).map_err(ApiError::bad_data)?;
    if maxt < mint {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let limit = params.limit().map_err(ApiError::bad_data)?;
    Ok(ReadRequest {
        matcher_sets,
        mint,
        maxt,
        limit,
    })
}

/// Applies `limit` the way Prometheus does: truncate and warn.
fn truncate<T>(items: &mut Vec<T>, limit: Option<usize>) -> Vec<String> {
    match limit {
        Some(n) if items.len() > n => {
            items.truncate(n);
            vec!["results truncated due to limit".to_string()]
        }
        _ => Vec::new(),
    }
}

pub async fn series(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = read_request(q, &body, true)?;
    let storage = state.storage.clone();
    // Off the async threads: a broad selector can touch every series.
    tokio::task::spawn_blocking(move || {
        let mut out: Vec<Labels> = Vec::new();
        for set in &req.matcher_sets {
            let found = storage
                .series(set, req.mint, req.maxt)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            out.extend(found);
        }
        // Each set's answer is sorted already; only several sets need a merge.
        if req.matcher_sets.len() > 1 {
            out.sort();
            out.dedup();
        }
        let warnings = truncate(&mut out, req.limit);
        Ok(series_response(&out, warnings))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}

/// Writes the series list straight into the JSON body (no per-series maps).
fn series_response(series: &[Labels], warnings: Vec<String>) -> Response {
    let mut body = String::with_capacity(32 + series.len() * 96);
    body.push_str("{\"status\":\"success\",\"data\":");
    super::query::write_list(&mut body, series, super::query::write_labels);
    if !warnings.is_empty() {
        body.push_str(",\"warnings\":");
        body.push_str(&json!(warnings).to_string());
    }
    body.push('}');
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub async fn label_names(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = read_request(q, &body, false)?;
    let sets = if req.matcher_sets.is_empty() {
        vec![Vec::new()]
    } else {
        req.matcher_sets
    };
    let mut names = BTreeSet::new();
    for set in &sets {
        let found = state
            .storage
            .label_names(set, req.mint, req.maxt)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        names.extend(found);
    }
    let mut out: Vec<String> = names.into_iter().collect();
    let warnings = truncate(&mut out, req.limit);
    Ok(success(out, warnings))
}

pub async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if !is_valid_label_name(&name) {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let req = read_request(q, &[], false)?;
    let sets = if req.matcher_sets.is_empty() {
        vec![Vec::new()]
    } else {
        req.matcher_sets
    };
    let mut values = BTreeSet::new();
    for set in &sets {
        let found = state
            .storage
            .label_values(&name, set, req.mint, req.maxt)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        values.extend(found);
    }
    let mut out: Vec<String> = values.into_iter().collect();
    let warnings = truncate(&mut out, req.limit);
    Ok(success(out, warnings))
}

pub async fn tsdb_status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let storage = state.storage.clone();
    let status = tokio::task::spawn_blocking(move || storage.tsdb_status(10))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let pairs = |v: &[(String, u64)]| {
        v.iter()
            .map(|(n, c)| json!({"name": n, "value": c}))
            .collect::<Vec<_>>()
    };
    Ok(success(
        json!({
            "headStats": {
                "numSeries": status.num_series,
                "numLabelPairs": status.num_label_pairs,
                "chunkCount": status.chunks,
                "minTime": status.min_time,
                "maxTime": status.max_time,
            },
            "seriesCountByMetricName": pairs(&status.series_by_metric),
            "labelValueCountByLabelName": pairs(&status.values_by_label),
            "memoryInBytesByLabelName": pairs(&status.memory_by_label),
            "seriesCountByLabelValuePair": pairs(&status.series_by_pair),
            "storage": {
                "samples": status.samples,
                "bytesOnDisk": status.bytes_on_disk,
                "bytesPerSample": status.bytes_per_sample(),
                "partitions": status.partitions,
            },
        }),
        Vec::new(),
    ))
}
