//! End to end: the events API of the real binary over HTTP — predictions and
//! feedback in every framing, bad input, the derived series through PromQL,
//! the models API, the prediction log, and state that survives a restart.

mod common;

use common::{client, free_port, Server};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const MODELS_YAML: &str = r#"models:
  - name: churn
    task: classification
    classes: ["0", "1"]
    segment_labels: [user_type]
    features:
      - {name: age, type: numeric, min: 0, max: 120}
      - {name: plan, type: categorical, categories: [free, pro]}
    thresholds: {low_confidence: 0.6}
    sampling: {rate: 0.0}
CHURN_EXTRA  - name: price
    task: regression
"#;

/// Starts the binary; `churn_extra` adds lines (indented 4) to the `churn` model.
fn start(dir: &Path, churn_extra: &str) -> Server {
    let port = free_port();
    let config = dir.join("sightline.yml");
    let models = MODELS_YAML.replace("CHURN_EXTRA", churn_extra);
    let yaml = format!("server:\n  listen: 127.0.0.1:{port}\n  max_request_body_size: 256KB\n{models}");
    std::fs::write(&config, yaml).expect("write config");
    Server::start(&dir.join("data"), &config, port)
}

fn post(server: &Server, path: &str, content_type: &str, body: Vec<u8>, gzip: bool) -> (u16, Value) {
    let mut request = client()
        .post(server.url(path))
        .header("Content-Type", content_type);
    let body = if gzip {
        request = request.header("Content-Encoding", "gzip");
        gzipped(&body)
    } else {
        body
    };
    let response = request.body(body).send().expect("post");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn gzipped(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body).expect("gzip");
    encoder.finish().expect("gzip")
}

fn post_json(server: &Server, path: &str, body: &Value) -> Value {
    let (status, answer) = post(
        server,
        path,
        "application/json",
        body.to_string().into_bytes(),
        false,
    );
    assert_eq!(status, 200, "{answer}");
    answer
}

