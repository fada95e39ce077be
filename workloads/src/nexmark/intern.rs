//! Text from outside the generator as [`PoolStr`] handles: looked up in the arena when the
//! generator made it, interned otherwise.
//!
//! Events read back from CSV files (`nexmark generate`'s output) hold the generator's own
//! strings: a reverse index finds each one's handle into the arena, so a query runs on
//! them exactly as on generated events and nothing is allocated. The pools' entries are
//! found in a hash map; an `extra` field (a slice at any offset of the run of random
//! letters) in a sorted array of the 8-letter prefixes at every offset. Both are built on
//! first use (about 0.1 s, 20 MiB).
//!
//! Any other text (a side input's values, files from elsewhere) is interned: copied once
//! into a leaked, never-freed string, deduplicated, and named by an index with the top bit
//! of the handle's offset set. Reading an interned handle takes two atomic loads of
//! write-once cells (no lock); interning takes a lock, so it belongs where text enters the
//! job, not on a per-record path. Interned handles mean nothing in another process.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use super::pools::{pools, PoolStr, EXTRA_MAX};

/// The offset bit that marks an interned handle.
pub(crate) const INTERNED: u32 = 1 << 31;
const SEGMENT_BITS: u32 = 16;
const SEGMENT: usize = 1 << SEGMENT_BITS;
/// Segments of interned strings: at most 2^28 distinct strings.
const SEGMENTS: usize = 1 << 12;

/// A segment of interned strings: cells set once each.
type Segment = Box<[OnceLock<&'static str>]>;

struct Interner {
    segments: Box<[OnceLock<Segment>]>,
    index: Mutex<HashMap<&'static str, u32>>,
}

fn interner() -> &'static Interner {
    static INTERNER: OnceLock<Interner> = OnceLock::new();
    INTERNER.get_or_init(|| Interner {
        segments: (0..SEGMENTS).map(|_| OnceLock::new()).collect(),
        index: Mutex::new(HashMap::new()),
    })
}

/// The text of interned string `i` ("" for an index never handed out).
pub(crate) fn interned(i: u32) -> &'static str {
    let (seg, slot) = ((i >> SEGMENT_BITS) as usize, i as usize & (SEGMENT - 1));
    interner()
        .segments
        .get(seg)
        .and_then(OnceLock::get)
        .and_then(|s| s.get(slot))
        .and_then(OnceLock::get)
        .copied()
        .unwrap_or("")
}

/// Interns `s`; `None` when 2^28 distinct strings have been interned or `s` is longer
/// than 4 GiB.
fn intern(s: &str) -> Option<PoolStr> {
    let len = u32::try_from(s.len()).ok()?;
    let it = interner();
    let mut index = it.index.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&i) = index.get(s) {
        return Some(PoolStr::from_parts(INTERNED | i, len));
    }
    let i = u32::try_from(index.len()).ok()?;
    let (seg, slot) = ((i >> SEGMENT_BITS) as usize, i as usize & (SEGMENT - 1));
    let segment = it
        .segments
        .get(seg)?
        .get_or_init(|| (0..SEGMENT).map(|_| OnceLock::new()).collect());
    let text: &'static str = Box::leak(s.to_owned().into_boxed_str());
    segment.get(slot)?.set(text).ok()?;
    index.insert(text, i);
    Some(PoolStr::from_parts(INTERNED | i, len))
}

/// The reverse index of the arena.
struct ArenaIndex {
    pooled: HashMap<&'static str, PoolStr>,
    /// `(8-letter prefix, big-endian, zero-padded; offset into the arena)`, sorted.
    extras: Vec<(u64, u32)>,
}

fn prefix(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = bytes.len().min(8);
    w[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(w)
}

fn arena_index() -> &'static ArenaIndex {
    static INDEX: OnceLock<ArenaIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let p = pools();
        let mut pooled = HashMap::new();
        let lists = [
            &p.names,
            &p.cities,
            &p.states,
            &p.emails,
            &p.credit_cards,
            &p.item_names,
            &p.descriptions,
        ];
        for s in lists.into_iter().flatten() {
            pooled.entry(s.as_str()).or_insert(*s);
        }
        for (c, u) in &p.channels {
            pooled.entry(c.as_str()).or_insert(*c);
            pooled.entry(u.as_str()).or_insert(*u);
        }
        let (start, span) = p.extra_span();
        let text = p.text().as_bytes();
        let mut extras: Vec<(u64, u32)> = (start..start + span)
            .map(|off| {
                let o = off as usize;
                (prefix(&text[o..(o + 8).min(text.len())]), off)
            })
            .collect();
        extras.sort_unstable();
        ArenaIndex { pooled, extras }
    })
}

