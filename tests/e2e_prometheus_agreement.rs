//! End-to-end agreement with the real Prometheus: Debian's `prometheus` 2.42
//! and Sightline receive the identical remote-write payloads, then answer the
//! same instant and range queries, and every answer must agree.
//!
//! The test never skips: without `/usr/bin/prometheus` (which
//! `tests/run-all.sh` installs) it fails.
//!
//! Sample timestamps sit 3.5 s off the minute grid and every query time is
//! 1.234 s after a sample, so neither a lookback window, a range selector nor
//! a subquery step (aligned to multiples of its step since the epoch) ever
//! has its left edge on a sample timestamp: Prometheus 2.x includes such a
//! sample and 3.x does not, and Sightline follows 3.x.
//!
//! Other 2.x/3.x differences are kept out of the queries, each noted where it
//! applies: `atan2` keeps `__name__` in 2.42 (dropped since 2.46), `stddev`
//! of a lone ±Inf is 0 in 2.x and NaN in 3.0, label names such as
//! `bad-label` are refused by 2.x and valid UTF-8 names in 3.0. Queries whose
//! answer Prometheus leaves to chance (which of several equal NaNs `topk`
//! keeps) are left out too.
//!
//! `cargo test --test e2e_prometheus_agreement -- --nocapture` shows the
//! summary line and the queries that must be empty or fail on both sides.

mod common;

use common::{client, free_port, write_config, Server};
use serde_json::Value;
use sightline::ingest::remote_write::encode_write_request;
use sightline::storage::{stale_nan, Labels, Sample, SeriesSamples};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const STEP: i64 = 15_000;
const POINTS: usize = 480; // 2 h at 15 s
const MIN: i64 = 60_000;

/// The reference Prometheus, killed on drop.
struct Prometheus {
    child: Child,
    base: String,
}

