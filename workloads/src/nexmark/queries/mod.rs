//! The Nexmark queries as Spate jobs, one file each, registered in [`QUERIES`].
//!
//! Each query is a function from the stream of [`Event`]s to its result stream, so that a
//! test can check its result and a benchmark can count it. Queries read the whole event
//! stream and pick what they need (as the reference's views over one generated table do),
//! so their figures include making every event.
//!
//! Event-time queries first apply [`event_time`]: the source's timestamps, and watermarks
//! [`OUT_OF_ORDERNESS_MS`] behind the highest seen (the reference's DDL:
//! `WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND`).
//!
//! Updating queries (the reference's group-bys without windows, top-N, dedup, regular joins
//! with aggregates: q4, q6, q15–q19) emit a changelog of upserts: each row is the new value
//! for its key, and the table after the input ends is the last row of each key. Their docs
//! say what the key is and when rows are emitted.
//!
//! The joins (q3, q4, q6, q8, q9, q20) are keyed two-input process functions with keyed
//! state and timers, kept simple and inside this crate: [`winning`] holds the auction ⋈ bid
//! core that q4, q6 and q9 share.

use std::hash::Hash;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use spate::io::Sink;
use spate::prelude::*;

use super::model::{Auction, Bid, Event, Person};
use super::timing::{LatencySample, Timing};

pub mod output;
pub mod q0;
pub mod q1;
pub mod q10;
pub mod q11;
pub mod q12;
pub mod q13;
pub mod q14;
pub mod q15;
pub mod q16;
pub mod q17;
pub mod q18;
pub mod q19;
pub mod q2;
pub mod q20;
pub mod q21;
pub mod q22;
pub mod q3;
pub mod q4;
pub mod q5;
pub mod q6;
pub mod q7;
pub mod q8;
pub mod q9;
mod stats;
pub mod time_fmt;
pub mod winning;

pub use output::{ResultFile, ResultSink, WriteRow};
pub use stats::PriceStats;
pub use time_fmt::{Day, HourMinute};

/// How a query is measured against issue 6's targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryClass {
    /// Stateless: pass-through, projection, filter (target ≥ 25 M events/s per core).
    Stateless,
    /// Windowed aggregation (target ≥ 5 M events/s per core).
    Windowed,
    /// Join or top-N (target ≥ 2 M events/s per core).
    Join,
    /// No target set (unbounded aggregates, file output, side input, q6).
    Other,
}

impl QueryClass {
    /// The target in millions of events per second per core, if one is set.
    pub fn target_m_per_core(self) -> Option<f64> {
        match self {
            QueryClass::Stateless => Some(25.0),
            QueryClass::Windowed => Some(5.0),
            QueryClass::Join => Some(2.0),
            QueryClass::Other => None,
        }
    }
}

/// A query: its name and how to attach it, ending in a counter, to an event stream.
#[derive(Clone, Copy, Debug)]
pub struct Query {
    /// `"q0"`, `"q1"`, ….
    pub name: &'static str,
    /// What it computes, in a line.
    pub about: &'static str,
    /// Which target it is measured against.
    pub class: QueryClass,
    /// Builds the query on `events` and ends it in `cx`'s sink (see [`QueryContext::append`]
    /// and [`QueryContext::table`]).
    pub build: fn(events: &DataStream<Event>, cx: &QueryContext),
}

/// What a query needs besides its input: the sink counting its results, the file its rows
/// go to (if any), and the files it writes (q10) or reads (q13).
#[derive(Clone, Debug)]
pub struct QueryContext {
    /// Counts (and samples) the query's results.
    pub counter: Counter,
    /// Where q10 writes its partitioned files (it creates the folder).
    pub output_dir: PathBuf,
    /// The side input q13 joins: `key,value` lines (see [`q13::write_side_input`]).
    pub side_input: PathBuf,
    /// Where the result rows are written as CSV, if anywhere (q10 writes its own files
    /// under [`output_dir`](Self::output_dir) instead).
    pub output: Option<Arc<ResultFile>>,
    /// With checkpoints: the folder the result rows are also published to exactly once
    /// (`write_lines_exactly_once`), as changelog lines for updating queries (see
    /// [`output::sink_line`](self::output) and [`output::fold`]). q10 then writes its rows
    /// there (with `dt,hm` first) instead of its partitioned files.
    pub sink_dir: Option<PathBuf>,
}

