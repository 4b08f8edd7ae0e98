//! Query results and the intermediate values the evaluator passes between nodes.
//!
//! Owns the public [`Value`] shape (what the HTTP API serialises) and the
//! internal step-indexed representations. Must not touch sled or HTTP.

use std::borrow::Borrow;

use crate::storage::{Labels, Sample as Point};

/// One element of an instant vector in a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// One series of a range vector (matrix) in a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<Point>,
}

/// The result of a query, in Prometheus's four result types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

impl Value {
    /// Prometheus's name for the result type (`resultType` in the HTTP API).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// A query's value plus the annotations Prometheus would attach to it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    /// Texts starting with `PromQL warning: `.
    pub warnings: Vec<String>,
    /// Texts starting with `PromQL info: `.
    pub infos: Vec<String>,
}

/// A series as the evaluator carries it: points only at evaluation steps
/// (or raw samples for range vectors), plus the delayed name-drop flag.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvalSeries {
    pub labels: Labels,
    /// Set when `__name__` must be removed once evaluation ends (Prometheus 3's
    /// delayed name removal).
    pub drop_name: bool,
    pub points: Vec<Point>,
}

impl EvalSeries {
    pub fn new(labels: Labels, drop_name: bool, points: Vec<Point>) -> Self {
        EvalSeries {
            labels,
            drop_name,
            points,
        }
    }
}

/// What evaluating one AST node over a step grid produced.
#[derive(Debug, Clone)]
pub(crate) enum Evaluated {
    /// One value per step.
    Scalar(Vec<f64>),
    String(String),
    /// Series whose points sit at step timestamps.
    Vector(Vec<EvalSeries>),
    /// Raw samples of a range vector; only produced for a single step.
    Matrix(Vec<EvalSeries>),
}

/// The evaluation timestamps of a query or subquery: `start..=end` by `interval` (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    pub start: i64,
    pub end: i64,
    pub interval: i64,
}

impl Steps {
    pub fn single(t: i64) -> Self {
        Steps {
            start: t,
            end: t,
            interval: 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        if self.end < self.start || self.interval <= 0 {
            return 0;
        }
        usize::try_from(self.end.saturating_sub(self.start) / self.interval)
            .map_or(usize::MAX, |n| n.saturating_add(1))
    }

    pub fn ts(&self, index: usize) -> i64 {
        self.start
            .saturating_add((index as i64).saturating_mul(self.interval))
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.ts(i))
    }

    /// The step index of timestamp `t`, when `t` is one of the steps.
    pub fn index_of(&self, t: i64) -> Option<usize> {
        if t < self.start || t > self.end || (t - self.start) % self.interval != 0 {
            return None;
        }
        Some(((t - self.start) / self.interval) as usize)
    }
}

/// Collected warnings and infos, kept unique and in insertion order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Annotations {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Annotations {
    pub fn warn(&mut self, text: String) {
        if !self.warnings.contains(&text) {
            self.warnings.push(text);
        }
    }

    pub fn info(&mut self, text: String) {
        if !self.infos.contains(&text) {
            self.infos.push(text);
        }
    }
}

/// Builds output series step by step, keyed by label set.
#[derive(Default)]
pub(crate) struct SeriesCollector {
    index: std::collections::HashMap<Labels, usize>,
    out: Vec<EvalSeries>,
}

impl SeriesCollector {
    /// Adds one point; a second point for the same labels at the same time is the
    /// "same labelset" error, reported as `Err(())` for the caller to word.
    pub fn push(&mut self, labels: Labels, drop_name: bool, t: i64, v: f64) -> Result<(), ()> {
        match self.index.get(&labels) {
            Some(&i) => {
                let series = self.out.get_mut(i).ok_or(())?;
                if series.points.last().is_some_and(|p| p.t == t) {
                    return Err(());
                }
                series.drop_name |= drop_name;
                series.points.push(Point { t, v });
            }
            None => {
                self.index.insert(labels.clone(), self.out.len());
                self.out
                    .push(EvalSeries::new(labels, drop_name, vec![Point { t, v }]));
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Vec<EvalSeries> {
        self.out
    }
}

/// For each step, the `(series index, value)` pairs present at that step.
/// Given the series by value, it frees each one once read.
pub(crate) fn points_by_step<S: Borrow<EvalSeries>>(
    series: impl IntoIterator<Item = S>,
    steps: Steps,
) -> Vec<Vec<(usize, f64)>> {
    let mut out = vec![Vec::new(); steps.len()];
    for (i, s) in series.into_iter().enumerate() {
        for p in &s.borrow().points {
            if let Some(slot) = steps.index_of(p.t).and_then(|k| out.get_mut(k)) {
                slot.push((i, p.v));
            }
        }
    }
    out
}
