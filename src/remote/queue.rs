//! One endpoint's queue, shaped like Prometheus's queue manager: accepted
//! batches go into a bounded in-memory intake; a dispatcher adds external
//! labels, applies `write_relabel_configs` and spreads series over shards by
//! label hash (so each series stays in order); each shard sends when it holds
//! `max_samples_per_send` samples or its oldest sample waited
//! `batch_send_deadline`, retrying recoverable failures with doubling backoff
//! from `min_backoff` to `max_backoff` while it blocks (so the queue fills).
//!
//! Bound and drop policy: at most `capacity × shards` samples are held; a batch
//! that does not fit is dropped whole and counted (`reason="queue_full"`).
//! The shard count is fixed at `min_shards` (Prometheus reshards dynamically up
//! to `max_shards`; not done here).

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::metrics::{DropLabels, QueueLabels, RemoteMetrics};
use super::send::{Endpoint, SendError};
use crate::config::{QueueConfig, RelabelConfig, RemoteWriteConfig};
use crate::ingest::remote_write::encode_write_request;
use crate::storage::{Labels, SeriesSamples};

/// Relabelled label sets remembered per queue; cleared whole when full.
const RELABEL_CACHE_ENTRIES: usize = 200_000;

pub struct Queue {
    intake: mpsc::UnboundedSender<Arc<Vec<SeriesSamples>>>,
    counters: Arc<Counters>,
    capacity: usize,
    tasks: Vec<JoinHandle<()>>,
}

/// What the listener, the dispatcher and the shards share.
struct Counters {
    /// Samples held in memory (intake, shards, in flight).
    pending: AtomicUsize,
    stopping: AtomicBool,
    labels: QueueLabels,
    metrics: RemoteMetrics,
}

impl Counters {
    fn release(&self, samples: usize) {
        self.pending.fetch_sub(samples, Ordering::Relaxed);
        self.metrics
            .samples_pending
            .get_or_create(&self.labels)
            .dec_by(samples as i64);
    }

    fn drop_samples(&self, reason: &str, samples: usize) {
        let labels = DropLabels {
            remote_name: self.labels.remote_name.clone(),
            url: self.labels.url.clone(),
            reason: reason.to_string(),
        };
        self.metrics
            .samples_dropped
            .get_or_create(&labels)
            .inc_by(samples as u64);
    }
}

impl Queue {
    /// Starts the dispatcher and shards on `runtime`.
    pub fn start(
        config: &RemoteWriteConfig,
        remote_name: String,
        external_labels: &BTreeMap<String, String>,
        metrics: RemoteMetrics,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Queue, String> {
        let endpoint = Arc::new(Endpoint::new(config.clone())?);
        let labels = QueueLabels {
            remote_name,
            url: config.url.clone(),
        };
        let shards = usize::try_from(config.queue_config.min_shards.max(1)).unwrap_or(1);
        metrics.shards.get_or_create(&labels).set(shards as i64);
        let counters = Arc::new(Counters {
            pending: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            labels,
            metrics,
        });
        let mut tasks = Vec::with_capacity(shards + 1);
        let mut shard_inputs = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (tx, rx) = mpsc::unbounded_channel();
            shard_inputs.push(tx);
            let shard = Shard {
                input: rx,
                endpoint: endpoint.clone(),
                queue: config.queue_config.clone(),
                counters: counters.clone(),
            };
            tasks.push(runtime.spawn(shard.run()));
        }
        let (intake, intake_rx) = mpsc::unbounded_channel();
        let dispatcher = Dispatcher {
            intake: intake_rx,
            shards: shard_inputs,
            external_labels: external_labels.clone(),
            relabel: config.write_relabel_configs.clone(),
            cache: HashMap::new(),
            counters: counters.clone(),
        };
        tasks.push(runtime.spawn(dispatcher.run()));
        let capacity = usize::try_from(config.queue_config.capacity)
            .unwrap_or(usize::MAX)
            .saturating_mul(shards);
        Ok(Queue {
            intake,
            counters,
            capacity,
            tasks,
        })
    }

    /// Takes a batch, or drops it whole when the queue is full. Never blocks.
    pub fn enqueue(&self, batch: &Arc<Vec<SeriesSamples>>) {
        let samples: usize = batch.iter().map(|s| s.samples.len()).sum();
        let held = self.counters.pending.fetch_add(samples, Ordering::Relaxed);
        if held + samples > self.capacity || self.intake.send(batch.clone()).is_err() {
            self.counters.pending.fetch_sub(samples, Ordering::Relaxed);
            self.counters.drop_samples("queue_full", samples);
            return;
        }
        self.counters
            .metrics
            .samples_pending
            .get_or_create(&self.counters.labels)
            .inc_by(samples as i64);
    }

    /// Stops taking batches, sends what is held (one attempt per batch once
    /// `deadline` passes) and waits for the shards until `deadline`.
    pub async fn stop(self, deadline: Duration) {
        let Queue {
            intake,
            counters,
            tasks,
            ..
        } = self;
        drop(intake);
        let all = futures_join(tasks);
        if tokio::time::timeout(deadline, all).await.is_err() {
            counters.stopping.store(true, Ordering::Relaxed);
            tracing::warn!(url = %counters.labels.url, "remote_write queue did not drain before shutdown");
        }
    }
}

