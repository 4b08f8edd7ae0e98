//! Aggregation operators (`sum`, `avg`, `min`, `max`, `count`, `group`,
//! `stddev`, `stdvar`, `quantile`, `topk`, `bottomk`, `limitk`, `limit_ratio`,
//! `count_values`) with `by`/`without` grouping.
//!
//! Groups are fixed per series once; values are combined per step. Must not
//! touch sled or HTTP.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::engine::Evaluator;
use super::error::{PromqlError, Result};
use super::format::{go_f, go_g};
use super::functions::math::{kahan_inc, quantile};
use super::hash::labels_hash;
use super::value::{points_by_step, EvalSeries, Evaluated, SeriesCollector, Steps};
use crate::storage::{Labels, Sample, METRIC_NAME};

pub(crate) fn eval(ev: &mut Evaluator, e: &AggregateExpr, steps: Steps) -> Result<Evaluated> {
    let op = e.op.to_string();
    let input = ev.eval_vector(&e.expr, steps)?;
    match op.as_str() {
        "topk" | "bottomk" | "limitk" | "limit_ratio" => {
            let params = scalar_param(ev, e, steps)?;
            select_series(ev, e, &op, input, &params, steps).map(Evaluated::Vector)
        }
        "count_values" => {
            let label = match &e.param {
                Some(p) => ev.eval_string(p, steps)?,
                None => return Err(PromqlError::exec("count_values needs a label name")),
            };
            count_values(e, &label, input, steps).map(Evaluated::Vector)
        }
        _ => {
            let params = match op.as_str() {
                "quantile" => {
                    let params = scalar_param(ev, e, steps)?;
                    warn_quantile_params(ev, e, &params);
                    params
                }
                _ => Vec::new(),
            };
            combine(e, &op, input, &params, steps).map(Evaluated::Vector)
        }
    }
}

fn scalar_param(ev: &mut Evaluator, e: &AggregateExpr, steps: Steps) -> Result<Vec<f64>> {
    match &e.param {
        Some(p) => ev.eval_scalar(p, steps),
        None => Err(PromqlError::exec(format!("{} needs a parameter", e.op))),
    }
}

fn warn_quantile_params(ev: &mut Evaluator, e: &AggregateExpr, params: &[f64]) {
    let Some(param) = e.param.as_deref() else { return };
    for &q in params {
        if q.is_nan() || !(0.0..=1.0).contains(&q) {
            ev.warn(
                format!("quantile value should be between 0 and 1, got {}", go_g(q, None)),
                param,
            );
        }
    }
}

/// The labels that identify a series' group.
fn group_labels(e: &AggregateExpr, labels: &Labels) -> Labels {
    match &e.modifier {
        Some(LabelModifier::Include(by)) => {
            let keep: Vec<_> = labels
                .iter()
                .filter(|l| by.labels.contains(&l.name))
                .cloned()
                .collect();
            Labels::from_sorted(keep)
        }
        Some(LabelModifier::Exclude(without)) => {
            let mut drop: Vec<&str> = without.labels.iter().map(String::as_str).collect();
            drop.push(METRIC_NAME);
            labels.without(&drop)
        }
        None => Labels::default(),
    }
}

/// Assigns each input series to a group; returns the group index per series and the group labels.
fn assign_groups(e: &AggregateExpr, input: &[EvalSeries]) -> (Vec<usize>, Vec<Labels>) {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups = Vec::new();
    let assignment = input
        .iter()
        .map(|s| {
            let key = group_labels(e, &s.labels);
            *index.entry(key.clone()).or_insert_with(|| {
                groups.push(key);
                groups.len() - 1
            })
        })
        .collect();
    (assignment, groups)
}

/// Running state of one group at one step.
#[derive(Default, Clone)]
struct Acc {
    seen: bool,
    drop_name: bool,
    count: f64,
    value: f64,
    kahan_c: f64,
    mean: f64,
    incremental_mean: bool,
    values: Vec<f64>,
}

impl Acc {
    fn start(op: &str, v: f64, drop_name: bool) -> Acc {
        let mut acc = Acc {
            seen: true,
            drop_name,
            count: 1.0,
            value: v,
            mean: v,
            ..Acc::default()
        };
        match op {
            "stddev" | "stdvar" => acc.value = if v.is_finite() { 0.0 } else { f64::NAN },
            "quantile" => acc.values.push(v),
            "group" => acc.value = 1.0,
            _ => {}
        }
        acc
    }

