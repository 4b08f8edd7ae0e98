//! Incidents through the real binary: the `/api/v1/incidents` routes, their
//! errors, configuration errors at startup, and (once the notifier's
//! `/api/v2/alerts` intake is merged) a whole alert → incident → action →
//! acknowledge → resolve → restart cycle.

mod common;

use common::{client, free_port, Server, BIN};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A local HTTP receiver for actions: answers 200 and keeps each body.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

fn receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    Receiver { url, bodies }
}

fn start(dir: &Path, extra_yaml: &str) -> Server {
    let port = free_port();
    let config = dir.join("sightline.yml");
    std::fs::write(
        &config,
        format!("server:\n  listen: 127.0.0.1:{port}\n{extra_yaml}"),
    )
    .unwrap();
    Server::start(&dir.join("data"), &config, port)
}

fn get(server: &Server, path: &str) -> (u16, Value) {
    let response = client().get(server.url(path)).send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap())
}

fn post(server: &Server, path: &str, body: &str) -> (u16, Value) {
    let response = client()
        .post(server.url(path))
        .body(body.to_string())
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap())
}

#[test]
fn the_incident_api_answers_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "incidents:\n  dry_run: true\n");
    let (status, body) = get(&server, "/api/v1/incidents");
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({"status": "success", "data": []}));
    for (path, code, error_type) in [
        ("/api/v1/incidents/7", 404, "not_found"),
        ("/api/v1/incidents/seven", 400, "bad_data"),
        ("/api/v1/incidents?state=firing", 400, "bad_data"),
        ("/api/v1/incidents?offset=x", 400, "bad_data"),
    ] {
        let (status, body) = get(&server, path);
        assert_eq!(
            (status, body["errorType"].as_str()),
            (code, Some(error_type)),
            "{path}: {body}"
        );
        assert_eq!(body["status"], "error");
    }
    let (status, body) = post(&server, "/api/v1/incidents/7/acknowledge", r#"{"by":"alice"}"#);
    assert_eq!((status, body["errorType"].as_str()), (404, Some("not_found")));
    let (status, body) = post(&server, "/api/v1/incidents/7/resolve", "{not json");
    assert_eq!((status, body["errorType"].as_str()), (400, Some("bad_data")));
}

#[test]
fn the_incident_gauge_is_on_the_servers_own_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for state in ["open", "acknowledged", "resolved"] {
        let line = format!("sightline_incidents{{state=\"{state}\"}} 0");
        assert!(
            metrics.contains(&line),
            "{line} missing from /metrics:\n{metrics}"
        );
    }
}

#[test]
fn a_bad_action_is_refused_at_startup_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sightline.yml");
    let yaml = "incidents:\n  actions:\n    - name: retrain\n      on: open\n      matchers: ['model fraud']\n      http:\n        url: http://127.0.0.1:1/x\n";
    std::fs::write(&config, yaml).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sightline.yml:5:"), "{stderr}");
    assert!(stderr.contains("bad matcher"), "{stderr}");
}

/// An Alertmanager v2 alert as Prometheus posts it.
fn alert(ends_at: &str) -> String {
    format!(
        r#"[{{"labels": {{"alertname": "ModelAccuracyDegraded", "model": "fraud", "severity": "critical"}},
            "annotations": {{"summary": "accuracy below 0.85"}},
            "startsAt": "2026-01-01T00:00:00Z", "endsAt": "{ends_at}"}}]"#
    )
}

/// POSTs alerts to the notifier's intake, which answers 200 without a body.
fn post_alerts(server: &Server, body: &str) -> u16 {
    let response = client()
        .post(server.url("/api/v2/alerts"))
        .body(body.to_string())
        .send()
        .unwrap();
    response.status().as_u16()
}

fn wait_for(server: &Server, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = get(server, path);
        if done(&body["data"]) {
            return body["data"].clone();
        }
        assert!(Instant::now() < deadline, "waited in vain for {what}: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Drives the whole cycle through the notifier. Needs the `notify` branch's
/// `/api/v2/alerts` intake and `alerting:` section; enable after merging it.
#[test]
fn a_firing_group_opens_an_incident_that_runs_actions_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hook = receiver();
    let actions = receiver();
    let yaml = format!(
        "alerting:\n  route:\n    receiver: hook\n    group_by: [alertname, model]\n    group_wait: 1s\n    group_interval: 1s\n  receivers:\n    - name: hook\n      webhook_configs:\n        - url: {}\nincidents:\n  actions:\n    - name: retrain\n      on: open\n      matchers: ['model=~\"fraud|churn\"']\n      http:\n        url: {}\n        body: '{{\"model\": {{{{ .Labels.model | json }}}}, \"why\": {{{{ .CommonAnnotations.summary | json }}}}}}'\n",
        hook.url, actions.url
    );
    let server = start(dir.path(), &yaml);
    assert_eq!(post_alerts(&server, &alert("2099-01-01T00:00:00Z")), 200);
    let incidents = wait_for(&server, "/api/v1/incidents", "an incident with its action", |d| {
        d[0]["actions"].as_array().is_some_and(|a| !a.is_empty())
    });
    let incident = &incidents[0];
    assert_eq!(incident["state"], "open");
    assert_eq!(incident["labels"]["model"], "fraud");
    assert_eq!(incident["actions"][0]["ok"], true);
    let body: Value = serde_json::from_str(&actions.bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"model": "fraud", "why": "accuracy below 0.85"})
    );
    let id = incident["id"].as_str().unwrap().to_string();

    let (status, acked) = post(
        &server,
        &format!("/api/v1/incidents/{id}/acknowledge"),
        r#"{"by":"alice"}"#,
    );
    assert_eq!(
        (status, acked["data"]["state"].as_str()),
        (200, Some("acknowledged"))
    );

    assert_eq!(post_alerts(&server, &alert("2026-01-01T00:10:00Z")), 200);
    let path = format!("/api/v1/incidents/{id}");
    let resolved = wait_for(&server, &path, "the incident to resolve", |d| {
        d["state"] == "resolved"
    });
    let kinds: Vec<&str> = resolved["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["fired", "notified", "action", "acknowledged", "resolved"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert!(server.terminate().success());

    let config = dir.path().join("sightline.yml");
    let port: u16 = std::fs::read_to_string(&config).unwrap()[..60]
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let server = Server::start(&dir.path().join("data"), &config, port);
    let (_, after) = get(&server, &path);
    assert_eq!(
        after["data"], resolved,
        "the incident as it was before the restart"
    );
}
