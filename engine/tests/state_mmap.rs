//! The mmap state backend against reference models: put/get/delete, snapshots (incremental,
//! restored, corrupted), compaction, key-group splits, and random sequences (proptest).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use proptest::prelude::*;
use spate::state::mmap::{MmapConfig, MmapMapState, MmapStore, MmapValueState, SnapshotManifest};
use spate::state::{hash_key, key_group, FixedKey};
use spate::SpateError;
use tempfile::TempDir;

type Res = Result<(), Box<dyn std::error::Error>>;

fn small(dir: &Path) -> MmapConfig {
    MmapConfig::new(dir).segment_bytes(1024)
}

fn key(k: u32) -> [u8; 4] {
    k.to_le_bytes()
}

fn contents(store: &MmapStore) -> HashMap<Vec<u8>, Vec<u8>> {
    store
        .iter()
        .map(|e| (e.key.to_vec(), e.value.to_vec()))
        .collect()
}

#[test]
fn put_get_delete_overwrite() -> Res {
    let dir = TempDir::new()?;
    let mut s = MmapStore::open(small(dir.path()))?;
    assert!(s.get(b"a").is_none());
    s.put(1, b"a", b"one")?;
    s.put(2, b"b", b"two")?;
    s.put(1, b"a", b"uno")?;
    assert_eq!(
        s.get(b"a").map(|v| (v.key_group, v.bytes)),
        Some((1, &b"uno"[..]))
    );
    assert_eq!(s.len(), 2);
    assert!(s.delete(b"a")?);
    assert!(!s.delete(b"a")?, "deleting twice reports absence");
    assert!(s.get(b"a").is_none());
    assert_eq!(s.get(b"b").map(|v| v.bytes), Some(&b"two"[..]));
    s.put(1, b"a", b"again")?;
    assert_eq!(s.get(b"a").map(|v| v.bytes), Some(&b"again"[..]));
    assert!(matches!(s.put(128, b"x", b"y"), Err(SpateError::Config(_))));
    Ok(())
}

#[test]
fn values_are_sixteen_byte_aligned_in_place() -> Res {
    let dir = TempDir::new()?;
    let mut s = MmapStore::open(small(dir.path()))?;
    for k in 0..200u32 {
        s.put(0, &vec![7u8; (k % 37) as usize], &key(k))?;
        let v = s.get(&vec![7u8; (k % 37) as usize]).ok_or("missing")?;
        assert_eq!(v.bytes.as_ptr() as usize % 16, 0);
    }
    Ok(())
}

#[test]
fn typed_value_state_matches_heap_value_state() -> Res {
    let dir = TempDir::new()?;
    let mut mm = MmapValueState::<String, Vec<u32>>::open(small(dir.path()))?;
    let mut heap = spate::state::ValueState::<String, Vec<u32>>::new();
    for i in 0..300u32 {
        let k = FixedKey::new(format!("key-{}", i % 17), 0);
        let v: Vec<u32> = (0..i % 5).collect();
        if i % 7 == 3 {
            mm.clear(&k)?;
            heap.clear(&k);
        } else {
            mm.update(&k, &v)?;
            heap.update(&k, v);
        }
        let got = mm
            .value(&k)?
            .map(|a| a.iter().map(|x| x.to_native()).collect::<Vec<_>>());
        assert_eq!(got.as_ref(), heap.value(&k));
    }
    assert_eq!(mm.len(), heap.len());
    Ok(())
}

#[test]
fn typed_records_carry_the_heap_key_group() -> Res {
    let dir = TempDir::new()?;
    let mut mm = MmapValueState::<u64, u64>::open(MmapConfig::new(dir.path()))?;
    for k in 0..500u64 {
        mm.update(&FixedKey::new(k, 0), &(k * 2))?;
    }
    let groups: HashSet<u16> = mm
        .store()
        .ok_or("unbound")?
        .iter()
        .map(|e| e.key_group)
        .collect();
    let expect: HashSet<u16> = (0..500u64)
        .map(|k| key_group(hash_key(&k), 128) as u16)
        .collect();
    assert_eq!(groups, expect);
    Ok(())
}

