//! `histogram_quantile` and `histogram_fraction` over classic `le` buckets,
//! with Prometheus's bucket fix-ups (sorting, coalescing, monotonicity).
//!
//! Native histograms are not stored by Sightline, so only classic buckets
//! exist here. Must not touch sled or HTTP.

use std::collections::HashMap;

use promql_parser::parser::Expr;

use super::arg;
use crate::promql::aggregation::go_float;
use crate::promql::engine::{duplicate_labelset, Evaluator};
use crate::promql::error::Result;
use crate::promql::value::{points_by_step, EvalSeries, Evaluated, SeriesCollector, Steps};
use crate::storage::{Labels, METRIC_NAME};

/// Relative tolerance under which neighbouring bucket counts count as equal.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// Where each input series' buckets go: its group (labels without `le`) and bound.
struct BucketLayout {
    groups: Vec<Labels>,
    per_series: Vec<Option<(usize, f64)>>,
}

fn layout(ev: &mut Evaluator, input: &[EvalSeries], arg_expr: &Expr) -> BucketLayout {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups = Vec::new();
    let mut per_series = Vec::with_capacity(input.len());
    for s in input {
        let le = s.labels.get("le");
        let Ok(upper) = le.trim().parse::<f64>() else {
            ev.warn(
                format!(
                    "bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {:?}",
                    s.labels.get(METRIC_NAME)
                ),
                arg_expr,
            );
            per_series.push(None);
            continue;
        };
        let key = s.labels.without(&["le"]);
        let g = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(key);
            groups.len() - 1
        });
        per_series.push(Some((g, upper)));
    }
    BucketLayout { groups, per_series }
}

/// Which bucket function a call is, with its argument positions.
enum Kind {
    Quantile,
    /// `histogram_quantiles(v, label, q…)`: one output series per quantile.
    Quantiles(String),
    Fraction,
}

pub(crate) fn eval(ev: &mut Evaluator, name: &str, args: &[Box<Expr>], steps: Steps) -> Result<Evaluated> {
    let (kind, param_args, vector_arg): (Kind, Vec<&Expr>, &Expr) = match name {
        "histogram_fraction" => (Kind::Fraction, vec![arg(args, 0)?, arg(args, 1)?], arg(args, 2)?),
        "histogram_quantiles" => {
            let label = ev.eval_string(arg(args, 1)?, steps)?;
            let qs = args.iter().skip(2).map(|a| a.as_ref()).collect();
            (Kind::Quantiles(label), qs, arg(args, 0)?)
        }
        _ => (Kind::Quantile, vec![arg(args, 0)?], arg(args, 1)?),
    };
    let mut params = Vec::new();
    for a in &param_args {
        let values = ev.eval_scalar(a, steps)?;
        if !matches!(kind, Kind::Fraction) {
            warn_bad_quantiles(ev, &values, a);
        }
        params.push(values);
    }
    let input = ev.eval_vector(vector_arg, steps)?;
    let layout = layout(ev, &input, vector_arg);
    let by_step = points_by_step(&input, steps);
    let mut out = SeriesCollector::default();
    for (k, t) in steps.iter().enumerate() {
        let at_step: Vec<f64> = params
            .iter()
            .map(|v| v.get(k).copied().unwrap_or(f64::NAN))
            .collect();
        let buckets = layout.buckets_at(by_step.get(k).map_or(&[][..], Vec::as_slice));
        for (labels, mut group) in layout.groups.iter().zip(buckets) {
            if group.is_empty() {
                continue;
            }
            for (labels, v) in evaluate_group(ev, &kind, &at_step, labels, &mut group, vector_arg) {
                out.push(labels, true, t, v).map_err(|_| duplicate_labelset())?;
            }
        }
    }
    Ok(Evaluated::Vector(out.finish()))
}

impl BucketLayout {
    /// The buckets of each group from the points present at one step.
    fn buckets_at(&self, points: &[(usize, f64)]) -> Vec<Vec<Bucket>> {
        let mut buckets: Vec<Vec<Bucket>> = vec![Vec::new(); self.groups.len()];
        for &(i, count) in points {
            let Some(&Some((g, upper))) = self.per_series.get(i) else {
                continue;
            };
            if let Some(b) = buckets.get_mut(g) {
                b.push(Bucket { upper, count });
            }
        }
        buckets
    }
}

/// The output series of one bucket group at one step.
fn evaluate_group(
    ev: &mut Evaluator,
    kind: &Kind,
    params: &[f64],
    labels: &Labels,
    group: &mut Vec<Bucket>,
    vector_arg: &Expr,
) -> Vec<(Labels, f64)> {
    let p = |i: usize| params.get(i).copied().unwrap_or(f64::NAN);
    let mut quantile = |q: f64, group: &mut Vec<Bucket>| {
        let (v, forced) = bucket_quantile(q, group);
        if forced {
            note_forced_monotonicity(ev, labels, vector_arg);
        }
        v
    };
    match kind {
        Kind::Fraction => vec![(labels.clone(), bucket_fraction(p(0), p(1), group))],
        Kind::Quantile => vec![(labels.clone(), quantile(p(0), group))],
        Kind::Quantiles(label) => params
            .iter()
            .map(|&q| {
                (
                    labels.with(label, &open_metrics_float(q)),
                    quantile(q, &mut group.clone()),
                )
            })
            .collect(),
    }
}

