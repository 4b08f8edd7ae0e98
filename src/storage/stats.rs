//! Figures about what is stored, for `/api/v1/status/tsdb` and `tsdb stats`.

use super::db::{Storage, StorageError};
use super::maintain::dir_size;
use super::METRIC_NAME;

/// What the storage holds.
#[derive(Debug, Clone, Default)]
pub struct TsdbStatus {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub samples: u64,
    pub chunks: u64,
    pub bytes_on_disk: u64,
    pub partitions: usize,
    pub min_time: i64,
    pub max_time: i64,
    pub series_by_metric: Vec<(String, u64)>,
    pub values_by_label: Vec<(String, u64)>,
    pub memory_by_label: Vec<(String, u64)>,
    pub series_by_pair: Vec<(String, u64)>,
}

impl TsdbStatus {
    pub fn bytes_per_sample(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.bytes_on_disk as f64 / self.samples as f64
        }
    }
}

impl Storage {
    /// Heap bytes of the head: series, lookup table and inverted index.
    pub fn head_memory_bytes(&self) -> usize {
        let head = self.inner.head.read();
        head.series_memory_bytes() + head.index().memory_bytes()
    }

    /// Computes the status; counts samples from every chunk header.
    pub fn tsdb_status(&self, top: usize) -> Result<TsdbStatus, StorageError> {
        let (samples, chunks) = self.count_samples()?;
        let mut status = TsdbStatus {
            samples,
            chunks,
            bytes_on_disk: dir_size(self.dir()),
            partitions: self.partitions().len(),
            ..TsdbStatus::default()
        };
        let head = self.inner.head.read();
        let index = head.index();
        status.num_series = index.series_count();
        status.min_time = head.iter().map(|(_, s)| s.first_t).min().unwrap_or(0);
        status.max_time = if head.max_t == i64::MIN { 0 } else { head.max_t };
        let mut by_metric: Vec<(String, u64)> = index
            .label_values(METRIC_NAME)
            .map(|(v, ids)| (v.to_string(), ids.len()))
            .collect();
        by_metric.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        by_metric.truncate(top);
        status.series_by_metric = by_metric;
        let mut memory: Vec<(String, u64)> = index
            .label_names()
            .map(|n| {
                (
                    n.to_string(),
                    index.label_values(n).map(|(v, _)| v.len() as u64).sum(),
                )
            })
            .collect();
        status.num_label_pairs = index
            .label_names()
            .map(|n| index.label_values(n).count() as u64)
            .sum();
        memory.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        memory.truncate(top);
        status.memory_by_label = memory;
        status.values_by_label = index
            .top_cardinalities(top)
            .into_iter()
            .map(|(n, c)| (n, c as u64))
            .collect();
        status.series_by_pair = index.top_pairs(top);
        Ok(status)
    }
}
