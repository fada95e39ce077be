//! Query 4, average price for a category: the average of the winning bid prices of the
//! auctions in each category.
//!
//! ```sql
//! SELECT Q.category, AVG(Q.final)
//! FROM (
//!     SELECT MAX(B.price) AS final, A.category
//!     FROM auction A, bid B
//!     WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//!     GROUP BY A.id, A.category
//! ) Q
//! GROUP BY Q.category;
//! ```
//!
//! The winning bids come from [`winning_bids`] (each auction's, once it has closed), then
//! are keyed by category into a running sum and count. The result is an updating table
//! keyed by category: a row `(category, average)` is emitted each time an auction of the
//! category closes, and the last row of each category after the input ends is the
//! reference's final table.
//!
//! Deviations: the average is emitted per closed auction rather than per bid (see
//! [`winning`](super::winning) for why the final table is the same). `AVG` of a `BIGINT` is a
//! `BIGINT` in Flink, so the average is the integer quotient, as there.

use spate::prelude::*;
use spate::state::ValueState;

use super::winning::{winning_bids, WinningBid};
use super::{event_time, Query, QueryClass};
use crate::nexmark::Event;

/// q4 in the registry.
pub const QUERY: Query = Query {
    name: "q4",
    about: "average winning price per category (auction ⋈ bid, closed auctions)",
    class: QueryClass::Join,
    build: |events, cx| cx.table(&q4(events), "q4", |r| r.category, write_row),
};

/// Appends a result row's CSV fields in the reference's column order: category, final.
/// The result is an updating table keyed by `category`.
pub fn write_row(r: &CategoryPrice, out: &mut String) {
    super::output::csv_fields(out, &[&r.category, &r.final_price]);
}

/// The average winning price of a category's closed auctions so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CategoryPrice {
    /// The category.
    pub category: u64,
    /// The average winning price, in cents (integer quotient).
    pub final_price: u64,
}

/// The average winning price per category, as an updating table (upserts by category).
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q4::q4;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 1000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q4(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// // Every category has an average; averages are prices in cents.
/// assert!(rows.iter().all(|r| (10..15).contains(&r.category) && r.final_price > 0));
/// ```
#[track_caller]
pub fn q4(events: &DataStream<Event>) -> DataStream<CategoryPrice> {
    winning_bids(&event_time(events))
        .key_by(|w: &WinningBid| w.auction.category)
        .process(Average::default())
}

#[derive(Clone, Default)]
struct Average {
    sum_count: ValueState<u64, (u64, u64)>,
}

impl KeyedProcessFunction<u64, WinningBid, CategoryPrice> for Average {
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("sum_count", &mut self.sum_count);
    }

    fn process_element(
        &mut self,
        w: WinningBid,
        ctx: &mut KeyedContext<'_, u64, CategoryPrice>,
    ) -> Result<(), UserError> {
        let (sum, count) = self.sum_count.value(ctx).copied().unwrap_or((0, 0));
        let (sum, count) = (sum + w.bid.price, count + 1);
        self.sum_count.update(ctx, (sum, count));
        ctx.collect(CategoryPrice {
            category: w.auction.category,
            final_price: sum / count,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::{assert_runs, at_rate, final_table, input_of, runs, EVENTS};
    use super::super::winning::reference;
    use super::*;

    #[test]
    fn q4_final_table_equals_the_reference_averages() {
        let cfg = at_rate(1_000);
        let mut sums: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for w in reference::winning(&input_of(&cfg, EVENTS)) {
            let e = sums.entry(w.auction.category).or_default();
            e.0 += w.bid.price;
            e.1 += 1;
        }
        let want: BTreeMap<u64, CategoryPrice> = sums
            .into_iter()
            .map(|(category, (s, n))| {
                (
                    category,
                    CategoryPrice {
                        category,
                        final_price: s / n,
                    },
                )
            })
            .collect();
        assert_eq!(want.len(), 5);
        let got = runs(&cfg, EVENTS, q4)
            .into_iter()
            .map(|rows| final_table(rows, |r| r.category))
            .collect();
        assert_runs(got, &want, "q4");
    }
}
