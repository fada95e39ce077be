//! `assign_timestamps_and_watermarks`: sets each record's event time and emits watermarks
//! and idleness from it, replacing what came from upstream (as Flink's
//! `TimestampsAndWatermarksOperator`; only the final `+∞` passes through).
//!
//! Periodic emission runs on a processing-time timer of the shard (so a split that receives
//! nothing still emits, and can be found idle), and is also checked after each batch.

use std::cell::RefCell;
use std::rc::Rc;

use super::output::{in_order, Progress};
use super::timer_driver::{drive_processing_timers, ProcessingTimers};
use super::unary::{Unary, UnaryCx, UnaryOp};
use super::Batch;
use crate::error::Result;
use crate::graph::ShardBuild;
use crate::time::{
    IdlenessTimer, Timestamp, TimestampAssigner, WatermarkGenerator, WatermarkOutput,
    WatermarkStrategy, MAX_WATERMARK, MIN_WATERMARK,
};

pub(crate) struct AssignTimestamps<T, A, G> {
    strategy: WatermarkStrategy<T, A, G>,
    /// Periodic emission interval; 0 or less: none.
    interval_ms: i64,
    /// What the generator decided so far.
    wm_out: WatermarkOutput,
    /// The last watermark forwarded.
    emitted: Timestamp,
    /// Whether this split is reported idle downstream.
    idle: bool,
    idleness: Option<IdlenessTimer>,
    /// When the next periodic emission is due (set on first use).
    next_emit_at: Option<Timestamp>,
}

impl<T, A, G> AssignTimestamps<T, A, G> {
    pub(crate) fn new(strategy: WatermarkStrategy<T, A, G>, interval_ms: i64) -> Self {
        let idleness = strategy.idle_timeout_ms.map(IdlenessTimer::new);
        AssignTimestamps {
            strategy,
            interval_ms,
            wm_out: WatermarkOutput::default(),
            emitted: MIN_WATERMARK,
            idle: false,
            idleness,
            next_emit_at: None,
        }
    }

    /// Whether a processing-time timer drives this operator.
    fn periodic(&self) -> bool {
        self.strategy.periodic(self.interval_ms)
    }
}

impl<T, A: Clone, G: Clone> Clone for AssignTimestamps<T, A, G> {
    fn clone(&self) -> Self {
        AssignTimestamps::new(self.strategy.clone(), self.interval_ms)
    }
}

impl<T: Clone + Send + 'static, A, G: WatermarkGenerator<T>> AssignTimestamps<T, A, G> {
    /// Forwards what the generator decided: becoming active before a watermark, going idle
    /// after it.
    fn publish(&mut self, cx: &mut UnaryCx<'_, T>) -> Result<()> {
        let mut status = self.wm_out.idle.take().filter(|i| *i != self.idle);
        let wm = (self.wm_out.watermark > self.emitted).then_some(self.wm_out.watermark);
        if wm.is_some() && self.idle && status.is_none() {
            status = Some(false); // a watermark makes an idle split active
        }
        in_order(wm, status, |p| match p {
            Progress::Idle(i) => self.set_idle(i, cx),
            Progress::Watermark(w) => {
                self.emitted = w;
                cx.out.watermark(w)?;
                cx.sides.watermark(w)
            }
        })
    }

    fn set_idle(&mut self, idle: bool, cx: &mut UnaryCx<'_, T>) -> Result<()> {
        self.idle = idle;
        cx.out.idle(idle)?;
        cx.sides.idle(idle)
    }

    /// The periodic emission at processing time `now`.
    fn emit_periodic(&mut self, now: Timestamp, cx: &mut UnaryCx<'_, T>) -> Result<()> {
        self.next_emit_at = Some(now.saturating_add(self.interval_ms));
        if let Some(timer) = &mut self.idleness {
            if timer.check_if_idle(now) {
                self.wm_out.mark_idle();
                return self.publish(cx);
            }
        }
        self.strategy.generator.on_periodic_emit(&mut self.wm_out);
        self.publish(cx)
    }
}

impl<T, A, G> Unary for AssignTimestamps<T, A, G>
where
    T: Clone + Send + 'static,
    A: TimestampAssigner<T>,
    G: WatermarkGenerator<T>,
{
    type In = T;
    type Out = T;

    /// Takes part in checkpoints without state (watermark generators restart from the restored records, as in Flink).
    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        Ok(false)
    }

    fn on_batch(&mut self, batch: &mut Batch<T>, cx: &mut UnaryCx<'_, T>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(timer) = &mut self.idleness {
            timer.activity();
        }
        if self.idle {
            // A record makes an idle split active again, before the record.
            self.set_idle(false, cx)?;
        }
        let punctuated = self.strategy.punctuated;
        for (ts, v) in batch.drain(..) {
            let ts = self.strategy.assigner.extract(&v, ts);
            self.strategy.generator.on_event(&v, ts, &mut self.wm_out);
            if punctuated {
                self.strategy.generator.on_periodic_emit(&mut self.wm_out);
            }
            cx.out.give(ts, v);
            if self.wm_out.watermark > self.emitted || self.wm_out.idle.is_some() {
                self.publish(cx)?;
            }
        }
        if self.periodic() {
            let now = cx.clock.now_ms();
            match self.next_emit_at {
                None => self.next_emit_at = Some(now.saturating_add(self.interval_ms)),
                Some(t) if now >= t => self.emit_periodic(now, cx)?,
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, wm: Timestamp, _cx: &mut UnaryCx<'_, T>) -> Result<bool> {
        Ok(wm == MAX_WATERMARK)
    }

    fn on_idle(&mut self, _idle: bool, _cx: &mut UnaryCx<'_, T>) -> Result<bool> {
        Ok(false)
    }

    fn on_wired(op: &Rc<RefCell<UnaryOp<Self>>>, cx: &mut ShardBuild) {
        if op.borrow().logic.periodic() {
            drive_processing_timers(op.clone(), cx);
        }
    }
}

impl<T, A, G> ProcessingTimers for UnaryOp<AssignTimestamps<T, A, G>>
where
    T: Clone + Send + 'static,
    A: TimestampAssigner<T>,
    G: WatermarkGenerator<T>,
{
    fn ended(&self) -> bool {
        self.ended
    }

    fn next_processing_timer(&mut self) -> Option<Timestamp> {
        let interval = self.logic.interval_ms;
        let clock = &self.clock;
        Some(
            *self
                .logic
                .next_emit_at
                .get_or_insert_with(|| clock.now_ms().saturating_add(interval)),
        )
    }

    fn fire_processing_timers(&mut self, now: Timestamp) -> Result<()> {
        self.with_cx(|l, cx| l.emit_periodic(now, cx))
    }
}
