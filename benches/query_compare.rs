//! Query comparison: Sightline, Prometheus 2.42 and VictoriaMetrics 1.79 load
//! the same data by remote write, then answer the same PromQL range queries
//! and one `/api/v1/series` call, one server after another.
//!
//! Run by hand, not in CI: `cargo build --release && cargo bench --bench
//! query_compare`. Under `cargo test` it only prints how to run it.
//!
//! Environment: `QUERY_SERIES` (default 10000; rounded up to a multiple of
//! 20), `QUERY_RUNS` timed runs per query (default 10), `QUERY_SENDERS`
//! remote-write sender threads (default 2), `PROMETHEUS_BIN`,
//! `VICTORIA_METRICS_BIN`, `SIGHTLINE_BIN` to point at other binaries.
//!
//! Data: per `instance`, 20 series with 60 samples 15 s apart ending about
//! now: a counter `x_total{code}` (5 codes), a classic histogram
//! `h_bucket{le}` (10 buckets) with `h_sum` and `h_count`, and a gauge
//! `g{cpu}` (3 CPUs). All carry `job="app"`. After loading, each server is
//! polled until `count(last_over_time({job="app"}[30m]))` gives the full
//! series count (VictoriaMetrics gets `/internal/force_flush` first; it is
//! started with `-search.disableCache`, so repeated queries are not served
//! from its rollup result cache, and `-search.latencyOffset=0s`, so it does
//! not hide the newest 30 s of data as it does by default).
//!
//! Measured per server and query: one warm-up run, then `QUERY_RUNS`
//! sequential runs; the median wall latency (request sent to body fully
//! read) and the server's CPU (utime + stime from `/proc/PID/stat`) over the
//! runs divided by their number. Memory per server: resident memory
//! (`VmRSS`) and its peak (`VmHWM`) once the data is loaded and visible,
//! before any measured query, so that ingest and query memory show apart,
//! and `VmHWM` again after each query and at the end. CPU is read in
//! clock ticks (10 ms), so per query it resolves to 10 ms / `QUERY_RUNS`. The table gives Sightline's ratio to the faster of
//! the other two, the number of result series and points each server
//! returned, and warns when the servers disagree on the number of series.
//!
//! Duration on 2 shared cores: about 15 s at the default 10 000 series,
//! about 3 minutes at `QUERY_SERIES=100000` (encoding the 6 M samples and
//! loading them into each server takes most of it).

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    check_binary, client, cpu_time, encode, env_usize, get_ok, peak_rss, rss, send_all, servers, start, Kind,
    Payload, Result, Rng, Server, Spec,
};
use reqwest::blocking::Client;
use sightline::storage::{Labels, Sample, SeriesSamples};

const POINTS: i64 = 60;
const INTERVAL_MS: i64 = 15_000;
const STEP_S: i64 = 60;
const SAMPLES_PER_REQUEST: usize = 2_000;
const SERIES_PER_INSTANCE: usize = 20;
const CODES: [&str; 5] = ["200", "201", "404", "500", "503"];
const LES: [(&str, f64); 10] = [
    ("0.005", 0.005),
    ("0.01", 0.01),
    ("0.025", 0.025),
    ("0.05", 0.05),
    ("0.1", 0.1),
    ("0.25", 0.25),
    ("0.5", 0.5),
    ("1", 1.0),
    ("2.5", 2.5),
    ("+Inf", f64::INFINITY),
];
const CPUS: usize = 3;
const VISIBLE_TIMEOUT: Duration = Duration::from_secs(180);

