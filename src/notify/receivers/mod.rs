//! Receivers and their integrations: what one notification of one group
//! looks like (Alertmanager's template data) and how each integration
//! (webhook, Slack, PagerDuty) delivers it over HTTP.
//!
//! Owns payloads and HTTP calls; when to call and how often to retry is
//! `pipeline`'s business. Secrets (URLs, keys) are resolved here from `_file`
//! fields or `${ENV}` references and never appear in errors or logs.

mod pagerduty;
mod slack;
mod webhook;

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

use super::model::{fingerprint_text, go_time, go_zero_time, LabelSet};
use super::template::TemplateSet;
use crate::alerts::Alert;
use crate::config::alerting::{HttpConfig, NotifyGlobal, Receiver as ReceiverConfig};
use crate::config::Secret;

pub use pagerduty::Pagerduty;
pub use slack::Slack;
pub use webhook::Webhook;

/// One alert as a notification shows it (Alertmanager's `template.Alert`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertData {
    pub status: &'static str,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// One notification of one group (Alertmanager's `template.Data` plus the group key).
#[derive(Debug, Clone)]
pub struct NotificationData {
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<AlertData>,
    pub group_labels: LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    pub external_url: String,
    pub group_key: String,
}

impl NotificationData {
    /// Builds the data for `alerts` (already ordered) as of `now`; firing
    /// alerts show Go's zero `endsAt`, as Alertmanager's dispatcher sets it.
    pub fn new(
        receiver: &str,
        group_key: &str,
        group_labels: &LabelSet,
        alerts: &[Alert],
        external_url: &str,
        now: DateTime<Utc>,
    ) -> NotificationData {
        let alert_data: Vec<AlertData> = alerts.iter().map(|alert| alert_data(alert, now)).collect();
        let any_firing = alert_data.iter().any(|a| a.status == "firing");
        NotificationData {
            receiver: receiver.to_string(),
            status: if any_firing { "firing" } else { "resolved" },
            common_labels: common(alerts.iter().map(|a| &a.labels)),
            common_annotations: common(alerts.iter().map(|a| &a.annotations)),
            alerts: alert_data,
            group_labels: group_labels.clone(),
            external_url: external_url.to_string(),
            group_key: group_key.to_string(),
        }
    }

    pub fn firing(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "firing")
    }

    pub fn resolved(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "resolved")
    }

    /// Alertmanager's default `__subject`: `[FIRING:2] group values (other common values)`.
    pub fn default_subject(&self) -> String {
        let mut subject = format!("[{}", self.status.to_uppercase());
        if self.status == "firing" {
            subject.push_str(&format!(":{}", self.firing().count()));
        }
        subject.push_str("] ");
        let group_values: Vec<&str> = self.group_labels.values().map(String::as_str).collect();
        subject.push_str(&group_values.join(" "));
        subject.push(' ');
        if self.common_labels.len() > self.group_labels.len() {
            let rest: Vec<&str> = self
                .common_labels
                .iter()
                .filter(|(name, _)| !self.group_labels.contains_key(*name))
                .map(|(_, value)| value.as_str())
                .collect();
            subject.push_str(&format!("({})", rest.join(" ")));
        }
        subject
    }

    /// Alertmanager's `__alertmanagerURL`: the alerts page for this receiver.
    pub fn alerts_page_url(&self) -> String {
        let receiver: String = form_urlencoded::byte_serialize(self.receiver.as_bytes()).collect();
        format!("{}/#/alerts?receiver={receiver}", self.external_url)
    }

    /// Only the firing alerts, for integrations without `send_resolved`.
    pub fn without_resolved(&self) -> NotificationData {
        let mut data = self.clone();
        data.alerts.retain(|a| a.status == "firing");
        data
    }
}

fn alert_data(alert: &Alert, now: DateTime<Utc>) -> AlertData {
    let resolved = alert.is_resolved_at(now);
    let ends_at = if resolved { alert.ends_at } else { go_zero_time() };
    AlertData {
        status: if resolved { "resolved" } else { "firing" },
        labels: alert.labels.clone(),
        annotations: alert.annotations.clone(),
        starts_at: go_time(&alert.starts_at),
        ends_at: go_time(&ends_at),
        generator_url: alert.generator_url.clone(),
        fingerprint: fingerprint_text(&alert.labels),
    }
}

