//! The head snapshot written at each checkpoint: the runtime state of every
//! series (time range, last sample, open chunk, out-of-order buffer), the cut
//! chunks waiting for compaction (`pending.rs`) and the WAL segment replay
//! must start from.
//!
//! With it, a restart replays only the WAL written since the last checkpoint
//! instead of every sample in the head. The file is written to a temporary
//! name, synced and renamed, and carries a CRC; a corrupt or missing snapshot
//! makes start-up fall back to scanning the stored chunks, and the pending
//! chunks it held are lost (the WAL segments that had them are gone). Knows
//! nothing of sled.
//!
//! Layout: magic `SLHEAD04`, then deflated: first WAL segment to replay (u64
//! LE), newest timestamp (i64 LE), series count and per series its state,
//! pending chunk count and per chunk its series, first and last timestamp and
//! bytes; then a CRC32 of everything before it. A series' id, first and last
//! timestamps are zigzag varints of their difference from the previous
//! series' (series scraped together have nearly the same times), which with
//! deflate takes the series state from ~10 to ~6 bytes per series, counted in
//! bytes per sample on disk. `SLHEAD03` (the same with those three absolute)
//! and `SLHEAD02` (also without pending chunks) snapshots are still read.
//!
//! [`serialize`] copies the head under its lock; [`seal`] deflates outside it,
//! so appends do not wait for the compression of the pending chunks.

use super::chunk::{unzigzag, zigzag, XorChunk};
use super::head::{CutChunk, Head};
use super::index::SeriesId;
use super::labels::{get_uvarint, put_uvarint};
use super::Sample;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"SLHEAD04";
/// The format before delta-coded series: ids and times absolute.
const MAGIC_ABSOLUTE: &[u8; 8] = b"SLHEAD03";
/// The format before pending chunks: absolute, without their section.
const MAGIC_WITHOUT_PENDING: &[u8; 8] = b"SLHEAD02";

/// What a snapshot's magic says about its body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    WithoutPending,
    Absolute,
    Delta,
}

/// The id and times of the series before, which the next one's are coded against.
#[derive(Default)]
struct Previous {
    id: i64,
    first_t: i64,
    last_t: i64,
}
pub const FILE_NAME: &str = "head.snapshot";

/// One series' state as the snapshot stores it.
pub struct SeriesState {
    pub id: SeriesId,
    pub first_t: i64,
    pub last_t: i64,
    pub last_v: f64,
    pub chunk: Vec<u8>,
    pub ooo: Vec<Sample>,
}

/// A decoded snapshot.
pub struct Snapshot {
    pub replay_from_segment: u64,
    pub max_t: i64,
    pub series: Vec<SeriesState>,
    pub pending: Vec<CutChunk>,
}

/// The whole snapshot file for `head`: [`serialize`] then [`seal`].
#[cfg(test)]
pub fn encode(head: &Head, replay_from_segment: u64) -> Vec<u8> {
    seal(&serialize(head, replay_from_segment))
}

/// The head's state, uncompressed; `replay_from_segment` is the first WAL
/// segment not covered.
pub fn serialize(head: &Head, replay_from_segment: u64) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(64 + head.num_series() * 64 + head.pending.bytes() + head.pending.len() * 24);
    out.extend_from_slice(&replay_from_segment.to_le_bytes());
    out.extend_from_slice(&head.max_t.to_le_bytes());
    put_uvarint(&mut out, head.num_series() as u64);
    let mut previous = Previous::default();
    for (id, s) in head.iter() {
        put_uvarint(&mut out, zigzag(i64::from(id) - previous.id));
        put_uvarint(&mut out, zigzag(s.first_t.wrapping_sub(previous.first_t)));
        put_uvarint(&mut out, zigzag(s.last_t.wrapping_sub(previous.last_t)));
        previous = Previous {
            id: i64::from(id),
            first_t: s.first_t,
            last_t: s.last_t,
        };
        out.extend_from_slice(&s.last_v.to_bits().to_le_bytes());
        put_uvarint(&mut out, s.chunk.bytes().len() as u64);
        out.extend_from_slice(s.chunk.bytes());
        put_uvarint(&mut out, s.ooo.len() as u64);
        for o in s.ooo.iter() {
            out.extend_from_slice(&o.t.to_le_bytes());
            out.extend_from_slice(&o.v.to_bits().to_le_bytes());
        }
    }
    put_uvarint(&mut out, head.pending.len() as u64);
    for (id, min_t, chunk) in head.pending.iter() {
        put_uvarint(&mut out, u64::from(id));
        out.extend_from_slice(&min_t.to_le_bytes());
        out.extend_from_slice(&chunk.max_t.to_le_bytes());
        put_uvarint(&mut out, chunk.bytes.len() as u64);
        out.extend_from_slice(&chunk.bytes);
    }
    out
}

