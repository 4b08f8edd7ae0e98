//! End-to-end: the real binary, remote-write in, metadata API and
//! `tsdb dump` out, bad input refused, SIGKILL loses nothing acknowledged.

mod common;

use common::{client, tsdb_dump, write_config, Server};
use serde_json::Value;
use sightline::ingest::remote_write::encode_write_request;
use sightline::storage::{Labels, Sample, SeriesSamples};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs(pairs.iter().copied()),
        samples: samples.iter().map(|&(t, v)| Sample { t, v }).collect(),
    }
}

fn post_write(server: &Server, body: Vec<u8>) -> (u16, String) {
    let r = client()
        .post(server.url("/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .expect("post");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

fn get_json(server: &Server, path: &str, params: &[(&str, &str)]) -> Value {
    let r = client().get(server.url(path)).query(params).send().expect("get");
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().expect("json")
}

#[test]
fn remote_write_then_read_back_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = write_config(dir.path(), "  fsync: always");
    let data = dir.path().join("data");
    let server = Server::start(&data, &config, port);
    let t0 = now_ms() - 60_000;
    let body = encode_write_request(&[
        series(
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "200"),
            ],
            &[(t0, 1.0), (t0 + 15_000, 5.0)],
        ),
        series(
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "500"),
            ],
            &[(t0, f64::NAN)],
        ),
        series(&[("__name__", "up"), ("job", "db")], &[(t0, f64::INFINITY)]),
    ]);
    assert_eq!(post_write(&server, body).0, 204);

    let s = get_json(&server, "/api/v1/series", &[("match[]", "http_requests_total")]);
    assert_eq!(s["status"], "success");
    assert_eq!(s["data"].as_array().unwrap().len(), 2);
    let labels = get_json(&server, "/api/v1/labels", &[]);
    assert_eq!(labels["data"], serde_json::json!(["__name__", "code", "job"]));
    let values = get_json(
        &server,
        "/api/v1/label/job/values",
        &[("match[]", r#"{code="500"}"#)],
    );
    assert_eq!(values["data"], serde_json::json!(["api"]));
    let tsdb = get_json(&server, "/api/v1/status/tsdb", &[]);
    assert_eq!(tsdb["data"]["headStats"]["numSeries"], 3);
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("sightline_ingest_samples_total 4"), "{metrics}");

    assert!(server.terminate().success(), "SIGTERM must exit 0");
    let dump = tsdb_dump(&data, &["--match", "http_requests_total"]);
    let expected = format!(
        "http_requests_total{{code=\"200\", job=\"api\"}} 1 {t0}\nhttp_requests_total{{code=\"200\", job=\"api\"}} 5 {}\nhttp_requests_total{{code=\"500\", job=\"api\"}} NaN {t0}\n",
        t0 + 15_000
    );
    assert_eq!(dump, expected);
    let stats = std::process::Command::new(common::BIN)
        .args(["tsdb", "stats", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stats = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.contains("series: 3\nsamples: 4\n"), "{stats}");
    assert!(stats.contains("bytes/sample: "), "{stats}");

    let server = Server::start(&data, &config, port);
    let s = get_json(&server, "/api/v1/series", &[("match[]", r#"{job=~".+"}"#)]);
    assert_eq!(s["data"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_input_is_refused_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = write_config(dir.path(), "  fsync: interval");
    let server = Server::start(&dir.path().join("data"), &config, port);
    let t = now_ms();
    let good = encode_write_request(&[series(&[("__name__", "ok")], &[(t, 1.0)])]);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("not snappy", b"hello world, not snappy".to_vec(), 400, "snappy"),
        ("truncated", good[..good.len() / 2].to_vec(), 400, ""),
        (
            "bad protobuf",
            snap::raw::Encoder::new()
                .compress_vec(&[0xff, 0xff, 0xff])
                .unwrap(),
            400,
            "proto",
        ),
        (
            "invalid label name",
            encode_write_request(&[series(&[("__name__", "m"), ("bad-name", "x")], &[(t, 1.0)])]),
            400,
            "bad-name",
        ),
        (
            "duplicate label",
            encode_write_request(&[series(&[("__name__", "m"), ("a", "1"), ("a", "2")], &[(t, 1.0)])]),
            400,
            "duplicate",
        ),
        (
            "empty metric name",
            encode_write_request(&[series(&[("job", "x")], &[(t, 1.0)])]),
            400,
            "metric name",
        ),
        (
            "far future",
            encode_write_request(&[series(&[("__name__", "m")], &[(t + 3_600_000, 1.0)])]),
            400,
            "future",
        ),
    ];
    for (what, body, status, needle) in cases {
        let (code, text) = post_write(&server, body);
        assert_eq!(code, status, "{what}: {text}");
        assert!(
            text.to_lowercase().contains(needle),
            "{what}: {text:?} should mention {needle:?}"
        );
    }
    // A batch with one bad series is refused whole.
    let mixed = encode_write_request(&[
        series(&[("__name__", "partial_ok")], &[(t, 1.0)]),
        series(&[("__name__", "m"), ("0bad", "x")], &[(t, 1.0)]),
    ]);
    assert_eq!(post_write(&server, mixed).0, 400);
    // Out-of-order and conflicting duplicates are refused.
    assert_eq!(post_write(&server, good.clone()).0, 204);
    assert_eq!(
        post_write(&server, good).0,
        204,
        "identical duplicate is accepted"
    );
    let conflicting = encode_write_request(&[series(&[("__name__", "ok")], &[(t, 2.0)])]);
    let (code, text) = post_write(&server, conflicting);
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("duplicate sample for timestamp"), "{text}");
    let older = encode_write_request(&[series(&[("__name__", "ok")], &[(t - 1000, 2.0)])]);
    let (code, text) = post_write(&server, older);
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("out of order sample"), "{text}");
    // Oversized body (the default limit is 32MB). The server answers 413 as
    // soon as it sees Content-Length and may close the connection while the
    // client is still sending, so a reset mid-upload is retried.
    let huge = vec![0u8; 40 << 20];
    let status = (0..5).find_map(|_| {
        let sent = client()
            .post(server.url("/api/v1/write"))
            .body(huge.clone())
            .send();
        sent.ok().map(|r| r.status().as_u16())
    });
    assert_eq!(status, Some(413));

    let s = get_json(&server, "/api/v1/series", &[("match[]", r#"{__name__=~".+"}"#)]);
    assert_eq!(
        s["data"],
        serde_json::json!([{"__name__": "ok"}]),
        "only the good series is stored"
    );
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("sightline_ingest_rejected_samples_total{reason=\"out_of_order\"} 1"),
        "{metrics}"
    );
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = write_config(dir.path(), "  fsync: always");
    let data = dir.path().join("data");
    let server = Server::start(&data, &config, port);
    let url = server.url("/api/v1/write");
    let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let base = now_ms() - 3_600_000;
    let writer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let http = client();
            for i in 0..100_000i64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let t = base + i * 10;
                let batch: Vec<SeriesSamples> = (0..50)
                    .map(|s| {
                        series(
                            &[("__name__", "stream"), ("shard", &s.to_string())],
                            &[(t, i as f64)],
                        )
                    })
                    .collect();
                match http.post(&url).body(encode_write_request(&batch)).send() {
                    Ok(r) if r.status().as_u16() == 204 => acked.lock().unwrap().push(t),
                    _ => break, // the server is gone
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 10,
        "too few acknowledged batches ({}) to mean anything",
        acked.len()
    );

    // Restart serves the data, then shut down to dump it.
    let server = Server::start(&data, &config, port);
    let s = get_json(&server, "/api/v1/series", &[("match[]", "stream")]);
    assert_eq!(s["data"].as_array().unwrap().len(), 50);
    assert!(server.terminate().success());
    let dump = tsdb_dump(&data, &["--match", "stream{shard=\"7\"}"]);
    let stored: std::collections::HashSet<i64> = dump
        .lines()
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    let missing: Vec<&i64> = acked.iter().filter(|t| !stored.contains(t)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged samples lost, first {:?}",
        missing.len(),
        missing.first()
    );
}

/// Runs `sightline check config` on a file with `yaml`; returns (success, stdout).
fn check_config(dir: &std::path::Path, name: &str, yaml: &str) -> (bool, String) {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["check", "config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_config_reports_positions() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = check_config(
        dir.path(),
        "bad.yml",
        "storage:\n  retention_time: 15d\n  bogus_key: 1\n",
    );
    assert!(!ok);
    assert!(text.contains("bad.yml:3:"), "{text}");
    let (ok, text) = check_config(
        dir.path(),
        "good.yml",
        "storage:\n  retention_time: 30d\n  fsync: always\n",
    );
    assert!(ok, "{text}");
}
