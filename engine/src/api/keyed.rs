//! `KeyedStream`: a stream partitioned by key, and the keyed operators.

use std::marker::PhantomData;
use std::ops::AddAssign;

use super::fields;
use super::stream::DataStream;
use super::{op_name, Data, Key};
use crate::operators::keyed_co_process::{KeyedCoProcessFactory, KeyedCoProcessFunction};
use crate::operators::keyed_process::{KeyedProcess, KeyedProcessFunction};
use crate::operators::reduce::Reduce;
use crate::state::ValueState;
use crate::time::TimerService;

/// A stream partitioned by key (Flink's `KeyedStream`): every record of a key is on the
/// shard that owns the key's group, so keyed operators keep per-key state locally.
///
/// `F` is the key selector's type; it stays generic so key extraction is inlined.
pub struct KeyedStream<K, T, F> {
    pub(crate) stream: DataStream<T>,
    pub(crate) key: F,
    _k: PhantomData<fn() -> K>,
}

impl<K, T, F: Clone> Clone for KeyedStream<K, T, F> {
    fn clone(&self) -> Self {
        KeyedStream {
            stream: self.stream.clone(),
            key: self.key.clone(),
            _k: PhantomData,
        }
    }
}

impl<K, T, F> KeyedStream<K, T, F>
where
    K: Key,
    T: Data,
    F: Fn(&T) -> K + Clone + Send + 'static,
{
    pub(crate) fn new(stream: DataStream<T>, key: F) -> Self {
        KeyedStream {
            stream,
            key,
            _k: PhantomData,
        }
    }

    /// The partitioned stream itself (for non-keyed operators after the exchange).
    pub fn as_stream(&self) -> DataStream<T> {
        self.stream.clone()
    }

    /// Connects this keyed stream with another keyed by the same key type, for a
    /// [`KeyedCoProcessFunction`](crate::api::KeyedCoProcessFunction) with state and timers
    /// shared by both inputs.
    pub fn connect<B: Data, FB>(
        &self,
        other: &KeyedStream<K, B, FB>,
    ) -> KeyedConnectedStreams<K, T, B, F, FB>
    where
        FB: Fn(&B) -> K + Clone + Send + 'static,
    {
        KeyedConnectedStreams {
            a: self.clone(),
            b: other.clone(),
        }
    }

    /// Runs a [`KeyedProcessFunction`] with keyed state and timers.
    ///
    /// # Examples
    ///
    /// Count records per key and emit each key's total when the input ends, using an
    /// event-time timer at the end of time:
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::state::ValueState;
    ///
    /// #[derive(Clone, Default)]
    /// struct CountAtEnd { count: ValueState<char, u64> }
    /// impl KeyedProcessFunction<char, char, (char, u64)> for CountAtEnd {
    ///     fn process_element(&mut self, _v: char, ctx: &mut KeyedContext<'_, char, (char, u64)>) -> Result<(), UserError> {
    ///         let n = self.count.value(ctx).copied().unwrap_or(0) + 1;
    ///         self.count.update(ctx, n);
    ///         ctx.register_event_time_timer(i64::MAX);
    ///         Ok(())
    ///     }
    ///     fn on_timer(&mut self, _ts: i64, ctx: &mut KeyedContext<'_, char, (char, u64)>) -> Result<(), UserError> {
    ///         let n = self.count.value(ctx).copied().unwrap_or(0);
    ///         ctx.collect((*ctx.current_key(), n));
    ///         Ok(())
    ///     }
    /// }
    /// let env = Env::new().shards(2);
    /// let out = env.from_iter("abcab".chars()).key_by(|c| *c).process(CountAtEnd::default()).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![('a', 2), ('b', 2), ('c', 1)]);
    /// ```
    #[track_caller]
    pub fn process<O: Data, P: KeyedProcessFunction<K, T, O>>(&self, f: P) -> DataStream<O> {
        self.stream.unary(
            op_name("keyed_process"),
            KeyedProcess {
                f,
                key_fn: self.key.clone(),
                timers: TimerService::new(),
                key_codec: None,
                staged: None,
                _t: PhantomData,
            },
        )
    }

    /// A running fold per key: emits `f(accumulator, record)` after every record, the first
    /// record of a key being its initial accumulator (Flink's keyed `reduce`).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(2);
    /// let out = env
    ///     .from_iter(vec![("x", 1), ("x", 5), ("y", 2)])
    ///     .key_by(|r| r.0)
    ///     .reduce(|a, b| (a.0, a.1.max(b.1)))
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![("x", 1), ("x", 5), ("y", 2)]);
    /// ```
    #[track_caller]
    pub fn reduce<R: FnMut(T, T) -> T + Clone + Send + 'static>(&self, f: R) -> DataStream<T> {
        self.reduce_named(op_name("reduce"), f)
    }

    fn reduce_named<R: FnMut(T, T) -> T + Clone + Send + 'static>(
        &self,
        name: String,
        f: R,
    ) -> DataStream<T> {
        self.stream.unary(
            name,
            Reduce {
                f,
                key_fn: self.key.clone(),
                state: ValueState::new(),
                codecs: None,
                staged: None,
                _t: PhantomData,
            },
        )
    }

    /// Running sum of a field per key; the other fields are those of the key's first record
    /// (Flink's `sum(field)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(1);
    /// let out = env.from_iter(vec![("k", 1, 'a'), ("k", 2, 'b')]).key_by(|r| r.0).sum(|r| &mut r.1).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.take(), vec![("k", 1, 'a'), ("k", 3, 'a')]);
    /// ```
    #[track_caller]
    pub fn sum<N, A>(&self, field: A) -> DataStream<T>
    where
        N: AddAssign + Copy,
        A: Fn(&mut T) -> &mut N + Clone + Send + 'static,
    {
        self.reduce_named(op_name("sum"), fields::sum(field))
    }

    /// Running minimum of a field per key; other fields from the key's first record
    /// (Flink's `min(field)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(1);
    /// let out = env.from_iter(vec![("k", 5, 'a'), ("k", 2, 'b')]).key_by(|r| r.0).min(|r| &mut r.1).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.take(), vec![("k", 5, 'a'), ("k", 2, 'a')]);
    /// ```
    #[track_caller]
    pub fn min<N, A>(&self, field: A) -> DataStream<T>
    where
        N: PartialOrd + Copy,
        A: Fn(&mut T) -> &mut N + Clone + Send + 'static,
    {
        self.reduce_named(op_name("min"), fields::extreme(field, true))
    }

    /// Running maximum of a field per key; other fields from the key's first record
    /// (Flink's `max(field)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(1);
    /// let out = env.from_iter(vec![("k", 1, 'a'), ("k", 4, 'b')]).key_by(|r| r.0).max(|r| &mut r.1).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.take(), vec![("k", 1, 'a'), ("k", 4, 'a')]);
    /// ```
    #[track_caller]
    pub fn max<N, A>(&self, field: A) -> DataStream<T>
    where
        N: PartialOrd + Copy,
        A: Fn(&mut T) -> &mut N + Clone + Send + 'static,
    {
        self.reduce_named(op_name("max"), fields::extreme(field, false))
    }

    /// The record with the smallest field so far per key (the earlier one on ties, as
    /// Flink's `minBy`).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(1);
    /// let out = env.from_iter(vec![("k", 5, 'a'), ("k", 2, 'b'), ("k", 2, 'c')]).key_by(|r| r.0).min_by(|r| &mut r.1).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.take(), vec![("k", 5, 'a'), ("k", 2, 'b'), ("k", 2, 'b')]);
    /// ```
    #[track_caller]
    pub fn min_by<N, A>(&self, field: A) -> DataStream<T>
    where
        N: PartialOrd + Copy,
        A: Fn(&mut T) -> &mut N + Clone + Send + 'static,
    {
        self.reduce_named(op_name("min_by"), fields::extreme_by(field, true))
    }

    /// The record with the largest field so far per key (the earlier one on ties, as
    /// Flink's `maxBy`).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(1);
    /// let out = env.from_iter(vec![("k", 1, 'a'), ("k", 4, 'b'), ("k", 4, 'c')]).key_by(|r| r.0).max_by(|r| &mut r.1).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.take(), vec![("k", 1, 'a'), ("k", 4, 'b'), ("k", 4, 'b')]);
    /// ```
    #[track_caller]
    pub fn max_by<N, A>(&self, field: A) -> DataStream<T>
    where
        N: PartialOrd + Copy,
        A: Fn(&mut T) -> &mut N + Clone + Send + 'static,
    {
        self.reduce_named(op_name("max_by"), fields::extreme_by(field, false))
    }
}

