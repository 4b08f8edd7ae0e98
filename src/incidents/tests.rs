//! The service end to end inside one process: group events in, actions out to
//! a local receiver, incidents back from disk after a restart, HTTP routes.

use super::actions::tests::receiver;
use super::*;
use crate::alerts::Alert;
use crate::config::parse_str;
use crate::storage::{Matcher, Queryable, StorageOptions};
use std::collections::BTreeMap;

fn config(url: &str, dry_run: bool) -> Config {
    let yaml = format!(
        "incidents:\n  dry_run: {dry_run}\n  actions:\n    - name: retrain\n      on: open\n      matchers: ['severity=critical']\n      http:\n        url: {url}\n        body: '{{\"model\": {{{{ .Labels.model | json }}}}}}'\n    - name: rollback-done\n      on: resolve\n      http:\n        url: {url}\n"
    );
    parse_str(&yaml, "t.yml").unwrap()
}

fn event(severity: &str, firing: bool) -> GroupEvent {
    let labels: BTreeMap<String, String> = [
        ("alertname".to_string(), "AccuracyLow".to_string()),
        ("model".to_string(), "fraud".to_string()),
        ("severity".to_string(), severity.to_string()),
    ]
    .into();
    let now = Utc::now();
    GroupEvent {
        group_key: format!("{{}}:{{severity=\"{severity}\"}}"),
        receiver: "ml-team".into(),
        group_labels: labels.clone(),
        firing,
        alerts: vec![Alert {
            labels,
            annotations: BTreeMap::new(),
            starts_at: now - chrono::Duration::minutes(5),
            ends_at: if firing {
                now + chrono::Duration::minutes(5)
            } else {
                now
            },
            generator_url: String::new(),
        }],
        outcome: Ok(()),
    }
}

async fn wait_for_actions(incidents: &Incidents, id: u64, n: usize) -> Incident {
    for _ in 0..200 {
        let incident = incidents.get(id).unwrap();
        if incident.actions.len() >= n {
            return incident;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("incident {id} did not record {n} action(s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_run_on_open_and_resolve_and_incidents_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rx = receiver(vec![200]).await;
    let config = config(&rx.url, false);
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let incidents = Incidents::open(&storage, &config.incidents).unwrap();

    incidents.group_notified(&event("critical", true));
    incidents.group_notified(&event("warning", true));
    let critical = wait_for_actions(&incidents, 1, 1).await;
    assert_eq!(critical.actions[0].name, "retrain");
    assert_eq!(critical.actions[0].status_code, Some(200));
    assert_eq!(critical.timeline.last().unwrap().kind, "action");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        incidents.get(2).unwrap().actions.is_empty(),
        "matchers leave warnings alone"
    );
    assert_eq!(rx.requests.lock().unwrap()[0].1, r#"{"model": "fraud"}"#);

    incidents.group_notified(&event("critical", false));
    let resolved = wait_for_actions(&incidents, 1, 2).await;
    assert_eq!(resolved.state, State::Resolved);
    assert_eq!(resolved.actions[1].on, "resolve");
    incidents.acknowledge(2, "alice", "on it").unwrap();

    incidents.housekeeping_step(&storage, Utc::now());
    let gauge = storage
        .select(
            &[Matcher::equal("__name__", "sightline_incidents")],
            0,
            i64::MAX,
            Default::default(),
        )
        .unwrap();
    let by_state: BTreeMap<&str, f64> = gauge
        .iter()
        .map(|s| (s.labels.get("state"), s.samples[0].v))
        .collect();
    assert_eq!(
        by_state,
        [("acknowledged", 1.0), ("open", 0.0), ("resolved", 1.0)].into()
    );
    drop(incidents);
    storage.close().unwrap();
    drop(storage);

    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let reopened = Incidents::open(&storage, &config.incidents).unwrap();
    let as_json = |i: Incident| serde_json::to_value(i).unwrap();
    assert_eq!(
        as_json(reopened.get(1).unwrap()),
        as_json(resolved),
        "as the API shows it"
    );
    assert_eq!(reopened.get(2).unwrap().state, State::Acknowledged);
    reopened.group_notified(&event("info", true));
    assert!(reopened.get(3).is_some(), "ids continue after a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_dry_run_calls_nothing_and_records_what_it_would_call() {
    let dir = tempfile::tempdir().unwrap();
    let rx = receiver(vec![200]).await;
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let incidents = Incidents::open(&storage, &config(&rx.url, true).incidents).unwrap();
    incidents.group_notified(&event("critical", true));
    let incident = wait_for_actions(&incidents, 1, 1).await;
    assert!(incident.actions[0].dry_run);
    let entry = incident.timeline.last().unwrap();
    assert_eq!(entry.outcome.as_deref(), Some("dry-run"));
    assert!(
        entry.message.contains(r#"body {"model": "fraud"}"#),
        "{}",
        entry.message
    );
    assert!(rx.requests.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_lists_shows_acknowledges_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let incidents = Incidents::open(&storage, &IncidentsConfig::default()).unwrap();
    incidents.group_notified(&event("critical", true));
    incidents.group_notified(&event("warning", true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1/incidents", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, routes(incidents)).await });
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let total = r
                .headers()
                .get("x-total-count")
                .map(|v| v.to_str().unwrap().to_string());
            (status, total, r.json::<serde_json::Value>().await.unwrap())
        }
    };

    let (status, total, body) = get(format!("{base}?limit=1")).await;
    assert_eq!((status, total.as_deref()), (200, Some("2")));
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["id"], "2");

    let ack = http
        .post(format!("{base}/1/acknowledge"))
        .body(r#"{"by": "alice", "comment": "retraining"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 200);
    let ack: serde_json::Value = ack.json().await.unwrap();
    assert_eq!(ack["data"]["state"], "acknowledged");
    assert!(ack["data"]["acknowledgedAt"].is_string());

    let again = http.post(format!("{base}/1/acknowledge")).send().await.unwrap();
    assert_eq!(again.status(), 409);
    let resolved = http.post(format!("{base}/1/resolve")).send().await.unwrap();
    assert_eq!(resolved.status(), 200);

    let (_, total, body) = get(format!("{base}?state=open,acknowledged")).await;
    assert_eq!(total.as_deref(), Some("1"));
    assert_eq!(body["data"][0]["id"], "2");
    let (status, _, body) = get(format!("{base}/1")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["state"], "resolved");
    let kinds: Vec<&str> = body["data"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["fired", "notified", "acknowledged", "resolved"]);

    for (url, code, error_type) in [
        (format!("{base}/99"), 404, "not_found"),
        (format!("{base}/abc"), 400, "bad_data"),
        (format!("{base}?state=closed"), 400, "bad_data"),
        (format!("{base}?limit=-1"), 400, "bad_data"),
    ] {
        let (status, _, body) = get(url.clone()).await;
        assert_eq!(
            (status, body["errorType"].as_str()),
            (code, Some(error_type)),
            "{url}"
        );
    }
    let bad = http
        .post(format!("{base}/2/resolve"))
        .body("{\"by\": 3}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad: serde_json::Value = bad.json().await.unwrap();
    assert!(bad["error"].as_str().unwrap().contains("line 1 column"), "{bad}");
}
