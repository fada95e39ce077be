//! Watermark generation at sources and combination across inputs.

use std::marker::PhantomData;

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

/// How a stream's records get their event-time timestamps and how watermarks follow them.
///
/// Applied with `DataStream::assign_timestamps_and_watermarks`. Watermarks are emitted
/// periodically (the environment's watermark interval, checked once per batch) or, with
/// [`punctuated`](Self::punctuated), after every record.
///
/// # Examples
///
/// ```
/// use spate::time::WatermarkStrategy;
/// // Records are `(key, timestamp)`; allow them to be up to 5 ms out of order.
/// let s = WatermarkStrategy::for_bounded_out_of_orderness(5)
///     .with_timestamp_assigner(|r: &(u32, i64)| r.1);
/// assert_eq!(s.watermark_for(100), 94);
/// ```
pub struct WatermarkStrategy<T, A = RecordTimestamps> {
    pub(crate) assigner: A,
    pub(crate) out_of_orderness: i64,
    pub(crate) punctuated: bool,
    _t: PhantomData<fn(&T)>,
}

impl<T, A: Clone> Clone for WatermarkStrategy<T, A> {
    fn clone(&self) -> Self {
        WatermarkStrategy {
            assigner: self.assigner.clone(),
            out_of_orderness: self.out_of_orderness,
            punctuated: self.punctuated,
            _t: PhantomData,
        }
    }
}

impl<T> WatermarkStrategy<T> {
    /// Watermark = highest timestamp seen − `max_out_of_orderness_ms` − 1, as Flink's
    /// `BoundedOutOfOrdernessWatermarks`.
    pub fn for_bounded_out_of_orderness(max_out_of_orderness_ms: i64) -> Self {
        WatermarkStrategy {
            assigner: RecordTimestamps,
            out_of_orderness: max_out_of_orderness_ms.max(0),
            punctuated: false,
            _t: PhantomData,
        }
    }

    /// Timestamps never decrease: watermark = highest timestamp seen − 1.
    pub fn for_monotonous_timestamps() -> Self {
        Self::for_bounded_out_of_orderness(0)
    }
}

impl<T, A> WatermarkStrategy<T, A> {
    /// Takes each record's timestamp from the record.
    pub fn with_timestamp_assigner<F>(self, f: F) -> WatermarkStrategy<T, F>
    where
        F: Fn(&T) -> Timestamp + Clone + Send + 'static,
    {
        WatermarkStrategy {
            assigner: f,
            out_of_orderness: self.out_of_orderness,
            punctuated: self.punctuated,
            _t: PhantomData,
        }
    }

    /// Emits a watermark after every record instead of periodically: deterministic results
    /// for tests, at a per-record cost.
    pub fn punctuated(mut self) -> Self {
        self.punctuated = true;
        self
    }

    /// The watermark this strategy derives from the highest timestamp seen so far.
    pub fn watermark_for(&self, max_timestamp: Timestamp) -> Timestamp {
        if max_timestamp == MIN_WATERMARK {
            return MIN_WATERMARK;
        }
        max_timestamp
            .saturating_sub(self.out_of_orderness)
            .saturating_sub(1)
    }
}

/// The combined progress of an operator's inputs: the minimum watermark over inputs that
/// have neither ended (an ended input counts as `+∞`) nor gone idle, never going back, and
/// end-of-stream once every input has ended. When every input that has not ended is idle,
/// the watermark stays where it is (as Flink's `StatusWatermarkValve`). Pure: the caller
/// forwards what it returns.
#[derive(Debug, Clone)]
pub struct Frontier {
    watermarks: Vec<Timestamp>,
    ended: Vec<bool>,
    idle: Vec<bool>,
    live: usize,
    current: Timestamp,
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
        let min = if self.live == 0 {
            MAX_WATERMARK
        } else {
            (0..self.watermarks.len())
                .filter(|&i| !self.ended[i] && !self.idle[i])
                .map(|i| self.watermarks[i])
                .min()?
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
        assert_eq!(f.set_idle(2, true), None, "all idle: the watermark stays");
        assert_eq!(f.current(), 20);
        assert_eq!(
            f.advance(1, 15),
            None,
            "an input that wakes up below the watermark"
        );
        assert_eq!(f.advance(1, 40), Some(40));
        assert_eq!(f.end(1), None);
        assert_eq!(f.end(0), None);
        assert!(!f.all_ended());
        assert_eq!(f.end(2), Some(MAX_WATERMARK));
        assert!(f.all_ended());
    }

    #[test]
    fn bounded_out_of_orderness_subtracts_one_like_flink() {
        let s = WatermarkStrategy::<i64>::for_bounded_out_of_orderness(0);
        assert_eq!(s.watermark_for(1000), 999);
        assert_eq!(s.watermark_for(MIN_WATERMARK), MIN_WATERMARK);
    }
}
