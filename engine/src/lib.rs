//! # Spate
//!
//! A stream processing engine with Flink's programming model — DataStream API, keyed state,
//! event time and watermarks, timers, side outputs — built as a single-node,
//! thread-per-core engine that can be embedded in a process.
//!
//! ## Layers
//!
//! ```text
//!   api/        Env, DataStream, KeyedStream, ConnectedStreams   (builds the plan)
//!     │
//!   graph/      logical nodes ──instantiate per shard──▶ wired pipelines
//!     │
//!   runtime/    one thread + glommio executor per shard, lifecycle, failure,
//!     │         the checkpoint coordinator and the shards' snapshot writers
//!   checkpoint/ epochs (pure protocol), snapshot files, manifests, restore, StateData
//!     │
//!   operators/  map, filter, process, keyed process, reduce, union, sinks, sources
//!   window/     window assigners, triggers, the window operator
//!   join/       interval and overlap joins
//!     │  uses
//!   exchange/   shard-to-shard SPSC channels, partitioners, back-pressure
//!   state/      keyed state handles, key groups, TTL
//!   time/       timestamps, watermarks, timers, clocks
//!   io/         built-in sources and sinks
//!   embedded/   running a job inside the caller's process: inputs, outputs, handle
//! ```
//!
//! A job is built once as a logical graph and instantiated once per **shard**. A shard is
//! one OS thread pinned to a core, running its own copy of every operator over the records
//! and key groups it owns; shards share nothing. Within a shard, records move through fused
//! operator chains in **batches** by direct calls; between shards (`key_by`, `rebalance`,
//! `broadcast`) through bounded single-producer/single-consumer channels that also carry
//! watermarks, barriers and end-of-stream in order.
//!
//! ## Example
//!
//! ```
//! use spate::prelude::*;
//!
//! let env = Env::new().shards(2);
//! let counts = env
//!     .from_iter(vec!["a b", "b c b"])
//!     .flat_map(|line: &str| line.split(' ').map(|w| (w.to_string(), 1u64)).collect::<Vec<_>>())
//!     .key_by(|(w, _)| w.clone())
//!     .sum(|(_, n)| n)
//!     .collect();
//! env.execute().unwrap();
//! // A keyed sum emits its running total after every record.
//! let mut finals = std::collections::BTreeMap::new();
//! for (w, n) in counts.take() {
//!     let e = finals.entry(w).or_insert(0);
//!     *e = n.max(*e);
//! }
//! assert_eq!(finals.into_iter().collect::<Vec<_>>(),
//!            vec![("a".into(), 1), ("b".into(), 3), ("c".into(), 1)]);
//! ```

pub mod api;
pub mod checkpoint;
pub mod embedded;
pub mod error;
pub(crate) mod exchange;
pub(crate) mod graph;
pub mod io;
pub mod join;
pub(crate) mod operators;
pub mod runtime;
pub mod state;
pub mod time;
pub mod window;

pub use api::*;
pub use error::{Result, SpateError, UserError};

/// The names most jobs need.
pub mod prelude {
    pub use crate::api::{BroadcastProcessFunction, BroadcastState, KeyedBroadcastProcessFunction};
    pub use crate::api::{
        CoProcessFunction, ConnectedStreams, DataStream, Env, JobResult, KeyedCoProcessFunction,
        KeyedConnectedStreams, KeyedContext, KeyedProcessFunction, KeyedStream, OutputTag,
        ProcessContext, ProcessFunction,
    };
    pub use crate::checkpoint::{RestartStrategy, RestoreFrom, StateRegistry};
    pub use crate::error::{SpateError, UserError};
    pub use crate::join::{
        Interval, OverlapContext, OverlapJoinFunction, ProcessJoinContext, ProcessJoinFunction,
    };
    pub use crate::state::StateBackend;
    pub use crate::time::{Timestamp, WatermarkStrategy};
}

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// The examples of `docs/checkpoints.md`, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/checkpoints.md")]
struct CheckpointDocDoctests;
