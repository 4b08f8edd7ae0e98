//! The alert state machine against Prometheus's rules for each transition.

use std::sync::Arc;

use super::*;
use crate::promql::Engine;
use crate::rules::file::RuleKind;
use crate::rules::memory::MemoryStore;
use crate::storage::{Appender, Sample, SeriesSamples};

const MIN: i64 = 60_000;

fn store_with(values: &[(i64, f64)]) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::default());
    let samples = values.iter().map(|&(t, v)| Sample { t, v }).collect();
    let labels = Labels::from_pairs([("__name__", "errors"), ("job", "api")]);
    store.append(vec![SeriesSamples { labels, samples }]).unwrap();
    store
}

fn context(store: Arc<MemoryStore>) -> EvalContext {
    EvalContext {
        engine: Engine::default(),
        queryable: store,
        external_labels: BTreeMap::new(),
        external_url: "http://x".into(),
    }
}

fn rule(for_ms: i64, keep_firing_for_ms: i64, summary: &str) -> AlertingRule {
    let spec = RuleSpec {
        kind: RuleKind::Alert("HighErrors".into()),
        expr: "errors > 1".into(),
        for_ms,
        keep_firing_for_ms,
        labels: BTreeMap::from([("severity".to_string(), "page".to_string())]),
        annotations: BTreeMap::from([("summary".to_string(), summary.to_string())]),
    };
    let mut r = AlertingRule::new(&spec).unwrap();
    r.restored = true;
    r
}

fn only_alert(r: &AlertingRule) -> &ActiveAlert {
    assert_eq!(r.active.len(), 1);
    r.active.values().next().unwrap()
}

#[test]
fn pending_then_firing_then_resolved_and_forgotten() {
    // 5 (firing condition) from 0 to 6m, then 0.
    let mut values: Vec<(i64, f64)> = (0..=6).map(|m| (m * MIN, 5.0)).collect();
    values.extend((7..=30).map(|m| (m * MIN, 0.0)));
    let ctx = context(store_with(&values));
    let mut r = rule(2 * MIN, 0, "{{ $labels.job }} at {{ $value }}");
    let (out, err) = r.eval(&ctx, 0, 0, 0).unwrap();
    assert!(err.is_none());
    assert_eq!(only_alert(&r).state, AlertState::Pending);
    assert_eq!(out[0].0.get("alertstate"), "pending");
    assert_eq!(out[0].0.get("alertname"), "HighErrors");
    assert_eq!(out[1].0.metric_name(), "ALERTS_FOR_STATE");
    assert_eq!(out[1].2, 0.0);
    assert!(
        r.alerts_to_send(0, 60_000, MIN, "u").is_empty(),
        "pending alerts are not sent"
    );

    r.eval(&ctx, MIN, 0, 0).unwrap();
    assert_eq!(only_alert(&r).state, AlertState::Pending);
    r.eval(&ctx, 2 * MIN, 0, 0).unwrap();
    let a = only_alert(&r);
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.annotations["summary"], "api at 5");
    let sent = r.alerts_to_send(2 * MIN, 60_000, MIN, "u");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].labels["severity"], "page");
    assert_eq!(
        sent[0].ends_at,
        to_time(2 * MIN + 4 * MIN),
        "ValidUntil is 4 x max(resend delay, interval)"
    );
    r.eval(&ctx, 2 * MIN + 30_000, 0, 0).unwrap();
    assert!(
        r.alerts_to_send(2 * MIN + 30_000, 60_000, MIN, "u").is_empty(),
        "resend waits 1m"
    );

    r.eval(&ctx, 7 * MIN, 0, 0).unwrap();
    let a = only_alert(&r);
    assert_eq!(a.state, AlertState::Inactive);
    assert_eq!(a.resolved_at_ms, Some(7 * MIN));
    let resolved = r.alerts_to_send(7 * MIN, 60_000, MIN, "u");
    assert_eq!(resolved[0].ends_at, to_time(7 * MIN));
    assert!(resolved[0].is_resolved_at(to_time(7 * MIN)));
    r.eval(&ctx, 20 * MIN, 0, 0).unwrap();
    assert_eq!(
        r.alerts_to_send(20 * MIN, 60_000, MIN, "u").len(),
        1,
        "resolved alerts are re-sent"
    );
    r.eval(&ctx, 23 * MIN, 0, 0).unwrap();
    assert!(r.active.is_empty(), "resolved alerts are dropped after 15m");
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let values = [
        (0, 5.0),
        (MIN, 0.0),
        (2 * MIN, 0.0),
        (3 * MIN, 0.0),
        (4 * MIN, 0.0),
    ];
    let ctx = context(store_with(&values));
    let mut r = rule(0, 2 * MIN, "x");
    r.eval(&ctx, 0, 0, 0).unwrap();
    assert_eq!(only_alert(&r).state, AlertState::Firing);
    r.eval(&ctx, MIN, 0, 0).unwrap();
    assert_eq!(only_alert(&r).state, AlertState::Firing);
    assert_eq!(only_alert(&r).keep_firing_since_ms, Some(MIN));
    r.eval(&ctx, 2 * MIN, 0, 0).unwrap();
    assert_eq!(only_alert(&r).state, AlertState::Firing);
    r.eval(&ctx, 3 * MIN, 0, 0).unwrap();
    assert_eq!(only_alert(&r).state, AlertState::Inactive);
}

