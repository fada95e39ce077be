//! Copy-on-write snapshots of the sliced window operator (Flink's heap backend takes its
//! synchronous part the same way: it freezes what it must, and serializes afterwards).
//!
//! At a barrier the operator only freezes what would otherwise change under the snapshot:
//! the list of its keys (with their key groups) and its timers. The keys' slices are then
//! encoded a step at a time, in key-group order, straight into the snapshot file, while
//! records go on. A key's slices that the data path is about to change (an element added,
//! a window fired, slices dropped, the key removed) before the step reached them are
//! encoded first, into a per-key-group buffer that goes into the file after that group's
//! other keys (the format orders entries by key group only). Every key has a mark: the
//! snapshot's when its entry is written (in a step or before a change) or when it was
//! created after the barrier, so the check on the data path is one comparison per record
//! while a snapshot is in steps and one predictable branch otherwise. The file is the one
//! the whole snapshot at the barrier would have written, up to the order of entries within
//! a key group.

use std::collections::VecDeque;

use hashbrown::HashTable;

use super::snapshot::DynCodec;
use crate::checkpoint::format::SnapshotBuilder;
use crate::checkpoint::types::Codec;
use crate::checkpoint::StateData;
use crate::operators::keyed_process::{EVENT_TIMERS, PROCESSING_TIMERS};
use crate::state::hash_key;
use crate::time::{TimerService, Timestamp};

/// One key's slices.
pub(super) struct KeySlices<K, Acc> {
    pub(super) key: K,
    pub(super) hash: u64,
    /// Slices holding at least one element, by start.
    pub(super) slices: VecDeque<(Timestamp, Acc)>,
    /// `end − 1` of the next window to fire (its timer is registered).
    pub(super) next_fire: Option<Timestamp>,
    /// The mark of the snapshot that holds this key's entry already, or that began before
    /// the key was created (see the module doc).
    pub(super) mark: u32,
}

/// The section of the slices.
pub(super) const SLICES: &str = "spate/window/slices";

/// Encodes one key's entry of the slices section.
#[inline]
pub(super) fn encode_slot<K, Acc>(
    k: &Codec<K>,
    a: &DynCodec<Acc>,
    slot: &KeySlices<K, Acc>,
    o: &mut Vec<u8>,
) {
    (k.encode)(&slot.key, o);
    (slot.slices.len() as u64).encode(o);
    for (p, acc) in &slot.slices {
        p.encode(o);
        (a.enc)(acc, o);
    }
    slot.next_fire.encode(o);
}

/// Where a snapshot in steps has got to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Encoding the keys' slices.
    Slices,
    /// Encoding the frozen timers of one domain (0: event time, 1: processing time).
    Timers(usize),
}

/// The snapshot in steps of one sliced window operator instance, and the buffers it
/// reuses from one checkpoint to the next.
pub(super) struct CowSnapshot<K, Acc> {
    /// A snapshot is in steps.
    pub(super) active: bool,
    /// The mark of the snapshot in steps (or of the last one).
    pub(super) mark: u32,
    b: Option<SnapshotBuilder>,
    codecs: Option<(Codec<K>, DynCodec<Acc>)>,
    /// The keys at the barrier, by key group: hash, key.
    keys: Vec<Vec<(u64, K)>>,
    /// The timers at the barrier, per domain and key group: timestamp, key.
    timers: [Vec<Vec<(Timestamp, K)>>; 2],
    /// Where the steps are: the phase, the key group, the place in it.
    phase: Phase,
    group: usize,
    next: usize,
    /// Entries encoded before their turn, framed as in the file, by key group.
    early: Vec<Vec<u8>>,
}