/// What one measured request asks.
enum Ask {
    /// `/api/v1/query_range` over the whole data.
    Range(&'static str),
    /// `/api/v1/series` with this `match[]` over the whole data.
    Series(&'static str),
}

const QUERIES: [Ask; 6] = [
    Ask::Range("sum by (code) (rate(x_total[5m]))"),
    Ask::Range("histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m])))"),
    Ask::Range("avg_over_time(g[10m])"),
    Ask::Range("topk(5, rate(x_total[5m]))"),
    Ask::Range("max_over_time(rate(x_total[5m])[30m:1m])"),
    Ask::Series("x_total{code=\"500\"}"),
];

impl Ask {
    fn label(&self) -> String {
        match self {
            Ask::Range(q) => (*q).to_string(),
            Ask::Series(m) => format!("series match[]={m}"),
        }
    }
}

fn main() {
    if !common::under_cargo_bench() {
        println!("query_compare: not run under `cargo test`; use `cargo bench --bench query_compare`");
        return;
    }
    let cfg = Config::from_env();
    println!(
        "query_compare: {} series ({} instances) x {POINTS} points, {} timed runs per query, step {STEP_S}s",
        cfg.instances * SERIES_PER_INSTANCE,
        cfg.instances,
        cfg.runs
    );
    let started = Instant::now();
    let data = generate(&cfg);
    let bytes: usize = data.payloads.iter().flatten().map(|p| p.body.len()).sum();
    println!(
        "encoded {} requests, {:.1} MiB snappy, in {:.1}s; query range {}..{}",
        data.payloads.iter().map(Vec::len).sum::<usize>(),
        bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64(),
        data.start_s,
        data.end_s
    );
    let runs: Vec<ServerRun> = servers()
        .into_iter()
        .filter_map(|spec| run_one(spec, &cfg, &data))
        .collect();
    print_table(&runs);
    println!("\ntotal {:.0}s", started.elapsed().as_secs_f64());
}

struct Config {
    instances: usize,
    runs: usize,
    senders: usize,
}

impl Config {
    fn from_env() -> Self {
        let series = env_usize("QUERY_SERIES", 10_000).max(SERIES_PER_INSTANCE);
        Config {
            instances: series.div_ceil(SERIES_PER_INSTANCE),
            runs: env_usize("QUERY_RUNS", 10).max(1),
            senders: env_usize("QUERY_SENDERS", 2).max(1),
        }
    }

    fn series(&self) -> usize {
        self.instances * SERIES_PER_INSTANCE
    }
}

// ---- data --------------------------------------------------------------

struct Data {
    payloads: Vec<Vec<Payload>>,
    start_s: i64,
    end_s: i64,
}

/// One instance's 20 series and their current values.
struct Instance {
    x: Vec<(Labels, f64)>,
    buckets: Vec<(Labels, f64)>,
    sum: (Labels, f64),
    count: (Labels, f64),
    g: Vec<(Labels, f64)>,
    offset_ms: i64,
}

impl Instance {
    fn new(i: usize, rng: &mut Rng) -> Self {
        let instance = format!("10.{}.{}.{}:9100", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        let labels = |name: &str, extra: Option<(&str, &str)>| {
            let mut pairs = vec![("__name__", name), ("job", "app"), ("instance", &instance)];
            pairs.extend(extra);
            Labels::from_pairs(pairs)
        };
        Instance {
            x: CODES
                .iter()
                .map(|c| (labels("x_total", Some(("code", c))), rng.below(10_000) as f64))
                .collect(),
            buckets: LES
                .iter()
                .map(|(le, _)| (labels("h_bucket", Some(("le", le))), 0.0))
                .collect(),
            sum: (labels("h_sum", None), 0.0),
            count: (labels("h_count", None), 0.0),
            g: (0..CPUS)
                .map(|c| {
                    let cpu = c.to_string();
                    (labels("g", Some(("cpu", &cpu))), rng.below(100) as f64)
                })
                .collect(),
            offset_ms: rng.below(1000) as i64,
        }
    }

    /// Advances every series by one scrape and appends its samples at `t`.
    fn step(&mut self, t: i64, rng: &mut Rng, out: &mut Vec<SeriesSamples>) {
        for (_, v) in &mut self.x {
            *v += if rng.below(20) == 0 {
                rng.below(200) as f64
            } else {
                rng.below(10) as f64
            };
        }
        for _ in 0..rng.below(20) {
            let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            let observed = u * u * u * 3.0;
            for ((_, v), (_, le)) in self.buckets.iter_mut().zip(LES) {
                if observed <= le {
                    *v += 1.0;
                }
            }
            self.sum.1 += observed;
            self.count.1 += 1.0;
        }
        for (_, v) in &mut self.g {
            *v = (*v + rng.unit() * 5.0).clamp(0.0, 100.0);
        }
        let all = self
            .x
            .iter()
            .chain(&self.buckets)
            .chain([&self.sum, &self.count])
            .chain(&self.g);
        out.extend(all.map(|(labels, v)| SeriesSamples {
            labels: labels.clone(),
            samples: vec![Sample { t, v: *v }],
        }));
    }
}

fn generate(cfg: &Config) -> Data {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // The newest sample lands at most a second before `now`.
    let first = now - 2000 - (POINTS - 1) * INTERVAL_MS;
    let payloads = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cfg.senders)
            .map(|s| scope.spawn(move || sender_payloads(cfg, s, first)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("payload generator panicked"))
            .collect()
    });
    Data {
        payloads,
        start_s: first / 1000,
        end_s: now / 1000,
    }
}

/// Sender `sender` owns instances `sender, sender + senders, ...` and sends
/// their samples in timestamp order, one sample per `TimeSeries`.
fn sender_payloads(cfg: &Config, sender: usize, first: i64) -> Vec<Payload> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (sender as u64 + 1));
    let mut instances: Vec<Instance> = (sender..cfg.instances)
        .step_by(cfg.senders)
        .map(|i| Instance::new(i, &mut rng))
        .collect();
    let mut out = Vec::new();
    let mut batch = Vec::with_capacity(SAMPLES_PER_REQUEST + SERIES_PER_INSTANCE);
    for k in 0..POINTS {
        for inst in &mut instances {
            inst.step(first + k * INTERVAL_MS + inst.offset_ms, &mut rng, &mut batch);
            if batch.len() >= SAMPLES_PER_REQUEST {
                out.push(encode(&mut batch));
            }
        }
    }
    if !batch.is_empty() {
        out.push(encode(&mut batch));
    }
    out
}

