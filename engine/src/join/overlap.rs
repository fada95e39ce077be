//! `a.key_by(..).overlap_join(&b.key_by(..), interval_a, interval_b).process(f)`: records that
//! carry a validity interval `[start, end)` join when their intervals overlap.

use std::marker::PhantomData;

use super::buffer::Interval;
use super::gauge::JoinStateGauge;
use super::operator::{Emit, JoinFactory, JoinSpec, Span};
use crate::api::{op_name, Data, DataStream, Key, KeyedStream};
use crate::error::UserError;
use crate::operators::{Output, OutputTag, SideOutputs};
use crate::time::Timestamp;

/// What an [`OverlapJoinFunction`] sees and does for one joined pair, or for one unmatched
/// left record of a left-outer join.
pub struct OverlapContext<'a, K, O> {
    key: &'a K,
    left: Interval,
    right: Option<Interval>,
    watermark: Timestamp,
    out: &'a mut Output<O>,
    sides: &'a mut SideOutputs,
}

impl<K, O: Clone + 'static> OverlapContext<'_, K, O> {
    /// The key both records share.
    pub fn current_key(&self) -> &K {
        self.key
    }

    /// The left record's interval.
    pub fn left_interval(&self) -> Interval {
        self.left
    }

    /// The right record's interval; `None` for an unmatched left record.
    pub fn right_interval(&self) -> Option<Interval> {
        self.right
    }

    /// The intersection `[max(starts), min(ends))`; `None` for an unmatched left record.
    pub fn overlap(&self) -> Option<Interval> {
        self.right.map(|r| self.left.intersection(&r))
    }

    /// The output's timestamp: the start of the overlap, or of the left record when it is
    /// unmatched.
    pub fn timestamp(&self) -> Timestamp {
        self.overlap().unwrap_or(self.left).start
    }

    /// The operator's input watermark when the pair was found (for an unmatched left
    /// record: the watermark that passed its end).
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// Emits `value` with [`timestamp`](Self::timestamp).
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

    /// Emits `value` to the side output `tag`, with [`timestamp`](Self::timestamp).
    #[inline]
    pub fn output<X: Clone + 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        let ts = self.timestamp();
        self.sides.give(tag, ts, value);
    }
}

/// The function an overlap join calls with every pair of overlapping records — `right` is
/// `Some` — and, in a left-outer join, once with every left record nothing overlapped —
/// `right` is `None`. Records come by reference: a buffered record joins many times and is
/// never copied for it.
///
/// Closures `FnMut(&A, Option<&B>, &mut OverlapContext<K, O>) -> Result<(), UserError>`
/// implement it. The function is cloned once per shard before the job starts.
pub trait OverlapJoinFunction<K, A, B, O>: Clone + Send + 'static {
    /// Called for one pair, or one unmatched left record.
    fn process_element(
        &mut self,
        left: &A,
        right: Option<&B>,
        ctx: &mut OverlapContext<'_, K, O>,
    ) -> Result<(), UserError>;
}

