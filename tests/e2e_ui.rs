//! End-to-end: the bundled UI and the dashboards API against the real binary.
//!
//! HTTP tests check serving (SPA fallback, precompressed assets, cache headers)
//! and `/api/v1/dashboards` (save with versions, Grafana import, provisioning, the
//! generated ML dashboard). The browser tests run `tests/ui/run.mjs` with Node.js,
//! `playwright-core` (installed into ui/node_modules by the build) and Debian's
//! `chromium` (installed by tests/run-all.sh) against a server seeded through
//! remote_write; screenshots land in target/ui-screenshots/.

mod common;

use common::{client, write_config, Server};
use serde_json::{json, Value};
use sightline::ingest::remote_write::encode_write_request;
use sightline::storage::{now_ms, Labels, Sample, SeriesSamples};
use std::path::{Path, PathBuf};
use std::process::Command;

const STEP_MS: i64 = 15_000;
const SAMPLES: i64 = 480; // two hours

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/ui").join(name)
}

/// A server whose dashboards come from tests/fixtures/ui/dashboards.
fn start() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "  fsync: interval\ndashboards:\n  path: {}",
        fixture("dashboards").display()
    );
    let (config, port) = write_config(dir.path(), &extra);
    let server = Server::start(&dir.path().join("data"), &config, port);
    (dir, server)
}

fn series(pairs: &[(&str, &str)], value: impl Fn(i64) -> f64) -> SeriesSamples {
    let end = now_ms() - now_ms() % STEP_MS;
    let start = end - (SAMPLES - 1) * STEP_MS;
    SeriesSamples {
        labels: Labels::from_pairs(pairs.iter().copied()),
        samples: (0..SAMPLES)
            .map(|i| Sample {
                t: start + i * STEP_MS,
                v: value(i),
            })
            .collect(),
    }
}

/// Demo traffic, targets, node metrics and one model's ML series over the last two hours.
fn seed(server: &Server) {
    let mut batch = Vec::new();
    for (code, instance, rate) in [
        ("200", "a", 10.0),
        ("200", "b", 8.0),
        ("500", "a", 1.0),
        ("500", "b", 0.5),
    ] {
        let labels = [
            ("__name__", "demo_requests_total"),
            ("job", "demo"),
            ("code", code),
            ("instance", instance),
        ];
        batch.push(series(&labels, move |i| i as f64 * rate * 15.0));
    }
    for (instance, up) in [("a", 1.0), ("b", 1.0), ("c", 0.0)] {
        batch.push(series(
            &[("__name__", "up"), ("job", "demo"), ("instance", instance)],
            move |_| up,
        ));
    }
    seed_node(&mut batch);
    seed_model(&mut batch);
    let r = client()
        .post(server.url("/api/v1/write"))
        .body(encode_write_request(&batch))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
}

fn seed_node(batch: &mut Vec<SeriesSamples>) {
    for instance in ["n1:9100", "n2:9100"] {
        for (mode, share) in [("idle", 0.6), ("user", 0.3), ("system", 0.1)] {
            let labels = [
                ("__name__", "node_cpu_seconds_total"),
                ("instance", instance),
                ("mode", mode),
                ("cpu", "0"),
            ];
            batch.push(series(&labels, move |i| i as f64 * 15.0 * share));
        }
        batch.push(series(
            &[("__name__", "node_memory_MemTotal_bytes"), ("instance", instance)],
            |_| 8e9,
        ));
        batch.push(series(
            &[
                ("__name__", "node_memory_MemAvailable_bytes"),
                ("instance", instance),
            ],
            |i| 3e9 + (i % 40) as f64 * 1e7,
        ));
    }
}

