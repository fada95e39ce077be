//! The "winning bids" core shared by q4, q6 and q9: each auction joined with its bids
//! placed while it was open, and the best of them once it has closed.
//!
//! ```sql
//! SELECT A.*, B.* FROM auction A, bid B
//! WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//! -- the best bid per auction: ROW_NUMBER() OVER (PARTITION BY A.id
//! --     ORDER BY B.price DESC, B.dateTime ASC) = 1
//! ```
//!
//! Auctions and bids are keyed by auction id into one keyed co-process function. The
//! auction's state keeps the best qualifying bid so far (not every bid); an event-time timer
//! at `expires` emits the winner, timestamped `expires`, and drops the state. A bid that
//! arrives before its auction (it may: the generator bids on auctions a few ids ahead, and
//! another shard's auction can be behind) waits, with a timer at its own time: once the
//! watermark passes it, an auction that could accept it would have arrived (its opening
//! time is at or before the bid's), so a bid still waiting is dropped. Bids on closed
//! auctions take the same path and are dropped. State is thus bounded by the auctions in
//! flight and the bids within the watermark's delay.
//!
//! Deviation from the reference SQL, which updates each auction's maximum as bids come:
//! the winner is emitted once, when the auction closes (as the original Nexmark's "closed
//! auctions" read); after the input ends (watermark +∞) every auction has closed, so the
//! final table is the same. Ties on price and time go to the smaller bid in [`Bid`]'s
//! order, so the result is deterministic where the SQL's `ROW_NUMBER` is not.

use std::cmp::Reverse;

use spate::prelude::*;
use spate::state::ValueState;

use super::{auctions, bids};
use crate::nexmark::{Auction, Bid, Event};

/// An auction and its winning bid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WinningBid {
    /// The auction.
    pub auction: Auction,
    /// Its best bid placed while it was open.
    pub bid: Bid,
}

/// `true` when `a` beats `b`: a higher price, then an earlier time, then the smaller bid.
#[inline]
pub fn beats(a: &Bid, b: &Bid) -> bool {
    (a.price, Reverse(a.date_time), Reverse(a)) > (b.price, Reverse(b.date_time), Reverse(b))
}

/// `true` when `bid` was placed while `auction` was open (`BETWEEN` is inclusive).
#[inline]
pub fn qualifies(auction: &Auction, bid: &Bid) -> bool {
    auction.date_time <= bid.date_time && bid.date_time <= auction.expires
}

/// The winning bid of every auction that received a qualifying bid, emitted when the
/// auction closes (the watermark passes `expires`), timestamped `expires`. `events` must
/// carry event time (see [`super::event_time`]).
///
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::{event_time, winning::winning_bids};
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let source = NexmarkSource::new(NexmarkConfig::default()).unwrap().events(Some(5_000));
/// let winners = winning_bids(&event_time(&env.add_source("nexmark", source))).collect();
/// env.execute().unwrap();
/// let winners = winners.take();
/// assert!(!winners.is_empty());
/// assert!(winners.iter().all(|w| w.bid.auction == w.auction.id && w.bid.date_time <= w.auction.expires));
/// ```
#[track_caller]
pub fn winning_bids(events: &DataStream<Event>) -> DataStream<WinningBid> {
    let a = auctions(events).key_by(|a: &Auction| a.id);
    let b = bids(events).key_by(|b: &Bid| b.auction);
    a.connect(&b).process(Winning::default())
}

/// What is known about one auction id.
#[derive(Clone, Debug, Default)]
struct Open {
    auction: Option<Auction>,
    best: Option<Bid>,
    /// Bids that arrived before the auction, each with a timer at its time.
    waiting: Vec<Bid>,
}

crate::nexmark::codec::state_data!(Open {
    auction,
    best,
    waiting
});
crate::nexmark::codec::state_data!(WinningBid { auction, bid });

#[derive(Clone, Default)]
struct Winning {
    state: ValueState<u64, Open>,
}

impl KeyedCoProcessFunction<u64, Auction, Bid, WinningBid> for Winning {
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("open", &mut self.state);
    }

    fn process_element1(
        &mut self,
        a: Auction,
        ctx: &mut KeyedContext<'_, u64, WinningBid>,
    ) -> Result<(), UserError> {
        let mut open = match self.state.value_mut(ctx) {
            Some(o) => std::mem::take(o),
            None => Open::default(),
        };
        for b in open.waiting.drain(..) {
            if qualifies(&a, &b) && open.best.is_none_or(|best| beats(&b, &best)) {
                open.best = Some(b);
            }
        }
        open.auction = Some(a);
        ctx.register_event_time_timer(a.expires);
        self.state.update(ctx, open);
        Ok(())
    }

    fn process_element2(
        &mut self,
        b: Bid,
        ctx: &mut KeyedContext<'_, u64, WinningBid>,
    ) -> Result<(), UserError> {
        if let Some(open) = self.state.value_mut(ctx) {
            match open.auction {
                Some(a) => {
                    if qualifies(&a, &b) && open.best.is_none_or(|best| beats(&b, &best)) {
                        open.best = Some(b);
                    }
                }
                None => open.waiting.push(b),
            }
            if open.auction.is_none() {
                ctx.register_event_time_timer(b.date_time);
            }
            return Ok(());
        }
        self.state.update(
            ctx,
            Open {
                waiting: vec![b],
                ..Open::default()
            },
        );
        ctx.register_event_time_timer(b.date_time);
        Ok(())
    }

    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u64, WinningBid>,
    ) -> Result<(), UserError> {
        let Some(open) = self.state.value_mut(ctx) else {
            return Ok(());
        };
        match open.auction {
            Some(a) if ts >= a.expires => {
                if let Some(bid) = open.best {
                    ctx.collect(WinningBid { auction: a, bid });
                }
                self.state.clear(ctx);
            }
            Some(_) => {}
            None => {
                open.waiting.retain(|b| b.date_time > ts);
                if open.waiting.is_empty() {
                    self.state.clear(ctx);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod reference {
    //! The winning bids computed plainly from the whole input.

    use std::collections::HashMap;

    use super::*;

    /// Every auction's winning bid, in auction id order.
    pub(crate) fn winning(input: &[Event]) -> Vec<WinningBid> {
        let mut auctions: HashMap<u64, Auction> = HashMap::new();
        for e in input {
            if let Event::Auction(a) = e {
                auctions.insert(a.id, *a);
            }
        }
        let mut best: HashMap<u64, Bid> = HashMap::new();
        for e in input {
            let Event::Bid(b) = e else { continue };
            let Some(a) = auctions.get(&b.auction) else {
                continue;
            };
            if qualifies(a, b) && best.get(&a.id).is_none_or(|x| beats(b, x)) {
                best.insert(a.id, *b);
            }
        }
        let mut out: Vec<WinningBid> = best
            .into_iter()
            .map(|(id, bid)| WinningBid {
                auction: auctions[&id],
                bid,
            })
            .collect();
        out.sort_by_key(|w| w.auction.id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::event_time;
    use super::super::testing::{assert_runs, at_rate, input_of, runs, EVENTS};
    use super::*;

    #[test]
    fn winning_bids_match_a_plain_join_on_one_to_three_shards() {
        let cfg = at_rate(1_000);
        let want = reference::winning(&input_of(&cfg, EVENTS));
        assert!(want.len() > 100, "{} winners", want.len());
        let got = runs(&cfg, EVENTS, |e| winning_bids(&event_time(e)))
            .into_iter()
            .map(|mut v| {
                v.sort_by_key(|w| w.auction.id);
                v
            })
            .collect();
        assert_runs(got, &want, "winning bids");
    }
}
