//! Broadcast state and `stream.connect_broadcast(&rules).process(..)` (Flink's
//! `BroadcastProcessFunction`): a high-volume stream processed against a low-volume stream
//! (rules, configuration) whose every record reaches every shard.
//!
//! Each shard holds its own copy of the [`BroadcastState`], a map. Only the broadcast
//! side may change it ([`BroadcastProcessFunction::process_broadcast_element`] gets it
//! mutably); the data side only reads it. Since every shard sees every broadcast record in
//! the same order (one channel per pair of shards keeps order), a deterministic update
//! leaves every shard with the same map — the contract Flink states for broadcast state.
//! What no engine can promise is how the broadcast records interleave with the data
//! records on a shard: a data record may meet a rule a shard has or has not seen yet.
//! Jobs that need an exact answer sequence their inputs (an embedded job's `flush`, or
//! event time: timers fire only once the watermark, the minimum of both inputs', passes).
//!
//! Rejected alternative: one shared map behind a lock or an `Arc` swap — a shared-nothing
//! shard must not touch a lock per record, and a rule stream is small enough to copy.

use std::any::Any;
use std::borrow::Borrow;
use std::cell::RefCell;
use std::hash::Hash;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::align::{two_input_fields, HeldInputs, TwoInputOp};
use super::co_process::{TwoInputWired, TwoInputs};
use super::process::{non_keyed_role, process_batch, ProcessContext};
use super::unary::Participant;
use super::{Batch, OpInfo, Output, SideOutputs};
use crate::checkpoint::format::SnapshotBuilder;
use crate::checkpoint::format::FINAL_EPOCH;
use crate::checkpoint::registry::restore_view;
use crate::checkpoint::store::Restored;
use crate::checkpoint::types::Codec;
use crate::checkpoint::StateRegistry;
use crate::checkpoint::StateWriter;
use crate::error::{Result, SpateError, UserError};
use crate::graph::{Instantiate, NodeFactory, ShardBuild, ShardNode, Wired};
use crate::state::FixedState;
use crate::time::{Clock, Timestamp};

/// The map a broadcast function keeps on every shard (Flink's `BroadcastState`): written
/// by the broadcast side, read by the data side and timers.
///
/// # Examples
///
/// ```
/// use spate::api::BroadcastState;
/// let mut rules: BroadcastState<u32, &str> = BroadcastState::default();
/// rules.insert(1, "amount > 100");
/// assert_eq!(rules.get(&1), Some(&"amount > 100"));
/// assert_eq!(rules.remove(&1), Some("amount > 100"));
/// assert!(rules.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct BroadcastState<K, V> {
    map: hashbrown::HashMap<K, V, FixedState>,
}

impl<K, V> Default for BroadcastState<K, V> {
    fn default() -> Self {
        BroadcastState {
            map: hashbrown::HashMap::with_hasher(FixedState),
        }
    }
}

impl<K: Hash + Eq, V> BroadcastState<K, V> {
    /// The value under `key`, if any.
    #[inline]
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.map.get(key)
    }

    /// Whether `key` has a value.
    #[inline]
    pub fn contains_key<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.map.contains_key(key)
    }

    /// All entries, in no particular order.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    /// All values, in no particular order.
    #[inline]
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sets `key` to `value`; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.map.insert(key, value)
    }

    /// Removes `key`; returns its value.
    pub fn remove<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.map.remove(key)
    }

    /// The value under `key`, to change in place.
    pub fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.map.get_mut(key)
    }

    /// Keeps only the entries for which `keep` says `true`.
    pub fn retain(&mut self, keep: impl FnMut(&K, &mut V) -> bool) {
        self.map.retain(keep)
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.map.clear()
    }
}

/// Codecs of a broadcast state's key and value types (`Env::state_type`).
pub(crate) struct BroadcastCodecs<K, V> {
    pub(crate) key: Codec<K>,
    pub(crate) value: Codec<V>,
}

impl<K, V> Clone for BroadcastCodecs<K, V> {
    fn clone(&self) -> Self {
        BroadcastCodecs {
            key: self.key.clone(),
            value: self.value.clone(),
        }
    }
}

