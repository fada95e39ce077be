//! `assign_timestamps_and_watermarks`: sets each record's event time and emits watermarks
//! from it, replacing the watermarks from upstream (as Flink's
//! `TimestampsAndWatermarksOperator`; only the final `+∞` passes through).

use super::unary::{Unary, UnaryCx};
use super::Batch;
use crate::error::Result;
use crate::time::{Timestamp, TimestampAssigner, WatermarkStrategy, MAX_WATERMARK, MIN_WATERMARK};

pub(crate) struct AssignTimestamps<T, A> {
    pub(crate) strategy: WatermarkStrategy<T, A>,
    pub(crate) interval_ms: i64,
    pub(crate) max_ts: Timestamp,
    pub(crate) emitted: Timestamp,
    pub(crate) last_emit_at: Option<Timestamp>,
}

impl<T, A: Clone> Clone for AssignTimestamps<T, A> {
    fn clone(&self) -> Self {
        AssignTimestamps {
            strategy: self.strategy.clone(),
            interval_ms: self.interval_ms,
            max_ts: MIN_WATERMARK,
            emitted: MIN_WATERMARK,
            last_emit_at: None,
        }
    }
}

impl<T: Clone + Send + 'static, A> AssignTimestamps<T, A> {
    fn emit(&mut self, cx: &mut UnaryCx<'_, T>) -> Result<()> {
        let wm = self.strategy.watermark_for(self.max_ts);
        if wm > self.emitted {
            self.emitted = wm;
            cx.out.watermark(wm)?;
            cx.sides.watermark(wm)?;
        }
        Ok(())
    }
}

impl<T: Clone + Send + 'static, A: TimestampAssigner<T>> Unary for AssignTimestamps<T, A> {
    type In = T;
    type Out = T;

    fn on_batch(&mut self, batch: &mut Batch<T>, cx: &mut UnaryCx<'_, T>) -> Result<()> {
        let punctuated = self.strategy.punctuated;
        for (ts, v) in batch.drain(..) {
            let ts = self.strategy.assigner.extract(&v, ts);
            self.max_ts = self.max_ts.max(ts);
            cx.out.give(ts, v);
            if punctuated {
                self.emit(cx)?;
            }
        }
        if !punctuated {
            // Periodic emission, checked once per batch; the first one comes an interval
            // after the first batch, as Flink's periodic emitter starts with the task.
            let now = cx.clock.now_ms();
            match self.last_emit_at {
                None => self.last_emit_at = Some(now),
                Some(t) if now.saturating_sub(t) >= self.interval_ms => {
                    self.last_emit_at = Some(now);
                    self.emit(cx)?;
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, wm: Timestamp, _cx: &mut UnaryCx<'_, T>) -> Result<bool> {
        Ok(wm == MAX_WATERMARK)
    }
}
