//! The ML subsystem's LSM keyspace (fjall) in `aux-files/ml_index`: the
//! feedback join's index and the prediction log live in partitions of it.
//!
//! Why not sled trees, as before: every accepted prediction adds a join
//! key at a place of its own (its request id) and many add a log item, and
//! sled splits its leaves every 16 keys and rewrites pages: ~7 µs of CPU
//! per key at 100k events/s, against ~2.5 µs for fjall's memtable and
//! journal, background compaction included (measured alone: see "Why fjall"
//! in docs/ARCHITECTURE.md). Lookups of keys never written (the duplicate
//! check of every prediction) stop at bloom filters.
//!
//! Durability: with fjall's default, a committed batch is written to the
//! journal file before `commit` returns, so a killed process loses nothing
//! acknowledged; [`FSYNC_MS`] bounds what a machine crash loses. Owns only
//! opening the keyspace and moving in the sled trees of earlier versions;
//! what the partitions hold is `join`'s and `log`'s.

use crate::storage::{Storage, StorageError};

/// Block cache: lookups are mostly of recent keys, which memtables hold.
const CACHE_BYTES: u64 = 8 << 20;
/// Memtables of all partitions before the oldest is flushed.
const WRITE_BUFFER_BYTES: u64 = 32 << 20;
/// One partition's memtable.
const MEMTABLE_BYTES: u32 = 8 << 20;
/// The interval of the journal's fsync, as sled's flush interval bounds
/// what a machine crash loses of the samples.
const FSYNC_MS: u16 = 500;
/// Writes per batch where one job writes without bound (moving a sled tree
/// in, deleting a retention's worth of items).
const LONG_JOB_BATCH: usize = 10_000;

/// Errors of the keyspace's partitions.
pub type LsmResult<T> = Result<T, fjall::Error>;

/// Opens (or creates) the keyspace of `storage`'s data directory.
pub fn open(storage: &Storage) -> Result<fjall::Keyspace, StorageError> {
    fjall::Config::new(storage.aux_dir("ml_index")?)
        .cache_size(CACHE_BYTES)
        .max_write_buffer_size(WRITE_BUFFER_BYTES)
        .flush_workers(1)
        .compaction_workers(1)
        .fsync_ms(Some(FSYNC_MS))
        .open()
        .map_err(storage_error)
}

/// Opens partition `name` and moves into it what sled tree `old_tree` of an
/// earlier version still holds, emptying the tree. A crash in between
/// copies the entries again on the next start.
pub fn partition(
    keyspace: &fjall::Keyspace,
    name: &str,
    storage: &Storage,
    old_tree: &str,
) -> Result<fjall::PartitionHandle, StorageError> {
    let options = fjall::PartitionCreateOptions::default().max_memtable_size(MEMTABLE_BYTES);
    let partition = keyspace.open_partition(name, options).map_err(storage_error)?;
    let old = storage.aux_tree(old_tree)?;
    if !old.is_empty() {
        let moved = migrate(keyspace, &partition, &old)?;
        tracing::info!("ML index: moved {moved} entries of sled tree {old_tree} into partition {name}");
    }
    Ok(partition)
}

fn migrate(
    keyspace: &fjall::Keyspace,
    partition: &fjall::PartitionHandle,
    old: &sled::Tree,
) -> Result<usize, StorageError> {
    let mut moved = 0;
    let mut batch = keyspace.batch();
    for entry in old.iter() {
        let (key, value) = entry?;
        batch.insert(partition, &*key, &*value);
        moved += 1;
        commit_when_full(keyspace, &mut batch).map_err(storage_error)?;
    }
    batch.commit().map_err(storage_error)?;
    keyspace
        .persist(fjall::PersistMode::SyncAll)
        .map_err(storage_error)?;
    old.clear()?;
    Ok(moved)
}

/// Commits `batch` and starts a new one once it holds [`LONG_JOB_BATCH`]
/// writes, so a long job's batch stays bounded.
pub fn commit_when_full(keyspace: &fjall::Keyspace, batch: &mut fjall::Batch) -> LsmResult<()> {
    if batch.len() < LONG_JOB_BATCH {
        return Ok(());
    }
    std::mem::replace(batch, keyspace.batch()).commit()
}

fn storage_error(e: fjall::Error) -> StorageError {
    StorageError::Corrupt(format!("ML index: {e}"))
}
