//! The task that fires an operator's processing-time timers on its shard.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::OperatorGuard;
use crate::error::{Result, SpateError};
use crate::graph::{flush_all, ShardBuild};
use crate::runtime::task::sleep;
use crate::time::Timestamp;

/// An operator with processing-time timers.
pub(crate) trait ProcessingTimers {
    /// `true` once the operator's input has ended: pending timers are then dropped.
    fn ended(&self) -> bool;
    /// The earliest pending processing-time timer.
    fn next_processing_timer(&mut self) -> Option<Timestamp>;
    /// Fires every timer at or before `now`, then flushes the outputs.
    fn fire_processing_timers(&mut self, now: Timestamp) -> Result<()>;
}

/// Registers a driver that polls the clock (every ≤ 5 ms, sooner when a timer is due) and
/// fires `op`'s processing-time timers, until `op`'s input ends.
pub(crate) fn drive_processing_timers<O: ProcessingTimers + 'static>(
    op: Rc<RefCell<O>>,
    cx: &mut ShardBuild,
) {
    let reach = cx.down_reach.clone();
    let (cancel, clock, node) = (cx.cfg.cancel.clone(), cx.cfg.clock.clone(), cx.node);
    cx.drive(async move {
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(SpateError::Cancelled);
            }
            let (ended, next) = {
                let mut o = op.borrow_mut();
                (o.ended(), o.next_processing_timer())
            };
            if ended {
                return Ok(());
            }
            let now = clock.now_ms();
            match next {
                Some(t) if t <= now => {
                    {
                        let _g = OperatorGuard::enter(node);
                        op.borrow_mut().fire_processing_timers(now)?;
                    }
                    flush_all(&reach, false).await?;
                }
                Some(t) => sleep(Duration::from_millis((t - now).clamp(1, 5) as u64)).await,
                None => sleep(Duration::from_millis(5)).await,
            }
        }
    });
}
