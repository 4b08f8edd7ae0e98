//! `histogram_quantile` and `histogram_fraction` over classic `le` buckets,
//! with Prometheus's bucket fix-ups (sorting, coalescing, monotonicity).
//!
//! Native histograms are not stored by Sightline, so only classic buckets
//! exist here. Must not touch sled or HTTP.

use std::collections::{BTreeMap, HashMap};

use promql_parser::parser::Expr;

use super::arg;
use super::time::rfc3339;
use crate::promql::engine::{duplicate_labelset, Evaluator};
use crate::promql::error::Result;
use crate::promql::format::{go_g, open_metrics_float};
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
    let mut notes = MonotonicityNotes::default();
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
            for (labels, v) in evaluate_group(&mut notes, &kind, &at_step, labels, &mut group, t) {
                out.push(labels, true, t, v).map_err(|_| duplicate_labelset())?;
            }
        }
    }
    notes.emit(ev, vector_arg);
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

/// The output series of one bucket group at step time `t`.
fn evaluate_group(
    notes: &mut MonotonicityNotes,
    kind: &Kind,
    params: &[f64],
    labels: &Labels,
    group: &mut Vec<Bucket>,
    t: i64,
) -> Vec<(Labels, f64)> {
    let p = |i: usize| params.get(i).copied().unwrap_or(f64::NAN);
    let mut quantile = |q: f64, group: &mut Vec<Bucket>| {
        let (v, fixup) = bucket_quantile(q, group);
        if let Some(f) = fixup {
            notes.record(labels.get(METRIC_NAME), t, f);
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

fn warn_bad_quantiles(ev: &mut Evaluator, qs: &[f64], expr: &Expr) {
    for &q in qs {
        if q.is_nan() || !(0.0..=1.0).contains(&q) {
            ev.warn(
                format!("quantile value should be between 0 and 1, got {}", go_g(q, None)),
                expr,
            );
        }
    }
}

/// Forced-monotonicity fixes per metric name, merged over series and steps as
/// Prometheus merges the annotation.
#[derive(Default)]
struct MonotonicityNotes(BTreeMap<String, MonotonicityNote>);

struct MonotonicityNote {
    min_ts: i64,
    max_ts: i64,
    fixup: Fixup,
    samples: usize,
}

impl MonotonicityNotes {
    fn record(&mut self, metric: &str, t: i64, f: Fixup) {
        let note = self.0.entry(metric.to_string()).or_insert(MonotonicityNote {
            min_ts: t,
            max_ts: t,
            fixup: f,
            samples: 0,
        });
        note.min_ts = note.min_ts.min(t);
        note.max_ts = note.max_ts.max(t);
        note.fixup.min_bucket = note.fixup.min_bucket.min(f.min_bucket);
        note.fixup.max_bucket = note.fixup.max_bucket.max(f.max_bucket);
        note.fixup.max_diff = note.fixup.max_diff.max(f.max_diff);
        note.samples += 1;
    }

    fn emit(self, ev: &mut Evaluator, expr: &Expr) {
        for (metric, n) in self.0 {
            let name = if metric.is_empty() {
                String::new()
            } else {
                format!(" for metric name {metric:?}")
            };
            ev.info(
                format!(
                    "input to histogram_quantile needed to be fixed for monotonicity \
                     (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)\
                     {name}, from buckets {} to {}, with a max diff of {}, over {} samples from {} to {}",
                    go_g(n.fixup.min_bucket, None),
                    go_g(n.fixup.max_bucket, None),
                    go_g(n.fixup.max_diff, Some(2)),
                    n.samples,
                    rfc3339(n.min_ts / 1000),
                    rfc3339(n.max_ts / 1000),
                ),
                expr,
            );
        }
    }
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

/// Where monotonicity had to be forced: the bucket bounds involved and the largest decrease.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fixup {
    min_bucket: f64,
    max_bucket: f64,
    max_diff: f64,
}

/// Makes counts non-decreasing; describes the real decreases it had to fix.
fn ensure_monotonic(buckets: &mut [Bucket]) -> Option<Fixup> {
    let mut fixup: Option<Fixup> = None;
    let mut prev = buckets.first()?.count;
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
            let f = fixup.get_or_insert(Fixup {
                min_bucket: f64::INFINITY,
                max_bucket: f64::NEG_INFINITY,
                max_diff: 0.0,
            });
            f.min_bucket = f.min_bucket.min(b.upper);
            f.max_bucket = f.max_bucket.max(b.upper);
            f.max_diff = f.max_diff.max(prev - curr);
            continue;
        }
        prev = curr;
    }
    fixup
}

/// The φ-quantile from classic buckets, and where monotonicity was forced.
fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> (f64, Option<Fixup>) {
    if q.is_nan() {
        return (f64::NAN, None);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, None);
    }
    if q > 1.0 {
        return (f64::INFINITY, None);
    }
    if prepare(buckets).is_none() {
        return (f64::NAN, None);
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
        assert_eq!(bucket_quantile(0.75, &mut b), (1.5, None));
    }

    #[test]
    fn quantile_needs_inf_bucket_and_fixes_monotonicity() {
        let mut b = buckets(&[(1.0, 10.0), (2.0, 20.0)]);
        assert!(bucket_quantile(0.5, &mut b).0.is_nan());
        let mut b = buckets(&[(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 10.0)]);
        assert_eq!(
            bucket_quantile(0.5, &mut b).1,
            Some(Fixup {
                min_bucket: 2.0,
                max_bucket: 2.0,
                max_diff: 5.0
            })
        );
    }

    #[test]
    fn fraction_of_all_is_one() {
        let mut b = buckets(&[(1.0, 10.0), (f64::INFINITY, 20.0)]);
        assert_eq!(bucket_fraction(f64::NEG_INFINITY, f64::INFINITY, &mut b), 1.0);
    }
}
