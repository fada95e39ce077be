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
}

/// The entries of one operator instance to restore, by state name (already filtered to the
/// key groups of its shard).
#[derive(Debug, Default)]
pub(crate) struct RestoreView {
    pub(crate) sections: HashMap<String, Vec<Vec<u8>>>,
    /// Sections of file-backed (mmap) handles, unfiltered: one entry per old shard.
    pub(crate) mmap: HashMap<String, Vec<Vec<u8>>>,
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
    declared: bool,
    key_codec: Option<Box<dyn std::any::Any>>,
    error: Option<String>,
}

impl<'a> StateRegistry<'a> {
    fn with(mode: Mode<'a>) -> Self {
        StateRegistry {
            mode,
            names: Vec::new(),
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

    pub(crate) fn bind(cx: &'a crate::state::mmap::BindCx) -> Self {
        Self::with(Mode::Bind(cx))
    }

    /// Registers `handle` under `name` (unique within the function; names starting with
    /// `spate/` are reserved).
    pub fn register<H: CheckpointedState>(&mut self, name: &str, handle: &mut H) {
        if self.error.is_some() {
            return;
        }
        if name.starts_with("spate/") || self.names.iter().any(|n| n == name) {
            self.error = Some(format!(
                "state name '{name}' is registered twice or reserved"
            ));
            return;
        }
        self.names.push(name.to_string());
        self.key_type::<H::Key>();
        self.run(name, handle);
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
            impl Fn(&V, &mut Vec<u8>),
            impl Fn(&mut &[u8]) -> Result<V, DecodeError>,
        ),
    ) where
        K: std::hash::Hash + Eq + Clone + 'static,
    {
        if self.error.is_some() {
            return;
        }
        if name.starts_with("spate/") || self.names.iter().any(|n| n == name) {
            self.error = Some(format!(
                "state name '{name}' is registered twice or reserved"
            ));
            return;
        }
        self.names.push(name.to_string());
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
                Mode::Probe => Ok(()),
                Mode::Bind(cx) => mc::bind(slot, cx, name),
                Mode::Snapshot(b) => mc::snapshot(slot, b, name),
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

    /// Whether any handle was registered.
    pub(crate) fn registered_any(&self) -> bool {
        !self.names.is_empty()
    }

    /// The first problem met, or for a restore, a state in the checkpoint that nothing
    /// registered (its contents would be lost).
    pub(crate) fn finish(self) -> Result<(), String> {
        if let Some(e) = self.error {
            return Err(e);
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
        }
        Ok(())
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
    for f in r.files.get(&(node as u32)).into_iter().flatten() {
        for (name, entries) in &f.sections {
            if let Some(handle) = name.strip_prefix(crate::state::mmap::checkpointing::SECTION) {
                let all = view.mmap.entry(handle.to_string()).or_default();
                all.extend(entries.iter().map(|(_, b)| b.clone()));
                continue;
            }
            let mine = view.sections.entry(name.clone()).or_default();
            for (kg, bytes) in entries {
                if crate::state::shard_for_key_group(*kg as usize, max_parallelism, shards) == shard
                {
                    mine.push(bytes.clone());
                }
            }
        }
    }
    Ok(view)
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
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;

    use super::*;
    use crate::checkpoint::format::{parse, SnapshotHeader};
    use crate::checkpoint::manifest::Manifest;
    use crate::checkpoint::store::Restored;
    use crate::state::{hash_key, key_group, shard_for_key_group, FixedKey, ValueState};

    const MAXP: usize = 16;

    fn owner(key: u32, shards: usize) -> usize {
        shard_for_key_group(key_group(hash_key(&key), MAXP), MAXP, shards)
    }

    /// Snapshots of operator 7 taken on `n` shards, each holding the keys it owns.
    fn taken_on(n: usize, data: &BTreeMap<u32, i64>) -> Restored {
        let mut files = Vec::new();
        for shard in 0..n {
            let mut v = ValueState::<u32, i64>::new();
            for (k, x) in data.iter().filter(|(k, _)| owner(**k, n) == shard) {
                v.update(&FixedKey::new(*k, 0), *x);
            }
            let mut b = SnapshotBuilder::new(SnapshotHeader {
                epoch: 1,
                operator: 7,
                shard: shard as u32,
                shards: n as u32,
                max_parallelism: MAXP as u32,
            });
            let mut reg = StateRegistry::snapshot(&mut b);
            reg.register("v", &mut v);
            reg.finish().unwrap();
            files.push(parse(&b.finish()).unwrap());
        }
        Restored {
            manifest: Manifest {
                epoch: 1,
                shards: n,
                max_parallelism: MAXP,
                ..Default::default()
            },
            files: HashMap::from([(7, files)]),
            dir: Default::default(),
        }
    }

    proptest! {
        /// Keyed state snapshotted on N shards restores on M shards (1–4): every key lands
        /// on the shard that owns its key group under M, with its value, exactly once.
        #[test]
        fn keyed_state_rescales_by_key_group(
            n in 1usize..=4, m in 1usize..=4,
            data in proptest::collection::btree_map(any::<u32>(), any::<i64>(), 0..60),
        ) {
            let r = taken_on(n, &data);
            let mut seen = BTreeMap::new();
            for shard in 0..m {
                let view = restore_view(&r, 7, shard, m, MAXP).unwrap();
                let mut v = ValueState::<u32, i64>::new();
                let mut reg = StateRegistry::restore(&view);
                reg.register("v", &mut v);
                reg.finish().unwrap();
                for (k, x) in v.iter() {
                    prop_assert_eq!(owner(*k, m), shard, "key {} on the wrong shard", k);
                    prop_assert!(seen.insert(*k, *x).is_none(), "key {} restored twice", k);
                }
            }
            prop_assert_eq!(seen, data);
        }
    }

    #[test]
    fn unknown_and_duplicate_names_are_errors() {
        let data = BTreeMap::from([(1u32, 5i64)]);
        let r = taken_on(1, &data);
        let view = restore_view(&r, 7, 0, 1, MAXP).unwrap();
        let mut other = ValueState::<u32, i64>::new();
        let mut reg = StateRegistry::restore(&view);
        reg.register("renamed", &mut other);
        let e = reg.finish().unwrap_err();
        assert!(e.contains("'v'"), "{e}");
        let mut reg = StateRegistry::probe();
        reg.register("a", &mut other);
        reg.register("a", &mut other);
        assert!(reg.finish().is_err());
        assert!(
            restore_view(&r, 7, 0, 1, 32).is_err(),
            "another max_parallelism"
        );
    }
}
