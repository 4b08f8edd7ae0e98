//! End-to-end: rule files loaded by the real server, evaluated on their
//! interval, visible in `/api/v1/rules`, `/api/v1/alerts` and PromQL; the
//! built-in rule pack on embedded defaults; `check rules` and `test rules`
//! against every promtool fixture in `../shared/conformance/promtool-rules`,
//! and the rule pack's own tests under both Sightline and `promtool`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{client, free_port, Server, BIN};
use serde_json::Value;
use sightline::ingest::remote_write::encode_write_request;
use sightline::storage::{now_ms, Labels, Sample, SeriesSamples};

const RULES: &str = r#"groups:
  - name: fast
    interval: 1s
    rules:
      - record: job:queue_depth:sum
        expr: sum by (job) (queue_depth)
        labels:
          source: rule
      - alert: QueueTooDeep
        expr: queue_depth > 10
        labels:
          severity: page
        annotations:
          summary: "queue of {{ $labels.job }} is {{ $value }} deep"
      - alert: NeverFires
        expr: queue_depth > 1000
        for: 1m
"#;

fn write_setup(dir: &Path, rules: &str) -> (PathBuf, u16) {
    let port = free_port();
    std::fs::write(dir.join("queue.rules.yml"), rules).unwrap();
    let config = format!(
        "global:\n  evaluation_interval: 1s\n  external_labels:\n    site: test\nrule_files:\n  - '*.rules.yml'\nserver:\n  listen: 127.0.0.1:{port}\n"
    );
    let path = dir.join("sightline.yml");
    std::fs::write(&path, config).unwrap();
    (path, port)
}

