//! The regular keyed equi-join (Flink SQL's "regular join", `StreamingJoinOperator`): every
//! row of each side is kept (until its TTL, if one is set) and joined with every row of the
//! other side with the same key, whenever it arrives. The result is a changelog.
//!
//! # Semantics (insert-only inputs)
//!
//! Each output is a [`JoinChange`]: [`RowKind::Insert`] adds a row to the join's result,
//! [`RowKind::Delete`] retracts one earlier inserted row equal to it. Applying the changelog
//! in order gives, at every moment, the SQL join of the rows that arrived so far. For a
//! row `x` arriving on one side, with `M` the live rows of the other side with its key:
//!
//! 1. for each `m` in `M` (in arrival order): if `m`'s side is outer and `m` had no match
//!    yet, `Delete (null-padded m)` first; then `Insert (x, m)`;
//! 2. if `M` is empty and `x`'s side is outer, `Insert (x, null)`;
//! 3. `x` is stored with its match count `|M|`; each `m` counts one more match.
//!
//! For example, left outer: `a` alone emits `+I (a, –)`; a later matching `b` emits
//! `−D (a, –)`, `+I (a, b)`; a second `b'` emits `+I (a, b')` only. Inner joins emit inserts
//! only; `Update` kinds never occur (inputs are insert-only).
//!
//! Outputs carry the timestamp of the row that caused them; watermarks pass through (the
//! minimum of both inputs). Event time plays no part: nothing is late for a regular join,
//! so there is no late-data output — every row joins with what the state holds when it
//! arrives.
//!
//! # State and TTL
//!
//! Without TTL state grows with the input (as in Flink). With a [`StateTtl`] for a side, in
//! processing time (Flink's `table.exec.state.ttl`, per side as with its `STATE_TTL` hint):
//! a row expires `ttl` after it was last written — stored, or (outer sides, which count
//! matches) matched again — or also read, with [`TtlUpdate::OnReadAndWrite`] (a probe reads
//! every row of the key). Expired rows are dropped before the key's next probe and by a
//! processing-time timer per key; they never match again (so `visibility` makes no
//! difference). Expiry emits nothing, as in Flink: the result keeps what expired rows
//! produced, and an outer row whose partners expired is not padded again.
//!
//! [`TtlUpdate::OnReadAndWrite`]: crate::state::TtlUpdate::OnReadAndWrite

use std::marker::PhantomData;

use super::state::JoinCodecs;
use crate::api::{op_name, Data, DataStream, Key, KeyedConnectedStreams, KeyedContext};
use crate::checkpoint::{decode_len, DecodeError, StateData, StateRegistry};
use crate::error::UserError;
use crate::graph::{Instantiate, JobConfig, NodeFactory, ShardNode};
use crate::operators::keyed_co_process::{KeyedCoProcessFactory, KeyedCoProcessFunction};
use crate::state::{GaugeHandle, StateGauge, StateTtl, TtlUpdate, ValueState};
use crate::time::Timestamp;

/// Which unmatched rows a regular join keeps, padded with `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoinType {
    /// Only matched pairs.
    Inner,
    /// Also left rows without a match.
    LeftOuter,
    /// Also right rows without a match.
    RightOuter,
    /// Also unmatched rows of both sides.
    FullOuter,
}

impl JoinType {
    fn left_outer(self) -> bool {
        matches!(self, JoinType::LeftOuter | JoinType::FullOuter)
    }
    fn right_outer(self) -> bool {
        matches!(self, JoinType::RightOuter | JoinType::FullOuter)
    }
}

/// What a [`JoinChange`] does to the join's result (Flink's `RowKind`, as far as a join of
/// insert-only inputs needs it: `+I` and `-D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowKind {
    /// The row is added to the result (`+I`).
    Insert,
    /// One earlier inserted equal row is removed from the result (`-D`).
    Delete,
}

