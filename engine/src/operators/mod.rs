//! Physical operators and the plumbing between them on one shard.
//!
//! An operator instance lives on one shard behind an `Rc<RefCell<_>>`; its upstream holds a
//! [`Push`] port into it and calls it directly with a whole batch: operators in a chain are
//! fused, there is no queue between them. The costs are per batch: one virtual call and one
//! `RefCell` borrow per operator per batch, never per record.
//!
//! Batch hand-over contract: [`Push::push`] may take the records out of the vector (drain
//! it); the caller clears and reuses the vector afterwards, so steady-state chains allocate
//! nothing.

pub(crate) mod align;
pub(crate) mod broadcast;
pub(crate) mod co_process;
pub(crate) mod filter;
pub(crate) mod flat_map;
pub(crate) mod inflight;
pub(crate) mod keyed_broadcast;
pub(crate) mod keyed_co_process;
pub(crate) mod keyed_process;
pub(crate) mod map;
pub(crate) mod process;
pub(crate) mod reduce;
pub(crate) mod sink;
pub(crate) mod source;
pub(crate) mod split_watermarks;
pub(crate) mod timer_driver;
pub(crate) mod timestamps;
pub(crate) mod unary;
pub(crate) mod union;

mod output;
mod port;
mod side;

pub(crate) use output::{Counter, Output};
pub(crate) use port::{current_operator, OnInput, OperatorGuard, Port};
pub use side::OutputTag;
pub(crate) use side::SideOutputs;

use crate::error::Result;
use crate::time::Timestamp;

/// A record with its event-time timestamp.
pub(crate) type Rec<T> = (Timestamp, T);

/// A batch of records.
pub(crate) type Batch<T> = Vec<Rec<T>>;

/// The input side of an operator: what an upstream calls.
pub(crate) trait Push<T> {
    /// Hands over a batch; may drain it (the caller clears it afterwards).
    fn push(&mut self, batch: &mut Batch<T>) -> Result<()>;
    /// Event time has advanced to `wm` on this input.
    fn watermark(&mut self, wm: Timestamp) -> Result<()>;
    /// This input went idle (`true`: it no longer holds event time back) or active again
    /// (Flink's `WatermarkStatus`).
    fn idle(&mut self, idle: bool) -> Result<()>;
    /// Checkpoint barrier `epoch` passed on this input.
    fn barrier(&mut self, epoch: u64) -> Result<()>;
    /// This input has ended: nothing follows.
    fn end(&mut self) -> Result<()>;
}

/// Static facts about one operator instance, used in errors.
#[derive(Debug, Clone)]
pub(crate) struct OpInfo {
    pub(crate) name: std::sync::Arc<str>,
    pub(crate) shard: usize,
}

impl OpInfo {
    pub(crate) fn user_error(&self, e: crate::error::UserError) -> crate::error::SpateError {
        crate::error::SpateError::OperatorFailed {
            operator: self.name.to_string(),
            shard: self.shard,
            message: e.to_string(),
        }
    }
}
