//! `slack_configs`: an incoming-webhook message with one attachment whose
//! colour follows the group's severity (critical red, warning orange, info
//! green; resolved green), and title, text and fields from templates with
//! the meaning of Alertmanager's defaults.

use serde::Serialize;

use super::{resolve_secret, HttpSender, NotificationData, SendError};
use crate::config::alerting::{NotifyGlobal, SlackConfig, SlackField};
use crate::notify::template::TemplateSet;

pub struct Slack {
    pub send_resolved: bool,
    url: String,
    config: SlackConfig,
    http: HttpSender,
    templates: TemplateSet,
}

#[derive(Serialize)]
struct Message {
    #[serde(skip_serializing_if = "String::is_empty")]
    channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_url: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    link_names: bool,
    attachments: Vec<Attachment>,
}

#[derive(Serialize)]
struct Attachment {
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pretext: String,
    text: String,
    fallback: String,
    color: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    footer: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Field>,
    mrkdwn_in: Vec<String>,
}

#[derive(Serialize)]
struct Field {
    title: String,
    value: String,
    short: bool,
}

impl Slack {
    pub fn build(
        config: &SlackConfig,
        global: &NotifyGlobal,
        templates: &TemplateSet,
    ) -> Result<Slack, String> {
        let url = if config.api_url.is_some() || config.api_url_file.is_some() {
            resolve_secret(
                config.api_url.as_ref(),
                config.api_url_file.as_deref(),
                "slack api_url",
            )?
        } else {
            resolve_secret(
                global.slack_api_url.as_ref(),
                global.slack_api_url_file.as_deref(),
                "slack_api_url",
            )?
        };
        let http_config = config.http_config.as_ref().unwrap_or(&global.http_config);
        Ok(Slack {
            send_resolved: config.send_resolved,
            url,
            config: config.clone(),
            http: HttpSender::build(http_config, None)?,
            templates: templates.clone(),
        })
    }

    pub async fn notify(&self, data: &NotificationData) -> Result<(), SendError> {
        let message = self.message(data).map_err(|message| SendError {
            retryable: false,
            message,
        })?;
        self.http.post_json(&self.url, &message).await
    }

    fn message(&self, data: &NotificationData) -> Result<Message, String> {
        let c = &self.config;
        let render = |text: &Option<String>, default: String| match text {
            Some(text) => self.templates.render(text, data),
            None => Ok(default),
        };
        let title = render(&c.title, data.default_subject())?;
        let title_link = render(&c.title_link, data.alerts_page_url())?;
        let fallback = render(&c.fallback, format!("{title} | {title_link}"))?;
        let attachment = Attachment {
            color: render(&c.color, severity_colour(data).to_string())?,
            text: render(&c.text, String::new())?,
            pretext: render(&c.pretext, String::new())?,
            footer: render(&c.footer, String::new())?,
            fields: fields(&self.templates, &c.fields, c.short_fields, data)?,
            mrkdwn_in: if c.mrkdwn_in.is_empty() {
                vec!["fallback".into(), "pretext".into(), "text".into()]
            } else {
                c.mrkdwn_in.clone()
            },
            title,
            title_link,
            fallback,
        };
        Ok(Message {
            channel: render(&c.channel, String::new())?,
            username: render(&c.username, "Sightline".to_string())?,
            icon_emoji: render(&c.icon_emoji, String::new())?,
            icon_url: render(&c.icon_url, String::new())?,
            link_names: c.link_names,
            attachments: vec![attachment],
        })
    }
}

fn fields(
    templates: &TemplateSet,
    configured: &[SlackField],
    short_default: bool,
    data: &NotificationData,
) -> Result<Vec<Field>, String> {
    configured
        .iter()
        .map(|f| {
            Ok(Field {
                title: templates.render(&f.title, data)?,
                value: templates.render(&f.value, data)?,
                short: f.short.unwrap_or(short_default),
            })
        })
        .collect()
}

/// Slack's colour names: `danger` is red, `warning` orange, `good` green.
fn severity_colour(data: &NotificationData) -> &'static str {
    if data.status == "resolved" {
        return "good";
    }
    let severity = data
        .common_labels
        .get("severity")
        .or_else(|| data.alerts.iter().find_map(|a| a.labels.get("severity")));
    match severity.map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("warning") => "warning",
        Some("info") | Some("none") => "good",
        _ => "danger",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Alert;
    use chrono::DateTime;

    fn data(severity: &str, ends: i64) -> NotificationData {
        let alert = Alert {
            labels: [
                ("alertname".to_string(), "Drift".to_string()),
                ("severity".to_string(), severity.to_string()),
            ]
            .into(),
            annotations: Default::default(),
            starts_at: DateTime::from_timestamp(0, 0).unwrap(),
            ends_at: DateTime::from_timestamp(ends, 0).unwrap(),
            generator_url: String::new(),
        };
        let group = [("alertname".to_string(), "Drift".to_string())].into();
        NotificationData::new(
            "ml",
            "k",
            &group,
            &[alert],
            "http://s",
            DateTime::from_timestamp(10, 0).unwrap(),
        )
    }

    #[test]
    fn colour_follows_severity() {
        assert_eq!(severity_colour(&data("critical", 100)), "danger");
        assert_eq!(severity_colour(&data("warning", 100)), "warning");
        assert_eq!(severity_colour(&data("info", 100)), "good");
        assert_eq!(severity_colour(&data("critical", 5)), "good");
    }

    #[test]
    fn default_message_has_alertmanager_title() {
        let config: SlackConfig =
            serde_saphyr::from_str("api_url: http://hooks/x\nchannel: '#ml'\n").unwrap();
        let slack = Slack::build(&config, &NotifyGlobal::default(), &TemplateSet::default()).unwrap();
        let message = serde_json::to_value(slack.message(&data("warning", 100)).unwrap()).unwrap();
        assert_eq!(message["channel"], "#ml");
        assert_eq!(message["attachments"][0]["title"], "[FIRING:1] Drift (warning)");
        assert_eq!(message["attachments"][0]["color"], "warning");
        assert_eq!(
            message["attachments"][0]["title_link"],
            "http://s/#/alerts?receiver=ml"
        );
    }
}
