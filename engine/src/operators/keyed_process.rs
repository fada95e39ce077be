//! `KeyedStream::process`: a function per record with keyed state, timers and side outputs.

use std::cell::RefCell;
use std::hash::Hash;
use std::marker::PhantomData;
use std::rc::Rc;

use super::timer_driver::{drive_processing_timers, ProcessingTimers};
use super::unary::{Unary, UnaryCx, UnaryOp};
use super::{Batch, Output, OutputTag, SideOutputs};
use crate::checkpoint::format::SnapshotBuilder;
use crate::checkpoint::registry::{KeyCodec, RestoreView};
use crate::checkpoint::{StateData, StateRegistry};
use crate::error::{Result, UserError};
use crate::graph::ShardBuild;
use crate::state::{hash_key, KeyScope};
use crate::time::{TimeDomain, TimerService, Timestamp, NO_TIMESTAMP};

/// What a [`KeyedProcessFunction`] can see and do for the current record or timer: the
/// current key (for state handles, via [`KeyScope`]), time, timers, and outputs.
pub struct KeyedContext<'a, K, O> {
    pub(crate) key: &'a K,
    pub(crate) hash: u64,
    pub(crate) ts: Timestamp,
    pub(crate) now: Timestamp,
    pub(crate) watermark: Timestamp,
    pub(crate) out: &'a mut Output<O>,
    pub(crate) sides: &'a mut SideOutputs,
    pub(crate) timers: &'a mut TimerService<K>,
    pub(crate) domain: Option<TimeDomain>,
}

impl<K: Hash + Eq + Clone, O: Clone> KeyedContext<'_, K, O> {
    /// The key of the current record or timer.
    pub fn current_key(&self) -> &K {
        self.key
    }

    /// The current record's timestamp (for an event-time timer, the timer's), if any.
    pub fn timestamp(&self) -> Option<Timestamp> {
        (self.ts != NO_TIMESTAMP).then_some(self.ts)
    }

    /// In `on_timer`, which kind of timer fired; `None` in `process_element`.
    pub fn time_domain(&self) -> Option<TimeDomain> {
        self.domain
    }

    /// Emits `value` with the current timestamp.
    #[inline]
    pub fn collect(&mut self, value: O) {
        self.out.give(self.ts, value);
    }

    /// Emits `value` with timestamp `ts`.
    #[inline]
    pub fn collect_with_timestamp(&mut self, value: O, ts: Timestamp) {
        self.out.give(ts, value);
    }

    /// Emits `value` to the side output `tag`.
    #[inline]
    pub fn output<X: Clone + 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.sides.give(tag, self.ts, value);
    }

    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The processing time of the current batch.
    pub fn current_processing_time(&self) -> Timestamp {
        self.now
    }

    /// Calls `on_timer` for the current key once the watermark reaches `ts`. Registering the
    /// same time twice for a key makes one timer.
    pub fn register_event_time_timer(&mut self, ts: Timestamp) {
        self.timers.event.register(ts, self.key.clone());
    }

    /// Removes the current key's event-time timer at `ts`, if any.
    pub fn delete_event_time_timer(&mut self, ts: Timestamp) {
        self.timers.event.delete(ts, self.key);
    }

    /// Calls `on_timer` for the current key once processing time reaches `ts`. Timers still
    /// pending when the input ends are dropped, as in Flink.
    pub fn register_processing_time_timer(&mut self, ts: Timestamp) {
        self.timers.processing.register(ts, self.key.clone());
    }

    /// Removes the current key's processing-time timer at `ts`, if any.
    pub fn delete_processing_time_timer(&mut self, ts: Timestamp) {
        self.timers.processing.delete(ts, self.key);
    }
}

impl<K, O> KeyScope<K> for KeyedContext<'_, K, O> {
    #[inline]
    fn key(&self) -> &K {
        self.key
    }
    #[inline]
    fn key_hash(&self) -> u64 {
        self.hash
    }
    #[inline]
    fn now(&self) -> Timestamp {
        self.now
    }
}

/// A function per record of a keyed stream (Flink's `KeyedProcessFunction`). Keep state
/// handles as fields and pass the context to them; register timers on the context.
///
/// The function is cloned once per shard before the job starts.
pub trait KeyedProcessFunction<K, I, O>: Clone + Send + 'static {
    /// Called for every record, with its key current.
    fn process_element(
        &mut self,
        value: I,
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

    /// Registers every state handle of the function under a stable name, for checkpoints
    /// (Flink's state descriptors): `reg.register("count", &mut self.count)`. A function
    /// without state implements it with an empty body; one with timers but no handle calls
    /// [`StateRegistry::key_type`]. The default declares nothing, and a job with
    /// checkpoints refuses to start with it rather than lose the state on recovery.
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.undeclared();
    }
}

