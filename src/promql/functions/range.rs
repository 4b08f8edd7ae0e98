//! Functions over range vectors: `rate`, `increase`, `delta`, `irate`,
//! `idelta`, `deriv`, `predict_linear`, `resets`, `changes`,
//! `double_exponential_smoothing` and every `*_over_time`.
//!
//! Each step sees the left-open window `(t-range, t]` of data selected once.
//! Must not touch sled or HTTP.

use promql_parser::parser::{Call, Expr};

use super::math::{kahan_inc, quantile};
use crate::promql::engine::Evaluator;
use crate::promql::error::{PromqlError, Result};
use crate::promql::format::go_g;
use crate::promql::selector::{range_input, RangeInput};
use crate::promql::value::{EvalSeries, Evaluated, Steps};
use crate::storage::{Sample, METRIC_NAME};

/// Names of the functions this module evaluates.
pub(crate) fn handles(name: &str) -> bool {
    matches!(
        name,
        "rate"
            | "increase"
            | "delta"
            | "irate"
            | "idelta"
            | "deriv"
            | "predict_linear"
            | "resets"
            | "changes"
            | "double_exponential_smoothing"
            | "holt_winters"
            | "avg_over_time"
            | "sum_over_time"
            | "count_over_time"
            | "min_over_time"
            | "max_over_time"
            | "last_over_time"
            | "first_over_time"
            | "present_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "quantile_over_time"
            | "mad_over_time"
            | "ts_of_min_over_time"
            | "ts_of_max_over_time"
            | "ts_of_last_over_time"
            | "ts_of_first_over_time"
            | "absent_over_time"
    )
}

/// Per-step facts a window function may need.
struct WindowCtx {
    /// Step timestamp.
    ts: i64,
    range_start: i64,
    range_end: i64,
    /// Scalar arguments at this step.
    params: Vec<f64>,
}

pub(crate) fn eval(ev: &mut Evaluator, name: &str, call: &Call, steps: Steps) -> Result<Evaluated> {
    let args = &call.args.args;
    let (range_arg, scalar_args): (&Expr, Vec<&Expr>) = match name {
        "quantile_over_time" => match args.as_slice() {
            [q, r] => (r, vec![q]),
            _ => return Err(arity(name)),
        },
        _ => match args.split_first() {
            Some((r, rest)) => (r, rest.iter().map(|b| b.as_ref()).collect()),
            None => return Err(arity(name)),
        },
    };
    let mut params = Vec::with_capacity(scalar_args.len());
    for a in &scalar_args {
        params.push(ev.eval_scalar(a, steps)?);
    }
    check_params(ev, name, &params, &scalar_args)?;
    let mut input = range_input(ev, range_arg, steps)?;
    if name == "absent_over_time" {
        return absent_over_time(ev, range_arg, input, steps).map(Evaluated::Vector);
    }
    let keeps_name = matches!(name, "last_over_time" | "first_over_time");
    let mut out = Vec::new();
    while let Some(s) = input.next_series(ev)? {
        ev.check_deadline()?;
        let mut points = Vec::new();
        for (k, ts) in steps.iter().enumerate() {
            let window = input.window(&s, k);
            if window.is_empty() {
                continue;
            }
            let end = input.window_ends.get(k).copied().unwrap_or(ts);
            let ctx = WindowCtx {
                ts,
                range_start: end.saturating_sub(input.range_ms),
                range_end: end,
                params: params
                    .iter()
                    .map(|p| p.get(k).copied().unwrap_or(f64::NAN))
                    .collect(),
            };
            if let Some(v) = apply(name, window, &ctx) {
                points.push(Sample { t: ts, v });
            }
        }
        if points.is_empty() {
            continue;
        }
        if matches!(name, "rate" | "increase") {
            note_non_counter(ev, &s, range_arg);
        }
        out.push(EvalSeries::new(s.labels, s.drop_name || !keeps_name, points));
    }
    Ok(Evaluated::Vector(out))
}

fn arity(name: &str) -> PromqlError {
    PromqlError::exec(format!("wrong number of arguments for {name}"))
}

fn check_params(ev: &mut Evaluator, name: &str, params: &[Vec<f64>], exprs: &[&Expr]) -> Result<()> {
    match name {
        "quantile_over_time" => {
            let (Some(qs), Some(expr)) = (params.first(), exprs.first()) else {
                return Ok(());
            };
            for &q in qs {
                if q.is_nan() || !(0.0..=1.0).contains(&q) {
                    ev.warn(
                        format!("quantile value should be between 0 and 1, got {}", go_g(q, None)),
                        expr,
                    );
                }
            }
        }
        "double_exponential_smoothing" | "holt_winters" => {
            let check = |values: Option<&Vec<f64>>, what: &str| -> Result<()> {
                for &v in values.map_or(&[][..], Vec::as_slice) {
                    if v <= 0.0 || v >= 1.0 || v.is_nan() {
                        return Err(PromqlError::exec(format!(
                            "invalid {what} factor. Expected: 0 < {} < 1, got: {v:.6}",
                            if what == "smoothing" { "sf" } else { "tf" }
                        )));
                    }
                }
                Ok(())
            };
            check(params.first(), "smoothing")?;
            check(params.get(1), "trend")?;
        }
        _ => {}
    }
    Ok(())
}