/// Two keyed streams connected for a keyed two-input function (Flink's keyed
/// `ConnectedStreams`).
pub struct KeyedConnectedStreams<K, A, B, FA, FB> {
    pub(crate) a: KeyedStream<K, A, FA>,
    pub(crate) b: KeyedStream<K, B, FB>,
}

impl<K, A, B, FA, FB> KeyedConnectedStreams<K, A, B, FA, FB>
where
    K: Key,
    A: Data,
    B: Data,
    FA: Fn(&A) -> K + Clone + Send + 'static,
    FB: Fn(&B) -> K + Clone + Send + 'static,
{
    /// Runs a [`KeyedCoProcessFunction`] over both inputs; the watermark is the minimum of
    /// the two inputs', and event-time timers fire as it passes them.
    ///
    /// # Examples
    ///
    /// Pair each order with its payment, whichever arrives first:
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::state::ValueState;
    ///
    /// #[derive(Clone, Default)]
    /// struct Match { order: ValueState<u32, String>, paid: ValueState<u32, u64> }
    /// impl KeyedCoProcessFunction<u32, (u32, String), (u32, u64), (u32, String, u64)> for Match {
    ///     fn process_element1(&mut self, o: (u32, String), ctx: &mut KeyedContext<'_, u32, (u32, String, u64)>) -> Result<(), UserError> {
    ///         match self.paid.value(ctx).copied() {
    ///             Some(amount) => ctx.collect((o.0, o.1, amount)),
    ///             None => self.order.update(ctx, o.1),
    ///         }
    ///         Ok(())
    ///     }
    ///     fn process_element2(&mut self, p: (u32, u64), ctx: &mut KeyedContext<'_, u32, (u32, String, u64)>) -> Result<(), UserError> {
    ///         match self.order.value(ctx).cloned() {
    ///             Some(item) => ctx.collect((p.0, item, p.1)),
    ///             None => self.paid.update(ctx, p.1),
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// let env = Env::new().shards(2);
    /// let orders = env.from_iter(vec![(1, "book".to_string()), (2, "pen".to_string())]).key_by(|o| o.0);
    /// let payments = env.from_iter(vec![(2, 3u64), (1, 20)]).key_by(|p| p.0);
    /// let out = orders.connect(&payments).process(Match::default()).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![(1, "book".to_string(), 20), (2, "pen".to_string(), 3)]);
    /// ```
    #[track_caller]
    pub fn process<O: Data, P: KeyedCoProcessFunction<K, A, B, O>>(&self, f: P) -> DataStream<O> {
        let (a, b) = (&self.a.stream, &self.b.stream);
        let id = a.env.add_node(
            op_name("keyed_co_process"),
            vec![(a.node, a.port), (b.node, b.port)],
            Box::new(KeyedCoProcessFactory {
                f,
                key_a: self.a.key.clone(),
                key_b: self.b.key.clone(),
                _t: PhantomData,
            }),
        );
        DataStream::new(a.env.clone(), id, 0)
    }
}