// ---- measuring ---------------------------------------------------------

/// One query's numbers on one server.
struct Timing {
    median: Duration,
    cpu_per_query: Duration,
    series: usize,
    /// Samples in a range answer (0 for `/api/v1/series`).
    points: usize,
}

struct ServerRun {
    name: &'static str,
    kind: Kind,
    timings: Vec<Result<Timing>>,
    memory: Memory,
}

/// Memory of one server, in bytes.
struct Memory {
    /// `VmRSS` once all data is loaded and visible, before the measured queries.
    rss_loaded: u64,
    /// `VmHWM` at that moment: the peak of ingest.
    peak_loaded: u64,
    /// `VmHWM` after every query.
    peak_end: u64,
}

fn run_one(mut spec: Spec, cfg: &Config, data: &Data) -> Option<ServerRun> {
    println!("\n== {} ({})", spec.name, spec.binary.display());
    if let Err(e) = check_binary(&spec) {
        println!("!!!!! SKIPPED {}: {e}", spec.name);
        return None;
    }
    if spec.kind == Kind::VictoriaMetrics {
        spec.extra_args.push("-search.disableCache".into());
        spec.extra_args.push("-search.latencyOffset=0s".into());
    }
    match measure(&spec, cfg, data) {
        Ok(run) => Some(run),
        Err(e) => {
            println!("!!!!! FAILED {}: {e}", spec.name);
            None
        }
    }
}

