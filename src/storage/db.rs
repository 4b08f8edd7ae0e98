//! [`Storage`]: the head, the WAL and the sled trees put together.
//!
//! Owns opening (series load, snapshot restore, WAL replay), the append path
//! (check → log → apply → hold cut chunks for compaction → sync) and
//! checkpoints. Reading
//! lives in `read.rs`, retention and compaction in `maintain.rs`.
//!
//! Locking: the head `RwLock` is taken before the WAL mutex. Appends hold the
//! head write lock while they log and apply, then sync the WAL outside it, so
//! readers are never blocked by an fsync and concurrent appends share one.

use super::head::{AppendRules, CutChunk, Head, PreparedBatch};
use super::index::SeriesId;
use super::layout::{self, Codec, PartitionState};
use super::pack::Pack;
use super::wal::{self, Wal, WalBatch};
use super::{
    series_batch, snapshot, AppendError, AppendListener, AppendStats, Appender, Labels, SeriesSamples,
};
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Chunks written per sled batch. A sled batch holds one epoch guard (and
/// sled's global write lock) from its first write to its last, so every tree
/// node version it replaces stays allocated until it ends: one batch of the
/// 10 000 chunks a forced compaction cuts held ~60 MiB of dead nodes. Chunks
/// need no atomicity between them (the WAL covers each until a checkpoint).
const CHUNKS_PER_SLED_BATCH: usize = 64;

/// Cut chunks wait in memory for compaction up to `cache_capacity` divided
/// by this: a quarter (16 MiB by default) keeps the head within ~1 KiB per
/// series at 100k series, where holding every chunk would take 100-200 MiB.
const PENDING_SHARE_OF_CACHE: u64 = 4;

/// When an acknowledged batch is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncMode {
    /// fsync the WAL before acknowledging each batch: nothing acknowledged is lost.
    Always,
    /// fsync the WAL every second: a power loss may lose the last second;
    /// a killed process loses nothing acknowledged.
    #[default]
    Interval,
}

/// How the storage behaves; the server fills it from the `storage:` config.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// Drop data older than the newest sample minus this (0: keep forever).
    pub retention_ms: i64,
    /// Drop the oldest partitions while the data directory is larger (0: no limit).
    pub retention_bytes: u64,
    pub fsync: FsyncMode,
    pub out_of_order_time_window_ms: i64,
    /// sled's page cache.
    pub cache_capacity_bytes: u64,
    pub max_future_ms: i64,
    /// 0: unlimited.
    pub max_series: usize,
    /// Open without writing anything (for `tsdb dump` and `tsdb stats`).
    pub read_only: bool,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            retention_ms: 15 * 24 * 3600 * 1000,
            retention_bytes: 0,
            fsync: FsyncMode::Interval,
            out_of_order_time_window_ms: 0,
            cache_capacity_bytes: 64 << 20,
            max_future_ms: 10 * 60 * 1000,
            max_series: 0,
            read_only: false,
        }
    }
}

/// Errors opening or maintaining the storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Corrupt(String),
}

/// Counters the server exports as its own metrics.
#[derive(Default)]
pub struct StorageCounters {
    pub samples_appended: AtomicU64,
    pub samples_duplicate: AtomicU64,
    pub series_created: AtomicU64,
    pub chunks_persisted: AtomicU64,
    pub corrupt_chunks: AtomicU64,
    pub wal_records_replayed: AtomicU64,
}

/// The TSDB. Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct Storage {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub dir: PathBuf,
    pub opts: StorageOptions,
    pub head: RwLock<Head>,
    pub wal: Mutex<Option<Wal>>,
    pub db: sled::Db,
    /// The database of [`Storage::aux_tree`]s (`db` itself in a data
    /// directory made before they had one).
    pub aux_db: sled::Db,
    pub series_tree: sled::Tree,
    pub chunks: sled::Tree,
    pub packs: sled::Tree,
    pub partitions_tree: sled::Tree,
    pub partitions: Mutex<BTreeMap<i64, PartitionState>>,
    pub checkpoint_lock: Mutex<()>,
    pub counters: StorageCounters,
    pub append_listeners: RwLock<Vec<Arc<dyn AppendListener>>>,
}