fn seed_model(batch: &mut Vec<SeriesSamples>) {
    let m = ("model", "fraud");
    for (version, rate) in [("1", 5.0), ("2", 3.0)] {
        let v = ("model_version", version);
        batch.push(series(&[("__name__", "predictions_total"), m, v], move |i| {
            i as f64 * rate * 15.0
        }));
        batch.push(series(
            &[("__name__", "prediction_errors_total"), m, v],
            move |i| (i / 10) as f64,
        ));
        for (le, share) in [
            ("0.05", 0.5),
            ("0.1", 0.8),
            ("0.25", 0.95),
            ("0.5", 0.99),
            ("+Inf", 1.0),
        ] {
            let labels = [
                ("__name__", "prediction_latency_seconds_bucket"),
                m,
                v,
                ("le", le),
            ];
            batch.push(series(&labels, move |i| (i as f64 * rate * 15.0 * share).floor()));
        }
        for (le, share) in [
            ("0.2", 0.3),
            ("0.4", 0.45),
            ("0.6", 0.55),
            ("0.8", 0.7),
            ("1", 1.0),
            ("+Inf", 1.0),
        ] {
            let labels = [("__name__", "prediction_distribution_bucket"), m, v, ("le", le)];
            batch.push(series(&labels, move |i| (i as f64 * rate * 15.0 * share).floor()));
        }
        let wobble = |base: f64| move |i: i64| base + ((i % 30) as f64 - 15.0) / 1000.0;
        batch.push(series(&[("__name__", "model_accuracy"), m, v], wobble(0.91)));
        batch.push(series(&[("__name__", "model_precision"), m, v], wobble(0.88)));
        batch.push(series(&[("__name__", "model_recall"), m, v], wobble(0.86)));
        batch.push(series(
            &[("__name__", "model_f1_score"), m, v, ("average", "macro")],
            wobble(0.87),
        ));
    }
    for (feature, method, score, p, detected) in [
        ("amount", "wasserstein", 0.31, "NaN", 1.0),
        ("country", "chisquare", 2.5, "0.4", 0.0),
    ] {
        let f = ("feature", feature);
        let me = ("method", method);
        batch.push(series(
            &[("__name__", "feature_drift_score"), m, f, me],
            move |_| score,
        ));
        let p: f64 = p.parse().unwrap();
        if !p.is_nan() {
            batch.push(series(
                &[("__name__", "feature_drift_p_value"), m, f, me],
                move |_| p,
            ));
        }
        batch.push(series(
            &[("__name__", "feature_drift_detected"), m, f, me],
            move |_| detected,
        ));
    }
    batch.push(series(&[("__name__", "dataset_drift_share"), m], |_| 0.5));
    batch.push(series(
        &[
            ("__name__", "ml_test_passed"),
            m,
            ("test", "accuracy_at_least_0.85"),
        ],
        |_| 1.0,
    ));
}