/// One change of a regular join's result: a joined row (both sides), or a row of an outer
/// side padded with `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JoinChange<A, B> {
    /// Insert or retract.
    pub kind: RowKind,
    /// The left row, `None` when a right row is padded.
    pub left: Option<A>,
    /// The right row, `None` when a left row is padded.
    pub right: Option<B>,
}

/// Settings of a regular join: its type, TTL per side, and an optional state gauge.
#[derive(Debug, Clone)]
pub struct RegularJoin {
    join_type: JoinType,
    left_ttl: Option<StateTtl>,
    right_ttl: Option<StateTtl>,
    gauge: Option<StateGauge>,
}

impl RegularJoin {
    /// A join of type `join_type`, without TTL.
    pub fn new(join_type: JoinType) -> Self {
        RegularJoin {
            join_type,
            left_ttl: None,
            right_ttl: None,
            gauge: None,
        }
    }
    /// An inner join.
    pub fn inner() -> Self {
        Self::new(JoinType::Inner)
    }
    /// A left outer join.
    pub fn left_outer() -> Self {
        Self::new(JoinType::LeftOuter)
    }
    /// A right outer join.
    pub fn right_outer() -> Self {
        Self::new(JoinType::RightOuter)
    }
    /// A full outer join.
    pub fn full_outer() -> Self {
        Self::new(JoinType::FullOuter)
    }
    /// Left rows expire as `ttl` says (processing time).
    pub fn left_ttl(mut self, ttl: StateTtl) -> Self {
        self.left_ttl = Some(ttl);
        self
    }
    /// Right rows expire as `ttl` says (processing time).
    pub fn right_ttl(mut self, ttl: StateTtl) -> Self {
        self.right_ttl = Some(ttl);
        self
    }
    /// Rows of both sides expire as `ttl` says.
    pub fn ttl(self, ttl: StateTtl) -> Self {
        self.left_ttl(ttl).right_ttl(ttl)
    }
    /// Publishes the number of stored rows (both sides, summed over shards) to `gauge`
    /// after every row and timer.
    pub fn state_gauge(mut self, gauge: &StateGauge) -> Self {
        self.gauge = Some(gauge.clone());
        self
    }
}

/// A stored row: the value, when it was last written (for TTL), and how many rows of the
/// other side it matched.
#[derive(Debug, Clone)]
struct Row<T> {
    value: T,
    touched: Timestamp,
    matches: u32,
}

/// One key's rows, and the earliest cleanup timer registered for them.
#[derive(Debug, Clone)]
struct KeyRows<A, B> {
    left: Vec<Row<A>>,
    right: Vec<Row<B>>,
    timer: Option<Timestamp>,
}

impl<A, B> KeyRows<A, B> {
    fn new() -> Self {
        KeyRows {
            left: Vec::new(),
            right: Vec::new(),
            timer: None,
        }
    }

    /// Drops expired rows; returns how many.
    fn expire(&mut self, ttl: [Option<StateTtl>; 2], now: Timestamp) -> usize {
        expire(&mut self.left, ttl[0], now) + expire(&mut self.right, ttl[1], now)
    }

    /// The earliest time a row can expire.
    fn next_expiry(&self, ttl: [Option<StateTtl>; 2]) -> Option<Timestamp> {
        let side = |touched: &mut dyn Iterator<Item = Timestamp>, t: Option<StateTtl>| {
            t.and_then(|t| touched.min().map(|m| m.saturating_add(t.ttl_ms)))
        };
        let l = side(&mut self.left.iter().map(|r| r.touched), ttl[0]);
        let r = side(&mut self.right.iter().map(|r| r.touched), ttl[1]);
        l.into_iter().chain(r).min()
    }
}

fn expire<T>(rows: &mut Vec<Row<T>>, ttl: Option<StateTtl>, now: Timestamp) -> usize {
    let Some(ttl) = ttl else { return 0 };
    let before = rows.len();
    rows.retain(|r| !ttl.expired(r.touched, now));
    before - rows.len()
}

