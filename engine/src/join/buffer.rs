//! One key's records of one join side, sorted by interval start: the structure both the
//! interval join and the overlap join probe and evict.
//!
//! Why a sorted deque and two lengths rather than an interval tree: records arrive nearly in
//! start order (the watermark bounds their disorder), so an insert lands at or near the back
//! and eviction takes from the front. With `max_len` (the longest interval held) a probe for
//! `[s, e)` only looks at starts in `(s − max_len, e)`; with `min_len` (the shortest) eviction
//! at threshold `t` knows every start `≥ t − min_len + 1` survives and every start
//! `≤ t − max_len` goes. When all intervals have one length — every interval-join side — both
//! operations touch exactly the records they return. The two lengths only grow while the
//! buffer lives; they are recomputed once as many records have been evicted as remain
//! (amortised O(1) per record) and reset when the buffer empties.

use std::collections::VecDeque;

use crate::time::Timestamp;

/// A half-open interval of event time `[start, end)`, in milliseconds.
///
/// An interval whose `end` is not after its `start` is empty: it overlaps nothing.
///
/// # Examples
///
/// ```
/// use spate::join::Interval;
/// let a = Interval::new(0, 10);
/// let b = Interval::new(5, 20);
/// assert!(a.overlaps(&b));
/// assert_eq!(a.intersection(&b), Interval::new(5, 10));
/// assert!(!a.overlaps(&Interval::new(10, 11)), "the end is exclusive");
/// assert_eq!(Interval::point(7), Interval::new(7, 8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    /// The first instant inside the interval.
    pub start: Timestamp,
    /// The first instant after the interval.
    pub end: Timestamp,
}

impl Interval {
    /// The interval `[start, end)`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        Interval { start, end }
    }

    /// The one-millisecond interval `[ts, ts + 1)`: a point in time.
    pub fn point(ts: Timestamp) -> Self {
        Interval {
            start: ts,
            end: ts.saturating_add(1),
        }
    }

    /// `true` when `end <= start`.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// `true` when both intervals are non-empty and share an instant:
    /// `self.start < other.end && other.start < self.end`.
    pub fn overlaps(&self, other: &Interval) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }

    /// `[max(starts), min(ends))`: empty when the intervals do not overlap.
    pub fn intersection(&self, other: &Interval) -> Interval {
        Interval {
            start: self.start.max(other.start),
            end: self.end.min(other.end),
        }
    }

    /// `end − start` as an unsigned length (0 when empty); exact for any two `i64`s.
    fn length(&self) -> u64 {
        if self.is_empty() {
            0
        } else {
            self.end.abs_diff(self.start)
        }
    }
}

/// A buffered record and its interval.
#[derive(Debug, Clone)]
pub(crate) struct Entry<T> {
    pub(crate) iv: Interval,
    /// Whether a record of the other side has matched it (left-outer joins).
    pub(crate) matched: bool,
    pub(crate) value: T,
}

/// `a − b` in 128 bits: no overflow for any timestamp and length.
#[inline]
fn minus(a: Timestamp, b: u64) -> i128 {
    i128::from(a) - i128::from(b)
}

/// Records of one side for one key, sorted by start (ties in arrival order).
#[derive(Debug)]
pub(crate) struct IntervalBuffer<T> {
    entries: VecDeque<Entry<T>>,
    max_len: u64,
    min_len: u64,
    evicted: usize,
}

impl<T> Default for IntervalBuffer<T> {
    fn default() -> Self {
        IntervalBuffer {
            entries: VecDeque::new(),
            max_len: 0,
            min_len: u64::MAX,
            evicted: 0,
        }
    }
}

