//! End to end with the real Alertmanager (Debian's `prometheus-alertmanager`
//! 0.25 on 127.0.0.1): the `sightline` binary evaluates a rule file over
//! remote-written samples and sends the rule's alerts to that Alertmanager
//! (`alerting.alertmanagers`), which lists them in its own `/api/v2/alerts`
//! with rule, series and external labels, expanded annotations and
//! Prometheus's `generatorURL`/`endsAt`, with `alert_relabel_configs`
//! applied, routes them to its webhook, and sees them resolve. Sightline's
//! own Alertmanager, given the same route, sends that webhook the same
//! firing and resolved messages, field for field.
//!
//! Also, in-process: group observers (incidents) hear each notification,
//! and `Notifier::apply` switches receivers.

mod common;
mod notify_support;

use common::Server;
use notify_support::{fingerprint, get_json, push_gauges, unix_ms, write_rules_config, WebhookReceiver};
use serde_json::{json, Value};
use sightline::alerts::{Alert, AlertSink};
use sightline::notify::Notifier;
use sightline::storage::{Storage, StorageOptions};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The real Alertmanager, killed on drop.
struct Alertmanager {
    child: Child,
    base: String,
}

impl Alertmanager {
    fn start(dir: &std::path::Path, webhook_url: &str) -> Alertmanager {
        let port = common::free_port();
        let config = dir.join("alertmanager.yml");
        let yaml = format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\nreceivers:\n  - name: hook\n    webhook_configs: [{{url: '{webhook_url}'}}]\n"
        );
        std::fs::write(&config, yaml).unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager is missing: tests/run-all.sh installs it with apt");
        let am = Alertmanager {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        am.wait_ready();
        am
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ready = common::client().get(format!("{}/-/ready", self.base)).send();
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("Alertmanager did not become ready at {}", self.base);
    }