impl Prometheus {
    fn start(dir: &Path) -> Prometheus {
        assert!(
            Path::new(PROMETHEUS).exists(),
            "{PROMETHEUS} is missing: install Debian's `prometheus` package (tests/run-all.sh does); \
             this agreement test refuses to skip"
        );
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            "global:\n  scrape_interval: 1h\n  evaluation_interval: 1m\n",
        )
        .unwrap();
        let port = free_port();
        let storage: PathBuf = dir.join("prometheus-data");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", storage.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PROMETHEUS}: {e}"));
        let mut prom = Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client().get(format!("{}/-/ready", prom.base)).send() {
                if r.status().is_success() {
                    return prom;
                }
            }
            if let Ok(Some(status)) = prom.child.try_wait() {
                panic!("prometheus exited before it was ready: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not become ready at {}",
                prom.base
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic xorshift so both servers (and every run) see the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One series: its labels and a value (or nothing: a gap) per 15 s slot.
struct Series {
    labels: Labels,
    values: Vec<Option<f64>>,
    /// Milliseconds each sample lies off its 15 s slot, as scrapes jitter.
    jitter: Vec<i64>,
}

fn series(pairs: &[(&str, &str)], values: Vec<Option<f64>>) -> Series {
    assert_eq!(values.len(), POINTS);
    Series {
        labels: Labels::from_pairs(pairs.iter().copied()),
        values,
        jitter: vec![0; POINTS],
    }
}

const INSTANCES: [&str; 2] = ["10.0.0.1:8080", "10.0.0.2:8080"];
const HOSTS: [&str; 4] = ["host-1:9100", "host-2:9100", "host-3:9100", "host-4:9100"];

fn dataset() -> Vec<Series> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();

    // Counters with resets and gaps: 2 jobs x 2 instances x 2 methods x 2 codes.
    let mut n = 0;
    for job in ["api", "web"] {
        for instance in INSTANCES {
            for method in ["GET", "POST"] {
                for code in ["200", "500"] {
                    let per_sec = if code == "200" { 8.0 } else { 0.4 } * (1.0 + n as f64 / 4.0);
                    let mut v = (rng.next() * 1000.0).floor();
                    let values = (0..POINTS)
                        .map(|i| {
                            let inc = (per_sec * 15.0 * (0.5 + rng.next())).floor();
                            let reset = matches!((n, i), (3, 200) | (10, 333) | (5, 150) | (5, 400));
                            v = if reset { inc } else { v + inc };
                            let gap =
                                (n == 7 && (100..131).contains(&i)) || (n == 12 && (250..260).contains(&i));
                            (!gap).then_some(v)
                        })
                        .collect();
                    out.push(series(
                        &[
                            ("__name__", "http_requests_total"),
                            ("job", job),
                            ("instance", instance),
                            ("method", method),
                            ("code", code),
                        ],
                        values,
                    ));
                    n += 1;
                }
            }
        }
    }

    // Gauges, some well below zero.
    for (k, (host, room)) in HOSTS
        .iter()
        .zip(["kitchen", "cellar", "attic", "garage"])
        .enumerate()
    {
        let offset = [21.0, -8.0, 12.5, 3.0][k];
        let values = (0..POINTS)
            .map(|i| {
                let wave = (i as f64 / 20.0 + k as f64).sin() * 6.0;
                Some(offset + wave + (rng.next() - 0.5) * 2.0)
            })
            .collect();
        out.push(series(
            &[
                ("__name__", "temperature_celsius"),
                ("job", "sensors"),
                ("instance", host),
                ("room", room),
            ],
            values,
        ));
    }
    for host in &HOSTS[..2] {
        let mut v = 1.5e9;
        let values = (0..POINTS)
            .map(|_| {
                v += (rng.next() - 0.45) * 4e6;
                Some(v.round())
            })
            .collect();
        out.push(series(
            &[
                ("__name__", "memory_usage_bytes"),
                ("job", "node"),
                ("instance", host),
            ],
            values,
        ));
    }

    // up and an info-style metric for group_left(version).
    for job in ["api", "web"] {
        for (k, instance) in INSTANCES.iter().enumerate() {
            let down = job == "api" && k == 1;
            let values = (0..POINTS)
                .map(|i| Some(if down && (200..260).contains(&i) { 0.0 } else { 1.0 }))
                .collect();
            out.push(series(
                &[("__name__", "up"), ("job", job), ("instance", instance)],
                values,
            ));
            let version = if k == 0 { "1.4.2" } else { "1.5.0" };
            out.push(series(
                &[
                    ("__name__", "build_info"),
                    ("job", job),
                    ("instance", instance),
                    ("version", version),
                ],
                vec![Some(1.0); POINTS],
            ));
        }
    }

    // A classic histogram per instance.
    let bounds = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
    let les = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
    for (k, instance) in INSTANCES.iter().enumerate() {
        let scale = [0.2, 0.45][k];
        let mut buckets = [0.0; 7];
        let mut sum = 0.0;
        let mut count = 0.0;
        let mut rows: Vec<Vec<Option<f64>>> = vec![Vec::new(); 9];
        for _ in 0..POINTS {
            let observations = 5 + (rng.next() * 20.0) as usize;
            for _ in 0..observations {
                let x = -(1.0 - rng.next()).ln() * scale;
                for (b, bound) in bounds.iter().enumerate() {
                    if x <= *bound {
                        buckets[b] += 1.0;
                    }
                }
                buckets[6] += 1.0;
                sum += x;
                count += 1.0;
            }
            for (b, v) in buckets.iter().enumerate() {
                rows[b].push(Some(*v));
            }
            rows[7].push(Some(sum));
            rows[8].push(Some(count));
        }
        let mut rows = rows.into_iter();
        for le in les {
            out.push(series(
                &[
                    ("__name__", "request_duration_seconds_bucket"),
                    ("job", "api"),
                    ("instance", instance),
                    ("le", le),
                ],
                rows.next().unwrap(),
            ));
        }
        for name in ["request_duration_seconds_sum", "request_duration_seconds_count"] {
            out.push(series(
                &[("__name__", name), ("job", "api"), ("instance", instance)],
                rows.next().unwrap(),
            ));
        }
    }

    // Stops mid-way without a staleness marker: only the lookback ends it.
    let values = (0..POINTS)
        .map(|i| (i < 300).then_some((i / 40 * 40) as f64 * 15.0 + 1.7e9))
        .collect();
    out.push(series(
        &[
            ("__name__", "batch_last_success_timestamp_seconds"),
            ("job", "batch"),
        ],
        values,
    ));

    // Ends with an explicit staleness marker at slot 200, comes back at 280.
    let values = (0..POINTS)
        .map(|i| match i {
            200 => Some(stale_nan()),
            201..280 => None,
            _ => Some(((i * 7) % 11) as f64),
        })
        .collect();
    out.push(series(
        &[
            ("__name__", "queue_depth"),
            ("job", "worker"),
            ("queue", "emails"),
        ],
        values,
    ));

    // Jittered scrapes: whole seconds plus 617 ms off the slot, so never on
    // a query time (slot + 1.234 s) nor on a whole second (subquery steps).
    for (k, instance) in ["j1", "j2"].iter().enumerate() {
        let jitter: Vec<i64> = (0..POINTS)
            .map(|_| (rng.next() * 6.0).floor() as i64 * 1000 - 3000 + 617)
            .collect();
        let mut v = 1e6 * (k as f64 + 1.0);
        let values = (0..POINTS)
            .map(|i| {
                v = if i == 240 + k * 50 {
                    0.37
                } else {
                    v + rng.next() * 42.7
                };
                (i % 97 != 13).then_some(v)
            })
            .collect();
        let mut s = series(
            &[
                ("__name__", "jitter_total"),
                ("job", "jitter"),
                ("instance", instance),
            ],
            values,
        );
        s.jitter.clone_from(&jitter);
        out.push(s);
        let values = (0..POINTS)
            .map(|i| Some((i as f64 / 33.0).cos() * 1e-3 + rng.next() * 1e-4))
            .collect();
        let mut s = series(
            &[
                ("__name__", "jitter_gauge"),
                ("job", "jitter"),
                ("instance", instance),
            ],
            values,
        );
        s.jitter = jitter;
        out.push(s);
    }

    // NaN and infinite sample values, and a series with a single sample.
    let values = (0..POINTS)
        .map(|i| {
            Some(match i % 7 {
                0 => f64::NAN,
                3 if i % 2 == 0 => f64::INFINITY,
                5 if i % 3 == 0 => f64::NEG_INFINITY,
                _ => (i % 11) as f64 - 4.0,
            })
        })
        .collect();
    out.push(series(&[("__name__", "odd_gauge"), ("job", "odd")], values));
    let values = (0..POINTS).map(|i| (i == 300).then_some(42.0)).collect();
    out.push(series(&[("__name__", "lonely"), ("job", "odd")], values));

    // Label values that need escaping or are not ASCII.
    for (k, path) in [r#"/a"b\c"#, "/日本/ü", "/with space/{x}", "/x,y=z"]
        .iter()
        .enumerate()
    {
        let values = (0..POINTS).map(|i| Some((i + k * 7) as f64)).collect();
        out.push(series(
            &[("__name__", "weird_paths"), ("job", "odd"), ("path", path)],
            values,
        ));
    }
    out
}

/// Sends the data set to `url` in global time order, one request per slot.
fn remote_write(url: &str, data: &[Series], base: i64) {
    let http = client();
    for i in 0..POINTS {
        let slot = base + i as i64 * STEP;
        let batch: Vec<SeriesSamples> = data
            .iter()
            .filter_map(|s| {
                s.values[i].map(|v| SeriesSamples {
                    labels: s.labels.clone(),
                    samples: vec![Sample {
                        t: slot + s.jitter[i],
                        v,
                    }],
                })
            })
            .collect();
        let r = http
            .post(url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(encode_write_request(&batch))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        assert!(
            (200..300).contains(&status),
            "{url}: {status} {}",
            r.text().unwrap_or_default()
        );
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Instant(i64),
    /// An instant query whose time is given in RFC 3339 rather than seconds.
    InstantRfc3339(i64),
    Range {
        start: i64,
        end: i64,
        step: &'static str,
    },
}

struct Query {
    expr: String,
    kind: Kind,
    /// The result order is defined (sort, sort_desc): compare values in order.
    ordered: bool,
}

fn secs(t: i64) -> String {
    format!("{}.{:03}", t.div_euclid(1000), t.rem_euclid(1000))
}

fn queries(base: i64) -> Vec<Query> {
    // Query times: 1.234 s after a sample (samples are every 15 s from base).
    let t1 = base + 100 * MIN + 1234;
    let t_gap = base + 110 * 15_000 + 1234; // inside the 7.75 min gap of one counter
    let t_stale = base + 230 * 15_000 + 1234; // queue_depth stale, up{api,2} down
    let t_at = base + 61 * MIN + 7777;
    let at = secs(t_at);
    let range = Kind::Range {
        start: base + 20 * MIN + 1234,
        end: base + 118 * MIN + 1234,
        step: "60",
    };
    let fine = Kind::Range {
        start: base + 40 * MIN + 1234,
        end: base + 90 * MIN + 1234,
        step: "37",
    };
    let i1 = Kind::Instant(t1);

    let mut qs = Vec::new();
    let mut add = |expr: &str, kinds: &[Kind]| {
        for kind in kinds {
            qs.push(Query {
                expr: expr.to_string(),
                kind: *kind,
                ordered: false,
            });
        }
    };
    let both = [i1, range];

    // Selectors: every matcher type, offset, @.
    add(r#"http_requests_total{job="api"}"#, &both);
    add(r#"http_requests_total{job!="api",code="200"}"#, &[i1]);
    add(
        r#"http_requests_total{instance=~"10\\.0\\.0\\.1:.*",method!~"GET|PUT"}"#,
        &both,
    );
    add(r#"{__name__=~"temperature_celsius|up",job!~"web|api"}"#, &[i1]);
    add(r#"{__name__=~"temp.*"}"#, &[i1]);
    add("temperature_celsius offset 7m", &both);
    add(&format!("temperature_celsius @ {at}"), &both);
    add(
        r#"http_requests_total{code="500"}[5m]"#,
        &[i1, Kind::Instant(t_gap)],
    );
    add("queue_depth", &[range, Kind::Instant(t_stale)]);
    add("batch_last_success_timestamp_seconds", &[range]);
    add("http_requests_total", &[Kind::Instant(t_gap), fine]);

    // Counter and gauge functions over range vectors.
    add(
        "rate(http_requests_total[5m])",
        &[i1, range, Kind::Instant(t_gap)],
    );
    add("irate(http_requests_total[2m])", &both);
    add(r#"increase(http_requests_total{job="web"}[10m])"#, &both);
    add("delta(temperature_celsius[10m])", &both);
    add("idelta(temperature_celsius[3m])", &[i1]);
    add("deriv(memory_usage_bytes[10m])", &both);
    add("predict_linear(temperature_celsius[15m], 3600)", &both);
    add("resets(http_requests_total[1h])", &both);
    add("changes(up[1h])", &both);
    add("changes(queue_depth[30m])", &[fine]);
    add("rate(http_requests_total[5m] offset 30m)", &[i1]);
    add(&format!("rate(http_requests_total[5m] @ {at})"), &[i1, fine]);
    add("increase(http_requests_total[5m] @ end())", &[range]);

    // *_over_time.
    add("avg_over_time(temperature_celsius[10m])", &both);
    add("sum_over_time(queue_depth[10m])", &[range]);
    add("min_over_time(temperature_celsius[20m])", &[i1]);
    add("max_over_time(temperature_celsius[20m])", &[i1, fine]);
    add("count_over_time(http_requests_total[10m])", &[range]);
    add("stddev_over_time(memory_usage_bytes[10m])", &[i1]);
    add("stdvar_over_time(temperature_celsius[10m])", &[i1]);
    add("quantile_over_time(0.9, temperature_celsius[30m])", &both);
    add("quantile_over_time(0.25, queue_depth[30m])", &[fine]);
    add(
        "last_over_time(batch_last_success_timestamp_seconds[1h])",
        &[range],
    );
    add("present_over_time(queue_depth[5m])", &[range]);
    add("absent_over_time(queue_depth[5m])", &[range]);
    add("absent_over_time(nonexistent_metric[5m])", &[i1]);

    // Classic histograms.
    add(
        "histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
        &both,
    );
    add(
        "histogram_quantile(0.5, sum by (le, instance) (rate(request_duration_seconds_bucket[5m])))",
        &[i1],
    );
    add(
        "histogram_quantile(0.99, rate(request_duration_seconds_bucket[10m]))",
        &[i1],
    );
    add(
        "rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])",
        &both,
    );
    add("sum without (le) (request_duration_seconds_bucket)", &[i1]);

    // Aggregations.
    add("sum by (job) (rate(http_requests_total[5m]))", &both);
    add(
        "avg without (instance, method) (rate(http_requests_total[5m]))",
        &[i1],
    );
    add("min by (code) (http_requests_total)", &[i1]);
    add("max by (method) (http_requests_total)", &[i1]);
    add("count by (job) (up)", &both);
    add("group by (job, code) (http_requests_total)", &[i1]);
    add("stddev(temperature_celsius)", &[i1]);
    add("stdvar by (job) (temperature_celsius)", &[fine]);
    add("stddev without (room, instance) (temperature_celsius)", &[i1]);
    add("topk(3, rate(http_requests_total[5m]))", &both);
    add("topk by (job) (1, http_requests_total)", &[i1]);
    add("bottomk(2, temperature_celsius)", &both);
    add("quantile(0.75, temperature_celsius)", &[i1]);
    add("quantile by (job) (0.5, rate(http_requests_total[5m]))", &[i1]);
    add(r#"count_values("value", up)"#, &both);
    add(r#"count_values("t", round(temperature_celsius))"#, &[i1]);

    // Binary operators and vector matching.
    add(
        r#"rate(http_requests_total{code="500"}[5m]) / ignoring (code) rate(http_requests_total{code="200"}[5m])"#,
        &both,
    );
    add(
        "rate(http_requests_total[5m]) * on (job, instance) group_left up",
        &[i1],
    );
    add("up + on (job, instance) group_right http_requests_total", &[i1]);
    add(
        "sum by (job, instance) (rate(http_requests_total[5m])) * on (job, instance) group_left (version) build_info",
        &both,
    );
    add("temperature_celsius > 10", &both);
    add("http_requests_total > bool 20000", &[i1]);
    add("up == 0", &[range]);
    add("up == bool 1", &[fine]);
    add("2 * temperature_celsius - 3", &[i1]);
    add("temperature_celsius % 7", &[i1]);
    add("temperature_celsius ^ 2", &[i1]);
    add("-temperature_celsius", &[i1]);
    add("1 / (temperature_celsius - temperature_celsius)", &[i1]);
    add("0 / (temperature_celsius - temperature_celsius)", &[i1]);
    // `atan2` kept the metric name in 2.42; Prometheus 2.46 (#12595) drops
    // it as for every other arithmetic operator, so compare without names.
    add("sum by (room) (temperature_celsius atan2 10)", &[i1]);
    add(
        "memory_usage_bytes / on (instance) group_left temperature_celsius",
        &[i1],
    );
    add("http_requests_total - http_requests_total offset 1h", &[i1]);

    // Set operators.
    add(
        r#"http_requests_total{code="200"} and on (job, instance) (up == 1)"#,
        &[range],
    );
    add("up or vector(0)", &both);
    add("temperature_celsius > 20 or temperature_celsius < 0", &[fine]);
    add(
        "http_requests_total unless on (job, instance) (up == 0)",
        &[Kind::Instant(t_stale), range],
    );

    // Math.
    add("abs(temperature_celsius)", &[i1]);
    add("ceil(temperature_celsius)", &[i1]);
    add("floor(temperature_celsius)", &[i1]);
    add("exp(temperature_celsius / 10)", &[i1]);
    add("exp(memory_usage_bytes)", &[i1]);
    add("ln(temperature_celsius)", &[i1]);
    add("log2(memory_usage_bytes)", &[i1]);
    add("log10(memory_usage_bytes)", &[i1]);
    add("sqrt(temperature_celsius)", &[i1]);
    add("sgn(temperature_celsius)", &[i1]);
    add("round(temperature_celsius, 0.5)", &[i1]);
    add("round(rate(http_requests_total[5m]), 0.01)", &[i1]);
    add("clamp(temperature_celsius, -2, 5)", &both);
    add("clamp_min(temperature_celsius, 0)", &[i1]);
    add("clamp_max(temperature_celsius, 0)", &[i1]);
    add("sin(temperature_celsius) + cos(temperature_celsius)", &[i1]);
    add("deg(rad(temperature_celsius))", &[i1]);

    // Labels.
    add(
        r#"label_replace(up, "host", "$1", "instance", "([^:]+):.*")"#,
        &[i1],
    );
    add(r#"label_join(up, "id", "/", "job", "instance")"#, &[i1]);
    add(
        r#"sum by (class) (label_replace(rate(http_requests_total[5m]), "class", "${1}xx", "code", "(.).*"))"#,
        &both,
    );

    // absent.
    add(r#"absent(nonexistent_metric{job="x"})"#, &both);
    add("absent(up)", &[i1]);

    // Subqueries.
    add("max_over_time(rate(http_requests_total[5m])[30m:1m])", &both);
    add("avg_over_time(sum(temperature_celsius)[10m:30s])", &[i1]);
    add("rate(http_requests_total[5m:1m])", &[i1]);
    add(
        "min_over_time(deriv(memory_usage_bytes[5m])[20m:2m] offset 10m)",
        &[i1],
    );

    // scalar and vector.
    add("scalar(sum(up))", &both);
    add("vector(scalar(count(up)))", &[i1]);
    add("up * scalar(count(temperature_celsius))", &[i1]);
    add(r#"scalar(up{instance="nowhere"})"#, &[i1]);

    // Time functions.
    add("time()", &both);
    add("timestamp(temperature_celsius)", &both);
    add("time() - batch_last_success_timestamp_seconds", &[range]);
    add("hour()", &[range]);
    add("minute(timestamp(up))", &[i1]);
    add("day_of_week()", &[i1]);
    add("day_of_month(timestamp(up))", &[i1]);
    add("days_in_month()", &[i1]);
    add("month()", &[i1]);
    add("year(vector(1700000000))", &[i1]);

    // Edge cases: NaN, ±Inf, empty results, odd parameters.
    add(
        "round(vector(-2.5)) + round(vector(2.5)) * 10 + round(vector(-0.5)) * 100",
        &[i1],
    );
    add("round(temperature_celsius * 0 - 1.5, 1)", &[i1]);
    add("vector(-7) % 3", &[i1]);
    add("temperature_celsius % 0", &[i1]);
    add("(-8) ^ (1 / 3)", &[i1]);
    add("vector(1) / 0 - vector(1) / 0", &[i1]);
    add("sqrt(vector(-1)) + ln(vector(0)) + log2(vector(0))", &[i1]);
    add("sgn(temperature_celsius * 0)", &[i1]);
    add("avg(exp(memory_usage_bytes))", &[i1]);
    add("avg(exp(temperature_celsius * 100))", &[i1]);
    add(
        "sum(exp(memory_usage_bytes)) - sum(exp(memory_usage_bytes))",
        &[i1],
    );
    add("avg_over_time(exp(temperature_celsius * 100)[10m:1m])", &[i1]);
    add("max(ln(temperature_celsius))", &[i1]);
    add("min(ln(temperature_celsius))", &[i1]);
    add("min_over_time(ln(temperature_celsius)[10m:1m])", &[fine]);
    add("stddev(ln(temperature_celsius))", &[i1]);
    // Which of several NaNs topk/bottomk keep is undefined (Prometheus's
    // input order comes from a map), so keep at most one NaN candidate: the
    // cellar is always below zero, kitchen and attic always above.
    add(
        r#"topk(1, ln(temperature_celsius{room=~"kitchen|cellar"}))"#,
        &[i1, fine],
    );
    add(
        r#"bottomk(1, ln(temperature_celsius{room=~"kitchen|cellar"}))"#,
        &[i1, fine],
    );
    add(r#"topk(2, ln(temperature_celsius{room!="garage"}))"#, &[i1, fine]);
    add(
        r#"bottomk(3, ln(temperature_celsius{room!="garage"}))"#,
        &[i1, fine],
    );
    add("topk(0, temperature_celsius)", &[i1]);
    add("topk(2.7, temperature_celsius)", &[i1]);
    add(
        "topk(scalar(count(up)) / 2, rate(http_requests_total[5m]))",
        &[fine],
    );
    add(r#"count_values("v", ln(temperature_celsius))"#, &[i1]);
    add(
        r#"count_values("v", exp(memory_usage_bytes) * 0 - exp(memory_usage_bytes))"#,
        &[i1],
    );
    add(r#"count_values("v", temperature_celsius / 7)"#, &[i1]);
    add(r#"count_values("v", memory_usage_bytes * 1e20)"#, &[i1]);
    add("quantile(1.5, temperature_celsius)", &[i1]);
    add("quantile(-0.5, temperature_celsius)", &[i1]);
    add(
        r#"quantile(scalar(up{instance="nowhere"}), temperature_celsius)"#,
        &[i1],
    );
    add("quantile(0.3, ln(temperature_celsius))", &[i1]);
    add("quantile_over_time(2, temperature_celsius[10m])", &[i1]);
    add("quantile_over_time(0.5, ln(temperature_celsius)[10m:1m])", &[i1]);
    add(
        "histogram_quantile(0, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
        &[i1],
    );
    add(
        "histogram_quantile(1, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
        &[i1],
    );
    add(
        "histogram_quantile(1.5, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
        &[i1],
    );
    add(
        "histogram_quantile(-1, rate(request_duration_seconds_bucket[5m]))",
        &[i1],
    );
    add(
        "histogram_quantile(0.3, -rate(request_duration_seconds_bucket[5m]))",
        &[i1],
    );
    add(
        r#"histogram_quantile(0.7, rate(request_duration_seconds_bucket{le!="0.5"}[5m]) or label_replace(rate(request_duration_seconds_bucket{le="2.5"}[5m]), "le", "0.5", "le", "2.5"))"#,
        &[i1],
    );
    add(
        r#"histogram_quantile(0.5, request_duration_seconds_bucket{le="+Inf"})"#,
        &[i1],
    );
    add(
        r#"histogram_quantile(0.5, request_duration_seconds_bucket{le=~"0.05|0.1"})"#,
        &[i1],
    );
    add(
        r#"histogram_quantile(0.5, request_duration_seconds_bucket{le!="0.25"})"#,
        &[i1],
    );
    add(
        "histogram_quantile(0.95, sum by (le) (increase(request_duration_seconds_bucket[1m])))",
        &[fine],
    );
    add("clamp(temperature_celsius, 5, -2)", &[i1]);
    add(r#"label_replace(up, "instance", "", "instance", ".*")"#, &[i1]);
    add(r#"label_replace(up, "x", "$2", "instance", "(.*)")"#, &[i1]);
    add(
        r#"label_replace(up, "job", "j-$1", "nonexistent", "(.*)")"#,
        &[i1],
    );
    add(
        r#"label_replace(up, "job", "$1", "instance", "nomatch(.*)")"#,
        &[i1],
    );
    add(
        r#"label_join(up, "job", "", "instance", "nonexistent", "job")"#,
        &[i1],
    );
    add(
        r#"absent(nonexistent{job="x", instance=~"y", code="1", code="2"})"#,
        &[i1],
    );
    add("absent(sum(nonexistent))", &[i1]);
    add(r#"absent_over_time(nonexistent{job="x"}[5m])"#, &[fine]);
    add("scalar(up)", &[i1]);
    add("timestamp(rate(http_requests_total[5m]))", &[i1]);
    add(&format!("timestamp(up @ {at})"), &[i1]);
    add("up @ start()", &[range]);
    add(
        "temperature_celsius offset -5m",
        &[Kind::Instant(base + 60 * MIN + 1234)],
    );
    add(
        &format!("max_over_time(temperature_celsius[10m:1m] @ {at} offset 5m)"),
        &[i1, fine],
    );
    add("10 < temperature_celsius", &[i1]);
    add("10 < bool temperature_celsius", &[i1]);
    add("1 > bool 2", &[i1]);
    add("temperature_celsius == bool on () group_left vector(3)", &[i1]);
    add("up and on () vector(1)", &[i1]);
    add("http_requests_total and ignoring (code, method) up", &[i1]);
    add(
        "http_requests_total unless ignoring (code, method, instance) (up == 0)",
        &[fine],
    );
    add(
        "rate(http_requests_total[5m]) * on (job, instance) group_left (code) up",
        &[i1],
    );
    add(
        "build_info * on (job) group_left (instance) (sum by (job) (up) + 0)",
        &[i1],
    );
    add("http_requests_total * on (job, instance) up", &[i1]);
    add("max(sum by (job) (rate(http_requests_total[5m])))", &[range]);
    add(r#"count by (__name__) ({__name__=~".+"})"#, &[i1, range]);
    add("deriv(http_requests_total[20s])", &[i1]);
    add("rate(http_requests_total[20s])", &[i1]);
    add("irate(http_requests_total[1m])", &[Kind::Instant(t_gap)]);
    add("predict_linear(http_requests_total[30m], 600)", &[i1]);
    add("last_over_time(queue_depth[10m])", &[range]);
    add("count_over_time(queue_depth[30m])", &[range]);
    add("timestamp(queue_depth)", &[range]);
    add("resets(temperature_celsius[30m])", &[i1]);
    add("changes(ln(temperature_celsius)[30m:1m])", &[i1]);
    add("time() % 3600 + vector(time())", &[fine]);
    add(
        "days_in_month(vector(1709251200)) + month(vector(1709251200))",
        &[i1],
    );
    add("day_of_week(vector(-86400)) + hour(vector(-1))", &[i1]);
    add("minute(vector(1700000000.999))", &[i1]);

    // Around the start of the data: extrapolation limits, empty steps.
    let early = Kind::Range {
        start: base - 10 * MIN + 1234,
        end: base + 30 * MIN + 1234,
        step: "60",
    };
    let i_early = Kind::Instant(base + 4 * MIN + 1234);
    add("rate(http_requests_total[1h])", &[early, i_early]);
    add("increase(http_requests_total[10m])", &[early]);
    add("delta(temperature_celsius[1h])", &[i_early]);
    add("deriv(temperature_celsius[10m])", &[early]);
    add("irate(http_requests_total[10m])", &[early]);
    add("http_requests_total", &[early]);
    add("absent(queue_depth)", &[range, early]);
    add("sum_over_time(up[1h:7m])", &[early, i1]);
    add("rate(http_requests_total[5m:30s])", &[fine]);
    // The inner range is not a multiple of the outer step: the outer steps
    // are multiples of 5m, and with [10m:1m] the inner window's left edge
    // would be an inner step, which 2.x includes and 3.x leaves out.
    add(
        "max_over_time(max_over_time(rate(http_requests_total[5m])[10m30s:1m])[30m:5m])",
        &[i1, fine],
    );
    add("avg_over_time(temperature_celsius[10m:7s])", &[i1]);
    add("stdvar_over_time(temperature_celsius[20s])", &[i1]);
    add("quantile_over_time(0, temperature_celsius[30m])", &[i1]);
    add("quantile_over_time(1, temperature_celsius[30m])", &[i1]);
    add("idelta(http_requests_total[5m])", &[range]);
    add("irate(http_requests_total[20s])", &[i1]);
    add("changes(http_requests_total[1h])", &[i1, range]);
    add("timestamp(temperature_celsius offset 5m)", &[i1]);
    add("last_over_time(temperature_celsius[5m] offset 1m)", &[fine]);
    add(
        "increase(http_requests_total[2m] offset -1m)",
        &[Kind::Instant(base + 50 * MIN + 1234)],
    );
    add("present_over_time(queue_depth[5m] offset 10m)", &[range]);
    add(r#"rate(http_requests_total{job="api"}[5m] offset 3h)"#, &[i1]);
    add("avg_over_time(temperature_celsius[1h] @ 100)", &[i1]);
    add(&format!("temperature_celsius offset 1h @ {at}"), &[fine]);
    add("time() > bool 0", &[fine]);
    add("scalar(up) * vector(2)", &[range]);
    add("vector(1) and vector(2)", &[i1]);
    add("vector(1) unless on () up", &[i1]);
    add("http_requests_total + on (job) up", &[i1]);
    add("sum by (nonexistent) (up)", &[i1]);
    add(
        "count without (instance, method, code) (http_requests_total)",
        &[i1],
    );
    add(r#"count_values("job", up)"#, &[i1]);
    add(r#"count_values by (job) ("job", up)"#, &[i1]);
    add(r#"count_values by (instance) ("value", up)"#, &[range]);
    add("topk by (nonexistent) (2, temperature_celsius)", &[i1]);
    add("topk by (job, code) (1, rate(http_requests_total[5m]))", &[range]);
    add(r#"{job="api"}"#, &[i1]);
    add(r#"{__name__!~"http.*|request.*", job=~"a.+|w.*"}"#, &[i1]);
    add(r#"up{job=~"ap"}"#, &[i1]);
    add(r#"up{job=~"(?i)API"}"#, &[i1]);
    add(r#"up{nonexistent=""}"#, &[i1]);
    add(r#"up{job!=""}"#, &[i1]);
    add(r#"{__name__="up", job=~"web|"}"#, &[i1]);
    add(r#"absent(up{job=~"x"})"#, &[i1]);
    add("-temperature_celsius", &[range]);
    add(
        "temperature_celsius - on (instance) group_left temperature_celsius",
        &[i1],
    );
    add(
        r#"build_info * on (job, instance) group_left (version) label_replace(up, "version", "v", "", "")"#,
        &[i1],
    );
    add(
        r#"sum by (le) (rate(request_duration_seconds_bucket[5m])) > bool 1"#,
        &[i1],
    );

    // The API's other step forms, a single-point range, a step over the range.
    for step in ["1m30s", "37.5", "2h"] {
        let kind = Kind::Range {
            start: base + 50 * MIN + 1234,
            end: base + 110 * MIN + 1234,
            step,
        };
        add("rate(http_requests_total[5m])", &[kind]);
    }
    let point = Kind::Range {
        start: t1,
        end: t1,
        step: "15",
    };
    add("sum by (job) (up)", &[point]);

    // Trigonometry, literals, more matching and label edge cases.
    add("tan(temperature_celsius) + atan(temperature_celsius)", &[i1]);
    add(
        "asin(temperature_celsius / 30) + acos(temperature_celsius / 30)",
        &[i1],
    );
    add("acos(temperature_celsius)", &[i1]);
    add(
        "sinh(temperature_celsius / 10) + cosh(temperature_celsius / 10)",
        &[i1],
    );
    add("tanh(temperature_celsius) + asinh(temperature_celsius)", &[i1]);
    add(
        "acosh(abs(temperature_celsius) + 1) + atanh(temperature_celsius / 30)",
        &[i1],
    );
    add("atanh(temperature_celsius)", &[i1]);
    add("pi() * vector(2)", &[i1]);
    add("vector(Inf) + vector(-Inf) * 0x10 + 1e3", &[i1]);
    add("temperature_celsius == bool NaN", &[i1]);
    add("-time() + -(-vector(1))", &[fine]);
    add(
        "avg_over_time(temperature_celsius[1h30m]) - avg_over_time(temperature_celsius[90s])",
        &[i1],
    );
    add(
        "rate(http_requests_total[5m]) / ignoring (method, code) group_left sum without (method, code) (rate(http_requests_total[5m]))",
        &both,
    );
    add("http_requests_total and on (__name__) http_requests_total", &[i1]);
    add(
        "http_requests_total > bool on (job, instance, method, code) (http_requests_total offset 5m)",
        &[fine],
    );
    add(
        "temperature_celsius > on (instance) group_left (room) (temperature_celsius offset 10m)",
        &[fine],
    );
    add(
        r#"topk(scalar(up{job="api",instance="10.0.0.2:8080"}) + 1, temperature_celsius)"#,
        &[range],
    );
    add(
        r#"quantile(scalar(up{job="api",instance="10.0.0.2:8080"}) / 3, temperature_celsius)"#,
        &[range],
    );
    add(
        "predict_linear(temperature_celsius[10m], scalar(count(up)) * 60)",
        &[fine],
    );
    add(r#"label_replace(up, "x", "$1", "instance", "10")"#, &[i1]);
    add(r#"label_replace(up, "x", "$1$1", "instance", "(10).*")"#, &[i1]);
    add(
        r#"label_replace(up, "x", "$host-$1x-${1}x", "instance", "(?P<host>[^:]+):(.*)")"#,
        &[i1],
    );
    add(r#"label_join(up, "x", "-", "__name__", "job")"#, &[i1]);
    add(
        "max_over_time(rate(http_requests_total[5m])[10m:1m] offset 1m)",
        &[i1],
    );
    add("timestamp(timestamp(temperature_celsius))", &[i1]);
    add("timestamp(vector(1))", &[fine]);
    add(
        "sum(http_requests_total) by (job) * 0 + on (job) group_right count by (job, instance) (up)",
        &[i1],
    );

    // Jittered timestamps, NaN and infinite samples, a single sample.
    for expr in [
        "jitter_total",
        "rate(jitter_total[5m])",
        "irate(jitter_total[1m])",
        "increase(jitter_total[3m])",
        "resets(jitter_total[1h])",
        "deriv(jitter_gauge[5m])",
        "predict_linear(jitter_gauge[10m], 120)",
        "delta(jitter_gauge[2m])",
        "idelta(jitter_gauge[2m])",
        "changes(jitter_gauge[5m])",
        "timestamp(jitter_gauge)",
        "stddev_over_time(jitter_gauge[5m])",
        "avg_over_time(jitter_total[5m])",
        "odd_gauge",
        "min_over_time(odd_gauge[2m])",
        "max_over_time(odd_gauge[2m])",
        "avg_over_time(odd_gauge[2m])",
        "sum_over_time(odd_gauge[3m])",
        "stddev_over_time(odd_gauge[3m])",
        "quantile_over_time(0.5, odd_gauge[3m])",
        "changes(odd_gauge[5m])",
        "resets(odd_gauge[5m])",
        "rate(odd_gauge[5m])",
        "deriv(odd_gauge[5m])",
        "delta(odd_gauge[5m])",
        "irate(odd_gauge[1m])",
        "lonely",
        "count_over_time(lonely[1h])",
        "rate(lonely[1h])",
        "deriv(lonely[1h])",
        "stdvar_over_time(lonely[1h])",
    ] {
        add(expr, &[fine]);
    }
    add("jitter_total", &[i1]);
    add("rate(jitter_total[5m])", &[i1, range]);
    add("odd_gauge", &[i1]);
    add("avg_over_time(odd_gauge[30m])", &[i1]);
    // No stddev/stdvar over a lone ±Inf: 2.x gives 0, 3.0 (#14941) NaN.
    add(
        "sum(odd_gauge) + avg(odd_gauge) + max(odd_gauge) + min(odd_gauge)",
        &[fine],
    );
    add("sort_desc(odd_gauge or temperature_celsius)", &[fine]);
    add("topk(2, odd_gauge or temperature_celsius)", &[fine]);
    add(r#"count_values("v", odd_gauge)"#, &[fine]);
    add(
        "histogram_quantile(0.5, label_replace(odd_gauge, \"le\", \"1\", \"\", \"\"))",
        &[fine],
    );

    // After the last sample (lookback still covers it), and a fine step.
    let late = Kind::Range {
        start: base + 100 * MIN + 1234,
        end: base + 130 * MIN + 1234,
        step: "45",
    };
    let i_late = Kind::Instant(base + POINTS as i64 * STEP + 2 * MIN + 1234);
    let dense = Kind::Range {
        start: base + 70 * MIN + 1234,
        end: base + 85 * MIN + 1234,
        step: "15",
    };
    for expr in [
        "http_requests_total",
        "rate(http_requests_total[5m])",
        "timestamp(jitter_gauge)",
        "last_over_time(temperature_celsius[2m])",
        "absent(up)",
        "absent_over_time(up[1m])",
        "max_over_time(up[10m:1m] @ end())",
        "histogram_quantile(0.9, rate(request_duration_seconds_bucket[30s]))",
    ] {
        add(expr, &[late, i_late]);
    }
    for expr in [
        "irate(jitter_total[1m])",
        "rate(jitter_total[45s])",
        "idelta(jitter_gauge[31s])",
        "histogram_quantile(0.9, rate(request_duration_seconds_bucket[20s]))",
        "rate(queue_depth[30m])",
        "sum_over_time(queue_depth[30m])",
    ] {
        add(expr, &[dense]);
    }
    add("absent_over_time(up[5m] offset 3h)", &[i1]);
    add(r#"label_replace(up, "__name__", "renamed", "", "")"#, &[i1]);
    add(
        r#"label_replace(rate(up[5m]), "__name__", "renamed_$1", "job", "(.*)")"#,
        &[i1],
    );
    add("up == on (job, instance) group_left (version) build_info", &[i1]);
    add("http_requests_total or on (job) up", &[i1]);
    add("up or on (job) http_requests_total", &[i1]);
    add(
        "http_requests_total and ignoring (__name__, code, method) up",
        &[i1],
    );
    add("temperature_celsius > scalar(up{instance=\"nowhere\"})", &[i1]);
    add("sum without (__name__) (http_requests_total)", &[i1]);
    add(
        "quantile_over_time(scalar(up{instance=\"nowhere\"}), temperature_celsius[10m])",
        &[i1],
    );
    add("vector(time()) - on () group_right timestamp(up)", &[i1]);
    add(
        "min_over_time(temperature_celsius[10m:1m] offset -5m)",
        &[Kind::Instant(base + 60 * MIN + 1234)],
    );

    // Parameters that change over a range query (up{api, .2} is 0 for 15 min).
    let down = r#"scalar(up{job="api",instance="10.0.0.2:8080"})"#;
    for expr in [
        format!("clamp(temperature_celsius, {down} * 5 - 5, 10)"),
        format!("clamp_max(temperature_celsius, {down} * 10)"),
        format!("round(temperature_celsius, {down} + 0.5)"),
        format!("predict_linear(temperature_celsius[10m], {down} * 600)"),
        format!("quantile_over_time({down} * 0.5, temperature_celsius[10m])"),
        format!("histogram_quantile({down} * 0.5 + 0.25, sum by (le) (rate(request_duration_seconds_bucket[5m])))"),
        format!("vector({down}) + {down} * time()"),
        format!("{down} > bool 0.5"),
        format!("temperature_celsius * {down}"),
        format!("bottomk({down} + 1, temperature_celsius)"),
    ] {
        add(&expr, &[range]);
    }
    add("round(temperature_celsius, 0)", &[i1]);
    add("round(temperature_celsius, -2)", &[i1]);
    add(
        "clamp(temperature_celsius, NaN, 5) or clamp_min(temperature_celsius, NaN)",
        &[i1],
    );
    add("predict_linear(temperature_celsius[10m], -600)", &[i1]);
    add(
        "temperature_celsius * on (instance) group_left (room) memory_usage_bytes",
        &[i1],
    );
    add(
        "memory_usage_bytes / on (instance) group_right (job) temperature_celsius",
        &[i1],
    );

    // Range vectors and subqueries as the result of an instant query.
    let after_stale = Kind::Instant(base + 52 * MIN + 1234);
    add("queue_depth[10m]", &[after_stale]);
    add("queue_depth[10m:1m]", &[after_stale]);
    add("http_requests_total[5m] offset 10m", &[i1]);
    add(&format!("temperature_celsius[2m] @ {at}"), &[i1]);
    add("rate(http_requests_total[5m])[10m:1m]", &[i1]);
    add("temperature_celsius[10m:1m]", &[i1]);
    add("up[5m:1m] offset 1m", &[i1]);
    add("jitter_total[1m]", &[i1]);

    // Counter functions on gauges (every decrease is a reset, some values
    // below zero) and windows longer than the data.
    add("rate(temperature_celsius[5m])", &[i1, fine]);
    add("increase(temperature_celsius[10m])", &[fine]);
    add("irate(temperature_celsius[1m])", &[i1]);
    add("resets(temperature_celsius[10m])", &[fine]);
    add("rate(http_requests_total[3h])", &[i1]);
    add("increase(http_requests_total[1d])", &[early]);
    add(
        "changes(http_requests_total[3h]) + resets(http_requests_total[3h])",
        &[i1],
    );
    add(
        "max_over_time(temperature_celsius[1d]) - min_over_time(temperature_celsius[1d])",
        &[i1],
    );
    add("deriv(http_requests_total[30m])", &[i1]);

    add(r#""a string""#, &[i1]);
    add("-1.5e-3", &[i1]);

    // Buckets with odd le labels: the same bound spelled twice, one that is
    // no number, none at all.
    let one = r#"request_duration_seconds_bucket{instance="10.0.0.1:8080"}"#;
    add(
        &format!(r#"histogram_quantile(0.5, {one} or label_replace({one}, "le", "1.0", "le", "1"))"#),
        &[i1],
    );
    add(
        &format!(r#"histogram_quantile(0.5, {one} or label_replace({one}, "le", "abc", "le", "0.5"))"#),
        &[i1],
    );
    add(
        &format!(r#"histogram_quantile(0.5, {one} or label_replace({one}, "le", "0.3", "le", "0.25"))"#),
        &[i1],
    );
    add(
        "histogram_quantile(0.5, sum by (job) (request_duration_seconds_bucket))",
        &[i1],
    );
    add(
        r#"histogram_quantile(0.5, label_replace(request_duration_seconds_bucket, "le", "Inf", "le", "[+]Inf"))"#,
        &[i1],
    );

    // Matchers that match the empty value, repeat a name, or leave dots bare.
    for expr in [
        r#"up{nonexistent=~".*"}"#,
        r#"up{nonexistent!~".+"}"#,
        r#"up{job=~"api|"}"#,
        r#"up{instance=~"10.0.0.1:8080"}"#,
        r#"up{job="api", job!="web", job=~"a.*"}"#,
        r#"count by (job) ({job=~".+", __name__!="http_requests_total"})"#,
        r#"{__name__=~"lonely|queue_.+"}"#,
        "up{instance!~`10\\.0\\.0\\.[1]:8080`}",
        r"label_replace(up, `host`, `$1`, `instance`, `(\d+\.\d+\.\d+\.\d+):\d+`)",
        r#"label_join(up, "x", `\`, "job", "instance")"#,
    ] {
        add(expr, &[i1]);
    }

    // Lexing and parsing: escapes, quotes, keywords, precedence, comments.
    for expr in [
        r#"up{job="\u0061pi"} + up{job="\x61pi"} * up{job="\141pi"}"#,
        r#"up{job='api'}"#,
        r#"label_replace(vector(1), "q", '\'"\t', "", "")"#,
        "SUM BY (job) (up OFFSET 5m) + Sum(up) without (instance)",
        "up AND ON (job, instance) up",
        r#"sum by (and, on, bool, offset) (label_replace(up, "and", "x", "", ""))"#,
        r#"up{job="api",}"#,
        "sum by (job,) (up)",
        "vector(.5) + vector(5.) + vector(-inf) * 0 + vector(0x1F) + vector(1e-3)",
        "vector(-2 ^ 2) + vector(2 ^ 3 ^ 2)",
        "2 * 3 + 4 / 2 % 3 - 1",
        "1 < bool 2 == bool 1",
        "up == bool on (job, instance) up",
        "vector(1) + on () vector(2)",
        "time() - time()",
        "up # a comment\n + 1",
        "RATE(http_requests_total[5m])",
        "{}",
        r#"{job=""}"#,
        "up{}",
        "absent(job:request_rate:sum5m)",
        "temperature_celsius offset 1h2m3s",
        "max_over_time(temperature_celsius[1h2m:90s])",
        "rate(http_requests_total[5m]) unless rate(http_requests_total[5m]) > 10",
        "-rate(http_requests_total[5m]) > -5",
        "sum(up) by (job) / ignoring () group_left count(up) by (job)",
    ] {
        add(expr, &[i1]);
    }

    // Set operators decide per step: queue_depth is stale for 20 minutes,
    // one counter has a 7.75 minute gap.
    let gappy = r#"http_requests_total{job="api",instance="10.0.0.2:8080",method="POST"}"#;
    for expr in [
        "queue_depth or on () vector(-1)".to_string(),
        "vector(-1) unless on () queue_depth".to_string(),
        "vector(-1) and on () queue_depth".to_string(),
        format!("{gappy} or on (job, instance, method) ({gappy} * 0 - 1)"),
        format!("sum by (code) ({gappy}) unless on (code) (up == 0)"),
        format!("{gappy} * on (job, instance) group_left up"),
        "timestamp(sum(up))".to_string(),
        "changes(timestamp(queue_depth)[10m:1m])".to_string(),
        "avg_over_time(rate(http_requests_total[5m])[1h:5m] offset 30m)".to_string(),
        "rate(http_requests_total[1m] @ start())".to_string(),
        "sum(exp(temperature_celsius * 100) - exp(-temperature_celsius * 100))".to_string(),
    ] {
        add(&expr, &[range, fine]);
    }

    add("rate(http_requests_total[5m])", &[Kind::InstantRfc3339(t1)]);

    // Label values with quotes, backslashes, non-ASCII, spaces, commas.
    for expr in [
        "weird_paths",
        r#"weird_paths{path="/a\"b\\c"}"#,
        r#"weird_paths{path=~".*\\\\.*"}"#,
        r#"weird_paths{path=~"/日本/.+"}"#,
        r#"weird_paths{path!~".*[ ,].*"}"#,
        "weird_paths{path=`/with space/{x}`}",
        r#"label_replace(weird_paths, "first", "$1", "path", "/([^/]+).*")"#,
        r#"label_join(weird_paths, "both", "\"", "job", "path")"#,
        r#"count_values("path", weird_paths)"#,
        "sum by (path) (rate(weird_paths[5m]))",
    ] {
        add(expr, &[i1]);
    }

    // Lexer corners: escapes, number and duration spellings, identifiers.
    for expr in [
        r#""\a\b\f\v\t\n\r\\""#,
        r#""\U0001F600\u00e9\x41\101""#,
        r#""\xZZ""#,
        r#""\400""#,
        r#""a\'b""#,
        r#"'a\"b'"#,
        r#"'a"b' "#,
        r#""a'b""#,
        "vector(inF) + vector(nan) * 0 + vector(-Inf)",
        "vector(1e)",
        "vector(0x)",
        "rate(http_requests_total[0s])",
        "max_over_time(temperature_celsius[5m30s]) - max_over_time(temperature_celsius[1w])",
        "temperature_celsius offset 1500ms",
        "count_over_time(temperature_celsius[1y])",
        r#"absent(rate{job="x"})"#,
        r#"absent(a:b:c{job="x"})"#,
        r#"absent(:a{job="x"})"#,
        "on",
        r#"{__name__="on"}"#,
        "sum by (nan, inf) (up)",
        "sum\n  by (job)\n  (\n    up\n  )",
        "up{job=\"api\"}\t+\ton(job)\tgroup_left\tup{instance=\"10.0.0.1:8080\"}",
    ] {
        add(expr, &[i1]);
    }

    // Subqueries without a step use the evaluation interval (1m in both).
    add("max_over_time(rate(http_requests_total[5m])[30m:])", &[i1, fine]);
    add("count_over_time(temperature_celsius[10m:])", &[i1]);
    add(
        "sum without (method, code) (rate(http_requests_total[5m])) / on (job, instance) group_right \
         sum without (code) (rate(http_requests_total[5m]))",
        &[i1],
    );

    // Dropping __name__ can make two series one: Prometheus refuses that.
    // (`or` ignores __name__ unless told otherwise.)
    let twins = r#"(label_replace(up, "__name__", "up2", "", "") or on (__name__, job, instance) up)"#;
    add(twins, &[i1]);
    add(&format!("abs{twins}"), &[i1, range]);
    add(&format!("rate({twins}[5m:1m])"), &[i1]);
    add(&format!("sum by (job, instance) {twins}"), &[i1]);
    add(&format!("{twins} * 2"), &[i1]);
    add(&format!("last_over_time({twins}[5m:1m])"), &[i1]);

    // count_values spells values as Go's FormatFloat(v, 'f', -1, 64) does.
    for v in ["1e21", "1.5e-7", "-0", "123456789.125", "1/3", "2^70", "-1e-300"] {
        add(&format!(r#"count_values("v", vector({v}))"#), &[i1]);
    }

    // Queries both must refuse, with the same errorType. Only the empty label
    // name is invalid: "bad-label" is refused by 2.x but a valid UTF-8 name
    // in 3.0, as in Sightline.
    for expr in [
        "rate()",
        "round(up, 1, 2)",
        "rate(up)",
        "sum(up[5m])",
        "up[5m] + 1",
        r#"abs("x")"#,
        "up + bool up",
        "up and bool up",
        "up and on (job) group_left up",
        "1 > 2",
        "vector(1) and 1",
        "up @ 1 @ 2",
        "up[5m][10m:1m]",
        r#"count_values(1, up)"#,
        r#"topk("a", up)"#,
        r#"count_values("", up)"#,
        r#"label_replace(up, "", "x", "instance", "(.*)")"#,
        r#"label_replace(up, "x", "y", "instance", "(")"#,
        r#"label_join(up, "", ",", "job")"#,
        r#"up{job=~"("}"#,
        "sum by (job) (up) offset -",
        "histogram_quantile(0.5)",
    ] {
        add(expr, &[i1]);
    }
    add(r#"count_values("", up)"#, &[range]);

    // Sorting: the order of an instant result is defined.
    for expr in [
        "sort(temperature_celsius)",
        "sort_desc(sum by (job, method) (rate(http_requests_total[5m])))",
        "sort(ln(temperature_celsius))",
        "sort_desc(topk(3, rate(http_requests_total[5m])))",
        "sort(bottomk(3, temperature_celsius) or odd_gauge)",
        "sort_desc(ln(temperature_celsius))",
    ] {
        qs.push(Query {
            expr: expr.into(),
            kind: i1,
            ordered: true,
        });
    }
    qs
}

fn run_query(base_url: &str, q: &Query) -> Value {
    let (path, mut params) = match q.kind {
        Kind::Instant(t) => ("/api/v1/query", vec![("time", secs(t))]),
        Kind::InstantRfc3339(t) => ("/api/v1/query", vec![("time", rfc3339(t))]),
        Kind::Range { start, end, step } => (
            "/api/v1/query_range",
            vec![
                ("start", secs(start)),
                ("end", secs(end)),
                ("step", step.to_string()),
            ],
        ),
    };
    params.push(("query", q.expr.clone()));
    let r = client()
        .post(format!("{base_url}{path}"))
        .form(&params)
        .send()
        .unwrap();
    r.json().unwrap()
}

type Metric = BTreeMap<String, String>;

fn metric(v: &Value) -> Metric {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A `[unix seconds, "value"]` pair as (milliseconds, value).
fn point(v: &Value) -> (i64, f64) {
    let t = (v[0].as_f64().unwrap() * 1000.0).round() as i64;
    let s = v[1].as_str().unwrap();
    let x = match s {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap(),
    };
    (t, x)
}

fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn same_points(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && same_value(x.1, y.1))
}

/// The series of a vector or matrix keyed by label set, each with its points.
fn by_series(result: &Value, field: &str) -> Result<BTreeMap<Metric, Vec<(i64, f64)>>, String> {
    let mut out = BTreeMap::new();
    for s in result.as_array().unwrap() {
        let points = match field {
            "value" => vec![point(&s["value"])],
            _ => s["values"].as_array().unwrap().iter().map(point).collect(),
        };
        if out.insert(metric(&s["metric"]), points).is_some() {
            return Err(format!("duplicate series {}", s["metric"]));
        }
    }
    Ok(out)
}

/// Why the two answers differ, or `None` when they agree.
fn compare(q: &Query, prom: &Value, ours: &Value) -> Option<String> {
    let (ps, os) = (prom["status"].as_str(), ours["status"].as_str());
    if ps != Some("success") || os != Some("success") {
        return match ps == os && prom["errorType"] == ours["errorType"] {
            true => None,
            false => Some("status or error type differs".into()),
        };
    }
    let (pd, od) = (&prom["data"], &ours["data"]);
    let kind = pd["resultType"].as_str().unwrap();
    if od["resultType"].as_str() != Some(kind) {
        return Some("resultType differs".into());
    }
    match kind {
        "string" => (pd["result"] != od["result"]).then(|| "string differs".into()),
        "scalar" => {
            let (p, o) = (point(&pd["result"]), point(&od["result"]));
            (!same_points(&[p], &[o])).then(|| "scalar differs".into())
        }
        "vector" | "matrix" => {
            let field = if kind == "vector" { "value" } else { "values" };
            let (p, o) = match (by_series(&pd["result"], field), by_series(&od["result"], field)) {
                (Ok(p), Ok(o)) => (p, o),
                (Err(e), _) => return Some(format!("prometheus: {e}")),
                (_, Err(e)) => return Some(format!("sightline: {e}")),
            };
            if p.keys().ne(o.keys()) {
                return Some("the series differ".into());
            }
            if let Some((m, _)) = p.iter().find(|(m, pts)| !same_points(pts, &o[*m])) {
                return Some(format!("points differ for {m:?}"));
            }
            if q.ordered {
                let values = |d: &Value| -> Vec<f64> {
                    d["result"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| point(&s["value"]).1)
                        .collect()
                };
                let (pv, ov) = (values(pd), values(od));
                if !pv.iter().zip(&ov).all(|(a, b)| same_value(*a, *b)) {
                    return Some("order differs".into());
                }
            }
            None
        }
        other => Some(format!("unknown resultType {other}")),
    }
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp_millis(t)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn describe(q: &Query) -> String {
    match q.kind {
        Kind::Instant(t) => format!("instant {} @ {}", q.expr, secs(t)),
        Kind::InstantRfc3339(t) => format!("instant {} @ {}", q.expr, rfc3339(t)),
        Kind::Range { start, end, step } => {
            format!("range {} [{}, {}] step {step}", q.expr, secs(start), secs(end))
        }
    }
}

#[test]
fn sightline_agrees_with_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let prom = Prometheus::start(dir.path());
    let (config, port) = write_config(dir.path(), "  fsync: interval");
    let ours = Server::start(&dir.path().join("sightline-data"), &config, port);

    // Slot 0 is 2 h before the minute before now, 3.5 s off the minute grid.
    let now = sightline::storage::now_ms();
    let base = now - now % MIN - 2 * 3600 * 1000 + 3500;
    let data = dataset();
    remote_write(&format!("{}/api/v1/write", prom.base), &data, base);
    remote_write(&ours.url("/api/v1/write"), &data, base);

    let qs = queries(base);
    let mut mismatches = Vec::new();
    let mut errors = 0;
    let mut empty = 0;
    for q in &qs {
        let p = run_query(&prom.base, q);
        let o = run_query(&ours.base, q);
        if p["data"]["result"].as_array().is_some_and(|r| r.is_empty()) {
            empty += 1;
            eprintln!("both must be empty: {}", describe(q));
        }
        if p["status"] != "success" {
            errors += 1;
            eprintln!("both must fail: {} -> {}", describe(q), p["error"]);
        }
        if let Some(why) = compare(q, &p, &o) {
            eprintln!(
                "MISMATCH ({why}): {}\n  prometheus: {p}\n  sightline:  {o}\n",
                describe(q)
            );
            mismatches.push(format!("{} ({why})", describe(q)));
        }
    }

    let query_mismatches = mismatches.len();

    // The same answers once Sightline has restarted and reads its data back
    // from disk: every fifth query again.
    let data_dir = ours.data_dir.clone();
    let status = ours.terminate();
    assert!(status.success(), "sightline exited with {status}");
    let ours = Server::start(&data_dir, &config, port);
    let again: Vec<&Query> = qs.iter().step_by(5).collect();
    for q in &again {
        let p = run_query(&prom.base, q);
        let o = run_query(&ours.base, q);
        if let Some(why) = compare(q, &p, &o) {
            eprintln!(
                "MISMATCH after restart ({why}): {}\n  prometheus: {p}\n  sightline:  {o}\n",
                describe(q)
            );
            mismatches.push(format!("after restart: {} ({why})", describe(q)));
        }
    }
    let restart_mismatches = mismatches.len() - query_mismatches;

    // The metadata endpoints over the same data, compared as sets.
    let (start, end) = (secs(base + 10 * MIN), secs(base + 110 * MIN));
    let metadata: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("/api/v1/series", vec![("match[]", r#"{job="api"}"#.into())]),
        (
            "/api/v1/series",
            vec![("match[]", "up{instance=~`10\\.0\\.0\\.1:.*`}".into())],
        ),
        (
            "/api/v1/series",
            vec![
                ("match[]", "queue_depth".into()),
                ("match[]", r#"weird_paths{path=~".*,.*"}"#.into()),
            ],
        ),
        ("/api/v1/labels", vec![("match[]", "http_requests_total".into())]),
        ("/api/v1/label/path/values", vec![]),
        (
            "/api/v1/label/le/values",
            vec![("match[]", r#"{job="api"}"#.into())],
        ),
    ];
    let requests = metadata.len();
    for (path, mut params) in metadata {
        params.push(("start", start.clone()));
        params.push(("end", end.clone()));
        let get = |base: &str| -> Value {
            // GET: Prometheus serves label values only that way.
            let r = client()
                .get(format!("{base}{path}"))
                .query(&params)
                .send()
                .unwrap();
            let mut v: Value = r.json().unwrap();
            if let Some(items) = v["data"].as_array_mut() {
                items.sort_by_key(|i| i.to_string());
            }
            v
        };
        let (p, o) = (get(&prom.base), get(&ours.base));
        if p["status"] != "success" || p != o {
            let what = format!("{path} {params:?}");
            eprintln!("MISMATCH: {what}\n  prometheus: {p}\n  sightline:  {o}\n");
            mismatches.push(what);
        }
    }

    println!(
        "agreement: {} queries, {} matched ({errors} of them errors, {empty} empty in Prometheus); \
         after restart: {} queries, {} matched; metadata: {requests} requests, {} matched",
        qs.len(),
        qs.len() - query_mismatches,
        again.len(),
        again.len() - restart_mismatches,
        requests - (mismatches.len() - query_mismatches - restart_mismatches)
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} queries and metadata requests disagree with Prometheus:\n{}",
        mismatches.len(),
        qs.len() + again.len() + requests,
        mismatches.join("\n")
    );
}

/// The comparison itself must see every kind of difference.
#[test]
fn comparison_catches_differences() {
    let q = |ordered| Query {
        expr: "x".into(),
        kind: Kind::Instant(0),
        ordered,
    };
    let vector = |items: &[(&str, f64, &str)]| {
        let result: Vec<Value> = items
            .iter()
            .map(|(a, t, v)| serde_json::json!({"metric": {"a": a}, "value": [t, v]}))
            .collect();
        serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
    };
    let base = vector(&[("x", 1.5, "1"), ("y", 1.5, "NaN")]);
    assert_eq!(compare(&q(false), &base, &base), None);
    let near = vector(&[("x", 1.5, "1.0000000000001"), ("y", 1.5, "NaN")]);
    assert_eq!(compare(&q(false), &base, &near), None);
    for other in [
        vector(&[("x", 1.5, "1.00001"), ("y", 1.5, "NaN")]),
        vector(&[("x", 1.5, "1"), ("y", 1.5, "+Inf")]),
        vector(&[("x", 1.501, "1"), ("y", 1.5, "NaN")]),
        vector(&[("x", 1.5, "1"), ("z", 1.5, "NaN")]),
        vector(&[("x", 1.5, "1")]),
        serde_json::json!({"status": "error", "errorType": "bad_data"}),
    ] {
        assert!(compare(&q(false), &base, &other).is_some(), "{other}");
    }
    let swapped = vector(&[("y", 1.5, "NaN"), ("x", 1.5, "1")]);
    assert_eq!(compare(&q(false), &base, &swapped), None);
    assert!(compare(&q(true), &base, &swapped).is_some());
}
