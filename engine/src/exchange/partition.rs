//! Partitioners: which shard each record of a batch goes to.

use std::hash::Hash;

use crate::operators::Batch;
use crate::state::{hash_key, key_group, shard_for_key_group};

/// Routes a batch into per-shard lanes. Implementations are monomorphised into the
/// exchange, so the per-record work is a plain inlined loop.
pub(crate) trait Partition<T>: Send + 'static {
    /// Moves every record of `batch` into `lanes[shard]` (one lane per shard).
    fn partition(&mut self, batch: &mut Batch<T>, lanes: &mut [Batch<T>]);
}

/// `key_by`: key → stable hash → key group → owning shard.
#[derive(Clone)]
pub(crate) struct KeyPartitioner<F> {
    pub(crate) key: F,
    pub(crate) max_parallelism: usize,
}

impl<T, K, F> Partition<T> for KeyPartitioner<F>
where
    K: Hash,
    F: Fn(&T) -> K + Send + 'static,
{
    #[inline]
    fn partition(&mut self, batch: &mut Batch<T>, lanes: &mut [Batch<T>]) {
        let (n, mp) = (lanes.len(), self.max_parallelism);
        for (ts, v) in batch.drain(..) {
            let g = key_group(hash_key(&(self.key)(&v)), mp);
            lanes[shard_for_key_group(g, mp, n)].push((ts, v));
        }
    }
}

/// `rebalance`: round-robin, each shard starting at a different lane.
#[derive(Clone, Default)]
pub(crate) struct Rebalance {
    pub(crate) next: usize,
}

impl<T: Send + 'static> Partition<T> for Rebalance {
    #[inline]
    fn partition(&mut self, batch: &mut Batch<T>, lanes: &mut [Batch<T>]) {
        let n = lanes.len();
        for r in batch.drain(..) {
            self.next = if self.next + 1 >= n { 0 } else { self.next + 1 };
            lanes[self.next].push(r);
        }
    }
}

/// `broadcast`: every record to every shard.
#[derive(Clone, Default)]
pub(crate) struct Broadcast;

impl<T: Clone + Send + 'static> Partition<T> for Broadcast {
    fn partition(&mut self, batch: &mut Batch<T>, lanes: &mut [Batch<T>]) {
        if let Some((last, rest)) = lanes.split_last_mut() {
            for l in rest {
                l.extend_from_slice(batch);
            }
            last.append(batch);
        }
    }
}
