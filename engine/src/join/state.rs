//! The keyed state of a two-sided join on one shard: per key, the buffered records of each
//! side ([`IntervalBuffer`]), and when the key is next due for eviction.
//!
//! Eviction: a record is dropped once the watermark reaches its interval's end plus its
//! side's *hold* (`end + hold <= watermark`). Each key has one pending eviction time — a lower
//! bound of its earliest such moment — in a queue of `(time, key hash)` (`DueQueue`), not
//! one timer per record, and no key is cloned to schedule it. Entries made stale by an
//! earlier reschedule are recognised (the key's slot holds a different time) and skipped;
//! running an eviction early is harmless, it only removes what is due. At `+∞` everything
//! goes.
//!
//! A key whose last record goes loses its slot, but its buffers' memory is kept (up to
//! [`SPARE`] per side) for the next new key: with many keys each holding a record or two,
//! slots come and go at the rate of records, and they should not allocate every time.

use std::collections::BTreeMap;

use hashbrown::HashTable;

use super::buffer::{Entry, Interval, IntervalBuffer};
use super::due::DueQueue;
use crate::checkpoint::format::SnapshotBuilder;
use crate::checkpoint::registry::RestoreView;
use crate::checkpoint::types::Codec;
use crate::checkpoint::{DecodeError, StateData, StateWriter};
use crate::state::hash_key;
use crate::time::{Timestamp, MAX_WATERMARK};

mod cow;
use cow::{before_change, write_slot, JoinCopy};

/// No eviction scheduled.
const NONE: Timestamp = Timestamp::MAX;

/// Empty buffers kept per side for new keys.
const SPARE: usize = 1024;

struct KeySlot<K, A, B> {
    key: K,
    hash: u64,
    /// The mark of the snapshot that holds this key's records already (or the one current
    /// when the key came): see `cow`.
    mark: u32,
    /// The watermark at which this key's next eviction is due ([`NONE`]: not scheduled).
    due: Timestamp,
    left: IntervalBuffer<A>,
    right: IntervalBuffer<B>,
}

/// Per-key buffers of both sides of a join.
pub(crate) struct JoinState<K, A, B> {
    table: HashTable<KeySlot<K, A, B>>,
    due: DueQueue,
    /// Watermark distance past its interval's end that a record is kept, per side (may be
    /// negative: dropped before the watermark reaches its end).
    holds: [i64; 2],
    records: usize,
    /// Left-outer joins: how many buffered, not yet matched left records start at each time
    /// (their outputs are still to come, so the output watermark waits for them).
    unmatched: Option<BTreeMap<Timestamp, u32>>,
    spare: (Vec<IntervalBuffer<A>>, Vec<IntervalBuffer<B>>),
    /// Keys rescheduled by the eviction under way.
    later: Vec<(Timestamp, u64)>,
    /// The mark of the newest snapshot (copy-on-write).
    mark: u32,
    /// The snapshot in progress, if any.
    copy: Copying<K, A, B>,
}

fn schedule(queue: &mut DueQueue, due: &mut Timestamp, hash: u64, t: Timestamp) {
    if t < *due {
        *due = t;
        queue.push(t, hash);
    }
}

fn count_down(unmatched: &mut Option<BTreeMap<Timestamp, u32>>, start: Timestamp) {
    if let Some(m) = unmatched {
        if let Some(n) = m.get_mut(&start) {
            *n -= 1;
            if *n == 0 {
                m.remove(&start);
            }
        }
    }
}

type Spare<A, B> = (Vec<IntervalBuffer<A>>, Vec<IntervalBuffer<B>>);

/// The copy-on-write snapshot in progress, if any.
type Copying<K, A, B> = Option<Box<JoinCopy<K, A, B>>>;

/// The slot of `key`, copied first into a snapshot in progress that does not hold it
/// yet, or a new one (with the current mark: not part of that snapshot).
fn slot<'a, K: Eq, A, B>(
    table: &'a mut HashTable<KeySlot<K, A, B>>,
    spare: &mut Spare<A, B>,
    (copy, mark): (&mut Copying<K, A, B>, u32),
    key: K,
    hash: u64,
) -> &'a mut KeySlot<K, A, B> {
    match table.find_entry(hash, |s| s.key == key) {
        Ok(e) => {
            let s = e.into_mut();
            before_change(copy, mark, s);
            s
        }
        Err(absent) => absent
            .into_table()
            .insert_unique(
                hash,
                KeySlot {
                    key,
                    hash,
                    mark,
                    due: NONE,
                    left: spare.0.pop().unwrap_or_default(),
                    right: spare.1.pop().unwrap_or_default(),
                },
                |s| s.hash,
            )
            .into_mut(),
    }
}

