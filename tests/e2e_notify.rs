//! End to end: the real `sightline` binary as Prometheus plus Alertmanager.
//!
//! - Rule-driven: alerting rules fed by remote write go pending, then
//!   firing, and a local HTTP receiver gets exactly one firing and one
//!   resolved webhook notification per group, in Alertmanager's version-4
//!   payload (templated annotations, rule and external labels, Prometheus's
//!   `startsAt`/`endsAt`/`generatorURL`), although Sightline restarts with
//!   SIGTERM while the alerts fire (the notification log and the
//!   notifier's alerts are persisted); an alert that resolved just before a
//!   restart is notified as resolved after it.
//! - The same guarantee for alerts posted to `/api/v2/alerts` by an external
//!   Prometheus.
//! - Debian's `amtool` queries, adds and expires silences through Sightline's
//!   Alertmanager v2 API, and `amtool alert query` sees silenced alerts.
//! - Silences and alerts posted badly get Alertmanager's answers.

mod common;
mod notify_support;

use common::{client, Server};
use notify_support::{
    alert_json, fingerprint, get_json, go_query_escape, poll_json, post_alerts, push_gauges,
    rfc3339_from_now, unix_ms, write_alerting_config, write_rules_config, WebhookReceiver,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn webhook_config(receiver: &WebhookReceiver) -> String {
    format!(
        "  route:\n    receiver: hook\n    group_by: [alertname]\n    group_wait: 1s\n    group_interval: 2s\n    repeat_interval: 1h\n  receivers:\n    - name: hook\n      webhook_configs:\n        - url: {}\n",
        receiver.url
    )
}

/// The notifications one group received, in order.
fn for_group<'a>(bodies: &'a [Value], alertname: &str) -> Vec<&'a Value> {
    bodies
        .iter()
        .filter(|b| b["groupLabels"]["alertname"] == alertname)
        .collect()
}

#[test]
fn one_firing_and_one_resolved_notification_per_group_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = WebhookReceiver::start();
    let (config, port) = write_alerting_config(dir.path(), &webhook_config(&receiver));
    let data = dir.path().join("data");
    let started = rfc3339_from_now(-60);
    let firing = |name: &str| {
        alert_json(
            &[("alertname", name), ("model", "fraud"), ("severity", "warning")],
            &started,
            &rfc3339_from_now(300),
        )
    };
    let server = Server::start(&data, &config, port);
    post_alerts(
        &server.base,
        &json!([firing("ModelAccuracyDegraded"), firing("HighP95Latency")]),
    );
    let bodies = receiver.wait_for(2, Duration::from_secs(20));
    for name in ["ModelAccuracyDegraded", "HighP95Latency"] {
        let sent = for_group(&bodies, name);
        assert_eq!(sent.len(), 1, "{name}: {bodies:#?}");
        check_firing_payload(sent[0], name, &server.base);
    }

    // Restart while firing; Prometheus keeps re-sending the firing alerts.
    assert!(server.terminate().success());
    let server = Server::start(&data, &config, port);
    post_alerts(
        &server.base,
        &json!([firing("ModelAccuracyDegraded"), firing("HighP95Latency")]),
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        receiver.bodies().len(),
        2,
        "the restart paged again: {:#?}",
        receiver.bodies()
    );

    let resolved_at = rfc3339_from_now(-1);
    let resolved = |name: &str| {
        alert_json(
            &[("alertname", name), ("model", "fraud"), ("severity", "warning")],
            &started,
            &resolved_at,
        )
    };
    post_alerts(
        &server.base,
        &json!([resolved("ModelAccuracyDegraded"), resolved("HighP95Latency")]),
    );
    receiver.wait_for(4, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(5));
    let bodies = receiver.bodies();
    for name in ["ModelAccuracyDegraded", "HighP95Latency"] {
        let sent = for_group(&bodies, name);
        assert_eq!(
            sent.len(),
            2,
            "{name}: exactly one firing and one resolved: {bodies:#?}"
        );
        let last = sent[1];
        assert_eq!(last["status"], "resolved");
        assert_eq!(last["alerts"][0]["status"], "resolved");
        let resolved_time = chrono::DateTime::parse_from_rfc3339(&resolved_at)
            .unwrap()
            .to_utc();
        assert_eq!(last["alerts"][0]["endsAt"], go_time(resolved_time));
        assert_eq!(last["groupKey"], sent[0]["groupKey"]);
    }
    assert!(server.terminate().success());
}

