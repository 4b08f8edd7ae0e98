//! Sightline remote-writes to a real VictoriaMetrics (Debian's
//! `victoria-metrics`, installed by tests/run-all.sh): samples written into
//! Sightline come back from VictoriaMetrics' export API with the same labels
//! (plus external labels, minus relabelled-away series), timestamps and values.

mod common;

use common::{client, free_port, Server};
use sightline::ingest::remote_write::encode_write_request;
use sightline::storage::{Labels, Sample, SeriesSamples};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct VictoriaMetrics {
    child: Child,
    base: String,
}

impl Drop for VictoriaMetrics {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_victoria_metrics(dir: &std::path::Path) -> VictoriaMetrics {
    let port = free_port();
    let child = Command::new("victoria-metrics")
        .arg(format!("-storageDataPath={}", dir.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=100y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("victoria-metrics must be installed (tests/run-all.sh installs Debian's victoria-metrics)");
    let vm = VictoriaMetrics {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while client().get(format!("{}/health", vm.base)).send().is_err() {
        assert!(Instant::now() < deadline, "victoria-metrics did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    vm
}

/// `{labels} → [(t, v)]` of every series VictoriaMetrics holds for `selector`.
fn export(vm: &VictoriaMetrics, selector: &str) -> BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> {
    let _ = client().get(format!("{}/internal/force_flush", vm.base)).send();
    let text = client()
        .get(format!("{}/api/v1/export", vm.base))
        .query(&[("match[]", selector)])
        .send()
        .unwrap()
        .text()
        .unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let labels: BTreeMap<String, String> = serde_json::from_value(row["metric"].clone()).unwrap();
        let times = row["timestamps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_i64().unwrap());
        let values = row["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap());
        let samples: &mut Vec<(i64, f64)> = out.entry(labels).or_default();
        samples.extend(times.zip(values));
        samples.sort_by_key(|s| s.0);
    }
    out
}

fn series(name: &str, model: &str, start: i64, n: usize) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs([("__name__", name), ("model", model)]),
        samples: (0..n)
            .map(|i| Sample {
                t: start + i as i64 * 15_000,
                v: 0.5 + i as f64 / 8.0,
            })
            .collect(),
    }
}

#[test]
fn samples_written_to_sightline_arrive_in_victoria_metrics_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let vm = start_victoria_metrics(&dir.path().join("vm"));
    let port = free_port();
    let config = dir.path().join("sightline.yml");
    let yaml = format!(
        "server:\n  listen: 127.0.0.1:{port}\nglobal:\n  external_labels: {{replica: a}}\nremote_write:\n  - url: {}/api/v1/write\n    name: vm\n    queue_config: {{batch_send_deadline: 200ms, max_samples_per_send: 50}}\n    write_relabel_configs:\n      - {{source_labels: [model], regex: scratch, action: drop}}\n",
        vm.base
    );
    std::fs::write(&config, yaml).unwrap();
    let server = Server::start(&dir.path().join("data"), &config, port);

    let start = (sightline::storage::now_ms() / 1000 - 3600) * 1000;
    let batch = vec![
        series("model_accuracy", "fraud", start, 120),
        series("model_accuracy", "churn", start, 120),
        series("model_accuracy", "scratch", start, 10),
    ];
    let response = client()
        .post(server.url("/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(encode_write_request(&batch))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);

    let deadline = Instant::now() + Duration::from_secs(60);
    let got = loop {
        let got = export(&vm, "model_accuracy");
        if got.values().map(Vec::len).sum::<usize>() >= 240 || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let expected: BTreeMap<_, _> = batch[..2]
        .iter()
        .map(|s| {
            let mut labels: BTreeMap<String, String> = s
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            labels.insert("replica".into(), "a".into());
            (labels, s.samples.iter().map(|x| (x.t, x.v)).collect::<Vec<_>>())
        })
        .collect();
    assert_eq!(got, expected, "what VictoriaMetrics holds");

    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let sent = metrics
        .lines()
        .find(|l| l.starts_with("sightline_remote_storage_samples_total{"))
        .unwrap_or_else(|| panic!("no sent counter in /metrics:\n{metrics}"));
    let sent: f64 = sent.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(sent >= 240.0, "{sent}");
    assert!(metrics.contains("sightline_remote_storage_samples_dropped_total{remote_name=\"vm\""));
    assert!(server.terminate().success());
}
