//! The logical plan and its translation into per-shard pipelines.
//!
//! The API appends [`NodeSpec`]s in topological order (a node's inputs exist before it).
//! At `execute`, every node's [`NodeFactory`] makes one [`ShardNode`] per shard on the
//! building thread; each shard thread then wires its nodes from the sinks back to the
//! sources ([`wire_shard`]): a node receives the input ports of its consumers and returns its
//! own, and registers the tasks that drive it (sources, exchange receivers, timers).
//!
//! Reachability of exchange outboxes is computed during wiring: a driver task only waits for
//! the outboxes its own records can reach. Waiting on all of them would deadlock two shards
//! whose later stage waits for an earlier stage of the other.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::error::{Result, SpateError};
use crate::operators::{Counter, Output, Push, SideOutputs};
use crate::time::Clock;

mod uid;
pub(crate) use uid::stable_ids;

/// Index of a node in the logical graph.
pub(crate) type NodeId = usize;

/// A driver task of one shard: runs until its input is exhausted or fails.
pub(crate) type Driver = Pin<Box<dyn Future<Output = Result<()>>>>;

/// Everything a job's shards share, fixed when the job starts.
#[derive(Clone)]
pub(crate) struct JobConfig {
    pub(crate) shards: usize,
    pub(crate) batch_size: usize,
    pub(crate) max_parallelism: usize,
    pub(crate) channel_capacity: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cancel: Arc<AtomicBool>,
    /// Sources poll again at once when idle instead of sleeping.
    pub(crate) low_latency: bool,
    /// Set when the job takes checkpoints.
    pub(crate) checkpoint: Option<Arc<crate::checkpoint::shared::CheckpointShared>>,
    /// Codecs registered by type (`Env::state_type`).
    pub(crate) state_types: Arc<crate::checkpoint::types::StateTypes>,
    /// Working directory of file-backed state for this run (`StateBackend::Mmap`).
    /// And its segment size.
    pub(crate) state_dir: Option<(std::path::PathBuf, usize)>,
    /// The CPUs the job runs on (`Env::cores`, else the starting thread's): shards are
    /// pinned to them in order, the job's other threads confined to them.
    pub(crate) cpus: Arc<[usize]>,
}

impl JobConfig {
    /// The checkpoint being restored, if any.
    pub(crate) fn restored(&self) -> Option<&crate::checkpoint::store::Restored> {
        self.checkpoint.as_ref().and_then(|c| c.restored.as_deref())
    }
}

/// Builds a side-output slot of element type `X` from the consumers of its port.
pub(crate) type SideMaker =
    fn(&mut SideOutputs, u64, Vec<Box<dyn Any>>, usize, Counter) -> Result<()>;

/// A logical operator: what the API recorded.
pub(crate) struct NodeSpec {
    pub(crate) name: Arc<str>,
    /// The stable id given with `DataStream::uid` (else derived from the graph).
    pub(crate) uid: Option<Arc<str>>,
    /// `(producer, producer's output port)` for each input, in input order.
    pub(crate) inputs: Vec<(NodeId, usize)>,
    /// Output ports after the main one (port 0): side outputs, by tag id.
    pub(crate) side_ports: Vec<(u64, Arc<str>, SideMaker)>,
    pub(crate) factory: Box<dyn NodeFactory>,
}

/// What a factory knows when it makes the instance for one shard.
pub(crate) struct Instantiate<'a> {
    pub(crate) shard: usize,
    /// The node being instantiated (its stable id in checkpoints).
    pub(crate) node: NodeId,
    pub(crate) cfg: &'a JobConfig,
    /// `inputs_live[k][s]`: whether input `k`'s producer can emit anything on shard `s`.
    /// An input that cannot starts idle, so it never holds the watermark back (Flink marks
    /// source subtasks without splits idle; a non-parallel source has one consumer input).
    pub(crate) inputs_live: &'a [Vec<bool>],
}

impl Instantiate<'_> {
    /// Whether input `k` can emit anything on this shard.
    pub(crate) fn input_live(&self, k: usize) -> bool {
        self.inputs_live[k][self.shard]
    }
}

