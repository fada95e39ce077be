//! `connect(..).process(..)`: two inputs of possibly different types into one function.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::align::{two_input_fields, HeldInputs, TwoInputOp};
use super::process::{non_keyed_role, ProcessContext};
use super::unary::Participant;
use super::{Batch, OnInput, OpInfo, Output, Port, Push, SideOutputs};
use crate::checkpoint::registry::restore_view;
use crate::checkpoint::StateRegistry;
use crate::error::{Result, UserError};
use crate::graph::{Instantiate, NodeFactory, ShardBuild, ShardNode, Wired};
use crate::time::{Clock, Frontier, Timestamp};

/// A function over two connected streams (Flink's `CoProcessFunction`): one method per
/// input, one output. Records of the two inputs arrive interleaved in no fixed order.
pub trait CoProcessFunction<A, B, O>: Clone + Send + 'static {
    /// Called for every record of the first input.
    fn process_element1(
        &mut self,
        value: A,
        ctx: &mut ProcessContext<'_, O>,
    ) -> Result<(), UserError>;
    /// Called for every record of the second input.
    fn process_element2(
        &mut self,
        value: B,
        ctx: &mut ProcessContext<'_, O>,
    ) -> Result<(), UserError>;
    /// Called once when both inputs have ended.
    fn finish(&mut self, _ctx: &mut ProcessContext<'_, O>) -> Result<(), UserError> {
        Ok(())
    }

    /// For checkpoints: registers the function's operator list state, or with an empty body
    /// declares that its fields hold nothing that must survive a recovery (see
    /// [`ProcessFunction::state`](crate::ProcessFunction::state)); the operator then aligns
    /// its two inputs at barriers and snapshots the lists there. The default declares nothing,
    /// and a job with checkpoints refuses to start with it.
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.undeclared();
    }
}

/// Progress of a two-input operator (pure): the combined watermark, barriers (forwarded once
/// both inputs delivered them; an ended input no longer holds them back) and end-of-stream.
pub(crate) struct TwoInputs {
    frontier: Frontier,
    barriers: [u64; 2],
    forwarded: u64,
    align: bool,
}

impl TwoInputs {
    /// Inputs that cannot emit anything on this shard start idle.
    pub(crate) fn new(live: [bool; 2]) -> Self {
        let mut frontier = Frontier::new(2);
        for (i, l) in live.iter().enumerate() {
            if !l {
                frontier.set_idle(i, true);
            }
        }
        TwoInputs {
            frontier,
            // An input that can emit nothing never delivers a barrier: it holds none back.
            barriers: live.map(|l| if l { 0 } else { u64::MAX }),
            forwarded: 0,
            align: false,
        }
    }

    /// Makes [`blocked`](TwoInputs::blocked) report inputs past an unforwarded barrier
    /// (operators that snapshot, in jobs with checkpoints).
    pub(crate) fn with_alignment(mut self, on: bool) -> Self {
        self.align = on;
        self
    }

    /// Turns alignment on or off (unaligned checkpoints align savepoints' epochs only).
    pub(crate) fn set_alignment(&mut self, on: bool) {
        self.align = on;
    }

    /// Epoch `e` went on already (unaligned, at its first barrier): its barriers are not
    /// forwarded again once both inputs delivered them.
    pub(crate) fn forwarded_to(&mut self, e: u64) {
        self.forwarded = self.forwarded.max(e);
    }

    /// Input `i` delivered a barrier not forwarded yet: what it sends next must wait.
    #[inline]
    pub(crate) fn blocked(&self, i: usize) -> bool {
        let b = self.barriers[i];
        self.align && b > self.forwarded && b != u64::MAX
    }

    /// The combined watermark.
    pub(crate) fn watermark(&self) -> Timestamp {
        self.frontier.current()
    }

    /// Input `i` reached `wm`; the combined watermark if it advanced.
    pub(crate) fn advance(&mut self, i: usize, wm: Timestamp) -> Option<Timestamp> {
        self.frontier.advance(i, wm)
    }

    /// Input `i` went idle or active; the combined watermark if that advanced it.
    pub(crate) fn set_idle(&mut self, i: usize, idle: bool) -> Option<Timestamp> {
        self.frontier.set_idle(i, idle)
    }

    /// Whether both inputs together went idle or active, if that changed.
    pub(crate) fn idle_change(&mut self) -> Option<bool> {
        self.frontier.idle_change()
    }

