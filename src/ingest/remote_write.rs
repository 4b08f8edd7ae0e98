//! Prometheus remote-write 1.0: snappy-compressed `prometheus.WriteRequest`.
//!
//! Owns the protobuf messages of the 1.0 protocol, the decoder that turns a
//! request body into storage batches (with its limits and errors) and the
//! encoder used by tests, benches and the remote-write sender. It must not
//! touch storage internals or HTTP routing: callers map [`WriteError::status`]
//! to a response.
//!
//! Semantics, compared with the receiver of Prometheus 2.42
//! (`--web.enable-remote-write-receiver`):
//! - The body is a snappy *block* (not the framed stream format). Corrupt
//!   snappy is a 400 starting `snappy: corrupt input`, as in Prometheus
//!   (golang/snappy's text); bad protobuf is a 400 starting `proto:`, as most
//!   of gogo-protobuf's errors do.
//! - Prometheus 2.42 accepts invalid label names and series without a metric
//!   name, and its TSDB turns duplicate names into a 500. Here every series
//!   must pass [`Labels::validate`], or the whole request is refused with a
//!   400 naming the series.
//! - Empty label values are dropped, as Prometheus does.
//! - Exemplars are skipped unparsed: Prometheus's exemplar storage is off by
//!   default and its receiver never fails a request for them. Metadata is
//!   skipped, as 2.42 ignores it. Groups (deprecated wire types 3 and 4) are
//!   refused as bad protobuf.
//! - Native histograms are refused: Prometheus 2.42 without
//!   `--enable-feature=native-histograms` rolls the request back with a 500
//!   (which senders retry forever). Sightline stores no histograms, so the
//!   request is refused with a 400 naming the series, rather than storing its
//!   float samples and silently losing the histograms.
//! - A series may appear several times in one request (Prometheus senders put
//!   each sample in its own `TimeSeries`); the batch keeps request order and
//!   leaves out entries without float samples.
//! - The server decodes with [`decode_resolving`]: each entry's labels are
//!   checked, written in canonical form into one scratch buffer and looked up
//!   in the storage; only series it does not hold get a [`Labels`] value.

use prost::Message;

use super::wire::{self, Reader, WireError};
use crate::storage::labels::{encode_sorted_pairs, validate_sorted_pairs};
use crate::storage::{BatchSeries, LabelError, Labels, OrderedBatch, Sample, SeriesRef, SeriesSamples};

/// The protobuf messages of remote-write 1.0 (`prompb/remote.proto` and
/// `prompb/types.proto`), field numbers as in Prometheus.
pub mod proto {
    /// `prometheus.WriteRequest`. Field 2 is reserved by the protocol.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
        #[prost(message, repeated, tag = "3")]
        pub metadata: Vec<MetricMetadata>,
    }

    /// `prometheus.TimeSeries`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub exemplars: Vec<Exemplar>,
        #[prost(message, repeated, tag = "4")]
        pub histograms: Vec<Histogram>,
    }

    /// `prometheus.Label`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `prometheus.Sample`: timestamp in milliseconds.
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    /// `prometheus.Exemplar`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(double, tag = "2")]
        pub value: f64,
        #[prost(int64, tag = "3")]
        pub timestamp: i64,
    }

    /// `prometheus.Histogram` (a native histogram sample).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(oneof = "histogram::Count", tags = "1, 2")]
        pub count: Option<histogram::Count>,
        #[prost(double, tag = "3")]
        pub sum: f64,
        #[prost(sint32, tag = "4")]
        pub schema: i32,
        #[prost(double, tag = "5")]
        pub zero_threshold: f64,
        #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
        pub zero_count: Option<histogram::ZeroCount>,
        #[prost(message, repeated, tag = "8")]
        pub negative_spans: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "9")]
        pub negative_deltas: Vec<i64>,
        #[prost(double, repeated, tag = "10")]
        pub negative_counts: Vec<f64>,
        #[prost(message, repeated, tag = "11")]
        pub positive_spans: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "12")]
        pub positive_deltas: Vec<i64>,
        #[prost(double, repeated, tag = "13")]
        pub positive_counts: Vec<f64>,
        #[prost(enumeration = "histogram::ResetHint", tag = "14")]
        pub reset_hint: i32,
        #[prost(int64, tag = "15")]
        pub timestamp: i64,
    }

    /// Oneofs and enums of [`Histogram`].
    pub mod histogram {
        #[derive(Clone, Copy, PartialEq, prost::Oneof)]
        pub enum Count {
            #[prost(uint64, tag = "1")]
            CountInt(u64),
            #[prost(double, tag = "2")]
            CountFloat(f64),
        }

        #[derive(Clone, Copy, PartialEq, prost::Oneof)]
        pub enum ZeroCount {
            #[prost(uint64, tag = "6")]
            ZeroCountInt(u64),
            #[prost(double, tag = "7")]
            ZeroCountFloat(f64),
        }

        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum ResetHint {
            Unknown = 0,
            Yes = 1,
            No = 2,
            Gauge = 3,
        }
    }

    /// `prometheus.BucketSpan`.
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct BucketSpan {
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }

    /// `prometheus.MetricMetadata`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricMetadata {
        #[prost(enumeration = "MetricType", tag = "1")]
        pub r#type: i32,
        #[prost(string, tag = "2")]
        pub metric_family_name: String,
        #[prost(string, tag = "4")]
        pub help: String,
        #[prost(string, tag = "5")]
        pub unit: String,
    }

    /// `prometheus.MetricMetadata.MetricType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        Unknown = 0,
        Counter = 1,
        Gauge = 2,
        Histogram = 3,
        Gaugehistogram = 4,
        Summary = 5,
        Info = 6,
        Stateset = 7,
    }
}