/// Go's RFC 3339 with trailing zeros of the fraction trimmed.
fn go_time(time: chrono::DateTime<chrono::Utc>) -> String {
    let text = time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let (head, fraction) = text.trim_end_matches('Z').split_once('.').unwrap();
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{head}Z")
    } else {
        format!("{head}.{fraction}Z")
    }
}

fn check_firing_payload(body: &Value, name: &str, base: &str) {
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = [
        "receiver",
        "status",
        "alerts",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "version",
        "groupKey",
        "truncatedAlerts",
    ];
    expected.sort();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert_eq!(body["receiver"], "hook");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["version"], "4");
    assert_eq!(body["groupKey"], format!("{{}}:{{alertname=\"{name}\"}}"));
    assert_eq!(body["groupLabels"], json!({"alertname": name}));
    assert_eq!(
        body["commonLabels"],
        json!({"alertname": name, "model": "fraud", "severity": "warning"})
    );
    assert_eq!(
        body["commonAnnotations"],
        json!({"summary": "accuracy below 0.85"})
    );
    assert_eq!(body["externalURL"], base);
    assert_eq!(body["truncatedAlerts"], 0);
    let alert = &body["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        alert["generatorURL"],
        "http://prometheus/graph?g0.expr=model_accuracy+%3C+0.85"
    );
    let fingerprint = alert["fingerprint"].as_str().unwrap();
    assert!(fingerprint.len() == 16 && fingerprint.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn a_failing_receiver_is_retried_without_delaying_others() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = WebhookReceiver::failing_first(3);
    let healthy = WebhookReceiver::start();
    let yaml = format!(
        "  route:\n    receiver: healthy\n    group_by: [alertname]\n    group_wait: 1s\n    group_interval: 20s\n    routes:\n      - matchers: [severity=critical]\n        receiver: flaky\n  receivers:\n    - name: healthy\n      webhook_configs: [{{url: '{}'}}]\n    - name: flaky\n      webhook_configs: [{{url: '{}'}}]\n",
        healthy.url, flaky.url
    );
    let (config, port) = write_alerting_config(dir.path(), &yaml);
    let server = Server::start(&dir.path().join("data"), &config, port);
    let started = rfc3339_from_now(-30);
    let ends = rfc3339_from_now(300);
    post_alerts(
        &server.base,
        &json!([
            alert_json(
                &[("alertname", "TargetDown"), ("severity", "critical")],
                &started,
                &ends
            ),
            alert_json(
                &[("alertname", "LowThroughput"), ("severity", "warning")],
                &started,
                &ends
            ),
        ]),
    );
    let sent = healthy.wait_for(1, Duration::from_secs(3));
    assert_eq!(sent[0]["groupLabels"]["alertname"], "LowThroughput");
    assert!(flaky.bodies().is_empty(), "the flaky receiver is still failing");
    let delivered = flaky.wait_for(1, Duration::from_secs(15));
    assert_eq!(delivered[0]["groupLabels"]["alertname"], "TargetDown");
    assert_eq!(flaky.attempts(), 4, "three failures, then success");
    assert!(server.terminate().success());
}