/// Prometheus's hint that `rate`/`increase` got a series whose name does not look like a counter.
fn note_non_counter(ev: &mut Evaluator, s: &EvalSeries, arg: &Expr) {
    let name = s.labels.get(METRIC_NAME);
    let counter_like = ["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|suffix| name.ends_with(suffix));
    if !name.is_empty() && !counter_like {
        ev.info(
            format!(
                "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}"
            ),
            arg,
        );
    }
}

fn apply(name: &str, w: &[Sample], ctx: &WindowCtx) -> Option<f64> {
    let param = |i: usize| ctx.params.get(i).copied().unwrap_or(f64::NAN);
    match name {
        "rate" => extrapolated_rate(w, ctx, true, true),
        "increase" => extrapolated_rate(w, ctx, true, false),
        "delta" => extrapolated_rate(w, ctx, false, false),
        "irate" => instant_value(w, true),
        "idelta" => instant_value(w, false),
        "deriv" => (w.len() >= 2).then(|| linear_regression(w, w[0].t).0),
        "predict_linear" => (w.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(w, ctx.ts);
            slope * param(0) + intercept
        }),
        "resets" => Some(w.windows(2).filter(|p| p[1].v < p[0].v).count() as f64),
        "changes" => Some(w.windows(2).filter(|p| !same_value(p[0].v, p[1].v)).count() as f64),
        "double_exponential_smoothing" | "holt_winters" => double_exponential(w, param(0), param(1)),
        "quantile_over_time" => quantile(param(0), &mut values(w)).into(),
        _ => simple_over_time(name, w),
    }
}

fn simple_over_time(name: &str, w: &[Sample]) -> Option<f64> {
    let first = w.first()?;
    let last = w.last()?;
    Some(match name {
        "avg_over_time" => average(w),
        "sum_over_time" => sum(w),
        "count_over_time" => w.len() as f64,
        "min_over_time" => pick(w, |cur, best| cur < best).v,
        "max_over_time" => pick(w, |cur, best| cur > best).v,
        "ts_of_min_over_time" => pick(w, |cur, best| cur <= best).t as f64 / 1000.0,
        "ts_of_max_over_time" => pick(w, |cur, best| cur >= best).t as f64 / 1000.0,
        "last_over_time" => last.v,
        "first_over_time" => first.v,
        "ts_of_last_over_time" => last.t as f64 / 1000.0,
        "ts_of_first_over_time" => first.t as f64 / 1000.0,
        "present_over_time" => 1.0,
        "stddev_over_time" => variance(w).sqrt(),
        "stdvar_over_time" => variance(w),
        "mad_over_time" => mad(w),
        _ => return None,
    })
}

fn values(w: &[Sample]) -> Vec<f64> {
    w.iter().map(|s| s.v).collect()
}

fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The sample `better` prefers, a NaN best always being replaced.
fn pick(w: &[Sample], better: impl Fn(f64, f64) -> bool) -> Sample {
    let mut best = w.first().copied().unwrap_or(Sample { t: 0, v: f64::NAN });
    for s in w {
        if better(s.v, best.v) || best.v.is_nan() {
            best = *s;
        }
    }
    best
}

fn sum(w: &[Sample]) -> f64 {
    let (s, c) = w.iter().fold((0.0, 0.0), |(s, c), p| kahan_inc(p.v, s, c));
    s + c
}