impl<K: 'static, V: 'static> BroadcastCodecs<K, V> {
    /// The codecs registered for `K` and `V`, or an error naming the missing types.
    pub(crate) fn find(cfg: &crate::graph::JobConfig) -> std::result::Result<Self, String> {
        let t = &cfg.state_types;
        t.get::<K>()
            .zip(t.get::<V>())
            .map(|(key, value)| BroadcastCodecs { key, value })
            .ok_or_else(|| {
                format!(
                    "register its broadcast state's key type `{}` and value type `{}` with \
                     Env::state_type",
                    std::any::type_name::<K>(),
                    std::any::type_name::<V>()
                )
            })
    }
}

/// The snapshot section of the broadcast state: one entry per map entry, `key · value`,
/// written by shard 0 only (every shard holds the same map).
const BROADCAST_SECTION: &str = "spate/broadcast";

impl<K: Hash + Eq, V> BroadcastState<K, V> {
    /// Adds the map to `b` on shard 0 (the copies of the other shards are the same).
    pub(crate) fn snapshot(
        &self,
        shard: usize,
        c: &BroadcastCodecs<K, V>,
        b: &mut SnapshotBuilder,
    ) {
        if shard != 0 {
            return;
        }
        let mut w = StateWriter::new(b.max_parallelism());
        for (k, v) in &self.map {
            w.entry(0, |o| {
                (c.key.encode)(k, o);
                (c.value.encode)(v, o);
            });
        }
        b.add(BROADCAST_SECTION, w);
    }

    /// The map of operator `node` in checkpoint `r`, from shard 0's file, for every shard
    /// whatever the shard count (as Flink restores broadcast state).
    pub(crate) fn restore(
        r: &Restored,
        node: usize,
        c: &BroadcastCodecs<K, V>,
    ) -> std::result::Result<Self, String> {
        let mut state = BroadcastState::default();
        let files = r.files.get(&(node as u32)).into_iter().flatten();
        for f in files.filter(|f| f.header.shard == 0) {
            for (_, entries) in f.sections.iter().filter(|(n, _)| n == BROADCAST_SECTION) {
                for (_, bytes) in entries {
                    let mut i = &bytes[..];
                    let k = (c.key.decode)(&mut i).map_err(|e| e.to_string())?;
                    let v = (c.value.decode)(&mut i).map_err(|e| e.to_string())?;
                    if !i.is_empty() {
                        return Err(format!("{} trailing bytes in broadcast state", i.len()));
                    }
                    state.map.insert(k, v);
                }
            }
        }
        Ok(state)
    }
}

/// A function over a stream connected with a broadcast stream (Flink's
/// `BroadcastProcessFunction`).
///
/// Contract: keep whatever the broadcast side decides in the [`BroadcastState`], change it
/// only in [`Self::process_broadcast_element`], and change it deterministically (the same
/// records in the same order give the same map), so that every shard holds the same state.
/// The function's own fields are per shard: state kept there diverges between shards.
pub trait BroadcastProcessFunction<I, B, O>: Clone + Send + 'static {
    /// Key type of the broadcast state.
    type StateKey: Hash + Eq + Clone + Send + 'static;
    /// Value type of the broadcast state.
    type StateValue: Clone + Send + 'static;

    /// Called for every record of the data stream, with the broadcast state read-only.
    fn process_element(
        &mut self,
        value: I,
        state: &BroadcastState<Self::StateKey, Self::StateValue>,
        ctx: &mut ProcessContext<'_, O>,
    ) -> Result<(), UserError>;

    /// Called on every shard for every record of the broadcast stream, with the broadcast
    /// state writable. What it emits is emitted once per shard.
    fn process_broadcast_element(
        &mut self,
        value: B,
        state: &mut BroadcastState<Self::StateKey, Self::StateValue>,
        ctx: &mut ProcessContext<'_, O>,
    ) -> Result<(), UserError>;

    /// For checkpoints: registers the function's operator list state
    /// ([`StateRegistry::register_list`], [`StateRegistry::register_union_list`]), or with
    /// an empty body declares that its own fields hold nothing that must survive a recovery;
    /// the broadcast state is saved by the operator once its key and value types are
    /// registered with [`Env::state_type`](crate::Env::state_type). Non-keyed functions
    /// have no keyed state to register. The default declares nothing, and a job with
    /// checkpoints refuses to start with it.
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.undeclared();
    }
}