#[test]
fn restore_from_a_checkpoint_and_in_place_equals_the_original() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    let mut s = MmapStore::open(small(work.path()))?;
    for k in 0..300u32 {
        s.put((k % 128) as u16, &key(k), &key(k * 3))?;
    }
    for k in (0..300u32).step_by(3) {
        s.delete(&key(k))?;
    }
    let m = s.snapshot(1)?;
    s.export(&m, ckpt.path())?;
    let want = contents(&s);
    assert_eq!(want.len(), 200);

    let fresh = TempDir::new()?;
    let r = MmapStore::restore(small(fresh.path()), ckpt.path(), &m)?;
    assert_eq!(contents(&r), want);
    // Reopen in place: the store reads its own directory and deletes nothing there.
    drop(s);
    let mut again = MmapStore::restore(small(work.path()), work.path(), &m)?;
    assert_eq!(contents(&again), want);
    for k in 0..300u32 {
        again.put(0, &key(k), b"new")?;
    }
    again.compact()?;
    for f in &m.segments {
        assert!(work.path().join(&f.name).exists(), "{} deleted", f.name);
    }
    Ok(())
}

#[test]
fn incremental_snapshot_lists_only_new_segments() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    let mut s = MmapStore::open(small(work.path()).compact_below(0.0))?;
    for k in 0..100u32 {
        s.put(0, &key(k), &[1u8; 40])?;
    }
    let m1 = s.snapshot(1)?;
    assert!(m1.segments.len() > 3);
    assert_eq!(m1.new_segments().count(), m1.segments.len());
    assert_eq!(s.export(&m1, ckpt.path())?, m1.segments.len());
    for k in 100..130u32 {
        s.put(0, &key(k), &[2u8; 40])?;
    }
    let m2 = s.snapshot(2)?;
    let old: HashSet<&str> = m1.segments.iter().map(|f| f.name.as_str()).collect();
    let new: HashSet<&str> = m2.new_segments().map(|f| f.name.as_str()).collect();
    assert_eq!(
        m2.segments[..m1.segments.len()],
        m1.segments[..],
        "old segments reused unchanged"
    );
    assert!(!new.is_empty() && new.iter().all(|n| !old.contains(n)));
    assert_eq!(new.len() + old.len(), m2.segments.len());
    assert_eq!(
        s.export(&m2, ckpt.path())?,
        new.len(),
        "only new files are linked"
    );
    // Nothing written: the next snapshot adds nothing.
    let m3 = s.snapshot(3)?;
    assert_eq!(m3.new_segments().count(), 0);
    assert!(
        matches!(s.snapshot(3), Err(SpateError::Config(_))),
        "epochs must increase"
    );
    let r = MmapStore::restore(small(TempDir::new()?.path()), ckpt.path(), &m3)?;
    assert_eq!(contents(&r), contents(&s));
    Ok(())
}

/// A checkpointed store with several segments, and its manifest.
fn checkpointed(work: &Path, ckpt: &Path) -> Result<SnapshotManifest, SpateError> {
    let mut s = MmapStore::open(small(work))?;
    for k in 0..60u32 {
        s.put(0, &key(k), &[k as u8; 24])?;
    }
    let m = s.snapshot(7)?;
    s.export(&m, ckpt)?;
    Ok(m)
}

fn expect_bad_input(r: Result<MmapStore, SpateError>, what: &str) {
    match r {
        Err(SpateError::BadInput { message, .. }) => assert!(
            message.contains(what),
            "error {message:?} should mention {what:?}"
        ),
        Err(e) => panic!("wrong error kind: {e}"),
        Ok(_) => panic!("corruption ({what}) went unnoticed"),
    }
}

