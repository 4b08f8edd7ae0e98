//! Ingest comparison: Sightline, Prometheus 2.42 and VictoriaMetrics 1.79 fed
//! the same remote-write payloads, one server after another.
//!
//! Run by hand, not in CI: `cargo build --release && cargo bench --bench
//! ingest_compare`. Under `cargo test` it only prints how to run it.
//!
//! Environment: `INGEST_SERIES` (default 10000), `INGEST_POINTS` samples per
//! series (default 200, 15 s apart, so 50 minutes ending now: Prometheus
//! refuses samples more than an hour older than its newest), `INGEST_SENDERS`
//! concurrent sender threads (default 4), `PROMETHEUS_BIN`,
//! `VICTORIA_METRICS_BIN`, `SIGHTLINE_BIN` to point at other binaries, and
//! `INGEST_ONLY=sightline,prometheus` to run a subset. `SIGHTLINE_EXTRA_YAML`
//! is appended to Sightline's config (e.g. a `storage:` section).
//! `INGEST_JITTER_MS` (default 0) adds uniform random jitter of up to ± that
//! many milliseconds to every timestamp: `INGEST_JITTER_MS=20` reproduces the
//! harder load this bench sent before (figures in docs/ARCHITECTURE.md that
//! mention "+/-20 ms jitter" were measured with it). `INGEST_END_AGO_S`
//! (default 0) ends the window that many seconds before now: bytes/sample
//! depends on where the window falls against Sightline's 2 h partitions, and
//! this places it (e.g. split evenly across a boundary) without waiting.
//!
//! Timestamps: each series is sent exactly on its 15 s interval at a fixed
//! per-series offset within it, as Prometheus sends scraped samples: a scrape
//! loop runs at a fixed offset of its interval, and Prometheus (2.42 here;
//! hidden flags `--scrape.adjust-timestamps`, default true, and
//! `--scrape.timestamp-tolerance`, default 2ms) snaps a scrape's timestamp to
//! that schedule when it is within the tolerance.
//!
//! Each sender owns a share of the series and sends them in timestamp order,
//! 2 000 samples per request, one sample per `TimeSeries` as Prometheus's
//! own sender does. Every payload is encoded before any server starts.
//!
//! Measured per server:
//! - CPU: utime + stime of the server process from `/proc/PID/stat`, over the
//!   sending plus one second, per accepted sample; and again including the
//!   flush or compaction below. Wall throughput is printed but misleads, as
//!   the generator shares the cores.
//! - Peak RSS: `VmHWM` from `/proc/PID/status` at the end.
//! - Bytes per sample on disk after compaction. Prometheus: a snapshot with
//!   the head (`POST /api/v1/admin/tsdb/snapshot`), which writes the head as a
//!   compacted block; its size is what Prometheus keeps once the head is
//!   compacted (its WAL, printed separately, is dropped then).
//!   VictoriaMetrics: `/internal/force_flush`, then `/internal/force_merge`,
//!   waiting for `vm_active_force_merges` to reach 0 and the size to settle;
//!   the `data` and `indexdb` directories are measured. Sightline:
//!   `POST /api/v1/admin/tsdb/compact`, then its whole data directory.

mod common;

use std::fs;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    check_binary, client, cpu_time, dir_size, encode, env_usize, get_ok, peak_rss, post_ok, send_all,
    servers, start, Payload, Result, Rng, Server, Spec,
};
use reqwest::blocking::Client;
use sightline::storage::{Labels, Sample, SeriesSamples};

const SAMPLES_PER_REQUEST: usize = 2_000;
const INTERVAL_MS: i64 = 15_000;
const SETTLE_TIMEOUT: Duration = Duration::from_secs(300);

