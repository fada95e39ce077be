//! What q15–q17 share: price ranks, distinct counts with filters, and emitting an updating
//! aggregate as upserts once per second of event time.

use std::collections::HashMap;
use std::hash::Hash;

use spate::checkpoint::StateData;
use spate::prelude::*;
use spate::state::{FixedState, ValueState};

use crate::nexmark::Bid;

/// The reference's price ranks: 1 below 10,000 cents, 2 from 10,000 below 1,000,000, 3
/// from 1,000,000 (`count(*) filter (where price < 10000)` …).
#[inline]
pub(crate) fn rank(price: u64) -> usize {
    1 + usize::from(price >= 10_000) + usize::from(price >= 1_000_000)
}

/// Counts of bids, of distinct bidders and of distinct auctions: index 0 over all bids,
/// 1–3 over the bids of each price rank (q15's and q16's `total_bids, rank1_bids, …,
/// total_bidders, …, rank3_auctions`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PriceStats {
    /// `count(*)`, then filtered by rank.
    pub bids: [u64; 4],
    /// `count(distinct bidder)`, then filtered by rank.
    pub bidders: [u64; 4],
    /// `count(distinct auction)`, then filtered by rank.
    pub auctions: [u64; 4],
}

/// [`PriceStats`] and the sets behind its distinct counts: for each bidder and auction
/// seen, a bit per rank it was seen in (bit 0: at all), so a distinct count grows when a
/// bit is first set.
#[derive(Clone, Debug, Default)]
pub(crate) struct DistinctStats {
    pub(crate) stats: PriceStats,
    bidders: HashMap<u64, u8, FixedState>,
    auctions: HashMap<u64, u8, FixedState>,
}

crate::nexmark::codec::state_data!(PriceStats {
    bids,
    bidders,
    auctions
});
crate::nexmark::codec::state_data!(DistinctStats {
    stats,
    bidders,
    auctions
});

impl DistinctStats {
    #[inline]
    pub(crate) fn add(&mut self, b: &Bid) {
        let r = rank(b.price);
        let bits = 1u8 | (1 << r);
        let s = &mut self.stats;
        s.bids[0] += 1;
        s.bids[r] += 1;
        for (seen, counts, id) in [
            (&mut self.bidders, &mut s.bidders, b.bidder),
            (&mut self.auctions, &mut s.auctions, b.auction),
        ] {
            let m = seen.entry(id).or_insert(0);
            let new = bits & !*m;
            if new != 0 {
                *m |= new;
                counts[0] += u64::from(new & 1);
                counts[r] += 1;
            }
        }
    }
}

/// A keyed aggregate over bids emitted as upserts: each key's accumulator is folded with
/// `add` per bid, and its row (`row(key, acc)`) is emitted when the watermark passes the
/// end of the event-time second of a bid that changed it: at most once per key and second
/// (a mini-batch of one second), and finally when the input ends. Timestamped with that
/// second's last millisecond.
#[derive(Clone)]
pub(crate) struct EverySecond<K, A, Add, Row> {
    state: ValueState<K, (A, bool)>,
    add: Add,
    row: Row,
}

impl<K, A, Add, Row> EverySecond<K, A, Add, Row>
where
    K: Hash + Eq + Clone,
{
    pub(crate) fn new(add: Add, row: Row) -> Self {
        EverySecond {
            state: ValueState::new(),
            add,
            row,
        }
    }
}

impl<K, A, O, Add, Row> KeyedProcessFunction<K, Bid, O> for EverySecond<K, A, Add, Row>
where
    K: Hash + Eq + Clone + Send + StateData + 'static,
    A: Default + Clone + Send + StateData + 'static,
    O: Clone,
    Add: Fn(&mut A, &Bid) + Clone + Send + 'static,
    Row: Fn(&K, &A) -> O + Clone + Send + 'static,
{
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("acc", &mut self.state);
    }

    fn process_element(
        &mut self,
        b: Bid,
        ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<(), UserError> {
        let slot = match self.state.value_mut(ctx) {
            Some(s) => s,
            None => {
                self.state.update(ctx, (A::default(), false));
                self.state
                    .value_mut(ctx)
                    .ok_or("keyed state lost a value just set (a bug)")?
            }
        };
        (self.add)(&mut slot.0, &b);
        if !slot.1 {
            slot.1 = true;
            ctx.register_event_time_timer(b.date_time.div_euclid(1000) * 1000 + 999);
        }
        Ok(())
    }

    fn on_timer(&mut self, _ts: i64, ctx: &mut KeyedContext<'_, K, O>) -> Result<(), UserError> {
        if let Some(slot) = self.state.value_mut(ctx) {
            slot.1 = false;
            let row = (self.row)(ctx.current_key(), &slot.0);
            ctx.collect(row);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_counts_grow_once_per_id_and_rank() {
        let bid = |bidder, auction, price| Bid {
            bidder,
            auction,
            price,
            ..Bid::default()
        };
        let mut d = DistinctStats::default();
        d.add(&bid(1, 10, 50));
        d.add(&bid(1, 10, 60));
        d.add(&bid(1, 11, 20_000));
        d.add(&bid(2, 11, 2_000_000));
        let s = d.stats;
        assert_eq!(s.bids, [4, 2, 1, 1]);
        assert_eq!(s.bidders, [2, 1, 1, 1]);
        assert_eq!(s.auctions, [2, 1, 1, 1]);
        assert_eq!((rank(9_999), rank(10_000), rank(1_000_000)), (1, 2, 3));
    }
}
