//! The write-ahead log: every accepted batch is one checksummed record here
//! before it is acknowledged.
//!
//! Segment files `wal/NNNNNNNN` hold records framed as
//! `length u32 LE | crc32 u32 LE | payload`. A record is written with a single
//! `write` call straight to the file (no user-space buffer), so once `append`
//! returns the record survives a `kill -9` of the process; `fsync: always`
//! additionally syncs it to the disk before the acknowledgement, and the
//! default mode syncs every second (the power-loss window).
//! A torn or corrupt tail is detected by length and checksum and ignored on
//! replay. A checkpoint rotates to a new segment and then deletes the older
//! ones. This module knows nothing about the head or sled.

use super::index::SeriesId;
use super::labels::{get_uvarint, put_uvarint};
use super::{Labels, Sample};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const RECORD_BATCH: u8 = 1;
const HEADER_LEN: usize = 8;
/// Refuse to believe a record length beyond this (corrupt length field).
const MAX_RECORD_LEN: usize = 1 << 30;

/// One appended batch as the WAL stores it: series created by the batch, then
/// the accepted samples in batch order (flat, so a batch of one-sample series
/// costs no allocation per series).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WalBatch {
    pub new_series: Vec<(SeriesId, Labels)>,
    pub samples: Vec<(SeriesId, Sample)>,
}

impl WalBatch {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(RECORD_BATCH);
        put_uvarint(out, self.new_series.len() as u64);
        for (id, labels) in &self.new_series {
            put_uvarint(out, u64::from(*id));
            labels.encode(out);
        }
        // Runs of consecutive samples of one series share the id.
        let runs: Vec<&[(SeriesId, Sample)]> = self.samples.chunk_by(|a, b| a.0 == b.0).collect();
        put_uvarint(out, runs.len() as u64);
        for run in runs {
            let id = run.first().map_or(0, |(id, _)| *id);
            put_uvarint(out, u64::from(id));
            put_uvarint(out, run.len() as u64);
            let mut prev = 0i64;
            for (_, s) in run {
                put_uvarint(out, zigzag(s.t.wrapping_sub(prev)));
                prev = s.t;
                out.extend_from_slice(&s.v.to_bits().to_le_bytes());
            }
        }
    }

    pub fn decode(mut buf: &[u8]) -> Option<WalBatch> {
        let buf = &mut buf;
        if *buf.first()? != RECORD_BATCH {
            return None;
        }
        *buf = &buf[1..];
        let mut batch = WalBatch::default();
        for _ in 0..get_uvarint(buf)? {
            let id = u32::try_from(get_uvarint(buf)?).ok()?;
            batch.new_series.push((id, Labels::decode(buf)?));
        }
        for _ in 0..get_uvarint(buf)? {
            let id = u32::try_from(get_uvarint(buf)?).ok()?;
            let n = usize::try_from(get_uvarint(buf)?).ok()?;
            let mut prev = 0i64;
            for _ in 0..n {
                let t = prev.wrapping_add(unzigzag(get_uvarint(buf)?));
                prev = t;
                let bits = u64::from_le_bytes(buf.get(..8)?.try_into().ok()?);
                *buf = &buf[8..];
                let v = f64::from_bits(bits);
                batch.samples.push((id, Sample { t, v }));
            }
        }
        Some(batch)
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// The open WAL: appends to the newest segment.
pub struct Wal {
    dir: PathBuf,
    segment: u64,
    file: Arc<File>,
    written: u64,
}

impl Wal {
    /// Opens a fresh segment after every existing one (never appends behind a
    /// possibly torn tail).
    pub fn open(dir: &Path) -> io::Result<Wal> {
        fs::create_dir_all(dir)?;
        let next = segments(dir)?.last().map_or(1, |s| s + 1);
        let file = create_segment(dir, next)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            segment: next,
            file: Arc::new(file),
            written: 0,
        })
    }

    #[cfg(test)]
    pub fn segment(&self) -> u64 {
        self.segment
    }

    /// Bytes written to the current segment.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes one record with a single system call.
    pub fn append(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut record = Vec::with_capacity(HEADER_LEN + payload.len());
        let len = u32::try_from(payload.len()).map_err(|_| io::Error::other("WAL record too large"))?;
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        record.extend_from_slice(payload);
        (&*self.file).write_all(&record)?;
        self.written += record.len() as u64;
        Ok(())
    }

    /// A handle to sync the current segment without holding the WAL.
    pub fn sync_handle(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// Syncs the current segment and starts the next one; returns its number.
    pub fn rotate(&mut self) -> io::Result<u64> {
        self.file.sync_data()?;
        let next = self.segment + 1;
        self.file = Arc::new(create_segment(&self.dir, next)?);
        self.segment = next;
        self.written = 0;
        Ok(next)
    }

    /// Deletes every segment numbered below `segment`.
    pub fn remove_before(&self, segment: u64) -> io::Result<()> {
        for s in segments(&self.dir)? {
            if s < segment {
                fs::remove_file(segment_path(&self.dir, s))?;
            }
        }
        Ok(())
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:08}"))
}

