//! Moving records between shards.
//!
//! Between every ordered pair of shards, one bounded single-producer/single-consumer channel
//! per exchange carries [`Msg`]s — data batches, watermarks, barriers and end-of-stream — in
//! order. Records for the sender's own shard skip the channel. The sending side
//! ([`outbox::Outbox`]) tries a non-blocking send first and otherwise queues the message;
//! the driver task that produced it then waits until the queue drains (a full channel is
//! back-pressure, so memory stays bounded by one batch's fan-out per task).
//!
//! Partitioners route whole batches ([`Partition`]): `key_by` hashes the key to a key group
//! and the group to its owning shard; `rebalance` deals records round-robin; `broadcast`
//! copies each record to every shard.

pub(crate) mod node;
pub(crate) mod outbox;
mod partition;

pub(crate) use node::ExchangeFactory;
pub(crate) use partition::{Broadcast, KeyPartitioner, Partition, Rebalance};

use crate::operators::Batch;
use crate::time::Timestamp;

/// What travels in a shard-to-shard channel.
pub(crate) enum Msg<T> {
    /// A batch of records.
    Data(Batch<T>),
    /// The sender's watermark advanced.
    Watermark(Timestamp),
    /// The sender went idle (`true`) or active again.
    Idle(bool),
    /// Checkpoint barrier of an epoch.
    Barrier(u64),
    /// The sender will send nothing more.
    End,
}
