//! The remote-write sender: every sample appended to storage (scrape,
//! remote-write intake, rules, ML series) is forwarded to each `remote_write`
//! endpoint as remote-write 1.0 (protobuf + snappy), with Prometheus's queue
//! semantics (`queue.rs`: shards, batching, backoff, relabelling, bounded
//! queue) and its `*_remote_storage_*` metrics (`metrics.rs`).
//!
//! It listens to storage through [`AppendListener`]: the storage hands over
//! each accepted batch in commit order, and [`RemoteWriter`] only enqueues it.
//! With no endpoint configured the listener is inactive and the storage copies
//! nothing.
//!
//! Durability window: unlike Prometheus, which re-reads its WAL, queues live
//! in memory. Samples queued when the process dies are lost; while an
//! endpoint is down, up to `capacity × shards` samples wait and later ones are
//! dropped (counted as `sightline_remote_storage_samples_dropped_total{reason=
//! "queue_full"}`). On a clean shutdown queues get 5 s to drain. Samples
//! replayed from the WAL at start are not re-sent.
//!
//! Must not touch storage internals or the HTTP API; it only reads
//! configuration and sends.

mod metrics;
mod queue;
mod send;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use prometheus_client::registry::Registry;

use crate::config::Config;
use crate::storage::{AppendListener, SeriesSamples, Storage};

pub use metrics::RemoteMetrics;
use queue::Queue;

/// How long a clean shutdown waits for queues to drain.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// All configured queues. Cheap to clone.
#[derive(Clone)]
pub struct RemoteWriter {
    inner: Arc<Inner>,
}

struct Inner {
    queues: RwLock<Vec<Queue>>,
    active: AtomicBool,
    /// The `remote_write` entries and external labels the queues run with.
    applied: Mutex<Option<AppliedConfig>>,
    metrics: RemoteMetrics,
    runtime: tokio::runtime::Handle,
}

type AppliedConfig = (
    Vec<crate::config::RemoteWriteConfig>,
    std::collections::BTreeMap<String, String>,
);

impl RemoteWriter {
    /// Registers with `storage` and `registry`, then starts the configured
    /// queues. Must be called inside a Tokio runtime.
    pub fn start(
        storage: &Storage,
        config: &Config,
        registry: &mut Registry,
    ) -> Result<RemoteWriter, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| format!("remote_write needs a Tokio runtime: {e}"))?;
        let metrics = RemoteMetrics::default();
        metrics.register(registry);
        let writer = RemoteWriter {
            inner: Arc::new(Inner {
                queues: RwLock::new(Vec::new()),
                active: AtomicBool::new(false),
                applied: Mutex::new(None),
                metrics,
                runtime,
            }),
        };
        writer.apply(config)?;
        storage.on_append(Arc::new(writer.clone()));
        Ok(writer)
    }

    /// Restarts the queues when `remote_write` or the external labels
    /// changed; the old queues drain in the background.
    pub fn apply(&self, config: &Config) -> Result<(), String> {
        let wanted = (config.remote_write.clone(), config.global.external_labels.clone());
        let mut applied = self.inner.applied.lock();
        if applied.as_ref() == Some(&wanted) {
            return Ok(());
        }
        let queues = self.start_queues(config)?;
        self.inner.active.store(!queues.is_empty(), Ordering::Release);
        let old = std::mem::replace(&mut *self.inner.queues.write(), queues);
        for queue in old {
            self.inner.runtime.spawn(queue.stop(SHUTDOWN_DRAIN));
        }
        *applied = Some(wanted);
        Ok(())
    }

    /// Stops taking samples and gives queued ones `SHUTDOWN_DRAIN` to go out.
    pub async fn shutdown(&self) {
        self.inner.active.store(false, Ordering::Release);
        let queues = std::mem::take(&mut *self.inner.queues.write());
        for queue in queues {
            queue.stop(SHUTDOWN_DRAIN).await;
        }
    }

    fn start_queues(&self, config: &Config) -> Result<Vec<Queue>, String> {
        config
            .remote_write
            .iter()
            .enumerate()
            .map(|(i, remote)| {
                let name = remote.name.clone().unwrap_or_else(|| format!("remote_write_{i}"));
                Queue::start(
                    remote,
                    name,
                    &config.global.external_labels,
                    self.inner.metrics.clone(),
                    &self.inner.runtime,
                )
            })
            .collect()
    }
}

impl AppendListener for RemoteWriter {
    fn active(&self) -> bool {
        self.inner.active.load(Ordering::Acquire)
    }

    fn appended(&self, batch: &Arc<Vec<SeriesSamples>>) {
        for queue in self.inner.queues.read().iter() {
            queue.enqueue(batch);
        }
    }
}

#[cfg(test)]
mod tests;
