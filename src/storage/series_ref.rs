//! Appending by series reference: the scrape cache's fast path.
//!
//! Prometheus's scrape cache remembers, per exposed series, the
//! `storage.SeriesRef` the head gave it the first time, and appends later
//! samples by that reference, so a known series costs no label work at all.
//! [`RefAppender::append_refs`] is that path: samples of known series come as
//! `(SeriesRef, Sample)`, new series with their labels (checked and created as
//! by [`Appender::append`]), and the answer gives each new series its
//! reference. The batch is checked, logged (the WAL already logs a series once
//! and its samples by id) and applied exactly like a label batch: stored whole
//! or refused whole.
//!
//! Remote-write ingest uses the same references within one request:
//! [`Storage::lookup_canonical`] finds the series it already holds by their
//! canonical label bytes while it decodes, and [`Storage::append_ordered`] appends an
//! [`OrderedBatch`] whose series keep the request's order (known ones by
//! reference, new ones by labels), so a refusal names the same sample a label
//! batch would.
//!
//! A reference stays valid until retention removes its series (ids are never
//! reused while the process runs). [`RefAppender::ref_epoch`] counts removals:
//! a holder that sees it change must resolve its series by labels again. A
//! reference to a removed series is refused with an error, never misapplied.

use std::sync::Arc;

use super::index::SeriesId;
use super::{AppendError, AppendStats, Appender, Labels, Sample, SeriesSamples, Storage};

/// A series as the head knows it; obtained from [`RefAppender::append_refs`].
pub type SeriesRef = SeriesId;

/// One batch for [`RefAppender::append_refs`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RefBatch {
    /// Samples of series known by reference.
    pub known: Vec<(SeriesRef, Sample)>,
    /// Series given by labels (created when new).
    pub new: Vec<SeriesSamples>,
}

/// What an accepted [`RefBatch`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct RefAppended {
    pub stats: AppendStats,
    /// The reference of each of the batch's `new` series, in order (`None`
    /// for one without samples).
    pub new_refs: Vec<Option<SeriesRef>>,
}

/// One series of an [`OrderedBatch`].
#[derive(Debug, Clone, PartialEq)]
pub enum BatchSeries {
    /// A series the head holds (from [`Storage::lookup_canonical`]).
    Known(SeriesRef),
    /// A series given by labels (created when new).
    New(Labels),
}

/// A batch whose series keep their order, each known by reference or given
/// by labels; for [`Storage::append_ordered`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OrderedBatch {
    /// Every sample of the batch, series after series.
    pub samples: Vec<Sample>,
    /// Each series with the number of its samples in `samples`.
    pub series: Vec<(BatchSeries, usize)>,
}

impl OrderedBatch {
    /// The batch as a label batch, for append listeners.
    fn labelled(&self, head: &super::head::Head) -> Vec<SeriesSamples> {
        let mut rest = &self.samples[..];
        let mut out = Vec::with_capacity(self.series.len());
        for (series, count) in &self.series {
            let (samples, tail) = rest.split_at((*count).min(rest.len()));
            rest = tail;
            let labels = match series {
                BatchSeries::Known(id) => head.get(*id).map(|s| s.labels()),
                BatchSeries::New(labels) => Some(labels.clone()),
            };
            if let Some(labels) = labels {
                out.push(SeriesSamples {
                    labels,
                    samples: samples.to_vec(),
                });
            }
        }
        out
    }
}

/// Series lookups by canonical label bytes ([`Labels::encode`]); from
/// [`Storage::lookup_canonical`].
pub struct CanonicalLookup<'a> {
    head: parking_lot::RwLockReadGuard<'a, super::head::Head>,
}

impl CanonicalLookup<'_> {
    /// The [`RefAppender::ref_epoch`] the references found are valid in.
    pub fn epoch(&self) -> u64 {
        self.head.removals()
    }

    pub fn get(&self, canonical: &[u8]) -> Option<SeriesRef> {
        self.head.lookup_encoded(canonical)
    }
}

