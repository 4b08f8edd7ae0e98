//! ML events ingest figures against the release binary on 127.0.0.1.
//!
//! Run by hand, not in CI: `cargo build --release && cargo bench --bench
//! ml_ingest`. Under `cargo test` it only prints how to run it.
//!
//! One model with 50 features (35 numeric, 15 categorical; `ML_NUMERIC` and
//! `ML_CATEGORICAL` change them), a drift reference
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
//! The load generator shares the machine's cores with the server, so it is
//! kept cheap: bodies are generated before the clock starts (only the request
//! ids are spliced in), and requests go over keep-alive connections written
//! and read by hand (`Conn`), not through an HTTP client library. The load
//! average is printed with every figure.

mod common;

use common::{check_binary, client, cpu_time, env_usize, peak_rss, servers, start, Kind, Rng};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// Numeric and categorical features per event: `ML_NUMERIC` and
/// `ML_CATEGORICAL` (default 35 and 15, the drift-job shape).
static FEATURES: LazyLock<(usize, usize)> =
    LazyLock::new(|| (env_usize("ML_NUMERIC", 35), env_usize("ML_CATEGORICAL", 15)));
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
    let addr = server.base.trim_start_matches("http://").to_string();
    Conn::open(&addr)?.post(PREDICTIONS, events(&mut rng, "warmup", 0, 1).as_bytes())?;
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
        "memory: idle server {:.1} MiB; after the {}-feature model and its {REFERENCE_ROWS}-row reference {:.1} MiB (+{:.1} MiB)",
        mib(idle_rss),
        FEATURES.0 + FEATURES.1,
        mib(with_reference_rss),
        mib(with_reference_rss.saturating_sub(idle_rss))
    );
    let seconds = env_usize("ML_SECONDS", 10) as u64;
    batches(&addr, pid, env_usize("ML_SENDERS", 2), seconds)?;
    singles(&addr, pid, env_usize("ML_SINGLE_RATE", 10_000), seconds)?;
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
    let (numeric, categorical) = *FEATURES;
    let mut fields = Vec::with_capacity(numeric + categorical);
    for i in 0..numeric {
        fields.push(format!("\"n{i}\":{:.4}", rng.unit() * 10.0 + shift));
    }
    for i in 0..categorical {
        fields.push(format!("\"c{i}\":\"{}\"", CATEGORIES[rng.below(6) as usize]));
    }
    fields.join(",")
}

fn reference_csv(rng: &mut Rng) -> String {
    let (numeric, categorical) = *FEATURES;
    let mut header: Vec<String> = (0..numeric).map(|i| format!("n{i}")).collect();
    header.extend((0..categorical).map(|i| format!("c{i}")));
    let mut csv = header.join(",") + "\n";
    for _ in 0..REFERENCE_ROWS {
        let mut row: Vec<String> = (0..numeric)
            .map(|_| format!("{:.4}", rng.unit() * 10.0))
            .collect();
        row.extend((0..categorical).map(|_| CATEGORIES[rng.below(6) as usize].to_string()));
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

const PREDICTIONS: &str = "/api/v1/predictions";
const FEEDBACK: &str = "/api/v1/feedback";
/// Where request ids go in a pre-generated body.
const ID_MARK: &str = "@@";

/// One keep-alive HTTP/1.1 connection, written and read by hand so the load
/// generator spends little CPU per request.
struct Conn {
    stream: TcpStream,
    addr: String,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: &str) -> common::Result<Conn> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Conn {
            stream,
            addr: addr.to_string(),
            buf: Vec::with_capacity(4096),
        })
    }

    /// POSTs a JSON `body`; the number of accepted items, or the error answer.
    fn post(&mut self, path: &str, body: &[u8]) -> common::Result<usize> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let mut request = Vec::with_capacity(head.len() + body.len());
        request.extend_from_slice(head.as_bytes());
        request.extend_from_slice(body);
        self.stream.write_all(&request).map_err(|e| e.to_string())?;
        let (status, answer) = self.read_response()?;
        if status != 200 {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&answer)));
        }
        Ok(accepted_count(&answer))
    }

    fn read_response(&mut self) -> common::Result<(u16, Vec<u8>)> {
        self.buf.clear();
        let header_end = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end + 4;
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buf[..header_end]).to_ascii_lowercase();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("no HTTP status")?;
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or("answer without Content-Length")?;
        while self.buf.len() < header_end + length {
            self.fill()?;
        }
        Ok((status, self.buf[header_end..header_end + length].to_vec()))
    }

    fn fill(&mut self) -> common::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `"accepted":N` of an events answer.
fn accepted_count(answer: &[u8]) -> usize {
    const KEY: &[u8] = b"\"accepted\":";
    find(answer, KEY).map_or(0, |at| {
        answer[at + KEY.len()..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0, |n, d| n * 10 + usize::from(d - b'0'))
    })
}

/// A pre-generated body split at its id marks, so a fresh body costs one copy.
struct Template(Vec<String>);

impl Template {
    fn new(body: &str) -> Template {
        Template(body.split(ID_MARK).map(str::to_string).collect())
    }

