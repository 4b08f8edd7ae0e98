//! An incident as stored and as the API shows it: one JSON shape for both, so
//! what the UI reads is exactly what survives a restart.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alerts::Alert;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Open,
    Acknowledged,
    Resolved,
}

impl State {
    pub const ALL: [State; 3] = [State::Open, State::Acknowledged, State::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acknowledged => "acknowledged",
            State::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub id: String,
    pub group_key: String,
    pub title: String,
    pub state: State,
    #[serde(with = "rfc3339")]
    pub opened_at: DateTime<Utc>,
    #[serde(with = "rfc3339_opt")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339_opt")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The alert group's labels.
    pub labels: BTreeMap<String, String>,
    /// The group's alerts as last notified.
    pub alerts: Vec<IncidentAlert>,
    pub timeline: Vec<TimelineEntry>,
    pub actions: Vec<ActionRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(with = "rfc3339")]
    pub starts_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub ends_at: DateTime<Utc>,
    /// `firing` or `resolved` when notified.
    pub status: String,
}

impl IncidentAlert {
    pub fn of(alert: &Alert, now: DateTime<Utc>) -> Self {
        let status = if alert.is_resolved_at(now) {
            "resolved"
        } else {
            "firing"
        };
        IncidentAlert {
            labels: alert.labels.clone(),
            annotations: alert.annotations.clone(),
            starts_at: alert.starts_at,
            ends_at: alert.ends_at,
            status: status.to_string(),
        }
    }
}

/// What happened to the incident, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    /// `fired`, `notified`, `acknowledged`, `action`, `resolved`, `reopened`.
    pub kind: String,
    pub message: String,
    /// For `notified` and `action`: `success`, `failure` or `dry-run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// One run of a configured action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRun {
    pub name: String,
    pub on: String,
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    pub dry_run: bool,
    pub ok: bool,
    /// Of the last attempt; none when no response came (or a dry run).
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl Incident {
    pub fn record(&mut self, at: DateTime<Utc>, kind: &str, message: String, outcome: Option<&str>) {
        self.timeline.push(TimelineEntry {
            at,
            kind: kind.to_string(),
            message,
            outcome: outcome.map(str::to_string),
        });
    }
}

/// RFC 3339 with milliseconds, as Alertmanager writes times.
mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

mod rfc3339_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::rfc3339::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap_or_default()
    }

    pub(crate) fn sample_incident() -> Incident {
        let labels: BTreeMap<String, String> = [("model".to_string(), "fraud \"v2\"".to_string())].into();
        let mut alert_labels = labels.clone();
        alert_labels.insert("alertname".into(), "AccuracyLow".into());
        Incident {
            id: "1".into(),
            group_key: "{}:{model=\"fraud\"}".into(),
            title: "AccuracyLow".into(),
            state: State::Open,
            opened_at: at(0),
            acknowledged_at: None,
            resolved_at: None,
            labels,
            alerts: vec![IncidentAlert {
                labels: alert_labels,
                annotations: [("summary".to_string(), "accuracy 0.7".to_string())].into(),
                starts_at: at(0),
                ends_at: at(300),
                status: "firing".into(),
            }],
            timeline: Vec::new(),
            actions: Vec::new(),
        }
    }

    #[test]
    fn json_shape_is_the_one_the_ui_reads() {
        let v = serde_json::to_value(sample_incident()).unwrap();
        for key in [
            "id",
            "groupKey",
            "title",
            "state",
            "openedAt",
            "acknowledgedAt",
            "resolvedAt",
            "labels",
            "alerts",
            "timeline",
            "actions",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {v}");
        }
        assert_eq!(v["state"], "open");
        assert_eq!(v["openedAt"], "2023-11-14T22:13:20.000Z");
        assert!(v["acknowledgedAt"].is_null());
        assert_eq!(v["alerts"][0]["startsAt"], "2023-11-14T22:13:20.000Z");
        let back: Incident = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample_incident());
    }
}
