//! The TSDB: series index, head, chunk encoding, sled layout, WAL, retention.
//!
//! Owns every byte Sightline stores about samples. Everything that produces
//! numbers writes through [`Appender`]; everything that reads them goes through
//! [`Queryable`]. This module must not know about PromQL, HTTP or any producer:
//! it sees labels, timestamps (milliseconds since the epoch) and float values.
//!
//! The storage engine is hand-written because it is the product's core; sled
//! (chosen by the user) holds the persisted chunks and series in one database
//! (`sled/`, compressed) and other subsystems' durable state in another
//! (`aux/`, [`Storage::aux_tree`]).
//! See `docs/ARCHITECTURE.md` for the on-disk layout and the durability promise.

pub mod block;
pub mod chunk;
mod db;
mod head;
pub mod index;
pub mod labels;
mod layout;
mod maintain;
pub mod matcher;
pub mod pack;
mod pending;
mod read;
mod series_batch;
mod series_ref;
mod snapshot;
mod stats;
mod wal;

pub use db::{
    now_ms, sled_config, FsyncMode, NewSledLog, Storage, StorageCounters, StorageError, StorageOptions,
};
pub use maintain::{dir_size, CompactionReport, RetentionReport};
pub use series_ref::{
    BatchSeries, CanonicalLookup, OrderedBatch, RefAppended, RefAppender, RefBatch, SeriesRef,
};
pub use stats::TsdbStatus;

pub use labels::{Label, LabelError, Labels, METRIC_NAME};
pub use matcher::{MatchOp, Matcher};

/// Prometheus's staleness marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is Prometheus's staleness marker (not any other NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// The staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// One float sample: timestamp in milliseconds and value.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

impl PartialEq for Sample {
    /// Bit-exact comparison, so NaN payloads and stale markers compare as stored.
    fn eq(&self, other: &Self) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

/// Samples for one series inside an append batch, in timestamp order.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// A stored series with the samples selected from it, in timestamp order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// What one accepted batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendStats {
    pub samples_appended: usize,
    /// Samples identical (same timestamp, same value) to one already stored.
    pub samples_duplicate: usize,
    pub series_created: usize,
}

/// Why a batch was refused. A refused batch stores nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    #[error("invalid labels {labels}: {source}")]
    InvalidLabels { labels: String, source: LabelError },
    #[error("out of order sample for series {labels} at timestamp {t}")]
    OutOfOrder { labels: String, t: i64 },
    #[error("duplicate sample for timestamp {t} with a different value for series {labels}")]
    DuplicateSample { labels: String, t: i64 },
    #[error("out of bounds: sample for series {labels} at timestamp {t} is older than the retention period")]
    TooOld { labels: String, t: i64 },
    #[error("out of bounds: sample for series {labels} at timestamp {t} is too far in the future")]
    TooFarInFuture { labels: String, t: i64 },
    #[error("series limit of {limit} reached; series {labels} was not created")]
    SeriesLimit { labels: String, limit: usize },
    #[error("storage error: {0}")]
    Storage(String),
}

impl AppendError {
    /// True when the client sent something wrong (retrying will not help).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, AppendError::Storage(_))
    }

    /// Short reason used as a metric label for rejected samples.
    pub fn reason(&self) -> &'static str {
        match self {
            AppendError::InvalidLabels { .. } => "invalid_labels",
            AppendError::OutOfOrder { .. } => "out_of_order",
            AppendError::DuplicateSample { .. } => "duplicate",
            AppendError::TooOld { .. } => "too_old",
            AppendError::TooFarInFuture { .. } => "too_far_in_future",
            AppendError::SeriesLimit { .. } => "series_limit",
            AppendError::Storage(_) => "storage",
        }
    }
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("query would load more than {0} samples")]
    TooManySamples(usize),
    #[error("storage error: {0}")]
    Storage(String),
}

/// Limits a reader passes to [`Queryable::select`].
#[derive(Debug, Clone, Copy)]
pub struct SelectHints {
    /// Fail with [`QueryError::TooManySamples`] past this many samples.
    pub max_samples: usize,
}

impl Default for SelectHints {
    fn default() -> Self {
        SelectHints {
            max_samples: usize::MAX,
        }
    }
}

/// The one write path: a batch is stored whole or rejected whole.
pub trait Appender: Send + Sync {
    fn append(&self, batch: Vec<SeriesSamples>) -> Result<AppendStats, AppendError>;
}

/// Told about every accepted batch, for subsystems that forward samples
/// (the remote-write sender). Register with [`Storage::on_append`].
pub trait AppendListener: Send + Sync {
    /// Whether it wants batches now; checked before a batch is copied for it,
    /// so an inactive listener costs the append path nothing but this call.
    fn active(&self) -> bool;
    /// An accepted batch (duplicates of stored samples included), called in
    /// commit order while the head lock is held: only enqueue here.
    fn appended(&self, batch: &std::sync::Arc<Vec<SeriesSamples>>);
}

/// What [`Queryable::select_iter`] yields: one selected series at a time.
pub type SeriesIter<'a> = Box<dyn Iterator<Item = Result<Series, QueryError>> + 'a>;

/// The one read path. Time ranges are inclusive milliseconds `[mint, maxt]`.
pub trait Queryable: Send + Sync {
    /// Series matching all `matchers` with their samples in the range,
    /// sorted by labels. Series without samples in the range are left out.
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: SelectHints,
    ) -> Result<Vec<Series>, QueryError>;

    /// The series [`Queryable::select`] gives, one at a time in the same
    /// order, so that a reader reducing each series before taking the next
    /// never holds every selected sample at once. Ends with
    /// [`QueryError::TooManySamples`] once the series yielded pass
    /// `hints.max_samples`. The default collects [`Queryable::select`] first;
    /// [`Storage`] decodes each series' head data only when it is reached.
    fn select_iter(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: SelectHints,
    ) -> Result<SeriesIter<'_>, QueryError> {
        let all = self.select(matchers, mint, maxt, hints)?;
        Ok(Box::new(all.into_iter().map(Ok)))
    }

    /// Label sets of series matching all `matchers` that have data in the range.
    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, QueryError>;

    /// Sorted label names of matching series (all series when `matchers` is empty).
    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, QueryError>;

    /// Sorted values of label `name` over matching series.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, QueryError>;
}
#[cfg(test)]
mod db_tests;