/// Per-request limits. Sizes are in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimits {
    /// Largest decompressed protobuf accepted; checked against the snappy
    /// header before anything is allocated.
    pub max_decompressed_bytes: usize,
    /// Most `TimeSeries` entries in one request.
    pub max_series: usize,
    /// Most float samples in one request, over all series.
    pub max_samples: usize,
    /// Most labels on one series, `__name__` included.
    pub max_labels_per_series: usize,
    pub max_label_name_bytes: usize,
    pub max_label_value_bytes: usize,
}

impl Default for WriteLimits {
    /// Generous for any Prometheus or vmagent sender (they send a few thousand
    /// samples per request) while bounding one request's memory.
    fn default() -> Self {
        WriteLimits {
            max_decompressed_bytes: 32 << 20,
            max_series: 100_000,
            max_samples: 1_000_000,
            max_labels_per_series: 64,
            max_label_name_bytes: 1024,
            max_label_value_bytes: 16 * 1024,
        }
    }
}

impl WriteLimits {
    /// The largest snappy body a conforming encoder produces for
    /// `max_decompressed_bytes`: a sensible limit for the HTTP body.
    pub fn max_compressed_bytes(&self) -> usize {
        snap::raw::max_compress_len(self.max_decompressed_bytes)
    }
}

/// Why a remote-write request was refused. A refused request stores nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// The body is not a snappy block; the text is the decoder's
    /// (`snappy: corrupt input ...`, as Prometheus answers).
    #[error("{0}")]
    Snappy(String),
    #[error("decompressed request is {size} bytes, over the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    /// The decompressed body is not a `prometheus.WriteRequest`.
    #[error("proto: {0}")]
    Proto(String),
    #[error("request has {series} series, over the limit of {max}")]
    TooManySeries { series: usize, max: usize },
    #[error("request has more than {max} samples")]
    TooManySamples { max: usize },
    #[error("series {index} ({series}) has {labels} labels, over the limit of {max}")]
    TooManyLabels {
        index: usize,
        series: String,
        labels: usize,
        max: usize,
    },
    #[error("series {index} ({series}): label name of {size} bytes is over the limit of {max} bytes")]
    LabelNameTooLong {
        index: usize,
        series: String,
        size: usize,
        max: usize,
    },
    #[error(
        "series {index} ({series}): value of label {label:?} is {size} bytes, over the limit of {max} bytes"
    )]
    LabelValueTooLong {
        index: usize,
        series: String,
        label: String,
        size: usize,
        max: usize,
    },
    #[error("series {index} ({series}): {source}")]
    InvalidLabels {
        index: usize,
        series: String,
        source: LabelError,
    },
    #[error(
        "series {index} ({series}) has {count} native histogram samples; native histograms are not supported"
    )]
    Histograms {
        index: usize,
        series: String,
        count: usize,
    },
}

