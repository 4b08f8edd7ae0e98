//! A rule group: its rules evaluated in order at consistent timestamps.
//!
//! Owns one group's evaluation round as Prometheus's `rules/group.go` runs it:
//! the aligned evaluation timestamp (a per-group hash offset inside the
//! interval), appending each rule's output, stale markers for series a rule
//! stopped returning, handing due alerts to the sink, restoring `for` state
//! after a restart, and carrying alert state over a reload. Must not schedule
//! itself: the manager (or `sightline test rules`) decides when to call it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use super::alerting::{AlertingRule, OutputSample};
use super::eval::{EvalContext, RuleHealth};
use super::file::{GroupSpec, RuleKind};
use super::recording::RecordingRule;
use crate::alerts::AlertSink;
use crate::storage::{stale_nan, Appender, Labels, Matcher, Queryable, Sample, SelectHints, SeriesSamples};

/// Prometheus's defaults for `--rules.alert.resend-delay`, `--rules.alert.for-outage-tolerance`
/// and `--rules.alert.for-grace-period`.
pub const RESEND_DELAY_MS: i64 = 60_000;
pub const OUTAGE_TOLERANCE_MS: i64 = 3_600_000;
pub const FOR_GRACE_PERIOD_MS: i64 = 600_000;

/// A rule of either kind.
#[derive(Debug, Clone)]
pub enum Rule {
    Recording(RecordingRule),
    Alerting(AlertingRule),
}

impl Rule {
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.name,
            Rule::Alerting(r) => &r.name,
        }
    }

    pub fn health(&self) -> &RuleHealth {
        match self {
            Rule::Recording(r) => &r.health,
            Rule::Alerting(r) => &r.health,
        }
    }

    fn health_mut(&mut self) -> &mut RuleHealth {
        match self {
            Rule::Recording(r) => &mut r.health,
            Rule::Alerting(r) => &mut r.health,
        }
    }

    fn expr(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.expr,
            Rule::Alerting(r) => &r.expr,
        }
    }
}

/// Where a group's results go.
pub struct GroupOutput<'a> {
    pub appender: &'a dyn Appender,
    /// `None`: alerts are only visible through the API.
    pub sink: Option<&'a Arc<dyn AlertSink>>,
    pub resend_delay_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub file: String,
    pub interval_ms: i64,
    pub query_offset_ms: i64,
    pub limit: usize,
    pub rules: Vec<Rule>,
    /// Per rule, the series it returned at the last successful evaluation.
    previous_series: Vec<HashSet<Labels>>,
    pub last_evaluation_ms: Option<i64>,
    pub evaluation_seconds: f64,
}

impl Group {
    /// Builds the group; `default_interval_ms` applies when the file sets none.
    pub fn new(spec: &GroupSpec, default_interval_ms: i64) -> Result<Group, String> {
        let rules = spec
            .rules
            .iter()
            .map(|r| match r.kind {
                RuleKind::Record(_) => Ok(Rule::Recording(RecordingRule::new(r))),
                RuleKind::Alert(_) => AlertingRule::new(r).map(Rule::Alerting),
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Group {
            name: spec.name.clone(),
            file: spec.file.clone(),
            interval_ms: spec.interval_ms.unwrap_or(default_interval_ms).max(1),
            query_offset_ms: spec.query_offset_ms,
            limit: spec.limit,
            previous_series: vec![HashSet::new(); rules.len()],
            rules,
            last_evaluation_ms: None,
            evaluation_seconds: 0.0,
        })
    }

    /// The group's identity across reloads (Prometheus's group key).
    pub fn key(&self) -> (String, String) {
        (self.file.clone(), self.name.clone())
    }

    /// The last evaluation timestamp at or before `now_ms`: a multiple of the
    /// interval plus a fixed offset from the group's name and file, so groups
    /// spread over the interval and every round sees the same spacing.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let offset = (group_hash(&self.name, &self.file) % self.interval_ms as u64) as i64;
        let adjusted = now_ms - offset;
        adjusted - adjusted.rem_euclid(self.interval_ms) + offset
    }

    /// Evaluates every rule at `ts`; returns the first rule error, if any (for
    /// `sightline test rules`, which stops on one). Errors are also kept on the rule.
    pub fn eval(&mut self, ctx: &EvalContext, out: &GroupOutput, ts: i64) -> Option<String> {
        let started = Instant::now();
        let mut first_error = None;
        for i in 0..self.rules.len() {
            if let Err(e) = self.eval_rule(i, ctx, out, ts) {
                first_error.get_or_insert(e);
            }
        }
        self.last_evaluation_ms = Some(ts);
        self.evaluation_seconds = started.elapsed().as_secs_f64();
        first_error
    }