/// The pairs every set shares.
fn common<'a>(mut sets: impl Iterator<Item = &'a LabelSet>) -> LabelSet {
    let Some(first) = sets.next() else {
        return LabelSet::new();
    };
    let mut shared = first.clone();
    for set in sets {
        shared.retain(|name, value| set.get(name) == Some(value));
    }
    shared
}

/// Why a delivery failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq)]
pub struct SendError {
    pub retryable: bool,
    pub message: String,
}

impl SendError {
    fn from_reqwest(err: reqwest::Error) -> SendError {
        SendError {
            retryable: true,
            // Without the URL: it may carry a secret (Slack's webhook URL does).
            message: err.without_url().to_string(),
        }
    }
}

/// One configured integration of a receiver.
pub enum Integration {
    Webhook(Webhook),
    Slack(Slack),
    Pagerduty(Pagerduty),
}

impl Integration {
    /// Alertmanager's integration name, used in the notification log.
    pub fn name(&self) -> &'static str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Slack(_) => "slack",
            Integration::Pagerduty(_) => "pagerduty",
        }
    }

    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(w) => w.send_resolved,
            Integration::Slack(s) => s.send_resolved,
            Integration::Pagerduty(p) => p.send_resolved,
        }
    }

    pub async fn notify(&self, data: &NotificationData) -> Result<(), SendError> {
        match self {
            Integration::Webhook(w) => w.notify(data).await,
            Integration::Slack(s) => s.notify(data).await,
            Integration::Pagerduty(p) => p.notify(data).await,
        }
    }
}

/// A receiver with its integrations built.
pub struct Receiver {
    pub name: String,
    pub integrations: Vec<Integration>,
}

impl Receiver {
    /// Builds every integration, resolving secrets; errors name the receiver.
    pub fn build(
        config: &ReceiverConfig,
        global: &NotifyGlobal,
        templates: &TemplateSet,
    ) -> Result<Receiver, String> {
        let context = |err: String| format!("receiver {:?}: {err}", config.name);
        let mut integrations = Vec::new();
        for webhook in &config.webhook_configs {
            integrations.push(Integration::Webhook(
                Webhook::build(webhook, global).map_err(context)?,
            ));
        }
        for slack in &config.slack_configs {
            integrations.push(Integration::Slack(
                Slack::build(slack, global, templates).map_err(context)?,
            ));
        }
        for pagerduty in &config.pagerduty_configs {
            integrations.push(Integration::Pagerduty(
                Pagerduty::build(pagerduty, global, templates).map_err(context)?,
            ));
        }
        Ok(Receiver {
            name: config.name.clone(),
            integrations,
        })
    }
}

/// A secret given inline (with `${VAR}` references expanded) or read from a file.
pub fn resolve_secret(inline: Option<&Secret>, file: Option<&str>, what: &str) -> Result<String, String> {
    if let Some(file) = file {
        let text =
            std::fs::read_to_string(file).map_err(|err| format!("cannot read {what} file {file}: {err}"))?;
        return Ok(text.trim().to_string());
    }
    let inline = inline.ok_or_else(|| format!("no {what} configured"))?;
    expand_env(inline.expose()).map_err(|err| format!("{what}: {err}"))
}

/// Replaces each `${NAME}` with the environment variable's value.
fn expand_env(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated ${...} reference".to_string())?;
        let name = &after[..end];
        let value = std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An HTTP client for one integration, with its `http_config` applied to each request.
#[derive(Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    auth: Option<(String, String)>,
    basic: Option<(String, Option<String>)>,
}

