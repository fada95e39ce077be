//! The checkpoint coordinator: a thread beside the shards that triggers epochs, gathers the
//! shards' acknowledgements, commits manifests and exactly-once sinks, and applies retention.
//! Decisions come from [`protocol::Coordinator`](crate::checkpoint::protocol::Coordinator);
//! this file only carries them out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError};

use super::snapshots::Part;
use crate::checkpoint::manifest::Kind;
use crate::checkpoint::manifest::{FileEntry, Manifest, OperatorEntry, SourceEntry};
use crate::checkpoint::protocol::{Coordinator, Decision};
use crate::checkpoint::savepoint::{write_savepoint, SavepointRequest};
use crate::checkpoint::shared::{CheckpointShared, CompletedCheckpoint, ShardReport};
use crate::checkpoint::store::snapshot_name;
use crate::error::{Result, SpateError};

/// What the coordinator needs besides the shared state.
pub(crate) struct CoordinatorPlan {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) retain: usize,
    pub(crate) first_epoch: u64,
    /// Every operator, with its stable id.
    pub(crate) operators: Vec<OperatorEntry>,
    /// Where the final checkpoint is also written as a savepoint (`Env::savepoint_on_finish`).
    pub(crate) savepoint_on_finish: Option<std::path::PathBuf>,
}

/// The running coordinator.
pub(crate) struct CoordinatorHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl CoordinatorHandle {
    /// Stops the coordinator (an epoch in flight is abandoned); returns the next epoch.
    pub(crate) fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or(u64::MAX / 2)
    }
}

pub(crate) fn spawn_coordinator(
    shared: Arc<CheckpointShared>,
    reports: Receiver<ShardReport>,
    plan: CoordinatorPlan,
    cpus: Arc<[usize]>,
) -> Result<CoordinatorHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::Builder::new()
        .name("spate-checkpoints".into())
        .spawn(move || {
            super::cpus::confine(&cpus);
            run(shared, reports, plan, s)
        })
        .map_err(|e| {
            SpateError::Runtime(format!("cannot start the checkpoint coordinator: {e}"))
        })?;
    Ok(CoordinatorHandle {
        stop,
        thread: Some(thread),
    })
}

type Gathered = (Vec<FileEntry>, Vec<SourceEntry>);

/// What the coordinator gathers between decisions.
#[derive(Default)]
struct Pending {
    /// Acknowledged files and offsets by epoch.
    gathered: HashMap<u64, Gathered>,
    /// Savepoints asked for, waiting for the next trigger.
    waiting: Vec<SavepointRequest>,
    /// Savepoints served by an epoch in flight.
    assigned: HashMap<u64, Vec<SavepointRequest>>,
    /// When the epoch in flight was triggered.
    triggered: Option<(u64, Instant)>,
}

