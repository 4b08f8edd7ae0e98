//! Binary operators: arithmetic, comparison (filtering or `bool`), `atan2`,
//! the set operators and vector matching (`on`/`ignoring`, `group_left`/
//! `group_right`, `fill`).
//!
//! Matching happens per step over data evaluated once. Must not touch sled or HTTP.

use std::collections::HashMap;

use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::engine::{duplicate_labelset, Evaluator};
use super::error::{PromqlError, Result};
use super::value::{points_by_step, EvalSeries, Evaluated, SeriesCollector, Steps};
use crate::storage::{Labels, METRIC_NAME};

/// Evaluates `lhs op rhs` over `steps`.
pub(crate) fn eval(ev: &mut Evaluator, e: &BinaryExpr, steps: Steps) -> Result<Evaluated> {
    let op = e.op.to_string();
    let return_bool = e.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&e.lhs, steps)?;
    let rhs = ev.eval(&e.rhs, steps)?;
    match (lhs, rhs) {
        (Evaluated::Scalar(l), Evaluated::Scalar(r)) => Ok(Evaluated::Scalar(
            l.iter().zip(&r).map(|(&a, &b)| scalar_binop(&op, a, b)).collect(),
        )),
        (Evaluated::Vector(l), Evaluated::Scalar(r)) => Ok(Evaluated::Vector(vector_scalar(
            &op,
            l,
            &r,
            steps,
            false,
            return_bool,
        ))),
        (Evaluated::Scalar(l), Evaluated::Vector(r)) => Ok(Evaluated::Vector(vector_scalar(
            &op,
            r,
            &l,
            steps,
            true,
            return_bool,
        ))),
        (Evaluated::Vector(l), Evaluated::Vector(r)) => {
            let modifier = e.modifier.clone().unwrap_or_default();
            vector_vector(&op, &modifier, l, r, steps).map(Evaluated::Vector)
        }
        _ => Err(PromqlError::exec(format!(
            "binary expression must contain only scalar and instant vector types, got {op}"
        ))),
    }
}

