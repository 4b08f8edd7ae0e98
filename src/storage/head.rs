//! The head: every known series with its open chunk, in memory.
//!
//! Appending is split in two so that a batch is stored whole or not at all:
//! [`Head::prepare`] checks every sample against Prometheus's append rules
//! without changing anything and produces the [`WalBatch`] to log;
//! [`Head::commit`] applies a logged batch (also used, unchanged, to replay the
//! WAL, so replay rebuilds exactly the same chunks). Commit returns the chunks
//! it cut, which the caller keeps in [`Head::pending`] until compaction. The
//! head must not touch sled or files.

use super::chunk::XorChunk;
use super::index::{PostingsIndex, SeriesId};
use super::layout::partition_of;
use super::pending::PendingChunks;
use super::series_ref::{BatchSeries, OrderedBatch};
use super::wal::WalBatch;
use super::{AppendError, AppendStats, Labels, Matcher, Sample, SeriesSamples};
use hashbrown::HashTable;
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;
use std::fmt;
use std::hash::Hasher;

/// A chunk is cut after this many samples (Prometheus's target as well).
pub const MAX_CHUNK_SAMPLES: usize = 120;
/// Out-of-order samples are flushed as their own chunk at this count.
pub const MAX_OOO_SAMPLES: usize = 32;

/// Rules a batch is checked against.
#[derive(Debug, Clone, Copy)]
pub struct AppendRules {
    /// Samples older than the newest sample minus this are accepted out of order.
    pub out_of_order_window_ms: i64,
    /// Samples older than the newest sample minus this are refused (0: no limit).
    pub retention_ms: i64,
    /// Samples newer than `now_ms + max_future_ms` are refused.
    pub max_future_ms: i64,
    pub now_ms: i64,
    /// 0: unlimited.
    pub max_series: usize,
}

/// One series in memory. Its labels live in its page's label bytes
/// ([`SlotPage`]); [`SeriesView`] pairs the two.
pub struct MemSeries {
    /// Where its canonical label bytes ([`Labels::encode`]) are in its page's
    /// `labels`: a quarter of the memory of a `Labels` value, and what
    /// lookups hash and compare.
    labels_at: u32,
    labels_len: u32,
    pub chunk: XorChunk,
    /// Earliest sample ever stored (i64::MAX when none).
    pub first_t: i64,
    /// Newest in-order sample (i64::MIN when none).
    pub last_t: i64,
    pub last_v: f64,
    /// Accepted out-of-order samples not yet persisted, sorted by time.
    pub ooo: OutOfOrder,
}

/// A series' out-of-order samples, sorted by time. A boxed slice because
/// almost every series has none (8 bytes per series instead of an empty
/// `Vec`'s 24); an insert reallocates, which only out-of-order samples pay.
#[derive(Default)]
pub struct OutOfOrder(Option<Box<[Sample]>>);

impl OutOfOrder {
    fn insert(&mut self, at: usize, s: Sample) {
        let mut samples = self.0.take().map_or_else(Vec::new, Vec::from);
        samples.insert(at, s);
        self.0 = Some(samples.into_boxed_slice());
    }

    /// Heap bytes held (for the head's memory accounting).
    fn allocated_bytes(&self) -> usize {
        std::mem::size_of_val(&**self)
    }
}

impl From<Vec<Sample>> for OutOfOrder {
    fn from(samples: Vec<Sample>) -> Self {
        OutOfOrder((!samples.is_empty()).then(|| samples.into_boxed_slice()))
    }
}

impl std::ops::Deref for OutOfOrder {
    type Target = [Sample];

    fn deref(&self) -> &[Sample] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl MemSeries {
    fn new(labels_at: u32, labels_len: u32) -> Self {
        MemSeries {
            labels_at,
            labels_len,
            chunk: XorChunk::new(),
            first_t: i64::MAX,
            last_t: i64::MIN,
            last_v: 0.0,
            ooo: OutOfOrder::default(),
        }
    }

    fn labels_range(&self) -> std::ops::Range<usize> {
        let start = self.labels_at as usize;
        start..start + self.labels_len as usize
    }

    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.first_t <= maxt && self.last_t.max(self.ooo.last().map_or(i64::MIN, |s| s.t)) >= mint
    }
}

/// A series and its canonical label bytes, as the head hands it out.
#[derive(Clone, Copy)]
pub struct SeriesView<'a> {
    series: &'a MemSeries,
    encoded_labels: &'a [u8],
}

