//! ML events ingest figures against the release binary on 127.0.0.1.
//!
//! Run by hand, not in CI: `cargo build --release && cargo bench --bench
//! ml_ingest`. Under `cargo test` it only prints how to run it.
//!
//! One model with 50 features (35 numeric, 15 categorical), a drift reference
//! of 10,000 rows uploaded first, so every event also feeds the drift window
//! (1,000-event tumbling windows, each evaluated when it closes), the quality
//! windows (every event gets feedback) and the data-quality rings.
//!
//! Measured:
//! 1. Batches of 1,000 predictions from `ML_SENDERS` threads (default 2) for
//!    `ML_SECONDS` (default 10): events/s accepted, and server CPU per event.
//!    Feedback for the same events follows in batches of 1,000 and is timed
//!    separately.
//! 2. Single-event POSTs, paced at `ML_SINGLE_RATE` per second
//!    (default 10,000) from `ML_SINGLE_THREADS` threads (default 16) for `ML_SECONDS`: achieved rate and
//!    latency p50/p99/max.
//! 3. Memory: RSS of the server after the reference upload, minus RSS of an
//!    idle server, and RSS after the runs (all at most `VmHWM`).
//!
//! The load generator shares the machine's cores with the server.

mod common;

use common::{check_binary, client, cpu_time, env_usize, peak_rss, servers, start, Kind, Rng};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FEATURES_NUMERIC: usize = 35;
const FEATURES_CATEGORICAL: usize = 15;
const BATCH: usize = 1000;
const REFERENCE_ROWS: usize = 10_000;
/// Distinct pre-generated batch bodies per sender.
const TEMPLATES: usize = 8;
const CATEGORIES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

fn main() {
    if !common::under_cargo_bench() {
        println!("ml_ingest: not run under `cargo test`; use `cargo bench --bench ml_ingest`");
        return;
    }
    if let Err(e) = run() {
        eprintln!("ml_ingest failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> common::Result<()> {
    let spec = servers()
        .into_iter()
        .find(|s| s.kind == Kind::Sightline)
        .ok_or("no sightline spec")?;
    check_binary(&spec)?;
    let http = client()?;
    let server = start(&spec, &http)?;
    let pid = server.pid();
    let idle_rss = current_rss(pid)?;
    // Register the model with one event, then give it a reference.
    let mut rng = Rng(42);
    post(
        &http,
        &format!("{}/api/v1/predictions", server.base),
        events(&mut rng, "warmup", 0, 1),
    )?;
    let reference = reference_csv(&mut rng);
    let url = format!("{}/api/v1/models/bench/reference", server.base);
    let resp = http
        .post(&url)
        .header("Content-Type", "text/csv")
        .body(reference)
        .send()
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("reference upload: {}", resp.text().unwrap_or_default()));
    }
    let with_reference_rss = current_rss(pid)?;
    println!(
        "memory: idle server {:.1} MiB; after the 50-feature model and its {REFERENCE_ROWS}-row reference {:.1} MiB (+{:.1} MiB)",
        mib(idle_rss),
        mib(with_reference_rss),
        mib(with_reference_rss.saturating_sub(idle_rss))
    );
    let seconds = env_usize("ML_SECONDS", 10) as u64;
    batches(&http, &server.base, pid, env_usize("ML_SENDERS", 2), seconds)?;
    singles(&server.base, env_usize("ML_SINGLE_RATE", 10_000), seconds)?;
    let after_rss = current_rss(pid)?;
    println!(
        "memory after the runs: RSS {:.1} MiB (+{:.1} MiB over idle), peak {:.1} MiB",
        mib(after_rss),
        mib(after_rss.saturating_sub(idle_rss)),
        mib(peak_rss(pid)?)
    );
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn current_rss(pid: u32) -> common::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| "no VmRSS".to_string())
}

fn feature_row(rng: &mut Rng, shift: f64) -> String {
    let mut fields = Vec::with_capacity(FEATURES_NUMERIC + FEATURES_CATEGORICAL);
    for i in 0..FEATURES_NUMERIC {
        fields.push(format!("\"n{i}\":{:.4}", rng.unit() * 10.0 + shift));
    }
    for i in 0..FEATURES_CATEGORICAL {
        fields.push(format!("\"c{i}\":\"{}\"", CATEGORIES[rng.below(6) as usize]));
    }
    fields.join(",")
}

