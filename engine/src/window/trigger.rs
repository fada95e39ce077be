//! Triggers: when a window's contents are emitted (fired) and discarded (purged).
//!
//! Semantics follow Flink's triggers exactly (see `docs/flink-window-semantics.md`): the
//! event-time trigger fires when the watermark reaches the window's last millisecond, and at
//! once for an element arriving after that (allowed lateness); it never purges by itself —
//! the operator clears a window when its cleanup time passes.

use super::types::Window;
use crate::time::{TimeDomain, Timestamp};

/// What a trigger decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerResult {
    /// Do nothing.
    Continue,
    /// Emit the window's contents, keep them.
    Fire,
    /// Discard the window's contents without emitting.
    Purge,
    /// Emit, then discard.
    FireAndPurge,
}

impl TriggerResult {
    /// Whether the window is emitted.
    pub fn is_fire(self) -> bool {
        matches!(self, TriggerResult::Fire | TriggerResult::FireAndPurge)
    }
    /// Whether the contents are discarded.
    pub fn is_purge(self) -> bool {
        matches!(self, TriggerResult::Purge | TriggerResult::FireAndPurge)
    }
}

/// A timer change a trigger asked for, applied to the current key and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerRequest {
    pub(crate) register: bool,
    pub(crate) domain: TimeDomain,
    pub(crate) time: Timestamp,
}

/// What a trigger sees: time, and timers for the current key and window.
pub struct TriggerContext<'a> {
    pub(crate) watermark: Timestamp,
    pub(crate) now: Timestamp,
    pub(crate) requests: &'a mut Vec<TimerRequest>,
}

impl TriggerContext<'_> {
    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }
    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.now
    }
    /// Calls `on_event_time` for this window once the watermark reaches `t`.
    pub fn register_event_time_timer(&mut self, t: Timestamp) {
        self.request(true, TimeDomain::EventTime, t);
    }
    /// Removes this window's event-time timer at `t`.
    pub fn delete_event_time_timer(&mut self, t: Timestamp) {
        self.request(false, TimeDomain::EventTime, t);
    }
    /// Calls `on_processing_time` for this window once processing time reaches `t`.
    pub fn register_processing_time_timer(&mut self, t: Timestamp) {
        self.request(true, TimeDomain::ProcessingTime, t);
    }
    /// Removes this window's processing-time timer at `t`.
    pub fn delete_processing_time_timer(&mut self, t: Timestamp) {
        self.request(false, TimeDomain::ProcessingTime, t);
    }
    fn request(&mut self, register: bool, domain: TimeDomain, time: Timestamp) {
        self.requests.push(TimerRequest {
            register,
            domain,
            time,
        });
    }
}

