//! Label manipulation (`label_replace`, `label_join`) and the ordering
//! functions (`sort`, `sort_desc`, `sort_by_label`, `sort_by_label_desc`).
//!
//! Must not touch sled or HTTP.

use std::cmp::Ordering;

use promql_parser::parser::{Call, Expr};
use regex::Regex;

use super::arg;
use crate::promql::engine::{merge_same_labels, Evaluator};
use crate::promql::error::{PromqlError, Result};
use crate::promql::value::{EvalSeries, Evaluated, Steps};
use crate::storage::METRIC_NAME;

pub(crate) fn eval_label_function(
    ev: &mut Evaluator,
    name: &str,
    args: &[Box<Expr>],
    steps: Steps,
) -> Result<Evaluated> {
    let mut strings = Vec::new();
    for a in args.iter().skip(1) {
        strings.push(ev.eval_string(a, steps)?);
    }
    let series = if name == "label_replace" {
        let [dst, repl, src, regex] = strings.as_slice() else {
            return Err(PromqlError::exec("wrong number of arguments for label_replace"));
        };
        let re = Regex::new(&format!("^(?s:{regex})$")).map_err(|_| {
            PromqlError::exec(format!("invalid regular expression in label_replace(): {regex}"))
        })?;
        check_label_name(dst, "destination", name)?;
        let input = ev.eval_vector(arg(args, 0)?, steps)?;
        label_replace(input, dst, repl, src, &re)
    } else {
        let Some((dst, rest)) = strings.split_first() else {
            return Err(PromqlError::exec("wrong number of arguments for label_join"));
        };
        let Some((sep, sources)) = rest.split_first() else {
            return Err(PromqlError::exec("wrong number of arguments for label_join"));
        };
        for src in sources {
            check_label_name(src, "source", name)?;
        }
        check_label_name(dst, "destination", name)?;
        let input = ev.eval_vector(arg(args, 0)?, steps)?;
        label_join(input, dst, sep, sources)
    };
    merge_same_labels(series).map(Evaluated::Vector)
}

fn check_label_name(label: &str, role: &str, function: &str) -> Result<()> {
    if label.is_empty() {
        return Err(PromqlError::exec(format!(
            "invalid {role} label name in {function}(): {label}"
        )));
    }
    Ok(())
}

fn label_replace(
    mut input: Vec<EvalSeries>,
    dst: &str,
    repl: &str,
    src: &str,
    re: &Regex,
) -> Vec<EvalSeries> {
    for s in &mut input {
        let value = s.labels.get(src).to_string();
        if let Some(caps) = re.captures(&value) {
            let mut out = String::new();
            caps.expand(repl, &mut out);
            s.labels = s.labels.with(dst, &out);
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
    }
    input
}

fn label_join(mut input: Vec<EvalSeries>, dst: &str, sep: &str, sources: &[String]) -> Vec<EvalSeries> {
    for s in &mut input {
        let joined: Vec<&str> = sources.iter().map(|src| s.labels.get(src)).collect();
        s.labels = s.labels.with(dst, &joined.join(sep));
        if dst == METRIC_NAME {
            s.drop_name = false;
        }
    }
    input
}

pub(crate) fn eval_sort(ev: &mut Evaluator, call: &Call, steps: Steps) -> Result<Evaluated> {
    let args = &call.args.args;
    let name = call.func.name;
    let mut label_names = Vec::new();
    for a in args.iter().skip(1) {
        label_names.push(ev.eval_string(a, steps)?);
    }
    let mut input = ev.eval_vector(arg(args, 0)?, steps)?;
    if steps.len() > 1 {
        ev.warn(
            "sort is ineffective for range queries since results are always ordered by labels".to_string(),
            &Expr::Call(call.clone()),
        );
        return Ok(Evaluated::Vector(input));
    }
    let value = |s: &EvalSeries| s.points.last().map_or(f64::NAN, |p| p.v);
    match name {
        "sort" => input.sort_by(|a, b| by_value(value(a), value(b), false)),
        "sort_desc" => input.sort_by(|a, b| by_value(value(a), value(b), true)),
        _ => {
            let descending = name == "sort_by_label_desc";
            input.sort_by(|a, b| {
                let ord = by_labels(a, b, &label_names);
                if descending {
                    ord.reverse()
                } else {
                    ord
                }
            });
        }
    }
    Ok(Evaluated::Vector(input))
}

/// Ascending or descending by value, NaN last either way.
fn by_value(a: f64, b: f64, descending: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if descending => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn by_labels(a: &EvalSeries, b: &EvalSeries, names: &[String]) -> Ordering {
    for name in names {
        let (x, y) = (a.labels.get(name), b.labels.get(name));
        if x != y {
            return natural_cmp(x, y);
        }
    }
    a.labels.cmp(&b.labels)
}

/// Natural order: runs of digits compare as numbers, everything else as text.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let both_numeric = x.bytes().all(|c| c.is_ascii_digit()) && y.bytes().all(|c| c.is_ascii_digit());
        let ord = if both_numeric {
            let (xt, yt) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
            xt.len().cmp(&yt.len()).then_with(|| xt.cmp(yt))
        } else {
            x.cmp(y)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = s.as_bytes();
    for i in 1..=bytes.len() {
        let boundary = match (bytes.get(i - 1), bytes.get(i)) {
            (Some(p), Some(c)) => p.is_ascii_digit() != c.is_ascii_digit(),
            _ => true,
        };
        if boundary {
            if let Some(chunk) = s.get(start..i) {
                out.push(chunk);
            }
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_compares_numbers() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
        assert_eq!(natural_cmp("10", "9"), Ordering::Greater);
    }
}
