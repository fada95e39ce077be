//! `DataStream`: a stream of records and the operators that transform it.

use std::fmt::{Debug, Display};
use std::marker::PhantomData;
use std::path::Path;

use super::env::Env;
use super::keyed::KeyedStream;
use super::{op_name, Data, Key};
use crate::exchange::{Broadcast, ExchangeFactory, KeyPartitioner, Partition, Rebalance};
use crate::graph::{downcast_pushes, NodeId};
use crate::io::{
    CollectSink, Collected, CsvRow, CsvSink, LinesSink, PrintSink, StdoutLines, TxnLinesSink,
};
use crate::operators::co_process::{CoProcessFactory, CoProcessFunction};
use crate::operators::filter::Filter;
use crate::operators::flat_map::FlatMap;
use crate::operators::map::Map;
use crate::operators::process::{Process, ProcessFunction};
use crate::operators::sink::{Sink, SinkOp};
use crate::operators::timestamps::AssignTimestamps;
use crate::operators::unary::{Unary, UnaryFactory};
use crate::operators::{Counter, Output, OutputTag, SideOutputs};
use crate::time::{TimestampAssigner, WatermarkGenerator, WatermarkStrategy};

/// A stream of records of type `T` (Flink's `DataStream`).
///
/// Each method adds an operator and returns the stream it produces; operators run on every
/// shard, on the records that reach that shard.
pub struct DataStream<T> {
    pub(crate) env: Env,
    pub(crate) node: NodeId,
    pub(crate) port: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for DataStream<T> {
    fn clone(&self) -> Self {
        DataStream {
            env: self.env.clone(),
            node: self.node,
            port: self.port,
            _t: PhantomData,
        }
    }
}

impl<T: Data> DataStream<T> {
    pub(crate) fn new(env: Env, node: NodeId, port: usize) -> Self {
        DataStream {
            env,
            node,
            port,
            _t: PhantomData,
        }
    }

    /// Adds a single-input operator after this stream.
    pub(crate) fn unary<U: Unary<In = T>>(&self, name: String, logic: U) -> DataStream<U::Out>
    where
        U::Out: Data,
    {
        let id = self.env.add_node(
            name,
            vec![(self.node, self.port)],
            Box::new(UnaryFactory(logic)),
        );
        DataStream::new(self.env.clone(), id, 0)
    }

    pub(crate) fn exchange<P: Partition<T> + Clone>(&self, name: String, part: P) -> DataStream<T> {
        let id = self.env.add_node(
            name,
            vec![(self.node, self.port)],
            Box::new(ExchangeFactory::<T, P>::new(part)),
        );
        DataStream::new(self.env.clone(), id, 0)
    }

    /// Gives the operator that produced this stream a stable id (Flink's `uid`): a
    /// checkpoint or savepoint matches operators by it when a job restores, so that state
    /// and source offsets find their operator even after the job graph changed (operators
    /// added, removed or reordered). Without one, an id is derived from the graph (the
    /// operator's position, kind and inputs), which holds only while the graph is unchanged.
    /// Ids are unique within a job and contain no whitespace (checked when the job starts).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(2);
    /// let out = env
    ///     .generate(Some(4), |i| i)
    ///     .uid("numbers")
    ///     .map(|v| v * 2)
    ///     .uid("doubled")
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![0, 2, 4, 6]);
    /// ```
    pub fn uid(self, id: &str) -> Self {
        if let Some(n) = self.env.inner.borrow_mut().nodes.get_mut(self.node) {
            n.uid = Some(id.into());
        }
        self
    }

