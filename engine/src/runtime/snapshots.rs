//! A shard's side of checkpoints: collects what its participants (sources, stateful
//! operators, exactly-once sinks) took at barrier `e`, writes the snapshot files
//! asynchronously through glommio's io_uring file API, then acknowledges `e` to the
//! coordinator. The data path only pays for the copy each participant makes at its barrier.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use crate::checkpoint::manifest::{FileEntry, SourceEntry};
use crate::checkpoint::shared::{CheckpointShared, ShardReport};
use crate::checkpoint::store::snapshot_name;
use crate::error::{Result, SpateError};

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
    StateFiles(Vec<u8>, Vec<(std::path::PathBuf, FileEntry)>),
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
    writing: Rc<Cell<usize>>,
    /// Buffers of snapshot files already written, for the participants' next snapshots:
    /// at most one per participant is kept, so memory stays at one snapshot's size each.
    spare: Rc<RefCell<Vec<Vec<u8>>>>,
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
            writing: Rc::new(Cell::new(0)),
            spare: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// A buffer to build a snapshot file in: the largest one written before, if any
    /// (its pages are mapped already), else a new one.
    pub(crate) fn buffer(&self) -> Vec<u8> {
        let mut spare = self.spare.borrow_mut();
        let largest = (0..spare.len()).max_by_key(|i| spare[*i].capacity());
        largest.map(|i| spare.swap_remove(i)).unwrap_or_default()
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

    /// Waits until no snapshot write is under way (a shard about to stop: dropping its
    /// executor would abandon glommio's blocking I/O threads mid-request).
    pub(crate) async fn quiesce(&self) {
        while self.writing.get() > 0 {
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
        writing.set(writing.get() + 1);
        let (spare, keep) = (self.spare.clone(), self.nodes.borrow().len());
        super::task::spawn_io(async move {
            let recycle = |b: Vec<u8>| {
                let mut s = spare.borrow_mut();
                if s.len() < keep {
                    s.push(b);
                }
            };
            let report = match write_parts(&shared, shard, epoch, parts, recycle).await {
                Ok((files, sources)) => ShardReport::Ack {
                    epoch,
                    shard,
                    files,
                    sources,
                },
                Err(e) => ShardReport::Decline {
                    epoch,
                    shard,
                    reason: e.to_string(),
                },
            };
            let _ = shared.reports.send(report);
            writing.set(writing.get() - 1);
        });
    }
}

type Written = (Vec<FileEntry>, Vec<SourceEntry>);

async fn write_parts(
    shared: &CheckpointShared,
    shard: usize,
    epoch: u64,
    parts: Vec<(usize, Part)>,
    recycle: impl Fn(Vec<u8>),
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
                write_durably(&dir.join(&name), &bytes).await?;
                files.push(FileEntry {
                    name,
                    size: bytes.len() as u64,
                    crc: crate::checkpoint::format::file_crc(&bytes),
                });
                recycle(bytes);
            }
            Part::StateFiles(bytes, linked) => {
                let name = snapshot_name(node, shard);
                write_durably(&dir.join(&name), &bytes).await?;
                files.push(FileEntry {
                    name,
                    size: bytes.len() as u64,
                    crc: crate::checkpoint::format::file_crc(&bytes),
                });
                recycle(bytes);
                files.extend(crate::state::mmap::checkpointing::link_into(&dir, &linked)?);
            }
        }
    }
    Ok((files, sources))
}

/// Writes `bytes` to a new file at `path` through io_uring and syncs it.
pub(crate) async fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    use futures_lite::AsyncWriteExt;
    let gl =
        |e: glommio::GlommioError<()>| SpateError::io(path, std::io::Error::other(e.to_string()));
    let file = glommio::io::DmaFile::create(path).await.map_err(gl)?;
    let mut w = glommio::io::DmaStreamWriterBuilder::new(file).build();
    w.write_all(bytes)
        .await
        .map_err(|e| SpateError::io(path, e))?;
    w.close().await.map_err(|e| SpateError::io(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn write_durably_writes_the_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(256 * 1024)
            .make()
            .unwrap();
        let p2 = p.clone();
        let b2 = bytes.clone();
        ex.run(async move { super::write_durably(&p2, &b2).await.unwrap() });
        assert_eq!(std::fs::read(&p).unwrap(), bytes);
    }
}
