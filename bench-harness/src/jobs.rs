//! The measured pipelines.
//!
//! Each job ends in a [`CountSink`], which counts records without allocating or touching
//! shared memory per record, so the sink costs next to nothing and the figures measure the
//! engine. Each job returns the number of records its sink saw, which the caller checks
//! against the expected count: a benchmark that silently drops records is not a benchmark.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use spate::io::Sink;
use spate::prelude::*;

/// A sink that counts the records each shard receives and adds its count to a shared total
/// once, when the input ends.
#[derive(Clone, Debug, Default)]
pub struct CountSink {
    local: u64,
    total: Arc<AtomicU64>,
}

impl CountSink {
    /// A sink whose shards add to a fresh total.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records counted by the shards that have finished.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }
}

impl<T> Sink<T> for CountSink {
    #[inline]
    fn write(&mut self, _value: T, _timestamp: Option<i64>) -> Result<(), UserError> {
        self.local += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), UserError> {
        self.total.fetch_add(self.local, Ordering::AcqRel);
        self.local = 0;
        Ok(())
    }
}

/// The size and settings of one job run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobSize {
    /// Records the generator emits, over all shards.
    pub events: u64,
    /// Distinct keys (keyed jobs only).
    pub keys: u64,
    /// Shards (threads) the job runs on.
    pub shards: usize,
    /// Records per batch.
    pub batch_size: usize,
}

fn env(size: &JobSize) -> Env {
    Env::new().shards(size.shards).batch_size(size.batch_size)
}

/// The engine's main built-in job: `generate (seq % keys, seq)` → `key_by(.0)` →
/// `sum(.1)` → count. Every record crosses the shard exchange (or loops back to its own
/// shard) and updates its key's state; the keyed sum emits one record per input record.
///
/// Returns the records the sink counted (expected: `size.events`).
pub fn keyed_count(size: &JobSize) -> spate::Result<u64> {
    let keys = size.keys.max(1);
    let env = env(size);
    let sink = CountSink::new();
    env.generate(Some(size.events), move |seq| (seq % keys, seq))
        .key_by(|r| r.0)
        .sum(|r| &mut r.1)
        .add_sink("count", sink.clone());
    env.execute()?;
    Ok(sink.total())
}

/// A fused `map → filter → map` chain on the generator, with no exchange: the per-shard
/// cost of moving batches through operators by direct calls.
///
/// The first map multiplies by an odd constant (which keeps parity), the filter keeps even
/// values, the last map shifts, so the sink sees every even sequence number once.
///
/// Returns the records the sink counted (expected: [`chain_expected`]).
pub fn chain(size: &JobSize) -> spate::Result<u64> {
    let env = env(size);
    let sink = CountSink::new();
    env.generate(Some(size.events), |seq| seq)
        .map(|x| x.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .filter(|x| x & 1 == 0)
        .map(|x| x >> 7)
        .add_sink("count", sink.clone());
    env.execute()?;
    Ok(sink.total())
}

/// Records the [`chain`] job's sink sees for `events` generated records.
pub fn chain_expected(events: u64) -> u64 {
    events.div_ceil(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(shards: usize, batch_size: usize) -> JobSize {
        JobSize {
            events: 10_001,
            keys: 37,
            shards,
            batch_size,
        }
    }

    #[test]
    fn keyed_count_sees_every_record_on_several_shard_counts() {
        for shards in [1, 2, 3] {
            for batch in [1, 7, 1024] {
                assert_eq!(keyed_count(&size(shards, batch)).unwrap(), 10_001);
            }
        }
    }

    #[test]
    fn chain_keeps_the_even_sequence_numbers() {
        for shards in [1, 2, 3] {
            for batch in [1, 7, 1024] {
                assert_eq!(chain(&size(shards, batch)).unwrap(), chain_expected(10_001));
            }
        }
        assert_eq!(chain_expected(0), 0);
        assert_eq!(chain_expected(4), 2);
        assert_eq!(chain_expected(5), 3);
    }
}