fn get_json(server: &Server, path: &str) -> (u16, Value) {
    let response = client().get(server.url(path)).send().expect("get");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// Polls an instant query until it returns one sample equal to `expected` (the ML tick is 1 s).
fn wait_for_value(server: &Server, query: &str, expected: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let response = client()
            .get(server.url("/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .expect("query");
        last = response.json().unwrap_or(Value::Null);
        let values: Vec<f64> = last["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|s| s["value"][1].as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if values.len() == 1 && (values[0] - expected).abs() <= 1e-12 * expected.abs().max(1.0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{query} never became {expected}; last answer {last}");
}

fn prediction(id: &str, predicted: &str, p1: f64, user_type: &str) -> Value {
    json!({
        "model": "churn", "model_version": "v1", "request_id": id,
        "timestamp": "2026-01-01T00:00:00Z",
        "features": {"age": 30, "plan": "free"},
        "prediction": predicted,
        "probabilities": {"0": 1.0 - p1, "1": p1},
        "latency_ms": 7.5,
        "segment": {"user_type": user_type},
    })
}

#[test]
fn predictions_and_feedback_become_quality_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "");
    // Feedback for r4 arrives before its prediction; the rest after.
    let early = json!({"model": "churn", "request_id": "r4", "ground_truth": "0"});
    let answer = post_json(&server, "/api/v1/feedback", &early);
    assert_eq!(answer["data"], json!({"accepted": 1, "rejected": []}));
    let batch = json!([
        prediction("r1", "1", 0.9, "new"),
        prediction("r2", "0", 0.2, "new"),
        prediction("r3", "1", 0.7, "new"),
        prediction("r4", "1", 0.55, "new"),
    ]);
    let answer = post_json(&server, "/api/v1/predictions", &batch);
    assert_eq!(answer["data"], json!({"accepted": 4, "rejected": []}));
    let ndjson = ["r1:1", "r2:0", "r3:0"]
        .iter()
        .map(|pair| {
            let (id, truth) = pair.split_once(':').unwrap_or_default();
            json!({"model": "churn", "request_id": id, "ground_truth": truth}).to_string()
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (status, answer) = post(
        &server,
        "/api/v1/feedback",
        "application/x-ndjson",
        ndjson.into_bytes(),
        true,
    );
    assert_eq!((status, &answer["data"]["accepted"]), (200, &json!(3)));

    let sel = r#"{model="churn",model_version="v1",user_type="new"}"#;
    wait_for_value(&server, &format!("predictions_total{sel}"), 4.0);
    wait_for_value(&server, &format!("feedback_total{sel}"), 4.0);
    wait_for_value(&server, &format!("label_coverage_ratio{sel}"), 1.0);
    wait_for_value(
        &server,
        r#"prediction_latency_seconds_bucket{model="churn",le="0.01"}"#,
        4.0,
    );
    wait_for_value(
        &server,
        r#"prediction_distribution_bucket{model="churn",le="0.6"}"#,
        2.0,
    );
    // truth 1,0,0,0 vs predicted 1,0,1,1: accuracy 0.5.
    wait_for_value(
        &server,
        r#"model_accuracy{model="churn",window="last_1000"}"#,
        0.5,
    );
    wait_for_value(&server, r#"model_accuracy{model="churn",window="1h"}"#, 0.5);
    // Class 1: precision 1/3, recall 1; class 0: precision 1, recall 1/3.
    wait_for_value(
        &server,
        r#"model_precision{model="churn",window="last_1000",average="macro"}"#,
        2.0 / 3.0,
    );
    wait_for_value(
        &server,
        r#"model_recall{model="churn",window="last_1000",average="weighted"}"#,
        0.5,
    );
    // Positive-class scores 0.9 (pos), 0.2, 0.7, 0.55 (neg): AUC 1.
    wait_for_value(&server, r#"model_roc_auc{model="churn",window="last_1000"}"#, 1.0);
    let loss = -((0.9f64).ln() + (0.8f64).ln() + (0.3f64).ln() + (0.45f64).ln()) / 4.0;
    wait_for_value(
        &server,
        r#"model_log_loss{model="churn",window="last_1000"}"#,
        loss,
    );
    wait_for_value(
        &server,
        r#"feature_missing_share{model="churn",feature="age"}"#,
        0.0,
    );
}

#[test]
fn regression_models_get_mae_rmse_r2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "");
    let predictions: Vec<Value> = [(3.0, 2.5), (-0.5, 0.0), (2.0, 2.0), (7.0, 8.0)]
        .iter()
        .enumerate()
        .map(|(i, (_, predicted))| {
            json!({"model": "price", "model_version": "2", "request_id": format!("p{i}"), "prediction": predicted})
        })
        .collect();
    post_json(&server, "/api/v1/predictions", &json!(predictions));
    let feedback: Vec<Value> = [(3.0, 2.5), (-0.5, 0.0), (2.0, 2.0), (7.0, 8.0)]
        .iter()
        .enumerate()
        .map(
            |(i, (truth, _))| json!({"model": "price", "request_id": format!("p{i}"), "ground_truth": truth}),
        )
        .collect();
    post_json(&server, "/api/v1/feedback", &json!(feedback));
    wait_for_value(&server, r#"model_mae{model="price",window="last_1000"}"#, 0.5);
    wait_for_value(
        &server,
        r#"model_rmse{model="price",window="last_1000"}"#,
        0.375f64.sqrt(),
    );
    wait_for_value(
        &server,
        r#"model_r2{model="price",window="last_1000"}"#,
        0.948_608_137_044_967_9,
    );
}

#[test]
fn bad_items_get_reasons_and_good_ones_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "");
    let good = |id: &str| prediction(id, "1", 0.8, "new").to_string();
    let items = [
        good("a"),
        r#"{"model":"churn","model_version":"v1","request_id":"b","prediction":"1","colour":"red"}"#
            .to_string(),
        r#"{"model":"churn","model_version":7,"request_id":"c","prediction":"1"}"#.to_string(),
        r#"{"model":"churn","model_version":"v1","request_id":"d","prediction":"1","features":{"x":NaN}}"#
            .to_string(),
        r#"{"model":"churn","model_version":"v1","prediction":"1"}"#.to_string(),
        good("a"),
        r#"{"model":"churn","model_version":"v1","request_id":"e","prediction":"7"}"#.to_string(),
        good("f"),
    ];
    let body = format!("[{}]", items.join(","));
    let (status, answer) = post(
        &server,
        "/api/v1/predictions",
        "application/json",
        body.into_bytes(),
        false,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["accepted"], 2, "{answer}");
    let reasons: Vec<(u64, String)> = answer["data"]["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap_or(99),
                r["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expected = [
        (1, "unknown field `colour`"),
        (2, "invalid type: integer `7`"),
        (3, "NaN and infinite numbers are not allowed"),
        (4, "missing field `request_id`"),
        (5, "duplicate request_id \"a\""),
        (6, "class \"7\" is not one of"),
    ];
    assert_eq!(reasons.len(), expected.len(), "{reasons:?}");
    for ((index, reason), (want_index, want)) in reasons.iter().zip(expected) {
        assert_eq!(*index, want_index);
        assert!(reason.contains(want), "item {index}: {reason}");
    }
    // Sent again in a later request: still a duplicate.
    let (_, again) = post(
        &server,
        "/api/v1/predictions",
        "application/json",
        good("f").into_bytes(),
        false,
    );
    assert_eq!(again["data"]["accepted"], 0);
    // Feedback: missing request_id, unknown class, duplicate.
    let feedback = json!([
        {"model": "churn", "ground_truth": "1"},
        {"model": "churn", "request_id": "a", "ground_truth": "9"},
        {"model": "churn", "request_id": "a", "ground_truth": "1"},
        {"model": "churn", "request_id": "a", "ground_truth": "0"},
    ]);
    let answer = post_json(&server, "/api/v1/feedback", &feedback);
    assert_eq!(answer["data"]["accepted"], 1, "{answer}");
    let reasons = answer["data"]["rejected"].to_string();
    assert!(
        reasons.contains("missing field `request_id`") && reasons.contains("duplicate feedback"),
        "{reasons}"
    );
}

#[test]
fn unreadable_oversized_and_badly_encoded_bodies_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "");
    let cases: Vec<(&str, Vec<u8>, bool, u16)> = vec![
        ("application/json", b"this is not json".to_vec(), false, 400),
        ("application/json", b"[{\"model\":\"churn\"}".to_vec(), false, 400),
        ("application/json", vec![0xff, 0xfe, b'{', b'}'], false, 400),
        ("application/json", b"not gzip at all".to_vec(), true, 400),
        ("application/json", vec![b' '; 300 * 1024], false, 413),
        // 10 MB of spaces gzips to ~10 kB: the limit applies after decompression too.
        ("application/json", vec![b' '; 10 << 20], true, 413),
    ];
    for (content_type, body, gzip, want) in cases {
        let (status, answer) = post(&server, "/api/v1/predictions", content_type, body, gzip);
        assert_eq!(status, want, "{answer}");
        assert_eq!(answer["status"], "error");
    }
    let response = client()
        .post(server.url("/api/v1/feedback"))
        .header("Content-Encoding", "br")
        .body("{}")
        .send()
        .expect("post");
    assert_eq!(response.status().as_u16(), 415);
    // The server is still fine.
    let (status, _) = get_json(&server, "/api/v1/models");
    assert_eq!(status, 200);
}

#[test]
fn models_api_lists_declared_and_inferred_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "");
    let event = json!({"model": "fraud", "model_version": "3", "request_id": "x", "prediction": true,
        "score": 0.8, "features": {"amount": 12.5, "country": "NL", "vip": false}, "segment": {"region": "eu"}});
    post_json(&server, "/api/v1/predictions", &event);
    // A later string for a numeric feature does not change its type.
    let later = json!({"model": "fraud", "model_version": "3", "request_id": "y", "prediction": false,
        "score": 0.1, "features": {"amount": "twelve"}});
    post_json(&server, "/api/v1/predictions", &later);
    let (status, answer) = get_json(&server, "/api/v1/models");
    assert_eq!(status, 200);
    let names: Vec<&str> = answer["data"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names, ["churn", "fraud", "price"]);
    let (status, fraud) = get_json(&server, "/api/v1/models/fraud");
    assert_eq!(status, 200);
    let fraud = &fraud["data"];
    assert_eq!(fraud["task"], "classification");
    assert_eq!(fraud["versions"], json!(["3"]));
    assert_eq!(fraud["segments"], json!(["region"]));
    assert_eq!(
        fraud["features"],
        json!([{"name": "amount", "type": "numeric"}, {"name": "country", "type": "categorical"}, {"name": "vip", "type": "categorical"}])
    );
    assert_eq!(fraud["counts"]["predictions"], 2);
    assert!(
        fraud["lastEventAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{fraud}"
    );
    wait_for_value(
        &server,
        r#"feature_type_mismatch_share{model="fraud",feature="amount"}"#,
        0.5,
    );
    let (status, _) = get_json(&server, "/api/v1/models/nope");
    assert_eq!(status, 404);
    let (status, doc) = get_json(&server, "/api/v1/openapi.json");
    assert_eq!((status, doc["openapi"].as_str()), (200, Some("3.1.0")));
}

