//! End to end with the real Alertmanager (Debian's `prometheus-alertmanager`
//! 0.25 on 127.0.0.1): alerts handed to Sightline's notifier as the rule
//! engine hands them (`AlertSink`) arrive at the external Alertmanager's
//! `/api/v2/alerts` with external labels added and `alert_relabel_configs`
//! applied, and that Alertmanager routes them on to its own webhook.
//!
//! The notifier runs in-process here because the rule engine is the only
//! `AlertSink` caller in the binary; once it is wired, a rule-driven variant
//! against the binary reuses `notify_support`.

mod common;
mod notify_support;

use notify_support::WebhookReceiver;
use serde_json::Value;
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

#[test]
fn sightline_alerts_arrive_at_the_real_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    let am_webhook = WebhookReceiver::start();
    let am = Alertmanager::start(dir.path(), &am_webhook.url);
    let target = am.base.trim_start_matches("http://");
    let yaml = format!(
        "global:\n  external_labels: {{cluster: eu-1}}\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['{target}']}}]\n  alert_relabel_configs:\n    - {{action: drop, source_labels: [alertname], regex: Noise}}\n"
    );
    let config = sightline::config::parse_str(&yaml, "sightline.yml").unwrap();
    let storage = Storage::open(&dir.path().join("data"), StorageOptions::default()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let notifier = runtime
        .block_on(async { Notifier::start(&storage, &config, "http://sightline:7464") })
        .unwrap();

    notifier.send(vec![alert("HighP95Latency"), alert("Noise")]);

    let deadline = Instant::now() + Duration::from_secs(20);
    let received = loop {
        let alerts = am.alerts();
        if !alerts.is_empty() {
            break alerts;
        }
        assert!(Instant::now() < deadline, "no alert reached Alertmanager");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        received.len(),
        1,
        "Noise must be dropped by alert_relabel_configs: {received:#?}"
    );
    let got = &received[0];
    assert_eq!(got["labels"]["alertname"], "HighP95Latency");
    assert_eq!(got["labels"]["cluster"], "eu-1");
    assert_eq!(got["annotations"]["summary"], "p95 latency above 500ms");
    assert_eq!(got["generatorURL"], "http://sightline/graph");
    assert_eq!(got["status"]["state"], "active");

    // Alertmanager routes it on to its own receiver.
    let notified = am_webhook.wait_for(1, Duration::from_secs(20));
    assert_eq!(notified[0]["commonLabels"]["cluster"], "eu-1");
    assert_eq!(notified[0]["status"], "firing");
    drop(runtime);
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
