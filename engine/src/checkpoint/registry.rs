//! [`StateRegistry`]: how a user function exposes its state handles to checkpoints, under
//! stable names (Flink's state descriptors' names).

use std::collections::HashMap;

use super::codec::DecodeError;
use super::format::{SnapshotBuilder, StateWriter};

/// A state handle that can be written into a snapshot and restored from one. Implemented
/// by [`ValueState`](crate::state::ValueState), [`ListState`](crate::state::ListState),
/// [`MapState`](crate::state::MapState) and [`ReducingState`](crate::state::ReducingState)
/// when their key and value types implement [`StateData`](super::StateData).
///
/// Contract: after `clear_state` and `restore_entry` of every entry `snapshot_state`
/// wrote, the handle holds what it held when snapshotted.
pub trait CheckpointedState {
    /// The key type of the handle.
    type Key: super::StateData + 'static;
    /// Writes one entry per key (with the key's stable hash, for its key group).
    fn snapshot_state(&self, w: &mut StateWriter);
    /// Drops everything (before a restore).
    fn clear_state(&mut self);
    /// Adds one entry that `snapshot_state` wrote.
    fn restore_entry(&mut self, bytes: &[u8]) -> Result<(), DecodeError>;
    /// For handles whose state lives in files (the mmap backend): the store the registry
    /// binds at open, snapshots incrementally and restores, instead of the entry methods
    /// above. Heap handles keep the default (`None`).
    fn mmap_store(&mut self) -> Option<crate::state::mmap::MmapSlot<'_>> {
        None
    }
    /// Starts a copy-on-write snapshot into entries of `max_parallelism` key groups, known
    /// as `id` until it is finished: the handle freezes what it needs (its key list) and
    /// from then on writes each entry, as it was at the barrier, before its first change,
    /// and the rest in [`copy_on_write_step`](Self::copy_on_write_step)s. `false` (the
    /// default) when the handle cannot: it is then written whole by `snapshot_state` at the
    /// barrier. The built-in heap handles can.
    fn begin_copy_on_write(&mut self, _max_parallelism: usize, _id: u64) -> bool {
        false
    }
    /// The `id` of the snapshot begun by [`begin_copy_on_write`](Self::begin_copy_on_write)
    /// while it is not finished (the registry checks with it that the handle registered
    /// under a name is the one whose snapshot it began).
    fn copy_on_write_id(&self) -> Option<u64> {
        None
    }
    /// Writes up to `*budget` more entries of the snapshot in progress (counting them off
    /// the budget); returns every entry of it once it is complete (the same entries as
    /// `snapshot_state` at the barrier, in any order), or why it cannot (the checkpoint
    /// then fails the job rather than hold a wrong snapshot).
    fn copy_on_write_step(&mut self, _budget: &mut usize) -> Result<Option<StateWriter>, String> {
        Ok(None)
    }
}

/// The entries of one operator instance to restore, by state name (already filtered to the
/// key groups of its shard).
#[derive(Debug, Default)]
pub(crate) struct RestoreView {
    pub(crate) sections: HashMap<String, Vec<Vec<u8>>>,
    /// Sections of file-backed (mmap) handles, unfiltered: one entry per old shard.
    pub(crate) mmap: HashMap<String, Vec<Vec<u8>>>,
    /// Operator list state, by section: one list of entries per old shard, in shard order.
    pub(crate) lists: HashMap<String, Vec<Vec<Vec<u8>>>>,
    /// The earlier snapshot files incremental snapshots build on (`checkpoint/chain.rs`),
    /// as sections filtered like `sections`: per old shard, its chain's base then its
    /// deltas in order, to apply before `sections` (an old shard's keys are its own, so
    /// only the order within one old shard's files matters).
    pub(crate) layers: Vec<HashMap<String, Vec<Vec<u8>>>>,
    /// The checkpoint's directory (file-backed handles' segments are under it).
    pub(crate) dir: std::path::PathBuf,
    pub(crate) shard: usize,
    pub(crate) shards: usize,
    pub(crate) max_parallelism: usize,
}