#[test]
fn slack_and_pagerduty_messages_with_a_key_from_the_environment() {
    std::env::set_var("SIGHTLINE_E2E_PAGERDUTY_KEY", "pd-routing-key-42");
    let dir = tempfile::tempdir().unwrap();
    let slack = WebhookReceiver::start();
    let pagerduty = WebhookReceiver::start();
    let yaml = format!(
        "  route: {{receiver: oncall, group_by: [alertname], group_wait: 1s}}\n  receivers:\n    - name: oncall\n      slack_configs: [{{api_url: '{}', channel: '#ml-alerts'}}]\n      pagerduty_configs: [{{routing_key: '${{SIGHTLINE_E2E_PAGERDUTY_KEY}}', url: '{}'}}]\n",
        slack.url, pagerduty.url
    );
    let (config, port) = write_alerting_config(dir.path(), &yaml);
    let server = Server::start(&dir.path().join("data"), &config, port);
    let labels = [
        ("alertname", "TargetDown"),
        ("job", "model-server"),
        ("severity", "critical"),
    ];
    post_alerts(
        &server.base,
        &json!([alert_json(
            &labels,
            &rfc3339_from_now(-30),
            &rfc3339_from_now(300)
        )]),
    );

    let message = &slack.wait_for(1, Duration::from_secs(20))[0];
    assert_eq!(message["channel"], "#ml-alerts");
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["color"], "danger", "critical is red");
    assert_eq!(
        attachment["title"],
        "[FIRING:1] TargetDown (model-server critical)"
    );

    let event = &pagerduty.wait_for(1, Duration::from_secs(20))[0];
    assert_eq!(event["routing_key"], "pd-routing-key-42");
    assert_eq!(event["event_action"], "trigger");
    let group_key = r#"{}:{alertname="TargetDown"}"#;
    let digest: String = sha2::Digest::finalize(sha2::Digest::chain_update(
        <sha2::Sha256 as sha2::Digest>::new(),
        group_key.as_bytes(),
    ))
    .iter()
    .map(|b| format!("{b:02x}"))
    .collect();
    assert_eq!(event["dedup_key"], digest.as_str());
    assert_eq!(
        event["payload"]["summary"],
        "[FIRING:1] TargetDown (model-server critical)"
    );
    assert_eq!(event["payload"]["custom_details"]["num_firing"], "1");
    let shown: Value = client()
        .get(server.url("/api/v1/status/config"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(!shown["data"]["yaml"]
        .as_str()
        .unwrap()
        .contains("SIGHTLINE_E2E_PAGERDUTY_KEY"));
    assert!(server.terminate().success());
}

/// Runs `amtool` against `base`; panics with its output when it fails.
fn amtool(base: &str, args: &[&str]) -> String {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url={base}"))
        .args(args)
        .output()
        .expect("amtool is missing: tests/run-all.sh installs Debian's prometheus-alertmanager");
    assert!(
        out.status.success(),
        "amtool {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn amtool_manages_silences_through_sightline() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = WebhookReceiver::start();
    let (config, port) = write_alerting_config(dir.path(), &webhook_config(&receiver));
    let server = Server::start(&dir.path().join("data"), &config, port);
    let base = server.base.clone();

    let id = amtool(
        &base,
        &[
            "silence",
            "add",
            "alertname=DataDrift",
            "model=~fraud.*",
            "--comment=retraining",
            "--author=ml-oncall",
            "--duration=2h",
        ],
    );
    let id = id.trim().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id:?}");

    let listed: Value = serde_json::from_str(&amtool(&base, &["silence", "query", "-o", "json"])).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["status"]["state"], "active");
    assert_eq!(listed[0]["createdBy"], "ml-oncall");
    let matchers = &listed[0]["matchers"];
    assert!(matchers
        .as_array()
        .unwrap()
        .contains(&json!({"name": "model", "value": "fraud.*", "isRegex": true, "isEqual": true})));
    let quiet = amtool(&base, &["silence", "query", "-q", "alertname=DataDrift"]);
    assert_eq!(quiet.trim(), id);
    assert!(amtool(&base, &["silence", "query", "-q", "alertname=Other"])
        .trim()
        .is_empty());

    // A matching alert is suppressed, and no notification goes out for it.
    let drift = alert_json(
        &[("alertname", "DataDrift"), ("model", "fraud-v2")],
        &rfc3339_from_now(-10),
        &rfc3339_from_now(300),
    );
    post_alerts(&base, &json!([drift]));
    let alerts: Value =
        serde_json::from_str(&amtool(&base, &["alert", "query", "-o", "json", "--silenced"])).unwrap();
    assert_eq!(alerts[0]["status"]["state"], "suppressed");
    assert_eq!(alerts[0]["status"]["silencedBy"], json!([id.as_str()]));
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        receiver.bodies().is_empty(),
        "silenced alert notified: {:#?}",
        receiver.bodies()
    );

    amtool(&base, &["silence", "expire", &id]);
    let silence: Value = client()
        .get(format!("{base}/api/v2/silence/{id}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(silence["status"]["state"], "expired");
    assert!(
        amtool(&base, &["silence", "query", "-q"]).trim().is_empty(),
        "expired silences are hidden by default"
    );
    let notified = receiver.wait_for(1, Duration::from_secs(20));
    assert_eq!(notified[0]["groupLabels"]["alertname"], "DataDrift");
    assert!(server.terminate().success());
}

#[test]
fn silences_persist_and_bad_input_gets_alertmanager_answers() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = WebhookReceiver::start();
    let (config, port) = write_alerting_config(dir.path(), &webhook_config(&receiver));
    let data = dir.path().join("data");
    let server = Server::start(&data, &config, port);
    let http = client();
    let post = |body: Value| {
        http.post(server.url("/api/v2/silences"))
            .json(&body)
            .send()
            .unwrap()
    };
    let silence = |matchers: Value, ends: i64| json!({"matchers": matchers, "startsAt": rfc3339_from_now(0), "endsAt": rfc3339_from_now(ends), "createdBy": "me", "comment": "c"});
    let good = json!([{"name": "alertname", "value": "Down", "isRegex": false}]);
    let created: Value = post(silence(good.clone(), 3600)).json().unwrap();
    let id = created["silenceID"].as_str().unwrap().to_string();

    let empty = json!([{"name": "alertname", "value": "", "isRegex": false}]);
    let response = post(silence(empty, 3600));
    assert_eq!(response.status(), 400);
    let message = response.json::<Value>().unwrap();
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("at least one matcher must not match the empty string"),
        "{message}"
    );
    let response = post(silence(good.clone(), -3600));
    assert_eq!(response.status(), 400);
    let response = post(
        json!({"matchers": good, "startsAt": rfc3339_from_now(0), "endsAt": rfc3339_from_now(60), "comment": "c"}),
    );
    assert_eq!(response.status(), 422);
    let response = http
        .get(server.url("/api/v2/silences?filter=%7Bbroken"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = http
        .post(server.url("/api/v2/alerts"))
        .json(&json!([{"labels": {}}]))
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .unwrap()
        .contains("at least one label pair required"));
    assert_eq!(
        http.delete(server.url("/api/v2/silence/nope"))
            .send()
            .unwrap()
            .status(),
        404
    );

    assert!(server.terminate().success());
    let server = Server::start(&data, &config, port);
    let kept: Value = client()
        .get(server.url(&format!("/api/v2/silence/{id}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(kept["status"]["state"], "active");
    let receivers: Value = client()
        .get(server.url("/api/v2/receivers"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(receivers, json!([{"name": "hook"}]));
    let shown: Value = client()
        .get(server.url("/api/v1/status/config"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let yaml = shown["data"]["yaml"].as_str().unwrap();
    assert!(
        yaml.contains("- url: <secret>") && !yaml.contains("/hook"),
        "webhook URL shown: {yaml}"
    );
    assert!(server.terminate().success());
}

/// Two alerting rules with `for`, rule labels and templated annotations.
const ML_RULES: &str = r#"groups:
  - name: ml-quality
    interval: 1s
    rules:
      - alert: ModelAccuracyDegraded
        expr: model_accuracy{model=~"fraud.*"} < 0.85
        for: 4s
        labels:
          severity: warning
          team: "ml-{{ $labels.model }}"
        annotations:
          summary: "accuracy of {{ $labels.model }} is {{ $value | humanizePercentage }}"
          runbook: "https://{{ $externalLabels.site }}.example/runbooks/accuracy"
      - alert: HighP95Latency
        expr: prediction_latency_p95_seconds > 0.5
        for: 4s
        labels:
          severity: critical
        annotations:
          summary: "p95 latency of {{ $labels.model }} is {{ $value | humanizeDuration }}"
"#;

const ACCURACY_EXPR: &str = r#"model_accuracy{model=~"fraud.*"} < 0.85"#;
const LATENCY_EXPR: &str = "prediction_latency_p95_seconds > 0.5";
const ACCURACY: &[(&str, &str)] = &[
    ("__name__", "model_accuracy"),
    ("job", "ml"),
    ("model", "fraud-v2"),
];
const LATENCY: &[(&str, &str)] = &[
    ("__name__", "prediction_latency_p95_seconds"),
    ("job", "ml"),
    ("model", "fraud-v2"),
];

/// What each group's notification must say, firing or resolved.
struct Expected {
    name: &'static str,
    expr: &'static str,
    labels: Value,
    annotations: Value,
}

fn expected_groups() -> [Expected; 2] {
    [
        Expected {
            name: "ModelAccuracyDegraded",
            expr: ACCURACY_EXPR,
            labels: json!({"alertname": "ModelAccuracyDegraded", "job": "ml", "model": "fraud-v2",
                           "severity": "warning", "team": "ml-fraud-v2", "site": "e2e"}),
            annotations: json!({"summary": "accuracy of fraud-v2 is 80%",
                                "runbook": "https://e2e.example/runbooks/accuracy"}),
        },
        Expected {
            name: "HighP95Latency",
            expr: LATENCY_EXPR,
            labels: json!({"alertname": "HighP95Latency", "job": "ml", "model": "fraud-v2",
                           "severity": "critical", "site": "e2e"}),
            annotations: json!({"summary": "p95 latency of fraud-v2 is 750ms"}),
        },
    ]
}

/// `activeAt` (ms) of each named alert once `/api/v1/alerts` shows both in
/// `state`; asserts nothing was notified while they were pending.
fn wait_for_rule_alerts(
    base: &str,
    state: &str,
    receiver: &WebhookReceiver,
    sent_before: usize,
) -> BTreeMap<String, i64> {
    let url = format!("{base}/api/v1/alerts");
    let listed = poll_json(&url, Duration::from_secs(20), |v| {
        let alerts = v["data"]["alerts"].as_array().map_or(&[][..], Vec::as_slice);
        if state == "pending" {
            assert!(
                alerts.iter().all(|a| a["state"] == "pending"),
                "an alert skipped pending: {alerts:#?}"
            );
            assert_eq!(receiver.bodies().len(), sent_before, "notified while pending");
        }
        alerts.len() == 2 && alerts.iter().all(|a| a["state"] == state)
    });
    listed["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap().to_string(),
                unix_ms(&a["activeAt"]),
            )
        })
        .collect()
}

/// Checks one Alertmanager v4 webhook body of a rule-driven group, field by field.
fn check_rule_payload(body: &Value, expected: &Expected, status: &str, base: &str) {
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "alerts",
            "commonAnnotations",
            "commonLabels",
            "externalURL",
            "groupKey",
            "groupLabels",
            "receiver",
            "status",
            "truncatedAlerts",
            "version"
        ]
    );
    let name = expected.name;
    assert_eq!(body["receiver"], "hook");
    assert_eq!(body["status"], status);
    assert_eq!(body["version"], "4");
    assert_eq!(body["groupKey"], format!("{{}}:{{alertname=\"{name}\"}}"));
    assert_eq!(body["groupLabels"], json!({ "alertname": name }));
    assert_eq!(body["commonLabels"], expected.labels);
    assert_eq!(body["commonAnnotations"], expected.annotations);
    assert_eq!(body["externalURL"], base);
    assert_eq!(body["truncatedAlerts"], 0);
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{body:#}");
    let alert = &alerts[0];
    let mut keys: Vec<&str> = alert.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "annotations",
            "endsAt",
            "fingerprint",
            "generatorURL",
            "labels",
            "startsAt",
            "status"
        ]
    );
    assert_eq!(alert["status"], status);
    assert_eq!(alert["labels"], expected.labels);
    assert_eq!(alert["annotations"], expected.annotations);
    assert_eq!(
        alert["generatorURL"],
        format!("{base}/graph?g0.expr={}&g0.tab=1", go_query_escape(expected.expr))
    );
    assert_eq!(alert["fingerprint"], fingerprint(&expected.labels));
    if status == "firing" {
        assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    }
}

/// Prometheus sends `startsAt` = the evaluation that turned the alert firing:
/// `for` or more after `activeAt`, on the group's 1 s evaluation grid.
fn check_fired_at(alert: &Value, active_at_ms: i64) {
    let fired_at = unix_ms(&alert["startsAt"]);
    let held = fired_at - active_at_ms;
    assert!(
        held >= 4_000 && held % 1_000 == 0,
        "startsAt {} is not an evaluation at least `for: 4s` after activeAt {active_at_ms}",
        alert["startsAt"]
    );
}

#[test]
fn rule_alerts_notify_once_when_firing_and_once_when_resolved_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = WebhookReceiver::start();
    let (config, port) = write_rules_config(dir.path(), ML_RULES, &webhook_config(&receiver));
    let data = dir.path().join("data");
    let server = Server::start(&data, &config, port);
    let base = server.base.clone();
    push_gauges(&base, &[(ACCURACY, 0.8), (LATENCY, 0.75)]);

    // inactive → pending (nothing sent) → firing: one notification per group.
    let pending = wait_for_rule_alerts(&base, "pending", &receiver, 0);
    let firing = wait_for_rule_alerts(&base, "firing", &receiver, 0);
    assert_eq!(pending, firing, "activeAt is kept from pending to firing");
    let bodies = receiver.wait_for(2, Duration::from_secs(20));
    for expected in expected_groups() {
        let sent = for_group(&bodies, expected.name);
        assert_eq!(sent.len(), 1, "{}: {bodies:#?}", expected.name);
        check_rule_payload(sent[0], &expected, "firing", &base);
        check_fired_at(&sent[0]["alerts"][0], firing[expected.name]);
    }
    let stored_pending = get_json(&format!(
        "{base}/api/v1/query?query=count+by+(alertname)+(count_over_time(ALERTS%7Balertstate%3D%22pending%22%7D%5B1m%5D))"
    ));
    assert_eq!(
        stored_pending["data"]["result"].as_array().map(Vec::len),
        Some(2),
        "ALERTS recorded both alerts pending: {stored_pending:#}"
    );

    let first_starts: BTreeMap<&str, Value> = expected_groups()
        .iter()
        .map(|e| {
            (
                e.name,
                for_group(&bodies, e.name)[0]["alerts"][0]["startsAt"].clone(),
            )
        })
        .collect();

    // SIGTERM while firing. The rules go pending and fire again after the
    // restart (`for` < the 10 min grace period is not restored, as in
    // Prometheus); the notification log persisted, so nobody is paged again,
    // and the notifier's stored alerts keep their first `startsAt`, as an
    // Alertmanager that outlives a Prometheus restart keeps it.
    assert!(server.terminate().success());
    let server = Server::start(&data, &config, port);
    let refired = wait_for_rule_alerts(&base, "firing", &receiver, 2);
    for expected in expected_groups() {
        assert!(
            refired[expected.name] > firing[expected.name],
            "{refired:?} {firing:?}"
        );
    }
    let held = get_json(&format!("{base}/api/v2/alerts"));
    let held_starts: BTreeMap<&str, i64> = held
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap(),
                unix_ms(&a["startsAt"]),
            )
        })
        .collect();
    let first_start_ms: BTreeMap<&str, i64> = first_starts.iter().map(|(n, t)| (*n, unix_ms(t))).collect();
    assert_eq!(held_starts, first_start_ms, "{held:#}");
    // group_wait (1 s) and two group intervals (2 s) pass without a page.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        receiver.bodies().len(),
        2,
        "the restart paged again: {:#?}",
        receiver.bodies()
    );

    // The condition ends: one resolved notification per group, same group key.
    let recovered_at = sightline::storage::now_ms();
    push_gauges(&base, &[(ACCURACY, 0.95), (LATENCY, 0.2)]);
    receiver.wait_for(4, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(5));
    let bodies = receiver.bodies();
    for expected in expected_groups() {
        let sent = for_group(&bodies, expected.name);
        assert_eq!(
            sent.len(),
            2,
            "{}: one firing, one resolved: {bodies:#?}",
            expected.name
        );
        let resolved = sent[1];
        check_rule_payload(resolved, &expected, "resolved", &base);
        assert_eq!(resolved["groupKey"], sent[0]["groupKey"]);
        let alert = &resolved["alerts"][0];
        assert_eq!(alert["startsAt"], first_starts[expected.name]);
        let ends_at = unix_ms(&alert["endsAt"]);
        let since_start = ends_at - unix_ms(&alert["startsAt"]);
        assert!(
            ends_at > recovered_at && since_start > 0 && since_start % 1_000 == 0,
            "endsAt {} is not the evaluation that saw the recovery at {recovered_at}",
            alert["endsAt"]
        );
    }
    let active = get_json(&format!("{base}/api/v1/alerts"));
    assert_eq!(active["data"]["alerts"], json!([]));
    assert!(server.terminate().success());
}

