//! Helpers for notification end-to-end tests: a local HTTP receiver that
//! records what it is sent, posting alerts to Sightline's Alertmanager API,
//! config writers with an `alerting:` section (with or without a rule file),
//! remote-write pushes that drive rules, JSON polling, and independent
//! copies of what Alertmanager payloads must hold (fingerprints, Go's query
//! escaping).

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records every JSON body POSTed to it and answers 200 (or 500 while it
/// is told to fail).
pub struct WebhookReceiver {
    pub url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    attempts: Arc<AtomicUsize>,
}

impl WebhookReceiver {
    pub fn start() -> WebhookReceiver {
        WebhookReceiver::failing_first(0)
    }

    /// Answers the first `failures` requests with 500 and records nothing for them.
    pub fn failing_first(failures: usize) -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("receiver address"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(AtomicUsize::new(0));
        let (sink, count) = (bodies.clone(), attempts.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let body = read_request_body(&stream);
                let failing = count.fetch_add(1, Ordering::SeqCst) < failures;
                let status = if failing {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                if let (false, Some(Ok(json))) = (failing, body.map(|b| serde_json::from_slice(&b))) {
                    sink.lock().expect("receiver lock").push(json);
                }
                let mut stream = stream;
                let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        WebhookReceiver {
            url,
            bodies,
            attempts,
        }
    }

    /// Requests received, failed ones included.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().expect("receiver lock").clone()
    }

    /// Waits until at least `count` bodies arrived; panics after `timeout`.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let bodies = self.bodies();
            if bodies.len() >= count {
                return bodies;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} notifications, got {}: {bodies:#?}",
                bodies.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// One HTTP/1.1 request's body (Content-Length framing, as reqwest sends JSON).
fn read_request_body(stream: &std::net::TcpStream) -> Option<Vec<u8>> {
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// Writes a config listening on a free port with `alerting_yaml` (indented
/// under `alerting:`) and fast storage settings; returns its path and port.
pub fn write_alerting_config(dir: &Path, alerting_yaml: &str) -> (PathBuf, u16) {
    let port = super::common::free_port();
    let path = dir.join("sightline.yml");
    let yaml = format!("server:\n  listen: 127.0.0.1:{port}\nalerting:\n{alerting_yaml}\n");
    std::fs::write(&path, yaml).expect("write config");
    (path, port)
}

/// An alert as Prometheus posts it to Alertmanager.
pub fn alert_json(labels: &[(&str, &str)], starts_at: &str, ends_at: &str) -> serde_json::Value {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(n, v)| (n.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    serde_json::json!({
        "labels": labels,
        "annotations": {"summary": "accuracy below 0.85"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus/graph?g0.expr=model_accuracy+%3C+0.85",
    })
}

/// POSTs alerts to Sightline's `/api/v2/alerts`; panics unless it answers 200.
pub fn post_alerts(base: &str, alerts: &serde_json::Value) {
    let response = super::common::client()
        .post(format!("{base}/api/v2/alerts"))
        .json(alerts)
        .send()
        .expect("post alerts");
    let status = response.status();
    assert!(
        status.is_success(),
        "POST /api/v2/alerts: {status} {}",
        response.text().unwrap_or_default()
    );
}

/// RFC 3339 time `offset_secs` from now.
pub fn rfc3339_from_now(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Writes `rules_yaml` as `alerts.rules.yml` and a config that evaluates it
/// every second with `external_labels: {site: e2e}` and `alerting_yaml`
/// (indented under `alerting:`); returns the config's path and port.
pub fn write_rules_config(dir: &Path, rules_yaml: &str, alerting_yaml: &str) -> (PathBuf, u16) {
    let port = super::common::free_port();
    std::fs::write(dir.join("alerts.rules.yml"), rules_yaml).expect("write rules");
    let path = dir.join("sightline.yml");
    let yaml = format!(
        "global:\n  evaluation_interval: 1s\n  external_labels:\n    site: e2e\nrule_files:\n  - alerts.rules.yml\nserver:\n  listen: 127.0.0.1:{port}\nalerting:\n{alerting_yaml}\n"
    );
    std::fs::write(&path, yaml).expect("write config");
    (path, port)
}

/// Appends one sample per series at the current time through remote write,
/// as a Prometheus agent would; panics unless Sightline accepts it.
pub fn push_gauges(base: &str, series: &[(&[(&str, &str)], f64)]) {
    use sightline::storage::{now_ms, Labels, Sample, SeriesSamples};
    let t = now_ms();
    let batch: Vec<SeriesSamples> = series
        .iter()
        .map(|(labels, v)| SeriesSamples {
            labels: Labels::from_pairs(labels.iter().copied()),
            samples: vec![Sample { t, v: *v }],
        })
        .collect();
    let response = super::common::client()
        .post(format!("{base}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(sightline::ingest::remote_write::encode_write_request(&batch))
        .send()
        .expect("remote write");
    assert!(
        response.status().is_success(),
        "remote write: {}",
        response.status()
    );
}

/// GETs `url` as JSON.
pub fn get_json(url: &str) -> serde_json::Value {
    super::common::client()
        .get(url)
        .send()
        .and_then(|r| r.json())
        .unwrap_or_else(|err| panic!("GET {url}: {err}"))
}

/// Polls `url` every 50 ms until `done` holds for its JSON; panics after `timeout`.
pub fn poll_json(
    url: &str,
    timeout: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let value = get_json(url);
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting on {url}: {value:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Prometheus's `model.LabelSet.Fingerprint` (FNV-1a over sorted names and
/// values, each followed by 0xff) as Alertmanager prints it.
pub fn fingerprint(labels: &serde_json::Value) -> String {
    let sorted: std::collections::BTreeMap<&str, &str> = labels
        .as_object()
        .expect("labels are an object")
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str().expect("label values are strings")))
        .collect();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, value) in sorted {
        for byte in name.bytes().chain([0xff]).chain(value.bytes()).chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Go's `url.QueryEscape`, written out independently of Sightline's.
pub fn go_query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn unix_ms(rfc3339: &serde_json::Value) -> i64 {
    let text = rfc3339.as_str().expect("a time string");
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|err| panic!("{text}: {err}"))
        .timestamp_millis()
}
