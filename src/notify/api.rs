//! Alertmanager's v2 HTTP API, in the JSON shapes of its OpenAPI spec, so
//! `amtool`, Grafana and Prometheus itself can talk to Sightline as to an
//! Alertmanager: `/api/v2/status`, `/receivers`, `/alerts` (GET, POST),
//! `/alerts/groups`, `/silences` (GET, POST) and `/silence/{id}` (GET, DELETE).
//!
//! Handlers only translate between HTTP and the notifier's parts.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::inhibit::inhibited_by;
use super::model::{fingerprint_text, go_time, LabelSet};
use super::silence::{Silence, SilenceError, SilenceMatcher, SilenceState};
use super::store::StoredAlert;
use super::{receive, Shared};
use crate::alerts::Alert;
use crate::config::alerting::parse_matchers;
use crate::storage::labels::is_valid_label_name;
use crate::storage::matcher::Matcher;

pub fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route("/api/v2/silence/{id}", get(get_silence).delete(delete_silence))
        .with_state(shared)
}

/// Alertmanager answers client errors with the message as a JSON string.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(Value::String(message.into()))).into_response()
}

/// go-swagger's shape for a body that fails the schema.
fn schema_error(message: String) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"code": 602, "message": message})),
    )
        .into_response()
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({
        "cluster": {"name": "", "peers": [], "status": "disabled"},
        "config": {"original": ""},
        "uptime": go_time(&shared.started),
        "versionInfo": {
            "branch": "", "buildDate": "", "buildUser": "", "goVersion": "",
            "revision": "", "version": env!("CARGO_PKG_VERSION"),
        },
    }))
    .into_response()
}

async fn receivers(State(shared): State<Arc<Shared>>) -> Response {
    let mut names: Vec<&String> = Vec::new();
    let runtime = shared.runtime();
    names.extend(runtime.receivers.keys());
    names.sort();
    let list: Vec<Value> = names.iter().map(|name| json!({"name": name})).collect();
    Json(list).into_response()
}

/// The query parameters the alert listings take.
struct AlertFilter {
    active: bool,
    silenced: bool,
    inhibited: bool,
    matchers: Vec<Matcher>,
    receiver: Option<regex::Regex>,
}

impl AlertFilter {
    /// Reads the query; errors are the message for a 400.
    fn parse(query: Option<&str>) -> Result<AlertFilter, String> {
        let mut filter = AlertFilter {
            active: true,
            silenced: true,
            inhibited: true,
            matchers: Vec::new(),
            receiver: None,
        };
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let flag = || parse_bool(&name, &value);
            match name.as_ref() {
                "active" => filter.active = flag()?,
                "silenced" => filter.silenced = flag()?,
                "inhibited" => filter.inhibited = flag()?,
                "unprocessed" => {
                    flag()?;
                }
                "filter" => filter.matchers.extend(parse_matchers(&value)?),
                "receiver" => {
                    let anchored = format!("^(?:{value})$");
                    let regex = regex::Regex::new(&anchored)
                        .map_err(|err| format!("failed to parse receiver param: {err}"))?;
                    filter.receiver = Some(regex);
                }
                _ => {}
            }
        }
        Ok(filter)
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    value
        .parse()
        .map_err(|_| format!("{name} in query must be of type boolean: {value:?}"))
}

fn matches_all(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
}

/// One alert as `gettableAlert`, or `None` when the filter leaves it out.
fn gettable_alert(
    shared: &Shared,
    stored: &StoredAlert,
    known: &[StoredAlert],
    filter: &AlertFilter,
    now: DateTime<Utc>,
) -> Option<Value> {
    let alert = &stored.alert;
    if alert.is_resolved_at(now) || !matches_all(&filter.matchers, &alert.labels) {
        return None;
    }
    let runtime = shared.runtime();
    let mut receivers: Vec<String> = runtime
        .route
        .as_ref()
        .map(|root| {
            root.matching(&alert.labels)
                .iter()
                .map(|r| r.options.receiver.clone())
                .collect()
        })
        .unwrap_or_default();
    receivers.dedup();
    if let Some(regex) = &filter.receiver {
        if !receivers.iter().any(|r| regex.is_match(r)) {
            return None;
        }
    }
    let silenced_by = shared.silences.silenced_by(&alert.labels, now);
    let inhibited_by = inhibited_by(&runtime.inhibit_rules, known, &alert.labels, now);
    let suppressed = !silenced_by.is_empty() || !inhibited_by.is_empty();
    let excluded = (!filter.active && !suppressed)
        || (!filter.silenced && !silenced_by.is_empty())
        || (!filter.inhibited && !inhibited_by.is_empty());
    if excluded {
        return None;
    }
    Some(json!({
        "annotations": alert.annotations,
        "endsAt": go_time(&alert.ends_at),
        "fingerprint": fingerprint_text(&alert.labels),
        "receivers": receivers.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
        "startsAt": go_time(&alert.starts_at),
        "status": {
            "inhibitedBy": inhibited_by,
            "silencedBy": silenced_by,
            "state": if suppressed { "suppressed" } else { "active" },
        },
        "updatedAt": go_time(&stored.updated_at),
        "generatorURL": alert.generator_url,
        "labels": alert.labels,
    }))
}

