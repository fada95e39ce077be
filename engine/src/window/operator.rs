//! The keyed window operator, following Flink's `WindowOperator` (see
//! `docs/flink-window-semantics.md`): per key, per window, contents and trigger state;
//! cleanup timers at `max_timestamp + allowed lateness`; late elements to a side output;
//! merging (session) windows through an in-flight → state-window mapping, as Flink's
//! `MergingWindowSet`.

use std::cell::RefCell;
use std::hash::Hash;
use std::marker::PhantomData;
use std::rc::Rc;

use hashbrown::HashTable;

use super::assigner::WindowAssigner;
use super::function::{Contents, WindowContext};
use super::snapshot::{self as snap, WindowCodecs};
use super::trigger::{TimerRequest, Trigger, TriggerContext, TriggerResult};
use super::types::Window;
use crate::checkpoint::format::SnapshotBuilder;
use crate::checkpoint::registry::RestoreView;
use crate::error::Result;
use crate::graph::ShardBuild;
use crate::operators::timer_driver::{drive_processing_timers, ProcessingTimers};
use crate::operators::unary::{Unary, UnaryCx, UnaryOp};
use crate::operators::{Batch, OutputTag};
use crate::state::{hash_key, GaugeHandle, StateGauge};
use crate::time::{TimeDomain, TimerService, Timestamp};

mod cow;
#[cfg(test)]
mod cow_tests;

/// One key's windows. Contents live under *state windows*, trigger state under the actual
/// windows; without merging both are the same window. `mapping` (merging assigners only)
/// maps each in-flight window to its state window.
struct KeyWindows<K, W, Acc, TS> {
    key: K,
    /// The mark of the snapshot that holds this key's windows already (or the one current
    /// when the key came): see `cow`.
    mark: u32,
    contents: Vec<(W, Acc)>,
    triggers: Vec<(W, TS)>,
    mapping: Vec<(W, W)>,
}

impl<K, W, Acc, TS> KeyWindows<K, W, Acc, TS> {
    /// No window left: the key's slot can go.
    fn is_empty(&self) -> bool {
        self.contents.is_empty() && self.triggers.is_empty() && self.mapping.is_empty()
    }
}

fn find<'a, W: PartialEq, V>(v: &'a mut [(W, V)], w: &W) -> Option<&'a mut V> {
    v.iter_mut().find(|(x, _)| x == w).map(|(_, s)| s)
}

fn remove<W: PartialEq, V>(v: &mut Vec<(W, V)>, w: &W) -> Option<V> {
    let i = v.iter().position(|(x, _)| x == w)?;
    Some(v.swap_remove(i).1)
}

fn find_or_insert<'a, W: PartialEq + Clone, V>(
    v: &'a mut Vec<(W, V)>,
    w: &W,
    init: impl FnOnce() -> V,
) -> &'a mut V {
    match v.iter().position(|(x, _)| x == w) {
        Some(i) => &mut v[i].1,
        None => {
            v.push((w.clone(), init()));
            &mut v.last_mut().expect("just pushed").1
        }
    }
}

/// The window operator's logic for one keyed stream.
pub(crate) struct WindowOp<
    K,
    T,
    O,
    KF,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: Contents<K, T, A::W, O>,
> {
    pub(crate) key_fn: KF,
    pub(crate) assigner: A,
    pub(crate) trigger: Tr,
    pub(crate) contents: C,
    pub(crate) lateness: i64,
    pub(crate) late_tag: Option<OutputTag<T>>,
    // The type spells out the operator's generic state; an alias would only move it.
    #[allow(clippy::type_complexity)]
    keys: HashTable<KeyWindows<K, A::W, C::Acc, Tr::State>>,
    timers: TimerService<(K, A::W)>,
    scratch: Vec<A::W>,
    requests: Vec<TimerRequest>,
    /// State entries held (elements of buffers, accumulators), for the gauge.
    live: usize,
    gauge: GaugeHandle,
    /// Codecs for checkpoints, looked up at `prepare` in a job with checkpoints.
    #[allow(clippy::type_complexity)]
    codecs: Option<std::result::Result<WindowCodecs<K, A::W, C::Acc, Tr::State>, String>>,
    /// The mark of the newest snapshot (copy-on-write).
    mark: u32,
    /// The snapshot in progress, if any.
    copy: Option<Box<cow::WindowCopy<K, A::W>>>,
    _t: PhantomData<fn(T) -> O>,
}