impl<'a> SeriesView<'a> {
    /// The series itself, for as long as the head is borrowed.
    pub fn series(self) -> &'a MemSeries {
        self.series
    }

    pub fn labels(&self) -> Labels {
        Labels::decode(&mut &self.encoded_labels[..]).unwrap_or_default()
    }
}

impl std::ops::Deref for SeriesView<'_> {
    type Target = MemSeries;

    fn deref(&self) -> &MemSeries {
        self.series
    }
}

/// A chunk taken out of the head, to be persisted.
pub struct CutChunk {
    pub series: SeriesId,
    pub min_t: i64,
    pub max_t: i64,
    pub bytes: Vec<u8>,
}

/// Series per page of [`SeriesSlots`].
const SLOTS_PER_PAGE: usize = 1024;
/// Bytes a page's label buffer grows by when nearly full: a few steps per
/// page (~110 B of labels per series), not doubling, which would leave a
/// quarter of every page's buffer unused.
const LABEL_GROWTH: usize = 16 * 1024;
/// Free bytes below which a page's label buffer grows before the next
/// series' labels are encoded into it (a longer label set grows it itself).
const LABEL_HEADROOM: usize = 1024;

/// Series by id, in fixed pages of [`SLOTS_PER_PAGE`]: growing never copies
/// the series already there, and never holds the doubled capacity a `Vec`
/// would (at 100k series one `Vec` reallocation kept 8 MiB of old slots
/// alive during the copy into 16 MiB of new ones).
#[derive(Default)]
struct SeriesSlots {
    pages: Vec<SlotPage>,
    /// One past the highest id ever registered.
    len: usize,
}

/// One page of series, with the canonical label bytes of all of them back to
/// back. One buffer per page instead of one allocation per series: the labels
/// live as long as their series, and as separate allocations they shared the
/// allocator's pages with the short-lived ones of the append that created
/// them, which then could not be given back. Scrape peak RSS at 100k series
/// (`benches/scrape_compare`, 30 s): 69.6 and 71.7 MiB against 71.1 and
/// 72.2 with jemalloc; 77.5 and 80.6 against 82.6 and 83.0 with mimalloc.
struct SlotPage {
    slots: Box<[Option<MemSeries>]>,
    labels: Vec<u8>,
    /// Label bytes of removed series still in `labels`.
    dead_label_bytes: usize,
}

impl SlotPage {
    fn new() -> Self {
        SlotPage {
            slots: (0..SLOTS_PER_PAGE).map(|_| None).collect(),
            labels: Vec::new(),
            dead_label_bytes: 0,
        }
    }

    fn view<'a>(&'a self, series: &'a MemSeries) -> Option<SeriesView<'a>> {
        let encoded_labels = self.labels.get(series.labels_range())?;
        Some(SeriesView {
            series,
            encoded_labels,
        })
    }

    /// Encodes `labels` into the page's buffer for a new series in the free
    /// slot at `index`; their canonical bytes, or `None` if the slot is taken
    /// or the page's labels would pass 4 GiB.
    fn insert(&mut self, index: usize, labels: &Labels) -> Option<&[u8]> {
        let Some(slot @ None) = self.slots.get_mut(index) else {
            return None;
        };
        let start = self.labels.len();
        if self.labels.capacity() - start < LABEL_HEADROOM {
            self.labels.reserve_exact(LABEL_GROWTH);
        }
        labels.encode(&mut self.labels);
        let (Ok(at), Ok(len)) = (u32::try_from(start), u32::try_from(self.labels.len() - start)) else {
            self.labels.truncate(start);
            return None;
        };
        *slot = Some(MemSeries::new(at, len));
        self.labels.get(start..)
    }

    fn remove(&mut self, index: usize) -> Option<MemSeries> {
        let series = self.slots.get_mut(index)?.take()?;
        self.dead_label_bytes += series.labels_len as usize;
        if self.dead_label_bytes > self.labels.len() / 2 {
            self.compact_labels();
        }
        Some(series)
    }

    /// Rewrites the label buffer without the bytes of removed series.
    fn compact_labels(&mut self) {
        let live = self.labels.len() - self.dead_label_bytes;
        let mut labels = Vec::with_capacity(live);
        for series in self.slots.iter_mut().flatten() {
            let bytes = self.labels.get(series.labels_range()).unwrap_or_default();
            series.labels_at = labels.len() as u32;
            labels.extend_from_slice(bytes);
        }
        self.labels = labels;
        self.dead_label_bytes = 0;
    }
}

