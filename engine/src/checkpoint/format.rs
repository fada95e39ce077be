//! The snapshot file: one per stateful operator per shard per epoch.
//!
//! ```text
//! header   magic "SPATESNP" · format version u32 · epoch u64 · operator id u32 ·
//!          shard u32 · shards u32 · max_parallelism u32
//! body     section count u32, then per section (one per registered state handle, plus
//!          timers): name (u64 length + UTF-8) · entry count u64 ·
//!          entries: key group u32 · length u32 · bytes
//! trailer  CRC-32 of everything before it (u32)
//! ```
//! All integers little-endian. Entries carry their key group, so a reader keeps only the
//! groups its shard owns, whatever their order: files written by N shards restore on M
//! shards. Writers sort a section's entries by key group, except a copy-on-write snapshot
//! (the sliced window operator's), which writes each entry when it copies it.

use super::codec::{take, DecodeError, StateData};
use super::crc::crc32;

/// The first bytes of every snapshot file.
pub(crate) const MAGIC: &[u8; 8] = b"SPATESNP";
/// The epoch recorded in the final snapshot of an operator whose input ended; it stands in
/// for every later epoch of its shard.
pub(crate) const FINAL_EPOCH: u64 = u64::MAX;
/// The version written; readers refuse others, except the earlier versions they still read
/// ([`OLDEST_READ`]). Version 2 (2026-12-06) changed no layout, but what sections mean: the
/// sliced window operator's slices moved to a new section and its timers are derived, so a
/// build that reads only version 1 must refuse these files rather than restore them empty.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// The oldest version this build reads.
pub(crate) const OLDEST_READ: u32 = 1;

/// What a snapshot file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotHeader {
    pub(crate) epoch: u64,
    pub(crate) operator: u32,
    pub(crate) shard: u32,
    pub(crate) shards: u32,
    pub(crate) max_parallelism: u32,
}

#[cfg(test)]
impl SnapshotHeader {
    /// The header of epoch 1 of operator `operator` on `shard` of `shards` (tests).
    pub(crate) fn test(operator: u32, shard: usize, shards: usize, max_parallelism: usize) -> Self {
        SnapshotHeader {
            epoch: 1,
            operator,
            shard: shard as u32,
            shards: shards as u32,
            max_parallelism: max_parallelism as u32,
        }
    }
}

/// Collects the entries of one state handle with their key groups (the "copy" half of a
/// snapshot: it runs on the shard, synchronously, at the barrier).
#[derive(Debug, Default)]
pub struct StateWriter {
    bytes: Vec<u8>,
    index: Vec<(u32, usize, usize)>,
    max_parallelism: usize,
}

impl StateWriter {
    pub(crate) fn new(max_parallelism: usize) -> Self {
        StateWriter {
            bytes: Vec::new(),
            index: Vec::new(),
            max_parallelism: max_parallelism.max(1),
        }
    }

