//! `webhook_configs`: Alertmanager's webhook message, version 4, field for
//! field (`receiver`, `status`, `alerts`, `groupLabels`, `commonLabels`,
//! `commonAnnotations`, `externalURL`, `version`, `groupKey`,
//! `truncatedAlerts`), with `max_alerts` truncation.

use serde::Serialize;
use std::time::Duration;

use super::{resolve_secret, AlertData, HttpSender, NotificationData, SendError};
use crate::config::alerting::{NotifyGlobal, WebhookConfig};

pub struct Webhook {
    pub send_resolved: bool,
    url: String,
    max_alerts: usize,
    http: HttpSender,
}

/// The JSON body, in Alertmanager's field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    receiver: &'a str,
    status: &'a str,
    alerts: &'a [AlertData],
    group_labels: &'a super::LabelSet,
    common_labels: &'a super::LabelSet,
    common_annotations: &'a super::LabelSet,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: usize,
}

impl Webhook {
    pub fn build(config: &WebhookConfig, global: &NotifyGlobal) -> Result<Webhook, String> {
        let url = resolve_secret(config.url.as_ref(), config.url_file.as_deref(), "webhook url")?;
        let http_config = config.http_config.as_ref().unwrap_or(&global.http_config);
        let timeout = (!config.timeout.is_zero()).then(|| Duration::from_millis(config.timeout.as_millis()));
        Ok(Webhook {
            send_resolved: config.send_resolved,
            url,
            max_alerts: usize::try_from(config.max_alerts).unwrap_or(usize::MAX),
            http: HttpSender::build(http_config, timeout)?,
        })
    }

    pub async fn notify(&self, data: &NotificationData) -> Result<(), SendError> {
        self.http
            .post_json(&self.url, &message(data, self.max_alerts))
            .await
    }
}

fn message(data: &NotificationData, max_alerts: usize) -> Message<'_> {
    let kept = if max_alerts == 0 {
        data.alerts.len()
    } else {
        data.alerts.len().min(max_alerts)
    };
    Message {
        receiver: &data.receiver,
        status: data.status,
        alerts: &data.alerts[..kept],
        group_labels: &data.group_labels,
        common_labels: &data.common_labels,
        common_annotations: &data.common_annotations,
        external_url: &data.external_url,
        version: "4",
        group_key: &data.group_key,
        truncated_alerts: data.alerts.len() - kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Alert;
    use chrono::DateTime;

    #[test]
    fn payload_is_alertmanager_version_4() {
        let alert = Alert {
            labels: [("alertname".to_string(), "Down".to_string())].into(),
            annotations: Default::default(),
            starts_at: DateTime::from_timestamp(1_700_000_000, 500_000_000).unwrap(),
            ends_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            generator_url: "http://x/graph".into(),
        };
        let now = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        let group = alert.labels.clone();
        let data = NotificationData::new(
            "ops",
            "{}:{alertname=\"Down\"}",
            &group,
            &[alert.clone(), alert],
            "http://s",
            now,
        );
        let text = serde_json::to_string(&message(&data, 1)).unwrap();
        let fingerprint = crate::notify::model::fingerprint_text(&group);
        let expected = format!(
            concat!(
                r#"{{"receiver":"ops","status":"firing","alerts":[{{"status":"firing","labels":{{"alertname":"Down"}},"#,
                r#""annotations":{{}},"startsAt":"2023-11-14T22:13:20.5Z","endsAt":"0001-01-01T00:00:00Z","#,
                r#""generatorURL":"http://x/graph","fingerprint":"{}"}}],"groupLabels":{{"alertname":"Down"}},"#,
                r#""commonLabels":{{"alertname":"Down"}},"commonAnnotations":{{}},"externalURL":"http://s","#,
                r#""version":"4","groupKey":"{{}}:{{alertname=\"Down\"}}","truncatedAlerts":1}}"#
            ),
            fingerprint
        );
        assert_eq!(text, expected);
    }
}
