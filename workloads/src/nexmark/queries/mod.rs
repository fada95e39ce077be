//! The Nexmark queries as Spate jobs, one file each, registered in [`QUERIES`].
//!
//! Each query is a function from the stream of [`Event`]s to its result stream, so that a
//! test can check its result and a benchmark can count it. Queries read the whole event
//! stream and pick what they need (as the reference's views over one generated table do),
//! so their figures include making every event.
//!
//! Here so far: q0–q2. The rest of q0–q22 follow the same shape.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use spate::io::Sink;
use spate::prelude::*;

use super::model::{Bid, Event};

pub mod q0;
pub mod q1;
pub mod q2;

/// A query: its name and how to attach it, ending in a counter, to an event stream.
#[derive(Clone, Copy, Debug)]
pub struct Query {
    /// `"q0"`, `"q1"`, ….
    pub name: &'static str,
    /// What it computes, in a line.
    pub about: &'static str,
    /// Builds the query on `events` and counts its results in `counter`.
    pub build: fn(events: &DataStream<Event>, counter: &Counter),
}

/// Every query, in order.
pub const QUERIES: &[Query] = &[q0::QUERY, q1::QUERY, q2::QUERY];

/// The query named `name` (`"q1"` or `"Q1"`).
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::{self, Counter};
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let q2 = queries::find("q2").unwrap();
/// let env = Env::new().shards(2);
/// let source = NexmarkSource::new(NexmarkConfig::default()).unwrap().events(Some(10_000));
/// let counter = Counter::new();
/// (q2.build)(&env.add_source("nexmark", source), &counter);
/// env.execute().unwrap();
/// assert!(counter.total() > 0 && counter.total() < 9_200);
/// ```
pub fn find(name: &str) -> Option<&'static Query> {
    QUERIES.iter().find(|q| q.name.eq_ignore_ascii_case(name))
}

/// The bids of an event stream.
#[track_caller]
pub fn bids(events: &DataStream<Event>) -> DataStream<Bid> {
    events.flat_map(|e: Event| match e {
        Event::Bid(b) => Some(b),
        _ => None,
    })
}

/// A sink that counts records: each shard counts on its own and adds its count to a
/// shared total once, when its input ends.
#[derive(Clone, Debug, Default)]
pub struct Counter {
    local: u64,
    total: Arc<AtomicU64>,
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records counted by the shards that have finished.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }
}

impl<T> Sink<T> for Counter {
    #[inline]
    fn write(&mut self, _value: T, _timestamp: Option<i64>) -> Result<(), UserError> {
        self.local += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), UserError> {
        self.total.fetch_add(self.local, Ordering::AcqRel);
        self.local = 0;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Runs a query on a small generated input on 1–3 shards.

    use super::super::{Event, NexmarkConfig, NexmarkGenerator, NexmarkSource};
    use spate::prelude::*;

    /// Events of the test input.
    pub(crate) const EVENTS: u64 = 20_000;

    /// The test input, in order.
    pub(crate) fn input() -> Vec<Event> {
        let g = NexmarkGenerator::new(NexmarkConfig::default()).expect("valid");
        g.events(0..EVENTS).collect()
    }

    /// `query`'s sorted results on 1, 2 and 3 shards (with small batches on one run).
    pub(crate) fn run_on_shards<O: spate::Data + Ord>(
        query: impl Fn(&DataStream<Event>) -> DataStream<O>,
    ) -> Vec<Vec<O>> {
        [(1, 1024), (2, 7), (3, 1024)]
            .into_iter()
            .map(|(shards, batch)| {
                let env = Env::new().shards(shards).batch_size(batch);
                let source = NexmarkSource::new(NexmarkConfig::default())
                    .expect("valid")
                    .events(Some(EVENTS));
                let out = query(&env.add_source("nexmark", source)).collect();
                env.execute().expect("the query runs");
                out.sorted()
            })
            .collect()
    }
}