/// Keeps an emptied key's buffers for the next new key.
fn recycle<K, A, B>(spare: &mut Spare<A, B>, s: KeySlot<K, A, B>) {
    if spare.0.len() < SPARE && s.left.has_capacity() {
        spare.0.push(s.left);
    }
    if spare.1.len() < SPARE && s.right.has_capacity() {
        spare.1.push(s.right);
    }
}

impl<K: Eq, A, B> JoinState<K, A, B> {
    /// Empty state; `holds` per side; `left_outer` tracks unmatched left records.
    pub(crate) fn new(holds: [i64; 2], left_outer: bool) -> Self {
        JoinState {
            table: HashTable::new(),
            due: DueQueue::default(),
            holds,
            records: 0,
            unmatched: left_outer.then(BTreeMap::new),
            spare: (Vec::new(), Vec::new()),
            later: Vec::new(),
            mark: 0,
            copy: None,
        }
    }

    /// Records buffered, both sides.
    pub(crate) fn len(&self) -> usize {
        self.records
    }

    /// Keys with buffered records.
    #[cfg(test)]
    pub(crate) fn keys(&self) -> usize {
        self.table.len()
    }

    /// Left-outer joins: the earliest start of a buffered left record not matched yet.
    pub(crate) fn earliest_unmatched(&self) -> Option<Timestamp> {
        self.unmatched
            .as_ref()
            .and_then(|m| m.first_key_value().map(|(t, _)| *t))
    }

    /// Calls `pair` with every buffered right record of `key` overlapping `iv`, then stores
    /// the left record (its interval must be non-empty).
    pub(crate) fn add_left<E>(
        &mut self,
        key: K,
        hash: u64,
        iv: Interval,
        value: A,
        mut pair: impl FnMut(&K, &A, &Entry<B>) -> Result<(), E>,
    ) -> Result<(), E> {
        let cow = (&mut self.copy, self.mark);
        let s = slot(&mut self.table, &mut self.spare, cow, key, hash);
        let mut matched = false;
        s.right.probe(iv, |r| {
            matched = true;
            pair(&s.key, &value, r)
        })?;
        s.left.insert(iv, matched, value);
        self.records += 1;
        let t = iv.end.saturating_add(self.holds[0]);
        schedule(&mut self.due, &mut s.due, hash, t);
        if let (Some(m), false) = (&mut self.unmatched, matched) {
            *m.entry(iv.start).or_insert(0) += 1;
        }
        Ok(())
    }

    /// Calls `pair` with every buffered left record of `key` overlapping `iv`, then stores
    /// the right record (its interval must be non-empty).
    pub(crate) fn add_right<E>(
        &mut self,
        key: K,
        hash: u64,
        iv: Interval,
        value: B,
        mut pair: impl FnMut(&K, &Entry<A>, &B) -> Result<(), E>,
    ) -> Result<(), E> {
        let cow = (&mut self.copy, self.mark);
        let s = slot(&mut self.table, &mut self.spare, cow, key, hash);
        let unmatched = &mut self.unmatched;
        s.left.probe(iv, |l| {
            if !l.matched {
                l.matched = true;
                count_down(unmatched, l.iv.start);
            }
            pair(&s.key, l, &value)
        })?;
        s.right.insert(iv, true, value);
        self.records += 1;
        let t = iv.end.saturating_add(self.holds[1]);
        schedule(&mut self.due, &mut s.due, hash, t);
        Ok(())
    }

    /// The watermark reached `wm`: drops every record it makes unmatchable. In a left-outer
    /// join, each dropped left record that never matched goes to `unmatched` first.
    pub(crate) fn advance<E>(
        &mut self,
        wm: Timestamp,
        mut unmatched: impl FnMut(&K, Entry<A>) -> Result<(), E>,
    ) -> Result<(), E> {
        if wm == MAX_WATERMARK {
            return self.flush(unmatched);
        }
        let r = self.evict_due(wm, &mut unmatched);
        // Keys with records left are due again after `wm`: queued once the scan is over.
        for (t, h) in self.later.drain(..) {
            self.due.push(t, h);
        }
        r
    }

