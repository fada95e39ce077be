//! Query 21, add channel id: bids with a channel id, from the channel's name for the four
//! hot channels and from the URL's `channel_id` parameter otherwise.
//!
//! ```sql
//! SELECT
//!     auction, bidder, price, channel,
//!     CASE
//!         WHEN lower(channel) = 'apple' THEN '0'
//!         WHEN lower(channel) = 'google' THEN '1'
//!         WHEN lower(channel) = 'facebook' THEN '2'
//!         WHEN lower(channel) = 'baidu' THEN '3'
//!         ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)
//!         END
//!     AS channel_id FROM bid
//!     where REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) is not null or
//!           lower(channel) in ('apple', 'google', 'facebook', 'baidu');
//! ```
//!
//! The regular expression is matched by hand (the first `channel_id=` at the start of the
//! URL or after a `&`, up to the next `&`), and the id is a handle to that part of the URL:
//! no allocation per bid.

use std::sync::OnceLock;

use spate::prelude::*;

use super::{bids, Query, QueryClass};
use crate::nexmark::{Event, PoolStr};

/// q21 in the registry.
pub const QUERY: Query = Query {
    name: "q21",
    about: "add channel id: from hot channel names or the URL's channel_id",
    class: QueryClass::Stateless,
    build: |events, cx| cx.append(&q21(events), "q21", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: auction, bidder,
/// price, channel, channel_id.
pub fn write_row(r: &ChannelBid, out: &mut String) {
    super::output::csv_fields(
        out,
        &[&r.auction, &r.bidder, &r.price, &r.channel, &r.channel_id],
    );
}

/// A bid with its channel id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelBid {
    /// The auction's id.
    pub auction: u64,
    /// The bidder's person id.
    pub bidder: u64,
    /// The price, in cents.
    pub price: u64,
    /// The channel.
    pub channel: PoolStr,
    /// Its id.
    pub channel_id: PoolStr,
}

/// The hot channels and their ids.
const HOT: [(&str, &str); 4] = [
    ("apple", "0"),
    ("google", "1"),
    ("facebook", "2"),
    ("baidu", "3"),
];

fn hot_ids() -> &'static [PoolStr; 4] {
    static IDS: OnceLock<[PoolStr; 4]> = OnceLock::new();
    IDS.get_or_init(|| HOT.map(|(_, id)| PoolStr::from_text(id).unwrap_or_default()))
}

/// `REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)`: the byte range of the value.
/// The candidates are the start and the byte after each `&`, found by a plain byte loop
/// (URLs are short: cheaper than setting up `memchr` or a substring searcher per bid).
pub fn extract_channel_id(url: &str) -> Option<(usize, usize)> {
    const KEY: &[u8] = b"channel_id=";
    let bytes = url.as_bytes();
    let amp = |from: usize| bytes[from..].iter().position(|&c| c == b'&');
    let mut at = 0;
    loop {
        if bytes[at..].starts_with(KEY) {
            let start = at + KEY.len();
            let end = amp(start).map_or(bytes.len(), |j| start + j);
            return Some((start, end));
        }
        at += amp(at)? + 1;
    }
}

/// The channel id of a bid from `channel` and `url`, if it has one.
pub fn channel_id(channel: &PoolStr, url: &PoolStr) -> Option<PoolStr> {
    let name = channel.as_str();
    if let Some(i) = HOT
        .iter()
        .position(|(hot, _)| name.eq_ignore_ascii_case(hot))
    {
        return Some(hot_ids()[i]);
    }
    extract_channel_id(url.as_str()).map(|(s, e)| url.sub(s, e))
}

/// Every bid that has a channel id, with it.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q21::q21;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q21(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(rows.iter().any(|r| r.channel.as_str() == "Google" && r.channel_id.as_str() == "1"));
/// ```
#[track_caller]
pub fn q21(events: &DataStream<Event>) -> DataStream<ChannelBid> {
    bids(events).flat_map(|b| {
        channel_id(&b.channel, &b.url).map(|channel_id| ChannelBid {
            auction: b.auction,
            bidder: b.bidder,
            price: b.price,
            channel: b.channel,
            channel_id,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_runs, input, run_on_shards};
    use super::*;

    #[test]
    fn the_channel_id_is_the_first_parameter_of_that_name() {
        fn x(u: &str) -> Option<&str> {
            extract_channel_id(u).map(|(s, e)| &u[s..e])
        }
        assert_eq!(x("channel_id=5"), Some("5"));
        assert_eq!(x("a?q=1&channel_id=42&b=2"), Some("42"));
        assert_eq!(x("a?xchannel_id=1&channel_id=7"), Some("7"));
        assert_eq!(x("a?q=1&channel_id="), Some(""));
        assert_eq!(x("a?q=1&xchannel_id=3"), None);
    }

    #[test]
    fn q21_adds_channel_ids() {
        let mut want: Vec<ChannelBid> = input()
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) => Some(b),
                _ => None,
            })
            .filter_map(|b| {
                let lower = b.channel.to_lowercase();
                let id = match lower.as_str() {
                    "apple" => Some("0".to_string()),
                    "google" => Some("1".to_string()),
                    "facebook" => Some("2".to_string()),
                    "baidu" => Some("3".to_string()),
                    _ => b
                        .url
                        .as_str()
                        .split(['?', '&'])
                        .find_map(|p| p.strip_prefix("channel_id="))
                        .map(str::to_string),
                };
                id.map(|id| ChannelBid {
                    auction: b.auction,
                    bidder: b.bidder,
                    price: b.price,
                    channel: b.channel,
                    channel_id: PoolStr::from_text(&id).unwrap_or_default(),
                })
            })
            .collect();
        want.sort();
        assert!(want.iter().any(|c| c.channel.starts_with("channel-")));
        assert!(want.iter().any(|c| c.channel_id.as_str() == "1"));
        assert_runs(run_on_shards(q21), &want, "q21");
    }
}
