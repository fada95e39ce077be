//! The broadcast state pattern's builders: `stream.connect_broadcast(&rules)` and
//! `keyed.connect_broadcast(&rules)`, then `.process(f)`.
//!
//! `connect_broadcast` sends the rule stream to every shard itself (Flink's
//! `rules.broadcast(descriptor)` followed by `connect`), so the rule stream passed in must
//! not be broadcast already: that would deliver each rule once per shard to every shard.

use std::marker::PhantomData;

use super::keyed::KeyedStream;
use super::stream::DataStream;
use super::{op_name, Data, Key};
use crate::exchange::Broadcast;
use crate::operators::broadcast::{BroadcastFactory, BroadcastProcessFunction};
use crate::operators::keyed_broadcast::{KeyedBroadcastFactory, KeyedBroadcastProcessFunction};

impl<T: Data> DataStream<T> {
    /// Connects this stream with `rules`, which is sent to every shard, for a
    /// [`BroadcastProcessFunction`] (Flink's `BroadcastConnectedStream`).
    #[track_caller]
    pub fn connect_broadcast<B: Data>(
        &self,
        rules: &DataStream<B>,
    ) -> BroadcastConnectedStreams<T, B> {
        BroadcastConnectedStreams {
            data: self.clone(),
            rules: rules.exchange(op_name("broadcast"), Broadcast),
        }
    }
}

impl<K, T, F> KeyedStream<K, T, F>
where
    K: Key,
    T: Data,
    F: Fn(&T) -> K + Clone + Send + 'static,
{
    /// Connects this keyed stream with `rules`, which is sent to every shard, for a
    /// [`KeyedBroadcastProcessFunction`] with keyed state, timers and broadcast state.
    #[track_caller]
    pub fn connect_broadcast<B: Data>(
        &self,
        rules: &DataStream<B>,
    ) -> KeyedBroadcastConnectedStreams<K, T, B, F> {
        KeyedBroadcastConnectedStreams {
            data: self.clone(),
            rules: rules.exchange(op_name("broadcast"), Broadcast),
        }
    }
}

/// A stream connected with a broadcast stream (Flink's `BroadcastConnectedStream`).
pub struct BroadcastConnectedStreams<T, B> {
    data: DataStream<T>,
    rules: DataStream<B>,
}

impl<T: Data, B: Data> BroadcastConnectedStreams<T, B> {
    /// Runs a [`BroadcastProcessFunction`]: data records read the broadcast state, rule
    /// records (on every shard) update it. The watermark is the minimum of both inputs'.
    ///
    /// # Examples
    ///
    /// Drop words while they are blocked; the block list changes while the job runs (an
    /// embedded job's `flush` makes sure a change has reached every shard):
    ///
    /// ```
    /// use spate::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Censor;
    /// impl BroadcastProcessFunction<String, (String, bool), String> for Censor {
    ///     type StateKey = String;
    ///     type StateValue = ();
    ///     fn process_element(&mut self, w: String, blocked: &BroadcastState<String, ()>, ctx: &mut ProcessContext<'_, String>) -> Result<(), UserError> {
    ///         if !blocked.contains_key(&w) {
    ///             ctx.collect(w);
    ///         }
    ///         Ok(())
    ///     }
    ///     fn process_broadcast_element(&mut self, (w, block): (String, bool), blocked: &mut BroadcastState<String, ()>, _ctx: &mut ProcessContext<'_, String>) -> Result<(), UserError> {
    ///         if block { blocked.insert(w, ()); } else { blocked.remove(&w); }
    ///         Ok(())
    ///     }
    /// }
    /// let env = Env::new().shards(2).low_latency(true);
    /// let (words_in, words) = env.channel_source::<String>(64);
    /// let (rules_in, rules) = env.channel_source::<(String, bool)>(64);
    /// let out = words.rebalance().connect_broadcast(&rules).process(Censor).to_channel(64);
    /// let job = env.start().unwrap();
    /// rules_in.push(("spam".into(), true)).unwrap();
    /// job.flush().unwrap();
    /// words_in.push("spam".into()).unwrap();
    /// words_in.push("ham".into()).unwrap();
    /// job.flush().unwrap();
    /// assert_eq!(out.try_recv().as_deref(), Some("ham"));
    /// assert_eq!(out.try_recv(), None);
    /// rules_in.push(("spam".into(), false)).unwrap();
    /// job.flush().unwrap();
    /// words_in.push("spam".into()).unwrap();
    /// job.flush().unwrap();
    /// assert_eq!(out.try_recv().as_deref(), Some("spam"));
    /// job.shutdown().unwrap();
    /// ```
    #[track_caller]
    pub fn process<O: Data, P: BroadcastProcessFunction<T, B, O>>(&self, f: P) -> DataStream<O> {
        let (a, b) = (&self.data, &self.rules);
        let id = a.env.add_node(
            op_name("broadcast_process"),
            vec![(a.node, a.port), (b.node, b.port)],
            Box::new(BroadcastFactory::<P, T, B, O> {
                f,
                codecs: None,
                _t: PhantomData,
            }),
        );
        DataStream::new(a.env.clone(), id, 0)
    }
}

