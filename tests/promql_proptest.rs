//! Property test: random well-formed PromQL expressions evaluate (as instant
//! and range queries) to a result or an error, never a panic.

use std::sync::OnceLock;

use proptest::prelude::*;
use sightline::promql::Engine;
use sightline::storage::{stale_nan, Appender, Labels, Sample, SeriesSamples, Storage, StorageOptions};

fn storage() -> &'static Storage {
    static STORAGE: OnceLock<(tempfile::TempDir, Storage)> = OnceLock::new();
    &STORAGE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let opts = StorageOptions {
                retention_ms: 0,
                ..Default::default()
            };
            let storage = Storage::open(dir.path(), opts).unwrap();
            let mut batch = Vec::new();
            for (name, job, le) in [
                ("x_total", "a", ""),
                ("x_total", "b", ""),
                ("g", "a", ""),
                ("h_bucket", "a", "1"),
                ("h_bucket", "a", "+Inf"),
            ] {
                let samples = (0..40)
                    .map(|i| Sample {
                        t: i * 15_000,
                        v: match i % 13 {
                            7 => f64::NAN,
                            11 => stale_nan(),
                            _ => (i * i % 17) as f64 - 3.0,
                        },
                    })
                    .collect();
                batch.push(SeriesSamples {
                    labels: Labels::from_pairs([("__name__", name), ("job", job), ("le", le)]),
                    samples,
                });
            }
            storage.append(batch).unwrap();
            (dir, storage)
        })
        .1
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x_total".to_string()),
        Just("g{job=\"a\"}".to_string()),
        Just("{__name__=~\"x.*|h_bucket\"}".to_string()),
        Just("h_bucket".to_string()),
        Just("missing".to_string()),
        (-5i32..5).prop_map(|n| n.to_string()),
        Just("NaN".to_string()),
        Just("Inf".to_string()),
        Just("0.5".to_string()),
    ]
}

fn selector() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x_total".to_string()),
        Just("g{job=\"a\"}".to_string()),
        Just("{__name__=~\"x.*|h_bucket\"}".to_string()),
        Just("missing".to_string()),
    ]
}

fn range_suffix() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[1m]".to_string()),
        Just("[5m]".to_string()),
        Just("[10m:1m]".to_string()),
        Just("[2m] offset -1m".to_string()),
        Just("[3m] @ 300".to_string()),
        Just("[1m:] @ end()".to_string()),
        Just("[9999y:1ms]".to_string()),
        Just("[5m] offset 99999y".to_string()),
        Just("[1m] @ -9999999999".to_string()),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        let ops = prop_oneof![
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("%"),
            Just("^"),
            Just("atan2"),
            Just("=="),
            Just("> bool"),
            Just("<="),
            Just("and"),
            Just("or"),
            Just("unless"),
            Just("* on(job) group_left"),
            Just("/ ignoring(le) group_right"),
            Just("+ on(job) fill(0)"),
        ];
        let funcs = prop_oneof![
            Just("abs"),
            Just("sort_desc"),
            Just("absent"),
            Just("scalar"),
            Just("vector"),
            Just("timestamp"),
            Just("day_of_week"),
            Just("clamp_min"),
            Just("round"),
            Just("exp"),
        ];
        let range_funcs = prop_oneof![
            Just("rate"),
            Just("increase"),
            Just("deriv"),
            Just("irate"),
            Just("resets"),
            Just("max_over_time"),
            Just("stddev_over_time"),
            Just("mad_over_time"),
            Just("absent_over_time"),
            Just("last_over_time"),
        ];
        let aggs = prop_oneof![
            Just("sum"),
            Just("avg"),
            Just("count"),
            Just("stddev"),
            Just("group"),
            Just("min"),
        ];
        let param_aggs = prop_oneof![
            Just("topk"),
            Just("bottomk"),
            Just("quantile"),
            Just("limitk"),
            Just("limit_ratio")
        ];
        prop_oneof![
            (inner.clone(), ops, inner.clone()).prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            (funcs, inner.clone()).prop_map(|(f, a)| match f {
                "clamp_min" | "round" => format!("{f}({a}, 1)"),
                _ => format!("{f}({a})"),
            }),
            (range_funcs, selector(), range_suffix()).prop_map(|(f, a, r)| format!("{f}({a}{r})")),
            (aggs, inner.clone()).prop_map(|(g, a)| format!("{g} by (job) ({a})")),
            (param_aggs, -2i32..4, inner.clone())
                .prop_map(|(g, p, a)| format!("{g} without (le) ({p}, {a})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            inner
                .clone()
                .prop_map(|a| format!("histogram_quantile(0.9, {a})")),
            inner.prop_map(|a| format!("label_replace({a}, \"dst\", \"$1\", \"job\", \"(.*)\")")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_expressions_never_panic(e in expr(), t in -600_000i64..900_000, step in 1i64..120_000) {
        let Ok(_) = promql_parser::parser::parse(&e) else { return Ok(()) };
        let engine = Engine::default();
        let _ = engine.instant_query(storage(), &e, t);
        let _ = engine.range_query(storage(), &e, t, t + 600_000, step.max(1_000));
    }
}
