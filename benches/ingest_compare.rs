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
//! `INGEST_ONLY=sightline,prometheus` to run a subset.
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

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::blocking::Client;
use sightline::ingest::remote_write::encode_write_request;
use sightline::storage::{Labels, Sample, SeriesSamples};
use tempfile::TempDir;

const SAMPLES_PER_REQUEST: usize = 2_000;
const INTERVAL_MS: i64 = 15_000;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(300);

type Result<T> = std::result::Result<T, String>;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("ingest_compare: not run under `cargo test`; use `cargo bench --bench ingest_compare`");
        return;
    }
    let cfg = Config::from_env();
    println!(
        "ingest_compare: {} series x {} points = {} samples, {} senders, {} samples/request",
        cfg.series,
        cfg.points,
        cfg.series * cfg.points,
        cfg.senders,
        SAMPLES_PER_REQUEST
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
}

impl Config {
    fn from_env() -> Self {
        let cfg = Config {
            series: env_usize("INGEST_SERIES", 10_000),
            points: env_usize("INGEST_POINTS", 200),
            senders: env_usize("INGEST_SENDERS", 4).max(1),
        };
        if cfg.points as i64 * INTERVAL_MS > 55 * 60_000 {
            println!(
                "WARNING: INGEST_POINTS spans over 55 minutes; Prometheus will refuse the oldest samples"
            );
        }
        cfg
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

// ---- payload generator -------------------------------------------------

/// One pre-encoded request.
struct Payload {
    body: Bytes,
    samples: usize,
}

/// xorshift64*: deterministic, so every run sends the same values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

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
    let first = now - 1000 - (cfg.points as i64 - 1) * INTERVAL_MS;
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
            let t = first + k * INTERVAL_MS + g.offset_ms + rng.below(40) as i64 - 20;
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

fn encode(batch: &mut Vec<SeriesSamples>) -> Payload {
    let payload = Payload {
        body: Bytes::from(encode_write_request(batch)),
        samples: batch.iter().map(|s| s.samples.len()).sum(),
    };
    batch.clear();
    payload
}

// ---- servers -----------------------------------------------------------

/// How to start, probe and compact one kind of server.
struct Spec {
    name: &'static str,
    binary: PathBuf,
    args: fn(port: u16, dir: &Path) -> Result<Vec<String>>,
    ready_path: &'static str,
    /// Flushes or compacts, then returns bytes on disk and a note.
    compact: fn(&Server, &Client) -> Result<(u64, String)>,
}

fn servers() -> Vec<Spec> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    vec![
        Spec {
            name: "sightline",
            binary: bin_path("SIGHTLINE_BIN", &root.join("target/release/sightline")),
            args: sightline_args,
            ready_path: "/-/ready",
            compact: sightline_compact,
        },
        Spec {
            name: "prometheus",
            binary: bin_path("PROMETHEUS_BIN", Path::new("/usr/bin/prometheus")),
            args: prometheus_args,
            ready_path: "/-/ready",
            compact: prometheus_compact,
        },
        Spec {
            name: "victoria-metrics",
            binary: bin_path("VICTORIA_METRICS_BIN", Path::new("/usr/bin/victoria-metrics")),
            args: victoria_args,
            ready_path: "/health",
            compact: victoria_compact,
        },
    ]
}

fn bin_path(var: &str, default: &Path) -> PathBuf {
    std::env::var_os(var).map_or_else(|| default.to_path_buf(), PathBuf::from)
}

fn sightline_args(port: u16, dir: &Path) -> Result<Vec<String>> {
    Ok(vec![
        "serve".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--data-dir".into(),
        dir.join("data").display().to_string(),
    ])
}

fn prometheus_args(port: u16, dir: &Path) -> Result<Vec<String>> {
    let config = dir.join("prometheus.yml");
    fs::write(&config, "global: {}\nscrape_configs: []\n").map_err(|e| format!("writing {config:?}: {e}"))?;
    Ok(vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--web.enable-remote-write-receiver".into(),
        "--web.enable-admin-api".into(),
    ])
}

fn victoria_args(port: u16, dir: &Path) -> Result<Vec<String>> {
    Ok(vec![
        format!("-storageDataPath={}", dir.join("data").display()),
        format!("-httpListenAddr=127.0.0.1:{port}"),
        "-retentionPeriod=100y".into(),
    ])
}