    /// Applies `f` to every record.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(1);
    /// let out = env.from_iter(vec!["a", "bb"]).map(|s| s.len()).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.take(), vec![1, 2]);
    /// ```
    #[track_caller]
    pub fn map<O: Data, F: FnMut(T) -> O + Clone + Send + 'static>(&self, f: F) -> DataStream<O> {
        self.unary(op_name("map"), Map { f, _t: PhantomData })
    }

    /// Keeps the records for which `f` is `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(2);
    /// let out = env.from_iter(0..10).filter(|x| x % 3 == 0).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![0, 3, 6, 9]);
    /// ```
    #[track_caller]
    pub fn filter<F: FnMut(&T) -> bool + Clone + Send + 'static>(&self, f: F) -> DataStream<T> {
        self.unary(op_name("filter"), Filter { f, _t: PhantomData })
    }

    /// Emits every item of the iterator `f` returns for each record.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(2);
    /// let words = env
    ///     .from_iter(vec!["to be", "or not"])
    ///     .flat_map(|l: &str| l.split(' ').map(String::from).collect::<Vec<_>>())
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(words.sorted(), vec!["be", "not", "or", "to"]);
    /// ```
    #[track_caller]
    pub fn flat_map<R, F>(&self, f: F) -> DataStream<R::Item>
    where
        R: IntoIterator + 'static,
        R::Item: Data,
        F: FnMut(T) -> R + Clone + Send + 'static,
    {
        self.unary(op_name("flat_map"), FlatMap { f, _t: PhantomData })
    }

    /// Runs a [`ProcessFunction`] over every record: any number of outputs, side outputs,
    /// access to timestamps and watermarks.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(2);
    /// let out = env
    ///     .from_iter(vec![3u32, 1])
    ///     .process(|n: u32, ctx: &mut ProcessContext<'_, u32>| {
    ///         for i in 0..n { ctx.collect(i) }
    ///         Ok(())
    ///     })
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![0, 0, 1, 2]);
    /// ```
    #[track_caller]
    pub fn process<O: Data, P: ProcessFunction<T, O>>(&self, f: P) -> DataStream<O> {
        self.unary(op_name("process"), Process { f, _t: PhantomData })
    }

    /// Partitions the stream by key: every record with the same key goes to the same shard
    /// (key → stable hash → key group → shard). Returns the keyed stream for keyed
    /// operators.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(3);
    /// let totals = env
    ///     .from_iter(vec![("a", 1), ("b", 2), ("a", 3)])
    ///     .key_by(|r| r.0)
    ///     .sum(|r| &mut r.1)
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(totals.sorted(), vec![("a", 1), ("a", 4), ("b", 2)]);
    /// ```
    #[track_caller]
    pub fn key_by<K: Key, F>(&self, key: F) -> KeyedStream<K, T, F>
    where
        F: Fn(&T) -> K + Clone + Send + 'static,
    {
        let max_parallelism = self.env.inner.borrow().max_parallelism_value();
        let part = KeyPartitioner {
            key: key.clone(),
            max_parallelism,
        };
        let stream = self.exchange(op_name("key_by"), part);
        KeyedStream::new(stream, key)
    }

    /// Deals records round-robin over all shards (to even out skew).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(3);
    /// let out = env.from_iter(0..9).rebalance().collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), (0..9).collect::<Vec<_>>());
    /// ```
    #[track_caller]
    pub fn rebalance(&self) -> DataStream<T> {
        self.exchange(op_name("rebalance"), Rebalance::default())
    }

    /// Sends every record to every shard.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(3);
    /// let out = env.from_iter(vec![7]).broadcast().collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.take(), vec![7, 7, 7]);
    /// ```
    #[track_caller]
    pub fn broadcast(&self) -> DataStream<T> {
        self.exchange(op_name("broadcast"), Broadcast)
    }

    /// Merges this stream with others of the same type. The watermark is the minimum of the
    /// inputs'; the union ends when all inputs have.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(2);
    /// let a = env.from_iter(vec![1, 2]);
    /// let b = env.from_iter(vec![3]);
    /// let out = a.union(&[b]).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn union(&self, others: &[DataStream<T>]) -> DataStream<T> {
        let mut inputs = vec![(self.node, self.port)];
        inputs.extend(others.iter().map(|o| (o.node, o.port)));
        let factory = crate::operators::union::MergeFactory::<T>::new(inputs.len());
        let id = self
            .env
            .add_node(op_name("union"), inputs, Box::new(factory));
        DataStream::new(self.env.clone(), id, 0)
    }

    /// Connects this stream with another, possibly of another type, for a two-input
    /// [`CoProcessFunction`].
    pub fn connect<B: Data>(&self, other: &DataStream<B>) -> ConnectedStreams<T, B> {
        ConnectedStreams {
            a: self.clone(),
            b: other.clone(),
        }
    }

    /// The records the producing operator emitted to the side output `tag`.
    #[track_caller]
    pub fn side_output<X: Data>(&self, tag: &OutputTag<X>) -> DataStream<X> {
        let mut inner = self.env.inner.borrow_mut();
        let spec = &mut inner.nodes[self.node];
        if let Some(i) = spec.side_ports.iter().position(|(t, _, _)| *t == tag.id()) {
            drop(inner);
            return DataStream::new(self.env.clone(), self.node, i + 1);
        }
        spec.side_ports
            .push((tag.id(), tag.name().into(), make_side::<X>));
        let port = spec.side_ports.len();
        drop(inner);
        DataStream::new(self.env.clone(), self.node, port)
    }

    /// Sets each record's event-time timestamp and emits watermarks as `strategy` says.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(1);
    /// let stamped = env
    ///     .from_iter(vec![(1u8, 1_000i64), (2, 2_000)])
    ///     .assign_timestamps_and_watermarks(
    ///         WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|r: &(u8, i64)| r.1),
    ///     )
    ///     .process(|r: (u8, i64), ctx: &mut ProcessContext<'_, i64>| {
    ///         ctx.collect(ctx.timestamp().unwrap_or(-1) - r.1);
    ///         Ok(())
    ///     })
    ///     .collect();
    /// env.execute().unwrap();
    /// assert_eq!(stamped.take(), vec![0, 0]);
    /// ```
    #[track_caller]
    pub fn assign_timestamps_and_watermarks<A, G>(
        &self,
        strategy: WatermarkStrategy<T, A, G>,
    ) -> DataStream<T>
    where
        A: TimestampAssigner<T>,
        G: WatermarkGenerator<T>,
    {
        let interval_ms = self.env.inner.borrow().watermark_interval_ms;
        self.unary(
            op_name("assign_timestamps_and_watermarks"),
            AssignTimestamps::new(strategy, interval_ms),
        )
    }

    /// Sends the records to a custom [`Sink`], cloned once per shard.
    pub fn add_sink<S: Sink<T>>(&self, name: &str, sink: S) {
        self.unary(
            name.to_string(),
            SinkOp {
                sink,
                opened: false,
                _t: PhantomData,
            },
        );
    }

    /// Collects every record for the caller; read it from the handle after `execute`.
    /// At-least-once: meant for tests and embedding, not for exactly-once output.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(2);
    /// let out = env.from_iter(vec![2, 1]).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec![1, 2]);
    /// ```
    #[track_caller]
    pub fn collect(&self) -> Collected<T> {
        let c = Collected::new();
        self.add_sink(&op_name("collect"), CollectSink::new(&c));
        c
    }

    /// Prints every record's `Debug` form to standard output, prefixed with `shard> ` when
    /// there is more than one shard (like Flink's `print()`). At-least-once.
    #[track_caller]
    pub fn print(&self)
    where
        T: Debug,
    {
        self.add_sink(&op_name("print"), PrintSink::default());
    }

    /// Writes every record's `Display` form as a line to standard output, without a shard
    /// prefix (for command-line tools; lines of different shards interleave).
    #[track_caller]
    pub fn print_lines(&self)
    where
        T: Display,
    {
        self.add_sink(&op_name("print_lines"), StdoutLines::default());
    }

    /// Writes every record's `Display` form as a line of the file at `path` (created or
    /// truncated; one file for all shards, lines in no fixed order).
    #[track_caller]
    pub fn write_lines(&self, path: impl AsRef<Path>)
    where
        T: Display,
    {
        self.add_sink(&op_name("write_lines"), LinesSink::new(path.as_ref()));
    }

    /// Writes every record's `Display` form as a line of files in the directory `dir`,
    /// exactly once with checkpoints (two-phase commit, like Flink's `FileSink`): each
    /// shard's output of an epoch becomes visible as `dir/part-EPOCH-sSHARD.txt` only once
    /// that epoch's checkpoint is complete, and the output after the last checkpoint as
    /// `dir/part-final-sSHARD.txt` when the job ends. A job restored from a checkpoint
    /// publishes what that checkpoint committed and discards the rest, which it replays.
    /// Without checkpoints, each shard's output is published when the input ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let dir = std::env::temp_dir().join(format!("spate-doc-txn-{}", std::process::id()));
    /// let env = Env::new().shards(2);
    /// env.from_iter(1..=4u32).rebalance().write_lines_exactly_once(&dir);
    /// env.execute().unwrap();
    /// let mut lines: Vec<String> = std::fs::read_dir(&dir).unwrap()
    ///     .map(|e| e.unwrap().path())
    ///     .filter(|p| p.is_file())
    ///     .flat_map(|p| std::fs::read_to_string(p).unwrap().lines().map(String::from).collect::<Vec<_>>())
    ///     .collect();
    /// lines.sort();
    /// assert_eq!(lines, vec!["1", "2", "3", "4"]);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    #[track_caller]
    pub fn write_lines_exactly_once(&self, dir: impl AsRef<Path>)
    where
        T: Display,
    {
        self.unary(
            op_name("write_lines_exactly_once"),
            TxnLinesSink::new(dir.as_ref()),
        );
    }

    /// Writes every record as a CSV line (RFC 4180 quoting) of the file at `path`.
    #[track_caller]
    pub fn write_csv(&self, path: impl AsRef<Path>)
    where
        T: CsvRow,
    {
        self.add_sink(&op_name("write_csv"), CsvSink::new(path.as_ref()));
    }
}