fn main() {
    if !common::under_cargo_bench() {
        println!("ingest_compare: not run under `cargo test`; use `cargo bench --bench ingest_compare`");
        return;
    }
    let cfg = Config::from_env();
    println!(
        "ingest_compare: {} series x {} points = {} samples, {} senders, {} samples/request, timestamp jitter +/-{} ms",
        cfg.series,
        cfg.points,
        cfg.series * cfg.points,
        cfg.senders,
        SAMPLES_PER_REQUEST,
        cfg.jitter_ms
    );
    let started = Instant::now();
    let payloads = generate(&cfg);
    let bytes: usize = payloads.iter().flatten().map(|p| p.body.len()).sum();
    println!(
        "encoded {} requests, {:.1} MiB snappy, in {:.1}s",
        payloads.iter().map(Vec::len).sum::<usize>(),
        bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );
    // INGEST_ONLY=sightline (comma-separated names) runs a subset.
    let only = std::env::var("INGEST_ONLY").unwrap_or_default();
    let rows: Vec<Row> = servers()
        .iter()
        .filter(|spec| only.is_empty() || only.split(',').any(|n| n == spec.name))
        .filter_map(|spec| run_one(spec, &payloads))
        .collect();
    print_table(&rows);
}

struct Config {
    series: usize,
    points: usize,
    senders: usize,
    /// Maximum timestamp jitter either way, in ms (0: exactly on schedule).
    jitter_ms: u64,
    /// Seconds between now and the window's end.
    end_ago_s: u64,
}

impl Config {
    fn from_env() -> Self {
        let cfg = Config {
            series: env_usize("INGEST_SERIES", 10_000),
            points: env_usize("INGEST_POINTS", 200),
            senders: env_usize("INGEST_SENDERS", 4).max(1),
            jitter_ms: env_usize("INGEST_JITTER_MS", 0) as u64,
            end_ago_s: env_usize("INGEST_END_AGO_S", 0) as u64,
        };
        if cfg.points as i64 * INTERVAL_MS > 55 * 60_000 {
            println!(
                "WARNING: INGEST_POINTS spans over 55 minutes; Prometheus will refuse the oldest samples"
            );
        }
        cfg
    }
}

// ---- payload generator -------------------------------------------------

const METRICS: [(&str, Kind); 6] = [
    ("http_requests_total", Kind::Counter),
    ("http_request_duration_seconds_count", Kind::Counter),
    ("node_network_receive_bytes_total", Kind::Counter),
    ("process_resident_memory_bytes", Kind::BytesGauge),
    ("node_load1", Kind::FloatGauge),
    ("go_goroutines", Kind::IntGauge),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    BytesGauge,
    FloatGauge,
    IntGauge,
}

/// Series `i`: six labels, unique per `i`.
fn series_labels(i: usize) -> Labels {
    const CODES: [&str; 4] = ["200", "404", "500", "503"];
    const METHODS: [&str; 2] = ["GET", "POST"];
    const HANDLERS: [&str; 5] = [
        "/api/v1/query",
        "/api/v1/query_range",
        "/api/v1/series",
        "/metrics",
        "/",
    ];
    let r = i / METRICS.len();
    Labels::from_pairs([
        ("__name__", METRICS[i % METRICS.len()].0.to_string()),
        ("instance", format!("10.1.{}.{}:9100", r / 40 / 200, r / 40 % 200)),
        ("job", "node".to_string()),
        ("code", CODES[r % 4].to_string()),
        ("method", METHODS[r / 4 % 2].to_string()),
        ("handler", HANDLERS[r / 8 % 5].to_string()),
    ])
}

/// One series' generator state.
struct SeriesGen {
    labels: Labels,
    kind: Kind,
    value: f64,
    offset_ms: i64,
}

impl SeriesGen {
    fn new(i: usize, rng: &mut Rng) -> Self {
        let kind = METRICS[i % METRICS.len()].1;
        let value = match kind {
            Kind::Counter => rng.below(10_000) as f64,
            Kind::BytesGauge => (rng.below(1 << 16) * 4096) as f64,
            Kind::FloatGauge => (rng.below(400) as f64) / 100.0,
            Kind::IntGauge => rng.below(500) as f64,
        };
        let offset_ms = rng.below(1000) as i64;
        SeriesGen {
            labels: series_labels(i),
            kind,
            value,
            offset_ms,
        }
    }

    /// The next value: counters grow by small integers, gauges wander.
    fn step(&mut self, rng: &mut Rng) -> f64 {
        self.value = match self.kind {
            Kind::Counter if rng.below(20) == 0 => self.value + rng.below(200) as f64,
            Kind::Counter => self.value + rng.below(6) as f64,
            Kind::BytesGauge => (self.value + (rng.below(33) as f64 - 16.0) * 4096.0).max(0.0),
            Kind::FloatGauge => ((self.value + rng.unit() * 0.2).max(0.0) * 100.0).round() / 100.0,
            Kind::IntGauge => (self.value + rng.below(11) as f64 - 5.0).max(1.0),
        };
        self.value
    }
}

