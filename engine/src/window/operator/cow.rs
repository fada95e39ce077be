//! Snapshots of the generic window operator: whole at the barrier, or copy-on-write (the
//! key list and the timers frozen at the barrier, each key's windows encoded before its
//! first change after it or in a step), and the restore.

use std::hash::Hash;

use super::{KeyWindows, WindowOp, EVENT_TIMERS, PROCESSING_TIMERS, WINDOW_STATE};
use crate::checkpoint::format::SnapshotBuilder;
use crate::checkpoint::registry::RestoreView;
use crate::checkpoint::{StateData, StateWriter};
use crate::state::hash_key;
use crate::time::{TimeDomain, Timestamp};
use crate::window::assigner::WindowAssigner;
use crate::window::function::Contents;
use crate::window::snapshot::{self as snap, WindowCodecs};
use crate::window::trigger::Trigger;

/// A snapshot in progress: the keys and timers at the barrier, the entries so far, and the
/// file they go into.
pub(super) struct WindowCopy<K, W> {
    frozen: Vec<(u64, K)>,
    pos: usize,
    out: StateWriter,
    /// The timers at the barrier (0: event time, 1: processing time), encoded in steps
    /// once every key is.
    timers: Vec<(u8, Timestamp, K, W)>,
    tpos: usize,
    tout: [StateWriter; 2],
    builder: SnapshotBuilder,
}

/// One key's entry: key, then its contents, trigger states and merge mapping.
fn encode_slot<K, W, Acc, TS>(
    c: &WindowCodecs<K, W, Acc, TS>,
    slot: &KeyWindows<K, W, Acc, TS>,
    o: &mut Vec<u8>,
) {
    let (we, ae, te) = (c.window.encode, &c.acc.enc, c.trigger.encode);
    (c.key.encode)(&slot.key, o);
    snap::encode_pairs(&slot.contents, o, &we, &**ae);
    snap::encode_pairs(&slot.triggers, o, &we, &te);
    snap::encode_pairs(&slot.mapping, o, &we, &we);
}

