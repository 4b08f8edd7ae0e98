//! Criterion benches of the storage hot paths: batch append and select.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sightline::storage::{
    Appender, Labels, Matcher, Queryable, Sample, SelectHints, SeriesSamples, Storage, StorageOptions,
};

const SERIES: usize = 2_000;

fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "http_requests_total".to_string()),
        ("job", "api".to_string()),
        ("instance", format!("10.0.{}.{}:9100", i / 250, i % 250)),
        ("code", ["200", "404", "500"][i % 3].to_string()),
        ("method", ["GET", "POST"][i % 2].to_string()),
        ("handler", format!("/api/v{}", i % 20)),
    ])
}

/// One batch: every series gets one sample at `t`.
fn batch(all: &[Labels], t: i64) -> Vec<SeriesSamples> {
    all.iter()
        .enumerate()
        .map(|(i, l)| SeriesSamples {
            labels: l.clone(),
            samples: vec![Sample {
                t,
                v: (t / 15_000 + i as i64) as f64,
            }],
        })
        .collect()
}

fn open() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = StorageOptions {
        max_future_ms: i64::MAX / 4,
        ..StorageOptions::default()
    };
    let storage = Storage::open(dir.path(), opts).expect("open");
    (dir, storage)
}

fn bench_append(c: &mut Criterion) {
    let all: Vec<Labels> = (0..SERIES).map(labels).collect();
    let (_dir, storage) = open();
    let mut t = 1_700_000_000_000i64;
    let mut group = c.benchmark_group("storage");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.bench_function("append_2000_series_batch", |b| {
        b.iter_batched(
            || {
                t += 15_000;
                batch(&all, t)
            },
            |batch| storage.append(batch).expect("append"),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn bench_select(c: &mut Criterion) {
    let all: Vec<Labels> = (0..SERIES).map(labels).collect();
    let (_dir, storage) = open();
    let start = 1_700_000_000_000i64;
    for i in 0..480 {
        storage.append(batch(&all, start + i * 15_000)).expect("append");
    }
    let matchers = [
        Matcher::equal("__name__", "http_requests_total"),
        Matcher::equal("code", "500"),
    ];
    let mut group = c.benchmark_group("storage");
    group.throughput(Throughput::Elements((SERIES / 3 * 480) as u64));
    group.bench_function("select_667_series_x_480_samples", |b| {
        b.iter(|| {
            storage
                .select(&matchers, start, start + 480 * 15_000, SelectHints::default())
                .expect("select")
        })
    });
    group.finish();
}

criterion_group!(benches, bench_append, bench_select);
criterion_main!(benches);
