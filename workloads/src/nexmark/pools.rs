//! The text every generated event points into, and [`PoolStr`], the handle it points with.
//!
//! The reference generator builds each event's strings afresh (names, e-mail addresses,
//! credit cards, item names and descriptions, and the `extra` padding that brings a record
//! to its average size). Allocating per event would cost more than everything else the
//! generator does, so we build, once per process, one text arena that holds pools of
//! strings drawn from the reference's distributions, and an event's string fields are
//! handles into it: `extra` is a slice at a random offset of a long run of random letters,
//! of exactly the length the reference would have drawn; the other fields are random
//! entries of pools of [`POOL_ENTRIES`] strings each (the reference's fixed lists — first
//! and last names, cities, states, hot channels — are held whole).
//!
//! A handle is two `u32`s (8 bytes, half a `&str`), `Copy`, and archivable with rkyv. The
//! arena is built from a fixed seed by a fixed procedure, so a handle means the same text
//! in every process built from the same version of this crate ([`POOL_VERSION`] names that
//! procedure; change it whenever the arena's contents change). The alternative, `&'static
//! str` fields, would be as fast to generate but twice the size, and could not be
//! deserialized by rkyv (nothing can rebuild a `'static` borrow from bytes).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use super::intern::{interned, INTERNED};
use super::rng::EventRng;

/// The version of the arena's contents: handles archived by a build with another version
/// do not name the same text.
pub const POOL_VERSION: u32 = 1;

/// Entries in each pool of drawn strings (e-mails, credit cards, item names, descriptions).
pub const POOL_ENTRIES: usize = 1 << 14;

/// Length of the run of random letters that `extra` fields are cut from.
const EXTRA_SPAN: u32 = 1 << 20;

/// The longest `extra` field: the run is this much longer than [`EXTRA_SPAN`], so that a
/// slice starting anywhere in the span fits.
pub(crate) const EXTRA_MAX: u32 = 1 << 16;

/// The reference's fixed lists.
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const HOT_CHANNEL_NAMES: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
/// Hot channels: the first entries of [`Pools::channels`].
pub(crate) const HOT_CHANNELS: usize = HOT_CHANNEL_NAMES.len();
/// Channels that are not hot: `channel-0` … `channel-9999`.
pub(crate) const CHANNELS: usize = 10_000;

/// A string of the generator's text arena: what the string fields of [`Person`],
/// [`Auction`] and [`Bid`] hold.
///
/// It reads as a `&'static str` ([`as_str`](PoolStr::as_str), `Deref`, `Display`), and
/// compares, orders and hashes by its text. Text from elsewhere (files, side inputs) gets
/// a handle with [`PoolStr::from_text`]: the arena's own when the generator made it, an
/// interned copy otherwise (such handles mean nothing in another process).
///
/// [`Person`]: super::Person
/// [`Auction`]: super::Auction
/// [`Bid`]: super::Bid
///
/// # Examples
///
/// ```
/// use spate_workloads::nexmark::{Event, NexmarkConfig, NexmarkGenerator};
///
/// let generator = NexmarkGenerator::new(NexmarkConfig::default()).unwrap();
/// let Event::Person(p) = generator.event(0) else { panic!("event 0 is a person") };
/// assert!(p.email_address.ends_with(".com"));
/// assert_eq!(p.state.len(), 2);
/// ```
#[derive(Clone, Copy, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct PoolStr {
    off: u32,
    len: u32,
}

impl PoolStr {
    /// The text. A handle that does not lie within the arena (only possible when built from
    /// corrupt or foreign bytes) reads as the empty string.
    #[inline]
    pub fn as_str(&self) -> &'static str {
        if self.off & INTERNED != 0 {
            return interned(self.off & !INTERNED);
        }
        let start = self.off as usize;
        pools()
            .text
            .get(start..start.saturating_add(self.len as usize))
            .unwrap_or("")
    }

    /// Length of the text in bytes (known without reading the arena).
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// `true` for the empty string.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn from_parts(off: u32, len: u32) -> Self {
        PoolStr { off, len }
    }

    pub(crate) fn parts(&self) -> (u32, u32) {
        (self.off, self.len)
    }
}