impl WriteError {
    /// The HTTP status to answer with: 413 when the request is too large,
    /// 400 for anything else (the sender must not retry either).
    pub fn status(&self) -> u16 {
        match self {
            WriteError::TooLarge { .. }
            | WriteError::TooManySeries { .. }
            | WriteError::TooManySamples { .. } => 413,
            _ => 400,
        }
    }

    /// Short reason used as a metric label for refused requests.
    pub fn reason(&self) -> &'static str {
        match self {
            WriteError::Snappy(_) => "snappy",
            WriteError::Proto(_) => "proto",
            WriteError::TooLarge { .. }
            | WriteError::TooManySeries { .. }
            | WriteError::TooManySamples { .. } => "too_large",
            WriteError::TooManyLabels { .. } => "too_many_labels",
            WriteError::LabelNameTooLong { .. } | WriteError::LabelValueTooLong { .. } => "label_too_long",
            WriteError::InvalidLabels { .. } => "invalid_labels",
            WriteError::Histograms { .. } => "native_histograms",
        }
    }
}

/// Decodes a remote-write 1.0 body (snappy block of a `WriteRequest`) into
/// one batch entry per `TimeSeries` that carries float samples.
pub fn decode_write_request(body: &[u8], limits: &WriteLimits) -> Result<Vec<SeriesSamples>, WriteError> {
    let mut out = Vec::new();
    decode_each(body, limits, |entries, key, samples| {
        out.reserve(entries);
        out.push(SeriesSamples {
            labels: canonical_labels(key)?,
            samples: samples.to_vec(),
        });
        Ok(())
    })?;
    Ok(out)
}

/// [`decode_write_request`] for the storage's ordered path: `resolve` is
/// given the canonical label bytes ([`Labels::encode`]) of each entry, in
/// order, and answers the reference of a series the storage already holds
/// (`Storage::lookup_canonical`). Only the others get a [`Labels`] value, so
/// a known series costs no allocation.
///
/// Every entry passes the same checks first, known or not, so a request is
/// refused exactly as [`decode_write_request`] refuses it; and a reference
/// only stands for bytes equal to a stored series' canonical bytes, which
/// were validated when that series was created.
pub fn decode_resolving(
    body: &[u8],
    limits: &WriteLimits,
    mut resolve: impl FnMut(&[u8]) -> Option<SeriesRef>,
) -> Result<OrderedBatch, WriteError> {
    let mut batch = OrderedBatch::default();
    decode_each(body, limits, |entries, key, samples| {
        // Senders put one sample in each entry: sized once for that.
        batch.series.reserve(entries);
        batch.samples.reserve(entries.max(samples.len()));
        let series = match resolve(key) {
            Some(known) => BatchSeries::Known(known),
            None => BatchSeries::New(canonical_labels(key)?),
        };
        batch.series.push((series, samples.len()));
        batch.samples.extend_from_slice(samples);
        Ok(())
    })?;
    Ok(batch)
}

/// Reads a request in place (not through [`proto::WriteRequest`]), checks
/// every entry as remote-write 1.0 requires, and hands each entry with
/// float samples to `each` as its canonical label bytes and samples, in
/// order, with the number of entries still to come (itself included), so
/// that `each` can reserve room (`Vec::reserve` of that many is a no-op once
/// done). Exemplars, histograms and metadata are skipped unparsed.
fn decode_each(
    body: &[u8],
    limits: &WriteLimits,
    mut each: impl FnMut(usize, &[u8], &[Sample]) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    let raw = decompress(body, limits.max_decompressed_bytes)?;
    let series = count_series(&raw).map_err(|e| proto_error("WriteRequest", e))?;
    if series > limits.max_series {
        return Err(WriteError::TooManySeries {
            series,
            max: limits.max_series,
        });
    }
    let mut scratch = Scratch::default();
    let mut key = Vec::with_capacity(256);
    let mut samples = 0;
    for (index, ts) in timeseries(&raw).enumerate() {
        let ts = ts.map_err(|e| proto_error("WriteRequest", e))?;
        parse_series(ts, &mut scratch).map_err(|(msg, e)| proto_error(msg, e))?;
        samples += scratch.samples.len();
        if samples > limits.max_samples {
            return Err(WriteError::TooManySamples {
                max: limits.max_samples,
            });
        }
        check_series(index, &mut scratch, limits)?;
        if !scratch.samples.is_empty() {
            key.clear();
            encode_sorted_pairs(&scratch.labels, &mut key);
            each(series - index, &key, &scratch.samples)?;
        }
    }
    Ok(())
}

