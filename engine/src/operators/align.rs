//! Checkpoint alignment of two-input operators, in one place: what an input sends after a
//! barrier not yet forwarded waits in a queue, and is replayed, in the order it came, once
//! the barrier is forwarded.
//!
//! An operator implements [`TwoInputOp`] (its progress and what each message does); the
//! blanket [`OnInput`] impls below route both inputs through the queues. Everything is
//! generic (no virtual call), and the costs are per batch or control message.

use std::collections::VecDeque;

use super::co_process::{First, Second, TwoInputs};
use super::union::Held;
use super::{Batch, OnInput};
use crate::error::Result;
use crate::time::Timestamp;

/// What each input of a two-input operator sent while it was blocked at a barrier.
pub(crate) struct HeldInputs<A, B> {
    a: VecDeque<Held<A>>,
    b: VecDeque<Held<B>>,
}

impl<A, B> HeldInputs<A, B> {
    pub(crate) fn new() -> Self {
        HeldInputs {
            a: VecDeque::new(),
            b: VecDeque::new(),
        }
    }
}

/// A two-input operator, as seen by alignment: input 0 carries `A`, input 1 carries `B`.
///
/// The operator says what a batch does, how it forwards progress and barriers, and what it
/// does once both inputs ended; the handling of watermarks, idleness, barriers and ends
/// (the same for every two-input operator) is provided.
pub(crate) trait TwoInputOp {
    /// Records of the first input.
    type A;
    /// Records of the second input.
    type B;
    /// The operator's queues.
    fn held(&mut self) -> &mut HeldInputs<Self::A, Self::B>;
    /// The progress of both inputs.
    fn progress(&self) -> &TwoInputs;
    /// The progress of both inputs, to change.
    fn progress_mut(&mut self) -> &mut TwoInputs;
    /// Processes a batch of the first input.
    fn batch_a(&mut self, batch: &mut Batch<Self::A>) -> Result<()>;
    /// Processes a batch of the second input.
    fn batch_b(&mut self, batch: &mut Batch<Self::B>) -> Result<()>;
    /// Forwards the combined watermark if it advanced (`w`), and any change of idleness.
    fn forward(&mut self, w: Option<Timestamp>) -> Result<()>;
    /// Forwards barrier `e`, both inputs having delivered it (snapshotting first, if the
    /// operator has state).
    fn forward_barrier(&mut self, e: u64) -> Result<()>;
    /// Both inputs ended: the operator's last work, then the end of its outputs.
    fn all_ended(&mut self) -> Result<()>;

    /// Input `i` delivered a barrier not forwarded yet: what it sends next must wait.
    #[inline]
    fn blocked(&self, i: usize) -> bool {
        self.progress().blocked(i)
    }

    /// Input `i` reached watermark `wm`.
    fn watermark(&mut self, i: usize, wm: Timestamp) -> Result<()> {
        let w = self.progress_mut().advance(i, wm);
        self.forward(w)
    }

    /// Input `i` went idle or active.
    fn idle(&mut self, i: usize, idle: bool) -> Result<()> {
        let w = self.progress_mut().set_idle(i, idle);
        self.forward(w)
    }

    /// Input `i` delivered barrier `epoch`: forwarded once both inputs have delivered it.
    fn barrier(&mut self, i: usize, epoch: u64) -> Result<()> {
        match self.progress_mut().barrier(i, epoch) {
            Some(e) => self.forward_barrier(e),
            None => Ok(()),
        }
    }

    /// Input `i` ended: forwards the barrier the other input was held on, then the
    /// combined watermark; finishes once both inputs ended.
    fn end(&mut self, i: usize) -> Result<()> {
        let (wm, barrier, all_ended) = self.progress_mut().end(i);
        if let Some(e) = barrier {
            self.forward_barrier(e)?;
        }
        self.forward(wm)?;
        if all_ended {
            self.all_ended()?;
        }
        Ok(())
    }
}

/// The accessors of [`TwoInputOp`] for an operator whose fields are `held` and `progress`.
macro_rules! two_input_fields {
    () => {
        fn held(&mut self) -> &mut $crate::operators::align::HeldInputs<Self::A, Self::B> {
            &mut self.held
        }

        fn progress(&self) -> &$crate::operators::co_process::TwoInputs {
            &self.progress
        }

        fn progress_mut(&mut self) -> &mut $crate::operators::co_process::TwoInputs {
            &mut self.progress
        }
    };
}
pub(crate) use two_input_fields;