#[test]
fn prediction_log_samples_searches_pages_and_exports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "");
    // rate 0: only errors, low confidence (< 0.6) and misclassified ones are logged.
    let mut error = prediction("err", "1", 0.9, "new");
    error["error"] = json!("timeout");
    let batch = json!([
        prediction("confident", "1", 0.95, "new"),
        prediction("unsure", "1", 0.55, "old"),
        error,
        prediction("wrong", "1", 0.9, "old"),
    ]);
    post_json(&server, "/api/v1/predictions", &batch);
    post_json(
        &server,
        "/api/v1/feedback",
        &json!([
            {"model": "churn", "request_id": "wrong", "ground_truth": "0"},
            {"model": "churn", "request_id": "unsure", "ground_truth": "1"},
            {"model": "churn", "request_id": "confident", "ground_truth": "1"},
        ]),
    );
    let ids = |answer: &Value| -> Vec<String> {
        let mut ids: Vec<String> = answer["data"]["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["request_id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    };
    let (status, all) = get_json(&server, "/api/v1/predictions?model=churn");
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), ["err", "unsure", "wrong"]);
    let (_, wrong) = get_json(&server, "/api/v1/predictions?model=churn&misclassified=true");
    assert_eq!(ids(&wrong), ["wrong"]);
    let item = &wrong["data"]["items"][0];
    assert_eq!(item["ground_truth"], "0");
    assert_eq!(item["features"], json!({"age": 30, "plan": "free"}));
    assert_eq!(item["confidence"], 0.9);
    let (_, unsure) = get_json(
        &server,
        "/api/v1/predictions?model=churn&max_confidence=0.6&segment=user_type%3Dold",
    );
    assert_eq!(ids(&unsure), ["unsure"]);
    assert_eq!(unsure["data"]["items"][0]["misclassified"], false);
    let (_, by_id) = get_json(&server, "/api/v1/predictions?model=churn&request_id=err");
    assert_eq!(by_id["data"]["items"][0]["error"], "timeout");
    // Paging: one at a time covers all three, then stops.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..5 {
        let path = match &token {
            Some(t) => format!("/api/v1/predictions?model=churn&limit=1&next_page_token={t}"),
            None => "/api/v1/predictions?model=churn&limit=1".to_string(),
        };
        let (_, page) = get_json(&server, &path);
        seen.extend(ids(&page));
        token = page["data"]["next_page_token"].as_str().map(String::from);
        if token.is_none() {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, ["err", "unsure", "wrong"]);
    let export = client()
        .get(server.url("/api/v1/predictions?model=churn&format=ndjson"))
        .send()
        .expect("export");
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let text = export.text().expect("text");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson line"))
        .collect();
    assert_eq!(lines.len(), 3);
    let (status, _) = get_json(&server, "/api/v1/predictions?limit=0");
    assert_eq!(status, 400);
}

