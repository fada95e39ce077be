//! The generic single-input operator node: per-operator logic plus the shared plumbing
//! (output, side outputs, watermark tracking, flushing, end-of-stream).

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::{Batch, OnInput, OpInfo, Output, Port, Push, SideOutputs};
use crate::checkpoint::format::{SnapshotBuilder, SnapshotHeader, FINAL_EPOCH};
use crate::checkpoint::registry::{restore_view, RestoreView};
use crate::error::Result;
use crate::graph::{Instantiate, NodeFactory, ShardBuild, ShardNode, Wired};
use crate::runtime::{Part, ShardSnapshots};
use crate::time::{Clock, Timestamp, MIN_WATERMARK};

/// What a single-input operator's logic sees besides its input.
pub(crate) struct UnaryCx<'a, O> {
    pub(crate) out: &'a mut Output<O>,
    pub(crate) sides: &'a mut SideOutputs,
    pub(crate) info: &'a OpInfo,
    pub(crate) watermark: Timestamp,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) shards: usize,
}

/// The logic of a single-input operator. Instances are cloned once per shard.
pub(crate) trait Unary: Clone + Send + 'static {
    type In: Clone + 'static;
    type Out: Clone + 'static;
    /// Processes a batch (may drain it).
    fn on_batch(
        &mut self,
        batch: &mut Batch<Self::In>,
        cx: &mut UnaryCx<'_, Self::Out>,
    ) -> Result<()>;
    /// Event time reached `wm`, before it is forwarded. `false` swallows it.
    fn on_watermark(&mut self, _wm: Timestamp, _cx: &mut UnaryCx<'_, Self::Out>) -> Result<bool> {
        Ok(true)
    }
    /// Barrier `epoch` arrived, before it is forwarded.
    fn on_barrier(&mut self, _epoch: u64, _cx: &mut UnaryCx<'_, Self::Out>) -> Result<()> {
        Ok(())
    }
    /// The input went idle or active again, before that is forwarded. `false` swallows it
    /// (an operator that makes its own watermarks decides its own idleness).
    fn on_idle(&mut self, _idle: bool, _cx: &mut UnaryCx<'_, Self::Out>) -> Result<bool> {
        Ok(true)
    }
    /// The input ended, before the outputs end.
    fn on_end(&mut self, _cx: &mut UnaryCx<'_, Self::Out>) -> Result<()> {
        Ok(())
    }
    /// Called after wiring with the shared operator, to start driver tasks (timers).
    fn on_wired(_op: &Rc<RefCell<UnaryOp<Self>>>, _cx: &mut ShardBuild) {}
    /// Called once on the prototype before instances are made.
    fn prepare(&mut self, _cfg: &crate::graph::JobConfig) -> Result<()> {
        Ok(())
    }
    /// How the logic takes part in checkpoints: `Ok(false)` holds no state, `Ok(true)`
    /// snapshots at every barrier, `Err` says why it cannot (the default: a job with
    /// checkpoints then refuses to start rather than lose the state on recovery).
    fn checkpoint_role(&mut self) -> std::result::Result<bool, String> {
        Err("it cannot snapshot its state yet, so recovery would lose it".into())
    }
    /// Writes the logic's state into the snapshot of the current barrier (role `Ok(true)`).
    fn snapshot(&mut self, _b: &mut SnapshotBuilder) -> std::result::Result<(), String> {
        Ok(())
    }
    /// Starts the snapshot of the current barrier in `b`. The default writes it whole
    /// ([`snapshot`](Self::snapshot)) and returns it. A logic with copy-on-write snapshots
    /// only freezes here what cannot be kept as it was otherwise (its key list, its timers)
    /// and returns `None`: [`snapshot_step`](Self::snapshot_step) then encodes the rest
    /// while records go on, each entry encoded before its first change after the barrier.
    fn begin_snapshot(
        &mut self,
        mut b: SnapshotBuilder,
    ) -> std::result::Result<Option<SnapshotBuilder>, String> {
        self.snapshot(&mut b)?;
        Ok(Some(b))
    }
    /// Encodes up to `budget` more entries of the snapshot [`begin_snapshot`] left
    /// unfinished; returns it once complete.
    ///
    /// [`begin_snapshot`]: Self::begin_snapshot
    fn snapshot_step(
        &mut self,
        _budget: usize,
    ) -> std::result::Result<Option<SnapshotBuilder>, String> {
        Err("no snapshot in progress".into())
    }
    /// `true` when [`begin_snapshot`](Self::begin_snapshot) may leave a snapshot to
    /// finish in steps (the operator then gets a task that finishes it while no batch
    /// comes).
    fn snapshots_in_steps(&self) -> bool {
        false
    }
    /// Binds file-backed (mmap) state handles to their working directory (on the instance
    /// of one shard, before a restore and before it runs).
    fn bind(&mut self, _cx: &crate::state::mmap::BindCx) -> std::result::Result<(), String> {
        Ok(())
    }
    /// Restores the state a snapshot held (on the instance of one shard, before it runs).
    fn restore(&mut self, _v: &RestoreView) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// A stateful operator's place among its shard's checkpoint participants. Clones share the
