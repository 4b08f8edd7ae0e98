//! Recording and alerting rules, as Prometheus runs them.
//!
//! Owns rule files (`file`, `keys`), alert templates (`template`), the two rule
//! kinds (`recording`, `alerting`), group evaluation (`group`), scheduling and
//! reloads (`manager`), the `/api/v1/rules` and `/api/v1/alerts` routes (`api`),
//! and the `check rules` / `test rules` commands (`check`, `unittest`).
//! Rules read through `storage::Queryable` via `promql::Engine`, write through
//! `storage::Appender`, and hand alerts to a `crate::alerts::AlertSink`; this
//! module must not route or deliver notifications (that is `notify`).

pub mod alerting;
pub mod api;
pub mod check;
pub mod eval;
pub mod file;
pub mod group;
mod keys;
pub mod manager;
pub mod memory;
pub mod recording;
pub mod template;
pub mod unittest;

pub use api::routes;
pub use manager::RuleManager;
