//! Per-split timestamps and watermarks of a source (`Env::from_source`, Flink's
//! `fromSource` with a `WatermarkStrategy`). Each split a shard reads stamps its own
//! records and runs a watermark generator of its own (and idleness timer); the shard emits
//! the minimum over its splits that are neither idle nor done, idle when all are (Flink's
//! `WatermarkOutputMultiplexer` and `CombinedWatermarkStatus`). After a restore on fewer
//! shards a shard reads several splits in turn: an assigner after the source would see
//! their records mixed and follow the fastest split, making the others' records late; here
//! event time waits for the slowest.

use super::{Batch, Output};
use crate::error::Result;
use crate::time::{
    IdlenessTimer, Timestamp, TimestampAssigner, WatermarkGenerator, WatermarkOutput,
    WatermarkStrategy, MIN_WATERMARK,
};

/// A shard's per-split watermarks, behind one virtual call per poll.
pub(crate) trait SplitWatermarks<T>: Send {
    /// Stamps and emits the records of `batch`, all read from split `slot`, each followed
    /// by the combined watermark it advances.
    fn on_batch(&mut self, slot: usize, batch: &mut Batch<T>, out: &mut Output<T>) -> Result<()>;
    /// Split `slot` is done: it holds the others back no more.
    fn on_done(&mut self, slot: usize, out: &mut Output<T>) -> Result<()>;
    /// The periodic emission and idleness checks, when due at processing time `now`.
    fn on_time(&mut self, now: Timestamp, out: &mut Output<T>) -> Result<()>;

    /// After one poll of the shard's splits: the records of `batch` came from split
    /// `emitted`, and the splits `ended` were found done (those before the one that
    /// emitted stop holding the watermark back first).
    fn on_poll(
        &mut self,
        emitted: Option<usize>,
        ended: &[usize],
        batch: &mut Batch<T>,
        now: Timestamp,
        out: &mut Output<T>,
    ) -> Result<()> {
        for &slot in ended.iter().filter(|s| Some(**s) != emitted) {
            self.on_done(slot, out)?;
        }
        if let Some(slot) = emitted {
            self.on_batch(slot, batch, out)?;
            if ended.contains(&slot) {
                self.on_done(slot, out)?;
            }
        }
        self.on_time(now, out)
    }
}

/// Makes a shard's [`SplitWatermarks`] for the splits it reads.
pub(crate) trait MakeSplitWatermarks<T>: Send {
    fn make(&self, splits: usize) -> Box<dyn SplitWatermarks<T>>;
}

/// One split's watermark and idleness, as the shard combines them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Partial {
    wm: Timestamp,
    idle: bool,
    done: bool,
}

/// The combination of a shard's splits (pure): the minimum over those neither idle nor
/// done, never going back; idle when every split not done is.
#[derive(Debug)]
pub(crate) struct Combined {
    parts: Vec<Partial>,
    wm: Timestamp,
    idle: bool,
}

impl Combined {
    pub(crate) fn new(splits: usize) -> Self {
        let p = Partial {
            wm: MIN_WATERMARK,
            idle: false,
            done: false,
        };
        Combined {
            parts: vec![p; splits],
            wm: MIN_WATERMARK,
            idle: false,
        }
    }

    /// Takes what split `slot`'s generator decided: a higher watermark makes it active,
    /// then a change of idleness applies.
    fn absorb(&mut self, slot: usize, out: &mut WatermarkOutput) {
        let p = &mut self.parts[slot];
        if out.watermark > p.wm {
            p.wm = out.watermark;
            p.idle = false;
        }
        if let Some(idle) = out.idle.take() {
            p.idle = idle;
        }
    }

    /// What the shard sends now: a higher combined watermark and a change of idleness.
    /// Nothing once every split is done (the end of input follows).
    pub(crate) fn update(&mut self) -> (Option<Timestamp>, Option<bool>) {
        if self.parts.iter().all(|p| p.done) {
            return (None, None);
        }
        let min = self
            .parts
            .iter()
            .filter(|p| !p.done && !p.idle)
            .map(|p| p.wm)
            .min();
        match min {
            None => {
                let change = (!self.idle).then_some(true);
                self.idle = true;
                (None, change)
            }
            Some(m) => {
                let change = self.idle.then_some(false);
                self.idle = false;
                let wm = (m > self.wm).then_some(m);
                if let Some(m) = wm {
                    self.wm = m;
                }
                (wm, change)
            }
        }
    }

