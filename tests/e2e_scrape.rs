//! End-to-end scraping: the real binary scrapes synthetic targets served by the
//! test on 127.0.0.1, and is compared with the real Prometheus (Debian's 2.42)
//! scraping the same targets with the same configuration file.
//!
//! Never skips: without `prometheus`/`promtool` (tests/run-all.sh installs them) it fails.

mod common;
mod scrape_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{client, free_port, Server, BIN};
use scrape_support::{Reply, Targets, OPENMETRICS, TEXT};
use serde_json::Value;

const GOOD_BODY: &str = "# HELP requests_total Requests served.
# TYPE requests_total counter
requests_total{code=\"200\"} 1027
requests_total{code=\"500\"} 3
# TYPE temperature gauge
temperature 21.5
# HELP latency_seconds Request latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{le=\"0.1\"} 5
latency_seconds_bucket{le=\"+Inf\"} 7
latency_seconds_sum 1.5
latency_seconds_count 7
";

fn get_json(url: &str) -> Value {
    let response = client()
        .get(url)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    response
        .json()
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

/// `data.result` of an instant query, as `labels -> value`.
fn instant(base: &str, query: &str) -> BTreeMap<BTreeMap<String, String>, String> {
    let url = format!("{base}/api/v1/query?query={}", urlencode(query));
    let body = get_json(&url);
    assert_eq!(body["status"], "success", "{query}: {body}");
    let mut out = BTreeMap::new();
    for row in body["data"]["result"].as_array().cloned().unwrap_or_default() {
        let labels: BTreeMap<String, String> = serde_json::from_value(row["metric"].clone()).unwrap();
        out.insert(labels, row["value"][1].as_str().unwrap_or_default().to_string());
    }
    out
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Active targets by scrape pool.
fn targets_by_pool(base: &str) -> BTreeMap<String, Value> {
    let body = get_json(&format!("{base}/api/v1/targets"));
    let active = body["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    active
        .into_iter()
        .map(|t| (t["scrapePool"].as_str().unwrap_or_default().to_string(), t))
        .collect()
}

fn server_config(port: u16, body: &str) -> String {
    format!("server:\n  listen: 127.0.0.1:{port}\n{body}")
}

fn start_with(dir: &Path, yaml: &str) -> (Server, u16) {
    let port = free_port();
    let config = dir.join("sightline.yml");
    std::fs::write(&config, server_config(port, yaml)).unwrap();
    (Server::start(&dir.join("data"), &config, port), port)
}

#[test]
fn failing_targets_report_why_and_leave_the_others_alone() {
    let targets = Targets::start();
    targets.set("/good", Reply::Body(TEXT, GOOD_BODY.to_string()));
    targets.set("/500", Reply::Status(500));
    targets.set("/hang", Reply::Hang);
    targets.set(
        "/big",
        Reply::Body(TEXT, format!("big 1\n{}", "# padding\n".repeat(300))),
    );
    targets.set(
        "/malformed",
        Reply::Body(TEXT, "ok 1\nbroken not-a-number\n".to_string()),
    );
    targets.set("/loop", Reply::Redirect("/loop".to_string()));
    let addr = &targets.address;
    let job = |name: &str, path: &str, extra: &str| {
        format!("  - job_name: {name}\n    metrics_path: {path}\n    static_configs: [{{targets: ['{addr}'], labels: {{env: test}}}}]\n{extra}")
    };
    let capped = format!("  - job_name: capped\n    target_limit: 1\n    static_configs: [{{targets: ['{addr}', '127.0.0.1:1']}}]\n");
    let dropping = format!("  - job_name: dropping\n    static_configs: [{{targets: ['{addr}']}}]\n    relabel_configs: [{{source_labels: [__address__], regex: '.*', action: drop}}]\n");
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\nscrape_configs:\n{}{}{}{}{}{}{}{}{}",
        job("good", "/good", ""),
        job("error500", "/500", ""),
        job("hang", "/hang", ""),
        job("oversize", "/big", "    body_size_limit: 1KB\n"),
        job("malformed", "/malformed", ""),
        job("limited", "/good", "    sample_limit: 2\n"),
        // Eleven round trips: give them room on a loaded CI machine.
        job(
            "loop",
            "/loop",
            "    scrape_interval: 5s\n    scrape_timeout: 5s\n"
        ),
        capped,
        dropping,
    );
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start_with(dir.path(), &yaml);
    let base = server.base.clone();
    // Every target, not one per pool: `capped` has two, each scraped at its own offset.
    wait_for("every target scraped", Duration::from_secs(15), || {
        let body = get_json(&format!("{base}/api/v1/targets"));
        let active = body["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        active.len() == 9 && active.iter().all(|t| t["health"] != "unknown")
    });
    let pools = targets_by_pool(&base);
    let error_of = |pool: &str| pools[pool]["lastError"].as_str().unwrap_or_default().to_string();
    assert_eq!(pools["good"]["health"], "up");
    assert_eq!(error_of("good"), "");
    let expected_errors = [
        (
            "error500",
            "server returned HTTP status 500 Internal Server Error",
        ),
        ("hang", "context deadline exceeded"),
        ("oversize", "body size limit exceeded"),
        ("malformed", "line 2"),
        ("limited", "sample limit exceeded"),
        ("loop", "redirect"),
        ("capped", "target_limit exceeded (number of targets: 2, limit: 1)"),
    ];
    for (pool, reason) in expected_errors {
        assert_eq!(pools[pool]["health"], "down", "{pool}: {}", pools[pool]);
        assert!(
            error_of(pool).contains(reason),
            "{pool}: lastError {:?} should name {reason:?}",
            error_of(pool)
        );
    }
    let good = &pools["good"];
    assert_eq!(good["scrapeUrl"], format!("http://{addr}/good"));
    assert_eq!(good["labels"]["env"], "test");
    assert_eq!(good["discoveredLabels"]["__address__"], addr.as_str());
    assert_eq!(good["scrapeInterval"], "1s");

    let up = instant(&base, "up");
    assert_eq!(up.len(), 9, "{up:?}");
    for (labels, value) in &up {
        let expected = if labels["job"] == "good" { "1" } else { "0" };
        assert_eq!(value, expected, "{labels:?}");
    }
    let temperature = instant(&base, "temperature");
    let labels: BTreeMap<String, String> = [
        ("__name__", "temperature"),
        ("env", "test"),
        ("instance", addr.as_str()),
        ("job", "good"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(temperature, BTreeMap::from([(labels, "21.5".to_string())]));
    let scraped = instant(&base, "scrape_samples_scraped{job=\"good\"}");
    assert_eq!(scraped.values().next().map(String::as_str), Some("7"));
    let stored = instant(&base, "{job=\"limited\", __name__!~\"up|scrape_.*\"}");
    assert!(
        stored.is_empty(),
        "nothing from a failed scrape is stored: {stored:?}"
    );

    let metadata = get_json(&format!("{base}/api/v1/metadata?metric=requests_total"));
    assert_eq!(
        metadata["data"]["requests_total"],
        serde_json::json!([{"type": "counter", "help": "Requests served.", "unit": ""}])
    );
    let url = format!(
        "{base}/api/v1/targets/metadata?match_target={}&metric=latency_seconds",
        urlencode("{job=\"good\"}")
    );
    let target_metadata = get_json(&url);
    let rows = target_metadata["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 1, "{target_metadata}");
    assert_eq!(rows[0]["type"], "histogram");
    assert_eq!(rows[0]["target"]["job"], "good");
    let dropped = get_json(&format!("{base}/api/v1/targets?state=dropped"));
    assert_eq!(dropped["data"]["activeTargets"], serde_json::json!([]));
    let dropped = dropped["data"]["droppedTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0]["discoveredLabels"]["job"], "dropping");
    let filtered = get_json(&format!("{base}/api/v1/targets?state=active&scrapePool=hang"));
    assert_eq!(
        filtered["data"]["activeTargets"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(filtered["data"]["droppedTargets"], serde_json::json!([]));
    server.terminate();
}

#[test]
fn file_sd_changes_staleness_and_reloads() {
    let targets = Targets::start();
    targets.set("/good", Reply::Body(OPENMETRICS, format!("{GOOD_BODY}# EOF\n")));
    let dir = tempfile::tempdir().unwrap();
    let sd_file = dir.path().join("targets.json");
    let listed = format!(
        r#"[{{"targets": ["{}"], "labels": {{"team": "ml"}}}}]"#,
        targets.address
    );
    std::fs::write(&sd_file, &listed).unwrap();
    let files_job = format!(
        "  - job_name: files\n    metrics_path: /good\n    file_sd_configs: [{{files: ['{}/*.json']}}]\n    relabel_configs:\n      - {{source_labels: [__meta_filepath], regex: '.*/(.*)', target_label: source}}\n",
        dir.path().display()
    );
    let groups = format!(
        r#"[{{"targets": ["{}"], "labels": {{"via": "http"}}}}]"#,
        targets.address
    );
    targets.set("/sd", Reply::Body("application/json", groups));
    let http_job = format!(
        "  - job_name: viahttp\n    metrics_path: /good\n    http_sd_configs: [{{url: 'http://{}/sd'}}]\n",
        targets.address
    );
    let yaml = format!("global:\n  scrape_interval: 1s\nscrape_configs:\n{files_job}{http_job}");
    let (server, port) = start_with(dir.path(), &yaml);
    let base = server.base.clone();
    wait_for("file_sd target scraped", Duration::from_secs(15), || {
        !instant(
            &base,
            "temperature{job=\"files\", team=\"ml\", source=\"targets.json\"}",
        )
        .is_empty()
    });
    wait_for("http_sd target scraped", Duration::from_secs(15), || {
        !instant(&base, "temperature{job=\"viahttp\", via=\"http\"}").is_empty()
    });
    // Millisecond precision: a whole second could fall before the sample the waits above saw.
    let seen_at = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;

    std::fs::write(&sd_file, "[]").unwrap();
    wait_for("target removed", Duration::from_secs(15), || {
        !targets_by_pool(&base).contains_key("files")
    });
    // A staleness marker ends the series at once, rather than after 5 minutes of lookback.
    assert!(instant(&base, "temperature{job=\"files\"}").is_empty());
    assert!(instant(&base, "up{job=\"files\"}").is_empty());
    let query = urlencode("temperature{job=\"files\"}");
    let earlier = get_json(&format!("{base}/api/v1/query?query={query}&time={seen_at}"));
    assert_eq!(
        earlier["data"]["result"].as_array().map(Vec::len),
        Some(1),
        "{earlier}"
    );

    let config_path = dir.path().join("sightline.yml");
    std::fs::write(
        &config_path,
        server_config(port, "scrape_configs:\n  - job_name: [oops\n"),
    )
    .unwrap();
    let response = client().post(format!("{base}/-/reload")).send().unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let reason = response.text().unwrap();
    assert!(
        reason.contains("failed to reload config") && reason.contains("sightline.yml:"),
        "{reason}"
    );
    let metrics = client()
        .get(format!("{base}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("sightline_config_last_reload_successful 0"),
        "{metrics}"
    );
    let runtime = get_json(&format!("{base}/api/v1/status/runtimeinfo"));
    assert_eq!(runtime["data"]["reloadConfigSuccess"], false, "{runtime}");
    std::fs::write(&sd_file, &listed).unwrap();
    wait_for(
        "running config kept after a bad reload",
        Duration::from_secs(15),
        || targets_by_pool(&base).contains_key("files"),
    );

    let added = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n{files_job}  - job_name: added\n    metrics_path: /good\n    static_configs: [{{targets: ['{}']}}]\n",
        targets.address
    );
    std::fs::write(&config_path, server_config(port, &added)).unwrap();
    let response = client().put(format!("{base}/-/reload")).send().unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "{}",
        response.text().unwrap_or_default()
    );
    wait_for("job added by reload", Duration::from_secs(15), || {
        targets_by_pool(&base)
            .get("added")
            .is_some_and(|t| t["health"] == "up")
    });
    std::fs::write(&config_path, server_config(port, "scrape_configs: []\n")).unwrap();
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    wait_for("jobs removed by SIGHUP", Duration::from_secs(15), || {
        targets_by_pool(&base).is_empty()
    });
    let metrics = client()
        .get(format!("{base}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("sightline_config_last_reload_successful 1"),
        "{metrics}"
    );
    assert!(server.terminate().success());
}

#[test]
fn embedded_default_scrapes_itself_at_its_listen_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_for("self-scrape", Duration::from_secs(40), || {
        client()
            .get(format!("{base}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
            && targets_by_pool(&base)
                .get("sightline")
                .is_some_and(|t| t["health"] == "up")
    });
    let pools = targets_by_pool(&base);
    assert_eq!(pools.keys().collect::<Vec<_>>(), ["gpu", "node", "sightline"]);
    assert_eq!(
        pools["node"]["scrapeUrl"],
        format!("http://127.0.0.1:{port}/metrics/node")
    );
    let up = instant(&base, "up{job=\"sightline\"}");
    assert_eq!(up.values().next().map(String::as_str), Some("1"));
    let _ = child.kill();
    let _ = child.wait();
}

/// The reference Prometheus on a configuration file, killed on drop.
struct Prometheus(Child, String);

impl Prometheus {
    fn start(dir: &Path, config: &Path) -> Prometheus {
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prometheus-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("prometheus must be installed (tests/run-all.sh installs Debian's prometheus package)");
        Prometheus(child, format!("http://127.0.0.1:{port}"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Prometheus configuration exercising labels, relabelling and honor_labels.
fn agreement_config(addr: &str) -> String {
    format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels: {{site: lab}}
scrape_configs:
  - job_name: app
    metrics_path: /good
    static_configs: [{{targets: ['{addr}'], labels: {{env: prod}}}}]
    relabel_configs:
      - {{source_labels: [__address__], regex: '(.*):(.*)', target_label: port, replacement: '$2'}}
    metric_relabel_configs:
      - {{source_labels: [__name__], regex: 'latency_seconds_sum', action: drop}}
      - {{source_labels: [code], regex: '5(.*)', target_label: class, replacement: 'server_$1'}}
  - job_name: clash
    metrics_path: /clash
    static_configs: [{{targets: ['{addr}']}}]
  - job_name: honoured
    honor_labels: true
    metrics_path: /clash
    static_configs: [{{targets: ['{addr}']}}]
  - job_name: down
    metrics_path: /missing
    static_configs: [{{targets: ['{addr}']}}]
"
    )
}

/// Series (labels) and their values at the last point, the duration excluded (it is timing).
fn snapshot(base: &str) -> BTreeMap<BTreeMap<String, String>, String> {
    let mut all = instant(base, "{job=~\".+\", __name__!=\"scrape_duration_seconds\"}");
    all.retain(|labels, _| labels.get("__name__").is_some_and(|n| n != "scrape_series_added"));
    all
}

/// Distinct values per series over the last 10 s through `query_range`.
fn range_values(base: &str) -> BTreeMap<BTreeMap<String, String>, BTreeSet<String>> {
    let end = chrono::Utc::now().timestamp();
    let query = urlencode("{job=~\".+\", __name__!~\"scrape_duration_seconds|scrape_series_added\"}");
    let url = format!(
        "{base}/api/v1/query_range?query={query}&start={}&end={end}&step=1",
        end - 10
    );
    let body = get_json(&url);
    let mut out = BTreeMap::new();
    for row in body["data"]["result"].as_array().cloned().unwrap_or_default() {
        let labels: BTreeMap<String, String> = serde_json::from_value(row["metric"].clone()).unwrap();
        let values = row["values"].as_array().cloned().unwrap_or_default();
        let distinct = values
            .iter()
            .map(|p| p[1].as_str().unwrap_or_default().to_string())
            .collect();
        out.insert(labels, distinct);
    }
    out
}

#[test]
fn same_series_and_values_as_prometheus() {
    let targets = Targets::start();
    targets.set("/good", Reply::Body(TEXT, GOOD_BODY.to_string()));
    let clash =
        "# TYPE jobs_seen gauge\njobs_seen{job=\"exposed\",instance=\"inner\",exported_job=\"x\"} 2\n";
    targets.set("/clash", Reply::Body(TEXT, clash.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, agreement_config(&targets.address)).unwrap();
    let check = Command::new("promtool")
        .args(["check", "config"])
        .arg(&config)
        .output();
    let check = check.expect("promtool must be installed (tests/run-all.sh installs it)");
    assert!(
        check.status.success(),
        "promtool refuses the fixture: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    let prometheus = Prometheus::start(dir.path(), &config);
    let port = free_port();
    let mut sightline = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("sightline-data"))
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let ours = format!("http://127.0.0.1:{port}");
    let both = [prometheus.1.clone(), ours.clone()];
    wait_for("both scraping every target", Duration::from_secs(30), || {
        both.iter().all(|base| {
            let pools = client()
                .get(format!("{base}/api/v1/targets"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok());
            let active = pools
                .map(|p| p["data"]["activeTargets"].clone())
                .unwrap_or_default();
            active
                .as_array()
                .is_some_and(|a| a.len() == 4 && a.iter().all(|t| t["health"] != "unknown"))
        })
    });
    std::thread::sleep(Duration::from_secs(3));
    let (theirs, mine) = (snapshot(&prometheus.1), snapshot(&ours));
    assert!(theirs.len() >= 20, "prometheus scraped too little: {theirs:?}");
    assert_eq!(mine, theirs, "instant query: sightline vs prometheus");
    let (theirs, mine) = (range_values(&prometheus.1), range_values(&ours));
    assert_eq!(
        mine.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "query_range series"
    );
    for (labels, values) in &theirs {
        assert_eq!(&mine[labels], values, "query_range values of {labels:?}");
    }
    let _ = sightline.kill();
    let _ = sightline.wait();
}

#[test]
fn promtool_accepted_scrape_fixture_loads_unchanged() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/scrape_full.yml");
    let promtool = Command::new("promtool")
        .args(["check", "config"])
        .arg(&fixture)
        .output();
    let promtool = promtool.expect("promtool must be installed (tests/run-all.sh installs it)");
    assert!(
        promtool.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&promtool.stdout)
    );
    let ours = Command::new(BIN)
        .args(["check", "config"])
        .arg(&fixture)
        .output()
        .unwrap();
    assert!(
        ours.status.success(),
        "sightline: {}",
        String::from_utf8_lossy(&ours.stdout)
    );
}
