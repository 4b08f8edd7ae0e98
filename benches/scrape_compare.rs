//! Scrape comparison: Sightline, Prometheus 2.42 and VictoriaMetrics 1.79
//! scraping the same synthetic targets and a real node exporter, one server
//! after another; then Sightline's idle footprint on its embedded defaults.
//!
//! Run by hand, not in CI: `cargo build --release && cargo bench --bench
//! scrape_compare`. Under `cargo test` it only prints how to run it.
//!
//! Environment: `SCRAPE_TARGETS` (default 10), `SCRAPE_SERIES` per target
//! (default 10000), `SCRAPE_SECS` scraping time per server (default 60),
//! `SCRAPE_ONLY=sightline,prometheus` to run a subset, and the `*_BIN`
//! variables of `benches/common`.
//!
//! Targets: each serves a fresh body per request: 40% counters that grow,
//! 30% gauges that wander, 30% in classic histograms (10 buckets + sum +
//! count per histogram), all with a few labels; plus
//! `prometheus-node-exporter` on a free port. Every server scrapes every 5 s.
//!
//! Measured per server, from ready to the end of the scraping time:
//! - CPU: utime + stime (`/proc/PID/stat`) per sample scraped, where samples
//!   scraped is the sum over the run of `scrape_samples_scraped`, asked of the
//!   server itself (all three store it).
//! - Peak RSS: `VmHWM` at the end.
//! - The same CPU split in two: the first `INTERVAL_SECS + 1` seconds (every
//!   target's first scrape, all its series new) in seconds of CPU, and per
//!   sample after that (scrapes of known series; samples counted over that
//!   window the same way).

mod common;

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{check_binary, client, cpu_time, env_usize, free_port, peak_rss, servers, Kind, Result, Spec};
use reqwest::blocking::Client;

const INTERVAL_SECS: u64 = 5;
const BUCKETS: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];