impl Storage {
    /// Finds series by their canonical label bytes, under one head read
    /// lock held until the lookup is dropped: drop it before appending.
    pub fn lookup_canonical(&self) -> CanonicalLookup<'_> {
        CanonicalLookup {
            head: self.inner.head.read(),
        }
    }

    /// Appends an [`OrderedBatch`] whose references were looked up in `epoch`:
    /// stored whole or refused whole, like [`Appender::append`]. `Ok(None)`
    /// when series were removed since (nothing is stored; look them up again).
    pub fn append_ordered(
        &self,
        batch: OrderedBatch,
        epoch: u64,
    ) -> Result<Option<AppendStats>, AppendError> {
        self.check_writable()?;
        let rules = self.rules();
        let listeners = self.active_listeners();
        let (stats, synced) = {
            let mut head = self.inner.head.write();
            if head.removals() != epoch {
                return Ok(None);
            }
            let forwarding = listeners.map(|l| (l, Arc::new(batch.labelled(&head))));
            let prepared = head.prepare_ordered(batch, &rules)?;
            let stats = prepared.stats;
            (stats, self.log_and_apply(&mut head, prepared, forwarding)?)
        };
        self.sync_if_always(synced)?;
        Ok(Some(stats))
    }
}

/// An [`Appender`] that also appends by series reference.
pub trait RefAppender: Appender {
    /// Changes whenever a series is removed; references obtained under an
    /// older epoch may name removed series.
    fn ref_epoch(&self) -> u64;
    fn append_refs(&self, batch: RefBatch) -> Result<RefAppended, AppendError>;
}

impl RefAppender for Storage {
    fn ref_epoch(&self) -> u64 {
        self.inner.head.read().removals()
    }

    fn append_refs(&self, batch: RefBatch) -> Result<RefAppended, AppendError> {
        self.check_writable()?;
        let rules = self.rules();
        let listeners = self.active_listeners();
        let (appended, synced) = {
            let mut head = self.inner.head.write();
            let forwarding = listeners.map(|l| (l, Arc::new(labelled(&head, &batch))));
            let (prepared, new_refs) = head.prepare_refs(&batch.known, batch.new, &rules)?;
            let stats = prepared.stats;
            let synced = self.log_and_apply(&mut head, prepared, forwarding)?;
            (RefAppended { stats, new_refs }, synced)
        };
        self.sync_if_always(synced)?;
        Ok(appended)
    }
}

