//! Sending the rule engine's alerts to external Alertmanagers, as
//! Prometheus's notifier does: the alerts arrive relabelled
//! (`relabel::AlertRelabel`), wait in a bounded queue (oldest dropped
//! first), and go in batches of at most 256 to every Alertmanager's
//! `/api/v2/alerts` after that Alertmanager's own `alert_relabel_configs`,
//! each with its own timeout. No retries: the rule engine re-sends firing
//! alerts anyway.

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::model::go_time;
use super::receivers::HttpSender;
use super::relabel;
use crate::alerts::Alert;
use crate::config::alerting::{AlertingConfig, HttpConfig};
use crate::config::RelabelConfig;

/// Prometheus's `--alertmanager.notification-queue-capacity` default.
const QUEUE_CAPACITY: usize = 10_000;
/// Prometheus's `maxBatchSize`.
const MAX_BATCH: usize = 256;

/// One external Alertmanager (one target of one `alertmanagers` entry).
struct Target {
    url: String,
    http: HttpSender,
    relabel: Vec<RelabelConfig>,
}

/// The queue and the task that drains it.
#[derive(Default)]
pub struct ExternalSender {
    queue: Mutex<VecDeque<Alert>>,
    more: tokio::sync::Notify,
    targets: RwLock<Vec<Arc<Target>>>,
    dropped: std::sync::atomic::AtomicU64,
}

/// An alert as Alertmanager's v2 API takes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert<'a> {
    labels: BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
}

impl ExternalSender {
    /// Rebuilds the targets from the configuration.
    pub fn apply(&self, alerting: &AlertingConfig) -> Result<(), String> {
        let mut targets = Vec::new();
        for (index, am) in alerting.alertmanagers.iter().enumerate() {
            let http_config = HttpConfig {
                basic_auth: am.basic_auth.clone(),
                authorization: am.authorization.clone(),
                follow_redirects: am.follow_redirects,
                tls_config: am.tls_config.clone(),
                ..HttpConfig::default()
            };
            let timeout = Duration::from_millis(am.timeout.as_millis());
            let http = HttpSender::build(&http_config, Some(timeout))
                .map_err(|err| format!("alerting.alertmanagers[{index}]: {err}"))?;
            let prefix = am.path_prefix.trim_matches('/');
            let path = if prefix.is_empty() {
                "/api/v2/alerts".to_string()
            } else {
                format!("/{prefix}/api/v2/alerts")
            };
            for static_config in &am.static_configs {
                for host in &static_config.targets {
                    targets.push(Arc::new(Target {
                        url: format!("{}://{host}{path}", am.scheme),
                        http: http.clone(),
                        relabel: am.alert_relabel_configs.clone(),
                    }));
                }
            }
        }
        *self.targets.write() = targets;
        Ok(())
    }

    /// Queues alerts, already relabelled, for every Alertmanager.
    pub fn enqueue(&self, alerts: &[Alert]) {
        if self.targets.read().is_empty() {
            return;
        }
        let mut queue = self.queue.lock();
        for alert in alerts {
            if queue.len() >= QUEUE_CAPACITY {
                queue.pop_front();
                self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            queue.push_back(alert.clone());
        }
        drop(queue);
        self.more.notify_one();
    }

    /// Drains the queue forever, one batch at a time.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.more.notified().await;
            loop {
                let batch: Vec<Alert> = {
                    let mut queue = self.queue.lock();
                    let take = queue.len().min(MAX_BATCH);
                    queue.drain(..take).collect()
                };
                if batch.is_empty() {
                    break;
                }
                self.send_batch(&batch).await;
            }
        }
    }

    async fn send_batch(&self, batch: &[Alert]) {
        let targets = self.targets.read().clone();
        let mut sends = tokio::task::JoinSet::new();
        for target in targets {
            let body = postable(batch, &target.relabel);
            if body.is_empty() {
                continue;
            }
            sends.spawn(async move {
                if let Err(err) = target.http.post_json(&target.url, &body).await {
                    tracing::warn!(alertmanager = %target.url, count = body.len(), "error sending alerts: {}", err.message);
                }
            });
        }
        while sends.join_next().await.is_some() {}
    }
}

/// The JSON values of `batch` after one Alertmanager's own relabelling.
fn postable(batch: &[Alert], relabel_configs: &[RelabelConfig]) -> Vec<serde_json::Value> {
    batch
        .iter()
        .filter_map(|alert| {
            let labels = relabel::apply(&alert.labels, relabel_configs)?;
            serde_json::to_value(PostableAlert {
                labels,
                annotations: &alert.annotations,
                starts_at: go_time(&alert.starts_at),
                ends_at: go_time(&alert.ends_at),
                generator_url: &alert.generator_url,
            })
            .ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn alert(name: &str) -> Alert {
        Alert {
            labels: [("alertname".to_string(), name.to_string())].into(),
            annotations: Default::default(),
            starts_at: DateTime::from_timestamp(0, 0).unwrap(),
            ends_at: DateTime::from_timestamp(60, 0).unwrap(),
            generator_url: "http://g".into(),
        }
    }

    #[test]
    fn queued_alerts_are_posted_after_each_alertmanagers_relabelling() {
        let sender = ExternalSender::default();
        let alerting: AlertingConfig = serde_saphyr::from_str(
            "alertmanagers: [{static_configs: [{targets: ['127.0.0.1:9093']}], alert_relabel_configs: [{action: drop, source_labels: [alertname], regex: Noise}]}]\n",
        )
        .unwrap();
        sender.apply(&alerting).unwrap();
        sender.enqueue(&[alert("Down"), alert("Noise")]);
        let queued: Vec<Alert> = sender.queue.lock().iter().cloned().collect();
        assert_eq!(queued.len(), 2);
        let target = sender.targets.read()[0].clone();
        assert_eq!(target.url, "http://127.0.0.1:9093/api/v2/alerts");
        let body = postable(&queued, &target.relabel);
        assert_eq!(body.len(), 1);
        assert_eq!(body[0]["labels"]["alertname"], "Down");
        assert_eq!(body[0]["endsAt"], "1970-01-01T00:01:00Z");
    }
}
