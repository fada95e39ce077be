//! Window types: time windows `[start, end)` and the one global window.

use std::hash::Hash;

use crate::time::Timestamp;

/// What a window must offer the window operator.
pub trait Window: Clone + Eq + Hash + Ord + Send + std::fmt::Debug + 'static {
    /// The largest timestamp that still belongs to the window; results carry it.
    fn max_timestamp(&self) -> Timestamp;
}

/// A window of event or processing time, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeWindow {
    /// First millisecond in the window.
    pub start: Timestamp,
    /// First millisecond after the window.
    pub end: Timestamp,
}

impl TimeWindow {
    /// The window `[start, end)`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        TimeWindow { start, end }
    }

    /// `true` when the windows overlap or touch (Flink's `intersects`: `[0,10)` and
    /// `[10,20)` intersect, so adjacent sessions merge).
    pub fn intersects(&self, o: &TimeWindow) -> bool {
        self.start <= o.end && self.end >= o.start
    }

    /// The smallest window covering both.
    pub fn cover(&self, o: &TimeWindow) -> TimeWindow {
        TimeWindow::new(self.start.min(o.start), self.end.max(o.end))
    }

    /// Start of the window of length `size` (aligned to the epoch plus `offset`) holding
    /// `ts`; correct for negative timestamps (a floor, not a truncation).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::window::TimeWindow;
    /// assert_eq!(TimeWindow::start_with_offset(13, 0, 10), 10);
    /// assert_eq!(TimeWindow::start_with_offset(-1, 0, 10), -10);
    /// assert_eq!(TimeWindow::start_with_offset(3, 5, 10), -5);
    /// ```
    pub fn start_with_offset(ts: Timestamp, offset: i64, size: i64) -> Timestamp {
        ts.wrapping_sub(ts.wrapping_sub(offset).rem_euclid(size))
    }

    /// Groups of windows that merge (Flink's `TimeWindow.mergeWindows`): sort by start,
    /// sweep, and report each group of more than one distinct window with its cover.
    pub fn merge_windows(windows: &[TimeWindow]) -> Vec<(TimeWindow, Vec<TimeWindow>)> {
        let mut sorted = windows.to_vec();
        sorted.sort_by_key(|w| w.start);
        let mut groups: Vec<(TimeWindow, Vec<TimeWindow>)> = Vec::new();
        for w in sorted {
            match groups.last_mut() {
                Some((cover, members)) if cover.intersects(&w) => {
                    *cover = cover.cover(&w);
                    if !members.contains(&w) {
                        members.push(w);
                    }
                }
                _ => groups.push((w, vec![w])),
            }
        }
        groups.retain(|(_, m)| m.len() > 1);
        groups
    }
}

impl Window for TimeWindow {
    #[inline]
    fn max_timestamp(&self) -> Timestamp {
        self.end.wrapping_sub(1)
    }
}

/// The single window of global-window assigners (count windows); it never ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GlobalWindow;

impl Window for GlobalWindow {
    fn max_timestamp(&self) -> Timestamp {
        Timestamp::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_is_inclusive_of_touching_windows_and_skips_singletons() {
        let w = |s, e| TimeWindow::new(s, e);
        let groups =
            TimeWindow::merge_windows(&[w(10, 20), w(0, 10), w(30, 40), w(35, 45), w(50, 55)]);
        assert_eq!(
            groups,
            vec![
                (w(0, 20), vec![w(0, 10), w(10, 20)]),
                (w(30, 45), vec![w(30, 40), w(35, 45)])
            ]
        );
        assert!(TimeWindow::merge_windows(&[w(0, 5), w(0, 5)]).is_empty());
    }
}
