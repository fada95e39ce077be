//! A source the test thread releases stage by stage, for checking what a running job holds
//! between stages (state that must shrink once the watermark passes, TTL between clock
//! moves).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spate::io::{Source, SourceOutput, SourceSplit, SourceStatus};
use spate::prelude::*;

/// The stage a [`Gated`] source may emit up to; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<AtomicUsize>);

impl Gate {
    /// Lets the source emit the items of `stage` (and earlier ones).
    pub fn open(&self, stage: usize) {
        self.0.fetch_max(stage, Ordering::SeqCst);
    }
    fn stage(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Emits `items` on shard 0, in order, each once the gate has reached its stage; ends once
/// everything is emitted and the gate has reached `end`. Idle in between.
#[derive(Clone)]
pub struct Gated<T> {
    /// `(stage, item)`, stages non-decreasing.
    pub items: Vec<(usize, T)>,
    /// The stage at which the source ends.
    pub end: usize,
    /// The shared gate.
    pub gate: Gate,
}

struct GatedSplit<T> {
    items: std::iter::Peekable<std::vec::IntoIter<(usize, T)>>,
    end: usize,
    gate: Gate,
}

impl<T: Send + 'static> SourceSplit<T> for GatedSplit<T> {
    fn poll(&mut self, out: &mut SourceOutput<'_, T>) -> Result<SourceStatus, SpateError> {
        let stage = self.gate.stage();
        while out.remaining() > 0 {
            match self.items.peek() {
                Some((s, _)) if *s <= stage => {
                    if let Some((_, v)) = self.items.next() {
                        out.emit(v);
                    }
                }
                _ => break,
            }
        }
        Ok(match self.items.peek() {
            None if stage >= self.end => SourceStatus::Done,
            Some((s, _)) if *s <= stage => SourceStatus::More,
            _ => SourceStatus::Idle,
        })
    }

    fn is_empty(&self) -> bool {
        self.end == 0 && self.items.len() == 0
    }
}

impl<T: Clone + Send + 'static> Source<T> for Gated<T> {
    fn split(&mut self, shard: usize, _n: usize) -> Result<Box<dyn SourceSplit<T>>, SpateError> {
        let (items, end) = if shard == 0 {
            (std::mem::take(&mut self.items), self.end)
        } else {
            (Vec::new(), 0)
        };
        Ok(Box::new(GatedSplit {
            items: items.into_iter().peekable(),
            end,
            gate: self.gate.clone(),
        }))
    }
}

/// Waits until `cond` holds, polling; panics with `what` after `limit`.
pub fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