    fn add(&mut self, op: &str, v: f64) {
        match op {
            "sum" => (self.value, self.kahan_c) = kahan_inc(v, self.value, self.kahan_c),
            "avg" => self.add_avg(v),
            "max" if self.value < v || self.value.is_nan() => self.value = v,
            "min" if self.value > v || self.value.is_nan() => self.value = v,
            "count" => self.count += 1.0,
            "stddev" | "stdvar" => {
                self.count += 1.0;
                let delta = v - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (v - self.mean);
            }
            "quantile" => self.values.push(v),
            _ => {}
        }
    }

    fn add_avg(&mut self, v: f64) {
        self.count += 1.0;
        if !self.incremental_mean {
            let (sum, c) = kahan_inc(v, self.value, self.kahan_c);
            if !sum.is_infinite() {
                (self.value, self.kahan_c) = (sum, c);
                return;
            }
            self.incremental_mean = true;
            self.mean = self.value / (self.count - 1.0);
            self.kahan_c /= self.count - 1.0;
        }
        let q = (self.count - 1.0) / self.count;
        (self.mean, self.kahan_c) = kahan_inc(v / self.count, q * self.mean, q * self.kahan_c);
    }

    fn result(&mut self, op: &str, param: f64) -> f64 {
        match op {
            "sum" => self.value + self.kahan_c,
            "avg" if self.incremental_mean => self.mean + self.kahan_c,
            "avg" => self.value / self.count + self.kahan_c / self.count,
            "count" => self.count,
            "stdvar" => self.value / self.count,
            "stddev" => (self.value / self.count).sqrt(),
            "quantile" => quantile(param, &mut self.values),
            _ => self.value,
        }
    }
}

fn combine(
    e: &AggregateExpr,
    op: &str,
    input: Vec<EvalSeries>,
    params: &[f64],
    steps: Steps,
) -> Result<Vec<EvalSeries>> {
    let (assignment, groups) = assign_groups(e, &input);
    let drop_names: Vec<bool> = input.iter().map(|s| s.drop_name).collect();
    let by_step = points_by_step(input, steps);
    let mut out: Vec<EvalSeries> = groups
        .into_iter()
        .map(|labels| EvalSeries::new(labels, false, Vec::new()))
        .collect();
    let mut accs: Vec<Acc> = vec![Acc::default(); out.len()];
    for (k, t) in steps.iter().enumerate() {
        accs.iter_mut().for_each(|a| a.seen = false);
        for &(i, v) in by_step.get(k).map_or(&[][..], Vec::as_slice) {
            let (Some(&g), Some(&drop_name)) = (assignment.get(i), drop_names.get(i)) else {
                continue;
            };
            let Some(acc) = accs.get_mut(g) else { continue };
            if acc.seen {
                acc.add(op, v);
                acc.drop_name |= drop_name;
            } else {
                *acc = Acc::start(op, v, drop_name);
            }
        }
        let param = params.get(k).copied().unwrap_or(f64::NAN);
        for (acc, series) in accs.iter_mut().zip(out.iter_mut()) {
            if acc.seen {
                let v = acc.result(op, param);
                series.drop_name |= acc.drop_name;
                series.points.push(Sample { t, v });
            }
        }
    }
    out.retain(|s| !s.points.is_empty());
    Ok(out)
}

fn count_values(
    e: &AggregateExpr,
    label: &str,
    input: Vec<EvalSeries>,
    steps: Steps,
) -> Result<Vec<EvalSeries>> {
    // Prometheus 3 accepts any non-empty UTF-8 label name.
    if label.is_empty() {
        return Err(PromqlError::exec(format!("invalid label name {label:?}")));
    }
    let (assignment, groups) = assign_groups(e, &input);
    let by_step = points_by_step(&input, steps);
    let mut out = SeriesCollector::default();
    for (k, t) in steps.iter().enumerate() {
        let mut counts: Vec<(Labels, f64)> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for &(i, v) in by_step.get(k).map_or(&[][..], Vec::as_slice) {
            let Some(group) = assignment.get(i).and_then(|&g| groups.get(g)) else {
                continue;
            };
            let labels = group.with(label, &go_f(v));
            match index.get(&labels).and_then(|&c| counts.get_mut(c)) {
                Some((_, c)) => *c += 1.0,
                None => {
                    index.insert(labels.clone(), counts.len());
                    counts.push((labels, 1.0));
                }
            }
        }
        for (labels, c) in counts {
            out.push(labels, false, t, c)
                .map_err(|_| super::engine::duplicate_labelset())?;
        }
    }
    Ok(out.finish())
}

