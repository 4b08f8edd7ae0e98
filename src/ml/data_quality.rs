//! Data quality of a model's inputs over its last N predictions: per feature,
//! the share missing, of the wrong type, out of the expected range, and of
//! categories not expected.
//!
//! Owns a ring of one check result per feature per event (one byte each, so
//! 50 features × 10,000 events is 500 kB) with running counts, and the
//! `feature_missing_share`, `feature_type_mismatch_share`,
//! `feature_out_of_range_share` and `feature_unseen_category_share` samples
//! (labels `model`, `feature`). Expectations come from `model` (declared
//! ranges and categories).

use crate::ml::counters::series;
use crate::ml::model::ValueCheck;
use crate::storage::{Label, SeriesSamples};
use std::collections::VecDeque;

const KINDS: [(ValueCheck, &str); 4] = [
    (ValueCheck::Missing, "feature_missing_share"),
    (ValueCheck::TypeMismatch, "feature_type_mismatch_share"),
    (ValueCheck::OutOfRange, "feature_out_of_range_share"),
    (ValueCheck::UnseenCategory, "feature_unseen_category_share"),
];

/// The last-N ring of one feature.
#[derive(Debug, Default)]
struct FeatureRing {
    checks: VecDeque<ValueCheck>,
    counts: [usize; 4],
}

impl FeatureRing {
    fn push(&mut self, check: ValueCheck, capacity: usize) {
        if self.checks.len() >= capacity {
            if let Some(old) = self.checks.pop_front() {
                if let Some(i) = kind_index(old) {
                    self.counts[i] -= 1;
                }
            }
        }
        if let Some(i) = kind_index(check) {
            self.counts[i] += 1;
        }
        self.checks.push_back(check);
    }
}

fn kind_index(check: ValueCheck) -> Option<usize> {
    KINDS.iter().position(|(kind, _)| *kind == check)
}

/// All features of one model.
#[derive(Debug, Default)]
pub struct DataQuality {
    rings: Vec<FeatureRing>,
    pub dirty: bool,
}

impl DataQuality {
    /// Records one event's check of feature number `index`. A feature first seen
    /// late starts its ring then.
    pub fn record(&mut self, index: usize, check: ValueCheck, capacity: usize) {
        if self.rings.len() <= index {
            self.rings.resize_with(index + 1, FeatureRing::default);
        }
        self.rings[index].push(check, capacity);
        self.dirty = true;
    }

    /// Shares per feature; `names[i]` names feature `i`.
    pub fn samples(&self, model: &str, names: &[&str], t: i64, out: &mut Vec<SeriesSamples>) {
        for (ring, name) in self.rings.iter().zip(names) {
            if ring.checks.is_empty() {
                continue;
            }
            let base = [
                Label {
                    name: "feature".into(),
                    value: (*name).to_string(),
                },
                Label {
                    name: "model".into(),
                    value: model.to_string(),
                },
            ];
            for (i, (_, metric)) in KINDS.iter().enumerate() {
                let share = ring.counts[i] as f64 / ring.checks.len() as f64;
                out.push(series(metric, &base, None, t, share));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_only_the_last_n_events() {
        let mut dq = DataQuality::default();
        for _ in 0..3 {
            dq.record(0, ValueCheck::Missing, 4);
        }
        dq.record(0, ValueCheck::Fine, 4);
        dq.record(0, ValueCheck::OutOfRange, 4);
        dq.record(0, ValueCheck::Fine, 4);
        let mut out = Vec::new();
        dq.samples("m", &["age"], 5, &mut out);
        let shares: Vec<(&str, f64)> = out
            .iter()
            .map(|s| (s.labels.metric_name(), s.samples[0].v))
            .collect();
        assert_eq!(
            shares,
            [
                ("feature_missing_share", 0.25),
                ("feature_type_mismatch_share", 0.0),
                ("feature_out_of_range_share", 0.25),
                ("feature_unseen_category_share", 0.0)
            ]
        );
        assert_eq!(out[0].labels.get("feature"), "age");
    }
}
