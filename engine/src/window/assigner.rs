//! Window assigners: which windows an element belongs to.

use super::trigger::{EventTimeTrigger, NeverTrigger, ProcessingTimeTrigger, Trigger};
use super::types::{GlobalWindow, TimeWindow, Window};
use crate::error::UserError;
use crate::time::{Timestamp, NO_TIMESTAMP};

/// Assigns elements to windows (Flink's `WindowAssigner`).
///
/// Contract: `assign` appends the element's windows to `out` (possibly none); a merging
/// assigner also implements `merge_windows`. Event-time assigners use the element's
/// timestamp, processing-time ones the operator's clock (`now`).
pub trait WindowAssigner<T>: Clone + Send + 'static {
    /// The window type.
    type W: Window;
    /// The trigger used when the job sets none.
    type DefaultTrigger: Trigger<T, Self::W>;
    /// Appends the windows of an element with timestamp `ts`, at processing time `now`.
    fn assign(
        &self,
        value: &T,
        ts: Timestamp,
        now: Timestamp,
        out: &mut Vec<Self::W>,
    ) -> Result<(), UserError>;
    /// Whether windows follow event time (late data and lateness apply only then).
    fn is_event_time(&self) -> bool;
    /// Whether windows merge (sessions).
    fn is_merging(&self) -> bool {
        false
    }
    /// Groups of windows that merge into one, with the resulting window.
    fn merge_windows(&self, _windows: &[Self::W]) -> Vec<(Self::W, Vec<Self::W>)> {
        Vec::new()
    }
    /// The trigger used when the job sets none.
    fn default_trigger(&self) -> Self::DefaultTrigger;
}

fn event_ts(ts: Timestamp) -> Result<Timestamp, UserError> {
    if ts == NO_TIMESTAMP {
        return Err(
            "a record has no event-time timestamp: event-time windows need \
                    assign_timestamps_and_watermarks (or a source that sets timestamps)"
                .into(),
        );
    }
    Ok(ts)
}

/// Which clock a time-window assigner follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeCharacteristic {
    /// The element's timestamp.
    EventTime,
    /// The operator's clock when the element arrives.
    ProcessingTime,
}

impl TimeCharacteristic {
    /// The time an element is windowed by: its timestamp (which it must have), or `now`.
    #[inline]
    fn pick(self, ts: Timestamp, now: Timestamp) -> Result<Timestamp, UserError> {
        match self {
            TimeCharacteristic::EventTime => event_ts(ts),
            TimeCharacteristic::ProcessingTime => Ok(now),
        }
    }
}

/// Tumbling windows: fixed size, no overlap, aligned to the epoch plus an offset.
///
/// # Examples
///
/// ```
/// use spate::window::{TimeWindow, TumblingWindows, WindowAssigner};
/// let mut out = Vec::new();
/// TumblingWindows::of(10).assign(&(), 23, 0, &mut out).unwrap();
/// assert_eq!(out, vec![TimeWindow::new(20, 30)]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TumblingWindows {
    size: i64,
    offset: i64,
    time: TimeCharacteristic,
}

impl TumblingWindows {
    /// Event-time windows of `size_ms` (panics if `size_ms <= 0`: a programming error).
    pub fn of(size_ms: i64) -> Self {
        assert!(size_ms > 0, "window size must be positive, got {size_ms}");
        TumblingWindows {
            size: size_ms,
            offset: 0,
            time: TimeCharacteristic::EventTime,
        }
    }

    /// Processing-time windows of `size_ms`.
    pub fn processing_time(size_ms: i64) -> Self {
        TumblingWindows {
            time: TimeCharacteristic::ProcessingTime,
            ..Self::of(size_ms)
        }
    }

    /// Shifts window starts by `offset_ms` (taken modulo the size, as Flink requires
    /// `|offset| < size`).
    pub fn with_offset(mut self, offset_ms: i64) -> Self {
        self.offset = offset_ms % self.size;
        self
    }

    /// Event-time tumbling windows as slices: one slice per window (none in processing
    /// time).
    pub(crate) fn slicing(&self) -> Option<super::sliced::Slicing> {
        (self.time == TimeCharacteristic::EventTime)
            .then(|| super::sliced::Slicing::new(self.size, self.size, self.offset))
    }
}