fn measure(spec: &Spec, cfg: &Config, data: &Data) -> Result<ServerRun> {
    let client = client()?;
    let server = start(spec, &client)?;
    let started = Instant::now();
    let (accepted, refused) = send_all(&server.base, &data.payloads)?;
    let sent = started.elapsed();
    wait_visible(spec, &server, &client, cfg.series(), data.end_s)?;
    println!(
        "loaded: accepted {accepted} samples, refused {refused}, sent in {sent:.1?}, all {} series visible after {:.1?}",
        cfg.series(),
        started.elapsed()
    );
    let pid = server.pid();
    let (rss_loaded, peak_loaded) = (rss(pid)?, peak_rss(pid)?);
    println!(
        "memory after loading: RSS {:.0} MiB, peak {:.0} MiB",
        mib(rss_loaded),
        mib(peak_loaded)
    );
    let mut timings = Vec::new();
    for ask in &QUERIES {
        let timing = time_query(&client, &server, ask, cfg.runs, data);
        match &timing {
            Ok(t) => println!(
                "  {:<62} median {:>9.2} ms, cpu {:>9.2} ms/query, {} series, peak {:.0} MiB so far",
                ask.label(),
                ms(t.median),
                ms(t.cpu_per_query),
                t.series,
                mib(peak_rss(pid)?)
            ),
            Err(e) => println!("  {:<62} FAILED: {e}", ask.label()),
        }
        timings.push(timing);
    }
    Ok(ServerRun {
        name: spec.name,
        kind: spec.kind,
        timings,
        memory: Memory {
            rss_loaded,
            peak_loaded,
            peak_end: peak_rss(pid)?,
        },
    })
}