/// Mean with Kahan summation, switching to an incremental mean on overflow.
fn average(w: &[Sample]) -> f64 {
    let Some((first, rest)) = w.split_first() else {
        return f64::NAN;
    };
    let (mut total, mut c, mut mean) = (first.v, 0.0, 0.0);
    let mut incremental = false;
    let mut count = 1.0;
    for p in rest {
        count += 1.0;
        if !incremental {
            let (t, nc) = kahan_inc(p.v, total, c);
            if !t.is_infinite() {
                (total, c) = (t, nc);
                continue;
            }
            incremental = true;
            mean = total / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(p.v / count, q * mean, q * c);
    }
    if incremental {
        return mean + c;
    }
    total / count + c / count
}

fn variance(w: &[Sample]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in w {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

fn mad(w: &[Sample]) -> f64 {
    let mut vals = values(w);
    if vals.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let median = quantile(0.5, &mut vals);
    let mut deviations: Vec<f64> = vals.iter().map(|v| (v - median).abs()).collect();
    quantile(0.5, &mut deviations)
}

/// `rate`, `increase` and `delta` with Prometheus's extrapolation to the window edges.
fn extrapolated_rate(w: &[Sample], ctx: &WindowCtx, is_counter: bool, is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let first = w.first()?;
    let last = w.last()?;
    let mut result = last.v - first.v;
    if is_counter {
        result += w
            .windows(2)
            .filter(|p| p[1].v < p[0].v)
            .map(|p| p[0].v)
            .sum::<f64>();
    }
    let mut to_start = first.t.saturating_sub(ctx.range_start) as f64 / 1000.0;
    let mut to_end = ctx.range_end.saturating_sub(last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let average_gap = sampled / (w.len() - 1) as f64;
    let threshold = average_gap * 1.1;
    if to_start >= threshold {
        to_start = average_gap / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = average_gap / 2.0;
    }
    let factor = if sampled != 0.0 {
        (sampled + to_start + to_end) / sampled
    } else {
        1.0
    };
    let mut value = result * factor;
    if is_rate {
        value /= ctx.range_end.saturating_sub(ctx.range_start) as f64 / 1000.0;
    }
    Some(value)
}

/// `irate` / `idelta`: from the last two samples.
fn instant_value(w: &[Sample], is_rate: bool) -> Option<f64> {
    let [.., prev, last] = w else { return None };
    let mut result = last.v - prev.v;
    if is_rate && last.v < prev.v {
        result = last.v;
    }
    if !is_rate {
        return Some(result);
    }
    let gap = (last.t - prev.t) as f64 / 1000.0;
    (gap != 0.0).then_some(result / gap)
}

/// Least-squares slope and intercept, with x measured in seconds from `intercept_time`.
pub(crate) fn linear_regression(w: &[Sample], intercept_time: i64) -> (f64, f64) {
    let init_y = w.first().map_or(f64::NAN, |s| s.v);
    let const_y = w.iter().all(|s| s.v == init_y);
    if const_y {
        return if init_y.is_infinite() {
            (f64::NAN, f64::NAN)
        } else {
            (0.0, init_y)
        };
    }
    let (mut n, mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    for s in w {
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov_xy = sxy - sx * sy / n;
    let var_x = sx2 - sx * sx / n;
    let slope = cov_xy / var_x;
    (slope, sy / n - slope * sx / n)
}

fn double_exponential(w: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    let [first, second, ..] = w else { return None };
    let mut s0 = 0.0;
    let mut s1 = first.v;
    let mut b = second.v - first.v;
    for (i, p) in w.iter().enumerate().skip(1) {
        let x = sf * p.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

fn absent_over_time(
    ev: &mut Evaluator,
    arg: &Expr,
    mut input: RangeInput,
    steps: Steps,
) -> Result<Vec<EvalSeries>> {
    let mut absent = vec![true; steps.len()];
    while let Some(s) = input.next_series(ev)? {
        ev.check_deadline()?;
        for (k, slot) in absent.iter_mut().enumerate() {
            *slot &= input.window(&s, k).is_empty();
        }
    }
    let points: Vec<Sample> = steps
        .iter()
        .zip(absent)
        .filter(|&(_, absent)| absent)
        .map(|(t, _)| Sample { t, v: 1.0 })
        .collect();
    if points.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![EvalSeries::new(super::absent_labels(arg), false, points)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(start: i64, end: i64) -> WindowCtx {
        WindowCtx {
            ts: end,
            range_start: start,
            range_end: end,
            params: Vec::new(),
        }
    }

    #[test]
    fn rate_extrapolates_to_window_edges() {
        // 0,10,..,50 every 60s inside (0s, 300s]: samples at 60..300.
        let w: Vec<Sample> = (1..=5)
            .map(|i| Sample {
                t: i * 60_000,
                v: i as f64 * 10.0,
            })
            .collect();
        let v = extrapolated_rate(&w, &ctx(0, 300_000), true, false).unwrap();
        // Zero point lies 60s before the first sample, inside the threshold.
        assert!((v - 50.0).abs() < 1e-9, "{v}");
    }

    #[test]
    fn counter_reset_is_added_back() {
        let w = [Sample { t: 0, v: 10.0 }, Sample { t: 10, v: 2.0 }];
        assert_eq!(extrapolated_rate(&w, &ctx(0, 10), true, false), Some(2.0));
    }

    #[test]
    fn single_sample_gives_no_rate() {
        assert_eq!(
            extrapolated_rate(&[Sample { t: 5, v: 1.0 }], &ctx(0, 10), true, true),
            None
        );
    }
}