impl<K, T, O, KF, A, Tr, C> WindowOp<K, T, O, KF, A, Tr, C>
where
    K: Hash + Eq + Clone + Send + 'static,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: Contents<K, T, A::W, O>,
{
    pub(crate) fn new(
        key_fn: KF,
        assigner: A,
        trigger: Tr,
        contents: C,
        lateness: i64,
        late_tag: Option<OutputTag<T>>,
    ) -> Self {
        WindowOp {
            key_fn,
            assigner,
            trigger,
            contents,
            lateness,
            late_tag,
            keys: HashTable::new(),
            timers: TimerService::new(),
            scratch: Vec::new(),
            requests: Vec::new(),
            live: 0,
            gauge: GaugeHandle::default(),
            codecs: None,
            mark: 0,
            copy: None,
            _t: PhantomData,
        }
    }

    /// Publishes the number of state entries this instance holds to `gauge`.
    pub(crate) fn with_gauge(mut self, gauge: Option<StateGauge>) -> Self {
        self.gauge = GaugeHandle::new(gauge);
        self
    }

    /// Publishes the state size, once per batch, watermark or timer round.
    fn publish(&mut self) {
        self.gauge.set(self.live as u64);
    }
}

impl<K, T, O, KF: Clone, A, Tr, C> Clone for WindowOp<K, T, O, KF, A, Tr, C>
where
    K: Hash + Eq + Clone + Send + 'static,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: Contents<K, T, A::W, O>,
{
    fn clone(&self) -> Self {
        let mut op = Self::new(
            self.key_fn.clone(),
            self.assigner.clone(),
            self.trigger.clone(),
            self.contents.clone(),
            self.lateness,
            self.late_tag.clone(),
        );
        op.gauge = self.gauge.clone();
        op.codecs = self.codecs.clone();
        op
    }
}

/// Time rules of the operator (pure).
#[derive(Clone, Copy)]
struct Rules {
    event_time: bool,
    lateness: i64,
}

impl Rules {
    /// When a window's state is dropped: `max_timestamp + lateness` in event time (overflow
    /// means never), `max_timestamp` in processing time.
    fn cleanup_time<W: Window>(&self, w: &W) -> Timestamp {
        if self.event_time {
            let t = w.max_timestamp().wrapping_add(self.lateness);
            if t >= w.max_timestamp() {
                t
            } else {
                Timestamp::MAX
            }
        } else {
            w.max_timestamp()
        }
    }
    fn window_late<W: Window>(&self, w: &W, wm: Timestamp) -> bool {
        self.event_time && self.cleanup_time(w) <= wm
    }
    fn element_late(&self, ts: Timestamp, wm: Timestamp) -> bool {
        self.event_time && ts.saturating_add(self.lateness) <= wm
    }
}

fn apply_requests<K: Hash + Eq + Clone, W: Window>(
    timers: &mut TimerService<(K, W)>,
    requests: &mut Vec<TimerRequest>,
    key: &K,
    w: &W,
) {
    for r in requests.drain(..) {
        let id = (key.clone(), w.clone());
        let q = timers.queue(r.domain);
        if r.register {
            q.register(r.time, id);
        } else {
            q.delete(r.time, &id);
        }
    }
}

fn cleanup_timer<K: Hash + Eq + Clone, W: Window>(
    timers: &mut TimerService<(K, W)>,
    rules: Rules,
    key: &K,
    w: &W,
    register: bool,
) {
    let t = rules.cleanup_time(w);
    if t == Timestamp::MAX {
        return;
    }
    let q = timers.queue(if rules.event_time {
        TimeDomain::EventTime
    } else {
        TimeDomain::ProcessingTime
    });
    let id = (key.clone(), w.clone());
    if register {
        q.register(t, id);
    } else {
        q.delete(t, &id);
    }
}

