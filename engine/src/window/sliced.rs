//! Sliding event-time windows by slices (Scotty-style stream slicing): the time axis is cut
//! into slices of `gcd(size, slide)`; an element updates the one accumulator of its slice,
//! and a firing window merges the `size / gcd` slices it covers. A 10 s / 1 s sliding count
//! thus costs one add per element plus ten merges per window instead of ten adds per
//! element and ten windows of state.
//!
//! Used for `aggregate` and `aggregate_process` on event-time sliding and tumbling windows
//! (a tumbling window is one slice) with the default trigger and no evictor (the API picks
//! it); results are those of the generic
//! window operator (Flink's `WindowOperator`) — same windows, same firing times, same
//! allowed lateness, late firings and late side output — provided the aggregate does not
//! depend on the order of its elements across slices (elements within a slice are added in
//! arrival order, slices are merged in time order).
//!
//! Per key: the slices holding elements, sorted by start, and the end − 1 of the next window
//! to fire. One event-time timer per key chains the firings (a firing schedules the next
//! window that holds an element); with allowed lateness, a second timer drops the oldest
//! slice once the last window holding it is past its cleanup time.

use std::any::Any;
use std::collections::VecDeque;
use std::hash::Hash;
use std::marker::PhantomData;

use hashbrown::HashTable;

use super::function::{Contents, WindowContext};
use super::sliced_snapshot::{
    apply_delta, encode_entry, write_dropped, CowSnapshot, KeySlices, DROPPED, FRESH, SLICES,
    SLICES_V1,
};
use super::snapshot::{self as snap, DynCodec};
use super::types::{TimeWindow, Window};
use crate::checkpoint::chain::SnapshotChain;
use crate::checkpoint::format::{prefetch, SnapshotBuilder};
use crate::checkpoint::registry::{KeyCodec, RestoreView};
use crate::checkpoint::types::Codec;
use crate::checkpoint::StateData;
use crate::error::{Result, SpateError};
use crate::operators::keyed_process::restore_timers;
use crate::operators::unary::{Unary, UnaryCx};
use crate::operators::{Batch, OutputTag};
use crate::state::hash_key;
use crate::time::{TimerService, Timestamp};

/// The geometry of sliding windows cut into slices (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slicing {
    size: i64,
    slide: i64,
    offset: i64,
    /// The slice length: `gcd(size, slide)`.
    pane: i64,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Slicing {
    pub(crate) fn new(size: i64, slide: i64, offset: i64) -> Self {
        Slicing {
            size,
            slide,
            offset,
            pane: gcd(size, slide),
        }
    }

    /// The start of the slice holding `ts`.
    #[inline]
    fn slice_of(&self, ts: Timestamp) -> Timestamp {
        TimeWindow::start_with_offset(ts, self.offset, self.pane)
    }

    /// The end of the latest window holding slice `p`.
    #[inline]
    fn last_end(&self, p: Timestamp) -> Timestamp {
        TimeWindow::start_with_offset(p, self.offset, self.slide).saturating_add(self.size)
    }

    /// The end of the earliest window holding slice `p`: the first window start at or after
    /// `p + pane − size`, plus `size`.
    #[inline]
    fn first_end(&self, p: Timestamp) -> Timestamp {
        let x = p.saturating_add(self.pane).saturating_sub(self.size);
        let s = TimeWindow::start_with_offset(x, self.offset, self.slide);
        let s = if s < x {
            s.saturating_add(self.slide)
        } else {
            s
        };
        s.saturating_add(self.size)
    }
}

/// When a window whose last timestamp is `max_ts` is dropped: `max_ts + lateness`, never on
/// overflow (as the generic operator).
#[inline]
fn cleanup_time(max_ts: Timestamp, lateness: i64) -> Timestamp {
    let t = max_ts.wrapping_add(lateness);
    if t >= max_ts {
        t
    } else {
        Timestamp::MAX
    }
}

