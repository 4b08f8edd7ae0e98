//! The read path: [`Queryable`] for [`Storage`].
//!
//! A select takes the matching ids and their head data (open chunk,
//! out-of-order samples, cut chunks waiting for compaction) under the head read
//! lock, then reads persisted chunks from sled without it, and yields the
//! series one at a time in label order, decoding each series' head chunks only
//! when it is reached ([`Queryable::select_iter`]). Chunks of one
//! series may overlap (out-of-order chunks, a chunk re-cut after a crash), so
//! each series' samples are merged by timestamp, first copy wins. Compacted
//! samples are in packs, found by each series' metric group (`layout.rs`). A
//! chunk or pack that fails to decode is logged, counted and skipped, never
//! fatal.

use super::block::decode_block;
use super::chunk::decode_xor;
use super::db::Storage;
use super::index::SeriesId;
use super::layout::{self, Codec};
use super::pack::{MemberInfo, Pack};
use super::{Labels, Matcher, QueryError, Queryable, Sample, SelectHints, Series, SeriesIter};
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

/// Above this share of a partition's series, scan the whole partition once
/// instead of one prefix scan per series.
const FULL_SCAN_RATIO: u64 = 8;

/// Selected ids by metric group (which packs they are in).
fn metric_groups(parts: &[(SeriesId, HeadPart)]) -> BTreeMap<u32, RoaringBitmap> {
    let mut groups: BTreeMap<u32, RoaringBitmap> = BTreeMap::new();
    for (id, part) in parts {
        let group = layout::metric_group(part.labels.metric_name());
        groups.entry(group).or_default().insert(*id);
    }
    groups
}

/// What the head contributes to one selected series.
struct HeadPart {
    labels: Labels,
    runs: Vec<Vec<Sample>>,
    open_chunk: Vec<u8>,
    /// Cut chunks not yet compacted that overlap the range.
    pending: Vec<Box<[u8]>>,
}

