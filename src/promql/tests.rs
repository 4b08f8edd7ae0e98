//! Unit tests for evaluator semantics that are easy to get subtly wrong:
//! selection counts, staleness, window edges, name dropping, limits.
//!
//! They run against the real storage engine in a temporary directory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{CancelToken, Engine, EngineOptions, PromqlError, Value};
use crate::storage::{
    stale_nan, Appender, Labels, Matcher, QueryError, Queryable, Sample, SelectHints, Series, SeriesSamples,
    Storage, StorageOptions,
};

/// Counts `select` calls on the storage it wraps.
struct CountingQueryable<'a> {
    inner: &'a Storage,
    selects: AtomicUsize,
}

impl Queryable for CountingQueryable<'_> {
    fn select(&self, m: &[Matcher], mint: i64, maxt: i64, h: SelectHints) -> Result<Vec<Series>, QueryError> {
        self.selects.fetch_add(1, Ordering::SeqCst);
        self.inner.select(m, mint, maxt, h)
    }

    fn series(&self, m: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, QueryError> {
        self.inner.series(m, mint, maxt)
    }

    fn label_names(&self, m: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, QueryError> {
        self.inner.label_names(m, mint, maxt)
    }

    fn label_values(&self, n: &str, m: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, QueryError> {
        self.inner.label_values(n, m, mint, maxt)
    }
}

/// Label pairs and `(t, v)` samples of one test series.
type TestSeries<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn storage_with(series: &[TestSeries]) -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let opts = StorageOptions {
        retention_ms: 0,
        ..Default::default()
    };
    let storage = Storage::open(dir.path(), opts).unwrap();
    let batch = series
        .iter()
        .map(|(labels, samples)| SeriesSamples {
            labels: Labels::from_pairs(labels.iter().copied()),
            samples: samples.iter().map(|&(t, v)| Sample { t, v }).collect(),
        })
        .collect();
    storage.append(batch).unwrap();
    (dir, storage)
}

/// `x{job="a"}` and `x{job="b"}`: value i at t = i minutes, i in 0..=10.
fn two_counters() -> (tempfile::TempDir, Storage) {
    let samples: Vec<(i64, f64)> = (0..=10).map(|i| (i * 60_000, i as f64)).collect();
    storage_with(&[
        (&[("__name__", "x_total"), ("job", "a")], &samples),
        (&[("__name__", "x_total"), ("job", "b")], &samples),
    ])
}

fn instant_values(engine: &Engine, q: &dyn Queryable, expr: &str, t: i64) -> Vec<(String, f64)> {
    match engine.instant_query(q, expr, t).unwrap().value {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        Value::Scalar { v, .. } => vec![(String::new(), v)],
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn range_query_selects_each_selector_once() {
    let (_dir, storage) = two_counters();
    let q = CountingQueryable {
        inner: &storage,
        selects: AtomicUsize::new(0),
    };
    let engine = Engine::default();
    let res = engine
        .range_query(
            &q,
            "rate(x_total[2m]) + on(job) x_total",
            120_000,
            600_000,
            15_000,
        )
        .unwrap();
    assert_eq!(q.selects.load(Ordering::SeqCst), 2);
    let Value::Matrix(m) = res.value else { panic!() };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].points.len(), 33);
}

#[test]
fn stale_marker_ends_instant_selection() {
    let (_dir, storage) = storage_with(&[(&[("__name__", "up")], &[(0, 1.0), (60_000, stale_nan())])]);
    let engine = Engine::default();
    assert_eq!(instant_values(&engine, &storage, "up", 30_000).len(), 1);
    assert!(instant_values(&engine, &storage, "up", 60_000).is_empty());
}

#[test]
fn range_windows_are_left_open() {
    let (_dir, storage) = two_counters();
    let engine = Engine::default();
    // (60s, 180s] holds the samples at 120s and 180s only.
    let got = instant_values(
        &engine,
        &storage,
        "count_over_time(x_total{job=\"a\"}[2m])",
        180_000,
    );
    assert_eq!(got, vec![(r#"{job="a"}"#.to_string(), 2.0)]);
}

#[test]
fn lookback_is_left_open_too() {
    let (_dir, storage) = storage_with(&[(&[("__name__", "g")], &[(0, 1.0)])]);
    let engine = Engine::default();
    assert_eq!(instant_values(&engine, &storage, "g", 299_999).len(), 1);
    assert!(instant_values(&engine, &storage, "g", 300_000).is_empty());
}

#[test]
fn offsets_and_at_modifiers() {
    let (_dir, storage) = two_counters();
    let engine = Engine::default();
    let at = instant_values(&engine, &storage, "x_total{job=\"a\"} @ 120", 600_000);
    assert_eq!(at[0].1, 2.0);
    let neg = instant_values(&engine, &storage, "x_total{job=\"a\"} offset -2m", 180_000);
    assert_eq!(neg[0].1, 5.0);
    let start = engine
        .range_query(&storage, "x_total{job=\"a\"} @ start()", 60_000, 300_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = start.value else { panic!() };
    assert!(m[0].points.iter().all(|p| p.v == 1.0));
}

#[test]
fn subquery_steps_align_to_absolute_multiples() {
    let (_dir, storage) = two_counters();
    let engine = Engine::default();
    // Inner steps at 4m, 6m, 8m and 10m for (3m30s, 10m].
    let got = instant_values(
        &engine,
        &storage,
        "count_over_time(x_total{job=\"a\"}[6m30s:2m])",
        600_000,
    );
    assert_eq!(got[0].1, 4.0);
}

#[test]
fn name_is_dropped_late_and_only_where_prometheus_drops_it() {
    let (_dir, storage) = two_counters();
    let engine = Engine::default();
    let kept = instant_values(&engine, &storage, "sort(x_total)", 60_000);
    assert!(kept[0].0.starts_with("x_total"));
    let dropped = instant_values(&engine, &storage, "-x_total", 60_000);
    assert!(dropped[0].0.starts_with('{'));
    let restored = instant_values(
        &engine,
        &storage,
        r#"label_replace(rate(x_total[5m]), "__name__", "r", "", "")"#,
        600_000,
    );
    assert!(restored[0].0.starts_with("r{"));
    let by_name = instant_values(&engine, &storage, "sum by (__name__) (x_total)", 60_000);
    assert_eq!(by_name, vec![(r#"x_total{}"#.to_string(), 2.0)]);
}

#[test]
fn rate_on_non_counter_names_gives_an_info() {
    let samples: Vec<(i64, f64)> = (0..=4).map(|i| (i * 60_000, i as f64)).collect();
    let (_dir, storage) = storage_with(&[(&[("__name__", "requests")], &samples)]);
    let res = Engine::default()
        .instant_query(&storage, "rate(requests[5m])", 240_000)
        .unwrap();
    assert_eq!(
        res.infos,
        vec![
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \
             \"requests\" (1:6)"
                .to_string()
        ]
    );
}

#[test]
fn type_errors_use_prometheus_wording() {
    let (_dir, storage) = two_counters();
    let engine = Engine::default();
    let err = engine
        .range_query(&storage, "x_total[5m]", 0, 60_000, 15_000)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
    let err = engine.instant_query(&storage, "x_total + on() vector(1)", 60_000);
    assert_eq!(
        err.unwrap_err().to_string(),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
}

#[test]
fn limits_are_enforced() {
    let (_dir, storage) = two_counters();
    let tight = Engine::new(EngineOptions {
        max_samples: 5,
        ..EngineOptions::default()
    });
    let err = tight
        .instant_query(&storage, "x_total[10m]", 600_000)
        .unwrap_err();
    assert_eq!(err, PromqlError::TooManySamples);
    let few_points = Engine::new(EngineOptions {
        max_points_per_series: 10,
        ..EngineOptions::default()
    });
    let err = few_points
        .range_query(&storage, "x_total", 0, 600_000, 1_000)
        .unwrap_err();
    assert_eq!(err, PromqlError::TooManyPoints(10));
    let no_time = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    std::thread::sleep(Duration::from_millis(2));
    let err = no_time.instant_query(&storage, "x_total", 0).unwrap_err();
    assert_eq!(err, PromqlError::Timeout);
}

#[test]
fn canceled_queries_stop() {
    let (_dir, storage) = two_counters();
    let cancel = CancelToken::default();
    cancel.cancel();
    let err = Engine::default()
        .instant_query_cancellable(&storage, "x_total", 0, &cancel)
        .unwrap_err();
    assert_eq!(err.to_string(), "query was canceled in expression evaluation");
}

#[test]
fn range_results_are_sorted_and_merge_after_name_drop() {
    let samples_a: Vec<(i64, f64)> = vec![(0, 1.0)];
    let samples_b: Vec<(i64, f64)> = vec![(600_000, 2.0)];
    let (_dir, storage) = storage_with(&[
        (&[("__name__", "a")], &samples_a),
        (&[("__name__", "b")], &samples_b),
    ]);
    let res = Engine::default()
        .range_query(&storage, "abs({__name__=~\"a|b\"})", 0, 600_000, 300_000)
        .unwrap();
    let Value::Matrix(m) = res.value else { panic!() };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].points.len(), 2);
}
