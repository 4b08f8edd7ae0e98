//! Test-only: runs one `eval` command against the engine and compares the
//! result as Prometheus's `promqltest` does (FORMAT.md §6), including the
//! derived `@`-modifier and range-mode re-checks of instant evals.

use std::time::{Duration, UNIX_EPOCH};

use promql_parser::parser::{AtModifier, Expr};
use regex::Regex;
use sightline::promql::{Engine, QueryResult, Value};
use sightline::storage::{is_stale_nan, Labels, Queryable};

use super::script::{Eval, EvalKind, Expected, TextMatch};
use super::series_desc::ExpectedValue;

/// Functions whose result depends on the evaluation time itself.
const AT_UNSAFE: &[&str] = &[
    "time",
    "timestamp",
    "predict_linear",
    "minute",
    "hour",
    "day_of_week",
    "day_of_month",
    "day_of_year",
    "days_in_month",
    "month",
    "year",
    "start",
    "end",
    "range",
    "step",
];

/// Printed in place of the `@` time, then replaced (the parser's printer cannot show negative times).
const AT_SENTINEL_MS: u64 = 987_654_321_987;

pub fn run_eval(engine: &Engine, q: &dyn Queryable, ev: &Eval) -> Result<(), String> {
    match ev.kind {
        EvalKind::Range {
            start_ms,
            end_ms,
            step_ms,
        } => {
            let res = engine.range_query(q, &ev.expr, start_ms, end_ms, step_ms);
            check_outcome(ev, res).map(|_| ())
        }
        EvalKind::Instant { at_ms } => {
            let mut queries = vec![(ev.expr.clone(), at_ms)];
            queries.extend(at_modifier_cases(&ev.expr, at_ms)?);
            for (expr, t) in queries {
                run_instant(engine, q, ev, &expr, t)?;
            }
            Ok(())
        }
    }
}

fn run_instant(engine: &Engine, q: &dyn Queryable, ev: &Eval, expr: &str, t: i64) -> Result<(), String> {
    let res = engine.instant_query(q, expr, t);
    let Some(result) = check_outcome(ev, res).map_err(|e| format!("{expr} @{t}: {e}"))? else {
        return Ok(());
    };
    let excluded = ev.ordered
        || matches!(
            ev.expected,
            Expected::String(_) | Expected::Series { range: Some(_), .. }
        );
    if excluded
        || Regex::new(r"\b(start|end|range|step)\(\)")
            .unwrap()
            .is_match(expr)
    {
        return Ok(());
    }
    let ranged = engine
        .range_query(q, expr, t - 60_000, t + 60_000, 60_000)
        .map_err(|e| format!("{expr} in range mode: {e}"))?;
    let Value::Matrix(m) = ranged.value else {
        return Err("range query did not return a matrix".into());
    };
    if m.windows(2).any(|w| w[0].labels > w[1].labels) {
        return Err("range result not sorted by labels".into());
    }
    let vector: Vec<(Labels, f64)> = m
        .iter()
        .filter_map(|s| {
            s.points
                .iter()
                .find(|p| p.t == t)
                .map(|p| (s.labels.clone(), p.v))
        })
        .collect();
    let as_value = match result.value {
        Value::Scalar { .. } => Value::Scalar {
            t,
            v: vector.first().map_or(f64::NAN, |v| v.1),
        },
        _ => Value::Vector(
            vector
                .into_iter()
                .map(|(labels, v)| sightline::promql::Sample { labels, t, v })
                .collect(),
        ),
    };
    compare(ev, &as_value).map_err(|e| format!("{expr} in range mode: {e}"))
}

/// Checks failure expectations and annotations, then the value; returns the
/// result when there is one to re-check.
fn check_outcome(
    ev: &Eval,
    res: Result<QueryResult, sightline::promql::PromqlError>,
) -> Result<Option<QueryResult>, String> {
    let result = match (res, &ev.fail) {
        (Err(e), Some(m)) => {
            return text_matches(m, &e.to_string())
                .then_some(None)
                .ok_or_else(|| format!("error {e:?} does not match expected {m:?}"));
        }
        (Err(e), None) => return Err(format!("unexpected error: {e}")),
        (Ok(_), Some(_)) => return Err("expected an error but got a result".into()),
        (Ok(r), None) => r,
    };
    check_annotation_kind("warn", &ev.warn, ev.no_warn, &result.warnings)?;
    check_annotation_kind("info", &ev.info, ev.no_info, &result.infos)?;
    compare(ev, &result.value)?;
    Ok(Some(result))
}