/// Joins `x` (of a side that is `outer` or not) with `other`'s rows, emitting through
/// `emit(kind, this side, other side)` as the module docs say; returns the matches.
fn probe<T: Clone, U: Clone>(
    x: &T,
    other: &mut [Row<U>],
    outer: bool,
    other_outer: bool,
    other_ttl: Option<StateTtl>,
    now: Timestamp,
    mut emit: impl FnMut(RowKind, Option<T>, Option<U>),
) -> u32 {
    let touch_on_read = other_ttl.is_some_and(|t| t.update == TtlUpdate::OnReadAndWrite);
    for m in other.iter_mut() {
        if other_outer {
            if m.matches == 0 {
                emit(RowKind::Delete, None, Some(m.value.clone()));
            }
            m.matches = m.matches.saturating_add(1);
            m.touched = now; // a write of its match count
        } else if touch_on_read {
            m.touched = now;
        }
        emit(RowKind::Insert, Some(x.clone()), Some(m.value.clone()));
    }
    if other.is_empty() && outer {
        emit(RowKind::Insert, Some(x.clone()), None);
    }
    u32::try_from(other.len()).unwrap_or(u32::MAX)
}

/// The regular join as a keyed two-input function.
#[derive(Clone)]
pub(crate) struct RegularJoinFn<K, A, B> {
    join_type: JoinType,
    ttl: [Option<StateTtl>; 2],
    rows: ValueState<K, KeyRows<A, B>>,
    /// Rows this instance stores.
    stored: usize,
    gauge: GaugeHandle,
    /// With checkpoints: codecs of the key and both row types (`Env::state_type`).
    codecs: Option<JoinCodecs<K, A, B>>,
}

type Cx<'a, K, A, B> = KeyedContext<'a, K, JoinChange<A, B>>;

impl<K: Key, A: Data, B: Data> RegularJoinFn<K, A, B> {
    fn new(spec: RegularJoin) -> Self {
        RegularJoinFn {
            join_type: spec.join_type,
            ttl: [spec.left_ttl, spec.right_ttl],
            rows: ValueState::new(),
            stored: 0,
            gauge: GaugeHandle::new(spec.gauge),
            codecs: None,
        }
    }

    /// The current key's rows, expired ones dropped.
    fn key_rows(&mut self, ctx: &Cx<'_, K, A, B>) -> &mut KeyRows<A, B> {
        let now = ctx.current_processing_time();
        let rows = self.rows.value_or_insert_with(ctx, KeyRows::new);
        if rows.timer.is_some_and(|t| t <= now) {
            self.stored -= rows.expire(self.ttl, now);
        }
        rows
    }

    /// After a row of side `side` (0 left, 1 right) was stored: makes sure a cleanup timer
    /// is due by its expiry, and publishes the state size.
    fn stored_row(&mut self, side: usize, ctx: &mut Cx<'_, K, A, B>) {
        self.stored += 1;
        if let Some(ttl) = self.ttl[side] {
            let at = ctx.current_processing_time().saturating_add(ttl.ttl_ms);
            if let Some(rows) = self.rows.value_mut(ctx) {
                if rows.timer.is_none_or(|t| at < t) {
                    rows.timer = Some(at);
                    ctx.register_processing_time_timer(at);
                }
            }
        }
        self.gauge.set(self.stored as u64);
    }
}

