//! The sender's own metrics, named as Prometheus's `prometheus_remote_storage_*`
//! with a `sightline_` prefix and labelled by `remote_name` and `url`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub remote_name: String,
    pub url: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    pub remote_name: String,
    pub url: String,
    /// `relabel` (dropped by `write_relabel_configs`) or `queue_full`.
    pub reason: String,
}

/// Shared by every queue; clones count into the same families.
#[derive(Clone, Default)]
pub struct RemoteMetrics {
    pub samples_sent: Family<QueueLabels, Counter>,
    pub samples_failed: Family<QueueLabels, Counter>,
    pub samples_retried: Family<QueueLabels, Counter>,
    pub samples_dropped: Family<DropLabels, Counter>,
    pub samples_pending: Family<QueueLabels, Gauge>,
    pub bytes_sent: Family<QueueLabels, Counter>,
    pub shards: Family<QueueLabels, Gauge>,
}

impl RemoteMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "sightline_remote_storage_samples",
            "Samples sent to remote storage and acknowledged",
            self.samples_sent.clone(),
        );
        registry.register(
            "sightline_remote_storage_samples_failed",
            "Samples that failed to send with an unrecoverable error (4xx) and were given up",
            self.samples_failed.clone(),
        );
        registry.register(
            "sightline_remote_storage_samples_retried",
            "Samples whose send failed with a recoverable error and was retried",
            self.samples_retried.clone(),
        );
        registry.register(
            "sightline_remote_storage_samples_dropped",
            "Samples never sent: dropped by write_relabel_configs or because the queue was full",
            self.samples_dropped.clone(),
        );
        registry.register(
            "sightline_remote_storage_samples_pending",
            "Samples queued in memory and not yet acknowledged",
            self.samples_pending.clone(),
        );
        registry.register(
            "sightline_remote_storage_bytes",
            "Compressed request bytes sent",
            self.bytes_sent.clone(),
        );
        registry.register(
            "sightline_remote_storage_shards",
            "Shards sending in parallel",
            self.shards.clone(),
        );
    }
}
