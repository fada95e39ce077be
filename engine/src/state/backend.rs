//! [`StateBackend`]: where a job's keyed state lives, chosen per job with
//! [`Env::state_backend`](crate::Env::state_backend).

use std::path::PathBuf;

/// Where a job keeps keyed state (Flink's state backend, chosen per job).
///
/// The handle type says how a value is represented, the backend where its files go:
/// [`ValueState`](crate::state::ValueState) and the other heap handles always live on the
/// heap (their data path has no backend branch), and
/// [`MmapValueState`](crate::state::mmap::MmapValueState) and
/// [`MmapMapState`](crate::state::mmap::MmapMapState) need `Mmap`: each shard's
/// operator binds it, when it opens, to `dir/<run>/n<node>-s<shard>/<state name>`.
/// `Heap` (the default) refuses a job that registers an mmap handle, naming it.
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate::state::mmap::MmapValueState;
///
/// #[derive(Clone, Default)]
/// struct Count { n: MmapValueState<u64, u64> }
/// impl KeyedProcessFunction<u64, u64, (u64, u64)> for Count {
///     fn process_element(&mut self, v: u64, ctx: &mut KeyedContext<'_, u64, (u64, u64)>)
///         -> Result<(), UserError> {
///         let n = self.n.value(ctx)?.map_or(0, |n| n.to_native()) + 1;
///         self.n.update(ctx, &n)?;
///         ctx.collect((v, n));
///         Ok(())
///     }
///     fn state(&mut self, reg: &mut StateRegistry<'_>) {
///         reg.register("count", &mut self.n);
///     }
/// }
/// let dir = tempfile::tempdir()?;
/// let env = Env::new().shards(2).state_backend(StateBackend::mmap(dir.path()));
/// let out = env.from_iter(vec![7u64, 7, 8]).key_by(|v: &u64| *v).process(Count::default()).collect();
/// env.execute()?;
/// assert_eq!(out.sorted(), vec![(7, 1), (7, 2), (8, 1)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StateBackend {
    /// State on the heap (the default).
    #[default]
    Heap,
    /// Mmap handles keep their segment files under `dir` (one sub-directory per run,
    /// removed when `Env::execute` returns); keep it on the checkpoint directory's file
    /// system so that checkpoints hard-link segments instead of copying them.
    Mmap {
        /// The backend's working directory.
        dir: PathBuf,
        /// Size of a segment file (each handle preallocates one active segment per shard).
        segment_bytes: usize,
    },
}

impl StateBackend {
    /// The mmap backend in `dir`, with 64 MiB segments.
    pub fn mmap(dir: impl Into<PathBuf>) -> StateBackend {
        StateBackend::Mmap {
            dir: dir.into(),
            segment_bytes: 64 << 20,
        }
    }
}
