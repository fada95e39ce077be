//! Query 18, find last bid: each bidder's last bid on each auction (a deduplication).
//!
//! ```sql
//! SELECT auction, bidder, price, channel, url, dateTime, extra
//!  FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC) AS rank_number
//!        FROM bid)
//!  WHERE rank_number <= 1;
//! ```
//!
//! An updating table keyed by `(bidder, auction)`: bids keyed so into a keyed process
//! function that keeps the latest bid and emits a bid when it becomes the latest (an
//! upsert). The last row of each key after the input ends is the final table. Ties on time
//! go to the larger bid in [`Bid`]'s order, so the result is deterministic where the SQL's
//! `ROW_NUMBER` is not. As in the reference, state is kept for every pair ever seen.

use spate::prelude::*;
use spate::state::ValueState;

use super::{bids, Query, QueryClass};
use crate::nexmark::{Bid, Event};

/// q18 in the registry.
pub const QUERY: Query = Query {
    name: "q18",
    about: "last bid of each bidder on each auction (dedup, upserts)",
    class: QueryClass::Join,
    build: |events, cx| cx.table(&q18(events), "q18", |r| (r.bidder, r.auction), write_row),
};

/// Appends a result row's CSV fields in the reference's column order: auction, bidder,
/// price, channel, url, dateTime, extra.
/// The result is an updating table keyed by `(bidder, auction)`.
pub fn write_row(r: &Bid, out: &mut String) {
    super::output::csv_fields(
        out,
        &[
            &r.auction,
            &r.bidder,
            &r.price,
            &r.channel,
            &r.url,
            &r.date_time,
            &r.extra,
        ],
    );
}

/// Each bidder's latest bid on each auction, as upserts by `(bidder, auction)`.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q18::q18;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q18(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(!rows.is_empty() && rows.len() <= 18_400);
/// ```
#[track_caller]
pub fn q18(events: &DataStream<Event>) -> DataStream<Bid> {
    bids(events)
        .key_by(|b: &Bid| (b.bidder, b.auction))
        .process(Latest::default())
}

#[derive(Clone, Default)]
struct Latest {
    last: ValueState<(u64, u64), Bid>,
}

impl KeyedProcessFunction<(u64, u64), Bid, Bid> for Latest {
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("last", &mut self.last);
    }

    fn process_element(
        &mut self,
        b: Bid,
        ctx: &mut KeyedContext<'_, (u64, u64), Bid>,
    ) -> Result<(), UserError> {
        match self.last.value_mut(ctx) {
            Some(last) if (b.date_time, &b) > (last.date_time, &*last) => *last = b,
            Some(_) => return Ok(()),
            None => self.last.update(ctx, b),
        }
        ctx.collect(b);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::{assert_runs, final_table, runs, EVENTS};
    use super::*;
    use crate::nexmark::NexmarkConfig;

    #[test]
    fn q18_final_table_holds_each_pairs_latest_bid() {
        let cfg = NexmarkConfig::default();
        let mut want: BTreeMap<(u64, u64), Bid> = BTreeMap::new();
        for e in super::super::testing::input() {
            if let Event::Bid(b) = e {
                let last = want.entry((b.bidder, b.auction)).or_insert(b);
                if (b.date_time, b) > (last.date_time, *last) {
                    *last = b;
                }
            }
        }
        assert!(want.len() < 18_000, "some pairs repeat: {}", want.len());
        let got = runs(&cfg, EVENTS, q18)
            .into_iter()
            .map(|rows| final_table(rows, |b| (b.bidder, b.auction)))
            .collect();
        assert_runs(got, &want, "q18");
    }
}
