//! Query 20, expand bid with auction: every bid on a category-10 auction, with the
//! auction's fields (a filter join).
//!
//! ```sql
//! SELECT
//!     auction, bidder, price, channel, url, B.dateTime, B.extra,
//!     itemName, description, initialBid, reserve, A.dateTime, expires, seller, category, A.extra
//! FROM
//!     bid AS B INNER JOIN auction AS A on B.auction = A.id
//! WHERE A.category = 10;
//! ```
//!
//! Auctions and bids keyed by auction id into one keyed co-process function: an auction
//! of category 10 is kept, one of another category leaves a mark so its bids are dropped
//! at once, and bids that arrive before their auction wait for it. A regular join, as the
//! reference's: state is not expired, and each result row is emitted once, when its second
//! input arrives (an append-only table).

use spate::checkpoint::StateData;
use spate::prelude::*;
use spate::state::ValueState;

use super::{auctions, bids, Query, QueryClass};
use crate::nexmark::{Auction, Bid, Event};

/// q20 in the registry.
pub const QUERY: Query = Query {
    name: "q20",
    about: "expand bid with auction: bid ⋈ auction of category 10",
    class: QueryClass::Join,
    build: |events, cx| cx.append(&q20(events), "q20", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: auction, bidder,
/// price, channel, url, B.dateTime, B.extra, itemName, description, initialBid, reserve,
/// A.dateTime, expires, seller, category, A.extra.
pub fn write_row(r: &BidWithAuction, out: &mut String) {
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
            &r.auction.item_name,
            &r.auction.description,
            &r.auction.initial_bid,
            &r.auction.reserve,
            &r.auction.date_time,
            &r.auction.expires,
            &r.auction.seller,
            &r.auction.category,
            &r.auction.extra,
        ],
    );
}

/// The category q20 selects.
pub const CATEGORY: u64 = 10;

/// A bid and its auction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BidWithAuction {
    /// The bid.
    pub bid: Bid,
    /// Its auction.
    pub auction: Auction,
}

/// Every bid on an auction of category 10, with the auction.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q20::q20;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q20(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(!rows.is_empty() && rows.iter().all(|r| r.auction.category == 10 && r.bid.auction == r.auction.id));
/// ```
#[track_caller]
pub fn q20(events: &DataStream<Event>) -> DataStream<BidWithAuction> {
    let a = auctions(events).key_by(|a: &Auction| a.id);
    let b = bids(events).key_by(|b: &Bid| b.auction);
    a.connect(&b).process(Join::default())
}

/// What is known about an auction id.
#[derive(Clone, Debug)]
enum Known {
    Selected(Auction),
    Other,
    Awaited(Vec<Bid>),
}

impl spate::checkpoint::StateData for Known {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Known::Selected(a) => {
                out.push(0);
                a.encode(out);
            }
            Known::Other => out.push(1),
            Known::Awaited(v) => {
                out.push(2);
                v.encode(out);
            }
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Self, spate::checkpoint::DecodeError> {
        Ok(match u8::decode(input)? {
            0 => Known::Selected(StateData::decode(input)?),
            1 => Known::Other,
            2 => Known::Awaited(StateData::decode(input)?),
            t => {
                return Err(spate::checkpoint::DecodeError(format!(
                    "q20: invalid tag {t}"
                )))
            }
        })
    }
}

#[derive(Clone, Default)]
struct Join {
    state: ValueState<u64, Known>,
}

impl KeyedCoProcessFunction<u64, Auction, Bid, BidWithAuction> for Join {
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("state", &mut self.state);
    }

    fn process_element1(
        &mut self,
        a: Auction,
        ctx: &mut KeyedContext<'_, u64, BidWithAuction>,
    ) -> Result<(), UserError> {
        let known = if a.category == CATEGORY {
            Known::Selected(a)
        } else {
            Known::Other
        };
        if let (Some(Known::Awaited(waiting)), Known::Selected(_)) = (self.state.value(ctx), &known)
        {
            for &bid in waiting {
                ctx.collect(BidWithAuction { bid, auction: a });
            }
        }
        self.state.update(ctx, known);
        Ok(())
    }

    fn process_element2(
        &mut self,
        bid: Bid,
        ctx: &mut KeyedContext<'_, u64, BidWithAuction>,
    ) -> Result<(), UserError> {
        match self.state.value_mut(ctx) {
            Some(Known::Selected(auction)) => {
                let row = BidWithAuction {
                    bid,
                    auction: *auction,
                };
                ctx.collect(row);
            }
            Some(Known::Other) => {}
            Some(Known::Awaited(waiting)) => waiting.push(bid),
            None => self.state.update(ctx, Known::Awaited(vec![bid])),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::testing::{assert_runs, input, run_on_shards};
    use super::*;

    #[test]
    fn q20_equals_a_plain_hash_join() {
        let input = input();
        let auctions: HashMap<u64, Auction> = input
            .iter()
            .filter_map(|e| match e {
                Event::Auction(a) if a.category == CATEGORY => Some((a.id, *a)),
                _ => None,
            })
            .collect();
        let mut want: Vec<BidWithAuction> = input
            .iter()
            .filter_map(|e| match e {
                Event::Bid(b) => auctions.get(&b.auction).map(|a| BidWithAuction {
                    bid: *b,
                    auction: *a,
                }),
                _ => None,
            })
            .collect();
        want.sort();
        assert!(want.len() > 100, "{} rows", want.len());
        assert_runs(run_on_shards(q20), &want, "q20");
    }
}