/// Payloads per sender, built in parallel: sender `s` owns series
/// `s, s + senders, ...`.
fn generate(cfg: &Config) -> Vec<Vec<Payload>> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let end = now - 1000 - cfg.end_ago_s as i64 * 1000;
    let first = end - (cfg.points as i64 - 1) * INTERVAL_MS;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cfg.senders)
            .map(|s| scope.spawn(move || sender_payloads(cfg, s, first)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("payload generator panicked"))
            .collect()
    })
}

fn sender_payloads(cfg: &Config, sender: usize, first: i64) -> Vec<Payload> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (sender as u64 + 1));
    let mut gens: Vec<SeriesGen> = (sender..cfg.series)
        .step_by(cfg.senders)
        .map(|i| SeriesGen::new(i, &mut rng))
        .collect();
    let mut out = Vec::new();
    let mut batch = Vec::with_capacity(SAMPLES_PER_REQUEST);
    for k in 0..cfg.points as i64 {
        for g in &mut gens {
            let t = first + k * INTERVAL_MS + g.offset_ms + jitter(cfg.jitter_ms, &mut rng);
            let v = g.step(&mut rng);
            batch.push(SeriesSamples {
                labels: g.labels.clone(),
                samples: vec![Sample { t, v }],
            });
            if batch.len() == SAMPLES_PER_REQUEST {
                out.push(encode(&mut batch));
            }
        }
    }
    if !batch.is_empty() {
        out.push(encode(&mut batch));
    }
    out
}

/// A uniform offset in `[-max_ms, max_ms)`. It draws from `rng` even when
/// `max_ms` is 0, so the values drawn after it are the same whatever the
/// jitter.
fn jitter(max_ms: u64, rng: &mut Rng) -> i64 {
    let draw = rng.next();
    if max_ms == 0 {
        return 0;
    }
    (draw % (2 * max_ms)) as i64 - max_ms as i64
}

// ---- servers -----------------------------------------------------------

/// Flushes or compacts, then returns bytes on disk and a note.
fn compact(spec: &Spec, server: &Server, client: &Client) -> Result<(u64, String)> {
    match spec.kind {
        common::Kind::Sightline => sightline_compact(server, client),
        common::Kind::Prometheus => prometheus_compact(server, client),
        common::Kind::VictoriaMetrics => victoria_compact(server, client),
    }
}

fn sightline_compact(server: &Server, client: &Client) -> Result<(u64, String)> {
    let report = post_ok(client, &format!("{}/api/v1/admin/tsdb/compact", server.base))?;
    println!("compact: {report}");
    Ok((dir_size(&server.data_dir()), "data dir after compact".into()))
}

fn prometheus_compact(server: &Server, client: &Client) -> Result<(u64, String)> {
    let url = format!("{}/api/v1/admin/tsdb/snapshot?skip_head=false", server.base);
    let body = post_ok(client, &url)?;
    let json: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("snapshot answer {body:?}: {e}"))?;
    let name = json["data"]["name"]
        .as_str()
        .ok_or_else(|| format!("snapshot answer without data.name: {body}"))?;
    let snapshot = server.data_dir().join("snapshots").join(name);
    let total = dir_size(&server.data_dir()).saturating_sub(dir_size(&server.data_dir().join("snapshots")));
    let wal = dir_size(&server.data_dir().join("wal"));
    let note = format!(
        "snapshot block with head; data dir {} MiB of which WAL {} MiB",
        total >> 20,
        wal >> 20
    );
    Ok((dir_size(&snapshot), note))
}

