//! Query 6, average selling price by seller: the average selling price of each seller's
//! last 10 closed auctions. Follows the original Nexmark definition (the Flink suite has
//! the query but cannot run it):
//!
//! ```sql
//! -- Nexmark (Tucker et al.), CQL:
//! SELECT Istream(AVG(Q.final), Q.seller)
//! FROM (SELECT Rstream(MAX(B.price) AS final, A.seller)
//!       FROM Auction A [ROWS UNBOUNDED], Bid B [ROWS UNBOUNDED]
//!       WHERE A.id = B.auction AND B.datetime < A.expires AND A.expires < CURRENT_TIME
//!       GROUP BY A.id, A.seller) [PARTITION BY A.seller ROWS 10] Q
//! GROUP BY Q.seller;
//!
//! -- nexmark-flink's q6.sql (not supported by Flink: OVER cannot consume retractions):
//! SELECT Q.seller, AVG(Q.price) OVER
//!     (PARTITION BY Q.seller ORDER BY Q.dateTime ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)
//! FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY A.id, A.seller ORDER BY B.price DESC) AS rownum
//!       FROM (SELECT A.id, A.seller, B.price, B.dateTime FROM auction AS A, bid AS B
//!             WHERE A.id = B.auction and B.dateTime between A.dateTime and A.expires)
//!       WHERE rownum <= 1) AS Q;
//! ```
//!
//! The winning bids come from [`winning_bids`] (the "winning bids" core shared with q4), so
//! a bid counts when placed while the auction was open, `BETWEEN` its opening time and
//! `expires` (the CQL's `B.datetime < A.expires` leaves the start implicit; the bound at
//! `expires` itself differs by one millisecond). An auction without bids has no selling
//! price and is left out. They are keyed by seller; each seller keeps the prices of their
//! last 10 closed auctions, ordered by closing time (`expires`, then auction id), and emits
//! `(seller, average)` each time one of their auctions closes: an insert stream, one row
//! per closed auction, as the CQL's `Istream`.
//!
//! Closings reach a seller from every shard in no fixed order, so each waits for the
//! watermark to pass its closing time and the seller's closings are then applied in order:
//! the rows do not depend on the number of shards. The average is the integer quotient (the
//! reference's sink column is a `BIGINT`).

use std::collections::VecDeque;

use spate::prelude::*;
use spate::state::ValueState;

use super::winning::{winning_bids, WinningBid};
use super::{event_time, Query, QueryClass};
use crate::nexmark::Event;

/// q6 in the registry.
pub const QUERY: Query = Query {
    name: "q6",
    about: "average selling price of each seller's last 10 closed auctions",
    class: QueryClass::Other,
    build: |events, cx| cx.append(&q6(events), "q6", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: seller, avg price.
pub fn write_row(r: &SellerPrice, out: &mut String) {
    super::output::csv_fields(out, &[&r.seller, &r.avg_price]);
}

/// How many of a seller's latest closed auctions the average covers.
pub const LAST: usize = 10;

/// A seller's average selling price over their last (up to) 10 closed auctions, after one
/// of them closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SellerPrice {
    /// The seller's person id.
    pub seller: u64,
    /// The average of the winning prices, in cents (integer quotient).
    pub avg_price: u64,
}

/// Each seller's average selling price over their last 10 closed auctions, a row per
/// closed auction.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q6::q6;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 1000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q6(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(!rows.is_empty() && rows.iter().all(|r| r.avg_price > 0));
/// ```
#[track_caller]
pub fn q6(events: &DataStream<Event>) -> DataStream<SellerPrice> {
    winning_bids(&event_time(events))
        .key_by(|w: &WinningBid| w.auction.seller)
        .process(LastTen::default())
}

#[derive(Clone, Debug, Default)]
struct Seller {
    /// Closings not yet applied: (expires, auction id, price).
    waiting: Vec<(i64, u64, u64)>,
    /// The last prices, oldest first.
    last: VecDeque<u64>,
}

crate::nexmark::codec::state_data!(Seller { waiting, last });

#[derive(Clone, Default)]
struct LastTen {
    sellers: ValueState<u64, Seller>,
}

impl KeyedProcessFunction<u64, WinningBid, SellerPrice> for LastTen {
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("sellers", &mut self.sellers);
    }

    fn process_element(
        &mut self,
        w: WinningBid,
        ctx: &mut KeyedContext<'_, u64, SellerPrice>,
    ) -> Result<(), UserError> {
        let closing = (w.auction.expires, w.auction.id, w.bid.price);
        match self.sellers.value_mut(ctx) {
            Some(s) => s.waiting.push(closing),
            None => self.sellers.update(
                ctx,
                Seller {
                    waiting: vec![closing],
                    last: VecDeque::with_capacity(LAST),
                },
            ),
        }
        ctx.register_event_time_timer(w.auction.expires);
        Ok(())
    }

    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u64, SellerPrice>,
    ) -> Result<(), UserError> {
        let seller = *ctx.current_key();
        let Some(s) = self.sellers.value_mut(ctx) else {
            return Ok(());
        };
        s.waiting.sort_unstable();
        let due = s.waiting.partition_point(|c| c.0 <= ts);
        for (expires, _, price) in s.waiting.drain(..due) {
            if s.last.len() == LAST {
                s.last.pop_front();
            }
            s.last.push_back(price);
            let sum: u64 = s.last.iter().sum();
            ctx.collect_with_timestamp(
                SellerPrice {
                    seller,
                    avg_price: sum / s.last.len() as u64,
                },
                expires,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::testing::{assert_runs, at_rate, input_of, runs, EVENTS};
    use super::super::winning::reference;
    use super::*;

    #[test]
    fn q6_averages_each_sellers_last_ten_closings_in_order() {
        let cfg = at_rate(1_000);
        let mut closings = reference::winning(&input_of(&cfg, EVENTS));
        closings.sort_by_key(|w| (w.auction.expires, w.auction.id));
        let mut last: HashMap<u64, VecDeque<u64>> = HashMap::new();
        let mut want: Vec<SellerPrice> = closings
            .iter()
            .map(|w| {
                let l = last.entry(w.auction.seller).or_default();
                if l.len() == LAST {
                    l.pop_front();
                }
                l.push_back(w.bid.price);
                SellerPrice {
                    seller: w.auction.seller,
                    avg_price: l.iter().sum::<u64>() / l.len() as u64,
                }
            })
            .collect();
        want.sort();
        assert!(
            last.values().any(|l| l.len() == LAST),
            "some seller has 10 closings"
        );
        let got = runs(&cfg, EVENTS, q6)
            .into_iter()
            .map(|mut v| {
                v.sort();
                v
            })
            .collect();
        assert_runs(got, &want, "q6");
    }
}
