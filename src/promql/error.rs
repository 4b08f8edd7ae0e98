//! Errors a query can end with, worded as Prometheus words them.
//!
//! Must not touch sled or HTTP; storage failures arrive as [`QueryError`].

use crate::storage::QueryError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromqlError {
    /// The query text did not parse.
    #[error("{0}")]
    Parse(String),
    /// The query is well-formed but cannot be evaluated as asked.
    #[error("{0}")]
    Execution(String),
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    #[error("query timed out in expression evaluation")]
    Timeout,
    #[error("query was canceled in expression evaluation")]
    Canceled,
    #[error("exceeded maximum resolution of {0} points per timeseries. Try decreasing the query resolution (?step=XX)")]
    TooManyPoints(usize),
    #[error("{0}")]
    Storage(String),
}

impl PromqlError {
    pub(crate) fn exec(text: impl Into<String>) -> Self {
        PromqlError::Execution(text.into())
    }
}

impl From<QueryError> for PromqlError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::TooManySamples(_) => PromqlError::TooManySamples,
            QueryError::Storage(s) => PromqlError::Storage(s),
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, PromqlError>;
