//! Iterating over events: a cursor that steps through event numbers without dividing.

use std::ops::Range;

use super::generator::NexmarkGenerator;
use super::model::{Bid, Event, EventKind};

/// Where an event sits: its id, and the id's cycle and offset in the cycle of kinds.
/// Only the generator makes and reads these.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    pub(crate) id: u64,
    pub(crate) cycle: u64,
    pub(crate) offset: u64,
}

impl At {
    #[inline(always)]
    pub(crate) fn kind(self, g: &NexmarkGenerator) -> EventKind {
        g.kind_at(self.offset)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Event {}
    impl Sealed for super::Bid {}
}

/// What an iterator or source of the generator yields: [`Event`] (every event) or [`Bid`]
/// (the bids only, the other events skipped without being made).
pub trait Generated: sealed::Sealed + Copy + Send + 'static {
    /// The record at `at`, if it is of this type.
    #[doc(hidden)]
    fn generate(g: &NexmarkGenerator, at: At) -> Option<Self>;

    /// The record's event time (epoch ms).
    fn event_time(&self) -> i64;
}

impl Generated for Event {
    #[inline(always)]
    fn generate(g: &NexmarkGenerator, at: At) -> Option<Self> {
        Some(g.make(at))
    }

    #[inline(always)]
    fn event_time(&self) -> i64 {
        self.timestamp()
    }
}

impl Generated for Bid {
    #[inline(always)]
    fn generate(g: &NexmarkGenerator, at: At) -> Option<Self> {
        (at.kind(g) == EventKind::Bid).then(|| g.bid(at))
    }

    #[inline(always)]
    fn event_time(&self) -> i64 {
        self.date_time
    }
}

/// The events (or bids) of a range of event numbers, or of a shard's share of it; made by
/// [`NexmarkGenerator::events`], [`bids`](NexmarkGenerator::bids) and
/// [`shard`](NexmarkGenerator::shard).
#[derive(Clone, Debug)]
pub struct Events<T = Event> {
    g: NexmarkGenerator,
    /// The next event number, and where it sits.
    next: u64,
    at: At,
    end: u64,
    step: u64,
    /// `step` split into whole cycles and the rest, for stepping without dividing.
    step_cycles: u64,
    step_offset: u64,
    in_order: bool,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Generated> Events<T> {
    pub(crate) fn new(g: NexmarkGenerator, range: Range<u64>, first: u64, step: u64) -> Self {
        let next = range.start.saturating_add(first);
        let at = g.at(next);
        Events {
            step_cycles: step / g.total,
            step_offset: step % g.total,
            in_order: g.config().out_of_order_group_size <= 1,
            g,
            next,
            at,
            end: range.end,
            step,
            _t: std::marker::PhantomData,
        }
    }

    /// The event number the iterator makes (or considers) next: its replay position.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Moves to event number `next` (a replay position this iterator's share holds:
    /// the caller checks that).
    pub(crate) fn seek(&mut self, next: u64) {
        self.next = next;
        self.at = self.g.at(next);
    }

    /// `true` when nothing is left.
    pub fn is_done(&self) -> bool {
        self.next >= self.end
    }

    #[inline(always)]
    fn advance(&mut self) {
        self.next = self.next.saturating_add(self.step);
        if self.in_order {
            let at = &mut self.at;
            at.id = self.next;
            at.cycle += self.step_cycles;
            at.offset += self.step_offset;
            if at.offset >= self.g.total {
                at.offset -= self.g.total;
                at.cycle += 1;
            }
        } else {
            self.at = self.g.at(self.next);
        }
    }
}

impl<T: Generated> Iterator for Events<T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        while self.next < self.end {
            let at = self.at;
            self.advance();
            if let Some(x) = T::generate(&self.g, at) {
                return Some(x);
            }
        }
        None
    }
}