/// The arena's handle for `s`, if the generator's pools hold it.
fn find(s: &str) -> Option<PoolStr> {
    if s.is_empty() {
        return Some(PoolStr::default());
    }
    let index = arena_index();
    if let Some(h) = index.pooled.get(s) {
        return Some(*h);
    }
    let bytes = s.as_bytes();
    if bytes.len() > EXTRA_MAX as usize || !bytes.iter().all(u8::is_ascii_lowercase) {
        return None;
    }
    let key = prefix(bytes);
    // Keys that start with the (up to 8) bytes of `s`: from `key` (zero-padded) to `key`
    // with the padding set.
    let pad = if bytes.len() >= 8 {
        0
    } else {
        u64::MAX >> (8 * bytes.len())
    };
    let from = index.extras.partition_point(|e| e.0 < key);
    let text = pools().text();
    index.extras[from..]
        .iter()
        .take_while(|e| e.0 <= key | pad)
        .find(|e| text.get(e.1 as usize..e.1 as usize + bytes.len()) == Some(s))
        .map(|e| PoolStr::from_parts(e.1, bytes.len() as u32))
}

impl PoolStr {
    /// A handle for `s`: the generator's own when its pools hold the text (no allocation),
    /// else an interned copy; `None` only when the interner is full (2^28 distinct
    /// strings).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_workloads::nexmark::{Event, NexmarkConfig, NexmarkGenerator, PoolStr};
    ///
    /// let g = NexmarkGenerator::new(NexmarkConfig::default()).unwrap();
    /// let Event::Person(p) = g.event(0) else { panic!("event 0 is a person") };
    /// let found = PoolStr::from_text(p.extra.as_str()).unwrap();
    /// assert_eq!(found, p.extra);
    /// let other = PoolStr::from_text("Not, generated").unwrap();
    /// assert_eq!(other.as_str(), "Not, generated");
    /// assert_eq!(PoolStr::from_text("Not, generated"), Some(other));
    /// ```
    pub fn from_text(s: &str) -> Option<PoolStr> {
        find(s).or_else(|| intern(s))
    }

    /// The handle of bytes `start..end` of this string (clamped to it, and to character
    /// boundaries' absence answered with the empty string): a sub-handle of the arena, or
    /// an interned copy of the part.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_workloads::nexmark::PoolStr;
    /// let s = PoolStr::from_text("https://x/a/b").unwrap();
    /// assert_eq!(s.slice(10, 11).as_str(), "a");
    /// assert_eq!(s.slice(12, 99).as_str(), "b");
    /// ```
    pub fn slice(&self, start: usize, end: usize) -> PoolStr {
        let s = self.as_str();
        let end = end.min(s.len());
        let Some(part) = s.get(start.min(end)..end) else {
            return PoolStr::default();
        };
        let (off, len) = self.parts();
        if off & INTERNED == 0 {
            // `start` and `part.len()` are below `len`, a u32.
            let _ = len;
            return PoolStr::from_parts(off + start as u32, part.len() as u32);
        }
        Self::from_text(part).unwrap_or_default()
    }

    /// [`slice`](Self::slice) for a range the caller found in [`as_str`](Self::as_str):
    /// `start <= end <= len`, both on character boundaries (e.g. next to ASCII bytes). An
    /// arena handle's part is made without reading the text; a range that breaks the
    /// contract reads as the empty string, never as other text.
    #[inline]
    pub(crate) fn sub(&self, start: usize, end: usize) -> PoolStr {
        let (off, len) = self.parts();
        if off & INTERNED == 0 && start <= end && end <= len as usize {
            // Both are at most `len`, a u32.
            return PoolStr::from_parts(off + start as u32, (end - start) as u32);
        }
        self.slice(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nexmark::{Event, NexmarkConfig, NexmarkGenerator};

    #[test]
    fn every_generated_string_is_found_in_the_arena() {
        let g = NexmarkGenerator::new(NexmarkConfig::default()).expect("valid");
        let mut fields = Vec::new();
        for e in g.events(0..3_000) {
            match e {
                Event::Person(p) => fields.extend([
                    p.name,
                    p.email_address,
                    p.credit_card,
                    p.city,
                    p.state,
                    p.extra,
                ]),
                Event::Auction(a) => fields.extend([a.item_name, a.description, a.extra]),
                Event::Bid(b) => fields.extend([b.channel, b.url, b.extra]),
            }
        }
        for f in fields {
            let found = find(f.as_str());
            assert_eq!(found.map(|h| h.as_str()), Some(f.as_str()));
            assert_eq!(found.map(|h| h.parts().0 & INTERNED), Some(0));
        }
        assert_eq!(find("abc").map(|h| h.as_str()), Some("abc"));
        assert!(find("Abc").is_none());
    }

    #[test]
    fn interned_strings_are_shared_and_readable() {
        let a = PoolStr::from_text("side value 1").expect("interned");
        let b = PoolStr::from_text("side value 1").expect("interned");
        assert_eq!(a.parts(), b.parts());
        assert_ne!(a.parts().0 & INTERNED, 0);
        assert_eq!(a.as_str(), "side value 1");
        assert_eq!(a.slice(5, 10).as_str(), "value");
        assert_eq!(a.slice(8, 3).as_str(), "");
        assert_eq!(interned(u32::MAX >> 1), "");
    }
}
