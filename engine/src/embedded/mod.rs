//! Embedding a job in the caller's process: push records in from any thread, take results
//! out through a channel or a callback, flush, shut down gracefully or cancel.
//!
//! ```text
//!   caller threads ──Input::push──▶ [bounded channel] ──▶ channel source (read on shard 0)
//!                                                          │  the job, on its own shard threads
//!   caller threads ◀──Receiver──── [bounded channel] ◀── to_channel sink / for_each callback
//! ```
//!
//! Both channels are bounded: a full input blocks `push` (back-pressure reaches the
//! caller), a full output blocks the job. The caller's threads need no async runtime.
//!
//! [`JobHandle::flush`] sends a barrier through the job: it returns once every record
//! pushed before it has reached every embedded sink. [`JobHandle::shutdown`] lets the
//! sources drain what was pushed, ends the job and returns its result; [`JobHandle::cancel`]
//! stops it at once.
//!
//! Checkpoints work in embedded jobs too (`Env::checkpointing`): every record pushed into
//! an [`Input`] has a sequence number, a checkpoint records the number each input had
//! reached, and a job started again on the same directory restores its state and tells
//! the caller, through [`Input::resume_from`], from which record to push again (records
//! below it given to [`Input::push_at`] are dropped as duplicates): the caller's log plays
//! the part of a Kafka topic. See `docs/checkpoints.md`.
//!
//! Latency: with [`Env::low_latency`](crate::Env::low_latency) an idle source polls again at
//! once instead of sleeping, and partial batches always go downstream when the input
//! pauses, so a lone record crosses the job in microseconds.
//!
//! # Examples
//!
//! ```
//! use spate::prelude::*;
//!
//! let env = Env::new().shards(2).low_latency(true);
//! let (input, amounts) = env.channel_source::<(u32, i64)>(1024);
//! let alerts = amounts
//!     .key_by(|t| t.0)
//!     .sum(|t| &mut t.1)
//!     .filter(|t| t.1 > 100)
//!     .to_channel(1024);
//! let job = env.start().unwrap();
//! input.push((7, 60)).unwrap();
//! input.push((7, 50)).unwrap();
//! job.flush().unwrap();
//! assert_eq!(alerts.try_recv(), Some((7, 110)));
//! let result = job.shutdown().unwrap();
//! assert!(result.records_out("filter").is_some());
//! ```

mod handle;
mod input;
mod output;

pub use handle::JobHandle;
pub use input::Input;
pub use output::Receiver;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// What the handle, the channel sources and the embedded sinks of one job share.
#[derive(Debug, Default)]
pub(crate) struct Control {
    /// Set by `shutdown`: sources end once their channel is empty.
    pub(crate) closing: AtomicBool,
    /// The newest flush requested; sources send it as a barrier.
    pub(crate) flush_requested: AtomicU64,
    /// Per embedded sink and shard, the newest flush barrier it saw (sized at start).
    pub(crate) acks: OnceLock<Vec<AtomicU64>>,
    /// How many embedded sinks the job has (known when it starts).
    pub(crate) sinks: AtomicU64,
}

impl Control {
    /// Records that sink `sink` on `shard` of `shards` saw flush `epoch`.
    pub(crate) fn ack(&self, sink: usize, shard: usize, shards: usize, epoch: u64) {
        if let Some(slot) = self.acks.get().and_then(|a| a.get(sink * shards + shard)) {
            slot.fetch_max(epoch, Ordering::AcqRel);
        }
    }
}

/// The embedding state an [`Env`](crate::Env) collects while the job is built.
#[derive(Default)]
pub(crate) struct Embedding {
    pub(crate) control: Arc<Control>,
    /// Embedded sinks registered so far.
    pub(crate) sinks: usize,
    /// Whether any channel source exists (a flush then has something to send).
    pub(crate) sources: usize,
}