impl SeriesSlots {
    fn get(&self, id: SeriesId) -> Option<SeriesView<'_>> {
        let id = id as usize;
        let page = self.pages.get(id / SLOTS_PER_PAGE)?;
        page.view(page.slots[id % SLOTS_PER_PAGE].as_ref()?)
    }

    fn get_mut(&mut self, id: SeriesId) -> Option<&mut MemSeries> {
        let id = id as usize;
        self.pages.get_mut(id / SLOTS_PER_PAGE)?.slots[id % SLOTS_PER_PAGE].as_mut()
    }

    /// Registers `id` with `labels`, adding pages as needed; their canonical
    /// bytes, or `None` when the id is taken.
    fn insert(&mut self, id: SeriesId, labels: &Labels) -> Option<&[u8]> {
        let idx = id as usize;
        while self.pages.len() <= idx / SLOTS_PER_PAGE {
            self.pages.push(SlotPage::new());
        }
        let encoded = self.pages[idx / SLOTS_PER_PAGE].insert(idx % SLOTS_PER_PAGE, labels)?;
        self.len = self.len.max(idx + 1);
        Some(encoded)
    }

    fn remove(&mut self, id: SeriesId) -> Option<MemSeries> {
        let id = id as usize;
        self.pages
            .get_mut(id / SLOTS_PER_PAGE)?
            .remove(id % SLOTS_PER_PAGE)
    }

    fn iter(&self) -> impl Iterator<Item = (SeriesId, SeriesView<'_>)> {
        self.pages
            .iter()
            .flat_map(|page| page.slots.iter().map(move |slot| (page, slot)))
            .enumerate()
            .filter_map(|(i, (page, slot))| Some((i as SeriesId, page.view(slot.as_ref()?)?)))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (SeriesId, &mut MemSeries)> {
        self.pages
            .iter_mut()
            .flat_map(|page| page.slots.iter_mut())
            .enumerate()
            .filter_map(|(i, s)| Some((i as SeriesId, s.as_mut()?)))
    }

    fn allocated_bytes(&self) -> usize {
        let per_page = SLOTS_PER_PAGE * std::mem::size_of::<Option<MemSeries>>();
        self.pages.capacity() * std::mem::size_of::<SlotPage>()
            + self
                .pages
                .iter()
                .map(|page| per_page + page.labels.capacity())
                .sum::<usize>()
    }
}

#[derive(Default)]
pub struct Head {
    series: SeriesSlots,
    /// Series ids keyed by the hash of their encoded labels (4 bytes per series).
    by_labels: HashTable<SeriesId>,
    index: PostingsIndex,
    /// Newest sample timestamp in the whole head.
    pub max_t: i64,
    /// Cut chunks waiting for compaction.
    pub pending: PendingChunks,
    live: usize,
    /// Series removed so far: a [`SeriesRef`](super::SeriesRef) handed out
    /// before the last removal may name a series that is gone.
    removals: u64,
}

/// A batch checked by [`Head::prepare`], ready to log and commit.
pub struct PreparedBatch {
    pub wal: WalBatch,
    pub stats: AppendStats,
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
pub(super) fn encode_labels(labels: &Labels) -> Vec<u8> {
    let mut buf = Vec::with_capacity(16 * labels.len() + 1);
    labels.encode(&mut buf);
    buf
}

impl Head {
    pub fn new() -> Self {
        Head {
            max_t: i64::MIN,
            ..Default::default()
        }
    }

    pub fn num_series(&self) -> usize {
        self.live
    }

    pub fn removals(&self) -> u64 {
        self.removals
    }

    pub fn next_id(&self) -> SeriesId {
        self.series.len as SeriesId
    }

    pub fn get(&self, id: SeriesId) -> Option<SeriesView<'_>> {
        self.series.get(id)
    }

    pub fn get_mut(&mut self, id: SeriesId) -> Option<&mut MemSeries> {
        self.series.get_mut(id)
    }

    pub fn index(&self) -> &PostingsIndex {
        &self.index
    }

    #[cfg(test)]
    pub fn lookup(&self, labels: &Labels) -> Option<SeriesId> {
        self.lookup_encoded(&encode_labels(labels))
    }