#[test]
fn truncated_segment_is_detected() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    let m = checkpointed(work.path(), ckpt.path())?;
    let victim = ckpt.path().join(&m.segments[1].name);
    let len = std::fs::metadata(&victim)?.len();
    // Break the hard link first, so that only the checkpoint copy is damaged.
    let bytes = std::fs::read(&victim)?;
    std::fs::remove_file(&victim)?;
    std::fs::write(&victim, &bytes[..(len - 5) as usize])?;
    let r = MmapStore::restore(small(TempDir::new()?.path()), ckpt.path(), &m);
    expect_bad_input(r, "truncated");
    Ok(())
}

#[test]
fn flipped_byte_is_detected() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    let m = checkpointed(work.path(), ckpt.path())?;
    let victim = ckpt.path().join(&m.segments[0].name);
    let mut bytes = std::fs::read(&victim)?;
    for pos in [0, 5, 13, 17, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[pos] ^= 0x01;
        std::fs::remove_file(&victim)?;
        std::fs::write(&victim, &b)?;
        let r = MmapStore::restore(small(TempDir::new()?.path()), ckpt.path(), &m);
        expect_bad_input(r, "checksum mismatch");
    }
    // A flip the manifest agrees with (the file checksum recomputed) is caught per record.
    bytes[20] ^= 0x01;
    std::fs::remove_file(&victim)?;
    std::fs::write(&victim, &bytes)?;
    let mut forged = m.clone();
    forged.segments[0].crc32 = crc32(&bytes);
    let r = MmapStore::restore(small(TempDir::new()?.path()), ckpt.path(), &forged);
    expect_bad_input(r, "record checksum mismatch");
    Ok(())
}

#[test]
fn torn_tail_is_detected_per_record() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    let m = checkpointed(work.path(), ckpt.path())?;
    let victim = ckpt.path().join(&m.segments[0].name);
    let bytes = std::fs::read(&victim)?;
    let torn = &bytes[..bytes.len() - 16];
    std::fs::remove_file(&victim)?;
    std::fs::write(&victim, torn)?;
    let mut forged = m.clone();
    forged.segments[0].len = torn.len() as u64;
    forged.segments[0].crc32 = crc32(torn);
    let r = MmapStore::restore(small(TempDir::new()?.path()), ckpt.path(), &forged);
    expect_bad_input(r, "torn record");
    Ok(())
}

#[test]
fn missing_segment_and_bad_manifest_are_errors() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    let m = checkpointed(work.path(), ckpt.path())?;
    std::fs::remove_file(ckpt.path().join(&m.segments[2].name))?;
    let fresh = TempDir::new()?;
    assert!(matches!(
        MmapStore::restore(small(fresh.path()), ckpt.path(), &m),
        Err(SpateError::Io { .. })
    ));
    let mut evil = m.clone();
    evil.segments[0].name = "../../etc/passwd".into();
    expect_bad_input(
        MmapStore::restore(small(TempDir::new()?.path()), ckpt.path(), &evil),
        "plain file name",
    );
    let mut future = m.clone();
    future.format = 99;
    expect_bad_input(
        MmapStore::restore(small(TempDir::new()?.path()), ckpt.path(), &future),
        "format",
    );
    Ok(())
}

/// crc32 (IEEE), bitwise: the test's own reference for the file checksum.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn invalid_archive_from_disk_is_an_error_not_a_panic() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    let mut raw = MmapStore::open(MmapConfig::new(work.path()))?;
    let k = rkyv::to_bytes::<rkyv::rancor::Error>(&5u64)?;
    // An archived `bool` is one byte, 0 or 1.
    raw.put(0, &k, &[7])?;
    let m = raw.snapshot(1)?;
    raw.export(&m, ckpt.path())?;
    let mut typed = MmapValueState::<u64, bool>::restore(
        MmapConfig::new(TempDir::new()?.path()),
        ckpt.path(),
        &m,
    )?;
    let r = typed.value(&FixedKey::new(5u64, 0));
    assert!(matches!(r, Err(SpateError::BadInput { .. })), "{r:?}");
    Ok(())
}

