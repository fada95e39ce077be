//! Watermark generators: how a stream's watermarks follow the timestamps it carries
//! (Flink's `WatermarkGenerator`).

use super::{Timestamp, MIN_WATERMARK};

/// Where a [`WatermarkGenerator`] puts what it decides: a watermark, or that its stream
/// went idle (it stops holding event time back downstream) or active again.
///
/// The operator forwards a watermark only if it is higher than the last one forwarded, so a
/// generator may emit the same or a lower value without harm.
#[derive(Debug, Clone)]
pub struct WatermarkOutput {
    pub(crate) watermark: Timestamp,
    pub(crate) idle: Option<bool>,
}

impl Default for WatermarkOutput {
    fn default() -> Self {
        WatermarkOutput {
            watermark: MIN_WATERMARK,
            idle: None,
        }
    }
}

impl WatermarkOutput {
    /// Emits watermark `wm`: no record at or before `wm` is expected any more. Makes an
    /// idle stream active again.
    #[inline]
    pub fn emit_watermark(&mut self, wm: Timestamp) {
        self.watermark = self.watermark.max(wm);
        if self.idle == Some(true) {
            self.idle = Some(false);
        }
    }

    /// Marks the stream idle: until it emits again, it does not hold back the watermark
    /// of the operators it feeds.
    pub fn mark_idle(&mut self) {
        self.idle = Some(true);
    }

    /// Marks the stream active again.
    pub fn mark_active(&mut self) {
        self.idle = Some(false);
    }

    /// The highest watermark emitted so far.
    pub fn current(&self) -> Timestamp {
        self.watermark
    }
}

/// Decides watermarks from the records of one stream split (Flink's
/// `WatermarkGenerator`). One instance per shard; called with every record and, every
/// watermark interval of processing time, to emit periodically.
///
/// A *punctuated* generator emits from [`on_event`](Self::on_event) (for example on marker
/// records); a *periodic* one remembers what it saw and emits from
/// [`on_periodic_emit`](Self::on_periodic_emit).
///
/// # Examples
///
/// A punctuated generator: records that are markers carry the watermark.
///
/// ```
/// use spate::prelude::*;
/// use spate::time::{WatermarkGenerator, WatermarkOutput};
///
/// #[derive(Clone)]
/// struct Markers;
/// impl WatermarkGenerator<(bool, i64)> for Markers {
///     fn on_event(&mut self, r: &(bool, i64), ts: Timestamp, out: &mut WatermarkOutput) {
///         if r.0 {
///             out.emit_watermark(ts);
///         }
///     }
///     fn on_periodic_emit(&mut self, _out: &mut WatermarkOutput) {}
/// }
///
/// let env = Env::new().shards(1);
/// let out = env
///     .from_iter(vec![(false, 5i64), (true, 10), (false, 3)])
///     .assign_timestamps_and_watermarks(
///         WatermarkStrategy::for_generator(Markers).with_timestamp_assigner(|r: &(bool, i64)| r.1),
///     )
///     .process(|r: (bool, i64), ctx: &mut ProcessContext<'_, (i64, i64)>| {
///         // The watermark each record sees: the marker at 10 comes after the record at 5.
///         ctx.collect((r.1, ctx.current_watermark()));
///         Ok(())
///     })
///     .collect();
/// env.execute().unwrap();
/// assert_eq!(out.take(), vec![(5, i64::MIN), (10, i64::MIN), (3, 10)]);
/// ```
pub trait WatermarkGenerator<T>: Clone + Send + 'static {
    /// Sees every record with its timestamp; may emit a watermark.
    fn on_event(&mut self, value: &T, timestamp: Timestamp, out: &mut WatermarkOutput);
    /// Called every watermark interval; may emit a watermark.
    fn on_periodic_emit(&mut self, out: &mut WatermarkOutput);
}

/// Watermark = highest timestamp seen − the bound − 1, emitted periodically (Flink's
/// `BoundedOutOfOrdernessWatermarks`).
#[derive(Debug, Clone, Copy)]
pub struct BoundedOutOfOrderness {
    max_timestamp: Timestamp,
    bound: i64,
}