/// The series one `series` tree entry holds: a batch value, or an entry of
/// the earlier format (one series id → its labels).
pub(super) fn decode_series_entry(key: &[u8], value: &[u8]) -> Option<Vec<(SeriesId, Labels)>> {
    series_batch::decode(value).or_else(|| {
        let id = u32::from_be_bytes(key.try_into().ok()?);
        let mut rest = value;
        let labels = Labels::decode(&mut rest)?;
        rest.is_empty().then(|| vec![(id, labels)])
    })
}

/// sled's log segment size for a new database, instead of sled's 512 KiB:
/// sled reuses a segment's space once it is at most half live, so smaller
/// segments are reused sooner while compaction rewrites the tree (the
/// compacted `ingest_compare` load: 1.76-1.97 bytes/sample against 2.38-2.41).
/// A log message over a quarter of it (16 KiB: a tree node with large
/// values) goes to a blob file of its own.
const NEW_SEGMENT_SIZE: usize = 64 << 10;

/// The aux database's log segment size for a new database: sled's own
/// 512 KiB. The ML join tree's index nodes (one sled key per prediction)
/// reach 38-72 KiB, over 64 KiB segments' 16 KiB inline limit, so nearly
/// every leaf split wrote a blob file (~200 alive during `ml_ingest`).
/// Against 64 KiB, in paired `ml_ingest` runs, batches of 1,000 predictions
/// were -2, +11 and +14 % faster with 512 KiB (1 MiB: +10, +21, +18 %);
/// run-to-run noise on the 2-core box is ~10 %. The price is a larger floor
/// for the log (sled keeps ~10 segments).
const NEW_AUX_SEGMENT_SIZE: usize = 512 << 10;

/// The storage parameters sled recorded when it created a database; sled
/// refuses to open a database with others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SledParameters {
    use_compression: bool,
    segment_size: usize,
}

/// sled's config for a database at `path` that sled has not created yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewSledLog {
    /// zstd on every log message: the samples' database, which sled writes
    /// only when series are created, chunks spill and partitions are
    /// compacted. It cut the compacted `ingest_compare` directory from ~3.3
    /// to ~2.2 bytes/sample; and [`NEW_SEGMENT_SIZE`].
    Compressed,
    /// The aux database: the ML events path writes one sled key per
    /// prediction, and sled compresses every message with a fresh zstd
    /// context, which made it ~4x slower (39,800 to 8,200 events/s); and
    /// [`NEW_AUX_SEGMENT_SIZE`].
    Uncompressed,
}

impl NewSledLog {
    fn parameters(self) -> SledParameters {
        match self {
            NewSledLog::Compressed => SledParameters {
                use_compression: true,
                segment_size: NEW_SEGMENT_SIZE,
            },
            NewSledLog::Uncompressed => SledParameters {
                use_compression: false,
                segment_size: NEW_AUX_SEGMENT_SIZE,
            },
        }
    }
}

/// sled's config for a database at `path`: for a new one, the parameters
/// `new_log` says; an existing one keeps those it was created with, read
/// from sled's own `conf` file.
pub fn sled_config(path: &Path, new_log: NewSledLog) -> Result<sled::Config, StorageError> {
    let params = stored_sled_parameters(path)?.unwrap_or(new_log.parameters());
    Ok(sled::Config::new()
        .path(path)
        .use_compression(params.use_compression)
        .segment_size(params.segment_size))
}

/// The parameters in sled's `conf` file; `None` when there is no database yet.
fn stored_sled_parameters(path: &Path) -> Result<Option<SledParameters>, StorageError> {
    let conf_path = path.join("conf");
    let conf = match std::fs::read(&conf_path) {
        Ok(conf) => conf,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let text = String::from_utf8_lossy(&conf);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
    };
    let missing = |name: &str| StorageError::Corrupt(format!("{}: no valid {name}", conf_path.display()));
    let use_compression = match field("use_compression") {
        Some("true") => true,
        Some("false") => false,
        _ => return Err(missing("use_compression")),
    };
    let segment_size = field("segment_size")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| missing("segment_size"))?;
    Ok(Some(SledParameters {
        use_compression,
        segment_size,
    }))
}

/// Share of `storage.cache_capacity` given to the aux database's page cache;
/// the samples' database gets the rest.
const AUX_SHARE_OF_CACHE: u64 = 4;
/// The smallest page cache sled accepts (it panics below it).
const SLED_MIN_CACHE: u64 = 256;

