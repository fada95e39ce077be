//! The one two-input operator behind the interval join and the overlap join.
//!
//! A [`JoinSpec`] places each record in time — the instant its lateness is judged by and the
//! interval it matches with — and says what a matching pair (and, for left-outer joins, an
//! unmatched left record) emits. The operator does the rest for both joins alike: late
//! records to their side's late output, probe the key's other side, buffer, evict as the
//! watermark advances, and hold the output watermark back for left-outer rows still to come.

use std::any::Any;
use std::cell::RefCell;
use std::hash::Hash;
use std::marker::PhantomData;
use std::rc::Rc;

use super::buffer::Interval;
use super::gauge::JoinStateGauge;
use super::state::{JoinCodecs, JoinState, LEFT_SECTION, RIGHT_SECTION};
use crate::checkpoint::format::FINAL_EPOCH;
use crate::checkpoint::registry::restore_view;
use crate::error::{Result, SpateError, UserError};
use crate::graph::{Instantiate, NodeFactory, ShardBuild, ShardNode, Wired};
use crate::operators::align::{two_input_fields, HeldInputs, TwoInputOp};
use crate::operators::co_process::{TwoInputWired, TwoInputs};
use crate::operators::unary::{
    drive_staged_snapshots, staged_snapshot_fields, Participant, StagedFile, StagedSnapshots,
};
use crate::operators::{Batch, Counter, OpInfo, Output, OutputTag, SideOutputs};
use crate::state::hash_key;
use crate::time::{Timestamp, MAX_WATERMARK, MIN_WATERMARK};

/// Where a record sits in time for a join.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    /// The record is late when this is below the watermark.
    pub(crate) time: Timestamp,
    /// It matches records of the other side whose intervals overlap this one.
    pub(crate) iv: Interval,
}

/// What join functions emit to, and the watermark they see.
pub(crate) struct Emit<'a, O> {
    pub(crate) out: &'a mut Output<O>,
    pub(crate) sides: &'a mut SideOutputs,
    pub(crate) watermark: Timestamp,
}

/// One join's rules over the shared operator.
///
/// Contract: a record whose `time` is at or above the watermark may match any buffered
/// record of the other side that has not been dropped. A record is dropped once
/// `iv.end + hold <= watermark` (`holds()[side]`), so `hold` must be large enough that no
/// record of the other side arriving on time afterwards could still match it — or pairs are
/// lost.
pub(crate) trait JoinSpec<K, A, B, O>: Clone + Send + 'static {
    /// The span of a left record with timestamp `ts`.
    fn left_span(&self, ts: Timestamp, value: &A) -> Result<Span, UserError>;
    /// The span of a right record with timestamp `ts`.
    fn right_span(&self, ts: Timestamp, value: &B) -> Result<Span, UserError>;
    /// How long past its interval's end each side is kept, in watermark time.
    fn holds(&self) -> [i64; 2];
    /// Whether unmatched left records are emitted.
    fn left_outer(&self) -> bool {
        false
    }
    /// How far the output watermark stays below the input watermark (before `+∞`).
    fn watermark_delay(&self) -> i64 {
        0
    }
    /// Emits for one matching pair.
    #[allow(clippy::too_many_arguments)] // both records and both intervals, as the call has them
    fn pair(
        &mut self,
        key: &K,
        left: &A,
        left_iv: Interval,
        right: &B,
        right_iv: Interval,
        em: &mut Emit<'_, O>,
    ) -> Result<(), UserError>;
    /// Emits for a left record that matched nothing (left-outer only).
    fn unmatched_left(
        &mut self,
        _key: &K,
        _left: &A,
        _left_iv: Interval,
        _em: &mut Emit<'_, O>,
    ) -> Result<(), UserError> {
        Ok(())
    }
}

pub(crate) struct JoinOp<S, K, A, B, O, FA, FB> {
    spec: S,
    key_a: FA,
    key_b: FB,
    state: JoinState<K, A, B>,
    out: Output<O>,
    sides: SideOutputs,
    late_left: Option<OutputTag<A>>,
    late_right: Option<OutputTag<B>>,
    /// Late records counted instead of sent, per side, when no late output was set.
    discarded: [Counter; 2],
    progress: TwoInputs,
    /// The last watermark forwarded.
    out_wm: Timestamp,
    gauge: Option<JoinStateGauge>,
    info: OpInfo,
    /// What an input sent after a barrier not yet forwarded (checkpoint alignment).
    held: HeldInputs<A, B>,
    /// With checkpoints: where snapshots go, and the codecs that write them.
    participant: Option<(Participant, JoinCodecs<K, A, B>)>,
    /// The snapshot whose buffers are still being copied, and the keys per step.
    staged: StagedFile,
    /// Both inputs ended.
    ended: bool,
}

