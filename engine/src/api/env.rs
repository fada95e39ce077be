//! `Env`: the job being built, its configuration, its sources, and `execute`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod checkpoints;

use super::stream::DataStream;
use super::{op_name, Data};
use crate::checkpoint::manifest::OperatorEntry;
use crate::checkpoint::shared::{CheckpointShared, ShardReport};
use crate::checkpoint::store::{load_dir, CheckpointStore, MANIFEST};
use crate::checkpoint::{CheckpointConfig, RestartStrategy, RestoreFrom};
use crate::error::{Result, SpateError};
use crate::graph::{Instantiate, JobConfig, NodeFactory, NodeId, NodeSpec, SpecSummary};
use crate::io::{GenerateSource, IterSource, LinesSource};
use crate::operators::source::{Source, SourceFactory};
use crate::operators::split_watermarks::FromStrategy;
use crate::runtime::{run_job, JobState};
use crate::time::{Clock, SystemClock, TimestampAssigner, WatermarkGenerator, WatermarkStrategy};

pub(crate) struct EnvInner {
    pub(crate) nodes: Vec<NodeSpec>,
    /// `Env::shards` (else one per core of `Env::cores`, else per available core).
    shards: Option<usize>,
    batch_size: usize,
    max_parallelism: usize,
    channel_capacity: usize,
    io_memory: usize,
    idle_spin: Duration,
    /// `Env::cores`: the CPUs to run on (else the starting thread's).
    cores: Option<Vec<usize>>,
    pub(crate) watermark_interval_ms: i64,
    clock: Arc<dyn Clock>,
    low_latency: bool,
    pub(crate) embedding: crate::embedded::Embedding,
    checkpoint: Option<CheckpointConfig>,
    state_types: crate::checkpoint::types::StateTypes,
    state_backend: crate::state::StateBackend,
    /// Working directories of file-backed state made by `prepare` (removed by `execute`).
    state_runs: Vec<std::path::PathBuf>,
}

/// A job under construction and the settings it will run with (Flink's
/// `StreamExecutionEnvironment`).
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// let env = Env::new().shards(2);
/// let evens = env.from_iter(1..=6u32).filter(|x| x % 2 == 0).map(|x| x * 10).collect();
/// let result = env.execute().unwrap();
/// assert_eq!(evens.sorted(), vec![20, 40, 60]);
/// assert!(result.records_out("filter").unwrap() == 3);
/// ```
#[derive(Clone)]
pub struct Env {
    pub(crate) inner: Rc<RefCell<EnvInner>>,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

/// Metrics of one logical operator, summed over shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorMetrics {
    /// The operator's name: its kind and the line of code that built it.
    pub name: String,
    /// Records it emitted (for sinks: records it received).
    pub records_out: u64,
}

/// The outcome of a finished job.
#[derive(Debug, Clone)]
pub struct JobResult {
    /// The job's final state.
    pub state: JobState,
    /// Every operator, in the order they were built.
    pub operators: Vec<OperatorMetrics>,
    /// Wall-clock time from start to the last shard joined.
    pub elapsed: Duration,
    /// The checkpoints completed while the job ran, oldest first: empty without checkpoints;
    /// after a restart, those of the run that finished; the final checkpoint written when
    /// the job ends is not among them.
    pub checkpoints: Vec<crate::checkpoint::CompletedCheckpoint>,
}

impl JobResult {
    /// Records emitted by the first operator whose name starts with `kind`.
    pub fn records_out(&self, kind: &str) -> Option<u64> {
        self.operators
            .iter()
            .find(|o| o.name.starts_with(kind))
            .map(|o| o.records_out)
    }
}