/// place (a two-input operator's in-flight data goes into its own snapshot file).
#[derive(Clone)]
pub(crate) struct Participant {
    snaps: Rc<ShardSnapshots>,
    id: usize,
    node: usize,
    /// The epoch whose snapshot is held back until its in-flight data is recorded
    /// (unaligned checkpoints), and that snapshot once taken.
    deferred: Rc<RefCell<(u64, Option<SnapshotBuilder>)>>,
}

impl Participant {
    /// Registers operator `node` with its shard's snapshots.
    pub(crate) fn new(snaps: &Rc<ShardSnapshots>, node: usize) -> Self {
        Participant {
            snaps: snaps.clone(),
            id: snaps.register(node),
            node,
            deferred: Rc::new(RefCell::new((0, None))),
        }
    }

    /// An empty snapshot file of `epoch` for this operator on `shard`.
    pub(crate) fn builder(&self, epoch: u64, shard: usize) -> SnapshotBuilder {
        let shared = &self.snaps.shared;
        let header = SnapshotHeader {
            epoch,
            operator: self.node as u32,
            shard: shard as u32,
            shards: shared.shards as u32,
            max_parallelism: shared.max_parallelism as u32,
        };
        SnapshotBuilder::with_buffer(header, self.snaps.buffer())
    }

    /// Like [`builder`](Participant::builder), for an operator whose state may hold
    /// file-backed (mmap) handles: they export their segments into the epoch's directory.
    pub(crate) fn file_builder(&self, epoch: u64, shard: usize) -> SnapshotBuilder {
        let mut b = self.builder(epoch, shard);
        b.files = Some(crate::state::mmap::checkpointing::FilesOut {
            epoch_dir: self.snaps.shared.store.epoch_dir(epoch),
            rel: format!("mmap-n{}-s{}", self.node, shard),
            files: Default::default(),
        });
        b.chain = self.snaps.shared.chain_cx(epoch);
        b
    }

    /// Hands in the snapshot `b` made by [`file_builder`](Participant::file_builder), with
    /// the segment files its handles exported.
    pub(crate) fn hand_in_files(&self, epoch: u64, mut b: SnapshotBuilder) {
        let linked = b.files.take().map(|f| f.files).unwrap_or_default();
        let bytes = b.finish();
        let part = if linked.files.is_empty() {
            Part::State(bytes)
        } else {
            Part::StateFiles(bytes, linked)
        };
        if epoch == FINAL_EPOCH {
            self.snaps.finish(self.id, part);
        } else {
            self.snaps.deposit(epoch, self.id, part);
        }
    }

    /// What the shard's checkpoints share (the configuration among it).
    pub(crate) fn shared(&self) -> &Arc<crate::checkpoint::shared::CheckpointShared> {
        &self.snaps.shared
    }