fn text_matches(m: &TextMatch, text: &str) -> bool {
    match m {
        TextMatch::Any => true,
        TextMatch::Exact(s) => s == text,
        TextMatch::Regex(r) => Regex::new(r).map(|re| re.is_match(text)).unwrap_or(false),
    }
}

fn check_annotation_kind(
    kind: &str,
    expects: &[TextMatch],
    none: bool,
    got: &[String],
) -> Result<(), String> {
    if none && !got.is_empty() {
        return Err(format!("expected no {kind} annotations, got {got:?}"));
    }
    if expects.is_empty() {
        return Ok(());
    }
    if got.is_empty() {
        return Err(format!("expected {kind} annotations, got none"));
    }
    for e in expects {
        if !got.iter().any(|g| text_matches(e, g)) {
            return Err(format!("no {kind} annotation matches {e:?}; got {got:?}"));
        }
    }
    for g in got {
        if !expects.iter().any(|e| text_matches(e, g)) {
            return Err(format!("unexpected {kind} annotation {g:?}"));
        }
    }
    Ok(())
}

/// `almost.Equal(a, b, 1e-6)` with Prometheus's NaN and StaleNaN rules.
fn almost_equal(a: f64, b: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || a.abs() + b.abs() < f64::MIN_POSITIVE {
        return diff < 1e-6 * f64::MIN_POSITIVE;
    }
    diff / (a.abs() + b.abs()).min(f64::MAX) < 1e-6
}

fn compare(ev: &Eval, value: &Value) -> Result<(), String> {
    match (&ev.expected, value) {
        (Expected::Scalar(want), Value::Scalar { v, .. }) => almost_equal(*want, *v)
            .then_some(())
            .ok_or_else(|| format!("expected scalar {want}, got {v}")),
        (Expected::String(want), Value::String { v, .. }) => (want == v)
            .then_some(())
            .ok_or_else(|| format!("expected string {want:?}, got {v:?}")),
        (Expected::Series { series, range: None }, Value::Vector(got)) => compare_vector(ev, series, got),
        (Expected::Series { series, range }, Value::Matrix(got)) => {
            let steps = match (range, &ev.kind) {
                (Some(r), _) => *r,
                (
                    None,
                    EvalKind::Range {
                        start_ms,
                        end_ms,
                        step_ms,
                    },
                ) => (*start_ms, *end_ms, *step_ms),
                _ => return Err("got a matrix for an instant eval".into()),
            };
            compare_matrix(series, got, steps)
        }
        (want, got) => Err(format!(
            "result type mismatch: expected {want:?}, got {}",
            got.type_name()
        )),
    }
}

fn compare_vector(
    ev: &Eval,
    want: &[(Labels, Vec<ExpectedValue>)],
    got: &[sightline::promql::Sample],
) -> Result<(), String> {
    if want.len() != got.len() {
        return Err(format!(
            "expected {} series, got {}: {got:?}",
            want.len(),
            got.len()
        ));
    }
    for (i, (labels, values)) in want.iter().enumerate() {
        let Some(g) = got.iter().position(|s| &s.labels == labels) else {
            return Err(format!("missing series {labels}; got {got:?}"));
        };
        if ev.ordered && g != i {
            return Err(format!("series {labels} at position {g}, expected {i}"));
        }
        let [ExpectedValue::Float(w)] = values.as_slice() else {
            return Err(format!("expected one float value for {labels}"));
        };
        if !almost_equal(*w, got[g].v) {
            return Err(format!("{labels}: expected {w}, got {}", got[g].v));
        }
    }
    Ok(())
}

