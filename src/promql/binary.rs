//! Binary operators: arithmetic, comparison (filtering or `bool`), `atan2`,
//! the set operators and vector matching (`on`/`ignoring`, `group_left`/
//! `group_right`, `fill`).
//!
//! Matching happens per step over data evaluated once. Must not touch sled or HTTP.

use std::collections::HashMap;
use std::sync::LazyLock;

use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::engine::{duplicate_labelset, Evaluator};
use super::error::{PromqlError, Result};
use super::value::{points_by_step, EvalSeries, Evaluated, Steps};
use crate::storage::{Labels, Sample, METRIC_NAME};

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
    let mut sigs = Signatures::default();
    let lhs = Operand::new(lhs, &matching, &mut sigs, steps);
    let rhs = Operand::new(rhs, &matching, &mut sigs, steps);
    match op {
        "and" | "or" | "unless" => Ok(set_operation(op, lhs, rhs, sigs.len(), steps)),
        _ => arithmetic_matching(op, m, &matching, lhs, rhs, &sigs, steps),
    }
}

/// Stands in for the labels of an index that cannot be out of range.
static NO_LABELS: LazyLock<Labels> = LazyLock::new(Labels::default);

/// Interns match signatures so that per-step matching compares integers.
#[derive(Default)]
struct Signatures {
    ids: HashMap<Labels, usize>,
    labels: Vec<Labels>,
}

impl Signatures {
    fn intern(&mut self, sig: Labels) -> usize {
        if let Some(&id) = self.ids.get(&sig) {
            return id;
        }
        self.ids.insert(sig.clone(), self.labels.len());
        self.labels.push(sig);
        self.labels.len() - 1
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn labels(&self, id: usize) -> &Labels {
        self.labels.get(id).unwrap_or(&*NO_LABELS)
    }
}

/// One operand of a vector match: its series, their signature ids and the
/// points present at each step.
struct Operand {
    series: Vec<EvalSeries>,
    sig_ids: Vec<usize>,
    by_step: Vec<Vec<(usize, f64)>>,
}

impl Operand {
    fn new(series: Vec<EvalSeries>, matching: &Matching, sigs: &mut Signatures, steps: Steps) -> Self {
        let sig_ids = series
            .iter()
            .map(|s| sigs.intern(matching.signature(&s.labels)))
            .collect();
        let by_step = points_by_step(&series, steps);
        Operand {
            series,
            sig_ids,
            by_step,
        }
    }

    /// `(series index, signature id, value)` of every point at step `k`.
    fn at(&self, k: usize) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        self.by_step
            .get(k)
            .into_iter()
            .flatten()
            .filter_map(|&(i, v)| Some((i, *self.sig_ids.get(i)?, v)))
    }

    fn labels(&self, i: usize) -> &Labels {
        self.series.get(i).map_or(&*NO_LABELS, |s| &s.labels)
    }

    /// Keeps, per series, only the points `kept` lists.
    fn into_kept(self, kept: Vec<Vec<Sample>>) -> impl Iterator<Item = EvalSeries> {
        self.series
            .into_iter()
            .zip(kept)
            .filter(|(_, p)| !p.is_empty())
            .map(|(s, p)| EvalSeries::new(s.labels, s.drop_name, p))
    }
}

/// Marks which signatures are present at the current step without clearing
/// between steps: a slot holds the step number (plus one) that last set it.
struct StepMarks(Vec<usize>);

impl StepMarks {
    fn new(n: usize) -> Self {
        StepMarks(vec![0; n])
    }

    fn mark(&mut self, id: usize, k: usize) {
        if let Some(slot) = self.0.get_mut(id) {
            *slot = k + 1;
        }
    }

    fn is_marked(&self, id: usize, k: usize) -> bool {
        self.0.get(id) == Some(&(k + 1))
    }
}

fn set_operation(op: &str, lhs: Operand, rhs: Operand, n_sigs: usize, steps: Steps) -> Vec<EvalSeries> {
    let mut keep_l: Vec<Vec<Sample>> = vec![Vec::new(); lhs.series.len()];
    let mut keep_r: Vec<Vec<Sample>> = vec![Vec::new(); rhs.series.len()];
    let (mut in_lhs, mut in_rhs) = (StepMarks::new(n_sigs), StepMarks::new(n_sigs));
    for (k, t) in steps.iter().enumerate() {
        lhs.at(k).for_each(|(_, sig, _)| in_lhs.mark(sig, k));
        rhs.at(k).for_each(|(_, sig, _)| in_rhs.mark(sig, k));
        for (i, sig, v) in lhs.at(k) {
            let keep = match op {
                "and" => in_rhs.is_marked(sig, k),
                "unless" => !in_rhs.is_marked(sig, k),
                _ => true,
            };
            if let (true, Some(out)) = (keep, keep_l.get_mut(i)) {
                out.push(Sample { t, v });
            }
        }
        if op != "or" {
            continue;
        }
        for (i, sig, v) in rhs.at(k) {
            if let (false, Some(out)) = (in_lhs.is_marked(sig, k), keep_r.get_mut(i)) {
                out.push(Sample { t, v });
            }
        }
    }
    lhs.into_kept(keep_l).chain(rhs.into_kept(keep_r)).collect()
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

/// A matched pair: series indices on each side (`None` when filled) and the signature.
type Pair = (Option<usize>, Option<usize>, usize);

/// Output series of a vector match, found by pair once and by labels after that.
struct MatchOutput<'a> {
    op: &'a str,
    m: &'a BinModifier,
    matching: &'a Matching,
    by_pair: HashMap<Pair, usize>,
    by_labels: HashMap<Labels, usize>,
    series: Vec<EvalSeries>,
}

