//! The server's own metrics, exposed at `/metrics` with `prometheus-client`,
//! plus its process metrics (`process.rs`), and the built-in host and GPU
//! collectors served at `/metrics/node` (`node.rs`) and `/metrics/gpu`
//! (`gpu.rs`) for the scrape loop to collect like any target.
//!
//! Owns the metric definitions and their registry; producers increment them,
//! the storage's counters are copied in at scrape time. Must not read storage
//! data or evaluate queries.

pub mod gpu;
pub mod node;
pub mod process;
#[cfg(target_os = "linux")]
mod procfs;
mod routes;
mod text;

pub use routes::routes;

use crate::storage::Storage;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

/// Every metric Sightline exports about itself.
pub struct SelfMetrics {
    registry: Registry,
    pub remote_write_requests: Family<CodeLabel, Counter>,
    pub samples_ingested: Counter,
    pub samples_rejected: Family<ReasonLabel, Counter>,
    head_series: Gauge,
    samples_appended: Counter,
    samples_duplicate: Counter,
    chunks_persisted: Counter,
    corrupt_chunks: Counter,
    wal_bytes: Gauge,
    /// 1 when the last configuration reload succeeded (set by `server::reload`).
    pub config_last_reload_successful: Gauge,
    /// Unix time of the last successful configuration load.
    pub config_last_reload_success_timestamp: Gauge<f64, AtomicU64>,
    synced: SyncedCounters,
    process: process::ProcessCollector,
}

/// Last values copied from the storage's counters, to turn them into increments.
#[derive(Default)]
struct SyncedCounters {
    appended: AtomicU64,
    duplicate: AtomicU64,
    persisted: AtomicU64,
    corrupt: AtomicU64,
}

impl Default for SelfMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl SelfMetrics {
    pub fn new() -> Self {
        let mut m = SelfMetrics {
            registry: Registry::default(),
            remote_write_requests: Family::default(),
            samples_ingested: Counter::default(),
            samples_rejected: Family::default(),
            head_series: Gauge::default(),
            samples_appended: Counter::default(),
            samples_duplicate: Counter::default(),
            chunks_persisted: Counter::default(),
            corrupt_chunks: Counter::default(),
            wal_bytes: Gauge::default(),
            config_last_reload_successful: Gauge::default(),
            config_last_reload_success_timestamp: Gauge::default(),
            synced: SyncedCounters::default(),
            process: process::ProcessCollector::default(),
        };
        m.register_all();
        m
    }

    fn register_all(&mut self) {
        let r = &mut self.registry;
        r.register(
            "sightline_remote_write_requests",
            "Remote-write requests received, by HTTP status code",
            self.remote_write_requests.clone(),
        );
        r.register(
            "sightline_ingest_samples",
            "Samples accepted from remote-write requests",
            self.samples_ingested.clone(),
        );
        r.register(
            "sightline_ingest_rejected_samples",
            "Samples in refused requests, by reason",
            self.samples_rejected.clone(),
        );
        r.register(
            "sightline_tsdb_head_series",
            "Series known to the storage",
            self.head_series.clone(),
        );
        r.register(
            "sightline_tsdb_samples_appended",
            "Samples appended to the storage by any producer",
            self.samples_appended.clone(),
        );
        r.register(
            "sightline_tsdb_duplicate_samples",
            "Samples skipped because an identical sample was stored",
            self.samples_duplicate.clone(),
        );
        r.register(
            "sightline_tsdb_chunks_persisted",
            "Chunks cut from the head and written to sled",
            self.chunks_persisted.clone(),
        );
        r.register(
            "sightline_tsdb_corrupt_chunks",
            "Stored chunks that failed to decode and were skipped",
            self.corrupt_chunks.clone(),
        );
        r.register(
            "sightline_tsdb_wal_bytes",
            "WAL bytes written since the last checkpoint",
            self.wal_bytes.clone(),
        );
        r.register(
            "sightline_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful",
            self.config_last_reload_successful.clone(),
        );
        r.register(
            "sightline_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            self.config_last_reload_success_timestamp.clone(),
        );
    }

    /// Counts a refused batch's samples under `reason`.
    pub fn reject(&self, reason: &str, samples: u64) {
        self.samples_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc_by(samples);
    }

    pub fn count_request(&self, code: u16) {
        self.remote_write_requests
            .get_or_create(&CodeLabel {
                code: code.to_string(),
            })
            .inc();
    }

    /// For subsystems that register their own metric families (remote write),
    /// before the server shares the metrics.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Renders the text exposition, after copying in the storage's figures,
    /// with the process metrics before the closing `# EOF`.
    pub fn render(&self, storage: &Storage) -> String {
        self.sync_from(storage);
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            return String::new();
        }
        let eof = out.strip_suffix("# EOF\n").map(str::len);
        out.truncate(eof.unwrap_or(out.len()));
        let mut process = text::MetricText::default();
        self.process.render(&mut process);
        out.push_str(&process.finish());
        out.push_str("# EOF\n");
        out
    }

    fn sync_from(&self, storage: &Storage) {
        let c = storage.counters();
        let advance = |counter: &Counter, last: &AtomicU64, now: u64| {
            let prev = last.swap(now, Ordering::Relaxed);
            counter.inc_by(now.saturating_sub(prev));
        };
        advance(
            &self.samples_appended,
            &self.synced.appended,
            c.samples_appended.load(Ordering::Relaxed),
        );
        advance(
            &self.samples_duplicate,
            &self.synced.duplicate,
            c.samples_duplicate.load(Ordering::Relaxed),
        );
        advance(
            &self.chunks_persisted,
            &self.synced.persisted,
            c.chunks_persisted.load(Ordering::Relaxed),
        );
        advance(
            &self.corrupt_chunks,
            &self.synced.corrupt,
            c.corrupt_chunks.load(Ordering::Relaxed),
        );
        self.head_series.set(storage.num_series() as i64);
        self.wal_bytes.set(storage.wal_size() as i64);
    }
}
