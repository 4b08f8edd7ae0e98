//! Decode cost of remote-write 1.0 requests, in time per request of 2 000
//! samples (criterion reports it per sample as well via `Throughput`).
//!
//! Two shapes: what Prometheus senders produce (every sample in its own
//! `TimeSeries`, so labels are decoded once per sample) and a batched shape
//! (ten samples per series). Series carry six labels like
//! `__name__, instance, job, code, method, handler`.
//!
//! Times are CPU time of the benchmarking thread, not wall time: the cores are
//! shared, and the budget this checks (CPU per ingested sample) is CPU time.
//! Dropping the decoded batch is included, as the server pays for it too.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline::ingest::remote_write::{decode_write_request, encode_write_request, WriteLimits};
use sightline::storage::{Labels, Sample, SeriesSamples};

const SAMPLES_PER_REQUEST: usize = 2_000;

fn labels(i: usize) -> Labels {
    const NAMES: [&str; 4] = [
        "http_requests_total",
        "http_request_duration_seconds_count",
        "http_response_size_bytes_sum",
        "process_cpu_seconds_total",
    ];
    const METHODS: [&str; 3] = ["GET", "POST", "DELETE"];
    const CODES: [&str; 4] = ["200", "404", "500", "503"];
    Labels::from_pairs([
        ("__name__", NAMES[i % 4].to_string()),
        ("instance", format!("10.0.{}.{}:9100", i / 250 % 250, i % 250)),
        ("job", "api-server".to_string()),
        ("code", CODES[i / 4 % 4].to_string()),
        ("method", METHODS[i / 16 % 3].to_string()),
        ("handler", format!("/api/v1/endpoint_{}", i / 48 % 40)),
    ])
}

fn request(samples_per_series: usize) -> Vec<u8> {
    let start = 1_764_000_000_000_i64;
    let batch: Vec<SeriesSamples> = (0..SAMPLES_PER_REQUEST / samples_per_series)
        .map(|i| SeriesSamples {
            labels: labels(i),
            samples: (0..samples_per_series)
                .map(|k| Sample {
                    t: start + 15_000 * k as i64 + (i % 7) as i64,
                    v: (i * 31 + k * 3) as f64,
                })
                .collect(),
        })
        .collect();
    encode_write_request(&batch)
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
struct ThreadCpu(WallTime);

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }

    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_ns() - start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

fn decode(c: &mut Criterion<ThreadCpu>) {
    let limits = WriteLimits::default();
    let mut group = c.benchmark_group("remote_write_decode");
    group.throughput(Throughput::Elements(SAMPLES_PER_REQUEST as u64));
    for samples_per_series in [1, 10] {
        let body = request(samples_per_series);
        let name = format!("{samples_per_series}_sample_per_series_{}_bytes", body.len());
        group.bench_function(name, |b| {
            b.iter(|| decode_write_request(black_box(&body), &limits).unwrap())
        });
    }
    group.finish();
}

/// The floor set by the output type: building and dropping the `Labels` of
/// 2 000 series (13 allocations each), without any decoding.
fn labels_floor(c: &mut Criterion<ThreadCpu>) {
    let all: Vec<Labels> = (0..SAMPLES_PER_REQUEST).map(labels).collect();
    let mut group = c.benchmark_group("remote_write_decode");
    group.throughput(Throughput::Elements(SAMPLES_PER_REQUEST as u64));
    group.bench_function("labels_clone_floor", |b| b.iter(|| black_box(&all).to_vec()));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu(WallTime));
    targets = decode, labels_floor
}
criterion_main!(benches);