/// Deflates a serialized head and appends the CRC: the file's bytes.
pub fn seal(raw: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(MAGIC.to_vec(), Compression::fast());
    // Writing into a Vec cannot fail.
    let mut out = match encoder.write_all(raw).and_then(|()| encoder.finish()) {
        Ok(out) => out,
        Err(e) => unreachable!("deflate into memory failed: {e}"),
    };
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Writes the snapshot durably: temp file, fsync, rename, fsync directory.
pub fn write(dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(FILE_NAME))?;
    File::open(dir)?.sync_all()
}

/// Reads the snapshot; `Ok(None)` when there is none, `Err` when it is corrupt.
pub fn read(dir: &Path) -> Result<Option<Snapshot>, String> {
    let path = dir.join(FILE_NAME);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    decode(&data)
        .map(Some)
        .ok_or_else(|| format!("{} is corrupt", path.display()))
}

fn decode(data: &[u8]) -> Option<Snapshot> {
    let (body, crc) = data.split_at(data.len().checked_sub(4)?);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return None;
    }
    let (magic, deflated) = body.split_at_checked(MAGIC.len())?;
    let format = match magic {
        m if m == MAGIC => Format::Delta,
        m if m == MAGIC_ABSOLUTE => Format::Absolute,
        m if m == MAGIC_WITHOUT_PENDING => Format::WithoutPending,
        _ => return None,
    };
    let mut raw = Vec::new();
    DeflateDecoder::new(deflated).read_to_end(&mut raw).ok()?;
    let buf = &mut &raw[..];
    let replay_from_segment = read_u64(buf)?;
    let max_t = read_u64(buf)? as i64;
    let n = get_uvarint(buf)?;
    let mut series = Vec::with_capacity((n as usize).min(buf.len() / 24));
    let mut previous = Previous::default();
    for _ in 0..n {
        series.push(decode_series(buf, format, &mut previous)?);
    }
    let mut pending = Vec::new();
    if format != Format::WithoutPending {
        for _ in 0..get_uvarint(buf)? {
            pending.push(decode_pending(buf)?);
        }
    }
    Some(Snapshot {
        replay_from_segment,
        max_t,
        series,
        pending,
    })
}

fn decode_pending(buf: &mut &[u8]) -> Option<CutChunk> {
    let series = u32::try_from(get_uvarint(buf)?).ok()?;
    let min_t = read_u64(buf)? as i64;
    let max_t = read_u64(buf)? as i64;
    let bytes = read_bytes(buf)?;
    Some(CutChunk {
        series,
        min_t,
        max_t,
        bytes,
    })
}

fn read_bytes(buf: &mut &[u8]) -> Option<Vec<u8>> {
    let len = usize::try_from(get_uvarint(buf)?).ok()?;
    let bytes = buf.get(..len)?.to_vec();
    *buf = buf.get(len..)?;
    Some(bytes)
}

fn decode_series(buf: &mut &[u8], format: Format, previous: &mut Previous) -> Option<SeriesState> {
    let (id, first_t, last_t) = if format == Format::Delta {
        let id = previous.id.checked_add(unzigzag(get_uvarint(buf)?))?;
        let first_t = previous.first_t.wrapping_add(unzigzag(get_uvarint(buf)?));
        let last_t = previous.last_t.wrapping_add(unzigzag(get_uvarint(buf)?));
        *previous = Previous { id, first_t, last_t };
        (u32::try_from(id).ok()?, first_t, last_t)
    } else {
        let id = u32::try_from(get_uvarint(buf)?).ok()?;
        (id, read_u64(buf)? as i64, read_u64(buf)? as i64)
    };
    let last_v = f64::from_bits(read_u64(buf)?);
    let chunk = read_bytes(buf)?;
    let n = get_uvarint(buf)?;
    let mut ooo = Vec::new();
    for _ in 0..n {
        let t = read_u64(buf)? as i64;
        let v = f64::from_bits(read_u64(buf)?);
        ooo.push(Sample { t, v });
    }
    Some(SeriesState {
        id,
        first_t,
        last_t,
        last_v,
        chunk,
        ooo,
    })
}