    /// Finds a series by its canonical label bytes.
    pub fn lookup_encoded(&self, encoded: &[u8]) -> Option<SeriesId> {
        let series = &self.series;
        self.by_labels
            .find(hash_bytes(encoded), |&id| {
                series.get(id).is_some_and(|s| s.encoded_labels == encoded)
            })
            .copied()
    }

    fn hash_of(series: &SeriesSlots, id: SeriesId) -> u64 {
        series.get(id).map_or(0, |s| hash_bytes(s.encoded_labels))
    }

    /// Bytes the head holds on the heap for its series, lookup table and
    /// cut chunks waiting for compaction (allocation sizes, not counting
    /// allocator overhead); the index is reported by
    /// [`PostingsIndex::memory_bytes`].
    pub fn series_memory_bytes(&self) -> usize {
        let per_series: usize = self
            .iter()
            .map(|(_, s)| s.chunk.allocated_bytes() + s.ooo.allocated_bytes())
            .sum();
        let slots = self.series.allocated_bytes();
        let table = self.by_labels.capacity() * (std::mem::size_of::<SeriesId>() + 1);
        per_series + slots + table + self.pending.memory_bytes()
    }

    /// Ids of series matching `matchers` whose data overlaps `[mint, maxt]`.
    pub fn select_ids(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> RoaringBitmap {
        self.index
            .select(matchers)
            .into_iter()
            .filter(|&id| self.get(id).is_some_and(|s| s.overlaps(mint, maxt)))
            .collect()
    }

    /// Registers a series (at start, from the series tree, or from the WAL).
    pub fn add_series(&mut self, id: SeriesId, labels: Labels) {
        let Some(encoded) = self.series.insert(id, &labels) else {
            return;
        };
        let hash = hash_bytes(encoded);
        self.index.add(id, &labels);
        let series = &self.series;
        self.by_labels
            .insert_unique(hash, id, |&other| Self::hash_of(series, other));
        self.live += 1;
    }

    /// Forgets a series entirely (retention removed all its data).
    pub fn remove_series(&mut self, id: SeriesId) {
        let Some((hash, labels)) = self.get(id).map(|s| (hash_bytes(s.encoded_labels), s.labels())) else {
            return;
        };
        if let Ok(entry) = self.by_labels.find_entry(hash, |&other| other == id) {
            entry.remove();
        }
        if self.series.remove(id).is_some() {
            self.index.remove(id, &labels);
        }
        self.live -= 1;
        self.removals += 1;
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (SeriesId, &mut MemSeries)> {
        self.series.iter_mut()
    }

    /// Iterates over all live series.
    pub fn iter(&self) -> impl Iterator<Item = (SeriesId, SeriesView<'_>)> {
        self.series.iter()
    }

    /// Checks a batch against the append rules without changing anything.
    pub fn prepare(
        &self,
        mut batch: Vec<SeriesSamples>,
        rules: &AppendRules,
    ) -> Result<PreparedBatch, AppendError> {
        let mut check = BatchCheck::new(self, rules);
        for (position, series) in batch.iter().enumerate() {
            check.add_labelled(&series.labels, &series.samples, position)?;
        }
        Ok(check.finish(|position| std::mem::take(&mut batch[position].labels)))
    }

    /// [`Head::prepare`] for the append-by-reference path: samples of series
    /// known by id, then series by labels; also returns the id each of `new`
    /// resolved to (created or found; `None` for one without samples).
    pub fn prepare_refs(
        &self,
        known: &[(SeriesId, Sample)],
        mut new: Vec<SeriesSamples>,
        rules: &AppendRules,
    ) -> Result<(PreparedBatch, Vec<Option<SeriesId>>), AppendError> {
        let mut check = BatchCheck::new(self, rules);
        check.touched.reserve(known.len() + new.len());
        check.wal.samples.reserve(known.len() + new.len());
        for &(id, s) in known {
            check.add_known(id, s)?;
        }
        let ids = new
            .iter()
            .enumerate()
            .map(|(position, series)| check.add_labelled(&series.labels, &series.samples, position))
            .collect::<Result<_, _>>()?;
        Ok((
            check.finish(|position| std::mem::take(&mut new[position].labels)),
            ids,
        ))
    }

    /// [`Head::prepare`] for an [`OrderedBatch`]: its series are checked in
    /// the batch's order, each by reference or by labels, so the first sample
    /// refused is the one a label batch in the same order would name.
    pub fn prepare_ordered(
        &self,
        mut batch: OrderedBatch,
        rules: &AppendRules,
    ) -> Result<PreparedBatch, AppendError> {
        let mut check = BatchCheck::new(self, rules);
        check.touched.reserve(batch.series.len());
        check.wal.samples.reserve(batch.samples.len());
        let mut rest = &batch.samples[..];
        for (position, (series, count)) in batch.series.iter().enumerate() {
            let (samples, tail) = rest.split_at_checked(*count).ok_or_else(|| {
                AppendError::Storage("ordered batch names more samples than it holds".into())
            })?;
            rest = tail;
            match series {
                BatchSeries::Known(id) => samples.iter().try_for_each(|&s| check.add_known(*id, s))?,
                BatchSeries::New(labels) => {
                    check.add_labelled(labels, samples, position)?;
                }
            }
        }
        Ok(check.finish(|position| match &mut batch.series[position].0 {
            BatchSeries::New(labels) => std::mem::take(labels),
            BatchSeries::Known(_) => Labels::default(),
        }))
    }

    /// Applies a logged batch; returns the chunks that were cut.
    pub fn commit(&mut self, batch: WalBatch) -> Vec<CutChunk> {
        for (id, labels) in batch.new_series {
            self.add_series(id, labels);
        }
        let mut cut = Vec::new();
        for (id, s) in batch.samples {
            self.append_sample(id, s, &mut cut);
        }
        cut
    }

    fn append_sample(&mut self, id: SeriesId, s: Sample, cut: &mut Vec<CutChunk>) {
        self.max_t = self.max_t.max(s.t);
        let Some(series) = self.get_mut(id) else {
            return;
        };
        series.first_t = series.first_t.min(s.t);
        if s.t <= series.last_t {
            insert_out_of_order(series, s);
            if series.ooo.len() >= MAX_OOO_SAMPLES {
                cut.extend(cut_out_of_order(id, series));
            }
            return;
        }
        // A chunk never spans partitions, so the last sample's partition is the chunk's.
        let n = series.chunk.num_samples();
        let must_cut = n > 0 && (n >= MAX_CHUNK_SAMPLES || partition_of(series.last_t) != partition_of(s.t));
        if must_cut {
            cut.extend(cut_open_chunk(id, series));
        }
        series.chunk.append(s.t, s.v);
        series.last_t = s.t;
        series.last_v = s.v;
    }

    /// Cuts every open and out-of-order chunk whose data lies at or before
    /// `before` (used by compaction and at checkpoints of idle series).
    pub fn cut_chunks_before(&mut self, before: i64) -> Vec<CutChunk> {
        let mut cut = Vec::new();
        for (id, series) in self.series.iter_mut() {
            if series.chunk.last_time().is_some_and(|t| t <= before) {
                cut.extend(cut_open_chunk(id, series));
            }
            if series.ooo.first().is_some_and(|s| s.t <= before) {
                cut.extend(cut_out_of_order(id, series));
            }
        }
        cut
    }
}

fn insert_out_of_order(series: &mut MemSeries, s: Sample) {
    match series.ooo.binary_search_by_key(&s.t, |x| x.t) {
        Ok(_) => {} // prepare() already refused conflicting duplicates
        Err(pos) => series.ooo.insert(pos, s),
    }
}

fn cut_open_chunk(id: SeriesId, series: &mut MemSeries) -> Option<CutChunk> {
    let chunk = std::mem::take(&mut series.chunk);
    Some(CutChunk {
        series: id,
        min_t: chunk.first_time()?,
        max_t: chunk.last_time()?,
        bytes: chunk.bytes().to_vec(),
    })
}

/// Encodes the out-of-order buffer as chunks, one per partition it touches.
fn cut_out_of_order(id: SeriesId, series: &mut MemSeries) -> Vec<CutChunk> {
    let samples = std::mem::take(&mut series.ooo);
    samples
        .chunk_by(|a, b| partition_of(a.t) == partition_of(b.t))
        .filter_map(|group| {
            let mut chunk = XorChunk::new();
            for s in group {
                chunk.append(s.t, s.v);
            }
            Some(CutChunk {
                series: id,
                min_t: group.first()?.t,
                max_t: group.last()?.t,
                bytes: chunk.bytes().to_vec(),
            })
        })
        .collect()
}

/// A stored series' labels for an error message, decoded only when formatted.
struct LabelsOf<'a>(SeriesView<'a>);

impl fmt::Display for LabelsOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.labels().fmt(f)
    }
}