/// The operator running a [`BroadcastProcessFunction`] on one shard.
pub(crate) struct BroadcastOp<P: BroadcastProcessFunction<I, B, O>, I, B, O> {
    f: P,
    state: BroadcastState<P::StateKey, P::StateValue>,
    out: Output<O>,
    sides: SideOutputs,
    progress: TwoInputs,
    info: OpInfo,
    clock: Arc<dyn Clock>,
    /// What an input sent after a barrier not yet forwarded (checkpoint alignment).
    held: HeldInputs<I, B>,
    /// With checkpoints: where snapshots go, and the broadcast state's codecs.
    participant: Option<(Participant, Codecs<P, I, B, O>)>,
    _t: PhantomData<fn(I, B)>,
}

impl<P: BroadcastProcessFunction<I, B, O>, I, B, O: Clone> BroadcastOp<P, I, B, O> {
    /// The function's operator lists and (shard 0) the broadcast state.
    fn snapshot(&mut self, epoch: u64) -> Result<()> {
        let Some((p, codecs)) = &self.participant else {
            return Ok(());
        };
        let mut b = p.builder(epoch, self.info.shard);
        let mut reg = StateRegistry::snapshot(&mut b);
        self.f.state(&mut reg);
        reg.finish().map_err(|why| {
            SpateError::Config(format!(
                "operator '{}' cannot snapshot its state: {why}",
                self.info.name
            ))
        })?;
        self.state.snapshot(self.info.shard, codecs, &mut b);
        p.hand_in_builder(epoch, b);
        Ok(())
    }
}

impl<P: BroadcastProcessFunction<I, B, O>, I, B, O: Clone> TwoInputOp for BroadcastOp<P, I, B, O> {
    type A = I;
    type B = B;

    two_input_fields!();

    fn batch_a(&mut self, batch: &mut Batch<I>) -> Result<()> {
        let at = (self.progress.watermark(), self.clock.now_ms());
        process_batch(
            batch,
            &mut self.out,
            &mut self.sides,
            &self.info,
            at,
            |v, pc| self.f.process_element(v, &self.state, pc),
        )
    }

    fn batch_b(&mut self, batch: &mut Batch<B>) -> Result<()> {
        let at = (self.progress.watermark(), self.clock.now_ms());
        process_batch(
            batch,
            &mut self.out,
            &mut self.sides,
            &self.info,
            at,
            |v, pc| self.f.process_broadcast_element(v, &mut self.state, pc),
        )
    }

    fn forward(&mut self, w: Option<Timestamp>) -> Result<()> {
        let status = self.progress.idle_change();
        self.out.progress(w, status)?;
        self.sides.progress(w, status)
    }

    /// Snapshots the broadcast state (when taking part in checkpoints), then forwards `e`.
    fn forward_barrier(&mut self, e: u64) -> Result<()> {
        self.snapshot(e)?;
        self.out.barrier(e)
    }

    fn all_ended(&mut self) -> Result<()> {
        self.snapshot(FINAL_EPOCH)?;
        self.out.end()?;
        self.sides.end()
    }
}

type Codecs<P, I, B, O> = BroadcastCodecs<
    <P as BroadcastProcessFunction<I, B, O>>::StateKey,
    <P as BroadcastProcessFunction<I, B, O>>::StateValue,
>;

/// With checkpoints: the codecs found by type, or the error naming the types to register.
type Found<P, I, B, O> = Option<std::result::Result<Codecs<P, I, B, O>, String>>;

/// Makes per-shard instances of a [`BroadcastOp`].
pub(crate) struct BroadcastFactory<P: BroadcastProcessFunction<I, B, O>, I, B, O> {
    pub(crate) f: P,
    /// With checkpoints: the broadcast state's codecs, or the error naming the types.
    pub(crate) codecs: Found<P, I, B, O>,
    pub(crate) _t: PhantomData<fn(I, B) -> O>,
}