    /// Hands in the snapshot taken at barrier `epoch` (`FINAL_EPOCH`: the input ended).
    pub(crate) fn hand_in(&self, epoch: u64, bytes: Vec<u8>) {
        if epoch == FINAL_EPOCH {
            self.snaps.finish(self.id, Part::State(bytes));
        } else {
            self.snaps.deposit(epoch, self.id, Part::State(bytes));
        }
    }

    /// Hands in the snapshot taken at barrier `epoch`, or keeps it while the epoch's
    /// in-flight data is being recorded ([`defer`](Participant::defer)).
    pub(crate) fn hand_in_builder(&self, epoch: u64, b: SnapshotBuilder) {
        let mut d = self.deferred.borrow_mut();
        if d.0 == epoch && epoch != FINAL_EPOCH {
            d.1 = Some(b);
        } else {
            drop(d);
            self.hand_in_files(epoch, b);
        }
    }

    /// The snapshot of `epoch` is to be kept until [`take_deferred`](Self::take_deferred).
    pub(crate) fn defer(&self, epoch: u64) {
        *self.deferred.borrow_mut() = (epoch, None);
    }

    /// The snapshot of `epoch` kept back, if any; ends the deferral.
    pub(crate) fn take_deferred(&self, epoch: u64) -> Option<SnapshotBuilder> {
        let mut d = self.deferred.borrow_mut();
        if d.0 != epoch {
            return None;
        }
        d.0 = 0;
        d.1.take()
    }

    /// Takes part in `epoch` with nothing to write (`FINAL_EPOCH`: the input ended).
    pub(crate) fn hand_in_nothing(&self, epoch: u64) {
        let nothing = Part::Offsets {
            splits: 0,
            offsets: Vec::new(),
        };
        if epoch == FINAL_EPOCH {
            self.snaps.finish(self.id, nothing);
        } else {
            self.snaps.deposit(epoch, self.id, nothing);
        }
    }
}

/// A wired single-input operator instance.
pub(crate) struct UnaryOp<U: Unary> {
    pub(crate) logic: U,
    pub(crate) out: Output<U::Out>,
    pub(crate) sides: SideOutputs,
    pub(crate) info: OpInfo,
    pub(crate) watermark: Timestamp,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ended: bool,
    pub(crate) shards: usize,
    pub(crate) participant: Option<Participant>,
    /// The epoch whose snapshot the logic is encoding in steps (copy-on-write), if any.
    pub(crate) staged: Option<u64>,
    /// Entries per step of such a snapshot (0: whole snapshots at the barrier).
    pub(crate) step: usize,
}

impl<U: Unary> UnaryOp<U> {
    /// Runs `f` with the logic and its context, then flushes all outputs.
    pub(crate) fn with_cx<R>(
        &mut self,
        f: impl FnOnce(&mut U, &mut UnaryCx<'_, U::Out>) -> Result<R>,
    ) -> Result<R> {
        let mut cx = UnaryCx {
            out: &mut self.out,
            sides: &mut self.sides,
            info: &self.info,
            watermark: self.watermark,
            clock: &*self.clock,
            shards: self.shards,
        };
        let r = f(&mut self.logic, &mut cx)?;
        self.out.flush()?;
        self.sides.flush()?;
        Ok(r)
    }
}

impl<U: Unary> UnaryOp<U> {
    /// Hands in the logic's snapshot for `epoch`, when it takes part in checkpoints, or
    /// begins it, to be finished in steps (copy-on-write). A snapshot still in steps is
    /// finished first; the final one (`FINAL_EPOCH`) is taken whole.
    fn take_snapshot(&mut self, epoch: u64) -> Result<()> {
        self.finish_staged()?;
        let Some(p) = &self.participant else {
            return Ok(());
        };
        let mut b = p.file_builder(epoch, self.info.shard);
        let failed = |why| snapshot_failed(&self.info, why);
        if self.step == 0 || epoch == FINAL_EPOCH {
            self.logic.snapshot(&mut b).map_err(failed)?;
        } else {
            match self.logic.begin_snapshot(b).map_err(failed)? {
                Some(done) => b = done,
                None => {
                    self.staged = Some(epoch);
                    return Ok(());
                }
            }
        }
        p.hand_in_files(epoch, b);
        Ok(())
    }