impl<T> WindowAssigner<T> for TumblingWindows {
    type W = TimeWindow;
    type DefaultTrigger = TimeTrigger;

    #[inline]
    fn assign(
        &self,
        _v: &T,
        ts: Timestamp,
        now: Timestamp,
        out: &mut Vec<TimeWindow>,
    ) -> Result<(), UserError> {
        let t = self.time.pick(ts, now)?;
        let start = TimeWindow::start_with_offset(t, self.offset, self.size);
        out.push(TimeWindow::new(start, start.wrapping_add(self.size)));
        Ok(())
    }

    fn is_event_time(&self) -> bool {
        self.time == TimeCharacteristic::EventTime
    }

    fn default_trigger(&self) -> TimeTrigger {
        TimeTrigger::for_time(self.time)
    }
}

/// Sliding windows: `size` long, a new one every `slide`; an element is in `size / slide`
/// windows (assigned latest-start first, as Flink does).
///
/// # Examples
///
/// ```
/// use spate::window::{SlidingWindows, TimeWindow, WindowAssigner};
/// let mut out = Vec::new();
/// SlidingWindows::of(10, 5).assign(&(), 12, 0, &mut out).unwrap();
/// assert_eq!(out, vec![TimeWindow::new(10, 20), TimeWindow::new(5, 15)]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SlidingWindows {
    size: i64,
    slide: i64,
    offset: i64,
    time: TimeCharacteristic,
}

impl SlidingWindows {
    /// Event-time windows of `size_ms` every `slide_ms` (panics unless both are positive).
    pub fn of(size_ms: i64, slide_ms: i64) -> Self {
        assert!(
            size_ms > 0 && slide_ms > 0,
            "window size and slide must be positive"
        );
        SlidingWindows {
            size: size_ms,
            slide: slide_ms,
            offset: 0,
            time: TimeCharacteristic::EventTime,
        }
    }

    /// Processing-time sliding windows.
    pub fn processing_time(size_ms: i64, slide_ms: i64) -> Self {
        SlidingWindows {
            time: TimeCharacteristic::ProcessingTime,
            ..Self::of(size_ms, slide_ms)
        }
    }

    /// Shifts window starts by `offset_ms` (modulo the slide).
    pub fn with_offset(mut self, offset_ms: i64) -> Self {
        self.offset = offset_ms % self.slide;
        self
    }

    /// The window size.
    pub fn size(&self) -> i64 {
        self.size
    }

    /// The slide.
    pub fn slide(&self) -> i64 {
        self.slide
    }

    /// How event-time windows are cut into shared slices (none in processing time).
    pub(crate) fn slicing(&self) -> Option<super::sliced::Slicing> {
        (self.time == TimeCharacteristic::EventTime)
            .then(|| super::sliced::Slicing::new(self.size, self.slide, self.offset))
    }
}

impl<T> WindowAssigner<T> for SlidingWindows {
    type W = TimeWindow;
    type DefaultTrigger = TimeTrigger;

    #[inline]
    fn assign(
        &self,
        _v: &T,
        ts: Timestamp,
        now: Timestamp,
        out: &mut Vec<TimeWindow>,
    ) -> Result<(), UserError> {
        let t = self.time.pick(ts, now)?;
        let mut start = TimeWindow::start_with_offset(t, self.offset, self.slide);
        while start > t.wrapping_sub(self.size) {
            out.push(TimeWindow::new(start, start.wrapping_add(self.size)));
            start = start.wrapping_sub(self.slide);
        }
        Ok(())
    }

    fn is_event_time(&self) -> bool {
        self.time == TimeCharacteristic::EventTime
    }

    fn default_trigger(&self) -> TimeTrigger {
        TimeTrigger::for_time(self.time)
    }
}

/// Session windows: an element opens `[ts, ts + gap)`, and windows that touch or overlap
/// merge, so a session ends after `gap` without elements. The gap may come from the element
/// ([`SessionWindows::with_dynamic_gap`]).
pub struct SessionWindows<T> {
    gap: SessionGap<T>,
    time: TimeCharacteristic,
}