/// The [`Labels`] of canonical bytes that [`decode_each`] wrote.
fn canonical_labels(mut key: &[u8]) -> Result<Labels, WriteError> {
    Labels::decode(&mut key)
        .ok_or_else(|| WriteError::Proto("labels did not survive their canonical encoding".into()))
}

fn proto_error(message: &str, e: WireError) -> WriteError {
    WriteError::Proto(format!("{message}: {e}"))
}

/// Field 1 of a `WriteRequest`, with the other fields skipped.
fn timeseries(raw: &[u8]) -> impl Iterator<Item = Result<&[u8], WireError>> {
    let mut r = Reader::new(raw);
    std::iter::from_fn(move || loop {
        match r.key() {
            Ok(None) => return None,
            Ok(Some((1, w))) => return Some(wire::expect(1, w, wire::LEN).and_then(|_| r.bytes())),
            Ok(Some((_, w))) => {
                if let Err(e) = r.skip(w) {
                    return Some(Err(e));
                }
            }
            Err(e) => return Some(Err(e)),
        }
    })
}

fn count_series(raw: &[u8]) -> Result<usize, WireError> {
    timeseries(raw).try_fold(0, |n, ts| ts.map(|_| n + 1))
}

/// One `TimeSeries` as read, borrowing from the request. Reused between
/// series so that reading allocates nothing.
#[derive(Default)]
struct Scratch<'a> {
    labels: Vec<(&'a str, &'a str)>,
    samples: Vec<Sample>,
    histograms: usize,
}

type ParseError = (&'static str, WireError);

fn parse_series<'a>(buf: &'a [u8], s: &mut Scratch<'a>) -> Result<(), ParseError> {
    s.labels.clear();
    s.samples.clear();
    s.histograms = 0;
    let mut r = Reader::new(buf);
    let ctx = |e| ("TimeSeries", e);
    while let Some((field, w)) = r.key().map_err(ctx)? {
        match field {
            1..=4 => {
                wire::expect(field, w, wire::LEN).map_err(ctx)?;
                let bytes = r.bytes().map_err(ctx)?;
                match field {
                    1 => s.labels.push(parse_label(bytes).map_err(|e| ("Label", e))?),
                    2 => s.samples.push(parse_sample(bytes).map_err(|e| ("Sample", e))?),
                    4 => s.histograms += 1,
                    _ => {}
                }
            }
            _ => r.skip(w).map_err(ctx)?,
        }
    }
    Ok(())
}

fn parse_label(buf: &[u8]) -> Result<(&str, &str), WireError> {
    let (mut name, mut value) = ("", "");
    let mut r = Reader::new(buf);
    while let Some((field, w)) = r.key()? {
        match field {
            1 | 2 => {
                wire::expect(field, w, wire::LEN)?;
                *(if field == 1 { &mut name } else { &mut value }) = r.str()?;
            }
            _ => r.skip(w)?,
        }
    }
    Ok((name, value))
}

fn parse_sample(buf: &[u8]) -> Result<Sample, WireError> {
    let mut sample = Sample { t: 0, v: 0.0 };
    let mut r = Reader::new(buf);
    while let Some((field, w)) = r.key()? {
        match field {
            1 => {
                wire::expect(1, w, wire::FIXED64)?;
                sample.v = f64::from_bits(r.fixed64()?);
            }
            2 => {
                wire::expect(2, w, wire::VARINT)?;
                sample.t = r.varint()? as i64;
            }
            _ => r.skip(w)?,
        }
    }
    Ok(sample)
}

/// Checks one parsed series as remote-write 1.0 requires, leaving its labels
/// sorted and without empty values (the order of [`Labels`]).
fn check_series(index: usize, s: &mut Scratch<'_>, limits: &WriteLimits) -> Result<(), WriteError> {
    check_labels(index, &s.labels, limits)?;
    if s.histograms > 0 {
        return Err(WriteError::Histograms {
            index,
            series: describe(s.labels.iter().copied()),
            count: s.histograms,
        });
    }
    s.labels.retain(|(_, value)| !value.is_empty());
    s.labels.sort_unstable();
    validate_sorted_pairs(&s.labels).map_err(|source| WriteError::InvalidLabels {
        index,
        series: describe(s.labels.iter().copied()),
        source,
    })
}