/// A series one batch creates.
struct Created {
    id: SeriesId,
    /// Where its labels are among the batch's series.
    position: usize,
    /// Its canonical label bytes in [`BatchCheck::created_keys`].
    key: std::ops::Range<usize>,
}

/// Running state while one batch is checked.
struct BatchCheck<'a> {
    head: &'a Head,
    rules: &'a AppendRules,
    wal: WalBatch,
    stats: AppendStats,
    /// Series created by this batch, in creation order.
    created: Vec<Created>,
    /// Indexes into `created`, hashed by canonical label bytes.
    created_index: HashTable<usize>,
    /// The canonical label bytes of the created series, one after another:
    /// the batch's own labels are moved into the WAL batch at the end
    /// instead of being cloned once for this lookup and once for the WAL.
    created_keys: Vec<u8>,
    /// Reused buffer for the encoded labels of the series being resolved,
    /// so a lookup allocates nothing.
    encoded: Vec<u8>,
    /// Last accepted (t, v) per series touched by this batch.
    touched: FxHashMap<SeriesId, (i64, f64)>,
    /// Out-of-order timestamps accepted by this batch per series.
    ooo_seen: FxHashMap<SeriesId, Vec<Sample>>,
    max_t: i64,
}

impl<'a> BatchCheck<'a> {
    fn new(head: &'a Head, rules: &'a AppendRules) -> Self {
        BatchCheck {
            head,
            rules,
            wal: WalBatch::default(),
            stats: AppendStats::default(),
            created: Vec::new(),
            created_index: HashTable::new(),
            created_keys: Vec::new(),
            encoded: Vec::with_capacity(256),
            touched: FxHashMap::default(),
            ooo_seen: FxHashMap::default(),
            max_t: head.max_t,
        }
    }

