//! Retention and compaction: the storage's housekeeping.
//!
//! Retention drops whole time partitions (a key-range delete) once they are
//! older than the retention time (measured from the newest sample, as
//! Prometheus does) or while the data directory exceeds the retention size,
//! then forgets series left without data. Compaction re-encodes the XOR chunks
//! of a cold partition (those the head holds for it, see `pending.rs`, and any
//! in sled) into packs: up to 64 series of one metric name share one pco chunk
//! (`pack.rs`), which cuts bytes per sample several-fold.

use super::block::block_sample_count;
use super::chunk::xor_sample_count;
use super::db::{Storage, StorageError};
use super::index::SeriesId;
use super::layout::{self, Codec, PartitionState, PARTITION_MS};
use super::pack::{encode_pack, Pack, PackMember, PACK_MAX_SAMPLES, PACK_MAX_SERIES, PACK_TARGET_SAMPLES};
use super::pending::PendingChunk;
use super::{series_batch, Labels, Sample, SelectHints};
use roaring::RoaringBitmap;
use std::collections::{BTreeMap, BTreeSet};
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

    /// Deletes one partition's chunks and packs, in sled and in the head;
    /// returns the bytes they held.
    fn drop_partition(&self, partition: i64) -> Result<u64, StorageError> {
        let pending = self.inner.head.write().pending.take_partition(partition);
        let prefix = layout::partition_key(partition);
        let bytes = pending.iter().map(|c| c.bytes.len() as u64).sum::<u64>()
            + remove_prefix(&self.inner.chunks, &prefix)?
            + remove_prefix(&self.inner.packs, &prefix)?;
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

    /// Merges `partition`'s chunks (the head's pending ones and any in sled)
    /// into its packs: each metric group that has chunks is packed again with
    /// them, groups without any are left as they are.
    fn compact_partition(&self, partition: i64, report: &mut CompactionReport) -> Result<(), StorageError> {
        let mut stored = self.stored_chunks(partition)?;
        let mut old_packs = self.pack_keys_by_group(partition)?;
        for (group, dirty) in self.groups_with_chunks(partition, &stored) {
            let old = old_packs.remove(&group).unwrap_or_default();
            self.repack_group(partition, group, dirty, &mut stored, old, report)?;
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

    /// The partition's chunks in sled (spilled XOR chunks, blocks of the
    /// earlier format), by series.
    fn stored_chunks(&self, partition: i64) -> Result<BTreeMap<SeriesId, Vec<StoredChunk>>, StorageError> {
        let mut stored: BTreeMap<SeriesId, Vec<StoredChunk>> = BTreeMap::new();
        for entry in self.inner.chunks.scan_prefix(layout::partition_key(partition)) {
            let (k, v) = entry?;
            if let Some(key) = layout::decode_chunk_key(&k) {
                stored.entry(key.series).or_default().push((k, v));
            }
        }
        Ok(stored)
    }

    /// The keys of the partition's packs, by metric group.
    fn pack_keys_by_group(&self, partition: i64) -> Result<BTreeMap<u32, Vec<sled::IVec>>, StorageError> {
        let mut packs: BTreeMap<u32, Vec<sled::IVec>> = BTreeMap::new();
        for key in self
            .inner
            .packs
            .scan_prefix(layout::partition_key(partition))
            .keys()
        {
            let key = key?;
            if let Some(decoded) = layout::decode_pack_key(&key) {
                packs.entry(decoded.group).or_default().push(key);
            }
        }
        Ok(packs)
    }

    /// The series with chunks in the partition (pending or stored), by metric
    /// group. A series the head no longer knows goes to the group of no name.
    fn groups_with_chunks(
        &self,
        partition: i64,
        stored: &BTreeMap<SeriesId, Vec<StoredChunk>>,
    ) -> BTreeMap<u32, BTreeSet<SeriesId>> {
        let head = self.inner.head.read();
        let mut groups: BTreeMap<u32, BTreeSet<SeriesId>> = BTreeMap::new();
        for id in head
            .pending
            .series_in(partition)
            .into_iter()
            .chain(stored.keys().copied())
        {
            let name = head.get(id).map(|s| s.labels().metric_name().to_string());
            let group = layout::metric_group(name.as_deref().unwrap_or_default());
            groups.entry(group).or_default().insert(id);
        }
        groups
    }

    /// Packs one metric group of a partition again: the members of its packs
    /// merged with the chunks of `dirty`. Each pack is written before the
    /// chunks merged into it are removed from sled and the head, and the old
    /// packs are removed last: a crash in between leaves copies, which reads
    /// merge, never a gap. Removing merged chunks pack by pack, not at the end,
    /// lets sled reuse their space while compaction writes.
    fn repack_group(
        &self,
        partition: i64,
        group: u32,
        dirty: BTreeSet<SeriesId>,
        stored: &mut BTreeMap<SeriesId, Vec<StoredChunk>>,
        old_keys: Vec<sled::IVec>,
        report: &mut CompactionReport,
    ) -> Result<(), StorageError> {
        let mut old = OldPacks::read(self, old_keys)?;
        let mut ids = dirty.clone();
        ids.extend(old.members());
        let mut packer = Packer::new(partition, group);
        for id in ids {
            let mut runs = old.take_series(self, id);
            let mut merged = MergedChunks::default();
            if dirty.contains(&id) {
                for (k, v) in stored.remove(&id).unwrap_or_default() {
                    report.bytes_before += (k.len() + v.len()) as u64;
                    report.chunks_merged += 1;
                    runs.extend(self.decode_stored_chunk(&k, &v));
                    merged.stored.push(k);
                }
                merged.pending = self.inner.head.read().pending.copy_series(partition, id);
                report.chunks_merged += merged.pending.len();
                runs.extend(self.decode_pending(id, &merged.pending, report));
            }
            let samples = super::read::merge_all(runs);
            for piece in samples.chunks(PACK_MAX_SAMPLES) {
                packer.add(self, id, piece, report)?;
            }
            packer.merged.push((id, merged));
        }
        packer.flush(self, report)?;
        self.inner.packs.apply_batch(old.removals(&packer.written))?;
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

    /// Counts stored samples and chunks from chunk headers and pack tables
    /// (for stats; a pack member counts as a chunk); unreadable ones count as
    /// zero samples.
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
        for entry in self.inner.packs.iter() {
            let (_, v) = entry?;
            if let Ok(pack) = Pack::parse(&v) {
                chunks += pack.members().len() as u64;
                samples += pack.members().iter().map(|m| m.count as u64).sum::<u64>();
            }
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

/// Pack bytes written between two flushes of sled during compaction. sled
/// reuses a log segment's space only once what replaced its contents is
/// durable, so without flushes every version of the tree's nodes that
/// compaction writes stays in the file: on `benches/ingest_compare.rs`,
/// 1.12-1.14 bytes/sample without, 1.07 flushing every ~128 KiB, 1.04 every
/// ~32 KiB, 1.03 after every pack (~8 KiB).
const FLUSH_PACK_BYTES: usize = 32 << 10;

/// The most bytes a pack may take while it holds more than one series: sled
/// writes a log message over a quarter of its 64 KiB segments (a pack's
/// insert) to a file of its own, and removes a replaced one only when the
/// segment holding its replacement fills, so right after compaction the old
/// files are all still there (packs of ~22 KiB: 1.45-1.58 bytes/sample on
/// `benches/ingest_compare.rs`, against 0.82-0.99 at ~10 KiB). A pack over
/// it is written as two halves.
pub(super) const PACK_MAX_BYTES: usize = 15 << 10;

/// Removes every key under `prefix` in one batch; returns the bytes they held.
fn remove_prefix(tree: &sled::Tree, prefix: &[u8]) -> Result<u64, StorageError> {
    let mut batch = sled::Batch::default();
    let mut bytes = 0u64;
    for entry in tree.scan_prefix(prefix) {
        let (k, v) = entry?;
        bytes += (k.len() + v.len()) as u64;
        batch.remove(k);
    }
    tree.apply_batch(batch)?;
    Ok(bytes)
}

/// A chunk in sled: key and value.
type StoredChunk = (sled::IVec, sled::IVec);

/// One pack of a group about to be packed again.
struct OldPack {
    key: sled::IVec,
    value: sled::IVec,
    first: SeriesId,
    members: Vec<SeriesId>,
}

/// A metric group's packs while it is packed again, walked in series order:
/// each pack is decoded when the walk reaches its first series.
struct OldPacks {
    packs: Vec<OldPack>,
    decoded_up_to: usize,
    samples: BTreeMap<SeriesId, Vec<Vec<Sample>>>,
}

impl OldPacks {
    /// Reads the packs under `keys`; a corrupt one is logged and counted, and
    /// has no members (it is removed with the others).
    fn read(storage: &Storage, keys: Vec<sled::IVec>) -> Result<Self, StorageError> {
        let mut packs = Vec::with_capacity(keys.len());
        for key in keys {
            let (Some(value), Some(decoded)) =
                (storage.inner.packs.get(&key)?, layout::decode_pack_key(&key))
            else {
                continue;
            };
            let members = match Pack::parse(&value) {
                Ok(pack) => pack.members().iter().map(|m| m.series).collect(),
                Err(e) => {
                    storage.corrupt_pack(&key, &e.to_string());
                    Vec::new()
                }
            };
            packs.push(OldPack {
                key,
                value,
                first: decoded.first,
                members,
            });
        }
        packs.sort_by_key(|p| p.first);
        Ok(OldPacks {
            packs,
            decoded_up_to: 0,
            samples: BTreeMap::new(),
        })
    }

    fn members(&self) -> impl Iterator<Item = SeriesId> + '_ {
        self.packs.iter().flat_map(|p| p.members.iter().copied())
    }

    /// The runs the packs hold of `id`; called with ascending ids.
    fn take_series(&mut self, storage: &Storage, id: SeriesId) -> Vec<Vec<Sample>> {
        while let Some(pack) = self.packs.get(self.decoded_up_to).filter(|p| p.first <= id) {
            match Pack::parse(&pack.value).and_then(|p| p.decode(|_| true)) {
                Ok(members) => {
                    for (series, samples) in members {
                        self.samples.entry(series).or_default().push(samples);
                    }
                }
                Err(e) => storage.corrupt_pack(&pack.key, &e.to_string()),
            }
            self.decoded_up_to += 1;
        }
        self.samples.remove(&id).unwrap_or_default()
    }

    /// Removes every old pack that a new one did not overwrite.
    fn removals(&self, written: &BTreeSet<Vec<u8>>) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for pack in self.packs.iter().filter(|p| !written.contains(&p.key[..])) {
            batch.remove(pack.key.clone());
        }
        batch
    }
}

/// The chunks one series' samples were merged from, removed once they are packed.
#[derive(Default)]
struct MergedChunks {
    /// Keys in the chunks tree.
    stored: Vec<sled::IVec>,
    /// Copies of the head's pending chunks.
    pending: Vec<(i64, PendingChunk)>,
}

/// Collects series of one group and partition into packs and writes each
/// when it is full.
struct Packer {
    partition: i64,
    group: u32,
    members: Vec<(SeriesId, Vec<Sample>)>,
    samples: usize,
    /// Series wholly added, whose chunks go when the pack holding them is written.
    merged: Vec<(SeriesId, MergedChunks)>,
    written: BTreeSet<Vec<u8>>,
    /// Pack bytes written since sled was last flushed.
    unflushed: usize,
}

impl Packer {
    fn new(partition: i64, group: u32) -> Self {
        Packer {
            partition,
            group,
            members: Vec::new(),
            samples: 0,
            merged: Vec::new(),
            written: BTreeSet::new(),
            unflushed: 0,
        }
    }

    /// Adds one run of a series (at most `PACK_MAX_SAMPLES` samples, in time order).
    fn add(
        &mut self,
        storage: &Storage,
        series: SeriesId,
        samples: &[Sample],
        report: &mut CompactionReport,
    ) -> Result<(), StorageError> {
        let full = self.members.len() == PACK_MAX_SERIES || self.samples >= PACK_TARGET_SAMPLES;
        if full || self.samples + samples.len() > PACK_MAX_SAMPLES {
            self.flush(storage, report)?;
        }
        self.samples += samples.len();
        self.members.push((series, samples.to_vec()));
        Ok(())
    }

    /// Writes the pack collected so far, if any, then removes the chunks of
    /// the series wholly added.
    fn flush(&mut self, storage: &Storage, report: &mut CompactionReport) -> Result<(), StorageError> {
        self.write_pack(storage, report)?;
        let mut removals = sled::Batch::default();
        let merged = std::mem::take(&mut self.merged);
        for key in merged.iter().flat_map(|(_, m)| &m.stored) {
            removals.remove(key.clone());
        }
        storage.inner.chunks.apply_batch(removals)?;
        let mut head = storage.inner.head.write();
        for (id, chunks) in &merged {
            head.pending.remove_copied(self.partition, *id, &chunks.pending);
        }
        Ok(())
    }

    fn write_pack(&mut self, storage: &Storage, report: &mut CompactionReport) -> Result<(), StorageError> {
        let members = std::mem::take(&mut self.members);
        self.samples = 0;
        self.write_members(storage, report, &members)
    }

    /// Writes `members` as one pack, or in halves while a pack of them would
    /// pass [`PACK_MAX_BYTES`].
    fn write_members(
        &mut self,
        storage: &Storage,
        report: &mut CompactionReport,
        members: &[(SeriesId, Vec<Sample>)],
    ) -> Result<(), StorageError> {
        let (Some((first, samples)), Some((last, _))) = (members.first(), members.last()) else {
            return Ok(());
        };
        let value = encode_pack(
            &members
                .iter()
                .map(|(series, samples)| PackMember {
                    series: *series,
                    samples,
                })
                .collect::<Vec<_>>(),
        );
        if value.len() > PACK_MAX_BYTES && members.len() > 1 {
            let (left, right) = members.split_at(members.len() / 2);
            self.write_members(storage, report, left)?;
            return self.write_members(storage, report, right);
        }
        let min_t = samples.first().map_or(i64::MIN, |s| s.t);
        let key = layout::pack_key(self.partition, self.group, *first, *last, min_t);
        report.bytes_after += (key.len() + value.len()) as u64;
        self.unflushed += value.len();
        storage.inner.packs.insert(&key[..], value)?;
        self.written.insert(key.to_vec());
        if self.unflushed >= FLUSH_PACK_BYTES {
            storage.inner.db.flush()?;
            self.unflushed = 0;
        }
        Ok(())
    }
}