fn run(
    shared: Arc<CheckpointShared>,
    reports: Receiver<ShardReport>,
    plan: CoordinatorPlan,
    stop: Arc<AtomicBool>,
) -> u64 {
    let start = Instant::now();
    let mut c = Coordinator::new(
        shared.shards,
        plan.interval.as_millis() as u64,
        plan.timeout.as_millis() as u64,
        plan.first_epoch,
    );
    let mut p = Pending::default();
    let tick = (plan.interval / 4).clamp(Duration::from_millis(1), Duration::from_millis(20));
    while !stop.load(Ordering::SeqCst) {
        let asked = shared.take_savepoint_requests();
        if !asked.is_empty() {
            c.request_now();
            p.waiting.extend(asked);
        }
        let now = start.elapsed().as_millis() as u64;
        let d = c.on_tick(now);
        act(&shared, &plan, &mut p, d);
        match reports.recv_timeout(tick) {
            Ok(ShardReport::Ack {
                epoch,
                shard,
                files,
                sources,
            }) => {
                let g = p.gathered.entry(epoch).or_default();
                g.0.extend(files);
                g.1.extend(sources);
                let d = c.on_ack(epoch, shard);
                act(&shared, &plan, &mut p, d);
            }
            Ok(ShardReport::Decline {
                epoch,
                shard,
                reason,
            }) => {
                let d = c.on_decline(epoch, shard, &reason);
                act(&shared, &plan, &mut p, d);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    c.next_epoch()
}

fn act(shared: &CheckpointShared, plan: &CoordinatorPlan, p: &mut Pending, d: Decision) {
    match d {
        Decision::Wait => {}
        Decision::Trigger(epoch) => {
            p.gathered.retain(|e, _| *e >= epoch);
            if !p.waiting.is_empty() {
                p.assigned.insert(epoch, std::mem::take(&mut p.waiting));
                shared.mark_savepoint(epoch); // savepoints stay aligned
            }
            p.triggered = Some((epoch, Instant::now()));
            tracing::debug!(epoch, "checkpoint triggered");
            shared.trigger(epoch);
        }
        Decision::Complete(epoch) => {
            let (files, sources) = p.gathered.remove(&epoch).unwrap_or_default();
            let savepoints = p.assigned.remove(&epoch).unwrap_or_default();
            let m = Manifest {
                kind: Kind::Checkpoint,
                epoch,
                finished: false,
                shards: shared.shards,
                max_parallelism: shared.max_parallelism,
                operators: plan.operators.clone(),
                sources,
                files,
            };
            // The savepoints are written before retention may delete the epoch's files.
            for sp in savepoints {
                let r = write_savepoint(&shared.store, &m, &sp.dir);
                sp.answer(r);
            }
            let bytes = m.files.iter().map(|f| f.size).sum();
            match commit(shared, &m, plan.retain) {
                Ok(()) => {
                    shared.completed_epoch(epoch);
                    let duration = match p.triggered {
                        Some((e, at)) if e == epoch => at.elapsed(),
                        _ => Duration::ZERO,
                    };
                    let micros = duration.as_micros() as u64;
                    tracing::debug!(epoch, micros, bytes, "checkpoint complete"); // trigger → manifest
                    if let Ok(mut v) = shared.completed.lock() {
                        v.push(CompletedCheckpoint {
                            epoch,
                            duration,
                            bytes,
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(epoch, error = %e, "checkpoint failed to commit");
                    let _ = std::fs::remove_dir_all(shared.store.epoch_dir(epoch));
                }
            }
        }
        Decision::Decline { epoch, reason } => {
            tracing::warn!(epoch, reason = %reason, "checkpoint declined");
            p.gathered.remove(&epoch);
            for sp in p.assigned.remove(&epoch).unwrap_or_default() {
                sp.answer(Err(SpateError::Runtime(format!(
                    "the savepoint's epoch {epoch} failed: {reason}"
                ))));
            }
            let _ = std::fs::remove_dir_all(shared.store.epoch_dir(epoch));
        }
    }
}

/// Writes the manifest, then publishes the sinks' output up to its epoch and applies
/// retention.
fn commit(shared: &CheckpointShared, m: &Manifest, retain: usize) -> Result<()> {
    shared.store.write_manifest(m)?;
    let up_to = if m.finished { u64::MAX } else { m.epoch };
    let dirs = shared
        .sink_dirs
        .lock()
        .map(|d| d.clone())
        .unwrap_or_default();
    for d in dirs {
        crate::io::publish_staged(&d, up_to)?;
    }
    shared.store.retain(retain);
    Ok(())
}

/// The checkpoint taken when the job has ended on every shard: the participants' final
/// parts, written synchronously (nothing runs any more), marked finished.
pub(crate) fn final_checkpoint(
    shared: &CheckpointShared,
    epoch: u64,
    per_shard: Vec<Vec<(usize, Part)>>,
    operators: Vec<OperatorEntry>,
    retain: usize,
    savepoint: Option<&std::path::Path>,
) -> Result<()> {
    let dir = shared.store.create_epoch_dir(epoch)?;
    let mut m = Manifest {
        kind: Kind::Checkpoint,
        epoch,
        finished: true,
        shards: shared.shards,
        max_parallelism: shared.max_parallelism,
        operators,
        ..Default::default()
    };
    for (shard, parts) in per_shard.into_iter().enumerate() {
        for (node, part) in parts {
            let (bytes, linked) = match part {
                Part::Offsets { splits, offsets } => {
                    m.sources
                        .extend(offsets.into_iter().map(|(split, offset)| SourceEntry {
                            node,
                            splits,
                            split,
                            offset,
                        }));
                    continue;
                }
                Part::State(bytes) => (bytes, Default::default()),
                Part::StateFiles(bytes, linked) => (bytes, linked),
            };
            use std::io::Write;
            let name = snapshot_name(node, shard);
            let p = dir.join(&name);
            let mut f = std::fs::File::create(&p).map_err(|e| SpateError::io(&p, e))?;
            f.write_all(&bytes)
                .and_then(|_| f.sync_all())
                .map_err(|e| SpateError::io(&p, e))?;
            m.files.push(FileEntry {
                name,
                size: bytes.len() as u64,
                crc: crate::checkpoint::crc32(&bytes),
            });
            crate::state::mmap::checkpointing::sync_blocking(&linked)?;
            m.files
                .extend(crate::state::mmap::checkpointing::link_into(&dir, &linked)?);
        }
    }
    crate::checkpoint::store::sync_dir(&dir)?;
    if let Some(sp) = savepoint {
        write_savepoint(&shared.store, &m, sp)?;
    }
    commit(shared, &m, retain)
}