enum Mode<'a> {
    /// Only collects the names (to check at job start that the function declares its state).
    Probe,
    /// Binds file-backed handles to their working directory (on each shard, at open).
    Bind(&'a crate::state::mmap::BindCx),
    Snapshot(&'a mut SnapshotBuilder),
    /// Begins a snapshot: handles that can copy on write start to (their names listed in
    /// `b.copying`), the others are written into `b` at once.
    Begin {
        b: &'a mut SnapshotBuilder,
    },
    /// Steps the copy-on-write snapshots in progress by up to `budget` entries in all;
    /// those that complete are written into `b` (and leave `b.copying`).
    Step {
        b: &'a mut SnapshotBuilder,
        budget: usize,
    },
    Restore(&'a RestoreView),
}

/// Where a keyed function registers each of its state handles under a stable name, so that
/// checkpoints can snapshot and restore them.
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate::checkpoint::StateRegistry;
/// use spate::state::ValueState;
///
/// #[derive(Clone, Default)]
/// struct Count { n: ValueState<String, u64> }
/// impl KeyedProcessFunction<String, String, (String, u64)> for Count {
///     fn process_element(&mut self, v: String, ctx: &mut KeyedContext<'_, String, (String, u64)>)
///         -> Result<(), UserError> {
///         let n = self.n.value_or_insert_with(ctx, || 0);
///         *n += 1;
///         let n = *n;
///         ctx.collect((v, n));
///         Ok(())
///     }
///     fn state(&mut self, reg: &mut StateRegistry<'_>) {
///         reg.register("count", &mut self.n);
///     }
/// }
/// let env = Env::new().shards(2);
/// let out = env.from_iter(vec!["a".to_string(), "a".into()])
///     .key_by(|s: &String| s.clone()).process(Count::default()).collect();
/// env.execute().unwrap();
/// assert_eq!(out.sorted(), vec![("a".to_string(), 1), ("a".into(), 2)]);
/// ```
pub struct StateRegistry<'a> {
    mode: Mode<'a>,
    names: Vec<String>,
    /// How many of `names` are operator list states.
    lists: usize,
    declared: bool,
    key_codec: Option<Box<dyn std::any::Any>>,
    error: Option<String>,
}

impl<'a> StateRegistry<'a> {
    fn with(mode: Mode<'a>) -> Self {
        StateRegistry {
            mode,
            names: Vec::new(),
            lists: 0,
            declared: true,
            key_codec: None,
            error: None,
        }
    }

    pub(crate) fn probe() -> Self {
        Self::with(Mode::Probe)
    }

    pub(crate) fn snapshot(b: &'a mut SnapshotBuilder) -> Self {
        Self::with(Mode::Snapshot(b))
    }

    pub(crate) fn restore(v: &'a RestoreView) -> Self {
        Self::with(Mode::Restore(v))
    }

    /// Begins a copy-on-write snapshot into `b` (see [`Mode::Begin`]).
    pub(crate) fn begin(b: &'a mut SnapshotBuilder) -> Self {
        Self::with(Mode::Begin { b })
    }

    /// Steps the snapshot begun into `b` (see [`Mode::Step`]).
    pub(crate) fn step(b: &'a mut SnapshotBuilder, budget: usize) -> Self {
        Self::with(Mode::Step { b, budget })
    }

    /// `true` when the handles are being restored (a function that derives figures from
    /// its state, e.g. a gauge, recomputes them then only).
    pub(crate) fn restoring(&self) -> bool {
        matches!(self.mode, Mode::Restore(_))
    }

    /// After [`begin`](Self::begin) or [`step`](Self::step): how many handles' snapshots
    /// are not complete yet.
    pub(crate) fn pending(&self) -> usize {
        match &self.mode {
            Mode::Begin { b, .. } | Mode::Step { b, .. } => b.copying.len(),
            _ => 0,
        }
    }

    pub(crate) fn bind(cx: &'a crate::state::mmap::BindCx) -> Self {
        Self::with(Mode::Bind(cx))
    }

    /// Registers `handle` under `name` (unique within the function; names starting with
    /// `spate/` are reserved).
    pub fn register<H: CheckpointedState>(&mut self, name: &str, handle: &mut H) {
        if !self.claim(name) {
            return;
        }
        self.key_type::<H::Key>();
        self.run(name, handle);
    }

    /// Registers the operator list state `list` under `name` with **even-split**
    /// redistribution (Flink's `getListState`): restored on another shard count, the lists
    /// of all old shards are concatenated and cut into one contiguous part per new shard,
    /// so every element goes to exactly one shard; on the same shard count each shard gets
    /// its own list back. For non-keyed functions (`ProcessFunction`, `CoProcessFunction`).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::state::OperatorListState;
    ///
    /// // Emits records in groups of three; what waits for its group survives a recovery.
    /// #[derive(Clone, Default)]
    /// struct Triples { buf: OperatorListState<u64> }
    /// impl ProcessFunction<u64, Vec<u64>> for Triples {
    ///     fn process_element(&mut self, v: u64, ctx: &mut ProcessContext<'_, Vec<u64>>)
    ///         -> Result<(), UserError> {
    ///         self.buf.add(v);
    ///         if self.buf.len() == 3 {
    ///             ctx.collect(self.buf.take());
    ///         }
    ///         Ok(())
    ///     }
    ///     fn finish(&mut self, ctx: &mut ProcessContext<'_, Vec<u64>>) -> Result<(), UserError> {
    ///         if !self.buf.is_empty() {
    ///             ctx.collect(self.buf.take());
    ///         }
    ///         Ok(())
    ///     }
    ///     fn state(&mut self, reg: &mut StateRegistry<'_>) {
    ///         reg.register_list("buffer", &mut self.buf);
    ///     }
    /// }
    /// let dir = std::env::temp_dir().join(format!("spate-doc-oplist-{}", std::process::id()));
    /// let env = Env::new().shards(1).checkpointing(&dir, std::time::Duration::from_millis(50));
    /// let out = env.from_iter(1..=7u64).process(Triples::default()).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.take(), vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn register_list<T: super::StateData + 'static>(
        &mut self,
        name: &str,
        list: &mut crate::state::OperatorListState<T>,
    ) {
        self.run_list(name, list, super::operator_state::Redistribution::EvenSplit);
    }

    /// Registers the operator list state `list` under `name` with **union** redistribution
    /// (Flink's `getUnionListState`): on a restore, on any shard count, every shard gets the
    /// concatenation of the lists of all old shards (and keeps what it needs, e.g. the
    /// offsets of the partitions it now reads). Keep such lists small: every shard reads all.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::state::OperatorListState;
    ///
    /// #[derive(Clone, Default)]
    /// struct Seen { ids: OperatorListState<u64> }
    /// impl ProcessFunction<u64, u64> for Seen {
    ///     fn process_element(&mut self, v: u64, ctx: &mut ProcessContext<'_, u64>)
    ///         -> Result<(), UserError> {
    ///         if !self.ids.get().contains(&v) {
    ///             self.ids.add(v);
    ///             ctx.collect(v);
    ///         }
    ///         Ok(())
    ///     }
    ///     fn state(&mut self, reg: &mut StateRegistry<'_>) {
    ///         reg.register_union_list("seen", &mut self.ids);
    ///     }
    /// }
    /// let env = Env::new().shards(1);
    /// let out = env.from_iter(vec![1u64, 2, 1, 3, 2]).process(Seen::default()).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.take(), vec![1, 2, 3]);
    /// ```
    pub fn register_union_list<T: super::StateData + 'static>(
        &mut self,
        name: &str,
        list: &mut crate::state::OperatorListState<T>,
    ) {
        self.run_list(name, list, super::operator_state::Redistribution::Union);
    }

    fn run_list<T: super::StateData + 'static>(
        &mut self,
        name: &str,
        list: &mut crate::state::OperatorListState<T>,
        how: super::operator_state::Redistribution,
    ) {
        use super::operator_state as os;
        if !self.claim(name) {
            return;
        }
        self.lists += 1;
        match &mut self.mode {
            Mode::Probe | Mode::Bind(_) | Mode::Step { .. } => {}
            Mode::Snapshot(b) | Mode::Begin { b, .. } => os::snapshot(list, b, how, name),
            Mode::Restore(v) => {
                if let Err(e) = os::restore(list, v, how, name) {
                    self.error = Some(e);
                }
            }
        }
    }

    /// Takes `name` for a handle; `false` (and the error recorded) when it is taken already
    /// or reserved, or an earlier registration failed.
    fn claim(&mut self, name: &str) -> bool {
        if self.error.is_some() {
            return false;
        }
        if name.starts_with("spate/") || self.names.iter().any(|n| n == name) {
            self.error = Some(format!(
                "state name '{name}' is registered twice or reserved"
            ));
            return false;
        }
        self.names.push(name.to_string());
        true
    }

    /// Registers a value state of a built-in function whose types carry no
    /// [`StateData`](super::StateData) bound, with codecs found by type
    /// (`Env::state_type`). The state must be empty when restoring (a fresh instance).
    pub(crate) fn register_value_with<K, V>(
        &mut self,
        name: &str,
        state: &mut crate::state::ValueState<K, V>,
        key: &super::types::Codec<K>,
        value: (
            impl Fn(&V, &mut Vec<u8>) + Send + 'static,
            impl Fn(&mut &[u8]) -> Result<V, DecodeError>,
        ),
    ) where
        K: std::hash::Hash + Eq + Clone + 'static,
        V: 'static,
    {
        if !self.claim(name) {
            return;
        }
        if self.key_codec.is_none() {
            self.key_codec = Some(Box::new(KeyCodec::<K> {
                encode: key.encode,
                decode: key.decode,
            }));
        }
        match &mut self.mode {
            Mode::Probe | Mode::Bind(_) => {}
            Mode::Snapshot(b) => {
                let mut w = StateWriter::new(b.max_parallelism());
                state.snapshot_with(&mut w, key.encode, &value.0);
                b.add(name, w);
            }
            Mode::Begin { b, .. } => {
                let id = copy_id(name);
                if state.begin_copy_with(b.max_parallelism(), id, key.encode, value.0) {
                    b.copying.push(name.to_string());
                } else {
                    self.error = Some(in_progress(name));
                }
            }
            Mode::Step { b, budget, .. } => {
                if let Err(e) = step_copy(b, name, state.copy_id(), |n| state.copy_step(n), budget)
                {
                    self.error = Some(e);
                }
            }
            Mode::Restore(v) => {
                for e in v.sections.get(name).into_iter().flatten() {
                    if let Err(err) = state.restore_with(e, key.decode, &value.1) {
                        self.error = Some(format!("state '{name}': {err}"));
                        return;
                    }
                }
            }
        }
    }

    fn run<H: CheckpointedState>(&mut self, name: &str, handle: &mut H) {
        if let Some(slot) = handle.mmap_store() {
            use crate::state::mmap::checkpointing as mc;
            let r = match &mut self.mode {
                Mode::Probe | Mode::Step { .. } => Ok(()),
                Mode::Bind(cx) => mc::bind(slot, cx, name),
                Mode::Snapshot(b) | Mode::Begin { b, .. } => mc::snapshot(slot, b, name),
                Mode::Restore(v) => mc::restore(slot, v, name),
            };
            if let Err(e) = r {
                self.error = Some(format!("state '{name}': {e}"));
            }
            return;
        }
        match &mut self.mode {
            Mode::Probe | Mode::Bind(_) => {}
            Mode::Snapshot(b) => {
                let mut w = StateWriter::new(b.max_parallelism());
                handle.snapshot_state(&mut w);
                b.add(name, w);
            }
            Mode::Begin { b, .. } => {
                if handle.copy_on_write_id().is_some() {
                    self.error = Some(in_progress(name));
                } else if handle.begin_copy_on_write(b.max_parallelism(), copy_id(name)) {
                    b.copying.push(name.to_string());
                } else {
                    let mut w = StateWriter::new(b.max_parallelism());
                    handle.snapshot_state(&mut w);
                    b.add(name, w);
                }
            }
            Mode::Step { b, budget, .. } => {
                let id = handle.copy_on_write_id();
                if let Err(e) = step_copy(b, name, id, |n| handle.copy_on_write_step(n), budget) {
                    self.error = Some(e);
                }
            }
            Mode::Restore(v) => {
                handle.clear_state();
                for e in v.sections.get(name).into_iter().flatten() {
                    if let Err(err) = handle.restore_entry(e) {
                        self.error = Some(format!("state '{name}': {err}"));
                        return;
                    }
                }
            }
        }
    }

    /// Declares the key type `K` of the function, for snapshots of its timers when it
    /// registers no state handle (a handle declares it already).
    pub fn key_type<K: super::StateData + 'static>(&mut self) {
        if self.key_codec.is_none() {
            self.key_codec = Some(Box::new(KeyCodec::<K> {
                encode: |k, o| k.encode(o),
                decode: K::decode,
            }));
        }
    }

    /// The key codec learnt, if its key type is `K`.
    pub(crate) fn take_key_codec<K: 'static>(&mut self) -> Option<KeyCodec<K>> {
        self.key_codec
            .take()
            .and_then(|b| b.downcast::<KeyCodec<K>>().ok())
            .map(|b| *b)
    }

    /// Marks that the function did not say which state it holds (the default of
    /// `KeyedProcessFunction::state`): a job with checkpoints refuses to start.
    pub(crate) fn undeclared(&mut self) {
        self.declared = false;
    }

    pub(crate) fn is_declared(&self) -> bool {
        self.declared
    }

    /// Whether any keyed handle was registered.
    pub(crate) fn registered_keyed(&self) -> bool {
        self.names.len() > self.lists
    }

    /// Whether any operator list state was registered.
    pub(crate) fn registered_lists(&self) -> bool {
        self.lists > 0
    }

    /// The first problem met, or for a restore, a state in the checkpoint that nothing
    /// registered (its contents would be lost).
    pub(crate) fn finish(self) -> Result<(), String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Mode::Step { b, .. } = &self.mode {
            if let Some(n) = b.copying.iter().find(|n| !self.names.contains(n)) {
                return Err(format!(
                    "state '{n}' is no longer registered while its snapshot is being copied"
                ));
            }
        }
        if let Mode::Restore(v) = &self.mode {
            for name in v.sections.keys().chain(v.mmap.keys()) {
                if !name.starts_with("spate/") && !self.names.iter().any(|n| n == name) {
                    return Err(format!(
                        "the checkpoint holds state '{name}', which the function no longer \
                         registers"
                    ));
                }
            }
            for section in v.lists.keys() {
                let name = super::operator_state::parse_section(section).map_or("", |s| s.1);
                if !self.names.iter().any(|n| n == name) {
                    return Err(format!(
                        "the checkpoint holds operator list state '{name}', which the \
                         function no longer registers"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The identity of the copy-on-write snapshot of the state registered as `name`.
fn copy_id(name: &str) -> u64 {
    crate::state::hash_key(&name)
}

fn in_progress(name: &str) -> String {
    format!("state '{name}': a snapshot began while the previous one was in progress")
}

/// One step of the copy-on-write snapshot of the state registered as `name`, whose handle
/// holds the snapshot `id` (if any): written into `b` once complete. An error when the
/// handle under `name` is not the one whose snapshot began (replaced or moved meanwhile):
/// its section would be missing or another state's.
fn step_copy(
    b: &mut SnapshotBuilder,
    name: &str,
    id: Option<u64>,
    step: impl FnOnce(&mut usize) -> Result<Option<StateWriter>, String>,
    budget: &mut usize,
) -> Result<(), String> {
    let began = b.copying.iter().any(|n| n == name);
    match (began, id) {
        (true, Some(id)) if id == copy_id(name) => {
            if let Some(w) = step(budget).map_err(|e| format!("state '{name}': {e}"))? {
                b.add(name, w);
                b.copying.retain(|n| n != name);
            }
            Ok(())
        }
        (false, None) => Ok(()),
        _ => Err(format!(
            "state '{name}': its handle was replaced or moved while its snapshot was being \
             copied (keep each handle in its field until the snapshot is complete)"
        )),
    }
}

/// The entries of operator `node` that `shard` of `shards` owns, from every snapshot file of
/// that operator (so a checkpoint taken with another shard count restores too).
pub(crate) fn restore_view(
    r: &super::store::Restored,
    node: usize,
    shard: usize,
    shards: usize,
    max_parallelism: usize,
) -> Result<RestoreView, String> {
    if r.manifest.max_parallelism != max_parallelism {
        return Err(format!(
            "the checkpoint has max_parallelism {}, the job {max_parallelism}: key groups differ",
            r.manifest.max_parallelism
        ));
    }
    let mut view = RestoreView {
        dir: r.dir.clone(),
        shard,
        shards,
        max_parallelism,
        ..Default::default()
    };
    let old_shards = r.manifest.shards.max(1);
    for f in r.files.get(&(node as u32)).into_iter().flatten() {
        for (name, entries) in &f.sections {
            if name.starts_with(super::operator_state::PREFIX) {
                let lists = view.lists.entry(name.clone()).or_default();
                lists.resize(old_shards, Vec::new());
                let Some(mine) = lists.get_mut(f.header.shard as usize) else {
                    return Err(format!(
                        "snapshot of shard {} in a checkpoint of {old_shards} shards",
                        f.header.shard
                    ));
                };
                mine.extend(entries.iter().map(|(_, b)| b.clone()));
                continue;
            }
            if let Some(handle) = name.strip_prefix(crate::state::mmap::checkpointing::SECTION) {
                let all = view.mmap.entry(handle.to_string()).or_default();
                all.extend(entries.iter().map(|(_, b)| b.clone()));
                continue;
            }
            if name == super::chain::CHAIN {
                for (_, bytes) in entries {
                    chain_layers(&mut view, &r.parts, &f.header, bytes)?;
                }
                continue;
            }
            let owner = Owner::of(&view);
            keep_mine(
                view.sections.entry(name.clone()).or_default(),
                entries,
                owner,
            );
        }
    }
    Ok(view)
}

/// Appends the entries of the key groups `o`'s shard owns.
fn keep_mine(mine: &mut Vec<Vec<u8>>, entries: &super::format::Entries, o: Owner) {
    for (kg, bytes) in entries {
        if crate::state::shard_for_key_group(*kg as usize, o.max_parallelism, o.shards) == o.shard {
            mine.push(bytes.clone());
        }
    }
}

/// The restoring shard, of how many, and the key groups: who owns an entry.
#[derive(Clone, Copy)]
struct Owner {
    shard: usize,
    shards: usize,
    max_parallelism: usize,
}

impl Owner {
    fn of(v: &RestoreView) -> Self {
        Owner {
            shard: v.shard,
            shards: v.shards,
            max_parallelism: v.max_parallelism,
        }
    }
}

/// Appends the files a delta's chain section names (listed in the manifest, so verified
/// and parsed by the load) to `v.layers`, oldest first: a full snapshot, then deltas.
fn chain_layers(
    v: &mut RestoreView,
    parts: &HashMap<String, super::format::SnapshotFile>,
    of: &super::format::SnapshotHeader,
    names: &[u8],
) -> Result<(), String> {
    let mut last = None;
    for name in super::chain::decode_names(names)? {
        let shown = name.display();
        let f = name
            .to_str()
            .and_then(|n| parts.get(n))
            .ok_or_else(|| format!("{shown}: named by a chain but not in the manifest"))?;
        let h = &f.header;
        let chained = f.sections.iter().any(|(s, _)| s == super::chain::CHAIN);
        if (h.operator, h.shard, h.shards) != (of.operator, of.shard, of.shards)
            || h.epoch >= of.epoch
            || last.is_some_and(|l| h.epoch <= l)
            || chained == last.is_none()
        {
            return Err(format!(
                "{shown} is not the full snapshot or a later delta of the same operator \
                 instance before epoch {}",
                of.epoch
            ));
        }
        last = Some(h.epoch);
        let mut layer: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for (section, entries) in &f.sections {
            if section != super::chain::CHAIN {
                keep_mine(
                    layer.entry(section.clone()).or_default(),
                    entries,
                    Owner::of(v),
                );
            }
        }
        v.layers.push(layer);
    }
    Ok(())
}

/// Encodes and decodes the key type of a keyed operator's timers; learnt from the first
/// registered state handle (or [`StateRegistry::key_type`]).
pub(crate) struct KeyCodec<K> {
    pub(crate) encode: fn(&K, &mut Vec<u8>),
    pub(crate) decode: fn(&mut &[u8]) -> Result<K, DecodeError>,
}

impl<K> Clone for KeyCodec<K> {
    fn clone(&self) -> Self {
        KeyCodec {
            encode: self.encode,
            decode: self.decode,
        }
    }
}

#[cfg(test)]
mod tests;