    /// A series given by labels, at `position` among the batch's series
    /// (its labels are taken from there when it is new). Returns the
    /// series' id; `None` for one without samples, which is skipped.
    fn add_labelled(
        &mut self,
        labels: &Labels,
        samples: &[Sample],
        position: usize,
    ) -> Result<Option<SeriesId>, AppendError> {
        if samples.is_empty() {
            return Ok(None);
        }
        let id = self.resolve(labels, position)?;
        for &s in samples {
            self.add_checked(id, labels, s)?;
        }
        Ok(Some(id))
    }

    /// A sample of a series known by id; its labels are decoded only for an error.
    fn add_known(&mut self, id: SeriesId, s: Sample) -> Result<(), AppendError> {
        let head = self.head;
        let Some(series) = head.get(id) else {
            return Err(AppendError::Storage(format!(
                "series reference {id} names a removed series"
            )));
        };
        self.add_checked(id, &LabelsOf(series), s)
    }

    fn add_checked(
        &mut self,
        id: SeriesId,
        labels: &impl fmt::Display,
        s: Sample,
    ) -> Result<(), AppendError> {
        if self.check_sample(id, labels, s)? {
            self.wal.samples.push((id, s));
            self.stats.samples_appended += 1;
        }
        Ok(())
    }

    fn resolve(&mut self, labels: &Labels, position: usize) -> Result<SeriesId, AppendError> {
        self.encoded.clear();
        labels.encode(&mut self.encoded);
        if let Some(id) = self.head.lookup_encoded(&self.encoded) {
            return Ok(id);
        }
        let hash = hash_bytes(&self.encoded);
        let (created, keys) = (&self.created, &self.created_keys);
        if let Some(&i) = self
            .created_index
            .find(hash, |&i| keys[created[i].key.clone()] == self.encoded[..])
        {
            return Ok(created[i].id);
        }
        // Stored series were valid when created: only new ones are checked.
        labels.validate().map_err(|source| AppendError::InvalidLabels {
            labels: labels.to_string(),
            source,
        })?;
        let limit = self.rules.max_series;
        if limit > 0 && self.head.num_series() + self.created.len() >= limit {
            return Err(AppendError::SeriesLimit {
                labels: labels.to_string(),
                limit,
            });
        }
        let id = self.head.next_id() + self.created.len() as SeriesId;
        let start = self.created_keys.len();
        self.created_keys.extend_from_slice(&self.encoded);
        self.created.push(Created {
            id,
            position,
            key: start..self.created_keys.len(),
        });
        let (created, keys) = (&self.created, &self.created_keys);
        self.created_index.insert_unique(hash, created.len() - 1, |&i| {
            hash_bytes(&keys[created[i].key.clone()])
        });
        self.stats.series_created += 1;
        Ok(id)
    }

