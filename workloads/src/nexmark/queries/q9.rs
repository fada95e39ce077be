//! Query 9, winning bids: each auction with its winning bid.
//!
//! ```sql
//! SELECT
//!     id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra,
//!     auction, bidder, price, bid_dateTime, bid_extra
//! FROM (
//!    SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
//!      ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC) AS rownum
//!    FROM auction A, bid B
//!    WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//! )
//! WHERE rownum <= 1;
//! ```
//!
//! [`winning_bids`] itself: the reference's result is an updating table keyed by auction
//! id; here each auction's row is emitted once, when it closes (see
//! [`winning`](super::winning) for why the final table is the same, and how ties on price
//! and time are broken).

use spate::prelude::*;

use super::winning::{winning_bids, WinningBid};
use super::{event_time, Query, QueryClass};
use crate::nexmark::Event;

/// q9 in the registry.
pub const QUERY: Query = Query {
    name: "q9",
    about: "winning bids: each closed auction with its best bid",
    class: QueryClass::Join,
    build: |events, cx| cx.table(&q9(events), "q9", |r| r.auction.id, write_row),
};

/// Appends a result row's CSV fields in the reference's column order: id, itemName,
/// description, initialBid, reserve, dateTime, expires, seller, category, extra, auction,
/// bidder, price, bid_dateTime, bid_extra.
/// The result is an updating table keyed by `auction.id`.
pub fn write_row(r: &WinningBid, out: &mut String) {
    super::output::csv_fields(
        out,
        &[
            &r.auction.id,
            &r.auction.item_name,
            &r.auction.description,
            &r.auction.initial_bid,
            &r.auction.reserve,
            &r.auction.date_time,
            &r.auction.expires,
            &r.auction.seller,
            &r.auction.category,
            &r.auction.extra,
            &r.bid.auction,
            &r.bid.bidder,
            &r.bid.price,
            &r.bid.date_time,
            &r.bid.extra,
        ],
    );
}

/// Every auction that received a bid while open, with its best bid, once it has closed.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q9::q9;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 1000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q9(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(rows.iter().all(|w| w.bid.auction == w.auction.id));
/// ```
#[track_caller]
pub fn q9(events: &DataStream<Event>) -> DataStream<WinningBid> {
    winning_bids(&event_time(events))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_runs, at_rate, input_of, runs};
    use super::super::winning::reference;
    use super::*;

    #[test]
    fn q9_emits_every_auctions_winner_once_at_the_default_rate() {
        // At the default rate the test input spans 0.3 s and most auctions are still open
        // when it ends: they close at the final watermark.
        let cfg = at_rate(100_000);
        let n = 30_000;
        let want = reference::winning(&input_of(&cfg, n));
        let got = runs(&cfg, n, q9)
            .into_iter()
            .map(|mut v| {
                v.sort_by_key(|w| w.auction.id);
                v
            })
            .collect();
        assert_runs(got, &want, "q9");
    }
}
