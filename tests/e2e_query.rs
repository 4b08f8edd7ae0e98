//! End-to-end: PromQL over HTTP, the query CLI, and `promtool` (Debian's
//! `prometheus` package) used unchanged against Sightline.

mod common;

use common::{client, write_config, Server, BIN};
use serde_json::Value;
use sightline::ingest::remote_write::encode_write_request;
use sightline::storage::{Labels, Sample, SeriesSamples};
use std::process::Command;

const STEP: i64 = 15_000;

fn base_time() -> i64 {
    // Aligned to a minute, 2 h ago, so every query time below is in range.
    let now = sightline::storage::now_ms();
    now - now % 60_000 - 2 * 3600 * 1000
}

fn load(server: &Server, base: i64) {
    let mut batch = Vec::new();
    for (code, rate) in [("200", 10.0), ("500", 1.0)] {
        batch.push(SeriesSamples {
            labels: Labels::from_pairs([
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", code),
            ]),
            samples: (0..240)
                .map(|i| Sample {
                    t: base + i * STEP,
                    v: i as f64 * rate,
                })
                .collect(),
        });
    }
    let body = encode_write_request(&batch);
    let r = client()
        .post(server.url("/api/v1/write"))
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
}

fn query(server: &Server, path: &str, params: &[(&str, String)]) -> (u16, Value) {
    let r = client().post(server.url(path)).form(params).send().unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

fn start() -> (tempfile::TempDir, Server, i64) {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = write_config(dir.path(), "  fsync: interval");
    let server = Server::start(&dir.path().join("data"), &config, port);
    let base = base_time();
    load(&server, base);
    (dir, server, base)
}

fn secs(t: i64) -> String {
    format!("{:.3}", t as f64 / 1000.0)
}

#[test]
fn instant_and_range_queries() {
    let (_dir, server, base) = start();
    let at = base + 30 * 60_000 + 1234;
    let (code, body) = query(
        &server,
        "/api/v1/query",
        &[
            ("query", "sum by (code) (rate(http_requests_total[5m]))".into()),
            ("time", secs(at)),
        ],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "vector");
    let result = body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    let ok = result.iter().find(|s| s["metric"]["code"] == "200").unwrap();
    let v: f64 = ok["value"][1].as_str().unwrap().parse().unwrap();
    assert!((v - 10.0 / 15.0).abs() < 1e-9, "rate = {v}");

    let (code, body) = query(
        &server,
        "/api/v1/query_range",
        &[
            ("query", "http_requests_total{code=\"500\"}".into()),
            ("start", secs(base)),
            ("end", secs(base + 10 * 60_000)),
            ("step", "60s".into()),
        ],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    assert_eq!(body["data"]["result"][0]["values"].as_array().unwrap().len(), 11);

    let (code, body) = query(&server, "/api/v1/query", &[("query", "1 + 2".into())]);
    assert_eq!(code, 200);
    assert_eq!(body["data"]["result"][1], "3");
}

#[test]
fn query_errors_are_prometheus_errors() {
    let (_dir, server, base) = start();
    for bad in ["sum(", "rate(http_requests_total)"] {
        let (code, body) = query(&server, "/api/v1/query", &[("query", bad.into())]);
        assert_eq!(
            (code, body["errorType"].as_str()),
            (400, Some("bad_data")),
            "{bad}: {body}"
        );
    }
    let (code, body) = query(
        &server,
        "/api/v1/query_range",
        &[
            ("query", "up".into()),
            ("start", secs(base)),
            ("end", secs(base - 1000)),
            ("step", "15s".into()),
        ],
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = query(
        &server,
        "/api/v1/query_range",
        &[
            ("query", "up".into()),
            ("start", "0".into()),
            ("end", "1000000".into()),
            ("step", "1s".into()),
        ],
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("11,000 points"),
        "{body}"
    );
    let (code, body) = query(
        &server,
        "/api/v1/format_query",
        &[("query", "sum(rate(x[5m]))by(job)".into())],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"], "sum by (job) (rate(x[5m]))");
    let (code, body) = query(&server, "/api/v1/parse_query", &[("query", "up".into())]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["type"], "vectorSelector");
}

#[test]
fn query_cli_prints_tables_and_json() {
    let (_dir, server, base) = start();
    let out = Command::new(BIN)
        .args([
            "query",
            "instant",
            "count(http_requests_total)",
            "--server",
            &server.base,
            "--time",
        ])
        .arg(secs(base + 60_000))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("{} => 2 @"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = Command::new(BIN)
        .args([
            "query",
            "range",
            "http_requests_total",
            "--output",
            "json",
            "--server",
            &server.base,
        ])
        .args([
            "--start",
            &secs(base),
            "--end",
            &secs(base + 60_000),
            "--step",
            "30s",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let data: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(data["result"].as_array().unwrap().len(), 2);
}

/// `promtool` from Debian's `prometheus` package, unchanged, against Sightline.
#[test]
fn promtool_queries_work_unchanged() {
    let (_dir, server, base) = start();
    let promtool = |args: &[&str]| {
        let out = Command::new("promtool")
            .arg("query")
            .args(args)
            .output()
            .expect("promtool must be installed (tests/run-all.sh installs Debian's prometheus package)");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let url = server.base.as_str();
    let at = secs(base + 60_000);
    let out = promtool(&["instant", "--time", &at, url, "http_requests_total{code=\"200\"}"]);
    assert!(
        out.contains("http_requests_total{code=\"200\", job=\"api\"} => 40 @["),
        "{out}"
    );
    let (s, e) = (secs(base), secs(base + 120_000));
    let out = promtool(&[
        "range",
        "--start",
        &s,
        "--end",
        &e,
        "--step",
        "1m",
        url,
        "sum(http_requests_total)",
    ]);
    assert!(out.contains("{} =>"), "{out}");
    let out = promtool(&["series", "--match", "http_requests_total", url]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let out = promtool(&["labels", url, "code"]);
    assert_eq!(out, "200\n500\n");
}

#[test]
fn status_endpoints_answer_like_prometheus() {
    let (_dir, server, _base) = start();
    let get = |path: &str| -> Value { client().get(server.url(path)).send().unwrap().json().unwrap() };
    let build = get("/api/v1/status/buildinfo");
    assert_eq!(build["data"]["version"], env!("CARGO_PKG_VERSION"));
    let runtime = get("/api/v1/status/runtimeinfo");
    assert_eq!(runtime["data"]["storageRetention"], "15d");
    let flags = get("/api/v1/status/flags");
    assert!(flags["data"]["web.listen-address"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    let config = get("/api/v1/status/config");
    assert!(
        config["data"]["yaml"]
            .as_str()
            .unwrap()
            .contains("fsync: interval"),
        "{config}"
    );
    assert_eq!(get("/api/v1/metadata")["data"], serde_json::json!({}));
    let (code, body) = query(
        &server,
        "/api/v1/query_exemplars",
        &[("query", "http_requests_total".into())],
    );
    assert_eq!((code, body["data"].clone()), (200, serde_json::json!([])));
    let (code, _) = query(&server, "/api/v1/query_exemplars", &[("query", "sum(".into())]);
    assert_eq!(code, 400);
}
