use std::cell::RefCell;
use std::rc::Rc;

use proptest::prelude::*;

use super::*;
use crate::operators::{Counter, Push};
use crate::time::{BoundedOutOfOrderness, MAX_WATERMARK};

/// What reaches the source's consumer, in order.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Rec(Timestamp, u64),
    Wm(Timestamp),
    Idle(bool),
}

type EvLog = Rc<RefCell<Vec<Ev>>>;

struct Log(EvLog);
impl Push<u64> for Log {
    fn push(&mut self, b: &mut Batch<u64>) -> Result<()> {
        let mut l = self.0.borrow_mut();
        l.extend(b.drain(..).map(|(ts, v)| Ev::Rec(ts, v)));
        Ok(())
    }
    fn watermark(&mut self, wm: Timestamp) -> Result<()> {
        self.0.borrow_mut().push(Ev::Wm(wm));
        Ok(())
    }
    fn idle(&mut self, idle: bool) -> Result<()> {
        self.0.borrow_mut().push(Ev::Idle(idle));
        Ok(())
    }
    fn barrier(&mut self, _: u64) -> Result<()> {
        Ok(())
    }
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
}

type Strategy = WatermarkStrategy<u64, fn(&u64) -> Timestamp, BoundedOutOfOrderness>;

fn ts_of(v: &u64) -> Timestamp {
    *v as Timestamp
}

/// Per-split watermarks over `splits` splits (record = its timestamp), and the log of
/// what they emit.
fn per_split(
    splits: usize,
    strategy: Strategy,
    interval_ms: i64,
) -> (Box<dyn SplitWatermarks<u64>>, Output<u64>, EvLog) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let out = Output::new(vec![Box::new(Log(log.clone()))], 1024, Counter::default());
    let make = FromStrategy {
        strategy,
        interval_ms,
    };
    (make.make(splits), out, log)
}

fn monotonous() -> Strategy {
    WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(ts_of as fn(&u64) -> _)
}

fn batch(w: &mut dyn SplitWatermarks<u64>, out: &mut Output<u64>, slot: usize, ts: &[u64]) {
    let mut b: Batch<u64> = ts.iter().map(|t| (0, *t)).collect();
    w.on_batch(slot, &mut b, out).unwrap();
    out.flush().unwrap();
}

fn take(log: &EvLog) -> Vec<Ev> {
    std::mem::take(&mut *log.borrow_mut())
}

#[test]
fn the_shard_follows_its_slowest_split_and_a_done_split_stops_holding_it() {
    let (mut w, mut out, log) = per_split(2, monotonous().punctuated(), 0);
    batch(&mut *w, &mut out, 0, &[100, 101]);
    // Split 1 has emitted nothing: it holds the shard at the minimum.
    assert_eq!(take(&log), vec![Ev::Rec(100, 100), Ev::Rec(101, 101)]);
    batch(&mut *w, &mut out, 1, &[5, 7]);
    assert_eq!(
        take(&log),
        vec![Ev::Rec(5, 5), Ev::Wm(4), Ev::Rec(7, 7), Ev::Wm(6)]
    );
    batch(&mut *w, &mut out, 0, &[300]);
    assert_eq!(take(&log), vec![Ev::Rec(300, 300)]);
    w.on_done(1, &mut out).unwrap();
    assert_eq!(take(&log), vec![Ev::Wm(299)]);
    w.on_done(0, &mut out).unwrap();
    assert_eq!(take(&log), vec![], "the end of input brings +inf, not this");
}

#[test]
fn idle_splits_are_left_out_and_the_shard_is_idle_when_all_are() {
    let strategy = monotonous().with_idleness(10);
    let (mut w, mut out, log) = per_split(2, strategy, 5);
    batch(&mut *w, &mut out, 0, &[50]);
    batch(&mut *w, &mut out, 1, &[20]);
    take(&log);
    w.on_time(0, &mut out).unwrap(); // starts the interval
    w.on_time(5, &mut out).unwrap();
    assert_eq!(take(&log), vec![Ev::Wm(19)]);
    // Split 1 receives nothing from here; split 0 goes on.
    for t in [10, 15, 20, 25] {
        batch(&mut *w, &mut out, 0, &[50 + t as u64]);
        w.on_time(t, &mut out).unwrap();
    }
    let l = take(&log);
    assert!(
        l.contains(&Ev::Wm(74)),
        "split 1 idle: the shard follows split 0: {l:?}"
    );
    assert!(!l.contains(&Ev::Idle(true)));
    // Split 0 stops too: the shard goes idle once both are.
    for t in [30, 35, 40, 45] {
        w.on_time(t, &mut out).unwrap();
    }
    assert_eq!(take(&log), vec![Ev::Idle(true)]);
    // A record of split 1 makes it (and the shard) active before the record.
    batch(&mut *w, &mut out, 1, &[30]);
    assert_eq!(take(&log), vec![Ev::Idle(false), Ev::Rec(30, 30)]);
}

proptest! {
    /// Against a naive model: after any interleaving of batches of splits whose own
    /// timestamps grow, no record is behind a watermark sent before it, and the last
    /// watermark is the minimum over the splits not done of the highest timestamp each has
    /// sent − 1 (the lowest watermark while one has sent nothing).
    #[test]
    fn no_record_is_late_and_the_watermark_is_the_slowest_splits(
        splits in 1usize..4,
        steps in prop::collection::vec((0usize..4, 1u64..5, 0u64..40, any::<bool>()), 1..40),
    ) {
        let (mut w, mut out, log) = per_split(splits, monotonous().punctuated(), 0);
        let mut next = vec![0u64; splits];
        let mut seen: Vec<Option<u64>> = vec![None; splits];
        let mut done = vec![false; splits];
        for (s, n, jump, finish) in steps {
            let s = s % splits;
            if done[s] {
                continue;
            }
            let ts: Vec<u64> = (0..n).map(|i| next[s] + jump + i).collect();
            next[s] = ts[ts.len() - 1] + 1;
            seen[s] = Some(next[s] - 1);
            batch(&mut *w, &mut out, s, &ts);
            if finish {
                done[s] = true;
                w.on_done(s, &mut out).unwrap();
            }
        }
        let l = take(&log);
        let mut wm = MIN_WATERMARK;
        for e in &l {
            match e {
                Ev::Rec(ts, _) => prop_assert!(*ts > wm, "record {ts} after watermark {wm}"),
                Ev::Wm(w2) => {
                    prop_assert!(*w2 > wm && *w2 < MAX_WATERMARK);
                    wm = *w2;
                }
                Ev::Idle(_) => prop_assert!(false, "no idleness without timers"),
            }
        }
        // The minimum over the splits not done only grows (their watermarks grow, the set
        // shrinks): the last watermark sent is its value now.
        let live: Vec<Timestamp> = (0..splits)
            .filter(|s| !done[*s])
            .map(|s| seen[s].map_or(MIN_WATERMARK, |t| t as Timestamp - 1))
            .collect();
        if let Some(min) = live.iter().min() {
            prop_assert_eq!(wm, *min);
        }
    }
}