impl EnvInner {
    /// The shards the job runs on: as set, else one per listed core, else one per
    /// available core.
    fn shard_count(&self) -> usize {
        self.shards.unwrap_or_else(|| match &self.cores {
            Some(c) if !c.is_empty() => c.len(),
            _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    pub(crate) fn max_parallelism_value(&self) -> usize {
        self.max_parallelism
    }
}

impl Env {
    /// A new job with one shard per available core, batches of 1,024 records and 128 key
    /// groups.
    pub fn new() -> Self {
        Env {
            inner: Rc::new(RefCell::new(EnvInner {
                nodes: Vec::new(),
                shards: None,
                batch_size: 1024,
                max_parallelism: 128,
                channel_capacity: 16,
                io_memory: 256 * 1024,
                idle_spin: Duration::from_micros(50),
                cores: None,
                watermark_interval_ms: 200,
                low_latency: false,
                embedding: Default::default(),
                clock: Arc::new(SystemClock),
                checkpoint: None,
                state_types: Default::default(),
                state_backend: Default::default(),
                state_runs: Vec::new(),
            })),
        }
    }

    /// Runs the job on `n` shards (threads, each pinned to a core when `n` ≤ cores).
    pub fn shards(self, n: usize) -> Self {
        self.inner.borrow_mut().shards = Some(n);
        self
    }

    /// The CPUs the job runs on, in the order its shards are pinned to them. Default:
    /// every CPU in the affinity mask of the thread calling `execute`, so a process started
    /// under `taskset` keeps to its CPUs (a container's CPU quota does not narrow the mask;
    /// it narrows `std::thread::available_parallelism`, the default shard count). Unless
    /// [`Env::shards`] says otherwise, the job then runs one shard per listed core. With
    /// more shards than cores the shards are not pinned and share the cores; the job's
    /// other threads (snapshot writers, the checkpoint coordinator) run on them too. A
    /// core the calling thread may not run on, a core listed twice or an empty list fails
    /// the job with [`SpateError::Config`].
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// // The last CPU this thread may run on (in a container it need not be CPU 0).
    /// let core = *Env::allowed_cores().last().unwrap();
    /// let env = Env::new().cores([core]);
    /// assert_eq!(env.shard_count(), 1); // one shard per core listed
    /// assert_eq!(Env::new().shards(3).cores([core]).shard_count(), 3); // 3 on one core
    /// let out = env.from_iter(1..=3u32).map(|x| x * 2).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![2, 4, 6]);
    /// let listed_twice = Env::new().shards(1).cores([core, core]);
    /// listed_twice.from_iter(1..=3u32).collect();
    /// assert!(matches!(listed_twice.execute(), Err(SpateError::Config(_))));
    /// ```
    pub fn cores(self, cpus: impl IntoIterator<Item = usize>) -> Self {
        self.inner.borrow_mut().cores = Some(cpus.into_iter().collect());
        self
    }

    /// The CPUs the calling thread may run on (its affinity mask), ascending: the default
    /// of [`Env::cores`] and what it accepts (empty where neither the kernel nor the
    /// machine's topology says).
    ///
    /// # Examples
    ///
    /// ```
    /// let cores = spate::prelude::Env::allowed_cores();
    /// // A container's CPU quota may lower `available_parallelism` below the mask.
    /// assert!(cores.len() >= std::thread::available_parallelism().unwrap().get());
    /// ```
    pub fn allowed_cores() -> Vec<usize> {
        crate::runtime::cpus::allowed()
    }

    /// Records per batch (default 1,024). Smaller batches lower latency; 1 is allowed.
    pub fn batch_size(self, n: usize) -> Self {
        self.inner.borrow_mut().batch_size = n;
        self
    }

    /// Number of key groups (default 128): the most shards keyed state can be split over.
    pub fn max_parallelism(self, n: usize) -> Self {
        self.inner.borrow_mut().max_parallelism = n;
        self
    }

    /// Batches a shard-to-shard channel holds before its sender waits (default 16).
    pub fn channel_capacity(self, n: usize) -> Self {
        self.inner.borrow_mut().channel_capacity = n;
        self
    }

    /// How long an idle shard keeps polling for work before it sleeps (default 50 µs).
    /// Waking a sleeping shard costs a system call and an inter-processor interrupt, so a
    /// short spin raises throughput between shards (measured: +40% on `key_by` over 2
    /// shards); `Duration::ZERO` never spins. Ignored when there are more shards than cores.
    pub fn idle_spin(self, d: Duration) -> Self {
        self.inner.borrow_mut().idle_spin = d;
        self
    }

    /// Low-latency mode: a source with nothing to read polls again at once instead of
    /// sleeping a millisecond, so a lone record is taken and processed within microseconds
    /// (partial batches always go downstream as soon as the input pauses). Each shard then
    /// keeps its core busy while idle: the thread-per-core trade for latency. Off by
    /// default (throughput mode).
    pub fn low_latency(self, on: bool) -> Self {
        self.inner.borrow_mut().low_latency = on;
        self
    }

    /// Interval of periodic watermark emission and idleness checks, in milliseconds of
    /// processing time (default 200, as Flink's `autoWatermarkInterval`; 0 turns periodic
    /// emission off).
    pub fn watermark_interval_ms(self, ms: i64) -> Self {
        self.inner.borrow_mut().watermark_interval_ms = ms;
        self
    }

    /// The processing-time clock (default: the system clock). Tests pass a
    /// [`ManualClock`](crate::time::ManualClock).
    pub fn clock(self, clock: impl Clock) -> Self {
        self.inner.borrow_mut().clock = Arc::new(clock);
        self
    }

    /// The configured number of shards.
    pub fn shard_count(&self) -> usize {
        self.inner.borrow().shard_count()
    }

    pub(crate) fn add_node(
        &self,
        name: String,
        inputs: Vec<(NodeId, usize)>,
        factory: Box<dyn NodeFactory>,
    ) -> NodeId {
        let mut inner = self.inner.borrow_mut();
        inner.nodes.push(NodeSpec {
            name: name.into(),
            uid: None,
            inputs,
            side_ports: Vec::new(),
            factory,
        });
        inner.nodes.len() - 1
    }

    /// A bounded stream of the items, read on shard 0 in order (like Flink's
    /// `fromCollection`, a non-parallel source), so per-key order is the iterator's order.
    #[track_caller]
    pub fn from_iter<T: Data, I: IntoIterator<Item = T>>(&self, items: I) -> DataStream<T> {
        let name = op_name("from_iter");
        self.add_source(&name, IterSource::new(items.into_iter().collect()))
    }

    /// A bounded stream of the vector's items (see [`from_iter`](Env::from_iter)).
    #[track_caller]
    pub fn from_collection<T: Data>(&self, items: Vec<T>) -> DataStream<T> {
        let name = op_name("from_collection");
        self.add_source(&name, IterSource::new(items))
    }

    /// The lines of a text file, without their line ending. The file is split across shards
    /// by byte range at line boundaries; invalid UTF-8 is replaced (as Flink decodes text).
    #[track_caller]
    pub fn read_lines(&self, path: impl AsRef<Path>) -> DataStream<String> {
        let name = op_name("read_lines");
        let plain: fn(u64, String) -> String = |_, line| line;
        self.add_source(&name, LinesSource::new(path.as_ref(), false, plain))
    }

    /// Like [`read_lines`](Env::read_lines), each line with its 1-based line number (for
    /// error messages that point at the input). Each split first counts the lines before it.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let path = std::env::temp_dir().join("spate-doc-numbered.txt");
    /// std::fs::write(&path, "a\nb\nc\n").unwrap();
    /// let env = Env::new().shards(2);
    /// let out = env.read_lines_numbered(&path).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![(1, "a".to_string()), (2, "b".into()), (3, "c".into())]);
    /// ```
    #[track_caller]
    pub fn read_lines_numbered(&self, path: impl AsRef<Path>) -> DataStream<(u64, String)> {
        let name = op_name("read_lines");
        let numbered: fn(u64, String) -> (u64, String) = |n, line| (n, line);
        self.add_source(&name, LinesSource::new(path.as_ref(), true, numbered))
    }

    /// `f(seq)` for sequence numbers `0..count` (endless with `None`), spread over shards:
    /// shard `s` of `n` generates `s, s+n, s+2n, …`. Replayable from any sequence number.
    #[track_caller]
    pub fn generate<T, F>(&self, count: Option<u64>, f: F) -> DataStream<T>
    where
        T: Data,
        F: Fn(u64) -> T + Clone + Send + 'static,
    {
        let name = op_name("generate");
        self.add_source(&name, GenerateSource::new(0, count, f))
    }

    /// Like [`generate`](Env::generate), replaying from sequence number `start`: the records
    /// are exactly those `generate` makes from `start` on (`count` of them, or endless).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(3);
    /// let out = env.generate_from(100, Some(5), |seq| seq * 2).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![200, 202, 204, 206, 208]);
    /// ```
    #[track_caller]
    pub fn generate_from<T, F>(&self, start: u64, count: Option<u64>, f: F) -> DataStream<T>
    where
        T: Data,
        F: Fn(u64) -> T + Clone + Send + 'static,
    {
        let name = op_name("generate");
        self.add_source(&name, GenerateSource::new(start, count, f))
    }

    /// A stream from a custom [`Source`].
    pub fn add_source<T: Data, S: Source<T>>(&self, name: &str, source: S) -> DataStream<T> {
        let id = self.add_node(
            name.to_string(),
            Vec::new(),
            Box::new(SourceFactory::<S, T>(source, None)),
        );
        DataStream::new(self.clone(), id, 0)
    }

    /// A stream from a custom [`Source`] whose records get their timestamps and watermarks
    /// per split, as `strategy` says (Flink's `fromSource` with a `WatermarkStrategy`):
    /// each split a shard reads runs a generator (and idleness timer) of its own, and the
    /// shard's watermark is the minimum over its splits that are neither idle nor done
    /// (idle when all are). A shard reads several splits after a restore on fewer shards:
    /// event time then waits for the slowest of them, where
    /// [`DataStream::assign_timestamps_and_watermarks`] after the source would follow the
    /// fastest and make the others' records late. Periodic emission follows
    /// [`Env::watermark_interval_ms`] as set before this call.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::io::{Source, SourceOutput, SourceSplit, SourceStatus};
    ///
    /// /// Readings `(sensor, time)`: split `i` of `n` reads sensors `i, i+n, …`.
    /// struct Readings;
    /// struct Sensor { id: u64, t: i64 }
    /// impl SourceSplit<(u64, i64)> for Sensor {
    ///     fn poll(&mut self, out: &mut SourceOutput<'_, (u64, i64)>) -> Result<SourceStatus, SpateError> {
    ///         out.emit((self.id, self.t));
    ///         self.t += 1;
    ///         Ok(if self.t == 30 { SourceStatus::Done } else { SourceStatus::More })
    ///     }
    /// }
    /// impl Source<(u64, i64)> for Readings {
    ///     fn split(&mut self, shard: usize, _n: usize) -> Result<Box<dyn SourceSplit<(u64, i64)>>, SpateError> {
    ///         Ok(Box::new(Sensor { id: shard as u64, t: 0 }))
    ///     }
    /// }
    ///
    /// let env = Env::new().shards(2);
    /// let strategy = WatermarkStrategy::for_monotonous_timestamps()
    ///     .with_timestamp_assigner(|r: &(u64, i64)| r.1)
    ///     .punctuated();
    /// let counts = env
    ///     .from_source("readings", Readings, strategy)
    ///     .key_by(|r: &(u64, i64)| r.0)
    ///     .window(spate::window::TumblingWindows::of(10))
    ///     .aggregate(spate::window::Count)
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(counts.sorted(), vec![10; 6]); // 3 windows of 10 readings per sensor
    /// ```
    pub fn from_source<T, S, A, G>(
        &self,
        name: &str,
        source: S,
        strategy: WatermarkStrategy<T, A, G>,
    ) -> DataStream<T>
    where
        T: Data,
        S: Source<T>,
        A: TimestampAssigner<T>,
        G: WatermarkGenerator<T>,
    {
        let interval_ms = self.inner.borrow().watermark_interval_ms;
        let per_split = FromStrategy {
            strategy,
            interval_ms,
        };
        let id = self.add_node(
            name.to_string(),
            Vec::new(),
            Box::new(SourceFactory::<S, T>(source, Some(Box::new(per_split)))),
        );
        DataStream::new(self.clone(), id, 0)
    }

    /// Runs the job to completion on its shards and returns its metrics, or the first error
    /// (naming the operator and shard that failed). Every shard thread is joined first.
    pub fn execute(self) -> Result<JobResult> {
        let restart = self.inner.borrow().checkpoint.as_ref().map(|c| c.restart);
        let mut restarts = 0u32;
        loop {
            let r = self.clone().prepare().and_then(|p| p.run());
            for d in std::mem::take(&mut self.inner.borrow_mut().state_runs) {
                // Checkpoints hold their own links to the segments: the run's files can go.
                if let Err(err) = std::fs::remove_dir_all(&d) {
                    tracing::warn!(dir = %d.display(), error = %err, "cannot remove state files");
                }
            }
            let e = match r {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            match restart {
                Some(RestartStrategy::FixedDelay { attempts, delay })
                    if restarts < attempts
                        && !matches!(e, SpateError::Config(_) | SpateError::Cancelled) =>
                {
                    restarts += 1;
                    tracing::warn!(error = %e, restarts, "job failed; restarting from the newest checkpoint");
                    std::thread::sleep(delay);
                    // A restart always resumes from the newest complete checkpoint.
                    if let Some(c) = self.inner.borrow_mut().checkpoint.as_mut() {
                        c.restore = RestoreFrom::Latest;
                    }
                }
                _ => return Err(e),
            }
        }
    }

    /// Instantiates the job on its shards, ready to run (on any thread).
    pub(crate) fn prepare(self) -> Result<Prepared> {
        let (mut nodes, mut cfg, io_memory, idle_spin, ckpt) = {
            let mut inner = self.inner.borrow_mut();
            let cfg = JobConfig {
                shards: inner.shard_count(),
                batch_size: inner.batch_size,
                max_parallelism: inner.max_parallelism,
                channel_capacity: inner.channel_capacity,
                clock: inner.clock.clone(),
                cancel: Arc::new(AtomicBool::new(false)),
                low_latency: inner.low_latency,
                checkpoint: None,
                state_types: Arc::new(inner.state_types.clone()),
                state_dir: match &inner.state_backend {
                    crate::state::StateBackend::Heap => None,
                    crate::state::StateBackend::Mmap { dir, segment_bytes } => {
                        Some((dir.join(run_name()), *segment_bytes))
                    }
                },
                cpus: crate::runtime::cpus::job_cpus(
                    inner.cores.as_deref(),
                    &crate::runtime::cpus::allowed(),
                )
                .map_err(SpateError::Config)?
                .into(),
            };
            if let Some((d, _)) = &cfg.state_dir {
                inner.state_runs.push(d.clone());
            }
            (
                std::mem::take(&mut inner.nodes),
                cfg,
                inner.io_memory,
                inner.idle_spin,
                inner.checkpoint.clone(),
            )
        };
        let keep = ckpt
            .as_ref()
            .is_some_and(|c| c.restart != RestartStrategy::None);
        let r = self.instantiate(&mut nodes, &mut cfg, io_memory, idle_spin, ckpt);
        if keep {
            // With a restart strategy the nodes stay with the `Env`, so that a restart can
            // instantiate them again. Otherwise they go now: prototypes may hold channel
            // ends (embedded inputs and outputs) whose drop signals the end.
            self.inner.borrow_mut().nodes = nodes;
        }
        r
    }

    fn instantiate(
        &self,
        nodes: &mut [NodeSpec],
        cfg: &mut JobConfig,
        io_memory: usize,
        idle_spin: Duration,
        ckpt: Option<CheckpointConfig>,
    ) -> Result<Prepared> {
        let cfg_ref: &JobConfig = cfg;
        validate(cfg_ref, nodes)?;
        let mut checkpoint = None;
        let uids = crate::graph::stable_ids(nodes)?;
        if let Some(cc) = ckpt {
            let (shared, reports, first_epoch) = open_checkpoints(&cc, cfg, &uids)?;
            cfg.checkpoint = Some(shared);
            checkpoint = Some((
                reports,
                crate::runtime::CoordinatorPlan {
                    interval: cc.interval,
                    timeout: cc.timeout,
                    retain: cc.retain,
                    savepoint_on_finish: cc.savepoint_on_finish.clone(),
                    first_epoch,
                    operators: nodes
                        .iter()
                        .zip(uids)
                        .enumerate()
                        .map(|(node, (n, uid))| OperatorEntry {
                            node,
                            uid,
                            name: n.name.to_string(),
                        })
                        .collect(),
                },
            ));
        }
        let cfg: JobConfig = cfg.clone();
        for n in nodes.iter_mut() {
            n.factory.prepare(&cfg)?;
        }
        if cfg.checkpoint.is_some() {
            // After `prepare`, which lets operators look up what they need (codecs).
            for n in nodes.iter_mut() {
                n.factory.checkpoint_role().map_err(|why| {
                    SpateError::Config(format!(
                        "checkpointing is on, but operator '{}' cannot take part: {why}",
                        n.name
                    ))
                })?;
            }
        }
        // Node by node, so that each factory knows which of its inputs can emit on which
        // shard (`live[node][shard]`).
        let mut instances: Vec<Vec<_>> = (0..cfg.shards)
            .map(|_| Vec::with_capacity(nodes.len()))
            .collect();
        let mut live: Vec<Vec<bool>> = Vec::with_capacity(nodes.len());
        for (node, n) in nodes.iter_mut().enumerate() {
            let inputs_live: Vec<Vec<bool>> =
                n.inputs.iter().map(|(i, _)| live[*i].clone()).collect();
            let mut row = Vec::with_capacity(cfg.shards);
            for (shard, shard_instances) in instances.iter_mut().enumerate() {
                let cx = Instantiate {
                    shard,
                    node,
                    cfg: &cfg,
                    inputs_live: &inputs_live,
                };
                let inst = n.factory.instantiate(&cx)?;
                row.push(
                    inst.live()
                        .unwrap_or_else(|| inputs_live.iter().any(|l| l[shard])),
                );
                shard_instances.push(inst);
            }
            live.push(row);
        }
        let specs: Vec<SpecSummary> = nodes
            .iter()
            .map(|n| SpecSummary {
                name: n.name.clone(),
                inputs: n.inputs.clone(),
                side_ports: n.side_ports.clone(),
            })
            .collect();
        let cancel = cfg.cancel.clone();
        let checkpoints = cfg.checkpoint.clone();
        let plan = crate::runtime::JobPlan {
            specs,
            instances,
            cfg,
            io_memory,
            idle_spin,
            checkpoint,
        };
        Ok(Prepared {
            plan,
            cancel,
            checkpoints,
        })
    }
}

/// A job instantiated on its shards, not yet running.
pub(crate) struct Prepared {
    plan: crate::runtime::JobPlan,
    /// Set to cancel the job.
    pub(crate) cancel: Arc<AtomicBool>,
    /// What savepoints are asked through, when the job takes checkpoints.
    pub(crate) checkpoints: Option<Arc<CheckpointShared>>,
}

impl Prepared {
    /// Runs the job to completion on its shards (every shard thread is joined first).
    pub(crate) fn run(self) -> Result<JobResult> {
        let started = Instant::now();
        let (state, result) = run_job(self.plan);
        let per_shard = result?;
        let mut sums: BTreeMap<(NodeId, Arc<str>), u64> = BTreeMap::new();
        for shard in per_shard {
            for (node, name, n) in shard {
                *sums.entry((node, name)).or_default() += n;
            }
        }
        Ok(JobResult {
            state,
            operators: sums
                .into_iter()
                .map(|((_, name), records_out)| OperatorMetrics {
                    name: name.to_string(),
                    records_out,
                })
                .collect(),
            elapsed: started.elapsed(),
            checkpoints: self
                .checkpoints
                .as_ref()
                .map(|c| c.completed())
                .unwrap_or_default(),
        })
    }
}

/// Opens the checkpoint directory: loads the checkpoint to restore, if any, and returns the
/// shared state, the reports' receiving end and the first epoch to trigger.
fn open_checkpoints(
    cc: &CheckpointConfig,
    cfg: &JobConfig,
    uids: &[String],
) -> Result<(
    Arc<CheckpointShared>,
    crossbeam::channel::Receiver<ShardReport>,
    u64,
)> {
    let store = CheckpointStore::new(&cc.dir);
    std::fs::create_dir_all(store.dir()).map_err(|e| SpateError::io(store.dir(), e))?;
    let restored = match &cc.restore {
        RestoreFrom::Nothing => None,
        RestoreFrom::Latest => store.latest().map(|e| store.load(e)).transpose()?,
        RestoreFrom::Path(p) if p.join(MANIFEST).is_file() => {
            // A savepoint, or a checkpoint's epoch directory (whose name gives its epoch).
            let epoch = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("chk-"))
                .and_then(|n| n.parse::<u64>().ok());
            Some(load_dir(p, epoch)?)
        }
        RestoreFrom::Path(p) => {
            let epoch = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("chk-"))
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| {
                    SpateError::Config(format!(
                        "{} is not a checkpoint directory (chk-NNNNNNNNNN)",
                        p.display()
                    ))
                })?;
            let parent = p.parent().unwrap_or_else(|| Path::new("."));
            Some(CheckpointStore::new(parent).load(epoch)?)
        }
    };
    let mut restored = restored;
    if let Some(r) = restored.as_mut() {
        tracing::info!(epoch = r.manifest.epoch, kind = ?r.manifest.kind, "restoring");
        let new: Vec<(usize, String)> = uids.iter().cloned().enumerate().collect();
        r.rebind(&new, cc.allow_non_restored_state).map_err(|why| {
            SpateError::Config(format!(
                "checkpoint {} cannot be restored: {why}",
                r.manifest.epoch
            ))
        })?;
    }
    let newest_dir = store.epochs().last().map_or(0, |e| e.0);
    let restored_epoch = restored.as_ref().map_or(0, |r| r.manifest.epoch);
    let first_epoch = newest_dir.max(restored_epoch) + 1;
    let (shared, rx) =
        CheckpointShared::new(cc, cfg.shards, cfg.max_parallelism, restored.map(Arc::new));
    shared
        .first_epoch
        .store(first_epoch, std::sync::atomic::Ordering::Release);
    Ok((shared, rx, first_epoch))
}

fn validate(cfg: &JobConfig, nodes: &[NodeSpec]) -> Result<()> {
    if cfg.shards == 0 {
        return Err(SpateError::Config("shards must be at least 1".into()));
    }
    if cfg.shards > cfg.max_parallelism {
        return Err(SpateError::Config(format!(
            "{} shards exceed max_parallelism {}: raise max_parallelism or use fewer shards",
            cfg.shards, cfg.max_parallelism
        )));
    }
    if cfg.batch_size == 0 {
        return Err(SpateError::Config("batch_size must be at least 1".into()));
    }
    if nodes.is_empty() {
        return Err(SpateError::Config("the job has no operators".into()));
    }
    Ok(())
}

/// A name unique to one start of a job (its file-backed state's working directory).
fn run_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "run-{}-{t:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
