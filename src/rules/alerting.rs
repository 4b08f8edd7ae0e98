//! Alerting rules: the inactive → pending → firing → resolved state machine.
//!
//! Owns each rule's active alerts and follows Prometheus's `rules/alerting.go`:
//! `for` (hold duration), `keep_firing_for`, resolved alerts kept 15 minutes,
//! the `ALERTS` / `ALERTS_FOR_STATE` samples, when an alert needs (re)sending
//! and its `ValidUntil`, the per-rule `limit`, and restoring `for` state after
//! a restart. Must not append or send anything itself: it returns samples and
//! alerts to the group.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::eval::{EvalContext, RuleHealth};
use super::file::RuleSpec;
use super::template::{AlertTemplate, TemplateData};
use crate::alerts::Alert;
use crate::storage::{Labels, METRIC_NAME};

/// How long a resolved alert is kept (and re-sent), as in Prometheus.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// An alert's state; the rule's state is the highest of its alerts'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert instance of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    /// Series labels without `__name__`, plus the rule's labels and `alertname`.
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub value: f64,
    pub active_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub last_sent_ms: Option<i64>,
    pub valid_until_ms: i64,
    pub keep_firing_since_ms: Option<i64>,
}

impl ActiveAlert {
    /// Prometheus's `needsSending`.
    fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        match (self.resolved_at_ms, self.last_sent_ms) {
            (Some(resolved), Some(sent)) if resolved > sent => true,
            (Some(_), None) => true,
            (_, Some(sent)) => sent + resend_delay_ms < ts,
            (None, None) => true,
        }
    }
}

/// An alerting rule with its alerts and health.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    pub name: String,
    pub expr: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    pub labels: Vec<(String, AlertTemplate)>,
    pub annotations: Vec<(String, AlertTemplate)>,
    pub active: HashMap<Labels, ActiveAlert>,
    /// Until `for` state is restored, no `ALERTS` samples are written.
    pub restored: bool,
    pub health: RuleHealth,
}

/// One output sample of a rule evaluation.
pub type OutputSample = (Labels, i64, f64);

impl AlertingRule {
    /// Builds the rule, parsing its templates (already checked at load).
    pub fn new(spec: &RuleSpec) -> Result<AlertingRule, String> {
        let name = spec.name().to_string();
        let compile = |map: &BTreeMap<String, String>| -> Result<Vec<(String, AlertTemplate)>, String> {
            map.iter()
                .map(|(k, v)| Ok((k.clone(), AlertTemplate::compile(&name, v)?)))
                .collect()
        };
        Ok(AlertingRule {
            expr: spec.expr.clone(),
            for_ms: spec.for_ms,
            keep_firing_for_ms: spec.keep_firing_for_ms,
            labels: compile(&spec.labels)?,
            annotations: compile(&spec.annotations)?,
            active: HashMap::new(),
            restored: false,
            health: RuleHealth::default(),
            name,
        })
    }

