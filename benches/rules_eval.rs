//! Rule evaluation cost: 1,000 alerting rules over 100,000 series, evaluated as
//! the server does every 15 s, on the real storage engine.
//!
//! Run: `cargo bench --bench rules_eval` (release build). Environment:
//! `RULES_SERIES` (default 100000), `RULES_COUNT` (default 1000),
//! `RULES_ROUNDS` timed rounds (default 10).
//!
//! Data: `prediction_latency_seconds{shard, instance}` gauges, one sample every
//! 15 s over the 5 minutes before the first round; each rule selects one shard
//! (`RULES_SERIES / RULES_COUNT` series) with a threshold that about 1% of the
//! series cross, so every rule returns alerts and writes `ALERTS` /
//! `ALERTS_FOR_STATE`. Rules sit in 10 groups with a 15 s interval, `for: 1m`,
//! and an annotation template per alert. Each round evaluates every group once
//! at a timestamp 15 s after the previous one (still inside the 5 m lookback).
//!
//! Printed per round: wall time and process CPU (user + system from
//! `getrusage`), and the CPU as a share of one core over the 15 s interval:
//! the target is under 20%, and the wall time must stay within the interval.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use sightline::promql::{Engine, EngineOptions};
use sightline::rules::eval::EvalContext;
use sightline::rules::file::{GroupSpec, RuleKind, RuleSpec};
use sightline::rules::group::{Group, GroupOutput, RESEND_DELAY_MS};
use sightline::storage::{Appender, Labels, Sample, SeriesSamples, Storage, StorageOptions};

const INTERVAL_MS: i64 = 15_000;
const GROUPS: usize = 10;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn load(storage: &Storage, series: usize, shards: usize, start: i64) {
    let points = 5 * 60 * 1000 / INTERVAL_MS;
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..series {
        let labels = Labels::from_pairs([
            ("__name__", "prediction_latency_seconds".to_string()),
            ("shard", (i % shards).to_string()),
            ("instance", format!("pod-{i}")),
        ]);
        // ~1% of series sit above the 0.99 threshold.
        let level = (i * 7919 % 1000) as f64 / 1000.0;
        let samples = (0..points)
            .map(|p| Sample {
                t: start + p * INTERVAL_MS,
                v: level,
            })
            .collect();
        batch.push(SeriesSamples { labels, samples });
        if batch.len() == 10_000 {
            storage.append(std::mem::take(&mut batch)).expect("append");
        }
    }
    if !batch.is_empty() {
        storage.append(batch).expect("append");
    }
}

fn groups(rules: usize) -> Vec<Group> {
    let per_group = rules.div_ceil(GROUPS);
    (0..GROUPS)
        .map(|g| {
            let rules = (g * per_group..((g + 1) * per_group).min(rules))
                .map(|r| RuleSpec {
                    kind: RuleKind::Alert(format!("HighLatencyShard{r}")),
                    expr: format!("prediction_latency_seconds{{shard=\"{r}\"}} > 0.99"),
                    for_ms: 60_000,
                    keep_firing_for_ms: 0,
                    labels: BTreeMap::from([("severity".to_string(), "warning".to_string())]),
                    annotations: BTreeMap::from([(
                        "summary".to_string(),
                        "{{ $labels.instance }} answers in {{ humanizeDuration $value }}".to_string(),
                    )]),
                })
                .collect();
            let spec = GroupSpec {
                name: format!("group-{g}"),
                file: "bench.yml".into(),
                interval_ms: Some(INTERVAL_MS),
                query_offset_ms: 0,
                limit: 0,
                rules,
            };
            let mut group = Group::new(&spec, INTERVAL_MS).expect("group");
            group.mark_restored();
            group
        })
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        println!("rules_eval: run with `cargo bench --bench rules_eval`");
        return;
    }
    let series = env_usize("RULES_SERIES", 100_000);
    let rules = env_usize("RULES_COUNT", 1_000);
    let rounds = env_usize("RULES_ROUNDS", 10);
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(dir.path(), StorageOptions::default()).expect("open storage");
    let now = sightline::storage::now_ms();
    let start = now - now % INTERVAL_MS - 5 * 60 * 1000;
    let loading = Instant::now();
    load(&storage, series, rules, start);
    println!(
        "loaded {series} series in {:.1}s",
        loading.elapsed().as_secs_f64()
    );

    let context = EvalContext {
        engine: Engine::new(EngineOptions::default()),
        queryable: Arc::new(storage.clone()),
        external_labels: BTreeMap::new(),
        external_url: "http://localhost:7464".into(),
    };
    let output = GroupOutput {
        appender: &storage,
        sink: None,
        resend_delay_ms: RESEND_DELAY_MS,
    };
    let mut groups = groups(rules);
    let first_round = start + 5 * 60 * 1000;
    let (mut wall_total, mut cpu_total) = (0.0, 0.0);
    println!("round  wall_ms  cpu_ms  cpu_%_of_one_core_per_15s  alerts");
    for round in 0..=rounds {
        let ts = first_round + round as i64 * INTERVAL_MS;
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        for g in &mut groups {
            if let Some(e) = g.eval(&context, &output, ts) {
                panic!("evaluation failed: {e}");
            }
        }
        let (wall_s, cpu_s) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        let alerts: usize = groups
            .iter()
            .flat_map(|g| &g.rules)
            .map(|r| match r {
                sightline::rules::group::Rule::Alerting(a) => a.active.len(),
                sightline::rules::group::Rule::Recording(_) => 0,
            })
            .sum();
        let share = 100.0 * cpu_s / (INTERVAL_MS as f64 / 1000.0);
        let label = if round == 0 {
            "warm-up".to_string()
        } else {
            round.to_string()
        };
        println!(
            "{label:>7}  {:>7.0}  {:>6.0}  {share:>25.1}  {alerts}",
            wall_s * 1e3,
            cpu_s * 1e3
        );
        if round > 0 {
            wall_total += wall_s;
            cpu_total += cpu_s;
        }
    }
    let rounds = rounds.max(1) as f64;
    let share = 100.0 * cpu_total / rounds / (INTERVAL_MS as f64 / 1000.0);
    println!(
        "mean per round: wall {:.0} ms (interval 15000 ms), CPU {:.0} ms = {share:.1}% of one core (target < 20%)",
        wall_total / rounds * 1e3,
        cpu_total / rounds * 1e3
    );
}
