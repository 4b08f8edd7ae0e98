//! `/api/v1/targets`, `/api/v1/targets/metadata` and `/api/v1/metadata`, in
//! Prometheus's shape. Handlers only read the scrape manager's state.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::SecondsFormat;
use serde_json::{json, Map, Value};

use super::scrape_loop::ActiveTarget;
use super::ScrapeManager;
use crate::api::parse_selector;
use crate::api::response::{success, ApiError};
use crate::storage::{Labels, Matcher};

/// Go's zero `time.Time`, which Prometheus shows for a target never scraped.
const NEVER: &str = "0001-01-01T00:00:00Z";

/// The routes, with the manager as their state.
pub fn router(manager: Arc<ScrapeManager>) -> Router {
    Router::new()
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/targets/metadata", get(target_metadata))
        .route("/api/v1/metadata", get(metadata))
        .with_state(manager)
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `limit`-style parameters: absent or negative is no limit.
fn limit_param(pairs: &[(String, String)], key: &str) -> Result<Option<usize>, ApiError> {
    match param(pairs, key) {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n < 0 => Ok(None),
            Ok(n) => Ok(Some(n as usize)),
            Err(_) => Err(ApiError::bad_data(format!(
                "invalid parameter {key:?}: {text:?} is not a number"
            ))),
        },
    }
}

fn labels_json(labels: &Labels) -> Value {
    let map: Map<String, Value> = labels.iter().map(|l| (l.name.clone(), json!(l.value))).collect();
    Value::Object(map)
}

async fn targets(State(manager): State<Arc<ScrapeManager>>, RawQuery(query): RawQuery) -> Response {
    let pairs = query_pairs(query.as_deref());
    let state = param(&pairs, "state").unwrap_or_default().to_ascii_lowercase();
    let pool_filter = param(&pairs, "scrapePool").filter(|p| !p.is_empty());
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let show_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let (active, dropped) = manager.with_pools(|pools| {
        let chosen = pools
            .iter()
            .filter(|(name, _)| pool_filter.is_none_or(|p| p == name.as_str()));
        let mut active = Vec::new();
        let mut dropped = Vec::new();
        for (_, pool) in chosen {
            if show_active {
                active.extend(pool.active_targets().iter().map(|t| active_json(t)));
            }
            if show_dropped {
                let labels = pool.dropped_targets();
                dropped.extend(
                    labels
                        .iter()
                        .map(|l| json!({ "discoveredLabels": labels_json(l) })),
                );
            }
        }
        (active, dropped)
    });
    success(
        json!({ "activeTargets": active, "droppedTargets": dropped }),
        Vec::new(),
    )
}

fn active_json(active: &ActiveTarget) -> Value {
    let health = active.health.lock().clone();
    let target = &active.target;
    let last_scrape = health.last_scrape.map_or_else(
        || NEVER.to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    );
    json!({
        "discoveredLabels": labels_json(&target.discovered),
        "labels": labels_json(&target.public_labels()),
        "scrapePool": active.scrape_pool,
        "scrapeUrl": target.url,
        "globalUrl": target.url,
        "lastError": health.last_error,
        "lastScrape": last_scrape,
        "lastScrapeDuration": health.last_duration.as_secs_f64(),
        "health": health.health.as_str(),
        "scrapeInterval": target.labels.get("__scrape_interval__"),
        "scrapeTimeout": target.labels.get("__scrape_timeout__"),
    })
}

/// Targets whose labels match any of the selector's matcher sets.
fn target_matches(labels: &Labels, selector: &[Vec<Matcher>]) -> bool {
    selector.is_empty()
        || selector
            .iter()
            .any(|set| set.iter().all(|m| m.matches(labels.get(&m.name))))
}

async fn target_metadata(
    State(manager): State<Arc<ScrapeManager>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let limit = limit_param(&pairs, "limit")?;
    let metric = param(&pairs, "metric").filter(|m| !m.is_empty());
    let selector = match param(&pairs, "match_target").filter(|m| !m.is_empty()) {
        Some(text) => parse_selector(text).map_err(ApiError::bad_data)?,
        None => Vec::new(),
    };
    let mut rows = Vec::new();
    for active in manager.with_pools(|pools| {
        pools
            .values()
            .flat_map(|p| p.active_targets())
            .collect::<Vec<_>>()
    }) {
        let labels = active.target.public_labels();
        if !target_matches(&labels, &selector) {
            continue;
        }
        let metadata = active.health.lock().metadata.clone();
        for (name, meta) in metadata
            .iter()
            .filter(|(name, _)| metric.is_none_or(|m| m == name.as_str()))
        {
            if limit.is_some_and(|limit| rows.len() >= limit) {
                return Ok(success(rows, Vec::new()));
            }
            let mut row = json!({ "target": labels_json(&labels), "type": meta.kind, "help": meta.help, "unit": meta.unit });
            if metric.is_none() {
                row["metric"] = json!(name);
            }
            rows.push(row);
        }
    }
    Ok(success(rows, Vec::new()))
}

async fn metadata(
    State(manager): State<Arc<ScrapeManager>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let limit = limit_param(&pairs, "limit")?;
    let per_metric = limit_param(&pairs, "limit_per_metric")?;
    let metric = param(&pairs, "metric").filter(|m| !m.is_empty());
    let mut merged: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let targets = manager.with_pools(|pools| {
        pools
            .values()
            .flat_map(|p| p.active_targets())
            .collect::<Vec<_>>()
    });
    for active in targets {
        let metadata = active.health.lock().metadata.clone();
        for (name, meta) in metadata
            .iter()
            .filter(|(name, _)| metric.is_none_or(|m| m == name.as_str()))
        {
            let entry = json!({ "type": meta.kind, "help": meta.help, "unit": meta.unit });
            let list = merged.entry(name.clone()).or_default();
            if !list.contains(&entry) {
                list.push(entry);
            }
        }
    }
    let mut out = Map::new();
    for (name, mut list) in merged {
        if limit.is_some_and(|limit| out.len() >= limit) {
            break;
        }
        if let Some(per_metric) = per_metric {
            list.truncate(per_metric);
        }
        out.insert(name, Value::Array(list));
    }
    Ok(success(Value::Object(out), Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_target_labels() {
        let labels = Labels::from_pairs([("job", "a"), ("instance", "h:1")]);
        assert!(target_matches(&labels, &[]));
        assert!(target_matches(&labels, &parse_selector("{job=\"a\"}").unwrap()));
        assert!(!target_matches(
            &labels,
            &parse_selector("{job=~\"b|c\"}").unwrap()
        ));
    }

    #[test]
    fn limits_parse_like_prometheus() {
        let pairs = query_pairs(Some("limit=2&limit_per_metric=-1&bad=x"));
        assert_eq!(limit_param(&pairs, "limit").unwrap(), Some(2));
        assert_eq!(limit_param(&pairs, "limit_per_metric").unwrap(), None);
        assert!(limit_param(&pairs, "bad").is_err());
    }
}