/// The sliced window operator's logic for one keyed stream. `W` is the window type the
/// contents were built for; it is always [`TimeWindow`] (checked when a window fires).
pub(crate) struct SlicedWindowOp<K, T, O, KF, W, C: Contents<K, T, W, O>> {
    key_fn: KF,
    contents: C,
    geo: Slicing,
    lateness: i64,
    late_tag: Option<OutputTag<T>>,
    keys: HashTable<KeySlices<K, C::Acc>>,
    timers: TimerService<K>,
    /// Codecs of the key and the slice accumulators, looked up at `prepare` in a job with
    /// checkpoints.
    #[allow(clippy::type_complexity)]
    codecs: Option<std::result::Result<(Codec<K>, DynCodec<C::Acc>), String>>,
    /// The snapshot in steps after a barrier (copy-on-write), and its buffers.
    cow: CowSnapshot<K, C::Acc>,
    /// Incremental snapshots: the files the next delta builds on.
    chain: SnapshotChain,
    /// Keys dropped since the last snapshot, kept for the next delta when `keep_dropped`
    /// (incremental snapshots on).
    dropped: Vec<K>,
    keep_dropped: bool,
    _t: PhantomData<fn(T, W) -> O>,
}

impl<K, T, O, KF, W, C> SlicedWindowOp<K, T, O, KF, W, C>
where
    K: Hash + Eq + Clone + Send + 'static,
    C: Contents<K, T, W, O>,
{
    pub(crate) fn new(
        key_fn: KF,
        contents: C,
        geo: Slicing,
        lateness: i64,
        late_tag: Option<OutputTag<T>>,
    ) -> Self {
        SlicedWindowOp {
            key_fn,
            contents,
            geo,
            lateness,
            late_tag,
            keys: HashTable::new(),
            timers: TimerService::new(),
            codecs: None,
            cow: CowSnapshot::new(),
            chain: SnapshotChain::default(),
            dropped: Vec::new(),
            keep_dropped: false,
            _t: PhantomData,
        }
    }
}

impl<K, T, O, KF: Clone, W, C> Clone for SlicedWindowOp<K, T, O, KF, W, C>
where
    K: Hash + Eq + Clone + Send + 'static,
    C: Contents<K, T, W, O>,
{
    fn clone(&self) -> Self {
        let mut op = Self::new(
            self.key_fn.clone(),
            self.contents.clone(),
            self.geo,
            self.lateness,
            self.late_tag.clone(),
        );
        op.codecs = self.codecs.clone();
        op.keep_dropped = self.keep_dropped;
        op
    }
}

