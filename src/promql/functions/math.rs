//! Element-wise numeric functions (`abs`, `ln`, trig, `clamp*`, `round`, …)
//! and the numeric helpers other modules share (Kahan summation, quantile).
//!
//! Must not touch sled or HTTP.

use crate::promql::value::{EvalSeries, Steps};

/// One step of Kahan-Neumaier summation: returns the new sum and compensation.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The φ-quantile of `values` with Prometheus's interpolation; sorts `values`.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    let at = |i: f64| values.get(i as usize).copied().unwrap_or(f64::NAN);
    at(lower) * (1.0 - weight) + at(upper) * weight
}

/// The function a one-argument numeric PromQL function applies to each value.
pub(crate) fn simple(name: &str) -> Option<fn(f64) -> f64> {
    let f: fn(f64) -> f64 = match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sqrt" => f64::sqrt,
        "sgn" => sgn,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        _ => return None,
    };
    Some(f)
}

fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// Applies `f` to every point and marks the series for name removal.
pub(crate) fn map_values(mut series: Vec<EvalSeries>, f: impl Fn(f64) -> f64) -> Vec<EvalSeries> {
    for s in &mut series {
        s.drop_name = true;
        s.points.iter_mut().for_each(|p| p.v = f(p.v));
    }
    series
}

/// Applies `f(value, param_at_step)`; points where `f` gives `None` are dropped.
pub(crate) fn map_with_param(
    mut series: Vec<EvalSeries>,
    steps: Steps,
    params: &[Vec<f64>],
    f: impl Fn(f64, &[f64]) -> Option<f64>,
) -> Vec<EvalSeries> {
    for s in &mut series {
        s.drop_name = true;
        s.points.retain_mut(|p| {
            let k = steps.index_of(p.t).unwrap_or(0);
            let at_step: Vec<f64> = params
                .iter()
                .map(|ps| ps.get(k).copied().unwrap_or(f64::NAN))
                .collect();
            match f(p.v, &at_step) {
                Some(v) => {
                    p.v = v;
                    true
                }
                None => false,
            }
        });
    }
    series.retain(|s| !s.points.is_empty());
    series
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// `clamp(v, min, max)`; nothing when `max < min`.
pub(crate) fn clamp(v: f64, min: f64, max: f64) -> Option<f64> {
    (max >= min || min.is_nan() || max.is_nan()).then(|| go_max(min, go_min(max, v)))
}

/// `round(v, to_nearest)` as Prometheus computes it.
pub(crate) fn round(v: f64, to_nearest: f64) -> f64 {
    let inverse = 1.0 / to_nearest;
    (v * inverse + 0.5).floor() / inverse
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_and_bounds() {
        let mut v = vec![4.0, 1.0, 2.0, 3.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(-1.0, &mut v), f64::NEG_INFINITY);
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
        assert!(quantile(f64::NAN, &mut v).is_nan());
    }

    #[test]
    fn kahan_keeps_small_terms() {
        let (mut s, mut c) = (0.0, 0.0);
        for x in [1e100, 1.0, -1e100] {
            (s, c) = kahan_inc(x, s, c);
        }
        assert_eq!(s + c, 1.0);
    }

    #[test]
    fn clamp_with_inverted_bounds_is_empty() {
        assert_eq!(clamp(5.0, 10.0, 1.0), None);
        assert_eq!(clamp(5.0, 1.0, 3.0), Some(3.0));
        assert_eq!(round(2.5, 1.0), 3.0);
        assert_eq!(round(-2.5, 1.0), -2.0);
    }
}