/// Polls until the server counts `want` series at `end_s`.
fn wait_visible(spec: &Spec, server: &Server, client: &Client, want: usize, end_s: i64) -> Result<()> {
    let deadline = Instant::now() + VISIBLE_TIMEOUT;
    let query = "count(last_over_time({job=\"app\"}[30m]))";
    loop {
        if spec.kind == Kind::VictoriaMetrics {
            get_ok(client, &format!("{}/internal/force_flush", server.base))?;
        }
        let resp = client
            .get(format!("{}/api/v1/query", server.base))
            .query(&[("query", query.to_string()), ("time", end_s.to_string())])
            .send();
        let last = match common::check(resp, query) {
            Ok(body) => {
                let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let count = json["data"]["result"][0]["value"][1].as_str().unwrap_or("0");
                if count.parse::<usize>().ok() == Some(want) {
                    return Ok(());
                }
                format!("count {count}")
            }
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(format!(
                "not all {want} series visible after {VISIBLE_TIMEOUT:?} (last: {last})\n{}",
                server.log_tail()
            ));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// One warm-up run, then `runs` timed ones.
fn time_query(client: &Client, server: &Server, ask: &Ask, runs: usize, data: &Data) -> Result<Timing> {
    let (_, series, points) = ask_once(client, server, ask, data)?;
    let cpu0 = cpu_time(server.pid())?;
    let mut walls = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (wall, n, _) = ask_once(client, server, ask, data)?;
        if n != series {
            return Err(format!("{n} series after {series} in the warm-up"));
        }
        walls.push(wall);
    }
    let cpu = cpu_time(server.pid())? - cpu0;
    walls.sort_unstable();
    let median = if runs % 2 == 1 {
        walls[runs / 2]
    } else {
        (walls[runs / 2 - 1] + walls[runs / 2]) / 2
    };
    Ok(Timing {
        median,
        cpu_per_query: cpu / runs as u32,
        series,
        points,
    })
}

/// Sends `ask` once; returns the wall time until the body was read, and the
/// numbers of series and of points in the answer.
fn ask_once(client: &Client, server: &Server, ask: &Ask, data: &Data) -> Result<(Duration, usize, usize)> {
    let (start, end) = (data.start_s.to_string(), data.end_s.to_string());
    let request = match ask {
        Ask::Range(q) => client.get(format!("{}/api/v1/query_range", server.base)).query(&[
            ("query", *q),
            ("start", &start),
            ("end", &end),
            ("step", &STEP_S.to_string()),
        ]),
        Ask::Series(m) => client.get(format!("{}/api/v1/series", server.base)).query(&[
            ("match[]", *m),
            ("start", &start),
            ("end", &end),
        ]),
    };
    let started = Instant::now();
    let resp = request.send().map_err(|e| format!("{}: {e}", ask.label()))?;
    let status = resp.status();
    let body = resp.bytes().map_err(|e| format!("{}: {e}", ask.label()))?;
    let wall = started.elapsed();
    if !status.is_success() {
        return Err(format!("{status} {}", String::from_utf8_lossy(&body).trim()));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("answer is not JSON: {e}"))?;
    let series = match ask {
        Ask::Range(_) => json["data"]["result"].as_array(),
        Ask::Series(_) => json["data"].as_array(),
    };
    let series = series.ok_or_else(|| format!("unexpected answer {}", String::from_utf8_lossy(&body)))?;
    let points = series
        .iter()
        .map(|s| s["values"].as_array().map_or(0, Vec::len))
        .sum();
    Ok((wall, series.len(), points))
}

// ---- report ------------------------------------------------------------

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn print_table(runs: &[ServerRun]) {
    if runs.is_empty() {
        println!("\nno server measured");
        return;
    }
    println!(
        "\nmedian wall ms and server CPU ms per query; ratio = sightline / the faster (lower) of the others"
    );
    println!(
        "{:<17} {:>12} {:>14} {:>8} {:>8}",
        "server", "median ms", "cpu ms/query", "series", "points"
    );
    for (q, ask) in QUERIES.iter().enumerate() {
        println!("\n{}", ask.label());
        for run in runs {
            match &run.timings[q] {
                Ok(t) => println!(
                    "{:<17} {:>12.2} {:>14.2} {:>8} {:>8}",
                    run.name,
                    ms(t.median),
                    ms(t.cpu_per_query),
                    t.series,
                    t.points
                ),
                Err(e) => println!("{:<17} FAILED: {e}", run.name),
            }
        }
        print_ratio(runs, q);
        let counts: Vec<usize> = runs
            .iter()
            .filter_map(|r| r.timings[q].as_ref().ok().map(|t| t.series))
            .collect();
        if counts.windows(2).any(|w| w[0] != w[1]) {
            let each: Vec<String> = runs
                .iter()
                .filter_map(|r| {
                    r.timings[q]
                        .as_ref()
                        .ok()
                        .map(|t| format!("{} {}", r.name, t.series))
                })
                .collect();
            println!(
                "WARNING: servers disagree on the number of result series: {}",
                each.join(", ")
            );
        }
    }
    print_memory(runs);
}

fn print_memory(runs: &[ServerRun]) {
    println!("\nmemory MiB: RSS and peak (VmHWM) after loading, peak at the end");
    println!(
        "{:<17} {:>12} {:>13} {:>10}",
        "server", "loaded RSS", "loaded peak", "end peak"
    );
    for run in runs {
        let m = &run.memory;
        println!(
            "{:<17} {:>12.0} {:>13.0} {:>10.0}",
            run.name,
            mib(m.rss_loaded),
            mib(m.peak_loaded),
            mib(m.peak_end)
        );
    }
}

fn print_ratio(runs: &[ServerRun], q: usize) {
    let ok = |r: &ServerRun| {
        r.timings[q]
            .as_ref()
            .ok()
            .map(|t| (r.name, t.median, t.cpu_per_query))
    };
    let Some((_, wall, cpu)) = runs.iter().find(|r| r.kind == Kind::Sightline).and_then(ok) else {
        return;
    };
    let others: Vec<_> = runs
        .iter()
        .filter(|r| r.kind != Kind::Sightline)
        .filter_map(ok)
        .collect();
    let Some(fastest) = others.iter().min_by_key(|o| o.1) else {
        return;
    };
    let Some(thriftiest) = others.iter().min_by_key(|o| o.2) else {
        return;
    };
    let ratio = |a: Duration, b: Duration| {
        if b.is_zero() {
            "n/a (0 ms)".to_string()
        } else {
            format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64())
        }
    };
    println!(
        "{:<17} latency {} vs {}, cpu {} vs {}",
        "sightline ratio",
        ratio(wall, fastest.1),
        fastest.0,
        ratio(cpu, thriftiest.2),
        thriftiest.0
    );
}
