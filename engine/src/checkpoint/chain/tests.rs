use super::*;
use crate::checkpoint::format::{file_crc, SnapshotHeader};
use crate::state::mmap::checkpointing::FilesOut;

fn cx(max_deltas: usize, last_complete: u64) -> ChainCx {
    ChainCx {
        max_deltas,
        last_complete,
        savepoint: false,
    }
}

#[test]
fn a_delta_needs_the_previous_epoch_complete_and_room_in_the_chain() {
    let c = cx(3, 4);
    assert!(may_delta(Some(&c), 5, Some(4), 0));
    assert!(may_delta(Some(&c), 5, Some(4), 2));
    assert!(
        !may_delta(Some(&c), 5, Some(4), 3),
        "3 deltas in a row: full"
    );
    assert!(!may_delta(None, 5, Some(4), 0), "incremental off");
    assert!(!may_delta(Some(&cx(0, 4)), 5, Some(4), 0), "max 0: off");
    assert!(!may_delta(Some(&c), 5, None, 0), "first snapshot");
    assert!(!may_delta(Some(&c), 6, Some(5), 0), "epoch 5 not complete");
    assert!(!may_delta(Some(&c), 4, Some(4), 0), "not a later epoch");
    assert!(
        !may_delta(Some(&c), FINAL_EPOCH, Some(4), 0),
        "the final snapshot"
    );
    let sp = ChainCx {
        savepoint: true,
        ..c
    };
    assert!(!may_delta(Some(&sp), 5, Some(4), 0), "a savepoint");
}

/// The snapshot file of operator 3 on shard 0 for `epoch`, written into its epoch
/// directory under `root`, and a builder of the next epoch's.
fn write_snapshot(root: &Path, epoch: u64) -> Vec<u8> {
    let mut b = SnapshotBuilder::new(header(epoch));
    let mut w = StateWriter::new(8);
    w.entry(epoch, |o| epoch.encode(o));
    b.add("s", w);
    let bytes = b.finish();
    let d = CheckpointStore::new(root).epoch_dir(epoch);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(snapshot_name(3, 0)), &bytes).unwrap();
    bytes
}

fn header(epoch: u64) -> SnapshotHeader {
    SnapshotHeader {
        epoch,
        operator: 3,
        shard: 0,
        shards: 1,
        max_parallelism: 8,
    }
}

fn builder(root: &Path, epoch: u64, last_complete: u64) -> SnapshotBuilder {
    let mut b = SnapshotBuilder::new(header(epoch));
    b.files = Some(FilesOut {
        epoch_dir: CheckpointStore::new(root).epoch_dir(epoch),
        rel: "mmap-n3-s0".into(),
        files: Default::default(),
    });
    b.chain = Some(cx(2, last_complete));
    b
}

/// The chain section of a finished snapshot, and its manifest entries.
fn listed(b: SnapshotBuilder) -> (Vec<PathBuf>, Vec<FileEntry>) {
    let entries: Vec<FileEntry> = b
        .files
        .as_ref()
        .unwrap()
        .files
        .files
        .iter()
        .map(|f| f.1.clone())
        .collect();
    let f = crate::checkpoint::format::parse(&b.finish()).unwrap();
    let names = f
        .sections
        .iter()
        .find(|s| s.0 == CHAIN)
        .map(|s| decode_names(&s.1[0].1).unwrap())
        .unwrap_or_default();
    (names, entries)
}