fn make_side<X: Data>(
    sides: &mut SideOutputs,
    tag: u64,
    consumers: Vec<Box<dyn std::any::Any>>,
    batch_size: usize,
    counter: Counter,
) -> crate::error::Result<()> {
    let targets = downcast_pushes::<X>(consumers, "side output")?;
    sides.add(tag, Output::new(targets, batch_size, counter));
    Ok(())
}

/// Two streams connected for a two-input function (Flink's `ConnectedStreams`).
pub struct ConnectedStreams<A, B> {
    a: DataStream<A>,
    b: DataStream<B>,
}

impl<A: Data, B: Data> ConnectedStreams<A, B> {
    /// Runs a [`CoProcessFunction`] over both inputs. The output's watermark is the minimum
    /// of the two inputs'.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Tag;
    /// impl CoProcessFunction<u32, String, String> for Tag {
    ///     fn process_element1(&mut self, v: u32, ctx: &mut ProcessContext<'_, String>) -> Result<(), UserError> {
    ///         ctx.collect(format!("n{v}"));
    ///         Ok(())
    ///     }
    ///     fn process_element2(&mut self, v: String, ctx: &mut ProcessContext<'_, String>) -> Result<(), UserError> {
    ///         ctx.collect(format!("s{v}"));
    ///         Ok(())
    ///     }
    /// }
    /// let env = Env::new().shards(2);
    /// let nums = env.from_iter(vec![1u32]);
    /// let strs = env.from_iter(vec!["x".to_string()]);
    /// let out = nums.connect(&strs).process(Tag).collect();
    /// env.execute().unwrap();
    /// assert_eq!(out.sorted(), vec!["n1", "sx"]);
    /// ```
    #[track_caller]
    pub fn process<O: Data, P: CoProcessFunction<A, B, O>>(&self, f: P) -> DataStream<O> {
        let id = self.a.env.add_node(
            op_name("co_process"),
            vec![(self.a.node, self.a.port), (self.b.node, self.b.port)],
            Box::new(CoProcessFactory::<P, A, B, O>(f, PhantomData)),
        );
        DataStream::new(self.a.env.clone(), id, 0)
    }
}