impl<T> Clone for SessionWindows<T> {
    fn clone(&self) -> Self {
        SessionWindows {
            gap: match &self.gap {
                SessionGap::Fixed(g) => SessionGap::Fixed(*g),
                SessionGap::Dynamic(f) => SessionGap::Dynamic(f.clone()),
            },
            time: self.time,
        }
    }
}

enum SessionGap<T> {
    Fixed(i64),
    Dynamic(std::sync::Arc<dyn Fn(&T) -> i64 + Send + Sync>),
}

impl<T> SessionWindows<T> {
    /// Event-time sessions with a fixed gap (panics unless positive).
    pub fn with_gap(gap_ms: i64) -> Self {
        assert!(gap_ms > 0, "session gap must be positive, got {gap_ms}");
        SessionWindows {
            gap: SessionGap::Fixed(gap_ms),
            time: TimeCharacteristic::EventTime,
        }
    }

    /// Event-time sessions whose gap each element chooses (a gap ≤ 0 fails the job, as in
    /// Flink).
    pub fn with_dynamic_gap(gap: impl Fn(&T) -> i64 + Send + Sync + 'static) -> Self {
        SessionWindows {
            gap: SessionGap::Dynamic(std::sync::Arc::new(gap)),
            time: TimeCharacteristic::EventTime,
        }
    }

    /// The same sessions in processing time.
    pub fn in_processing_time(mut self) -> Self {
        self.time = TimeCharacteristic::ProcessingTime;
        self
    }
}

impl<T: 'static> WindowAssigner<T> for SessionWindows<T> {
    type W = TimeWindow;
    type DefaultTrigger = TimeTrigger;

    fn assign(
        &self,
        v: &T,
        ts: Timestamp,
        now: Timestamp,
        out: &mut Vec<TimeWindow>,
    ) -> Result<(), UserError> {
        let t = self.time.pick(ts, now)?;
        let gap = match &self.gap {
            SessionGap::Fixed(g) => *g,
            SessionGap::Dynamic(f) => f(v),
        };
        if gap <= 0 {
            return Err(
                format!("session gap must be positive, the gap function returned {gap}").into(),
            );
        }
        out.push(TimeWindow::new(t, t.wrapping_add(gap)));
        Ok(())
    }

    fn is_event_time(&self) -> bool {
        self.time == TimeCharacteristic::EventTime
    }

    fn is_merging(&self) -> bool {
        true
    }

    fn merge_windows(&self, windows: &[TimeWindow]) -> Vec<(TimeWindow, Vec<TimeWindow>)> {
        TimeWindow::merge_windows(windows)
    }

    fn default_trigger(&self) -> TimeTrigger {
        TimeTrigger::for_time(self.time)
    }
}

/// Every element in the one global window; nothing fires unless a trigger says so (count
/// windows use a count trigger).
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalWindows;

impl<T> WindowAssigner<T> for GlobalWindows {
    type W = GlobalWindow;
    type DefaultTrigger = NeverTrigger;

    #[inline]
    fn assign(
        &self,
        _v: &T,
        _ts: Timestamp,
        _now: Timestamp,
        out: &mut Vec<GlobalWindow>,
    ) -> Result<(), UserError> {
        out.push(GlobalWindow);
        Ok(())
    }

    fn is_event_time(&self) -> bool {
        false
    }

    fn default_trigger(&self) -> NeverTrigger {
        NeverTrigger
    }
}

/// The default trigger of a time window: event-time or processing-time, by its assigner.
#[derive(Debug, Clone, Copy)]
pub enum TimeTrigger {
    /// Fires when the watermark passes the window's end.
    Event(EventTimeTrigger),
    /// Fires when processing time passes the window's end.
    Processing(ProcessingTimeTrigger),
}

impl TimeTrigger {
    fn for_time(t: TimeCharacteristic) -> Self {
        match t {
            TimeCharacteristic::EventTime => TimeTrigger::Event(EventTimeTrigger),
            TimeCharacteristic::ProcessingTime => TimeTrigger::Processing(ProcessingTimeTrigger),
        }
    }
}
