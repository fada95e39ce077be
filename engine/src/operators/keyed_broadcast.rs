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

use super::broadcast::BroadcastState;
use super::co_process::{First, Second, TwoInputWired, TwoInputs};
use super::keyed_process::KeyedContext;
use super::process::ProcessContext;
use super::timer_driver::{drive_processing_timers, ProcessingTimers};
use super::{Batch, OnInput, OpInfo, Output, SideOutputs};
use crate::error::{Result, UserError};
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
    _t: PhantomData<fn(I, B)>,
}

impl<P, K, I, B, O, F> KeyedBroadcastOp<P, K, I, B, O, F>
where
    P: KeyedBroadcastProcessFunction<K, I, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
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

    /// Fires event-time timers up to a new combined watermark, then forwards it and any
    /// change of idleness.
    fn forward(&mut self, w: Option<Timestamp>) -> Result<()> {
        let status = self.progress.idle_change();
        if let Some(w) = w {
            self.fire(TimeDomain::EventTime, w)?;
        }
        self.out.progress(w, status)?;
        self.sides.progress(w, status)
    }

    fn end(&mut self, input: usize) -> Result<()> {
        let (wm, all_ended) = self.progress.end_into(input, &mut self.out)?;
        self.forward(wm)?;
        if all_ended {
            self.ended = true;
            self.timers.processing.clear();
            self.out.end()?;
            self.sides.end()?;
        }
        Ok(())
    }

    fn on_watermark_at(&mut self, input: usize, wm: Timestamp) -> Result<()> {
        let w = self.progress.advance(input, wm);
        self.forward(w)
    }

    fn on_idle_at(&mut self, input: usize, idle: bool) -> Result<()> {
        let w = self.progress.set_idle(input, idle);
        self.forward(w)
    }
}

/// The progress methods shared by both inputs of [`KeyedBroadcastOp`].
macro_rules! progress_methods {
    ($index:expr) => {
        fn on_watermark(&mut self, _input: usize, wm: Timestamp) -> Result<()> {
            self.on_watermark_at($index, wm)
        }
        fn on_idle(&mut self, _input: usize, idle: bool) -> Result<()> {
            self.on_idle_at($index, idle)
        }
        fn on_barrier(&mut self, _input: usize, epoch: u64) -> Result<()> {
            self.progress.barrier_into($index, epoch, &mut self.out)
        }
        fn on_end(&mut self, _input: usize) -> Result<()> {
            self.end($index)
        }
    };
}

impl<P, K, I, B, O, F> OnInput<I, First> for KeyedBroadcastOp<P, K, I, B, O, F>
where
    P: KeyedBroadcastProcessFunction<K, I, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
    F: Fn(&I) -> K,
{
    fn on_batch(&mut self, _input: usize, batch: &mut Batch<I>) -> Result<()> {
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
        self.flush()
    }
    progress_methods!(0);
}

impl<P, K, I, B, O, F> OnInput<B, Second> for KeyedBroadcastOp<P, K, I, B, O, F>
where
    P: KeyedBroadcastProcessFunction<K, I, B, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
{
    fn on_batch(&mut self, _input: usize, batch: &mut Batch<B>) -> Result<()> {
        let now = self.clock.now_ms();
        let watermark = self.progress.watermark();
        for (ts, v) in batch.drain(..) {
            let mut pc = ProcessContext {
                ts,
                out: &mut self.out,
                sides: &mut self.sides,
                watermark,
                now,
            };
            self.f
                .process_broadcast_element(v, &mut self.state, &mut pc)
                .map_err(|e| self.info.user_error(e))?;
        }
        self.flush()
    }
    progress_methods!(1);
}

impl<P, K, I, B, O, F> ProcessingTimers for KeyedBroadcastOp<P, K, I, B, O, F>
where
    P: KeyedBroadcastProcessFunction<K, I, B, O>,
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

/// Makes per-shard instances of a [`KeyedBroadcastOp`].
pub(crate) struct KeyedBroadcastFactory<P, K, I, B, O, F> {
    pub(crate) f: P,
    pub(crate) key_fn: F,
    pub(crate) _t: PhantomData<fn(K, I, B) -> O>,
}

struct KeyedBroadcastShard<P, K, I, B, O, F> {
    f: P,
    key_fn: F,
    live: [bool; 2],
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
    fn instantiate(&mut self, cx: &Instantiate<'_>) -> Result<Box<dyn ShardNode>> {
        Ok(Box::new(KeyedBroadcastShard {
            f: self.f.clone(),
            key_fn: self.key_fn.clone(),
            live: [cx.input_live(0), cx.input_live(1)],
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
        let op = Rc::new(RefCell::new(KeyedBroadcastOp::<P, K, I, B, O, F> {
            f: this.f,
            key_fn: this.key_fn,
            state: BroadcastState::default(),
            timers: TimerService::new(),
            out,
            sides,
            progress: TwoInputs::new(this.live),
            info: OpInfo {
                name: cx.name.clone(),
                shard: cx.shard,
            },
            clock: cx.cfg.clock.clone(),
            ended: false,
            _t: PhantomData::<fn(I, B)>,
        }));
        drive_processing_timers(op.clone(), cx);
        Ok(Box::new(TwoInputWired {
            op,
            node: cx.node,
            _t: PhantomData::<fn(I, B)>,
        }))
    }
}
