//! A gauge of how many records a join holds, readable from outside the running job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// How many records a join buffers, summed over shards: now and at its peak.
///
/// Attach it with `.state_gauge(&gauge)` on a join builder and read it while or after the
/// job runs. Each shard publishes its count once per batch and per watermark (a relaxed
/// store and one `fetch_max`), never per record, so the peak is the highest sum any shard
/// observed when it published: a close lower bound of the true peak. Attach a gauge to one
/// join of one job.
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate::join::JoinStateGauge;
///
/// let gauge = JoinStateGauge::new();
/// let env = Env::new().shards(1);
/// let a = env.from_iter(vec![(1u8, 10i64), (1, 20)])
///     .assign_timestamps_and_watermarks(
///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|r: &(u8, i64)| r.1))
///     .key_by(|r| r.0);
/// let b = env.from_iter(vec![(1u8, 12i64)])
///     .assign_timestamps_and_watermarks(
///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|r: &(u8, i64)| r.1))
///     .key_by(|r| r.0);
/// let out = a.interval_join(&b)
///     .between(-5, 5)
///     .state_gauge(&gauge)
///     .process(|l: &(u8, i64), r: &(u8, i64), ctx: &mut ProcessJoinContext<'_, u8, (i64, i64)>| {
///         ctx.collect((l.1, r.1));
///         Ok(())
///     })
///     .collect();
/// env.execute().unwrap();
/// assert_eq!(out.take(), vec![(10, 12)]);
/// assert!(gauge.peak() >= 2);
/// assert_eq!(gauge.current(), 0, "the end of input empties the state");
/// ```
#[derive(Debug, Clone, Default)]
pub struct JoinStateGauge {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    shards: OnceLock<Box<[AtomicU64]>>,
    peak: AtomicU64,
}

impl JoinStateGauge {
    /// A gauge at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records buffered now, summed over shards.
    pub fn current(&self) -> u64 {
        self.inner
            .shards
            .get()
            .map_or(0, |s| s.iter().map(|c| c.load(Ordering::Relaxed)).sum())
    }

    /// The highest sum published so far.
    pub fn peak(&self) -> u64 {
        self.inner.peak.load(Ordering::Relaxed)
    }

    /// Sizes the gauge for `shards` shards (the first call wins).
    pub(crate) fn init(&self, shards: usize) {
        self.inner
            .shards
            .get_or_init(|| (0..shards).map(|_| AtomicU64::new(0)).collect());
    }

    /// Shard `shard` holds `n` records.
    pub(crate) fn publish(&self, shard: usize, n: u64) {
        let Some(slots) = self.inner.shards.get() else {
            return;
        };
        if let Some(slot) = slots.get(shard) {
            slot.store(n, Ordering::Relaxed);
            let sum = slots.iter().map(|c| c.load(Ordering::Relaxed)).sum();
            self.inner.peak.fetch_max(sum, Ordering::Relaxed);
        }
    }
}
