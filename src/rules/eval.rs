//! What a rule evaluation needs from the outside, and the query step both kinds share.
//!
//! Owns [`EvalContext`] (engine, data, external labels and URL) and turning an
//! instant-query result into `(labels, value)` pairs as Prometheus's
//! `EngineQueryFunc` does: a scalar becomes one sample with no labels, any
//! other type is an error. Must not keep state between evaluations.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::template::QueryFn;
use crate::promql::{Engine, Value};
use crate::storage::{Labels, Queryable};

/// Everything an evaluation reads; the caller owns storage and engine.
#[derive(Clone)]
pub struct EvalContext {
    pub engine: Engine,
    pub queryable: Arc<dyn Queryable>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
}

impl EvalContext {
    /// Runs `expr` as an instant query at `t_ms`.
    pub fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<(Labels, f64)>, String> {
        let result = self
            .engine
            .instant_query(self.queryable.as_ref(), expr, t_ms)
            .map_err(|e| e.to_string())?;
        match result.value {
            Value::Vector(samples) => Ok(samples.into_iter().map(|s| (s.labels, s.v)).collect()),
            Value::Scalar { v, .. } => Ok(vec![(Labels::default(), v)]),
            other => Err(format!(
                "rule result is not a vector or scalar: got {}",
                other.type_name()
            )),
        }
    }

    /// The `query` template function, answering at `t_ms`.
    pub fn query_fn(&self, t_ms: i64) -> Arc<QueryFn> {
        let context = self.clone();
        Arc::new(move |expr: &str| context.query(expr, t_ms))
    }
}

/// Health of a rule after its last evaluation, as `/api/v1/rules` reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleHealth {
    /// `None` before the first evaluation.
    pub last_evaluation_ms: Option<i64>,
    pub last_error: Option<String>,
    pub evaluation_seconds: f64,
}

impl RuleHealth {
    /// `unknown`, `ok` or `err`.
    pub fn state(&self) -> &'static str {
        match (&self.last_evaluation_ms, &self.last_error) {
            (None, _) => "unknown",
            (_, Some(_)) => "err",
            _ => "ok",
        }
    }
}
