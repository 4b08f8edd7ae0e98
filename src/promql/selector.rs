//! Data selection: instant vector selectors, range vector selectors and subqueries.
//!
//! Owns the lookback/staleness rule for instant selection, the left-open
//! `(t-range, t]` windows of range vectors and the aligned inner steps of
//! subqueries. Each selector reads storage once for all steps of a query,
//! one series at a time ([`Queryable::select_iter`](crate::storage::Queryable::select_iter)):
//! instant selectors and range functions reduce a series to its per-step
//! values before the next is decoded, so a query holds the samples of one
//! selected series, not of all. Must not touch sled or HTTP: reads go
//! through [`Queryable`](crate::storage::Queryable).

use promql_parser::label::MatchOp as ParserOp;
use promql_parser::parser::{Expr, MatrixSelector, SubqueryExpr, VectorSelector};

use super::engine::{duration_ms, Evaluator};
use super::error::{PromqlError, Result};
use super::value::{EvalSeries, Evaluated, Steps};
use crate::storage::{
    is_stale_nan, Labels, MatchOp, Matcher, Sample, SelectHints, Series, SeriesIter, METRIC_NAME,
};

/// The storage matchers of a selector, its metric name included.
pub(crate) fn storage_matchers(vs: &VectorSelector) -> Result<Vec<Matcher>> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(PromqlError::exec("\"or\" in label matchers is not supported"));
    }
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        let op = match m.op {
            ParserOp::Equal => MatchOp::Equal,
            ParserOp::NotEqual => MatchOp::NotEqual,
            ParserOp::Re(_) => MatchOp::Regex,
            ParserOp::NotRe(_) => MatchOp::NotRegex,
        };
        let matcher = Matcher::new(op, m.name.clone(), m.value.clone())
            .map_err(|e| PromqlError::exec(format!("invalid regular expression {:?}: {e}", m.value)))?;
        out.push(matcher);
    }
    Ok(out)
}

/// The series a selector reads, one at a time, each counted against the
/// query's sample limit as it is taken.
pub(crate) struct Selected<'a> {
    series: SeriesIter<'a>,
}

impl Selected<'_> {
    pub fn next(&mut self, ev: &mut Evaluator) -> Result<Option<Series>> {
        let Some(series) = self.series.next().transpose()? else {
            return Ok(None);
        };
        ev.samples_loaded += series.samples.len();
        if ev.samples_loaded > ev.opts.max_samples {
            return Err(PromqlError::TooManySamples);
        }
        Ok(Some(series))
    }
}

/// Starts reading `[mint, maxt]` for `matchers`.
fn select<'a>(ev: &mut Evaluator<'a>, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Selected<'a>> {
    ev.check_deadline()?;
    let remaining = ev.opts.max_samples.saturating_sub(ev.samples_loaded);
    let hints = SelectHints {
        max_samples: remaining,
    };
    let storage = ev.storage;
    Ok(Selected {
        series: storage.select_iter(matchers, mint, maxt, hints)?,
    })
}

pub(crate) fn selector_times(ev: &Evaluator, vs: &VectorSelector, steps: Steps) -> Vec<i64> {
    steps
        .iter()
        .map(|ts| ev.selector_time(ts, &vs.at, &vs.offset))
        .collect()
}

/// The sample an instant selector sees at evaluation time `te`, if any.
pub(crate) fn sample_at(samples: &[Sample], te: i64, lookback: i64) -> Option<Sample> {
    let end = samples.partition_point(|s| s.t <= te);
    let last = *samples.get(end.checked_sub(1)?)?;
    (last.t > te.saturating_sub(lookback) && !is_stale_nan(last.v)).then_some(last)
}

/// An instant vector selector evaluated at every step; `value` maps the step
/// time and the sample found to the point's value.
pub(crate) fn instant_with(
    ev: &mut Evaluator,
    vs: &VectorSelector,
    steps: Steps,
    value: fn(i64, Sample) -> f64,
) -> Result<Vec<EvalSeries>> {
    let times = selector_times(ev, vs, steps);
    let matchers = storage_matchers(vs)?;
    instant_matching(ev, &matchers, steps, &times, value)
}

/// Instant selection of the series matching `matchers`, with the evaluation
/// time of each step given by `times`.
pub(crate) fn instant_matching(
    ev: &mut Evaluator,
    matchers: &[Matcher],
    steps: Steps,
    times: &[i64],
    value: fn(i64, Sample) -> f64,
) -> Result<Vec<EvalSeries>> {
    let (Some(&lo), Some(&hi)) = (times.iter().min(), times.iter().max()) else {
        return Ok(Vec::new());
    };
    let lookback = ev.opts.lookback_delta_ms;
    let mut selected = select(ev, matchers, lo.saturating_sub(lookback) + 1, hi)?;
    let mut out = Vec::new();
    while let Some(series) = selected.next(ev)? {
        let points: Vec<Sample> = steps
            .iter()
            .zip(times)
            .filter_map(|(ts, &te)| {
                sample_at(&series.samples, te, lookback).map(|s| Sample {
                    t: ts,
                    v: value(ts, s),
                })
            })
            .collect();
        if !points.is_empty() {
            out.push(EvalSeries::new(series.labels, false, points));
        }
    }
    Ok(out)
}