/// Makes a node's per-shard instances on the building thread.
pub(crate) trait NodeFactory {
    /// Called once before any `instantiate` (exchanges create their channels here).
    fn prepare(&mut self, _cfg: &JobConfig) -> Result<()> {
        Ok(())
    }
    /// Whether the node can take part in checkpoints (`Err` says why not). The default
    /// refuses: a stateful operator that cannot snapshot must never silently lose state.
    fn checkpoint_role(&mut self) -> std::result::Result<(), String> {
        Err("it cannot snapshot its state yet, so recovery would lose it".into())
    }
    /// The instance for one shard.
    fn instantiate(&mut self, cx: &Instantiate<'_>) -> Result<Box<dyn ShardNode>>;
}

/// One node's instance on one shard, before wiring. Moves to the shard's thread.
pub(crate) trait ShardNode: Send {
    /// Whether this instance can emit anything; `None` means "if any input can".
    fn live(&self) -> Option<bool> {
        None
    }

    /// `outputs[p]` are the consumers of output port `p`, each a `Box<dyn Push<T_p>>` in an
    /// `Any`. Returns the node's own input ports.
    fn wire(
        self: Box<Self>,
        outputs: Vec<Vec<Box<dyn Any>>>,
        cx: &mut ShardBuild,
    ) -> Result<Box<dyn Wired>>;
}

/// A wired node: hands out pushes into its inputs.
pub(crate) trait Wired {
    /// A `Box<dyn Push<T_input>>` into input `input`, in an `Any`.
    fn input(&mut self, input: usize) -> Box<dyn Any>;
}

/// Something whose pending output a driver must wait for (an exchange outbox).
pub(crate) trait Flush {
    /// The driver finished a step; `more_coming` when its input has more records ready at
    /// once. Partly filled batches are held back while more is coming (so that channels
    /// carry full batches) and released otherwise.
    fn end_of_step(&self, more_coming: bool);
    /// `true` when records wait to be sent.
    fn pending(&self) -> bool;
    /// Sends what waits, in order, waiting for channel space (back-pressure).
    fn flush(&self) -> Pin<Box<dyn Future<Output = Result<()>> + '_>>;
}

/// Ends a driver step: releases held-back batches unless `more_coming`, then waits until
/// every outbox in `reach` has sent what it holds.
pub(crate) async fn flush_all(reach: &[Rc<dyn Flush>], more_coming: bool) -> Result<()> {
    for o in reach {
        o.end_of_step(more_coming);
        if o.pending() {
            o.flush().await?;
        }
    }
    Ok(())
}

/// The per-shard wiring context handed to [`ShardNode::wire`].
pub(crate) struct ShardBuild {
    pub(crate) shard: usize,
    pub(crate) cfg: JobConfig,
    pub(crate) node: NodeId,
    pub(crate) name: Arc<str>,
    /// Outboxes reachable from this node's outputs: what its drivers wait for.
    pub(crate) down_reach: Vec<Rc<dyn Flush>>,
    /// Set by an exchange node to its own outbox.
    pub(crate) own_outbox: Option<Rc<dyn Flush>>,
    pub(crate) side_ports: Vec<(u64, Arc<str>, SideMaker)>,
    pub(crate) drivers: Vec<(Arc<str>, Driver)>,
    pub(crate) connects: Vec<Driver>,
    pub(crate) counters: Vec<(NodeId, Arc<str>, Counter)>,
    /// The shard's checkpoint participants, when the job takes checkpoints.
    pub(crate) snapshots: Option<Rc<crate::runtime::ShardSnapshots>>,
}

impl ShardBuild {
    /// A new record counter for the current node.
    pub(crate) fn counter(&mut self) -> Counter {
        let c = Counter::default();
        self.counters
            .push((self.node, self.name.clone(), c.clone()));
        c
    }

    /// The main output over the consumers of port 0.
    pub(crate) fn output<T: Clone + 'static>(
        &mut self,
        consumers: Vec<Box<dyn Any>>,
    ) -> Result<Output<T>> {
        let targets = downcast_pushes::<T>(consumers, &self.name)?;
        let counter = self.counter();
        Ok(Output::new(targets, self.cfg.batch_size, counter))
    }

    /// The side outputs over ports 1.. .
    pub(crate) fn side_outputs(&mut self, ports: Vec<Vec<Box<dyn Any>>>) -> Result<SideOutputs> {
        let mut sides = SideOutputs::default();
        let makers = std::mem::take(&mut self.side_ports);
        for ((tag, tag_name, make), consumers) in makers.into_iter().zip(ports) {
            let c = Counter::default();
            let name: Arc<str> = format!("{} [side output '{}']", self.name, tag_name).into();
            self.counters.push((self.node, name, c.clone()));
            make(&mut sides, tag, consumers, self.cfg.batch_size, c)?;
        }
        Ok(sides)
    }

