//! The generator: event number → event, as the reference's `NexmarkGenerator` and its
//! `PersonGenerator`, `AuctionGenerator`, `BidGenerator`, `PriceGenerator` and
//! `StringsGenerator` define it.
//!
//! Event `n` (the `n`-th event generated, from 0) takes its contents from event id
//! `id = adjusted_event_number(n)` (`n` itself unless out-of-order groups are on): the id's
//! place in the cycle of `person + auction + bid` proportions picks its kind, every id is
//! computed from the id (person `k` is the `k`-th person, and a bid refers to auctions and
//! people that exist or are about to), its time is `timestamp_for_event(id)`, and its
//! random fields come from a stream seeded with `(seed, id)`. So any event can be made on
//! its own: replaying from event `n` or splitting the events among shards gives exactly
//! the events of one run.

use std::fmt;
use std::sync::OnceLock;

use spate::SpateError;

use super::config::NexmarkConfig;
use super::iter::{At, Events, Generated};
use super::model::{Auction, Bid, Event, EventKind, Person};
use super::pools::{pools, PoolStr, Pools, CHANNELS, HOT_CHANNELS};
use super::rng::{scale, scale32, EventRng};

/// The reference's hot-id strides: hot auctions, sellers and bidders are the first (for
/// bidders, the second) of the last batch of this many.
const HOT_STRIDE: u64 = 100;
/// Ids a random person or auction may lie ahead of the last one made.
const ID_LEAD: u64 = 10;
/// A bid comes from a hot channel with probability `1 - 1/HOT_CHANNELS_RATIO`.
const HOT_CHANNELS_RATIO: u64 = 2;
/// Bytes the reference counts for each number in a record's size.
const NUM_BYTES: u64 = 8;

/// Makes Nexmark events: deterministic for a seed, any event on its own.
///
/// # Examples
///
/// ```
/// use spate_workloads::nexmark::{Event, NexmarkConfig, NexmarkGenerator};
///
/// let generator = NexmarkGenerator::new(NexmarkConfig::default()).unwrap();
/// let events: Vec<Event> = generator.events(0..100).collect();
/// // The same events, replayed from event 60.
/// assert_eq!(generator.events(60..100).collect::<Vec<_>>(), events[60..]);
/// // One person, three auctions, 46 bids in every 50 events.
/// let bids = events.iter().filter(|e| matches!(e, Event::Bid(_))).count();
/// assert_eq!(bids, 92);
/// assert_eq!(generator.bids(0..100).count(), 92);
/// ```
#[derive(Clone)]
pub struct NexmarkGenerator {
    cfg: NexmarkConfig,
    pub(crate) total: u64,
    person_p: u64,
    auction_p: u64,
    delay_us: f64,
    events_for_auctions: u64,
    pools: &'static Pools,
    pow10: &'static [f64; 1024],
}