/// Opens the samples' database (`sled/`) and the aux database (`aux/`). A
/// directory whose `sled/` predates `aux/` keeps its aux trees in `sled/`.
/// `aux/` is created first, so a crash between the two leaves a directory
/// that opens the new way.
fn open_databases(dir: &Path, cache_capacity: u64) -> Result<(sled::Db, sled::Db), StorageError> {
    let (engine_path, aux_path) = (dir.join("sled"), dir.join("aux"));
    let shared = engine_path.join("conf").exists() && !aux_path.exists();
    let aux_cache = (cache_capacity / AUX_SHARE_OF_CACHE).max(SLED_MIN_CACHE);
    let engine_cache = cache_capacity.saturating_sub(aux_cache).max(SLED_MIN_CACHE);
    let open = |path: &Path, log: NewSledLog, cache: u64| -> Result<sled::Db, StorageError> {
        Ok(sled_config(path, log)?
            .cache_capacity(cache)
            .flush_every_ms(Some(1000))
            .open()?)
    };
    if shared {
        let db = open(
            &engine_path,
            NewSledLog::Uncompressed,
            cache_capacity.max(SLED_MIN_CACHE),
        )?;
        return Ok((db.clone(), db));
    }
    let aux = open(&aux_path, NewSledLog::Uncompressed, aux_cache)?;
    let engine = open(&engine_path, NewSledLog::Compressed, engine_cache)?;
    Ok((engine, aux))
}

