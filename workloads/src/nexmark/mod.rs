//! Nexmark: the online-auction benchmark's data model and a fast, replayable generator.
//!
//! ```text
//!   NexmarkConfig ──▶ NexmarkGenerator ── event(n) / events(range) / shard(range, s, n)
//!                        │   event number n → id → kind, ids, time, random fields
//!                        │   (strings are PoolStr handles into one text arena)
//!                        ▼
//!                     NexmarkSource ── a Spate source: shard s of n makes events
//!                        │             s, s+n, s+2n, … with their event times
//!                        ▼
//!                     queries::qN ──── the benchmark's queries as Spate jobs
//! ```
//!
//! [`NexmarkCsvSource`] reads the same events back from the CSV files `spate-bench nexmark
//! generate` writes; [`timing`] measures latency inside a run.
//!
//! The generator follows the Flink Nexmark suite's (`nexmark-flink`'s `generator`
//! package): the same mix of people, auctions and bids, the same id spaces and hot
//! ids, the same field formats and average record sizes, event time derived from the event
//! number. Its random draws differ (a counter-based generator seeded per event, not
//! `java.util.Random`), so the events are distributed like the reference's but are not the
//! same events.
//!
//! Deviations from the reference, and why:
//! - The reference's `BidGenerator` adds `FIRST_PERSON_ID` to the bidder twice (nexmark
//!   issue #30), so its cold and hot bidders lie 1,000 ids past the people that exist; we
//!   add it once, so that bids refer to existing or about-to-exist people as intended.
//! - Strings are drawn from pools (of [`POOL_ENTRIES`] strings each, made with the
//!   reference's distributions) instead of fresh for each event, and `extra` is a slice of
//!   a long run of random letters: no allocation per event. Lengths, and so record sizes,
//!   follow the reference exactly.
//! - Hot and channel URLs are fixed for a build (the reference draws them unseeded at
//!   start-up, so they differ from run to run).
//! - The event rate defaults to 100,000 events per second of event time, and the base time
//!   to a fixed date, so runs are reproducible.
//! - The reference's `probDelayedEvent`/`occasionalDelaySec` are not used by its
//!   generator (only by Beam's source), and are not here either; out-of-order groups are.

mod codec;
mod config;
mod csv;
mod generator;
mod intern;
mod iter;
mod model;
mod pools;
pub mod queries;
mod rng;
mod source;
#[cfg(test)]
mod tests;
pub mod timing;

pub use config::{NexmarkConfig, DEFAULT_BASE_TIME, MAX_AVG_BYTE_SIZE};
pub use csv::NexmarkCsvSource;
pub use generator::NexmarkGenerator;
pub use iter::{At, Events, Generated};
pub use model::{
    ArchivedAuction, ArchivedBid, ArchivedEvent, ArchivedPerson, Auction, Bid, Event, EventKind,
    Person,
};
pub use pools::{ArchivedPoolStr, PoolStr, POOL_ENTRIES, POOL_VERSION};
pub use source::NexmarkSource;
