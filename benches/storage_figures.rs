//! The storage figures of issue 2 that criterion cannot express: head memory
//! per active series, restart time, and bytes per sample after compaction.
//! Run with `cargo bench --bench storage_figures` (release build; takes a few
//! minutes). `SERIES` and `SAMPLES` env vars change the size (defaults 100k
//! series, 100 samples each = 10M samples).

use sightline::storage::{dir_size, Appender, Labels, Sample, SeriesSamples, Storage, StorageOptions};
use std::time::Instant;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", format!("metric_{}", i % 50)),
        ("job", "node".to_string()),
        ("instance", format!("host-{}:9100", i / 500)),
        ("cpu", (i % 16).to_string()),
        ("mode", ["user", "system", "idle", "iowait"][i % 4].to_string()),
        ("series", i.to_string()),
    ])
}

/// A counter with small integer increments for even series, a gauge with a
/// few distinct values for odd ones; 15 s spacing with a few ms of jitter.
fn value(series: usize, step: usize) -> f64 {
    let noise = (series.wrapping_mul(2_654_435_761) ^ step.wrapping_mul(40_503)) % 7;
    if series.is_multiple_of(2) {
        (step * 3 + noise) as f64
    } else {
        (noise % 3) as f64 * 0.5
    }
}

fn timestamp(start: i64, series: usize, step: usize) -> i64 {
    start + step as i64 * 15_000 + ((series + step) % 5) as i64
}

/// Appends steps `first..end`: every series gets one sample per step, 2 000 series a batch.
fn fill(storage: &Storage, all: &[Labels], first: usize, end: usize, start: i64) {
    for step in first..end {
        for chunk in all.chunks(2_000).enumerate() {
            let (offset, part) = chunk;
            let batch: Vec<SeriesSamples> = part
                .iter()
                .enumerate()
                .map(|(j, l)| {
                    let i = offset * 2_000 + j;
                    SeriesSamples {
                        labels: l.clone(),
                        samples: vec![Sample {
                            t: timestamp(start, i, step),
                            v: value(i, step),
                        }],
                    }
                })
                .collect();
            storage.append(batch).expect("append");
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes targets
    }
    let series = env_usize("SERIES", 100_000);
    let steps = env_usize("SAMPLES", 100);
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = StorageOptions {
        // Small, so the RSS growth below is mostly the head, not sled's cache.
        cache_capacity_bytes: 8 << 20,
        max_future_ms: i64::MAX / 4,
        ..StorageOptions::default()
    };
    let all: Vec<Labels> = (0..series).map(labels).collect();
    let start = 1_700_000_000_000i64;

    let rss_before = rss_kib();
    let storage = Storage::open(dir.path(), opts.clone()).expect("open");
    let head_steps = steps.min(60);
    let t = Instant::now();
    fill(&storage, &all, 0, 1, start);
    let created = t.elapsed();
    let t = Instant::now();
    fill(&storage, &all, 1, head_steps, start);
    let steady = t.elapsed();
    println!(
        "append: first sample of {series} new series {:.2} us/sample; later samples {:.3} us/sample",
        created.as_secs_f64() * 1e6 / series as f64,
        steady.as_secs_f64() * 1e6 / (series * (head_steps - 1).max(1)) as f64
    );
    let rss_after = rss_kib();
    let per_series = (rss_after.saturating_sub(rss_before) * 1024) as f64 / series as f64;
    println!(
        "head: {series} series x {} samples appended in {:.2?}; RSS +{} KiB = {per_series:.0} bytes/series (labels kept by the caller excluded)",
        head_steps,
        created + steady,
        rss_after.saturating_sub(rss_before)
    );
    println!(
        "head accounting: {:.0} bytes/series (series, open chunks, lookup table, inverted index)",
        storage.head_memory_bytes() as f64 / series as f64
    );
    if steps > head_steps {
        fill(&storage, &all, head_steps, steps, start);
    }
    let samples = (series * steps) as f64;
    storage.close().expect("close");
    drop(storage);

    let t = Instant::now();
    let storage = Storage::open(dir.path(), opts.clone()).expect("reopen");
    println!(
        "restart after clean shutdown: {:.2?} ({series} series, {samples} samples)",
        t.elapsed()
    );

    let before = dir_size(dir.path());
    let report = storage.compact(true).expect("compact");
    storage.close().expect("close");
    let after = dir_size(dir.path());
    println!(
        "data dir after compaction: sled {} bytes, wal {} bytes, snapshot {} bytes",
        dir_size(&dir.path().join("sled")),
        dir_size(&dir.path().join("wal")),
        std::fs::metadata(dir.path().join("head.snapshot")).map_or(0, |m| m.len())
    );
    println!(
        "bytes/sample: {:.3} before compaction, {:.3} after (chunk payloads {} -> {} bytes)",
        before as f64 / samples,
        after as f64 / samples,
        report.bytes_before,
        report.bytes_after
    );
}
