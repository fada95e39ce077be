//! `a.key_by(..).interval_join(&b.key_by(..)).between(lower, upper).process(f)`: Flink's
//! interval join, as the special case of the overlap join where one side is a point.
//!
//! A left record at `ts` is the interval `[ts + lower, ts + upper + 1)` of right timestamps it
//! accepts; a right record at `ts` is the point `[ts, ts + 1)`. A pair matches exactly when
//! these overlap — `ts_l + lower <= ts_r <= ts_l + upper` — so both directions are the same
//! probe of the same buffers as the overlap join ([`IntervalSpec`] is all that differs).

use std::marker::PhantomData;

use super::buffer::Interval;
use super::gauge::JoinStateGauge;
use super::operator::{Emit, JoinFactory, JoinSpec, Span};
use crate::api::{op_name, Data, DataStream, Key, KeyedStream};
use crate::error::UserError;
use crate::operators::{Output, OutputTag, SideOutputs};
use crate::time::{Timestamp, NO_TIMESTAMP};

/// What a [`ProcessJoinFunction`] sees and does for one joined pair: the key, both records'
/// timestamps, and the outputs (Flink's `ProcessJoinFunction.Context`).
pub struct ProcessJoinContext<'a, K, O> {
    key: &'a K,
    left_ts: Timestamp,
    right_ts: Timestamp,
    watermark: Timestamp,
    out: &'a mut Output<O>,
    sides: &'a mut SideOutputs,
}

impl<K, O: Clone + 'static> ProcessJoinContext<'_, K, O> {
    /// The key both records share.
    pub fn current_key(&self) -> &K {
        self.key
    }

    /// The left record's timestamp.
    pub fn left_timestamp(&self) -> Timestamp {
        self.left_ts
    }

    /// The right record's timestamp.
    pub fn right_timestamp(&self) -> Timestamp {
        self.right_ts
    }

    /// The pair's timestamp: the later of the two.
    pub fn timestamp(&self) -> Timestamp {
        self.left_ts.max(self.right_ts)
    }

    /// The operator's watermark when the pair was found.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// Emits `value` with the pair's timestamp.
    #[inline]
    pub fn collect(&mut self, value: O) {
        let ts = self.timestamp();
        self.out.give(ts, value);
    }

    /// Emits `value` with timestamp `ts`.
    #[inline]
    pub fn collect_with_timestamp(&mut self, value: O, ts: Timestamp) {
        self.out.give(ts, value);
    }

    /// Emits `value` to the side output `tag`, with the pair's timestamp.
    #[inline]
    pub fn output<X: Clone + 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        let ts = self.timestamp();
        self.sides.give(tag, ts, value);
    }
}

/// The function an interval join calls with every matching pair (Flink's
/// `ProcessJoinFunction`). It gets both records by reference — a buffered record joins many
/// times and is never copied for it — and may emit any number of outputs.
///
/// Closures `FnMut(&A, &B, &mut ProcessJoinContext<K, O>) -> Result<(), UserError>` implement it.
/// The function is cloned once per shard before the job starts.
pub trait ProcessJoinFunction<K, A, B, O>: Clone + Send + 'static {
    /// Called once for every pair of records with equal keys whose timestamps are within
    /// the bounds.
    fn process_element(
        &mut self,
        left: &A,
        right: &B,
        ctx: &mut ProcessJoinContext<'_, K, O>,
    ) -> Result<(), UserError>;
}

