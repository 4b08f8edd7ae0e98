//! Clock, calendar and type-conversion functions: `time`, `pi`, `timestamp`,
//! `vector`, `scalar`, `day_of_*`, `days_in_month`, `hour`, `minute`,
//! `month`, `year`.
//!
//! Calendar maths is UTC on the proleptic Gregorian calendar. Must not touch
//! sled or HTTP.

use promql_parser::parser::Expr;

use super::{arg, math::map_values};
use crate::promql::engine::Evaluator;
use crate::promql::error::{PromqlError, Result};
use crate::promql::selector::instant_with;
use crate::promql::value::{points_by_step, EvalSeries, Evaluated, Steps};
use crate::storage::{Labels, Sample};

pub(crate) fn eval(ev: &mut Evaluator, name: &str, args: &[Box<Expr>], steps: Steps) -> Result<Evaluated> {
    match name {
        "time" | "pi" | "step" | "range" | "start" | "end" => Ok(query_constant(ev, name, steps)),
        "min_of" | "max_of" => min_or_max_of(ev, name, args, steps),
        "vector" => {
            let values = ev.eval_scalar(arg(args, 0)?, steps)?;
            let points = steps.iter().zip(values).map(|(t, v)| Sample { t, v }).collect();
            Ok(Evaluated::Vector(vec![EvalSeries::new(
                Labels::default(),
                false,
                points,
            )]))
        }
        "scalar" => scalar(ev, args, steps),
        "timestamp" => timestamp(ev, arg(args, 0)?, steps),
        _ => calendar_function(ev, name, args, steps),
    }
}

/// Scalars fixed by the query itself: `time()`, `pi()`, `step()`, `range()`, `start()`, `end()`.
fn query_constant(ev: &Evaluator, name: &str, steps: Steps) -> Evaluated {
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let value = match name {
        "time" => return Evaluated::Scalar(steps.iter().map(seconds).collect()),
        "pi" => std::f64::consts::PI,
        "step" => seconds(ev.query_step),
        "range" => seconds(ev.query_end.saturating_sub(ev.query_start)),
        "start" => seconds(ev.query_start),
        _ => seconds(ev.query_end),
    };
    Evaluated::Scalar(vec![value; steps.len()])
}

fn min_or_max_of(ev: &mut Evaluator, name: &str, args: &[Box<Expr>], steps: Steps) -> Result<Evaluated> {
    let a = ev.eval_scalar(arg(args, 0)?, steps)?;
    let b = ev.eval_scalar(arg(args, 1)?, steps)?;
    let pick = if name == "min_of" { f64::min } else { f64::max };
    let values = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| {
            if x.is_nan() || y.is_nan() {
                f64::NAN
            } else {
                pick(x, y)
            }
        })
        .collect();
    Ok(Evaluated::Scalar(values))
}

/// `scalar(v)`: the single element's value at each step, NaN otherwise.
fn scalar(ev: &mut Evaluator, args: &[Box<Expr>], steps: Steps) -> Result<Evaluated> {
    let input = ev.eval_vector(arg(args, 0)?, steps)?;
    let values = points_by_step(&input, steps)
        .iter()
        .map(|pts| match pts.as_slice() {
            [(_, v)] => *v,
            _ => f64::NAN,
        })
        .collect();
    Ok(Evaluated::Scalar(values))
}

/// `day_of_week(v)` and friends; without an argument they use `vector(time())`.
fn calendar_function(ev: &mut Evaluator, name: &str, args: &[Box<Expr>], steps: Steps) -> Result<Evaluated> {
    let Some(f) = calendar(name) else {
        return Err(PromqlError::exec(format!("function {name:?} is not supported")));
    };
    let input = match args.first() {
        Some(a) => ev.eval_vector(a, steps)?,
        None => {
            let points = steps
                .iter()
                .map(|t| Sample {
                    t,
                    v: t as f64 / 1000.0,
                })
                .collect();
            vec![EvalSeries::new(Labels::default(), false, points)]
        }
    };
    Ok(Evaluated::Vector(map_values(input, |v| {
        if v.is_finite() {
            f(civil(v.floor() as i64))
        } else {
            f64::NAN
        }
    })))
}

fn unwrap_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        other => other,
    }
}

/// `timestamp()`: a selector argument reports its samples' own timestamps.
fn timestamp(ev: &mut Evaluator, a: &Expr, steps: Steps) -> Result<Evaluated> {
    let series = match unwrap_parens(a) {
        Expr::VectorSelector(vs) => instant_with(ev, vs, steps, |_, s| s.t as f64 / 1000.0)?,
        _ => {
            let mut input = ev.eval_vector(a, steps)?;
            for s in &mut input {
                s.points.iter_mut().for_each(|p| p.v = p.t as f64 / 1000.0);
            }
            input
        }
    };
    Ok(Evaluated::Vector(
        series
            .into_iter()
            .map(|mut s| {
                s.drop_name = true;
                s
            })
            .collect(),
    ))
}

/// A UTC calendar breakdown of a Unix time in seconds.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    weekday: i64,
    day_of_year: i64,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let day_of_year = (1..month).map(|m| i64::from(days_in(year, m))).sum::<i64>() + i64::from(day);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: (rem % 3600) / 60,
        weekday: (days + 4).rem_euclid(7),
        day_of_year,
    }
}

/// RFC 3339 text of a Unix time in seconds, UTC (`2006-01-02T15:04:05Z`).
pub(crate) fn rfc3339(secs: i64) -> String {
    let c = civil(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        secs.rem_euclid(60)
    )
}

fn calendar(name: &str) -> Option<fn(Civil) -> f64> {
    let f: fn(Civil) -> f64 = match name {
        "day_of_month" => |c| f64::from(c.day),
        "day_of_week" => |c| c.weekday as f64,
        "day_of_year" => |c| c.day_of_year as f64,
        "days_in_month" => |c| f64::from(days_in(c.year, c.month)),
        "hour" => |c| c.hour as f64,
        "minute" => |c| c.minute as f64,
        "month" => |c| f64::from(c.month),
        "year" => |c| c.year as f64,
        _ => return None,
    };
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let c = civil(0);
        assert_eq!(
            (c.year, c.month, c.day, c.weekday, c.day_of_year),
            (1970, 1, 1, 4, 1)
        );
        // 2024-02-29T13:45:00Z
        let c = civil(1_709_214_300);
        assert_eq!((c.year, c.month, c.day, c.hour, c.minute), (2024, 2, 29, 13, 45));
        assert_eq!(days_in(c.year, c.month), 29);
        assert_eq!(c.day_of_year, 60);
        assert_eq!(rfc3339(1_709_214_300), "2024-02-29T13:45:00Z");
        let c = civil(-1);
        assert_eq!((c.year, c.month, c.day, c.hour), (1969, 12, 31, 23));
    }
}
