//! Pushed data: turns wire formats that clients push at Sightline into
//! storage batches ([`crate::storage::SeriesSamples`], or an
//! [`crate::storage::OrderedBatch`] whose known series are given by
//! reference).
//!
//! Owns decoding, decompression and the per-request limits of each push
//! format. It must not touch storage internals (it only builds the values an
//! [`crate::storage::Appender`] takes, and asks a caller-supplied lookup for
//! series references) nor HTTP routing (the API layer reads the body, calls a
//! decoder here and maps its error to a status code).

pub mod remote_write;
mod wire;
