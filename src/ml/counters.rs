//! Counters and classic histograms of one series group (a model version and
//! its segment label values), and their samples.
//!
//! Owns `predictions_total`, `prediction_errors_total`,
//! `prediction_latency_seconds`, `prediction_distribution`, `feedback_total`,
//! `feedback_delay_seconds` and `label_coverage_ratio`. Values only grow; the
//! whole struct is persisted at every flush so counters survive restarts.

use crate::storage::{Label, Labels, Sample, SeriesSamples};
use serde::{Deserialize, Serialize};

/// Buckets of `prediction_distribution`: scores in tenths of 0..1.
pub const SCORE_BUCKETS: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// Buckets of `feedback_delay_seconds`: a minute to a week.
pub const FEEDBACK_DELAY_BUCKETS: [f64; 9] = [
    60.0,
    300.0,
    900.0,
    3600.0,
    21600.0,
    86400.0,
    259_200.0,
    604_800.0,
    2_592_000.0,
];

/// A Prometheus classic histogram: per-bucket (non-cumulative) counts, sum, count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.counts.len() != bounds.len() {
            self.counts.resize(bounds.len(), 0);
        }
        if let Some(i) = bounds.iter().position(|&b| value <= b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    /// `_bucket{le}` (cumulative, ending with `+Inf`), `_sum` and `_count` samples.
    fn samples(&self, name: &str, bounds: &[f64], base: &[Label], t: i64, out: &mut Vec<SeriesSamples>) {
        let mut cumulative = 0;
        for (i, bound) in bounds.iter().enumerate() {
            cumulative += self.counts.get(i).copied().unwrap_or(0);
            let le = format!("{bound}");
            out.push(series(
                &format!("{name}_bucket"),
                base,
                Some(("le", &le)),
                t,
                cumulative as f64,
            ));
        }
        out.push(series(
            &format!("{name}_bucket"),
            base,
            Some(("le", "+Inf")),
            t,
            self.count as f64,
        ));
        out.push(series(&format!("{name}_sum"), base, None, t, self.sum));
        out.push(series(&format!("{name}_count"), base, None, t, self.count as f64));
    }
}

/// Everything counted for one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupCounters {
    pub predictions: u64,
    pub errors: u64,
    pub feedback: u64,
    pub latency: Histogram,
    pub distribution: Histogram,
    pub feedback_delay: Histogram,
}

impl GroupCounters {
    pub fn count_prediction(
        &mut self,
        latency_buckets: &[f64],
        latency_ms: Option<f64>,
        score: Option<f64>,
        failed: bool,
    ) {
        self.predictions += 1;
        if failed {
            self.errors += 1;
        }
        if let Some(ms) = latency_ms {
            self.latency.observe(latency_buckets, ms / 1000.0);
        }
        if let Some(score) = score {
            self.distribution.observe(&SCORE_BUCKETS, score);
        }
    }

    pub fn count_feedback(&mut self, delay_seconds: f64) {
        self.feedback += 1;
        self.feedback_delay
            .observe(&FEEDBACK_DELAY_BUCKETS, delay_seconds.max(0.0));
    }

    /// Every series of the group at time `t`; `base` holds `model`, `model_version`
    /// and segment labels, sorted by name.
    pub fn samples(&self, latency_buckets: &[f64], base: &[Label], t: i64, out: &mut Vec<SeriesSamples>) {
        out.push(series(
            "predictions_total",
            base,
            None,
            t,
            self.predictions as f64,
        ));
        out.push(series(
            "prediction_errors_total",
            base,
            None,
            t,
            self.errors as f64,
        ));
        out.push(series("feedback_total", base, None, t, self.feedback as f64));
        if self.predictions > 0 {
            let coverage = self.feedback as f64 / self.predictions as f64;
            out.push(series("label_coverage_ratio", base, None, t, coverage.min(1.0)));
        }
        self.latency
            .samples("prediction_latency_seconds", latency_buckets, base, t, out);
        self.distribution
            .samples("prediction_distribution", &SCORE_BUCKETS, base, t, out);
        self.feedback_delay
            .samples("feedback_delay_seconds", &FEEDBACK_DELAY_BUCKETS, base, t, out);
    }
}

/// One sample of the series `name{base, extra}`.
pub fn series(name: &str, base: &[Label], extra: Option<(&str, &str)>, t: i64, v: f64) -> SeriesSamples {
    let mut labels = Vec::with_capacity(base.len() + 2);
    labels.push(Label {
        name: crate::storage::METRIC_NAME.to_string(),
        value: name.to_string(),
    });
    labels.extend(base.iter().cloned());
    if let Some((name, value)) = extra {
        labels.push(Label {
            name: name.to_string(),
            value: value.to_string(),
        });
    }
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    SeriesSamples {
        labels: Labels::from_sorted(labels),
        samples: vec![Sample { t, v }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_series_are_cumulative_with_inf() {
        let mut counters = GroupCounters::default();
        let buckets = [0.01, 0.1];
        counters.count_prediction(&buckets, Some(5.0), Some(0.95), false);
        counters.count_prediction(&buckets, Some(50.0), Some(0.05), true);
        counters.count_prediction(&buckets, Some(500.0), None, false);
        let base = [Label {
            name: "model".into(),
            value: "m".into(),
        }];
        let mut out = Vec::new();
        counters.samples(&buckets, &base, 1000, &mut out);
        let value = |name: &str, le: Option<&str>| {
            out.iter()
                .find(|s| s.labels.metric_name() == name && le.is_none_or(|le| s.labels.get("le") == le))
                .map(|s| s.samples[0].v)
        };
        assert_eq!(value("predictions_total", None), Some(3.0));
        assert_eq!(value("prediction_errors_total", None), Some(1.0));
        assert_eq!(
            value("prediction_latency_seconds_bucket", Some("0.01")),
            Some(1.0)
        );
        assert_eq!(value("prediction_latency_seconds_bucket", Some("0.1")), Some(2.0));
        assert_eq!(
            value("prediction_latency_seconds_bucket", Some("+Inf")),
            Some(3.0)
        );
        assert_eq!(value("prediction_latency_seconds_sum", None), Some(0.555));
        assert_eq!(value("prediction_distribution_bucket", Some("0.1")), Some(1.0));
        assert_eq!(value("prediction_distribution_count", None), Some(2.0));
        assert_eq!(value("label_coverage_ratio", None), Some(0.0));
    }
}