async fn get_alerts(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let filter = match AlertFilter::parse(query.as_deref()) {
        Ok(filter) => filter,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let now = Utc::now();
    let mut known = shared.store.all();
    known.sort_by_key(|s| fingerprint_text(&s.alert.labels));
    let list: Vec<Value> = known
        .iter()
        .filter_map(|stored| gettable_alert(&shared, stored, &known, &filter, now))
        .collect();
    Json(list).into_response()
}

async fn get_groups(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let filter = match AlertFilter::parse(query.as_deref()) {
        Ok(filter) => filter,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let now = Utc::now();
    let known = shared.store.all();
    let by_fingerprint: BTreeMap<String, &StoredAlert> = known
        .iter()
        .map(|stored| (fingerprint_text(&stored.alert.labels), stored))
        .collect();
    let mut groups = shared.groups.all();
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    let list: Vec<Value> = groups
        .iter()
        .filter_map(|group| {
            let alerts: Vec<Value> = group
                .snapshot()
                .iter()
                .filter_map(|alert| by_fingerprint.get(&fingerprint_text(&alert.labels)))
                .filter_map(|stored| gettable_alert(&shared, stored, &known, &filter, now))
                .collect();
            (!alerts.is_empty()).then(|| {
                json!({"labels": group.labels, "receiver": {"name": group.route.receiver}, "alerts": alerts})
            })
        })
        .collect();
    Json(list).into_response()
}

/// `postableAlert`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

/// A Go time; the zero time and an absent value are both "not set".
fn parse_time(text: Option<&str>, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let time = DateTime::parse_from_rfc3339(text)
        .map_err(|err| format!("{field} {text:?} is not an RFC 3339 time: {err}"))?
        .with_timezone(&Utc);
    Ok((time != super::model::go_zero_time()).then_some(time))
}

/// Alertmanager's `postAlertsHandler`: fill in times, validate each alert,
/// take the valid ones and report the rest.
async fn post_alerts(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let posted: Vec<PostableAlert> = match serde_json::from_slice(&body) {
        Ok(posted) => posted,
        Err(err) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("parsing alerts body failed: {err}"),
            )
        }
    };
    let now = Utc::now();
    let mut valid = Vec::new();
    let mut problems = Vec::new();
    for (index, alert) in posted.into_iter().enumerate() {
        match accept_alert(alert, now) {
            Ok(accepted) => valid.push(accepted),
            Err(err) => problems.push(format!("alert {index}: {err}")),
        }
    }
    receive(&shared, valid);
    if problems.is_empty() {
        StatusCode::OK.into_response()
    } else {
        error(StatusCode::BAD_REQUEST, problems.join("; "))
    }
}

fn accept_alert(posted: PostableAlert, now: DateTime<Utc>) -> Result<(Alert, bool), String> {
    let starts_at = parse_time(posted.starts_at.as_deref(), "startsAt")?;
    let ends_at = parse_time(posted.ends_at.as_deref(), "endsAt")?;
    let labels: LabelSet = posted.labels.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    if labels.is_empty() {
        return Err("at least one label pair required".into());
    }
    let bad_name = labels
        .keys()
        .chain(posted.annotations.keys())
        .find(|name| !is_valid_label_name(name));
    if let Some(name) = bad_name {
        return Err(format!("invalid name {name:?}"));
    }
    let starts_at = starts_at.or(ends_at).unwrap_or(now);
    if ends_at.is_some_and(|end| end < starts_at) {
        return Err("start time must be before end time".into());
    }
    let alert = Alert {
        labels,
        annotations: posted.annotations,
        starts_at,
        ends_at: ends_at.unwrap_or(starts_at),
        generator_url: posted.generator_url,
    };
    Ok((alert, ends_at.is_some()))
}