impl<S, K, A, B, O, FA, FB> JoinOp<S, K, A, B, O, FA, FB>
where
    S: JoinSpec<K, A, B, O>,
    K: Hash + Eq,
    A: Clone + 'static,
    B: Clone + 'static,
    O: Clone + 'static,
    FA: Fn(&A) -> K,
    FB: Fn(&B) -> K,
{
    fn batch_done(&mut self) -> Result<()> {
        self.out.flush()?;
        self.sides.flush()?;
        if self.spec.left_outer() {
            // Matches may have released the held-back watermark.
            if let Some(w) = self.next_output_watermark() {
                self.out.watermark(w)?;
                self.sides.watermark(w)?;
            }
        }
        self.publish();
        self.step_after_work()?;
        Ok(())
    }

    fn publish(&self) {
        if let Some(g) = &self.gauge {
            g.publish(self.info.shard, self.state.len() as u64);
        }
    }

    /// The input watermark less the spec's delay, held below the start of every unmatched
    /// left record still buffered (its row is still to come); `Some` when it advanced.
    fn next_output_watermark(&mut self) -> Option<Timestamp> {
        let mut w = self.progress.watermark();
        if w != MAX_WATERMARK {
            w = w.saturating_sub(self.spec.watermark_delay());
        }
        if let Some(start) = self.state.earliest_unmatched() {
            w = w.min(start.saturating_sub(1));
        }
        (w > self.out_wm).then(|| {
            self.out_wm = w;
            w
        })
    }

    /// Snapshots the buffers at barrier `epoch`: whole (step 0, the final snapshot), or
    /// begun copy-on-write, to be finished in steps. A snapshot still in steps is finished
    /// first.
    fn snapshot(&mut self, epoch: u64) -> Result<()> {
        self.finish_staged()?;
        let Some((p, codecs)) = &self.participant else {
            return Ok(());
        };
        let mut b = p.builder(epoch, self.info.shard);
        let whole = self.staged.whole(epoch);
        if whole {
            self.state.snapshot(codecs, &mut b);
        } else if !self.state.begin_copy(codecs, b.max_parallelism()) {
            return Err(self.failed("a snapshot began while the previous one was in progress"));
        }
        self.staged.hand_in_or_hold(p, epoch, b, !whole);
        Ok(())
    }

    fn failed(&self, why: impl std::fmt::Display) -> SpateError {
        SpateError::Config(format!(
            "operator '{}' cannot snapshot its state: {why}",
            self.info.name
        ))
    }

    /// Copies up to `budget` more keys of the snapshot in steps; hands it in once complete.
    #[cold]
    fn snapshot_step(&mut self, budget: usize) -> Result<()> {
        let state = &mut self.state;
        let r = self
            .staged
            .step(self.participant.as_ref().map(|(p, _)| p), |b| {
                let Some((left, right)) = state.copy_step(budget)? else {
                    return Ok(false);
                };
                b.add(LEFT_SECTION, left);
                b.add(RIGHT_SECTION, right);
                Ok(true)
            });
        r.map_err(|e| self.failed(e))
    }
}