impl<K, Acc> CowSnapshot<K, Acc> {
    pub(super) fn new() -> Self {
        CowSnapshot {
            active: false,
            mark: 0,
            b: None,
            codecs: None,
            keys: Vec::new(),
            timers: [Vec::new(), Vec::new()],
            phase: Phase::Slices,
            group: 0,
            next: 0,
            early: Vec::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone, Acc> CowSnapshot<K, Acc> {
    /// Freezes the key list and the timers of the operator into `b` (the barrier's part),
    /// each into per-key-group lists (reused from one snapshot to the next), so that the
    /// steps visit them in key-group order without sorting.
    pub(super) fn begin(
        &mut self,
        mut b: SnapshotBuilder,
        codecs: (Codec<K>, DynCodec<Acc>),
        keys: &HashTable<KeySlices<K, Acc>>,
        timers: &TimerService<K>,
    ) {
        self.mark = self.mark.wrapping_add(1);
        let groups = b.max_parallelism().max(1);
        self.early.resize_with(groups, Vec::new);
        self.keys.resize_with(groups, Vec::new);
        self.keys.iter_mut().for_each(Vec::clear);
        for s in keys.iter() {
            self.keys[b.key_group(s.hash) as usize].push((s.hash, s.key.clone()));
        }
        for (frozen, q) in self
            .timers
            .iter_mut()
            .zip([&timers.event, &timers.processing])
        {
            frozen.resize_with(groups, Vec::new);
            frozen.iter_mut().for_each(Vec::clear);
            for (ts, k) in q.iter() {
                frozen[b.key_group(hash_key(k)) as usize].push((*ts, k.clone()));
            }
        }
        b.begin_section(SLICES, keys.len());
        self.phase = Phase::Slices;
        self.group = 0;
        self.next = 0;
        self.codecs = Some(codecs);
        self.b = Some(b);
        self.active = true;
    }

    /// The data path is about to change `slot`: its entry is encoded first, unless the
    /// snapshot holds it already.
    #[inline]
    pub(super) fn before_change(&mut self, slot: &mut KeySlices<K, Acc>) {
        if self.active && slot.mark != self.mark {
            self.copy(slot);
        }
    }

    #[cold]
    fn copy(&mut self, slot: &mut KeySlices<K, Acc>) {
        let (Some(b), Some((k, a))) = (&self.b, &self.codecs) else {
            return;
        };
        let kg = b.key_group(slot.hash);
        let out = &mut self.early[kg as usize];
        kg.encode(out);
        let at = out.len();
        0u32.encode(out);
        encode_slot(k, a, slot, out);
        let len = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&len.to_le_bytes());
        slot.mark = self.mark;
    }

    /// Encodes up to `budget` more entries; returns the snapshot once complete.
    pub(super) fn step(
        &mut self,
        budget: usize,
        keys: &mut HashTable<KeySlices<K, Acc>>,
    ) -> Result<Option<SnapshotBuilder>, String> {
        let (Some(b), Some((k, a))) = (self.b.as_mut(), self.codecs.as_ref()) else {
            return Err("no snapshot in progress".into());
        };
        let mut left = budget;
        if self.phase == Phase::Slices {
            while self.group < self.keys.len() {
                let kg = self.group as u32;
                let list = &self.keys[self.group];
                while self.next < list.len() && left > 0 {
                    let (hash, key) = &list[self.next];
                    // A key removed after the barrier had its entry copied before: skip it.
                    if let Some(slot) = keys.find_mut(*hash, |e| e.key == *key) {
                        if slot.mark != self.mark {
                            b.entry(kg, |o| encode_slot(k, a, slot, o));
                            slot.mark = self.mark;
                        }
                    }
                    self.next += 1;
                    left -= 1;
                }
                if self.next < list.len() {
                    return Ok(None);
                }
                // Every key of the group is marked now: none can be copied any more.
                let early = &mut self.early[self.group];
                b.entry_bytes(early);
                early.clear();
                self.group += 1;
                self.next = 0;
                if left == 0 {
                    return Ok(None);
                }
            }
            self.phase = Phase::Timers(0);
            self.group = 0;
        }
        while let Phase::Timers(d) = self.phase {
            let frozen = &self.timers[d];
            if self.group == 0 && self.next == 0 {
                let n: usize = frozen.iter().map(Vec::len).sum();
                if n > 0 {
                    b.begin_section([EVENT_TIMERS, PROCESSING_TIMERS][d], n);
                }
            }
            while self.group < frozen.len() {
                let kg = self.group as u32;
                let list = &frozen[self.group];
                while self.next < list.len() && left > 0 {
                    let (ts, key) = &list[self.next];
                    b.entry(kg, |o| {
                        ts.encode(o);
                        (k.encode)(key, o);
                    });
                    self.next += 1;
                    left -= 1;
                }
                if self.next < list.len() || left == 0 {
                    if self.next == list.len() {
                        self.group += 1;
                        self.next = 0;
                    }
                    return Ok(None);
                }
                self.group += 1;
                self.next = 0;
            }
            self.group = 0;
            self.next = 0;
            if d == 1 {
                break;
            }
            self.phase = Phase::Timers(1);
        }
        self.active = false;
        self.codecs = None;
        Ok(self.b.take())
    }
}
