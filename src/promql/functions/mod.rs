//! Function calls: dispatch by name to the module that owns each family.
//!
//! `math` holds element-wise numeric functions, `range` the range-vector
//! functions, `labels` label manipulation and sorting, `histogram` the classic
//! bucket functions, `time` the clock and calendar functions. Must not touch
//! sled or HTTP.

pub(crate) mod histogram;
pub(crate) mod info;
pub(crate) mod labels;
pub(crate) mod math;
pub(crate) mod range;
pub(crate) mod time;

use promql_parser::parser::{Call, Expr};

use super::engine::Evaluator;
use super::error::{PromqlError, Result};
use super::value::{EvalSeries, Evaluated, Steps};
use crate::storage::{Labels, METRIC_NAME};

pub(crate) fn eval(ev: &mut Evaluator, call: &Call, steps: Steps) -> Result<Evaluated> {
    let name = call.func.name;
    let args = &call.args.args;
    if range::handles(name) {
        return range::eval(ev, name, call, steps);
    }
    if let Some(f) = math::simple(name) {
        let input = ev.eval_vector(arg(args, 0)?, steps)?;
        return Ok(Evaluated::Vector(math::map_values(input, f)));
    }
    match name {
        "clamp" | "clamp_min" | "clamp_max" | "round" => clamp_or_round(ev, name, args, steps),
        "label_replace" | "label_join" => labels::eval_label_function(ev, name, args, steps),
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => labels::eval_sort(ev, call, steps),
        "histogram_quantile" | "histogram_quantiles" | "histogram_fraction" => {
            histogram::eval(ev, name, args, steps)
        }
        "absent" => absent(ev, args, steps),
        "info" => info::eval(ev, args, steps),
        _ => time::eval(ev, name, args, steps),
    }
}

pub(crate) fn arg(args: &[Box<Expr>], i: usize) -> Result<&Expr> {
    args.get(i)
        .map(|b| b.as_ref())
        .ok_or_else(|| PromqlError::exec("wrong number of arguments"))
}

fn clamp_or_round(ev: &mut Evaluator, name: &str, args: &[Box<Expr>], steps: Steps) -> Result<Evaluated> {
    let input = ev.eval_vector(arg(args, 0)?, steps)?;
    let mut params = Vec::new();
    for a in args.iter().skip(1) {
        params.push(ev.eval_scalar(a, steps)?);
    }
    let p = |ps: &[f64], i: usize| ps.get(i).copied().unwrap_or(f64::NAN);
    let out = match name {
        "clamp" => math::map_with_param(input, steps, &params, |v, ps| math::clamp(v, p(ps, 0), p(ps, 1))),
        "clamp_min" => math::map_with_param(input, steps, &params, |v, ps| {
            math::clamp(v, p(ps, 0), f64::INFINITY)
        }),
        "clamp_max" => math::map_with_param(input, steps, &params, |v, ps| {
            math::clamp(v, f64::NEG_INFINITY, p(ps, 0))
        }),
        _ => math::map_with_param(input, steps, &params, |v, ps| {
            Some(math::round(v, ps.first().copied().unwrap_or(1.0)))
        }),
    };
    Ok(Evaluated::Vector(out))
}

/// The labels `absent`/`absent_over_time` give their result: the equality
/// matchers of a selector argument, except names matched more than once.
pub(crate) fn absent_labels(arg: &Expr) -> Labels {
    let vs = match arg {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let matchers = &vs.matchers.matchers;
    let pairs = matchers.iter().filter_map(|m| {
        let once = matchers.iter().filter(|o| o.name == m.name).count() == 1;
        let equal = matches!(m.op, promql_parser::label::MatchOp::Equal);
        (once && equal && m.name != METRIC_NAME).then(|| (m.name.clone(), m.value.clone()))
    });
    Labels::from_pairs(pairs.collect::<Vec<_>>())
}

fn absent(ev: &mut Evaluator, args: &[Box<Expr>], steps: Steps) -> Result<Evaluated> {
    let a = arg(args, 0)?;
    let input = ev.eval_vector(a, steps)?;
    let present: std::collections::HashSet<i64> =
        input.iter().flat_map(|s| s.points.iter().map(|p| p.t)).collect();
    let points: Vec<_> = steps
        .iter()
        .filter(|t| !present.contains(t))
        .map(|t| crate::storage::Sample { t, v: 1.0 })
        .collect();
    if points.is_empty() {
        return Ok(Evaluated::Vector(Vec::new()));
    }
    Ok(Evaluated::Vector(vec![EvalSeries::new(
        absent_labels(a),
        false,
        points,
    )]))
}
