//! Speed and size of the sample codecs on realistic series shapes.
//!
//! `cargo bench --bench chunk` prints bytes/sample per shape and CPU ns/sample
//! first, then times XOR append/decode (120-sample chunks), block
//! encode/decode (480 samples) and pack encode/decode (a full pack of series
//! of one shape x 480 samples, what compaction writes for a 2 h partition of
//! 15 s scrapes) with criterion.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sightline::storage::block::{decode_block, encode_block};
use sightline::storage::chunk::{decode_xor, XorChunk};
use sightline::storage::pack::{encode_pack, Pack, PackMember, PACK_TARGET_SAMPLES};
use sightline::storage::Sample;

const SCRAPE_INTERVAL_MS: i64 = 15_000;
const JITTER_MS: i64 = 3;
const HEAD_CHUNK_LEN: usize = 120;

/// xorshift64*: deterministic, dependency-free randomness for the data shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[low, high]`.
    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy)]
enum Shape {
    /// Counter growing by 0 to 5 per scrape.
    Counter,
    /// Gauge switching among 4 values, changing at 10% of scrapes.
    FewValuesGauge,
    /// Gauge with a new random float (full mantissa) at every scrape.
    RandomGauge,
    /// Constant value (`up`, build info): what the timestamps alone cost.
    Constant,
}

const SHAPES: [(Shape, &str); 4] = [
    (Shape::Counter, "counter +0..5"),
    (Shape::FewValuesGauge, "gauge, 4 values"),
    (Shape::RandomGauge, "gauge, random floats"),
    (Shape::Constant, "constant"),
];

/// Scrapes every 15 s, each off its grid by up to ±3 ms.
fn series(shape: Shape, len: usize, seed: u64) -> Vec<Sample> {
    let mut rng = Rng(seed | 1);
    let start = 1_764_400_000_000 + rng.between(0, SCRAPE_INTERVAL_MS);
    let few = [0.0, 1.0, 2.0, 5.0];
    let mut v = match shape {
        Shape::Counter => rng.between(0, 1_000_000) as f64,
        _ => 1.0,
    };
    (0..len as i64)
        .map(|i| {
            v = match shape {
                Shape::Counter => v + rng.between(0, 5) as f64,
                Shape::FewValuesGauge if rng.between(0, 9) == 0 => few[rng.between(0, 3) as usize],
                Shape::RandomGauge => rng.unit() * 100.0,
                _ => v,
            };
            let t = start + i * SCRAPE_INTERVAL_MS + rng.between(-JITTER_MS, JITTER_MS);
            Sample { t, v }
        })
        .collect()
}

fn xor_chunk(samples: &[Sample]) -> XorChunk {
    let mut chunk = XorChunk::new();
    for sample in samples {
        chunk.append(sample.t, sample.v);
    }
    chunk
}

/// Average encoded bytes per sample over many series, `encode` given `len` samples each.
fn bytes_per_sample(shape: Shape, len: usize, encode: impl Fn(&[Sample]) -> usize) -> f64 {
    const SERIES: u64 = 200;
    let bytes: usize = (0..SERIES)
        .map(|seed| encode(&series(shape, len, seed + 1)))
        .sum();
    bytes as f64 / (SERIES as f64 * len as f64)
}

fn report_sizes(_: &mut Criterion) {
    println!(
        "bytes/sample     {:<22} {:>10} {:>10} {:>10} {:>12}",
        "shape", "xor 120", "pco 480", "pco 1000", "pack full"
    );
    for (shape, name) in SHAPES {
        let xor = bytes_per_sample(shape, HEAD_CHUNK_LEN, |s| xor_chunk(s).bytes().len());
        let pco_480 = bytes_per_sample(shape, 480, |s| encode_block(s).len());
        let pco_1000 = bytes_per_sample(shape, 1_000, |s| encode_block(s).len());
        let pack = pack_of(&pack_series(shape, 480)).len() as f64 / (PACK_SERIES_OF_480 * 480) as f64;
        println!("bytes/sample     {name:<22} {xor:>10.3} {pco_480:>10.3} {pco_1000:>10.3} {pack:>12.3}");
    }
}

/// On-CPU time of this thread in nanoseconds (Linux), if the kernel exposes it.
fn thread_cpu_ns() -> Option<u64> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    schedstat.split_whitespace().next()?.parse().ok()
}

