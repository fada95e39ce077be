//! A shard's side of checkpoints: collects what its participants (sources, stateful
//! operators, exactly-once sinks) took at barrier `e`, writes the snapshot files
//! asynchronously on a writer thread of its own, then acknowledges `e` to the coordinator.
//! The data path only pays for the copy each participant makes at its barrier.
//!
//! Why a thread and not the shard's io_uring (glommio's file API): the shard's reactor reaps
//! I/O completions only between the tasks' polls, and a write takes a dozen or more round
//! trips (open, write, sync, close per file; the first write of a run more, as glommio probes
//! the device). A source or function that blocks the shard thread (a `sleep` in a
//! generator, a blocking read) then held the write back by one round trip per poll: 2.6 s
//! for the first checkpoint behind a source blocking 70 ms per poll
//! (`engine/tests/checkpoint_stall.rs`). Written on its own thread, as Flink runs the
//! asynchronous part of a snapshot beside the task thread, the checkpoint completes whatever
//! the shard does.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::checkpoint::manifest::{FileEntry, SourceEntry};
use crate::checkpoint::shared::{CheckpointShared, ShardReport};
use crate::checkpoint::store::snapshot_name;
use crate::error::{Result, SpateError};
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
    /// Snapshot writes under way (the shard waits for them before it stops).
    writing: Arc<AtomicUsize>,
}

impl ShardSnapshots {
    pub(crate) fn new(shard: usize, shared: Arc<CheckpointShared>) -> Self {
        ShardSnapshots {
            shard,
            shared,
            nodes: RefCell::new(Vec::new()),
            pending: RefCell::new(BTreeMap::new()),
            finished: RefCell::new(Vec::new()),
            dispatched: Cell::new(0),
            writing: Arc::new(AtomicUsize::new(0)),
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
        while self.writing.load(Ordering::Acquire) > 0 {
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
        let (shared, shard) = (self.shared.clone(), self.shard);
        let writing = self.writing.clone();
        writing.fetch_add(1, Ordering::AcqRel);
        // File-backed state left its new segments unsynced at the barrier: if this write
        // fails, its stores sync them all again at their next snapshot.
        let failed = Exported {
            failed: parts
                .iter()
                .filter_map(|(_, p)| match p {
                    Part::StateFiles(_, e) => Some(e.failed.iter().cloned()),
                    _ => None,
                })
                .flatten()
                .collect(),
            ..Default::default()
        };
        let on_thread = (shared.clone(), writing.clone(), failed.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("spate-snapshot-{shard}"))
            .spawn(move || {
                let (shared, writing, failed) = on_thread;
                unpin();
                let report = match write_parts(&shared, shard, epoch, parts) {
                    Ok((files, sources)) => ShardReport::Ack {
                        epoch,
                        shard,
                        files,
                        sources,
                    },
                    Err(e) => {
                        failed.mark_failed();
                        ShardReport::Decline {
                            epoch,
                            shard,
                            reason: e.to_string(),
                        }
                    }
                };
                let _ = shared.reports.send(report);
                writing.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            failed.mark_failed();
            writing.fetch_sub(1, Ordering::AcqRel);
            let _ = shared.reports.send(ShardReport::Decline {
                epoch,
                shard,
                reason: format!("cannot start the snapshot writer thread: {e}"),
            });
        }
    }
}

/// Lets the calling thread run on every CPU: a thread spawned by a shard inherits the
/// shard's pinning to its core, where the writer would take turns with the shard.
fn unpin() {
    // SAFETY: a zeroed `cpu_set_t` is a valid empty set; `CPU_SET` writes inside it for
    // every index below `CPU_SETSIZE`; `sched_setaffinity(0, ..)` only reads the set and
    // applies to the calling thread (the kernel keeps the CPUs that exist and are allowed;
    // on failure the thread just stays pinned).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..libc::CPU_SETSIZE as usize {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

type Written = (Vec<FileEntry>, Vec<SourceEntry>);

fn write_parts(
    shared: &CheckpointShared,
    shard: usize,
    epoch: u64,
    parts: Vec<(usize, Part)>,
) -> Result<Written> {
    let dir = shared.store.create_epoch_dir(epoch)?;
    let mut files = Vec::new();
    let mut sources = Vec::new();
    for (node, part) in parts {
        match part {
            Part::Offsets { splits, offsets } => {
                sources.extend(offsets.into_iter().map(|(split, offset)| SourceEntry {
                    node,
                    splits,
                    split,
                    offset,
                }))
            }
            Part::State(bytes) => {
                let name = snapshot_name(node, shard);
                write_durably(&dir.join(&name), &bytes)?;
                files.push(FileEntry {
                    name,
                    size: bytes.len() as u64,
                    crc: crate::checkpoint::crc32(&bytes),
                });
            }
            Part::StateFiles(bytes, linked) => {
                let name = snapshot_name(node, shard);
                write_durably(&dir.join(&name), &bytes)?;
                files.push(FileEntry {
                    name,
                    size: bytes.len() as u64,
                    crc: crate::checkpoint::crc32(&bytes),
                });
                files.extend(crate::state::mmap::checkpointing::link_into(&dir, &linked)?);
            }
        }
    }
    Ok((files, sources))
}

/// Writes `bytes` to a new file at `path` and syncs it (on the writer thread).
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| SpateError::io(path, e))?;
    f.write_all(bytes).map_err(|e| SpateError::io(path, e))?;
    f.sync_all().map_err(|e| SpateError::io(path, e))
}

#[cfg(test)]
mod tests {
    /// A writer spawned by a pinned shard thread runs on every CPU the process may use.
    #[test]
    fn unpin_undoes_an_inherited_pin() {
        let all = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (pinned, after) = std::thread::spawn(|| {
            // SAFETY: as in `unpin`, with only CPU 0 in the set.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
            let pinned = std::thread::available_parallelism().map_or(0, |n| n.get());
            super::unpin();
            let after = std::thread::available_parallelism().map_or(0, |n| n.get());
            (pinned, after)
        })
        .join()
        .unwrap();
        assert_eq!((pinned, after), (1, all));
    }

    #[test]
    fn write_durably_writes_the_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        super::write_durably(&p, &bytes).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), bytes);
    }
}