#[test]
fn restored_typed_values_are_validated_and_read() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    let mut st = MmapValueState::<u64, String>::open(small(work.path()))?;
    for k in 0..50u64 {
        st.update(&FixedKey::new(k, 0), &format!("v{k}"))?;
    }
    let m = st.snapshot(1)?;
    st.export(&m, ckpt.path())?;
    let mut r =
        MmapValueState::<u64, String>::restore(small(TempDir::new()?.path()), ckpt.path(), &m)?;
    for k in 0..50u64 {
        let key = FixedKey::new(k, 0);
        assert_eq!(
            r.value(&key)?.map(|v| v.as_str()),
            Some(format!("v{k}").as_str())
        );
        assert_eq!(
            r.value(&key)?.map(|v| v.as_str()),
            Some(format!("v{k}").as_str())
        );
    }
    Ok(())
}

#[test]
fn compaction_keeps_the_live_set_and_bounds_the_files() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    let mut s = MmapStore::open(small(work.path()))?;
    let mut model = HashMap::new();
    for round in 0..40u32 {
        for k in 0..50u32 {
            if (k + round) % 11 == 0 {
                s.delete(&key(k))?;
                model.remove(key(k).as_slice());
            } else {
                let v = [(round as u8).wrapping_add(k as u8); 20];
                s.put(3, &key(k), &v)?;
                model.insert(key(k).to_vec(), v.to_vec());
            }
        }
        if round % 10 == 9 {
            let m = s.snapshot(u64::from(round))?;
            s.export(&m, ckpt.path())?;
        }
    }
    s.compact()?;
    assert_eq!(contents(&s), model);
    let st = s.stats();
    assert!(st.disk_bytes <= 3 * st.live_bytes + 2048, "{st:?}");
    let files = std::fs::read_dir(work.path())?.count();
    assert!(
        files <= st.segments + 20,
        "{files} files for {} segments",
        st.segments
    );
    let m = s.snapshot(100)?;
    s.export(&m, ckpt.path())?;
    let r = MmapStore::restore(small(TempDir::new()?.path()), ckpt.path(), &m)?;
    assert_eq!(contents(&r), model);
    Ok(())
}

#[test]
fn key_group_ranges_split_and_merge() -> Res {
    let dirs: Vec<TempDir> = (0..2).map(|_| TempDir::new()).collect::<Result<_, _>>()?;
    // Two "old shards", each owning half of the 128 key groups.
    let mut manifests = Vec::new();
    let mut all = HashMap::new();
    for (shard, d) in dirs.iter().enumerate() {
        let mut s = MmapStore::open(small(d.path()))?;
        for k in 0..400u32 {
            let g = (k % 128) as u16;
            if usize::from(g) * 2 / 128 == shard {
                s.put(g, &key(k), &key(k + 1))?;
                all.insert(key(k).to_vec(), (g, key(k + 1).to_vec()));
            }
        }
        manifests.push(s.snapshot(4)?);
    }
    let sources: Vec<(&Path, &SnapshotManifest)> = dirs
        .iter()
        .map(|d| d.path())
        .zip(manifests.iter())
        .collect();
    // Three "new shards".
    let mut merged = HashMap::new();
    for range in [0..=41u16, 42..=84, 85..=127] {
        let out = TempDir::new()?;
        let s = MmapStore::restore_key_groups(small(out.path()), &sources, range.clone())?;
        for e in s.iter() {
            assert!(range.contains(&e.key_group));
            merged.insert(e.key.to_vec(), (e.key_group, e.value.to_vec()));
        }
        assert_eq!(s.iter_key_groups(range).count(), s.len());
    }
    assert_eq!(merged, all);
    Ok(())
}

