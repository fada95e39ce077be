//! Watermark generation at sources and combination across inputs.

use std::marker::PhantomData;

use super::generator::{BoundedOutOfOrderness, NoWatermarks, WatermarkGenerator};
use super::{Timestamp, MAX_WATERMARK, MIN_WATERMARK};

/// Takes a record's event-time timestamp from the record (Flink's `TimestampAssigner`).
///
/// Implemented by closures `Fn(&T) -> Timestamp`, and by [`RecordTimestamps`], which keeps
/// the timestamp the record already has. Generic, so extraction is inlined per record.
pub trait TimestampAssigner<T>: Clone + Send + 'static {
    /// The timestamp of `value`, whose current timestamp is `previous`.
    fn extract(&self, value: &T, previous: Timestamp) -> Timestamp;
}

impl<T, F: Fn(&T) -> Timestamp + Clone + Send + 'static> TimestampAssigner<T> for F {
    #[inline]
    fn extract(&self, value: &T, _previous: Timestamp) -> Timestamp {
        self(value)
    }
}

/// Keeps the timestamps records already carry (set by their source).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordTimestamps;

impl<T> TimestampAssigner<T> for RecordTimestamps {
    #[inline]
    fn extract(&self, _value: &T, previous: Timestamp) -> Timestamp {
        previous
    }
}

/// How a stream's records get their event-time timestamps and how watermarks follow them
/// (Flink's `WatermarkStrategy`): a [`TimestampAssigner`] plus a [`WatermarkGenerator`].
///
/// Applied with `DataStream::assign_timestamps_and_watermarks`. A periodic generator emits
/// every watermark interval of processing time (`Env::watermark_interval_ms`, default
/// 200 ms; 0 turns periodic emission off); [`punctuated`](Self::punctuated) emits after
/// every record instead. [`with_idleness`](Self::with_idleness) lets a split that receives
/// nothing stop holding back the watermark downstream. The end of a bounded input is
/// watermark `+∞` whatever the strategy.
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// // Records are `(key, timestamp)`; allow them to be up to 5 ms out of order, and let a
/// // split that has had no record for a second not hold the others back.
/// let s = WatermarkStrategy::for_bounded_out_of_orderness(5)
///     .with_timestamp_assigner(|r: &(u32, i64)| r.1)
///     .with_idleness(1000);
/// let env = Env::new().shards(2);
/// let out = env
///     .from_iter(vec![(1u32, 100i64)])
///     .assign_timestamps_and_watermarks(s)
///     .collect();
/// env.execute().unwrap();
/// assert_eq!(out.take(), vec![(1, 100)]);
/// ```
pub struct WatermarkStrategy<T, A = RecordTimestamps, G = BoundedOutOfOrderness> {
    pub(crate) assigner: A,
    pub(crate) generator: G,
    pub(crate) punctuated: bool,
    pub(crate) idle_timeout_ms: Option<i64>,
    _t: PhantomData<fn(&T)>,
}

impl<T, A: Clone, G: Clone> Clone for WatermarkStrategy<T, A, G> {
    fn clone(&self) -> Self {
        WatermarkStrategy {
            assigner: self.assigner.clone(),
            generator: self.generator.clone(),
            punctuated: self.punctuated,
            idle_timeout_ms: self.idle_timeout_ms,
            _t: PhantomData,
        }
    }
}

impl<T> WatermarkStrategy<T> {
    /// Watermark = highest timestamp seen − `max_out_of_orderness_ms` − 1, as Flink's
    /// `BoundedOutOfOrdernessWatermarks`.
    pub fn for_bounded_out_of_orderness(max_out_of_orderness_ms: i64) -> Self {
        Self::for_generator(BoundedOutOfOrderness::new(max_out_of_orderness_ms))
    }

    /// Timestamps never decrease: watermark = highest timestamp seen − 1.
    pub fn for_monotonous_timestamps() -> Self {
        Self::for_bounded_out_of_orderness(0)
    }
}

