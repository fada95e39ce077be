//! Checkpoint alignment of two-input operators, in one place: what an input sends after a
//! barrier not yet forwarded waits in a queue, and is replayed, in the order it came, once
//! the barrier is forwarded.
//!
//! An operator implements [`TwoInputOp`] (its progress and what each message does); the
//! blanket [`OnInput`] impls below route both inputs through the queues. Everything is
//! generic (no virtual call), and the costs are per batch or control message.
//!
//! With unaligned checkpoints ([`super::inflight`]) nothing waits: the first barrier of an
//! epoch snapshots and goes on at once, the snapshot is kept back while what the other
//! input sends until its barrier is recorded, and both are handed in together (`TwoExt`).

use std::collections::VecDeque;

use super::co_process::{First, Second, TwoInputs};
use super::inflight::{Recorder, Step, Unaligned};
use super::unary::Participant;
use super::union::Held;
use super::{Batch, OnInput};
use crate::checkpoint::format::FINAL_EPOCH;
use crate::error::Result;
use crate::graph::ShardBuild;
use crate::time::Timestamp;

/// What each input of a two-input operator sent while it was blocked at a barrier.
pub(crate) struct HeldInputs<A, B> {
    a: VecDeque<Held<A>>,
    b: VecDeque<Held<B>>,
    /// Unaligned checkpoints and the replay of restored in-flight data (`None`: neither).
    ext: Option<Box<TwoExt<A, B>>>,
}

/// A two-input operator's side of unaligned checkpoints.
struct TwoExt<A, B> {
    /// Restored in-flight batches of each input, replayed before any new input.
    replay: (Vec<Batch<A>>, Vec<Batch<B>>),
    unaligned: Option<TwoUnaligned<A, B>>,
}

struct TwoUnaligned<A, B> {
    progress: Unaligned,
    a: Recorder<A>,
    b: Recorder<B>,
    /// The operator's own place among the shard's participants (its snapshot is kept back
    /// until the in-flight data joins it), or one for the in-flight data alone (`own`).
    participant: Participant,
    own: bool,
    shard: usize,
}

impl<A, B> HeldInputs<A, B> {
    pub(crate) fn new() -> Self {
        HeldInputs {
            a: VecDeque::new(),
            b: VecDeque::new(),
            ext: None,
        }
    }

    /// The queues of the two-input operator being wired, with unaligned checkpoints when
    /// the job takes them (sharing the operator's `participant` when it has state) and the
    /// restored in-flight data to replay.
    pub(crate) fn wire(
        cx: &ShardBuild,
        live: [bool; 2],
        participant: Option<&Participant>,
    ) -> Result<Self>
    where
        A: 'static,
        B: 'static,
    {
        use super::inflight::{codec, replay};
        let mut held = Self::new();
        let codecs = codec::<A>(cx)?.zip(codec::<B>(cx)?);
        let unaligned = match (codecs, cx.snapshots.as_ref()) {
            (Some((ca, cb)), Some(snaps)) => {
                let (participant, own) = match participant {
                    Some(p) => (p.clone(), false),
                    None => (Participant::new(snaps, cx.node), true),
                };
                let maxp = cx.cfg.max_parallelism;
                Some(TwoUnaligned {
                    progress: Unaligned::new(&live),
                    a: Recorder::new(ca, maxp),
                    b: Recorder::new(cb, maxp),
                    participant,
                    own,
                    shard: cx.shard,
                })
            }
            _ => None,
        };
        let replayed = (replay::<A>(cx, 0)?, replay::<B>(cx, 1)?);
        if unaligned.is_some() || !replayed.0.is_empty() || !replayed.1.is_empty() {
            held.ext = Some(Box::new(TwoExt {
                replay: replayed,
                unaligned,
            }));
        }
        Ok(held)
    }

    fn unaligned(&mut self) -> Option<&mut TwoUnaligned<A, B>> {
        self.ext.as_mut().and_then(|x| x.unaligned.as_mut())
    }
}

impl<A, B> TwoUnaligned<A, B> {
    /// Hands in epoch `e`: the operator's snapshot kept back, with the in-flight data.
    fn complete(&mut self, e: u64) {
        let p = &self.participant;
        let mut b = p
            .take_deferred(e)
            .unwrap_or_else(|| p.builder(e, self.shard));
        let bytes = self.a.write_into(0, &mut b) + self.b.write_into(1, &mut b);
        if bytes > 0 {
            tracing::debug!(epoch = e, bytes, "in-flight data recorded");
        }
        if self.own && bytes == 0 {
            p.hand_in_nothing(e);
        } else {
            p.hand_in_files(e, b);
        }
    }
}

/// A two-input operator, as seen by alignment: input 0 carries `A`, input 1 carries `B`.
///
/// The operator says what a batch does, how it forwards progress and barriers, and what it
/// does once both inputs ended; the handling of watermarks, idleness, barriers and ends
/// (the same for every two-input operator) is provided.
pub(crate) trait TwoInputOp: Sized {
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