    /// The rule's state: the highest state of its alerts.
    pub fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Evaluates at `ts` (querying at `ts - query_offset_ms`) and returns the
    /// `ALERTS`/`ALERTS_FOR_STATE` samples. Template errors are returned in the
    /// second element; the alert keeps the raw text.
    pub fn eval(
        &mut self,
        ctx: &EvalContext,
        ts: i64,
        query_offset_ms: i64,
        limit: usize,
    ) -> Result<(Vec<OutputSample>, Option<String>), String> {
        let query_ts = ts - query_offset_ms;
        let samples = ctx.query(&self.expr, query_ts)?;
        let mut template_error = None;
        let mut current: HashMap<Labels, ActiveAlert> = HashMap::with_capacity(samples.len());
        for (series, value) in samples {
            let (labels, annotations) = self.expand(ctx, &series, value, query_ts, &mut template_error);
            if current.contains_key(&labels) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels".into(),
                );
            }
            current.insert(labels.clone(), new_alert(labels, annotations, value, ts));
        }
        let seen: HashSet<Labels> = current.keys().cloned().collect();
        for (labels, alert) in current {
            match self.active.get_mut(&labels) {
                Some(existing) if existing.state != AlertState::Inactive => {
                    existing.value = alert.value;
                    existing.annotations = alert.annotations;
                }
                _ => {
                    self.active.insert(labels, alert);
                }
            }
        }
        let output = self.advance(ts, &seen);
        let live = self
            .active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .count();
        if limit > 0 && live > limit {
            self.active.clear();
            return Err(format!("exceeded limit of {limit} with {live} alerts"));
        }
        Ok((output, template_error))
    }

    /// Moves every alert on at `ts`; `seen` holds the labels the query returned.
    fn advance(&mut self, ts: i64, seen: &HashSet<Labels>) -> Vec<OutputSample> {
        let mut output = Vec::new();
        let keep_firing_for = self.keep_firing_for_ms;
        let for_ms = self.for_ms;
        self.active.retain(|labels, a| {
            if seen.contains(labels) {
                a.keep_firing_since_ms = None;
            } else {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_firing_for > 0 {
                    let since = *a.keep_firing_since_ms.get_or_insert(ts);
                    keep_firing = ts - since < keep_firing_for;
                }
                let expired = a.resolved_at_ms.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS);
                if a.state == AlertState::Pending || expired {
                    return false;
                }
                if !keep_firing {
                    if a.state != AlertState::Inactive {
                        a.state = AlertState::Inactive;
                        a.resolved_at_ms = Some(ts);
                    }
                    return true;
                }
            }
            if a.state == AlertState::Pending && ts - a.active_at_ms >= for_ms {
                a.state = AlertState::Firing;
                a.fired_at_ms = Some(ts);
            }
            output.push((alerts_series(labels, a.state), ts, 1.0));
            output.push((for_state_series(labels), ts, (a.active_at_ms / 1000) as f64));
            true
        });
        if !self.restored {
            output.clear();
        }
        output
    }

    fn expand(
        &self,
        ctx: &EvalContext,
        series: &Labels,
        value: f64,
        query_ts: i64,
        error: &mut Option<String>,
    ) -> (Labels, BTreeMap<String, String>) {
        let data = TemplateData {
            labels: series,
            external_labels: &ctx.external_labels,
            external_url: &ctx.external_url,
            value,
            eval_ms: query_ts,
        };
        let needs_query = self
            .labels
            .iter()
            .chain(&self.annotations)
            .any(|(_, t)| t.text().contains("query"));
        let query = needs_query.then(|| ctx.query_fn(query_ts));
        let mut run = |t: &AlertTemplate| match t.expand(&data, query.clone()) {
            Ok(text) => text,
            Err(e) => {
                *error = Some(format!("error expanding template {:?}: {e}", t.text()));
                t.text().to_string()
            }
        };
        let mut labels = series.without(&[METRIC_NAME]);
        for (name, template) in &self.labels {
            labels = labels.with(name, &run(template));
        }
        labels = labels.with("alertname", &self.name);
        let annotations = self
            .annotations
            .iter()
            .map(|(k, t)| (k.clone(), run(t)))
            .collect();
        (labels, annotations)
    }

    /// Alerts due to be sent at `ts`, marking them sent (Prometheus's `sendAlerts`).
    pub fn alerts_to_send(
        &mut self,
        ts: i64,
        resend_delay_ms: i64,
        interval_ms: i64,
        generator_url: &str,
    ) -> Vec<Alert> {
        let delta = resend_delay_ms.max(interval_ms);
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if !a.needs_sending(ts, resend_delay_ms) {
                continue;
            }
            a.last_sent_ms = Some(ts);
            a.valid_until_ms = ts + 4 * delta;
            out.push(Alert {
                labels: a
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect(),
                annotations: a.annotations.clone(),
                starts_at: to_time(a.fired_at_ms.unwrap_or(a.active_at_ms)),
                ends_at: to_time(a.resolved_at_ms.unwrap_or(a.valid_until_ms)),
                generator_url: generator_url.to_string(),
            });
        }
        out.sort_by(|x, y| x.labels.cmp(&y.labels));
        out
    }

    /// Prometheus's `RestoreForState` for this rule at `ts`: `last_for_state`
    /// gives, per alert, the last `ALERTS_FOR_STATE` sample `(t_ms, value)`.
    pub fn restore_for_state(
        &mut self,
        ts: i64,
        grace_period_ms: i64,
        last_for_state: impl Fn(&Labels) -> Option<(i64, f64)>,
    ) {
        if self.for_ms < grace_period_ms {
            self.restored = true;
            return;
        }
        for alert in self.active.values_mut() {
            let Some((t, v)) = last_for_state(&for_state_series(&alert.labels)) else {
                continue;
            };
            if crate::storage::is_stale_nan(v) || !v.is_finite() {
                continue;
            }
            let down_at = t / 1000 * 1000;
            let mut active_at = (v as i64) * 1000;
            let remaining = self.for_ms - (down_at - active_at);
            if remaining <= 0 {
                // It was firing already; the next evaluation decides again.
            } else if remaining < grace_period_ms {
                active_at = ts + grace_period_ms - self.for_ms;
            } else {
                active_at += ts - down_at;
            }
            alert.active_at_ms = active_at;
        }
        self.restored = true;
    }
}

fn new_alert(labels: Labels, annotations: BTreeMap<String, String>, value: f64, ts: i64) -> ActiveAlert {
    ActiveAlert {
        labels,
        annotations,
        state: AlertState::Pending,
        value,
        active_at_ms: ts,
        fired_at_ms: None,
        resolved_at_ms: None,
        last_sent_ms: None,
        valid_until_ms: ts,
        keep_firing_since_ms: None,
    }
}

/// `ALERTS{alertstate="…", <alert labels>}`.
pub fn alerts_series(labels: &Labels, state: AlertState) -> Labels {
    labels
        .with(METRIC_NAME, "ALERTS")
        .with("alertstate", state.as_str())
}

/// `ALERTS_FOR_STATE{<alert labels>}`.
pub fn for_state_series(labels: &Labels) -> Labels {
    labels.with(METRIC_NAME, "ALERTS_FOR_STATE")
}

pub(crate) fn to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests;