    fn evict_due<E>(
        &mut self,
        wm: Timestamp,
        unmatched: &mut impl FnMut(&K, Entry<A>) -> Result<(), E>,
    ) -> Result<(), E> {
        let outer = self.unmatched.is_some();
        let thresholds = self.holds.map(|h| wm.saturating_sub(h));
        while let Some((t, h)) = self.due.pop_due(wm) {
            let Ok(mut occ) = self.table.find_entry(h, |s| s.hash == h && s.due == t) else {
                continue; // stale: the key was rescheduled or is gone
            };
            let s = occ.get_mut();
            before_change(&mut self.copy, self.mark, s);
            s.due = NONE;
            let (key, counts) = (&s.key, &mut self.unmatched);
            let mut gone = 0;
            let next_left = s.left.evict(thresholds[0], |e| {
                gone += 1;
                if outer && !e.matched {
                    count_down(counts, e.iv.start);
                    unmatched(key, e)?;
                }
                Ok(())
            })?;
            let next_right = s.right.evict(thresholds[1], |_| {
                gone += 1;
                Ok(())
            })?;
            self.records -= gone;
            let next = [next_left, next_right]
                .into_iter()
                .zip(self.holds)
                .filter_map(|(n, hold)| n.map(|n| n.saturating_add(hold)))
                .min();
            match next {
                Some(n) => {
                    s.due = n;
                    self.later.push((n, h));
                }
                None => recycle(&mut self.spare, occ.remove().0),
            }
        }
        Ok(())
    }

    /// End of event time: every record goes.
    fn flush<E>(
        &mut self,
        mut unmatched: impl FnMut(&K, Entry<A>) -> Result<(), E>,
    ) -> Result<(), E> {
        let outer = self.unmatched.is_some();
        self.due.clear();
        self.records = 0;
        if let Some(m) = &mut self.unmatched {
            m.clear();
        }
        if self.copy.is_some() {
            for s in self.table.iter_mut() {
                before_change(&mut self.copy, self.mark, s);
            }
        }
        for mut s in self.table.drain() {
            for e in s.left.drain() {
                if outer && !e.matched {
                    unmatched(&s.key, e)?;
                }
            }
        }
        Ok(())
    }
}

/// Encoders of a join's key and both sides' records (from `Env::state_type`).
pub(crate) struct JoinCodecs<K, A, B> {
    pub(crate) key: Codec<K>,
    pub(crate) left: Codec<A>,
    pub(crate) right: Codec<B>,
}

impl<K, A, B> Clone for JoinCodecs<K, A, B> {
    fn clone(&self) -> Self {
        JoinCodecs {
            key: self.key.clone(),
            left: self.left.clone(),
            right: self.right.clone(),
        }
    }
}

/// Snapshot sections of a join's buffered records, one entry per record:
/// `key · start · end · matched · value`.
pub(crate) const LEFT_SECTION: &str = "spate/join/left";
pub(crate) const RIGHT_SECTION: &str = "spate/join/right";

fn encode_entry<K, T>(
    key: &K,
    e: &Entry<T>,
    ke: fn(&K, &mut Vec<u8>),
    ve: fn(&T, &mut Vec<u8>),
    o: &mut Vec<u8>,
) {
    ke(key, o);
    e.iv.start.encode(o);
    e.iv.end.encode(o);
    e.matched.encode(o);
    ve(&e.value, o);
}

type Decoded<K, T> = (K, Interval, bool, T);

fn decode_entry<K, T>(
    mut bytes: &[u8],
    kd: fn(&mut &[u8]) -> Result<K, DecodeError>,
    vd: fn(&mut &[u8]) -> Result<T, DecodeError>,
) -> Result<Decoded<K, T>, DecodeError> {
    let r = &mut bytes;
    let key = kd(r)?;
    let iv = Interval::new(Timestamp::decode(r)?, Timestamp::decode(r)?);
    let matched = bool::decode(r)?;
    let value = vd(r)?;
    if !r.is_empty() {
        return Err(DecodeError(format!(
            "{} trailing bytes in a join entry",
            r.len()
        )));
    }
    if iv.is_empty() {
        return Err(DecodeError(format!(
            "a buffered join record with the empty interval {iv:?}"
        )));
    }
    Ok((key, iv, matched, value))
}