fn apply_a<Op: TwoInputOp>(op: &mut Op, m: Held<Op::A>) -> Result<()> {
    match m {
        Held::Data(mut b) => op.batch_a(&mut b),
        Held::Watermark(wm) => op.watermark(0, wm),
        Held::Idle(i) => op.idle(0, i),
        Held::Barrier(e) => op.barrier(0, e),
        Held::End => op.end(0),
    }
}

fn apply_b<Op: TwoInputOp>(op: &mut Op, m: Held<Op::B>) -> Result<()> {
    match m {
        Held::Data(mut b) => op.batch_b(&mut b),
        Held::Watermark(wm) => op.watermark(1, wm),
        Held::Idle(i) => op.idle(1, i),
        Held::Barrier(e) => op.barrier(1, e),
        Held::End => op.end(1),
    }
}

/// A control message of the first input, through alignment.
fn deliver_a<Op: TwoInputOp>(op: &mut Op, m: Held<Op::A>) -> Result<()> {
    if op.blocked(0) || !op.held().a.is_empty() {
        op.held().a.push_back(m);
        return Ok(());
    }
    apply_a(op, m)?;
    release(op)
}

/// A control message of the second input, through alignment.
fn deliver_b<Op: TwoInputOp>(op: &mut Op, m: Held<Op::B>) -> Result<()> {
    if op.blocked(1) || !op.held().b.is_empty() {
        op.held().b.push_back(m);
        return Ok(());
    }
    apply_b(op, m)?;
    release(op)
}

/// Replays what inputs held while they are no longer blocked, until nothing changes.
fn release<Op: TwoInputOp>(op: &mut Op) -> Result<()> {
    loop {
        let mut progressed = false;
        while !op.blocked(0) {
            let Some(m) = op.held().a.pop_front() else {
                break;
            };
            apply_a(op, m)?;
            progressed = true;
        }
        while !op.blocked(1) {
            let Some(m) = op.held().b.pop_front() else {
                break;
            };
            apply_b(op, m)?;
            progressed = true;
        }
        if !progressed {
            return Ok(());
        }
    }
}

impl<Op: TwoInputOp> OnInput<Op::A, First> for Op {
    fn on_batch(&mut self, _input: usize, batch: &mut Batch<Op::A>) -> Result<()> {
        if self.blocked(0) || !self.held().a.is_empty() {
            self.held().a.push_back(Held::Data(std::mem::take(batch)));
            return Ok(());
        }
        self.batch_a(batch)
    }
    fn on_watermark(&mut self, _input: usize, wm: Timestamp) -> Result<()> {
        deliver_a(self, Held::Watermark(wm))
    }
    fn on_idle(&mut self, _input: usize, idle: bool) -> Result<()> {
        deliver_a(self, Held::Idle(idle))
    }
    fn on_barrier(&mut self, _input: usize, epoch: u64) -> Result<()> {
        deliver_a(self, Held::Barrier(epoch))
    }
    fn on_end(&mut self, _input: usize) -> Result<()> {
        deliver_a(self, Held::End)
    }
}

impl<Op: TwoInputOp> OnInput<Op::B, Second> for Op {
    fn on_batch(&mut self, _input: usize, batch: &mut Batch<Op::B>) -> Result<()> {
        if self.blocked(1) || !self.held().b.is_empty() {
            self.held().b.push_back(Held::Data(std::mem::take(batch)));
            return Ok(());
        }
        self.batch_b(batch)
    }
    fn on_watermark(&mut self, _input: usize, wm: Timestamp) -> Result<()> {
        deliver_b(self, Held::Watermark(wm))
    }
    fn on_idle(&mut self, _input: usize, idle: bool) -> Result<()> {
        deliver_b(self, Held::Idle(idle))
    }
    fn on_barrier(&mut self, _input: usize, epoch: u64) -> Result<()> {
        deliver_b(self, Held::Barrier(epoch))
    }
    fn on_end(&mut self, _input: usize) -> Result<()> {
        deliver_b(self, Held::End)
    }
}