impl QueryContext {
    /// A context counting into `counter`, with q10's output and q13's side input under the
    /// system's temporary folder (`spate-nexmark-<pid>/`).
    pub fn new(counter: Counter) -> Self {
        let dir = std::env::temp_dir().join(format!("spate-nexmark-{}", std::process::id()));
        QueryContext {
            counter,
            output_dir: dir.join("q10"),
            side_input: dir.join("side_input.csv"),
            output: None,
            sink_dir: None,
        }
    }

    /// Ends an append-only query: its rows are counted, and written with `write` to the
    /// [`output`](Self::output) file if there is one (see [`output`](self::output)).
    #[track_caller]
    pub fn append<T: spate::Data>(&self, rows: &DataStream<T>, name: &str, write: WriteRow<T>) {
        rows.add_sink(
            &format!("{name} result"),
            ResultSink::<T, ()>::append(self.counter.clone(), self.output.clone(), write),
        );
        if let Some(dir) = &self.sink_dir {
            rows.map(move |row: T| output::RowLine { row, write })
                .write_lines_exactly_once(dir);
        }
    }

    /// Ends a query whose result is an updating table: its rows are upserts keyed by
    /// `key`, counted, and the final table (the last row of each key) is written with
    /// `write` to the [`output`](Self::output) file, if there is one, when the input ends.
    /// With a [`sink_dir`](Self::sink_dir), every upsert is published there as a changelog
    /// line `+U<TAB>key<TAB>row` (the key as `{:?}` writes it): see [`output::fold`].
    #[track_caller]
    pub fn table<T: spate::Data, K: spate::Data + Hash + Ord + std::fmt::Debug>(
        &self,
        rows: &DataStream<T>,
        name: &str,
        key: fn(&T) -> K,
        write: WriteRow<T>,
    ) {
        rows.add_sink(
            &format!("{name} result"),
            ResultSink::table(self.counter.clone(), self.output.clone(), key, write),
        );
        if let Some(dir) = &self.sink_dir {
            rows.map(move |row: T| output::UpsertLine {
                key: key(&row),
                row,
                write,
            })
            .write_lines_exactly_once(dir);
        }
    }
}

/// Every query, in order.
pub const QUERIES: &[Query] = &[
    q0::QUERY,
    q1::QUERY,
    q2::QUERY,
    q3::QUERY,
    q4::QUERY,
    q5::QUERY,
    q6::QUERY,
    q7::QUERY,
    q8::QUERY,
    q9::QUERY,
    q10::QUERY,
    q11::QUERY,
    q12::QUERY,
    q13::QUERY,
    q14::QUERY,
    q15::QUERY,
    q16::QUERY,
    q17::QUERY,
    q18::QUERY,
    q19::QUERY,
    q20::QUERY,
    q21::QUERY,
    q22::QUERY,
];

/// The query named `name` (`"q1"` or `"Q1"`).
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::{self, Counter, QueryContext};
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let q2 = queries::find("q2").unwrap();
/// let env = Env::new().shards(2);
/// let source = NexmarkSource::new(NexmarkConfig::default()).unwrap().events(Some(10_000));
/// let counter = Counter::new();
/// (q2.build)(&env.add_source("nexmark", source), &QueryContext::new(counter.clone()));
/// env.execute().unwrap();
/// assert!(counter.total() > 0 && counter.total() < 9_200);
/// ```
pub fn find(name: &str) -> Option<&'static Query> {
    QUERIES.iter().find(|q| q.name.eq_ignore_ascii_case(name))
}