fn sightline_compact(server: &Server, client: &Client) -> Result<(u64, String)> {
    post_ok(client, &format!("{}/api/v1/admin/tsdb/compact", server.base))?;
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

/// A started server; killed and its directory removed when dropped.
struct Server {
    child: Child,
    base: String,
    dir: TempDir,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn start(spec: &Spec, client: &Client) -> Result<Server> {
    let dir = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let port = free_port()?;
    let args = (spec.args)(port, dir.path())?;
    let log = fs::File::create(dir.path().join("server.log")).map_err(|e| format!("log file: {e}"))?;
    let log2 = log.try_clone().map_err(|e| format!("log file: {e}"))?;
    let child = Command::new(&spec.binary)
        .args(&args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", spec.binary.display()))?;
    let mut server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        dir,
    };
    wait_ready(spec, &mut server, client)?;
    Ok(server)
}

fn wait_ready(spec: &Spec, server: &mut Server, client: &Client) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let url = format!("{}{}", server.base, spec.ready_path);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "{} exited with {status}:\n{}",
                spec.name,
                server.log_tail()
            ));
        }
        if client.get(&url).send().is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} not ready after {READY_TIMEOUT:?}:\n{}",
                spec.name,
                server.log_tail()
            ));
        }
        sleep(Duration::from_millis(100));
    }
}

/// Whether `target/release/sightline` has a `serve` command taking our flags.
fn sightline_serves(binary: &Path) -> bool {
    let Ok(out) = Command::new(binary).args(["serve", "--help"]).output() else {
        return false;
    };
    let help = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    out.status.success() && help.contains("--listen") && help.contains("--data-dir")
}

fn check_binary(spec: &Spec) -> Result<()> {
    if !spec.binary.is_file() {
        return Err(format!("{} not found at {}", spec.name, spec.binary.display()));
    }
    if spec.name == "sightline" && !sightline_serves(&spec.binary) {
        return Err(format!(
            "{} has no `serve --listen --data-dir` command (build the server with `cargo build --release`)",
            spec.binary.display()
        ));
    }
    Ok(())
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

fn client() -> Result<Client> {
    Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| format!("http client: {e}"))
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
    let (disk, note) = (spec.compact)(&server, &client)?;
    let cpu2 = cpu_time(pid)?;
    // Peak memory of ingest and compaction, read before the check query below
    // (whose memory is a query-engine figure, printed on its own).
    let ingest_peak_rss = peak_rss(pid)?;
    println!("accepted {accepted} samples, refused {refused}, sent in {send_wall:.1?}; {note}");
    println!("series visible to PromQL: {}", visible_series(&server, &client));
    println!("peak RSS including the check query: {} MiB", peak_rss(pid)? >> 20);
    println!("data dir after compaction: {}", breakdown(&server.data_dir()));
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

/// Sends every sender's payloads from its own thread; returns accepted and
/// refused sample counts and prints the first few refusals.
fn send_all(base: &str, payloads: &[Vec<Payload>]) -> Result<(usize, usize)> {
    let url = format!("{base}/api/v1/write");
    let results: Vec<Result<(usize, usize)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = payloads
            .iter()
            .map(|mine| scope.spawn(|| send_some(&url, mine)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("sender thread panicked".into())))
            .collect()
    });
    results
        .into_iter()
        .try_fold((0, 0), |(a, r), res| res.map(|(a2, r2)| (a + a2, r + r2)))
}

fn send_some(url: &str, payloads: &[Payload]) -> Result<(usize, usize)> {
    let client = client()?;
    let (mut accepted, mut refused, mut shown) = (0, 0, 0);
    for p in payloads {
        let resp = client
            .post(url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(p.body.clone())
            .send()
            .map_err(|e| format!("POST {url}: {e}"))?;
        if resp.status().is_success() {
            accepted += p.samples;
            continue;
        }
        refused += p.samples;
        if shown < 3 {
            shown += 1;
            let status = resp.status();
            println!("  refused: {status} {}", resp.text().unwrap_or_default().trim());
        }
    }
    Ok((accepted, refused))
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

/// utime + stime of process `pid`.
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat =
        fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after_name` starts at field 3.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let (Some(utime), Some(stime)) = (ticks(11), ticks(12)) else {
        return Err(format!("cannot parse /proc/{pid}/stat: {stat}"));
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_nanos((utime + stime) * 1_000_000_000 / hz))
}

/// VmHWM of process `pid`, in bytes.
fn peak_rss(pid: u32) -> Result<u64> {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("no VmHWM in /proc/{pid}/status"))
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

/// Total size of the regular files under `path` (0 when absent).
fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(path) else {
        return fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

fn post_ok(client: &Client, url: &str) -> Result<String> {
    check(client.post(url).send(), url)
}

fn get_ok(client: &Client, url: &str) -> Result<String> {
    check(client.get(url).send(), url)
}

fn check(resp: reqwest::Result<reqwest::blocking::Response>, url: &str) -> Result<String> {
    let mut resp = resp.map_err(|e| format!("{url}: {e}"))?;
    let mut body = String::new();
    let _ = resp.read_to_string(&mut body);
    if resp.status().is_success() {
        Ok(body)
    } else {
        Err(format!("{url}: {} {}", resp.status(), body.trim()))
    }
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