impl ArchivedPoolStr {
    /// The text of an archived handle (see [`PoolStr::as_str`]).
    pub fn as_str(&self) -> &'static str {
        PoolStr {
            off: self.off.to_native(),
            len: self.len.to_native(),
        }
        .as_str()
    }
}

impl std::ops::Deref for PoolStr {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for PoolStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for PoolStr {
    fn eq(&self, other: &Self) -> bool {
        (self.off == other.off && self.len == other.len) || self.as_str() == other.as_str()
    }
}
impl Eq for PoolStr {}

impl PartialOrd for PoolStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PoolStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for PoolStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for PoolStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for PoolStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The arena and the pools of handles into it.
pub(crate) struct Pools {
    text: String,
    /// "First Last" for every pair of the reference's names.
    pub(crate) names: Vec<PoolStr>,
    pub(crate) cities: Vec<PoolStr>,
    pub(crate) states: Vec<PoolStr>,
    pub(crate) emails: Vec<PoolStr>,
    pub(crate) credit_cards: Vec<PoolStr>,
    pub(crate) item_names: Vec<PoolStr>,
    pub(crate) descriptions: Vec<PoolStr>,
    /// Channels and their URLs: the [`HOT_CHANNELS`] hot ones, then `channel-i` for `i`
    /// in `0..CHANNELS`.
    pub(crate) channels: Vec<(PoolStr, PoolStr)>,
    /// Where the run of random letters starts.
    extra_start: u32,
}

impl Pools {
    /// The arena's text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Where the run of random letters that `extra` fields start in begins, and how many
    /// start offsets it has.
    pub(crate) fn extra_span(&self) -> (u32, u32) {
        (self.extra_start, EXTRA_SPAN)
    }

    /// `len` random letters starting `offset` letters into the run (`offset` is reduced
    /// into the span, `len` clamped to [`EXTRA_MAX`]).
    #[inline(always)]
    pub(crate) fn extra(&self, offset: u64, len: u64) -> PoolStr {
        PoolStr {
            off: self.extra_start + (offset as u32 & (EXTRA_SPAN - 1)),
            len: len.min(u64::from(EXTRA_MAX)) as u32,
        }
    }
}

/// The process's arena, built on first use (a few milliseconds).
#[inline]
pub(crate) fn pools() -> &'static Pools {
    static POOLS: OnceLock<Pools> = OnceLock::new();
    POOLS.get_or_init(build)
}

struct Builder {
    text: String,
    rng: EventRng,
}

impl Builder {
    fn push(&mut self, s: &str) -> PoolStr {
        let off = self.text.len() as u32;
        self.text.push_str(s);
        PoolStr {
            off,
            len: s.len() as u32,
        }
    }

    fn letter(&mut self) -> char {
        char::from(b'a' + self.rng.below(26) as u8)
    }

    /// The reference's `nextString(max)`: 3 to `max - 1` characters, each a space with
    /// probability 1/13 and a random letter otherwise (`sep` replaces the space), and
    /// trimmed of spaces.
    fn words(&mut self, out: &mut String, max: u64, sep: char) {
        let len = 3 + self.rng.below(max - 3);
        let start = out.len();
        for _ in 0..len {
            let c = if self.rng.below(13) == 0 {
                sep
            } else {
                self.letter()
            };
            out.push(c);
        }
        let trimmed = out[start..].trim_matches(' ').to_string();
        out.truncate(start);
        out.push_str(&trimmed);
    }

    fn string(&mut self, max: u64) -> PoolStr {
        let mut s = String::new();
        self.words(&mut s, max, ' ');
        self.push(&s)
    }

    /// The reference's `getBaseUrl()`.
    fn base_url(&mut self) -> String {
        let mut url = String::from("https://www.nexmark.com/");
        for _ in 0..3 {
            self.words(&mut url, 5, '_');
            url.push('/');
        }
        url.push_str("item.htm?query=1");
        url
    }
}

