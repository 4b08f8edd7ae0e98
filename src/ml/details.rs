//! The details log: append-only files of the predictions' log details
//! (features and other fields only a prediction log item needs), which join
//! records point into by file, offset and length.
//!
//! Why files and not sled: sled rewrites whole leaves (up to 16 entries)
//! when it consolidates or splits them, so each byte of a value is written
//! several times. With the details inside the join records, each prediction
//! wrote ~3.1 kB to sled's log (`ml_ingest`, 50 features); packed into
//! 12 KiB sled values instead, the same, because those leaves held 16 of
//! them. Here a request round's details are one `write`. (Measured when the
//! join was a sled tree; its fjall index rewrites values at each compaction,
//! so the details stay out of it.)
//!
//! Files are `<id>.details` (hex) under the storage's `aux-files/ml_details`,
//! never appended to after a restart (a crash may have torn the last one),
//! closed at [`FILE_BYTES`], and deleted whole when their last write is older
//! than the longest feedback TTL. Nothing is fsynced: like sled's own log,
//! a power loss can lose the last second, and a record whose details are
//! gone is joined without them (a misclassified prediction is then not
//! logged). Owns only these files; what is in them is [`crate::ml::join`]'s.

use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A file is closed once it holds this much.
const FILE_BYTES: u64 = 64 << 20;

/// Where one prediction's details are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct DetailsRef {
    pub file: u32,
    pub offset: u64,
    pub len: u32,
}

pub struct DetailsLog {
    dir: PathBuf,
    current: Mutex<Current>,
}

struct Current {
    id: u32,
    file: File,
    len: u64,
}

fn file_name(id: u32) -> String {
    format!("{id:08x}.details")
}

fn id_of(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?.strip_suffix(".details")?;
    u32::from_str_radix(name, 16).ok()
}

fn create(dir: &Path, id: u32) -> std::io::Result<Current> {
    let file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .append(true)
        .open(dir.join(file_name(id)))?;
    Ok(Current { id, file, len: 0 })
}

/// `at`'s bytes from `file`, whose length is `file_len`.
fn read_within(file: &File, file_len: u64, at: DetailsRef) -> std::io::Result<Option<Vec<u8>>> {
    if at.offset.saturating_add(u64::from(at.len)) > file_len {
        return Ok(None);
    }
    let mut bytes = vec![0; at.len as usize];
    file.read_exact_at(&mut bytes, at.offset)?;
    Ok(Some(bytes))
}

impl DetailsLog {
    /// Opens the log in `dir`, starting a new file after the existing ones
    /// (or reusing the last one if nothing was ever written to it).
    pub fn open(dir: &Path) -> std::io::Result<DetailsLog> {
        let mut last = None;
        for entry in std::fs::read_dir(dir)? {
            if let Some(id) = id_of(&entry?.path()) {
                last = last.max(Some(id));
            }
        }
        let current = match last {
            Some(id) if std::fs::metadata(dir.join(file_name(id)))?.len() == 0 => {
                std::fs::remove_file(dir.join(file_name(id)))?;
                create(dir, id)?
            }
            Some(id) => create(dir, id.wrapping_add(1))?,
            None => create(dir, 0)?,
        };
        Ok(DetailsLog {
            dir: dir.to_path_buf(),
            current: Mutex::new(current),
        })
    }

    /// Where the next append will go: the current file and its length,
    /// after closing the file if it is full.
    pub fn position(&self) -> std::io::Result<(u32, u64)> {
        let mut current = self.current.lock();
        if current.len >= FILE_BYTES {
            *current = create(&self.dir, current.id.wrapping_add(1))?;
        }
        Ok((current.id, current.len))
    }

    /// Appends `bytes`, which must go where [`Self::position`] said: appends
    /// are serialised by their caller (the `ml-ingest` and `ml-write` threads
    /// take turns: see `crate::ml::ingest`).
    pub fn append(&self, file: u32, at: u64, bytes: &[u8]) -> std::io::Result<()> {
        let mut current = self.current.lock();
        if (current.id, current.len) != (file, at) {
            let message = format!(
                "details log moved: expected file {file} at {at}, found file {} at {}",
                current.id, current.len
            );
            return Err(std::io::Error::other(message));
        }
        current.file.write_all(bytes)?;
        current.len += bytes.len() as u64;
        Ok(())
    }

    /// The bytes `at` points to; `None` when its file is gone or shorter
    /// (checked before allocating, so a corrupt length cannot ask for GiBs).
    pub fn read(&self, at: DetailsRef) -> std::io::Result<Option<Vec<u8>>> {
        let current = self.current.lock();
        let read = if current.id == at.file {
            read_within(&current.file, current.len, at)
        } else {
            drop(current);
            File::open(self.dir.join(file_name(at.file)))
                .and_then(|file| read_within(&file, file.metadata()?.len(), at))
        };
        match read {
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::UnexpectedEof) => Ok(None),
            read => read,
        }
    }

    /// Deletes the closed files last written more than `keep` ago.
    pub fn expire(&self, keep: Duration) -> std::io::Result<usize> {
        let current = self.current.lock().id;
        let Some(cutoff) = SystemTime::now().checked_sub(keep) else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(id) = id_of(&path) else { continue };
            if id != current && std::fs::metadata(&path)?.modified()? < cutoff {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_read_back_and_a_reopened_log_starts_a_new_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = DetailsLog::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let (file, at) = log.position().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((file, at), (0, 0));
        log.append(file, at, b"helloworld")
            .unwrap_or_else(|e| panic!("{e}"));
        let world = DetailsRef {
            file,
            offset: 5,
            len: 5,
        };
        assert_eq!(log.read(world).ok().flatten().as_deref(), Some(&b"world"[..]));
        assert!(
            log.append(file, at, b"again").is_err(),
            "a stale position is refused"
        );
        drop(log);
        let log = DetailsLog::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log.position().ok(), Some((1, 0)));
        drop(log);
        let log = DetailsLog::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log.position().ok(), Some((1, 0)), "an empty last file is reused");
        assert_eq!(log.read(world).ok().flatten().as_deref(), Some(&b"world"[..]));
        let past_end = DetailsRef {
            file,
            offset: 8,
            len: 5,
        };
        assert_eq!(log.read(past_end).ok(), Some(None));
        let corrupt = DetailsRef {
            file,
            offset: 0,
            len: u32::MAX,
        };
        assert_eq!(log.read(corrupt).ok(), Some(None), "refused before allocating");
        let in_current = DetailsRef {
            file: 1,
            offset: 0,
            len: u32::MAX,
        };
        assert_eq!(log.read(in_current).ok(), Some(None));
        assert_eq!(log.expire(Duration::from_secs(3600)).ok(), Some(0));
        assert_eq!(log.expire(Duration::ZERO).ok(), Some(1), "the closed file only");
        assert_eq!(log.read(world).ok(), Some(None));
        assert_eq!(log.position().ok(), Some((1, 0)));
    }
}