fn get(server: &Server, path: &str) -> (u16, Value) {
    let r = client().get(server.url(path)).send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn send(server: &Server, method: reqwest::Method, path: &str, body: &str) -> (u16, Value) {
    let r = client()
        .request(method, server.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

#[test]
fn ui_is_served_with_fallback_compression_and_caching() {
    let (_dir, server) = start();
    let index = client().get(server.url("/")).send().unwrap();
    assert_eq!(index.status().as_u16(), 200);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let html = index.text().unwrap();
    assert!(html.contains("<div id=\"app\">"), "{html}");
    let deep = client()
        .get(server.url("/some/client/route"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(deep, html, "unknown paths get index.html");
    let script = html
        .split("src=\"/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("script tag");
    let asset = client()
        .get(server.url(&format!("/{script}")))
        .header("Accept-Encoding", "br, gzip")
        .send()
        .unwrap();
    assert_eq!(asset.status().as_u16(), 200);
    assert_eq!(asset.headers()["content-encoding"], "br");
    assert!(asset.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(asset.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let (code, body) = get(&server, "/api/v1/no_such_endpoint");
    assert_eq!(code, 404);
    assert_eq!(body["errorType"], "not_found");
}

#[test]
fn dashboards_save_with_versions_and_refuse_bad_input() {
    let (_dir, server) = start();
    let dashboard = json!({"uid": "team", "title": "Team", "panels": [
        {"type": "timeseries", "title": "Up", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8}, "targets": [{"expr": "up"}]}]});
    let (code, body) = send(
        &server,
        reqwest::Method::POST,
        "/api/v1/dashboards",
        &dashboard.to_string(),
    );
    assert_eq!((code, body["data"]["version"].clone()), (200, json!(1)), "{body}");
    let (_, got) = get(&server, "/api/v1/dashboards/team");
    assert_eq!(got["data"]["dashboard"]["panels"][0]["id"], 1);
    let mut edited = got["data"]["dashboard"].clone();
    edited["title"] = json!("Team 2");
    let (code, body) = send(
        &server,
        reqwest::Method::PUT,
        "/api/v1/dashboards/team",
        &edited.to_string(),
    );
    assert_eq!((code, body["data"]["version"].clone()), (200, json!(2)), "{body}");
    let (code, body) = send(
        &server,
        reqwest::Method::PUT,
        "/api/v1/dashboards/team",
        &edited.to_string(),
    );
    assert_eq!(code, 409, "a stale version is refused: {body}");
    let (code, _) = send(
        &server,
        reqwest::Method::PUT,
        "/api/v1/dashboards/team?overwrite=true",
        &edited.to_string(),
    );
    assert_eq!(code, 200);
    let bad = json!({"title": "", "panels": [{"type": "heatmap"}]});
    let (code, body) = send(
        &server,
        reqwest::Method::POST,
        "/api/v1/dashboards",
        &bad.to_string(),
    );
    assert_eq!(code, 422);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("title:") && message.contains("panels[0].type"),
        "{message}"
    );
    let (code, body) = send(
        &server,
        reqwest::Method::POST,
        "/api/v1/dashboards",
        "{\"title\": [1,",
    );
    assert_eq!(code, 400);
    assert!(
        body["error"].as_str().unwrap().contains("line 1 column"),
        "{body}"
    );
    let (code, _) = send(&server, reqwest::Method::DELETE, "/api/v1/dashboards/team", "");
    assert_eq!(code, 200);
    assert_eq!(get(&server, "/api/v1/dashboards/team").0, 404);
}

#[test]
fn grafana_dashboards_import_and_provisioned_ones_are_read_only() {
    let (_dir, server) = start();
    let grafana = std::fs::read_to_string(fixture("ml-model-performance.grafana.json")).unwrap();
    let (code, body) = send(
        &server,
        reqwest::Method::POST,
        "/api/v1/dashboards/import",
        &grafana,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["uid"], "ml-model-performance");
    assert!(
        body["data"]["warnings"][0].as_str().unwrap().contains("heatmap"),
        "{body}"
    );
    let (_, got) = get(&server, "/api/v1/dashboards/ml-model-performance");
    let kinds: Vec<&str> = got["data"]["dashboard"]["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    let rows_become_titles = [
        "text",
        "stat",
        "gauge",
        "timeseries",
        "text",
        "timeseries",
        "timeseries",
    ];
    assert_eq!(kinds[..7], rows_become_titles);
    assert_eq!(kinds[7..], ["table", "text"]);
    let (code, _) = send(
        &server,
        reqwest::Method::POST,
        "/api/v1/dashboards/import",
        &grafana,
    );
    assert_eq!(code, 409, "importing over an existing uid needs overwrite=true");
    let (code, _) = send(
        &server,
        reqwest::Method::POST,
        "/api/v1/dashboards/import?overwrite=true",
        &grafana,
    );
    assert_eq!(code, 200);

    let (_, node) = get(&server, "/api/v1/dashboards/node-exporter");
    assert!(node["data"]["meta"]["provisioned"]
        .as_str()
        .unwrap()
        .ends_with("node-exporter.json"));
    let panels = node["data"]["dashboard"]["panels"].as_array().unwrap();
    let kinds: Vec<&str> = panels.iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["text", "stat", "gauge", "bargauge", "text", "timeseries", "table"],
        "rows become titles"
    );
    let (code, body) = send(
        &server,
        reqwest::Method::PUT,
        "/api/v1/dashboards/node-exporter?overwrite=true",
        &node["data"]["dashboard"].to_string(),
    );
    assert_eq!(code, 409, "{body}");
}

#[test]
fn each_model_gets_a_generated_dashboard() {
    let (_dir, server) = start();
    let (_, list) = get(&server, "/api/v1/dashboards");
    assert!(list["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["generated"] == false));
    seed(&server);
    let (_, list) = get(&server, "/api/v1/dashboards");
    let generated: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["generated"] == true)
        .collect();
    assert_eq!(generated.len(), 1);
    assert_eq!(generated[0]["uid"], "ml-fraud");
    let (code, got) = get(&server, "/api/v1/dashboards/ml-fraud");
    assert_eq!(code, 200);
    assert_eq!(got["data"]["meta"]["model"], "fraud");
    // Every generated query runs.
    for panel in got["data"]["dashboard"]["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap().replace("$version", ".*");
            let r = client()
                .get(server.url("/api/v1/query"))
                .query(&[("query", expr.as_str())])
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{expr}: {}", r.text().unwrap());
        }
    }
}

/// Runs one suite of tests/ui/run.mjs against `server`; panics with its output on failure.
fn run_browser_suite(server: &Server, suite: &str) {
    let shots = repo().join("target/ui-screenshots");
    let output = Command::new("node")
        .arg(repo().join("tests/ui/run.mjs"))
        .arg(&server.base)
        .arg(&shots)
        .arg(suite)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (install Node.js 20+): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "browser suite {suite} failed:\n{stdout}\n{stderr}"
    );
    assert!(Path::new(&shots).exists());
}

#[test]
fn browser_every_page_loads_and_draws() {
    let (_dir, server) = start();
    seed(&server);
    run_browser_suite(&server, "pages");
}

#[test]
fn browser_silence_is_created_and_expired() {
    let (_dir, server) = start();
    seed(&server);
    run_browser_suite(&server, "silences");
}

/// The front end's own unit tests (`ui/src/**/*.test.ts`, Node's test runner).
#[test]
fn ui_unit_tests_pass() {
    let output = Command::new("npm")
        .args(["test", "--silent"])
        .current_dir(repo().join("ui"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run npm (install Node.js 20+): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ui unit tests failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
