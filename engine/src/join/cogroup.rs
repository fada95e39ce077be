//! Co-group over windows (Flink's `CoGroupedStreams`): per key and window, every element of
//! both inputs, handed to one function — also for keys present on one side only.
//!
//! Built as Flink builds it, on the window operator: each input is tagged
//! ([`Either::Left`] / [`Either::Right`]), the two are unioned, keyed by the per-side key
//! selectors and windowed together. So session windows merge across both sides, triggers,
//! evictors and allowed lateness behave exactly as for one windowed stream, and late
//! elements go to a side output of tagged elements. A window's contents are kept as two
//! vectors, one per side, so firing hands the function two slices without copying or
//! splitting anything.
//!
//! Rejected: a dedicated two-input window operator. It would save the tagging `map`, the
//! union and one enum discriminant per element (all per-batch or free), at the price of a
//! second copy of the window operator's trigger, lateness and merging logic.

use std::marker::PhantomData;

use crate::api::{op_name, Data, DataStream, Key, NoEvictor, WithEvictor};
use crate::checkpoint::{DecodeError, StateData};
use crate::error::UserError;
use crate::operators::OutputTag;
use crate::state::StateGauge;
use crate::time::Timestamp;
use crate::window::operator::WindowOp;
use crate::window::{
    Contents, EvictingContents, Evictor, Trigger, Window, WindowAssigner, WindowContext,
};

/// An element of one of the two inputs of a window join or co-group (Flink's
/// `TaggedUnion`): what the shared window sees, what a trigger, evictor or dynamic session
/// gap of a join is given, and what its late-data side output carries.
///
/// # Examples
///
/// ```
/// use spate::join::Either;
/// let e: Either<u8, &str> = Either::Right("x");
/// assert!(!e.is_left());
/// assert_eq!(e.right(), Some("x"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Either<L, R> {
    /// An element of the first (left) input.
    Left(L),
    /// An element of the second (right) input.
    Right(R),
}

/// A tag byte (0 left, 1 right), then the element: so that the co-group and window join
/// elements can be registered with [`Env::state_type`](crate::Env::state_type) for
/// checkpoints of the window operator they run on.
impl<L: StateData, R: StateData> StateData for Either<L, R> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Either::Left(l) => {
                out.push(0);
                l.encode(out);
            }
            Either::Right(r) => {
                out.push(1);
                r.encode(out);
            }
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match u8::decode(input)? {
            0 => Ok(Either::Left(L::decode(input)?)),
            1 => Ok(Either::Right(R::decode(input)?)),
            t => Err(DecodeError(format!("Either tag {t}"))),
        }
    }
}

impl<L, R> Either<L, R> {
    /// `true` for an element of the left input.
    pub fn is_left(&self) -> bool {
        matches!(self, Either::Left(_))
    }
    /// The left element, if it is one.
    pub fn left(self) -> Option<L> {
        match self {
            Either::Left(l) => Some(l),
            Either::Right(_) => None,
        }
    }
    /// The right element, if it is one.
    pub fn right(self) -> Option<R> {
        match self {
            Either::Left(_) => None,
            Either::Right(r) => Some(r),
        }
    }
}

/// Marks a two-input window operation as a co-group (`a.co_group(&b)`).
#[derive(Debug, Clone, Copy)]
pub struct CoGroup;

/// Marks a two-input window operation as an inner join (`a.join(&b)`).
#[derive(Debug, Clone, Copy)]
pub struct InnerJoin;

/// Two streams to co-group or join over windows; say how to key each side with
/// [`where_`](CoGroupedStreams::where_) and [`equal_to`](Where::equal_to). `M` is
/// [`CoGroup`] or [`InnerJoin`].
pub struct CoGroupedStreams<M, A, B> {
    pub(crate) a: DataStream<A>,
    pub(crate) b: DataStream<B>,
    pub(crate) _m: PhantomData<fn() -> M>,
}

impl<A: Data> DataStream<A> {
    /// Starts a co-group of this stream with `other` over windows (Flink's `coGroup`):
    /// `a.co_group(&b).where_(key_a).equal_to(key_b).window(assigner).apply(f)` calls `f`
    /// once per key and window with all elements of both sides, in arrival order — one
    /// side's slice may be empty. See [`WithWindow::apply`](WithWindow#method.apply).
    pub fn co_group<B: Data>(&self, other: &DataStream<B>) -> CoGroupedStreams<CoGroup, A, B> {
        CoGroupedStreams {
            a: self.clone(),
            b: other.clone(),
            _m: PhantomData,
        }
    }
}

