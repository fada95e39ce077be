//! Evictors: remove elements from a window's buffer before or after its function runs.

use crate::time::{Timestamp, NO_TIMESTAMP};

/// Removes elements of a firing window (Flink's `Evictor`). Elements are in insertion
/// order, with their timestamps; what is removed is gone for later firings too.
pub trait Evictor<T>: Clone + Send + 'static {
    /// Before the window function runs.
    fn evict_before(&mut self, _elements: &mut Vec<(Timestamp, T)>) {}
    /// After the window function runs.
    fn evict_after(&mut self, _elements: &mut Vec<(Timestamp, T)>) {}
}

/// Keeps the last `max` elements (before the function, unless `after`).
///
/// # Examples
///
/// ```
/// use spate::window::{CountEvictor, Evictor};
/// let mut v = vec![(1, 'a'), (2, 'b'), (3, 'c')];
/// CountEvictor::of(2).evict_before(&mut v);
/// assert_eq!(v, vec![(2, 'b'), (3, 'c')]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CountEvictor {
    max: usize,
    after: bool,
}

impl CountEvictor {
    /// Keeps the last `max` elements, evicting before the function.
    pub fn of(max: usize) -> Self {
        CountEvictor { max, after: false }
    }
    /// Evicts after the function instead.
    pub fn after(mut self) -> Self {
        self.after = true;
        self
    }
    fn evict<T>(&self, e: &mut Vec<(Timestamp, T)>) {
        if e.len() > self.max {
            e.drain(..e.len() - self.max);
        }
    }
}

impl<T: Send + 'static> Evictor<T> for CountEvictor {
    fn evict_before(&mut self, e: &mut Vec<(Timestamp, T)>) {
        if !self.after {
            self.evict(e);
        }
    }
    fn evict_after(&mut self, e: &mut Vec<(Timestamp, T)>) {
        if self.after {
            self.evict(e);
        }
    }
}

/// Keeps the elements within `keep_ms` of the newest one: removes every element with
/// `ts <= max_ts - keep_ms` (nothing when elements carry no timestamps).
///
/// # Examples
///
/// ```
/// use spate::window::{Evictor, TimeEvictor};
/// let mut v = vec![(1, 'a'), (5, 'b'), (9, 'c')];
/// TimeEvictor::of(5).evict_before(&mut v);
/// assert_eq!(v, vec![(5, 'b'), (9, 'c')]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TimeEvictor {
    keep: i64,
    after: bool,
}

impl TimeEvictor {
    /// Keeps `keep_ms` of event time before the newest element, evicting before the function.
    pub fn of(keep_ms: i64) -> Self {
        TimeEvictor {
            keep: keep_ms,
            after: false,
        }
    }
    /// Evicts after the function instead.
    pub fn after(mut self) -> Self {
        self.after = true;
        self
    }
    fn evict<T>(&self, e: &mut Vec<(Timestamp, T)>) {
        if e.first().is_none_or(|f| f.0 == NO_TIMESTAMP) {
            return;
        }
        let max = e.iter().map(|r| r.0).max().unwrap_or(NO_TIMESTAMP);
        let cutoff = max.saturating_sub(self.keep);
        e.retain(|r| r.0 > cutoff);
    }
}

impl<T: Send + 'static> Evictor<T> for TimeEvictor {
    fn evict_before(&mut self, e: &mut Vec<(Timestamp, T)>) {
        if !self.after {
            self.evict(e);
        }
    }
    fn evict_after(&mut self, e: &mut Vec<(Timestamp, T)>) {
        if self.after {
            self.evict(e);
        }
    }
}