impl<K, T, O, KF, A, Tr, C> WindowOp<K, T, O, KF, A, Tr, C>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Clone + 'static,
    O: Clone + 'static,
    KF: Fn(&T) -> K + Clone + Send + 'static,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: Contents<K, T, A::W, O>,
{
    fn rules(&self) -> Rules {
        Rules {
            event_time: self.assigner.is_event_time(),
            lateness: self.lateness,
        }
    }

    /// Emits the contents of `state_w` as the result of window `w`.
    fn emit(
        contents: &mut C,
        key: &K,
        w: &A::W,
        acc: &mut C::Acc,
        now: Timestamp,
        cx: &mut UnaryCx<'_, O>,
    ) -> Result<()> {
        let mut wc = WindowContext {
            window: w,
            watermark: cx.watermark,
            now,
            out: cx.out,
            sides: cx.sides,
        };
        contents
            .emit(key, acc, &mut wc)
            .map_err(|e| cx.info.user_error(e))
    }

    /// Adds a window to a key's merging set (Flink's `MergingWindowSet.addWindow`), running
    /// the merge for every group the new window joins; returns the window it ended up in.
    fn add_merging_window(
        &mut self,
        slot: &mut KeyWindows<K, A::W, C::Acc, Tr::State>,
        new_w: A::W,
        now: Timestamp,
        wm: Timestamp,
    ) -> A::W {
        let rules = self.rules();
        let mut inflight: Vec<A::W> = slot.mapping.iter().map(|(w, _)| w.clone()).collect();
        inflight.push(new_w.clone());
        let merges = self.assigner.merge_windows(&inflight);
        let mut result = new_w.clone();
        let mut merged_new = false;
        let no_merges = merges.is_empty();
        for (merge_result, mut members) in merges {
            if let Some(i) = members.iter().position(|m| *m == new_w) {
                members.remove(i);
                merged_new = true;
                result = merge_result.clone();
            }
            let Some(first) = members.first() else {
                continue;
            };
            let Some(state_w) = slot
                .mapping
                .iter()
                .find(|(w, _)| w == first)
                .map(|(_, s)| s.clone())
            else {
                continue;
            };
            let mut merged_state: Vec<A::W> = Vec::new();
            for m in &members {
                if let Some(s) = remove(&mut slot.mapping, m) {
                    merged_state.push(s);
                }
            }
            slot.mapping.push((merge_result.clone(), state_w.clone()));
            merged_state.retain(|s| *s != state_w);
            if members.len() == 1 && members[0] == merge_result {
                continue; // the new window fell inside an existing one: nothing merges
            }
            // Trigger state of the merged windows moves to the result, which re-registers.
            let mut merged_trigger = Tr::State::default();
            for m in members.iter().chain(std::iter::once(&merge_result)) {
                if let Some(s) = remove(&mut slot.triggers, m) {
                    self.trigger.merge_state(&mut merged_trigger, s);
                }
            }
            slot.triggers.push((merge_result.clone(), merged_trigger));
            let ts = find(&mut slot.triggers, &merge_result).expect("just pushed");
            let mut tcx = TriggerContext {
                watermark: wm,
                now,
                requests: &mut self.requests,
            };
            self.trigger.on_merge(&merge_result, ts, &mut tcx);
            apply_requests(
                &mut self.timers,
                &mut self.requests,
                &slot.key,
                &merge_result,
            );
            for m in members.iter().filter(|m| **m != merge_result) {
                let mut scratch_state = Tr::State::default();
                let mut tcx = TriggerContext {
                    watermark: wm,
                    now,
                    requests: &mut self.requests,
                };
                self.trigger.clear(m, &mut scratch_state, &mut tcx);
                apply_requests(&mut self.timers, &mut self.requests, &slot.key, m);
                cleanup_timer(&mut self.timers, rules, &slot.key, m, false);
            }
            // Contents of the merged state windows move into the surviving state window.
            for s in merged_state {
                if let Some(acc) = remove(&mut slot.contents, &s) {
                    let contents = &mut self.contents;
                    match find(&mut slot.contents, &state_w) {
                        Some(into) => {
                            let before = contents.size(into) + contents.size(&acc);
                            contents.merge(into, acc);
                            self.live = (self.live + contents.size(into)).saturating_sub(before);
                        }
                        None => slot.contents.push((state_w.clone(), acc)),
                    }
                }
            }
        }
        // A map in Flink's MergingWindowSet: a window already in flight is not added twice
        // (a duplicate would outlive the window's cleanup and merge with later windows).
        if (no_merges || (result == new_w && !merged_new))
            && !slot.mapping.iter().any(|(x, _)| *x == result)
        {
            slot.mapping.push((result.clone(), result.clone()));
        }
        result
    }

    /// Runs a timer of `(key, w)` at `t` in `domain`.
    fn on_timer(
        &mut self,
        domain: TimeDomain,
        t: Timestamp,
        key: &K,
        w: &A::W,
        cx: &mut UnaryCx<'_, O>,
    ) -> Result<()> {
        // The table is moved out for the call (no allocation) so that the window methods
        // can borrow the operator while the key's slot stays in place.
        let mut keys = std::mem::take(&mut self.keys);
        let r = match keys.find_entry(hash_key(key), |e| e.key == *key) {
            Ok(mut entry) => {
                if self.copy.is_some() && entry.get().mark != self.mark {
                    self.copy_slot(entry.get_mut());
                }
                let r = self.run_timer(domain, t, w, entry.get_mut(), cx);
                if entry.get().is_empty() {
                    entry.remove();
                }
                r
            }
            Err(_) => Ok(()), // the window is gone: a stale timer
        };
        self.keys = keys;
        r
    }

    fn run_timer(
        &mut self,
        domain: TimeDomain,
        t: Timestamp,
        w: &A::W,
        slot: &mut KeyWindows<K, A::W, C::Acc, Tr::State>,
        cx: &mut UnaryCx<'_, O>,
    ) -> Result<()> {
        let (rules, now) = (self.rules(), cx.clock.now_ms());
        let state_w = if self.assigner.is_merging() {
            match slot.mapping.iter().find(|(x, _)| x == w) {
                Some((_, s)) => s.clone(),
                None => return Ok(()),
            }
        } else {
            w.clone()
        };
        let Some(ts) = find(&mut slot.triggers, w) else {
            return Ok(());
        };
        let mut tcx = TriggerContext {
            watermark: cx.watermark,
            now,
            requests: &mut self.requests,
        };
        let r = match domain {
            TimeDomain::EventTime => self.trigger.on_event_time(t, w, ts, &mut tcx),
            TimeDomain::ProcessingTime => self.trigger.on_processing_time(t, w, ts, &mut tcx),
        };
        apply_requests(&mut self.timers, &mut self.requests, &slot.key, w);
        self.fire_or_purge(r, slot, &state_w, w, now, cx)?;
        if rules.event_time == (domain == TimeDomain::EventTime) && t == rules.cleanup_time(w) {
            self.clear_window(slot, w, &state_w, now, cx.watermark);
        }
        Ok(())
    }

    /// Adds every record of a batch to its windows (Flink's `processElement`).
    #[allow(clippy::type_complexity)] // the table type spells out the operator's generics
    fn add_batch(
        &mut self,
        keys: &mut HashTable<KeyWindows<K, A::W, C::Acc, Tr::State>>,
        batch: &mut Batch<T>,
        cx: &mut UnaryCx<'_, O>,
    ) -> Result<()> {
        let rules = self.rules();
        let merging = self.assigner.is_merging();
        let now = cx.clock.now_ms();
        let wm = cx.watermark;
        for (ts, v) in batch.drain(..) {
            let key = (self.key_fn)(&v);
            self.scratch.clear();
            self.assigner
                .assign(&v, ts, now, &mut self.scratch)
                .map_err(|e| cx.info.user_error(e))?;
            let hash = hash_key(&key);
            let mut entry = match keys.find_entry(hash, |e| e.key == key) {
                Ok(mut e) => {
                    if self.copy.is_some() && e.get().mark != self.mark {
                        self.copy_slot(e.get_mut());
                    }
                    e
                }
                Err(absent) => absent.into_table().insert_unique(
                    hash,
                    KeyWindows {
                        key,
                        mark: self.mark,
                        contents: Vec::new(),
                        triggers: Vec::new(),
                        mapping: Vec::new(),
                    },
                    |e| hash_key(&e.key),
                ),
            };
            let slot = entry.get_mut();
            let windows = std::mem::take(&mut self.scratch);
            let mut value = Some(v);
            let mut skipped = true;
            let last = windows.len().saturating_sub(1);
            for (i, assigned) in windows.iter().enumerate() {
                let (w, state_w) = if merging {
                    let actual = self.add_merging_window(slot, assigned.clone(), now, wm);
                    if rules.window_late(&actual, wm) {
                        remove(&mut slot.mapping, &actual);
                        continue;
                    }
                    let state_w = slot
                        .mapping
                        .iter()
                        .find(|(x, _)| *x == actual)
                        .map(|(_, s)| s.clone())
                        .unwrap_or_else(|| actual.clone());
                    (actual, state_w)
                } else {
                    if rules.window_late(assigned, wm) {
                        continue;
                    }
                    (assigned.clone(), assigned.clone())
                };
                skipped = false;
                let v_ref = value.as_ref().expect("taken only by the last window");
                let ts_state = find_or_insert(&mut slot.triggers, &w, Tr::State::default);
                let mut tcx = TriggerContext {
                    watermark: wm,
                    now,
                    requests: &mut self.requests,
                };
                let r = self.trigger.on_element(v_ref, ts, &w, ts_state, &mut tcx);
                apply_requests(&mut self.timers, &mut self.requests, &slot.key, &w);
                let element = if i == last {
                    value.take().expect("present until the last window")
                } else {
                    v_ref.clone()
                };
                let contents = &mut self.contents;
                let acc = find_or_insert(&mut slot.contents, &state_w, || contents.create());
                let before = self.contents.size(acc);
                self.contents.add(acc, ts, element);
                self.live = (self.live + self.contents.size(acc)).saturating_sub(before);
                self.fire_or_purge(r, slot, &state_w, &w, now, cx)?;
                cleanup_timer(&mut self.timers, rules, &slot.key, &w, true);
            }
            self.scratch = windows;
            if skipped && rules.element_late(ts, wm) {
                if let (Some(tag), Some(v)) = (&self.late_tag, value) {
                    cx.sides.give(tag, ts, v);
                }
            }
            if entry.get().is_empty() {
                entry.remove();
            }
        }
        Ok(())
    }

    fn fire_or_purge(
        &mut self,
        r: TriggerResult,
        slot: &mut KeyWindows<K, A::W, C::Acc, Tr::State>,
        state_w: &A::W,
        w: &A::W,
        now: Timestamp,
        cx: &mut UnaryCx<'_, O>,
    ) -> Result<()> {
        if r.is_fire() {
            if let Some(acc) = find(&mut slot.contents, state_w) {
                let before = self.contents.size(acc);
                Self::emit(&mut self.contents, &slot.key, w, acc, now, cx)?;
                // An evictor may have dropped elements.
                self.live = (self.live + self.contents.size(acc)).saturating_sub(before);
            }
        }
        if r.is_purge() {
            if let Some(acc) = remove(&mut slot.contents, state_w) {
                self.live = self.live.saturating_sub(self.contents.size(&acc));
            }
        }
        Ok(())
    }

    /// Drops a window: its contents, its trigger state and timers, its merging entry.
    fn clear_window(
        &mut self,
        slot: &mut KeyWindows<K, A::W, C::Acc, Tr::State>,
        w: &A::W,
        state_w: &A::W,
        now: Timestamp,
        wm: Timestamp,
    ) {
        if let Some(acc) = remove(&mut slot.contents, state_w) {
            self.live = self.live.saturating_sub(self.contents.size(&acc));
        }
        if let Some(mut ts) = remove(&mut slot.triggers, w) {
            let mut tcx = TriggerContext {
                watermark: wm,
                now,
                requests: &mut self.requests,
            };
            self.trigger.clear(w, &mut ts, &mut tcx);
            apply_requests(&mut self.timers, &mut self.requests, &slot.key, w);
        }
        remove(&mut slot.mapping, w);
    }
}