#[test]
fn joins_and_counters_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "");
    post_json(
        &server,
        "/api/v1/feedback",
        &json!({"model": "churn", "request_id": "later", "ground_truth": "1"}),
    );
    post_json(
        &server,
        "/api/v1/predictions",
        &json!([prediction("first", "1", 0.9, "new")]),
    );
    wait_for_value(&server, r#"predictions_total{model="churn"}"#, 1.0);
    wait_for_value(&server, r#"feedback_pending{model="churn"}"#, 1.0);
    assert!(server.terminate().success());

    let server = start(dir.path(), "");
    post_json(
        &server,
        "/api/v1/predictions",
        &json!([prediction("later", "1", 0.8, "new")]),
    );
    // The pending feedback joins the prediction sent after the restart.
    wait_for_value(&server, r#"predictions_total{model="churn"}"#, 2.0);
    wait_for_value(&server, r#"feedback_total{model="churn"}"#, 1.0);
    wait_for_value(&server, r#"feedback_pending{model="churn"}"#, 0.0);
    // The earlier prediction is still known: its request id is a duplicate, its feedback joins.
    let (_, dup) = post(
        &server,
        "/api/v1/predictions",
        "application/json",
        prediction("first", "1", 0.9, "new").to_string().into_bytes(),
        false,
    );
    assert_eq!(dup["data"]["accepted"], 0);
    post_json(
        &server,
        "/api/v1/feedback",
        &json!({"model": "churn", "request_id": "first", "ground_truth": "0"}),
    );
    wait_for_value(&server, r#"feedback_total{model="churn"}"#, 2.0);
    // Killed without a clean shutdown right after the answer, the join state is still there: a
    // round's writes reach the index's journal before its requests are answered.
    server.kill9();
    let server = start(dir.path(), "");
    let (_, dup) = post(
        &server,
        "/api/v1/feedback",
        "application/json",
        json!({"model": "churn", "request_id": "first", "ground_truth": "0"})
            .to_string()
            .into_bytes(),
        false,
    );
    assert_eq!(dup["data"]["accepted"], 0, "{dup}");
}

/// Uploads 400 reference rows for `churn` (ages 20-69, plans 1/3 pro, tenures
/// 0.5-49.5) as CSV, gzipped when `gzip`; returns the answer.
fn upload_churn_reference(server: &Server, gzip: bool) -> Value {
    let mut csv = String::from("age,plan,tenure\n");
    for i in 0..400 {
        let plan = if i % 3 == 0 { "pro" } else { "free" };
        csv.push_str(&format!("{},{plan},{}.5\n", 20 + i % 50, i % 50));
    }
    let (status, answer) = post(
        server,
        "/api/v1/models/churn/reference",
        "text/csv",
        csv.into_bytes(),
        gzip,
    );
    assert_eq!(status, 200, "{answer}");
    answer
}

/// 100 predictions whose ages start at `age`.
fn aged_batch(prefix: &str, age: u32) -> Value {
    let batch: Vec<Value> = (0..100)
        .map(|i| {
            let mut p = prediction(&format!("{prefix}{i}"), "1", 0.9, "new");
            let plan = if i % 3 == 0 { "pro" } else { "free" };
            p["features"] = json!({"age": age + i % 50, "plan": plan, "tenure": f64::from(i % 50) + 0.5});
            p
        })
        .collect();
    json!(batch)
}

#[test]
fn a_sliding_drift_window_is_compared_every_step_over_the_last_whole_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let drift_yaml = "    drift:\n      window_events: 200\n      window_mode: sliding\n      window_step_events: 100\n      preset: evidently\n";
    let server = start(dir.path(), drift_yaml);
    upload_churn_reference(&server, false);
    // Two undrifted steps make the first whole window; both requests arrive
    // within one tick, and each step still holds exactly 100 predictions.
    post_json(&server, "/api/v1/predictions", &aged_batch("a", 20));
    post_json(&server, "/api/v1/predictions", &aged_batch("b", 20));
    let age = r#"feature_drift_detected{model="churn",feature="age"}"#;
    wait_for_value(&server, age, 0.0);
    let (_, report) = get_json(&server, "/api/v1/models/churn/drift");
    assert_eq!(report["data"]["window"]["events"], 200, "{report}");
    // One step 40 years older: the window now holds one undrifted and one drifted step.
    post_json(&server, "/api/v1/predictions", &aged_batch("c", 60));
    wait_for_value(&server, age, 1.0);
    let (_, report) = get_json(&server, "/api/v1/models/churn/drift");
    assert_eq!(report["data"]["window"]["events"], 200, "{report}");
    let (_, answer) = post(
        &server,
        "/api/v1/models/churn/drift/run",
        "application/json",
        Vec::new(),
        false,
    );
    assert_eq!(
        answer["data"]["window"]["events"], 100,
        "the drifted step and the empty open one: {answer}"
    );
}

#[test]
fn drift_job_compares_each_window_with_the_uploaded_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let drift_yaml = "    drift:\n      window_events: 200\n      preset: evidently\n      tests:\n        - {test: share_of_drifted_columns, lt: 0.3}\n        - {test: new_categories, column: plan}\n";
    let server = start(dir.path(), drift_yaml);
    let answer = upload_churn_reference(&server, true);
    assert_eq!(answer["data"]["rows"], 400);
    let (status, answer) = post(
        &server,
        "/api/v1/models/churn/reference",
        "text/csv",
        b"age,plan\n1,a\n2\n".to_vec(),
        false,
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap_or("").contains("line 3"),
        "{answer}"
    );
    let (status, _) = post(
        &server,
        "/api/v1/models/nope/reference",
        "text/csv",
        b"a\n1\n".to_vec(),
        false,
    );
    assert_eq!(status, 404);
    let (status, _) = post(
        &server,
        "/api/v1/models/price/drift/run",
        "application/json",
        Vec::new(),
        false,
    );
    assert_eq!(status, 409);

    // 200 predictions with ages 40 years older and tenures 25 longer: the window closes and drifts on both.
    let batch: Vec<Value> = (0..200)
        .map(|i| {
            let mut p = prediction(&format!("d{i}"), "1", 0.9, "new");
            let plan = if i % 3 == 0 { "pro" } else { "free" };
            p["features"] = json!({"age": 60 + i % 50, "plan": plan, "tenure": f64::from(25 + i % 50) + 0.5});
            p
        })
        .collect();
    post_json(&server, "/api/v1/predictions", &json!(batch));
    wait_for_value(
        &server,
        r#"feature_drift_detected{model="churn",feature="age",method="ks"}"#,
        1.0,
    );
    wait_for_value(
        &server,
        r#"feature_drift_detected{model="churn",feature="plan"}"#,
        0.0,
    );
    wait_for_value(&server, r#"dataset_drift_share{model="churn"}"#, 2.0 / 3.0);
    wait_for_value(&server, r#"dataset_drift_detected{model="churn"}"#, 1.0);
    // Undeclared ranges come from the reference: tenures above 49.5 are out of range;
    // age keeps its declared 0..120.
    let tenure = r#"feature_out_of_range_share{model="churn",feature="tenure"}"#;
    wait_for_value(&server, tenure, 0.5);
    wait_for_value(
        &server,
        r#"feature_out_of_range_share{model="churn",feature="age"}"#,
        0.0,
    );
    let (status, report) = get_json(&server, "/api/v1/models/churn/drift");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["data"]["window"]["events"], 200);
    assert_eq!(report["data"]["dataset"]["driftedColumns"], 2);
    assert_eq!(report["data"]["tests"][0]["passed"], false, "{report}");
    wait_for_value(
        &server,
        r#"ml_test_passed{model="churn",test="share_of_drifted_columns"}"#,
        0.0,
    );
    wait_for_value(
        &server,
        r#"ml_test_passed{model="churn",test="new_categories:plan"}"#,
        1.0,
    );
    let html = client()
        .get(server.url("/api/v1/models/churn/drift?format=html"))
        .send()
        .expect("html");
    assert!(html.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/html"));
    let page = html.text().unwrap_or_default();
    assert!(page.contains("age") && page.contains("<svg"), "{page}");
    // On demand, over the (empty) new window: nothing to compare, so no column drifts.
    let (status, run) = post(
        &server,
        "/api/v1/models/churn/drift/run",
        "application/json",
        Vec::new(),
        false,
    );
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["data"]["window"]["events"], 0);

    // The reference survives a restart.
    assert!(server.terminate().success());
    let server = start(dir.path(), drift_yaml);
    let (status, run) = post(
        &server,
        "/api/v1/models/churn/drift/run",
        "application/json",
        Vec::new(),
        false,
    );
    assert_eq!(status, 200, "{run}");
}