#[test]
fn pending_alerts_vanish_without_resolving() {
    let ctx = context(store_with(&[(0, 5.0), (MIN, 0.0)]));
    let mut r = rule(5 * MIN, 0, "x");
    r.eval(&ctx, 0, 0, 0).unwrap();
    r.eval(&ctx, MIN, 0, 0).unwrap();
    assert!(r.active.is_empty());
}

#[test]
fn no_alerts_series_before_restore() {
    let ctx = context(store_with(&[(0, 5.0)]));
    let mut r = rule(0, 0, "x");
    r.restored = false;
    let (out, _) = r.eval(&ctx, 0, 0, 0).unwrap();
    assert!(out.is_empty());
}

#[test]
fn restore_shifts_active_at_by_the_downtime() {
    let ctx = context(store_with(&[(100 * MIN, 5.0)]));
    let mut r = rule(30 * MIN, 0, "x");
    r.restored = false;
    r.eval(&ctx, 100 * MIN, 0, 0).unwrap();
    // Before the outage it had been pending since 60m; it went down at 70m.
    r.restore_for_state(100 * MIN, 10 * MIN, |_| Some((70 * MIN, (60 * 60) as f64)));
    assert_eq!(
        only_alert(&r).active_at_ms,
        90 * MIN,
        "10m already pending, 20m to go"
    );
    // Less than the grace period left: it gets the grace period.
    let mut r = rule(30 * MIN, 0, "x");
    r.eval(&ctx, 100 * MIN, 0, 0).unwrap();
    r.restore_for_state(100 * MIN, 10 * MIN, |_| Some((85 * MIN, (60 * 60) as f64)));
    assert_eq!(only_alert(&r).active_at_ms, 80 * MIN);
    assert!(r.restored);
}

#[test]
fn limit_clears_alerts_and_fails() {
    let ctx = context(store_with(&[(0, 5.0)]));
    let mut r = rule(0, 0, "x");
    assert!(r.eval(&ctx, 0, 0, 1).is_ok());
    let store = store_with(&[(0, 5.0)]);
    let labels = Labels::from_pairs([("__name__", "errors"), ("job", "web")]);
    store
        .append(vec![SeriesSamples {
            labels,
            samples: vec![Sample { t: 0, v: 7.0 }],
        }])
        .unwrap();
    let err = r.eval(&context(store), 0, 0, 1).unwrap_err();
    assert_eq!(err, "exceeded limit of 1 with 2 alerts");
    assert!(r.active.is_empty());
}

#[test]
fn a_failing_template_keeps_its_text_and_reports_the_error() {
    let ctx = context(store_with(&[(0, 5.0)]));
    let mut r = rule(0, 0, "{{ index $labels 1 }}");
    let (_, err) = r.eval(&ctx, 0, 0, 0).unwrap();
    assert!(err.unwrap().contains("error expanding template"));
    assert_eq!(only_alert(&r).annotations["summary"], "{{ index $labels 1 }}");
}
