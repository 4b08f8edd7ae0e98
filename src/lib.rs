//! Sightline: one process that scrapes and stores metrics, answers PromQL,
//! evaluates rules, routes alerts and monitors ML models.
//!
//! Data flows one way: producers (`ingest`, `scrape`, `ml`, `rules`) append
//! to `storage`; consumers (`api`, `promql`, `rules`, `remote`) read from it;
//! alerts go `rules` → `notify` → `incidents` through the types in `alerts`.
//! See `docs/ARCHITECTURE.md`.

pub mod alerts;
pub mod api;
pub mod config;
pub mod dashboards;
pub mod drift;
pub mod exposition;
pub mod http_client;
pub mod incidents;
pub mod ingest;
pub mod ml;
pub mod notify;
pub mod promql;
pub mod relabel;
pub mod remote;
pub mod rules;
pub mod scrape;
pub mod server;
pub mod storage;
pub mod system;
pub mod ui;

#[cfg(test)]
mod test_support;