/// CPU time per sample over 5 million samples' worth of runs: on a shared
/// machine, wall-clock means also count the time the thread waited for a core.
fn cpu_ns_per_sample<T>(samples: usize, mut run: impl FnMut() -> T) -> f64 {
    let runs = 5_000_000 / samples;
    let start = thread_cpu_ns();
    for _ in 0..runs {
        black_box(run());
    }
    match (start, thread_cpu_ns()) {
        (Some(start), Some(end)) => end.saturating_sub(start) as f64 / (runs * samples) as f64,
        _ => f64::NAN,
    }
}

fn report_cpu_time(_: &mut Criterion) {
    println!(
        "cpu ns/sample     {:<22} {:>10} {:>10} {:>10} {:>10}",
        "shape", "xor app", "xor dec", "pco enc", "pco dec"
    );
    for (shape, name) in SHAPES {
        let head = series(shape, HEAD_CHUNK_LEN, 7);
        let chunk = xor_chunk(&head);
        let block_samples = series(shape, 480, 7);
        let block = encode_block(&block_samples);
        let append = cpu_ns_per_sample(head.len(), || xor_chunk(black_box(&head)));
        let decode = cpu_ns_per_sample(head.len(), || decode_xor(black_box(chunk.bytes())));
        let encode = cpu_ns_per_sample(480, || encode_block(black_box(&block_samples)));
        let unblock = cpu_ns_per_sample(480, || decode_block(black_box(&block)));
        println!("cpu ns/sample     {name:<22} {append:>10.1} {decode:>10.1} {encode:>10.1} {unblock:>10.1}");
    }
}

fn xor_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("xor");
    group.throughput(Throughput::Elements(HEAD_CHUNK_LEN as u64));
    for (shape, name) in [SHAPES[0], SHAPES[2]] {
        let samples = series(shape, HEAD_CHUNK_LEN, 7);
        group.bench_function(format!("append 120/{name}"), |b| {
            b.iter(|| xor_chunk(black_box(&samples)))
        });
        let chunk = xor_chunk(&samples);
        group.bench_function(format!("decode 120/{name}"), |b| {
            b.iter(|| decode_xor(black_box(chunk.bytes())))
        });
    }
    group.finish();
}

fn block_codec(c: &mut Criterion) {
    const BLOCK_LEN: usize = 480;
    let mut group = c.benchmark_group("block");
    group.throughput(Throughput::Elements(BLOCK_LEN as u64));
    for (shape, name) in [SHAPES[0], SHAPES[2]] {
        let samples = series(shape, BLOCK_LEN, 7);
        group.bench_function(format!("encode 480/{name}"), |b| {
            b.iter_batched(|| samples.clone(), |s| encode_block(&s), BatchSize::SmallInput)
        });
        let block = encode_block(&samples);
        group.bench_function(format!("decode 480/{name}"), |b| {
            b.iter(|| decode_block(black_box(&block)))
        });
    }
    group.finish();
}

/// Series of 480 samples in a full pack.
const PACK_SERIES_OF_480: usize = PACK_TARGET_SAMPLES.div_ceil(480);

/// A full pack's worth of series of one shape.
fn pack_series(shape: Shape, len: usize) -> Vec<Vec<Sample>> {
    (0..PACK_SERIES_OF_480 as u64)
        .map(|seed| series(shape, len, seed + 1))
        .collect()
}

fn pack_of(series: &[Vec<Sample>]) -> Vec<u8> {
    let members: Vec<PackMember<'_>> = series
        .iter()
        .zip(0..)
        .map(|(samples, id)| PackMember { series: id, samples })
        .collect();
    encode_pack(&members)
}

fn pack_codec(c: &mut Criterion) {
    const LEN: usize = 480;
    let mut group = c.benchmark_group("pack");
    group.throughput(Throughput::Elements((PACK_SERIES_OF_480 * LEN) as u64));
    for (shape, name) in [SHAPES[0], SHAPES[2]] {
        let series = pack_series(shape, LEN);
        group.bench_function(format!("encode {PACK_SERIES_OF_480}x480/{name}"), |b| {
            b.iter(|| pack_of(black_box(&series)))
        });
        let pack = pack_of(&series);
        group.bench_function(format!("decode {PACK_SERIES_OF_480}x480/{name}"), |b| {
            b.iter(|| Pack::parse(black_box(&pack)).and_then(|p| p.decode(|_| true)))
        });
        group.bench_function(
            format!("decode one series of {PACK_SERIES_OF_480}x480/{name}"),
            |b| b.iter(|| Pack::parse(black_box(&pack)).and_then(|p| p.decode(|m| m.series == 40))),
        );
    }
    group.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = short();
    targets = report_sizes, report_cpu_time, xor_codec, block_codec, pack_codec
}
criterion_main!(benches);