    /// Registers a task that drives this node on this shard.
    pub(crate) fn drive(&mut self, f: impl Future<Output = Result<()>> + 'static) {
        self.drivers.push((self.name.clone(), Box::pin(f)));
    }
}

/// Turns consumers given as `Any` into typed pushes.
pub(crate) fn downcast_pushes<T: 'static>(
    consumers: Vec<Box<dyn Any>>,
    name: &str,
) -> Result<Vec<Box<dyn Push<T>>>> {
    consumers
        .into_iter()
        .map(|c| {
            c.downcast::<Box<dyn Push<T>>>().map(|b| *b).map_err(|_| {
                SpateError::Internal(format!("type mismatch wiring the output of '{name}'"))
            })
        })
        .collect()
}

/// Wires one shard's instances of every node; returns the build context holding the
/// drivers to run.
pub(crate) fn wire_shard(
    specs: &[SpecSummary],
    instances: Vec<Box<dyn ShardNode>>,
    shard: usize,
    cfg: JobConfig,
) -> Result<ShardBuild> {
    let n = specs.len();
    let mut consumers: Vec<Vec<(NodeId, usize, usize)>> = vec![Vec::new(); n];
    for (j, s) in specs.iter().enumerate() {
        for (k, &(i, port)) in s.inputs.iter().enumerate() {
            consumers[i].push((j, k, port));
        }
    }
    let mut wired: Vec<Option<Box<dyn Wired>>> = (0..n).map(|_| None).collect();
    let mut reach: Vec<Vec<Rc<dyn Flush>>> = vec![Vec::new(); n];
    let mut cx = ShardBuild {
        shard,
        cfg,
        node: 0,
        name: "".into(),
        down_reach: Vec::new(),
        own_outbox: None,
        side_ports: Vec::new(),
        drivers: Vec::new(),
        connects: Vec::new(),
        counters: Vec::new(),
        snapshots: None,
    };
    cx.snapshots = cx.cfg.checkpoint.clone().map(|c| {
        Rc::new(crate::runtime::ShardSnapshots::new(
            shard,
            c,
            cx.cfg.cpus.clone(),
        ))
    });
    let mut instances: Vec<Option<Box<dyn ShardNode>>> = instances.into_iter().map(Some).collect();
    for i in (0..n).rev() {
        let mut outputs: Vec<Vec<Box<dyn Any>>> = (0..=specs[i].side_ports.len())
            .map(|_| Vec::new())
            .collect();
        let mut down: Vec<Rc<dyn Flush>> = Vec::new();
        for &(j, k, port) in &consumers[i] {
            let w = wired[j]
                .as_mut()
                .ok_or_else(|| SpateError::Internal("consumer wired after producer".into()))?;
            outputs[port].push(w.input(k));
            for o in &reach[j] {
                if !down.iter().any(|d| Rc::ptr_eq(d, o)) {
                    down.push(o.clone());
                }
            }
        }
        cx.node = i;
        cx.name = specs[i].name.clone();
        cx.down_reach = down.clone();
        cx.own_outbox = None;
        cx.side_ports = specs[i].side_ports.clone();
        let inst = instances[i]
            .take()
            .ok_or_else(|| SpateError::Internal("node instantiated twice".into()))?;
        wired[i] = Some(inst.wire(outputs, &mut cx)?);
        if !cx.side_ports.is_empty() {
            return Err(SpateError::Config(format!(
                "side_output() was taken from '{}', which has no side outputs: take side outputs \
                 from process functions",
                specs[i].name
            )));
        }
        if let Some(o) = cx.own_outbox.take() {
            down.push(o);
        }
        reach[i] = down;
    }
    Ok(cx)
}

/// What wiring needs of a [`NodeSpec`], cloneable into every shard thread.
#[derive(Clone)]
pub(crate) struct SpecSummary {
    pub(crate) name: Arc<str>,
    pub(crate) inputs: Vec<(NodeId, usize)>,
    pub(crate) side_ports: Vec<(u64, Arc<str>, SideMaker)>,
}
