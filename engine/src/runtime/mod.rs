//! Runs a job: one thread per shard, each a glommio `LocalExecutor` pinned to a core when
//! there are no more shards than cores. The only module (with file I/O) that names glommio.
//!
//! A shard wires its own instance of the whole graph, connects its channel ends, then runs
//! its driver tasks (sources, exchange receivers, timers) until all finish. The first error
//! on a shard cancels its other tasks (dropping a task cancels it), which drops its channel
//! ends: peers blocked on them wake with a disconnect and stop too, and a job-wide cancel
//! flag stops sources that touch no channel. Every thread is joined before `execute`
//! returns, and the error reported is the first one that is not a consequence of another.

pub(crate) mod channel;
mod coordinator;
pub(crate) mod cpus;
mod lifecycle;
mod shard;
mod snapshots;
pub(crate) mod task;
mod writer;

pub(crate) use coordinator::CoordinatorPlan;
pub use lifecycle::{JobEvent, JobState};
pub(crate) use shard::{run_job, JobPlan};
pub(crate) use snapshots::{Part, ShardSnapshots};
