//! The checkpoint settings of an [`Env`]: checkpointing, restore, savepoints, restarts,
//! state codecs and backends (see `docs/checkpoints.md`).

use std::time::Duration;

use super::Env;
use crate::checkpoint::{CheckpointConfig, RestartStrategy, RestoreFrom};

impl Env {
    /// Takes an aligned checkpoint every `interval` into `dir` (Flink's
    /// `enableCheckpointing`), restoring from the newest complete one found there at start:
    /// a job started again with the same directory resumes where its last checkpoint was.
    /// Every operator must take part (sources replayable, keyed functions registering their
    /// state with [`KeyedProcessFunction::state`](crate::KeyedProcessFunction::state)), or
    /// `execute` fails naming the one that cannot. See `docs/checkpoints.md`.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use std::time::Duration;
    /// let dir = std::env::temp_dir().join(format!("spate-doc-ckpt-{}", std::process::id()));
    /// let out = dir.join("out");
    /// let env = Env::new().shards(2).checkpointing(dir.join("chk"), Duration::from_millis(50));
    /// env.generate(Some(1000), |i| i % 7).write_lines_exactly_once(&out);
    /// env.execute().unwrap();
    /// let mut total = 0;
    /// for f in std::fs::read_dir(&out).unwrap() {
    ///     let p = f.unwrap().path();
    ///     if p.is_file() { total += std::fs::read_to_string(p).unwrap().lines().count(); }
    /// }
    /// assert_eq!(total, 1000);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn checkpointing(self, dir: impl Into<std::path::PathBuf>, interval: Duration) -> Self {
        self.inner.borrow_mut().checkpoint = Some(CheckpointConfig::new(dir, interval));
        self
    }

    /// Sets every checkpoint setting at once (retention, timeout, restore, restarts).
    pub fn checkpoint_config(self, cfg: CheckpointConfig) -> Self {
        self.inner.borrow_mut().checkpoint = Some(cfg);
        self
    }

    /// Where to restore from at start (default: the newest complete checkpoint). Needs
    /// [`checkpointing`](Env::checkpointing) first.
    pub fn restore_from(self, from: RestoreFrom) -> Self {
        if let Some(c) = self.inner.borrow_mut().checkpoint.as_mut() {
            c.restore = from;
        }
        self
    }

    /// Restores a checkpoint or savepoint even when it holds state of operators (matched by
    /// [`uid`](crate::DataStream::uid)) that the job no longer has: that state is dropped
    /// (Flink's `allowNonRestoredState`). Without it such a restore fails, naming them.
    /// Needs [`checkpointing`](Env::checkpointing) first.
    pub fn allow_non_restored_state(self, allow: bool) -> Self {
        if let Some(c) = self.inner.borrow_mut().checkpoint.as_mut() {
            c.allow_non_restored_state = allow;
        }
        self
    }

    /// Unaligned checkpoints (Flink's `execution.checkpointing.unaligned`), for jobs under
    /// back-pressure: at an operator with several inputs (the receiving side of `key_by`,
    /// `rebalance` and `broadcast`, `union`, two-input operators) the first barrier of an
    /// epoch goes on at once instead of waiting for the other inputs' barriers, and the
    /// records those inputs send until their barrier are stored with the checkpoint
    /// (in-flight data) and replayed into the operator on restore. An exchange receiver also
    /// takes, without waiting for the operators behind it, what its channels already hold up
    /// to their barrier, so a checkpoint completes while the job is back-pressured.
    /// Savepoints stay aligned. Every record type that crosses such an operator needs a codec
    /// registered with [`state_type`](Env::state_type) (the job refuses to start otherwise,
    /// naming the type), and an unaligned checkpoint with in-flight data restores on the same
    /// shard count only (use a savepoint to rescale). Needs
    /// [`checkpointing`](Env::checkpointing) first.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use std::time::Duration;
    /// let tmp = std::env::temp_dir().join(format!("spate-doc-unaligned-{}", std::process::id()));
    /// let env = Env::new()
    ///     .shards(2)
    ///     .checkpointing(tmp.join("chk"), Duration::from_millis(20))
    ///     .unaligned_checkpoints(true)
    ///     .state_type::<u64>(); // the records crossing the exchange, and the sums
    /// let out = env.generate(Some(10_000), |i| i % 10)
    ///     .key_by(|v: &u64| *v).sum(|v| v)
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted().last(), Some(&9_000)); // key 9's sum over its 1,000 records
    /// # std::fs::remove_dir_all(&tmp).unwrap();
    /// ```
    pub fn unaligned_checkpoints(self, on: bool) -> Self {
        if let Some(c) = self.inner.borrow_mut().checkpoint.as_mut() {
            c.unaligned = on;
        }
        self
    }

    /// How many state entries an operator with copy-on-write snapshots encodes per step
    /// after a barrier (default
    /// [`DEFAULT_SNAPSHOT_STEP`](crate::checkpoint::DEFAULT_SNAPSHOT_STEP)). Such an
    /// operator (every keyed operator: windows, `reduce`, joins, and keyed process,
    /// co-process and broadcast-process functions for their heap state handles) only
    /// freezes its key list and timers at the barrier;
    /// its entries are then encoded a step at a time between batches (and by a task of its
    /// own while no batch comes), and an entry the data path is about to change before its
    /// turn is encoded first (copy on write), so the snapshot holds the state as it was at
    /// the barrier while records go on. `0` encodes the whole snapshot at the barrier
    /// (two-input operators always do with unaligned checkpoints). Needs [`checkpointing`](Env::checkpointing) first.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::window::{Count, SlidingWindows};
    /// use std::time::Duration;
    /// let tmp = std::env::temp_dir().join(format!("spate-doc-step-{}", std::process::id()));
    /// let env = Env::new()
    ///     .shards(2)
    ///     .checkpointing(tmp.join("chk"), Duration::from_millis(5))
    ///     .snapshot_step(1); // one key per step: the most interleaving
    /// let out = env
    ///     .generate(Some(20_000), |i| i)
    ///     .assign_timestamps_and_watermarks(
    ///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|v: &u64| *v as i64),
    ///     )
    ///     .key_by(|v: &u64| *v % 100)
    ///     .window(SlidingWindows::of(1_000, 500))
    ///     .aggregate(Count)
    ///     .collect();
    /// env.execute().unwrap();
    /// // 41 window ends per key, every full window holds 10 of its records.
    /// assert_eq!(out.take().iter().filter(|n| **n == 10).count(), 100 * 39);
    /// # std::fs::remove_dir_all(&tmp).unwrap();
    /// ```
    pub fn snapshot_step(self, entries: usize) -> Self {
        if let Some(c) = self.inner.borrow_mut().checkpoint.as_mut() {
            c.snapshot_step = entries;
        }
        self
    }

    /// Incremental snapshots (Flink's incremental checkpoints): an operator that can takes
    /// at most `max_deltas` snapshots in a row that hold only what changed since its
    /// previous snapshot, then a full one. Each checkpoint links the earlier files such a
    /// delta builds on (the last full snapshot and the deltas after it) into its own
    /// directory, so a restore reads the full snapshot and applies the deltas in order, on
    /// any shard count. The sliced window operator (sliding and tumbling `aggregate`) can:
    /// its delta holds the slices added to or changed since the previous checkpoint and
    /// the keys dropped, not the slices that stayed as they were. A delta needs the
    /// previous checkpoint to be complete; otherwise, and for savepoints and the final
    /// checkpoint, the snapshot is full. `0` (the default): every snapshot is full. Needs
    /// [`checkpointing`](Env::checkpointing) first.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::window::{Count, SlidingWindows};
    /// use std::time::Duration;
    /// let tmp = std::env::temp_dir().join(format!("spate-doc-incr-{}", std::process::id()));
    /// let env = Env::new()
    ///     .shards(2)
    ///     .checkpointing(tmp.join("chk"), Duration::from_millis(5))
    ///     .incremental_checkpoints(4); // a full snapshot after 4 deltas
    /// let out = env
    ///     .generate(Some(20_000), |i| i)
    ///     .assign_timestamps_and_watermarks(
    ///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|v: &u64| *v as i64),
    ///     )
    ///     .key_by(|v: &u64| *v % 100)
    ///     .window(SlidingWindows::of(1_000, 500))
    ///     .aggregate(Count)
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.take().iter().filter(|n| **n == 10).count(), 100 * 39);
    /// # std::fs::remove_dir_all(&tmp).unwrap();
    /// ```
    pub fn incremental_checkpoints(self, max_deltas: usize) -> Self {
        if let Some(c) = self.inner.borrow_mut().checkpoint.as_mut() {
            c.incremental = max_deltas;
        }
        self
    }

    /// When the job ends, writes its final checkpoint also as a savepoint into `dir` (which
    /// must not hold one): the state of a bounded job, kept until deleted, from which a
    /// later job continues (its sources resume after the records already read, on any
    /// shard count). The job fails if the savepoint cannot be written. Needs
    /// [`checkpointing`](Env::checkpointing) first.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use std::time::Duration;
    /// let tmp = std::env::temp_dir().join(format!("spate-doc-sp-finish-{}", std::process::id()));
    /// let env = Env::new()
    ///     .checkpointing(tmp.join("chk"), Duration::from_secs(3600))
    ///     .savepoint_on_finish(tmp.join("sp"));
    /// let _o = env.generate(Some(10), |i| i).uid("numbers").collect();
    /// env.execute().unwrap();
    /// // A longer run continues after the first ten numbers, on two shards.
    /// let env = Env::new()
    ///     .shards(2)
    ///     .checkpointing(tmp.join("chk2"), Duration::from_secs(3600))
    ///     .restore_from(RestoreFrom::Path(tmp.join("sp")));
    /// let out = env.generate(Some(15), |i| i).uid("numbers").collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![10, 11, 12, 13, 14]);
    /// # std::fs::remove_dir_all(&tmp).unwrap();
    /// ```
    pub fn savepoint_on_finish(self, dir: impl Into<std::path::PathBuf>) -> Self {
        if let Some(c) = self.inner.borrow_mut().checkpoint.as_mut() {
            c.savepoint_on_finish = Some(dir.into());
        }
        self
    }

    /// What to do when the job fails (default: nothing). Needs
    /// [`checkpointing`](Env::checkpointing) first: a restart rebuilds the job in-process
    /// from the newest complete checkpoint.
    pub fn restart_strategy(self, s: RestartStrategy) -> Self {
        if let Some(c) = self.inner.borrow_mut().checkpoint.as_mut() {
            c.restart = s;
        }
        self
    }

    /// Registers how values of `T` are written into checkpoints, for the built-in keyed
    /// aggregations (`reduce`, `sum`, `min`, `max`, …) and windows, whose types carry no
    /// [`StateData`](crate::checkpoint::StateData) bound: with checkpoints, such an
    /// operator takes part when its key and value types are registered, and refuses to
    /// start otherwise, naming the types to register.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use std::time::Duration;
    /// let dir = std::env::temp_dir().join(format!("spate-doc-types-{}", std::process::id()));
    /// let env = Env::new()
    ///     .shards(2)
    ///     .checkpointing(&dir, Duration::from_millis(50))
    ///     .state_type::<u64>()
    ///     .state_type::<(u64, u64)>();
    /// let out = env
    ///     .from_iter((0..100u64).map(|i| (i % 3, 1)))
    ///     .key_by(|r: &(u64, u64)| r.0)
    ///     .sum(|r| &mut r.1)
    ///     .collect();
    /// env.execute().unwrap();
    /// let max = out.take().into_iter().map(|r| r.1).max();
    /// assert_eq!(max, Some(34));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn state_type<T: crate::checkpoint::StateData + 'static>(self) -> Self {
        self.inner.borrow_mut().state_types.register::<T>();
        self
    }

    /// Where keyed state lives (default [`StateBackend::Heap`](crate::state::StateBackend));
    /// see [`StateBackend`](crate::state::StateBackend) for what each choice does and an
    /// example.
    pub fn state_backend(self, backend: crate::state::StateBackend) -> Self {
        self.inner.borrow_mut().state_backend = backend;
        self
    }
}