impl<K: Key, A: Data, B: Data> KeyedCoProcessFunction<K, A, B, JoinChange<A, B>>
    for RegularJoinFn<K, A, B>
{
    fn process_element1(&mut self, a: A, ctx: &mut Cx<'_, K, A, B>) -> Result<(), UserError> {
        let now = ctx.current_processing_time();
        let (outer, other_outer) = (self.join_type.left_outer(), self.join_type.right_outer());
        let other_ttl = self.ttl[1];
        let rows = self.key_rows(ctx);
        let emit = |kind, left, right| ctx.collect(JoinChange { kind, left, right });
        let matches = probe(
            &a,
            &mut rows.right,
            outer,
            other_outer,
            other_ttl,
            now,
            emit,
        );
        rows.left.push(Row {
            value: a,
            touched: now,
            matches,
        });
        self.stored_row(0, ctx);
        Ok(())
    }

    fn process_element2(&mut self, b: B, ctx: &mut Cx<'_, K, A, B>) -> Result<(), UserError> {
        let now = ctx.current_processing_time();
        let (outer, other_outer) = (self.join_type.right_outer(), self.join_type.left_outer());
        let other_ttl = self.ttl[0];
        let rows = self.key_rows(ctx);
        let emit = |kind, right, left| ctx.collect(JoinChange { kind, left, right });
        let matches = probe(&b, &mut rows.left, outer, other_outer, other_ttl, now, emit);
        rows.right.push(Row {
            value: b,
            touched: now,
            matches,
        });
        self.stored_row(1, ctx);
        Ok(())
    }

    /// The key's rows (both sides, with their TTL times and match counts, and the cleanup
    /// timer's time) under `rows`, through codecs registered by type; the cleanup timers
    /// themselves are snapshotted by the operator. Without codecs nothing is declared (the
    /// factory refuses checkpoints before this is reached).
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        let Some(c) = &self.codecs else {
            reg.undeclared();
            return;
        };
        let (ea, eb, da, db) = (c.left.encode, c.right.encode, c.left.decode, c.right.decode);
        let enc = move |r: &KeyRows<A, B>, o: &mut Vec<u8>| {
            encode_rows(&r.left, ea, o);
            encode_rows(&r.right, eb, o);
            r.timer.encode(o);
        };
        let dec = move |i: &mut &[u8]| {
            Ok(KeyRows {
                left: decode_rows(i, da)?,
                right: decode_rows(i, db)?,
                timer: Option::<Timestamp>::decode(i)?,
            })
        };
        reg.register_value_with("rows", &mut self.rows, &c.key, (enc, dec));
        if reg.restoring() {
            self.stored = self
                .rows
                .iter()
                .map(|(_, r)| r.left.len() + r.right.len())
                .sum();
            self.gauge.set(self.stored as u64);
        }
    }

    /// A cleanup timer: drop the key's expired rows, and come back for the next expiry.
    fn on_timer(&mut self, _ts: Timestamp, ctx: &mut Cx<'_, K, A, B>) -> Result<(), UserError> {
        let now = ctx.current_processing_time();
        let Some(rows) = self.rows.value_mut(ctx) else {
            return Ok(());
        };
        self.stored -= rows.expire(self.ttl, now);
        let next = match rows.timer {
            Some(t) if t > now => None, // an earlier-scheduled timer is still pending
            _ => rows.next_expiry(self.ttl),
        };
        if next.is_some() {
            rows.timer = next;
        }
        let empty = rows.left.is_empty() && rows.right.is_empty();
        if let Some(at) = next {
            ctx.register_processing_time_timer(at);
        }
        if empty {
            self.rows.clear(ctx);
        }
        self.gauge.set(self.stored as u64);
        Ok(())
    }
}

fn encode_rows<T>(rows: &[Row<T>], enc: fn(&T, &mut Vec<u8>), o: &mut Vec<u8>) {
    (rows.len() as u64).encode(o);
    for r in rows {
        enc(&r.value, o);
        r.touched.encode(o);
        r.matches.encode(o);
    }
}

fn decode_rows<T>(
    i: &mut &[u8],
    dec: fn(&mut &[u8]) -> Result<T, DecodeError>,
) -> Result<Vec<Row<T>>, DecodeError> {
    // A row takes at least its time and match count (12 bytes).
    let n = decode_len(i, 12)?;
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        rows.push(Row {
            value: dec(i)?,
            touched: Timestamp::decode(i)?,
            matches: u32::decode(i)?,
        });
    }
    Ok(rows)
}

