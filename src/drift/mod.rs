//! Data drift: the statistics, their streaming state, method presets, test
//! suites and reports.
//!
//! A pure library: no HTTP, no storage, no clocks, no files (the CSV reader
//! takes any `Read`). `ml` owns references, windows and schedules and turns
//! results into series; `cli` runs it on two CSV files.
//!
//! Flow: values → `ColumnState` (reference or window, `state.rs`) →
//! `ReferenceColumn::finish` fixes the reference → `evaluate_dataset` picks
//! each column's method by `Preset` and decides (`evaluate.rs`) →
//! `suite.rs` checks conditions → `report.rs` / `html.rs` present it.
//!
//! The statistics are hand-written because they are the product's core and
//! must equal SciPy's and Evidently's to ~1e-9: no Rust crate implements the
//! exact two-sample KS distribution or Evidently's binning rules. `statrs`
//! supplies the χ² and normal distributions.

pub mod column;
pub mod evaluate;
pub mod html;
pub mod kolmogorov;
pub mod ks;
pub mod profile;
pub mod report;
pub mod state;
pub mod stattests;
pub mod suite;
pub mod table;

pub use column::{ColumnType, FeatureValue};
pub use evaluate::{
    evaluate_column, evaluate_dataset, ColumnDrift, DatasetDrift, Method, MethodScore, Preset,
};
pub use profile::{CurrentWindow, ReferenceProfile};
pub use state::{ColumnState, ReferenceColumn, StateLimits};