    fn eval_rule(&mut self, i: usize, ctx: &EvalContext, out: &GroupOutput, ts: i64) -> Result<(), String> {
        let started = Instant::now();
        let (offset, limit) = (self.query_offset_ms, self.limit);
        let result = match &mut self.rules[i] {
            Rule::Recording(r) => r.eval(ctx, ts, offset, limit).map(|s| (s, None)),
            Rule::Alerting(r) => r.eval(ctx, ts, offset, limit),
        };
        let outcome = result.and_then(|(samples, template_error)| {
            self.store(i, out.appender, samples, ts)?;
            template_error.map_or(Ok(()), Err)
        });
        if let Rule::Alerting(r) = &mut self.rules[i] {
            if let Some(sink) = out.sink {
                let url = generator_url(&ctx.external_url, &r.expr);
                let alerts = r.alerts_to_send(ts, out.resend_delay_ms, self.interval_ms, &url);
                if !alerts.is_empty() {
                    sink.send(alerts);
                }
            }
        }
        let health = self.rules[i].health_mut();
        health.last_evaluation_ms = Some(ts);
        health.evaluation_seconds = started.elapsed().as_secs_f64();
        health.last_error = outcome.as_ref().err().cloned();
        if let Err(e) = &outcome {
            tracing::warn!(group = %self.name, rule = %self.rules[i].name(), error = %e, "rule evaluation failed");
        }
        outcome
    }

    /// Appends a rule's output and stale markers for series it no longer returns.
    fn store(
        &mut self,
        i: usize,
        appender: &dyn Appender,
        samples: Vec<OutputSample>,
        ts: i64,
    ) -> Result<(), String> {
        let current: HashSet<Labels> = samples.iter().map(|(l, _, _)| l.clone()).collect();
        let mut batch: Vec<SeriesSamples> = samples
            .into_iter()
            .map(|(labels, t, v)| SeriesSamples {
                labels,
                samples: vec![Sample { t, v }],
            })
            .collect();
        for gone in self.previous_series[i].difference(&current) {
            batch.push(SeriesSamples {
                labels: gone.clone(),
                samples: vec![Sample {
                    t: ts,
                    v: stale_nan(),
                }],
            });
        }
        self.previous_series[i] = current;
        if batch.is_empty() {
            return Ok(());
        }
        appender
            .append(batch)
            .map(|_| ())
            .map_err(|e| format!("appending rule output: {e}"))
    }

    /// Marks every alerting rule restored without looking at stored state
    /// (what `sightline test rules` does, as promtool does).
    pub fn mark_restored(&mut self) {
        for rule in &mut self.rules {
            if let Rule::Alerting(r) = rule {
                r.restored = true;
            }
        }
    }

    /// Prometheus's `RestoreForState` at `ts`: alerts found active at the first
    /// evaluation take their `ActiveAt` from the last `ALERTS_FOR_STATE` sample
    /// within the outage tolerance, shifted by the downtime.
    pub fn restore_for_state(&mut self, queryable: &dyn Queryable, ts: i64) {
        let mint = ts - OUTAGE_TOLERANCE_MS;
        for rule in &mut self.rules {
            let Rule::Alerting(r) = rule else { continue };
            r.restore_for_state(ts, FOR_GRACE_PERIOD_MS, |series| {
                last_sample(queryable, series, mint, ts)
            });
        }
    }

    /// Takes the alerts and health of the same-named rules of `old` (a reload).
    pub fn carry_state_from(&mut self, old: &Group) {
        for rule in &mut self.rules {
            let Some(previous) = old
                .rules
                .iter()
                .find(|o| o.name() == rule.name() && o.expr() == rule.expr())
            else {
                continue;
            };
            if let (Rule::Alerting(new), Rule::Alerting(prev)) = (&mut *rule, previous) {
                new.active = prev.active.clone();
                new.restored = prev.restored;
            }
            *rule.health_mut() = previous.health().clone();
        }
        self.last_evaluation_ms = old.last_evaluation_ms;
        self.evaluation_seconds = old.evaluation_seconds;
    }
}

/// The last sample of exactly `series` in `[mint, maxt]`.
fn last_sample(queryable: &dyn Queryable, series: &Labels, mint: i64, maxt: i64) -> Option<(i64, f64)> {
    let matchers: Vec<Matcher> = series.iter().map(|l| Matcher::equal(&l.name, &l.value)).collect();
    let found = queryable
        .select(&matchers, mint, maxt, SelectHints::default())
        .ok()?;
    let exact = found.into_iter().find(|s| &s.labels == series)?;
    exact.samples.last().map(|s| (s.t, s.v))
}

/// `<external URL>/graph?g0.expr=…&g0.tab=1`, Prometheus's generator URL.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    format!(
        "{}/graph?g0.expr={}&g0.tab=1",
        external_url.trim_end_matches('/'),
        go_query_escape(expr)
    )
}

/// Go's `url.QueryEscape`: form encoding, except that Go keeps `~` and
/// escapes `*` (`form_urlencoded` does the opposite, and neither byte can
/// appear otherwise in its output).
fn go_query_escape(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('*', "%2A")
        .replace("%7E", "~")
}

