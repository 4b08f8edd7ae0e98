//! Retention and compaction: the storage's housekeeping.
//!
//! Retention drops whole time partitions (a key-range delete) once they are
//! older than the retention time (measured from the newest sample, as
//! Prometheus does) or while the data directory exceeds the retention size,
//! then forgets series left without data. Compaction re-encodes the XOR chunks
//! of a cold partition (those the head holds for it, see `pending.rs`, and any
//! in sled) into one pco block per series, which cuts bytes per sample
//! several-fold (measurements in `block.rs`).

use super::block::{block_sample_count, encode_block};
use super::chunk::xor_sample_count;
use super::db::{Storage, StorageError};
use super::index::SeriesId;
use super::layout::{self, Codec, PartitionState, PARTITION_MS};
use super::pending::PendingChunk;
use super::{series_batch, Labels, Sample, SelectHints};
use roaring::RoaringBitmap;
use std::path::Path;

/// What one retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionReport {
    pub partitions_dropped: usize,
    pub series_removed: usize,
}

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionReport {
    pub partitions_compacted: usize,
    pub chunks_merged: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Total size of every file under `dir` (sled files, WAL, snapshot).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

impl Storage {
    /// Applies retention by time and by size.
    pub fn apply_retention(&self) -> Result<RetentionReport, StorageError> {
        let opts = &self.inner.opts;
        let max_t = self.inner.head.read().max_t;
        let mut doomed: Vec<i64> = Vec::new();
        if opts.retention_ms > 0 && max_t != i64::MIN {
            let cutoff = max_t.saturating_sub(opts.retention_ms);
            doomed.extend(
                self.partitions()
                    .into_iter()
                    .filter(|&p| layout::partition_end(p) < cutoff),
            );
        }
        let mut report = RetentionReport::default();
        for p in &doomed {
            self.drop_partition(*p)?;
        }
        if opts.retention_bytes > 0 {
            doomed.extend(self.drop_for_size(opts.retention_bytes)?);
        }
        report.partitions_dropped = doomed.len();
        if let Some(newest) = doomed.iter().max() {
            report.series_removed = self.forget_series_before(layout::partition_end(*newest))?;
        }
        Ok(report)
    }

    /// Known partitions, oldest first.
    pub fn partitions(&self) -> Vec<i64> {
        self.inner.partitions.lock().keys().copied().collect()
    }

    /// Drops oldest partitions (never the newest) until the directory fits.
    /// sled does not shrink its file at once, so the bytes a dropped partition
    /// held are subtracted from the measured size instead of re-measuring.
    fn drop_for_size(&self, limit: u64) -> Result<Vec<i64>, StorageError> {
        let mut size = dir_size(&self.inner.dir);
        let mut dropped = Vec::new();
        let parts = self.partitions();
        for p in parts.iter().take(parts.len().saturating_sub(1)) {
            if size <= limit {
                break;
            }
            size = size.saturating_sub(self.drop_partition(*p)?);
            dropped.push(*p);
        }
        Ok(dropped)
    }

    /// Deletes one partition's chunks, in sled and in the head; returns the
    /// bytes they held.
    fn drop_partition(&self, partition: i64) -> Result<u64, StorageError> {
        let mut batch = sled::Batch::default();
        let pending = self.inner.head.write().pending.take_partition(partition);
        let mut bytes: u64 = pending.iter().map(|c| c.bytes.len() as u64).sum();
        for entry in self.inner.chunks.scan_prefix(layout::partition_key(partition)) {
            let (k, v) = entry?;
            bytes += (k.len() + v.len()) as u64;
            batch.remove(k);
        }
        self.inner.chunks.apply_batch(batch)?;
        self.inner
            .partitions_tree
            .remove(layout::partition_key(partition))?;
        self.inner.partitions.lock().remove(&partition);
        tracing::info!(partition, bytes, "retention dropped a partition");
        Ok(bytes)
    }

    /// Forgets series whose every sample was at or before `end`.
    fn forget_series_before(&self, end: i64) -> Result<usize, StorageError> {
        let mut head = self.inner.head.write();
        let gone: Vec<SeriesId> = head
            .iter()
            .filter(|(_, s)| s.last_t <= end && s.chunk.num_samples() == 0 && s.ooo.is_empty())
            .map(|(id, _)| id)
            .collect();
        for &id in &gone {
            head.remove_series(id);
        }
        self.forget_stored_series(&gone.iter().copied().collect())?;
        for (_, s) in head.iter_mut() {
            s.first_t = s.first_t.max(end.saturating_add(1));
        }
        Ok(gone.len())
    }

    /// Rewrites the series tree values that hold any of `gone`, without them.
    fn forget_stored_series(&self, gone: &RoaringBitmap) -> Result<(), StorageError> {
        if gone.is_empty() {
            return Ok(());
        }
        for entry in self.inner.series_tree.iter() {
            let (key, value) = entry?;
            let Some(series) = super::db::decode_series_entry(&key, &value) else {
                continue;
            };
            let stored = series.len();
            let kept: Vec<(SeriesId, Labels)> =
                series.into_iter().filter(|(id, _)| !gone.contains(*id)).collect();
            if kept.is_empty() {
                self.inner.series_tree.remove(key)?;
            } else if kept.len() < stored {
                self.inner.series_tree.insert(key, series_batch::encode(&kept))?;
            }
        }
        Ok(())
    }

    /// Compacts cold partitions: those ending more than half a partition
    /// before the newest sample. `force` compacts every partition, the current
    /// one included, after cutting all open chunks (for benchmarks and the
    /// admin endpoint).
    pub fn compact(&self, force: bool) -> Result<CompactionReport, StorageError> {
        let boundary = {
            let mut head = self.inner.head.write();
            let boundary = if force {
                i64::MAX
            } else {
                head.max_t.saturating_sub(PARTITION_MS / 2)
            };
            let cold_end = if force {
                i64::MAX
            } else {
                layout::partition_end(layout::partition_of(boundary) - 1)
            };
            let cut = head.cut_chunks_before(cold_end);
            self.hold_cut_chunks(&mut head, cut)?;
            boundary
        };
        let candidates: Vec<i64> = self
            .inner
            .partitions
            .lock()
            .iter()
            .filter(|(p, state)| **state == PartitionState::Open && layout::partition_end(**p) < boundary)
            .map(|(p, _)| *p)
            .collect();
        let mut report = CompactionReport::default();
        for p in candidates {
            self.compact_partition(p, &mut report)?;
        }
        Ok(report)
    }

    /// Merges each series' chunks in `partition`, the head's pending ones and
    /// those in sled, into one block. Walks sled's chunks (grouped by series,
    /// ascending) beside the ascending ids of series with pending chunks.
    fn compact_partition(&self, partition: i64, report: &mut CompactionReport) -> Result<(), StorageError> {
        let pending = self.inner.head.read().pending.series_in(partition);
        let mut pending = pending.into_iter().peekable();
        let mut current: Option<SeriesId> = None;
        let mut group: Vec<(sled::IVec, sled::IVec)> = Vec::new();
        for entry in self.inner.chunks.scan_prefix(layout::partition_key(partition)) {
            let (k, v) = entry?;
            let Some(key) = layout::decode_chunk_key(&k) else {
                continue;
            };
            if current != Some(key.series) {
                if let Some(series) = current {
                    self.merge_series_chunks(partition, series, std::mem::take(&mut group), report)?;
                }
                while let Some(only_pending) = pending.next_if(|&id| id < key.series) {
                    self.merge_series_chunks(partition, only_pending, Vec::new(), report)?;
                }
                pending.next_if_eq(&key.series);
                current = Some(key.series);
            }
            group.push((k, v));
        }
        if let Some(series) = current {
            self.merge_series_chunks(partition, series, group, report)?;
        }
        for only_pending in pending {
            self.merge_series_chunks(partition, only_pending, Vec::new(), report)?;
        }
        self.inner
            .partitions
            .lock()
            .insert(partition, PartitionState::Compacted);
        self.inner.partitions_tree.insert(
            layout::partition_key(partition),
            &[PartitionState::Compacted as u8],
        )?;
        report.partitions_compacted += 1;
        Ok(())
    }

    /// Replaces one series' chunks in a partition (`stored` from sled, and
    /// the head's pending ones) with a single block, atomically in sled; the
    /// pending chunks merged are then dropped from the head.
    fn merge_series_chunks(
        &self,
        partition: i64,
        series: SeriesId,
        stored: Vec<(sled::IVec, sled::IVec)>,
        report: &mut CompactionReport,
    ) -> Result<(), StorageError> {
        let pending = self.inner.head.read().pending.copy_series(partition, series);
        let already_one_block = pending.is_empty()
            && stored.len() == 1
            && stored
                .first()
                .and_then(|(_, v)| layout::decode_chunk_value(v))
                .is_some_and(|v| v.codec == Codec::Block);
        if (stored.is_empty() && pending.is_empty()) || already_one_block {
            return Ok(());
        }
        let mut runs: Vec<Vec<Sample>> = Vec::new();
        let mut batch = sled::Batch::default();
        for (k, v) in &stored {
            report.bytes_before += (k.len() + v.len()) as u64;
            if let Some(samples) = self.decode_stored_chunk(k, v) {
                runs.push(samples);
            }
            batch.remove(k.clone());
        }
        runs.extend(self.decode_pending(series, &pending, report));
        let samples = super::read::merge_all(runs);
        if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
            let key = layout::chunk_key(partition, series, first.t);
            let value = layout::encode_chunk_value(Codec::Block, last.t, &encode_block(&samples));
            report.bytes_after += (key.len() + value.len()) as u64;
            batch.insert(&key[..], value);
        }
        report.chunks_merged += stored.len() + pending.len();
        self.inner.chunks.apply_batch(batch)?;
        self.inner
            .head
            .write()
            .pending
            .remove_copied(partition, series, &pending);
        Ok(())
    }

    /// Decodes pending chunks; a corrupt one is logged, counted and skipped.
    fn decode_pending(
        &self,
        series: SeriesId,
        pending: &[(i64, PendingChunk)],
        report: &mut CompactionReport,
    ) -> Vec<Vec<Sample>> {
        pending
            .iter()
            .filter_map(|(min_t, chunk)| {
                report.bytes_before += chunk.bytes.len() as u64;
                self.decode_pending_chunk(series, *min_t, &chunk.bytes)
            })
            .collect()
    }

    /// Counts stored samples and chunks from chunk headers (for stats);
    /// unreadable headers count as zero samples.
    pub fn count_samples(&self) -> Result<(u64, u64), StorageError> {
        let mut samples = 0u64;
        let mut chunks = 0u64;
        for entry in self.inner.chunks.iter() {
            let (_, v) = entry?;
            chunks += 1;
            let count = layout::decode_chunk_value(&v).and_then(|c| match c.codec {
                Codec::Xor => xor_sample_count(c.payload).ok(),
                Codec::Block => block_sample_count(c.payload).ok(),
            });
            samples += count.unwrap_or(0);
        }
        let head = self.inner.head.read();
        for (_, _, chunk) in head.pending.iter() {
            chunks += 1;
            samples += xor_sample_count(&chunk.bytes).unwrap_or(0);
        }
        for (_, s) in head.iter() {
            samples += (s.chunk.num_samples() + s.ooo.len()) as u64;
            chunks += u64::from(s.chunk.num_samples() > 0);
        }
        Ok((samples, chunks))
    }

    /// Every sample of every series matching `matchers` in the range, for `tsdb dump`.
    pub fn dump(
        &self,
        matchers: &[super::Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<super::Series>, StorageError> {
        use super::Queryable;
        let all = [
            super::Matcher::new(super::MatchOp::Regex, super::METRIC_NAME, ".+")
                .map_err(|e| StorageError::Corrupt(e.to_string()))?,
        ];
        let matchers = if matchers.is_empty() { &all[..] } else { matchers };
        self.select(matchers, mint, maxt, SelectHints::default())
            .map_err(|e| StorageError::Corrupt(e.to_string()))
    }
}
