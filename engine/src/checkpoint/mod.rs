//! Checkpoints: aligned epoch snapshots for exactly-once recovery (Flink's asynchronous
//! barrier snapshotting). See `docs/checkpoints.md` for the whole picture.
//!
//! ```text
//!  coordinator ──trigger e──▶ sources take their offset, emit Barrier(e) in-band
//!      ▲                          │ (merges and exchanges align: inputs that delivered e
//!      │                          ▼  are held until every input has)
//!      │                     stateful operators copy their state at the barrier;
//!      │                     the shard writes its files asynchronously (snapshot writer: io_uring)
//!      └──────ack(e)──────── and acknowledges e
//!  all shards acked ─▶ manifest of e written and renamed into place ─▶ sinks publish e
//! ```
//!
//! This module holds the pure decisions ([`protocol`]), the state codec ([`StateData`]),
//! the snapshot file and manifest formats, the checkpoint directory, and the registry
//! through which user functions expose their state handles. The runtime does the I/O and
//! the threads.

pub(crate) mod chain;
mod codec;
pub(crate) mod crc;
pub(crate) mod format;
pub(crate) mod manifest;
pub(crate) mod operator_state;
pub(crate) mod protocol;
pub(crate) mod registry;
pub(crate) mod savepoint;
pub(crate) mod shared;
pub(crate) mod store;
pub(crate) mod types;

pub use codec::{decode_len, DecodeError, StateData};
pub(crate) use crc::crc32;
pub use format::StateWriter;
pub use registry::{CheckpointedState, StateRegistry};
pub use shared::{
    CheckpointConfig, CompletedCheckpoint, RestartStrategy, RestoreFrom, DEFAULT_SNAPSHOT_STEP,
};
