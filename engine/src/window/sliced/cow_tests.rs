//! Copy-on-write snapshots of the sliced window operator against the whole snapshot at the
//! barrier: two instances get the same input; at a random point one writes its whole
//! snapshot, the other begins one in steps and keeps processing (tiny steps between
//! batches, watermarks firing windows and dropping slices and keys, out-of-order and late
//! elements). The two files must hold the same entries (with their key groups), and the two
//! instances must emit the same results afterwards.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::checkpoint::format::{parse, SnapshotHeader};
use crate::operators::{Counter, OpInfo, Output, Push, SideOutputs};
use crate::time::ManualClock;
use crate::window::function::AggregateContents;
use crate::window::Count;

type Op = SlicedWindowOp<u64, u64, u64, fn(&u64) -> u64, TimeWindow, AggregateContents<Count>>;

struct Log(Rc<RefCell<Vec<(Timestamp, u64)>>>);

impl Push<u64> for Log {
    fn push(&mut self, b: &mut Batch<u64>) -> Result<()> {
        self.0.borrow_mut().extend(b.drain(..));
        Ok(())
    }
    fn watermark(&mut self, _: Timestamp) -> Result<()> {
        Ok(())
    }
    fn idle(&mut self, _: bool) -> Result<()> {
        Ok(())
    }
    fn barrier(&mut self, _: u64) -> Result<()> {
        Ok(())
    }
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
}

/// One instance with its output.
struct Inst {
    op: Op,
    out: Output<u64>,
    log: Rc<RefCell<Vec<(Timestamp, u64)>>>,
    sides: SideOutputs,
    wm: Timestamp,
}

fn key_of(v: &u64) -> u64 {
    v % 1_000
}

impl Inst {
    fn new(size: i64, slide: i64, lateness: i64) -> Self {
        let mut op: Op = SlicedWindowOp::new(
            key_of as fn(&u64) -> u64,
            AggregateContents(Count),
            Slicing::new(size, slide, 0),
            lateness,
            None,
        );
        let k = snap::need::<u64>(&Default::default(), "key").expect("built in");
        let a = DynCodec::of(snap::need::<u64>(&Default::default(), "acc").expect("built in"));
        op.codecs = Some(Ok((k, a)));
        let log = Rc::new(RefCell::new(Vec::new()));
        Inst {
            op,
            out: Output::new(vec![Box::new(Log(log.clone()))], 1, Counter::default()),
            log,
            sides: SideOutputs::default(),
            wm: crate::time::MIN_WATERMARK,
        }
    }

    fn run(&mut self, ev: &Ev) {
        let info = OpInfo {
            name: Arc::from("w"),
            shard: 0,
        };
        let clock = ManualClock::new(0);
        let mut cx = UnaryCx {
            out: &mut self.out,
            sides: &mut self.sides,
            info: &info,
            watermark: self.wm,
            clock: &clock,
            shards: 1,
        };
        match ev {
            Ev::Batch(b) => {
                let mut batch: Batch<u64> = b.clone();
                self.op.on_batch(&mut batch, &mut cx).expect("batch");
            }
            Ev::Watermark(w) => {
                if *w > self.wm {
                    self.wm = *w;
                    cx.watermark = *w;
                    self.op.on_watermark(*w, &mut cx).expect("watermark");
                }
            }
        }
        self.out.flush().expect("flush");
    }
}

#[derive(Debug, Clone)]
enum Ev {
    Batch(Vec<(Timestamp, u64)>),
    Watermark(Timestamp),
}

fn builder() -> SnapshotBuilder {
    SnapshotBuilder::new(SnapshotHeader {
        epoch: 1,
        operator: 3,
        shard: 0,
        shards: 1,
        max_parallelism: 8,
    })
}

/// Per section: its name and its entries sorted (readers keep the key groups they own
/// whatever the order).
fn entries(file: &[u8]) -> Vec<(String, crate::checkpoint::format::Entries)> {
    let f = parse(file).expect("a valid snapshot file");
    f.sections
        .into_iter()
        .map(|(name, mut e)| {
            e.sort();
            (name, e)
        })
        .collect()
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    let rec = (0u64..12, 0i64..400).prop_map(|(k, ts)| (ts, k));
    let ev = prop_oneof![
        4 => proptest::collection::vec(rec, 1..6).prop_map(Ev::Batch),
        1 => (0i64..450).prop_map(Ev::Watermark),
    ];
    proptest::collection::vec(ev, 1..60)
}

/// Runs `evs` through both instances; `steps` takes a step of `budget` after each event
/// while its snapshot in steps is not complete, and keeps it once it is.
fn run_both(
    whole: &mut Inst,
    steps: &mut Inst,
    evs: &[Ev],
    budget: usize,
    file: &mut Option<SnapshotBuilder>,
    pending: bool,
) {
    let mut pending = pending;
    for ev in evs {
        whole.run(ev);
        steps.run(ev);
        if pending {
            *file = steps.op.snapshot_step(budget).expect("step");
            pending = file.is_none();
        }
    }
}

/// Finishes the snapshot in steps of `steps`, as a barrier or the end does.
fn finish(steps: &mut Inst, file: Option<SnapshotBuilder>) -> Vec<u8> {
    let mut file = file;
    while file.is_none() {
        file = steps.op.snapshot_step(usize::MAX).expect("step");
    }
    file.expect("complete").finish()
}

fn whole_snapshot(i: &mut Inst) -> Vec<u8> {
    let mut b = builder();
    i.op.snapshot(&mut b).expect("snapshot");
    b.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Two snapshots in steps in a row (the second begins where a barrier would finish the
    /// first), each against the whole snapshot at the same point.
    #[test]
    fn a_snapshot_in_steps_equals_the_whole_snapshot_at_the_barrier(
        evs in events(),
        cuts in (any::<proptest::sample::Index>(), any::<proptest::sample::Index>()),
        budget in 1usize..4,
        geometry in prop_oneof![Just((40i64, 10i64)), Just((30, 30)), Just((50, 20))],
        lateness in prop_oneof![Just(0i64), Just(25)],
    ) {
        let (size, slide) = geometry;
        let (a, b) = (cuts.0.index(evs.len() + 1), cuts.1.index(evs.len() + 1));
        let (at1, at2) = (a.min(b), a.max(b));
        let (mut whole, mut steps) = (Inst::new(size, slide, lateness), Inst::new(size, slide, lateness));
        let mut file = None;
        run_both(&mut whole, &mut steps, &evs[..at1], budget, &mut file, false);
        for (from, to) in [(at1, at2), (at2, evs.len())] {
            let expected = whole_snapshot(&mut whole);
            prop_assert!(steps.op.begin_snapshot(builder()).expect("begin").is_none());
            let mut file = None;
            run_both(&mut whole, &mut steps, &evs[from..to], budget, &mut file, true);
            let got = finish(&mut steps, file);
            prop_assert_eq!(entries(&got), entries(&expected), "snapshot at {}", from);
        }
        prop_assert_eq!(&*steps.log.borrow(), &*whole.log.borrow(), "same results");
        // The next snapshot (whole) sees the state the data path left.
        prop_assert_eq!(entries(&whole_snapshot(&mut steps)), entries(&whole_snapshot(&mut whole)));
    }
}