fn victoria_compact(server: &Server, client: &Client) -> Result<(u64, String)> {
    get_ok(client, &format!("{}/internal/force_flush", server.base))?;
    get_ok(client, &format!("{}/internal/force_merge", server.base))?;
    sleep(Duration::from_secs(1));
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let measure = || dir_size(&server.data_dir().join("data")) + dir_size(&server.data_dir().join("indexdb"));
    let mut last = measure();
    loop {
        sleep(Duration::from_secs(2));
        let metrics = get_ok(client, &format!("{}/metrics", server.base))?;
        let size = measure();
        let merging = metrics
            .lines()
            .any(|l| l.starts_with("vm_active_force_merges ") && !l.ends_with(" 0"));
        if !merging && size == last {
            return Ok((size, "data + indexdb after force_flush, force_merge".into()));
        }
        if Instant::now() > deadline {
            return Err("force_merge did not settle in time".into());
        }
        last = size;
    }
}

// ---- measuring ---------------------------------------------------------

struct Row {
    name: &'static str,
    accepted: usize,
    refused: usize,
    send_wall: Duration,
    ingest_cpu: Duration,
    total_cpu: Duration,
    peak_rss: u64,
    disk: u64,
    note: String,
}

fn run_one(spec: &Spec, payloads: &[Vec<Payload>]) -> Option<Row> {
    println!("\n== {} ({})", spec.name, spec.binary.display());
    if let Err(e) = check_binary(spec) {
        println!("!!!!! SKIPPED {}: {e}", spec.name);
        return None;
    }
    match measure(spec, payloads) {
        Ok(row) => Some(row),
        Err(e) => {
            println!("!!!!! FAILED {}: {e}", spec.name);
            None
        }
    }
}

fn measure(spec: &Spec, payloads: &[Vec<Payload>]) -> Result<Row> {
    let client = client()?;
    let server = start(spec, &client)?;
    let pid = server.pid();
    let cpu0 = cpu_time(pid)?;
    let started = Instant::now();
    let (accepted, refused) = send_all(&server.base, payloads)?;
    let send_wall = started.elapsed();
    sleep(Duration::from_secs(1));
    let cpu1 = cpu_time(pid)?;
    println!("peak RSS after sending: {} MiB", peak_rss(pid)? >> 20);
    println!("data dir before compaction: {}", breakdown(&server.data_dir()));
    if spec.kind == common::Kind::Sightline {
        println!(
            "sled files before compaction: {}",
            breakdown(&server.data_dir().join("sled"))
        );
    }
    let (disk, note) = compact(spec, &server, &client)?;
    let cpu2 = cpu_time(pid)?;
    // Peak memory of ingest and compaction, read before the check query below
    // (whose memory is a query-engine figure, printed on its own).
    let ingest_peak_rss = peak_rss(pid)?;
    println!("accepted {accepted} samples, refused {refused}, sent in {send_wall:.1?}; {note}");
    println!("series visible to PromQL: {}", visible_series(&server, &client));
    println!("peak RSS including the check query: {} MiB", peak_rss(pid)? >> 20);
    println!("data dir after compaction: {}", breakdown(&server.data_dir()));
    if spec.kind == common::Kind::Sightline {
        sightline_disk_report(server);
    }
    Ok(Row {
        name: spec.name,
        accepted,
        refused,
        send_wall,
        ingest_cpu: cpu1 - cpu0,
        total_cpu: cpu2 - cpu0,
        peak_rss: ingest_peak_rss,
        disk,
        note,
    })
}

/// `count(last_over_time({job="node"}[1h]))` as the server answers it: a
/// sanity check that the samples landed (the newest are minutes old by now
/// for the servers measured last).
fn visible_series(server: &Server, client: &Client) -> String {
    let query = "count(last_over_time(%7Bjob%3D%22node%22%7D%5B1h%5D))";
    let url = format!("{}/api/v1/query?query={query}", server.base);
    let body = match get_ok(client, &url) {
        Ok(body) => body,
        Err(e) => return format!("query failed: {e}"),
    };
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    json["data"]["result"][0]["value"][1]
        .as_str()
        .map_or_else(|| format!("unexpected answer {body}"), str::to_string)
}

/// Sizes of the entries directly under `path`, largest first, in KiB.
fn breakdown(path: &Path) -> String {
    let Ok(entries) = fs::read_dir(path) else {
        return format!("{} unreadable", path.display());
    };
    let mut sizes: Vec<(u64, String)> = entries
        .flatten()
        .map(|e| (dir_size(&e.path()), e.file_name().to_string_lossy().into_owned()))
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let parts: Vec<String> = sizes
        .iter()
        .map(|(size, name)| format!("{name} {} KiB", size >> 10))
        .collect();
    parts.join(", ")
}