impl<K: Eq + std::hash::Hash, A, B> JoinState<K, A, B> {
    /// Writes every buffered record, by its key's group (the eviction queue and the
    /// left-outer counts are rebuilt from them on restore).
    pub(crate) fn snapshot(&self, c: &JoinCodecs<K, A, B>, b: &mut SnapshotBuilder) {
        let mut left = StateWriter::new(b.max_parallelism());
        let mut right = StateWriter::new(b.max_parallelism());
        for s in self.table.iter() {
            write_slot(c, s, &mut left, &mut right);
        }
        b.add(LEFT_SECTION, left);
        b.add(RIGHT_SECTION, right);
    }

    /// Adds the records of a snapshot (already filtered to this shard's key groups), in
    /// the order written: a key's records keep their order.
    pub(crate) fn restore(
        &mut self,
        c: &JoinCodecs<K, A, B>,
        view: &RestoreView,
    ) -> Result<(), DecodeError> {
        for bytes in view.sections.get(LEFT_SECTION).into_iter().flatten() {
            let (key, iv, matched, value) = decode_entry(bytes, c.key.decode, c.left.decode)?;
            let hash = hash_key(&key);
            let cow = (&mut self.copy, self.mark);
            let s = slot(&mut self.table, &mut self.spare, cow, key, hash);
            s.left.insert(iv, matched, value);
            self.records += 1;
            schedule(
                &mut self.due,
                &mut s.due,
                hash,
                iv.end.saturating_add(self.holds[0]),
            );
            if let (Some(m), false) = (&mut self.unmatched, matched) {
                *m.entry(iv.start).or_insert(0) += 1;
            }
        }
        for bytes in view.sections.get(RIGHT_SECTION).into_iter().flatten() {
            let (key, iv, matched, value) = decode_entry(bytes, c.key.decode, c.right.decode)?;
            let hash = hash_key(&key);
            let cow = (&mut self.copy, self.mark);
            let s = slot(&mut self.table, &mut self.spare, cow, key, hash);
            s.right.insert(iv, matched, value);
            self.records += 1;
            schedule(
                &mut self.due,
                &mut s.due,
                hash,
                iv.end.saturating_add(self.holds[1]),
            );
        }
        Ok(())
    }
}

