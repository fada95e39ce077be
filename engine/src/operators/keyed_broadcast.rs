//! `keyed.connect_broadcast(&rules).process(..)` (Flink's `KeyedBroadcastProcessFunction`):
//! a keyed stream, with keyed state and timers, processed against a [`BroadcastState`]
//! that the broadcast stream keeps identical on every shard.
//!
//! The data input arrives partitioned by key (the `key_by` exchange before it); the
//! broadcast input arrives whole on every shard. The operator's watermark is the minimum of
//! both inputs' (an idle or ended input stops holding it back), and event-time timers fire
//! as it passes them — so a timer at `t` sees every broadcast record at or before `t`
//! whenever the broadcast stream has watermarks.

use std::any::Any;
use std::cell::RefCell;
use std::hash::Hash;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::align::{two_input_fields, HeldInputs, TwoInputOp};
use super::broadcast::{BroadcastCodecs, BroadcastState};
use super::co_process::{TwoInputWired, TwoInputs};
use super::keyed_process::{
    begin_keyed_snapshot, restore_timers, step_keyed_snapshot, KeyedContext,
};
use super::process::{process_batch, ProcessContext};
use super::timer_driver::{drive_processing_timers, ProcessingTimers};
use super::unary::{
    drive_staged_snapshots, staged_snapshot_fields, Participant, StagedFile, StagedSnapshots,
};
use super::{Batch, OpInfo, Output, SideOutputs};
use crate::checkpoint::format::FINAL_EPOCH;
use crate::checkpoint::registry::{restore_view, KeyCodec};
use crate::checkpoint::StateRegistry;
use crate::error::{Result, SpateError, UserError};
use crate::graph::{Instantiate, NodeFactory, ShardBuild, ShardNode, Wired};
use crate::state::hash_key;
use crate::time::{Clock, TimeDomain, TimerService, Timestamp, NO_TIMESTAMP};

/// A function over a keyed stream connected with a broadcast stream (Flink's
/// `KeyedBroadcastProcessFunction`): keyed state and timers for the data side, a
/// [`BroadcastState`] written by the broadcast side and read by the data side and timers.
///
/// Contract: as for [`BroadcastProcessFunction`](crate::api::BroadcastProcessFunction) —
/// change the broadcast state only in [`Self::process_broadcast_element`], and
/// deterministically, so that every shard holds the same map. The broadcast side has no
/// current key and sets no timers; to visit the keyed state of every key on the shard
/// (Flink's `applyToKeyedState`), walk the state handles the function holds as fields
/// (e.g. `ValueState::iter`) — they hold exactly this shard's keys.
pub trait KeyedBroadcastProcessFunction<K, I, B, O>: Clone + Send + 'static {
    /// Key type of the broadcast state.
    type StateKey: Hash + Eq + Clone + Send + 'static;
    /// Value type of the broadcast state.
    type StateValue: Clone + Send + 'static;

    /// Called for every record of the keyed stream, with its key current and the broadcast
    /// state read-only.
    fn process_element(
        &mut self,
        value: I,
        state: &BroadcastState<Self::StateKey, Self::StateValue>,
        ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<(), UserError>;

    /// Called on every shard for every record of the broadcast stream, with the broadcast
    /// state writable. What it emits is emitted once per shard.
    fn process_broadcast_element(
        &mut self,
        value: B,
        state: &mut BroadcastState<Self::StateKey, Self::StateValue>,
        ctx: &mut ProcessContext<'_, O>,
    ) -> Result<(), UserError>;

    /// Called when a timer of the current key fires, with the broadcast state read-only.
    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        _state: &BroadcastState<Self::StateKey, Self::StateValue>,
        _ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<(), UserError> {
        Ok(())
    }

    /// Registers every keyed state handle under a stable name, for checkpoints (see
    /// [`KeyedProcessFunction::state`](crate::KeyedProcessFunction::state)); the broadcast
    /// state is saved by the operator (its key and value types registered with
    /// [`Env::state_type`](crate::Env::state_type)). The default declares nothing, and a
    /// job with checkpoints refuses to start with it.
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.undeclared();
    }
}

