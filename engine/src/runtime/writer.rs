//! One shard's snapshot writer: a thread of its own, started at the shard's first checkpoint
//! write, running a glommio executor that writes the snapshot files (and syncs the segments
//! file-backed state exported) through io_uring, then acknowledges the epoch.
//!
//! Why not the shard's own reactor: it reaps I/O completions only between the tasks' polls,
//! and a write takes several round trips (create, write, sync, close per file). A source or
//! function that blocks the shard thread (a `sleep` in a generator, a blocking read) then
//! held the write back by one round trip per poll: 2.6 s for the first checkpoint behind a
//! source blocking 70 ms per poll (`engine/tests/checkpoint_stall.rs`). On its own executor,
//! as Flink runs the asynchronous part of a snapshot beside the task thread, the write
//! completes whatever the shard does, and the CRC of the files is computed off the data path.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};

use super::snapshots::Part;
use crate::checkpoint::manifest::{FileEntry, SourceEntry};
use crate::checkpoint::shared::{CheckpointShared, ShardReport};
use crate::checkpoint::store::snapshot_name;
use crate::error::{Result, SpateError};
use crate::state::mmap::checkpointing::Exported;

/// Registered I/O memory of a writer's executor: the files are written through glommio's
/// stream writer (its own buffers), so little is needed (`ulimit -l` is small here).
const WRITER_IO_MEMORY: usize = 64 * 1024;

/// An epoch's parts, to be written by the shard's writer.
struct Job {
    epoch: u64,
    parts: Vec<(usize, Part)>,
}

/// The sending side of one shard's writer thread; the thread ends when this is dropped.
pub(crate) struct Writer {
    tx: Sender<Job>,
    /// Writes handed over and not yet acknowledged or declined.
    pub(crate) writing: Arc<AtomicUsize>,
}

/// Buffers of snapshot files already written, handed back for the next snapshots.
pub(crate) type Spare = Arc<Mutex<Vec<Vec<u8>>>>;

