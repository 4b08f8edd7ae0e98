//! Model-quality series of the real binary against scikit-learn on the same
//! labelled predictions: binary (probabilities with ties, and a bare
//! `score`), multi-class with a class never predicted (zero_division),
//! configured classes one of which never occurs (`labels=`), and regression.
//! Relative error ≤ 1e-9 on every metric.
//!
//! scikit-learn runs in the pinned venv `tests/reference/setup-venv.sh` builds
//! (`tests/run-all.sh` runs it); a missing venv fails the test, never skips.

mod common;

use common::{client, free_port, Server};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOLERANCE: f64 = 1e-9;
const WINDOW: &str = "last_10000";

const MODELS: &str = r#"models:
  - {name: bin, windows: {last_labelled: 10000}}
  - {name: scored, windows: {last_labelled: 10000}}
  - {name: multi, windows: {last_labelled: 10000}}
  - {name: fixed, classes: [a, b, c, d], windows: {last_labelled: 10000}}
  - {name: reg, task: regression, windows: {last_labelled: 10000}}
"#;

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/reference-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run tests/reference/setup-venv.sh (tests/run-all.sh does)",
        python.display()
    );
    python
}

/// A deterministic uniform generator in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One model's labelled data: what Sightline receives and scikit-learn scores.
struct Case {
    model: &'static str,
    predictions: Vec<Value>,
    feedback: Vec<Value>,
    sklearn: Value,
}

fn binary_case(rng: &mut Lcg, model: &'static str, as_score: bool) -> Case {
    let (negative, positive) = if as_score { ("no", "yes") } else { ("0", "1") };
    let (mut predictions, mut feedback, mut y_true, mut y_pred, mut p) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..700 {
        // Two decimals: many tied scores.
        let score = (rng.next() * 100.0).floor() / 100.0;
        let truth = if rng.next() < 0.3 + 0.5 * score {
            positive
        } else {
            negative
        };
        let predicted = if score >= 0.5 { positive } else { negative };
        let id = format!("{model}-{i}");
        let mut event =
            json!({"model": model, "model_version": "1", "request_id": id, "prediction": predicted});
        if as_score {
            event["score"] = json!(score);
        } else {
            event["probabilities"] = json!({negative: 1.0 - score, positive: score});
        }
        predictions.push(event);
        feedback.push(json!({"model": model, "request_id": id, "ground_truth": truth}));
        y_true.push(truth);
        y_pred.push(predicted);
        p.push(score);
    }
    let sklearn = json!({"name": model, "y_true": y_true, "y_pred": y_pred, "labels": null, "p": p});
    Case {
        model,
        predictions,
        feedback,
        sklearn,
    }
}