impl<M, A: Data, B: Data> CoGroupedStreams<M, A, B> {
    /// The key of a left element (Flink's `where`).
    pub fn where_<K: Key, FA>(self, key: FA) -> Where<M, K, A, B, FA>
    where
        FA: Fn(&A) -> K + Clone + Send + 'static,
    {
        Where {
            streams: self,
            key_a: key,
            _k: PhantomData,
        }
    }
}

/// A co-group or join whose left key is set; set the right one with
/// [`equal_to`](Where::equal_to).
pub struct Where<M, K, A, B, FA> {
    streams: CoGroupedStreams<M, A, B>,
    key_a: FA,
    _k: PhantomData<fn() -> K>,
}

impl<M, K: Key, A: Data, B: Data, FA> Where<M, K, A, B, FA>
where
    FA: Fn(&A) -> K + Clone + Send + 'static,
{
    /// The key of a right element, of the same type as the left key (Flink's `equalTo`).
    pub fn equal_to<FB>(self, key: FB) -> EqualTo<M, K, A, B, FA, FB>
    where
        FB: Fn(&B) -> K + Clone + Send + 'static,
    {
        EqualTo {
            streams: self.streams,
            key_a: self.key_a,
            key_b: key,
            _k: PhantomData,
        }
    }
}

/// A co-group or join with both keys set; choose its windows with
/// [`window`](EqualTo::window).
pub struct EqualTo<M, K, A, B, FA, FB> {
    streams: CoGroupedStreams<M, A, B>,
    key_a: FA,
    key_b: FB,
    _k: PhantomData<fn() -> K>,
}

impl<M, K: Key, A: Data, B: Data, FA, FB> EqualTo<M, K, A, B, FA, FB>
where
    FA: Fn(&A) -> K + Clone + Send + 'static,
    FB: Fn(&B) -> K + Clone + Send + 'static,
{
    /// Windows both sides with `assigner`, which sees the elements as [`Either`]s (so a
    /// session window merges elements of both sides); they fire with the assigner's default
    /// trigger.
    pub fn window<WA: WindowAssigner<Either<A, B>>>(
        self,
        assigner: WA,
    ) -> WithWindow<M, K, A, B, FA, FB, WA, WA::DefaultTrigger> {
        WithWindow {
            trigger: assigner.default_trigger(),
            assigner,
            streams: self.streams,
            key_a: self.key_a,
            key_b: self.key_b,
            evictor: NoEvictor,
            lateness: 0,
            late_tag: None,
            gauge: None,
            _k: PhantomData,
        }
    }
}

/// A co-group or join over windows (Flink's `WithWindow`): set the trigger, evictor,
/// allowed lateness, late-data side output or state gauge, then the function.
pub struct WithWindow<M, K, A, B, FA, FB, WA, Tr, E = NoEvictor> {
    streams: CoGroupedStreams<M, A, B>,
    key_a: FA,
    key_b: FB,
    assigner: WA,
    trigger: Tr,
    evictor: E,
    lateness: i64,
    late_tag: Option<OutputTag<Either<A, B>>>,
    gauge: Option<StateGauge>,
    _k: PhantomData<fn() -> K>,
}