fn push_queue_depth(server: &Server, value: f64) {
    let t = now_ms();
    let batch = vec![SeriesSamples {
        labels: Labels::from_pairs([("__name__", "queue_depth"), ("job", "worker")]),
        samples: vec![Sample { t, v: value }],
    }];
    let body = encode_write_request(&batch);
    let resp = client()
        .post(server.url("/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "remote write: {}", resp.status());
}

fn get_json(server: &Server, path: &str) -> Value {
    client().get(server.url(path)).send().unwrap().json().unwrap()
}

/// Polls `path` until `done` holds (rules run every second).
fn wait_for(server: &Server, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = get_json(server, path);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting on {path}: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rules_evaluate_and_show_in_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = write_setup(dir.path(), RULES);
    let server = Server::start(&dir.path().join("data"), &config, port);
    push_queue_depth(&server, 42.0);

    let alerts = wait_for(&server, "/api/v1/alerts", |v| {
        v["data"]["alerts"].as_array().is_some_and(|a| !a.is_empty())
    });
    let alert = &alerts["data"]["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "QueueTooDeep");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["value"], "4.2e+01");
    assert_eq!(alert["annotations"]["summary"], "queue of worker is 42 deep");

    let rules = get_json(&server, "/api/v1/rules");
    let group = &rules["data"]["groups"][0];
    assert_eq!(group["name"], "fast");
    assert_eq!(group["interval"], 1);
    assert!(group["file"].as_str().unwrap().ends_with("queue.rules.yml"));
    let recording = &group["rules"][0];
    assert_eq!(recording["type"], "recording");
    assert_eq!(recording["health"], "ok");
    let alerting = &group["rules"][1];
    assert_eq!(alerting["type"], "alerting");
    assert_eq!(alerting["state"], "firing");
    assert_eq!(alerting["duration"], 0);
    assert_eq!(
        alerting["annotations"]["summary"],
        "queue of {{ $labels.job }} is {{ $value }} deep"
    );
    assert_eq!(group["rules"][2]["state"], "inactive");
    assert_eq!(group["rules"][2]["duration"], 60);

    let only_alerts = get_json(&server, "/api/v1/rules?type=alert&exclude_alerts=true");
    let kinds: Vec<&str> = only_alerts["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["alerting", "alerting"]);
    assert!(only_alerts["data"]["groups"][0]["rules"][0]
        .get("alerts")
        .is_none());
    let none = get_json(&server, "/api/v1/rules?rule_name[]=nope");
    assert_eq!(none["data"]["groups"], serde_json::json!([]));
    let bad = client()
        .get(server.url("/api/v1/rules?type=bogus"))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);

    let recorded = wait_for(&server, "/api/v1/query?query=job:queue_depth:sum", |v| {
        v["data"]["result"].as_array().is_some_and(|r| !r.is_empty())
    });
    assert_eq!(recorded["data"]["result"][0]["metric"]["source"], "rule");
    assert_eq!(recorded["data"]["result"][0]["value"][1], "42");
    // ALERTS is written from the second evaluation on, once `for` state is restored.
    let series = wait_for(&server, "/api/v1/query?query=ALERTS", |v| {
        v["data"]["result"].as_array().is_some_and(|r| !r.is_empty())
    });
    assert_eq!(series["data"]["result"][0]["metric"]["alertstate"], "firing");
    let for_state = get_json(&server, "/api/v1/query?query=ALERTS_FOR_STATE");
    assert_eq!(
        for_state["data"]["result"][0]["metric"]["alertname"],
        "QueueTooDeep"
    );
}

#[test]
fn a_bad_rule_file_stops_the_server_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_setup(
        dir.path(),
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n",
    );
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("queue.rules.yml:5:15: group \"g\", rule 1, \"A\": could not parse expression"),
        "{stderr}"
    );
}

#[test]
fn embedded_defaults_run_the_builtin_rule_pack() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/rules");
    let deadline = Instant::now() + Duration::from_secs(30);
    let rules: Value = loop {
        if let Ok(r) = client().get(&url).send() {
            break r.json().unwrap();
        }
        assert!(Instant::now() < deadline, "server did not answer");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    let names: Vec<&str> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ml-model", "ml-drift", "host"]);
}

fn conformance(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/promtool-rules")
        .join(name)
}

fn run(args: &[&str], files: &[PathBuf]) -> (i32, String) {
    let out = Command::new(BIN).args(args).args(files).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn test_rules_gives_every_promtool_fixture_its_expected_result() {
    // (file, extra args, expected exit code) as listed in promtool-rules/FORMAT.md.
    let cases: &[(&str, &[&str], i32)] = &[
        ("long-period.yml", &[], 0),
        ("no-test-group-interval.yml", &[], 0),
        ("start-time-test.yml", &[], 0),
        ("at-modifier-test.yml", &[], 0),
        ("negative-offset-test.yml", &[], 0),
        ("failing.yml", &[], 1),
        ("bad-input-series.yml", &[], 1),
        ("bad-promql.yml", &[], 1),
        ("bad-rules-syntax-test.yml", &[], 1),
        ("bad-rules-error-test.yml", &[], 1),
        ("rules_run.yml", &["--run", "correct"], 0),
        ("rules_run.yml", &["--run", "wrong"], 1),
        ("rules_run.yml", &["--run", "correct", "--run", "wrong"], 1),
        ("rules_run.yml", &[], 1),
        ("rules_run_extrafields.yml", &["--run", "correct"], 1),
        (
            "rules_run_extrafields.yml",
            &["--run", "correct", "--ignore-unknown-fields"],
            0,
        ),
        ("rules_run_fuzzy.yml", &["--run", "correct"], 0),
        ("rules_run_fuzzy.yml", &["--run", "wrong"], 1),
        ("rules_run_no_fuzzy.yml", &[], 1),
    ];
    for (file, extra, expected) in cases {
        let mut args = vec!["test", "rules"];
        args.extend_from_slice(extra);
        let (code, text) = run(&args, &[conformance(file)]);
        assert_eq!(code, *expected, "{file} {extra:?}:\n{text}");
    }
    let (_, failing) = run(&["test", "rules"], &[conformance("failing.yml")]);
    assert!(failing.contains("alertname: InstanceDown"), "{failing}");
    let (_, bad) = run(&["test", "rules"], &[conformance("bad-promql.yml")]);
    assert!(bad.contains("many-to-many matching not allowed"), "{bad}");
}

#[test]
fn check_rules_matches_promtool_exit_codes() {
    assert_eq!(run(&["check", "rules"], &[conformance("rules.yml")]).0, 0);
    let (code, text) = run(&["check", "rules"], &[conformance("rules-bad.yml")]);
    assert_eq!(code, 1);
    assert!(
        text.contains("rules-bad.yml:") && text.contains("undefined variable \"$label\""),
        "{text}"
    );
    let (code, text) = run(&["check", "rules"], &[conformance("rules_duplicates.yml")]);
    assert_eq!(code, 0);
    assert!(text.contains("Metric: job:test:count_over_time1m"), "{text}");
    let lint = conformance("prometheus-rules.lint.yml");
    assert_eq!(run(&["check", "rules"], std::slice::from_ref(&lint)).0, 0);
    assert_eq!(run(&["check", "rules", "--lint-fatal"], &[lint]).0, 3);
}

#[test]
fn check_rules_warns_about_histogram_quantile_over_a_gauge() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.yml");
    let rule = "groups:\n- name: g\n  rules:\n  - alert: HighP95Latency\n    expr: histogram_quantile(0.95, prediction_latency_seconds) > 1\n";
    std::fs::write(&path, rule).unwrap();
    let (code, text) = run(&["check", "rules"], std::slice::from_ref(&path));
    assert_eq!(code, 0);
    assert!(text.contains("neither a _bucket series nor a rate"), "{text}");
    assert_eq!(run(&["check", "rules", "--lint-fatal"], &[path]).0, 3);
}

fn pack_files(pattern: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut files: Vec<PathBuf> = glob_files(&root, pattern);
    files.sort();
    assert!(!files.is_empty(), "no {pattern} under {}", root.display());
    files
}

fn glob_files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect()
}