/// The operator running a [`KeyedProcessFunction`].
pub(crate) struct KeyedProcess<P, KF, K, I, O> {
    pub(crate) f: P,
    pub(crate) key_fn: KF,
    pub(crate) timers: TimerService<K>,
    /// The key codec for timer snapshots, learnt from the function's `state`.
    pub(crate) key_codec: Option<KeyCodec<K>>,
    /// The snapshot whose heap handles are still being copied (copy-on-write).
    pub(crate) staged: Option<SnapshotBuilder>,
    pub(crate) _t: PhantomData<fn(I) -> O>,
}

impl<P: Clone, KF: Clone, K: Hash + Eq + Clone, I, O> Clone for KeyedProcess<P, KF, K, I, O> {
    fn clone(&self) -> Self {
        KeyedProcess {
            f: self.f.clone(),
            key_fn: self.key_fn.clone(),
            timers: TimerService::new(),
            key_codec: self.key_codec.clone(),
            staged: None,
            _t: PhantomData,
        }
    }
}

/// Takes a keyed function's snapshot at a barrier into `b`: what its `state` registers
/// (whole when `whole`, else copy-on-write for the handles that can), then its timers.
/// Returns how many handles are still copying (0: `b` is complete).
pub(crate) fn begin_keyed_snapshot<K: Hash + Eq + Clone>(
    b: &mut SnapshotBuilder,
    whole: bool,
    state: impl FnOnce(&mut StateRegistry<'_>),
    timers: &TimerService<K>,
    key_codec: Option<&KeyCodec<K>>,
) -> std::result::Result<usize, String> {
    let mut reg = if whole {
        StateRegistry::snapshot(b)
    } else {
        StateRegistry::begin(b)
    };
    state(&mut reg);
    let pending = reg.pending();
    reg.finish()?;
    snapshot_timers(timers, key_codec, b)?;
    Ok(pending)
}

/// Copies up to `budget` more entries of a keyed function's snapshot in `b`; returns how
/// many handles are still copying.
pub(crate) fn step_keyed_snapshot(
    b: &mut SnapshotBuilder,
    budget: usize,
    state: impl FnOnce(&mut StateRegistry<'_>),
) -> std::result::Result<usize, String> {
    let mut reg = StateRegistry::step(b, budget);
    state(&mut reg);
    let pending = reg.pending();
    reg.finish()?;
    Ok(pending)
}

pub(crate) const EVENT_TIMERS: &str = "spate/timers/event";
pub(crate) const PROCESSING_TIMERS: &str = "spate/timers/processing";

/// Writes the live timers of `timers` into `b` (one section per time domain).
pub(crate) fn snapshot_timers<K: Hash + Eq + Clone>(
    timers: &TimerService<K>,
    codec: Option<&KeyCodec<K>>,
    b: &mut SnapshotBuilder,
) -> std::result::Result<(), String> {
    for (name, q) in [
        (EVENT_TIMERS, &timers.event),
        (PROCESSING_TIMERS, &timers.processing),
    ] {
        if q.is_empty() {
            continue;
        }
        let c = codec.ok_or(
            "it has timers but no known key type: register a state handle or call \
             StateRegistry::key_type in `state`",
        )?;
        let mut timers: Vec<(u32, &(Timestamp, K))> =
            q.iter().map(|t| (b.key_group(hash_key(&t.1)), t)).collect();
        let touch = |t: &&(Timestamp, K), near: bool| {
            if !near {
                crate::checkpoint::format::prefetch(*t);
            }
        };
        b.add_encoded(name, &mut timers, touch, |(ts, k), o| {
            ts.encode(o);
            (c.encode)(k, o);
        });
    }
    Ok(())
}

/// Registers the timers a snapshot holds into `timers`.
pub(crate) fn restore_timers<K: Hash + Eq + Clone>(
    timers: &mut TimerService<K>,
    codec: Option<&KeyCodec<K>>,
    v: &RestoreView,
) -> std::result::Result<(), String> {
    for (name, domain) in [
        (EVENT_TIMERS, TimeDomain::EventTime),
        (PROCESSING_TIMERS, TimeDomain::ProcessingTime),
    ] {
        let Some(entries) = v.sections.get(name) else {
            continue;
        };
        let c = codec.ok_or("the checkpoint holds timers but the function declares no key type")?;
        for e in entries {
            let r = &mut &e[..];
            let ts = Timestamp::decode(r).map_err(|e| e.to_string())?;
            let key = (c.decode)(r).map_err(|e| e.to_string())?;
            timers.queue(domain).register(ts, key);
        }
    }
    Ok(())
}

impl<P, KF, K, I, O> KeyedProcess<P, KF, K, I, O>
where
    P: KeyedProcessFunction<K, I, O>,
    K: Hash + Eq + Clone + Send + 'static,
    O: Clone + 'static,
{
    fn fire(
        &mut self,
        domain: TimeDomain,
        up_to: Timestamp,
        cx: &mut UnaryCx<'_, O>,
    ) -> Result<()> {
        let now = cx.clock.now_ms();
        loop {
            let Some((ts, key)) = self.timers.queue(domain).pop_due(up_to) else {
                return Ok(());
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
                watermark: cx.watermark,
                out: cx.out,
                sides: cx.sides,
                timers: &mut self.timers,
                domain: Some(domain),
            };
            self.f
                .on_timer(ts, &mut kc)
                .map_err(|e| cx.info.user_error(e))?;
        }
    }
}

impl<P, KF, K, I, O> Unary for KeyedProcess<P, KF, K, I, O>
where
    P: KeyedProcessFunction<K, I, O>,
    KF: Fn(&I) -> K + Clone + Send + 'static,
    K: Hash + Eq + Clone + Send + 'static,
    I: Clone + 'static,
    O: Clone + 'static,
{
    type In = I;
    type Out = O;

    fn on_batch(&mut self, batch: &mut Batch<I>, cx: &mut UnaryCx<'_, O>) -> Result<()> {
        let now = cx.clock.now_ms();
        for (ts, v) in batch.drain(..) {
            let key = (self.key_fn)(&v);
            let mut kc = KeyedContext {
                hash: hash_key(&key),
                key: &key,
                ts,
                now,
                watermark: cx.watermark,
                out: cx.out,
                sides: cx.sides,
                timers: &mut self.timers,
                domain: None,
            };
            self.f
                .process_element(v, &mut kc)
                .map_err(|e| cx.info.user_error(e))?;
        }
        Ok(())
    }

    fn on_watermark(&mut self, wm: Timestamp, cx: &mut UnaryCx<'_, O>) -> Result<bool> {
        self.fire(TimeDomain::EventTime, wm, cx)?;
        Ok(true)
    }

    fn on_end(&mut self, _cx: &mut UnaryCx<'_, O>) -> Result<()> {
        self.timers.processing.clear();
        Ok(())
    }

    fn on_wired(op: &Rc<RefCell<UnaryOp<Self>>>, cx: &mut ShardBuild) {
        drive_processing_timers(op.clone(), cx);
    }

    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        let mut reg = StateRegistry::probe();
        self.f.state(&mut reg);
        if !reg.is_declared() {
            return Err(
                "its KeyedProcessFunction does not implement `state` (register every \
                        state handle there; an empty body declares that it has none)"
                    .into(),
            );
        }
        self.key_codec = reg.take_key_codec::<K>();
        reg.finish()?;
        Ok(true)
    }

    fn snapshot(&mut self, b: &mut SnapshotBuilder) -> std::result::Result<(), String> {
        let mut reg = StateRegistry::snapshot(b);
        self.f.state(&mut reg);
        reg.finish()?;
        snapshot_timers(&self.timers, self.key_codec.as_ref(), b)
    }

    /// Writes the timers, the operator lists and the file-backed handles at once; the
    /// heap handles copy on write (each key before its first change, the rest in steps).
    fn begin_snapshot(
        &mut self,
        mut b: SnapshotBuilder,
    ) -> std::result::Result<Option<SnapshotBuilder>, String> {
        let (f, kc) = (&mut self.f, self.key_codec.as_ref());
        if begin_keyed_snapshot(&mut b, false, |reg| f.state(reg), &self.timers, kc)? == 0 {
            return Ok(Some(b));
        }
        self.staged = Some(b);
        Ok(None)
    }

    fn snapshot_step(
        &mut self,
        budget: usize,
    ) -> std::result::Result<Option<SnapshotBuilder>, String> {
        let b = self.staged.as_mut().ok_or("no snapshot in progress")?;
        let f = &mut self.f;
        Ok(match step_keyed_snapshot(b, budget, |reg| f.state(reg))? {
            0 => self.staged.take(),
            _ => None,
        })
    }

    fn snapshots_in_steps(&self) -> bool {
        true
    }

    fn bind(&mut self, cx: &crate::state::mmap::BindCx) -> std::result::Result<(), String> {
        let mut reg = StateRegistry::bind(cx);
        self.f.state(&mut reg);
        reg.finish()
    }

    fn restore(&mut self, v: &RestoreView) -> std::result::Result<(), String> {
        let mut reg = StateRegistry::restore(v);
        self.f.state(&mut reg);
        reg.finish()?;
        restore_timers(&mut self.timers, self.key_codec.as_ref(), v)
    }
}

impl<P, KF, K, I, O> ProcessingTimers for UnaryOp<KeyedProcess<P, KF, K, I, O>>
where
    P: KeyedProcessFunction<K, I, O>,
    KF: Fn(&I) -> K + Clone + Send + 'static,
    K: Hash + Eq + Clone + Send + 'static,
    I: Clone + 'static,
    O: Clone + 'static,
{
    fn ended(&self) -> bool {
        self.ended
    }
    fn next_processing_timer(&mut self) -> Option<Timestamp> {
        self.logic.timers.processing.peek()
    }
    fn fire_processing_timers(&mut self, now: Timestamp) -> Result<()> {
        self.with_cx(|l, cx| l.fire(TimeDomain::ProcessingTime, now, cx))
    }
}