#[test]
fn state_larger_than_the_index_lives_in_the_files() -> Res {
    // 64 MiB of values, 256 Ki keys: RAM holds only the index, about 20-40 bytes a key.
    let dir = TempDir::new()?;
    let mut s = MmapStore::open(MmapConfig::new(dir.path()).segment_bytes(8 << 20))?;
    let keys = 256 * 1024u32;
    let mut value = [0u8; 240];
    for k in 0..keys {
        value[..4].copy_from_slice(&key(k));
        s.put((k % 128) as u16, &key(k), &value)?;
    }
    let st = s.stats();
    assert_eq!(st.keys, keys as usize);
    assert!(st.disk_bytes >= 64 << 20, "{st:?}");
    assert!(st.index_bytes <= 40 * keys as usize, "{st:?}");
    assert!(st.index_bytes * 5 < st.disk_bytes, "{st:?}");
    for k in (0..keys).step_by(997) {
        assert_eq!(s.get(&key(k)).map(|v| &v.bytes[..4]), Some(&key(k)[..]));
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    Put(u64, u64),
    Delete(u64),
    Snapshot,
    Restore,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..40u64, any::<u64>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0..40u64).prop_map(Op::Delete),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Restore),
        1 => Just(Op::Compact),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random puts, deletes, snapshots, restores (of the latest snapshot, into a fresh
    /// directory) and compactions agree with a `HashMap` at every step.
    #[test]
    fn random_sequences_match_a_hashmap(ops in proptest::collection::vec(op(), 1..160), seg in 96usize..600) {
        let ckpt = TempDir::new().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut dirs = vec![TempDir::new().map_err(|e| TestCaseError::fail(e.to_string()))?];
        let cfg = |d: &Path| MmapConfig::new(d).segment_bytes(seg);
        let mut st = MmapValueState::<u64, u64>::open(cfg(dirs[0].path())).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut model: HashMap<u64, u64> = HashMap::new();
        let mut saved: Option<(SnapshotManifest, HashMap<u64, u64>)> = None;
        let mut epoch = 0;
        let fail = |e: SpateError| TestCaseError::fail(e.to_string());
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    st.update(&FixedKey::new(k, 0), &v).map_err(fail)?;
                    model.insert(k, v);
                }
                Op::Delete(k) => {
                    st.clear(&FixedKey::new(k, 0)).map_err(fail)?;
                    model.remove(&k);
                }
                Op::Snapshot => {
                    epoch += 1;
                    let m = st.snapshot(epoch).map_err(fail)?;
                    st.export(&m, ckpt.path()).map_err(fail)?;
                    saved = Some((m, model.clone()));
                }
                Op::Restore => {
                    if let Some((m, snap)) = &saved {
                        dirs.push(TempDir::new().map_err(|e| TestCaseError::fail(e.to_string()))?);
                        let d = dirs.last().map(|d| d.path().to_path_buf()).unwrap_or_default();
                        st = MmapValueState::restore(cfg(&d), ckpt.path(), m).map_err(fail)?;
                        model = snap.clone();
                    }
                }
                Op::Compact => {
                    st.compact().map_err(fail)?;
                }
            }
            prop_assert_eq!(st.len(), model.len());
        }
        for k in 0..40u64 {
            let got = st.value(&FixedKey::new(k, 0)).map_err(fail)?.map(|v| v.to_native());
            prop_assert_eq!(got, model.get(&k).copied(), "key {}", k);
        }
    }
}