impl<K, T, O, KF, A, Tr, C> WindowOp<K, T, O, KF, A, Tr, C>
where
    K: Hash + Eq + Clone + Send + 'static,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: Contents<K, T, A::W, O>,
{
    /// Encodes `slot` into the snapshot in progress, unless it holds it already.
    #[cold]
    pub(super) fn copy_slot(&mut self, slot: &mut KeyWindows<K, A::W, C::Acc, Tr::State>) {
        let (Some(copy), Some(Ok(c))) = (self.copy.as_deref_mut(), &self.codecs) else {
            return;
        };
        if slot.mark != self.mark {
            slot.mark = self.mark;
            copy.out
                .entry(hash_key(&slot.key), |o| encode_slot(c, slot, o));
        }
    }

    /// Both timer sections, whole.
    fn snapshot_timers(&self, b: &mut SnapshotBuilder) -> Result<(), String> {
        let c = snap::found(&self.codecs)?;
        for (name, q) in [
            (EVENT_TIMERS, &self.timers.event),
            (PROCESSING_TIMERS, &self.timers.processing),
        ] {
            let mut w = StateWriter::new(b.max_parallelism());
            for (ts, (k, win)) in q.iter() {
                w.entry(hash_key(k), |o| {
                    ts.encode(o);
                    (c.key.encode)(k, o);
                    (c.window.encode)(win, o);
                });
            }
            b.add(name, w);
        }
        Ok(())
    }

    /// The whole snapshot, at the barrier.
    pub(super) fn snapshot_whole(&mut self, b: &mut SnapshotBuilder) -> Result<(), String> {
        let c = snap::found(&self.codecs)?;
        let mut w = StateWriter::new(b.max_parallelism());
        for slot in self.keys.iter() {
            w.entry(hash_key(&slot.key), |o| encode_slot(c, slot, o));
        }
        b.add(WINDOW_STATE, w);
        self.snapshot_timers(b)
    }

    /// Freezes the key list and the timers; the windows and timers are encoded in steps.
    pub(super) fn begin_copy(&mut self, b: SnapshotBuilder) -> Result<(), String> {
        if self.copy.is_some() {
            return Err("a snapshot began while the previous one was in progress".into());
        }
        snap::found(&self.codecs)?;
        self.mark = self.mark.wrapping_add(1);
        let frozen = self
            .keys
            .iter()
            .map(|s| (hash_key(&s.key), s.key.clone()))
            .collect();
        let mut timers = Vec::new();
        for (d, q) in [(0u8, &self.timers.event), (1, &self.timers.processing)] {
            timers.extend(q.iter().map(|(ts, (k, w))| (d, *ts, k.clone(), w.clone())));
        }
        let mp = b.max_parallelism();
        self.copy = Some(Box::new(WindowCopy {
            frozen,
            pos: 0,
            out: StateWriter::new(mp),
            timers,
            tpos: 0,
            tout: [StateWriter::new(mp), StateWriter::new(mp)],
            builder: b,
        }));
        Ok(())
    }

    /// Encodes up to `budget` more frozen keys not copied yet; the snapshot once complete.
    pub(super) fn copy_step(&mut self, budget: usize) -> Result<Option<SnapshotBuilder>, String> {
        let copy = self.copy.as_deref_mut().ok_or("no snapshot in progress")?;
        let c = snap::found(&self.codecs)?;
        let end = copy.frozen.len().min(copy.pos.saturating_add(budget));
        for (hash, key) in &copy.frozen[copy.pos..end] {
            // Absent: removed after the barrier, which copied it first.
            if let Some(slot) = self.keys.find_mut(*hash, |e| e.key == *key) {
                if slot.mark != self.mark {
                    slot.mark = self.mark;
                    copy.out.entry(*hash, |o| encode_slot(c, slot, o));
                }
            }
        }
        let left = budget - (end - copy.pos);
        copy.pos = end;
        if end < copy.frozen.len() {
            return Ok(None);
        }
        let tend = copy.timers.len().min(copy.tpos.saturating_add(left));
        for (d, ts, k, w) in &copy.timers[copy.tpos..tend] {
            copy.tout[usize::from(*d)].entry(hash_key(k), |o| {
                ts.encode(o);
                (c.key.encode)(k, o);
                (c.window.encode)(w, o);
            });
        }
        copy.tpos = tend;
        if tend < copy.timers.len() {
            return Ok(None);
        }
        let Some(copy) = self.copy.take() else {
            return Ok(None);
        };
        let (keys, written) = (copy.frozen.len(), copy.out.len());
        if written != keys {
            return Err(format!(
                "the copy-on-write snapshot wrote {written} entries for {keys} keys"
            ));
        }
        let mut b = copy.builder;
        let [event, processing] = copy.tout;
        b.add(WINDOW_STATE, copy.out);
        b.add(EVENT_TIMERS, event);
        b.add(PROCESSING_TIMERS, processing);
        Ok(Some(b))
    }

    /// Restores the windows and timers a snapshot (of either kind) holds.
    pub(super) fn restore_state(&mut self, v: &RestoreView) -> Result<(), String> {
        let c = snap::found(&self.codecs)?.clone();
        let (wd, ad, td) = (c.window.decode, &*c.acc.dec, c.trigger.decode);
        let err = |e: crate::checkpoint::DecodeError| format!("window state: {e}");
        for e in v.sections.get(WINDOW_STATE).into_iter().flatten() {
            let r = &mut &e[..];
            let key = (c.key.decode)(r).map_err(err)?;
            let slot = KeyWindows {
                key,
                mark: self.mark,
                contents: snap::decode_pairs(r, &wd, ad).map_err(err)?,
                triggers: snap::decode_pairs(r, &wd, &td).map_err(err)?,
                mapping: snap::decode_pairs(r, &wd, &wd).map_err(err)?,
            };
            let hash = hash_key(&slot.key);
            if !r.is_empty() || self.keys.find(hash, |e| e.key == slot.key).is_some() {
                return Err("window state: trailing bytes or a key twice".into());
            }
            for (_, acc) in &slot.contents {
                self.live += self.contents.size(acc);
            }
            self.keys.insert_unique(hash, slot, |e| hash_key(&e.key));
        }
        for (name, domain) in [
            (EVENT_TIMERS, TimeDomain::EventTime),
            (PROCESSING_TIMERS, TimeDomain::ProcessingTime),
        ] {
            for e in v.sections.get(name).into_iter().flatten() {
                let r = &mut &e[..];
                let ts = Timestamp::decode(r).map_err(err)?;
                let key = (c.key.decode)(r).map_err(err)?;
                let w = wd(r).map_err(err)?;
                self.timers.queue(domain).register(ts, (key, w));
            }
        }
        self.publish();
        Ok(())
    }
}