impl<K, A, B, O, F> ProcessJoinFunction<K, A, B, O> for F
where
    F: FnMut(&A, &B, &mut ProcessJoinContext<'_, K, O>) -> Result<(), UserError>
        + Clone
        + Send
        + 'static,
{
    #[inline]
    fn process_element(
        &mut self,
        left: &A,
        right: &B,
        ctx: &mut ProcessJoinContext<'_, K, O>,
    ) -> Result<(), UserError> {
        self(left, right, ctx)
    }
}

/// The interval join's rules: a left record is the interval of right timestamps it
/// accepts, a right record a point. Lateness is judged on each record's own timestamp (as
/// Flink does), which for a left record is `lower` after its interval's start; so a right
/// record stays `−lower` past its point, until no left record on time can still reach it.
#[derive(Clone)]
pub(crate) struct IntervalSpec<P> {
    f: P,
    /// Inclusive bounds (exclusive ones already moved in by one).
    lower: i64,
    upper: i64,
}

fn timestamp_of(ts: Timestamp) -> Result<Timestamp, UserError> {
    if ts == NO_TIMESTAMP {
        return Err(
            "a record without a timestamp reached an interval join: assign event time \
                    with assign_timestamps_and_watermarks first"
                .into(),
        );
    }
    Ok(ts)
}

impl<K, A, B, O, P> JoinSpec<K, A, B, O> for IntervalSpec<P>
where
    P: ProcessJoinFunction<K, A, B, O>,
    O: Clone + 'static,
{
    #[inline]
    fn left_span(&self, ts: Timestamp, _value: &A) -> Result<Span, UserError> {
        let ts = timestamp_of(ts)?;
        let iv = ts
            .checked_add(self.lower)
            .zip(ts.checked_add(self.upper).and_then(|u| u.checked_add(1)))
            .map(|(s, e)| Interval::new(s, e))
            .ok_or_else(|| format!("timestamp {ts} plus the join bounds overflows"))?;
        Ok(Span { time: ts, iv })
    }

    #[inline]
    fn right_span(&self, ts: Timestamp, _value: &B) -> Result<Span, UserError> {
        let ts = timestamp_of(ts)?;
        if ts == Timestamp::MAX {
            return Err("a record at timestamp i64::MAX cannot be joined".into());
        }
        Ok(Span {
            time: ts,
            iv: Interval::point(ts),
        })
    }

    fn holds(&self) -> [i64; 2] {
        [0, self.lower.saturating_neg()]
    }

    #[inline]
    fn pair(
        &mut self,
        key: &K,
        left: &A,
        left_iv: Interval,
        right: &B,
        right_iv: Interval,
        em: &mut Emit<'_, O>,
    ) -> Result<(), UserError> {
        let mut ctx = ProcessJoinContext {
            key,
            left_ts: left_iv.start - self.lower,
            right_ts: right_iv.start,
            watermark: em.watermark,
            out: em.out,
            sides: em.sides,
        };
        self.f.process_element(left, right, &mut ctx)
    }
}

/// Two keyed streams to interval-join; set the bounds with [`between`](Self::between).
pub struct IntervalJoin<K, A, B, FA, FB> {
    a: KeyedStream<K, A, FA>,
    b: KeyedStream<K, B, FB>,
}

/// An interval join with its bounds, ready to [`process`](Self::process) (Flink's
/// `IntervalJoined`).
pub struct IntervalJoined<K, A, B, FA, FB> {
    a: KeyedStream<K, A, FA>,
    b: KeyedStream<K, B, FB>,
    lower: i64,
    upper: i64,
    lower_inclusive: bool,
    upper_inclusive: bool,
    late_left: Option<OutputTag<A>>,
    late_right: Option<OutputTag<B>>,
    gauge: Option<JoinStateGauge>,
}

impl<K, A, FA> KeyedStream<K, A, FA>
where
    K: Key,
    A: Data,
    FA: Fn(&A) -> K + Clone + Send + 'static,
{
    /// Joins this keyed stream (the left side) with `other` (the right side) on time
    /// intervals: every pair with equal keys and `left.ts + lower <= right.ts <= left.ts +
    /// upper` (Flink's `intervalJoin`). Both streams need event-time timestamps and
    /// watermarks.
    ///
    /// Semantics, as Flink's `IntervalJoinOperator`:
    /// - a record is late when its timestamp is below the operator's watermark (the minimum
    ///   of both inputs'); late records go to the late outputs set with
    ///   [`side_output_left_late_data`](IntervalJoined::side_output_left_late_data) /
    ///   [`side_output_right_late_data`](IntervalJoined::side_output_right_late_data), or,
    ///   without one, are counted in the job's metrics
    ///   (`[late left records discarded: no late output]`);
    /// - a pair is emitted, with the later of the two timestamps, as soon as its second
    ///   record arrives; the watermark is forwarded unchanged;
    /// - state is dropped once the watermark makes a match impossible: a left record once
    ///   the watermark passes `ts + upper`, a right record once it passes `ts − lower`.
    ///   Flink drops them at `max(ts + upper, ts)` / `max(ts − lower, ts)` when the watermark
    ///   *reaches* that time, which keeps some records longer than needed and loses pairs
    ///   with a record whose timestamp equals the watermark (one Flink accepts as on time);
    ///   Spate keeps each record exactly as long as an on-time record can still match it.
    ///
    /// # Examples
    ///
    /// Each click joined with the impressions of the same user in the 10 ms before it:
    ///
    /// ```
    /// use spate::prelude::*;
    ///
    /// let env = Env::new().shards(2);
    /// let stamped = |s: DataStream<(u32, i64)>| {
    ///     s.assign_timestamps_and_watermarks(
    ///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|r: &(u32, i64)| r.1),
    ///     )
    /// };
    /// let clicks = stamped(env.from_iter(vec![(1, 100), (2, 100), (1, 150)])).key_by(|r| r.0);
    /// let views = stamped(env.from_iter(vec![(1, 85), (1, 95), (2, 98), (1, 120)])).key_by(|r| r.0);
    /// let out = clicks
    ///     .interval_join(&views)
    ///     .between(-10, 0)
    ///     .process(|c: &(u32, i64), v: &(u32, i64), ctx: &mut ProcessJoinContext<'_, u32, (u32, i64, i64)>| {
    ///         ctx.collect((*ctx.current_key(), c.1, v.1));
    ///         Ok(())
    ///     })
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![(1, 100, 95), (2, 100, 98)]);
    /// ```
    pub fn interval_join<B, FB>(
        &self,
        other: &KeyedStream<K, B, FB>,
    ) -> IntervalJoin<K, A, B, FA, FB>
    where
        B: Data,
        FB: Fn(&B) -> K + Clone + Send + 'static,
    {
        IntervalJoin {
            a: self.clone(),
            b: other.clone(),
        }
    }
}

