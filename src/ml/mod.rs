//! ML monitoring: prediction and feedback events, the feedback join, model
//! quality over windows, data quality, and the prediction log.
//!
//! Owns everything between an events request and the series it produces:
//! `api` (HTTP) → `body` and `event` (framing, per-item checks) → `monitor`
//! (state of every model: `model` schema, `counters`, `quality` windows over
//! `metrics`, `data_quality`) → `join` and `log` (durable state in partitions
//! of the `lsm` keyspace, and in the storage's aux sled trees) → samples
//! appended through [`crate::storage::Appender`] once per tick. It must not
//! reach into storage internals (only `Appender`, `Storage::aux_tree` and
//! `Storage::aux_dir`), and must not send
//! notifications: alerts on these series are the rule engine's job.

mod api;
mod body;
mod counters;
mod data_quality;
mod details;
mod drift_job;
mod event;
mod ingest;
mod join;
mod log;
mod lsm;
mod metrics;
mod model;
mod monitor;
mod quality;

pub use api::router;
pub use monitor::{MlMonitor, MonitorError};

use std::time::Duration;

/// How often derived series are appended.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How often TTLs and log retention are enforced.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);

/// Appends derived series every [`FLUSH_EVERY`] and expires joins and log
/// items every minute, until aborted.
pub fn spawn_ticker(monitor: MlMonitor) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        let mut last_expiry = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let expire = last_expiry.elapsed() >= EXPIRE_EVERY;
            if expire {
                last_expiry = tokio::time::Instant::now();
            }
            let m = monitor.clone();
            let result = tokio::task::spawn_blocking(move || tick_once(&m, expire)).await;
            if let Err(e) = result {
                tracing::error!("ML tick failed: {e}");
            }
        }
    })
}

fn tick_once(monitor: &MlMonitor, expire: bool) {
    let now = crate::storage::now_ms();
    if let Err(e) = monitor.flush(now) {
        tracing::error!("{e}");
    }
    if expire {
        if let Err(e) = monitor.expire(now) {
            tracing::error!("{e}");
        }
    }
}