fn reference_csv(rng: &mut Rng) -> String {
    let mut header: Vec<String> = (0..FEATURES_NUMERIC).map(|i| format!("n{i}")).collect();
    header.extend((0..FEATURES_CATEGORICAL).map(|i| format!("c{i}")));
    let mut csv = header.join(",") + "\n";
    for _ in 0..REFERENCE_ROWS {
        let mut row: Vec<String> = (0..FEATURES_NUMERIC)
            .map(|_| format!("{:.4}", rng.unit() * 10.0))
            .collect();
        row.extend((0..FEATURES_CATEGORICAL).map(|_| CATEGORIES[rng.below(6) as usize].to_string()));
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    csv
}

/// A JSON array of `count` predictions with ids `{prefix}-{first + i}`.
fn events(rng: &mut Rng, prefix: &str, first: usize, count: usize) -> String {
    let items: Vec<String> = (first..first + count)
        .map(|i| {
            let p = (rng.unit() + 1.0) / 2.0;
            format!(
                "{{\"model\":\"bench\",\"model_version\":\"v1\",\"request_id\":\"{prefix}-{i}\",\"features\":{{{}}},\
                 \"prediction\":\"{}\",\"probabilities\":{{\"0\":{:.6},\"1\":{:.6}}},\"latency_ms\":{:.2}}}",
                feature_row(rng, 0.0),
                u8::from(p >= 0.5),
                1.0 - p,
                p,
                rng.unit().abs() * 20.0
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn feedback(prefix: &str, first: usize, count: usize, rng: &mut Rng) -> String {
    let items: Vec<String> = (first..first + count)
        .map(|i| {
            format!(
                "{{\"model\":\"bench\",\"request_id\":\"{prefix}-{i}\",\"ground_truth\":\"{}\"}}",
                rng.below(2)
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn post(http: &reqwest::blocking::Client, url: &str, body: String) -> common::Result<usize> {
    let resp = http
        .post(url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let answer: serde_json::Value = resp.json().map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {answer}"));
    }
    Ok(answer["data"]["accepted"].as_u64().unwrap_or(0) as usize)
}

/// Batches built from a few pre-generated templates per sender (a fresh id
/// prefix each time), sent as fast as the server answers.
fn batches(
    http: &reqwest::blocking::Client,
    base: &str,
    pid: u32,
    senders: usize,
    seconds: u64,
) -> common::Result<()> {
    let templates: Vec<Vec<String>> = (0..senders)
        .map(|s| {
            let mut rng = Rng(1000 + s as u64);
            (0..TEMPLATES).map(|_| events(&mut rng, "@@", 0, BATCH)).collect()
        })
        .collect();
    let url = format!("{base}/api/v1/predictions");
    let accepted = Arc::new(AtomicUsize::new(0));
    let sent_batches: Vec<AtomicUsize> = (0..senders).map(|_| AtomicUsize::new(0)).collect();
    let cpu_before = cpu_time(pid)?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    std::thread::scope(|scope| {
        for (s, sender) in templates.iter().enumerate() {
            let (accepted, sent, url) = (accepted.clone(), &sent_batches[s], &url);
            scope.spawn(move || {
                let mut k = 0;
                while Instant::now() < deadline {
                    let body = sender[k % TEMPLATES].replace("@@", &format!("s{s}b{k}"));
                    match post(http, url, body) {
                        Ok(n) => {
                            accepted.fetch_add(n, Ordering::Relaxed);
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => eprintln!("batch failed: {e}"),
                    }
                    k += 1;
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (cpu_time(pid)? - cpu_before).as_secs_f64();
    let n = accepted.load(Ordering::Relaxed);
    println!(
        "batches of {BATCH}: {n} predictions accepted in {elapsed:.1}s = {:.0} events/s ({senders} senders); server CPU {:.2} µs/event",
        n as f64 / elapsed,
        cpu * 1e6 / n.max(1) as f64
    );
    let mut rng = Rng(7);
    let feedback_url = format!("{base}/api/v1/feedback");
    let started = Instant::now();
    let mut joined = 0;
    for (s, sent) in sent_batches.iter().enumerate() {
        for k in 0..sent.load(Ordering::Relaxed) {
            joined += post(
                http,
                &feedback_url,
                feedback(&format!("s{s}b{k}"), 0, BATCH, &mut rng),
            )?;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "feedback batches of {BATCH}: {joined} joined in {elapsed:.1}s = {:.0} events/s (one sender)",
        joined as f64 / elapsed
    );
    Ok(())
}

/// Single-event POSTs paced at `rate` per second over several threads; latency per request.
fn singles(base: &str, rate: usize, seconds: u64) -> common::Result<()> {
    let threads = env_usize("ML_SINGLE_THREADS", 16);
    let per_thread_interval = Duration::from_secs_f64(threads as f64 / rate as f64);
    let url = format!("{base}/api/v1/predictions");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let url = &url;
                scope.spawn(move || {
                    let http = client().unwrap_or_else(|_| reqwest::blocking::Client::new());
                    let mut rng = Rng(5000 + t as u64);
                    let mut latencies = Vec::new();
                    let mut next = Instant::now();
                    let mut i = 0;
                    while Instant::now() < deadline {
                        let body = events(&mut rng, &format!("single{t}"), i, 1);
                        let body = body[1..body.len() - 1].to_string();
                        let sent = Instant::now();
                        if post(&http, url, body).is_ok() {
                            latencies.push(sent.elapsed());
                        }
                        i += 1;
                        next += per_thread_interval;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    latencies
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
    };
    let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "single events (target {rate}/s, {threads} threads): {:.0}/s achieved; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len() as f64 / elapsed,
        ms(at(0.5)),
        ms(at(0.99)),
        ms(latencies.last())
    );
    Ok(())
}
