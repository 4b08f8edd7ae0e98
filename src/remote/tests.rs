//! The sender against a local receiver that decodes what it gets: samples
//! appended to a real storage arrive relabelled, with external labels and the
//! protocol headers; failures are retried or given up as Prometheus does; a
//! full queue drops and counts.

use super::*;
use crate::config::parse_str;
use crate::ingest::remote_write::{decode_write_request, WriteLimits};
use crate::storage::{Appender, Labels, Sample, StorageOptions};
use axum::http::{HeaderMap, StatusCode};
use std::sync::atomic::AtomicUsize;

struct Received {
    series: Vec<SeriesSamples>,
    headers: Vec<HeaderMap>,
}

/// A remote-write receiver answering `statuses` in turn (the last repeated).
async fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Received>>, Arc<AtomicUsize>) {
    let received = Arc::new(Mutex::new(Received {
        series: Vec::new(),
        headers: Vec::new(),
    }));
    let calls = Arc::new(AtomicUsize::new(0));
    let (seen, count) = (received.clone(), calls.clone());
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        let code = statuses[n.min(statuses.len() - 1)];
        let seen = seen.clone();
        async move {
            if code == 200 {
                let series = decode_write_request(&body, &WriteLimits::default()).unwrap();
                let mut seen = seen.lock();
                seen.series.extend(series);
                seen.headers.push(headers);
            }
            StatusCode::from_u16(code).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received, calls)
}

fn config(url: &str, extra: &str) -> Config {
    let yaml = format!(
        "global:\n  external_labels: {{cluster: eu, job: overridden}}\nremote_write:\n  - url: {url}\n    name: vm\n    headers: {{X-Scope-OrgID: team-ml}}\n    basic_auth: {{username: u, password: p}}\n    queue_config: {{batch_send_deadline: 50ms, min_backoff: 10ms, max_backoff: 20ms{extra}}}\n    write_relabel_configs:\n      - {{source_labels: [__name__], regex: 'debug_.*', action: drop}}\n"
    );
    parse_str(&yaml, "t.yml").unwrap()
}

fn batch(name: &str, t: i64) -> Vec<SeriesSamples> {
    vec![SeriesSamples {
        labels: Labels::from_pairs([("__name__", name), ("job", "api")]),
        samples: vec![Sample { t, v: t as f64 }],
    }]
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("waited in vain for {what}");
}

fn metric(registry: &Registry, name: &str) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text.lines()
        .filter(|l| l.starts_with(name))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_samples_arrive_relabelled_with_external_labels_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let (url, received, _) = receiver(vec![200]).await;
    let mut registry = Registry::default();
    let writer = RemoteWriter::start(&storage, &config(&url, ""), &mut registry).unwrap();
    let now = crate::storage::now_ms();
    storage.append(batch("model_accuracy", now)).unwrap();
    storage.append(batch("debug_internal", now)).unwrap();
    storage.append(batch("model_accuracy", now + 1000)).unwrap();
    wait_until("two samples", || {
        received
            .lock()
            .series
            .iter()
            .map(|s| s.samples.len())
            .sum::<usize>()
            == 2
    })
    .await;
    {
        let got = received.lock();
        let labels = &got.series[0].labels;
        assert_eq!(
            *labels,
            Labels::from_pairs([("__name__", "model_accuracy"), ("job", "api"), ("cluster", "eu")]),
            "external labels fill in, the series' own win, relabelling drops debug_*"
        );
        let times: Vec<i64> = got
            .series
            .iter()
            .flat_map(|s| s.samples.iter().map(|x| x.t))
            .collect();
        assert_eq!(times, [now, now + 1000], "in order");
        let headers = &got.headers[0];
        assert_eq!(headers["content-encoding"], "snappy");
        assert_eq!(headers["content-type"], "application/x-protobuf");
        assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
        assert_eq!(headers["x-scope-orgid"], "team-ml");
        assert_eq!(headers["authorization"], "Basic dTpw");
    }
    assert!(metric(&registry, "sightline_remote_storage_samples_total").ends_with(" 2"));
    assert!(
        metric(&registry, "sightline_remote_storage_samples_dropped_total").contains("reason=\"relabel\"} 1")
    );
    writer.shutdown().await;
    assert!(!writer.active());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_client_errors_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let (url, received, calls) = receiver(vec![503, 429, 200]).await;
    let mut registry = Registry::default();
    let _writer = RemoteWriter::start(&storage, &config(&url, ""), &mut registry).unwrap();
    storage.append(batch("up", crate::storage::now_ms())).unwrap();
    wait_until("a retried delivery", || received.lock().series.len() == 1).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(metric(&registry, "sightline_remote_storage_samples_retried_total").ends_with(" 2"));

    let (url, _, calls) = receiver(vec![400]).await;
    let mut registry = Registry::default();
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let _writer = RemoteWriter::start(&storage, &config(&url, ""), &mut registry).unwrap();
    storage.append(batch("up", crate::storage::now_ms())).unwrap();
    wait_until("a refusal", || {
        metric(&registry, "sightline_remote_storage_samples_failed_total").ends_with(" 1")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a 4xx is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_counts_while_the_endpoint_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let (url, _, _) = receiver(vec![503]).await;
    let mut registry = Registry::default();
    let _writer = RemoteWriter::start(&storage, &config(&url, ", capacity: 3"), &mut registry).unwrap();
    let now = crate::storage::now_ms();
    for i in 0..10 {
        storage.append(batch("up", now + i)).unwrap();
    }
    let dropped = metric(&registry, "sightline_remote_storage_samples_dropped_total");
    assert!(dropped.contains("reason=\"queue_full\"} 7"), "{dropped}");
    assert!(metric(&registry, "sightline_remote_storage_samples_pending").ends_with(" 3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_endpoints_the_listener_is_inactive_and_a_reload_starts_one() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let mut registry = Registry::default();
    let writer = RemoteWriter::start(&storage, &Config::default(), &mut registry).unwrap();
    assert!(!writer.active());
    let (url, received, _) = receiver(vec![200]).await;
    writer.apply(&config(&url, "")).unwrap();
    assert!(writer.active());
    storage.append(batch("up", crate::storage::now_ms())).unwrap();
    wait_until("delivery after reload", || received.lock().series.len() == 1).await;
    let mut bad = config("https://vm.example/api/v1/write", "");
    bad.remote_write[0].tls_config.ca_file = Some("/nonexistent/ca.pem".to_string());
    let err = writer.apply(&bad).unwrap_err();
    assert!(err.contains("ca_file"), "{err}");
    assert!(writer.active(), "a failed reload keeps the running queues");
}
