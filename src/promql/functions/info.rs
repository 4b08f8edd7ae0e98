//! `info(v, {data selector})`: enriches series with the data labels of the
//! info series (by default `target_info`) that share their `instance`/`job`.
//!
//! Follows Prometheus's experimental `info` function. Must not touch sled or HTTP.

use std::collections::{BTreeMap, HashMap};

use promql_parser::parser::Expr;

use super::arg;
use crate::promql::engine::Evaluator;
use crate::promql::error::{PromqlError, Result};
use crate::promql::selector::{instant_matching, storage_matchers};
use crate::promql::value::{points_by_step, EvalSeries, Evaluated, SeriesCollector, Steps};
use crate::storage::{Labels, MatchOp, Matcher, METRIC_NAME};

const TARGET_INFO: &str = "target_info";
const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// Name matchers that decide which series are info series.
fn effective_name_matchers(name_matchers: Vec<Matcher>) -> Vec<Matcher> {
    if name_matchers
        .iter()
        .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::Regex))
    {
        return name_matchers;
    }
    if name_matchers.is_empty() {
        return vec![Matcher::equal(METRIC_NAME, TARGET_INFO)];
    }
    let mut out = Vec::with_capacity(name_matchers.len() + 1);
    if let Ok(m) = Matcher::new(MatchOp::Regex, METRIC_NAME, ".+_info") {
        out.push(m);
    }
    out.extend(name_matchers);
    out
}

/// `(@ time, offset)` of the first selector in the base expression, for timing the info lookup.
fn first_selector_timing(e: &Expr) -> Option<(&Option<promql_parser::parser::AtModifier>, i64, i64)> {
    use crate::promql::engine::offset_ms;
    match e {
        Expr::VectorSelector(vs) => Some((&vs.at, offset_ms(&vs.offset), 0)),
        Expr::MatrixSelector(ms) => Some((&ms.vs.at, offset_ms(&ms.vs.offset), 0)),
        Expr::Subquery(sq) => first_selector_timing(&sq.expr).map(|(at, off, outer)| match at {
            Some(_) => (at, off, outer),
            None => (&sq.at, off, outer + offset_ms(&sq.offset)),
        }),
        Expr::Paren(p) => first_selector_timing(&p.expr),
        Expr::Unary(u) => first_selector_timing(&u.expr),
        Expr::Aggregate(a) => first_selector_timing(&a.expr),
        Expr::Binary(b) => first_selector_timing(&b.lhs).or_else(|| first_selector_timing(&b.rhs)),
        Expr::Call(c) => c.args.args.iter().find_map(|a| first_selector_timing(a)),
        _ => None,
    }
}

fn signature(name: &str, labels: &Labels) -> Vec<String> {
    let mut sig = vec![name.to_string()];
    sig.extend(IDENTIFYING.iter().map(|l| labels.get(l).to_string()));
    sig
}

pub(crate) fn eval(ev: &mut Evaluator, args: &[Box<Expr>], steps: Steps) -> Result<Evaluated> {
    let base_expr = arg(args, 0)?;
    let base = ev.eval_vector(base_expr, steps)?;
    let (data_matchers, name_matchers) = match args.get(1).map(|a| a.as_ref()) {
        Some(Expr::VectorSelector(vs)) => {
            let all = storage_matchers(vs)?;
            let (names, data): (Vec<Matcher>, Vec<Matcher>) =
                all.into_iter().partition(|m| m.name == METRIC_NAME);
            (data, names)
        }
        Some(_) => {
            return Err(PromqlError::exec(
                "info's second argument must be a label selector",
            ))
        }
        None => (Vec::new(), vec![Matcher::equal(METRIC_NAME, TARGET_INFO)]),
    };
    let effective = effective_name_matchers(name_matchers);
    let ignored: Vec<bool> = base
        .iter()
        .map(|s| effective.iter().all(|m| m.matches(s.labels.get(METRIC_NAME))))
        .collect();
    let info = fetch_info_series(ev, base_expr, &base, &ignored, &data_matchers, effective, steps)?;
    combine(&base, &ignored, &info, &data_matchers, steps).map(Evaluated::Vector)
}