impl<S, K, A, B, O, FA, FB> TwoInputOp for JoinOp<S, K, A, B, O, FA, FB>
where
    S: JoinSpec<K, A, B, O>,
    K: Hash + Eq,
    A: Clone + 'static,
    B: Clone + 'static,
    O: Clone + 'static,
    FA: Fn(&A) -> K,
    FB: Fn(&B) -> K,
{
    type A = A;
    type B = B;

    two_input_fields!();

    fn batch_a(&mut self, batch: &mut Batch<A>) -> Result<()> {
        let wm = self.progress.watermark();
        let outer = self.spec.left_outer();
        let info = &self.info;
        for (ts, v) in batch.drain(..) {
            let span = self
                .spec
                .left_span(ts, &v)
                .map_err(|e| info.user_error(e))?;
            if span.time < wm {
                match &self.late_left {
                    Some(tag) => self.sides.give(tag, ts, v),
                    None => self.discarded[0].set(self.discarded[0].get() + 1),
                }
                continue;
            }
            let key = (self.key_a)(&v);
            let spec = &mut self.spec;
            let mut em = Emit {
                out: &mut self.out,
                sides: &mut self.sides,
                watermark: wm,
            };
            if span.iv.is_empty() {
                // Overlaps nothing: unmatched at once.
                if outer {
                    spec.unmatched_left(&key, &v, span.iv, &mut em)
                        .map_err(|e| info.user_error(e))?;
                }
                continue;
            }
            let hash = hash_key(&key);
            self.state
                .add_left(key, hash, span.iv, v, |k, l, r| {
                    spec.pair(k, l, span.iv, &r.value, r.iv, &mut em)
                })
                .map_err(|e| info.user_error(e))?;
        }
        self.batch_done()
    }

    fn batch_b(&mut self, batch: &mut Batch<B>) -> Result<()> {
        let wm = self.progress.watermark();
        let info = &self.info;
        for (ts, v) in batch.drain(..) {
            let span = self
                .spec
                .right_span(ts, &v)
                .map_err(|e| info.user_error(e))?;
            if span.time < wm {
                match &self.late_right {
                    Some(tag) => self.sides.give(tag, ts, v),
                    None => self.discarded[1].set(self.discarded[1].get() + 1),
                }
                continue;
            }
            if span.iv.is_empty() {
                continue; // overlaps nothing
            }
            let key = (self.key_b)(&v);
            let hash = hash_key(&key);
            let spec = &mut self.spec;
            let mut em = Emit {
                out: &mut self.out,
                sides: &mut self.sides,
                watermark: wm,
            };
            self.state
                .add_right(key, hash, span.iv, v, |k, l, r| {
                    spec.pair(k, &l.value, l.iv, r, span.iv, &mut em)
                })
                .map_err(|e| info.user_error(e))?;
        }
        self.batch_done()
    }

    /// Evicts up to a new combined watermark, then forwards it and any change of idleness.
    fn forward(&mut self, w: Option<Timestamp>) -> Result<()> {
        let status = self.progress.idle_change();
        if let Some(w) = w {
            let spec = &mut self.spec;
            let info = &self.info;
            let mut em = Emit {
                out: &mut self.out,
                sides: &mut self.sides,
                watermark: w,
            };
            self.state
                .advance(w, |k, e| spec.unmatched_left(k, &e.value, e.iv, &mut em))
                .map_err(|e| info.user_error(e))?;
            self.step_after_work()?;
        }
        let w = self.next_output_watermark();
        self.out.progress(w, status)?;
        self.sides.progress(w, status)?;
        self.publish();
        Ok(())
    }

    /// Snapshots (when taking part in checkpoints), then forwards barrier `e`.
    fn forward_barrier(&mut self, e: u64) -> Result<()> {
        self.snapshot(e)?;
        self.out.barrier(e)
    }

    fn all_ended(&mut self) -> Result<()> {
        self.ended = true;
        self.snapshot(FINAL_EPOCH)?;
        self.out.end()?;
        self.sides.end()
    }
}

/// Makes the per-shard instances of a join.
pub(crate) struct JoinFactory<S, K, A, B, O, FA, FB> {
    pub(crate) spec: S,
    pub(crate) key_a: FA,
    pub(crate) key_b: FB,
    pub(crate) late_left: Option<OutputTag<A>>,
    pub(crate) late_right: Option<OutputTag<B>>,
    pub(crate) gauge: Option<JoinStateGauge>,
    /// A configuration error found when the join was built, reported at `execute`.
    pub(crate) invalid: Option<String>,
    /// With checkpoints: codecs of the key and both record types (`Env::state_type`).
    pub(crate) codecs: Option<JoinCodecs<K, A, B>>,
    pub(crate) _t: PhantomData<fn(K, A, B) -> O>,
}

struct JoinShard<S, K, A, B, O, FA, FB> {
    spec: S,
    key_a: FA,
    key_b: FB,
    late_left: Option<OutputTag<A>>,
    late_right: Option<OutputTag<B>>,
    gauge: Option<JoinStateGauge>,
    live: [bool; 2],
    state: JoinState<K, A, B>,
    codecs: Option<JoinCodecs<K, A, B>>,
    _t: PhantomData<fn(K, A, B) -> O>,
}

