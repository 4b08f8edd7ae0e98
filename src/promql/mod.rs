//! PromQL evaluation over any [`Queryable`](crate::storage::Queryable).
//!
//! `promql-parser` provides the AST; this module evaluates it with the
//! semantics of Prometheus 3 (lookback and staleness, left-open ranges, `@`
//! and offsets, subqueries, delayed `__name__` removal). Range queries select
//! each series once and evaluate every step over the selected data. Nothing
//! here touches sled or HTTP.

mod aggregation;
mod binary;
mod engine;
mod error;
mod format;
mod functions;
mod hash;
mod raw_strings;
mod selector;
mod value;

pub use engine::{CancelToken, Engine, EngineOptions};
pub use error::PromqlError;
pub use format::write_go_f;
pub use raw_strings::parse;
pub use value::{QueryResult, Sample, Series, Steps, Value};

#[cfg(test)]
mod tests;
