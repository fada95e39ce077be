//! Timestamped values of one group's window, kept in time order.
//!
//! Most groups of a fraud rule (a pair of accounts, a claimant) hold one value at a time,
//! so the first value lives inline and a heap buffer is made only for the second: a
//! window state per new key costs no allocation (measured: `malloc`/`free` were a fifth of
//! the dynamic-rules job's time with a `VecDeque` per key).

use std::collections::VecDeque;

/// Values with their event times, in time order (equal times in insertion order).
#[derive(Debug, Clone, Default)]
pub struct TimedValues<T> {
    /// The only value, while there is at most one and `more` has never been needed.
    one: Option<(i64, T)>,
    /// All the values once a second one came.
    more: VecDeque<(i64, T)>,
}

impl<T: Copy> TimedValues<T> {
    /// Adds `value` at `ts`, after the values at or before `ts`.
    pub fn insert(&mut self, ts: i64, value: T) {
        if self.more.is_empty() {
            match self.one.take() {
                None => {
                    self.one = Some((ts, value));
                    return;
                }
                Some(first) => self.more.push_back(first),
            }
        }
        let at = self.more.partition_point(|e| e.0 <= ts);
        self.more.insert(at, (ts, value));
    }

    /// The values, in time order.
    pub fn iter(&self) -> impl Iterator<Item = &(i64, T)> {
        self.one.iter().chain(self.more.iter())
    }

    /// Drops the values at or before `horizon`.
    pub fn evict_through(&mut self, horizon: i64) {
        if self.one.is_some_and(|e| e.0 <= horizon) {
            self.one = None;
        }
        while self.more.front().is_some_and(|e| e.0 <= horizon) {
            self.more.pop_front();
        }
    }

    /// Whether no value is left.
    pub fn is_empty(&self) -> bool {
        self.one.is_none() && self.more.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::TimedValues;

    #[test]
    fn values_stay_in_time_order_inline_or_not_and_evict_by_time() {
        let mut v = TimedValues::default();
        v.insert(5, 'a');
        assert_eq!(v.iter().copied().collect::<Vec<_>>(), vec![(5, 'a')]);
        v.insert(3, 'b');
        v.insert(5, 'c');
        v.insert(9, 'd');
        assert_eq!(
            v.iter().copied().collect::<Vec<_>>(),
            vec![(3, 'b'), (5, 'a'), (5, 'c'), (9, 'd')]
        );
        v.evict_through(5);
        assert_eq!(v.iter().copied().collect::<Vec<_>>(), vec![(9, 'd')]);
        v.evict_through(9);
        assert!(v.is_empty());
        let mut w = TimedValues::default();
        w.insert(1, ());
        w.evict_through(0);
        assert!(!w.is_empty());
        w.evict_through(1);
        assert!(w.is_empty());
    }
}
