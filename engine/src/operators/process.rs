//! `process`: a general function per record with access to time and side outputs.

use std::marker::PhantomData;

use super::unary::{Unary, UnaryCx};
use super::{Batch, OpInfo, Output, OutputTag, SideOutputs};
use crate::checkpoint::format::SnapshotBuilder;
use crate::checkpoint::registry::RestoreView;
use crate::checkpoint::StateRegistry;
use crate::error::{Result, UserError};
use crate::time::{Timestamp, NO_TIMESTAMP};

/// What a [`ProcessFunction`] can see and do for the current record.
pub struct ProcessContext<'a, O> {
    pub(crate) ts: Timestamp,
    pub(crate) out: &'a mut Output<O>,
    pub(crate) sides: &'a mut SideOutputs,
    pub(crate) watermark: Timestamp,
    pub(crate) now: Timestamp,
}

/// Calls `f` on every record of `batch` (draining it) with a context at `watermark` and
/// processing time `now`, both read once per batch by the caller; then flushes `out` and
/// `sides`. A failure of `f` is reported naming the operator `info`.
pub(crate) fn process_batch<T, O: Clone>(
    batch: &mut Batch<T>,
    out: &mut Output<O>,
    sides: &mut SideOutputs,
    info: &OpInfo,
    (watermark, now): (Timestamp, Timestamp),
    mut f: impl FnMut(T, &mut ProcessContext<'_, O>) -> Result<(), UserError>,
) -> Result<()> {
    for (ts, v) in batch.drain(..) {
        let mut pc = ProcessContext {
            ts,
            out: &mut *out,
            sides: &mut *sides,
            watermark,
            now,
        };
        f(v, &mut pc).map_err(|e| info.user_error(e))?;
    }
    out.flush()?;
    sides.flush()
}

impl<O: Clone> ProcessContext<'_, O> {
    /// The current record's event-time timestamp, if it has one.
    pub fn timestamp(&self) -> Option<Timestamp> {
        (self.ts != NO_TIMESTAMP).then_some(self.ts)
    }

    /// Emits `value` with the current record's timestamp.
    #[inline]
    pub fn collect(&mut self, value: O) {
        self.out.give(self.ts, value);
    }

    /// Emits `value` with timestamp `ts`.
    #[inline]
    pub fn collect_with_timestamp(&mut self, value: O, ts: Timestamp) {
        self.out.give(ts, value);
    }

    /// Emits `value` to the side output `tag`, with the current record's timestamp.
    #[inline]
    pub fn output<X: Clone + 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.sides.give(tag, self.ts, value);
    }

    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The processing time when the current batch started.
    pub fn current_processing_time(&self) -> Timestamp {
        self.now
    }
}

/// A function over each record of a (non-keyed) stream that may emit any number of records,
/// to the main output or to side outputs (Flink's `ProcessFunction`; timers need a keyed
/// stream). Closures `FnMut(I, &mut ProcessContext<O>) -> Result<(), UserError>` implement it.
pub trait ProcessFunction<I, O>: Clone + Send + 'static {
    /// Called for every record.
    fn process_element(
        &mut self,
        value: I,
        ctx: &mut ProcessContext<'_, O>,
    ) -> Result<(), UserError>;

    /// Called once when the input has ended (a bounded input), before the output ends.
    fn finish(&mut self, _ctx: &mut ProcessContext<'_, O>) -> Result<(), UserError> {
        Ok(())
    }

    /// For checkpoints: registers the function's operator list state
    /// ([`OperatorListState`](crate::state::OperatorListState), with
    /// [`StateRegistry::register_list`] or [`StateRegistry::register_union_list`]; Flink's
    /// `CheckpointedFunction`), snapshotted per shard at every barrier and redistributed by
    /// element on another shard count. Fields not registered start again from the clone
    /// given to `process` after a recovery; an empty body declares that nothing must
    /// survive one. Keyed handles (`ValueState`, ...) are refused: a non-keyed function has
    /// no current key. The default declares nothing, and a job with checkpoints refuses to
    /// start with it. Closures are stateless, like `map`'s.
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.undeclared();
    }
}

/// Whether a non-keyed function can take part in checkpoints: it must declare (implement
/// `state`) and register no keyed handle. `Ok(true)`: it registers operator list state,
/// which the operator must snapshot. `what` names its trait.
pub(crate) fn non_keyed_role(
    state: impl FnOnce(&mut StateRegistry<'_>),
    what: &str,
) -> std::result::Result<bool, String> {
    let mut reg = StateRegistry::probe();
    state(&mut reg);
    if !reg.is_declared() {
        return Err(format!(
            "its {what} does not implement `state` (an empty body declares that its fields \
             hold nothing that must survive a recovery)"
        ));
    }
    if reg.registered_keyed() {
        return Err(format!(
            "its {what} registers keyed state handles, but a non-keyed function has no \
             current key (register an OperatorListState with `register_list` instead)"
        ));
    }
    let lists = reg.registered_lists();
    reg.finish().map(|_| lists)
}

impl<I, O, F> ProcessFunction<I, O> for F
where
    F: FnMut(I, &mut ProcessContext<'_, O>) -> Result<(), UserError> + Clone + Send + 'static,
{
    #[inline]
    fn process_element(
        &mut self,
        value: I,
        ctx: &mut ProcessContext<'_, O>,
    ) -> Result<(), UserError> {
        self(value, ctx)
    }

    fn state(&mut self, _reg: &mut StateRegistry<'_>) {}
}

/// The operator running a [`ProcessFunction`].
pub(crate) struct Process<P, I, O> {
    pub(crate) f: P,
    pub(crate) _t: PhantomData<fn(I) -> O>,
}

impl<P: Clone, I, O> Clone for Process<P, I, O> {
    fn clone(&self) -> Self {
        Process {
            f: self.f.clone(),
            _t: PhantomData,
        }
    }
}

impl<P, I, O> Unary for Process<P, I, O>
where
    P: ProcessFunction<I, O>,
    I: Clone + 'static,
    O: Clone + 'static,
{
    type In = I;
    type Out = O;

    fn on_batch(&mut self, batch: &mut Batch<I>, cx: &mut UnaryCx<'_, O>) -> Result<()> {
        let now = cx.clock.now_ms();
        for (ts, v) in batch.drain(..) {
            let mut pc = ProcessContext {
                ts,
                out: cx.out,
                sides: cx.sides,
                watermark: cx.watermark,
                now,
            };
            self.f
                .process_element(v, &mut pc)
                .map_err(|e| cx.info.user_error(e))?;
        }
        Ok(())
    }

    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        non_keyed_role(|reg| self.f.state(reg), "ProcessFunction")
    }

    fn snapshot(&mut self, b: &mut SnapshotBuilder) -> std::result::Result<(), String> {
        let mut reg = StateRegistry::snapshot(b);
        self.f.state(&mut reg);
        reg.finish()
    }

    fn restore(&mut self, v: &RestoreView) -> std::result::Result<(), String> {
        let mut reg = StateRegistry::restore(v);
        self.f.state(&mut reg);
        reg.finish()
    }

    fn on_end(&mut self, cx: &mut UnaryCx<'_, O>) -> Result<()> {
        let mut pc = ProcessContext {
            ts: NO_TIMESTAMP,
            out: cx.out,
            sides: cx.sides,
            watermark: cx.watermark,
            now: cx.clock.now_ms(),
        };
        self.f.finish(&mut pc).map_err(|e| cx.info.user_error(e))
    }
}
