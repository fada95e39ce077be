//! Internal invariants: trust flags, live-byte accounting, file clean-up.

use super::store::UNTRUSTED;
use super::{MmapConfig, MmapStore, MmapValueState};
use crate::state::FixedKey;

fn trusted(store: &MmapStore) -> usize {
    store
        .index
        .iter()
        .filter(|s| s.off & UNTRUSTED == 0)
        .count()
}

#[test]
fn restored_records_are_untrusted_until_validated_once() {
    let (work, ckpt, fresh) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let mut st = MmapValueState::<u64, u64>::open(MmapConfig::new(work.path())).expect("open");
    for k in 0..10u64 {
        st.update(&FixedKey::new(k, 0), &k).expect("update");
    }
    assert_eq!(
        trusted(st.store().expect("bound")),
        10,
        "own writes are trusted"
    );
    let m = st.snapshot(1).expect("snapshot");
    st.export(&m, ckpt.path()).expect("export");
    let mut r = MmapValueState::<u64, u64>::restore(MmapConfig::new(fresh.path()), ckpt.path(), &m)
        .expect("restore");
    assert_eq!(
        trusted(r.store().expect("bound")),
        0,
        "bytes from disk are validated before use"
    );
    let v = r
        .value(&FixedKey::new(3u64, 0))
        .expect("valid")
        .map(|v| v.to_native());
    assert_eq!(v, Some(3));
    assert_eq!(
        trusted(r.store().expect("bound")),
        1,
        "a validated record is remembered"
    );
    r.compact().expect("compact");
    assert_eq!(
        trusted(r.store().expect("bound")),
        1,
        "compaction keeps the flags"
    );
}

#[test]
fn byte_level_puts_are_never_trusted() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = MmapStore::open(MmapConfig::new(dir.path())).expect("open");
    s.put(0, b"k", b"v").expect("put");
    assert_eq!(trusted(&s), 0);
}

#[test]
fn live_bytes_follow_overwrites_and_deletes() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = MmapStore::open(MmapConfig::new(dir.path())).expect("open");
    s.put(0, b"a", &[0; 20]).expect("put");
    s.put(0, b"b", &[0; 20]).expect("put");
    s.put(0, b"a", &[1; 20]).expect("put");
    s.delete(b"b").expect("delete");
    let st = s.stats();
    assert_eq!(st.live_bytes, 64, "{st:?}");
    assert_eq!(st.disk_bytes, 3 * 64 + 32, "{st:?}");
}

#[test]
fn compacted_segments_that_no_snapshot_lists_are_deleted_at_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = MmapStore::open(MmapConfig::new(dir.path()).segment_bytes(256)).expect("open");
    for round in 0..50u8 {
        s.put(0, b"hot", &[round; 32]).expect("put");
    }
    let files = std::fs::read_dir(dir.path()).expect("dir").count();
    assert_eq!(files, s.stats().segments);
    assert!(files <= 3, "{files} files");
}

#[test]
fn compacted_segments_a_snapshot_lists_wait_for_the_next_snapshot() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = MmapStore::open(MmapConfig::new(dir.path()).segment_bytes(256)).expect("open");
    s.put(0, b"hot", &[0; 32]).expect("put");
    let m = s.snapshot(1).expect("snapshot");
    for round in 0..50u8 {
        s.put(0, b"hot", &[round; 32]).expect("put");
    }
    let first = dir.path().join(&m.segments[0].name);
    assert!(first.exists(), "still needed by the export of epoch 1");
    s.snapshot(2).expect("snapshot");
    assert!(!first.exists(), "deleted once epoch 2 is taken");
}

#[test]
fn keys_of_different_lengths_stay_distinct_through_growth() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = MmapStore::open(MmapConfig::new(dir.path())).expect("open");
    let keys: Vec<Vec<u8>> = (0..=12usize)
        .flat_map(|len| {
            (0..300u32).map(move |i| {
                let mut k = vec![0u8; len];
                for (j, b) in k.iter_mut().enumerate() {
                    *b = (i >> (8 * (j % 4))) as u8;
                }
                k
            })
        })
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .collect();
    for (i, k) in keys.iter().enumerate() {
        s.put(0, k, &(i as u32).to_le_bytes()).expect("put");
    }
    assert_eq!(s.len(), keys.len());
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            s.get(k).map(|v| v.bytes),
            Some(&(i as u32).to_le_bytes()[..]),
            "{k:?}"
        );
    }
    // Byte 1 of a generated key is at most 1: these were never written.
    assert!(s.get(&[0xFF, 0xFF]).is_none() && s.get(&[0xFF, 0xFF, 0]).is_none());
}

/// A checkpoint's snapshot leaves the new segments unsynced for the writer thread and
/// lists each once; after a failed write (`resync`), every segment is listed again.
#[test]
fn unsynced_snapshots_list_new_segments_once_and_all_after_a_failure() {
    let work = tempfile::tempdir().expect("tmp");
    let mut store =
        MmapStore::open(MmapConfig::new(work.path()).segment_bytes(4096)).expect("open");
    for k in 0..100u32 {
        store.put(0, &k.to_le_bytes(), &[1; 40]).expect("put");
    }
    let (m1, new1) = store.snapshot_unsynced(1).expect("snapshot 1");
    assert_eq!(new1.len(), m1.segments.len(), "every segment is new");
    for k in 100..110u32 {
        store.put(0, &k.to_le_bytes(), &[2; 40]).expect("put");
    }
    let (m2, new2) = store.snapshot_unsynced(2).expect("snapshot 2");
    assert_eq!(new2.len(), 1, "only the segment written since: {new2:?}");
    assert!(m2.segments.len() > 1);
    store
        .resync
        .store(true, std::sync::atomic::Ordering::Release);
    let (m3, new3) = store.snapshot_unsynced(3).expect("snapshot 3");
    assert_eq!(
        new3.len(),
        m3.segments.len(),
        "all again after a failed write"
    );
    let (_, new4) = store.snapshot_unsynced(4).expect("snapshot 4");
    assert!(new4.is_empty());
}

/// The writer's sync of an exported segment that cannot be opened fails the write and
/// sets the stores' `resync` flags.
#[test]
fn a_failed_segment_sync_marks_the_stores_for_resync() {
    let dir = tempfile::tempdir().expect("tmp");
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let exported = super::checkpointing::Exported {
        sync: vec![dir.path().join("missing.seg")],
        failed: vec![flag.clone()],
        ..Default::default()
    };
    assert!(super::checkpointing::sync_blocking(&exported).is_err());
    assert!(flag.load(std::sync::atomic::Ordering::Acquire));
}