/// Formats a quantile as an OpenMetrics label value (`0.0`, `0.25`, `+Inf`).
fn open_metrics_float(q: f64) -> String {
    let text = go_float(q);
    if q.is_finite() && q == q.floor() && !text.contains(['e', '.']) {
        return format!("{text}.0");
    }
    text
}

fn warn_bad_quantiles(ev: &mut Evaluator, qs: &[f64], expr: &Expr) {
    for &q in qs {
        if q.is_nan() || !(0.0..=1.0).contains(&q) {
            ev.warn(
                format!("quantile value should be between 0 and 1, got {}", go_float(q)),
                expr,
            );
        }
    }
}

fn note_forced_monotonicity(ev: &mut Evaluator, labels: &Labels, expr: &Expr) {
    ev.info(
        format!(
            "input to histogram_quantile needed to be fixed for monotonicity \
             (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) \
             for metric name {:?}",
            labels.get(METRIC_NAME)
        ),
        expr,
    );
}

/// Sorts by bound and merges buckets with equal bounds; `None` without a `+Inf` bucket.
fn prepare(buckets: &mut Vec<Bucket>) -> Option<()> {
    buckets.sort_by(|a, b| a.upper.partial_cmp(&b.upper).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last()?.upper != f64::INFINITY {
        return None;
    }
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.drain(..) {
        match merged.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => merged.push(b),
        }
    }
    *buckets = merged;
    Some(())
}

fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || (a.abs() + b.abs()) < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / (a.abs() + b.abs()).min(f64::MAX) < epsilon
}

/// Makes counts non-decreasing; returns whether a real decrease had to be fixed.
fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let Some(first) = buckets.first() else {
        return false;
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            b.count = prev;
            continue;
        }
        if curr < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    forced
}

/// The φ-quantile from classic buckets, and whether monotonicity was forced.
fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    if prepare(buckets).is_none() {
        return (f64::NAN, false);
    }
    let forced = ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets.last().map_or(0.0, |b| b.count);
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let last = buckets.len() - 1;
    let b = buckets
        .get(..last)
        .map_or(0, |head| head.partition_point(|bk| bk.count < rank));
    let upper_of = |i: usize| buckets.get(i).map_or(f64::NAN, |bk| bk.upper);
    if b == last {
        return (upper_of(last - 1), forced);
    }
    if b == 0 && upper_of(0) <= 0.0 {
        return (upper_of(0), forced);
    }
    let mut start = 0.0;
    let end = upper_of(b);
    let mut count = buckets.get(b).map_or(f64::NAN, |bk| bk.count);
    if let Some(prev) = b.checked_sub(1).and_then(|i| buckets.get(i)) {
        start = prev.upper;
        count -= prev.count;
        rank -= prev.count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// The fraction of observations between `lower` and `upper`, interpolated linearly.
fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if prepare(buckets).is_none() {
        return f64::NAN;
    }
    let count = buckets.last().map_or(0.0, |b| b.count);
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let mut rank = 0.0;
    let (mut lower_rank, mut upper_rank) = (None, None);
    let mut lower_bound = if buckets.first().is_some_and(|b| b.upper <= 0.0) {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets.get(i - 1).map_or(lower_bound, |p| p.upper);
        }
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                b.count
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (b.upper - lower_bound)
            }
        };
        if lower_rank.is_none() && lower_bound >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && lower_bound >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && lower_bound < lower && b.upper > lower {
            lower_rank = Some(interpolate(lower));
        }
        if upper_rank.is_none() && lower_bound < upper && b.upper > upper {
            upper_rank = Some(interpolate(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank = b.count;
    }
    let lower_rank = lower_rank.filter(|r| *r <= count).unwrap_or(count);
    let upper_rank = upper_rank.filter(|r| *r <= count).unwrap_or(count);
    (upper_rank - lower_rank) / count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    #[test]
    fn quantile_interpolates_inside_bucket() {
        let mut b = buckets(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)]);
        assert_eq!(bucket_quantile(0.75, &mut b), (1.5, false));
    }

    #[test]
    fn quantile_needs_inf_bucket_and_fixes_monotonicity() {
        let mut b = buckets(&[(1.0, 10.0), (2.0, 20.0)]);
        assert!(bucket_quantile(0.5, &mut b).0.is_nan());
        let mut b = buckets(&[(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 10.0)]);
        assert!(bucket_quantile(0.5, &mut b).1);
    }

    #[test]
    fn fraction_of_all_is_one() {
        let mut b = buckets(&[(1.0, 10.0), (f64::INFINITY, 20.0)]);
        assert_eq!(bucket_fraction(f64::NEG_INFINITY, f64::INFINITY, &mut b), 1.0);
    }
}