/// Decides when a window fires (Flink's `Trigger`). One value per operator instance; the
/// per-window state it needs lives in `State`, kept by the operator for each key and window.
///
/// Contract: `clear` deletes the timers the trigger registered for the window; a merging
/// trigger (`can_merge`) combines states with `merge_state` and re-registers its timers for
/// the merged window in `on_merge`.
pub trait Trigger<T, W: Window>: Clone + Send + 'static {
    /// Per-window trigger state.
    type State: Default + Send + 'static;
    /// An element was added to `window`.
    fn on_element(
        &mut self,
        value: &T,
        ts: Timestamp,
        window: &W,
        state: &mut Self::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;
    /// An event-time timer registered for `window` fired.
    fn on_event_time(
        &mut self,
        time: Timestamp,
        window: &W,
        state: &mut Self::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;
    /// A processing-time timer registered for `window` fired.
    fn on_processing_time(
        &mut self,
        time: Timestamp,
        window: &W,
        state: &mut Self::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;
    /// Whether the trigger supports merging windows.
    fn can_merge(&self) -> bool {
        false
    }
    /// Combines the state of a window merged away into the surviving state.
    fn merge_state(&self, _into: &mut Self::State, _from: Self::State) {}
    /// Windows merged into `window` (whose state is already merged).
    fn on_merge(&mut self, _window: &W, _state: &mut Self::State, _ctx: &mut TriggerContext<'_>) {}
    /// The window is being discarded: delete its timers.
    fn clear(&mut self, window: &W, state: &mut Self::State, ctx: &mut TriggerContext<'_>);
}

/// Fires when the watermark reaches the window's end − 1; fires at once for elements of a
/// window the watermark already passed (allowed lateness). Flink's `EventTimeTrigger`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventTimeTrigger;

impl<T, W: Window> Trigger<T, W> for EventTimeTrigger {
    type State = ();
    fn on_element(
        &mut self,
        _v: &T,
        _ts: Timestamp,
        w: &W,
        _s: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if w.max_timestamp() <= ctx.watermark {
            TriggerResult::Fire
        } else {
            ctx.register_event_time_timer(w.max_timestamp());
            TriggerResult::Continue
        }
    }
    fn on_event_time(
        &mut self,
        t: Timestamp,
        w: &W,
        _s: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if t == w.max_timestamp() {
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }
    fn on_processing_time(
        &mut self,
        _t: Timestamp,
        _w: &W,
        _s: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn on_merge(&mut self, w: &W, _s: &mut (), ctx: &mut TriggerContext<'_>) {
        if w.max_timestamp() > ctx.watermark {
            ctx.register_event_time_timer(w.max_timestamp());
        }
    }
    fn clear(&mut self, w: &W, _s: &mut (), ctx: &mut TriggerContext<'_>) {
        ctx.delete_event_time_timer(w.max_timestamp());
    }
}

/// Fires when processing time reaches the window's end − 1. Flink's `ProcessingTimeTrigger`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessingTimeTrigger;

impl<T, W: Window> Trigger<T, W> for ProcessingTimeTrigger {
    type State = ();
    fn on_element(
        &mut self,
        _v: &T,
        _ts: Timestamp,
        w: &W,
        _s: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        ctx.register_processing_time_timer(w.max_timestamp());
        TriggerResult::Continue
    }
    fn on_event_time(
        &mut self,
        _t: Timestamp,
        _w: &W,
        _s: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_processing_time(
        &mut self,
        _t: Timestamp,
        _w: &W,
        _s: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Fire
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn on_merge(&mut self, w: &W, _s: &mut (), ctx: &mut TriggerContext<'_>) {
        if w.max_timestamp() > ctx.now {
            ctx.register_processing_time_timer(w.max_timestamp());
        }
    }
    fn clear(&mut self, w: &W, _s: &mut (), ctx: &mut TriggerContext<'_>) {
        ctx.delete_processing_time_timer(w.max_timestamp());
    }
}

macro_rules! delegate_time_trigger {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            super::assigner::TimeTrigger::Event($t) => $e,
            super::assigner::TimeTrigger::Processing($t) => $e,
        }
    };
}

impl<T, W: Window> Trigger<T, W> for super::assigner::TimeTrigger {
    type State = ();
    fn on_element(
        &mut self,
        v: &T,
        ts: Timestamp,
        w: &W,
        s: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        delegate_time_trigger!(self, t => Trigger::<T, W>::on_element(t, v, ts, w, s, ctx))
    }
    fn on_event_time(
        &mut self,
        time: Timestamp,
        w: &W,
        s: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        delegate_time_trigger!(self, t => Trigger::<T, W>::on_event_time(t, time, w, s, ctx))
    }
    fn on_processing_time(
        &mut self,
        time: Timestamp,
        w: &W,
        s: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        delegate_time_trigger!(self, t => Trigger::<T, W>::on_processing_time(t, time, w, s, ctx))
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn on_merge(&mut self, w: &W, s: &mut (), ctx: &mut TriggerContext<'_>) {
        delegate_time_trigger!(self, t => Trigger::<T, W>::on_merge(t, w, s, ctx))
    }
    fn clear(&mut self, w: &W, s: &mut (), ctx: &mut TriggerContext<'_>) {
        delegate_time_trigger!(self, t => Trigger::<T, W>::clear(t, w, s, ctx))
    }
}

/// Never fires (the default of global windows: set a trigger).
#[derive(Debug, Clone, Copy, Default)]
pub struct NeverTrigger;

impl<T, W: Window> Trigger<T, W> for NeverTrigger {
    type State = ();
    fn on_element(
        &mut self,
        _v: &T,
        _ts: Timestamp,
        _w: &W,
        _s: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_event_time(
        &mut self,
        _t: Timestamp,
        _w: &W,
        _s: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_processing_time(
        &mut self,
        _t: Timestamp,
        _w: &W,
        _s: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn clear(&mut self, _w: &W, _s: &mut (), _ctx: &mut TriggerContext<'_>) {}
}

/// Fires every `n` elements of a window (the count restarts after each firing). Flink's
/// `CountTrigger`.
#[derive(Debug, Clone, Copy)]
pub struct CountTrigger(pub u64);

impl<T, W: Window> Trigger<T, W> for CountTrigger {
    type State = u64;
    fn on_element(
        &mut self,
        _v: &T,
        _ts: Timestamp,
        _w: &W,
        count: &mut u64,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        *count += 1;
        if *count >= self.0 {
            *count = 0;
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }
    fn on_event_time(
        &mut self,
        _t: Timestamp,
        _w: &W,
        _s: &mut u64,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_processing_time(
        &mut self,
        _t: Timestamp,
        _w: &W,
        _s: &mut u64,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn merge_state(&self, into: &mut u64, from: u64) {
        *into += from;
    }
    fn clear(&mut self, _w: &W, count: &mut u64, _ctx: &mut TriggerContext<'_>) {
        *count = 0;
    }
}

/// Turns every firing of the inner trigger into fire-and-purge. Flink's `PurgingTrigger`.
#[derive(Debug, Clone, Copy)]
pub struct PurgingTrigger<Tr>(pub Tr);

fn purging(r: TriggerResult) -> TriggerResult {
    if r.is_fire() {
        TriggerResult::FireAndPurge
    } else {
        r
    }
}

impl<T, W: Window, Tr: Trigger<T, W>> Trigger<T, W> for PurgingTrigger<Tr> {
    type State = Tr::State;
    fn on_element(
        &mut self,
        v: &T,
        ts: Timestamp,
        w: &W,
        s: &mut Tr::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        purging(self.0.on_element(v, ts, w, s, ctx))
    }
    fn on_event_time(
        &mut self,
        t: Timestamp,
        w: &W,
        s: &mut Tr::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        purging(self.0.on_event_time(t, w, s, ctx))
    }
    fn on_processing_time(
        &mut self,
        t: Timestamp,
        w: &W,
        s: &mut Tr::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        purging(self.0.on_processing_time(t, w, s, ctx))
    }
    fn can_merge(&self) -> bool {
        self.0.can_merge()
    }
    fn merge_state(&self, into: &mut Tr::State, from: Tr::State) {
        self.0.merge_state(into, from)
    }
    fn on_merge(&mut self, w: &W, s: &mut Tr::State, ctx: &mut TriggerContext<'_>) {
        self.0.on_merge(w, s, ctx)
    }
    fn clear(&mut self, w: &W, s: &mut Tr::State, ctx: &mut TriggerContext<'_>) {
        self.0.clear(w, s, ctx)
    }
}

/// Fires every `interval` of event time while a window is open (early results), and at its
/// end. Flink's `ContinuousEventTimeTrigger`.
#[derive(Debug, Clone, Copy)]
pub struct ContinuousEventTimeTrigger(pub i64);

impl ContinuousEventTimeTrigger {
    fn schedule(
        &self,
        from: Timestamp,
        w: &impl Window,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) {
        let t = from.saturating_add(self.0).min(w.max_timestamp());
        *next = Some(t);
        ctx.register_event_time_timer(t);
    }
}

impl<T, W: Window> Trigger<T, W> for ContinuousEventTimeTrigger {
    type State = Option<Timestamp>;
    fn on_element(
        &mut self,
        _v: &T,
        ts: Timestamp,
        w: &W,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if w.max_timestamp() <= ctx.watermark {
            return TriggerResult::Fire;
        }
        ctx.register_event_time_timer(w.max_timestamp());
        if next.is_none() {
            // Java's `%` truncates toward zero; Rust's does too.
            let start = ts - ts % self.0;
            self.schedule(start, w, next, ctx);
        }
        TriggerResult::Continue
    }
    fn on_event_time(
        &mut self,
        t: Timestamp,
        w: &W,
        next: &mut Option<Timestamp>,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if t == w.max_timestamp() {
            return TriggerResult::Fire;
        }
        if *next == Some(t) {
            self.schedule(t, w, next, ctx);
            return TriggerResult::Fire;
        }
        TriggerResult::Continue
    }
    fn on_processing_time(
        &mut self,
        _t: Timestamp,
        _w: &W,
        _s: &mut Option<Timestamp>,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn merge_state(&self, into: &mut Option<Timestamp>, from: Option<Timestamp>) {
        *into = match (*into, from) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    fn on_merge(&mut self, _w: &W, next: &mut Option<Timestamp>, ctx: &mut TriggerContext<'_>) {
        if let Some(t) = *next {
            ctx.register_event_time_timer(t);
        }
    }
    fn clear(&mut self, _w: &W, next: &mut Option<Timestamp>, ctx: &mut TriggerContext<'_>) {
        if let Some(t) = next.take() {
            ctx.delete_event_time_timer(t);
        }
    }
}