impl<T> WatermarkStrategy<T, RecordTimestamps, NoWatermarks> {
    /// No watermarks: event time advances only when the input ends.
    pub fn no_watermarks() -> Self {
        Self::for_generator(NoWatermarks)
    }
}

impl<T, G: WatermarkGenerator<T>> WatermarkStrategy<T, RecordTimestamps, G> {
    /// Watermarks decided by a custom generator, periodic or punctuated.
    pub fn for_generator(generator: G) -> Self {
        WatermarkStrategy {
            assigner: RecordTimestamps,
            generator,
            punctuated: false,
            idle_timeout_ms: None,
            _t: PhantomData,
        }
    }
}

impl<T, A, G> WatermarkStrategy<T, A, G> {
    /// Takes each record's timestamp from the record.
    pub fn with_timestamp_assigner<F>(self, f: F) -> WatermarkStrategy<T, F, G>
    where
        F: Fn(&T) -> Timestamp + Clone + Send + 'static,
    {
        WatermarkStrategy {
            assigner: f,
            generator: self.generator,
            punctuated: self.punctuated,
            idle_timeout_ms: self.idle_timeout_ms,
            _t: PhantomData,
        }
    }

    /// Whether emission at watermark interval `interval_ms` (0 or less: none) is needed:
    /// for a periodic generator, or to check idleness.
    pub(crate) fn periodic(&self, interval_ms: i64) -> bool {
        interval_ms > 0 && (!self.punctuated || self.idle_timeout_ms.is_some())
    }

    /// Asks the generator for a watermark after every record instead of periodically:
    /// deterministic results for tests, at a per-record cost.
    pub fn punctuated(mut self) -> Self {
        self.punctuated = true;
        self
    }

    /// A split that has received no record for longer than `timeout_ms` of processing time
    /// (checked at each watermark interval) is marked idle: it no longer holds back the
    /// watermark of the operators it feeds, until its next record (Flink's
    /// `withIdleness`).
    pub fn with_idleness(mut self, timeout_ms: i64) -> Self {
        self.idle_timeout_ms = Some(timeout_ms.max(0));
        self
    }
}

/// The combined progress of an operator's inputs: the minimum watermark over inputs that
/// have neither ended (an ended input counts as `+∞`) nor gone idle, never going back, and
/// end-of-stream once every input has ended. When every input that has not ended is idle,
/// the watermark moves up to the highest any of them reached (as Flink's
/// `StatusWatermarkValve`). Pure: the caller forwards what it returns.
#[derive(Debug, Clone)]
pub struct Frontier {
    watermarks: Vec<Timestamp>,
    ended: Vec<bool>,
    idle: Vec<bool>,
    live: usize,
    current: Timestamp,
    reported_idle: bool,
}

impl Frontier {
    /// A frontier over `inputs` inputs, all at the minimum watermark.
    pub fn new(inputs: usize) -> Self {
        Frontier {
            watermarks: vec![MIN_WATERMARK; inputs],
            ended: vec![false; inputs],
            idle: vec![false; inputs],
            live: inputs,
            current: MIN_WATERMARK,
            reported_idle: false,
        }
    }

    /// The combined watermark so far.
    pub fn current(&self) -> Timestamp {
        self.current
    }

    /// `true` once every input has ended.
    pub fn all_ended(&self) -> bool {
        self.live == 0
    }

    /// Input `i` reports watermark `wm` (which also makes an idle input active again);
    /// returns the new combined watermark if it advanced.
    pub fn advance(&mut self, i: usize, wm: Timestamp) -> Option<Timestamp> {
        if self.ended[i] || (wm <= self.watermarks[i] && !self.idle[i]) {
            return None;
        }
        self.idle[i] = false;
        self.watermarks[i] = self.watermarks[i].max(wm);
        self.recompute()
    }

    /// Marks input `i` idle (it no longer holds the watermark back) or active again;
    /// returns the new combined watermark if that advanced it.
    pub fn set_idle(&mut self, i: usize, idle: bool) -> Option<Timestamp> {
        if self.ended[i] || self.idle[i] == idle {
            return None;
        }
        self.idle[i] = idle;
        self.recompute()
    }