/// A keyed stream connected with a broadcast stream (Flink's keyed
/// `BroadcastConnectedStream`).
pub struct KeyedBroadcastConnectedStreams<K, T, B, F> {
    data: KeyedStream<K, T, F>,
    rules: DataStream<B>,
}

impl<K, T, B, F> KeyedBroadcastConnectedStreams<K, T, B, F>
where
    K: Key,
    T: Data,
    B: Data,
    F: Fn(&T) -> K + Clone + Send + 'static,
{
    /// Runs a [`KeyedBroadcastProcessFunction`]: data records, with their key's state and
    /// timers, read the broadcast state; rule records (on every shard) update it. The
    /// watermark is the minimum of both inputs', and event-time timers fire as it passes.
    ///
    /// # Examples
    ///
    /// Alert when a user's running total passes the limit set for that user; limits arrive
    /// on a second stream while the job runs:
    ///
    /// ```
    /// use spate::prelude::*;
    /// use spate::state::ValueState;
    ///
    /// type Payment = (&'static str, i64); // (user, amount)
    /// type Limit = (&'static str, i64); // (user, limit)
    /// #[derive(Clone, Default)]
    /// struct OverLimit { total: ValueState<&'static str, i64> }
    /// impl KeyedBroadcastProcessFunction<&'static str, Payment, Limit, String> for OverLimit {
    ///     type StateKey = &'static str;
    ///     type StateValue = i64;
    ///     fn process_element(&mut self, (user, amount): Payment, limits: &BroadcastState<&'static str, i64>, ctx: &mut KeyedContext<'_, &'static str, String>) -> Result<(), UserError> {
    ///         let total = self.total.value(ctx).copied().unwrap_or(0) + amount;
    ///         self.total.update(ctx, total);
    ///         if let Some(&limit) = limits.get(user) {
    ///             if total > limit {
    ///                 ctx.collect(format!("{user}: {total} > {limit}"));
    ///             }
    ///         }
    ///         Ok(())
    ///     }
    ///     fn process_broadcast_element(&mut self, (user, limit): Limit, limits: &mut BroadcastState<&'static str, i64>, _ctx: &mut ProcessContext<'_, String>) -> Result<(), UserError> {
    ///         limits.insert(user, limit);
    ///         Ok(())
    ///     }
    /// }
    /// let env = Env::new().shards(2).low_latency(true);
    /// let (payments_in, payments) = env.channel_source::<Payment>(64);
    /// let (limits_in, limits) = env.channel_source::<Limit>(64);
    /// let alerts = payments
    ///     .key_by(|p| p.0)
    ///     .connect_broadcast(&limits)
    ///     .process(OverLimit::default())
    ///     .to_channel(64);
    /// let job = env.start().unwrap();
    /// limits_in.push(("ann", 100)).unwrap();
    /// job.flush().unwrap(); // the limit is now on every shard
    /// for p in [("ann", 80), ("bob", 500), ("ann", 30)] {
    ///     payments_in.push(p).unwrap();
    /// }
    /// job.flush().unwrap();
    /// assert_eq!(alerts.try_recv().as_deref(), Some("ann: 110 > 100"));
    /// assert_eq!(alerts.try_recv(), None); // bob has no limit
    /// job.shutdown().unwrap();
    /// ```
    #[track_caller]
    pub fn process<O: Data, P: KeyedBroadcastProcessFunction<K, T, B, O>>(
        &self,
        f: P,
    ) -> DataStream<O> {
        let (a, b) = (&self.data.stream, &self.rules);
        let id = a.env.add_node(
            op_name("keyed_broadcast_process"),
            vec![(a.node, a.port), (b.node, b.port)],
            Box::new(KeyedBroadcastFactory {
                f,
                key_fn: self.data.key.clone(),
                codecs: None,
                _t: PhantomData,
            }),
        );
        DataStream::new(a.env.clone(), id, 0)
    }
}