impl<M, K, A, B, FA, FB, WA, Tr, E> WithWindow<M, K, A, B, FA, FB, WA, Tr, E>
where
    K: Key,
    A: Data,
    B: Data,
    FA: Fn(&A) -> K + Clone + Send + 'static,
    FB: Fn(&B) -> K + Clone + Send + 'static,
    WA: WindowAssigner<Either<A, B>>,
    Tr: Trigger<Either<A, B>, WA::W>,
{
    /// Replaces the trigger (it sees the elements as [`Either`]s).
    pub fn trigger<Tr2: Trigger<Either<A, B>, WA::W>>(
        self,
        trigger: Tr2,
    ) -> WithWindow<M, K, A, B, FA, FB, WA, Tr2, E> {
        WithWindow {
            streams: self.streams,
            key_a: self.key_a,
            key_b: self.key_b,
            assigner: self.assigner,
            trigger,
            evictor: self.evictor,
            lateness: self.lateness,
            late_tag: self.late_tag,
            gauge: self.gauge,
            _k: PhantomData,
        }
    }

    /// Sets an evictor over the window's tagged elements: windows then keep their elements
    /// with timestamps and copy what the evictor leaves into the function's slices on each
    /// firing (as in Flink, evictors cost).
    pub fn evictor<E2: Evictor<Either<A, B>>>(
        self,
        evictor: E2,
    ) -> WithWindow<M, K, A, B, FA, FB, WA, Tr, WithEvictor<E2>> {
        WithWindow {
            streams: self.streams,
            key_a: self.key_a,
            key_b: self.key_b,
            assigner: self.assigner,
            trigger: self.trigger,
            evictor: WithEvictor(evictor),
            lateness: self.lateness,
            late_tag: self.late_tag,
            gauge: self.gauge,
            _k: PhantomData,
        }
    }

    /// Keeps event-time windows `ms` past their end: an element within that lateness fires
    /// its window again with everything it holds — a join then emits the earlier pairs
    /// again along with the new ones, as Flink does. State is dropped when the watermark
    /// passes `end − 1 + ms`.
    pub fn allowed_lateness(mut self, ms: i64) -> Self {
        self.lateness = ms.max(0);
        self
    }

    /// Sends elements that are too late for every window of theirs to the side output
    /// `tag`, tagged with their side and with their timestamps; read it with
    /// `side_output(&tag)` on the result stream. Flink's join and co-group drop them
    /// silently, with no way to get them; without this call they are dropped here too, as
    /// by any window operator without a late-data side output.
    pub fn side_output_late_data(mut self, tag: &OutputTag<Either<A, B>>) -> Self {
        self.late_tag = Some(tag.clone());
        self
    }

    /// Publishes the number of buffered elements (summed over shards) to `gauge`, once per
    /// batch and watermark.
    pub fn state_gauge(mut self, gauge: &StateGauge) -> Self {
        self.gauge = Some(gauge.clone());
        self
    }

    /// Tags, unions, keys and windows both inputs, with `contents` per window.
    #[track_caller]
    fn build<O: Data, C: Contents<K, Either<A, B>, WA::W, O>>(
        self,
        name: String,
        contents: C,
    ) -> DataStream<O> {
        let left = self.streams.a.map(Either::<A, B>::Left);
        let right = self.streams.b.map(Either::<A, B>::Right);
        let (key_a, key_b) = (self.key_a, self.key_b);
        let keyed = left
            .union(&[right])
            .key_by(move |e: &Either<A, B>| match e {
                Either::Left(a) => key_a(a),
                Either::Right(b) => key_b(b),
            });
        let op = WindowOp::new(
            keyed.key.clone(),
            self.assigner,
            self.trigger,
            contents,
            self.lateness,
            self.late_tag,
        )
        .with_gauge(self.gauge);
        keyed.stream.unary(name, op)
    }
}

/// Keeps a window's elements as one vector per side and hands both to `F` on firing.
#[derive(Clone)]
pub(crate) struct CoGroupContents<F>(pub(crate) F);

