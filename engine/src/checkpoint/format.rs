//! The snapshot file: one per stateful operator per shard per epoch.
//!
//! ```text
//! header   magic "SPATESNP" · format version u32 · epoch u64 · operator id u32 ·
//!          shard u32 · shards u32 · max_parallelism u32
//! body     section count u32, then per section (one per registered state handle, plus
//!          timers): name (u64 length + UTF-8) · entry count u64 ·
//!          entries sorted by key group: key group u32 · length u32 · bytes
//! trailer  CRC-32 of everything before it (u32)
//! ```
//! All integers little-endian. Entries carry their key group, so a reader keeps only the
//! groups its shard owns: files written by N shards restore on M shards.

use super::codec::{take, DecodeError, StateData};
use super::crc::crc32;

/// The first bytes of every snapshot file.
pub(crate) const MAGIC: &[u8; 8] = b"SPATESNP";
/// The epoch recorded in the final snapshot of an operator whose input ended; it stands in
/// for every later epoch of its shard.
pub(crate) const FINAL_EPOCH: u64 = u64::MAX;
/// The version written; readers refuse others.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// What a snapshot file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotHeader {
    pub(crate) epoch: u64,
    pub(crate) operator: u32,
    pub(crate) shard: u32,
    pub(crate) shards: u32,
    pub(crate) max_parallelism: u32,
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

/// Builds a snapshot file from sections.
pub(crate) struct SnapshotBuilder {
    pub(crate) header: SnapshotHeader,
    sections: Vec<(String, StateWriter)>,
    /// Where file-backed (mmap) state exports its segments, and the files it added.
    pub(crate) files: Option<crate::state::mmap::checkpointing::FilesOut>,
}

impl SnapshotBuilder {
    pub(crate) fn new(header: SnapshotHeader) -> Self {
        SnapshotBuilder {
            header,
            sections: Vec::new(),
            files: None,
        }
    }

    pub(crate) fn max_parallelism(&self) -> usize {
        self.header.max_parallelism as usize
    }

    pub(crate) fn add(&mut self, name: &str, w: StateWriter) {
        self.sections.push((name.to_string(), w));
    }

    /// The file's bytes, checksum included.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let h = &self.header;
        let body_len: usize = self
            .sections
            .iter()
            .map(|(_, w)| w.bytes.len() + 8 * w.index.len())
            .sum();
        let mut out = Vec::with_capacity(64 + body_len);
        out.extend_from_slice(MAGIC);
        FORMAT_VERSION.encode(&mut out);
        h.epoch.encode(&mut out);
        h.operator.encode(&mut out);
        h.shard.encode(&mut out);
        h.shards.encode(&mut out);
        h.max_parallelism.encode(&mut out);
        (self.sections.len() as u32).encode(&mut out);
        for (name, w) in &mut self.sections {
            name.encode(&mut out);
            (w.index.len() as u64).encode(&mut out);
            w.index.sort_by_key(|e| e.0);
            for &(kg, s, e) in &w.index {
                kg.encode(&mut out);
                ((e - s) as u32).encode(&mut out);
                out.extend_from_slice(&w.bytes[s..e]);
            }
        }
        let c = crc32(&out);
        c.encode(&mut out);
        out
    }
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
    if version != FORMAT_VERSION {
        return Err(DecodeError(format!(
            "format version {version} (this build reads {FORMAT_VERSION})"
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