#[test]
fn an_alert_resolved_just_before_a_restart_is_notified_as_resolved_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = WebhookReceiver::start();
    // A long group interval holds the resolved notification back past the restart.
    let alerting = format!(
        "  route: {{receiver: hook, group_by: [alertname], group_wait: 1s, group_interval: 1m}}\n  receivers:\n    - name: hook\n      webhook_configs: [{{url: '{}'}}]\n",
        receiver.url
    );
    let (config, port) = write_rules_config(dir.path(), ML_RULES, &alerting);
    let data = dir.path().join("data");
    let server = Server::start(&data, &config, port);
    let base = server.base.clone();
    push_gauges(&base, &[(ACCURACY, 0.8)]);
    let firing = receiver.wait_for(1, Duration::from_secs(20));
    assert_eq!(firing[0]["status"], "firing");

    // The rule resolves and hands the resolved alert over; the group would
    // notify it only at its next interval, after the restart.
    let recovered_at = sightline::storage::now_ms();
    push_gauges(&base, &[(ACCURACY, 0.95)]);
    poll_json(&format!("{base}/api/v1/alerts"), Duration::from_secs(20), |v| {
        v["data"]["alerts"] == json!([])
    });
    assert!(server.terminate().success());
    assert_eq!(receiver.bodies().len(), 1, "resolved before the restart");

    let server = Server::start(&data, &config, port);
    let bodies = receiver.wait_for(2, Duration::from_secs(20));
    let resolved = &bodies[1];
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["groupKey"], firing[0]["groupKey"]);
    let alert = &resolved["alerts"][0];
    assert_eq!(alert["startsAt"], firing[0]["alerts"][0]["startsAt"]);
    assert!(unix_ms(&alert["endsAt"]) > recovered_at, "{alert:#}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(receiver.bodies().len(), 2, "{:#?}", receiver.bodies());
    assert!(server.terminate().success());
}
