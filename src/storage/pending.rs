//! Chunks cut from the head and waiting for compaction.
//!
//! A cut XOR chunk used to be written to sled at once and deleted again when
//! compaction replaced its partition with pco blocks. sled 0.34.7 stores a
//! small value at 2-3x its size and never gives the space of a deleted one back
//! to the file system, so those short-lived chunks were most of the data
//! directory (`docs/ARCHITECTURE.md`, "Space on disk"). Cut chunks now stay
//! here, in memory, until compaction encodes their partition; the WAL covers
//! them until a checkpoint, and every checkpoint's head snapshot carries them
//! after that. When they exceed the store's memory budget the oldest
//! partition's chunks are spilled to sled as before ([`PendingChunks::spill`]).
//!
//! Keys sort by partition, then series, then first timestamp, like the sled
//! chunk keys, so a partition and a series within it are contiguous ranges.
//! Knows nothing of sled or of the head's series.

use super::head::CutChunk;
use super::index::SeriesId;
use super::layout::partition_of;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// A pending chunk's last timestamp and XOR bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChunk {
    pub max_t: i64,
    pub bytes: Box<[u8]>,
}

/// One partition's pending chunks by series, then first timestamp.
type Partition = BTreeMap<(SeriesId, i64), PendingChunk>;

/// Cut chunks not yet compacted, ordered like the sled chunk keys.
#[derive(Default)]
pub struct PendingChunks {
    partitions: BTreeMap<i64, Partition>,
    /// Payload bytes held (what the memory budget counts).
    bytes: usize,
}

impl PendingChunks {
    /// Adds a cut chunk; a chunk with the same key (a replayed cut) replaces it.
    pub fn insert(&mut self, cut: CutChunk) {
        let chunk = PendingChunk {
            max_t: cut.max_t,
            bytes: cut.bytes.into_boxed_slice(),
        };
        self.bytes += chunk.bytes.len();
        let partition = self.partitions.entry(partition_of(cut.min_t)).or_default();
        if let Some(old) = partition.insert((cut.series, cut.min_t), chunk) {
            self.bytes -= old.bytes.len();
        }
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Heap bytes held: payloads plus each map entry's key and value (the
    /// B-tree's node overhead not counted).
    pub fn memory_bytes(&self) -> usize {
        self.bytes
            + self.len() * (std::mem::size_of::<(SeriesId, i64)>() + std::mem::size_of::<PendingChunk>())
    }

    pub fn len(&self) -> usize {
        self.partitions.values().map(BTreeMap::len).sum()
    }

    /// Partitions with pending chunks in `range`, oldest first.
    pub fn partitions_in(&self, range: RangeInclusive<i64>) -> Vec<i64> {
        self.partitions.range(range).map(|(p, _)| *p).collect()
    }

    /// Every pending chunk: series, first timestamp, chunk.
    pub fn iter(&self) -> impl Iterator<Item = (SeriesId, i64, &PendingChunk)> {
        self.partitions
            .values()
            .flat_map(|chunks| chunks.iter().map(|(&(id, min_t), c)| (id, min_t, c)))
    }

    /// The chunks of one series in one partition, oldest first.
    pub fn of_series(&self, partition: i64, series: SeriesId) -> impl Iterator<Item = (i64, &PendingChunk)> {
        self.partitions
            .get(&partition)
            .into_iter()
            .flat_map(move |chunks| {
                chunks
                    .range((series, i64::MIN)..=(series, i64::MAX))
                    .map(|(&(_, min_t), c)| (min_t, c))
            })
    }

    /// The series with pending chunks in `partition`, ascending.
    pub fn series_in(&self, partition: i64) -> Vec<SeriesId> {
        let mut out: Vec<SeriesId> = Vec::new();
        for &(id, _) in self
            .partitions
            .get(&partition)
            .into_iter()
            .flat_map(BTreeMap::keys)
        {
            if out.last() != Some(&id) {
                out.push(id);
            }
        }
        out
    }

    /// Copies of one series' chunks in `partition`: first timestamp, chunk.
    pub fn copy_series(&self, partition: i64, series: SeriesId) -> Vec<(i64, PendingChunk)> {
        self.of_series(partition, series)
            .map(|(min_t, c)| (min_t, c.clone()))
            .collect()
    }

    /// Removes the given chunks of one series where they are still what was
    /// copied (a chunk cut again meanwhile under the same key stays).
    pub fn remove_copied(&mut self, partition: i64, series: SeriesId, copied: &[(i64, PendingChunk)]) {
        let Some(chunks) = self.partitions.get_mut(&partition) else {
            return;
        };
        for (min_t, chunk) in copied {
            if chunks.get(&(series, *min_t)) == Some(chunk) {
                chunks.remove(&(series, *min_t));
                self.bytes -= chunk.bytes.len();
            }
        }
        if chunks.is_empty() {
            self.partitions.remove(&partition);
        }
    }

    /// Removes and returns every chunk of `partition`.
    pub fn take_partition(&mut self, partition: i64) -> Vec<CutChunk> {
        let chunks = self.partitions.remove(&partition).unwrap_or_default();
        chunks
            .into_iter()
            .map(|((series, min_t), chunk)| {
                self.bytes -= chunk.bytes.len();
                CutChunk {
                    series,
                    min_t,
                    max_t: chunk.max_t,
                    bytes: chunk.bytes.into_vec(),
                }
            })
            .collect()
    }

    /// While more than `budget` bytes are held, removes the oldest partition's
    /// chunks (returned, for the caller to write to sled).
    pub fn spill(&mut self, budget: usize) -> Vec<CutChunk> {
        let mut out = Vec::new();
        while self.bytes > budget {
            let Some(&oldest) = self.partitions.keys().next() else {
                break;
            };
            out.extend(self.take_partition(oldest));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::layout::PARTITION_MS;

    fn cut(series: SeriesId, min_t: i64, len: usize) -> CutChunk {
        CutChunk {
            series,
            min_t,
            max_t: min_t + 10,
            bytes: vec![7; len],
        }
    }

    #[test]
    fn keeps_partitions_apart_and_counts_bytes() {
        let mut p = PendingChunks::default();
        p.insert(cut(2, PARTITION_MS + 5, 10));
        p.insert(cut(1, 0, 20));
        p.insert(cut(1, 100, 30));
        p.insert(cut(1, 100, 40)); // replaces the one before
        assert_eq!((p.len(), p.bytes()), (3, 70));
        assert_eq!(p.partitions_in(i64::MIN..=i64::MAX), vec![0, 1]);
        assert_eq!(p.partitions_in(1..=5), vec![1]);
        assert_eq!(p.series_in(0), vec![1]);
        let series1: Vec<i64> = p.of_series(0, 1).map(|(t, _)| t).collect();
        assert_eq!(series1, vec![0, 100]);
        assert_eq!(p.of_series(1, 1).count(), 0);

        let copied = p.copy_series(0, 1);
        p.insert(cut(1, 100, 5)); // cut again after it was copied: stays
        p.remove_copied(0, 1, &copied);
        assert_eq!((p.len(), p.bytes()), (2, 15));

        let spilled = p.spill(10);
        assert_eq!(spilled.len(), 1, "the oldest partition goes first");
        assert_eq!((p.len(), p.bytes()), (1, 10));
        assert_eq!(p.partitions_in(i64::MIN..=i64::MAX), vec![1]);
        assert!(p.spill(0).iter().all(|c| c.series == 2));
        assert_eq!((p.len(), p.bytes()), (0, 0));
    }
}