/// Encodes `series` as a remote-write 1.0 body (protobuf, then snappy block).
///
/// # Panics
/// If the protobuf exceeds snappy's block limit of 4 GiB.
pub fn encode_write_request(series: &[SeriesSamples]) -> Vec<u8> {
    let req = proto::WriteRequest {
        timeseries: series.iter().map(to_proto).collect(),
        metadata: Vec::new(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("remote-write request over snappy's 4 GiB block limit")
}

fn to_proto(s: &SeriesSamples) -> proto::TimeSeries {
    proto::TimeSeries {
        labels: s
            .labels
            .iter()
            .map(|l| proto::Label {
                name: l.name.clone(),
                value: l.value.clone(),
            })
            .collect(),
        samples: s
            .samples
            .iter()
            .map(|s| proto::Sample {
                value: s.v,
                timestamp: s.t,
            })
            .collect(),
        exemplars: Vec::new(),
        histograms: Vec::new(),
    }
}

/// Decompresses a snappy block, refusing before allocation when its header
/// announces more than `max` bytes.
fn decompress(body: &[u8], max: usize) -> Result<Vec<u8>, WriteError> {
    let snappy = |e: snap::Error| WriteError::Snappy(e.to_string());
    let size = snap::raw::decompress_len(body).map_err(snappy)?;
    if size > max {
        return Err(WriteError::TooLarge { size, max });
    }
    let mut buf = vec![0; size];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut buf)
        .map_err(snappy)?;
    buf.truncate(n);
    Ok(buf)
}

fn check_labels(index: usize, labels: &[(&str, &str)], limits: &WriteLimits) -> Result<(), WriteError> {
    if labels.len() > limits.max_labels_per_series {
        return Err(WriteError::TooManyLabels {
            index,
            series: describe(labels.iter().copied()),
            labels: labels.len(),
            max: limits.max_labels_per_series,
        });
    }
    for &(name, value) in labels {
        if name.len() > limits.max_label_name_bytes {
            return Err(WriteError::LabelNameTooLong {
                index,
                series: describe(labels.iter().copied()),
                size: name.len(),
                max: limits.max_label_name_bytes,
            });
        }
        if value.len() > limits.max_label_value_bytes {
            return Err(WriteError::LabelValueTooLong {
                index,
                series: describe(labels.iter().copied()),
                label: name.to_owned(),
                size: value.len(),
                max: limits.max_label_value_bytes,
            });
        }
    }
    Ok(())
}

/// Names a series in an error without echoing unbounded input: its labels
/// as `{name="value", ...}`, cut after [`DESCRIBE_MAX`] bytes.
fn describe<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if out.len() > DESCRIBE_MAX {
            out.push_str(", ...");
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!("{name}={value:?}"));
    }
    if out.len() > DESCRIBE_MAX {
        let mut end = DESCRIBE_MAX;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
    out.push('}');
    out
}