/// FNV-1a over name and file: a stable spread of groups over their interval.
fn group_hash(name: &str, file: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes().chain([0xff]).chain(file.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::promql::Engine;
    use crate::rules::file::{RuleKind, RuleSpec};
    use crate::rules::memory::MemoryStore;
    use crate::storage::is_stale_nan;

    fn spec(rules: Vec<RuleSpec>) -> GroupSpec {
        GroupSpec {
            name: "g".into(),
            file: "f.yml".into(),
            interval_ms: Some(15_000),
            query_offset_ms: 0,
            limit: 0,
            rules,
        }
    }

    fn record(name: &str, expr: &str) -> RuleSpec {
        RuleSpec {
            kind: RuleKind::Record(name.into()),
            expr: expr.into(),
            for_ms: 0,
            keep_firing_for_ms: 0,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    fn input(store: &MemoryStore, name: &str, job: &str, samples: &[(i64, f64)]) {
        let labels = Labels::from_pairs([("__name__", name), ("job", job)]);
        let samples = samples.iter().map(|&(t, v)| Sample { t, v }).collect();
        store.append(vec![SeriesSamples { labels, samples }]).unwrap();
    }

    fn setup() -> (Arc<MemoryStore>, EvalContext) {
        let store = Arc::new(MemoryStore::default());
        let ctx = EvalContext {
            engine: Engine::default(),
            queryable: store.clone(),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
        };
        (store, ctx)
    }

    #[test]
    fn evaluation_timestamps_are_aligned_with_a_stable_offset() {
        let g = Group::new(&spec(vec![]), 60_000).unwrap();
        let t1 = g.eval_timestamp(1_000_000);
        let t2 = g.eval_timestamp(1_000_000 + 15_000);
        assert_eq!(t2 - t1, 15_000);
        assert!(t1 <= 1_000_000 && 1_000_000 - t1 < 15_000);
        assert_eq!(g.eval_timestamp(t1), t1);
    }

    #[test]
    fn series_a_rule_stops_returning_get_a_stale_marker() {
        let (store, ctx) = setup();
        input(&store, "up", "a", &[(0, 1.0)]);
        input(&store, "up", "b", &[(0, 1.0), (15_000, 1.0)]);
        let mut g = Group::new(&spec(vec![record("job:up", "up")]), 15_000).unwrap();
        let out = GroupOutput {
            appender: store.as_ref(),
            sink: None,
            resend_delay_ms: RESEND_DELAY_MS,
        };
        assert!(g.eval(&ctx, &out, 0).is_none());
        input(
            &store,
            "up",
            "a",
            &[(15_000, f64::from_bits(crate::storage::STALE_NAN_BITS))],
        );
        assert!(g.eval(&ctx, &out, 15_000).is_none());
        let a = Labels::from_pairs([("__name__", "job:up"), ("job", "a")]);
        let stored = store
            .select(&[Matcher::equal("job", "a")], 0, 20_000, SelectHints::default())
            .unwrap();
        let recorded = stored.iter().find(|s| s.labels == a).unwrap();
        assert_eq!(recorded.samples.len(), 2);
        assert!(is_stale_nan(recorded.samples[1].v));
        assert_eq!(g.rules[0].health().state(), "ok");
    }

    #[test]
    fn a_rule_output_with_duplicate_series_is_an_error() {
        let (store, ctx) = setup();
        input(&store, "up", "a", &[(0, 1.0)]);
        input(&store, "other", "a", &[(0, 2.0)]);
        let mut g = Group::new(&spec(vec![record("r", "{job=\"a\"}")]), 15_000).unwrap();
        let out = GroupOutput {
            appender: store.as_ref(),
            sink: None,
            resend_delay_ms: RESEND_DELAY_MS,
        };
        let err = g.eval(&ctx, &out, 0).unwrap();
        assert_eq!(
            err,
            "vector contains metrics with the same labelset after applying rule labels"
        );
        assert_eq!(g.rules[0].health().state(), "err");
    }

    #[test]
    fn firing_alerts_reach_the_sink_with_a_generator_url() {
        struct Collect(parking_lot::Mutex<Vec<crate::alerts::Alert>>);
        impl AlertSink for Collect {
            fn send(&self, alerts: Vec<crate::alerts::Alert>) {
                self.0.lock().extend(alerts);
            }
        }
        let (store, ctx) = setup();
        input(&store, "up", "a", &[(0, 0.0)]);
        let mut alert = record("Down", "up == 0");
        alert.kind = RuleKind::Alert("Down".into());
        let mut g = Group::new(&spec(vec![alert]), 15_000).unwrap();
        let collect = Arc::new(Collect(parking_lot::Mutex::new(Vec::new())));
        let sink: Arc<dyn AlertSink> = collect.clone();
        let out = GroupOutput {
            appender: store.as_ref(),
            sink: Some(&sink),
            resend_delay_ms: RESEND_DELAY_MS,
        };
        g.eval(&ctx, &out, 0);
        let sent = collect.0.lock().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].labels["alertname"], "Down");
        assert_eq!(sent[0].generator_url, "/graph?g0.expr=up+%3D%3D+0&g0.tab=1");
    }

    #[test]
    fn generator_urls_escape_expressions_as_go_does() {
        assert_eq!(
            generator_url("http://p:9090/", r#"x{a=~"b.*"} * 2 > 1"#),
            "http://p:9090/graph?g0.expr=x%7Ba%3D~%22b.%2A%22%7D+%2A+2+%3E+1&g0.tab=1"
        );
    }
}
