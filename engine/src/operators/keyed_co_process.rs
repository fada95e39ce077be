//! `keyed_a.connect(&keyed_b).process(..)`: two keyed inputs sharing keyed state and timers
//! (Flink's `KeyedCoProcessFunction`). Both inputs are partitioned by the same key groups,
//! so a key's records from either side meet on one shard.

use std::any::Any;
use std::cell::RefCell;
use std::hash::Hash;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::align::{two_input_fields, HeldInputs, TwoInputOp};
use super::co_process::{TwoInputWired, TwoInputs};
use super::keyed_process::{
    begin_keyed_snapshot, restore_timers, step_keyed_snapshot, KeyedContext,
};
use super::timer_driver::{drive_processing_timers, ProcessingTimers};
use super::unary::{
    drive_staged_snapshots, staged_snapshot_fields, Participant, StagedFile, StagedSnapshots,
};
use super::{Batch, OpInfo, Output, SideOutputs};
use crate::checkpoint::format::FINAL_EPOCH;
use crate::checkpoint::registry::{restore_view, KeyCodec};
use crate::checkpoint::StateRegistry;
use crate::error::{Result, UserError};
use crate::graph::{Instantiate, NodeFactory, ShardBuild, ShardNode, Wired};
use crate::state::hash_key;
use crate::time::{Clock, TimeDomain, TimerService, Timestamp, NO_TIMESTAMP};

/// A function over two keyed streams with the same key type: one method per input, shared
/// keyed state (fields passed the context) and timers.
pub trait KeyedCoProcessFunction<K, A, B, O>: Clone + Send + 'static {
    /// Called for every record of the first input, with its key current.
    fn process_element1(
        &mut self,
        value: A,
        ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<(), UserError>;
    /// Called for every record of the second input, with its key current.
    fn process_element2(
        &mut self,
        value: B,
        ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<(), UserError>;
    /// Called when a timer of the current key fires.
    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        _ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<(), UserError> {
        Ok(())
    }

    /// Registers every state handle under a stable name, for checkpoints (see
    /// [`KeyedProcessFunction::state`](crate::KeyedProcessFunction::state)). The default
    /// declares nothing, and a job with checkpoints refuses to start with it.
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.undeclared();
    }
}

pub(crate) struct KeyedCoProcessOp<P, K, A, B, O, FA, FB> {
    f: P,
    key_a: FA,
    key_b: FB,
    timers: TimerService<K>,
    out: Output<O>,
    sides: SideOutputs,
    progress: TwoInputs,
    info: OpInfo,
    clock: Arc<dyn Clock>,
    ended: bool,
    /// What an input sent after a barrier not yet forwarded (checkpoint alignment).
    held: HeldInputs<A, B>,
    participant: Option<Participant>,
    key_codec: Option<KeyCodec<K>>,
    /// The snapshot whose heap handles are still being copied, and the step size.
    staged: StagedFile,
    _t: PhantomData<fn(A, B)>,
}

