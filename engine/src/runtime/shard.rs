//! Shard threads: start, wire, run the drivers, report, and always join.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use futures_lite::FutureExt;
use glommio::{LocalExecutorBuilder, Placement};

use super::lifecycle::{JobEvent, JobState};
use super::task::spawn;
use crate::error::{Result, SpateError};
use crate::graph::{wire_shard, JobConfig, NodeId, ShardNode, SpecSummary};
use crate::operators::current_operator;

/// A job ready to run: the graph summary and every shard's node instances.
pub(crate) struct JobPlan {
    pub(crate) specs: Vec<SpecSummary>,
    pub(crate) instances: Vec<Vec<Box<dyn ShardNode>>>,
    pub(crate) cfg: JobConfig,
    pub(crate) io_memory: usize,
    /// How long an idle shard polls before it sleeps (only when pinned: with more shards
    /// than cores a spinning shard would take the core another one needs).
    pub(crate) idle_spin: std::time::Duration,
    /// The coordinator's plan and the shards' reports, when the job takes checkpoints.
    pub(crate) checkpoint: Option<(
        crossbeam::channel::Receiver<crate::checkpoint::shared::ShardReport>,
        super::CoordinatorPlan,
    )>,
}

/// Records emitted per node on one shard.
pub(crate) type ShardCounts = Vec<(NodeId, Arc<str>, u64)>;

/// What a shard returns: its counts and, with checkpoints, its participants' final parts.
type ShardOutcome = (ShardCounts, Option<Vec<(NodeId, super::Part)>>);

/// Runs the plan to completion on its shards; returns the final state and every shard's
/// counts, or the job's error.
pub(crate) fn run_job(plan: JobPlan) -> (JobState, Result<Vec<ShardCounts>>) {
    let JobPlan {
        specs,
        instances,
        cfg,
        io_memory,
        idle_spin,
        checkpoint,
    } = plan;
    let coordinator = match (&cfg.checkpoint, checkpoint) {
        (Some(shared), Some((reports, cplan))) => {
            let retain = cplan.retain;
            let fin = (cplan.operators.clone(), cplan.savepoint_on_finish.clone());
            match super::coordinator::spawn_coordinator(
                shared.clone(),
                reports,
                cplan,
                cfg.cpus.clone(),
            ) {
                Ok(h) => Some((h, shared.clone(), retain, fin)),
                Err(e) => return (JobState::Done { failed: true }, Err(e)),
            }
        }
        _ => None,
    };
    let shards = instances.len();
    let cpus = cfg.cpus.clone();
    // Pinned only to CPUs glommio can place an executor on (it checks them against the
    // topology it reads from /sys; where it cannot, shards run unpinned on the job's cores).
    let online = super::cpus::online().unwrap_or_default();
    let pin = shards <= cpus.len() && cpus[..shards].iter().all(|c| online.contains(c));
    if shards > cpus.len() && !cpus.is_empty() {
        tracing::warn!(
            shards,
            cores = cpus.len(),
            "more shards than cores: the shards share the job's cores unpinned (Env::cores)"
        );
    }
    let startup = Arc::new(Barrier::new(shards));
    let startup_failed = Arc::new(AtomicBool::new(false));
    let mut state = JobState::Building;
    let mut handles = Vec::with_capacity(shards);
    let mut spawn_error = None;
    for (shard, nodes) in instances.into_iter().enumerate() {
        let placement = if pin {
            Placement::Fixed(cpus[shard])
        } else {
            Placement::Unbound
        };
        let job_cpus = cpus.clone();
        let (specs, cfg) = (specs.clone(), cfg.clone());
        let (barrier, failed) = (startup.clone(), startup_failed.clone());
        let h = std::thread::Builder::new()
            .name(format!("spate-shard-{shard}"))
            .spawn(move || {
                if !pin {
                    // More shards than cores: they share the job's cores.
                    super::cpus::confine(&job_cpus);
                }
                let ex = LocalExecutorBuilder::new(placement)
                    .name(&format!("spate-shard-{shard}"))
                    .io_memory(io_memory)
                    .spin_before_park(if pin {
                        idle_spin
                    } else {
                        std::time::Duration::ZERO
                    })
                    .make();
                if ex.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                barrier.wait();
                let ex = ex.map_err(|e| {
                    SpateError::Runtime(format!("cannot start the executor of shard {shard}: {e}"))
                })?;
                if failed.load(Ordering::SeqCst) {
                    return Err(SpateError::PeerFailed { shard });
                }
                let names: Vec<Arc<str>> = specs.iter().map(|s| s.name.clone()).collect();
                let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    ex.run(shard_main(shard, specs, nodes, cfg.clone()))
                }));
                let r = run.unwrap_or_else(|p| Err(panic_error(p, &names, shard, "shard")));
                if r.is_err() {
                    cfg.cancel.store(true, Ordering::SeqCst);
                }
                r
            });
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                // The threads already started wait at the startup barrier for this one:
                // mark the start failed and let them through with stand-in waits.
                startup_failed.store(true, Ordering::SeqCst);
                spawn_error = Some(SpateError::Runtime(format!(
                    "cannot start shard thread: {e}"
                )));
                for _ in handles.len()..shards {
                    let b = startup.clone();
                    std::thread::spawn(move || b.wait());
                }
                break;
            }
        }
    }
    if spawn_error.is_none() {
        state = state.on(JobEvent::Started);
    }
    let mut results = Vec::with_capacity(shards);
    for h in handles {
        let r = h
            .join()
            .unwrap_or_else(|_| Err(SpateError::Internal("a shard thread panicked".into())));
        state = state.on(if r.is_ok() {
            JobEvent::ShardFinished
        } else {
            JobEvent::ShardFailed
        });
        results.push(r);
    }
    if let Some(e) = spawn_error {
        state = state.on(JobEvent::ShardFailed);
        results.push(Err(e));
    }
    state = state.on(JobEvent::AllJoined);
    let result = pick_result(results);
    let Some((handle, shared, retain, (operators, savepoint))) = coordinator else {
        return (state, result.map(|r| r.into_iter().map(|o| o.0).collect()));
    };
    let next_epoch = handle.stop();
    let outcomes = match result {
        Ok(o) => o,
        Err(e) => return (state, Err(e)),
    };
    let mut counts = Vec::with_capacity(outcomes.len());
    let mut finals = Some(Vec::with_capacity(outcomes.len()));
    for (c, f) in outcomes {
        counts.push(c);
        finals = match (finals, f) {
            (Some(mut v), Some(f)) => {
                v.push(f);
                Some(v)
            }
            _ => None,
        };
    }
    if let Some(finals) = finals {
        let sp = savepoint.as_deref();
        if let Err(e) =
            super::coordinator::final_checkpoint(&shared, next_epoch, finals, operators, retain, sp)
        {
            return (JobState::Done { failed: true }, Err(e));
        }
    } else if savepoint.is_some() {
        let e = SpateError::Runtime(
            "the job ended without its final checkpoint: no savepoint was written".into(),
        );
        return (JobState::Done { failed: true }, Err(e));
    }
    (state, Ok(counts))
}