    /// Adds one entry for the key whose stable hash is `key_hash`; `encode` appends its bytes.
    pub fn entry(&mut self, key_hash: u64, encode: impl FnOnce(&mut Vec<u8>)) {
        let kg = crate::state::key_group(key_hash, self.max_parallelism) as u32;
        let start = self.bytes.len();
        encode(&mut self.bytes);
        self.index.push((kg, start, self.bytes.len()));
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// `true` when no entry was added.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The bytes of the entries added.
    pub(crate) fn byte_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Builds a snapshot file: the header is written at once and each section straight after
/// the previous one, into one buffer that becomes the file image (no copy at the end).
pub(crate) struct SnapshotBuilder {
    pub(crate) header: SnapshotHeader,
    /// The file so far: header, section count (patched by `finish`), sections.
    out: Vec<u8>,
    sections: u32,
    /// Where file-backed (mmap) state exports its segments, and the files it added.
    pub(crate) files: Option<crate::state::mmap::checkpointing::FilesOut>,
    /// Names of the state handles whose copy-on-write snapshot into this file is not
    /// finished yet (see `StateRegistry`).
    pub(crate) copying: Vec<String>,
    /// Whether the snapshot may be a delta over a chain of earlier files (incremental
    /// snapshots, `checkpoint/chain.rs`); `None`: it is full.
    pub(crate) chain: Option<super::chain::ChainCx>,
}

/// Where the section count sits: after magic, version, epoch and four `u32` fields.
const SECTION_COUNT_AT: usize = 8 + 4 + 8 + 4 * 4;

impl SnapshotBuilder {
    #[cfg(test)]
    pub(crate) fn new(header: SnapshotHeader) -> Self {
        Self::with_buffer(header, Vec::new())
    }

    /// Builds into `buf` (cleared first): a shard passes the buffer of its previous
    /// snapshot, so that taking one reuses memory already mapped instead of faulting in
    /// (and zeroing) tens of megabytes at every barrier.
    pub(crate) fn with_buffer(header: SnapshotHeader, mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.extend_from_slice(MAGIC);
        FORMAT_VERSION.encode(&mut buf);
        header.epoch.encode(&mut buf);
        header.operator.encode(&mut buf);
        header.shard.encode(&mut buf);
        header.shards.encode(&mut buf);
        header.max_parallelism.encode(&mut buf);
        debug_assert_eq!(buf.len(), SECTION_COUNT_AT);
        0u32.encode(&mut buf);
        SnapshotBuilder {
            header,
            out: buf,
            sections: 0,
            files: None,
            copying: Vec::new(),
            chain: None,
        }
    }

    pub(crate) fn max_parallelism(&self) -> usize {
        self.header.max_parallelism as usize
    }

    /// The key group of the key whose stable hash is `key_hash`.
    #[inline]
    pub(crate) fn key_group(&self, key_hash: u64) -> u32 {
        crate::state::key_group(key_hash, self.max_parallelism().max(1)) as u32
    }

    /// Appends the section `name` with the entries of `w`, sorted by key group.
    pub(crate) fn add(&mut self, name: &str, mut w: StateWriter) {
        let out = &mut self.out;
        encode_name(name, out);
        (w.index.len() as u64).encode(out);
        w.index.sort_by_key(|e| e.0);
        out.reserve(w.bytes.len() + 8 * w.index.len());
        for &(kg, s, e) in &w.index {
            kg.encode(out);
            ((e - s) as u32).encode(out);
            out.extend_from_slice(&w.bytes[s..e]);
        }
        self.sections += 1;
    }

    /// Appends the section `name` with one entry per item, encoded by `encode` straight
    /// into the file: `items` are `(key group, item)` and are sorted here by key group
    /// (stable), as the format wants. This skips the per-section buffer and its copy that
    /// [`add`](Self::add) makes, for the large sections of window and timer state.
    ///
    /// In key-group order the items are visited in no order in memory, so each costs cache
    /// misses: `touch(item, near)` may ask for an item's memory ahead of its encoding
    /// ([`prefetch`]); it is called for the item `2 * AHEAD` places ahead with `near ==
    /// false` (the item itself) and `AHEAD` places ahead with `near == true` (what it
    /// points to, its first level now being in cache).
    pub(crate) fn add_encoded<T>(
        &mut self,
        name: &str,
        items: &mut [(u32, T)],
        touch: impl Fn(&T, bool),
        mut encode: impl FnMut(&T, &mut Vec<u8>),
    ) {
        const AHEAD: usize = 8;
        items.sort_by_key(|e| e.0);
        self.begin_section(name, items.len());
        for i in 0..items.len() {
            if let Some((_, far)) = items.get(i + 2 * AHEAD) {
                touch(far, false);
            }
            if let Some((_, near)) = items.get(i + AHEAD) {
                touch(near, true);
            }
            let (kg, item) = &items[i];
            self.entry(*kg, |o| encode(item, o));
        }
    }

    /// Starts the section `name` of `count` entries, to be appended one by one with
    /// [`entry`](Self::entry), before the next section begins: the way a snapshot encoded
    /// in steps after its barrier writes its sections.
    pub(crate) fn begin_section(&mut self, name: &str, count: usize) {
        encode_name(name, &mut self.out);
        (count as u64).encode(&mut self.out);
        self.sections += 1;
    }

    /// Appends one entry of key group `kg` to the section begun last; `encode` writes its
    /// bytes.
    #[inline]
    pub(crate) fn entry(&mut self, kg: u32, encode: impl FnOnce(&mut Vec<u8>)) {
        let out = &mut self.out;
        kg.encode(out);
        let at = out.len();
        0u32.encode(out);
        encode(out);
        let len = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// The file's bytes, checksum included.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let n = self.sections.to_le_bytes();
        self.out[SECTION_COUNT_AT..SECTION_COUNT_AT + 4].copy_from_slice(&n);
        let c = crc32(&self.out);
        c.encode(&mut self.out);
        self.out
    }
}

/// Asks the CPU to bring the cache line at `p` in (a hint: no effect on what the program
/// computes; nothing on targets without one).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing the program sees, whatever the
    // address; SSE, which the intrinsic needs, is part of every x86_64 target.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A section name, written as `String`'s [`StateData`] writes it.
fn encode_name(name: &str, out: &mut Vec<u8>) {
    (name.len() as u64).encode(out);
    out.extend_from_slice(name.as_bytes());
}

/// The CRC-32 of a whole file made by [`SnapshotBuilder::finish`] (what the manifest
/// records), from its trailer instead of reading the file again: the trailer is the CRC-32
/// of what comes before it, so only its four bytes are added to that state.
pub(crate) fn file_crc(bytes: &[u8]) -> u32 {
    let Some(at) = bytes.len().checked_sub(4) else {
        return crc32(bytes);
    };
    let t = &bytes[at..];
    crc_from_trailer([t[0], t[1], t[2], t[3]], at as u64)
}

/// The CRC-32 of a whole file made by [`SnapshotBuilder::finish`] from its trailer `t`
/// alone, `at` being the length before the trailer (see [`file_crc`]).
pub(crate) fn crc_from_trailer(t: [u8; 4], at: u64) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial_len(u32::from_le_bytes(t), at);
    h.update(&t);
    h.finalize()
}

/// The entries of one section: `(key group, bytes)`.
pub(crate) type Entries = Vec<(u32, Vec<u8>)>;

/// A verified snapshot file, parsed: its header and, per section, the entries.
#[derive(Debug)]
pub(crate) struct SnapshotFile {
    pub(crate) header: SnapshotHeader,
    /// `(name, entries)`; an entry is `(key group, bytes)`.
    pub(crate) sections: Vec<(String, Entries)>,
}

/// Checks the checksum and structure of a snapshot file and parses it.
pub(crate) fn parse(bytes: &[u8]) -> Result<SnapshotFile, String> {
    if bytes.len() < MAGIC.len() + 4 + 4 {
        return Err(format!("truncated: {} bytes", bytes.len()));
    }
    let (content, trailer) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let actual = crc32(content);
    if stored != actual {
        return Err(format!(
            "checksum mismatch (stored {stored:08x}, computed {actual:08x})"
        ));
    }
    parse_content(content).map_err(|e| format!("malformed: {e}"))
}

fn parse_content(mut input: &[u8]) -> Result<SnapshotFile, DecodeError> {
    let r = &mut input;
    if take(r, MAGIC.len(), "magic")? != MAGIC {
        return Err(DecodeError("not a Spate snapshot (bad magic)".into()));
    }
    let version = u32::decode(r)?;
    if !(OLDEST_READ..=FORMAT_VERSION).contains(&version) {
        return Err(DecodeError(format!(
            "format version {version} (this build reads {OLDEST_READ} to {FORMAT_VERSION})"
        )));
    }
    let header = SnapshotHeader {
        epoch: u64::decode(r)?,
        operator: u32::decode(r)?,
        shard: u32::decode(r)?,
        shards: u32::decode(r)?,
        max_parallelism: u32::decode(r)?,
    };
    let n = u32::decode(r)? as usize;
    let mut sections = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let name = String::decode(r)?;
        let count = super::codec::decode_len(r, 8)?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let kg = u32::decode(r)?;
            if kg >= header.max_parallelism {
                return Err(DecodeError(format!(
                    "key group {kg} out of range 0..{}",
                    header.max_parallelism
                )));
            }
            let len = u32::decode(r)? as usize;
            entries.push((kg, take(r, len, "entry")?.to_vec()));
        }
        sections.push((name, entries));
    }
    if !r.is_empty() {
        return Err(DecodeError(format!(
            "{} unexpected trailing bytes",
            r.len()
        )));
    }
    Ok(SnapshotFile { header, sections })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Sections encoded in place give the same file, byte for byte, as the same entries
        /// through a `StateWriter` (the reference), whatever the hashes, sizes and order,
        /// also in a reused buffer; the file parses and its CRC from the trailer is the
        /// whole file's.
        #[test]
        fn in_place_sections_equal_state_writer_sections(
            sections in proptest::collection::vec(
                proptest::collection::vec(
                    (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..40)),
                    0..30,
                ),
                0..4,
            ),
            old in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut reference = SnapshotBuilder::new(b_header());
            let mut in_place = SnapshotBuilder::with_buffer(b_header(), old);
            for (i, entries) in sections.iter().enumerate() {
                let name = format!("s{i}");
                let mut w = StateWriter::new(8);
                for (hash, bytes) in entries {
                    w.entry(*hash, |o| o.extend_from_slice(bytes));
                }
                reference.add(&name, w);
                let mut items: Vec<(u32, &(u64, Vec<u8>))> =
                    entries.iter().map(|e| (in_place.key_group(e.0), e)).collect();
                in_place.add_encoded(&name, &mut items, |_, _| {}, |e, o| {
                    o.extend_from_slice(&e.1)
                });
            }
            let (a, b) = (reference.finish(), in_place.finish());
            prop_assert_eq!(&a, &b);
            let f = parse(&b).unwrap();
            prop_assert_eq!(f.sections.len(), sections.len());
            prop_assert_eq!(file_crc(&b), crc32(&b));
        }
    }

    fn b_header() -> SnapshotHeader {
        SnapshotHeader {
            epoch: 4,
            operator: 2,
            shard: 1,
            shards: 2,
            max_parallelism: 8,
        }
    }

    fn sample() -> Vec<u8> {
        let mut b = SnapshotBuilder::new(SnapshotHeader {
            epoch: 4,
            operator: 2,
            shard: 1,
            shards: 2,
            max_parallelism: 8,
        });
        let mut w = StateWriter::new(8);
        for k in [5u64, 3, 13, 0] {
            w.entry(k, |out| k.encode(out));
        }
        b.add("count", w);
        b.add("empty", StateWriter::new(8));
        b.finish()
    }

    #[test]
    fn round_trip_sorted_by_key_group() {
        let f = parse(&sample()).unwrap();
        assert_eq!(f.header.epoch, 4);
        assert_eq!(f.header.operator, 2);
        assert_eq!(f.sections.len(), 2);
        let (name, entries) = &f.sections[0];
        assert_eq!(name, "count");
        let groups: Vec<u32> = entries.iter().map(|e| e.0).collect();
        assert_eq!(groups, vec![0, 3, 5, 5]);
        assert!(f.sections[1].1.is_empty());
    }

    #[test]
    fn encoded_sections_match_added_ones_and_the_file_crc_is_the_whole_files() {
        let header = SnapshotHeader {
            epoch: 4,
            operator: 2,
            shard: 1,
            shards: 2,
            max_parallelism: 8,
        };
        // A reused buffer with old bytes in it: they must not leak into the file.
        let mut b = SnapshotBuilder::with_buffer(header, vec![0xAB; 100]);
        let mut items: Vec<(u32, u64)> = [5u64, 3, 13, 0]
            .iter()
            .map(|k| (b.key_group(*k), *k))
            .collect();
        b.add_encoded("count", &mut items, |_, _| {}, |k, out| k.encode(out));
        b.add("empty", StateWriter::new(8));
        let bytes = b.finish();
        assert_eq!(bytes, sample(), "same file as through StateWriter");
        assert_eq!(file_crc(&bytes), crc32(&bytes));
        let empty = SnapshotBuilder::new(SnapshotHeader {
            epoch: 5,
            ..b_header()
        })
        .finish();
        assert_eq!(file_crc(&empty), crc32(&empty));
    }

    /// Files of version 1 still parse; versions before it or after this build's do not.
    #[test]
    fn earlier_versions_read_later_ones_refused() {
        let with_version = |v: u32| {
            let mut f = sample();
            let at = f.len() - 4;
            f[8..12].copy_from_slice(&v.to_le_bytes());
            let c = crc32(&f[..at]);
            f[at..].copy_from_slice(&c.to_le_bytes());
            parse(&f)
        };
        assert_eq!(&sample()[8..12], &FORMAT_VERSION.to_le_bytes());
        assert!(with_version(1).is_ok());
        assert!(with_version(FORMAT_VERSION).is_ok());
        for v in [0, FORMAT_VERSION + 1] {
            let e = with_version(v).unwrap_err();
            assert!(e.contains(&format!("format version {v}")), "{e}");
        }
    }

    #[test]
    fn every_truncation_and_flipped_byte_is_detected() {
        let good = sample();
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_err(), "truncated to {cut} bytes");
        }
        // Header, body and checksum bytes alike.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(parse(&bad).is_err(), "flipped byte {i}");
        }
    }
}