impl<K, A, B, W, O, F> Contents<K, Either<A, B>, W, O> for CoGroupContents<F>
where
    A: Send + 'static,
    B: Send + 'static,
    W: Window,
    O: Clone,
    F: FnMut(&[A], &[B], &mut WindowContext<'_, W, O>) -> Result<(), UserError>
        + Clone
        + Send
        + 'static,
{
    type Acc = (Vec<A>, Vec<B>);
    fn create(&mut self) -> Self::Acc {
        (Vec::new(), Vec::new())
    }
    fn size(&self, acc: &Self::Acc) -> usize {
        acc.0.len() + acc.1.len()
    }
    #[inline]
    fn add(&mut self, acc: &mut Self::Acc, _ts: Timestamp, value: Either<A, B>) {
        match value {
            Either::Left(a) => acc.0.push(a),
            Either::Right(b) => acc.1.push(b),
        }
    }
    fn merge(&mut self, into: &mut Self::Acc, mut from: Self::Acc) {
        into.0.append(&mut from.0);
        into.1.append(&mut from.1);
    }
    fn emit(
        &mut self,
        _key: &K,
        acc: &mut Self::Acc,
        cx: &mut WindowContext<'_, W, O>,
    ) -> Result<(), UserError> {
        (self.0)(&acc.0, &acc.1, cx)
    }
    fn acc_codec(
        &self,
        types: &crate::checkpoint::types::StateTypes,
    ) -> Result<crate::window::snapshot::DynCodec<Self::Acc>, String> {
        use crate::window::snapshot::{decode_list, need, DynCodec};
        let (a, b) = match (
            need::<A>(types, "left element"),
            need::<B>(types, "right element"),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
            (Err(ea), Err(eb)) => return Err(format!("{ea}; {eb}")),
        };
        let (ea, da, eb, db) = (a.encode, a.decode, b.encode, b.decode);
        Ok(DynCodec {
            enc: std::sync::Arc::new(move |v: &Self::Acc, o: &mut Vec<u8>| {
                (v.0.len() as u64).encode(o);
                v.0.iter().for_each(|x| ea(x, o));
                (v.1.len() as u64).encode(o);
                v.1.iter().for_each(|x| eb(x, o));
            }),
            dec: std::sync::Arc::new(move |r: &mut &[u8]| {
                let left = decode_list(r, 0, &|r: &mut &[u8]| da(r))?;
                let right = decode_list(r, 0, &|r: &mut &[u8]| db(r))?;
                Ok((left, right))
            }),
        })
    }
}

/// `build_co_group`, the co-group's `apply` and the join's functions exist once per evictor
/// choice (the contents type differs); this writes the evictor-specific part.
macro_rules! co_group_functions {
    ($evictor:ty, $this:ident, $inner:ident => $wrap:expr, [$($extra:tt)*]) => {
        impl<M, K, A, B, FA, FB, WA, Tr, $($extra)*> WithWindow<M, K, A, B, FA, FB, WA, Tr, $evictor>
        where
            K: Key,
            A: Data,
            B: Data,
            FA: Fn(&A) -> K + Clone + Send + 'static,
            FB: Fn(&B) -> K + Clone + Send + 'static,
            WA: WindowAssigner<Either<A, B>>,
            Tr: Trigger<Either<A, B>, WA::W>,
        {
            /// The window operator over both sides with `f` per key and window.
            #[track_caller]
            pub(crate) fn build_co_group<O: Data, F>(self, name: String, f: F) -> DataStream<O>
            where
                F: FnMut(&[A], &[B], &mut WindowContext<'_, WA::W, O>) -> Result<(), UserError>
                    + Clone
                    + Send
                    + 'static,
            {
                let $this = self;
                let $inner = CoGroupContents(f);
                let contents = $wrap;
                $this.build(name, contents)
            }
        }

        impl<K, A, B, FA, FB, WA, Tr, $($extra)*> WithWindow<CoGroup, K, A, B, FA, FB, WA, Tr, $evictor>
        where
            K: Key,
            A: Data,
            B: Data,
            FA: Fn(&A) -> K + Clone + Send + 'static,
            FB: Fn(&B) -> K + Clone + Send + 'static,
            WA: WindowAssigner<Either<A, B>>,
            Tr: Trigger<Either<A, B>, WA::W>,
        {
            /// Calls `f(left, right, ctx)` for each key and firing window with the elements
            /// of each side in arrival order (one side may be empty; a window with no
            /// element does not exist). `ctx` gives the window and emits results
            /// timestamped with its last millisecond (`end − 1`).
            ///
            /// # Examples
            ///
            /// Count both sides per key and 10 ms window, keys on one side included:
            ///
            /// ```
            /// use spate::prelude::*;
            /// use spate::window::TumblingWindows;
            /// let env = Env::new().shards(2);
            /// let by_ts = |r: &(char, i64)| r.1;
            /// let views = env.from_iter(vec![('a', 1), ('a', 4), ('b', 2), ('a', 15)])
            ///     .assign_timestamps_and_watermarks(WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(by_ts));
            /// let buys = env.from_iter(vec![('a', 3), ('c', 9)])
            ///     .assign_timestamps_and_watermarks(WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(by_ts));
            /// let counts = views
            ///     .co_group(&buys)
            ///     .where_(|v| v.0)
            ///     .equal_to(|b| b.0)
            ///     .window(TumblingWindows::of(10))
            ///     .apply(|v: &[(char, i64)], b: &[(char, i64)], out| {
            ///         let key = v.first().or(b.first()).map_or('?', |r| r.0);
            ///         out.collect((key, out.window().start, v.len(), b.len()));
            ///         Ok(())
            ///     })
            ///     .collect();
            /// env.execute().unwrap();
            /// assert_eq!(counts.sorted(), vec![('a', 0, 2, 1), ('a', 10, 1, 0), ('b', 0, 1, 0), ('c', 0, 0, 1)]);
            /// ```
            #[track_caller]
            pub fn apply<O: Data, F>(self, f: F) -> DataStream<O>
            where
                F: FnMut(&[A], &[B], &mut WindowContext<'_, WA::W, O>) -> Result<(), UserError>
                    + Clone
                    + Send
                    + 'static,
            {
                self.build_co_group(op_name("co_group"), f)
            }
        }
    };
}

co_group_functions!(NoEvictor, this, inner => inner, []);
co_group_functions!(WithEvictor<E>, this, inner => EvictingContents { evictor: this.evictor.0.clone(), inner }, [E: Evictor<Either<A, B>>]);