#[test]
fn compacted_tombstone_does_not_resurrect_an_older_put() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    // 64-byte records, 16 to a segment.
    let mut s = MmapStore::open(small(work.path()))?;
    for k in 0..16u32 {
        s.put(0, &key(k), &[1; 24])?; // segment A, stays mostly live
    }
    s.delete(&key(0))?; // tombstone in segment B
    for round in 0..40u8 {
        s.put(0, &key(100), &[round; 24])?; // B fills with garbage and is compacted
    }
    s.compact()?;
    let m = s.snapshot(1)?;
    s.export(&m, ckpt.path())?;
    assert!(
        m.segments.len() >= 2,
        "segment A must still be there: {m:?}"
    );
    let r = MmapStore::restore(small(TempDir::new()?.path()), ckpt.path(), &m)?;
    assert!(r.get(&key(0)).is_none(), "deleted key came back");
    assert_eq!(contents(&r), contents(&s));
    Ok(())
}

#[test]
fn map_state_matches_a_model_across_restore() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    let mut st = MmapMapState::<String, u32, u64>::open(small(work.path()))?;
    let mut model: HashMap<(String, u32), u64> = HashMap::new();
    for i in 0..600u32 {
        let key = format!("user-{}", i % 13);
        let (scope, uk) = (FixedKey::new(key.clone(), 0), i % 7);
        if i % 5 == 4 {
            let had = st.remove(&scope, &uk)?;
            assert_eq!(had, model.remove(&(key, uk)).is_some());
        } else {
            st.put(&scope, &uk, &u64::from(i))?;
            model.insert((key, uk), u64::from(i));
        }
    }
    let m = st.snapshot(1)?;
    st.export(&m, ckpt.path())?;
    let mut r =
        MmapMapState::<String, u32, u64>::restore(small(TempDir::new()?.path()), ckpt.path(), &m)?;
    assert_eq!(r.entry_count(), model.len());
    for u in 0..13 {
        let key = format!("user-{u}");
        let scope = FixedKey::new(key.clone(), 0);
        for uk in 0..7u32 {
            let want = model.get(&(key.clone(), uk)).copied();
            assert_eq!(r.get(&scope, &uk)?.map(|v| v.to_native()), want);
            assert_eq!(r.contains(&scope, &uk)?, want.is_some());
        }
    }
    // Every entry of a key sits in that key's group, so rescaling keeps a map together.
    for e in r.store().ok_or("unbound")?.iter() {
        let klen = u32::from_le_bytes(e.key[..4].try_into()?) as usize;
        let key = rkyv::from_bytes::<String, rkyv::rancor::Error>(&e.key[4..4 + klen])?;
        assert_eq!(usize::from(e.key_group), key_group(hash_key(&key), 128));
    }
    Ok(())
}

#[test]
fn every_flipped_byte_of_a_segment_is_detected_by_file_and_by_record_checks() -> Res {
    let (work, ckpt) = (TempDir::new()?, TempDir::new()?);
    let mut s = MmapStore::open(MmapConfig::new(work.path()))?;
    s.put(5, b"k1", b"v")?;
    s.put(6, b"key-two", &[9; 20])?;
    s.delete(b"k1")?;
    let m = s.snapshot(1)?;
    s.export(&m, ckpt.path())?;
    let victim = ckpt.path().join(&m.segments[0].name);
    let good = std::fs::read(&victim)?;
    std::fs::remove_file(&victim)?;
    for pos in 0..good.len() {
        let mut b = good.clone();
        b[pos] ^= 0x40;
        std::fs::write(&victim, &b)?;
        // The file checksum in the manifest catches it ...
        let plain = MmapStore::restore(small(TempDir::new()?.path()), ckpt.path(), &m);
        expect_bad_input(plain, "checksum mismatch");
        // ... and so do the record checks when the manifest agrees with the damaged file.
        let mut forged = m.clone();
        forged.segments[0].crc32 = crc32(&b);
        let r = MmapStore::restore(small(TempDir::new()?.path()), ckpt.path(), &forged);
        assert!(
            matches!(r, Err(SpateError::BadInput { .. })),
            "flip at byte {pos} restored as {:?}",
            r.map(|s| contents(&s))
        );
        std::fs::remove_file(&victim)?;
    }
    Ok(())
}