impl<P, I, B, O> NodeFactory for BroadcastFactory<P, I, B, O>
where
    P: BroadcastProcessFunction<I, B, O>,
    I: Clone + 'static,
    B: Clone + 'static,
    O: Clone + 'static,
{
    fn prepare(&mut self, cfg: &crate::graph::JobConfig) -> Result<()> {
        if cfg.checkpoint.is_some() {
            self.codecs = Some(BroadcastCodecs::find(cfg));
        }
        Ok(())
    }

    fn checkpoint_role(&mut self) -> std::result::Result<(), String> {
        non_keyed_role(|reg| self.f.state(reg), "BroadcastProcessFunction")?;
        match &self.codecs {
            Some(Ok(_)) => Ok(()),
            Some(Err(why)) => Err(why.clone()),
            None => Err("no codecs were looked up".into()),
        }
    }

    fn instantiate(&mut self, cx: &Instantiate<'_>) -> Result<Box<dyn ShardNode>> {
        let codecs = match &self.codecs {
            Some(Ok(c)) if cx.cfg.checkpoint.is_some() => Some(c.clone()),
            _ => None,
        };
        let mut state = BroadcastState::default();
        let mut f = self.f.clone();
        if let (Some(r), Some(c)) = (cx.cfg.restored(), &codecs) {
            let failed = |why: String| {
                SpateError::Config(format!(
                    "cannot restore node {} from checkpoint {}: {why}",
                    cx.node, r.manifest.epoch
                ))
            };
            state = BroadcastState::restore(r, cx.node, c).map_err(failed)?;
            // The function's operator lists.
            restore_view(r, cx.node, cx.shard, cx.cfg.shards, cx.cfg.max_parallelism)
                .and_then(|v| {
                    let mut reg = StateRegistry::restore(&v);
                    f.state(&mut reg);
                    reg.finish()
                })
                .map_err(failed)?;
        }
        Ok(Box::new(BroadcastShard::<P, I, B, O> {
            f,
            live: [cx.input_live(0), cx.input_live(1)],
            state,
            codecs,
            _t: PhantomData,
        }))
    }
}

struct BroadcastShard<P: BroadcastProcessFunction<I, B, O>, I, B, O> {
    f: P,
    live: [bool; 2],
    state: BroadcastState<P::StateKey, P::StateValue>,
    codecs: Option<Codecs<P, I, B, O>>,
    _t: PhantomData<fn(I, B) -> O>,
}

impl<P, I, B, O> ShardNode for BroadcastShard<P, I, B, O>
where
    P: BroadcastProcessFunction<I, B, O>,
    I: Clone + 'static,
    B: Clone + 'static,
    O: Clone + 'static,
{
    fn wire(
        self: Box<Self>,
        mut outputs: Vec<Vec<Box<dyn Any>>>,
        cx: &mut ShardBuild,
    ) -> Result<Box<dyn Wired>> {
        let this = *self;
        let out = cx.output::<O>(std::mem::take(&mut outputs[0]))?;
        let sides = cx.side_outputs(outputs.split_off(1))?;
        let participant = match (&cx.snapshots, this.codecs) {
            (Some(s), Some(c)) => Some((Participant::new(s, cx.node), c)),
            _ => None,
        };
        let held = HeldInputs::wire(cx, this.live, participant.as_ref().map(|(p, _)| p))?;
        let op = Rc::new(RefCell::new(BroadcastOp::<P, I, B, O> {
            f: this.f,
            state: this.state,
            out,
            sides,
            progress: TwoInputs::new(this.live).with_alignment(participant.is_some()),
            info: OpInfo {
                name: cx.name.clone(),
                shard: cx.shard,
            },
            clock: cx.cfg.clock.clone(),
            held,
            participant,
            _t: PhantomData,
        }));
        Ok(Box::new(TwoInputWired {
            op,
            node: cx.node,
            _t: PhantomData::<fn(I, B)>,
        }))
    }
}
