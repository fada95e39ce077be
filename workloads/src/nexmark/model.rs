//! The Nexmark records: people, the auctions they open and the bids they place.
//!
//! Field names and order are the reference suite's (its `Person`, `Auction` and `Bid`
//! classes and the columns of its SQL tables). Ids and prices are `u64`, times are epoch
//! milliseconds (`i64`, Spate's [`Timestamp`](spate::time::Timestamp)), and strings are
//! [`PoolStr`] handles, so every record is `Copy` and allocation-free.
//!
//! All four types derive rkyv's `Archive`, `Serialize` and `Deserialize`; strings are
//! archived as their handles (see [`PoolStr`] for when those resolve to the same text).

use spate::io::write_csv_field;

use super::pools::PoolStr;

/// A person who sells and bids.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Person {
    /// Unique id, counting up from `first_person_id` in event order.
    pub id: u64,
    /// "First Last".
    pub name: PoolStr,
    /// A random address at a random `.com` host.
    pub email_address: PoolStr,
    /// Four groups of four digits separated by spaces.
    pub credit_card: PoolStr,
    /// One of ten US cities.
    pub city: PoolStr,
    /// One of six US states (two letters).
    pub state: PoolStr,
    /// When the person registered (epoch ms).
    pub date_time: i64,
    /// Random letters padding the record to its average size.
    pub extra: PoolStr,
}

/// An item put up for auction.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Auction {
    /// Unique id, counting up from `first_auction_id` in event order.
    pub id: u64,
    /// Random words.
    pub item_name: PoolStr,
    /// Random words.
    pub description: PoolStr,
    /// The opening price, in cents.
    pub initial_bid: u64,
    /// The lowest price the seller accepts, in cents (at least `initial_bid`).
    pub reserve: u64,
    /// When the auction opened (epoch ms).
    pub date_time: i64,
    /// When the auction closes (epoch ms, after `date_time`).
    pub expires: i64,
    /// The seller's person id.
    pub seller: u64,
    /// The item's category id.
    pub category: u64,
    /// Random letters padding the record to its average size.
    pub extra: PoolStr,
}

/// A bid on an auction.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Bid {
    /// The auction's id.
    pub auction: u64,
    /// The bidder's person id.
    pub bidder: u64,
    /// The price offered, in cents.
    pub price: u64,
    /// Where the bid came from: a hot channel ("Google", …) or `channel-N`.
    pub channel: PoolStr,
    /// The URL the bid was placed from.
    pub url: PoolStr,
    /// When the bid was placed (epoch ms).
    pub date_time: i64,
    /// Random letters padding the record to its average size.
    pub extra: PoolStr,
}

/// One generated event: a new person, a new auction or a bid.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub enum Event {
    /// A person registered.
    Person(Person),
    /// An auction opened.
    Auction(Auction),
    /// A bid was placed.
    Bid(Bid),
}

/// The kind of an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// [`Event::Person`].
    Person,
    /// [`Event::Auction`].
    Auction,
    /// [`Event::Bid`].
    Bid,
}

impl Event {
    /// The event's time (its record's `date_time`, epoch ms).
    #[inline]
    pub fn timestamp(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }

    /// Which kind of event this is.
    #[inline]
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Person(_) => EventKind::Person,
            Event::Auction(_) => EventKind::Auction,
            Event::Bid(_) => EventKind::Bid,
        }
    }

    /// Appends the record as one CSV line (with its newline) in the reference table's
    /// column order, times in epoch ms: see [`Person::write_csv`], [`Auction::write_csv`]
    /// and [`Bid::write_csv`].
    pub fn write_csv(&self, out: &mut String) {
        match self {
            Event::Person(p) => p.write_csv(out),
            Event::Auction(a) => a.write_csv(out),
            Event::Bid(b) => b.write_csv(out),
        }
    }
}

/// Appends `fields` comma-separated (quoted where needed) and a newline.
fn csv_line(out: &mut String, fields: &[&dyn std::fmt::Display]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_csv_field(out, *f);
    }
    out.push('\n');
}

impl Person {
    /// Appends `id,name,email_address,credit_card,city,state,date_time,extra` and a
    /// newline.
    pub fn write_csv(&self, out: &mut String) {
        csv_line(
            out,
            &[
                &self.id,
                &self.name,
                &self.email_address,
                &self.credit_card,
                &self.city,
                &self.state,
                &self.date_time,
                &self.extra,
            ],
        );
    }
}

impl Auction {
    /// Appends `id,item_name,description,initial_bid,reserve,date_time,expires,seller,
    /// category,extra` and a newline.
    pub fn write_csv(&self, out: &mut String) {
        csv_line(
            out,
            &[
                &self.id,
                &self.item_name,
                &self.description,
                &self.initial_bid,
                &self.reserve,
                &self.date_time,
                &self.expires,
                &self.seller,
                &self.category,
                &self.extra,
            ],
        );
    }
}

impl Bid {
    /// Appends `auction,bidder,price,channel,url,date_time,extra` and a newline.
    pub fn write_csv(&self, out: &mut String) {
        csv_line(
            out,
            &[
                &self.auction,
                &self.bidder,
                &self.price,
                &self.channel,
                &self.url,
                &self.date_time,
                &self.extra,
            ],
        );
    }
}
