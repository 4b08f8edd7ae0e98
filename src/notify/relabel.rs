//! Prometheus's relabelling applied to an alert's labels
//! (`alert_relabel_configs`).
//!
//! Written here, minimal but complete for alerts, because the shared
//! relabel module (`scrape`) was not merged when the notifier was built; the
//! two should become one. `hashmod` needs MD5 and is refused at load.

use std::collections::BTreeMap;

use crate::config::{RelabelAction, RelabelConfig};
use crate::storage::labels::is_valid_label_name;

/// Refuses what this module cannot apply.
pub fn check(configs: &[RelabelConfig]) -> Result<(), String> {
    match configs.iter().find(|c| c.action == RelabelAction::HashMod) {
        Some(_) => Err("alert_relabel_configs: action hashmod is not supported for alerts".to_string()),
        None => Ok(()),
    }
}

/// Applies `configs` in order; `None` when a step drops the alert.
pub fn apply(
    labels: &BTreeMap<String, String>,
    configs: &[RelabelConfig],
) -> Option<BTreeMap<String, String>> {
    let mut labels = labels.clone();
    for config in configs {
        if !step(&mut labels, config) {
            return None;
        }
    }
    Some(labels)
}

/// One step; `false` drops the alert.
fn step(labels: &mut BTreeMap<String, String>, config: &RelabelConfig) -> bool {
    let source: Vec<&str> = config
        .source_labels
        .iter()
        .map(|name| labels.get(name).map_or("", String::as_str))
        .collect();
    let joined = source.join(&config.separator);
    let regex = config.regex.regex();
    match config.action {
        RelabelAction::Keep => regex.is_match(&joined),
        RelabelAction::Drop => !regex.is_match(&joined),
        RelabelAction::KeepEqual => labels.get(&config.target_label).map_or("", String::as_str) == joined,
        RelabelAction::DropEqual => labels.get(&config.target_label).map_or("", String::as_str) != joined,
        RelabelAction::Replace => {
            replace(labels, config, &joined);
            true
        }
        RelabelAction::Lowercase => {
            labels.insert(config.target_label.clone(), joined.to_lowercase());
            true
        }
        RelabelAction::Uppercase => {
            labels.insert(config.target_label.clone(), joined.to_uppercase());
            true
        }
        RelabelAction::LabelMap => {
            let renamed: Vec<(String, String)> = labels
                .iter()
                .filter(|(name, _)| regex.is_match(name))
                .map(|(name, value)| {
                    (
                        regex.replace(name, config.replacement.as_str()).into_owned(),
                        value.clone(),
                    )
                })
                .collect();
            labels.extend(renamed);
            true
        }
        RelabelAction::LabelDrop => {
            labels.retain(|name, _| !regex.is_match(name));
            true
        }
        RelabelAction::LabelKeep => {
            labels.retain(|name, _| regex.is_match(name));
            true
        }
        RelabelAction::HashMod => true,
    }
}

/// `replace`: on a match, sets the expanded target to the expanded replacement
/// (an empty value deletes the label).
fn replace(labels: &mut BTreeMap<String, String>, config: &RelabelConfig, joined: &str) {
    let Some(captures) = config.regex.regex().captures(joined) else {
        return;
    };
    let mut target = String::new();
    captures.expand(&config.target_label, &mut target);
    let mut value = String::new();
    captures.expand(&config.replacement, &mut value);
    if !is_valid_label_name(&target) {
        return;
    }
    if value.is_empty() {
        labels.remove(&target);
    } else {
        labels.insert(target, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(yaml: &str) -> Vec<RelabelConfig> {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn replace_drop_and_labeldrop() {
        let steps = configs(
            "- {source_labels: [severity], regex: 'page|critical', target_label: priority, replacement: P1}\n- {action: drop, source_labels: [env], regex: dev}\n- {action: labeldrop, regex: 'tmp_.*'}\n",
        );
        let out = apply(&labels(&[("severity", "critical"), ("tmp_x", "1")]), &steps).unwrap();
        assert_eq!(out, labels(&[("priority", "P1"), ("severity", "critical")]));
        assert!(apply(&labels(&[("env", "dev")]), &steps).is_none());
        assert!(check(&configs(
            "- {action: hashmod, source_labels: [a], target_label: b, modulus: 2}\n"
        ))
        .is_err());
    }
}