/// All counts, or the first error that is not a consequence of another shard's failure;
/// of those that are, `Cancelled` when any shard says so (a shard that saw its peers stop
/// before it saw the cancel says `PeerFailed`).
fn pick_result(results: Vec<Result<ShardOutcome>>) -> Result<Vec<ShardOutcome>> {
    let mut secondary = None;
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(c) => out.push(c),
            Err(e) if e.is_secondary() => {
                if secondary.is_none() || matches!(e, SpateError::Cancelled) {
                    secondary = Some(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    match secondary {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn panic_error(
    payload: Box<dyn std::any::Any + Send>,
    names: &[Arc<str>],
    shard: usize,
    fallback: &str,
) -> SpateError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into());
    let node = current_operator();
    let operator = names
        .get(node)
        .map(|n| n.to_string())
        .unwrap_or_else(|| fallback.to_string());
    SpateError::OperatorPanicked {
        operator,
        shard,
        message,
    }
}

async fn shard_main(
    shard: usize,
    specs: Vec<SpecSummary>,
    nodes: Vec<Box<dyn ShardNode>>,
    cfg: JobConfig,
) -> Result<ShardOutcome> {
    let names: Vec<Arc<str>> = specs.iter().map(|s| s.name.clone()).collect();
    let mut cx = wire_shard(&specs, nodes, shard, cfg)?;
    // Every end waits for its peer to connect, so connect them all concurrently.
    let connects: Vec<_> = cx.connects.drain(..).map(spawn).collect();
    for c in connects {
        c.await?;
    }
    let (done_tx, done_rx) = glommio::channels::local_channel::new_unbounded();
    let done_tx = std::rc::Rc::new(done_tx);
    let mut tasks = Vec::with_capacity(cx.drivers.len());
    for (name, driver) in cx.drivers.drain(..) {
        let done_tx = done_tx.clone();
        let names = names.clone();
        tasks.push(spawn(async move {
            let r = AssertUnwindSafe(driver)
                .catch_unwind()
                .await
                .unwrap_or_else(|p| Err(panic_error(p, &names, shard, &name)));
            let _ = done_tx.send(r).await;
        }));
    }
    drop(done_tx);
    for _ in 0..tasks.len() {
        match done_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e), // dropping `tasks` cancels the rest
            None => return Err(SpateError::Internal("a driver task vanished".into())),
        }
    }
    if let Some(s) = &cx.snapshots {
        s.quiesce().await;
    }
    let finals = cx.snapshots.as_ref().and_then(|s| s.final_parts());
    let counts = cx
        .counters
        .iter()
        .map(|(n, name, c)| (*n, name.clone(), c.get()))
        .collect();
    Ok((counts, finals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_job_says_so_whichever_shard_noticed_first() {
        let r = pick_result(vec![
            Err(SpateError::PeerFailed { shard: 0 }),
            Err(SpateError::Cancelled),
        ]);
        assert!(matches!(r, Err(SpateError::Cancelled)), "{r:?}");
        let r = pick_result(vec![
            Err(SpateError::PeerFailed { shard: 0 }),
            Err(SpateError::Internal("x".into())),
            Err(SpateError::Cancelled),
        ]);
        assert!(matches!(r, Err(SpateError::Internal(_))), "{r:?}");
        let r = pick_result(vec![Err(SpateError::PeerFailed { shard: 1 })]);
        assert!(
            matches!(r, Err(SpateError::PeerFailed { shard: 1 })),
            "{r:?}"
        );
    }
}