    /// Encodes the next `budget` entries of the snapshot in steps, handing it in once
    /// complete.
    #[cold]
    pub(crate) fn snapshot_step(&mut self, budget: usize) -> Result<()> {
        let Some(epoch) = self.staged else {
            return Ok(());
        };
        let done = self
            .logic
            .snapshot_step(budget)
            .map_err(|why| snapshot_failed(&self.info, why))?;
        if let Some(b) = done {
            self.staged = None;
            if let Some(p) = &self.participant {
                p.hand_in_files(epoch, b);
            }
        }
        Ok(())
    }
}

impl<U: Unary> OnInput<U::In> for UnaryOp<U> {
    #[inline]
    fn on_batch(&mut self, _input: usize, batch: &mut Batch<U::In>) -> Result<()> {
        self.with_cx(|l, cx| l.on_batch(batch, cx))?;
        self.step_after_work()?;
        Ok(())
    }

    fn on_watermark(&mut self, _input: usize, wm: Timestamp) -> Result<()> {
        if wm <= self.watermark {
            return Ok(());
        }
        self.watermark = wm;
        if self.with_cx(|l, cx| l.on_watermark(wm, cx))? {
            self.out.watermark(wm)?;
            self.sides.watermark(wm)?;
        }
        self.step_after_work()?;
        Ok(())
    }

    fn on_idle(&mut self, _input: usize, idle: bool) -> Result<()> {
        if self.with_cx(|l, cx| l.on_idle(idle, cx))? {
            self.out.idle(idle)?;
            self.sides.idle(idle)?;
        }
        Ok(())
    }

    fn on_barrier(&mut self, _input: usize, epoch: u64) -> Result<()> {
        self.with_cx(|l, cx| l.on_barrier(epoch, cx))?;
        self.take_snapshot(epoch)?;
        self.out.barrier(epoch)?;
        self.sides.barrier(epoch)
    }

    fn on_end(&mut self, _input: usize) -> Result<()> {
        self.with_cx(|l, cx| l.on_end(cx))?;
        self.take_snapshot(FINAL_EPOCH)?;
        self.ended = true;
        self.out.end()?;
        self.sides.end()
    }
}

/// The job's error when operator `info` cannot snapshot its state.
fn snapshot_failed(info: &OpInfo, why: String) -> crate::error::SpateError {
    crate::error::SpateError::Config(format!(
        "operator '{}' cannot snapshot its state: {why}",
        info.name
    ))
}

/// Makes per-shard instances of a [`Unary`] logic by cloning a prototype.
pub(crate) struct UnaryFactory<U>(pub(crate) U);

impl<U: Unary> NodeFactory for UnaryFactory<U> {
    fn prepare(&mut self, cfg: &crate::graph::JobConfig) -> Result<()> {
        self.0.prepare(cfg)
    }

    fn checkpoint_role(&mut self) -> std::result::Result<(), String> {
        self.0.checkpoint_role().map(|_| ())
    }

