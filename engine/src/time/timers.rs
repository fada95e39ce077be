//! Per-operator timer queues, keyed as Flink's `InternalTimerService`.
//!
//! A timer is a `(timestamp, key)` pair registered at most once: registering the same pair
//! twice keeps one timer, deleting it removes it. Event-time timers fire, in timestamp order,
//! when the watermark reaches their timestamp (`timestamp <= watermark`); processing-time
//! timers fire when the clock does.

use std::collections::BTreeMap;
use std::hash::Hash;

use hashbrown::HashSet;

use super::Timestamp;
use crate::state::FixedState;

/// Which clock a timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeDomain {
    /// Event time: fires when the watermark passes the timer.
    EventTime,
    /// Processing time: fires when the wall clock (or the job's [`Clock`](super::Clock)) does.
    ProcessingTime,
}

/// One queue of timers for one time domain.
///
/// Design: an ordered map from timestamp to the keys registered for it, plus a set of the
/// live `(timestamp, key)` pairs for de-duplication and O(1) deletion. A deleted timer stays
/// in the ordered map until its time comes and is skipped then (lazy deletion).
#[derive(Debug)]
pub(crate) struct TimerQueue<K> {
    by_time: BTreeMap<Timestamp, Vec<K>>,
    live: HashSet<(Timestamp, K), FixedState>,
}

impl<K: Hash + Eq + Clone> TimerQueue<K> {
    pub(crate) fn new() -> Self {
        TimerQueue {
            by_time: BTreeMap::new(),
            live: HashSet::with_hasher(FixedState),
        }
    }

    /// Registers the timer; a timer already registered costs one lookup and no clone.
    pub(crate) fn register(&mut self, ts: Timestamp, key: K) {
        let id = (ts, key);
        if !self.live.contains(&id) {
            self.by_time.entry(ts).or_default().push(id.1.clone());
            self.live.insert(id);
        }
    }

    pub(crate) fn delete(&mut self, ts: Timestamp, key: &K) {
        // Removing the live entry is enough: the ordered map entry is skipped when popped.
        self.live.remove(&(ts, key.clone()));
    }

    /// The earliest live timer's timestamp, if any.
    pub(crate) fn peek(&mut self) -> Option<Timestamp> {
        loop {
            let mut first = self.by_time.first_entry()?;
            let ts = *first.key();
            let keys = first.get_mut();
            while let Some(k) = keys.last() {
                if self.live.contains(&(ts, k.clone())) {
                    return Some(ts);
                }
                keys.pop();
            }
            first.remove();
        }
    }

    /// Removes and returns the earliest live timer at or before `up_to`.
    pub(crate) fn pop_due(&mut self, up_to: Timestamp) -> Option<(Timestamp, K)> {
        loop {
            let mut first = self.by_time.first_entry()?;
            let ts = *first.key();
            if ts > up_to {
                return None;
            }
            let keys = first.get_mut();
            match keys.pop() {
                Some(k) => {
                    if self.live.remove(&(ts, k.clone())) {
                        return Some((ts, k));
                    }
                }
                None => {
                    first.remove();
                }
            }
        }
    }

    /// Number of live timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    /// Every live timer, in no particular order (for snapshots).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Timestamp, K)> {
        self.live.iter()
    }

    /// `true` when no timer is live.
    pub(crate) fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Drops every timer.
    pub(crate) fn clear(&mut self) {
        self.by_time.clear();
        self.live.clear();
    }
}

/// The event-time and processing-time timers of one keyed operator instance.
#[derive(Debug)]
pub(crate) struct TimerService<K> {
    pub(crate) event: TimerQueue<K>,
    pub(crate) processing: TimerQueue<K>,
}

impl<K: Hash + Eq + Clone> TimerService<K> {
    pub(crate) fn new() -> Self {
        TimerService {
            event: TimerQueue::new(),
            processing: TimerQueue::new(),
        }
    }

    /// The timers of one time domain.
    #[inline]
    pub(crate) fn queue(&mut self, domain: TimeDomain) -> &mut TimerQueue<K> {
        match domain {
            TimeDomain::EventTime => &mut self.event,
            TimeDomain::ProcessingTime => &mut self.processing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_order_deduplicated_and_deleted_ones_never() {
        let mut q = TimerQueue::new();
        q.register(30, "a");
        q.register(10, "b");
        q.register(10, "b");
        q.register(20, "c");
        q.register(20, "a");
        q.delete(20, &"c");
        assert_eq!(q.len(), 3);
        assert_eq!(q.peek(), Some(10));
        assert_eq!(q.pop_due(25), Some((10, "b")));
        assert_eq!(q.pop_due(25), Some((20, "a")));
        assert_eq!(q.pop_due(25), None);
        // Re-registering a deleted timer makes it live again, once.
        q.register(20, "c");
        assert_eq!(q.pop_due(i64::MAX), Some((20, "c")));
        assert_eq!(q.pop_due(i64::MAX), Some((30, "a")));
        assert_eq!(q.pop_due(i64::MAX), None);
        assert_eq!(q.peek(), None);
    }
}
