//! `alert_relabel_configs`: Prometheus's relabelling (`crate::relabel`)
//! applied to an alert's label map, and what Prometheus's notifier does to
//! the rule engine's alerts before any Alertmanager (ours or an external
//! one) sees them.

use std::collections::BTreeMap;

use crate::alerts::Alert;
use crate::config::{Config, RelabelConfig};
use crate::storage::labels::Labels;

/// Prometheus's `relabelAlerts`: the external labels an alert lacks are
/// added, then `alerting.alert_relabel_configs` run; dropped alerts vanish.
#[derive(Default)]
pub struct AlertRelabel {
    external_labels: BTreeMap<String, String>,
    configs: Vec<RelabelConfig>,
}

impl AlertRelabel {
    pub fn new(config: &Config) -> AlertRelabel {
        AlertRelabel {
            external_labels: config.global.external_labels.clone(),
            configs: config.alerting.alert_relabel_configs.clone(),
        }
    }

    /// The alerts as Alertmanagers receive them.
    pub fn apply(&self, alerts: Vec<Alert>) -> Vec<Alert> {
        alerts
            .into_iter()
            .filter_map(|mut alert| {
                for (name, value) in &self.external_labels {
                    let label = alert.labels.entry(name.clone()).or_default();
                    if label.is_empty() {
                        label.clone_from(value);
                    }
                }
                alert.labels = apply(&alert.labels, &self.configs)?;
                Some(alert)
            })
            .collect()
    }
}

/// Applies `configs` in order; `None` when a step drops the alert.
pub fn apply(
    labels: &BTreeMap<String, String>,
    configs: &[RelabelConfig],
) -> Option<BTreeMap<String, String>> {
    if configs.is_empty() {
        return Some(labels.clone());
    }
    let relabelled = crate::relabel::relabel(Labels::from_pairs(labels.clone()), configs)?;
    Some(
        relabelled
            .iter()
            .map(|label| (label.name.to_string(), label.value.to_string()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(yaml: &str) -> Vec<RelabelConfig> {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn alert() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("alertname".to_string(), "HighLatency".to_string()),
            ("model".to_string(), "fraud".to_string()),
        ])
    }

    #[test]
    fn replaces_drops_and_hashes_like_scrape_relabelling() {
        let rename = steps("- {source_labels: [model], target_label: team, replacement: ml-$1}\n");
        assert_eq!(apply(&alert(), &rename).unwrap()["team"], "ml-fraud");
        let drop = steps("- {source_labels: [model], regex: fraud, action: drop}\n");
        assert!(apply(&alert(), &drop).is_none());
        let hashmod = steps("- {source_labels: [model], target_label: shard, modulus: 4, action: hashmod}\n");
        let shard = apply(&alert(), &hashmod).unwrap()["shard"]
            .parse::<u64>()
            .unwrap();
        assert!(shard < 4);
    }

    #[test]
    fn rule_alerts_get_external_labels_they_lack_then_relabelling() {
        let config = crate::config::parse_str(
            "global:\n  external_labels: {cluster: eu, model: default}\nalerting:\n  alert_relabel_configs: [{action: drop, source_labels: [alertname], regex: Noise}]\n",
            "sightline.yml",
        )
        .unwrap();
        let alert = |name: &str| Alert {
            labels: BTreeMap::from([
                ("alertname".to_string(), name.to_string()),
                ("model".to_string(), "fraud".to_string()),
            ]),
            annotations: BTreeMap::new(),
            starts_at: chrono::DateTime::UNIX_EPOCH,
            ends_at: chrono::DateTime::UNIX_EPOCH,
            generator_url: String::new(),
        };
        let kept = AlertRelabel::new(&config).apply(vec![alert("Down"), alert("Noise")]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].labels["cluster"], "eu");
        assert_eq!(kept[0].labels["model"], "fraud", "the alert's own value wins");
    }
}