impl<K, T, O, KF, W, C> SlicedWindowOp<K, T, O, KF, W, C>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Clone + 'static,
    O: Clone + 'static,
    KF: Fn(&T) -> K + Clone + Send + 'static,
    W: Window,
    C: Contents<K, T, W, O>,
    C::Acc: Clone,
{
    /// Emits window `[end − size, end)` of `slot` if any slice of it holds elements.
    fn fire(
        contents: &mut C,
        geo: Slicing,
        slot: &KeySlices<K, C::Acc>,
        end: Timestamp,
        cx: &mut UnaryCx<'_, O>,
    ) -> Result<()> {
        let start = end.saturating_sub(geo.size);
        let mut acc: Option<C::Acc> = None;
        for (_, a) in slot
            .slices
            .iter()
            .skip_while(|(p, _)| *p < start)
            .take_while(|(p, _)| *p < end)
        {
            let into = acc.get_or_insert_with(|| contents.create());
            contents.merge(into, a.clone());
        }
        let Some(mut acc) = acc else {
            return Ok(());
        };
        let tw = TimeWindow::new(start, end);
        let w = (&tw as &dyn Any).downcast_ref::<W>().ok_or_else(|| {
            SpateError::Internal(
                "sliced windows built for a window type other than TimeWindow".into(),
            )
        })?;
        let now = cx.clock.now_ms();
        let mut wc = WindowContext {
            window: w,
            watermark: cx.watermark,
            now,
            out: cx.out,
            sides: cx.sides,
        };
        contents
            .emit(&slot.key, &mut acc, &mut wc)
            .map_err(|e| cx.info.user_error(e))
    }

    /// `end − 1` of the first window after the one ending at `end` that holds an element.
    fn next_after(geo: Slicing, slot: &KeySlices<K, C::Acc>, end: Timestamp) -> Option<Timestamp> {
        let min_end = end.saturating_add(geo.slide);
        let p = slot
            .slices
            .iter()
            .map(|(p, _)| *p)
            .find(|p| geo.last_end(*p) >= min_end)?;
        Some(min_end.max(geo.first_end(p)) - 1)
    }

    /// Adds every record of a batch to its slice; fires windows the watermark already
    /// passed but that are within allowed lateness (Flink's late firing).
    fn add_batch(&mut self, batch: &mut Batch<T>, cx: &mut UnaryCx<'_, O>) -> Result<()> {
        let (geo, lateness, wm) = (self.geo, self.lateness, cx.watermark);
        for (ts, v) in batch.drain(..) {
            if ts == crate::time::NO_TIMESTAMP {
                return Err(cx.info.user_error(
                    "a record has no event-time timestamp: event-time windows need \
                     assign_timestamps_and_watermarks (or a source that sets timestamps)"
                        .into(),
                ));
            }
            let p = geo.slice_of(ts);
            let last_end = geo.last_end(p);
            if cleanup_time(last_end - 1, lateness) <= wm {
                // Every window of the element is gone.
                if let Some(tag) = &self.late_tag {
                    cx.sides.give(tag, ts, v);
                }
                continue;
            }
            let key = (self.key_fn)(&v);
            let hash = hash_key(&key);
            let slot = match self.keys.find_mut(hash, |e| e.key == key) {
                Some(s) => {
                    self.cow.before_change(s, hash);
                    s
                }
                None => self
                    .keys
                    .insert_unique(
                        hash,
                        KeySlices {
                            key,
                            slices: VecDeque::new(),
                            next_fire: None,
                            mark: self.cow.mark,
                            touched: FRESH,
                        },
                        |e| hash_key(&e.key),
                    )
                    .into_mut(),
            };
            // Find the slice, newest first (in-order input hits the back).
            let i = slot.slices.iter().rposition(|(s, _)| *s <= p);
            let contents = &mut self.contents;
            let (idx, new_front) = match i {
                Some(i) if slot.slices[i].0 == p => {
                    slot.touch_at(i);
                    (i, false)
                }
                Some(i) => {
                    slot.slices.insert(i + 1, (p, contents.create()));
                    slot.touch_insert(i + 1);
                    (i + 1, false)
                }
                None => {
                    slot.slices.push_front((p, contents.create()));
                    slot.touch_insert(0);
                    (0, true)
                }
            };
            contents.add(&mut slot.slices[idx].1, ts, v);
            // The windows holding the element end at first_end, first_end + slide, ...,
            // last_end. Those the watermark passed fire again now (latest first, as Flink
            // assigns them); the first one still ahead needs a timer.
            let mut first_ahead = None;
            let mut end = last_end;
            let first_end = geo.first_end(p);
            while end >= first_end {
                let max_ts = end - 1;
                if max_ts > wm {
                    first_ahead = Some(max_ts);
                } else if cleanup_time(max_ts, lateness) > wm {
                    Self::fire(&mut self.contents, geo, slot, end, cx)?;
                }
                end -= geo.slide;
            }
            if let Some(t) = first_ahead {
                if slot.next_fire.is_none_or(|n| t < n) {
                    slot.next_fire = Some(t);
                    self.timers.event.register(t, slot.key.clone());
                }
            }
            if new_front && lateness > 0 {
                let t = cleanup_time(geo.last_end(p) - 1, lateness);
                self.timers.event.register(t, slot.key.clone());
            }
        }
        Ok(())
    }

    /// A timer of `key` at `t` (the watermark is at or past it): fire the window it chains
    /// to, drop slices whose cleanup time is `t` or earlier, schedule what comes next.
    fn on_timer(&mut self, t: Timestamp, key: K, cx: &mut UnaryCx<'_, O>) -> Result<()> {
        let (geo, lateness) = (self.geo, self.lateness);
        let hash = hash_key(&key);
        let Ok(mut entry) = self.keys.find_entry(hash, |e| e.key == key) else {
            return Ok(());
        };
        let slot = entry.get_mut();
        self.cow.before_change(slot, hash);
        if slot.next_fire == Some(t) {
            Self::fire(&mut self.contents, geo, slot, t + 1, cx)?;
            slot.next_fire = Self::next_after(geo, slot, t + 1);
            if let Some(n) = slot.next_fire {
                self.timers.event.register(n, key.clone());
            }
        }
        let before = slot.slices.front().map(|s| s.0);
        while let Some((p, _)) = slot.slices.front() {
            // Up to `t`, not the watermark: this key's timers before `t` have all run,
            // those after it (firings of later windows) not yet.
            if cleanup_time(geo.last_end(*p) - 1, lateness) <= t {
                slot.slices.pop_front();
            } else {
                break;
            }
        }
        slot.touch_front();
        match slot.slices.front() {
            None => {
                let (gone, _) = entry.remove();
                if self.keep_dropped {
                    self.dropped.push(gone.key);
                }
            }
            Some((p, _)) if lateness > 0 && Some(*p) != before => {
                let c = cleanup_time(geo.last_end(*p) - 1, lateness);
                self.timers.event.register(c, key);
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Begins a snapshot in steps (copy-on-write): full, or with `delta` the keys dropped
    /// and the changed keys' deltas since the previous snapshot.
    fn begin_in_steps(
        &mut self,
        b: SnapshotBuilder,
        delta: bool,
    ) -> std::result::Result<(), String> {
        let codecs = snap::found(&self.codecs)?.clone();
        let dropped = dropped_for(&mut self.dropped, delta);
        self.cow.begin(b, codecs, &mut self.keys, dropped);
        Ok(())
    }

    /// Writes the snapshot at the barrier: every key's entry, or with `delta` the keys
    /// dropped and the changed keys' deltas since the previous snapshot. The timers are
    /// not written: a restore derives them from the keys' entries.
    fn whole_snapshot(
        &mut self,
        b: &mut SnapshotBuilder,
        delta: bool,
    ) -> std::result::Result<(), String> {
        let (k, a) = snap::found(&self.codecs)?;
        if let Some(d) = dropped_for(&mut self.dropped, delta) {
            write_dropped(b, k, d);
        }
        // Encoded straight into the file, in key-group order.
        let mut slots: Vec<(u32, &KeySlices<K, C::Acc>)> = self
            .keys
            .iter()
            .filter(|s| !delta || s.touched != 0)
            .map(|s| (b.key_group(hash_key(&s.key)), s))
            .collect();
        let touch = |slot: &&KeySlices<K, C::Acc>, near: bool| {
            if near {
                let (front, _) = slot.slices.as_slices();
                prefetch(front.as_ptr());
                prefetch(front.as_ptr().wrapping_add(4));
            } else {
                prefetch(*slot);
            }
        };
        b.add_encoded(SLICES, &mut slots, touch, |slot, o| {
            encode_entry(delta, k, a, slot, o)
        });
        drop(slots);
        self.keys.iter_mut().for_each(|s| s.touched = 0);
        Ok(())
    }

    /// Applies one layer of a restore: a full snapshot's entries, or a delta's dropped
    /// keys and changes.
    fn restore_layer(
        &mut self,
        layer: &Sections,
        k: &crate::checkpoint::types::Codec<K>,
        a: &DynCodec<C::Acc>,
    ) -> std::result::Result<(), String> {
        let err = |e: crate::checkpoint::DecodeError| format!("sliced window state: {e}");
        let mark = self.cow.mark;
        // Written before incremental snapshots: whole, at fixed width.
        for e in layer.get(SLICES_V1).into_iter().flatten() {
            let r = &mut &e[..];
            let key = (k.decode)(r).map_err(err)?;
            let slices = snap::decode_list(r, 8, &|r: &mut &[u8]| {
                Ok((Timestamp::decode(r)?, (a.dec)(r)?))
            })
            .map_err(err)?;
            let next_fire = Option::<Timestamp>::decode(r).map_err(err)?;
            let hash = hash_key(&key);
            if !r.is_empty() || self.keys.find(hash, |e| e.key == key).is_some() {
                return Err("sliced window state: trailing bytes or a key twice".into());
            }
            let slot = KeySlices {
                key,
                slices: slices.into(),
                next_fire,
                mark,
                touched: FRESH,
            };
            self.keys.insert_unique(hash, slot, |e| hash_key(&e.key));
        }
        for e in layer.get(DROPPED).into_iter().flatten() {
            let r = &mut &e[..];
            let key = (k.decode)(r).map_err(err)?;
            if !r.is_empty() {
                return Err("sliced window state: trailing bytes after a dropped key".into());
            }
            if let Ok(entry) = self.keys.find_entry(hash_key(&key), |e| e.key == key) {
                entry.remove();
            }
        }
        for e in layer.get(SLICES).into_iter().flatten() {
            apply_delta(&mut self.keys, e, k, a, mark).map_err(err)?;
        }
        Ok(())
    }
}

impl<K, T, O, KF, W, C> Unary for SlicedWindowOp<K, T, O, KF, W, C>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Clone + Send + 'static,
    O: Clone + 'static,
    KF: Fn(&T) -> K + Clone + Send + 'static,
    W: Window,
    C: Contents<K, T, W, O>,
    C::Acc: Clone,
{
    type In = T;
    type Out = O;

    fn on_batch(&mut self, batch: &mut Batch<T>, cx: &mut UnaryCx<'_, O>) -> Result<()> {
        self.add_batch(batch, cx)
    }

    fn on_watermark(&mut self, wm: Timestamp, cx: &mut UnaryCx<'_, O>) -> Result<bool> {
        while let Some((t, key)) = self.timers.event.pop_due(wm) {
            self.on_timer(t, key, cx)?;
        }
        Ok(true)
    }

    fn prepare(&mut self, cfg: &crate::graph::JobConfig) -> Result<()> {
        if cfg.checkpoint.is_some() {
            let t = &cfg.state_types;
            self.codecs = Some(
                match (snap::need::<K>(t, "key"), self.contents.acc_codec(t)) {
                    (Ok(k), Ok(a)) => Ok((k, a)),
                    (k, a) => Err(snap::join_missing(vec![k.map(drop), a.map(drop)])
                        .err()
                        .unwrap_or_default()),
                },
            );
            let incremental = cfg.checkpoint.as_ref().is_some_and(|c| c.incremental > 0);
            self.keep_dropped = incremental;
        }
        Ok(())
    }

    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        snap::role(&self.codecs)
    }

    fn snapshot(&mut self, b: &mut SnapshotBuilder) -> std::result::Result<(), String> {
        let delta = self.chain.begin(b);
        self.whole_snapshot(b, delta)
    }

    fn begin_snapshot(
        &mut self,
        mut b: SnapshotBuilder,
    ) -> std::result::Result<Option<SnapshotBuilder>, String> {
        let delta = self.chain.begin(&mut b);
        self.begin_in_steps(b, delta)?;
        Ok(None)
    }

    fn snapshot_step(
        &mut self,
        budget: usize,
    ) -> std::result::Result<Option<SnapshotBuilder>, String> {
        self.cow.step(budget, &mut self.keys)
    }

    fn snapshots_in_steps(&self) -> bool {
        true
    }

    fn restore(&mut self, v: &RestoreView) -> std::result::Result<(), String> {
        let (k, a) = snap::found(&self.codecs)?.clone();
        // The chain's files first (a full snapshot, then deltas), then the epoch's own.
        for layer in v.layers.iter().chain([&v.sections]) {
            self.restore_layer(layer, &k, &a)?;
        }
        // Each key's timers, derived: its next firing and, with allowed lateness, the
        // cleanup of its first slice. (The timers the data path had besides are stale: a
        // firing moved earlier, a slice dropped; their only effect would be to drop slices
        // past their cleanup time a little sooner, which changes no result.) Snapshots of
        // earlier versions hold the timers: those are restored too.
        let (geo, lateness) = (self.geo, self.lateness);
        for slot in self.keys.iter() {
            if let Some(n) = slot.next_fire {
                self.timers.event.register(n, slot.key.clone());
            }
            if let Some((p, _)) = slot.slices.front().filter(|_| lateness > 0) {
                let c = cleanup_time(geo.last_end(*p) - 1, lateness);
                self.timers.event.register(c, slot.key.clone());
            }
        }
        let kc = KeyCodec {
            encode: k.encode,
            decode: k.decode,
        };
        restore_timers(&mut self.timers, Some(&kc), v)
    }
}

type Sections = std::collections::HashMap<String, Vec<Vec<u8>>>;

/// The keys dropped since the previous snapshot, for a delta; a full snapshot forgets them
/// (`None`).
fn dropped_for<K>(dropped: &mut Vec<K>, delta: bool) -> Option<&mut Vec<K>> {
    if !delta {
        dropped.clear();
        return None;
    }
    Some(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_and_the_windows_that_hold_them() {
        let g = Slicing::new(10, 4, 0); // pane 2
        assert_eq!(g.pane, 2);
        assert_eq!(g.slice_of(7), 6);
        assert_eq!(g.slice_of(-1), -2);
        // Windows [0,10), [4,14), [8,18) hold slice [8,10): ends 10, 14, 18.
        assert_eq!(g.first_end(8), 10);
        assert_eq!(g.last_end(8), 18);
        // Slice [2,4) is in [-4,6) and [0,10) only.
        assert_eq!(g.first_end(2), 6);
        assert_eq!(g.last_end(2), 10);
        let o = Slicing::new(10, 5, 3);
        assert_eq!(o.slice_of(2), -2);
        assert_eq!(o.first_end(-2), 3);
        assert_eq!(o.last_end(-2), 8);
    }

    #[test]
    fn cleanup_never_overflows() {
        assert_eq!(cleanup_time(10, 5), 15);
        assert_eq!(cleanup_time(Timestamp::MAX - 1, 5), Timestamp::MAX);
    }
}

#[cfg(test)]
mod cow_tests;
#[cfg(test)]
mod delta_tests;