/// Applies an arithmetic or comparison operator; comparisons give the left value
/// and whether the comparison held.
fn apply(op: &str, l: f64, r: f64) -> (f64, bool) {
    match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

fn scalar_binop(op: &str, l: f64, r: f64) -> f64 {
    let (v, keep) = apply(op, l, r);
    if is_comparison(op) {
        return if keep { 1.0 } else { 0.0 };
    }
    v
}

/// A vector against a scalar; `swapped` when the scalar is on the left.
fn vector_scalar(
    op: &str,
    mut series: Vec<EvalSeries>,
    scalar: &[f64],
    steps: Steps,
    swapped: bool,
    return_bool: bool,
) -> Vec<EvalSeries> {
    let comparison = is_comparison(op);
    for s in &mut series {
        s.points.retain_mut(|p| {
            let k = steps.index_of(p.t).unwrap_or(0);
            let sv = scalar.get(k).copied().unwrap_or(f64::NAN);
            let (l, r) = if swapped { (sv, p.v) } else { (p.v, sv) };
            let (v, keep) = apply(op, l, r);
            p.v = match (return_bool, comparison) {
                (true, _) => f64::from(u8::from(keep)),
                (false, true) => p.v,
                (false, false) => v,
            };
            keep || return_bool
        });
        if return_bool || !comparison {
            s.drop_name = true;
        }
    }
    series.retain(|s| !s.points.is_empty());
    series
}

/// Which labels identify a match group.
struct Matching {
    on: bool,
    labels: Vec<String>,
}

impl Matching {
    fn from_modifier(m: &BinModifier) -> Self {
        match &m.matching {
            Some(LabelModifier::Include(ls)) => Matching {
                on: true,
                labels: ls.labels.clone(),
            },
            Some(LabelModifier::Exclude(ls)) => Matching {
                on: false,
                labels: ls.labels.clone(),
            },
            None => Matching {
                on: false,
                labels: Vec::new(),
            },
        }
    }

    /// The labels of `l` that decide its match group.
    fn signature(&self, l: &Labels) -> Labels {
        if self.on {
            let keep: Vec<_> = l
                .iter()
                .filter(|x| self.labels.contains(&x.name))
                .cloned()
                .collect();
            Labels::from_sorted(keep)
        } else {
            let mut drop: Vec<&str> = self.labels.iter().map(String::as_str).collect();
            drop.push(METRIC_NAME);
            l.without(&drop)
        }
    }
}

fn vector_vector(
    op: &str,
    m: &BinModifier,
    lhs: Vec<EvalSeries>,
    rhs: Vec<EvalSeries>,
    steps: Steps,
) -> Result<Vec<EvalSeries>> {
    let matching = Matching::from_modifier(m);
    match op {
        "and" | "or" | "unless" => Ok(set_operation(op, &matching, lhs, rhs, steps)),
        _ => arithmetic_matching(op, m, &matching, lhs, rhs, steps),
    }
}

fn set_operation(
    op: &str,
    matching: &Matching,
    lhs: Vec<EvalSeries>,
    rhs: Vec<EvalSeries>,
    steps: Steps,
) -> Vec<EvalSeries> {
    let lsig: Vec<Labels> = lhs.iter().map(|s| matching.signature(&s.labels)).collect();
    let rsig: Vec<Labels> = rhs.iter().map(|s| matching.signature(&s.labels)).collect();
    let lsteps = points_by_step(&lhs, steps);
    let rsteps = points_by_step(&rhs, steps);
    let mut keep_l: Vec<Vec<crate::storage::Sample>> = vec![Vec::new(); lhs.len()];
    let mut keep_r: Vec<Vec<crate::storage::Sample>> = vec![Vec::new(); rhs.len()];
    for (k, t) in steps.iter().enumerate() {
        let (lp, rp) = (lsteps.get(k), rsteps.get(k));
        let (lp, rp) = (
            lp.map_or(&[][..], Vec::as_slice),
            rp.map_or(&[][..], Vec::as_slice),
        );
        let rset: std::collections::HashSet<&Labels> = rp.iter().filter_map(|&(i, _)| rsig.get(i)).collect();
        let lset: std::collections::HashSet<&Labels> = lp.iter().filter_map(|&(i, _)| lsig.get(i)).collect();
        for &(i, v) in lp {
            let present = lsig.get(i).is_some_and(|s| rset.contains(s));
            let keep = match op {
                "and" => present,
                "unless" => !present,
                _ => true,
            };
            if let (true, Some(out)) = (keep, keep_l.get_mut(i)) {
                out.push(crate::storage::Sample { t, v });
            }
        }
        if op == "or" {
            for &(i, v) in rp {
                let present = rsig.get(i).is_some_and(|s| lset.contains(s));
                if let (false, Some(out)) = (present, keep_r.get_mut(i)) {
                    out.push(crate::storage::Sample { t, v });
                }
            }
        }
    }
    let with_points = |series: Vec<EvalSeries>, points: Vec<Vec<crate::storage::Sample>>| {
        series
            .into_iter()
            .zip(points)
            .filter(|(_, p)| !p.is_empty())
            .map(|(s, p)| EvalSeries::new(s.labels, s.drop_name, p))
            .collect::<Vec<_>>()
    };
    let mut out = with_points(lhs, keep_l);
    out.extend(with_points(rhs, keep_r));
    out
}

/// Result labels of a matched pair, as Prometheus's `resultMetric` builds them.
fn result_labels(op: &str, m: &BinModifier, matching: &Matching, many: &Labels, one: &Labels) -> Labels {
    let mut labels = if is_comparison(op) {
        many.clone()
    } else {
        many.without(&[METRIC_NAME, "__type__", "__unit__"])
    };
    let include = match &m.card {
        VectorMatchCardinality::OneToOne => {
            labels = if matching.on {
                let keep: Vec<_> = labels
                    .iter()
                    .filter(|l| matching.labels.contains(&l.name))
                    .cloned()
                    .collect();
                Labels::from_sorted(keep)
            } else {
                let drop: Vec<&str> = matching.labels.iter().map(String::as_str).collect();
                labels.without(&drop)
            };
            return labels;
        }
        VectorMatchCardinality::ManyToOne(ls) | VectorMatchCardinality::OneToMany(ls) => &ls.labels,
        VectorMatchCardinality::ManyToMany => return labels,
    };
    for name in include {
        labels = labels.with(name, one.get(name));
    }
    labels
}

/// One side of a per-step match: labels and value.
struct Side<'a> {
    labels: &'a Labels,
    v: f64,
}

/// One operand of a vector match: its series, their match signatures and
/// the points present at each step.
struct Operand {
    series: Vec<EvalSeries>,
    sigs: Vec<Labels>,
    by_step: Vec<Vec<(usize, f64)>>,
}

impl Operand {
    fn new(series: Vec<EvalSeries>, matching: &Matching, steps: Steps) -> Self {
        let sigs = series.iter().map(|s| matching.signature(&s.labels)).collect();
        let by_step = points_by_step(&series, steps);
        Operand {
            series,
            sigs,
            by_step,
        }
    }

    /// `(signature, side)` of every point at step `k`.
    fn at(&self, k: usize) -> impl Iterator<Item = (&Labels, Side<'_>)> {
        self.by_step.get(k).into_iter().flatten().filter_map(|&(i, v)| {
            let sig = self.sigs.get(i)?;
            let labels = &self.series.get(i)?.labels;
            Some((sig, Side { labels, v }))
        })
    }

