//! What the coordinator and the shards share while a job with checkpoints runs: the epoch
//! requested (an atomic the sources read once per poll), the acknowledgements channel, and
//! the configuration.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::manifest::FileEntry;
use super::store::{CheckpointStore, Restored};

/// Where to restore from when a job with checkpoints starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreFrom {
    /// The newest complete checkpoint of the checkpoint directory, if there is one (the
    /// default): a job started again with the same directory resumes.
    Latest,
    /// Nothing: start from scratch (the directory's old checkpoints stay until retention
    /// deletes them).
    Nothing,
    /// A given checkpoint (an epoch directory, `DIR/chk-0000000012`) or a savepoint (the
    /// directory given to [`JobHandle::savepoint`](crate::JobHandle::savepoint)).
    Path(PathBuf),
}

/// What to do when a job with checkpoints fails while running (Flink's restart strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartStrategy {
    /// Fail the job (the default).
    None,
    /// Rebuild the job in-process from the newest complete checkpoint, after `delay`, at
    /// most `attempts` times.
    FixedDelay {
        /// How many restarts are allowed.
        attempts: u32,
        /// Wait before each restart.
        delay: Duration,
    },
}

/// Checkpoint settings of a job (see [`Env::checkpointing`](crate::Env::checkpointing)).
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// Time between epoch triggers.
    pub interval: Duration,
    /// An epoch not acknowledged by every shard within this time is declined.
    pub timeout: Duration,
    /// Complete checkpoints kept (older ones are deleted).
    pub retain: usize,
    /// Where to restore from at start.
    pub restore: RestoreFrom,
    /// What to do on failure.
    pub restart: RestartStrategy,
    /// Restore even when the checkpoint holds state of operators (by uid) the job no longer
    /// has, dropping that state (Flink's `allowNonRestoredState`); otherwise that is an error.
    pub allow_non_restored_state: bool,
    /// When the job ends, its final checkpoint is also written as a savepoint into this
    /// directory (see [`Env::savepoint_on_finish`](crate::Env::savepoint_on_finish)).
    pub savepoint_on_finish: Option<PathBuf>,
    /// Unaligned checkpoints (Flink's `execution.checkpointing.unaligned`): at an operator
    /// with several inputs the first barrier of an epoch goes on at once, and the records
    /// the other inputs send until their barrier are stored with the snapshot as in-flight
    /// data (replayed on restore) instead of being held back. Savepoints stay aligned. See
    /// [`Env::unaligned_checkpoints`](crate::Env::unaligned_checkpoints).
    pub unaligned: bool,
    /// Copy-on-write snapshots: the state entries an operator that takes its snapshot in
    /// steps (window operators, keyed `reduce`, keyed functions' heap handles) encodes
    /// per step after the barrier, between
    /// batches, each entry copied before its first change; at the barrier it only freezes
    /// what cannot change in place (its key list and timers). `0` encodes the whole snapshot
    /// at the barrier instead. See
    /// [`Env::snapshot_step`](crate::Env::snapshot_step).
    pub snapshot_step: usize,
    /// Incremental snapshots: an operator that can (the sliced window operator) writes at
    /// most this many snapshots in a row that hold only what changed since its previous
    /// one, the checkpoint linking the earlier files they build on, then a full one. `0`:
    /// every snapshot is full. See
    /// [`Env::incremental_checkpoints`](crate::Env::incremental_checkpoints).
    pub incremental: usize,
}

/// State entries encoded per step of a copy-on-write snapshot, by default.
pub const DEFAULT_SNAPSHOT_STEP: usize = 512;

impl CheckpointConfig {
    /// Checkpoints into `dir` every `interval`, timeout ten intervals (at least 10 s), the
    /// last 3 kept, restoring from the newest, no restarts.
    pub fn new(dir: impl Into<PathBuf>, interval: Duration) -> Self {
        CheckpointConfig {
            dir: dir.into(),
            interval,
            timeout: (interval * 10).max(Duration::from_secs(10)),
            retain: 3,
            restore: RestoreFrom::Latest,
            restart: RestartStrategy::None,
            allow_non_restored_state: false,
            savepoint_on_finish: None,
            unaligned: false,
            snapshot_step: DEFAULT_SNAPSHOT_STEP,
            incremental: 0,
        }
    }
}

/// A shard's answer for one epoch.
#[derive(Debug)]
pub(crate) enum ShardReport {
    /// Every snapshot file of the shard is durable.
    Ack {
        epoch: u64,
        shard: usize,
        files: Vec<FileEntry>,
        /// The offsets of the shard's source splits.
        sources: Vec<super::manifest::SourceEntry>,
    },
    /// The shard could not write its snapshot.
    Decline {
        epoch: u64,
        shard: usize,
        reason: String,
    },
}

/// Shared by the coordinator and every shard of one run.
pub(crate) struct CheckpointShared {
    pub(crate) store: CheckpointStore,
    pub(crate) shards: usize,
    pub(crate) max_parallelism: usize,
    /// The newest epoch triggered; sources inject its barrier once.
    requested: AtomicU64,
    pub(crate) reports: crossbeam::channel::Sender<ShardReport>,
    /// Directories of exactly-once file sinks, committed after each checkpoint.
    pub(crate) sink_dirs: Mutex<Vec<PathBuf>>,
    pub(crate) restored: Option<Arc<Restored>>,
    /// Savepoints asked for, taken by the coordinator.
    pub(crate) savepoints: Mutex<Vec<super::savepoint::SavepointRequest>>,
    /// Unaligned checkpoints are on.
    pub(crate) unaligned: bool,
    /// Entries per step of a copy-on-write snapshot (0: whole snapshots at the barrier).
    pub(crate) snapshot_step: usize,
    /// Deltas in a row at most of incremental snapshots (0: off).
    pub(crate) incremental: usize,
    /// The newest epoch whose checkpoint is complete (0: none): a delta builds only on
    /// the snapshot of a complete checkpoint.
    last_complete: AtomicU64,
    /// The newest epoch taken for a savepoint: aligned even when `unaligned` is on.
    savepoint_epoch: AtomicU64,
    /// The first epoch this run triggers (one more than any epoch of the directory).
    pub(crate) first_epoch: AtomicU64,
    /// The checkpoints completed so far (the coordinator appends one per manifest).
    pub(crate) completed: Mutex<Vec<CompletedCheckpoint>>,
}