#[test]
fn deltas_link_the_base_and_earlier_deltas_then_a_full_snapshot_starts_again() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut chain = SnapshotChain::default();
    // Epoch 1: full (nothing before).
    let mut b = builder(root, 1, 0);
    assert!(!chain.begin(&mut b));
    assert_eq!(listed(b).0, Vec::<PathBuf>::new());
    let one = write_snapshot(root, 1);
    // Epoch 2: a delta over 1.
    let mut b = builder(root, 2, 1);
    assert!(chain.begin(&mut b));
    let (names, entries) = listed(b);
    assert_eq!(names, vec![PathBuf::from("chain-n3-s0/0000000001.part")]);
    assert_eq!(entries[0].size, one.len() as u64);
    assert_eq!(
        entries[0].crc,
        file_crc(&one),
        "the manifest's CRC, from the trailer"
    );
    let linked = CheckpointStore::new(root).epoch_dir(2).join(&names[0]);
    assert_eq!(std::fs::read(linked).unwrap(), one);
    let two = write_snapshot(root, 2);
    // Epoch 1's directory goes (retention): epoch 3 links from epoch 2's.
    std::fs::remove_dir_all(CheckpointStore::new(root).epoch_dir(1)).unwrap();
    let mut b = builder(root, 3, 2);
    assert!(chain.begin(&mut b));
    let (names, entries) = listed(b);
    assert_eq!(names.len(), 2);
    assert_eq!(entries[1].crc, file_crc(&two));
    let d3 = CheckpointStore::new(root).epoch_dir(3);
    assert_eq!(std::fs::read(d3.join(&names[0])).unwrap(), one);
    assert_eq!(std::fs::read(d3.join(&names[1])).unwrap(), two);
    write_snapshot(root, 3);
    // Two deltas in a row (max 2): epoch 4 is full, epoch 5 a delta over it alone.
    let mut b = builder(root, 4, 3);
    assert!(!chain.begin(&mut b));
    write_snapshot(root, 4);
    let mut b = builder(root, 5, 4);
    assert!(chain.begin(&mut b));
    assert_eq!(
        listed(b).0,
        vec![PathBuf::from("chain-n3-s0/0000000004.part")]
    );
}

#[test]
fn a_failed_checkpoint_or_a_missing_file_makes_the_next_snapshot_full() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut chain = SnapshotChain::default();
    assert!(!chain.begin(&mut builder(root, 1, 0)));
    write_snapshot(root, 1);
    // Epoch 1's checkpoint did not complete (declined): 2 is full.
    assert!(!chain.begin(&mut builder(root, 2, 0)));
    // Epoch 2 complete, but its file is gone: 3 is full too (a warning says why).
    assert!(!chain.begin(&mut builder(root, 3, 2)));
    write_snapshot(root, 3);
    assert!(chain.begin(&mut builder(root, 4, 3)));
}

#[test]
fn chain_names_stay_inside_the_checkpoint() {
    let enc = |v: Vec<&str>| {
        let mut o = Vec::new();
        v.into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
            .encode(&mut o);
        o
    };
    assert!(decode_names(&enc(vec!["chain-n1-s0/0000000001.part"])).is_ok());
    for bad in ["../x", "/etc/passwd", "", "a/../../b"] {
        assert!(decode_names(&enc(vec![bad])).is_err(), "{bad}");
    }
}

#[test]
fn a_link_that_fails_midway_lists_nothing_and_leaves_no_link() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let long = |epoch, last_complete| {
        let mut b = builder(root, epoch, last_complete);
        b.chain = Some(cx(8, last_complete));
        b
    };
    let mut chain = SnapshotChain::default();
    assert!(!chain.begin(&mut long(1, 0)));
    write_snapshot(root, 1);
    assert!(chain.begin(&mut long(2, 1)));
    write_snapshot(root, 2);
    assert!(chain.begin(&mut long(3, 2)));
    write_snapshot(root, 3);
    // Epoch 3's link of epoch 2's delta is gone: epoch 4 links the base, then fails.
    let d3 = CheckpointStore::new(root).epoch_dir(3);
    std::fs::remove_file(d3.join("chain-n3-s0/0000000002.part")).unwrap();
    let mut b = long(4, 3);
    assert!(!chain.begin(&mut b));
    let (names, entries) = listed(b);
    assert!(
        names.is_empty() && entries.is_empty(),
        "{names:?} {entries:?}"
    );
    let d4 = CheckpointStore::new(root).epoch_dir(4).join("chain-n3-s0");
    let left = std::fs::read_dir(&d4).map(|rd| rd.count()).unwrap_or(0);
    assert_eq!(left, 0, "no link left behind");
}