/// Where Sightline's bytes are: the files of its sled directory, then (after
/// a clean shutdown, which checkpoints) the whole directory again and the
/// live bytes (keys + values) of each sled tree, against sled's files.
fn sightline_disk_report(mut server: Server) {
    let dir = server.data_dir();
    println!("sled files after compaction: {}", breakdown(&dir.join("sled")));
    if let Err(e) = server.terminate() {
        println!("!!!!! clean shutdown failed: {e}");
        return;
    }
    println!("data dir after shutdown: {}", breakdown(&dir));
    println!("sled files after shutdown: {}", breakdown(&dir.join("sled")));
    match sled_live_bytes(&dir.join("sled")) {
        Ok(trees) => {
            let live: u64 = trees.iter().map(|t| t.1).sum();
            let on_disk = dir_size(&dir.join("sled"));
            let parts: Vec<String> = trees
                .iter()
                .map(|(name, bytes, entries)| format!("{name} {} KiB in {entries} entries", bytes >> 10))
                .collect();
            println!(
                "sled live keys+values {} KiB ({}), sled files {} KiB: {:.2}x live",
                live >> 10,
                parts.join(", "),
                on_disk >> 10,
                on_disk as f64 / live.max(1) as f64
            );
        }
        Err(e) => println!("!!!!! reading sled: {e}"),
    }
}

/// Per tree: name, key + value bytes, entries.
fn sled_live_bytes(path: &Path) -> Result<Vec<(String, u64, u64)>> {
    let db = sightline::storage::sled_config(path, sightline::storage::NewSledLog::Compressed)
        .map_err(|e| format!("{e}"))?
        .open()
        .map_err(|e| format!("{e}"))?;
    let mut out = Vec::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name).map_err(|e| format!("{e}"))?;
        let (mut bytes, mut entries) = (0u64, 0u64);
        for entry in tree.iter() {
            let (k, v) = entry.map_err(|e| format!("{e}"))?;
            bytes += (k.len() + v.len()) as u64;
            entries += 1;
        }
        out.push((String::from_utf8_lossy(&name).into_owned(), bytes, entries));
    }
    Ok(out)
}

// ---- report ------------------------------------------------------------

fn print_table(rows: &[Row]) {
    let Some(base) = rows.iter().find(|r| r.name == "sightline").or(rows.first()) else {
        println!("\nno server measured");
        return;
    };
    println!("\nratios (x) are against {}", base.name);
    println!(
        "{:<17} {:>10} {:>8} {:>16} {:>16} {:>15} {:>15} {:>10}",
        "server",
        "accepted",
        "refused",
        "cpu us/sample",
        "+compact us/s",
        "peak RSS MiB",
        "bytes/sample",
        "kS/s wall"
    );
    for r in rows {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / r.accepted.max(1) as f64;
        let base_per = |d: Duration| d.as_secs_f64() * 1e6 / base.accepted.max(1) as f64;
        let bps = r.disk as f64 / r.accepted.max(1) as f64;
        let base_bps = base.disk as f64 / base.accepted.max(1) as f64;
        println!(
            "{:<17} {:>10} {:>8} {:>16} {:>16} {:>15} {:>15} {:>10.0}",
            r.name,
            r.accepted,
            r.refused,
            with_ratio(per(r.ingest_cpu), base_per(base.ingest_cpu), 3),
            with_ratio(per(r.total_cpu), base_per(base.total_cpu), 3),
            with_ratio(
                r.peak_rss as f64 / (1 << 20) as f64,
                base.peak_rss as f64 / (1 << 20) as f64,
                0
            ),
            with_ratio(bps, base_bps, 2),
            r.accepted as f64 / r.send_wall.as_secs_f64() / 1e3
        );
    }
    for r in rows {
        println!("{}: disk measured as {}", r.name, r.note);
    }
}

fn with_ratio(value: f64, base: f64, decimals: usize) -> String {
    let ratio = if base > 0.0 { value / base } else { f64::NAN };
    format!("{value:.decimals$} ({ratio:.2}x)")
}