fn gettable_silence(silence: &Silence, now: DateTime<Utc>) -> Value {
    json!({
        "id": silence.id,
        "status": {"state": silence.state(now).as_str()},
        "updatedAt": go_time(&silence.updated_at),
        "comment": silence.comment,
        "createdBy": silence.created_by,
        "endsAt": go_time(&silence.ends_at),
        "matchers": silence.matchers,
        "startsAt": go_time(&silence.starts_at),
    })
}

/// Active first (ending soonest first), then pending (starting soonest), then
/// expired (most recently ended first), as Alertmanager sorts them.
fn silence_order(a: &Silence, b: &Silence, now: DateTime<Utc>) -> std::cmp::Ordering {
    let rank = |s: &Silence| match s.state(now) {
        SilenceState::Active => 0,
        SilenceState::Pending => 1,
        SilenceState::Expired => 2,
    };
    rank(a).cmp(&rank(b)).then_with(|| match a.state(now) {
        SilenceState::Active => a.ends_at.cmp(&b.ends_at),
        SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
        SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
    })
}

async fn get_silences(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let mut filters = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name == "filter" {
            match parse_matchers(&value) {
                Ok(matchers) => filters.extend(matchers),
                Err(err) => return error(StatusCode::BAD_REQUEST, err),
            }
        }
    }
    let now = Utc::now();
    let mut silences: Vec<Silence> = shared
        .silences
        .list()
        .into_iter()
        .filter(|silence| {
            let values: LabelSet = silence
                .matchers
                .iter()
                .map(|m| (m.name.clone(), m.value.clone()))
                .collect();
            filters
                .iter()
                .all(|f| values.get(&f.name).is_some_and(|value| f.matches(value)))
        })
        .collect();
    silences.sort_by(|a, b| silence_order(a, b, now));
    let list: Vec<Value> = silences.iter().map(|s| gettable_silence(s, now)).collect();
    Json(list).into_response()
}

/// `postableSilence`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Option<Vec<SilenceMatcher>>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    created_by: Option<String>,
    comment: Option<String>,
}

async fn post_silence(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let posted: PostableSilence = match serde_json::from_slice(&body) {
        Ok(posted) => posted,
        Err(err) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("parsing silence body failed: {err}"),
            )
        }
    };
    let silence = match silence_from(posted) {
        Ok(silence) => silence,
        Err(BodyFault::Missing(field)) => return schema_error(format!("{field} in body is required")),
        Err(BodyFault::Invalid(message)) => return error(StatusCode::BAD_REQUEST, message),
    };
    let now = Utc::now();
    if silence.starts_at >= silence.ends_at {
        let message = "Failed to create silence: start time must be before end time";
        return error(StatusCode::BAD_REQUEST, message);
    }
    if silence.ends_at < now {
        return error(
            StatusCode::BAD_REQUEST,
            "Failed to create silence: end time can't be in the past",
        );
    }
    match shared.silences.set(silence, now) {
        Ok(id) => Json(json!({"silenceID": id})).into_response(),
        Err(SilenceError::NotFound) => error(StatusCode::NOT_FOUND, SilenceError::NotFound.to_string()),
        Err(err) => error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

/// What is wrong with a posted silence.
enum BodyFault {
    /// A field the OpenAPI schema requires (go-swagger answers 422).
    Missing(&'static str),
    Invalid(String),
}

/// Checks the fields the OpenAPI schema requires.
fn silence_from(posted: PostableSilence) -> Result<Silence, BodyFault> {
    let matchers = posted.matchers.ok_or(BodyFault::Missing("matchers"))?;
    let created_by = posted.created_by.ok_or(BodyFault::Missing("createdBy"))?;
    let comment = posted.comment.ok_or(BodyFault::Missing("comment"))?;
    let time = |text: Option<String>, field: &'static str| -> Result<DateTime<Utc>, BodyFault> {
        let text = text.ok_or(BodyFault::Missing(field))?;
        parse_time(Some(&text), field)
            .map_err(BodyFault::Invalid)?
            .ok_or(BodyFault::Missing(field))
    };
    Ok(Silence {
        id: posted.id.unwrap_or_default(),
        matchers,
        starts_at: time(posted.starts_at, "startsAt")?,
        ends_at: time(posted.ends_at, "endsAt")?,
        updated_at: Utc::now(),
        created_by,
        comment,
    })
}

async fn get_silence(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.silences.get(&id) {
        Some(silence) => Json(gettable_silence(&silence, Utc::now())).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete_silence(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.silences.expire(&id, Utc::now()) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(SilenceError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}