impl HttpSender {
    pub fn build(config: &HttpConfig, timeout: Option<Duration>) -> Result<HttpSender, String> {
        let redirects = if config.follow_redirects {
            reqwest::redirect::Policy::default()
        } else {
            reqwest::redirect::Policy::none()
        };
        let mut builder = reqwest::Client::builder()
            .redirect(redirects)
            .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")));
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }
        builder = crate::http_client::with_tls(builder, &config.tls_config)?;
        if let Some(proxy) = &config.proxy_url {
            builder = builder.proxy(reqwest::Proxy::all(proxy).map_err(|err| format!("proxy_url: {err}"))?);
        }
        let client = builder
            .build()
            .map_err(|err| format!("cannot build HTTP client: {err}"))?;
        let auth = match (
            &config.authorization,
            &config.bearer_token,
            &config.bearer_token_file,
        ) {
            (Some(a), _, _) => Some((
                a.r#type.clone(),
                resolve_secret(
                    a.credentials.as_ref(),
                    a.credentials_file.as_deref(),
                    "credentials",
                )?,
            )),
            (None, token, file) if token.is_some() || file.is_some() => Some((
                "Bearer".to_string(),
                resolve_secret(token.as_ref(), file.as_deref(), "bearer_token")?,
            )),
            _ => None,
        };
        let basic = match &config.basic_auth {
            Some(b) => {
                let password = match (&b.password, &b.password_file) {
                    (None, None) => None,
                    (p, f) => Some(resolve_secret(p.as_ref(), f.as_deref(), "password")?),
                };
                Some((b.username.clone(), password))
            }
            None => None,
        };
        Ok(HttpSender { client, auth, basic })
    }

    /// POSTs `body` as JSON; 2xx is success, 5xx and 429 may be retried.
    pub async fn post_json(&self, url: &str, body: &impl Serialize) -> Result<(), SendError> {
        let mut request = self.client.post(url).json(body);
        if let Some((kind, credentials)) = &self.auth {
            request = request.header(reqwest::header::AUTHORIZATION, format!("{kind} {credentials}"));
        }
        if let Some((user, password)) = &self.basic {
            request = request.basic_auth(user, password.as_ref());
        }
        let response = request.send().await.map_err(SendError::from_reqwest)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let excerpt: String = body.chars().take(256).collect();
        Err(SendError {
            retryable: status.is_server_error() || status.as_u16() == 429,
            message: format!("unexpected status code {}: {excerpt}", status.as_u16()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(pairs: &[(&str, &str)], ends: i64) -> Alert {
        Alert {
            labels: pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            annotations: [("summary".to_string(), "s".to_string())].into(),
            starts_at: DateTime::from_timestamp(0, 0).unwrap(),
            ends_at: DateTime::from_timestamp(ends, 0).unwrap(),
            generator_url: "http://g".into(),
        }
    }

    #[test]
    fn data_has_common_labels_and_subject() {
        let alerts = [
            alert(&[("alertname", "Down"), ("job", "api"), ("instance", "a")], 100),
            alert(&[("alertname", "Down"), ("job", "api"), ("instance", "b")], 10),
        ];
        let group: LabelSet = [("alertname".to_string(), "Down".to_string())].into();
        let now = DateTime::from_timestamp(50, 0).unwrap();
        let data = NotificationData::new("team", "{}:{}", &group, &alerts, "http://s", now);
        assert_eq!(data.status, "firing");
        assert_eq!(data.common_labels.len(), 2);
        assert_eq!(data.alerts[0].ends_at, "0001-01-01T00:00:00Z");
        assert_eq!(data.alerts[1].status, "resolved");
        assert_eq!(data.default_subject(), "[FIRING:1] Down (api)");
        assert_eq!(data.alerts_page_url(), "http://s/#/alerts?receiver=team");
    }

    #[test]
    fn secrets_from_env_and_files() {
        std::env::set_var("SIGHTLINE_TEST_SECRET_X", "abc");
        let secret: Secret = serde_saphyr::from_str("\"http://h/${SIGHTLINE_TEST_SECRET_X}\"").unwrap();
        assert_eq!(
            resolve_secret(Some(&secret), None, "url").unwrap(),
            "http://h/abc"
        );
        let missing: Secret = serde_saphyr::from_str("\"${SIGHTLINE_TEST_SECRET_MISSING}\"").unwrap();
        let err = resolve_secret(Some(&missing), None, "url").unwrap_err();
        assert!(err.contains("SIGHTLINE_TEST_SECRET_MISSING is not set"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "k3y\n").unwrap();
        assert_eq!(resolve_secret(None, file.to_str(), "key").unwrap(), "k3y");
    }
}
