//! The generator's parameters, with the reference suite's defaults.

use spate::SpateError;

use super::pools::EXTRA_MAX;

/// 2015-07-15T00:00:00Z in epoch milliseconds: the fixed base time of Beam's Nexmark
/// (`NexmarkUtils.BASE_TIME`), so that runs are reproducible.
pub const DEFAULT_BASE_TIME: i64 = 1_436_918_400_000;

/// The largest average record size [`NexmarkConfig::validate`] accepts: the `extra` padding
/// of a record is cut from a run of random letters, and must fit in it.
pub const MAX_AVG_BYTE_SIZE: u32 = EXTRA_MAX * 3 / 4;

/// What the Nexmark generator makes.
///
/// The defaults are those of the Flink Nexmark suite's `NexmarkConfiguration` and
/// `GeneratorConfig` (one event generator), except the event rate: 100,000 events per
/// second of event time (the suite's V2 rate; `NexmarkConfiguration` says 10,000), and
/// [`seed`](Self::seed), which the reference lacks (its random draws are not seeded).
///
/// # Examples
///
/// ```
/// use spate_workloads::nexmark::NexmarkConfig;
///
/// let cfg = NexmarkConfig { event_rate: 1_000, ..NexmarkConfig::default() };
/// assert!(cfg.validate().is_ok());
/// // At 1,000 events per second, event 2,500 happens 2.5 s after the base time.
/// assert_eq!(cfg.timestamp_for_event(2_500), cfg.base_time + 2_500);
/// assert!(NexmarkConfig { bid_proportion: 0, ..cfg }.validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NexmarkConfig {
    /// Seeds every random draw: the same seed gives the same events.
    pub seed: u64,
    /// Events per second of event time: event `n` happens `n / event_rate` seconds after
    /// [`base_time`](Self::base_time) (as the reference computes it, in whole µs).
    pub event_rate: u64,
    /// Event time of the first event, in epoch milliseconds.
    pub base_time: i64,
    /// Out of every `person + auction + bid` proportion events, this many are people (1).
    pub person_proportion: u32,
    /// … this many are auctions (3).
    pub auction_proportion: u32,
    /// … and this many are bids (46).
    pub bid_proportion: u32,
    /// A bid is for a hot auction with probability `1 - 1/hot_auction_ratio` (2).
    pub hot_auction_ratio: u32,
    /// An auction's seller is a hot seller with probability `1 - 1/hot_sellers_ratio` (4).
    pub hot_sellers_ratio: u32,
    /// A bid's bidder is a hot bidder with probability `1 - 1/hot_bidders_ratio` (4).
    pub hot_bidders_ratio: u32,
    /// Average number of auctions in flight at any time (100): sets how far back cold bids
    /// reach and how long auctions last.
    pub num_in_flight_auctions: u32,
    /// People considered active for sellers and cold bidders (1,000).
    pub num_active_people: u32,
    /// Average size of a person record in bytes, reached with `extra` padding (200).
    pub avg_person_byte_size: u32,
    /// Average size of an auction record in bytes (500).
    pub avg_auction_byte_size: u32,
    /// Average size of a bid record in bytes (100).
    pub avg_bid_byte_size: u32,
    /// Events in an out-of-order group (1: in order). Each group of this many events is
    /// emitted in a pseudo-random order (the reference's `nextAdjustedEventNumber`).
    pub out_of_order_group_size: u64,
    /// Id of the first person (1,000).
    pub first_person_id: u64,
    /// Id of the first auction (1,000).
    pub first_auction_id: u64,
    /// Id of the first category (10).
    pub first_category_id: u64,
    /// Categories, numbered from `first_category_id` (5).
    pub num_categories: u32,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        NexmarkConfig {
            seed: 0,
            event_rate: 100_000,
            base_time: DEFAULT_BASE_TIME,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            num_in_flight_auctions: 100,
            num_active_people: 1000,
            avg_person_byte_size: 200,
            avg_auction_byte_size: 500,
            avg_bid_byte_size: 100,
            out_of_order_group_size: 1,
            first_person_id: 1000,
            first_auction_id: 1000,
            first_category_id: 10,
            num_categories: 5,
        }
    }
}

impl NexmarkConfig {
    /// Checks that the generator can run with these parameters.
    pub fn validate(&self) -> Result<(), SpateError> {
        let bad = |what: &str| Err(SpateError::Config(format!("nexmark: {what}")));
        if self.person_proportion == 0 || self.auction_proportion == 0 {
            return bad("person and auction proportions must be at least 1");
        }
        if self.bid_proportion == 0 {
            return bad("the bid proportion must be at least 1");
        }
        if self.event_rate == 0 || self.event_rate > 1_000_000_000 {
            return bad("the event rate must be between 1 and 1e9 events per second");
        }
        if self.hot_auction_ratio == 0 || self.hot_sellers_ratio == 0 || self.hot_bidders_ratio == 0
        {
            return bad("hot ratios must be at least 1");
        }
        if self.out_of_order_group_size == 0 || self.out_of_order_group_size % 953 == 0 {
            // A multiple of 953 would make the reference's shuffle repeat events.
            return bad("the out-of-order group size must be at least 1 and not a multiple of 953");
        }
        if self.num_categories == 0 {
            return bad("there must be at least one category");
        }
        let largest = self
            .avg_person_byte_size
            .max(self.avg_auction_byte_size)
            .max(self.avg_bid_byte_size);
        if largest > MAX_AVG_BYTE_SIZE {
            return bad(&format!(
                "average record sizes above {MAX_AVG_BYTE_SIZE} bytes are not supported"
            ));
        }
        Ok(())
    }

    /// Person + auction + bid proportions: the length of one cycle of event kinds (50).
    pub fn total_proportion(&self) -> u64 {
        u64::from(self.person_proportion)
            + u64::from(self.auction_proportion)
            + u64::from(self.bid_proportion)
    }

    /// Microseconds of event time between consecutive events.
    pub fn inter_event_delay_us(&self) -> f64 {
        1_000_000.0 / self.event_rate as f64
    }

    /// Event time (epoch ms) of event number `n`: the reference's `timestampForEvent`,
    /// `base_time + (long)(n * inter_event_delay_us) / 1000`.
    #[inline]
    pub fn timestamp_for_event(&self, n: u64) -> i64 {
        self.base_time + (n as f64 * self.inter_event_delay_us()) as i64 / 1000
    }

    /// The event number the `count`-th generated event takes its contents and time from:
    /// `count` itself when the group size is 1, else a permutation within each group of
    /// `out_of_order_group_size` events (the reference's `nextAdjustedEventNumber`:
    /// `group start + count * 953 mod size`).
    #[inline]
    pub fn adjusted_event_number(&self, count: u64) -> u64 {
        let n = self.out_of_order_group_size;
        if n <= 1 {
            return count;
        }
        let base = count / n * n;
        base + (u128::from(count) * 953 % u128::from(n)) as u64
    }
}
