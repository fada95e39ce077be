//! A shard's side of checkpoints: collects what its participants (sources, stateful
//! operators, exactly-once sinks) took at barrier `e` and hands the epoch to the shard's
//! snapshot writer (`writer.rs`: its own thread and glommio executor, writing through
//! io_uring), which acknowledges `e` to the coordinator. The data path only pays for the
//! copy each participant makes at its barrier.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::writer::{unsynced_stores, Spare, Writer};
use crate::checkpoint::shared::{CheckpointShared, ShardReport};
use crate::state::mmap::checkpointing::Exported;

/// What one participant took for an epoch.
#[derive(Debug, Clone)]
pub(crate) enum Part {
    /// A snapshot file's bytes.
    State(Vec<u8>),
    /// The offsets of a source's splits on this shard: `(split, offset)`, of `splits` in all.
    Offsets {
        splits: usize,
        offsets: Vec<(usize, u64)>,
    },
    /// A snapshot file's bytes and the files file-backed (mmap) state exported: where each
    /// is now, and its entry relative to the epoch's directory.
    StateFiles(Vec<u8>, Exported),
}

/// One shard's checkpoint participants and the epochs they are taking.
pub(crate) struct ShardSnapshots {
    pub(crate) shard: usize,
    pub(crate) shared: Arc<CheckpointShared>,
    /// Participant id → operator node.
    nodes: RefCell<Vec<usize>>,
    pending: RefCell<BTreeMap<u64, Vec<Option<Part>>>>,
    /// Final parts of participants whose input ended: they stand in for every later epoch.
    finished: RefCell<Vec<Option<Part>>>,
    dispatched: Cell<u64>,
    /// The shard's snapshot writer, started at its first write.
    writer: RefCell<Option<Writer>>,
    /// Buffers of snapshot files already written, for the participants' next snapshots.
    spare: Spare,
    /// The job's CPUs, where the writer thread runs.
    cpus: Arc<[usize]>,
}

impl ShardSnapshots {
    pub(crate) fn new(shard: usize, shared: Arc<CheckpointShared>, cpus: Arc<[usize]>) -> Self {
        ShardSnapshots {
            shard,
            shared,
            nodes: RefCell::new(Vec::new()),
            pending: RefCell::new(BTreeMap::new()),
            finished: RefCell::new(Vec::new()),
            dispatched: Cell::new(0),
            writer: RefCell::new(None),
            spare: Spare::default(),
            cpus,
        }
    }

    /// Registers a participant of operator `node` (at wiring); returns its id.
    pub(crate) fn register(&self, node: usize) -> usize {
        let mut n = self.nodes.borrow_mut();
        n.push(node);
        self.finished.borrow_mut().push(None);
        n.len() - 1
    }

    /// Participant `id` took `part` at barrier `epoch`.
    pub(crate) fn deposit(self: &Rc<Self>, epoch: u64, id: usize, part: Part) {
        if epoch <= self.dispatched.get() {
            return;
        }
        let n = self.nodes.borrow().len();
        self.pending
            .borrow_mut()
            .entry(epoch)
            .or_insert_with(|| vec![None; n])[id] = Some(part);
        self.check();
    }

    /// Participant `id` ended with final `part`.
    pub(crate) fn finish(self: &Rc<Self>, id: usize, part: Part) {
        self.finished.borrow_mut()[id] = Some(part);
        self.check();
    }

    /// Waits until no snapshot write is under way (a shard about to stop: its acknowledgements
    /// must reach the coordinator before the job's end is decided).
    pub(crate) async fn quiesce(&self) {
        let writing = self.writer.borrow().as_ref().map(|w| w.writing.clone());
        let Some(writing) = writing else { return };
        while writing.load(Ordering::Acquire) > 0 {
            super::task::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Every participant's final part, once all have ended.
    pub(crate) fn final_parts(&self) -> Option<Vec<(usize, Part)>> {
        let nodes = self.nodes.borrow();
        self.finished
            .borrow()
            .iter()
            .zip(nodes.iter())
            .map(|(p, n)| p.clone().map(|p| (*n, p)))
            .collect()
    }

    /// Writes out the newest epoch every participant has a part for.
    fn check(self: &Rc<Self>) {
        let ready = {
            let pending = self.pending.borrow();
            let finished = self.finished.borrow();
            pending
                .iter()
                .rev()
                .find(|(_, parts)| {
                    parts
                        .iter()
                        .zip(finished.iter())
                        .all(|(p, f)| p.is_some() || f.is_some())
                })
                .map(|(e, _)| *e)
        };
        let Some(epoch) = ready else { return };
        let parts = {
            let mut pending = self.pending.borrow_mut();
            let parts = pending.remove(&epoch).unwrap_or_default();
            pending.retain(|e, _| *e > epoch);
            let finished = self.finished.borrow();
            let nodes = self.nodes.borrow();
            parts
                .into_iter()
                .zip(finished.iter())
                .zip(nodes.iter())
                .filter_map(|((p, f), n)| p.or_else(|| f.clone()).map(|p| (*n, p)))
                .collect::<Vec<_>>()
        };
        self.dispatched.set(epoch);
        tracing::debug!(epoch, shard = self.shard, "shard snapshot taken");
        let mut writer = self.writer.borrow_mut();
        if writer.is_none() {
            let keep = self.nodes.borrow().len();
            let (shared, spare) = (self.shared.clone(), self.spare.clone());
            match Writer::start(self.shard, shared, spare, keep, self.cpus.clone()) {
                Ok(w) => *writer = Some(w),
                Err(e) => {
                    return self.decline(epoch, &parts, format!("no snapshot writer thread: {e}"))
                }
            }
        }
        if let Some(w) = writer.as_ref() {
            if let Err(parts) = w.submit(epoch, parts) {
                self.decline(epoch, &parts, "the snapshot writer thread ended".into());
            }
        }
    }

    /// Declines `epoch` on this shard without writing it.
    fn decline(&self, epoch: u64, parts: &[(usize, Part)], reason: String) {
        unsynced_stores(parts).mark_failed();
        let _ = self.shared.reports.send(ShardReport::Decline {
            epoch,
            shard: self.shard,
            reason,
        });
    }

    /// A buffer to build a snapshot file in: the largest one written before, if any (its
    /// pages are mapped already), else a new one.
    pub(crate) fn buffer(&self) -> Vec<u8> {
        let Ok(mut spare) = self.spare.lock() else {
            return Vec::new();
        };
        let largest = (0..spare.len()).max_by_key(|i| spare[*i].capacity());
        largest.map(|i| spare.swap_remove(i)).unwrap_or_default()
    }
}
