//! The body of an action: a Go `text/template` (as in Alertmanager's webhook
//! templates) rendered over the incident, then checked to be JSON.
//!
//! Data (`.` in the template), named as Alertmanager's template data is:
//! `.ID`, `.GroupKey`, `.Title`, `.State`, `.Status` (`firing`/`resolved`),
//! `.Labels` and `.GroupLabels` (the group's labels), `.CommonLabels`,
//! `.CommonAnnotations`, `.Alerts` (each `.Labels`, `.Annotations`,
//! `.StartsAt`, `.EndsAt`, `.Status`), `.Action`, `.Trigger`.
//! Beside Go's builtins, `json` writes any value as a JSON literal, so
//! `{"model": {{ .Labels.model | json }}}` stays valid whatever the label holds.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use gotmpl::{Template, TemplateError, Value};
use serde::{Deserialize, Deserializer, Serialize};

use super::model::Incident;

/// A parsed body template and its source text.
#[derive(Clone)]
pub struct BodyTemplate {
    source: String,
    parsed: Arc<Template>,
}

impl BodyTemplate {
    pub fn parse(source: &str) -> Result<Self, String> {
        let parsed = Template::new("body")
            .func("json", to_json_literal)
            .parse(source)
            .map_err(|e| format!("invalid body template: {e}"))?;
        Ok(BodyTemplate {
            source: source.to_string(),
            parsed: Arc::new(parsed),
        })
    }

    /// Renders the body for `incident`; fails when the template fails or the
    /// result is not JSON.
    pub fn render(&self, incident: &Incident, action: &str, trigger: &str) -> Result<String, String> {
        let data = gotmpl::to_value(&TemplateData::of(incident, action, trigger))
            .map_err(|e| format!("body template data: {e}"))?;
        let body = self
            .parsed
            .execute_to_string(&data)
            .map_err(|e| format!("body template: {e}"))?;
        serde_json::from_str::<serde_json::Value>(&body)
            .map_err(|e| format!("body template did not produce JSON: {e}: {body}"))?;
        Ok(body)
    }
}

impl fmt::Debug for BodyTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BodyTemplate({:?})", self.source)
    }
}

impl PartialEq for BodyTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl<'de> Deserialize<'de> for BodyTemplate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        BodyTemplate::parse(&source).map_err(serde::de::Error::custom)
    }
}

fn to_json_literal(args: &[Value]) -> Result<Value, TemplateError> {
    let [value] = args else {
        return Err(TemplateError::Exec("json takes one argument".into()));
    };
    let json = serde_json::to_string(&gotmpl_to_json(value))
        .map_err(|e| TemplateError::Exec(format!("json: {e}")))?;
    Ok(Value::String(json.into()))
}

fn gotmpl_to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Uint(u) => (*u).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
        Value::String(s) => s.as_ref().into(),
        Value::List(items) => items.iter().map(gotmpl_to_json).collect(),
        Value::Map(map) => map
            .iter()
            .map(|(k, v)| (k.to_string(), gotmpl_to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.to_string().into(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TemplateData<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    group_key: &'a str,
    title: &'a str,
    state: &'a str,
    status: &'a str,
    labels: &'a BTreeMap<String, String>,
    group_labels: &'a BTreeMap<String, String>,
    common_labels: BTreeMap<String, String>,
    common_annotations: BTreeMap<String, String>,
    alerts: Vec<AlertData<'a>>,
    action: &'a str,
    trigger: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AlertData<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    status: &'a str,
}

impl<'a> TemplateData<'a> {
    fn of(incident: &'a Incident, action: &'a str, trigger: &'a str) -> Self {
        let firing = incident.alerts.iter().any(|a| a.status == "firing");
        TemplateData {
            id: &incident.id,
            group_key: &incident.group_key,
            title: &incident.title,
            state: incident.state.as_str(),
            status: if firing { "firing" } else { "resolved" },
            labels: &incident.labels,
            group_labels: &incident.labels,
            common_labels: common(incident.alerts.iter().map(|a| &a.labels)),
            common_annotations: common(incident.alerts.iter().map(|a| &a.annotations)),
            alerts: incident
                .alerts
                .iter()
                .map(|a| AlertData {
                    labels: &a.labels,
                    annotations: &a.annotations,
                    starts_at: a.starts_at.to_rfc3339(),
                    ends_at: a.ends_at.to_rfc3339(),
                    status: &a.status,
                })
                .collect(),
            action,
            trigger,
        }
    }
}

/// The name/value pairs every map shares, as Alertmanager's `CommonLabels`.
fn common<'a>(mut maps: impl Iterator<Item = &'a BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut shared = first.clone();
    for map in maps {
        shared.retain(|k, v| map.get(k) == Some(v));
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::model::tests::sample_incident;

    #[test]
    fn renders_labels_alerts_and_json_literals() {
        let t = BodyTemplate::parse(
            r#"{"model": {{ .Labels.model | json }}, "n": {{ len .Alerts }}, "first": {{ (index .Alerts 0).Labels.alertname | json }}, "status": "{{ .Status }}", "why": {{ .CommonAnnotations.summary | json }}}"#,
        )
        .unwrap();
        let body = t.render(&sample_incident(), "retrain", "open").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["model"], "fraud \"v2\"");
        assert_eq!(v["n"], 1);
        assert_eq!(v["first"], "AccuracyLow");
        assert_eq!(v["status"], "firing");
        assert_eq!(v["why"], "accuracy 0.7");
    }

    #[test]
    fn a_body_that_is_not_json_is_an_error() {
        let t = BodyTemplate::parse("model={{ .Labels.model }}").unwrap();
        let err = t.render(&sample_incident(), "a", "open").unwrap_err();
        assert!(err.contains("did not produce JSON"), "{err}");
    }

    #[test]
    fn a_syntax_error_is_refused_at_parse() {
        let err = BodyTemplate::parse("{{ .Labels.model ").unwrap_err();
        assert!(err.contains("invalid body template"), "{err}");
    }
}
