//! `alert_relabel_configs`: Prometheus's relabelling (`crate::relabel`)
//! applied to an alert's label map.

use std::collections::BTreeMap;

use crate::config::RelabelConfig;
use crate::storage::labels::Labels;

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
}