fn fetch_info_series(
    ev: &mut Evaluator,
    base_expr: &Expr,
    base: &[EvalSeries],
    ignored: &[bool],
    data_matchers: &[Matcher],
    name_matchers: Vec<Matcher>,
    steps: Steps,
) -> Result<Vec<EvalSeries>> {
    let mut values: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (s, _) in base.iter().zip(ignored).filter(|(_, &ignored)| !ignored) {
        for l in IDENTIFYING {
            let v = s.labels.get(l);
            let known = values.entry(l).or_default();
            if !v.is_empty() && !known.iter().any(|k| k == v) {
                known.push(v.to_string());
            }
        }
    }
    values.retain(|_, v| !v.is_empty());
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let mut matchers = Vec::new();
    for (name, vals) in values {
        let alternatives: Vec<String> = vals.iter().map(|v| regex::escape(v)).collect();
        let m = Matcher::new(MatchOp::Regex, name, alternatives.join("|"))
            .map_err(|e| PromqlError::exec(e.to_string()))?;
        matchers.push(m);
    }
    matchers.extend(data_matchers.iter().cloned());
    matchers.extend(name_matchers);
    let (at, offset, outer) = first_selector_timing(base_expr).unwrap_or((&None, 0, 0));
    let times: Vec<i64> = steps
        .iter()
        .map(|ts| {
            ev.selector_time(ts, at, &None)
                .saturating_sub(offset)
                .saturating_sub(outer)
        })
        .collect();
    instant_matching(ev, &matchers, steps, &times, |_, s| s.t as f64)
}

fn combine(
    base: &[EvalSeries],
    ignored: &[bool],
    info: &[EvalSeries],
    data_matchers: &[Matcher],
    steps: Steps,
) -> Result<Vec<EvalSeries>> {
    let info_names: Vec<&str> = {
        let mut names: Vec<&str> = info.iter().map(|s| s.labels.get(METRIC_NAME)).collect();
        names.sort_unstable();
        names.dedup();
        names
    };
    let base_steps = points_by_step(base, steps);
    let info_steps = points_by_step(info, steps);
    let mut out = SeriesCollector::default();
    for (k, t) in steps.iter().enumerate() {
        let mut by_sig: HashMap<Vec<String>, (usize, f64)> = HashMap::new();
        for &(i, orig_t) in info_steps.get(k).map_or(&[][..], Vec::as_slice) {
            let Some(s) = info.get(i) else { continue };
            let sig = signature(s.labels.get(METRIC_NAME), &s.labels);
            match by_sig.get(&sig) {
                Some(&(_, existing)) if existing > orig_t => {}
                Some(&(j, existing)) if existing == orig_t => {
                    let existing_labels = info.get(j).map(|e| e.labels.to_string()).unwrap_or_default();
                    return Err(PromqlError::exec(format!(
                        "found duplicate series for info metric: existing {existing_labels} @ {}, new {} @ {}",
                        existing as i64, s.labels, orig_t as i64
                    )));
                }
                _ => {
                    by_sig.insert(sig, (i, orig_t));
                }
            }
        }
        for &(i, v) in base_steps.get(k).map_or(&[][..], Vec::as_slice) {
            let Some(s) = base.get(i) else { continue };
            if ignored.get(i).copied().unwrap_or(false) {
                out.push(s.labels.clone(), s.drop_name, t, v)
                    .map_err(|_| duplicate())?;
                continue;
            }
            let Some(labels) = enrich(s, &info_names, &by_sig, info, data_matchers)? else {
                continue;
            };
            out.push(labels, s.drop_name, t, v).map_err(|_| duplicate())?;
        }
    }
    Ok(out.finish())
}

fn duplicate() -> PromqlError {
    crate::promql::engine::duplicate_labelset()
}

/// The base series' labels plus the data labels of its info series; `None` drops it.
fn enrich(
    s: &EvalSeries,
    info_names: &[&str],
    by_sig: &HashMap<Vec<String>, (usize, f64)>,
    info: &[EvalSeries],
    data_matchers: &[Matcher],
) -> Result<Option<Labels>> {
    let mut added: BTreeMap<String, String> = BTreeMap::new();
    let mut found = false;
    for name in info_names {
        let Some(info_series) = by_sig
            .get(&signature(name, &s.labels))
            .and_then(|&(j, _)| info.get(j))
        else {
            continue;
        };
        found = true;
        for l in info_series.labels.iter().filter(|l| l.name != METRIC_NAME) {
            if !data_matchers.is_empty() && !data_matchers.iter().any(|m| m.name == l.name) {
                continue;
            }
            if added.get(&l.name).is_some_and(|v| *v != l.value) {
                return Err(PromqlError::exec(format!("conflicting label: {}", l.name)));
            }
            if !s.labels.get(&l.name).is_empty() {
                continue;
            }
            added.insert(l.name.clone(), l.value.clone());
        }
    }
    if !found && !data_matchers.iter().all(|m| m.matches("")) {
        return Ok(None);
    }
    Ok(Some(
        added.iter().fold(s.labels.clone(), |acc, (n, v)| acc.with(n, v)),
    ))
}