    fn fill(&self, id_prefix: &str, out: &mut Vec<u8>) {
        out.clear();
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(id_prefix.as_bytes());
            }
            out.extend_from_slice(part.as_bytes());
        }
    }
}

/// The 1-, 5- and 15-minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Batches built from a few pre-generated templates per sender (a fresh id
/// prefix each time), sent as fast as the server answers.
fn batches(addr: &str, pid: u32, senders: usize, seconds: u64) -> common::Result<()> {
    let templates: Vec<Vec<Template>> = (0..senders)
        .map(|s| {
            let mut rng = Rng(1000 + s as u64);
            (0..TEMPLATES)
                .map(|_| Template::new(&events(&mut rng, ID_MARK, 0, BATCH)))
                .collect()
        })
        .collect();
    let accepted = Arc::new(AtomicUsize::new(0));
    let sent_batches: Vec<AtomicUsize> = (0..senders).map(|_| AtomicUsize::new(0)).collect();
    let load_before = load_average();
    let cpu_before = cpu_time(pid)?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    std::thread::scope(|scope| -> common::Result<()> {
        let handles: Vec<_> = templates
            .iter()
            .enumerate()
            .map(|(s, sender)| {
                let (accepted, sent) = (accepted.clone(), &sent_batches[s]);
                scope.spawn(move || -> common::Result<()> {
                    let mut conn = Conn::open(addr)?;
                    let mut body = Vec::new();
                    let mut k = 0;
                    while Instant::now() < deadline {
                        sender[k % TEMPLATES].fill(&format!("s{s}b{k}"), &mut body);
                        accepted.fetch_add(conn.post(PREDICTIONS, &body)?, Ordering::Relaxed);
                        sent.fetch_add(1, Ordering::Relaxed);
                        k += 1;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| "sender panicked".to_string())?)
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (cpu_time(pid)? - cpu_before).as_secs_f64();
    let n = accepted.load(Ordering::Relaxed);
    println!(
        "batches of {BATCH}: {n} predictions accepted in {elapsed:.1}s = {:.0} events/s ({senders} senders); \
         server CPU {:.2} µs/event ({:.2} cores); load average {load_before} → {}",
        n as f64 / elapsed,
        cpu * 1e6 / n.max(1) as f64,
        cpu / elapsed,
        load_average()
    );
    let mut rng = Rng(7);
    let mut conn = Conn::open(addr)?;
    let started = Instant::now();
    let mut joined = 0;
    for (s, sent) in sent_batches.iter().enumerate() {
        for k in 0..sent.load(Ordering::Relaxed) {
            let body = feedback(&format!("s{s}b{k}"), 0, BATCH, &mut rng);
            joined += conn.post(FEEDBACK, body.as_bytes())?;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "feedback batches of {BATCH}: {joined} joined in {elapsed:.1}s = {:.0} events/s (one sender)",
        joined as f64 / elapsed
    );
    Ok(())
}

/// Single-event POSTs paced at `rate` per second over several threads, each
/// with its own keep-alive connection; latency per request.
fn singles(addr: &str, pid: u32, rate: usize, seconds: u64) -> common::Result<()> {
    let threads = env_usize("ML_SINGLE_THREADS", 16);
    let per_thread_interval = Duration::from_secs_f64(threads as f64 / rate as f64);
    let templates: Vec<Vec<Template>> = (0..threads)
        .map(|t| {
            let mut rng = Rng(5000 + t as u64);
            (0..TEMPLATES)
                .map(|_| {
                    let body = events(&mut rng, ID_MARK, 0, 1);
                    Template::new(&body[1..body.len() - 1])
                })
                .collect()
        })
        .collect();
    let load_before = load_average();
    let cpu_before = cpu_time(pid)?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = templates
            .iter()
            .enumerate()
            .map(|(t, mine)| {
                scope.spawn(move || -> common::Result<Vec<Duration>> {
                    let mut conn = Conn::open(addr)?;
                    let mut body = Vec::new();
                    let mut latencies = Vec::new();
                    let mut next = Instant::now();
                    let mut i = 0;
                    while Instant::now() < deadline {
                        mine[i % TEMPLATES].fill(&format!("single{t}-{i}"), &mut body);
                        let sent = Instant::now();
                        conn.post(PREDICTIONS, &body)?;
                        latencies.push(sent.elapsed());
                        i += 1;
                        next += per_thread_interval;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    Ok(latencies)
                })
            })
            .collect();
        handles.into_iter().try_fold(Vec::new(), |mut all, h| {
            all.extend(h.join().map_err(|_| "sender panicked".to_string())??);
            common::Result::Ok(all)
        })
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (cpu_time(pid)? - cpu_before).as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
    };
    let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "single events (target {rate}/s, {threads} threads): {:.0}/s achieved; latency p50 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms; server CPU {:.1} µs/event ({:.2} cores); load average {load_before} → {}",
        latencies.len() as f64 / elapsed,
        ms(at(0.5)),
        ms(at(0.99)),
        ms(latencies.last()),
        cpu * 1e6 / latencies.len().max(1) as f64,
        cpu / elapsed,
        load_average()
    );
    Ok(())
}