impl BoundedOutOfOrderness {
    /// Records may come up to `bound_ms` later than the highest timestamp seen.
    pub fn new(bound_ms: i64) -> Self {
        BoundedOutOfOrderness {
            max_timestamp: MIN_WATERMARK,
            bound: bound_ms.max(0),
        }
    }

    /// The watermark after seeing `max_timestamp` as the highest timestamp.
    pub fn watermark_for(&self, max_timestamp: Timestamp) -> Timestamp {
        if max_timestamp == MIN_WATERMARK {
            return MIN_WATERMARK;
        }
        max_timestamp.saturating_sub(self.bound).saturating_sub(1)
    }
}

impl<T> WatermarkGenerator<T> for BoundedOutOfOrderness {
    #[inline]
    fn on_event(&mut self, _value: &T, timestamp: Timestamp, _out: &mut WatermarkOutput) {
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }

    #[inline]
    fn on_periodic_emit(&mut self, out: &mut WatermarkOutput) {
        if self.max_timestamp != MIN_WATERMARK {
            out.emit_watermark(self.watermark_for(self.max_timestamp));
        }
    }
}

/// Emits no watermarks (Flink's `noWatermarks`): event time advances only at the end of
/// the input.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWatermarks;

impl<T> WatermarkGenerator<T> for NoWatermarks {
    #[inline]
    fn on_event(&mut self, _value: &T, _timestamp: Timestamp, _out: &mut WatermarkOutput) {}
    #[inline]
    fn on_periodic_emit(&mut self, _out: &mut WatermarkOutput) {}
}

/// Decides when a stream is idle (Flink's `IdlenessTimer`): idle once no record came for
/// longer than the timeout, checked at each periodic emission.
#[derive(Debug, Clone)]
pub(crate) struct IdlenessTimer {
    timeout: i64,
    active_since_check: bool,
    inactive_since: Option<Timestamp>,
}

impl IdlenessTimer {
    pub(crate) fn new(timeout_ms: i64) -> Self {
        IdlenessTimer {
            timeout: timeout_ms.max(0),
            active_since_check: false,
            inactive_since: None,
        }
    }

    /// A record came.
    #[inline]
    pub(crate) fn activity(&mut self) {
        self.active_since_check = true;
    }

    /// Whether the stream is idle at processing time `now`.
    pub(crate) fn check_if_idle(&mut self, now: Timestamp) -> bool {
        if std::mem::take(&mut self.active_since_check) {
            self.inactive_since = None;
            return false;
        }
        match self.inactive_since {
            None => {
                self.inactive_since = Some(now);
                false
            }
            Some(t) => now.saturating_sub(t) > self.timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_out_of_orderness_subtracts_one_like_flink() {
        let mut g = BoundedOutOfOrderness::new(0);
        let mut out = WatermarkOutput::default();
        WatermarkGenerator::<()>::on_periodic_emit(&mut g, &mut out);
        assert_eq!(
            out.current(),
            MIN_WATERMARK,
            "nothing seen, nothing emitted"
        );
        g.on_event(&(), 1000, &mut out);
        g.on_event(&(), 400, &mut out);
        assert_eq!(out.current(), MIN_WATERMARK, "periodic: nothing per event");
        WatermarkGenerator::<()>::on_periodic_emit(&mut g, &mut out);
        assert_eq!(out.current(), 999);
        assert_eq!(BoundedOutOfOrderness::new(5).watermark_for(100), 94);
    }

    #[test]
    fn idle_after_a_whole_timeout_without_records() {
        let mut t = IdlenessTimer::new(100);
        t.activity();
        assert!(!t.check_if_idle(0), "records came since the last check");
        assert!(!t.check_if_idle(50), "inactivity starts being measured");
        assert!(!t.check_if_idle(150), "exactly the timeout is not yet idle");
        assert!(t.check_if_idle(151));
        t.activity();
        assert!(!t.check_if_idle(200), "a record makes it active again");
        assert!(!t.check_if_idle(250));
        assert!(t.check_if_idle(351));
    }

    #[test]
    fn emitting_a_watermark_makes_an_idle_output_active() {
        let mut out = WatermarkOutput::default();
        out.mark_idle();
        out.emit_watermark(5);
        assert_eq!(out.idle, Some(false));
        out.emit_watermark(3);
        assert_eq!(out.current(), 5, "never goes back");
    }
}
