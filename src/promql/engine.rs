//! The query entry points and the expression dispatcher.
//!
//! Owns [`Engine`], its options, the per-query [`Evaluator`] state (limits,
//! deadline, annotations) and the final shaping of results (delayed name
//! removal, sorting). Node kinds are evaluated in their own modules. Must not
//! touch sled or HTTP: all data comes through [`Queryable`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AtModifier, Expr, Offset};

use super::error::{PromqlError, Result};
use super::value::{Annotations, EvalSeries, Evaluated, QueryResult, Sample, Series, Steps, Value};
use super::{aggregation, binary, functions, selector};
use crate::storage::{Labels, Queryable, METRIC_NAME};

/// Limits and defaults of the evaluator.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample.
    pub lookback_delta_ms: i64,
    /// Most samples one query may load from storage.
    pub max_samples: usize,
    pub timeout: Duration,
    /// Most steps a range query may have.
    pub max_points_per_series: usize,
    /// Subquery step when `[range:]` gives none.
    pub default_subquery_step_ms: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            max_points_per_series: 11_000,
            default_subquery_step_ms: 60 * 1000,
        }
    }
}

/// Lets a caller stop a running query, e.g. when its HTTP client goes away.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_canceled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Evaluates PromQL over any [`Queryable`].
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` at one instant `t_ms`.
    pub fn instant_query(&self, q: &dyn Queryable, expr: &str, t_ms: i64) -> Result<QueryResult> {
        self.instant_query_cancellable(q, expr, t_ms, &CancelToken::default())
    }

    /// [`Engine::instant_query`] that stops with [`PromqlError::Canceled`] once `cancel` is set.
    pub fn instant_query_cancellable(
        &self,
        q: &dyn Queryable,
        expr: &str,
        t_ms: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult> {
        let ast = parse(expr)?;
        let mut ev = Evaluator::new(q, &self.opts, expr, Steps::single(t_ms), cancel);
        let value = match ev.eval(&ast, Steps::single(t_ms))? {
            Evaluated::Scalar(v) => Value::Scalar {
                t: t_ms,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            Evaluated::String(s) => Value::String { t: t_ms, v: s },
            Evaluated::Vector(series) => Value::Vector(instant_vector(series)?),
            Evaluated::Matrix(series) => {
                let mut matrix = drop_names_in_matrix(series)?;
                matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(matrix)
            }
        };
        Ok(ev.finish(value))
    }

    /// Evaluates `expr` at every step from `start_ms` to `end_ms`, selecting data once.
    pub fn range_query(
        &self,
        q: &dyn Queryable,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult> {
        let steps = Steps {
            start: start_ms,
            end: end_ms,
            interval: step_ms,
        };
        self.range_query_cancellable(q, expr, steps, &CancelToken::default())
    }

    /// [`Engine::range_query`] over `steps` that stops with [`PromqlError::Canceled`] once `cancel` is set.
    pub fn range_query_cancellable(
        &self,
        q: &dyn Queryable,
        expr: &str,
        steps: Steps,
        cancel: &CancelToken,
    ) -> Result<QueryResult> {
        let Steps {
            start: start_ms,
            end: end_ms,
            interval: step_ms,
        } = steps;
        let ast = parse(expr)?;
        check_range_params(&self.opts, &ast, start_ms, end_ms, step_ms)?;
        let mut ev = Evaluator::new(q, &self.opts, expr, steps, cancel);
        let series = match ev.eval(&ast, steps)? {
            Evaluated::Scalar(values) => vec![EvalSeries::new(
                Labels::default(),
                false,
                steps
                    .iter()
                    .zip(values)
                    .map(|(t, v)| crate::storage::Sample { t, v })
                    .collect(),
            )],
            Evaluated::Vector(series) => series,
            Evaluated::String(_) | Evaluated::Matrix(_) => {
                return Err(invalid_range_type(ast.value_type()));
            }
        };
        let mut matrix = drop_names_in_matrix(series)?;
        matrix.retain(|s| !s.points.is_empty());
        matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(ev.finish(Value::Matrix(matrix)))
    }
}

fn parse(expr: &str) -> Result<Expr> {
    super::raw_strings::parse(expr).map_err(|e| PromqlError::Parse(format!("parse error: {e}")))
}

fn invalid_range_type(t: ValueType) -> PromqlError {
    let name = match t {
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
        ValueType::Scalar => "scalar",
        ValueType::Vector => "instant vector",
    };
    PromqlError::exec(format!(
        "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
    ))
}

fn check_range_params(opts: &EngineOptions, ast: &Expr, start: i64, end: i64, step: i64) -> Result<()> {
    if step <= 0 {
        return Err(PromqlError::exec(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if end < start {
        return Err(PromqlError::exec("end timestamp must not be before start time"));
    }
    if end.saturating_sub(start) / step > opts.max_points_per_series as i64 {
        return Err(PromqlError::TooManyPoints(opts.max_points_per_series));
    }
    match ast.value_type() {
        ValueType::Matrix | ValueType::String => Err(invalid_range_type(ast.value_type())),
        _ => Ok(()),
    }
}

/// Drops `__name__` (and the other metadata labels) where the delayed flag asks for it.
fn drop_flagged_names(series: &mut [EvalSeries]) {
    for s in series.iter_mut().filter(|s| s.drop_name) {
        s.labels = s.labels.without(&[METRIC_NAME, "__type__", "__unit__"]);
        s.drop_name = false;
    }
}

fn instant_vector(mut series: Vec<EvalSeries>) -> Result<Vec<Sample>> {
    drop_flagged_names(&mut series);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        let Some(p) = s.points.last().copied() else {
            continue;
        };
        if !seen.insert(s.labels.clone()) {
            return Err(duplicate_labelset());
        }
        out.push(Sample {
            labels: s.labels,
            t: p.t,
            v: p.v,
        });
    }
    Ok(out)
}

pub(crate) fn duplicate_labelset() -> PromqlError {
    PromqlError::exec("vector cannot contain metrics with the same labelset")
}

/// Applies delayed name removal to a matrix, merging series that end up with
/// the same labels when their timestamps do not collide.
fn drop_names_in_matrix(mut series: Vec<EvalSeries>) -> Result<Vec<Series>> {
    drop_flagged_names(&mut series);
    let merged = merge_same_labels(series)?;
    Ok(merged
        .into_iter()
        .map(|s| Series {
            labels: s.labels,
            points: s.points,
        })
        .collect())
}

/// Merges series with equal labels; a timestamp present in two of them is an error.
pub(crate) fn merge_same_labels(series: Vec<EvalSeries>) -> Result<Vec<EvalSeries>> {
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    let mut out: Vec<EvalSeries> = Vec::with_capacity(series.len());
    let mut needs_sort = Vec::new();
    for s in series {
        match index
            .get(&s.labels)
            .and_then(|&i| out.get_mut(i).map(|existing| (i, existing)))
        {
            Some((i, existing)) => {
                existing.points.extend(s.points);
                needs_sort.push(i);
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    for i in needs_sort {
        let Some(merged) = out.get_mut(i) else { continue };
        let points = &mut merged.points;
        points.sort_by_key(|p| p.t);
        if points.windows(2).any(|w| w[0].t == w[1].t) {
            return Err(duplicate_labelset());
        }
    }
    Ok(out)
}

/// Per-query evaluation state.
pub(crate) struct Evaluator<'a> {
    pub storage: &'a dyn Queryable,
    pub opts: &'a EngineOptions,
    pub query_text: &'a str,
    pub query_start: i64,
    pub query_end: i64,
    /// The range query's step; 0 for instant queries.
    pub query_step: i64,
    deadline: Instant,
    cancel: &'a CancelToken,
    pub samples_loaded: usize,
    pub annotations: Annotations,
}

impl<'a> Evaluator<'a> {
    fn new(
        storage: &'a dyn Queryable,
        opts: &'a EngineOptions,
        query_text: &'a str,
        query: Steps,
        cancel: &'a CancelToken,
    ) -> Self {
        Evaluator {
            cancel,
            storage,
            opts,
            query_text,
            query_start: query.start,
            query_end: query.end,
            query_step: if query.len() > 1 || query.interval > 1 {
                query.interval
            } else {
                0
            },
            deadline: Instant::now() + opts.timeout,
            samples_loaded: 0,
            annotations: Annotations::default(),
        }
    }

    fn finish(self, value: Value) -> QueryResult {
        QueryResult {
            value,
            warnings: self.annotations.warnings,
            infos: self.annotations.infos,
        }
    }

    /// Fails once the query is canceled or past its timeout.
    pub fn check_deadline(&self) -> Result<()> {
        if self.cancel.is_canceled() {
            return Err(PromqlError::Canceled);
        }
        if Instant::now() > self.deadline {
            return Err(PromqlError::Timeout);
        }
        Ok(())
    }

    /// Evaluates any node over `steps`.
    pub fn eval(&mut self, expr: &Expr, steps: Steps) -> Result<Evaluated> {
        self.check_deadline()?;
        if steps.len() > self.opts.max_samples {
            return Err(PromqlError::TooManySamples);
        }
        let value = self.eval_node(expr, steps)?;
        if points_in(&value) > self.opts.max_samples {
            return Err(PromqlError::TooManySamples);
        }
        Ok(value)
    }

    fn eval_node(&mut self, expr: &Expr, steps: Steps) -> Result<Evaluated> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Evaluated::Scalar(vec![n.val; steps.len()])),
            Expr::StringLiteral(s) => Ok(Evaluated::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, steps),
            Expr::Unary(u) => negate(self.eval(&u.expr, steps)?),
            Expr::Binary(b) => binary::eval(self, b, steps),
            Expr::Aggregate(a) => aggregation::eval(self, a, steps),
            Expr::Call(c) => functions::eval(self, c, steps),
            Expr::VectorSelector(vs) => selector::instant(self, vs, steps).map(Evaluated::Vector),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => self.eval_range_vector(expr, steps),
            Expr::Extension(_) => Err(PromqlError::exec("unsupported expression extension")),
        }
    }

    /// A range vector evaluated on its own, which only an instant query may ask for.
    fn eval_range_vector(&mut self, expr: &Expr, steps: Steps) -> Result<Evaluated> {
        if steps.len() != 1 {
            return Err(invalid_range_type(ValueType::Matrix));
        }
        let mut input = selector::range_input(self, expr, steps)?;
        let mut series = Vec::new();
        while let Some(s) = input.next_series(self)? {
            let window = input.window(&s, 0).to_vec();
            if !window.is_empty() {
                series.push(EvalSeries::new(s.labels, s.drop_name, window));
            }
        }
        Ok(Evaluated::Matrix(series))
    }

    /// Evaluates a node that must give an instant vector.
    pub fn eval_vector(&mut self, expr: &Expr, steps: Steps) -> Result<Vec<EvalSeries>> {
        match self.eval(expr, steps)? {
            Evaluated::Vector(v) => Ok(v),
            other => Err(type_error("instant vector", &other)),
        }
    }

    /// Evaluates a node that must give a scalar: one value per step.
    pub fn eval_scalar(&mut self, expr: &Expr, steps: Steps) -> Result<Vec<f64>> {
        match self.eval(expr, steps)? {
            Evaluated::Scalar(v) => Ok(v),
            other => Err(type_error("scalar", &other)),
        }
    }

    pub fn eval_string(&mut self, expr: &Expr, steps: Steps) -> Result<String> {
        match self.eval(expr, steps)? {
            Evaluated::String(s) => Ok(s),
            other => Err(type_error("string", &other)),
        }
    }

    /// The evaluation time of a selector at step time `ts`: `@` and offset applied.
    pub fn selector_time(&self, ts: i64, at: &Option<AtModifier>, offset: &Option<Offset>) -> i64 {
        let base = match at {
            None => ts,
            Some(AtModifier::Start) => self.query_start,
            Some(AtModifier::End) => self.query_end,
            Some(AtModifier::At(t)) => system_time_ms(*t),
        };
        base.saturating_sub(offset_ms(offset))
    }

    /// `(line:col)` of the sub-expression `expr` in the query text, 1-based.
    pub fn position(&self, expr: &Expr) -> String {
        let text = expr.to_string();
        let byte = self
            .query_text
            .find(&text)
            .or_else(|| first_selector_name(expr).and_then(|name| self.query_text.find(name.as_str())));
        let byte = byte.unwrap_or(0);
        let before = &self.query_text[..byte];
        let line = before.matches('\n').count() + 1;
        let col = byte - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        format!("({line}:{col})")
    }

    pub fn warn(&mut self, detail: String, expr: &Expr) {
        let pos = self.position(expr);
        self.annotations.warn(format!("PromQL warning: {detail} {pos}"));
    }

    pub fn info(&mut self, detail: String, expr: &Expr) {
        let pos = self.position(expr);
        self.annotations.info(format!("PromQL info: {detail} {pos}"));
    }
}

/// How many points a node's result holds, for the samples limit.
fn points_in(value: &Evaluated) -> usize {
    match value {
        Evaluated::Vector(s) | Evaluated::Matrix(s) => s.iter().map(|s| s.points.len()).sum(),
        Evaluated::Scalar(v) => v.len(),
        Evaluated::String(_) => 0,
    }
}

fn first_selector_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::VectorSelector(vs) => vs.name.clone(),
        Expr::MatrixSelector(ms) => ms.vs.name.clone(),
        Expr::Paren(p) => first_selector_name(&p.expr),
        Expr::Subquery(s) => first_selector_name(&s.expr),
        Expr::Unary(u) => first_selector_name(&u.expr),
        _ => None,
    }
}

fn type_error(expected: &str, got: &Evaluated) -> PromqlError {
    let got = match got {
        Evaluated::Scalar(_) => "scalar",
        Evaluated::String(_) => "string",
        Evaluated::Vector(_) => "instant vector",
        Evaluated::Matrix(_) => "range vector",
    };
    PromqlError::exec(format!("expected type {expected}, got {got}"))
}

fn negate(value: Evaluated) -> Result<Evaluated> {
    match value {
        Evaluated::Scalar(v) => Ok(Evaluated::Scalar(v.into_iter().map(|x| -x).collect())),
        Evaluated::Vector(mut series) => {
            for s in &mut series {
                s.drop_name = true;
                s.points.iter_mut().for_each(|p| p.v = -p.v);
            }
            Ok(Evaluated::Vector(series))
        }
        other => Err(type_error("instant vector or scalar", &other)),
    }
}

pub(crate) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(*d),
        Some(Offset::Neg(d)) => -duration_ms(*d),
    }
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => duration_ms(d),
        Err(e) => -duration_ms(e.duration()),
    }
}