    fn publish<T: Clone>(&mut self, out: &mut Output<T>) -> Result<()> {
        let (wm, idle) = self.update();
        out.progress(wm, idle)
    }
}

/// One split's assigner, generator and idleness timer.
struct Split<A, G> {
    assigner: A,
    generator: G,
    out: WatermarkOutput,
    idleness: Option<IdlenessTimer>,
}

/// The [`SplitWatermarks`] of a [`WatermarkStrategy`].
pub(crate) struct PerSplit<A, G> {
    splits: Vec<Split<A, G>>,
    combined: Combined,
    punctuated: bool,
    /// Periodic emission interval.
    interval_ms: i64,
    /// Periodic emission or idleness checks are on (`WatermarkStrategy::periodic`).
    periodic: bool,
    next_emit_at: Option<Timestamp>,
}

impl<T, A, G> SplitWatermarks<T> for PerSplit<A, G>
where
    T: Clone + Send + 'static,
    A: TimestampAssigner<T>,
    G: WatermarkGenerator<T>,
{
    fn on_batch(&mut self, slot: usize, batch: &mut Batch<T>, out: &mut Output<T>) -> Result<()> {
        let Some(s) = self.splits.get_mut(slot) else {
            return out.give_batch(batch);
        };
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(t) = &mut s.idleness {
            t.activity();
        }
        if self.combined.parts[slot].idle {
            // A record makes an idle split active again, before the record.
            self.combined.parts[slot].idle = false;
            self.combined.publish(out)?;
        }
        for (ts, v) in batch.drain(..) {
            let ts = s.assigner.extract(&v, ts);
            s.generator.on_event(&v, ts, &mut s.out);
            if self.punctuated {
                s.generator.on_periodic_emit(&mut s.out);
            }
            out.give(ts, v);
            if s.out.watermark > self.combined.parts[slot].wm || s.out.idle.is_some() {
                self.combined.absorb(slot, &mut s.out);
                self.combined.publish(out)?;
            }
        }
        Ok(())
    }

    fn on_done(&mut self, slot: usize, out: &mut Output<T>) -> Result<()> {
        if let Some(p) = self.combined.parts.get_mut(slot) {
            p.done = true;
        }
        self.combined.publish(out)
    }

    fn on_time(&mut self, now: Timestamp, out: &mut Output<T>) -> Result<()> {
        if !self.periodic {
            return Ok(());
        }
        match self.next_emit_at {
            Some(t) if now >= t => {}
            Some(_) => return Ok(()),
            None => {
                self.next_emit_at = Some(now.saturating_add(self.interval_ms));
                return Ok(());
            }
        }
        self.next_emit_at = Some(now.saturating_add(self.interval_ms));
        for (slot, s) in self.splits.iter_mut().enumerate() {
            if self.combined.parts[slot].done {
                continue;
            }
            if s.idleness.as_mut().is_some_and(|t| t.check_if_idle(now)) {
                s.out.mark_idle();
            } else {
                s.generator.on_periodic_emit(&mut s.out);
            }
            self.combined.absorb(slot, &mut s.out);
        }
        self.combined.publish(out)
    }
}

/// Makes [`PerSplit`] from a strategy: a clone of it per split.
pub(crate) struct FromStrategy<T, A, G> {
    pub(crate) strategy: WatermarkStrategy<T, A, G>,
    pub(crate) interval_ms: i64,
}

impl<T, A, G> MakeSplitWatermarks<T> for FromStrategy<T, A, G>
where
    T: Clone + Send + 'static,
    A: TimestampAssigner<T>,
    G: WatermarkGenerator<T>,
{
    fn make(&self, splits: usize) -> Box<dyn SplitWatermarks<T>> {
        let s = &self.strategy;
        Box::new(PerSplit {
            splits: (0..splits)
                .map(|_| Split {
                    assigner: s.assigner.clone(),
                    generator: s.generator.clone(),
                    out: WatermarkOutput::default(),
                    idleness: s.idle_timeout_ms.map(IdlenessTimer::new),
                })
                .collect(),
            combined: Combined::new(splits),
            punctuated: s.punctuated,
            interval_ms: self.interval_ms,
            periodic: s.periodic(self.interval_ms),
            next_emit_at: None,
        })
    }
}

#[cfg(test)]
mod tests;
