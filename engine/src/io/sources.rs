//! In-memory sources: a collection (on one shard) and a sequence generator (on all).

use crate::error::SpateError;
use crate::operators::source::{Source, SourceOutput, SourceSplit, SourceStatus};

/// A bounded collection, emitted in order by shard 0 (a non-parallel source).
pub(crate) struct IterSource<T> {
    items: Vec<T>,
}

impl<T> IterSource<T> {
    pub(crate) fn new(items: Vec<T>) -> Self {
        IterSource { items }
    }
}

struct IterSplit<T> {
    items: std::vec::IntoIter<T>,
    /// Items emitted so far: the replay offset.
    taken: u64,
}

impl<T: Send + 'static> SourceSplit<T> for IterSplit<T> {
    fn is_empty(&self) -> bool {
        self.items.len() == 0
    }

    fn offset(&self) -> Option<u64> {
        Some(self.taken)
    }

    fn seek(&mut self, offset: u64) -> Result<(), SpateError> {
        let skip = offset.saturating_sub(self.taken);
        if skip > self.items.len() as u64 {
            return Err(SpateError::Config(format!(
                "collection offset {offset} is past its end"
            )));
        }
        for _ in 0..skip {
            self.items.next();
        }
        self.taken = offset;
        Ok(())
    }

    fn poll(&mut self, out: &mut SourceOutput<'_, T>) -> Result<SourceStatus, SpateError> {
        for _ in 0..out.remaining() {
            match self.items.next() {
                Some(v) => {
                    self.taken += 1;
                    out.emit(v)
                }
                None => return Ok(SourceStatus::Done),
            }
        }
        Ok(if self.items.len() == 0 {
            SourceStatus::Done
        } else {
            SourceStatus::More
        })
    }
}

/// The items are cloned for each run, so that a job restarted in-process (restart
/// strategies) reads them again.
impl<T: Clone + Send + 'static> Source<T> for IterSource<T> {
    fn split(
        &mut self,
        shard: usize,
        _shards: usize,
    ) -> Result<Box<dyn SourceSplit<T>>, SpateError> {
        let items = if shard == 0 {
            self.items.clone()
        } else {
            Vec::new()
        };
        Ok(Box::new(IterSplit {
            items: items.into_iter(),
            taken: 0,
        }))
    }

    /// Split 0 holds the whole collection, the others nothing.
    fn splits_are_stable(&self) -> bool {
        true
    }
}

/// The source `Env::generate` reads: `f(seq)` for sequence numbers `start..start+count`
/// (endless with `None`), split `s` of `n` taking `start+s, start+s+n, …`; replayable from
/// any sequence number and re-splittable on another shard count. Public so that
/// `Env::from_source` can read it with watermarks per split.
///
/// # Examples
///
/// ```
/// use spate::io::GenerateSource;
/// use spate::prelude::*;
/// let env = Env::new().shards(2);
/// // Event time = the sequence number; each split's watermarks follow its own records.
/// let strategy = WatermarkStrategy::for_monotonous_timestamps()
///     .with_timestamp_assigner(|s: &u64| *s as i64)
///     .punctuated();
/// let counts = env
///     .from_source("seq", GenerateSource::new(0, Some(40), |s| s), strategy)
///     .window_all(spate::window::TumblingWindows::of(10))
///     .aggregate(spate::window::Count)
///     .collect();
/// env.execute().unwrap();
/// assert_eq!(counts.sorted(), vec![10; 4]);
/// ```
pub struct GenerateSource<F> {
    start: u64,
    end: u64,
    f: F,
}

impl<F> GenerateSource<F> {
    /// `f(seq)` for `count` sequence numbers from `start` (endless with `None`).
    pub fn new(start: u64, count: Option<u64>, f: F) -> Self {
        let end = count.map_or(u64::MAX, |c| start.saturating_add(c));
        GenerateSource { start, end, f }
    }
}

/// One shard's share of a generated sequence; `next` is its replay position.
pub(crate) struct GenerateSplit<F> {
    pub(crate) next: u64,
    step: u64,
    end: u64,
    f: F,
}

impl<T, F: Fn(u64) -> T + Send + 'static> SourceSplit<T> for GenerateSplit<F> {
    fn is_empty(&self) -> bool {
        self.next >= self.end
    }

    fn offset(&self) -> Option<u64> {
        Some(self.next)
    }

    fn seek(&mut self, offset: u64) -> Result<(), SpateError> {
        self.next = offset;
        Ok(())
    }

    #[inline]
    fn poll(&mut self, out: &mut SourceOutput<'_, T>) -> Result<SourceStatus, SpateError> {
        for _ in 0..out.remaining() {
            if self.next >= self.end {
                return Ok(SourceStatus::Done);
            }
            out.emit((self.f)(self.next));
            self.next += self.step;
        }
        Ok(if self.next >= self.end {
            SourceStatus::Done
        } else {
            SourceStatus::More
        })
    }
}

impl<T, F: Fn(u64) -> T + Clone + Send + 'static> Source<T> for GenerateSource<F> {
    fn split(
        &mut self,
        shard: usize,
        shards: usize,
    ) -> Result<Box<dyn SourceSplit<T>>, SpateError> {
        Ok(Box::new(GenerateSplit {
            next: self.start.saturating_add(shard as u64),
            step: shards as u64,
            end: self.end,
            f: self.f.clone(),
        }))
    }

    /// Split `s` of `n` is the sequence `start+s, start+s+n, …` whenever it is made.
    fn splits_are_stable(&self) -> bool {
        true
    }
}
