//! `pagerduty_configs`: PagerDuty Events API v2. One incident per group:
//! `dedup_key` is the SHA-256 of the group key (Alertmanager's `key.Hash()`),
//! `trigger` while any alert fires and `resolve` once all resolved.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use super::{resolve_secret, HttpSender, NotificationData, SendError};
use crate::config::alerting::{NotifyGlobal, PagerdutyConfig};
use crate::notify::template::TemplateSet;

/// PagerDuty refuses summaries longer than this.
const MAX_SUMMARY_CHARS: usize = 1024;

pub struct Pagerduty {
    pub send_resolved: bool,
    url: String,
    routing_key: String,
    config: PagerdutyConfig,
    http: HttpSender,
    templates: TemplateSet,
}

#[derive(Serialize)]
struct Event {
    routing_key: String,
    event_action: &'static str,
    dedup_key: String,
    client: String,
    client_url: String,
    payload: Payload,
}

#[derive(Serialize)]
struct Payload {
    summary: String,
    source: String,
    severity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    class: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    group: String,
    custom_details: BTreeMap<String, String>,
}

impl Pagerduty {
    pub fn build(
        config: &PagerdutyConfig,
        global: &NotifyGlobal,
        templates: &TemplateSet,
    ) -> Result<Pagerduty, String> {
        let routing_key = resolve_secret(
            config.routing_key.as_ref(),
            config.routing_key_file.as_deref(),
            "routing_key",
        )?;
        let http_config = config.http_config.as_ref().unwrap_or(&global.http_config);
        Ok(Pagerduty {
            send_resolved: config.send_resolved,
            url: config.url.clone().unwrap_or_else(|| global.pagerduty_url.clone()),
            routing_key,
            config: config.clone(),
            http: HttpSender::build(http_config, None)?,
            templates: templates.clone(),
        })
    }

    pub async fn notify(&self, data: &NotificationData) -> Result<(), SendError> {
        let event = self.event(data).map_err(|message| SendError {
            retryable: false,
            message,
        })?;
        self.http.post_json(&self.url, &event).await
    }

    fn event(&self, data: &NotificationData) -> Result<Event, String> {
        let c = &self.config;
        let render = |text: &Option<String>, default: String| match text {
            Some(text) => self.templates.render(text, data),
            None => Ok(default),
        };
        let client = render(&c.client, "Sightline".to_string())?;
        let summary: String = render(&c.description, data.default_subject())?
            .chars()
            .take(MAX_SUMMARY_CHARS)
            .collect();
        Ok(Event {
            routing_key: self.routing_key.clone(),
            event_action: if data.status == "firing" {
                "trigger"
            } else {
                "resolve"
            },
            dedup_key: dedup_key(&data.group_key),
            client_url: render(&c.client_url, data.alerts_page_url())?,
            payload: Payload {
                summary,
                source: render(&c.source, client.clone())?,
                severity: render(&c.severity, "error".to_string())?,
                class: render(&c.class, String::new())?,
                component: render(&c.component, String::new())?,
                group: render(&c.group, String::new())?,
                custom_details: details(&self.templates, &c.details, data)?,
            },
            client,
        })
    }
}

/// Alertmanager's `notify.Key.Hash()`: hex SHA-256 of the group key.
pub fn dedup_key(group_key: &str) -> String {
    Sha256::digest(group_key.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Alertmanager's default details (`firing`, `resolved`, `num_firing`,
/// `num_resolved`), overridden or extended by the configured ones.
fn details(
    templates: &TemplateSet,
    configured: &BTreeMap<String, String>,
    data: &NotificationData,
) -> Result<BTreeMap<String, String>, String> {
    let mut details = BTreeMap::new();
    details.insert("firing".to_string(), instances(data.firing()));
    details.insert("resolved".to_string(), instances(data.resolved()));
    details.insert("num_firing".to_string(), data.firing().count().to_string());
    details.insert("num_resolved".to_string(), data.resolved().count().to_string());
    for (name, text) in configured {
        details.insert(name.clone(), templates.render(text, data)?);
    }
    Ok(details)
}

/// Alertmanager's `pagerduty.default.instances`: labels and annotations per alert.
fn instances<'a>(alerts: impl Iterator<Item = &'a super::AlertData>) -> String {
    let mut text = String::new();
    for alert in alerts {
        text.push_str("Labels:\n");
        for (name, value) in &alert.labels {
            text.push_str(&format!(" - {name} = {value}\n"));
        }
        text.push_str("Annotations:\n");
        for (name, value) in &alert.annotations {
            text.push_str(&format!(" - {name} = {value}\n"));
        }
        text.push_str(&format!("Source: {}\n", alert.generator_url));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Alert;
    use chrono::DateTime;

    #[test]
    fn trigger_then_resolve_with_one_dedup_key() {
        let config: PagerdutyConfig =
            serde_saphyr::from_str("routing_key: abc\nseverity: critical\n").unwrap();
        let pd = Pagerduty::build(&config, &NotifyGlobal::default(), &TemplateSet::default()).unwrap();
        let alert = Alert {
            labels: [("alertname".to_string(), "Down".to_string())].into(),
            annotations: Default::default(),
            starts_at: DateTime::from_timestamp(0, 0).unwrap(),
            ends_at: DateTime::from_timestamp(100, 0).unwrap(),
            generator_url: String::new(),
        };
        let group = alert.labels.clone();
        let at = |secs| DateTime::from_timestamp(secs, 0).unwrap();
        let firing = pd
            .event(&NotificationData::new(
                "pd",
                "g",
                &group,
                std::slice::from_ref(&alert),
                "http://s",
                at(50),
            ))
            .unwrap();
        let resolved = pd
            .event(&NotificationData::new(
                "pd",
                "g",
                &group,
                &[alert],
                "http://s",
                at(150),
            ))
            .unwrap();
        assert_eq!(firing.event_action, "trigger");
        assert_eq!(resolved.event_action, "resolve");
        assert_eq!(firing.dedup_key, resolved.dedup_key);
        assert_eq!(firing.dedup_key, dedup_key("g"));
        assert_eq!(
            dedup_key(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(firing.payload.severity, "critical");
        assert_eq!(firing.payload.custom_details["num_firing"], "1");
    }
}