fn build() -> Pools {
    let mut b = Builder {
        text: String::with_capacity(4 << 20),
        rng: EventRng::new(0x6e65_786d_6172_6b21, u64::from(POOL_VERSION)),
    };
    let names = FIRST_NAMES
        .iter()
        .flat_map(|f| LAST_NAMES.iter().map(move |l| format!("{f} {l}")))
        .collect::<Vec<_>>()
        .iter()
        .map(|n| b.push(n))
        .collect();
    let cities = US_CITIES.iter().map(|c| b.push(c)).collect();
    let states = US_STATES.iter().map(|s| b.push(s)).collect();
    let emails = (0..POOL_ENTRIES)
        .map(|_| {
            let mut s = String::new();
            b.words(&mut s, 7, ' ');
            s.push('@');
            b.words(&mut s, 5, ' ');
            s.push_str(".com");
            b.push(&s)
        })
        .collect();
    let credit_cards = (0..POOL_ENTRIES)
        .map(|_| {
            let g: Vec<u64> = (0..4).map(|_| b.rng.below(10_000)).collect();
            b.push(&format!("{:04} {:04} {:04} {:04}", g[0], g[1], g[2], g[3]))
        })
        .collect();
    let item_names = (0..POOL_ENTRIES).map(|_| b.string(20)).collect();
    let descriptions = (0..POOL_ENTRIES).map(|_| b.string(100)).collect();
    let mut channels: Vec<(PoolStr, PoolStr)> = HOT_CHANNEL_NAMES
        .iter()
        .map(|c| {
            let url = b.base_url();
            (b.push(c), b.push(&url))
        })
        .collect();
    channels.extend((0..CHANNELS).map(|i| {
        let mut url = b.base_url();
        if b.rng.below(10) > 0 {
            // The reference appends `abs(Integer.reverse(i))`.
            let id = i64::from((i as i32).reverse_bits()).abs();
            url.push_str(&format!("&channel_id={id}"));
        }
        (b.push(&format!("channel-{i}")), b.push(&url))
    }));
    let extra_start = b.text.len() as u32;
    for _ in 0..EXTRA_SPAN + EXTRA_MAX {
        let c = b.letter();
        b.text.push(c);
    }
    Pools {
        text: b.text,
        names,
        cities,
        states,
        emails,
        credit_cards,
        item_names,
        descriptions,
        channels,
        extra_start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_follow_the_reference_formats() {
        let p = pools();
        assert_eq!(p.names.len(), 99);
        assert!(p.names.iter().all(|n| n.split(' ').count() == 2));
        for e in &p.emails[..1000] {
            let (user, host) = e.split_once('@').expect("an @");
            assert!(user.len() < 7 && host.ends_with(".com") && host.len() < 5 + 4);
        }
        for c in &p.credit_cards[..1000] {
            assert_eq!(c.len(), 19);
            assert!(c
                .split(' ')
                .all(|g| g.len() == 4 && g.bytes().all(|d| d.is_ascii_digit())));
        }
        assert!(p
            .item_names
            .iter()
            .all(|s| s.len() < 20 && !s.starts_with(' ')));
        assert!(p
            .descriptions
            .iter()
            .all(|s| s.len() < 100 && !s.ends_with(' ')));
        assert_eq!(p.channels[0].0.as_str(), "Google");
        assert_eq!(p.channels[HOT_CHANNELS + 7].0.as_str(), "channel-7");
        assert_eq!(p.channels.len(), HOT_CHANNELS + CHANNELS);
        for (_, url) in &p.channels {
            assert!(
                url.starts_with("https://www.nexmark.com/") && url.contains("item.htm?query=1")
            );
        }
        let x = p.extra(EXTRA_SPAN as u64 - 1, u64::from(EXTRA_MAX));
        assert_eq!(x.len(), EXTRA_MAX as usize);
        assert!(x.bytes().all(|c| c.is_ascii_lowercase()));
    }

    #[test]
    fn handles_compare_by_text_and_survive_rkyv() {
        let p = pools();
        let a = p.extra(10, 3);
        let copy = PoolStr {
            off: a.off,
            len: a.len,
        };
        assert_eq!(a, copy);
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&a).expect("serializes");
        let archived =
            rkyv::access::<ArchivedPoolStr, rkyv::rancor::Error>(&bytes).expect("validates");
        assert_eq!(archived.as_str(), a.as_str());
        let bad = PoolStr {
            off: u32::MAX - 1,
            len: 5,
        };
        assert_eq!(bad.as_str(), "");
    }
}