impl<K, T, O, KF, A, Tr, C> Unary for WindowOp<K, T, O, KF, A, Tr, C>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Clone + Send + 'static,
    O: Clone + 'static,
    KF: Fn(&T) -> K + Clone + Send + 'static,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: Contents<K, T, A::W, O>,
{
    type In = T;
    type Out = O;

    fn on_batch(&mut self, batch: &mut Batch<T>, cx: &mut UnaryCx<'_, O>) -> Result<()> {
        // The table is moved out for the batch (no allocation) so that each record's slot is
        // looked up once and worked on in place while the window methods borrow the operator.
        let mut keys = std::mem::take(&mut self.keys);
        let r = self.add_batch(&mut keys, batch, cx);
        self.keys = keys;
        self.publish();
        r
    }

    fn on_watermark(&mut self, wm: Timestamp, cx: &mut UnaryCx<'_, O>) -> Result<bool> {
        while let Some((t, (key, w))) = self.timers.event.pop_due(wm) {
            self.on_timer(TimeDomain::EventTime, t, &key, &w, cx)?;
        }
        self.publish();
        Ok(true)
    }

    fn on_end(&mut self, _cx: &mut UnaryCx<'_, O>) -> Result<()> {
        self.timers.processing.clear();
        Ok(())
    }

    fn on_wired(op: &Rc<RefCell<UnaryOp<Self>>>, cx: &mut ShardBuild) {
        drive_processing_timers(op.clone(), cx);
    }

    fn prepare(&mut self, cfg: &crate::graph::JobConfig) -> Result<()> {
        if cfg.checkpoint.is_some() {
            let t = &cfg.state_types;
            let (k, w, acc, tr) = (
                snap::need::<K>(t, "key"),
                snap::need::<A::W>(t, "window"),
                self.contents.acc_codec(t),
                snap::need::<Tr::State>(t, "trigger state"),
            );
            self.codecs = Some(match (k, w, acc, tr) {
                (Ok(key), Ok(window), Ok(acc), Ok(trigger)) => Ok(WindowCodecs {
                    key,
                    window,
                    acc,
                    trigger,
                }),
                (k, w, acc, tr) => Err(snap::join_missing(vec![
                    k.map(drop),
                    w.map(drop),
                    acc.map(drop),
                    tr.map(drop),
                ])
                .err()
                .unwrap_or_default()),
            });
        }
        Ok(())
    }

    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        snap::role(&self.codecs)
    }

    fn snapshot(&mut self, b: &mut SnapshotBuilder) -> std::result::Result<(), String> {
        self.snapshot_whole(b)
    }

    /// Copy-on-write: the timers and the key list at the barrier, the windows in steps.
    fn begin_snapshot(
        &mut self,
        b: SnapshotBuilder,
    ) -> std::result::Result<Option<SnapshotBuilder>, String> {
        self.begin_copy(b)?;
        Ok(None)
    }

    fn snapshot_step(
        &mut self,
        budget: usize,
    ) -> std::result::Result<Option<SnapshotBuilder>, String> {
        self.copy_step(budget)
    }

    fn snapshots_in_steps(&self) -> bool {
        true
    }

    fn restore(&mut self, v: &RestoreView) -> std::result::Result<(), String> {
        self.restore_state(v)
    }
}

const WINDOW_STATE: &str = "spate/window";
const EVENT_TIMERS: &str = "spate/timers/event";
const PROCESSING_TIMERS: &str = "spate/timers/processing";

impl<K, T, O, KF, A, Tr, C> ProcessingTimers for UnaryOp<WindowOp<K, T, O, KF, A, Tr, C>>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Clone + Send + 'static,
    O: Clone + 'static,
    KF: Fn(&T) -> K + Clone + Send + 'static,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: Contents<K, T, A::W, O>,
{
    fn ended(&self) -> bool {
        self.ended
    }
    fn next_processing_timer(&mut self) -> Option<Timestamp> {
        self.logic.timers.processing.peek()
    }
    fn fire_processing_timers(&mut self, now: Timestamp) -> Result<()> {
        self.with_cx(|l, cx| {
            while let Some((t, (key, w))) = l.timers.processing.pop_due(now) {
                l.on_timer(TimeDomain::ProcessingTime, t, &key, &w, cx)?;
            }
            l.publish();
            Ok(())
        })
    }
}