impl<K, A, B, O, F> OverlapJoinFunction<K, A, B, O> for F
where
    F: FnMut(&A, Option<&B>, &mut OverlapContext<'_, K, O>) -> Result<(), UserError>
        + Clone
        + Send
        + 'static,
{
    #[inline]
    fn process_element(
        &mut self,
        left: &A,
        right: Option<&B>,
        ctx: &mut OverlapContext<'_, K, O>,
    ) -> Result<(), UserError> {
        self(left, right, ctx)
    }
}

/// The overlap join's rules: a record is its interval, judged late by its start, dropped
/// once the watermark reaches its end (no record on time can overlap it any more).
#[derive(Clone)]
pub(crate) struct OverlapSpec<P, IA, IB> {
    f: P,
    left: IA,
    right: IB,
    outer: bool,
}

impl<K, A, B, O, P, IA, IB> JoinSpec<K, A, B, O> for OverlapSpec<P, IA, IB>
where
    P: OverlapJoinFunction<K, A, B, O>,
    IA: Fn(&A) -> Interval + Clone + Send + 'static,
    IB: Fn(&B) -> Interval + Clone + Send + 'static,
    O: Clone + 'static,
{
    #[inline]
    fn left_span(&self, _ts: Timestamp, value: &A) -> Result<Span, UserError> {
        let iv = (self.left)(value);
        Ok(Span { time: iv.start, iv })
    }

    #[inline]
    fn right_span(&self, _ts: Timestamp, value: &B) -> Result<Span, UserError> {
        let iv = (self.right)(value);
        Ok(Span { time: iv.start, iv })
    }

    fn holds(&self) -> [i64; 2] {
        [0, 0]
    }

    fn left_outer(&self) -> bool {
        self.outer
    }

    fn watermark_delay(&self) -> i64 {
        1
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
        let mut ctx = OverlapContext {
            key,
            left: left_iv,
            right: Some(right_iv),
            watermark: em.watermark,
            out: em.out,
            sides: em.sides,
        };
        self.f.process_element(left, Some(right), &mut ctx)
    }

    fn unmatched_left(
        &mut self,
        key: &K,
        left: &A,
        left_iv: Interval,
        em: &mut Emit<'_, O>,
    ) -> Result<(), UserError> {
        let mut ctx = OverlapContext {
            key,
            left: left_iv,
            right: None,
            watermark: em.watermark,
            out: em.out,
            sides: em.sides,
        };
        self.f.process_element(left, None, &mut ctx)
    }
}

/// Two keyed streams to join on overlapping intervals; configure, then
/// [`process`](Self::process).
pub struct OverlapJoin<K, A, B, FA, FB, IA, IB> {
    a: KeyedStream<K, A, FA>,
    b: KeyedStream<K, B, FB>,
    left: IA,
    right: IB,
    outer: bool,
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
    /// Joins this keyed stream (the left side) with `other` (the right side) on validity
    /// intervals: `left_interval` and `right_interval` give each record's `[start, end)`, and
    /// records with equal keys join when their intervals overlap
    /// (`a.start < b.end && b.start < a.end`); the function sees the intersection as
    /// [`OverlapContext::overlap`]. Inner by default; [`left_outer`](OverlapJoin::left_outer)
    /// also reports left records nothing overlapped.
    ///
    /// Event time, by analogy with the interval join (whose left record is the interval of
    /// right timestamps it accepts, its right record a point):
    /// - a record's time is its interval's **start**: give the streams watermarks that
    ///   follow the starts (timestamp = start). A record is late when its start is below the
    ///   operator's watermark; late records go to the late outputs, or without one are
    ///   counted in the job's metrics. Every record that is not late meets every record of
    ///   the other side it overlaps, whatever the order they arrive in.
    /// - a pair is emitted as soon as its second record arrives, with the overlap's start
    ///   (the later start) as timestamp — at or after the input watermark. The output
    ///   watermark is one below the input's, so every row is after it: on time downstream,
    ///   even for a record that starts exactly at the watermark.
    /// - a record is dropped once the watermark reaches its **end**: an on-time record
    ///   starts at or after the watermark, so it can no longer overlap.
    /// - left-outer: a left record that nothing overlapped is reported at that moment, with
    ///   its start as timestamp. The output watermark is also held below the earliest
    ///   start of a buffered left record not matched yet, so these rows are never late
    ///   downstream (a long unmatched interval holds it back until its end passes).
    /// - an interval whose end is not after its start overlaps nothing (left-outer: it is
    ///   reported unmatched at once).
    ///
    /// # Examples
    ///
    /// Which alarms fired during which shift of the same machine, and shifts without alarm:
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::join::Interval;
    ///
    /// type Span = (&'static str, i64, i64); // (machine, start, end)
    /// let env = Env::new().shards(2);
    /// let by_start = |s: DataStream<Span>| {
    ///     s.assign_timestamps_and_watermarks(
    ///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|r: &Span| r.1),
    ///     )
    ///     .key_by(|r| r.0)
    /// };
    /// let shifts = by_start(env.from_iter(vec![("m1", 0, 8), ("m2", 0, 8), ("m1", 8, 16)]));
    /// let alarms = by_start(env.from_iter(vec![("m1", 6, 10), ("m2", 9, 11)]));
    /// let out = shifts
    ///     .overlap_join(&alarms, |s: &Span| Interval::new(s.1, s.2), |a: &Span| Interval::new(a.1, a.2))
    ///     .left_outer()
    ///     .process(|s: &Span, a: Option<&Span>, ctx: &mut OverlapContext<'_, &'static str, String>| {
    ///         let row = match ctx.overlap() {
    ///             Some(o) => format!("{} shift {} alarm during [{}, {})", s.0, s.1, o.start, o.end),
    ///             None => format!("{} shift {} quiet", s.0, s.1),
    ///         };
    ///         ctx.collect(row);
    ///         Ok(())
    ///     })
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![
    ///     "m1 shift 0 alarm during [6, 8)",
    ///     "m1 shift 8 alarm during [8, 10)",
    ///     "m2 shift 0 quiet",
    /// ]);
    /// ```
    pub fn overlap_join<B, FB, IA, IB>(
        &self,
        other: &KeyedStream<K, B, FB>,
        left_interval: IA,
        right_interval: IB,
    ) -> OverlapJoin<K, A, B, FA, FB, IA, IB>
    where
        B: Data,
        FB: Fn(&B) -> K + Clone + Send + 'static,
        IA: Fn(&A) -> Interval + Clone + Send + 'static,
        IB: Fn(&B) -> Interval + Clone + Send + 'static,
    {
        OverlapJoin {
            a: self.clone(),
            b: other.clone(),
            left: left_interval,
            right: right_interval,
            outer: false,
            late_left: None,
            late_right: None,
            gauge: None,
        }
    }
}

impl<K, A, B, FA, FB, IA, IB> OverlapJoin<K, A, B, FA, FB, IA, IB>
where
    K: Key,
    A: Data,
    B: Data,
    FA: Fn(&A) -> K + Clone + Send + 'static,
    FB: Fn(&B) -> K + Clone + Send + 'static,
    IA: Fn(&A) -> Interval + Clone + Send + 'static,
    IB: Fn(&B) -> Interval + Clone + Send + 'static,
{
    /// Also calls the function, with `right = None`, for every left record that no right
    /// record overlapped, once the watermark reaches its end.
    pub fn left_outer(mut self) -> Self {
        self.outer = true;
        self
    }

    /// Sends late left records to the side output `tag`, unchanged, with their timestamps.
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

    /// Runs `f` on every overlapping pair (and unmatched left record, when left-outer); see
    /// [`KeyedStream::overlap_join`](crate::KeyedStream::overlap_join) for the semantics.
    #[track_caller]
    pub fn process<O: Data, P: OverlapJoinFunction<K, A, B, O>>(self, f: P) -> DataStream<O> {
        let name = op_name(if self.outer {
            "overlap_join (left outer)"
        } else {
            "overlap_join"
        });
        let (a, b) = (&self.a.stream, &self.b.stream);
        let factory = JoinFactory {
            spec: OverlapSpec {
                f,
                left: self.left,
                right: self.right,
                outer: self.outer,
            },
            key_a: self.a.key.clone(),
            key_b: self.b.key.clone(),
            late_left: self.late_left,
            late_right: self.late_right,
            gauge: self.gauge,
            invalid: None,
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
