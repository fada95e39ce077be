//! `StateGauge`: how much state an operator holds, readable from outside the job.
//!
//! Why a handle the job owner keeps, not a metric in `JobResult`: tests and benchmarks want
//! the figure *while* the job runs (state must shrink once the watermark passes, not only at
//! the end) and per operator, and an `Arc` the operator writes to needs no new plumbing
//! through the graph. The cost is kept off the per-record path: each operator instance
//! owns one slot, written with plain relaxed stores (no read-modify-write, no lock) at most
//! once per batch or per state change; the lock below is taken once per instance, when it
//! first publishes, and by readers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Slot {
    current: AtomicU64,
    peak: AtomicU64,
}

/// Live state entries of one operator, summed over its shards (what an entry is, is the
/// operator's to say: a buffered element for window joins, a stored row for the regular
/// join). Create one, hand it to the operator when building the job, read it while the job
/// runs or after it ended. Clones share the same figures.
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate::join::RegularJoin;
/// use spate::state::StateGauge;
///
/// let env = Env::new().shards(2);
/// let gauge = StateGauge::new();
/// let left = env.from_iter(vec![(1, 'a'), (2, 'b')]).key_by(|r| r.0);
/// let right = env.from_iter(vec![(1, 10)]).key_by(|r| r.0);
/// let _ = left.connect(&right).regular_join(RegularJoin::inner().state_gauge(&gauge)).collect();
/// env.execute().unwrap();
/// assert_eq!(gauge.current(), 3, "an unbounded join keeps every row");
/// ```
#[derive(Debug, Clone, Default)]
pub struct StateGauge {
    slots: Arc<Mutex<Vec<Arc<Slot>>>>,
}

impl StateGauge {
    /// A gauge no operator has written to yet (it reads 0).
    pub fn new() -> Self {
        Self::default()
    }

    fn slots(&self) -> Vec<Arc<Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Entries held now, over all operator instances.
    pub fn current(&self) -> u64 {
        self.slots()
            .iter()
            .map(|s| s.current.load(Ordering::Relaxed))
            .sum()
    }

    /// The sum of each instance's largest figure so far: the peak when there is one shard,
    /// an upper bound of the simultaneous peak otherwise.
    pub fn peak(&self) -> u64 {
        self.slots()
            .iter()
            .map(|s| s.peak.load(Ordering::Relaxed))
            .sum()
    }

    /// The slot one operator instance publishes to.
    pub(crate) fn register(&self) -> GaugeSlot {
        let slot = Arc::new(Slot::default());
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(slot.clone());
        GaugeSlot { slot, peak: 0 }
    }
}

/// One operator instance's slot of a [`StateGauge`].
#[derive(Debug)]
pub(crate) struct GaugeSlot {
    slot: Arc<Slot>,
    peak: u64,
}

impl GaugeSlot {
    /// Publishes the instance's current figure (relaxed stores only).
    #[inline]
    pub(crate) fn set(&mut self, n: u64) {
        if n > self.peak {
            self.peak = n;
            self.slot.peak.store(n, Ordering::Relaxed);
        }
        self.slot.current.store(n, Ordering::Relaxed);
    }
}

/// An optional gauge as an operator keeps it: the handle from the job's builder, and the
/// instance's slot, registered on first use (a clone starts unregistered, so that each
/// per-shard instance gets its own slot).
#[derive(Debug, Default)]
pub(crate) struct GaugeHandle {
    gauge: Option<StateGauge>,
    slot: Option<GaugeSlot>,
}

impl Clone for GaugeHandle {
    fn clone(&self) -> Self {
        GaugeHandle {
            gauge: self.gauge.clone(),
            slot: None,
        }
    }
}

impl GaugeHandle {
    pub(crate) fn new(gauge: Option<StateGauge>) -> Self {
        GaugeHandle { gauge, slot: None }
    }

    /// Publishes `n` if a gauge is attached.
    #[inline]
    pub(crate) fn set(&mut self, n: u64) {
        if let Some(g) = &self.gauge {
            self.slot.get_or_insert_with(|| g.register()).set(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_add_up_and_peaks_stay() {
        let g = StateGauge::new();
        let proto = GaugeHandle::new(Some(g.clone()));
        let (mut a, mut b) = (proto.clone(), proto.clone());
        a.set(5);
        b.set(2);
        assert_eq!((g.current(), g.peak()), (7, 7));
        a.set(1);
        assert_eq!((g.current(), g.peak()), (3, 7));
        let mut none = GaugeHandle::new(None);
        none.set(9);
        assert_eq!(g.current(), 3);
    }
}