pub(crate) struct KeyedBroadcastOp<P: KeyedBroadcastProcessFunction<K, I, B, O>, K, I, B, O, F> {
    f: P,
    key_fn: F,
    state: BroadcastState<P::StateKey, P::StateValue>,
    timers: TimerService<K>,
    out: Output<O>,
    sides: SideOutputs,
    progress: TwoInputs,
    info: OpInfo,
    clock: Arc<dyn Clock>,
    ended: bool,
    /// What an input sent after a barrier not yet forwarded (checkpoint alignment).
    held: HeldInputs<I, B>,
    /// With checkpoints: where snapshots go.
    participant: Option<Participant>,
    codecs: Option<BroadcastCodecs<P::StateKey, P::StateValue>>,
    key_codec: Option<KeyCodec<K>>,
    /// The snapshot whose keyed heap handles are still being copied, and the step size.
    staged: StagedFile,
    _t: PhantomData<fn(I, B)>,
}

impl<P, K, I, B, O, F> KeyedBroadcastOp<P, K, I, B, O, F>
where
    P: KeyedBroadcastProcessFunction<K, I, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
    F: Fn(&I) -> K,
{
    fn fire(&mut self, domain: TimeDomain, up_to: Timestamp) -> Result<()> {
        let now = self.clock.now_ms();
        loop {
            let Some((ts, key)) = self.timers.queue(domain).pop_due(up_to) else {
                break;
            };
            let mut kc = KeyedContext {
                key: &key,
                hash: hash_key(&key),
                ts: if domain == TimeDomain::EventTime {
                    ts
                } else {
                    NO_TIMESTAMP
                },
                now,
                watermark: self.progress.watermark(),
                out: &mut self.out,
                sides: &mut self.sides,
                timers: &mut self.timers,
                domain: Some(domain),
            };
            self.f
                .on_timer(ts, &self.state, &mut kc)
                .map_err(|e| self.info.user_error(e))?;
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        self.sides.flush()
    }

    fn failed(&self, why: String) -> SpateError {
        SpateError::Config(format!(
            "operator '{}' cannot snapshot its state: {why}",
            self.info.name
        ))
    }

    /// The keyed state the function registers, its timers, and (shard 0) the broadcast
    /// state: whole (step 0, the final snapshot), or with the keyed heap handles copying on
    /// write, finished in steps. A snapshot still in steps is finished first.
    fn snapshot(&mut self, epoch: u64) -> Result<()> {
        self.finish_staged()?;
        let (Some(p), Some(codecs)) = (&self.participant, &self.codecs) else {
            return Ok(());
        };
        let mut b = p.builder(epoch, self.info.shard);
        let whole = self.staged.whole(epoch);
        let (f, kc) = (&mut self.f, self.key_codec.as_ref());
        let pending = begin_keyed_snapshot(&mut b, whole, |reg| f.state(reg), &self.timers, kc)
            .map_err(|why| self.failed(why))?;
        self.state.snapshot(self.info.shard, codecs, &mut b);
        if let Some(p) = &self.participant {
            self.staged.hand_in_or_hold(p, epoch, b, pending > 0);
        }
        Ok(())
    }

    /// Copies up to `budget` more entries of the snapshot in steps; hands it in once
    /// complete.
    #[cold]
    fn snapshot_step(&mut self, budget: usize) -> Result<()> {
        let f = &mut self.f;
        let r = self.staged.step(self.participant.as_ref(), |b| {
            Ok(step_keyed_snapshot(b, budget, |reg| f.state(reg))? == 0)
        });
        r.map_err(|why| self.failed(why))
    }
}

impl<P, K, I, B, O, F> TwoInputOp for KeyedBroadcastOp<P, K, I, B, O, F>
where
    P: KeyedBroadcastProcessFunction<K, I, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
    F: Fn(&I) -> K,
{
    type A = I;
    type B = B;

    two_input_fields!();

    fn batch_a(&mut self, batch: &mut Batch<I>) -> Result<()> {
        let now = self.clock.now_ms();
        let watermark = self.progress.watermark();
        for (ts, v) in batch.drain(..) {
            let key = (self.key_fn)(&v);
            let mut kc = KeyedContext {
                hash: hash_key(&key),
                key: &key,
                ts,
                now,
                watermark,
                out: &mut self.out,
                sides: &mut self.sides,
                timers: &mut self.timers,
                domain: None,
            };
            self.f
                .process_element(v, &self.state, &mut kc)
                .map_err(|e| self.info.user_error(e))?;
        }
        self.flush()?;
        self.step_after_work()
    }

    fn batch_b(&mut self, batch: &mut Batch<B>) -> Result<()> {
        let at = (self.progress.watermark(), self.clock.now_ms());
        process_batch(
            batch,
            &mut self.out,
            &mut self.sides,
            &self.info,
            at,
            |v, pc| self.f.process_broadcast_element(v, &mut self.state, pc),
        )?;
        self.step_after_work()
    }

    /// Fires event-time timers up to a new combined watermark, then forwards it and any
    /// change of idleness.
    fn forward(&mut self, w: Option<Timestamp>) -> Result<()> {
        let status = self.progress.idle_change();
        if let Some(w) = w {
            self.fire(TimeDomain::EventTime, w)?;
            self.step_after_work()?;
        }
        self.out.progress(w, status)?;
        self.sides.progress(w, status)
    }

    /// Snapshots (when taking part in checkpoints), then forwards barrier `e`.
    fn forward_barrier(&mut self, e: u64) -> Result<()> {
        self.snapshot(e)?;
        self.out.barrier(e)
    }

    fn all_ended(&mut self) -> Result<()> {
        self.ended = true;
        self.timers.processing.clear();
        self.snapshot(FINAL_EPOCH)?;
        self.out.end()?;
        self.sides.end()
    }
}

impl<P, K, I, B, O, F> ProcessingTimers for KeyedBroadcastOp<P, K, I, B, O, F>
where
    P: KeyedBroadcastProcessFunction<K, I, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
    F: Fn(&I) -> K,
{
    fn ended(&self) -> bool {
        self.ended
    }
    fn next_processing_timer(&mut self) -> Option<Timestamp> {
        self.timers.processing.peek()
    }
    fn fire_processing_timers(&mut self, now: Timestamp) -> Result<()> {
        self.fire(TimeDomain::ProcessingTime, now)
    }
}

type Codecs<P, K, I, B, O> = BroadcastCodecs<
    <P as KeyedBroadcastProcessFunction<K, I, B, O>>::StateKey,
    <P as KeyedBroadcastProcessFunction<K, I, B, O>>::StateValue,
>;

/// With checkpoints: the codecs found by type, or the error naming the types to register.
type Found<P, K, I, B, O> = Option<std::result::Result<Codecs<P, K, I, B, O>, String>>;

/// Makes per-shard instances of a [`KeyedBroadcastOp`].
pub(crate) struct KeyedBroadcastFactory<P: KeyedBroadcastProcessFunction<K, I, B, O>, K, I, B, O, F>
{
    pub(crate) f: P,
    pub(crate) key_fn: F,
    /// With checkpoints: the broadcast state's codecs, or why there are none.
    pub(crate) codecs: Found<P, K, I, B, O>,
    pub(crate) _t: PhantomData<fn(K, I, B) -> O>,
}

struct KeyedBroadcastShard<P: KeyedBroadcastProcessFunction<K, I, B, O>, K, I, B, O, F> {
    f: P,
    key_fn: F,
    live: [bool; 2],
    state: BroadcastState<P::StateKey, P::StateValue>,
    timers: TimerService<K>,
    codecs: Option<Codecs<P, K, I, B, O>>,
    key_codec: Option<KeyCodec<K>>,
    _t: PhantomData<fn(K, I, B) -> O>,
}

impl<P, K, I, B, O, F> NodeFactory for KeyedBroadcastFactory<P, K, I, B, O, F>
where
    P: KeyedBroadcastProcessFunction<K, I, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    I: Clone + 'static,
    B: Clone + 'static,
    O: Clone + 'static,
    F: Fn(&I) -> K + Clone + Send + 'static,
{
    fn prepare(&mut self, cfg: &crate::graph::JobConfig) -> Result<()> {
        if cfg.checkpoint.is_some() {
            self.codecs = Some(BroadcastCodecs::find(cfg));
        }
        Ok(())
    }

    fn checkpoint_role(&mut self) -> std::result::Result<(), String> {
        let mut reg = StateRegistry::probe();
        self.f.state(&mut reg);
        if !reg.is_declared() {
            return Err(
                "its KeyedBroadcastProcessFunction does not implement `state` (register \
                 every keyed state handle there; an empty body declares that it has none)"
                    .into(),
            );
        }
        reg.finish()?;
        match &self.codecs {
            Some(Ok(_)) => Ok(()),
            Some(Err(why)) => Err(why.clone()),
            None => Err("no codecs were looked up".into()),
        }
    }

    fn instantiate(&mut self, cx: &Instantiate<'_>) -> Result<Box<dyn ShardNode>> {
        let mut f = self.f.clone();
        let mut timers = TimerService::new();
        let mut state = BroadcastState::default();
        let mut key_codec = None;
        let codecs = match &self.codecs {
            Some(Ok(c)) if cx.cfg.checkpoint.is_some() => Some(c.clone()),
            _ => None,
        };
        if codecs.is_some() {
            let mut reg = StateRegistry::probe();
            f.state(&mut reg);
            key_codec = reg.take_key_codec::<K>();
        }
        if let (Some(r), Some(c)) = (cx.cfg.restored(), &codecs) {
            restore_view(r, cx.node, cx.shard, cx.cfg.shards, cx.cfg.max_parallelism)
                .and_then(|v| {
                    let mut reg = StateRegistry::restore(&v);
                    f.state(&mut reg);
                    reg.finish()?;
                    restore_timers(&mut timers, key_codec.as_ref(), &v)?;
                    state = BroadcastState::restore(r, cx.node, c)?;
                    Ok(())
                })
                .map_err(|why| {
                    SpateError::Config(format!(
                        "cannot restore node {} from checkpoint {}: {why}",
                        cx.node, r.manifest.epoch
                    ))
                })?;
        }
        Ok(Box::new(KeyedBroadcastShard {
            f,
            key_fn: self.key_fn.clone(),
            live: [cx.input_live(0), cx.input_live(1)],
            state,
            timers,
            codecs,
            key_codec,
            _t: PhantomData::<fn(K, I, B) -> O>,
        }))
    }
}

impl<P, K, I, B, O, F> ShardNode for KeyedBroadcastShard<P, K, I, B, O, F>
where
    P: KeyedBroadcastProcessFunction<K, I, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    I: Clone + 'static,
    B: Clone + 'static,
    O: Clone + 'static,
    F: Fn(&I) -> K + Clone + Send + 'static,
{
    fn wire(
        self: Box<Self>,
        mut outputs: Vec<Vec<Box<dyn Any>>>,
        cx: &mut ShardBuild,
    ) -> Result<Box<dyn Wired>> {
        let this = *self;
        let out = cx.output::<O>(std::mem::take(&mut outputs[0]))?;
        let sides = cx.side_outputs(outputs.split_off(1))?;
        let participant = match (&cx.snapshots, &this.codecs) {
            (Some(s), Some(_)) => Some(Participant::new(s, cx.node)),
            _ => None,
        };
        let held = HeldInputs::wire(cx, this.live, participant.as_ref())?;
        let staged = StagedFile::two_inputs(participant.as_ref());
        let step = staged.step;
        let op = Rc::new(RefCell::new(KeyedBroadcastOp::<P, K, I, B, O, F> {
            f: this.f,
            key_fn: this.key_fn,
            state: this.state,
            timers: this.timers,
            out,
            sides,
            progress: TwoInputs::new(this.live).with_alignment(participant.is_some()),
            info: OpInfo {
                name: cx.name.clone(),
                shard: cx.shard,
            },
            clock: cx.cfg.clock.clone(),
            ended: false,
            held,
            participant,
            codecs: this.codecs,
            key_codec: this.key_codec,
            staged,
            _t: PhantomData::<fn(I, B)>,
        }));
        drive_processing_timers(op.clone(), cx);
        if step > 0 {
            drive_staged_snapshots(op.clone(), cx);
        }
        Ok(Box::new(TwoInputWired {
            op,
            node: cx.node,
            _t: PhantomData::<fn(I, B)>,
        }))
    }
}

impl<P, K, I, B, O, F> StagedSnapshots for KeyedBroadcastOp<P, K, I, B, O, F>
where
    P: KeyedBroadcastProcessFunction<K, I, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
    F: Fn(&I) -> K,
{
    staged_snapshot_fields!();
}
