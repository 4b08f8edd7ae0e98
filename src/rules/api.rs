//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus's JSON shape.
//!
//! Only translates the manager's groups into Prometheus's response objects
//! (field names and order, seconds as numbers, times in RFC 3339, alert values
//! as Go's `%e` strings) and applies the query filters. Holds no rule logic.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::alerting::{ActiveAlert, AlertState, AlertingRule};
use super::eval::RuleHealth;
use super::group::{Group, Rule};
use super::manager::RuleManager;

/// The two routes, state applied.
pub fn routes(manager: RuleManager) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
        .with_state(manager)
}

#[derive(Serialize)]
struct Envelope<T: Serialize> {
    status: &'static str,
    data: T,
}

fn success<T: Serialize>(data: T) -> Response {
    Json(Envelope {
        status: "success",
        data,
    })
    .into_response()
}

fn bad_data(message: String) -> Response {
    let body = serde_json::json!({"status": "error", "errorType": "bad_data", "error": message});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// A float written as Go's `encoding/json` writes it: integers without `.0`.
#[derive(Clone, Copy)]
struct GoFloat(f64);

impl Serialize for GoFloat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < 1e15 {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

fn seconds(ms: i64) -> GoFloat {
    GoFloat(ms as f64 / 1000.0)
}

/// Go's `time.Time` JSON (RFC 3339 with trimmed nanoseconds); the zero time before any evaluation.
fn go_time(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "0001-01-01T00:00:00Z".into();
    };
    let t = super::alerting::to_time(ms);
    let mut text = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = ms.rem_euclid(1000);
    if frac != 0 {
        text.push('.');
        text.push_str(format!("{frac:03}").trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, the alert value's text.
pub fn go_exp(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let text = format!("{v:e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertJson {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    state: &'static str,
    active_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_since: Option<String>,
    value: String,
}

fn alert_json(a: &ActiveAlert) -> AlertJson {
    AlertJson {
        labels: a
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
        annotations: a.annotations.clone(),
        state: a.state.as_str(),
        active_at: go_time(Some(a.active_at_ms)),
        keep_firing_since: a.keep_firing_since_ms.map(|t| go_time(Some(t))),
        value: go_exp(a.value),
    }
}

fn live_alerts(rule: &AlertingRule) -> Vec<AlertJson> {
    let mut alerts: Vec<&ActiveAlert> = rule
        .active
        .values()
        .filter(|a| a.state != AlertState::Inactive)
        .collect();
    alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
    alerts.into_iter().map(alert_json).collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertingRuleJson {
    state: &'static str,
    name: String,
    query: String,
    duration: GoFloat,
    keep_firing_for: GoFloat,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<Vec<AlertJson>>,
    health: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    evaluation_time: GoFloat,
    last_evaluation: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordingRuleJson {
    name: String,
    query: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    health: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    evaluation_time: GoFloat,
    last_evaluation: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum RuleJson {
    Alerting(AlertingRuleJson),
    Recording(RecordingRuleJson),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupJson {
    name: String,
    file: String,
    rules: Vec<RuleJson>,
    interval: GoFloat,
    limit: usize,
    evaluation_time: GoFloat,
    last_evaluation: String,
}

fn health_fields(h: &RuleHealth) -> (&'static str, Option<String>, GoFloat, String) {
    (
        h.state(),
        h.last_error.clone(),
        GoFloat(h.evaluation_seconds),
        go_time(h.last_evaluation_ms),
    )
}

fn rule_json(rule: &Rule, exclude_alerts: bool) -> RuleJson {
    match rule {
        Rule::Alerting(r) => {
            let (health, last_error, evaluation_time, last_evaluation) = health_fields(&r.health);
            RuleJson::Alerting(AlertingRuleJson {
                state: r.state().as_str(),
                name: r.name.clone(),
                query: r.expr.clone(),
                duration: seconds(r.for_ms),
                keep_firing_for: seconds(r.keep_firing_for_ms),
                labels: r
                    .labels
                    .iter()
                    .map(|(k, t)| (k.clone(), t.text().to_string()))
                    .collect(),
                annotations: r
                    .annotations
                    .iter()
                    .map(|(k, t)| (k.clone(), t.text().to_string()))
                    .collect(),
                alerts: (!exclude_alerts).then(|| live_alerts(r)),
                health,
                last_error,
                evaluation_time,
                last_evaluation,
                kind: "alerting",
            })
        }
        Rule::Recording(r) => {
            let (health, last_error, evaluation_time, last_evaluation) = health_fields(&r.health);
            RuleJson::Recording(RecordingRuleJson {
                name: r.name.clone(),
                query: r.expr.clone(),
                labels: r.labels.clone(),
                health,
                last_error,
                evaluation_time,
                last_evaluation,
                kind: "recording",
            })
        }
    }
}

/// The `/api/v1/rules` query parameters.
#[derive(Default)]
struct RuleFilter {
    kind: Option<String>,
    rule_names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
    exclude_alerts: bool,
}

impl RuleFilter {
    fn parse(query: &str) -> Result<RuleFilter, String> {
        let mut f = RuleFilter::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "type" => f.kind = Some(value.into_owned()),
                "rule_name[]" => f.rule_names.push(value.into_owned()),
                "rule_group[]" => f.groups.push(value.into_owned()),
                "file[]" => f.files.push(value.into_owned()),
                "exclude_alerts" => {
                    f.exclude_alerts = value
                        .parse()
                        .map_err(|_| format!("parsing exclude_alerts: invalid value {value:?}"))?
                }
                _ => {}
            }
        }
        match f.kind.as_deref() {
            None | Some("") | Some("alert") | Some("record") => Ok(f),
            Some(other) => Err(format!(
                "unsupported type {other:?}; expected \"alert\" or \"record\""
            )),
        }
    }

    fn any(&self) -> bool {
        self.kind.as_deref().is_some_and(|k| !k.is_empty())
            || !self.rule_names.is_empty()
            || !self.groups.is_empty()
            || !self.files.is_empty()
    }

    fn keeps_group(&self, g: &Group) -> bool {
        (self.groups.is_empty() || self.groups.contains(&g.name))
            && (self.files.is_empty() || self.files.contains(&g.file))
    }

    fn keeps_rule(&self, r: &Rule) -> bool {
        let kind_ok = !matches!(
            (self.kind.as_deref(), r),
            (Some("alert"), Rule::Recording(_)) | (Some("record"), Rule::Alerting(_))
        );
        kind_ok && (self.rule_names.is_empty() || self.rule_names.iter().any(|n| n == r.name()))
    }
}

async fn rules(State(manager): State<RuleManager>, RawQuery(query): RawQuery) -> Response {
    let filter = match RuleFilter::parse(query.as_deref().unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return bad_data(e),
    };
    let mut groups = Vec::new();
    for g in manager.groups().iter().filter(|g| filter.keeps_group(g)) {
        let rules: Vec<RuleJson> = g
            .rules
            .iter()
            .filter(|r| filter.keeps_rule(r))
            .map(|r| rule_json(r, filter.exclude_alerts))
            .collect();
        if rules.is_empty() && filter.any() {
            continue;
        }
        groups.push(GroupJson {
            name: g.name.clone(),
            file: g.file.clone(),
            rules,
            interval: seconds(g.interval_ms),
            limit: g.limit,
            evaluation_time: GoFloat(g.evaluation_seconds),
            last_evaluation: go_time(g.last_evaluation_ms),
        });
    }
    success(serde_json::json!({ "groups": groups }))
}

async fn alerts(State(manager): State<RuleManager>) -> Response {
    let mut all = Vec::new();
    for g in manager.groups() {
        for r in &g.rules {
            if let Rule::Alerting(a) = r {
                all.extend(live_alerts(a));
            }
        }
    }
    success(serde_json::json!({ "alerts": all }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_values_are_written_as_go_writes_them() {
        assert_eq!(go_exp(1.0), "1e+00");
        assert_eq!(go_exp(0.82), "8.2e-01");
        assert_eq!(go_exp(1234.5), "1.2345e+03");
        assert_eq!(go_exp(f64::INFINITY), "+Inf");
    }

    #[test]
    fn times_trim_trailing_zeros() {
        assert_eq!(go_time(Some(1_500)), "1970-01-01T00:00:01.5Z");
        assert_eq!(go_time(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(go_time(None), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn filters_refuse_unknown_types() {
        assert!(RuleFilter::parse("type=bogus").is_err());
        let f = RuleFilter::parse("type=alert&rule_name[]=A&rule_name[]=B&exclude_alerts=true").unwrap();
        assert_eq!(f.rule_names, ["A", "B"]);
        assert!(f.exclude_alerts && f.any());
    }
}