impl Writer {
    /// Starts the writer thread of `shard` on the job's `cpus`; `keep` bounds the buffers
    /// handed back to `spare`.
    pub(crate) fn start(
        shard: usize,
        shared: Arc<CheckpointShared>,
        spare: Spare,
        keep: usize,
        cpus: Arc<[usize]>,
    ) -> std::io::Result<Writer> {
        let (tx, rx) = channel::<Job>();
        let writing = Arc::new(AtomicUsize::new(0));
        let w = writing.clone();
        std::thread::Builder::new()
            .name(format!("spate-snapshot-{shard}"))
            .spawn(move || {
                // Spawned by the shard, the thread inherits its pinning to one core, where
                // it would take turns with the shard: it runs on any of the job's cores.
                super::cpus::confine(&cpus);
                let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                    .name(&format!("spate-snapshot-{shard}"))
                    .io_memory(WRITER_IO_MEMORY)
                    .make();
                let ex = match ex {
                    Ok(ex) => Some(ex),
                    Err(e) => {
                        tracing::warn!(shard, error = %e, "snapshot writer: no executor");
                        None
                    }
                };
                for job in rx {
                    let epoch = job.epoch;
                    let failed = unsynced_stores(&job.parts);
                    let r = match &ex {
                        Some(ex) => ex.run(write_parts(&shared, shard, job, &spare, keep)),
                        None => Err(SpateError::Internal(
                            "the snapshot writer's executor could not be started".into(),
                        )),
                    };
                    let report = match r {
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
                    w.fetch_sub(1, Ordering::AcqRel);
                }
            })?;
        Ok(Writer { tx, writing })
    }

    /// Hands epoch `epoch`'s parts to the writer; gives them back if its thread is gone.
    pub(crate) fn submit(
        &self,
        epoch: u64,
        parts: Vec<(usize, Part)>,
    ) -> std::result::Result<(), Vec<(usize, Part)>> {
        self.writing.fetch_add(1, Ordering::AcqRel);
        self.tx.send(Job { epoch, parts }).map_err(|e| {
            self.writing.fetch_sub(1, Ordering::AcqRel);
            e.0.parts
        })
    }
}

/// The stores whose new segments the parts leave unsynced: if the write fails, they sync
/// them all again at their next snapshot.
pub(crate) fn unsynced_stores(parts: &[(usize, Part)]) -> Exported {
    Exported {
        failed: parts
            .iter()
            .filter_map(|(_, p)| match p {
                Part::StateFiles(_, e) => Some(e.failed.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect(),
        ..Default::default()
    }
}

type Written = (Vec<FileEntry>, Vec<SourceEntry>);

async fn write_parts(
    shared: &CheckpointShared,
    shard: usize,
    job: Job,
    spare: &Spare,
    keep: usize,
) -> Result<Written> {
    let dir = shared.store.create_epoch_dir(job.epoch)?;
    let mut files = Vec::new();
    let mut sources = Vec::new();
    for (node, part) in job.parts {
        let (bytes, exported) = match part {
            Part::Offsets { splits, offsets } => {
                sources.extend(offsets.into_iter().map(|(split, offset)| SourceEntry {
                    node,
                    splits,
                    split,
                    offset,
                }));
                continue;
            }
            Part::State(bytes) => (bytes, None),
            Part::StateFiles(bytes, exported) => (bytes, Some(exported)),
        };
        let name = snapshot_name(node, shard);
        write_durably(&dir.join(&name), &bytes).await?;
        files.push(FileEntry {
            name,
            size: bytes.len() as u64,
            crc: crate::checkpoint::format::file_crc(&bytes),
        });
        recycle(spare, keep, bytes);
        if let Some(exported) = exported {
            sync_exported(&exported).await?;
            files.extend(crate::state::mmap::checkpointing::link_into(
                &dir, &exported,
            )?);
        }
    }
    Ok((files, sources))
}

/// Keeps `bytes`' allocation for a later snapshot, at most `keep` of them.
fn recycle(spare: &Spare, keep: usize, mut bytes: Vec<u8>) {
    bytes.clear();
    if let Ok(mut s) = spare.lock() {
        if s.len() < keep {
            s.push(bytes);
        }
    }
}

/// Syncs the segment files the barrier left unsynced through io_uring (directories, which
/// io_uring's open does not take here, with `fsync`), marking the stores on failure.
async fn sync_exported(exported: &Exported) -> Result<()> {
    for p in &exported.sync {
        let r = if p.is_dir() {
            std::fs::File::open(p)
                .and_then(|f| f.sync_all())
                .map_err(|e| SpateError::io(p, e))
        } else {
            fdatasync(p).await
        };
        if let Err(e) = r {
            exported.mark_failed();
            return Err(e);
        }
    }
    Ok(())
}

async fn fdatasync(path: &Path) -> Result<()> {
    let gl =
        |e: glommio::GlommioError<()>| SpateError::io(path, std::io::Error::other(e.to_string()));
    let f = glommio::io::BufferedFile::open(path).await.map_err(gl)?;
    f.fdatasync().await.map_err(gl)?;
    f.close().await.map_err(gl)
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
    fn executor() -> glommio::LocalExecutor {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(super::WRITER_IO_MEMORY)
            .make()
            .unwrap()
    }

    #[test]
    fn write_durably_writes_the_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        executor().run(super::write_durably(&p, &bytes)).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), bytes);
    }

    #[test]
    fn syncing_a_missing_segment_fails_and_marks_the_store() {
        let tmp = tempfile::tempdir().unwrap();
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let exported = super::Exported {
            sync: vec![tmp.path().to_path_buf(), tmp.path().join("missing")],
            failed: vec![flag.clone()],
            ..Default::default()
        };
        assert!(executor().run(super::sync_exported(&exported)).is_err());
        assert!(flag.load(std::sync::atomic::Ordering::Acquire));
    }
}