    fn instantiate(&mut self, cx: &Instantiate<'_>) -> Result<Box<dyn ShardNode>> {
        let mut u = self.0.clone();
        let bind = crate::state::mmap::BindCx::for_instance(cx.cfg, cx.node, cx.shard);
        u.bind(&bind).map_err(|why| {
            crate::error::SpateError::Config(format!(
                "cannot open the state of node {}: {why}",
                cx.node
            ))
        })?;
        if let Some(r) = cx.cfg.restored() {
            if u.checkpoint_role() == Ok(true) {
                let view =
                    restore_view(r, cx.node, cx.shard, cx.cfg.shards, cx.cfg.max_parallelism)
                        .and_then(|v| u.restore(&v))
                        .map_err(|why| {
                            crate::error::SpateError::Config(format!(
                                "cannot restore node {} from checkpoint {}: {why}",
                                cx.node, r.manifest.epoch
                            ))
                        });
                view?;
            }
        }
        Ok(Box::new(UnaryShard(u)))
    }
}

struct UnaryShard<U>(U);

impl<U: Unary> ShardNode for UnaryShard<U> {
    fn wire(
        self: Box<Self>,
        mut outputs: Vec<Vec<Box<dyn Any>>>,
        cx: &mut ShardBuild,
    ) -> Result<Box<dyn Wired>> {
        let mut logic = self.0;
        let participant = match &cx.snapshots {
            Some(snaps) if logic.checkpoint_role() == Ok(true) => {
                Some(Participant::new(snaps, cx.node))
            }
            _ => None,
        };
        let step = match &participant {
            Some(p) => p.shared().snapshot_step,
            None => 0,
        };
        let main = std::mem::take(&mut outputs[0]);
        let out = cx.output::<U::Out>(main)?;
        let sides = cx.side_outputs(outputs.split_off(1))?;
        let op = Rc::new(RefCell::new(UnaryOp {
            logic,
            out,
            sides,
            info: OpInfo {
                name: cx.name.clone(),
                shard: cx.shard,
            },
            watermark: MIN_WATERMARK,
            clock: cx.cfg.clock.clone(),
            ended: false,
            shards: cx.cfg.shards,
            participant,
            staged: None,
            step,
        }));
        U::on_wired(&op, cx);
        if step > 0 && op.borrow().logic.snapshots_in_steps() {
            drive_staged_snapshots(op.clone(), cx);
        }
        Ok(Box::new(OpWired {
            op,
            node: cx.node,
            _t: PhantomData::<fn(U::In)>,
        }))
    }
}

/// Hands out ports into a shared operator whose inputs all have type `T`.
pub(crate) struct OpWired<O, T> {
    pub(crate) op: Rc<RefCell<O>>,
    pub(crate) node: usize,
    pub(crate) _t: PhantomData<fn(T)>,
}

impl<O: OnInput<T> + 'static, T: 'static> Wired for OpWired<O, T> {
    fn input(&mut self, input: usize) -> Box<dyn Any> {
        let p: Box<dyn Push<T>> = Box::new(Port::<O, T>::new(self.op.clone(), input, self.node));
        Box::new(p)
    }
}

/// An operator that may finish its snapshots in steps after the barrier (copy-on-write).
pub(crate) trait StagedSnapshots {
    /// Its input ended (no snapshot will be staged any more).
    fn input_ended(&self) -> bool;
    /// A snapshot is in steps.
    fn staged(&self) -> bool;
    /// Entries per step.
    fn step_size(&self) -> usize;
    /// Takes a step of `budget` entries, handing the snapshot in once complete.
    fn step_staged(&mut self, budget: usize) -> Result<()>;
    /// Finishes a snapshot still in steps at once (a barrier or the end came).
    fn finish_staged(&mut self) -> Result<()> {
        while self.staged() {
            self.step_staged(usize::MAX)?;
        }
        Ok(())
    }
    /// A step after the data path's work (a batch, a watermark), while a snapshot is in
    /// steps.
    #[inline]
    fn step_after_work(&mut self) -> Result<()> {
        if self.staged() {
            self.step_staged(self.step_size())?;
        }
        Ok(())
    }
}

/// The [`StagedSnapshots`] methods of a two-input operator with fields `ended` and
/// `staged` (a [`StagedFile`]) and a method `snapshot_step(budget)`.
macro_rules! staged_snapshot_fields {
    () => {
        fn input_ended(&self) -> bool {
            self.ended
        }
        fn staged(&self) -> bool {
            self.staged.is_some()
        }
        fn step_size(&self) -> usize {
            self.staged.step
        }
        fn step_staged(&mut self, budget: usize) -> $crate::error::Result<()> {
            self.snapshot_step(budget)
        }
    };
}
pub(crate) use staged_snapshot_fields;

impl<U: Unary> StagedSnapshots for UnaryOp<U> {
    fn input_ended(&self) -> bool {
        self.ended
    }
    fn staged(&self) -> bool {
        self.staged.is_some()
    }
    fn step_size(&self) -> usize {
        self.step
    }
    fn step_staged(&mut self, budget: usize) -> Result<()> {
        self.snapshot_step(budget)
    }
}

/// A two-input operator's snapshot file while its copy-on-write steps are not done (its
/// epoch with it), and the entries per step; handed in through `hand_in_builder` once
/// complete.
pub(crate) struct StagedFile {
    held: Option<(u64, SnapshotBuilder)>,
    /// Entries per step (0: whole snapshots at the barrier).
    pub(crate) step: usize,
}

impl StagedFile {
    /// For a two-input operator taking part through `p`: snapshots in steps only with
    /// aligned checkpoints (an unaligned one completes the operator's snapshot with the
    /// in-flight data at once).
    pub(crate) fn two_inputs(p: Option<&Participant>) -> Self {
        let step = match p {
            Some(p) if !p.shared().unaligned => p.shared().snapshot_step,
            _ => 0,
        };
        StagedFile { held: None, step }
    }