    /// Ok(true): accept; Ok(false): identical duplicate, skip; Err: refuse the batch.
    fn check_sample(
        &mut self,
        id: SeriesId,
        labels: &impl fmt::Display,
        s: Sample,
    ) -> Result<bool, AppendError> {
        let rules = self.rules;
        if s.t > rules.now_ms.saturating_add(rules.max_future_ms) {
            return Err(AppendError::TooFarInFuture {
                labels: labels.to_string(),
                t: s.t,
            });
        }
        if rules.retention_ms > 0
            && self.max_t != i64::MIN
            && s.t < self.max_t.saturating_sub(rules.retention_ms)
        {
            return Err(AppendError::TooOld {
                labels: labels.to_string(),
                t: s.t,
            });
        }
        let (last_t, last_v) = self.last_sample(id);
        if s.t > last_t {
            self.touched.insert(id, (s.t, s.v));
            self.max_t = self.max_t.max(s.t);
            return Ok(true);
        }
        if s.t == last_t {
            return self.duplicate(labels, s, last_v);
        }
        self.check_out_of_order(id, labels, s)
    }

    fn last_sample(&self, id: SeriesId) -> (i64, f64) {
        if let Some(&last) = self.touched.get(&id) {
            return last;
        }
        self.head
            .get(id)
            .map_or((i64::MIN, 0.0), |s| (s.last_t, s.last_v))
    }

    fn duplicate(&mut self, labels: &impl fmt::Display, s: Sample, stored: f64) -> Result<bool, AppendError> {
        if stored.to_bits() == s.v.to_bits() {
            self.stats.samples_duplicate += 1;
            return Ok(false);
        }
        Err(AppendError::DuplicateSample {
            labels: labels.to_string(),
            t: s.t,
        })
    }

    fn check_out_of_order(
        &mut self,
        id: SeriesId,
        labels: &impl fmt::Display,
        s: Sample,
    ) -> Result<bool, AppendError> {
        let window = self.rules.out_of_order_window_ms;
        if window <= 0 || s.t < self.max_t.saturating_sub(window) {
            return Err(AppendError::OutOfOrder {
                labels: labels.to_string(),
                t: s.t,
            });
        }
        let stored = self.head.get(id).map_or(&[][..], |m| &m.series().ooo[..]);
        let in_batch = self.ooo_seen.get(&id).map_or(&[][..], Vec::as_slice);
        if let Some(prev) = stored.iter().chain(in_batch).find(|x| x.t == s.t) {
            let prev_v = prev.v;
            return self.duplicate(labels, s, prev_v);
        }
        self.ooo_seen.entry(id).or_default().push(s);
        Ok(true)
    }