const DESCRIBE_MAX: usize = 256;
#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
        SeriesSamples {
            labels: Labels::from_pairs(pairs.iter().copied()),
            samples: samples.iter().map(|&(t, v)| Sample { t, v }).collect(),
        }
    }

    fn proto_series(pairs: &[(&str, &str)]) -> proto::TimeSeries {
        proto::TimeSeries {
            labels: pairs
                .iter()
                .map(|&(name, value)| proto::Label {
                    name: name.into(),
                    value: value.into(),
                })
                .collect(),
            samples: vec![proto::Sample {
                value: 1.0,
                timestamp: 1000,
            }],
            exemplars: Vec::new(),
            histograms: Vec::new(),
        }
    }

    fn body(timeseries: Vec<proto::TimeSeries>) -> Vec<u8> {
        let req = proto::WriteRequest {
            timeseries,
            metadata: Vec::new(),
        };
        snappy(&req.encode_to_vec())
    }

    fn snappy(raw: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(raw).unwrap()
    }

    fn decode(body: &[u8]) -> Result<Vec<SeriesSamples>, WriteError> {
        decode_write_request(body, &WriteLimits::default())
    }

    fn decode_one(pairs: &[(&str, &str)]) -> Result<Vec<SeriesSamples>, WriteError> {
        decode(&body(vec![proto_series(pairs)]))
    }

    #[test]
    fn round_trip() {
        let batch = vec![
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("code", "200"),
                ],
                &[(1000, 1.0), (16000, 2.5), (31000, crate::storage::stale_nan())],
            ),
            series(&[("__name__", "up"), ("instance", "ünï:9090")], &[(-5, f64::MAX)]),
        ];
        assert_eq!(decode(&encode_write_request(&batch)).unwrap(), batch);
    }

    #[test]
    fn empty_request_is_an_empty_batch() {
        assert_eq!(decode(&encode_write_request(&[])).unwrap(), Vec::new());
    }

    #[test]
    fn series_without_samples_are_left_out_and_empty_values_dropped() {
        let mut empty = proto_series(&[("__name__", "a")]);
        empty.samples.clear();
        let got = decode(&body(vec![empty, proto_series(&[("__name__", "b"), ("x", "")])])).unwrap();
        assert_eq!(got, vec![series(&[("__name__", "b")], &[(1000, 1.0)])]);
    }

    #[test]
    fn exemplars_and_metadata_are_skipped() {
        let mut ts = proto_series(&[("__name__", "a")]);
        ts.exemplars.push(proto::Exemplar {
            labels: vec![proto::Label {
                name: "trace_id".into(),
                value: "abc".into(),
            }],
            value: 2.0,
            timestamp: 1000,
        });
        let req = proto::WriteRequest {
            timeseries: vec![ts],
            metadata: vec![proto::MetricMetadata {
                r#type: proto::MetricType::Counter as i32,
                metric_family_name: "a".into(),
                help: "help".into(),
                unit: String::new(),
            }],
        };
        let got = decode(&snappy(&req.encode_to_vec())).unwrap();
        assert_eq!(got, vec![series(&[("__name__", "a")], &[(1000, 1.0)])]);
    }

    #[test]
    fn native_histograms_refuse_the_request() {
        let mut ts = proto_series(&[("__name__", "latency")]);
        ts.histograms.push(proto::Histogram {
            count: Some(proto::histogram::Count::CountInt(3)),
            timestamp: 1000,
            ..Default::default()
        });
        let err = decode(&body(vec![proto_series(&[("__name__", "a")]), ts])).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(
            err.to_string(),
            r#"series 1 ({__name__="latency"}) has 1 native histogram samples; native histograms are not supported"#
        );
    }

    #[test]
    fn non_snappy_body() {
        let err = decode(b"{\"not\": \"snappy\"}").unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().starts_with("snappy: corrupt input"), "{err}");
    }

    #[test]
    fn empty_body() {
        let err = decode(b"").unwrap_err();
        assert_eq!(err, WriteError::Snappy("snappy: corrupt input (empty)".into()));
    }

    #[test]
    fn truncated_snappy() {
        let full = body(vec![proto_series(&[("__name__", "a"), ("job", "api")])]);
        let err = decode(&full[..full.len() - 3]).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().starts_with("snappy: corrupt input"), "{err}");
    }

    #[test]
    fn bad_protobuf() {
        // Field 1 (timeseries) announces 100 bytes; 2 follow.
        let err = decode(&snappy(&[0x0a, 100, 0x0a, 0x00])).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(matches!(err, WriteError::Proto(_)), "{err:?}");
        assert!(err.to_string().starts_with("proto: "), "{err}");
        // Field 1 with wire type varint.
        assert!(matches!(
            decode(&snappy(&[0x08, 0x01])),
            Err(WriteError::Proto(_))
        ));
    }

    #[test]
    fn invalid_utf8_label_is_bad_protobuf() {
        let raw = |v: u8| {
            let mut out = vec![0x0a, 15, 0x0a, 13, 0x0a, 8];
            out.extend_from_slice(b"__name__");
            out.extend_from_slice(&[0x12, 1, v]);
            out
        };
        assert_eq!(decode(&snappy(&raw(b'a'))), Ok(Vec::new()));
        assert!(matches!(decode(&snappy(&raw(0xff))), Err(WriteError::Proto(_))));
    }

    #[test]
    fn oversized_body_is_refused_before_allocation() {
        let big = body(vec![proto_series(&[("__name__", "a"), ("v", &"x".repeat(1000))])]);
        let limits = WriteLimits {
            max_decompressed_bytes: 100,
            ..WriteLimits::default()
        };
        let err = decode_write_request(&big, &limits).unwrap_err();
        assert_eq!(err.status(), 413);
        assert!(matches!(err, WriteError::TooLarge { max: 100, .. }), "{err:?}");
        // A header claiming 4 GiB - 1 bytes, with no data behind it.
        let claim = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert_eq!(decode(&claim).unwrap_err().status(), 413);
    }

    #[test]
    fn invalid_label_name() {
        let err = decode_one(&[("__name__", "a"), ("bad-name", "1")]).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(
            err.to_string(),
            r#"series 0 ({__name__="a", bad-name="1"}): invalid label name "bad-name""#
        );
    }

    #[test]
    fn duplicate_label_names() {
        let err = decode_one(&[("__name__", "a"), ("job", "x"), ("job", "y")]).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            matches!(&err, WriteError::InvalidLabels { source: LabelError::DuplicateName(n), .. } if n == "job"),
            "{err:?}"
        );
    }

    #[test]
    fn empty_or_invalid_metric_name() {
        let missing = decode_one(&[("job", "x")]).unwrap_err();
        assert!(matches!(
            missing,
            WriteError::InvalidLabels {
                source: LabelError::MissingMetricName,
                ..
            }
        ));
        let empty = decode_one(&[("__name__", ""), ("job", "x")]).unwrap_err();
        assert_eq!(empty.to_string(), r#"series 0 ({job="x"}): missing metric name"#);
        let invalid = decode_one(&[("__name__", "1up")]).unwrap_err();
        assert!(matches!(
            invalid,
            WriteError::InvalidLabels {
                source: LabelError::InvalidMetricName(_),
                ..
            }
        ));
    }

    #[test]
    fn too_many_labels() {
        let names: Vec<String> = (0..5).map(|i| format!("l{i}")).collect();
        let mut pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        pairs.push(("__name__", "a"));
        let limits = WriteLimits {
            max_labels_per_series: 5,
            ..WriteLimits::default()
        };
        let err = decode_write_request(&body(vec![proto_series(&pairs)]), &limits).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(matches!(
            err,
            WriteError::TooManyLabels {
                index: 0,
                labels: 6,
                max: 5,
                ..
            }
        ));
    }

    #[test]
    fn label_name_and_value_lengths() {
        let limits = WriteLimits {
            max_label_name_bytes: 8,
            max_label_value_bytes: 10,
            ..WriteLimits::default()
        };
        let long_name = body(vec![proto_series(&[("__name__", "a"), ("a_long_name", "v")])]);
        let err = decode_write_request(&long_name, &limits).unwrap_err();
        assert!(
            matches!(err, WriteError::LabelNameTooLong { size: 11, max: 8, .. }),
            "{err:?}"
        );
        let long_value = body(vec![proto_series(&[("__name__", "a"), ("job", "0123456789a")])]);
        let err = decode_write_request(&long_value, &limits).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.to_string().contains(r#"value of label "job" is 11 bytes"#),
            "{err}"
        );
    }

    #[test]
    fn series_and_sample_counts() {
        let three = body((0..3).map(|_| proto_series(&[("__name__", "a")])).collect());
        let limits = WriteLimits {
            max_series: 2,
            ..WriteLimits::default()
        };
        let err = decode_write_request(&three, &limits).unwrap_err();
        assert_eq!((err.status(), err.reason()), (413, "too_large"));
        let limits = WriteLimits {
            max_samples: 2,
            ..WriteLimits::default()
        };
        let err = decode_write_request(&three, &limits).unwrap_err();
        assert_eq!(err, WriteError::TooManySamples { max: 2 });
    }

    #[test]
    fn long_series_are_described_briefly() {
        let value = "v".repeat(1000);
        let err = decode_one(&[("__name__", "a"), ("b-", &value)]).unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
    }

    /// What decoding must give, computed from prost's decoding of the same
    /// bytes: the entries, or the index of the first series with bad labels.
    fn reference(raw: &[u8]) -> Option<Result<Vec<SeriesSamples>, usize>> {
        let req = proto::WriteRequest::decode(raw).ok()?;
        let mut out = Vec::new();
        for (index, ts) in req.timeseries.into_iter().enumerate() {
            let labels = Labels::from_pairs(ts.labels.into_iter().map(|l| (l.name, l.value)));
            if labels.validate().is_err() {
                return Some(Err(index));
            }
            let samples: Vec<Sample> = ts
                .samples
                .iter()
                .map(|s| Sample {
                    t: s.timestamp,
                    v: s.value,
                })
                .collect();
            if !samples.is_empty() {
                out.push(SeriesSamples { labels, samples });
            }
        }
        Some(Ok(out))
    }

    fn outcome(got: Result<Vec<SeriesSamples>, WriteError>) -> Result<Vec<SeriesSamples>, usize> {
        got.map_err(|e| match e {
            WriteError::InvalidLabels { index, .. } => index,
            other => panic!("unexpected error {other}"),
        })
    }

    fn arb_request() -> impl Strategy<Value = Vec<proto::TimeSeries>> {
        let name = prop::sample::select(vec![
            "__name__", "job", "instance", "le", "a_b", "bad-name", "ünï",
        ]);
        let value = prop::sample::select(vec!["", "up", "api", "1x", "çödé", "http_requests_total"]);
        let label = (name, value).prop_map(|(name, value)| proto::Label {
            name: name.into(),
            value: value.into(),
        });
        let sample =
            (any::<i64>(), any::<f64>()).prop_map(|(timestamp, value)| proto::Sample { value, timestamp });
        let series = (
            prop::collection::vec(label, 0..5),
            prop::collection::vec(sample, 0..4),
        )
            .prop_map(|(labels, samples)| proto::TimeSeries {
                labels,
                samples,
                exemplars: Vec::new(),
                histograms: Vec::new(),
            });
        prop::collection::vec(series, 0..6)
    }

    proptest! {
        #[test]
        fn agrees_with_prost(timeseries in arb_request()) {
            let raw = proto::WriteRequest { timeseries, metadata: Vec::new() }.encode_to_vec();
            let want = reference(&raw).unwrap();
            prop_assert_eq!(outcome(decode(&snappy(&raw))), want);
        }

        #[test]
        fn resolving_refuses_and_orders_as_the_label_decoder(timeseries in arb_request(), known in any::<u32>()) {
            let body = snappy(&proto::WriteRequest { timeseries, metadata: Vec::new() }.encode_to_vec());
            let by_labels = decode(&body);
            // A resolver that claims every series refuses nothing more or less.
            let all_known = decode_resolving(&body, &WriteLimits::default(), |_| Some(known));
            let none_known = decode_resolving(&body, &WriteLimits::default(), |_| None);
            match by_labels {
                Err(e) => {
                    prop_assert_eq!(all_known, Err(e.clone()));
                    prop_assert_eq!(none_known, Err(e));
                }
                Ok(series) => {
                    let all_known = all_known.unwrap();
                    let none_known = none_known.unwrap();
                    let samples: Vec<Sample> = series.iter().flat_map(|s| s.samples.clone()).collect();
                    prop_assert_eq!(&all_known.samples, &samples);
                    prop_assert_eq!(&none_known.samples, &samples);
                    let counts: Vec<usize> = series.iter().map(|s| s.samples.len()).collect();
                    let new: Vec<(BatchSeries, usize)> =
                        series.into_iter().zip(&counts).map(|(s, &n)| (BatchSeries::New(s.labels), n)).collect();
                    prop_assert_eq!(none_known.series, new);
                    let known: Vec<(BatchSeries, usize)> = counts.iter().map(|&n| (BatchSeries::Known(known), n)).collect();
                    prop_assert_eq!(all_known.series, known);
                }
            }
        }

        #[test]
        fn corrupted_protobuf_never_panics(timeseries in arb_request(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
            let mut raw = proto::WriteRequest { timeseries, metadata: Vec::new() }.encode_to_vec();
            if raw.is_empty() {
                return Ok(());
            }
            for (at, byte) in flips {
                let i = at.index(raw.len());
                raw[i] = byte;
            }
            let got = decode(&snappy(&raw));
            if let (Ok(got), Some(want)) = (&got, reference(&raw)) {
                prop_assert_eq!(Ok(got.clone()), want);
            }
        }
    }
}
