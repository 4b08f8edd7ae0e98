//! The sled layout: tree names, key encodings and chunk value framing.
//!
//! Trees:
//! - `series`: first series id of an append (u32 BE) → the labels of the
//!   series it created (see `series_batch.rs`).
//! - `chunks`: `partition | series id | min time` → `codec | max time | payload`.
//!   Integers are big-endian, signed ones with the sign bit flipped, so byte
//!   order is numeric order: a partition is one contiguous key range (retention
//!   drops it with a range scan) and a series' chunks in a partition are
//!   contiguous and sorted by time.
//! - `packs`: `partition | metric group | first series id | last series id |
//!   first member's min time` → a pack (`pack.rs`): what compaction made of the chunks of up to 64
//!   series of one metric group. A read finds a series' packs from its labels
//!   alone: one prefix scan of its partition and group, keeping the packs whose
//!   id range holds it.
//! - `partitions`: partition → state byte (see [`PartitionState`]).
//! - `meta`: small named values.
//!
//! This module only encodes and decodes bytes; it must not open trees or
//! decide anything.

use super::index::SeriesId;

pub const SERIES_TREE: &str = "series";
pub const CHUNKS_TREE: &str = "chunks";
pub const PARTITIONS_TREE: &str = "partitions";
pub const PACKS_TREE: &str = "packs";

/// Length of one time partition: chunks never span two.
pub const PARTITION_MS: i64 = 2 * 3600 * 1000;

/// How a chunk's payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Gorilla XOR chunk, as cut from the head.
    Xor = 1,
    /// pco block, written by compaction.
    Block = 2,
}

/// Whether a partition's chunks have been merged into blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionState {
    /// Has XOR chunks that compaction has not merged yet.
    Open = 0,
    /// Every series has exactly one block.
    Compacted = 1,
}

pub fn partition_of(t: i64) -> i64 {
    t.div_euclid(PARTITION_MS)
}

pub fn partition_end(partition: i64) -> i64 {
    partition
        .saturating_mul(PARTITION_MS)
        .saturating_add(PARTITION_MS - 1)
}

fn ordered_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

fn from_ordered_i64(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

pub fn series_key(id: SeriesId) -> [u8; 4] {
    id.to_be_bytes()
}

pub fn partition_key(partition: i64) -> [u8; 8] {
    ordered_i64(partition)
}

pub fn decode_partition_key(key: &[u8]) -> Option<i64> {
    Some(from_ordered_i64(key.try_into().ok()?))
}

/// Prefix of all chunks of one series in one partition.
pub fn series_partition_prefix(partition: i64, id: SeriesId) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&ordered_i64(partition));
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

pub fn chunk_key(partition: i64, id: SeriesId, min_t: i64) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..12].copy_from_slice(&series_partition_prefix(partition, id));
    k[12..].copy_from_slice(&ordered_i64(min_t));
    k
}

/// The pack group of a series: a stable hash (CRC-32) of its metric name, so
/// series of one name, which behave alike, share packs.
pub fn metric_group(metric_name: &str) -> u32 {
    crc32fast::hash(metric_name.as_bytes())
}

/// Prefix of all packs of one metric group in one partition.
pub fn pack_group_prefix(partition: i64, group: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&ordered_i64(partition));
    k[8..].copy_from_slice(&group.to_be_bytes());
    k
}

pub fn pack_key(partition: i64, group: u32, first: SeriesId, last: SeriesId, min_t: i64) -> [u8; 28] {
    let mut k = [0u8; 28];
    k[..12].copy_from_slice(&pack_group_prefix(partition, group));
    k[12..16].copy_from_slice(&first.to_be_bytes());
    k[16..20].copy_from_slice(&last.to_be_bytes());
    k[20..].copy_from_slice(&ordered_i64(min_t));
    k
}

/// A decoded pack key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackKey {
    pub partition: i64,
    pub group: u32,
    pub first: SeriesId,
    pub last: SeriesId,
    pub min_t: i64,
}