/// An instant vector selector evaluated at every step.
pub(crate) fn instant(ev: &mut Evaluator, vs: &VectorSelector, steps: Steps) -> Result<Vec<EvalSeries>> {
    instant_with(ev, vs, steps, |_, s| s.v)
}

/// A range vector prepared for all steps: its series, taken one at a time,
/// and each step's window end.
pub(crate) struct RangeInput<'a> {
    series: RangeSeries<'a>,
    pub range_ms: i64,
    /// Window end (evaluation time after `@` and offset) per step.
    pub window_ends: Vec<i64>,
}

/// Where a range vector's series come from.
enum RangeSeries<'a> {
    /// A matrix selector: samples over the union of the windows, read from storage.
    Selected(Selected<'a>),
    /// A subquery: its inner expression, already evaluated.
    Evaluated(std::vec::IntoIter<EvalSeries>),
}

impl RangeInput<'_> {
    fn new(series: RangeSeries<'_>, range_ms: i64, window_ends: Vec<i64>) -> RangeInput<'_> {
        RangeInput {
            series,
            range_ms,
            window_ends,
        }
    }

    /// The next series, stale markers left out; `None` after the last.
    pub fn next_series(&mut self, ev: &mut Evaluator) -> Result<Option<EvalSeries>> {
        match &mut self.series {
            RangeSeries::Selected(selected) => Ok(selected.next(ev)?.map(|s| {
                let points = s.samples.into_iter().filter(|p| !is_stale_nan(p.v)).collect();
                EvalSeries::new(s.labels, false, points)
            })),
            RangeSeries::Evaluated(series) => Ok(series.next()),
        }
    }

    /// The samples of `s` in the left-open window `(end-range, end]` of step `step`.
    pub fn window<'s>(&self, s: &'s EvalSeries, step: usize) -> &'s [Sample] {
        let Some(&end) = self.window_ends.get(step) else {
            return &[];
        };
        let lo = s
            .points
            .partition_point(|p| p.t <= end.saturating_sub(self.range_ms));
        let hi = s.points.partition_point(|p| p.t <= end);
        s.points.get(lo..hi).unwrap_or(&[])
    }
}

/// Prepares the range vector `expr` (a matrix selector or a subquery) for `steps`.
pub(crate) fn range_input<'a>(ev: &mut Evaluator<'a>, expr: &Expr, steps: Steps) -> Result<RangeInput<'a>> {
    match expr {
        Expr::Paren(p) => range_input(ev, &p.expr, steps),
        Expr::MatrixSelector(ms) => matrix_input(ev, ms, steps),
        Expr::Subquery(sq) => subquery_input(ev, sq, steps),
        other => Err(PromqlError::exec(format!(
            "expected type range vector, got {}",
            other.value_type()
        ))),
    }
}

fn matrix_input<'a>(ev: &mut Evaluator<'a>, ms: &MatrixSelector, steps: Steps) -> Result<RangeInput<'a>> {
    let range_ms = duration_ms(ms.range);
    let window_ends = selector_times(ev, &ms.vs, steps);
    let (Some(&lo), Some(&hi)) = (window_ends.iter().min(), window_ends.iter().max()) else {
        return Ok(RangeInput::new(
            RangeSeries::Evaluated(Vec::new().into_iter()),
            range_ms,
            window_ends,
        ));
    };
    let matchers = storage_matchers(&ms.vs)?;
    let selected = select(ev, &matchers, lo.saturating_sub(range_ms) + 1, hi)?;
    Ok(RangeInput::new(
        RangeSeries::Selected(selected),
        range_ms,
        window_ends,
    ))
}

fn subquery_input<'a>(ev: &mut Evaluator<'a>, sq: &SubqueryExpr, steps: Steps) -> Result<RangeInput<'a>> {
    let range_ms = duration_ms(sq.range);
    let step_ms = sq
        .step
        .map(duration_ms)
        .unwrap_or(ev.opts.default_subquery_step_ms);
    if step_ms <= 0 {
        return Err(PromqlError::exec("subquery step must be positive"));
    }
    let window_ends: Vec<i64> = steps
        .iter()
        .map(|ts| ev.selector_time(ts, &sq.at, &sq.offset))
        .collect();
    let (Some(&lo), Some(&hi)) = (window_ends.iter().min(), window_ends.iter().max()) else {
        return Ok(RangeInput::new(
            RangeSeries::Evaluated(Vec::new().into_iter()),
            range_ms,
            window_ends,
        ));
    };
    // Inner steps sit on multiples of the step, strictly after the window start.
    let first = lo
        .saturating_sub(range_ms)
        .div_euclid(step_ms)
        .saturating_mul(step_ms)
        .saturating_add(step_ms);
    let inner = Steps {
        start: first,
        end: hi,
        interval: step_ms,
    };
    let series = match ev.eval(&sq.expr, inner)? {
        Evaluated::Vector(series) => series,
        Evaluated::Scalar(values) => {
            let points = inner.iter().zip(values).map(|(t, v)| Sample { t, v }).collect();
            vec![EvalSeries::new(Labels::default(), false, points)]
        }
        _ => {
            return Err(PromqlError::exec(
                "subquery is only allowed on instant vector or scalar",
            ))
        }
    };
    Ok(RangeInput::new(
        RangeSeries::Evaluated(series.into_iter()),
        range_ms,
        window_ends,
    ))
}