    /// Input `i` delivered barrier `epoch`: forwarded once both inputs have delivered it
    /// (unaligned: at once).
    fn barrier(&mut self, i: usize, epoch: u64) -> Result<()> {
        if self.held().unaligned().is_some() {
            return unaligned_barrier(self, i, epoch);
        }
        aligned_barrier(self, i, epoch)
    }

    /// Input `i` ended: forwards the barrier the other input was held on, then the
    /// combined watermark; finishes once both inputs ended.
    fn end(&mut self, i: usize) -> Result<()> {
        let (wm, barrier, all_ended) = self.progress_mut().end(i);
        if let Some(e) = barrier {
            self.forward_barrier(e)?;
            aligned_done(self, e);
        }
        if let Some(u) = self.held().unaligned() {
            if let Step::Complete(e) = u.progress.end(i) {
                u.complete(e);
            }
        }
        self.forward(wm)?;
        if all_ended {
            self.all_ended()?;
            if let Some(u) = self.held().unaligned() {
                if u.own {
                    u.participant.hand_in_nothing(FINAL_EPOCH);
                }
            }
        }
        Ok(())
    }
}

fn aligned_barrier<Op: TwoInputOp>(op: &mut Op, i: usize, epoch: u64) -> Result<()> {
    match op.progress_mut().barrier(i, epoch) {
        Some(e) => {
            op.forward_barrier(e)?;
            aligned_done(op, e);
            Ok(())
        }
        None => Ok(()),
    }
}

/// Epoch `e` went on aligned: the in-flight participant, if the operator's own, has nothing.
fn aligned_done<Op: TwoInputOp>(op: &mut Op, e: u64) {
    if let Some(u) = op.held().unaligned() {
        if u.own {
            u.participant.hand_in_nothing(e);
        }
    }
}

/// Barrier `epoch` of input `i` under unaligned checkpoints.
fn unaligned_barrier<Op: TwoInputOp>(op: &mut Op, i: usize, epoch: u64) -> Result<()> {
    let step = match op.held().unaligned() {
        Some(u) => {
            let shared = u.participant.shared().clone();
            u.progress.barrier(i, epoch, || shared.aligned_epoch(epoch))
        }
        None => Step::Nothing,
    };
    match step {
        Step::Nothing => aligned_barrier(op, i, epoch),
        Step::Align(_) => {
            if let Some(u) = op.held().unaligned() {
                u.a.reset();
                u.b.reset();
            }
            op.progress_mut().set_alignment(true);
            aligned_barrier(op, i, epoch)
        }
        Step::Start { epoch: e, complete } => {
            let progress = op.progress_mut();
            progress.set_alignment(false);
            progress.forwarded_to(e);
            progress.barrier(i, epoch);
            if let Some(u) = op.held().unaligned() {
                u.a.reset();
                u.b.reset();
                u.participant.defer(e);
            }
            op.forward_barrier(e)?; // snapshots now; the snapshot is kept back
            if complete {
                if let Some(u) = op.held().unaligned() {
                    u.complete(e);
                }
            }
            Ok(())
        }
        Step::Complete(e) => {
            op.progress_mut().barrier(i, epoch);
            if let Some(u) = op.held().unaligned() {
                u.complete(e);
            }
            Ok(())
        }
    }
}

/// Replays restored in-flight data (once, before anything else), then records a batch of
/// input `i` if it is in-flight data.
#[cold]
fn ext_batch<Op: TwoInputOp>(
    op: &mut Op,
    rec: impl FnOnce(&mut TwoUnaligned<Op::A, Op::B>),
) -> Result<()> {
    replay(op)?;
    if let Some(u) = op.held().unaligned() {
        rec(u);
    }
    Ok(())
}

fn replay<Op: TwoInputOp>(op: &mut Op) -> Result<()> {
    let Some(x) = op.held().ext.as_mut() else {
        return Ok(());
    };
    if x.replay.0.is_empty() && x.replay.1.is_empty() {
        return Ok(());
    }
    let (a, b) = std::mem::take(&mut x.replay);
    for mut batch in a {
        op.batch_a(&mut batch)?;
    }
    for mut batch in b {
        op.batch_b(&mut batch)?;
    }
    Ok(())
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
    if op.held().ext.is_some() {
        replay(op)?;
    }
    if op.blocked(0) || !op.held().a.is_empty() {
        op.held().a.push_back(m);
        return Ok(());
    }
    apply_a(op, m)?;
    release(op)
}

/// A control message of the second input, through alignment.
fn deliver_b<Op: TwoInputOp>(op: &mut Op, m: Held<Op::B>) -> Result<()> {
    if op.held().ext.is_some() {
        replay(op)?;
    }
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
        if self.held().ext.is_some() {
            ext_batch(self, |u| {
                if u.progress.recording(0) {
                    u.a.record(batch)
                }
            })?;
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
        if self.held().ext.is_some() {
            ext_batch(self, |u| {
                if u.progress.recording(1) {
                    u.b.record(batch)
                }
            })?;
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