    /// A file is held.
    pub(crate) fn is_some(&self) -> bool {
        self.held.is_some()
    }

    /// Whether the snapshot at barrier `epoch` is taken whole.
    pub(crate) fn whole(&self, epoch: u64) -> bool {
        self.step == 0 || epoch == FINAL_EPOCH
    }

    /// Hands `b`, the snapshot of `epoch`, in through `p`, or holds it while `copying`.
    pub(crate) fn hand_in_or_hold(
        &mut self,
        p: &Participant,
        epoch: u64,
        b: SnapshotBuilder,
        copying: bool,
    ) {
        if copying {
            self.held = Some((epoch, b));
        } else {
            p.hand_in_builder(epoch, b);
        }
    }

    /// Runs `step` on the held file (`true`: the file is complete), handing it in through
    /// `p` once complete.
    pub(crate) fn step(
        &mut self,
        p: Option<&Participant>,
        step: impl FnOnce(&mut SnapshotBuilder) -> std::result::Result<bool, String>,
    ) -> std::result::Result<(), String> {
        let Some((_, b)) = self.held.as_mut() else {
            return Ok(());
        };
        if step(b)? {
            if let (Some((epoch, b)), Some(p)) = (self.held.take(), p) {
                p.hand_in_builder(epoch, b);
            }
        }
        Ok(())
    }
}

/// Finishes `op`'s snapshots in steps whether batches come or not: while one is in steps,
/// steps for about a millisecond at a time and then lets the shard's other tasks run (so a
/// large state on an idle input is done at the speed of a whole snapshot, and a busy shard
/// waits at most that long); looks again every 5 ms otherwise; ends with the operator's
/// input.
pub(crate) fn drive_staged_snapshots<S: StagedSnapshots + 'static>(
    op: Rc<RefCell<S>>,
    cx: &mut ShardBuild,
) {
    use crate::runtime::task::{sleep, yield_now};
    use std::time::{Duration, Instant};
    let (cancel, node) = (cx.cfg.cancel.clone(), cx.node);
    cx.drive(async move {
        loop {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(crate::error::SpateError::Cancelled);
            }
            let staged = {
                let o = op.borrow();
                if o.input_ended() {
                    return Ok(());
                }
                o.staged()
            };
            if !staged {
                sleep(Duration::from_millis(5)).await;
                continue;
            }
            {
                let _g = super::OperatorGuard::enter(node);
                let mut o = op.borrow_mut();
                let (step, start) = (o.step_size(), Instant::now());
                while o.staged() && start.elapsed() < Duration::from_millis(1) {
                    o.step_staged(step)?;
                }
            }
            yield_now().await;
        }
    });
}