fn create_segment(dir: &Path, segment: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, segment))?;
    // Make the new file's directory entry durable too.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// Segment numbers present in `dir`, ascending.
pub fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(n) = name.to_str().and_then(|s| s.parse::<u64>().ok()) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// What reading one segment found.
pub struct SegmentRecords {
    pub records: Vec<Vec<u8>>,
    /// Set when the segment ended in a torn or corrupt record.
    pub corrupt_at: Option<u64>,
}

/// Reads the records of segment `segment`, stopping at the first bad one.
pub fn read_segment(dir: &Path, segment: u64) -> io::Result<SegmentRecords> {
    let data = fs::read(segment_path(dir, segment))?;
    let mut records = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        match record_at(&data, pos) {
            Some(payload) => {
                records.push(payload.to_vec());
                pos += HEADER_LEN + payload.len();
            }
            None => {
                return Ok(SegmentRecords {
                    records,
                    corrupt_at: Some(pos as u64),
                })
            }
        }
    }
    Ok(SegmentRecords {
        records,
        corrupt_at: None,
    })
}

fn record_at(data: &[u8], pos: usize) -> Option<&[u8]> {
    let header = data.get(pos..pos + HEADER_LEN)?;
    let len = u32::from_le_bytes(header.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header.get(4..)?.try_into().ok()?);
    if len > MAX_RECORD_LEN {
        return None;
    }
    let payload = data.get(pos + HEADER_LEN..pos + HEADER_LEN + len)?;
    (crc32fast::hash(payload) == crc).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> WalBatch {
        WalBatch {
            new_series: vec![(3, Labels::from_pairs([("__name__", "up"), ("job", "x")]))],
            samples: vec![
                (3, Sample { t: -5, v: 1.5 }),
                (
                    3,
                    Sample {
                        t: 1_700_000_000_000,
                        v: f64::from_bits(super::super::STALE_NAN_BITS),
                    },
                ),
                (
                    1,
                    Sample {
                        t: 7,
                        v: f64::NEG_INFINITY,
                    },
                ),
                (3, Sample { t: 9, v: 0.0 }),
            ],
        }
    }

    #[test]
    fn batch_round_trip() {
        let mut buf = Vec::new();
        batch().encode(&mut buf);
        assert_eq!(WalBatch::decode(&buf), Some(batch()));
        assert_eq!(WalBatch::decode(&buf[..buf.len() - 1]), None);
    }

    #[test]
    fn torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        wal.append(b"first").unwrap();
        wal.append(b"second").unwrap();
        let seg = wal.segment();
        drop(wal);
        // Simulate a crash in the middle of a third record.
        let path = segment_path(dir.path(), seg);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[20, 0, 0, 0, 1, 2]).unwrap();
        let read = read_segment(dir.path(), seg).unwrap();
        assert_eq!(read.records, vec![b"first".to_vec(), b"second".to_vec()]);
        assert!(read.corrupt_at.is_some());
        // Reopening never appends behind the torn tail.
        let wal = Wal::open(dir.path()).unwrap();
        assert_eq!(wal.segment(), seg + 1);
    }

    #[test]
    fn corrupt_checksum_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        wal.append(b"payload").unwrap();
        let path = segment_path(dir.path(), wal.segment());
        let mut data = fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        fs::write(&path, data).unwrap();
        let read = read_segment(dir.path(), wal.segment()).unwrap();
        assert!(read.records.is_empty());
        assert_eq!(read.corrupt_at, Some(0));
    }

    #[test]
    fn rotate_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        wal.append(b"a").unwrap();
        let next = wal.rotate().unwrap();
        wal.append(b"b").unwrap();
        wal.remove_before(next).unwrap();
        assert_eq!(segments(dir.path()).unwrap(), vec![next]);
    }
}