/// One completed checkpoint of a run (Flink's checkpoint statistics, in brief).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedCheckpoint {
    /// Its epoch.
    pub epoch: u64,
    /// From the trigger to the manifest renamed into place (the checkpoint's duration).
    pub duration: Duration,
    /// The bytes of the files its manifest lists (snapshot files and linked segments).
    pub bytes: u64,
}

impl CheckpointShared {
    pub(crate) fn new(
        cfg: &CheckpointConfig,
        shards: usize,
        max_parallelism: usize,
        restored: Option<Arc<Restored>>,
    ) -> (Arc<Self>, crossbeam::channel::Receiver<ShardReport>) {
        let (tx, rx) = crossbeam::channel::unbounded();
        let s = CheckpointShared {
            store: CheckpointStore::new(&cfg.dir),
            shards,
            max_parallelism,
            requested: AtomicU64::new(0),
            reports: tx,
            sink_dirs: Mutex::new(Vec::new()),
            restored,
            savepoints: Mutex::new(Vec::new()),
            unaligned: cfg.unaligned,
            snapshot_step: cfg.snapshot_step,
            incremental: cfg.incremental,
            last_complete: AtomicU64::new(0),
            savepoint_epoch: AtomicU64::new(0),
            first_epoch: AtomicU64::new(1),
            completed: Mutex::new(Vec::new()),
        };
        (Arc::new(s), rx)
    }

    /// The newest epoch triggered (0: none yet). One relaxed load: sources call it per poll.
    #[inline]
    pub(crate) fn requested(&self) -> u64 {
        self.requested.load(Ordering::Acquire)
    }

    /// Asks for a savepoint into `dir` (taken at the next epoch) and waits for it.
    pub(crate) fn savepoint(
        &self,
        dir: PathBuf,
        timeout: Duration,
        ended: impl Fn() -> bool,
    ) -> crate::error::Result<PathBuf> {
        super::savepoint::check_target(&dir)?;
        let (req, rx) = super::savepoint::SavepointRequest::new(dir);
        self.savepoints
            .lock()
            .map_err(|_| crate::error::SpateError::Internal("savepoint queue poisoned".into()))?
            .push(req);
        super::savepoint::wait(&rx, timeout, ended)
    }

    /// The savepoint requests not yet taken.
    pub(crate) fn take_savepoint_requests(&self) -> Vec<super::savepoint::SavepointRequest> {
        self.savepoints
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// Whether barrier `epoch` is aligned at operators with several inputs: always without
    /// unaligned checkpoints, and for savepoints (as in Flink). Read once per barrier.
    pub(crate) fn aligned_epoch(&self, epoch: u64) -> bool {
        !self.unaligned || self.savepoint_epoch.load(Ordering::Acquire) == epoch
    }

    /// Marks `epoch`, about to be triggered, as a savepoint's (aligned).
    pub(crate) fn mark_savepoint(&self, epoch: u64) {
        self.savepoint_epoch.store(epoch, Ordering::Release);
    }

    /// The checkpoints completed so far.
    pub(crate) fn completed(&self) -> Vec<CompletedCheckpoint> {
        self.completed.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// What an incremental snapshot of `epoch` may build on (`None`: it is full).
    pub(crate) fn chain_cx(&self, epoch: u64) -> Option<super::chain::ChainCx> {
        (self.incremental > 0).then(|| super::chain::ChainCx {
            max_deltas: self.incremental,
            last_complete: self.last_complete.load(Ordering::Acquire),
            savepoint: self.savepoint_epoch.load(Ordering::Acquire) == epoch,
        })
    }

    /// Epoch `epoch`'s checkpoint is complete (its manifest is in place).
    pub(crate) fn completed_epoch(&self, epoch: u64) {
        self.last_complete.fetch_max(epoch, Ordering::AcqRel);
    }

    pub(crate) fn trigger(&self, epoch: u64) {
        self.requested.store(epoch, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a barrier tells an incremental snapshot: off without `incremental`, the newest
    /// complete epoch (never going back), and whether the epoch is a savepoint's.
    #[test]
    fn the_chain_context_follows_completions_and_savepoints() {
        let dir = std::env::temp_dir().join("spate-never-written");
        let off = CheckpointConfig::new(&dir, Duration::from_secs(1));
        assert_eq!(CheckpointShared::new(&off, 1, 8, None).0.chain_cx(1), None);
        let on = CheckpointConfig {
            incremental: 3,
            ..off
        };
        let (s, _rx) = CheckpointShared::new(&on, 1, 8, None);
        let cx = s.chain_cx(1).expect("on");
        assert_eq!(
            (cx.max_deltas, cx.last_complete, cx.savepoint),
            (3, 0, false)
        );
        s.completed_epoch(4);
        s.completed_epoch(2);
        assert_eq!(s.chain_cx(5).map(|c| c.last_complete), Some(4));
        s.mark_savepoint(5);
        assert!(s.chain_cx(5).is_some_and(|c| c.savepoint));
        assert!(s.chain_cx(6).is_some_and(|c| !c.savepoint));
    }
}