async fn futures_join(tasks: Vec<JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}

struct Dispatcher {
    intake: mpsc::UnboundedReceiver<Arc<Vec<SeriesSamples>>>,
    shards: Vec<mpsc::UnboundedSender<SeriesSamples>>,
    external_labels: BTreeMap<String, String>,
    relabel: Vec<RelabelConfig>,
    cache: HashMap<Labels, Option<Labels>>,
    counters: Arc<Counters>,
}

impl Dispatcher {
    async fn run(mut self) {
        let hasher = rustc_hash::FxBuildHasher;
        while let Some(batch) = self.intake.recv().await {
            for series in batch.iter() {
                let samples = series.samples.len();
                let Some(labels) = self.outgoing_labels(&series.labels) else {
                    self.counters.release(samples);
                    self.counters.drop_samples("relabel", samples);
                    continue;
                };
                let shard = (hasher.hash_one(&labels) % self.shards.len() as u64) as usize;
                let outgoing = SeriesSamples {
                    labels,
                    samples: series.samples.clone(),
                };
                if self.shards[shard].send(outgoing).is_err() {
                    self.counters.release(samples);
                }
            }
        }
    }

    /// External labels the series lacks, then `write_relabel_configs`; `None` drops it.
    fn outgoing_labels(&mut self, labels: &Labels) -> Option<Labels> {
        if let Some(known) = self.cache.get(labels) {
            return known.clone();
        }
        let mut pairs: BTreeMap<&str, &str> = self
            .external_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.extend(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
        let with_external = Labels::from_pairs(pairs);
        let result = crate::relabel::relabel(with_external, &self.relabel);
        if self.cache.len() >= RELABEL_CACHE_ENTRIES {
            self.cache.clear();
        }
        self.cache.insert(labels.clone(), result.clone());
        result
    }
}

struct Shard {
    input: mpsc::UnboundedReceiver<SeriesSamples>,
    endpoint: Arc<Endpoint>,
    queue: QueueConfig,
    counters: Arc<Counters>,
}

impl Shard {
    async fn run(mut self) {
        let max_samples = usize::try_from(self.queue.max_samples_per_send.max(1)).unwrap_or(usize::MAX);
        let deadline = Duration::from(self.queue.batch_send_deadline);
        let mut batch: Vec<SeriesSamples> = Vec::new();
        let mut batch_samples = 0;
        let mut send_by = Instant::now() + deadline;
        loop {
            tokio::select! {
                next = self.input.recv() => match next {
                    Some(series) => {
                        if batch.is_empty() {
                            send_by = Instant::now() + deadline;
                        }
                        batch_samples += series.samples.len();
                        batch.push(series);
                        if batch_samples >= max_samples {
                            self.send(std::mem::take(&mut batch), std::mem::take(&mut batch_samples)).await;
                        }
                    }
                    None => {
                        self.send(batch, batch_samples).await;
                        return;
                    }
                },
                _ = tokio::time::sleep_until(send_by), if !batch.is_empty() => {
                    self.send(std::mem::take(&mut batch), std::mem::take(&mut batch_samples)).await;
                }
            }
        }
    }

    /// Sends one batch, retrying recoverable failures until it succeeds, fails
    /// for good, or the queue is stopping.
    async fn send(&self, batch: Vec<SeriesSamples>, samples: usize) {
        if batch.is_empty() {
            return;
        }
        let body = bytes::Bytes::from(encode_write_request(&batch));
        let metrics = &self.counters.metrics;
        let labels = &self.counters.labels;
        let mut backoff = Duration::from(self.queue.min_backoff);
        loop {
            let bytes = body.len() as u64;
            match self.endpoint.post(body.clone()).await {
                Ok(()) => {
                    metrics.samples_sent.get_or_create(labels).inc_by(samples as u64);
                    metrics.bytes_sent.get_or_create(labels).inc_by(bytes);
                    break;
                }
                Err(SendError::Unrecoverable(error)) => {
                    tracing::error!(url = %labels.url, samples, "remote_write refused, dropping samples: {error}");
                    metrics
                        .samples_failed
                        .get_or_create(labels)
                        .inc_by(samples as u64);
                    break;
                }
                Err(SendError::Recoverable(error)) if self.counters.stopping.load(Ordering::Relaxed) => {
                    tracing::error!(url = %labels.url, samples, "remote_write failed while stopping: {error}");
                    metrics
                        .samples_failed
                        .get_or_create(labels)
                        .inc_by(samples as u64);
                    break;
                }
                Err(SendError::Recoverable(error)) => {
                    tracing::warn!(url = %labels.url, samples, "remote_write failed, retrying in {backoff:?}: {error}");
                    metrics
                        .samples_retried
                        .get_or_create(labels)
                        .inc_by(samples as u64);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from(self.queue.max_backoff));
                }
            }
        }
        self.counters.release(samples);
    }
}
