//! Savepoints: a checkpoint taken on request ([`JobHandle::savepoint`](crate::JobHandle::savepoint)),
//! copied out of the checkpoint directory into a directory of the user's, with a manifest of
//! kind `savepoint`. Retention never deletes it. Its snapshot files are by key group and its
//! source offsets by split, so it restores on any shard count, with operators matched by
//! their stable ids ([`DataStream::uid`](crate::DataStream::uid)).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender};

use super::manifest::{Kind, Manifest};
use super::store::{sync_dir, write_manifest_in, CheckpointStore, MANIFEST};
use crate::error::{Result, SpateError};

/// A savepoint asked for and not yet written.
pub(crate) struct SavepointRequest {
    pub(crate) dir: PathBuf,
    pub(crate) reply: Sender<Result<PathBuf>>,
}

impl SavepointRequest {
    /// A request for a savepoint into `dir`, and where its answer arrives.
    pub(crate) fn new(dir: PathBuf) -> (Self, Receiver<Result<PathBuf>>) {
        let (tx, rx) = crossbeam::channel::bounded(1);
        (SavepointRequest { dir, reply: tx }, rx)
    }

    /// Answers the request with `r`.
    pub(crate) fn answer(self, r: Result<PathBuf>) {
        let _ = self.reply.send(r);
    }
}

/// Checks that `dir` can take a savepoint: absent, or a directory without a manifest.
pub(crate) fn check_target(dir: &Path) -> Result<()> {
    if dir.join(MANIFEST).exists() {
        return Err(SpateError::Config(format!(
            "{} already holds a savepoint or checkpoint: choose a new directory",
            dir.display()
        )));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(SpateError::Config(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    Ok(())
}

/// Writes the savepoint of complete checkpoint `m` of `store` into `dir`: its snapshot
/// files hard-linked (copied where links are not possible), then the manifest, of kind
/// `savepoint`, renamed into place last.
pub(crate) fn write_savepoint(
    store: &CheckpointStore,
    m: &Manifest,
    dir: &Path,
) -> Result<PathBuf> {
    check_target(dir)?;
    fs::create_dir_all(dir).map_err(|e| SpateError::io(dir, e))?;
    let from = store.epoch_dir(m.epoch);
    for f in &m.files {
        let (src, dst) = (from.join(&f.name), dir.join(&f.name));
        // File-backed state lists its segments under sub-directories.
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(|e| SpateError::io(parent, e))?;
        }
        let _ = fs::remove_file(&dst);
        if fs::hard_link(&src, &dst).is_err() {
            fs::copy(&src, &dst).map_err(|e| SpateError::io(&dst, e))?;
            fs::File::open(&dst)
                .and_then(|f| f.sync_all())
                .map_err(|e| SpateError::io(&dst, e))?;
        }
    }
    sync_dir(dir)?;
    let mut sp = m.clone();
    sp.kind = Kind::Savepoint;
    write_manifest_in(dir, &sp)?;
    Ok(dir.to_path_buf())
}

/// Waits for a savepoint's answer; gives up when `ended()` says the job has ended (its
/// coordinator then drops the request) or after `timeout`.
pub(crate) fn wait(
    rx: &Receiver<Result<PathBuf>>,
    timeout: Duration,
    ended: impl Fn() -> bool,
) -> Result<PathBuf> {
    let started = std::time::Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(r) => return r,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) if ended() => {
                // The coordinator may have answered just before the job ended.
                if let Ok(r) = rx.try_recv() {
                    return r;
                }
                break;
            }
            Err(RecvTimeoutError::Timeout) if started.elapsed() >= timeout => {
                return Err(SpateError::Runtime(format!(
                    "the savepoint did not complete within {timeout:?}"
                )))
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    Err(SpateError::Runtime(
        "the job ended before the savepoint completed".into(),
    ))
}