    /// Input `i` delivered barrier `epoch`; the barrier to forward, if any.
    pub(crate) fn barrier(&mut self, i: usize, epoch: u64) -> Option<u64> {
        self.barriers[i] = self.barriers[i].max(epoch);
        let min = self.barriers[0].min(self.barriers[1]);
        (min > self.forwarded && min != u64::MAX).then(|| {
            self.forwarded = min;
            min
        })
    }

    /// Input `i` ended: the combined watermark if it advanced, the barrier the other input
    /// was held on, and whether both inputs have now ended.
    pub(crate) fn end(&mut self, i: usize) -> (Option<Timestamp>, Option<u64>, bool) {
        self.barriers[i] = u64::MAX;
        let other = self.barriers[1 - i];
        let barrier = (other > self.forwarded && other != u64::MAX).then(|| {
            self.forwarded = other;
            other
        });
        (self.frontier.end(i), barrier, self.frontier.all_ended())
    }
}

/// Marks the first input.
pub(crate) struct First;
/// Marks the second input.
pub(crate) struct Second;

pub(crate) struct CoProcessOp<P, A, B, O> {
    f: P,
    /// What an input sent after a barrier not yet forwarded (checkpoint alignment).
    held: HeldInputs<A, B>,
    out: Output<O>,
    sides: SideOutputs,
    progress: TwoInputs,
    info: OpInfo,
    clock: Arc<dyn Clock>,
    /// Set when the function registers operator list state (in jobs with checkpoints).
    participant: Option<Participant>,
    _t: PhantomData<fn(A, B)>,
}

impl<P: CoProcessFunction<A, B, O>, A, B, O: Clone> CoProcessOp<P, A, B, O> {
    /// Hands in the function's operator list state at barrier `epoch` (when it has any).
    fn snapshot(&mut self, epoch: u64) -> Result<()> {
        let Some(p) = &self.participant else {
            return Ok(());
        };
        let mut b = p.builder(epoch, self.info.shard);
        let mut reg = StateRegistry::snapshot(&mut b);
        self.f.state(&mut reg);
        reg.finish().map_err(|why| {
            crate::error::SpateError::Config(format!(
                "operator '{}' cannot snapshot its state: {why}",
                self.info.name
            ))
        })?;
        p.hand_in_builder(epoch, b);
        Ok(())
    }

    /// Calls `f` for one record (or the end); `now` is read once per batch by the caller.
    fn run(
        &mut self,
        f: impl FnOnce(&mut P, &mut ProcessContext<'_, O>) -> Result<(), UserError>,
        ts: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        let mut pc = ProcessContext {
            ts,
            out: &mut self.out,
            sides: &mut self.sides,
            watermark: self.progress.watermark(),
            now,
        };
        f(&mut self.f, &mut pc).map_err(|e| self.info.user_error(e))
    }

    fn batch_done(&mut self) -> Result<()> {
        self.out.flush()?;
        self.sides.flush()
    }
}

impl<P: CoProcessFunction<A, B, O>, A, B, O: Clone> TwoInputOp for CoProcessOp<P, A, B, O> {
    type A = A;
    type B = B;

    two_input_fields!();

    fn batch_a(&mut self, batch: &mut Batch<A>) -> Result<()> {
        let now = self.clock.now_ms();
        for (ts, v) in batch.drain(..) {
            self.run(|f, pc| f.process_element1(v, pc), ts, now)?;
        }
        self.batch_done()
    }

    fn batch_b(&mut self, batch: &mut Batch<B>) -> Result<()> {
        let now = self.clock.now_ms();
        for (ts, v) in batch.drain(..) {
            self.run(|f, pc| f.process_element2(v, pc), ts, now)?;
        }
        self.batch_done()
    }

    fn forward(&mut self, w: Option<Timestamp>) -> Result<()> {
        let status = self.progress.idle_change();
        self.out.progress(w, status)?;
        self.sides.progress(w, status)
    }

    fn forward_barrier(&mut self, e: u64) -> Result<()> {
        self.snapshot(e)?;
        self.out.barrier(e)
    }