#[test]
fn the_rule_pack_passes_its_tests_in_sightline_and_promtool() {
    let rules = pack_files(".yml");
    let (code, text) = run(&["check", "rules", "--lint-fatal"], &rules);
    assert_eq!(code, 0, "{text}");
    let tests = glob_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/tests"),
        ".test.yml",
    );
    assert_eq!(tests.len(), 3);
    let (code, text) = run(&["test", "rules"], &tests);
    assert_eq!(code, 0, "{text}");
    let promtool = |args: &[&str], files: &[PathBuf]| {
        Command::new("promtool")
            .args(args)
            .args(files)
            .output()
            .expect("promtool must be installed (tests/run-all.sh installs Debian's prometheus package)")
    };
    let out = promtool(&["check", "rules"], &rules);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let out = promtool(&["test", "rules"], &tests);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

fn active_at_seconds(server: &Server) -> i64 {
    let alerts = wait_for(server, "/api/v1/alerts", |v| {
        v["data"]["alerts"].as_array().is_some_and(|a| !a.is_empty())
    });
    let text = alerts["data"]["alerts"][0]["activeAt"]
        .as_str()
        .unwrap()
        .to_string();
    chrono::DateTime::parse_from_rfc3339(&text).unwrap().timestamp()
}

#[test]
fn pending_for_state_survives_a_restart_shifted_by_the_downtime() {
    let rules = "groups:\n  - name: slow\n    interval: 1s\n    rules:\n      - alert: LongPending\n        expr: queue_depth > 10\n        for: 15m\n";
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = write_setup(dir.path(), rules);
    let data = dir.path().join("data");
    let server = Server::start(&data, &config, port);
    push_queue_depth(&server, 42.0);
    let before = active_at_seconds(&server);
    // Let ALERTS_FOR_STATE be written a few times, then stop.
    wait_for(&server, "/api/v1/query?query=ALERTS_FOR_STATE", |v| {
        v["data"]["result"].as_array().is_some_and(|r| !r.is_empty())
    });
    std::thread::sleep(Duration::from_secs(2));
    let stopped = now_ms() / 1000;
    assert!(server.terminate().success());
    std::thread::sleep(Duration::from_secs(3));
    let restarted = now_ms() / 1000;
    let server = Server::start(&data, &config, port);
    let after = active_at_seconds(&server);
    let downtime = restarted - stopped;
    assert!(
        after - before >= downtime - 2 && after - before <= downtime + 4,
        "activeAt moved from {before} to {after}; down for about {downtime}s"
    );
    let rules = get_json(&server, "/api/v1/rules");
    assert_eq!(rules["data"]["groups"][0]["rules"][0]["state"], "pending");
}