/// Codecs of a `u8`-keyed join of `i64` records, for tests.
#[cfg(test)]
fn test_codecs() -> JoinCodecs<u8, i64, i64> {
    let mut t = crate::checkpoint::types::StateTypes::default();
    t.register::<u8>();
    t.register::<i64>();
    JoinCodecs {
        key: t.get().unwrap(),
        left: t.get().unwrap(),
        right: t.get().unwrap(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::hash_key;

    type State = JoinState<u8, i64, i64>;

    fn left(s: &mut State, k: u8, iv: Interval) -> Vec<(i64, i64)> {
        let mut pairs = Vec::new();
        s.add_left(k, hash_key(&k), iv, iv.start, |_, l, r| {
            pairs.push((*l, r.value));
            Ok::<(), ()>(())
        })
        .unwrap();
        pairs
    }

    fn right(s: &mut State, k: u8, iv: Interval) -> Vec<(i64, i64)> {
        let mut pairs = Vec::new();
        s.add_right(k, hash_key(&k), iv, iv.start, |_, l, r| {
            pairs.push((l.value, *r));
            Ok::<(), ()>(())
        })
        .unwrap();
        pairs
    }

    fn advance(s: &mut State, wm: Timestamp) -> Vec<i64> {
        let mut out = Vec::new();
        s.advance(wm, |_, e| {
            out.push(e.value);
            Ok::<(), ()>(())
        })
        .unwrap();
        out.sort();
        out
    }

    /// Interval join `[lb, ub]` as the state sees it: a left record at `ts` is the interval
    /// of right timestamps it accepts, a right record is a point held `-lb` longer.
    fn interval_join(lb: i64, ub: i64) -> (State, impl Fn(i64) -> Interval) {
        (JoinState::new([0, -lb], false), move |ts| {
            Interval::new(ts + lb, ts + ub + 1)
        })
    }

    #[test]
    fn interval_join_state_shrinks_to_exactly_what_can_still_match() {
        for (lb, ub) in [(-5, 5), (-10, -2), (2, 10), (0, 0), (-3, 0)] {
            let (mut s, span) = interval_join(lb, ub);
            let ls: Vec<i64> = (0..40).step_by(3).collect();
            let rs: Vec<i64> = (1..40).step_by(2).collect();
            for &ts in &ls {
                left(&mut s, ts as u8 % 3, span(ts));
            }
            for &ts in &rs {
                right(&mut s, ts as u8 % 3, Interval::point(ts));
            }
            for wm in [0, 7, 15, 22, 30, 38, 45, 60] {
                advance(&mut s, wm);
                // A future record has ts >= wm (one below the watermark is late). A left
                // record can still match one if ts + ub >= wm; a right record if ts - lb >= wm.
                let live = ls.iter().filter(|&&t| t + ub >= wm).count()
                    + rs.iter().filter(|&&t| t - lb >= wm).count();
                assert_eq!(s.len(), live, "bounds [{lb}, {ub}], watermark {wm}");
            }
            assert_eq!(s.keys(), 0, "every key slot goes with its last record");
        }
    }

    #[test]
    fn overlap_state_shrinks_to_the_intervals_not_yet_ended() {
        let mut s = JoinState::<u8, i64, i64>::new([0, 0], false);
        let ivs = [(0, 50), (5, 6), (10, 20), (12, 13), (30, 31), (40, 100)];
        for (i, &(a, b)) in ivs.iter().enumerate() {
            if i % 2 == 0 {
                left(&mut s, 1, Interval::new(a, b));
            } else {
                right(&mut s, 1, Interval::new(a, b));
            }
        }
        for wm in [5, 6, 13, 20, 31, 49, 50, 99, 100] {
            advance(&mut s, wm);
            // A record not late has start >= wm: it overlaps a buffered one iff end > wm.
            let live = ivs.iter().filter(|&&(_, e)| e > wm).count();
            assert_eq!(s.len(), live, "watermark {wm}");
        }
    }

    #[test]
    fn pairs_are_found_from_either_side() {
        let (mut s, span) = interval_join(-2, 3);
        assert!(left(&mut s, 0, span(10)).is_empty());
        assert_eq!(right(&mut s, 0, Interval::point(8)), vec![(8, 8)]);
        assert_eq!(right(&mut s, 0, Interval::point(13)), vec![(8, 13)]);
        assert!(right(&mut s, 0, Interval::point(14)).is_empty());
        assert!(
            right(&mut s, 1, Interval::point(10)).is_empty(),
            "another key"
        );
        assert_eq!(left(&mut s, 0, span(11)), vec![(9, 13), (9, 14)]);
    }

    #[test]
    fn left_outer_emits_unmatched_left_records_once_and_tracks_the_earliest() {
        let mut s = JoinState::<u8, i64, i64>::new([0, 0], true);
        left(&mut s, 0, Interval::new(0, 10));
        left(&mut s, 0, Interval::new(2, 4));
        left(&mut s, 1, Interval::new(3, 30));
        assert_eq!(s.earliest_unmatched(), Some(0));
        assert_eq!(right(&mut s, 0, Interval::new(8, 9)), vec![(0, 8)]);
        assert_eq!(s.earliest_unmatched(), Some(2), "the record at 0 matched");
        assert_eq!(advance(&mut s, 9), vec![2]);
        assert_eq!(s.earliest_unmatched(), Some(3));
        assert_eq!(
            advance(&mut s, 10),
            Vec::<i64>::new(),
            "matched: no outer row"
        );
        assert_eq!(
            advance(&mut s, i64::MAX),
            vec![3],
            "the end flushes the rest"
        );
        assert_eq!((s.len(), s.keys(), s.earliest_unmatched()), (0, 0, None));
    }

    #[test]
    fn a_key_scheduled_earlier_then_later_is_evicted_on_time() {
        let mut s = JoinState::<u8, i64, i64>::new([0, 0], false);
        left(&mut s, 0, Interval::new(5, 50));
        left(&mut s, 0, Interval::new(1, 3)); // reschedules the key earlier
        assert_eq!(s.len(), 2);
        advance(&mut s, 3);
        assert_eq!(s.len(), 1);
        advance(&mut s, 49);
        assert_eq!(s.len(), 1);
        advance(&mut s, 50);
        assert_eq!((s.len(), s.keys()), (0, 0));
    }

    mod snapshots {
        use std::collections::{BTreeMap, HashMap};

        use proptest::prelude::*;

        use super::*;
        use crate::checkpoint::format::{parse, SnapshotHeader};
        use crate::checkpoint::manifest::Manifest;
        use crate::checkpoint::registry::restore_view;
        use crate::checkpoint::store::Restored;
        use crate::state::{key_group, shard_for_key_group};

        const MAXP: usize = 16;

        fn owner(k: u8, shards: usize) -> usize {
            shard_for_key_group(key_group(hash_key(&k), MAXP), MAXP, shards)
        }

        use super::super::test_codecs as codecs;

        /// Every buffered row per key and side: `(start, end, matched, value)` in order.
        type Rows = BTreeMap<(u8, u8), Vec<(i64, i64, bool, i64)>>;

        fn rows(s: &State) -> Rows {
            let mut m = Rows::new();
            for slot in s.table.iter() {
                for e in slot.left.iter() {
                    m.entry((slot.key, 0))
                        .or_default()
                        .push((e.iv.start, e.iv.end, e.matched, e.value));
                }
                for e in slot.right.iter() {
                    m.entry((slot.key, 1))
                        .or_default()
                        .push((e.iv.start, e.iv.end, e.matched, e.value));
                }
            }
            m
        }

        proptest! {
            /// A left-outer join's state snapshotted on N shards (each holding its keys)
            /// restores on M shards (1–3): every row on the shard owning its key, in order,
            /// with its matched flag; the left-outer bookkeeping and eviction behave as on
            /// the original (same unmatched rows emitted at the same watermarks).
            #[test]
            fn join_state_rescales_by_key_group(
                n in 1usize..=3, m in 1usize..=3,
                ops in proptest::collection::vec((any::<bool>(), 0u8..6, 0i64..40, 1i64..8), 0..60),
                wm in 0i64..30,
            ) {
                let c = codecs();
                let mut whole = State::new([0, 3], true);
                let mut parts: Vec<State> = (0..n).map(|_| State::new([0, 3], true)).collect();
                for &(is_left, k, start, len) in &ops {
                    let iv = Interval::new(start, start + len);
                    for s in [&mut whole, &mut parts[owner(k, n)]] {
                        if is_left { left(s, k, iv); } else { right(s, k, iv); }
                    }
                }
                let files = parts.iter().enumerate().map(|(shard, p)| {
                    let mut b = SnapshotBuilder::new(SnapshotHeader::test(3, shard, n, MAXP));
                    p.snapshot(&c, &mut b);
                    parse(&b.finish()).unwrap()
                }).collect();
                let r = Restored {
                    manifest: Manifest { epoch: 1, shards: n, max_parallelism: MAXP, ..Default::default() },
                    files: HashMap::from([(3, files)]),
                    parts: Default::default(),
                    dir: std::path::PathBuf::new(),
                };
                let mut restored_rows = Rows::new();
                let mut restored: Vec<State> = Vec::new();
                for shard in 0..m {
                    let mut s = State::new([0, 3], true);
                    s.restore(&c, &restore_view(&r, 3, shard, m, MAXP).unwrap()).unwrap();
                    for ((k, side), v) in rows(&s) {
                        prop_assert_eq!(owner(k, m), shard);
                        restored_rows.insert((k, side), v);
                    }
                    restored.push(s);
                }
                prop_assert_eq!(&restored_rows, &rows(&whole));
                prop_assert_eq!(restored.iter().map(|s| s.len()).sum::<usize>(), whole.len());
                let earliest = restored.iter().filter_map(|s| s.earliest_unmatched()).min();
                prop_assert_eq!(earliest, whole.earliest_unmatched());
                let mut got: Vec<i64> = restored.iter_mut().flat_map(|s| advance(s, wm)).collect();
                got.sort();
                prop_assert_eq!(got, advance(&mut whole, wm));
                let after: usize = restored.iter().map(|s| s.len()).sum();
                prop_assert_eq!(after, whole.len());
            }
        }

        #[test]
        fn a_corrupt_entry_is_an_error() {
            let c = codecs();
            let mut s = State::new([0, 0], false);
            left(&mut s, 1, Interval::new(0, 5));
            let mut b = SnapshotBuilder::new(SnapshotHeader::test(3, 0, 1, MAXP));
            s.snapshot(&c, &mut b);
            let f = parse(&b.finish()).unwrap();
            let mut view = RestoreView::default();
            for (name, entries) in &f.sections {
                view.sections.insert(
                    name.clone(),
                    entries
                        .iter()
                        .map(|(_, e)| {
                            let mut e = e.clone();
                            e.truncate(e.len() - 1);
                            e
                        })
                        .collect(),
                );
            }
            let mut t = State::new([0, 0], false);
            assert!(t.restore(&c, &view).is_err(), "a truncated row");
        }
    }
}