/// `topk`, `bottomk`, `limitk` and `limit_ratio`: keep whole input series per group.
fn select_series(
    ev: &mut Evaluator,
    e: &AggregateExpr,
    op: &str,
    input: Vec<EvalSeries>,
    params: &[f64],
    steps: Steps,
) -> Result<Vec<EvalSeries>> {
    check_selection_params(ev, e, op, params)?;
    let (assignment, groups) = assign_groups(e, &input);
    let by_step = points_by_step(&input, steps);
    let mut kept: Vec<Vec<Sample>> = vec![Vec::new(); input.len()];
    let mut order: Vec<usize> = Vec::new();
    for (k, t) in steps.iter().enumerate() {
        let param = params.get(k).copied().unwrap_or(f64::NAN);
        let mut members: Vec<Vec<(usize, f64)>> = vec![Vec::new(); groups.len()];
        for &(i, v) in by_step.get(k).map_or(&[][..], Vec::as_slice) {
            if let Some(m) = assignment.get(i).and_then(|&g| members.get_mut(g)) {
                m.push((i, v));
            }
        }
        for group in members {
            for (i, v) in choose(op, group, param, &input) {
                if let Some(points) = kept.get_mut(i) {
                    points.push(Sample { t, v });
                }
                if steps.len() == 1 {
                    order.push(i);
                }
            }
        }
    }
    if steps.len() != 1 {
        order = (0..input.len()).collect();
    }
    let mut input: Vec<Option<EvalSeries>> = input.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(order.len());
    for i in order {
        let (Some(slot), Some(points)) = (input.get_mut(i), kept.get_mut(i)) else {
            continue;
        };
        if let (Some(mut s), false) = (slot.take(), points.is_empty()) {
            s.points = std::mem::take(points);
            out.push(s);
        }
    }
    Ok(out)
}

fn check_selection_params(ev: &mut Evaluator, e: &AggregateExpr, op: &str, params: &[f64]) -> Result<()> {
    if op == "limit_ratio" {
        if params.iter().any(|p| p.is_nan()) {
            return Err(PromqlError::exec("Ratio value is NaN"));
        }
        let param_expr: Option<&Expr> = e.param.as_deref();
        let max = params.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = params.iter().copied().fold(f64::INFINITY, f64::min);
        if let (Some(p), true) = (param_expr, max > 1.0) {
            ev.warn(
                format!(
                    "ratio value should be between -1 and 1, got {}, capping to 1",
                    go_g(max, None)
                ),
                p,
            );
        }
        if let (Some(p), true) = (param_expr, min < -1.0) {
            ev.warn(
                format!(
                    "ratio value should be between -1 and 1, got {}, capping to -1",
                    go_g(min, None)
                ),
                p,
            );
        }
        return Ok(());
    }
    if params.iter().any(|p| p.is_nan()) {
        return Err(PromqlError::exec("Parameter value is NaN"));
    }
    if params.iter().copied().fold(f64::NEG_INFINITY, f64::max) < 1.0 {
        return Ok(());
    }
    for &p in params {
        if p <= i64::MIN as f64 {
            return Err(PromqlError::exec(format!(
                "Scalar value {} underflows int64",
                go_g(p, None)
            )));
        }
        if p >= i64::MAX as f64 {
            return Err(PromqlError::exec(format!(
                "Scalar value {} overflows int64",
                go_g(p, None)
            )));
        }
    }
    Ok(())
}

/// Orders NaN below every number, as Prometheus's value heaps do.
fn nan_low(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// The members of one group that the selection keeps, in output order.
fn choose(op: &str, mut group: Vec<(usize, f64)>, param: f64, input: &[EvalSeries]) -> Vec<(usize, f64)> {
    match op {
        "topk" | "bottomk" => {
            let k = param as i64;
            if k < 1 {
                return Vec::new();
            }
            if op == "topk" {
                group.sort_by(|a, b| nan_low(b.1, a.1));
            } else {
                group.sort_by(|a, b| match (a.1.is_nan(), b.1.is_nan()) {
                    (false, false) => a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal),
                    _ => nan_low(b.1, a.1),
                });
            }
            group.truncate(usize::try_from(k).unwrap_or(usize::MAX));
            group
        }
        "limitk" => {
            let k = param as i64;
            group.truncate(usize::try_from(k.max(0)).unwrap_or(usize::MAX));
            group
        }
        _ => {
            let ratio = param.clamp(-1.0, 1.0);
            group.retain(|&(i, _)| input.get(i).is_some_and(|s| ratio_keeps(&s.labels, ratio)));
            group
        }
    }
}

/// Whether `limit_ratio` keeps a series: Prometheus's label hash scaled to [0, 1].
fn ratio_keeps(labels: &Labels, ratio: f64) -> bool {
    let offset = labels_hash(labels) as f64 / u64::MAX as f64;
    if ratio >= 0.0 {
        offset < ratio
    } else {
        offset >= 1.0 + ratio
    }
}
