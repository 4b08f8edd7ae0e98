//! Inhibition: a firing alert matching a rule's source mutes alerts matching
//! its target when the `equal` labels agree, as Alertmanager's `inhibit`
//! package decides it (an alert matching both sides is muted only by sources
//! that do not also match the target).

use chrono::{DateTime, Utc};

use super::model::{fingerprint_text, LabelSet};
use super::store::StoredAlert;
use crate::config::alerting::InhibitRule as InhibitRuleConfig;
use crate::storage::matcher::Matcher;

/// One compiled inhibition rule.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
}

impl InhibitRule {
    pub fn compile(config: &InhibitRuleConfig) -> InhibitRule {
        InhibitRule {
            source: config.all_source_matchers(),
            target: config.all_target_matchers(),
            equal: config.equal.clone(),
        }
    }
}

fn all_match(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
}

/// The fingerprints of the firing alerts that inhibit `target`.
pub fn inhibited_by(
    rules: &[InhibitRule],
    alerts: &[StoredAlert],
    target: &LabelSet,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut by = Vec::new();
    for rule in rules {
        if !all_match(&rule.target, target) {
            continue;
        }
        let target_is_source = all_match(&rule.source, target);
        for source in alerts {
            let labels = &source.alert.labels;
            let inhibits = !source.is_resolved_at(now)
                && labels != target
                && all_match(&rule.source, labels)
                && !(target_is_source && all_match(&rule.target, labels))
                && rule.equal.iter().all(|name| labels.get(name) == target.get(name));
            if inhibits {
                by.push(fingerprint_text(labels));
            }
        }
    }
    by.sort();
    by.dedup();
    by
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Alert;

    fn stored(pairs: &[(&str, &str)], ends: i64) -> StoredAlert {
        StoredAlert {
            alert: Alert {
                labels: pairs
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                annotations: Default::default(),
                starts_at: DateTime::from_timestamp(0, 0).unwrap(),
                ends_at: DateTime::from_timestamp(ends, 0).unwrap(),
                generator_url: String::new(),
            },
            updated_at: DateTime::from_timestamp(0, 0).unwrap(),
            timeout: false,
        }
    }

    #[test]
    fn critical_mutes_warning_of_the_same_model() {
        let config: InhibitRuleConfig = serde_saphyr::from_str(
            "source_matchers: [severity=critical]\ntarget_match: {severity: warning}\nequal: [model]\n",
        )
        .unwrap();
        let rules = [InhibitRule::compile(&config)];
        let now = DateTime::from_timestamp(50, 0).unwrap();
        let critical = stored(&[("severity", "critical"), ("model", "a")], 100);
        let warning_a = stored(&[("severity", "warning"), ("model", "a")], 100);
        let warning_b = stored(&[("severity", "warning"), ("model", "b")], 100);
        let alerts = [critical.clone(), warning_a.clone(), warning_b.clone()];
        assert_eq!(
            inhibited_by(&rules, &alerts, &warning_a.alert.labels, now).len(),
            1
        );
        assert!(inhibited_by(&rules, &alerts, &warning_b.alert.labels, now).is_empty());
        let later = DateTime::from_timestamp(150, 0).unwrap();
        assert!(inhibited_by(&rules, &alerts, &warning_a.alert.labels, later).is_empty());
    }
}
