//! The crate's one error type.
//!
//! Variants are grouped by what the caller can do about them: fix the job or its
//! configuration, fix the input, retry, or report a bug.

use std::path::PathBuf;

/// An error returned by a user function (process functions, sinks, sources).
///
/// Anything that implements `std::error::Error` converts into it with `?`.
pub type UserError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong building or running a Spate job.
#[derive(Debug, thiserror::Error)]
pub enum SpateError {
    /// The job or environment is configured in a way that cannot run; fix the job.
    #[error("invalid job configuration: {0}")]
    Config(String),

    /// A record could not be parsed or is otherwise malformed.
    #[error("bad input in {source_name} at {position}: {message}")]
    BadInput {
        /// The source (file name, topic, …) the record came from.
        source_name: String,
        /// Where in the source: a line number, byte offset or sequence number.
        position: String,
        /// What is wrong with the record.
        message: String,
    },

    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A user function returned an error; the job failed because of it.
    #[error("operator '{operator}' failed on shard {shard}: {message}")]
    OperatorFailed {
        /// The operator's name (its kind and the line of user code that built it).
        operator: String,
        /// The shard the operator instance ran on.
        shard: usize,
        /// The error the function returned.
        message: String,
    },

    /// A user function (or an operator) panicked; the job failed because of it.
    #[error("operator '{operator}' panicked on shard {shard}: {message}")]
    OperatorPanicked {
        /// The operator's name (its kind and the line of user code that built it).
        operator: String,
        /// The shard the operator instance ran on.
        shard: usize,
        /// The panic payload, when it was a string.
        message: String,
    },

    /// Another shard of the same job failed first; this shard stopped because of it.
    /// The job's error names the shard that failed first instead of this one.
    #[error("shard {shard} stopped because another shard of the job failed")]
    PeerFailed {
        /// The shard that noticed.
        shard: usize,
    },

    /// The job was cancelled by its owner.
    #[error("the job was cancelled")]
    Cancelled,

    /// The runtime could not be started (threads, executors, io_uring).
    #[error("runtime error: {0}")]
    Runtime(String),

    /// An invariant of Spate itself was broken. This is a bug in Spate: please report it.
    #[error("internal error (a bug in Spate, please report it): {0}")]
    Internal(String),
}

impl SpateError {
    /// `true` for errors that only say that some other part of the job failed first.
    pub fn is_secondary(&self) -> bool {
        matches!(self, SpateError::PeerFailed { .. } | SpateError::Cancelled)
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SpateError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results in Spate.
pub type Result<T, E = SpateError> = std::result::Result<T, E>;
