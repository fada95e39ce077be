//! Measuring a run from inside: when events entered the source, and how late results
//! left the job.
//!
//! A source that is given a [`Timing`] notes, once per batch, the wall-clock instant it
//! emitted the batch's last event, in a slot per millisecond of event time. A sink that is
//! given the same `Timing` (the queries' [`Counter`](super::queries::Counter)) samples the
//! first result of each batch it receives: the result's timestamp names the event it
//! derives from (a bid passed through, the last millisecond of a window, the later input
//! of a join), and its **latency** is now minus the instant the batch holding that event
//! entered the source. Its **event-time lag** is how far the sources had got in event time
//! when the result left, minus the result's timestamp: for a window result, how long after
//! its window closed in event time it came out (at least the watermark's delay).
//!
//! Why slots per millisecond instead of a timestamp carried in each record: the records
//! stay the query's own types, and the cost is one atomic store per source batch and one
//! clock read per sink batch, never per record. The price is resolution: an event's entry
//! is that of the batch holding it (a batch is about 10 ms of event time at the default
//! rate, emitted in microseconds).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// The most milliseconds of event time a [`Timing`] keeps slots for (4 Mi: 70 minutes, 32
/// MiB); results past that are not sampled.
pub const MAX_SPAN_MS: u64 = 1 << 22;

/// How many slots past a result's timestamp a lookup scans for the batch that held it.
const SCAN: usize = 4096;

/// One sampled result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencySample {
    /// Nanoseconds from the moment the result's event entered the source to the moment
    /// the result reached the sink.
    pub latency_ns: u64,
    /// Milliseconds of event time between the sources' frontier when the result reached
    /// the sink and the result's timestamp.
    pub lag_ms: i64,
}

/// Shared between a run's sources and its sink; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use spate_workloads::nexmark::timing::Timing;
///
/// let t = Timing::new(1_000, 100);
/// t.source_batch(1_010, 512);
/// let s = t.sample(1_004).expect("event 1004 entered with the batch ending at 1010");
/// assert_eq!(s.lag_ms, 6);
/// assert_eq!(t.emitted(), 512);
/// assert!(t.sample(5_000).is_none(), "outside the span");
/// ```
#[derive(Debug)]
pub struct Timing {
    start: Instant,
    base: i64,
    /// Nanoseconds since `start`, plus one (0: no batch ended in that millisecond).
    slots: Box<[AtomicU64]>,
    frontier: AtomicI64,
    emitted: AtomicU64,
    samples: Mutex<Vec<LatencySample>>,
}

impl Timing {
    /// Slots for event times `base ..= base + span_ms` (`span_ms` is capped at
    /// [`MAX_SPAN_MS`]).
    pub fn new(base: i64, span_ms: u64) -> Self {
        let n = span_ms.min(MAX_SPAN_MS) as usize + 1;
        Timing {
            start: Instant::now(),
            base,
            slots: (0..n).map(|_| AtomicU64::new(0)).collect(),
            frontier: AtomicI64::new(i64::MIN),
            emitted: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
        }
    }

    fn slot(&self, ts: i64) -> Option<usize> {
        let i = usize::try_from(ts.checked_sub(self.base)?).ok()?;
        (i < self.slots.len()).then_some(i)
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// A source emitted `count` events, the last with event time `last_ts`: called once
    /// per batch.
    pub fn source_batch(&self, last_ts: i64, count: u64) {
        self.emitted.fetch_add(count, Ordering::Relaxed);
        self.frontier.fetch_max(last_ts, Ordering::Relaxed);
        if let Some(i) = self.slot(last_ts) {
            let now = self.now_ns() + 1;
            // The first batch to end in a millisecond marks it.
            let _ = self.slots[i].compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Events the sources have emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::Relaxed)
    }

    /// The highest event time the sources have emitted.
    pub fn frontier(&self) -> i64 {
        self.frontier.load(Ordering::Relaxed)
    }

    /// Latency and lag of a result with timestamp `ts` reaching a sink now, or `None` when
    /// no batch holding an event at or after `ts` is known (outside the span, or a
    /// processing-time result).
    pub fn sample(&self, ts: i64) -> Option<LatencySample> {
        let i = self.slot(ts)?;
        let end = (i + SCAN).min(self.slots.len());
        let entered = self.slots[i..end]
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .find(|&v| v != 0)?
            - 1;
        Some(LatencySample {
            latency_ns: self.now_ns().saturating_sub(entered),
            lag_ms: self.frontier().saturating_sub(ts),
        })
    }

    /// Adds a sink's samples (emptying `samples`).
    pub fn add_samples(&self, samples: &mut Vec<LatencySample>) {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(samples);
    }

    /// Takes the samples added so far.
    pub fn take_samples(&self) -> Vec<LatencySample> {
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_takes_the_entry_of_the_first_batch_ending_at_or_after_it() {
        let t = Timing::new(0, 1_000);
        t.source_batch(10, 5);
        std::thread::sleep(std::time::Duration::from_millis(2));
        t.source_batch(20, 5);
        t.source_batch(20, 5); // a second shard's batch: the first one marks the slot
        let early = t.sample(3).expect("in the first batch");
        let late = t.sample(15).expect("in the second batch");
        assert!(early.latency_ns >= late.latency_ns + 1_000_000);
        assert_eq!((early.lag_ms, late.lag_ms), (17, 5));
        assert!(t.sample(21).is_none(), "no batch ended after 20");
        assert!(t.sample(-1).is_none());
        assert_eq!(t.emitted(), 15);
        t.add_samples(&mut vec![early, late]);
        assert_eq!(t.take_samples(), vec![early, late]);
    }
}