impl<S, K, A, B, O, FA, FB> NodeFactory for JoinFactory<S, K, A, B, O, FA, FB>
where
    S: JoinSpec<K, A, B, O>,
    K: Hash + Eq + Send + 'static,
    A: Clone + Send + 'static,
    B: Clone + Send + 'static,
    O: Clone + 'static,
    FA: Fn(&A) -> K + Clone + Send + 'static,
    FB: Fn(&B) -> K + Clone + Send + 'static,
{
    fn prepare(&mut self, cfg: &crate::graph::JobConfig) -> Result<()> {
        if cfg.checkpoint.is_some() {
            let t = &cfg.state_types;
            self.codecs = match (t.get::<K>(), t.get::<A>(), t.get::<B>()) {
                (Some(key), Some(left), Some(right)) => Some(JoinCodecs { key, left, right }),
                _ => None,
            };
        }
        Ok(())
    }

    fn checkpoint_role(&mut self) -> std::result::Result<(), String> {
        match self.codecs {
            Some(_) => Ok(()),
            None => Err(format!(
                "register its key type `{}` and record types `{}` and `{}` with \
                 Env::state_type",
                std::any::type_name::<K>(),
                std::any::type_name::<A>(),
                std::any::type_name::<B>()
            )),
        }
    }

    fn instantiate(&mut self, cx: &Instantiate<'_>) -> Result<Box<dyn ShardNode>> {
        if let Some(why) = &self.invalid {
            return Err(SpateError::Config(why.clone()));
        }
        if let Some(g) = &self.gauge {
            g.init(cx.cfg.shards);
        }
        let mut state = JoinState::new(self.spec.holds(), self.spec.left_outer());
        if let (Some(r), Some(codecs)) = (cx.cfg.restored(), &self.codecs) {
            restore_view(r, cx.node, cx.shard, cx.cfg.shards, cx.cfg.max_parallelism)
                .and_then(|v| state.restore(codecs, &v).map_err(|e| e.to_string()))
                .map_err(|why| {
                    SpateError::Config(format!(
                        "cannot restore node {} from checkpoint {}: {why}",
                        cx.node, r.manifest.epoch
                    ))
                })?;
        }
        Ok(Box::new(JoinShard {
            spec: self.spec.clone(),
            key_a: self.key_a.clone(),
            key_b: self.key_b.clone(),
            late_left: self.late_left.clone(),
            late_right: self.late_right.clone(),
            gauge: self.gauge.clone(),
            live: [cx.input_live(0), cx.input_live(1)],
            state,
            codecs: self.codecs.clone(),
            _t: PhantomData::<fn(K, A, B) -> O>,
        }))
    }
}

impl<S, K, A, B, O, FA, FB> ShardNode for JoinShard<S, K, A, B, O, FA, FB>
where
    S: JoinSpec<K, A, B, O>,
    K: Hash + Eq + Send + 'static,
    A: Clone + Send + 'static,
    B: Clone + Send + 'static,
    O: Clone + 'static,
    FA: Fn(&A) -> K + Clone + Send + 'static,
    FB: Fn(&B) -> K + Clone + Send + 'static,
{
    fn wire(
        self: Box<Self>,
        mut outputs: Vec<Vec<Box<dyn Any>>>,
        cx: &mut ShardBuild,
    ) -> Result<Box<dyn Wired>> {
        let this = *self;
        let out = cx.output::<O>(std::mem::take(&mut outputs[0]))?;
        let sides = cx.side_outputs(outputs.split_off(1))?;
        let mut discarded: [Counter; 2] = Default::default();
        for (c, (side, has_tag)) in discarded.iter_mut().zip([
            ("left", this.late_left.is_some()),
            ("right", this.late_right.is_some()),
        ]) {
            if !has_tag {
                let name = format!(
                    "{} [late {side} records discarded: no late output]",
                    cx.name
                );
                cx.counters.push((cx.node, name.into(), c.clone()));
            }
        }
        let participant = match (&cx.snapshots, this.codecs) {
            (Some(s), Some(c)) => Some((Participant::new(s, cx.node), c)),
            _ => None,
        };
        let held = HeldInputs::wire(cx, this.live, participant.as_ref().map(|(p, _)| p))?;
        let staged = StagedFile::two_inputs(participant.as_ref().map(|(p, _)| p));
        let step = staged.step;
        let op = Rc::new(RefCell::new(JoinOp {
            state: this.state,
            spec: this.spec,
            key_a: this.key_a,
            key_b: this.key_b,
            out,
            sides,
            late_left: this.late_left,
            late_right: this.late_right,
            discarded,
            progress: TwoInputs::new(this.live).with_alignment(participant.is_some()),
            out_wm: MIN_WATERMARK,
            gauge: this.gauge,
            info: OpInfo {
                name: cx.name.clone(),
                shard: cx.shard,
            },
            held,
            participant,
            staged,
            ended: false,
        }));
        if step > 0 {
            drive_staged_snapshots(op.clone(), cx);
        }
        Ok(Box::new(TwoInputWired {
            op,
            node: cx.node,
            _t: PhantomData::<fn(A, B)>,
        }))
    }
}

impl<S, K, A, B, O, FA, FB> StagedSnapshots for JoinOp<S, K, A, B, O, FA, FB>
where
    S: JoinSpec<K, A, B, O>,
    K: Hash + Eq,
    A: Clone + 'static,
    B: Clone + 'static,
    O: Clone + 'static,
    FA: Fn(&A) -> K,
    FB: Fn(&B) -> K,
{
    staged_snapshot_fields!();
}