impl<K, A, B, FA, FB> IntervalJoin<K, A, B, FA, FB> {
    /// Right records join a left record at `ts` when their timestamp is in
    /// `[ts + lower, ts + upper]` (milliseconds; both bounds inclusive unless made
    /// exclusive). `lower > upper` fails the job at `execute`.
    pub fn between(self, lower: i64, upper: i64) -> IntervalJoined<K, A, B, FA, FB> {
        IntervalJoined {
            a: self.a,
            b: self.b,
            lower,
            upper,
            lower_inclusive: true,
            upper_inclusive: true,
            late_left: None,
            late_right: None,
            gauge: None,
        }
    }
}

impl<K, A, B, FA, FB> IntervalJoined<K, A, B, FA, FB>
where
    K: Key,
    A: Data,
    B: Data,
    FA: Fn(&A) -> K + Clone + Send + 'static,
    FB: Fn(&B) -> K + Clone + Send + 'static,
{
    /// Excludes the lower bound: `ts + lower < right.ts`.
    pub fn lower_bound_exclusive(mut self) -> Self {
        self.lower_inclusive = false;
        self
    }

    /// Excludes the upper bound: `right.ts < ts + upper`.
    pub fn upper_bound_exclusive(mut self) -> Self {
        self.upper_inclusive = false;
        self
    }

    /// Sends late left records to the side output `tag` (read it with
    /// `side_output(&tag)` on the join's result), unchanged, with their timestamps.
    pub fn side_output_left_late_data(mut self, tag: &OutputTag<A>) -> Self {
        self.late_left = Some(tag.clone());
        self
    }

    /// Sends late right records to the side output `tag`.
    pub fn side_output_right_late_data(mut self, tag: &OutputTag<B>) -> Self {
        self.late_right = Some(tag.clone());
        self
    }

    /// Publishes how many records the join buffers to `gauge`.
    pub fn state_gauge(mut self, gauge: &JoinStateGauge) -> Self {
        self.gauge = Some(gauge.clone());
        self
    }

    /// Runs `f` on every matching pair; see
    /// [`KeyedStream::interval_join`](crate::KeyedStream::interval_join) for the semantics.
    #[track_caller]
    pub fn process<O: Data, P: ProcessJoinFunction<K, A, B, O>>(self, f: P) -> DataStream<O> {
        let name = op_name("interval_join");
        let lower = if self.lower_inclusive {
            Some(self.lower)
        } else {
            self.lower.checked_add(1)
        };
        let upper = if self.upper_inclusive {
            Some(self.upper)
        } else {
            self.upper.checked_sub(1)
        };
        let (invalid, lower, upper) =
            match (lower, upper) {
                (Some(l), Some(u)) if l <= u => (None, l, u),
                _ => (
                    Some(format!(
                    "{name}: the bounds [{}, {}] ({} lower, {} upper bound) admit no timestamp: \
                     the lower bound must not exceed the upper",
                    self.lower,
                    self.upper,
                    if self.lower_inclusive { "inclusive" } else { "exclusive" },
                    if self.upper_inclusive { "inclusive" } else { "exclusive" },
                )),
                    0,
                    0,
                ),
            };
        let (a, b) = (&self.a.stream, &self.b.stream);
        let factory = JoinFactory {
            spec: IntervalSpec { f, lower, upper },
            key_a: self.a.key.clone(),
            key_b: self.b.key.clone(),
            late_left: self.late_left,
            late_right: self.late_right,
            gauge: self.gauge,
            invalid,
            codecs: None,
            _t: PhantomData::<fn(K, A, B) -> O>,
        };
        let id = a.env.add_node(
            name,
            vec![(a.node, a.port), (b.node, b.port)],
            Box::new(factory),
        );
        DataStream::new(a.env.clone(), id, 0)
    }
}
