//! When each key of a join is next due for eviction.

use std::collections::BTreeMap;

use crate::time::Timestamp;

/// A [`DueQueue`] bucket spans `2^BUCKET_BITS` ms.
const BUCKET_BITS: u32 = 4;

/// Pending eviction times, by bucket of time.
///
/// Why buckets rather than a priority queue: a watermark evicts every key due at or before
/// it, in any order, so only "everything up to `wm`" must be cheap, not "the earliest
/// next". A push appends to the bucket of the previous push when it falls in the same one
/// (pushes come in runs of nearby times), else files that bucket in a small ordered map; a
/// watermark takes whole buckets and scans only the one it falls in. Measured: a binary
/// heap (alone, or behind sorted runs) was a quarter of the interval join's time with a
/// thousand keys, where every record makes and drops its key's slot.
#[derive(Default)]
pub(crate) struct DueQueue {
    buckets: BTreeMap<Timestamp, Vec<(Timestamp, u64)>>,
    /// The bucket being appended to, not yet filed in `buckets`.
    hot: Vec<(Timestamp, u64)>,
    hot_bucket: Timestamp,
    /// Due entries taken from the buckets, handed out one by one.
    ready: Vec<(Timestamp, u64)>,
    spare: Vec<Vec<(Timestamp, u64)>>,
}

impl DueQueue {
    pub(crate) fn push(&mut self, t: Timestamp, hash: u64) {
        let b = t >> BUCKET_BITS;
        if b != self.hot_bucket {
            self.file_hot();
            self.hot_bucket = b;
        }
        self.hot.push((t, hash));
    }

    /// Files the hot bucket's entries in `buckets`.
    fn file_hot(&mut self) {
        if self.hot.is_empty() {
            return;
        }
        match self.buckets.entry(self.hot_bucket) {
            std::collections::btree_map::Entry::Vacant(v) => {
                let fresh = self.spare.pop().unwrap_or_default();
                v.insert(std::mem::replace(&mut self.hot, fresh));
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                o.get_mut().append(&mut self.hot)
            }
        }
    }

    /// An entry at or before `wm`, removed (in no particular order).
    pub(crate) fn pop_due(&mut self, wm: Timestamp) -> Option<(Timestamp, u64)> {
        self.file_hot();
        loop {
            if let Some(e) = self.ready.pop() {
                return Some(e);
            }
            let mut first = self.buckets.first_entry()?;
            let b = *first.key();
            if b << BUCKET_BITS > wm {
                return None;
            }
            let last = ((i128::from(b) + 1) << BUCKET_BITS) - 1;
            if last <= i128::from(wm) {
                let v = first.remove();
                let done = std::mem::replace(&mut self.ready, v);
                self.recycle(done);
            } else {
                let v = first.get_mut();
                let mut i = 0;
                while i < v.len() {
                    if v[i].0 <= wm {
                        self.ready.push(v.swap_remove(i));
                    } else {
                        i += 1;
                    }
                }
                if self.ready.is_empty() {
                    return None; // later buckets start after wm
                }
            }
        }
    }

    fn recycle(&mut self, mut v: Vec<(Timestamp, u64)>) {
        if self.spare.len() < 64 && v.capacity() > 0 {
            v.clear();
            self.spare.push(v);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.buckets.clear();
        self.ready.clear();
        self.hot.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_queue_pops_exactly_the_due_entries() {
        let mut q = DueQueue::default();
        let times = [5, 70, 6, 9, 1, 9, 8, 40, -3, 33, i64::MAX - 1];
        for (h, t) in times.into_iter().enumerate() {
            q.push(t, h as u64);
        }
        let mut popped = Vec::new();
        for wm in [-10, 0, 8, 9, 35, 100, i64::MAX - 1] {
            while let Some((t, _)) = q.pop_due(wm) {
                assert!(t <= wm, "{t} popped at {wm}");
                popped.push((t, wm));
            }
            let mut due: Vec<i64> = times.iter().copied().filter(|t| *t <= wm).collect();
            due.sort();
            let mut got: Vec<i64> = popped.iter().map(|p| p.0).collect();
            got.sort();
            assert_eq!(got, due, "everything due at {wm}, nothing else");
        }
        q.push(3, 0);
        q.clear();
        assert_eq!(q.pop_due(i64::MAX), None);
    }
}