    fn all_ended(&mut self) -> Result<()> {
        let now = self.clock.now_ms();
        self.run(|f, pc| f.finish(pc), crate::time::NO_TIMESTAMP, now)?;
        self.snapshot(crate::checkpoint::format::FINAL_EPOCH)?;
        self.out.end()?;
        self.sides.end()
    }
}

pub(crate) struct CoProcessFactory<P, A, B, O>(pub(crate) P, pub(crate) PhantomData<fn(A, B) -> O>);

impl<P, A, B, O> NodeFactory for CoProcessFactory<P, A, B, O>
where
    P: CoProcessFunction<A, B, O>,
    A: Clone + 'static,
    B: Clone + 'static,
    O: Clone + 'static,
{
    fn checkpoint_role(&mut self) -> std::result::Result<(), String> {
        non_keyed_role(|reg| self.0.state(reg), "CoProcessFunction").map(|_| ())
    }

    fn instantiate(&mut self, cx: &Instantiate<'_>) -> Result<Box<dyn ShardNode>> {
        let live = [cx.input_live(0), cx.input_live(1)];
        let mut f = self.0.clone();
        let lists = cx.cfg.checkpoint.is_some()
            && non_keyed_role(|reg| f.state(reg), "CoProcessFunction") == Ok(true);
        if let (true, Some(r)) = (lists, cx.cfg.restored()) {
            restore_view(r, cx.node, cx.shard, cx.cfg.shards, cx.cfg.max_parallelism)
                .and_then(|v| {
                    let mut reg = StateRegistry::restore(&v);
                    f.state(&mut reg);
                    reg.finish()
                })
                .map_err(|why| {
                    crate::error::SpateError::Config(format!(
                        "cannot restore node {} from checkpoint {}: {why}",
                        cx.node, r.manifest.epoch
                    ))
                })?;
        }
        Ok(Box::new(CoProcessShard::<P, A, B, O>(
            f,
            live,
            lists,
            PhantomData,
        )))
    }
}

/// The function of one shard, its inputs' liveness, and whether it has list state.
struct CoProcessShard<P, A, B, O>(P, [bool; 2], bool, PhantomData<fn(A, B) -> O>);

impl<P, A, B, O> ShardNode for CoProcessShard<P, A, B, O>
where
    P: CoProcessFunction<A, B, O>,
    A: Clone + 'static,
    B: Clone + 'static,
    O: Clone + 'static,
{
    fn wire(
        self: Box<Self>,
        mut outputs: Vec<Vec<Box<dyn Any>>>,
        cx: &mut ShardBuild,
    ) -> Result<Box<dyn Wired>> {
        let out = cx.output::<O>(std::mem::take(&mut outputs[0]))?;
        let sides = cx.side_outputs(outputs.split_off(1))?;
        let participant = match &cx.snapshots {
            Some(s) if self.2 => Some(Participant::new(s, cx.node)),
            _ => None,
        };
        let held = HeldInputs::wire(cx, self.1, participant.as_ref())?;
        let op = Rc::new(RefCell::new(CoProcessOp {
            f: self.0,
            held,
            out,
            sides,
            // Even stateless, it aligns: what an input sends after a barrier must not reach
            // the output before the barrier (downstream state would count it twice).
            progress: TwoInputs::new(self.1).with_alignment(cx.snapshots.is_some()),
            info: OpInfo {
                name: cx.name.clone(),
                shard: cx.shard,
            },
            clock: cx.cfg.clock.clone(),
            participant,
            _t: PhantomData::<fn(A, B)>,
        }));
        Ok(Box::new(TwoInputWired {
            op,
            node: cx.node,
            _t: PhantomData::<fn(A, B)>,
        }))
    }
}

/// Hands out the two input ports of a two-input operator `Op` with inputs `A` and `B`.
pub(crate) struct TwoInputWired<Op, A, B> {
    pub(crate) op: Rc<RefCell<Op>>,
    pub(crate) node: usize,
    pub(crate) _t: PhantomData<fn(A, B)>,
}

impl<Op, A, B> Wired for TwoInputWired<Op, A, B>
where
    Op: OnInput<A, First> + OnInput<B, Second> + 'static,
    A: 'static,
    B: 'static,
{
    fn input(&mut self, input: usize) -> Box<dyn Any> {
        if input == 0 {
            let p: Box<dyn Push<A>> =
                Box::new(Port::<_, A, First>::new(self.op.clone(), 0, self.node));
            Box::new(p)
        } else {
            let p: Box<dyn Push<B>> =
                Box::new(Port::<_, B, Second>::new(self.op.clone(), 1, self.node));
            Box::new(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TwoInputs;

    #[test]
    fn barriers_wait_for_both_inputs_and_an_ended_input_stops_holding_them() {
        let mut p = TwoInputs::new([true, true]);
        assert_eq!(p.barrier(0, 1), None);
        assert_eq!(p.barrier(1, 1), Some(1));
        assert_eq!(p.barrier(0, 2), None);
        // Input 1 ends while input 0 waits at barrier 2: it goes on.
        let (_, held, all) = p.end(1);
        assert_eq!(held, Some(2));
        assert!(!all);
        assert_eq!(p.barrier(0, 3), Some(3));
        let (wm, held, all) = p.end(0);
        assert_eq!((wm, held, all), (Some(i64::MAX), None, true));
    }
}