/// Wall-clock time in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Storage {
    /// Opens (or creates) the store in `dir`, replaying the WAL.
    pub fn open(dir: &Path, opts: StorageOptions) -> Result<Storage, StorageError> {
        std::fs::create_dir_all(dir)?;
        let (db, aux_db) = open_databases(dir, opts.cache_capacity_bytes)?;
        let inner = Inner {
            dir: dir.to_path_buf(),
            series_tree: db.open_tree(layout::SERIES_TREE)?,
            chunks: db.open_tree(layout::CHUNKS_TREE)?,
            packs: db.open_tree(layout::PACKS_TREE)?,
            partitions_tree: db.open_tree(layout::PARTITIONS_TREE)?,
            db,
            aux_db,
            opts,
            head: RwLock::new(Head::new()),
            wal: Mutex::new(None),
            partitions: Mutex::new(BTreeMap::new()),
            checkpoint_lock: Mutex::new(()),
            counters: StorageCounters::default(),
            append_listeners: RwLock::new(Vec::new()),
        };
        let storage = Storage {
            inner: Arc::new(inner),
        };
        storage.load()?;
        Ok(storage)
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// A sled tree for subsystems that keep durable state beside the samples
    /// (silences, notification log, incidents, ML joins and prediction log,
    /// dashboards), in the store's aux database. Named `aux/<name>`, so it
    /// never collides with the engine's own trees in an older data directory,
    /// where they share one database.
    pub fn aux_tree(&self, name: &str) -> Result<sled::Tree, StorageError> {
        Ok(self.inner.aux_db.open_tree(format!("aux/{name}"))?)
    }

    /// A directory for subsystems that keep files of their own beside the
    /// samples (`aux-files/<name>`), created if missing.
    pub fn aux_dir(&self, name: &str) -> Result<PathBuf, StorageError> {
        let dir = self.inner.dir.join("aux-files").join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Adds a listener told about every batch appended from now on.
    pub fn on_append(&self, listener: Arc<dyn AppendListener>) {
        self.inner.append_listeners.write().push(listener);
    }

    pub fn options(&self) -> &StorageOptions {
        &self.inner.opts
    }

    pub fn counters(&self) -> &StorageCounters {
        &self.inner.counters
    }

    /// Series currently known.
    pub fn num_series(&self) -> usize {
        self.inner.head.read().num_series()
    }

    fn load(&self) -> Result<(), StorageError> {
        let inner = &self.inner;
        let mut head = inner.head.write();
        for entry in inner.series_tree.iter() {
            let (k, v) = entry?;
            match decode_series_entry(&k, &v) {
                Some(series) => series
                    .into_iter()
                    .for_each(|(id, labels)| head.add_series(id, labels)),
                None => tracing::error!(key = ?k, "skipping corrupt entry in the series tree"),
            }
        }
        self.load_partitions()?;
        let replay_from = match snapshot::read(&inner.dir) {
            Ok(Some(snap)) => {
                let from = snap.replay_from_segment;
                snapshot::restore(&mut head, snap).map_err(StorageError::Corrupt)?;
                from
            }
            Ok(None) => {
                self.rebuild_time_ranges(&mut head)?;
                0
            }
            Err(e) => {
                tracing::error!("{e}; rebuilding series time ranges from the chunks tree");
                self.rebuild_time_ranges(&mut head)?;
                0
            }
        };
        self.mark_pending_partitions_open(&head)?;
        let replayed = self.replay_wal(&mut head, replay_from)?;
        drop(head);
        if !inner.opts.read_only {
            *inner.wal.lock() = Some(Wal::open(&inner.dir.join("wal"))?);
            if replayed > 0 {
                self.checkpoint()?;
            }
        }
        Ok(())
    }

    /// A snapshot older than the last compaction can bring back chunks of a
    /// partition since compacted: open it again, so compaction merges them.
    fn mark_pending_partitions_open(&self, head: &Head) -> Result<(), StorageError> {
        let mut parts = self.inner.partitions.lock();
        for p in head.pending.partitions_in(i64::MIN..=i64::MAX) {
            self.mark_open(&mut parts, p)?;
        }
        Ok(())
    }

    fn load_partitions(&self) -> Result<(), StorageError> {
        let mut parts = self.inner.partitions.lock();
        for entry in self.inner.partitions_tree.iter() {
            let (k, v) = entry?;
            let state = match v.first() {
                Some(1) => PartitionState::Compacted,
                _ => PartitionState::Open,
            };
            if let Some(p) = layout::decode_partition_key(&k) {
                parts.insert(p, state);
            }
        }
        Ok(())
    }

    /// Without a snapshot, derives each series' time range from chunk keys
    /// and pack tables.
    fn rebuild_time_ranges(&self, head: &mut Head) -> Result<(), StorageError> {
        let mut widen = |series: SeriesId, min_t: i64, max_t: i64| {
            head.max_t = head.max_t.max(max_t);
            if let Some(s) = head.get_mut(series) {
                s.first_t = s.first_t.min(min_t);
                s.last_t = s.last_t.max(max_t);
            }
        };
        for entry in self.inner.chunks.iter() {
            let (k, v) = entry?;
            if let (Some(key), Some(value)) = (layout::decode_chunk_key(&k), layout::decode_chunk_value(&v)) {
                widen(key.series, key.min_t, value.max_t);
            }
        }
        for entry in self.inner.packs.iter() {
            let (k, v) = entry?;
            match Pack::parse(&v) {
                Ok(pack) => pack
                    .members()
                    .iter()
                    .for_each(|m| widen(m.series, m.min_t, m.max_t)),
                Err(e) => tracing::error!(key = ?layout::decode_pack_key(&k), "skipping corrupt pack: {e}"),
            }
        }
        Ok(())
    }

    fn replay_wal(&self, head: &mut Head, from_segment: u64) -> Result<u64, StorageError> {
        let dir = self.inner.dir.join("wal");
        let mut replayed = 0;
        for seg in wal::segments(&dir)?.into_iter().filter(|&s| s >= from_segment) {
            let read = wal::read_segment(&dir, seg)?;
            if let Some(pos) = read.corrupt_at {
                tracing::warn!(
                    segment = seg,
                    offset = pos,
                    "WAL segment ends in a torn or corrupt record"
                );
            }
            for record in read.records {
                let Some(batch) = WalBatch::decode(&record) else {
                    tracing::error!(segment = seg, "skipping undecodable WAL record");
                    continue;
                };
                self.persist_new_series(&batch)?;
                let cut = head.commit(batch);
                self.hold_cut_chunks(head, cut)?;
                replayed += 1;
            }
        }
        self.inner
            .counters
            .wal_records_replayed
            .fetch_add(replayed, Ordering::Relaxed);
        Ok(replayed)
    }

    /// Stores the labels of a batch's new series as one value keyed by the
    /// first new id (a replayed batch rewrites the same key).
    fn persist_new_series(&self, batch: &WalBatch) -> Result<(), StorageError> {
        if let Some((first, _)) = batch.new_series.first() {
            self.inner.series_tree.insert(
                layout::series_key(*first),
                series_batch::encode(&batch.new_series),
            )?;
        }
        Ok(())
    }

    /// Keeps cut chunks in the head until compaction (the WAL, then each
    /// checkpoint's snapshot, covers them); while they hold more than the
    /// store's memory budget (a quarter of `cache_capacity`) the oldest
    /// partition's go to sled. See `pending.rs` for why they are not written to sled at once.
    pub(super) fn hold_cut_chunks(&self, head: &mut Head, cut: Vec<CutChunk>) -> Result<(), StorageError> {
        if cut.is_empty() {
            return Ok(());
        }
        {
            let mut parts = self.inner.partitions.lock();
            for c in &cut {
                self.mark_open(&mut parts, layout::partition_of(c.min_t))?;
            }
        }
        cut.into_iter().for_each(|c| head.pending.insert(c));
        let budget = usize::try_from(self.inner.opts.cache_capacity_bytes / PENDING_SHARE_OF_CACHE)
            .unwrap_or(usize::MAX);
        let spilled = head.pending.spill(budget);
        self.persist_chunks(spilled)
    }

    /// Records that `partition` has chunks compaction has not merged yet
    /// (in memory only when the store is open read-only).
    pub(super) fn mark_open(
        &self,
        parts: &mut BTreeMap<i64, PartitionState>,
        partition: i64,
    ) -> Result<(), StorageError> {
        if parts.insert(partition, PartitionState::Open) != Some(PartitionState::Open)
            && !self.inner.opts.read_only
        {
            self.inner
                .partitions_tree
                .insert(layout::partition_key(partition), &[PartitionState::Open as u8])?;
        }
        Ok(())
    }

    /// Writes chunks to the chunks tree (durable at the next sled flush; the
    /// WAL or the head snapshot covers them until the checkpoint that
    /// follows), a few at a time: see [`CHUNKS_PER_SLED_BATCH`].
    pub(super) fn persist_chunks(&self, cut: Vec<CutChunk>) -> Result<(), StorageError> {
        for group in cut.chunks(CHUNKS_PER_SLED_BATCH) {
            self.persist_chunk_group(group)?;
        }
        Ok(())
    }

    fn persist_chunk_group(&self, group: &[CutChunk]) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        let mut parts = self.inner.partitions.lock();
        for c in group {
            let partition = layout::partition_of(c.min_t);
            let key = layout::chunk_key(partition, c.series, c.min_t);
            batch.insert(
                &key[..],
                layout::encode_chunk_value(Codec::Xor, c.max_t, &c.bytes),
            );
            self.mark_open(&mut parts, partition)?;
        }
        drop(parts);
        self.inner.chunks.apply_batch(batch)?;
        self.inner
            .counters
            .chunks_persisted
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    pub(super) fn rules(&self) -> AppendRules {
        let o = &self.inner.opts;
        AppendRules {
            out_of_order_window_ms: o.out_of_order_time_window_ms,
            retention_ms: o.retention_ms,
            max_future_ms: o.max_future_ms,
            now_ms: now_ms(),
            max_series: o.max_series,
        }
    }

    /// Checkpoint: rotate the WAL, snapshot the head, flush sled, then delete
    /// the WAL segments the snapshot and sled now cover.
    pub fn checkpoint(&self) -> Result<(), StorageError> {
        let inner = &self.inner;
        if inner.opts.read_only {
            return Ok(());
        }
        let _one_at_a_time = inner.checkpoint_lock.lock();
        let (raw, segment) = {
            let head = inner.head.write();
            let mut wal = inner.wal.lock();
            let Some(wal) = wal.as_mut() else {
                return Ok(());
            };
            let segment = wal.rotate()?;
            (snapshot::serialize(&head, segment), segment)
        };
        let bytes = snapshot::seal(&raw);
        drop(raw);
        inner.db.flush()?;
        inner.aux_db.flush()?;
        snapshot::write(&inner.dir, &bytes)?;
        if let Some(wal) = inner.wal.lock().as_ref() {
            wal.remove_before(segment)?;
        }
        Ok(())
    }

    /// Bytes written to the WAL since the last checkpoint.
    pub fn wal_size(&self) -> u64 {
        self.inner.wal.lock().as_ref().map_or(0, Wal::written)
    }

    /// Syncs the WAL to disk (the `interval` fsync mode calls this every second).
    pub fn sync_wal(&self) -> Result<(), StorageError> {
        let handle = self.inner.wal.lock().as_ref().map(Wal::sync_handle);
        if let Some(file) = handle {
            file.sync_data()?;
        }
        Ok(())
    }

    /// Final checkpoint and flush; call before exiting.
    pub fn close(&self) -> Result<(), StorageError> {
        self.checkpoint()?;
        self.inner.db.flush()?;
        self.inner.aux_db.flush()?;
        Ok(())
    }
}

impl Appender for Storage {
    fn append(&self, batch: Vec<SeriesSamples>) -> Result<AppendStats, AppendError> {
        self.check_writable()?;
        let rules = self.rules();
        let forwarding = self.active_listeners().map(|l| (l, Arc::new(batch.clone())));
        let (stats, synced) = {
            let mut head = self.inner.head.write();
            let prepared = head.prepare(batch, &rules)?;
            let stats = prepared.stats;
            (stats, self.log_and_apply(&mut head, prepared, forwarding)?)
        };
        self.sync_if_always(synced)?;
        Ok(stats)
    }
}

/// Listeners and the batch they are told about.
pub(super) type Forwarding = (Vec<Arc<dyn AppendListener>>, Arc<Vec<SeriesSamples>>);

impl Storage {
    pub(super) fn check_writable(&self) -> Result<(), AppendError> {
        if self.inner.opts.read_only {
            return Err(AppendError::Storage("storage is open read-only".into()));
        }
        Ok(())
    }

    /// The listeners that want batches now, if any.
    pub(super) fn active_listeners(&self) -> Option<Vec<Arc<dyn AppendListener>>> {
        let listeners = self.inner.append_listeners.read();
        listeners.iter().any(|l| l.active()).then(|| listeners.clone())
    }

    /// Logs a checked batch, applies it to the head and tells the listeners,
    /// all under the head lock the caller holds; returns the WAL file to sync
    /// (`None` when there was nothing to log).
    pub(super) fn log_and_apply(
        &self,
        head: &mut Head,
        prepared: PreparedBatch,
        forwarding: Option<Forwarding>,
    ) -> Result<Option<Arc<std::fs::File>>, AppendError> {
        if prepared.wal.samples.is_empty() && prepared.wal.new_series.is_empty() {
            return Ok(None);
        }
        let mut record = Vec::with_capacity(64 + prepared.wal.samples.len() * 12);
        prepared.wal.encode(&mut record);
        let mut wal = self.inner.wal.lock();
        let wal = wal
            .as_mut()
            .ok_or_else(|| AppendError::Storage("WAL is not open".into()))?;
        wal.append(&record)
            .map_err(|e| AppendError::Storage(format!("writing the WAL: {e}")))?;
        let handle = wal.sync_handle();
        self.persist_new_series(&prepared.wal)
            .map_err(|e| AppendError::Storage(e.to_string()))?;
        let cut = head.commit(prepared.wal);
        self.hold_cut_chunks(head, cut)
            .map_err(|e| AppendError::Storage(e.to_string()))?;
        self.count(&prepared.stats);
        if let Some((listeners, batch)) = &forwarding {
            listeners.iter().for_each(|l| l.appended(batch));
        }
        Ok(Some(handle))
    }

    /// With `fsync: always`, syncs the WAL before the batch is acknowledged.
    pub(super) fn sync_if_always(&self, handle: Option<Arc<std::fs::File>>) -> Result<(), AppendError> {
        match handle {
            Some(file) if self.inner.opts.fsync == FsyncMode::Always => file
                .sync_data()
                .map_err(|e| AppendError::Storage(format!("syncing the WAL: {e}"))),
            _ => Ok(()),
        }
    }
}

impl Storage {
    fn count(&self, stats: &AppendStats) {
        let c = &self.inner.counters;
        c.samples_appended
            .fetch_add(stats.samples_appended as u64, Ordering::Relaxed);
        c.samples_duplicate
            .fetch_add(stats.samples_duplicate as u64, Ordering::Relaxed);
        c.series_created
            .fetch_add(stats.series_created as u64, Ordering::Relaxed);
    }
}
