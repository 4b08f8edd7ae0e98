//! The default dashboard of each model that has sent predictions: quality, latency,
//! throughput, score distribution and drift, from the ML series names.
//!
//! It is generated on request and never stored, so it follows the model's series;
//! saving it through the API stores an editable copy under the same uid, which then
//! takes precedence.

use super::model::Dashboard;
use serde_json::{json, Value};

pub const UID_PREFIX: &str = "ml-";

/// The uid of `model`'s default dashboard: `ml-` and the name with characters a uid
/// cannot hold replaced by `_`, cut to 40 bytes.
pub fn uid_for(model: &str) -> String {
    let safe: String = model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut uid = format!("{UID_PREFIX}{safe}");
    uid.truncate(40);
    uid
}

/// A PromQL string literal holding `value`.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `model`'s default dashboard. (It is built from our own JSON, so the error is
/// only a guard against this file being edited wrongly; a test checks it.)
pub fn dashboard_for(model: &str) -> Result<Dashboard, serde_json::Error> {
    let m = format!("model={}", quoted(model));
    let sel = format!("{m},model_version=~\"$version\"");
    let latency = |q: &str| {
        format!("histogram_quantile({q}, sum by (le) (rate(prediction_latency_seconds_bucket{{{sel}}}[5m])))")
    };
    let panels = vec![
        stat(
            1,
            "Throughput",
            0,
            &format!("sum(rate(predictions_total{{{sel}}}[5m]))"),
            "reqps",
            None,
        ),
        stat(
            2,
            "Accuracy",
            6,
            &format!("avg(model_accuracy{{{sel}}})"),
            "percentunit",
            Some((0.8, 0.9)),
        ),
        stat(3, "p95 latency", 12, &latency("0.95"), "s", None),
        stat(
            4,
            "Drifted features",
            18,
            &format!("max(dataset_drift_share{{{m}}})"),
            "percentunit",
            None,
        ),
        series(
            5,
            "Quality",
            (0, 5, 12),
            &[
                (format!("model_accuracy{{{sel}}}"), "accuracy {{model_version}}"),
                (format!("model_precision{{{sel}}}"), "precision {{model_version}}"),
                (format!("model_recall{{{sel}}}"), "recall {{model_version}}"),
                (
                    format!("model_f1_score{{{sel}}}"),
                    "F1 {{average}} {{model_version}}",
                ),
            ],
            "percentunit",
        ),
        series(
            6,
            "Latency percentiles",
            (12, 5, 12),
            &[
                (latency("0.5"), "p50"),
                (latency("0.95"), "p95"),
                (latency("0.99"), "p99"),
            ],
            "s",
        ),
        series(
            7,
            "Throughput and errors",
            (0, 14, 12),
            &[
                (
                    format!("sum by (model_version) (rate(predictions_total{{{sel}}}[5m]))"),
                    "{{model_version}}",
                ),
                (
                    format!("sum(rate(prediction_errors_total{{{sel}}}[5m]))"),
                    "errors",
                ),
            ],
            "reqps",
        ),
        json!({"id": 8, "type": "bargauge", "title": "Prediction score distribution",
            "gridPos": {"x": 12, "y": 14, "w": 12, "h": 9},
            "targets": [{"refId": "A", "instant": true, "legendFormat": "≤ {{le}}",
                "expr": format!("sum by (le) (increase(prediction_distribution_bucket{{{sel}}}[1h]))")}],
            "fieldConfig": {"defaults": {"unit": "short"}},
            "options": {"displayMode": "basic", "orientation": "horizontal"}}),
        json!({"id": 9, "type": "bargauge", "title": "Feature drift score",
            "gridPos": {"x": 0, "y": 23, "w": 24, "h": 8},
            "targets": [{"refId": "A", "instant": true, "legendFormat": "{{feature}} ({{method}})",
                "expr": format!("feature_drift_score{{{m}}}")}],
            "fieldConfig": {"defaults": {"unit": "short", "thresholds": {"mode": "absolute", "steps": [
                {"color": "green", "value": null}, {"color": "orange", "value": 0.1}, {"color": "red", "value": 0.2}]}}},
            "options": {"displayMode": "gradient", "orientation": "horizontal"}}),
    ];
    let value = json!({
        "uid": uid_for(model),
        "title": format!("Model: {model}"),
        "tags": ["ml", "generated"],
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "version", "type": "query", "multi": true, "includeAll": true,
            "query": format!("label_values(predictions_total{{{m}}}, model_version)"),
            "current": {"value": ["$__all"]}}]},
        "panels": panels,
    });
    serde_json::from_value(value)
}

fn stat(id: u64, title: &str, x: u32, expr: &str, unit: &str, green_above: Option<(f64, f64)>) -> Value {
    let mut defaults = json!({"unit": unit});
    if let Some((warn, ok)) = green_above {
        defaults["thresholds"] = json!({"mode": "absolute", "steps": [
            {"color": "red", "value": null}, {"color": "orange", "value": warn}, {"color": "green", "value": ok}]});
    }
    json!({"id": id, "type": "stat", "title": title, "gridPos": {"x": x, "y": 0, "w": 6, "h": 5},
        "targets": [{"refId": "A", "expr": expr}], "fieldConfig": {"defaults": defaults},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"]}}})
}

fn series(id: u64, title: &str, (x, y, w): (u32, u32, u32), targets: &[(String, &str)], unit: &str) -> Value {
    let targets: Vec<Value> = targets
        .iter()
        .enumerate()
        .map(|(i, (expr, legend))| {
            let ref_id = char::from(b'A' + i as u8).to_string();
            json!({"refId": ref_id, "expr": expr, "legendFormat": legend})
        })
        .collect();
    json!({"id": id, "type": "timeseries", "title": title, "gridPos": {"x": x, "y": y, "w": w, "h": 9},
        "targets": targets, "fieldConfig": {"defaults": {"unit": unit}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_dashboards_are_valid_and_quote_the_model() {
        let d = dashboard_for("fraud \"v2\"").unwrap();
        assert!(d.violations().is_empty(), "{:?}", d.violations());
        assert_eq!(d.uid, "ml-fraud__v2_");
        assert!(d.panels[0].targets[0].expr.contains(r#"model="fraud \"v2\"""#));
        let exprs: Vec<&str> = d
            .panels
            .iter()
            .flat_map(|p| &p.targets)
            .map(|t| t.expr.as_str())
            .collect();
        for expr in exprs {
            let expr = expr.replace("$version", ".*");
            assert!(crate::promql::parse(&expr).is_ok(), "{expr}");
        }
    }
}