impl<T> IntervalBuffer<T> {
    /// Records held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The records held, in start order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry<T>> + '_ {
        self.entries.iter()
    }

    /// Stores a record with a non-empty interval (the caller checks).
    pub(crate) fn insert(&mut self, iv: Interval, matched: bool, value: T) {
        debug_assert!(!iv.is_empty(), "empty intervals are never stored");
        let len = iv.length();
        self.max_len = self.max_len.max(len);
        self.min_len = self.min_len.min(len);
        let e = Entry { iv, matched, value };
        match self.entries.back() {
            Some(last) if last.iv.start > iv.start => {
                let i = self.entries.partition_point(|x| x.iv.start <= iv.start);
                self.entries.insert(i, e);
            }
            _ => self.entries.push_back(e),
        }
    }

    /// Calls `f` with every record whose interval overlaps `q`, in start order.
    #[inline]
    pub(crate) fn probe<E>(
        &mut self,
        q: Interval,
        mut f: impl FnMut(&mut Entry<T>) -> Result<(), E>,
    ) -> Result<(), E> {
        if q.is_empty() || self.entries.is_empty() {
            return Ok(());
        }
        // A record overlaps q only if start < q.end and start + len > q.start, so its start
        // lies in (q.start − max_len, q.end).
        let below = minus(q.start, self.max_len);
        let lo = self
            .entries
            .partition_point(|x| i128::from(x.iv.start) <= below);
        let hi = self.entries.partition_point(|x| x.iv.start < q.end);
        if lo >= hi {
            return Ok(());
        }
        for e in self.entries.range_mut(lo..hi) {
            if e.iv.end > q.start {
                f(e)?;
            }
        }
        Ok(())
    }

    /// Removes every record whose interval ends at or before `t`, handing each to `gone`.
    /// Returns a lower bound, above `t`, of the earliest end among the records left (`None`
    /// when none is left): the next threshold worth evicting at.
    pub(crate) fn evict<E>(
        &mut self,
        t: Timestamp,
        mut gone: impl FnMut(Entry<T>) -> Result<(), E>,
    ) -> Result<Option<Timestamp>, E> {
        // Starts ≤ t − max_len end by t; starts > t − min_len end after t; the band between
        // is checked one by one.
        let (max_len, min_len) = (self.max_len, self.min_len);
        let sure = minus(t, max_len);
        let keep = minus(t, min_len);
        let p = self
            .entries
            .partition_point(|x| i128::from(x.iv.start) <= sure);
        let q = self
            .entries
            .partition_point(|x| i128::from(x.iv.start) <= keep);
        // Move the band's survivors to its back, keeping their order, then cut the front.
        let mut write = q;
        let mut band_min_end = Timestamp::MAX;
        for i in (p..q).rev() {
            let end = self.entries[i].iv.end;
            if end > t {
                band_min_end = band_min_end.min(end);
                write -= 1;
                self.entries.swap(i, write);
            }
        }
        self.evicted += write;
        for e in self.entries.drain(..write) {
            gone(e)?;
        }
        if self.entries.is_empty() {
            self.reset_lengths();
            return Ok(None);
        }
        // The first record past the band ends at or after its start + min_len.
        let suffix = self.entries.get(q - write).map_or(Timestamp::MAX, |e| {
            let end = i128::from(e.iv.start) + i128::from(min_len);
            Timestamp::try_from(end).unwrap_or(Timestamp::MAX)
        });
        if self.evicted > self.entries.len() {
            self.recompute_lengths();
        }
        Ok(Some(band_min_end.min(suffix)))
    }

    /// Every record, in start order (end of input).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Entry<T>> + '_ {
        self.reset_lengths();
        self.entries.drain(..)
    }

    /// Whether an empty buffer holds memory worth reusing for another key.
    pub(crate) fn has_capacity(&self) -> bool {
        self.entries.capacity() > 0
    }

    fn reset_lengths(&mut self) {
        self.evicted = 0;
        self.max_len = 0;
        self.min_len = u64::MAX;
    }

    fn recompute_lengths(&mut self) {
        self.reset_lengths();
        for e in &self.entries {
            let len = e.iv.length();
            self.max_len = self.max_len.max(len);
            self.min_len = self.min_len.min(len);
        }
    }

    #[cfg(test)]
    pub(crate) fn intervals(&self) -> Vec<Interval> {
        self.entries.iter().map(|e| e.iv).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_all(b: &mut IntervalBuffer<u32>, q: Interval) -> Vec<u32> {
        let mut got = Vec::new();
        b.probe(q, |e| {
            got.push(e.value);
            Ok::<(), ()>(())
        })
        .unwrap();
        got.sort();
        got
    }

    fn naive(all: &[(Interval, u32)], q: Interval) -> Vec<u32> {
        let mut v: Vec<u32> = all
            .iter()
            .filter(|(iv, _)| iv.overlaps(&q))
            .map(|(_, v)| *v)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn probe_finds_exactly_the_overlapping_records_whatever_the_insert_order() {
        let ivs = [
            (Interval::new(10, 20), 1),
            (Interval::new(0, 100), 2),
            (Interval::new(15, 16), 3),
            (Interval::new(5, 12), 4),
            (Interval::new(30, 40), 5),
            (Interval::new(15, 16), 6),
        ];
        let mut b = IntervalBuffer::default();
        for (iv, v) in ivs {
            b.insert(iv, false, v);
        }
        let starts: Vec<i64> = b.intervals().iter().map(|i| i.start).collect();
        assert_eq!(starts, vec![0, 5, 10, 15, 15, 30], "sorted by start");
        for (s, e) in [
            (0, 1),
            (11, 12),
            (15, 16),
            (16, 30),
            (40, 50),
            (99, 200),
            (12, 10),
        ] {
            let q = Interval::new(s, e);
            assert_eq!(probe_all(&mut b, q), naive(&ivs, q), "probe {q:?}");
        }
    }

    #[test]
    fn eviction_removes_exactly_the_ended_records_and_bounds_the_next_end() {
        let mut b = IntervalBuffer::default();
        for (i, (s, e)) in [(0, 5), (1, 50), (2, 6), (3, 4), (8, 9), (10, 30)]
            .into_iter()
            .enumerate()
        {
            b.insert(Interval::new(s, e), false, i);
        }
        let mut gone = Vec::new();
        let next = b
            .evict(6, |e| {
                gone.push(e.iv);
                Ok::<(), ()>(())
            })
            .unwrap();
        gone.sort();
        assert_eq!(
            gone,
            vec![
                Interval::new(0, 5),
                Interval::new(2, 6),
                Interval::new(3, 4)
            ]
        );
        assert_eq!(
            b.intervals(),
            vec![
                Interval::new(1, 50),
                Interval::new(8, 9),
                Interval::new(10, 30)
            ]
        );
        let next = next.unwrap();
        assert!(
            next > 6 && next <= 9,
            "a lower bound of the next end: {next}"
        );
        assert_eq!(
            b.evict(9, |_| Ok::<(), ()>(())).unwrap().map(|n| n > 9),
            Some(true)
        );
        assert_eq!(b.len(), 2);
        assert_eq!(b.evict(50, |_| Ok::<(), ()>(())).unwrap(), None);
        assert!(b.is_empty());
    }

    #[test]
    fn equal_lengths_evict_a_prefix_and_know_the_next_end_exactly() {
        let mut b = IntervalBuffer::default();
        for ts in [5, 1, 3, 9, 7] {
            b.insert(Interval::new(ts, ts + 10), false, ts);
        }
        let mut n = 0;
        let next = b
            .evict(14, |_| {
                n += 1;
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(n, 2, "[1, 11) and [3, 13)");
        assert_eq!(next, Some(15));
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let mut b = IntervalBuffer::default();
        b.insert(Interval::new(i64::MIN, i64::MAX), false, 1);
        b.insert(Interval::new(i64::MAX - 1, i64::MAX), false, 2);
        assert_eq!(probe_all(&mut b, Interval::new(0, 1)), vec![1]);
        assert_eq!(probe_all(&mut b, Interval::point(i64::MAX - 1)), vec![1, 2]);
        assert!(b.evict(0, |_| Ok::<(), ()>(())).unwrap().is_some());
        assert_eq!(b.evict(i64::MAX, |_| Ok::<(), ()>(())).unwrap(), None);
    }
}