/// Registers with `env` the codecs of the state types that built-in operators of the
/// queries keep (q5's window accumulator, and the records), for jobs with checkpoints
/// (see `Env::state_type`). The queries' own process functions register their state
/// themselves.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::{self, output, Counter, QueryContext};
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let dir = std::env::temp_dir().join(format!("spate-q5-chk-doc-{}", std::process::id()));
/// let mut cx = QueryContext::new(Counter::new());
/// cx.sink_dir = Some(dir.join("sink"));
/// let env = queries::state_types(
///     Env::new().shards(2).checkpointing(dir.join("chk"), Duration::from_millis(50)),
/// );
/// let source = NexmarkSource::new(NexmarkConfig::default()).unwrap().events(Some(50_000));
/// (queries::find("q5").unwrap().build)(&env.add_source("nexmark", source), &cx);
/// env.execute().unwrap();
/// // q5's rows (auction, num: the reference's columns), published exactly once.
/// let rows = output::fold(&dir.join("sink")).unwrap();
/// assert!(!rows.is_empty() && rows.iter().all(|r| r.split(',').count() == 2));
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn state_types(env: Env) -> Env {
    env.state_type::<(u64, Vec<u64>)>()
        .state_type::<Event>()
        .state_type::<Bid>()
        .state_type::<Auction>()
        .state_type::<Person>()
}

/// How far behind the highest timestamp seen the watermark runs (the reference's 4 s).
pub const OUT_OF_ORDERNESS_MS: i64 = 4_000;

/// `events` with their source timestamps and watermarks [`OUT_OF_ORDERNESS_MS`] behind.
#[track_caller]
pub fn event_time(events: &DataStream<Event>) -> DataStream<Event> {
    events.assign_timestamps_and_watermarks(WatermarkStrategy::for_bounded_out_of_orderness(
        OUT_OF_ORDERNESS_MS,
    ))
}

/// The bids of an event stream.
#[track_caller]
pub fn bids(events: &DataStream<Event>) -> DataStream<Bid> {
    events.flat_map(|e: Event| match e {
        Event::Bid(b) => Some(b),
        _ => None,
    })
}

/// The auctions of an event stream.
#[track_caller]
pub fn auctions(events: &DataStream<Event>) -> DataStream<Auction> {
    events.flat_map(|e: Event| match e {
        Event::Auction(a) => Some(a),
        _ => None,
    })
}

/// The people of an event stream.
#[track_caller]
pub fn persons(events: &DataStream<Event>) -> DataStream<Person> {
    events.flat_map(|e: Event| match e {
        Event::Person(p) => Some(p),
        _ => None,
    })
}

/// A sink that counts records: each shard counts on its own and adds its count to a
/// shared total once, when its input ends. Given a [`Timing`], it also samples the first
/// record of every batch it receives (see [`super::timing`]).
#[derive(Clone, Debug)]
pub struct Counter {
    local: u64,
    total: Arc<AtomicU64>,
    timing: Option<Arc<Timing>>,
    sample_next: bool,
    samples: Vec<LatencySample>,
}

impl Default for Counter {
    fn default() -> Self {
        Counter {
            local: 0,
            total: Arc::default(),
            timing: None,
            sample_next: true,
            samples: Vec::new(),
        }
    }
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter at zero that samples its records' latency into `timing`.
    pub fn timed(timing: Arc<Timing>) -> Self {
        Counter {
            timing: Some(timing),
            ..Self::default()
        }
    }

    /// Records counted by the shards that have finished.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }
}

impl<T> Sink<T> for Counter {
    #[inline]
    fn write(&mut self, _value: T, timestamp: Option<i64>) -> Result<(), UserError> {
        self.local += 1;
        if self.sample_next {
            self.sample_next = false;
            if let (Some(t), Some(ts)) = (&self.timing, timestamp) {
                if let Some(s) = t.sample(ts) {
                    self.samples.push(s);
                }
            }
        }
        Ok(())
    }

