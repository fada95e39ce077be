//! CRC-32 (IEEE 802.3, the polynomial of zip and PNG): the checksum of snapshot files and
//! manifests. `crc32fast` (already used by the mmap store) computes it with SIMD/slicing, many
//! times faster than a byte-wise table: snapshots are checksummed on the shard thread at every
//! checkpoint, so this is part of a checkpoint's cost.

/// The CRC-32 of `bytes`.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        assert_eq!(super::crc32(b""), 0);
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            super::crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }
}