    /// The "one" side at step `k` by signature; a repeated signature is an error.
    fn index_by_sig(&self, k: usize, one_to_many: bool) -> Result<HashMap<&Labels, Side<'_>>> {
        let mut index: HashMap<&Labels, Side> = HashMap::new();
        for (sig, side) in self.at(k) {
            if let Some(prev) = index.get(sig) {
                return Err(duplicate_match_group(sig, side.labels, prev.labels, one_to_many));
            }
            index.insert(sig, side);
        }
        Ok(index)
    }
}

fn arithmetic_matching(
    op: &str,
    m: &BinModifier,
    matching: &Matching,
    lhs: Vec<EvalSeries>,
    rhs: Vec<EvalSeries>,
    steps: Steps,
) -> Result<Vec<EvalSeries>> {
    let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    // Like Prometheus, iterate over the "many" side and look up the "one" side.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let many = Operand::new(many, matching, steps);
    let one = Operand::new(one, matching, steps);
    // As in Prometheus, the right fill stands in for a missing "one" side and the
    // left fill for a missing "many" side, whichever way the grouping goes.
    let (fill_many, fill_one) = (m.fill_values.lhs, m.fill_values.rhs);
    let mut out = SeriesCollector::default();
    for (k, t) in steps.iter().enumerate() {
        let one_by_sig = one.index_by_sig(k, one_to_many)?;
        let mut matched: HashMap<&Labels, Vec<Labels>> = HashMap::new();
        let mut step_ctx = StepContext {
            op,
            m,
            matching,
            one_to_many,
            t,
            out: &mut out,
            matched: &mut matched,
        };
        for (sig, many_side) in many.at(k) {
            match (one_by_sig.get(sig), fill_one) {
                (Some(one_side), _) => step_ctx.combine(sig, &many_side, one_side)?,
                (None, Some(fill)) => step_ctx.combine(sig, &many_side, &Side { labels: sig, v: fill })?,
                (None, None) => {}
            }
        }
        let Some(fill) = fill_many else { continue };
        for (sig, one_side) in one.at(k) {
            if !step_ctx.matched.contains_key(sig) {
                step_ctx.combine(sig, &Side { labels: sig, v: fill }, &one_side)?;
            }
        }
    }
    Ok(out.finish())
}

struct StepContext<'a, 'b> {
    op: &'a str,
    m: &'a BinModifier,
    matching: &'a Matching,
    one_to_many: bool,
    t: i64,
    out: &'a mut SeriesCollector,
    matched: &'a mut HashMap<&'b Labels, Vec<Labels>>,
}

impl<'b> StepContext<'_, 'b> {
    fn combine(&mut self, sig: &'b Labels, many: &Side, one: &Side) -> Result<()> {
        let (l, r) = if self.one_to_many {
            (one.v, many.v)
        } else {
            (many.v, one.v)
        };
        let (v, keep) = apply(self.op, l, r);
        let return_bool = self.m.return_bool;
        let labels = result_labels(self.op, self.m, self.matching, many.labels, one.labels);
        let seen = self.matched.entry(sig).or_default();
        if matches!(self.m.card, VectorMatchCardinality::OneToOne) {
            if !seen.is_empty() {
                return Err(PromqlError::exec(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
        } else if seen.contains(&labels) {
            return Err(PromqlError::exec(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        seen.push(labels.clone());
        if !keep && !return_bool {
            return Ok(());
        }
        let value = if return_bool { f64::from(u8::from(keep)) } else { v };
        self.out
            .push(labels, return_bool, self.t, value)
            .map_err(|_| duplicate_labelset())
    }
}

fn duplicate_match_group(sig: &Labels, a: &Labels, b: &Labels, one_to_many: bool) -> PromqlError {
    let side = if one_to_many { "left" } else { "right" };
    let (mut d1, mut d2) = (go_labels(a), go_labels(b));
    if d1 > d2 {
        std::mem::swap(&mut d1, &mut d2);
    }
    PromqlError::exec(format!(
        "found duplicate series for the match group {} on the {side} hand-side of the operation: \
         [{d1}, {d2}];many-to-many matching not allowed: matching labels must be unique on one side",
        go_labels(sig)
    ))
}

/// Labels as Go's `labels.Labels.String()` prints them: `{a="b", c="d"}`, name included.
pub(crate) fn go_labels(l: &Labels) -> String {
    let pairs: Vec<String> = l.iter().map(|x| format!("{}={:?}", x.name, x.value)).collect();
    format!("{{{}}}", pairs.join(", "))
}