fn compare_matrix(
    want: &[(Labels, Vec<ExpectedValue>)],
    got: &[sightline::promql::Series],
    (start, _end, step): (i64, i64, i64),
) -> Result<(), String> {
    if got.windows(2).any(|w| w[0].labels > w[1].labels) {
        return Err("matrix not sorted by labels".into());
    }
    if want.len() != got.len() {
        let names: Vec<String> = got.iter().map(|s| s.labels.to_string()).collect();
        return Err(format!(
            "expected {} series, got {}: {names:?}",
            want.len(),
            got.len()
        ));
    }
    for (labels, values) in want {
        let Some(g) = got.iter().find(|s| &s.labels == labels) else {
            return Err(format!("missing series {labels}"));
        };
        let expected: Vec<(i64, f64)> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                ExpectedValue::Float(f) => Some((start + i as i64 * step, *f)),
                _ => None,
            })
            .collect();
        let points: Vec<(i64, f64)> = g.points.iter().map(|p| (p.t, p.v)).collect();
        let same = expected.len() == points.len()
            && expected
                .iter()
                .zip(&points)
                .all(|(a, b)| a.0 == b.0 && almost_equal(a.1, b.1));
        if !same {
            return Err(format!("{labels}: expected {expected:?}, got {points:?}"));
        }
    }
    Ok(())
}

/// The `@ <t>` variants Prometheus's runner derives from an instant eval.
fn at_modifier_cases(expr: &str, t: i64) -> Result<Vec<(String, i64)>, String> {
    let mut ast = promql_parser::parser::parse(expr).map_err(|e| e.to_string())?;
    let sentinel = AtModifier::At(UNIX_EPOCH + Duration::from_millis(AT_SENTINEL_MS));
    if !add_at(&mut ast, &sentinel) {
        return Ok(Vec::new());
    }
    let sentinel_text = format!("@ {:.3}", AT_SENTINEL_MS as f64 / 1000.0);
    let text = ast
        .to_string()
        .replace(&sentinel_text, &format!("@ {:.3}", t as f64 / 1000.0));
    let times = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    Ok(times.into_iter().map(|et| (text.clone(), et)).collect())
}

/// Sets `@` on every selector and subquery without one (not inside subqueries);
/// returns false when the expression uses an evaluation-time-dependent function.
fn add_at(e: &mut Expr, at: &AtModifier) -> bool {
    match e {
        Expr::VectorSelector(vs) => {
            vs.at.get_or_insert_with(|| at.clone());
            true
        }
        Expr::MatrixSelector(ms) => {
            ms.vs.at.get_or_insert_with(|| at.clone());
            true
        }
        Expr::Subquery(sq) => {
            sq.at.get_or_insert_with(|| at.clone());
            !contains_unsafe(&sq.expr)
        }
        Expr::Aggregate(a) => {
            let param_ok = a.param.as_deref_mut().is_none_or(|p| add_at(p, at));
            add_at(&mut a.expr, at) && param_ok
        }
        Expr::Unary(u) => add_at(&mut u.expr, at),
        Expr::Binary(b) => {
            let l = add_at(&mut b.lhs, at);
            add_at(&mut b.rhs, at) && l
        }
        Expr::Paren(p) => add_at(&mut p.expr, at),
        Expr::Call(c) => {
            let mut ok = !AT_UNSAFE.contains(&c.func.name);
            for a in &mut c.args.args {
                ok &= add_at(a, at);
            }
            ok
        }
        _ => true,
    }
}

fn contains_unsafe(e: &Expr) -> bool {
    match e {
        Expr::Subquery(sq) => contains_unsafe(&sq.expr),
        Expr::Aggregate(a) => contains_unsafe(&a.expr) || a.param.as_deref().is_some_and(contains_unsafe),
        Expr::Unary(u) => contains_unsafe(&u.expr),
        Expr::Binary(b) => contains_unsafe(&b.lhs) || contains_unsafe(&b.rhs),
        Expr::Paren(p) => contains_unsafe(&p.expr),
        Expr::Call(c) => AT_UNSAFE.contains(&c.func.name) || c.args.args.iter().any(|a| contains_unsafe(a)),
        _ => false,
    }
}
