//! The user-facing builders: [`Env`], [`DataStream`], [`KeyedStream`], [`ConnectedStreams`],
//! the broadcast state pattern ([`KeyedBroadcastConnectedStreams`], [`BroadcastState`]),
//! the function traits and contexts, and sinks' handles.
//!
//! Builders only record logical nodes; nothing runs until [`Env::execute`]. Operators are
//! generic over the user's closures, so every pipeline is monomorphised: the per-record code
//! of a `map` is the closure inlined into a loop over the batch.

mod broadcast;
mod env;
mod fields;
mod keyed;
mod stream;
mod windowed;

pub use crate::operators::broadcast::{BroadcastProcessFunction, BroadcastState};
pub use crate::operators::co_process::CoProcessFunction;
pub use crate::operators::keyed_broadcast::KeyedBroadcastProcessFunction;
pub use crate::operators::keyed_co_process::KeyedCoProcessFunction;
pub use crate::operators::keyed_process::{KeyedContext, KeyedProcessFunction};
pub use crate::operators::process::{ProcessContext, ProcessFunction};
pub use crate::operators::OutputTag;
pub use broadcast::{BroadcastConnectedStreams, KeyedBroadcastConnectedStreams};
pub use env::{Env, JobResult, OperatorMetrics};
pub use keyed::{KeyedConnectedStreams, KeyedStream};
pub use stream::{ConnectedStreams, DataStream};
pub use windowed::{NoEvictor, WindowedStream, WithEvictor};

/// What a stream's records must be: cloneable (for fan-out and broadcast), sendable between
/// shards, and owned.
pub trait Data: Clone + Send + 'static {}
impl<T: Clone + Send + 'static> Data for T {}

/// What a key must be: [`Data`], hashable and comparable.
pub trait Key: Data + std::hash::Hash + Eq {}
impl<T: Data + std::hash::Hash + Eq> Key for T {}

/// `"<kind> at <file>:<line>"` for the user's line that built an operator.
#[track_caller]
pub(crate) fn op_name(kind: &str) -> String {
    let l = std::panic::Location::caller();
    format!("{kind} at {}:{}", l.file(), l.line())
}
