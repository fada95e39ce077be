//! In-memory sources: a collection (on one shard) and a sequence generator (on all).

use crate::error::SpateError;
use crate::operators::source::{Source, SourceOutput, SourceSplit, SourceStatus};

/// A bounded collection, emitted in order by shard 0 (a non-parallel source).
pub(crate) struct IterSource<T> {
    items: Option<Vec<T>>,
}

impl<T> IterSource<T> {
    pub(crate) fn new(items: Vec<T>) -> Self {
        IterSource { items: Some(items) }
    }
}

struct IterSplit<T> {
    items: std::vec::IntoIter<T>,
}

impl<T: Send + 'static> SourceSplit<T> for IterSplit<T> {
    fn is_empty(&self) -> bool {
        self.items.len() == 0
    }

    fn poll(&mut self, out: &mut SourceOutput<'_, T>) -> Result<SourceStatus, SpateError> {
        for _ in 0..out.remaining() {
            match self.items.next() {
                Some(v) => out.emit(v),
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

impl<T: Send + 'static> Source<T> for IterSource<T> {
    fn split(
        &mut self,
        shard: usize,
        _shards: usize,
    ) -> Result<Box<dyn SourceSplit<T>>, SpateError> {
        let items = if shard == 0 {
            self.items.take().unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(Box::new(IterSplit {
            items: items.into_iter(),
        }))
    }
}

/// `f(seq)` for sequence numbers `start..end`, shard `s` of `n` taking `start+s, start+s+n, …`.
pub(crate) struct GenerateSource<F> {
    start: u64,
    end: u64,
    f: F,
}

impl<F> GenerateSource<F> {
    pub(crate) fn new(start: u64, count: Option<u64>, f: F) -> Self {
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
}