fn multi_case(
    rng: &mut Lcg,
    model: &'static str,
    classes: &[&'static str],
    predicted_from: &[&'static str],
) -> Case {
    let (mut predictions, mut feedback, mut y_true, mut y_pred) = (vec![], vec![], vec![], vec![]);
    for i in 0..500 {
        let truth = classes[(rng.next() * classes.len() as f64) as usize % classes.len()];
        let predicted = if rng.next() < 0.6 && predicted_from.contains(&truth) {
            truth
        } else {
            predicted_from[(rng.next() * predicted_from.len() as f64) as usize % predicted_from.len()]
        };
        let id = format!("{model}-{i}");
        predictions
            .push(json!({"model": model, "model_version": "1", "request_id": id, "prediction": predicted}));
        feedback.push(json!({"model": model, "request_id": id, "ground_truth": truth}));
        y_true.push(truth);
        y_pred.push(predicted);
    }
    let labels = if model == "fixed" {
        json!(["a", "b", "c", "d"])
    } else {
        Value::Null
    };
    let sklearn = json!({"name": model, "y_true": y_true, "y_pred": y_pred, "labels": labels, "p": null});
    Case {
        model,
        predictions,
        feedback,
        sklearn,
    }
}

fn regression_case(rng: &mut Lcg) -> Case {
    let (mut predictions, mut feedback, mut y_true, mut y_pred) = (vec![], vec![], vec![], vec![]);
    for i in 0..400 {
        let truth = rng.next() * 100.0 - 20.0;
        let predicted = truth + (rng.next() - 0.5) * 15.0;
        let id = format!("reg-{i}");
        predictions
            .push(json!({"model": "reg", "model_version": "1", "request_id": id, "prediction": predicted}));
        feedback.push(json!({"model": "reg", "request_id": id, "ground_truth": truth}));
        y_true.push(truth);
        y_pred.push(predicted);
    }
    let sklearn = json!({"name": "reg", "y_true": y_true, "y_pred": y_pred});
    Case {
        model: "reg",
        predictions,
        feedback,
        sklearn,
    }
}

fn sklearn_metrics(classification: Vec<Value>, regression: Vec<Value>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/ml_metrics.py");
    let mut child = Command::new(venv_python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ml_metrics.py");
    let input = json!({"classification": classification, "regression": regression}).to_string();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("ml_metrics.py");
    assert!(out.status.success(), "ml_metrics.py failed");
    serde_json::from_slice(&out.stdout).expect("ml_metrics.py JSON")
}

fn post(server: &Server, path: &str, items: &[Value]) {
    for chunk in items.chunks(500) {
        let response = client().post(server.url(path)).json(&chunk).send().expect("post");
        let answer: Value = response.json().expect("json");
        assert_eq!(answer["data"]["accepted"], chunk.len(), "{answer}");
    }
}

/// The value of one series, waiting for the ML tick to append it.
fn series_value(server: &Server, query: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer: Value = client()
            .get(server.url("/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null);
        let value = answer["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok());
        match value {
            Some(v) => return v,
            None if Instant::now() > deadline => panic!("{query}: no value; last answer {answer}"),
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn relative_error(actual: f64, expected: f64) -> f64 {
    if expected == 0.0 {
        actual.abs()
    } else {
        ((actual - expected) / expected).abs()
    }
}

#[test]
fn quality_metrics_equal_scikit_learn() {
    let mut rng = Lcg(2024);
    let cases = vec![
        binary_case(&mut rng, "bin", false),
        binary_case(&mut rng, "scored", true),
        multi_case(&mut rng, "multi", &["cat", "dog", "eel"], &["cat", "dog"]),
        multi_case(&mut rng, "fixed", &["a", "b", "c"], &["a", "b", "c"]),
        regression_case(&mut rng),
    ];
    let (regression, classification): (Vec<&Case>, Vec<&Case>) = cases.iter().partition(|c| c.model == "reg");
    let expected = sklearn_metrics(
        classification.iter().map(|c| c.sklearn.clone()).collect(),
        regression.iter().map(|c| c.sklearn.clone()).collect(),
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = dir.path().join("sightline.yml");
    std::fs::write(&config, format!("server:\n  listen: 127.0.0.1:{port}\n{MODELS}")).expect("config");
    let server = Server::start(&dir.path().join("data"), &config, port);
    for case in &cases {
        post(&server, "/api/v1/predictions", &case.predictions);
        post(&server, "/api/v1/feedback", &case.feedback);
    }
    let mut compared = 0;
    let mut failures = Vec::new();
    for case in &cases {
        let metrics = expected[case.model].as_object().expect("metrics of the case");
        for (metric, want) in metrics {
            let want = want.as_f64().expect("number");
            let query = match metric.split_once('/') {
                Some((name, average)) => format!(
                    r#"{name}{{model="{}",window="{WINDOW}",average="{average}"}}"#,
                    case.model
                ),
                None => format!(r#"{metric}{{model="{}",window="{WINDOW}"}}"#, case.model),
            };
            let got = series_value(&server, &query);
            compared += 1;
            if relative_error(got, want) > TOLERANCE {
                failures.push(format!("{query}: sightline {got}, scikit-learn {want}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(compared, 35, "every metric of every case is compared");
    println!("{compared} metrics equal scikit-learn's within {TOLERANCE}");
}