fn main() {
    if !common::under_cargo_bench() {
        println!("scrape_compare: not run under `cargo test`; use `cargo bench --bench scrape_compare`");
        return;
    }
    if let Err(err) = run() {
        eprintln!("scrape_compare FAILED: {err}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let targets = env_usize("SCRAPE_TARGETS", 10);
    let series = env_usize("SCRAPE_SERIES", 10_000);
    let secs = env_usize("SCRAPE_SECS", 60) as u64;
    let only = std::env::var("SCRAPE_ONLY").unwrap_or_default();
    let addresses: Vec<String> = (0..targets)
        .map(|i| serve_synthetic(i, series))
        .collect::<Result<_>>()?;
    let node = NodeExporter::start()?;
    println!(
        "scrape_compare: {targets} targets x {series} series + node exporter ({}), every {INTERVAL_SECS}s for {secs}s",
        node.address
    );
    let client = client()?;
    for spec in servers() {
        if !only.is_empty() && !only.split(',').any(|name| name == spec.name) {
            continue;
        }
        check_binary(&spec)?;
        let figures = measure(&spec, &client, &addresses, &node.address, secs)?;
        println!(
            "{:<17} samples scraped {:>10}  CPU {:>7.3} us/sample  peak RSS {:>6.1} MiB  (first {}s: {:.2} s CPU; after: {:.3} us/sample)",
            spec.name,
            figures.samples,
            figures.cpu_us_per_sample,
            figures.peak_rss as f64 / (1 << 20) as f64,
            FIRST_ROUND_SECS,
            figures.first_round_cpu_s,
            figures.later_cpu_us_per_sample,
        );
    }
    if only.is_empty() || only.split(',').any(|name| name == "sightline") {
        idle_footprint(&servers()[0], &client)?;
    }
    Ok(())
}

/// The first scrape of every target (all its series new) falls in this many
/// seconds after ready; CPU is also reported separately for it and for what follows.
const FIRST_ROUND_SECS: u64 = INTERVAL_SECS + 1;

struct Figures {
    samples: u64,
    cpu_us_per_sample: f64,
    peak_rss: u64,
    first_round_cpu_s: f64,
    /// CPU per sample after the first round: scrapes of known series.
    later_cpu_us_per_sample: f64,
}

/// The same scrape configuration for all three servers.
fn scrape_yaml(addresses: &[String], node: &str) -> String {
    let synthetic: Vec<String> = addresses.iter().map(|a| format!("'{a}'")).collect();
    format!(
        "global:\n  scrape_interval: {INTERVAL_SECS}s\n  scrape_timeout: {INTERVAL_SECS}s\nscrape_configs:\n  - job_name: synthetic\n    static_configs: [{{targets: [{}]}}]\n  - job_name: node\n    static_configs: [{{targets: ['{node}']}}]\n",
        synthetic.join(", ")
    )
}

struct Running {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_scraping(spec: &Spec, yaml: &str) -> Result<Running> {
    let dir = tempfile::TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let port = free_port()?;
    let config = dir.path().join("scrape.yml");
    let data = dir.path().join("data").display().to_string();
    let listen = format!("127.0.0.1:{port}");
    let args: Vec<String> = match spec.kind {
        Kind::Sightline => {
            fs::write(&config, format!("{yaml}server:\n  listen: {listen}\n")).map_err(|e| e.to_string())?;
            vec![
                "serve".into(),
                "--config".into(),
                config.display().to_string(),
                "--data-dir".into(),
                data,
            ]
        }
        Kind::Prometheus => {
            fs::write(&config, yaml).map_err(|e| e.to_string())?;
            vec![
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={data}"),
                format!("--web.listen-address={listen}"),
            ]
        }
        Kind::VictoriaMetrics => {
            fs::write(&config, yaml).map_err(|e| e.to_string())?;
            vec![
                format!("-promscrape.config={}", config.display()),
                format!("-storageDataPath={data}"),
                format!("-httpListenAddr={listen}"),
                // By default the last 30 s are hidden from queries; the sample count needs them.
                "-search.latencyOffset=0s".into(),
            ]
        }
    };
    let log = fs::File::create(dir.path().join("server.log")).map_err(|e| e.to_string())?;
    let child = Command::new(&spec.binary)
        .args(&args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", spec.binary.display()))?;
    Ok(Running {
        child,
        base: format!("http://{listen}"),
        _dir: dir,
    })
}

fn wait_ready(client: &Client, url: &str, timeout: Duration) -> Result<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if client.get(url).send().is_ok_and(|r| r.status().is_success()) {
            return Ok(started.elapsed());
        }
        sleep(Duration::from_millis(2));
    }
    Err(format!("{url} not ready after {timeout:?}"))
}

fn measure(spec: &Spec, client: &Client, addresses: &[String], node: &str, secs: u64) -> Result<Figures> {
    let mut server = start_scraping(spec, &scrape_yaml(addresses, node))?;
    wait_ready(
        client,
        &format!("{}{}", server.base, spec.ready_path),
        common::READY_TIMEOUT,
    )?;
    let pid = server.child.id();
    let cpu_before = cpu_time(pid)?;
    let first_round = FIRST_ROUND_SECS.min(secs);
    sleep(Duration::from_secs(first_round));
    let cpu_first_round = cpu_time(pid)?;
    sleep(Duration::from_secs(secs - first_round));
    let cpu_end = cpu_time(pid)?;
    let cpu = cpu_end.saturating_sub(cpu_before);
    let peak = peak_rss(pid)?;
    if let Ok(Some(status)) = server.child.try_wait() {
        return Err(format!("{} exited during the run: {status}", spec.name));
    }
    let samples = samples_scraped(client, &server.base, secs)?;
    if samples == 0 {
        return Err(format!("{} scraped nothing", spec.name));
    }
    let later_secs = secs - first_round;
    let later_samples = if later_secs > 0 {
        samples_scraped(client, &server.base, later_secs)?
    } else {
        0
    };
    let later_cpu = cpu_end.saturating_sub(cpu_first_round);
    Ok(Figures {
        samples,
        cpu_us_per_sample: cpu.as_secs_f64() * 1e6 / samples as f64,
        peak_rss: peak,
        first_round_cpu_s: cpu_first_round.saturating_sub(cpu_before).as_secs_f64(),
        later_cpu_us_per_sample: later_cpu.as_secs_f64() * 1e6 / later_samples.max(1) as f64,
    })
}

/// Sum over the run of `scrape_samples_scraped`, through the server's own query API.
fn samples_scraped(client: &Client, base: &str, secs: u64) -> Result<u64> {
    let query = format!("sum(sum_over_time(scrape_samples_scraped[{secs}s]))");
    let url = format!(
        "{base}/api/v1/query?query={}",
        form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
    );
    let body = common::get_ok(client, &url)?;
    let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("{url}: {e}"))?;
    let value = json["data"]["result"][0]["value"][1].as_str().unwrap_or("0");
    value
        .parse::<f64>()
        .map(|v| v as u64)
        .map_err(|e| format!("{url}: {value:?}: {e}"))
}

/// Start-to-ready time and RSS after 30 s of Sightline on its embedded defaults.
fn idle_footprint(spec: &Spec, client: &Client) -> Result<()> {
    let dir = tempfile::TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let port = free_port()?;
    let started = Instant::now();
    let mut child = Command::new(&spec.binary)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", spec.binary.display()))?;
    let ready = wait_ready(
        client,
        &format!("http://127.0.0.1:{port}/-/ready"),
        common::READY_TIMEOUT,
    );
    let to_ready = started.elapsed();
    sleep(Duration::from_secs(30));
    let rss = current_rss(child.id());
    let _ = child.kill();
    let _ = child.wait();
    ready?;
    println!(
        "sightline idle on embedded defaults: start to ready {:.0} ms, RSS after 30 s {:.1} MiB",
        to_ready.as_secs_f64() * 1e3,
        rss? as f64 / (1 << 20) as f64
    );
    Ok(())
}

fn current_rss(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("no VmRSS for {pid}"))
}

