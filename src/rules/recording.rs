//! Recording rules: evaluate an expression and store its result under a new name.
//!
//! Follows Prometheus's `rules/recording.go`: `__name__` set to the record name,
//! rule labels applied (an empty value removes the label), a duplicate output
//! series is an error, and so is more series than the group's `limit`. Must not
//! append itself: the group stores what [`RecordingRule::eval`] returns.

use std::collections::{BTreeMap, HashSet};

use super::alerting::OutputSample;
use super::eval::{EvalContext, RuleHealth};
use super::file::RuleSpec;
use crate::storage::METRIC_NAME;

#[derive(Debug, Clone)]
pub struct RecordingRule {
    pub name: String,
    pub expr: String,
    pub labels: BTreeMap<String, String>,
    pub health: RuleHealth,
}

impl RecordingRule {
    pub fn new(spec: &RuleSpec) -> RecordingRule {
        RecordingRule {
            name: spec.name().to_string(),
            expr: spec.expr.clone(),
            labels: spec.labels.clone(),
            health: RuleHealth::default(),
        }
    }

    /// Evaluates at `ts - query_offset_ms`; the samples carry that timestamp.
    pub fn eval(
        &self,
        ctx: &EvalContext,
        ts: i64,
        query_offset_ms: i64,
        limit: usize,
    ) -> Result<Vec<OutputSample>, String> {
        let query_ts = ts - query_offset_ms;
        let samples = ctx.query(&self.expr, query_ts)?;
        let mut seen = HashSet::with_capacity(samples.len());
        let mut out = Vec::with_capacity(samples.len());
        for (series, value) in samples {
            let mut labels = series.with(METRIC_NAME, &self.name);
            for (name, v) in &self.labels {
                labels = labels.with(name, v);
            }
            if !seen.insert(labels.clone()) {
                return Err(
                    "vector contains metrics with the same labelset after applying rule labels".into(),
                );
            }
            out.push((labels, query_ts, value));
        }
        if limit > 0 && out.len() > limit {
            return Err(format!("exceeded limit of {limit} with {} series", out.len()));
        }
        Ok(out)
    }
}