impl<P, K, A, B, O, FA, FB> KeyedCoProcessOp<P, K, A, B, O, FA, FB>
where
    P: KeyedCoProcessFunction<K, A, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
{
    fn call(
        &mut self,
        key: &K,
        ts: Timestamp,
        domain: Option<TimeDomain>,
        now: Timestamp,
        f: impl FnOnce(&mut P, &mut KeyedContext<'_, K, O>) -> Result<(), UserError>,
    ) -> Result<()> {
        let mut kc = KeyedContext {
            key,
            hash: hash_key(key),
            ts,
            now,
            watermark: self.progress.watermark(),
            out: &mut self.out,
            sides: &mut self.sides,
            timers: &mut self.timers,
            domain,
        };
        f(&mut self.f, &mut kc).map_err(|e| self.info.user_error(e))
    }

    fn fire(&mut self, domain: TimeDomain, up_to: Timestamp) -> Result<()> {
        let now = self.clock.now_ms();
        loop {
            let Some((ts, key)) = self.timers.queue(domain).pop_due(up_to) else {
                break;
            };
            let out_ts = if domain == TimeDomain::EventTime {
                ts
            } else {
                NO_TIMESTAMP
            };
            self.call(&key, out_ts, Some(domain), now, |f, kc| f.on_timer(ts, kc))?;
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        self.sides.flush()
    }

    fn failed(&self, why: String) -> crate::error::SpateError {
        crate::error::SpateError::Config(format!(
            "operator '{}' cannot snapshot its state: {why}",
            self.info.name
        ))
    }

    /// Snapshots at barrier `epoch`: whole (step 0, and the final snapshot), or begun with
    /// the heap handles copying on write, to be finished in steps. A snapshot still in
    /// steps is finished first.
    fn snapshot(&mut self, epoch: u64) -> Result<()> {
        self.finish_staged()?;
        let Some(p) = &self.participant else {
            return Ok(());
        };
        let mut b = p.file_builder(epoch, self.info.shard);
        let whole = self.staged.whole(epoch);
        let (f, kc) = (&mut self.f, self.key_codec.as_ref());
        let pending = begin_keyed_snapshot(&mut b, whole, |reg| f.state(reg), &self.timers, kc)
            .map_err(|why| self.failed(why))?;
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

impl<P, K, A, B, O, FA, FB> TwoInputOp for KeyedCoProcessOp<P, K, A, B, O, FA, FB>
where
    P: KeyedCoProcessFunction<K, A, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
    FA: Fn(&A) -> K,
    FB: Fn(&B) -> K,
{
    type A = A;
    type B = B;

    two_input_fields!();

    fn batch_a(&mut self, batch: &mut Batch<A>) -> Result<()> {
        let now = self.clock.now_ms();
        for (ts, v) in batch.drain(..) {
            let key = (self.key_a)(&v);
            self.call(&key, ts, None, now, |f, kc| f.process_element1(v, kc))?;
        }
        self.flush()?;
        self.step_after_work()
    }

    fn batch_b(&mut self, batch: &mut Batch<B>) -> Result<()> {
        let now = self.clock.now_ms();
        for (ts, v) in batch.drain(..) {
            let key = (self.key_b)(&v);
            self.call(&key, ts, None, now, |f, kc| f.process_element2(v, kc))?;
        }
        self.flush()?;
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

impl<P, K, A, B, O, FA, FB> ProcessingTimers for KeyedCoProcessOp<P, K, A, B, O, FA, FB>
where
    P: KeyedCoProcessFunction<K, A, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
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

/// Makes per-shard instances of a keyed co-process operator.
pub(crate) struct KeyedCoProcessFactory<P, K, A, B, O, FA, FB> {
    pub(crate) f: P,
    pub(crate) key_a: FA,
    pub(crate) key_b: FB,
    pub(crate) _t: PhantomData<fn(K, A, B) -> O>,
}

struct KeyedCoProcessShard<P, K, A, B, O, FA, FB> {
    f: P,
    key_a: FA,
    key_b: FB,
    live: [bool; 2],
    timers: TimerService<K>,
    key_codec: Option<KeyCodec<K>>,
    _t: PhantomData<fn(K, A, B) -> O>,
}

impl<P, K, A, B, O, FA, FB> NodeFactory for KeyedCoProcessFactory<P, K, A, B, O, FA, FB>
where
    P: KeyedCoProcessFunction<K, A, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    A: Clone + 'static,
    B: Clone + 'static,
    O: Clone + 'static,
    FA: Fn(&A) -> K + Clone + Send + 'static,
    FB: Fn(&B) -> K + Clone + Send + 'static,
{
    fn checkpoint_role(&mut self) -> std::result::Result<(), String> {
        let mut reg = StateRegistry::probe();
        self.f.state(&mut reg);
        if !reg.is_declared() {
            return Err(
                "its KeyedCoProcessFunction does not implement `state` (register \
                        every state handle there; an empty body declares that it has none)"
                    .into(),
            );
        }
        reg.finish()
    }

    fn instantiate(&mut self, cx: &Instantiate<'_>) -> Result<Box<dyn ShardNode>> {
        let mut f = self.f.clone();
        let bind = crate::state::mmap::BindCx::for_instance(cx.cfg, cx.node, cx.shard);
        let mut reg = StateRegistry::bind(&bind);
        f.state(&mut reg);
        reg.finish().map_err(|why| {
            crate::error::SpateError::Config(format!(
                "cannot open the state of node {}: {why}",
                cx.node
            ))
        })?;
        let mut timers = TimerService::new();
        let mut key_codec = None;
        if cx.cfg.checkpoint.is_some() {
            let mut reg = StateRegistry::probe();
            f.state(&mut reg);
            key_codec = reg.take_key_codec::<K>();
        }
        if let Some(r) = cx.cfg.restored() {
            restore_view(r, cx.node, cx.shard, cx.cfg.shards, cx.cfg.max_parallelism)
                .and_then(|v| {
                    let mut reg = StateRegistry::restore(&v);
                    f.state(&mut reg);
                    reg.finish()?;
                    restore_timers(&mut timers, key_codec.as_ref(), &v)
                })
                .map_err(|why| {
                    crate::error::SpateError::Config(format!(
                        "cannot restore node {} from checkpoint {}: {why}",
                        cx.node, r.manifest.epoch
                    ))
                })?;
        }
        Ok(Box::new(KeyedCoProcessShard {
            f,
            key_a: self.key_a.clone(),
            key_b: self.key_b.clone(),
            live: [cx.input_live(0), cx.input_live(1)],
            timers,
            key_codec,
            _t: PhantomData::<fn(K, A, B) -> O>,
        }))
    }
}

impl<P, K, A, B, O, FA, FB> ShardNode for KeyedCoProcessShard<P, K, A, B, O, FA, FB>
where
    P: KeyedCoProcessFunction<K, A, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    A: Clone + 'static,
    B: Clone + 'static,
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
        let participant = cx.snapshots.as_ref().map(|s| Participant::new(s, cx.node));
        let held = HeldInputs::wire(cx, this.live, participant.as_ref())?;
        let staged = StagedFile::two_inputs(participant.as_ref());
        let step = staged.step;
        let op = Rc::new(RefCell::new(KeyedCoProcessOp {
            f: this.f,
            key_a: this.key_a,
            key_b: this.key_b,
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
            key_codec: this.key_codec,
            staged,
            _t: PhantomData::<fn(A, B)>,
        }));
        drive_processing_timers(op.clone(), cx);
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

impl<P, K, A, B, O, FA, FB> StagedSnapshots for KeyedCoProcessOp<P, K, A, B, O, FA, FB>
where
    P: KeyedCoProcessFunction<K, A, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
{
    staged_snapshot_fields!();
}