/// The real node exporter on a free port.
struct NodeExporter {
    child: Child,
    address: String,
}

impl NodeExporter {
    fn start() -> Result<NodeExporter> {
        let address = format!("127.0.0.1:{}", free_port()?);
        let child = Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start prometheus-node-exporter (apt-get install prometheus-node-exporter): {e}"
                )
            })?;
        let exporter = NodeExporter { child, address };
        wait_ready(
            &client()?,
            &format!("http://{}/metrics", exporter.address),
            Duration::from_secs(10),
        )?;
        Ok(exporter)
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One synthetic target on a free port; returns its address.
fn serve_synthetic(index: usize, series: usize) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?.to_string();
    let requests = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let round = requests.fetch_add(1, Ordering::Relaxed);
            let body = synthetic_body(index, series, round);
            std::thread::spawn(move || answer(stream, &body));
        }
    });
    Ok(address)
}

fn answer(stream: TcpStream, body: &str) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        if line == "\r\n" {
            break;
        }
        line.clear();
    }
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

/// `series` samples: counters, gauges and histograms whose values move with `round`.
fn synthetic_body(target: usize, series: usize, round: u64) -> String {
    let counters = series * 4 / 10;
    let gauges = series * 3 / 10;
    let histograms = (series - counters - gauges) / (BUCKETS.len() + 2);
    let mut out = String::with_capacity(series * 80);
    out.push_str("# HELP app_requests_total Requests handled.\n# TYPE app_requests_total counter\n");
    for i in 0..counters {
        let value = (i as u64 + 1) * (round + 1) * 3 + (target as u64);
        let _ = writeln!(
            out,
            "app_requests_total{{path=\"/api/v{}\",code=\"{}\",shard=\"{}\"}} {value}",
            i / 20,
            200 + i % 5,
            i % 20
        );
    }
    out.push_str("# HELP app_queue_depth Items waiting.\n# TYPE app_queue_depth gauge\n");
    for i in 0..gauges {
        let value = ((i as u64 * 7919 + round * 104_729) % 1000) as f64 / 10.0;
        let _ = writeln!(
            out,
            "app_queue_depth{{queue=\"q{}\",worker=\"w{}\"}} {value}",
            i / 10,
            i % 10
        );
    }
    out.push_str("# HELP app_latency_seconds Request latency.\n# TYPE app_latency_seconds histogram\n");
    for h in 0..histograms {
        let total = (h as u64 + 1) * (round + 1) * 10;
        for (b, le) in BUCKETS.iter().enumerate() {
            let count = total * (b as u64 + 1) / BUCKETS.len() as u64;
            let _ = writeln!(
                out,
                "app_latency_seconds_bucket{{handler=\"h{h}\",le=\"{le}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "app_latency_seconds_sum{{handler=\"h{h}\"}} {}",
            total as f64 * 0.042
        );
        let _ = writeln!(out, "app_latency_seconds_count{{handler=\"h{h}\"}} {total}");
    }
    out
}