    fn end_of_batch(&mut self) -> Result<(), UserError> {
        self.sample_next = true;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), UserError> {
        self.total.fetch_add(self.local, Ordering::AcqRel);
        self.local = 0;
        if let Some(t) = &self.timing {
            t.add_samples(&mut self.samples);
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Runs a query on a small generated input on 1–3 shards, and reads changelogs.

    use std::collections::BTreeMap;

    use super::super::{Event, NexmarkConfig, NexmarkGenerator, NexmarkSource};
    use spate::prelude::*;

    /// Events of the test input.
    pub(crate) const EVENTS: u64 = 20_000;

    /// The default configuration at `rate` events per second of event time (a low rate
    /// stretches the test input over more windows).
    pub(crate) fn at_rate(rate: u64) -> NexmarkConfig {
        NexmarkConfig {
            event_rate: rate,
            ..NexmarkConfig::default()
        }
    }

    /// The test input, in order.
    pub(crate) fn input() -> Vec<Event> {
        input_of(&NexmarkConfig::default(), EVENTS)
    }

    /// The first `n` events for `cfg`, in order.
    pub(crate) fn input_of(cfg: &NexmarkConfig, n: u64) -> Vec<Event> {
        let g = NexmarkGenerator::new(cfg.clone()).expect("valid");
        g.events(0..n).collect()
    }

    /// `query`'s results on the first `n` events of `cfg`, on 1 shard, 2 shards with
    /// batches of 7, and 3 shards; each run's results in the order they arrived.
    pub(crate) fn runs<O: spate::Data>(
        cfg: &NexmarkConfig,
        n: u64,
        query: impl Fn(&DataStream<Event>) -> DataStream<O>,
    ) -> Vec<Vec<O>> {
        [(1, 1024), (2, 7), (3, 1024)]
            .into_iter()
            .map(|(shards, batch)| {
                let env = Env::new().shards(shards).batch_size(batch);
                let source = NexmarkSource::new(cfg.clone())
                    .expect("valid")
                    .events(Some(n));
                let out = query(&env.add_source("nexmark", source)).collect();
                env.execute().expect("the query runs");
                out.take()
            })
            .collect()
    }

    /// `query`'s sorted results on the default test input on 1–3 shards (see [`runs`]).
    pub(crate) fn run_on_shards<O: spate::Data + Ord>(
        query: impl Fn(&DataStream<Event>) -> DataStream<O>,
    ) -> Vec<Vec<O>> {
        runs(&NexmarkConfig::default(), EVENTS, query)
            .into_iter()
            .map(|mut v| {
                v.sort();
                v
            })
            .collect()
    }

    /// The table a changelog of upserts leaves: the last row of each key, in arrival
    /// order (rows of one key come from one shard, in the order it emitted them).
    pub(crate) fn final_table<K: Ord, V>(rows: Vec<V>, key: impl Fn(&V) -> K) -> BTreeMap<K, V> {
        let mut t = BTreeMap::new();
        for r in rows {
            t.insert(key(&r), r);
        }
        t
    }

    /// Asserts that every run's result equals `want`, saying which run differed.
    pub(crate) fn assert_runs<T: PartialEq + std::fmt::Debug>(got: Vec<T>, want: &T, what: &str) {
        for (i, g) in got.iter().enumerate() {
            if g != want {
                let (gs, ws) = (format!("{g:?}"), format!("{want:?}"));
                let at = gs
                    .bytes()
                    .zip(ws.bytes())
                    .position(|(a, b)| a != b)
                    .unwrap_or(gs.len().min(ws.len()));
                let from = at.saturating_sub(200);
                panic!(
                    "{what}: run {i} differs at char {at}:\n got …{}\nwant …{}",
                    &gs[from..(at + 200).min(gs.len())],
                    &ws[from..(at + 200).min(ws.len())]
                );
            }
        }
    }
}