    fn alerts(&self) -> Vec<Value> {
        common::client()
            .get(format!("{}/api/v2/alerts", self.base))
            .send()
            .and_then(|r| r.json())
            .unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alert(name: &str) -> Alert {
    let now = chrono::Utc::now();
    Alert {
        labels: [
            ("alertname".to_string(), name.to_string()),
            ("model".to_string(), "fraud".to_string()),
            ("severity".to_string(), "critical".to_string()),
        ]
        .into(),
        annotations: [("summary".to_string(), "p95 latency above 500ms".to_string())].into(),
        starts_at: now - chrono::Duration::seconds(30),
        ends_at: now + chrono::Duration::minutes(4),
        generator_url: "http://sightline/graph".to_string(),
    }
}

/// A firing rule and one that `alert_relabel_configs` drops.
const RULES: &str = r#"groups:
  - name: serving
    interval: 1s
    rules:
      - alert: Noise
        expr: vector(1)
      - alert: HighP95Latency
        expr: prediction_latency_p95_seconds > 0.5
        for: 1s
        labels:
          severity: critical
        annotations:
          summary: "p95 latency of {{ $labels.model }} is {{ $value | humanizeDuration }}"
"#;

const LATENCY: &[(&str, &str)] = &[
    ("__name__", "prediction_latency_p95_seconds"),
    ("job", "ml"),
    ("model", "fraud-v2"),
];

/// Polls the real Alertmanager's `/api/v2/alerts` until `done` holds.
fn wait_for_am_alerts(am: &Alertmanager, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alerts = am.alerts();
        if done(&alerts) {
            return alerts;
        }
        assert!(Instant::now() < deadline, "Alertmanager holds {alerts:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rule_alerts_from_the_sightline_binary_arrive_at_the_real_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    let am_webhook = WebhookReceiver::start();
    let am = Alertmanager::start(dir.path(), &am_webhook.url);
    let target = am.base.trim_start_matches("http://");
    // Sightline's own Alertmanager gets the route and receiver the real one has.
    let our_webhook = WebhookReceiver::start();
    let alerting = format!(
        "  alertmanagers:\n    - static_configs: [{{targets: ['{target}']}}]\n  alert_relabel_configs:\n    - {{action: drop, source_labels: [alertname], regex: Noise}}\n  route: {{receiver: hook, group_by: [alertname], group_wait: 1s, group_interval: 2s}}\n  receivers:\n    - name: hook\n      webhook_configs: [{{url: '{}'}}]\n",
        our_webhook.url
    );
    let (config, port) = write_rules_config(dir.path(), RULES, &alerting);
    let server = Server::start(&dir.path().join("data"), &config, port);
    push_gauges(&server.base, &[(LATENCY, 0.75)]);

    let received = wait_for_am_alerts(&am, |alerts| !alerts.is_empty());
    // Noise fired (without `for`) at least one evaluation before HighP95Latency.
    let rule_alerts = get_json(&server.url("/api/v1/alerts"));
    let firing: Vec<&str> = rule_alerts["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "firing")
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    assert!(firing.contains(&"Noise"), "{rule_alerts:#}");
    assert_eq!(
        received.len(),
        1,
        "Noise must be dropped by alert_relabel_configs: {received:#?}"
    );
    let got = &received[0];
    let labels = json!({"alertname": "HighP95Latency", "job": "ml", "model": "fraud-v2",
                        "severity": "critical", "site": "e2e"});
    assert_eq!(
        got["labels"], labels,
        "rule labels, series labels and external labels"
    );
    assert_eq!(
        got["annotations"],
        json!({"summary": "p95 latency of fraud-v2 is 750ms"})
    );
    assert_eq!(
        got["generatorURL"],
        format!(
            "{}/graph?g0.expr=prediction_latency_p95_seconds+%3E+0.5&g0.tab=1",
            server.base
        )
    );
    assert_eq!(got["fingerprint"], fingerprint(&labels));
    assert_eq!(got["status"]["state"], "active");
    // Prometheus sends ValidUntil = now + 4 × max(resend delay 1m, interval 1s).
    assert_eq!(unix_ms(&got["endsAt"]) - unix_ms(&got["startsAt"]), 240_000);

    // Alertmanager routes it on to its own receiver.
    let notified = am_webhook.wait_for(1, Duration::from_secs(20));
    assert_eq!(notified[0]["status"], "firing");
    assert_eq!(notified[0]["commonLabels"], labels);

    // Once the condition ends, Sightline sends the resolved alert (endsAt in
    // the past): Alertmanager stops listing it and notifies the resolution.
    let recovered_at = sightline::storage::now_ms();
    push_gauges(&server.base, &[(LATENCY, 0.2)]);
    wait_for_am_alerts(&am, <[Value]>::is_empty);
    let notified = am_webhook.wait_for(2, Duration::from_secs(20));
    let resolved = &notified[1];
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["groupKey"], notified[0]["groupKey"]);
    let ends_at = unix_ms(&resolved["alerts"][0]["endsAt"]);
    assert!(
        ends_at > recovered_at,
        "endsAt {ends_at} before the recovery at {recovered_at}"
    );

    // Sightline's own Alertmanager said exactly what the real one said, field
    // for field, apart from the URL each gives for itself.
    let ours = our_webhook.wait_for(2, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(am_webhook.bodies().len(), 2, "{:#?}", am_webhook.bodies());
    assert_eq!(our_webhook.bodies().len(), 2, "{:#?}", our_webhook.bodies());
    assert_eq!(ours[0]["externalURL"], server.base);
    for (theirs, ours) in notified.iter().zip(&ours) {
        assert_eq!(without_external_url(ours), without_external_url(theirs));
    }
    assert!(server.terminate().success());
}

fn without_external_url(body: &Value) -> Value {
    let mut body = body.clone();
    body.as_object_mut()
        .expect("a webhook body is an object")
        .remove("externalURL");
    body
}

/// Keeps every group event it hears.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<sightline::alerts::GroupEvent>>);

impl sightline::alerts::GroupObserver for Recorder {
    fn group_notified(&self, event: &sightline::alerts::GroupEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    fn wait_for(&self, count: usize) -> Vec<sightline::alerts::GroupEvent> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let events = self.0.lock().unwrap().clone();
            if events.len() >= count {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} group events, got {events:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn webhook_only(receiver: &str, url: &str) -> sightline::config::Config {
    let yaml = format!(
        "alerting:\n  route: {{receiver: {receiver}, group_by: [alertname], group_wait: 1s}}\n  receivers:\n    - name: {receiver}\n      webhook_configs: [{{url: '{url}'}}]\n"
    );
    sightline::config::parse_str(&yaml, "sightline.yml").unwrap()
}

#[test]
fn observers_hear_each_notification_and_apply_switches_receivers() {
    let dir = tempfile::tempdir().unwrap();
    let first = WebhookReceiver::start();
    let second = WebhookReceiver::start();
    let storage = Storage::open(&dir.path().join("data"), StorageOptions::default()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let notifier = runtime
        .block_on(async { Notifier::start(&storage, &webhook_only("first", &first.url), "http://s") })
        .unwrap();
    let recorder = std::sync::Arc::new(Recorder::default());
    notifier.add_observer(recorder.clone());

    notifier.send(vec![alert("ModelAccuracyDegraded")]);
    let events = recorder.wait_for(1);
    assert_eq!(events[0].receiver, "first");
    assert_eq!(events[0].group_key, r#"{}:{alertname="ModelAccuracyDegraded"}"#);
    assert!(events[0].firing);
    assert_eq!(events[0].outcome, Ok(()));
    assert_eq!(first.wait_for(1, Duration::from_secs(5)).len(), 1);

    let broken = sightline::config::parse_str(
        "alerting:\n  route: {receiver: x}\n  receivers:\n    - name: x\n      webhook_configs: [{url_file: /nonexistent/url}]\n",
        "bad.yml",
    )
    .unwrap();
    assert!(notifier.apply(&broken).unwrap_err().contains("/nonexistent/url"));

    notifier.apply(&webhook_only("second", &second.url)).unwrap();
    let events = recorder.wait_for(2);
    assert_eq!(events[1].receiver, "second");
    assert_eq!(
        second.wait_for(1, Duration::from_secs(5))[0]["receiver"],
        "second"
    );
    assert_eq!(first.bodies().len(), 1);
    drop(runtime);
}
