//! Query 22, get URL directories: bids with the first three directories of their URL.
//!
//! ```sql
//! SELECT
//!     auction, bidder, price, channel,
//!     SPLIT_INDEX(url, '/', 3) as dir1,
//!     SPLIT_INDEX(url, '/', 4) as dir2,
//!     SPLIT_INDEX(url, '/', 5) as dir3 FROM bid;
//! ```
//!
//! `SPLIT_INDEX(s, '/', i)` is the `i`-th (from 0) piece of `s` split at `/`, or null when
//! there are fewer pieces; the pieces are handles to parts of the URL (no allocation).

use spate::prelude::*;

use super::{bids, Query, QueryClass};
use crate::nexmark::{Event, PoolStr};

/// q22 in the registry.
pub const QUERY: Query = Query {
    name: "q22",
    about: "URL directories: SPLIT_INDEX(url, '/', 3..5)",
    class: QueryClass::Stateless,
    build: |events, cx| cx.append(&q22(events), "q22", write_row),
};

/// Appends a result row's CSV fields in the reference's column order: auction, bidder,
/// price, channel, dir1, dir2, dir3.
pub fn write_row(r: &UrlDirs, out: &mut String) {
    super::output::csv_fields(
        out,
        &[
            &r.auction,
            &r.bidder,
            &r.price,
            &r.channel,
            &super::output::Nullable(r.dir1),
            &super::output::Nullable(r.dir2),
            &super::output::Nullable(r.dir3),
        ],
    );
}

/// A bid with its URL's directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UrlDirs {
    /// The auction's id.
    pub auction: u64,
    /// The bidder's person id.
    pub bidder: u64,
    /// The price, in cents.
    pub price: u64,
    /// The channel.
    pub channel: PoolStr,
    /// `SPLIT_INDEX(url, '/', 3)`.
    pub dir1: Option<PoolStr>,
    /// `SPLIT_INDEX(url, '/', 4)`.
    pub dir2: Option<PoolStr>,
    /// `SPLIT_INDEX(url, '/', 5)`.
    pub dir3: Option<PoolStr>,
}

/// Pieces 3, 4 and 5 of `s` split at `/`.
///
/// One pass over the bytes up to the sixth `/` (a URL's directories are short, so a
/// byte loop beats setting up `memchr` per piece), and the pieces are sub-handles made
/// without reading the text again.
pub fn split_index_3_to_5(s: &PoolStr) -> [Option<PoolStr>; 3] {
    let bytes = s.as_str().as_bytes();
    let mut out = [None; 3];
    let (mut piece, mut start) = (0usize, 0usize);
    for (i, &c) in bytes.iter().enumerate() {
        if c == b'/' {
            if piece >= 3 {
                out[piece - 3] = Some(s.sub(start, i));
                if piece == 5 {
                    return out;
                }
            }
            piece += 1;
            start = i + 1;
        }
    }
    if piece >= 3 {
        out[piece - 3] = Some(s.sub(start, bytes.len()));
    }
    out
}

/// Every bid with the first three directories of its URL.
/// # Examples
///
/// ```
/// use spate::prelude::*;
/// use spate_workloads::nexmark::queries::q22::q22;
/// use spate_workloads::nexmark::{NexmarkConfig, NexmarkSource};
///
/// let env = Env::new().shards(2);
/// let cfg = NexmarkConfig { event_rate: 100000, ..NexmarkConfig::default() };
/// let source = NexmarkSource::new(cfg).unwrap().events(Some(20000));
/// let out = q22(&env.add_source("nexmark", source)).collect();
/// env.execute().unwrap();
/// let rows = out.take();
/// assert!(rows.iter().all(|r| r.dir3.is_some()));
/// ```
#[track_caller]
pub fn q22(events: &DataStream<Event>) -> DataStream<UrlDirs> {
    bids(events).map(|b| {
        let [dir1, dir2, dir3] = split_index_3_to_5(&b.url);
        UrlDirs {
            auction: b.auction,
            bidder: b.bidder,
            price: b.price,
            channel: b.channel,
            dir1,
            dir2,
            dir3,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_runs, input, run_on_shards};
    use super::*;

    #[test]
    fn q22_splits_every_url() {
        let mut want: Vec<UrlDirs> = input()
            .into_iter()
            .filter_map(|e| match e {
                Event::Bid(b) => {
                    let parts: Vec<&str> = b.url.split('/').collect();
                    let dir = |i: usize| {
                        parts
                            .get(i)
                            .map(|p| PoolStr::from_text(p).unwrap_or_default())
                    };
                    Some(UrlDirs {
                        auction: b.auction,
                        bidder: b.bidder,
                        price: b.price,
                        channel: b.channel,
                        dir1: dir(3),
                        dir2: dir(4),
                        dir3: dir(5),
                    })
                }
                _ => None,
            })
            .collect();
        want.sort();
        assert!(want.iter().all(|d| d.dir3.is_some()));
        assert_runs(run_on_shards(q22), &want, "q22");
        let short = PoolStr::from_text("a/b/c/d").unwrap_or_default();
        let [d1, d2, d3] = split_index_3_to_5(&short);
        assert_eq!((d1.map(|d| d.as_str()), d2, d3), (Some("d"), None, None));
        for (text, want) in [
            ("a/b/c/d/e/f/g", [Some("d"), Some("e"), Some("f")]),
            ("a/b/c/d/e", [Some("d"), Some("e"), None]),
            ("a/b/c/", [Some(""), None, None]),
            ("a/b/c", [None, None, None]),
            ("", [None, None, None]),
            ("///é/ü//", [Some("é"), Some("ü"), Some("")]),
        ] {
            let s = PoolStr::from_text(text).unwrap_or_default();
            let got = split_index_3_to_5(&s).map(|d| d.map(|d| d.as_str()));
            assert_eq!(got, want, "{text:?}");
        }
    }
}