impl Storage {
    /// The matching ids and, per id in id order, what the head holds of it.
    fn head_parts(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> (RoaringBitmap, Vec<(SeriesId, HeadPart)>) {
        let head = self.inner.head.read();
        let ids = head.select_ids(matchers, mint, maxt);
        let pending_partitions = head
            .pending
            .partitions_in(layout::partition_of(mint)..=layout::partition_of(maxt));
        let mut parts = Vec::with_capacity(ids.len() as usize);
        for id in &ids {
            let Some(s) = head.get(id) else { continue };
            let labels = s.labels();
            let open_chunk = match (s.chunk.first_time(), s.chunk.last_time()) {
                (Some(first), Some(last)) if first <= maxt && last >= mint => s.chunk.bytes().to_vec(),
                _ => Vec::new(),
            };
            let ooo: Vec<Sample> = s
                .ooo
                .iter()
                .filter(|x| x.t >= mint && x.t <= maxt)
                .copied()
                .collect();
            let pending = pending_partitions
                .iter()
                .flat_map(|&p| head.pending.of_series(p, id))
                .filter(|(min_t, c)| *min_t <= maxt && c.max_t >= mint)
                .map(|(_, c)| c.bytes.clone())
                .collect();
            parts.push((
                id,
                HeadPart {
                    labels,
                    runs: if ooo.is_empty() { Vec::new() } else { vec![ooo] },
                    open_chunk,
                    pending,
                },
            ));
        }
        (ids, parts)
    }

    fn partitions_in(&self, mint: i64, maxt: i64) -> Vec<i64> {
        let (lo, hi) = (layout::partition_of(mint), layout::partition_of(maxt));
        self.inner
            .partitions
            .lock()
            .range(lo..=hi)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Appends the decoded persisted chunks and pack members of `ids` (whose
    /// labels `parts` holds) in `[mint, maxt]` to `runs`.
    fn read_persisted(
        &self,
        ids: &RoaringBitmap,
        parts: &[(SeriesId, HeadPart)],
        mint: i64,
        maxt: i64,
        runs: &mut FxHashMap<SeriesId, Vec<Vec<Sample>>>,
    ) -> Result<(), QueryError> {
        let partitions = self.partitions_in(mint, maxt);
        if ids.len() * FULL_SCAN_RATIO >= self.num_series() as u64 {
            for partition in partitions {
                let prefix = layout::partition_key(partition);
                self.scan_chunks(self.inner.chunks.scan_prefix(prefix), ids, mint, maxt, runs)?;
                self.scan_packs(self.inner.packs.scan_prefix(prefix), ids, mint, maxt, runs)?;
            }
            return Ok(());
        }
        let groups = metric_groups(parts);
        for partition in partitions {
            for id in ids {
                let prefix = layout::series_partition_prefix(partition, id);
                self.scan_chunks(self.inner.chunks.scan_prefix(prefix), ids, mint, maxt, runs)?;
            }
            for (&group, members) in &groups {
                let prefix = layout::pack_group_prefix(partition, group);
                self.scan_packs(self.inner.packs.scan_prefix(prefix), members, mint, maxt, runs)?;
            }
        }
        Ok(())
    }

    /// Decodes the members of `ids` in `[mint, maxt]` from the packs `iter`
    /// yields; a corrupt pack is logged, counted and skipped.
    fn scan_packs(
        &self,
        iter: sled::Iter,
        ids: &RoaringBitmap,
        mint: i64,
        maxt: i64,
        runs: &mut FxHashMap<SeriesId, Vec<Vec<Sample>>>,
    ) -> Result<(), QueryError> {
        for entry in iter {
            let (k, v) = entry.map_err(|e| QueryError::Storage(e.to_string()))?;
            let Some(key) = layout::decode_pack_key(&k) else {
                continue;
            };
            if key.first > key.last || ids.range_cardinality(key.first..=key.last) == 0 {
                continue;
            }
            let wanted = |m: &MemberInfo| ids.contains(m.series) && m.min_t <= maxt && m.max_t >= mint;
            match Pack::parse(&v).and_then(|pack| pack.decode(wanted)) {
                Ok(members) => {
                    for (id, samples) in members {
                        runs.entry(id).or_default().push(samples);
                    }
                }
                Err(e) => self.corrupt_pack(&k, &e.to_string()),
            }
        }
        Ok(())
    }

    fn scan_chunks(
        &self,
        iter: sled::Iter,
        ids: &RoaringBitmap,
        mint: i64,
        maxt: i64,
        runs: &mut FxHashMap<SeriesId, Vec<Vec<Sample>>>,
    ) -> Result<(), QueryError> {
        for entry in iter {
            let (k, v) = entry.map_err(|e| QueryError::Storage(e.to_string()))?;
            let Some(key) = layout::decode_chunk_key(&k) else {
                continue;
            };
            if !ids.contains(key.series) || key.min_t > maxt {
                continue;
            }
            match self.decode_chunk(&k, &v, mint) {
                Some(samples) if !samples.is_empty() => runs.entry(key.series).or_default().push(samples),
                _ => {}
            }
        }
        Ok(())
    }

    /// Decodes one stored chunk; `None` (logged and counted) when corrupt,
    /// empty when it ends before `mint`.
    fn decode_chunk(&self, key: &[u8], value: &[u8], mint: i64) -> Option<Vec<Sample>> {
        let Some(value) = layout::decode_chunk_value(value) else {
            self.corrupt_chunk(key, "bad chunk header");
            return None;
        };
        if value.max_t < mint {
            return Some(Vec::new());
        }
        let decoded = match value.codec {
            Codec::Xor => decode_xor(value.payload),
            Codec::Block => decode_block(value.payload),
        };
        match decoded {
            Ok(samples) => Some(samples),
            Err(e) => {
                self.corrupt_chunk(key, &e.to_string());
                None
            }
        }
    }

    /// Decodes a whole stored chunk (no time filter); `None` when corrupt.
    pub(super) fn decode_stored_chunk(&self, key: &[u8], value: &[u8]) -> Option<Vec<Sample>> {
        self.decode_chunk(key, value, i64::MIN)
    }

    /// Decodes a cut chunk the head holds for compaction; `None` (logged and
    /// counted) when corrupt.
    pub(super) fn decode_pending_chunk(
        &self,
        series: SeriesId,
        min_t: i64,
        bytes: &[u8],
    ) -> Option<Vec<Sample>> {
        decode_xor(bytes)
            .inspect_err(|e| {
                self.inner.counters.corrupt_chunks.fetch_add(1, Ordering::Relaxed);
                tracing::error!(series, min_t, "skipping corrupt pending chunk: {e}");
            })
            .ok()
    }

    pub(super) fn corrupt_pack(&self, key: &[u8], why: &str) {
        self.inner.counters.corrupt_chunks.fetch_add(1, Ordering::Relaxed);
        tracing::error!(key = ?layout::decode_pack_key(key), "skipping corrupt pack: {why}");
    }

    fn corrupt_chunk(&self, key: &[u8], why: &str) {
        self.inner.counters.corrupt_chunks.fetch_add(1, Ordering::Relaxed);
        tracing::error!(key = ?layout::decode_chunk_key(key), "skipping corrupt chunk: {why}");
    }
}

/// Merges runs of samples into one time-ordered list (first copy of a timestamp wins).
pub(super) fn merge_all(runs: Vec<Vec<Sample>>) -> Vec<Sample> {
    merge_runs(runs, i64::MIN, i64::MAX)
}

/// Merges runs of samples into one time-ordered list within `[mint, maxt]`.
fn merge_runs(mut runs: Vec<Vec<Sample>>, mint: i64, maxt: i64) -> Vec<Sample> {
    if runs.len() == 1 {
        let mut only = runs.pop().unwrap_or_default();
        only.retain(|s| s.t >= mint && s.t <= maxt);
        return only;
    }
    let mut all: Vec<Sample> = runs
        .into_iter()
        .flatten()
        .filter(|s| s.t >= mint && s.t <= maxt)
        .collect();
    if !all.windows(2).all(|w| w[0].t < w[1].t) {
        all.sort_by_key(|s| s.t);
        all.dedup_by_key(|s| s.t);
    }
    all
}

/// The series of one select in label order, each merged and decoded only
/// when reached: what is held meanwhile is the head's compressed chunks.
struct SelectedSeries {
    parts: std::vec::IntoIter<(SeriesId, HeadPart)>,
    persisted: FxHashMap<SeriesId, Vec<Vec<Sample>>>,
    mint: i64,
    maxt: i64,
    max_samples: usize,
    loaded: usize,
}

impl Iterator for SelectedSeries {
    type Item = Result<Series, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        for (id, part) in self.parts.by_ref() {
            let mut runs = self.persisted.remove(&id).unwrap_or_default();
            runs.extend(part.runs);
            for chunk in &part.pending {
                match decode_xor(chunk) {
                    Ok(samples) => runs.push(samples),
                    Err(e) => tracing::error!(series = id, "pending chunk failed to decode: {e}"),
                }
            }
            if !part.open_chunk.is_empty() {
                match decode_xor(&part.open_chunk) {
                    Ok(samples) => runs.push(samples),
                    Err(e) => tracing::error!(series = id, "open chunk failed to decode: {e}"),
                }
            }
            let samples = merge_runs(runs, self.mint, self.maxt);
            if samples.is_empty() {
                continue;
            }
            self.loaded += samples.len();
            if self.loaded > self.max_samples {
                self.parts = Vec::new().into_iter();
                return Some(Err(QueryError::TooManySamples(self.max_samples)));
            }
            return Some(Ok(Series {
                labels: part.labels,
                samples,
            }));
        }
        None
    }
}

impl Queryable for Storage {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: SelectHints,
    ) -> Result<Vec<Series>, QueryError> {
        self.select_iter(matchers, mint, maxt, hints)?.collect()
    }

    fn select_iter(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: SelectHints,
    ) -> Result<SeriesIter<'_>, QueryError> {
        let (ids, mut parts) = self.head_parts(matchers, mint, maxt);
        let mut persisted: FxHashMap<SeriesId, Vec<Vec<Sample>>> = FxHashMap::default();
        self.read_persisted(&ids, &parts, mint, maxt, &mut persisted)?;
        parts.sort_unstable_by(|a, b| a.1.labels.cmp(&b.1.labels));
        Ok(Box::new(SelectedSeries {
            parts: parts.into_iter(),
            persisted,
            mint,
            maxt,
            max_samples: hints.max_samples,
            loaded: 0,
        }))
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, QueryError> {
        let head = self.inner.head.read();
        let ids = head.select_ids(matchers, mint, maxt);
        let mut out: Vec<Labels> = ids.iter().filter_map(|id| Some(head.get(id)?.labels())).collect();
        out.sort();
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, QueryError> {
        let head = self.inner.head.read();
        let ids = head.select_ids(matchers, mint, maxt);
        let mut names = BTreeSet::new();
        for id in &ids {
            if let Some(s) = head.get(id) {
                names.extend(s.labels().into_vec().into_iter().map(|l| l.name));
            }
        }
        Ok(names.into_iter().collect())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, QueryError> {
        let head = self.inner.head.read();
        let ids = head.select_ids(matchers, mint, maxt);
        Ok(head
            .index()
            .label_values(name)
            .filter(|(_, carriers)| !carriers.is_disjoint(&ids))
            .map(|(v, _)| v.to_string())
            .collect())
    }
}
