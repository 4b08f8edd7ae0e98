//! Exposition parser throughput on a realistic scrape body: 10,000 series of
//! counters, gauges and classic histograms, in both formats.
//!
//! `cargo bench --bench exposition` prints lines/s for the Prometheus text
//! format and for OpenMetrics (the same series, with `_total` counters,
//! float-second timestamps on a tenth of the lines, and `# EOF`).

use std::fmt::Write;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline::exposition::{Entry, Format, Parser};

const HANDLERS: [&str; 10] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/write",
    "/predict",
    "/healthz",
    "/metrics",
    "/v2/models/resnet50/infer",
    "/v2/models/bert/infer",
];
const METHODS: [&str; 3] = ["GET", "POST", "PUT"];
const CODES: [&str; 5] = ["200", "201", "400", "404", "500"];
const BUCKETS: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];

/// A body with `series` series: 40% counters, 30% gauges, 30% histogram
/// series (10 buckets + sum + count per histogram).
fn body(format: Format, series: usize) -> (String, usize) {
    let om = format == Format::OpenMetrics;
    let mut out = String::new();
    let mut written = 0;
    let mut family = 0;
    while written < series {
        let budget = series - written;
        written += match family % 10 {
            0..=3 => counter_family(&mut out, family, budget.min(150)),
            4..=6 => gauge_family(&mut out, family, budget.min(150)),
            _ => histogram_family(&mut out, family, om, budget.min(12 * 12)),
        };
        family += 1;
    }
    if om {
        out.push_str("# EOF\n");
    }
    let lines = out.lines().count();
    (out, lines)
}

fn counter_family(out: &mut String, family: usize, budget: usize) -> usize {
    let name = format!("app_http_requests_{family}");
    let _ = writeln!(out, "# HELP {name} Requests served, by handler, method and code.");
    let _ = writeln!(out, "# TYPE {name} counter");
    for i in 0..budget {
        let (handler, method, code) = (HANDLERS[i % 10], METHODS[(i / 10) % 3], CODES[(i / 30) % 5]);
        let value = 1_000_000 + i * 7919;
        let _ = write!(
            out,
            "{name}_total{{handler=\"{handler}\",method=\"{method}\",code=\"{code}\","
        );
        let _ = writeln!(out, "instance=\"10.0.0.{}:8080\"}} {value}", i / 150);
    }
    budget
}

fn gauge_family(out: &mut String, family: usize, budget: usize) -> usize {
    let name = format!("process_open_things_{family}");
    let _ = writeln!(out, "# HELP {name} Things currently open.");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for i in 0..budget {
        let value = 12.5 + i as f64 * 0.37;
        let _ = writeln!(out, "{name}{{pool=\"p{}\",shard=\"{}\"}} {value}", i % 50, i / 50);
    }
    budget
}

fn histogram_family(out: &mut String, family: usize, om: bool, budget: usize) -> usize {
    let name = format!("app_request_duration_seconds_{family}");
    let _ = writeln!(out, "# HELP {name} Request latency.");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let histograms = (budget / 12).max(1);
    for h in 0..histograms {
        let labels = format!("handler=\"{}\",method=\"{}\"", HANDLERS[h % 10], METHODS[h % 3]);
        let mut cumulative = 0;
        for (b, le) in BUCKETS.iter().enumerate() {
            cumulative += 100 + b * 37 + h;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let sum = cumulative as f64 * 0.173;
        if om && h % 10 == 0 {
            let _ = writeln!(out, "{name}_sum{{{labels}}} {sum} 1700000000.123");
        } else {
            let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        }
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
    histograms * 12
}

fn parse_all(body: &[u8], format: Format) -> usize {
    let mut samples = 0;
    for entry in Parser::new(body, format) {
        match entry {
            Ok(Entry::Sample(s)) => samples += s.labels.len(),
            Ok(_) => {}
            Err(e) => panic!("bench body refused: {e}"),
        }
    }
    samples
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("exposition_parse_10k_series");
    group.measurement_time(Duration::from_secs(5));
    for (label, format) in [
        ("prometheus_text", Format::PrometheusText),
        ("openmetrics", Format::OpenMetrics),
    ] {
        let (text, lines) = body(format, 10_000);
        println!("{label}: {lines} lines, {} bytes", text.len());
        group.throughput(Throughput::Elements(lines as u64));
        group.bench_function(label, |b| {
            b.iter(|| parse_all(black_box(text.as_bytes()), format))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