/// The batch as label batches, for append listeners (the remote-write sender).
/// Built before the batch is checked (which consumes it), so a reference
/// to a removed series is left out here and refused by the check.
fn labelled(head: &super::head::Head, batch: &RefBatch) -> Vec<SeriesSamples> {
    let known = batch.known.iter().filter_map(|&(id, sample)| {
        Some(SeriesSamples {
            labels: head.get(id)?.labels(),
            samples: vec![sample],
        })
    });
    known.chain(batch.new.iter().cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::head::encode_labels;
    use crate::storage::{Labels, Matcher, Queryable, SelectHints, StorageOptions};

    fn open(dir: &std::path::Path) -> Storage {
        let opts = StorageOptions {
            retention_ms: 0,
            max_future_ms: i64::MAX / 4,
            ..StorageOptions::default()
        };
        Storage::open(dir, opts).unwrap()
    }

    fn new_series(name: &str, t: i64, v: f64) -> SeriesSamples {
        SeriesSamples {
            labels: Labels::from_pairs([("__name__", name), ("job", "j")]),
            samples: vec![Sample { t, v }],
        }
    }

    fn values(s: &Storage, name: &str) -> Vec<(i64, f64)> {
        let found = s
            .select(
                &[Matcher::equal("__name__", name)],
                i64::MIN,
                i64::MAX,
                SelectHints::default(),
            )
            .unwrap();
        found
            .iter()
            .flat_map(|series| series.samples.iter().map(|x| (x.t, x.v)))
            .collect()
    }

    #[test]
    fn references_append_like_labels_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let first = RefBatch {
            known: Vec::new(),
            new: vec![new_series("a", 10, 1.0), new_series("b", 10, 2.0)],
        };
        let appended = s.append_refs(first).unwrap();
        let [Some(a), Some(b)] = appended.new_refs[..] else {
            panic!("no references: {appended:?}");
        };
        assert_eq!(appended.stats.series_created, 2);
        let again = RefBatch {
            known: vec![(a, Sample { t: 20, v: 3.0 }), (b, Sample { t: 20, v: 4.0 })],
            new: vec![new_series("a", 30, 5.0)],
        };
        let appended = s.append_refs(again).unwrap();
        assert_eq!(
            appended.new_refs,
            [Some(a)],
            "known labels resolve to the same series"
        );
        assert_eq!(appended.stats.series_created, 0);
        s.close().unwrap();
        drop(s);
        let s = open(dir.path());
        assert_eq!(values(&s, "a"), [(10, 1.0), (20, 3.0), (30, 5.0)]);
        assert_eq!(values(&s, "b"), [(10, 2.0), (20, 4.0)]);
    }

    /// Appends series `a` with one sample at t=10 and returns its reference.
    fn append_first_series(s: &Storage) -> SeriesRef {
        let new = vec![new_series("a", 10, 1.0)];
        let batch = RefBatch {
            known: Vec::new(),
            new,
        };
        s.append_refs(batch).unwrap().new_refs[0].unwrap()
    }

    #[test]
    fn a_batch_with_a_bad_reference_sample_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let a = append_first_series(&s);
        let out_of_order = RefBatch {
            known: vec![(a, Sample { t: 5, v: 2.0 })],
            new: vec![new_series("b", 10, 1.0)],
        };
        let err = s.append_refs(out_of_order).unwrap_err();
        assert_eq!(
            err.to_string(),
            "out of order sample for series a{job=\"j\"} at timestamp 5"
        );
        let unknown = RefBatch {
            known: vec![(a + 100, Sample { t: 20, v: 2.0 })],
            new: Vec::new(),
        };
        assert!(s.append_refs(unknown).is_err());
        assert!(values(&s, "b").is_empty());
        assert_eq!(values(&s, "a"), [(10, 1.0)]);
        assert_eq!(s.ref_epoch(), 0);
    }

    #[test]
    fn ordered_batches_refuse_in_order_and_only_in_their_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let a = append_first_series(&s);
        let b = Labels::from_pairs([("__name__", "b"), ("job", "j")]);
        let batch = |a_t: i64, b_t: i64| OrderedBatch {
            samples: vec![Sample { t: b_t, v: 1.0 }, Sample { t: a_t, v: 2.0 }],
            series: vec![(BatchSeries::New(b.clone()), 1), (BatchSeries::Known(a), 1)],
        };
        let both_bad = batch(5, i64::MAX / 2);
        let err = s.append_ordered(both_bad, s.ref_epoch()).unwrap_err();
        assert!(
            matches!(err, AppendError::TooFarInFuture { ref labels, .. } if labels == "b{job=\"j\"}"),
            "the first series in order is named: {err}"
        );
        let err = s.append_ordered(batch(5, 20), s.ref_epoch()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "out of order sample for series a{job=\"j\"} at timestamp 5"
        );
        assert_eq!(s.append_ordered(batch(20, 20), s.ref_epoch() + 1), Ok(None));
        assert!(values(&s, "b").is_empty(), "refused batches store nothing");
        let stats = s.append_ordered(batch(20, 20), s.ref_epoch()).unwrap().unwrap();
        assert_eq!((stats.samples_appended, stats.series_created), (2, 1));
        assert_eq!(values(&s, "a"), [(10, 1.0), (20, 2.0)]);
        assert_eq!(values(&s, "b"), [(20, 1.0)]);
        let lookup = s.lookup_canonical();
        assert_eq!(lookup.epoch(), 0);
        assert!(lookup.get(&encode_labels(&b)).is_some());
        assert_eq!(
            lookup.get(&encode_labels(&Labels::from_pairs([("__name__", "c")]))),
            None
        );
    }
}