fn read_u64(buf: &mut &[u8]) -> Option<u64> {
    let v = u64::from_le_bytes(buf.get(..8)?.try_into().ok()?);
    *buf = &buf[8..];
    Some(v)
}

/// Puts a snapshot's state back into a head whose series are already registered.
pub fn restore(head: &mut Head, snapshot: Snapshot) -> Result<(), String> {
    head.max_t = head.max_t.max(snapshot.max_t);
    for state in snapshot.series {
        let Some(series) = head.get_mut(state.id) else {
            continue; // removed by retention after the snapshot was taken
        };
        series.first_t = state.first_t;
        series.last_t = state.last_t;
        series.last_v = state.last_v;
        series.ooo = state.ooo.into();
        if !state.chunk.is_empty() {
            series.chunk = XorChunk::from_bytes(state.chunk)
                .map_err(|e| format!("open chunk of series {}: {e}", state.id))?;
        }
    }
    for chunk in snapshot.pending {
        if head.get(chunk.series).is_some() {
            head.pending.insert(chunk);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Labels;

    #[test]
    fn round_trip_and_corruption() {
        let mut head = Head::new();
        head.add_series(0, Labels::from_pairs([("__name__", "a")]));
        head.add_series(2, Labels::from_pairs([("__name__", "b")]));
        if let Some(s) = head.get_mut(2) {
            s.chunk.append(10, 1.5);
            s.first_t = 10;
            s.last_t = 10;
            s.last_v = 1.5;
            s.ooo = vec![Sample { t: 5, v: -1.0 }].into();
        }
        head.max_t = 10;
        head.pending.insert(CutChunk {
            series: 2,
            min_t: 1,
            max_t: 4,
            bytes: vec![1, 2, 3],
        });
        let bytes = encode(&head, 7);
        let snap = decode(&bytes).unwrap();
        assert_eq!(
            (
                snap.replay_from_segment,
                snap.max_t,
                snap.series.len(),
                snap.pending.len()
            ),
            (7, 10, 2, 1)
        );

        let mut fresh = Head::new();
        fresh.add_series(0, Labels::from_pairs([("__name__", "a")]));
        fresh.add_series(2, Labels::from_pairs([("__name__", "b")]));
        restore(&mut fresh, snap).unwrap();
        let s = fresh.get(2).unwrap();
        assert_eq!(
            (s.first_t, s.last_t, s.chunk.num_samples(), s.ooo.len()),
            (10, 10, 1, 1)
        );
        let pending: Vec<_> = fresh.pending.of_series(0, 2).map(|(t, c)| (t, c.max_t)).collect();
        assert_eq!(pending, vec![(1, 4)]);

        let mut bad = bytes.clone();
        bad[12] ^= 1;
        assert!(decode(&bad).is_none());
        assert!(decode(&bytes[..3]).is_none());
    }

    #[test]
    fn reads_the_format_without_pending_chunks() {
        // The older format, by hand: replay segment, newest time, one series
        // (id, absolute times, last value, no chunk, no out-of-order samples),
        // no pending section.
        let mut raw = Vec::new();
        raw.extend_from_slice(&3u64.to_le_bytes());
        raw.extend_from_slice(&20i64.to_le_bytes());
        put_uvarint(&mut raw, 1);
        put_uvarint(&mut raw, 0);
        for v in [10i64, 20, 0] {
            raw.extend_from_slice(&v.to_le_bytes());
        }
        raw.extend_from_slice(&[0, 0]);
        let mut encoder = DeflateEncoder::new(MAGIC_WITHOUT_PENDING.to_vec(), Compression::fast());
        encoder.write_all(&raw).unwrap();
        let mut old = encoder.finish().unwrap();
        let crc = crc32fast::hash(&old);
        old.extend_from_slice(&crc.to_le_bytes());
        let snap = decode(&old).unwrap();
        assert_eq!(
            (snap.replay_from_segment, snap.series.len(), snap.pending.len()),
            (3, 1, 0)
        );
        assert_eq!((snap.series[0].first_t, snap.series[0].last_t), (10, 20));
    }
}