pub fn decode_pack_key(key: &[u8]) -> Option<PackKey> {
    let key: &[u8; 28] = key.try_into().ok()?;
    let be32 = |range: std::ops::Range<usize>| Some(u32::from_be_bytes(key.get(range)?.try_into().ok()?));
    Some(PackKey {
        partition: from_ordered_i64(key.get(..8)?.try_into().ok()?),
        group: be32(8..12)?,
        first: be32(12..16)?,
        last: be32(16..20)?,
        min_t: from_ordered_i64(key.get(20..)?.try_into().ok()?),
    })
}

/// A decoded chunk key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkKey {
    pub partition: i64,
    pub series: SeriesId,
    pub min_t: i64,
}

pub fn decode_chunk_key(key: &[u8]) -> Option<ChunkKey> {
    let key: &[u8; 20] = key.try_into().ok()?;
    let (p, rest) = key.split_at(8);
    let (s, t) = rest.split_at(4);
    Some(ChunkKey {
        partition: from_ordered_i64(p.try_into().ok()?),
        series: u32::from_be_bytes(s.try_into().ok()?),
        min_t: from_ordered_i64(t.try_into().ok()?),
    })
}

pub fn encode_chunk_value(codec: Codec, max_t: i64, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(9 + payload.len());
    v.push(codec as u8);
    v.extend_from_slice(&max_t.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A chunk value split into its parts.
pub struct ChunkValue<'a> {
    pub codec: Codec,
    pub max_t: i64,
    pub payload: &'a [u8],
}

pub fn decode_chunk_value(v: &[u8]) -> Option<ChunkValue<'_>> {
    let codec = match v.first()? {
        1 => Codec::Xor,
        2 => Codec::Block,
        _ => return None,
    };
    let max_t = i64::from_be_bytes(v.get(1..9)?.try_into().ok()?);
    Some(ChunkValue {
        codec,
        max_t,
        payload: v.get(9..)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_numerically() {
        let a = chunk_key(-1, 5, 100);
        let b = chunk_key(0, 1, -5);
        let c = chunk_key(0, 1, 7);
        let d = chunk_key(0, 2, -100);
        assert!(a < b && b < c && c < d);
        assert_eq!(
            decode_chunk_key(&c),
            Some(ChunkKey {
                partition: 0,
                series: 1,
                min_t: 7
            })
        );
        assert!(c.starts_with(&series_partition_prefix(0, 1)));
    }

    #[test]
    fn pack_keys_sort_by_partition_then_group_then_ids() {
        let a = pack_key(-1, 9, 0, 5, 3);
        let b = pack_key(0, 1, 7, 8, -4);
        let c = pack_key(0, 2, 0, 1, 0);
        assert!(a < b && b < c);
        assert!(b.starts_with(&pack_group_prefix(0, 1)));
        assert_eq!(
            decode_pack_key(&a),
            Some(PackKey {
                partition: -1,
                group: 9,
                first: 0,
                last: 5,
                min_t: 3
            })
        );
        assert_eq!(decode_pack_key(&a[..27]), None);
        assert_eq!(metric_group("up"), metric_group("up"));
        assert_ne!(metric_group("up"), metric_group("down"));
    }

    #[test]
    fn partitions() {
        assert_eq!(partition_of(0), 0);
        assert_eq!(partition_of(-1), -1);
        assert_eq!(partition_of(PARTITION_MS), 1);
        assert_eq!(partition_end(0), PARTITION_MS - 1);
        assert_eq!(decode_partition_key(&partition_key(-3)), Some(-3));
    }

    #[test]
    fn chunk_values() {
        let v = encode_chunk_value(Codec::Block, -9, b"abc");
        let d = decode_chunk_value(&v).unwrap();
        assert_eq!((d.codec, d.max_t, d.payload), (Codec::Block, -9, &b"abc"[..]));
        assert!(decode_chunk_value(&[9, 0]).is_none());
        assert!(decode_chunk_value(&[1, 0, 0]).is_none());
    }
}