    /// The checked batch; `labels_at` gives up the labels of the batch's
    /// series at a position, for each series the batch creates.
    fn finish(mut self, mut labels_at: impl FnMut(usize) -> Labels) -> PreparedBatch {
        self.wal.new_series = self
            .created
            .iter()
            .map(|c| (c.id, labels_at(c.position)))
            .collect();
        PreparedBatch {
            wal: self.wal,
            stats: self.stats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AppendRules {
        AppendRules {
            out_of_order_window_ms: 0,
            retention_ms: 0,
            max_future_ms: 600_000,
            now_ms: 1_000_000,
            max_series: 0,
        }
    }

    fn batch(name: &str, samples: &[(i64, f64)]) -> Vec<SeriesSamples> {
        vec![SeriesSamples {
            labels: Labels::from_pairs([("__name__", name)]),
            samples: samples.iter().map(|&(t, v)| Sample { t, v }).collect(),
        }]
    }

    fn append(head: &mut Head, b: Vec<SeriesSamples>, r: &AppendRules) -> Result<AppendStats, AppendError> {
        let prepared = head.prepare(b, r)?;
        head.commit(prepared.wal);
        Ok(prepared.stats)
    }

    #[test]
    fn append_rules() {
        let mut head = Head::new();
        let r = rules();
        let stats = append(&mut head, batch("a", &[(1, 1.0), (2, 2.0)]), &r).unwrap();
        assert_eq!((stats.samples_appended, stats.series_created), (2, 1));
        // Same timestamp and value: accepted as a duplicate, nothing new stored.
        let stats = append(&mut head, batch("a", &[(2, 2.0)]), &r).unwrap();
        assert_eq!((stats.samples_appended, stats.samples_duplicate), (0, 1));
        assert!(matches!(
            append(&mut head, batch("a", &[(2, 3.0)]), &r),
            Err(AppendError::DuplicateSample { t: 2, .. })
        ));
        assert!(matches!(
            append(&mut head, batch("a", &[(1, 1.0)]), &r),
            Err(AppendError::OutOfOrder { t: 1, .. })
        ));
        assert!(matches!(
            append(&mut head, batch("a", &[(2_000_000, 1.0)]), &r),
            Err(AppendError::TooFarInFuture { .. })
        ));
    }

    #[test]
    fn rejected_batch_changes_nothing() {
        let mut head = Head::new();
        let r = rules();
        let mut b = batch("new_series", &[(5, 1.0)]);
        b.extend(batch("bad-name", &[(5, 1.0)]));
        assert!(append(&mut head, b, &r).is_err());
        assert_eq!(head.num_series(), 0);
        let mut b = batch("x", &[(5, 1.0), (6, 1.0)]);
        b.extend(batch("x", &[(6, 2.0)]));
        assert!(append(&mut head, b, &r).is_err());
        assert_eq!(head.num_series(), 0);
    }

    #[test]
    fn out_of_order_window() {
        let mut head = Head::new();
        let r = AppendRules {
            out_of_order_window_ms: 100,
            ..rules()
        };
        append(&mut head, batch("a", &[(1000, 1.0)]), &r).unwrap();
        append(&mut head, batch("a", &[(950, 2.0), (960, 3.0)]), &r).unwrap();
        assert!(append(&mut head, batch("a", &[(899, 2.0)]), &r).is_err());
        assert!(append(&mut head, batch("a", &[(950, 9.0)]), &r).is_err());
        let id = head.lookup(&Labels::from_pairs([("__name__", "a")])).unwrap();
        assert_eq!(head.get(id).unwrap().ooo.len(), 2);
    }

    #[test]
    fn chunks_are_cut_by_count_and_partition() {
        let mut head = Head::new();
        let r = AppendRules {
            now_ms: i64::MAX / 4,
            ..rules()
        };
        let samples: Vec<(i64, f64)> = (0..250).map(|i| (i * 1000, i as f64)).collect();
        let prepared = head.prepare(batch("a", &samples), &r).unwrap();
        let cut = head.commit(prepared.wal);
        assert_eq!(cut.len(), 2);
        assert_eq!((cut[0].min_t, cut[0].max_t), (0, 119_000));
        let far = crate::storage::layout::PARTITION_MS + 5;
        let prepared = head.prepare(batch("a", &[(far, 1.0)]), &r).unwrap();
        let cut = head.commit(prepared.wal);
        assert_eq!(cut.len(), 1, "a new partition cuts the open chunk");
        assert_eq!(cut[0].min_t, 240_000);
    }

    fn numbered(id: SeriesId) -> Labels {
        Labels::from_pairs([("__name__", "m"), ("n", &id.to_string())])
    }

    #[test]
    fn series_across_pages_keep_their_labels_through_removals() {
        let mut head = Head::new();
        let count = SLOTS_PER_PAGE as SeriesId + 100;
        for id in 0..count {
            head.add_series(id, numbered(id));
        }
        // Removing most of the first page compacts its label buffer.
        let first_page_bytes = head.series.pages[0].labels.len();
        for id in (0..count).filter(|id| id % 4 != 0) {
            head.remove_series(id);
        }
        assert!(head.series.pages[0].labels.len() < first_page_bytes / 2);
        assert_eq!(head.num_series(), (count as usize).div_ceil(4));
        for id in 0..count {
            let found = head.lookup(&numbered(id));
            if id % 4 == 0 {
                assert_eq!(found, Some(id));
                assert_eq!(head.get(id).map(|s| s.labels()), Some(numbered(id)));
            } else {
                assert_eq!(found, None);
                assert!(head.get(id).is_none());
            }
        }
        let listed: Vec<SeriesId> = head.iter().map(|(id, _)| id).collect();
        assert_eq!(listed, (0..count).step_by(4).collect::<Vec<_>>());
        // A removed id can be registered again.
        head.add_series(1, numbered(1));
        assert_eq!(head.lookup(&numbered(1)), Some(1));
    }
}
