//! The generator as a Spate source.

use spate::io::{Source, SourceOutput, SourceSplit, SourceStatus};
use std::sync::Arc;

use spate::SpateError;

use super::config::NexmarkConfig;
use super::generator::NexmarkGenerator;
use super::iter::{Events, Generated};
use super::model::{Bid, Event};
use super::timing::Timing;

/// A parallel source of Nexmark events (or of their bids only): shard `s` of `n` makes
/// event numbers `start + s`, `start + s + n`, …, so the shards together make exactly the
/// events of one generator, whatever `n`. Each record is emitted with its event time.
/// Bounded to a number of events, or endless.
///
/// Replayable: a source [`starting_at`](Self::starting_at) event `k` makes exactly the
/// events a source from 0 makes from `k` on. In a job with checkpoints, each split's
/// offset is the next event number it makes, and a restored split seeks there (on any
/// shard count: split `s` of `n` is the same events whenever it is made).
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::{Bid, NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let source = NexmarkSource::new(NexmarkConfig::default()).unwrap().events(Some(1_000));
/// let bids = env.add_source("nexmark bids", source.bids()).collect();
/// env.execute().unwrap();
/// let bids: Vec<Bid> = bids.take();
/// assert_eq!(bids.len(), 920); // 46 of every 50 events
/// assert!(bids.iter().all(|b| b.auction >= 1000 && b.price > 0));
/// ```
#[derive(Clone, Debug)]
pub struct NexmarkSource<T = Event> {
    generator: NexmarkGenerator,
    start: u64,
    count: Option<u64>,
    timing: Option<Arc<Timing>>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl NexmarkSource<Event> {
    /// An endless source of every event for `cfg`, from event 0; or a
    /// [`SpateError::Config`] saying what is wrong with `cfg`.
    pub fn new(cfg: NexmarkConfig) -> Result<Self, SpateError> {
        Ok(Self::from_generator(NexmarkGenerator::new(cfg)?))
    }

    /// An endless source of every event `generator` makes, from event 0.
    pub fn from_generator(generator: NexmarkGenerator) -> Self {
        NexmarkSource {
            generator,
            start: 0,
            count: None,
            timing: None,
            _t: std::marker::PhantomData,
        }
    }

    /// The same events' bids only (the other events are not made).
    pub fn bids(self) -> NexmarkSource<Bid> {
        NexmarkSource {
            generator: self.generator,
            start: self.start,
            count: self.count,
            timing: self.timing,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Generated> NexmarkSource<T> {
    /// Starts at event number `n` instead of 0 (replay).
    pub fn starting_at(mut self, n: u64) -> Self {
        self.start = n;
        self
    }

    /// Ends after `count` event numbers (`None`: endless). With [`bids`](Self::bids), the
    /// count is of events, of which about 46 in 50 are bids.
    pub fn events(mut self, count: Option<u64>) -> Self {
        self.count = count;
        self
    }

    /// Notes in `timing` when each batch entered the job (for latency measurements).
    pub fn timed(mut self, timing: Arc<Timing>) -> Self {
        self.timing = Some(timing);
        self
    }

    /// The generator.
    pub fn generator(&self) -> &NexmarkGenerator {
        &self.generator
    }

    /// The event numbers this source makes.
    pub fn range(&self) -> std::ops::Range<u64> {
        let end = self
            .count
            .map_or(u64::MAX, |c| self.start.saturating_add(c));
        self.start..end
    }
}

impl<T: Generated> Source<T> for NexmarkSource<T> {
    fn split(
        &mut self,
        shard: usize,
        shards: usize,
    ) -> Result<Box<dyn SourceSplit<T>>, SpateError> {
        let range = self.range();
        Ok(Box::new(NexmarkSplit {
            events: self.generator.shard(range.clone(), shard, shards),
            first: range.start.saturating_add(shard as u64),
            step: shards.max(1) as u64,
            timing: self.timing.clone(),
        }))
    }

    /// Split `s` of `n` is the event numbers `start + s + k·n` whenever it is made.
    fn splits_are_stable(&self) -> bool {
        true
    }
}

/// One shard's share of a [`NexmarkSource`].
struct NexmarkSplit<T> {
    events: Events<T>,
    /// The split's first event number and the step between its numbers (for `seek`).
    first: u64,
    step: u64,
    timing: Option<Arc<Timing>>,
}

impl<T: Generated> SourceSplit<T> for NexmarkSplit<T> {
    fn poll(&mut self, out: &mut SourceOutput<'_, T>) -> Result<SourceStatus, SpateError> {
        let (mut n, mut last) = (0u64, i64::MIN);
        for _ in 0..out.remaining() {
            match self.events.next() {
                Some(x) => {
                    last = x.event_time();
                    n += 1;
                    out.emit_at(last, x);
                }
                None => break,
            }
        }
        if let Some(t) = self.timing.as_ref().filter(|_| n > 0) {
            t.source_batch(last, n);
        }
        Ok(if self.events.is_done() {
            SourceStatus::Done
        } else {
            SourceStatus::More
        })
    }

    fn is_empty(&self) -> bool {
        self.events.is_done()
    }

    /// The next event number this split makes (its replay position).
    fn offset(&self) -> Option<u64> {
        Some(self.events.position())
    }

    fn seek(&mut self, offset: u64) -> Result<(), SpateError> {
        if offset < self.first || (offset - self.first) % self.step != 0 {
            return Err(SpateError::Config(format!(
                "nexmark source: offset {offset} is not an event number of the split \
                 starting at {} with step {} (a checkpoint of another job?)",
                self.first, self.step
            )));
        }
        self.events.seek(offset);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nexmark::NexmarkConfig;

    /// A split sought to one of its own offsets goes on with exactly the events it would
    /// have made from there; another split's offset is refused.
    #[test]
    fn a_split_seeks_to_its_own_offsets_only() {
        let g = NexmarkGenerator::new(NexmarkConfig::default()).expect("valid");
        let all: Vec<Event> = g.events(0..10_000).collect();
        let mut it = g.shard::<Event>(0..10_000, 1, 3);
        it.seek(301);
        let got: Vec<Event> = it.collect();
        let want: Vec<Event> = all[301..].iter().step_by(3).copied().collect();
        assert_eq!(got, want);
        let mut source = NexmarkSource::from_generator(g).events(Some(10_000));
        let mut split = source.split(1, 3).expect("a split");
        assert_eq!(split.offset(), Some(1));
        split.seek(301).expect("its own offset");
        assert_eq!(split.offset(), Some(301));
        assert!(split.seek(302).is_err(), "another split's event");
        assert!(split.seek(0).is_err(), "before the split's first event");
        assert!(source.splits_are_stable());
    }
}
