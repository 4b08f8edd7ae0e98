//! The `incidents:` section: how firing alert groups become incidents and which
//! HTTP actions run on them.
//!
//! Matchers and body templates are parsed while deserializing, so a typo is
//! reported at its `file:line:column` when the configuration loads rather than
//! when the first incident opens.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::fields;
use super::units::PromDuration;
use crate::incidents::template::BodyTemplate;
use crate::storage::Matcher;

/// `incidents:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentsConfig {
    /// Record what every action would call without calling it.
    pub dry_run: bool,
    /// A group that fires again this soon after its incident resolved reopens
    /// that incident (no new incident, no `open` actions) instead of opening a
    /// new one. `0s` always opens a new incident.
    pub reopen_window: PromDuration,
    /// Resolved incidents are deleted this long after they resolved.
    pub retention: PromDuration,
    #[serde(deserialize_with = "fields::nullable")]
    pub actions: Vec<ActionConfig>,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig {
            dry_run: false,
            reopen_window: PromDuration::from_secs(5 * 60),
            retention: PromDuration::from_secs(30 * 24 * 3600),
            actions: Vec::new(),
        }
    }
}

/// When an action runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionTrigger {
    Open,
    Acknowledge,
    Resolve,
}

impl ActionTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionTrigger::Open => "open",
            ActionTrigger::Acknowledge => "acknowledge",
            ActionTrigger::Resolve => "resolve",
        }
    }
}

/// One automated action: an HTTP call made when a matching incident changes state.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    pub name: String,
    pub on: ActionTrigger,
    /// Alertmanager matchers (`severity="critical"`, `model=~"fraud|churn"`) on
    /// the incident's group labels; all must match. None: every incident.
    #[serde(default, deserialize_with = "super::alerting::matcher_lists")]
    pub matchers: Vec<Matcher>,
    /// Record instead of calling, for this action alone.
    #[serde(default)]
    pub dry_run: bool,
    /// Per attempt.
    #[serde(default = "default_action_timeout")]
    pub timeout: PromDuration,
    /// Further attempts after a network error, a 5xx or a 429.
    #[serde(default = "default_retries")]
    pub retries: u32,
    pub http: HttpCallConfig,
}

fn default_action_timeout() -> PromDuration {
    PromDuration::from_secs(10)
}

fn default_retries() -> u32 {
    2
}

/// The request an action sends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCallConfig {
    #[serde(default = "default_method", deserialize_with = "http_method")]
    pub method: String,
    #[serde(deserialize_with = "fields::http_url")]
    pub url: String,
    /// Header values written inline.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub headers: BTreeMap<String, String>,
    /// Header values read from files (trailing newline removed) when the action runs.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub header_files: BTreeMap<String, String>,
    /// Header values read from environment variables when the action runs.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub header_env: BTreeMap<String, String>,
    /// A Go template producing the JSON body; none sends no body.
    #[serde(default)]
    pub body: Option<BodyTemplate>,
}

fn default_method() -> String {
    "POST".to_string()
}

fn http_method<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let method = String::deserialize(deserializer)?.to_ascii_uppercase();
    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    if !METHODS.contains(&method.as_str()) {
        return Err(D::Error::custom(format!(
            "{method:?} is not a supported method: expected one of {}",
            METHODS.join(", ")
        )));
    }
    Ok(method)
}

#[cfg(test)]
mod tests {
    use crate::config::parse_str;

    const ACTION: &str = "incidents:\n  actions:\n    - name: retrain\n      on: open\n      matchers: ['model=\"fraud\"', 'severity=~\"crit.*\"']\n      http:\n        url: http://trainer:8080/retrain\n        body: '{\"model\": {{ .Labels.model | json }}}'\n";

    #[test]
    fn an_action_parses_with_its_defaults() {
        let config = parse_str(ACTION, "t.yml").unwrap();
        let action = &config.incidents.actions[0];
        assert_eq!(action.http.method, "POST");
        assert_eq!(action.retries, 2);
        assert_eq!(action.matchers.len(), 2);
        assert_eq!(config.incidents.reopen_window.as_millis(), 300_000);
    }

    #[test]
    fn a_bad_matcher_is_reported_at_its_position() {
        let yaml = ACTION.replace("model=\"fraud\"", "model fraud");
        let err = parse_str(&yaml, "t.yml").unwrap_err().to_string();
        assert!(err.starts_with("t.yml:5:"), "{err}");
    }

    #[test]
    fn a_bad_template_is_reported_at_its_position() {
        let yaml = ACTION.replace("| json }}}", "| json }");
        let err = parse_str(&yaml, "t.yml").unwrap_err().to_string();
        assert!(err.starts_with("t.yml:8:"), "{err}");
    }

    #[test]
    fn an_unknown_trigger_is_refused() {
        let yaml = ACTION.replace("on: open", "on: fire");
        let err = parse_str(&yaml, "t.yml").unwrap_err().to_string();
        assert!(err.starts_with("t.yml:4:"), "{err}");
    }
}