    /// Whether the combined stream is idle — every input that has not ended is idle — if
    /// that changed since the last call (to forward as a status change downstream).
    pub fn idle_change(&mut self) -> Option<bool> {
        let idle = self.live > 0 && (0..self.idle.len()).all(|i| self.ended[i] || self.idle[i]);
        (idle != self.reported_idle).then(|| {
            self.reported_idle = idle;
            idle
        })
    }

    /// Input `i` ended; returns the new combined watermark if that advanced it.
    /// Ending an input twice is ignored.
    pub fn end(&mut self, i: usize) -> Option<Timestamp> {
        if self.ended[i] {
            return None;
        }
        self.ended[i] = true;
        self.live -= 1;
        self.recompute()
    }

    fn recompute(&mut self) -> Option<Timestamp> {
        let open = |i: &usize| !self.ended[*i];
        let min = if self.live == 0 {
            MAX_WATERMARK
        } else {
            match (0..self.watermarks.len())
                .filter(|i| open(i) && !self.idle[*i])
                .map(|i| self.watermarks[i])
                .min()
            {
                Some(m) => m,
                // Every open input is idle: the highest watermark any of them reached
                // (Flink's valve emits the max across channels when all go idle).
                None => (0..self.watermarks.len())
                    .filter(open)
                    .map(|i| self.watermarks[i])
                    .max()?,
            }
        };
        if min > self.current {
            self.current = min;
            Some(min)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontier_is_min_over_live_inputs_and_never_goes_back() {
        let mut f = Frontier::new(3);
        assert_eq!(f.advance(0, 10), None);
        assert_eq!(f.advance(1, 5), None);
        assert_eq!(f.advance(2, 7), Some(5));
        assert_eq!(f.advance(1, 3), None, "a watermark never goes back");
        assert_eq!(f.advance(1, 20), Some(7));
        assert_eq!(f.end(2), Some(10));
        assert!(!f.all_ended());
        assert_eq!(f.end(0), Some(20));
        assert_eq!(f.end(1), Some(MAX_WATERMARK));
        assert!(f.all_ended());
        assert_eq!(f.end(1), None);
    }

    #[test]
    fn idle_inputs_do_not_hold_the_watermark_back_but_must_still_end() {
        let mut f = Frontier::new(3);
        assert_eq!(f.set_idle(1, true), None);
        assert_eq!(f.advance(0, 10), None);
        assert_eq!(f.advance(2, 20), Some(10));
        assert_eq!(f.set_idle(0, true), Some(20));
        assert_eq!(f.idle_change(), None);
        assert_eq!(f.set_idle(2, true), None, "all idle: the watermark stays");
        assert_eq!(f.current(), 20);
        assert_eq!(f.idle_change(), Some(true), "all idle: the stream is idle");
        assert_eq!(f.idle_change(), None, "reported once");
        assert_eq!(
            f.advance(1, 15),
            None,
            "an input that wakes up below the watermark"
        );
        assert_eq!(f.idle_change(), Some(false), "an input woke up");
        assert_eq!(f.advance(1, 40), Some(40));
        assert_eq!(f.end(1), None);
        assert_eq!(f.end(0), None);
        assert!(!f.all_ended());
        assert_eq!(f.end(2), Some(MAX_WATERMARK));
        assert!(f.all_ended());
    }

    #[test]
    fn when_every_input_is_idle_the_watermark_moves_to_the_highest() {
        let mut f = Frontier::new(2);
        assert_eq!(f.advance(0, 10), None);
        assert_eq!(f.advance(1, 30), Some(10));
        assert_eq!(f.set_idle(1, true), None, "input 0 still holds it at 10");
        assert_eq!(f.set_idle(0, true), Some(30));
        assert_eq!(f.idle_change(), Some(true));
        assert_eq!(
            f.advance(0, 12),
            None,
            "waking below the output holds nothing back"
        );
        assert_eq!(f.idle_change(), Some(false));
        assert_eq!(f.advance(0, 35), Some(35));
    }
}