impl MatchOutput<'_> {
    /// The output series index of `pair`, creating it on first use.
    fn index(&mut self, pair: Pair, many: &Labels, one: &Labels) -> usize {
        if let Some(&i) = self.by_pair.get(&pair) {
            return i;
        }
        let labels = result_labels(self.op, self.m, self.matching, many, one);
        let i = match self.by_labels.get(&labels) {
            Some(&i) => i,
            None => {
                self.by_labels.insert(labels.clone(), self.series.len());
                self.series.push(EvalSeries::new(labels, false, Vec::new()));
                self.series.len() - 1
            }
        };
        self.by_pair.insert(pair, i);
        i
    }

    fn push(&mut self, i: usize, t: i64, v: f64, drop_name: bool) -> Result<()> {
        let Some(s) = self.series.get_mut(i) else {
            return Ok(());
        };
        if s.points.last().is_some_and(|p| p.t == t) {
            return Err(duplicate_labelset());
        }
        s.drop_name |= drop_name;
        s.points.push(Sample { t, v });
        Ok(())
    }
}

/// Per-step bookkeeping of which signatures (and output series) already matched.
struct Matched {
    marks: StepMarks,
    outputs: Vec<Vec<usize>>,
}

fn arithmetic_matching(
    op: &str,
    m: &BinModifier,
    matching: &Matching,
    lhs: Operand,
    rhs: Operand,
    sigs: &Signatures,
    steps: Steps,
) -> Result<Vec<EvalSeries>> {
    let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    // Like Prometheus, iterate over the "many" side and look up the "one" side.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    // As in Prometheus, the right fill stands in for a missing "one" side and the
    // left fill for a missing "many" side, whichever way the grouping goes.
    let (fill_many, fill_one) = (m.fill_values.lhs, m.fill_values.rhs);
    let mut ctx = MatchContext {
        op,
        m,
        one_to_many,
        out: MatchOutput {
            op,
            m,
            matching,
            by_pair: HashMap::new(),
            by_labels: HashMap::new(),
            series: Vec::new(),
        },
        matched: Matched {
            marks: StepMarks::new(sigs.len()),
            outputs: vec![Vec::new(); sigs.len()],
        },
    };
    let mut one_marks = StepMarks::new(sigs.len());
    let mut one_at: Vec<(usize, f64)> = vec![(0, 0.0); sigs.len()];
    for (k, t) in steps.iter().enumerate() {
        for (j, sig, v) in one.at(k) {
            if one_marks.is_marked(sig, k) {
                let prev = one_at.get(sig).map_or(&*NO_LABELS, |&(p, _)| one.labels(p));
                return Err(duplicate_match_group(
                    sigs.labels(sig),
                    one.labels(j),
                    prev,
                    one_to_many,
                ));
            }
            one_marks.mark(sig, k);
            if let Some(slot) = one_at.get_mut(sig) {
                *slot = (j, v);
            }
        }
        for (i, sig, v) in many.at(k) {
            let many_side = (many.labels(i), v);
            match (one_at.get(sig).filter(|_| one_marks.is_marked(sig, k)), fill_one) {
                (Some(&(j, ov)), _) => {
                    ctx.combine((Some(i), Some(j), sig), k, t, many_side, (one.labels(j), ov))?
                }
                (None, Some(fill)) => {
                    ctx.combine((Some(i), None, sig), k, t, many_side, (sigs.labels(sig), fill))?
                }
                (None, None) => {}
            }
        }
        let Some(fill) = fill_many else { continue };
        for (j, sig, ov) in one.at(k) {
            if !ctx.matched.marks.is_marked(sig, k) {
                ctx.combine(
                    (None, Some(j), sig),
                    k,
                    t,
                    (sigs.labels(sig), fill),
                    (one.labels(j), ov),
                )?;
            }
        }
    }
    let mut out = ctx.out.series;
    out.retain(|s| !s.points.is_empty());
    Ok(out)
}

struct MatchContext<'a> {
    op: &'a str,
    m: &'a BinModifier,
    one_to_many: bool,
    out: MatchOutput<'a>,
    matched: Matched,
}

impl MatchContext<'_> {
    /// Applies the operator to one matched pair at step `k` (time `t`).
    fn combine(
        &mut self,
        pair: Pair,
        k: usize,
        t: i64,
        many: (&Labels, f64),
        one: (&Labels, f64),
    ) -> Result<()> {
        let (l, r) = if self.one_to_many {
            (one.1, many.1)
        } else {
            (many.1, one.1)
        };
        let (v, keep) = apply(self.op, l, r);
        let out = self.out.index(pair, many.0, one.0);
        let sig = pair.2;
        let first_match = !self.matched.marks.is_marked(sig, k);
        self.matched.marks.mark(sig, k);
        let Some(outputs) = self.matched.outputs.get_mut(sig) else {
            return Ok(());
        };
        if first_match {
            outputs.clear();
        }
        if matches!(self.m.card, VectorMatchCardinality::OneToOne) {
            if !first_match {
                return Err(PromqlError::exec(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
        } else if outputs.contains(&out) {
            return Err(PromqlError::exec(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        outputs.push(out);
        let return_bool = self.m.return_bool;
        if !keep && !return_bool {
            return Ok(());
        }
        let value = if return_bool { f64::from(u8::from(keep)) } else { v };
        self.out.push(out, t, value, return_bool)
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
