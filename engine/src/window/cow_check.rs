//! Test harness for copy-on-write snapshots of window operators, against the whole snapshot
//! at the barrier: two instances get the same input; at two random points one writes its
//! whole snapshot, the other begins one in steps and keeps processing (tiny steps between
//! batches, watermarks firing windows and dropping state, out-of-order and late elements).
//! The two files must hold the same entries (with their key groups), and the two instances
//! must emit the same results.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use proptest::prelude::*;

use crate::checkpoint::format::{parse, Entries, SnapshotBuilder, SnapshotHeader};
use crate::error::Result;
use crate::operators::unary::{Unary, UnaryCx};
use crate::operators::{Batch, Counter, OpInfo, Output, Push, SideOutputs};
use crate::time::{ManualClock, Timestamp};

type Records = Rc<RefCell<Vec<(Timestamp, u64)>>>;

struct Log(Records);

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

/// An input event.
#[derive(Debug, Clone)]
pub(crate) enum Ev {
    Batch(Vec<(Timestamp, u64)>),
    Watermark(Timestamp),
}

/// Batches of 1–5 records of 12 keys over 400 ms, and watermarks, in any order.
pub(crate) fn events() -> impl Strategy<Value = Vec<Ev>> {
    let rec = (0u64..12, 0i64..400).prop_map(|(k, ts)| (ts, k));
    let ev = prop_oneof![
        4 => proptest::collection::vec(rec, 1..6).prop_map(Ev::Batch),
        1 => (0i64..450).prop_map(Ev::Watermark),
    ];
    proptest::collection::vec(ev, 1..60)
}

/// One instance of an operator with its output.
pub(crate) struct Inst<U> {
    pub(crate) op: U,
    out: Output<u64>,
    pub(crate) log: Records,
    sides: SideOutputs,
    pub(crate) wm: Timestamp,
}

impl<U: Unary<In = u64, Out = u64>> Inst<U> {
    pub(crate) fn new(op: U) -> Self {
        let log = Rc::new(RefCell::new(Vec::new()));
        Inst {
            op,
            out: Output::new(vec![Box::new(Log(log.clone()))], 1, Counter::default()),
            log,
            sides: SideOutputs::default(),
            wm: crate::time::MIN_WATERMARK,
        }
    }

    pub(crate) fn run(&mut self, ev: &Ev) {
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

    pub(crate) fn whole_snapshot(&mut self) -> Vec<u8> {
        let mut b = builder();
        self.op.snapshot(&mut b).expect("snapshot");
        b.finish()
    }
}

pub(crate) fn builder() -> SnapshotBuilder {
    SnapshotBuilder::new(SnapshotHeader::test(3, 0, 1, 8))
}

/// Per section (by name): its entries sorted (readers keep the key groups they own
/// whatever the order, and find sections by name).
pub(crate) fn entries(file: &[u8]) -> Vec<(String, Entries)> {
    let f = parse(file).expect("a valid snapshot file");
    let mut s: Vec<(String, Entries)> = f
        .sections
        .into_iter()
        .map(|(name, mut e)| {
            e.sort();
            (name, e)
        })
        .collect();
    s.sort();
    s
}

/// Runs `evs` through both instances; `steps` takes a step of `budget` after each event
/// while its snapshot in steps is not complete; then finishes it, as a barrier does.
pub(crate) fn run_both<U: Unary<In = u64, Out = u64>>(
    whole: &mut Inst<U>,
    steps: &mut Inst<U>,
    evs: &[Ev],
    budget: usize,
    pending: bool,
) -> Option<Vec<u8>> {
    let mut file = None;
    for ev in evs {
        whole.run(ev);
        steps.run(ev);
        if pending && file.is_none() {
            file = steps.op.snapshot_step(budget).expect("step");
        }
    }
    if !pending {
        return None;
    }
    while file.is_none() {
        file = steps.op.snapshot_step(usize::MAX).expect("step");
    }
    file.map(SnapshotBuilder::finish)
}

/// Two snapshots in steps in a row on an instance made by `make` (the second begins where
/// a barrier would finish the first), at `cuts` into `evs`, each against the whole
/// snapshot of a twin at the same point; then the same results and the same next snapshot.
pub(crate) fn two_snapshots_in_steps<U: Unary<In = u64, Out = u64>>(
    make: impl Fn() -> U,
    evs: &[Ev],
    cuts: (usize, usize),
    budget: usize,
) -> std::result::Result<(), TestCaseError> {
    let (at1, at2) = (cuts.0.min(cuts.1), cuts.0.max(cuts.1));
    let (mut whole, mut steps) = (Inst::new(make()), Inst::new(make()));
    run_both(&mut whole, &mut steps, &evs[..at1], budget, false);
    for (from, to) in [(at1, at2), (at2, evs.len())] {
        let expected = whole.whole_snapshot();
        prop_assert!(steps.op.begin_snapshot(builder()).expect("begin").is_none());
        let got = run_both(&mut whole, &mut steps, &evs[from..to], budget, true);
        prop_assert_eq!(
            entries(&got.expect("finished")),
            entries(&expected),
            "snapshot at {}",
            from
        );
    }
    prop_assert_eq!(&*steps.log.borrow(), &*whole.log.borrow(), "same results");
    // The next snapshot (whole) sees the state the data path left.
    prop_assert_eq!(
        entries(&steps.whole_snapshot()),
        entries(&whole.whole_snapshot())
    );
    Ok(())
}