/// The keyed co-process factory of a regular join, which finds its codecs when the job
/// starts and names the types to register when they are missing.
struct RegularJoinFactory<K, A, B, FA, FB> {
    inner: Inner<K, A, B, FA, FB>,
}

type Inner<K, A, B, FA, FB> =
    KeyedCoProcessFactory<RegularJoinFn<K, A, B>, K, A, B, JoinChange<A, B>, FA, FB>;

impl<K, A, B, FA, FB> NodeFactory for RegularJoinFactory<K, A, B, FA, FB>
where
    K: Key,
    A: Data,
    B: Data,
    FA: Fn(&A) -> K + Clone + Send + 'static,
    FB: Fn(&B) -> K + Clone + Send + 'static,
{
    fn prepare(&mut self, cfg: &JobConfig) -> crate::error::Result<()> {
        if cfg.checkpoint.is_some() {
            let t = &cfg.state_types;
            self.inner.f.codecs = match (t.get::<K>(), t.get::<A>(), t.get::<B>()) {
                (Some(key), Some(left), Some(right)) => Some(JoinCodecs { key, left, right }),
                _ => None,
            };
        }
        self.inner.prepare(cfg)
    }

    fn checkpoint_role(&mut self) -> Result<(), String> {
        if self.inner.f.codecs.is_none() {
            return Err(format!(
                "register its key type `{}` and row types `{}` and `{}` with \
                 Env::state_type",
                std::any::type_name::<K>(),
                std::any::type_name::<A>(),
                std::any::type_name::<B>()
            ));
        }
        self.inner.checkpoint_role()
    }

    fn instantiate(&mut self, cx: &Instantiate<'_>) -> crate::error::Result<Box<dyn ShardNode>> {
        self.inner.instantiate(cx)
    }
}

impl<K, A, B, FA, FB> KeyedConnectedStreams<K, A, B, FA, FB>
where
    K: Key,
    A: Data,
    B: Data,
    FA: Fn(&A) -> K + Clone + Send + 'static,
    FB: Fn(&B) -> K + Clone + Send + 'static,
{
    /// The regular (unbounded) equi-join of the two keyed streams on their keys, as a
    /// changelog (see [`join::regular`](crate::join::regular) for the exact rules). Rows are
    /// cloned into each change they appear in; join projections rather than wide rows.
    ///
    /// # Examples
    ///
    /// A left outer join: the order alone is padded, then retracted when its payment
    /// arrives.
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::join::{JoinChange, RegularJoin, RowKind};
    ///
    /// // One shard, one source feeding both sides: the order arrives before the payment.
    /// let env = Env::new().shards(1).batch_size(1);
    /// let events = env.from_iter(vec![(7u32, "order"), (7, "payment")]);
    /// let orders = events.filter(|e| e.1 == "order").key_by(|e| e.0);
    /// let payments = events.filter(|e| e.1 == "payment").key_by(|e| e.0);
    /// let changes = orders.connect(&payments).regular_join(RegularJoin::left_outer()).collect();
    /// env.execute().unwrap();
    /// let change = |kind, right| JoinChange { kind, left: Some((7, "order")), right };
    /// assert_eq!(changes.take(), vec![
    ///     change(RowKind::Insert, None),
    ///     change(RowKind::Delete, None),
    ///     change(RowKind::Insert, Some((7, "payment"))),
    /// ]);
    /// ```
    #[track_caller]
    pub fn regular_join(&self, spec: RegularJoin) -> DataStream<JoinChange<A, B>> {
        let (a, b) = (&self.a.stream, &self.b.stream);
        let id = a.env.add_node(
            op_name("regular_join"),
            vec![(a.node, a.port), (b.node, b.port)],
            Box::new(RegularJoinFactory {
                inner: KeyedCoProcessFactory {
                    f: RegularJoinFn::<K, A, B>::new(spec),
                    key_a: self.a.key.clone(),
                    key_b: self.b.key.clone(),
                    _t: PhantomData,
                },
            }),
        );
        DataStream::new(a.env.clone(), id, 0)
    }
}