impl fmt::Debug for NexmarkGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NexmarkGenerator")
            .field("config", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl NexmarkGenerator {
    /// A generator for `cfg`, or a [`SpateError::Config`] saying what is wrong with it.
    pub fn new(cfg: NexmarkConfig) -> Result<Self, SpateError> {
        cfg.validate()?;
        let auction_p = u64::from(cfg.auction_proportion);
        Ok(NexmarkGenerator {
            total: cfg.total_proportion(),
            person_p: u64::from(cfg.person_proportion),
            auction_p,
            delay_us: cfg.inter_event_delay_us(),
            events_for_auctions: u64::from(cfg.num_in_flight_auctions) * cfg.total_proportion()
                / auction_p,
            pools: pools(),
            pow10: pow10_table(),
            cfg,
        })
    }

    /// The parameters.
    pub fn config(&self) -> &NexmarkConfig {
        &self.cfg
    }

    /// Event number `n` (the `n`-th event of a run, from 0).
    pub fn event(&self, n: u64) -> Event {
        self.make(self.at(n))
    }

    /// The kind of event number `n`, without making it.
    pub fn kind(&self, n: u64) -> EventKind {
        self.at(n).kind(self)
    }

    /// The event time of event number `n` (epoch ms).
    pub fn timestamp(&self, n: u64) -> i64 {
        self.time(self.at(n).id)
    }

    /// Events `range` in order.
    pub fn events(&self, range: std::ops::Range<u64>) -> Events<Event> {
        Events::new(self.clone(), range, 0, 1)
    }

    /// The bids among events `range`, in order (the other events are skipped, not made).
    pub fn bids(&self, range: std::ops::Range<u64>) -> Events<Bid> {
        Events::new(self.clone(), range, 0, 1)
    }

    /// The share of events `range` that shard `shard` of `shards` makes: event numbers
    /// `range.start + shard`, then every `shards`-th. The shares of shards `0..shards`
    /// together are exactly `range`. `T` is [`Event`] for every event, [`Bid`] for bids
    /// only.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_workloads::nexmark::{Event, NexmarkConfig, NexmarkGenerator};
    ///
    /// let g = NexmarkGenerator::new(NexmarkConfig::default()).unwrap();
    /// let mut shared: Vec<Event> = (0..3).flat_map(|s| g.shard::<Event>(10..70, s, 3)).collect();
    /// shared.sort_by_key(|e| (e.timestamp(), format!("{e:?}")));
    /// let mut whole: Vec<Event> = g.events(10..70).collect();
    /// whole.sort_by_key(|e| (e.timestamp(), format!("{e:?}")));
    /// assert_eq!(shared, whole);
    /// ```
    pub fn shard<T: Generated>(
        &self,
        range: std::ops::Range<u64>,
        shard: usize,
        shards: usize,
    ) -> Events<T> {
        Events::new(self.clone(), range, shard as u64, shards.max(1) as u64)
    }

    /// Where event number `n` sits (divides; iterators advance without dividing).
    pub(crate) fn at(&self, n: u64) -> At {
        let id = self.cfg.adjusted_event_number(n);
        At {
            id,
            cycle: id / self.total,
            offset: id % self.total,
        }
    }

    pub(crate) fn make(&self, at: At) -> Event {
        match at.kind(self) {
            EventKind::Person => Event::Person(self.person(at)),
            EventKind::Auction => Event::Auction(self.auction(at)),
            EventKind::Bid => Event::Bid(self.bid(at)),
        }
    }

    #[inline(always)]
    pub(crate) fn kind_at(&self, offset: u64) -> EventKind {
        if offset < self.person_p {
            EventKind::Person
        } else if offset < self.person_p + self.auction_p {
            EventKind::Auction
        } else {
            EventKind::Bid
        }
    }

    /// `timestamp_for_event(id)`, with the delay computed once.
    #[inline(always)]
    fn time(&self, id: u64) -> i64 {
        // Ids stay below 2^63, so the signed conversion (one instruction) is exact.
        self.cfg.base_time + (id as i64 as f64 * self.delay_us) as i64 / 1000
    }

    /// The reference's `lastBase0PersonId`: the newest person at `at` (base 0).
    #[inline(always)]
    fn last_person(&self, at: At) -> u64 {
        at.cycle * self.person_p + at.offset.min(self.person_p - 1)
    }

    /// The reference's `lastBase0AuctionId`: the newest auction at `at` (base 0; 0 where the
    /// reference says -1, before the first auction, which no auction or bid asks for).
    #[inline(always)]
    fn last_auction(&self, at: At) -> u64 {
        if at.offset < self.person_p {
            (at.cycle * self.auction_p).saturating_sub(1)
        } else if at.offset >= self.person_p + self.auction_p {
            at.cycle * self.auction_p + self.auction_p - 1
        } else {
            at.cycle * self.auction_p + at.offset - self.person_p
        }
    }

    /// The reference's `nextBase0PersonId`: one of the active people, or a few ahead.
    #[inline(always)]
    fn next_person(&self, at: At, x: u64) -> u64 {
        let people = self.last_person(at) + 1;
        let active = people.min(u64::from(self.cfg.num_active_people));
        people - active + scale(x, active + ID_LEAD)
    }

    /// The reference's `nextBase0AuctionId`: one likely in flight, or a few ahead.
    #[inline(always)]
    fn next_auction(&self, at: At, x: u64) -> u64 {
        let max = self.last_auction(at);
        let min = max.saturating_sub(u64::from(self.cfg.num_in_flight_auctions));
        min + scale(x, max - min + 1 + ID_LEAD)
    }

    /// The reference's `PriceGenerator.nextPrice`: `round(10^(6u) * 100)` cents for a
    /// uniform `u`, i.e. log-uniform from $1 to $1M, from the draw `x` (`u = x / 2^64`).
    /// `powf` would be the most expensive step of a bid, so: `6u * 1024` splits into a
    /// whole part, whose `10^(k/1024)` comes from tables (decade, then 1/1024ths), and a
    /// fraction, whose `10^(f/1024)` is a 3rd-order series (relative error < 1e-12).
    #[inline(always)]
    fn price(&self, x: u64) -> u64 {
        const POW10_INT: [f64; 8] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7];
        let p = u128::from(x) * 6 * 1024;
        let cell = (p >> 64) as usize; // 0..6144: decade * 1024 + step
        let frac = ((p as u64) >> 11) as i64 as f64 * (1.0 / (1u64 << 53) as f64);
        let z = frac * (std::f64::consts::LN_10 / 1024.0);
        let e = 1.0 + z * (1.0 + z * (0.5 + z * (1.0 / 6.0)));
        let v = 100.0 * POW10_INT[(cell >> 10) & 7] * self.pow10[cell & 1023] * e;
        (v + 0.5) as i64 as u64
    }

    /// The reference's `nextExtra`: padding so that a record of `current` bytes is on
    /// average `avg` bytes (uniform within ±20% of the gap), from the draw `x` (its high
    /// bits pick the length, its low bits the offset in the run of letters).
    #[inline(always)]
    fn extra(&self, x: u64, current: u64, avg: u32) -> PoolStr {
        let avg = u64::from(avg);
        if current > avg {
            return PoolStr::default();
        }
        let want = avg - current;
        // Math.round(want * 0.2), in integers (no ties occur).
        let delta = (2 * want + 5) / 10;
        let len = want - delta + scale(x, 2 * delta);
        self.pools.extra(x, len)
    }

    #[inline(always)]
    fn pick(r: &mut EventRng, pool: &[PoolStr]) -> PoolStr {
        pool.get(r.below(pool.len() as u64) as usize)
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn person(&self, at: At) -> Person {
        let mut r = EventRng::new(self.cfg.seed, at.id);
        let p = self.pools;
        let name = Self::pick(&mut r, &p.names);
        let email_address = Self::pick(&mut r, &p.emails);
        let credit_card = Self::pick(&mut r, &p.credit_cards);
        let city = Self::pick(&mut r, &p.cities);
        let state = Self::pick(&mut r, &p.states);
        let current = NUM_BYTES
            + [name, email_address, credit_card, city, state]
                .iter()
                .map(|s| s.len() as u64)
                .sum::<u64>();
        Person {
            id: self.last_person(at) + self.cfg.first_person_id,
            name,
            email_address,
            credit_card,
            city,
            state,
            date_time: self.time(at.id),
            extra: self.extra(r.next_u64(), current, self.cfg.avg_person_byte_size),
        }
    }

    pub(crate) fn auction(&self, at: At) -> Auction {
        let mut r = EventRng::new(self.cfg.seed, at.id);
        let seller = if r.one_minus_one_in(u64::from(self.cfg.hot_sellers_ratio)) {
            self.last_person(at) / HOT_STRIDE * HOT_STRIDE
        } else {
            self.next_person(at, r.next_u64())
        };
        let category = r.below(u64::from(self.cfg.num_categories));
        let initial_bid = self.price(r.next_u64());
        let date_time = self.time(at.id);
        // The reference's nextAuctionLengthMs: on average, until `num_in_flight_auctions`
        // more auctions have opened.
        let horizon = self.time(at.id + self.events_for_auctions) - date_time;
        let expires = date_time + 1 + r.below((horizon * 2).max(1) as u64) as i64;
        let item_name = Self::pick(&mut r, &self.pools.item_names);
        let description = Self::pick(&mut r, &self.pools.descriptions);
        let reserve = initial_bid + self.price(r.next_u64());
        let current = NUM_BYTES + item_name.len() as u64 + description.len() as u64 + 5 * NUM_BYTES;
        Auction {
            id: self.last_auction(at) + self.cfg.first_auction_id,
            item_name,
            description,
            initial_bid,
            reserve,
            date_time,
            expires,
            seller: seller + self.cfg.first_person_id,
            category: category + self.cfg.first_category_id,
            extra: self.extra(r.next_u64(), current, self.cfg.avg_auction_byte_size),
        }
    }

    /// A bid. Every draw is made whether or not it is used, and the choices are selects,
    /// not branches: half of all bids go each way at the hot-auction and hot-channel
    /// choices, which would mispredict half the time.
    #[inline(always)]
    pub(crate) fn bid(&self, at: At) -> Bid {
        let mut r = EventRng::new(self.cfg.seed, at.id);
        let (hot, cold_auction, cold_bidder) = (r.next_u64(), r.next_u64(), r.next_u64());
        let (price, channel, extra) = (r.next_u64(), r.next_u64(), r.next_u64());

        let is_hot = scale32((hot >> 32) as u32, self.cfg.hot_auction_ratio) > 0;
        let hot_auction = self.last_auction(at) / HOT_STRIDE * HOT_STRIDE;
        let auction = select(is_hot, hot_auction, self.next_auction(at, cold_auction));
        // The second person of the batch, so that hot bidders and hot sellers differ.
        let is_hot = scale32(hot as u32, self.cfg.hot_bidders_ratio) > 0;
        let hot_bidder = self.last_person(at) / HOT_STRIDE * HOT_STRIDE + 1;
        let bidder = select(is_hot, hot_bidder, self.next_person(at, cold_bidder));

        // Hot channels are the first entries of the table, then channel-0, channel-1, ….
        let is_hot = scale32((channel >> 32) as u32, HOT_CHANNELS_RATIO as u32) > 0;
        let hot_i = scale32(channel as u32, HOT_CHANNELS as u32);
        let cold_i = HOT_CHANNELS as u32 + scale32(channel as u32, CHANNELS as u32);
        let (channel, url) = self
            .pools
            .channels
            .get(select(is_hot, u64::from(hot_i), u64::from(cold_i)) as usize)
            .copied()
            .unwrap_or_default();
        Bid {
            auction: auction + self.cfg.first_auction_id,
            bidder: bidder + self.cfg.first_person_id,
            price: self.price(price),
            channel,
            url,
            date_time: self.time(at.id),
            extra: self.extra(extra, 4 * NUM_BYTES, self.cfg.avg_bid_byte_size),
        }
    }
}

/// `if c { a } else { b }`, meant to compile to a conditional move.
#[inline(always)]
fn select(c: bool, a: u64, b: u64) -> u64 {
    let mask = (c as u64).wrapping_neg();
    (a & mask) | (b & !mask)
}

/// `10^(j/1024)` for `j` in `0..1024`.
fn pow10_table() -> &'static [f64; 1024] {
    static TABLE: OnceLock<[f64; 1024]> = OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|j| 10f64.powf(j as f64 / 1024.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_prices_equal_the_references_pow_formula() {
        let g = NexmarkGenerator::new(NexmarkConfig::default()).expect("valid");
        let mut r = EventRng::new(3, 4);
        let mut off = 0;
        for _ in 0..200_000 {
            let x = r.next_u64();
            let u = x as f64 / 2f64.powi(64);
            let want = (10f64.powf(u * 6.0) * 100.0 + 0.5).floor() as u64;
            let got = g.price(x);
            assert!(got.abs_diff(want) <= 1, "x={x}: {got} vs {want}");
            off += usize::from(got != want);
        }
        assert!(off < 20, "{off} prices off by a cent");
        assert_eq!((g.price(0), g.price(u64::MAX)), (100, 100_000_000));
    }
}
