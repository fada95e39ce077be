//! Query 19, auction top-10 price: the 10 highest bids of each auction (a top-N).
//!
//! ```sql
//! SELECT * FROM
//! (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bid)
//! WHERE rank_number <= 10;
//! ```
//!
//! An updating table keyed by `(auction, rank_number)`: bids keyed by auction into a keyed
//! process function keeping the auction's top 10 in order; a bid that enters it shifts the
//! ones below, and every rank whose bid changed is emitted (an upsert of that rank's row,
//! as Flink's rank operator updates them). The last row of each `(auction, rank)` after the
//! input ends is the final table. Ties on price go to the earlier bid, then the smaller in
//! [`Bid`]'s order, so the result is deterministic where the SQL's `ROW_NUMBER` is not.

use std::cmp::Reverse;

use spate::prelude::*;
use spate::state::ValueState;

use super::{bids, Query, QueryClass};
use crate::nexmark::{Bid, Event};

/// q19 in the registry.
pub const QUERY: Query = Query {
    name: "q19",
    about: "top 10 bids by price of each auction (top-N, upserts)",
    class: QueryClass::Join,
    build: |events, cx| {
        cx.table(
            &q19(events),
            "q19",
            |r| (r.bid.auction, r.rank_number),
            write_row,
        )
    },
};

/// Appends a result row's CSV fields in the reference's column order: auction, bidder,
/// price, channel, url, dateTime, extra, rank_number.
/// The result is an updating table keyed by `(bid.auction, rank_number)`.
pub fn write_row(r: &RankedBid, out: &mut String) {
    super::output::csv_fields(
        out,
        &[
            &r.bid.auction,
            &r.bid.bidder,
            &r.bid.price,
            &r.bid.channel,
            &r.bid.url,
            &r.bid.date_time,
            &r.bid.extra,
            &r.rank_number,
        ],
    );
}

/// How many bids per auction.
pub const TOP: usize = 10;

/// A bid at a rank of its auction's top 10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RankedBid {
    /// The bid.
    pub bid: Bid,
    /// Its rank, 1 to 10.
    pub rank_number: u64,
}

/// The order of the top 10: higher price first, then earlier, then the smaller bid.
#[inline]
fn order(b: &Bid) -> (Reverse<u64>, i64, &Bid) {
    (Reverse(b.price), b.date_time, b)
}

/// Each auction's 10 highest bids, as upserts by `(auction, rank_number)`.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q19::q19;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q19(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(rows.iter().all(|r| (1..=10).contains(&r.rank_number)));
/// ```
#[track_caller]
pub fn q19(events: &DataStream<Event>) -> DataStream<RankedBid> {
    bids(events)
        .key_by(|b: &Bid| b.auction)
        .process(TopTen::default())
}

#[derive(Clone, Default)]
struct TopTen {
    top: ValueState<u64, Vec<Bid>>,
}

impl KeyedProcessFunction<u64, Bid, RankedBid> for TopTen {
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("top", &mut self.top);
    }

    fn process_element(
        &mut self,
        b: Bid,
        ctx: &mut KeyedContext<'_, u64, RankedBid>,
    ) -> Result<(), UserError> {
        let top = match self.top.value_mut(ctx) {
            Some(top) => top,
            None => {
                self.top.update(ctx, Vec::with_capacity(TOP));
                self.top
                    .value_mut(ctx)
                    .ok_or("keyed state lost a value just set (a bug)")?
            }
        };
        let at = top.partition_point(|x| order(x) < order(&b));
        if at >= TOP {
            return Ok(());
        }
        top.insert(at, b);
        top.truncate(TOP);
        for (i, bid) in top.iter().enumerate().skip(at) {
            ctx.collect(RankedBid {
                bid: *bid,
                rank_number: i as u64 + 1,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::{assert_runs, final_table, input, runs, EVENTS};
    use super::*;
    use crate::nexmark::NexmarkConfig;

    #[test]
    fn q19_final_table_holds_each_auctions_top_ten() {
        let mut per_auction: BTreeMap<u64, Vec<Bid>> = BTreeMap::new();
        for e in input() {
            if let Event::Bid(b) = e {
                per_auction.entry(b.auction).or_default().push(b);
            }
        }
        let mut want: BTreeMap<(u64, u64), RankedBid> = BTreeMap::new();
        for (auction, mut bids) in per_auction {
            bids.sort_by(|x, y| order(x).cmp(&order(y)));
            for (i, bid) in bids.into_iter().take(TOP).enumerate() {
                let rank_number = i as u64 + 1;
                want.insert((auction, rank_number), RankedBid { bid, rank_number });
            }
        }
        assert!(want.keys().any(|k| k.1 == TOP as u64));
        let got = runs(&NexmarkConfig::default(), EVENTS, q19)
            .into_iter()
            .map(|rows| final_table(rows, |r| (r.bid.auction, r.rank_number)))
            .collect();
        assert_runs(got, &want, "q19");
    }
}
