//! The YAML configuration file: its shape, defaults and validation.
//!
//! Owns reading one file, parsing it (shaped like Prometheus's `prometheus.yml` where
//! the concept is the same), filling in inherited defaults and checking it, with every
//! problem reported as `file:line:column: message`. It must not act on the
//! configuration: no I/O beyond reading the file, no sockets, no storage.

mod units;

pub use units::{ByteSize, PromDuration, UnitError};
