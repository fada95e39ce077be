//! The regular join: its changelog, applied, equals the SQL join of the inputs (inner, left,
//! right, full outer) on 1–3 shards with batches of 1, 7 and 1024, whatever the order the two
//! inputs interleave in; state TTL in processing time, driven by a manual clock.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::gated::{eventually, Gate, Gated};
use proptest::prelude::*;
use spate::io::{Source, SourceOutput, SourceSplit, SourceStatus};
use spate::join::{Either, JoinChange, JoinType, RegularJoin, RowKind};
use spate::prelude::*;
use spate::state::{StateGauge, StateTtl, TtlUpdate};
use spate::time::ManualClock;

type L = (u8, u32); // (key, id)
type R = (u8, u32);
type Row = (Option<L>, Option<R>);
type Change = JoinChange<L, R>;

/// Applies a changelog: the multiset of rows it leaves. A retraction of a row that is not
/// there, or of a row that is not null-padded, is an error.
fn apply(changes: &[Change]) -> Result<BTreeMap<Row, usize>, String> {
    let mut rows: BTreeMap<Row, usize> = BTreeMap::new();
    for c in changes {
        let row = (c.left, c.right);
        match c.kind {
            RowKind::Insert => *rows.entry(row).or_default() += 1,
            RowKind::Delete => {
                if c.left.is_some() && c.right.is_some() {
                    return Err(format!("a joined row is retracted: {c:?}"));
                }
                match rows.get_mut(&row) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        if *n == 0 {
                            rows.remove(&row);
                        }
                    }
                    _ => return Err(format!("retracts a row not in the result: {c:?}")),
                }
            }
        }
    }
    Ok(rows)
}

/// The SQL join, as a multiset of rows.
fn sql(left: &[L], right: &[R], jt: JoinType) -> BTreeMap<Row, usize> {
    let mut rows: BTreeMap<Row, usize> = BTreeMap::new();
    let lo = matches!(jt, JoinType::LeftOuter | JoinType::FullOuter);
    let ro = matches!(jt, JoinType::RightOuter | JoinType::FullOuter);
    for l in left {
        let mut matched = false;
        for r in right.iter().filter(|r| r.0 == l.0) {
            matched = true;
            *rows.entry((Some(*l), Some(*r))).or_default() += 1;
        }
        if !matched && lo {
            *rows.entry((Some(*l), None)).or_default() += 1;
        }
    }
    for r in right {
        if ro && !left.iter().any(|l| l.0 == r.0) {
            *rows.entry((None, Some(*r))).or_default() += 1;
        }
    }
    rows
}

fn join_types() -> impl Strategy<Value = JoinType> {
    prop_oneof![
        Just(JoinType::Inner),
        Just(JoinType::LeftOuter),
        Just(JoinType::RightOuter),
        Just(JoinType::FullOuter),
    ]
}

fn rows(first_id: u32) -> impl Strategy<Value = Vec<(u8, u32)>> {
    prop::collection::vec(0u8..5, 0..30)
        .prop_map(move |keys| (0u32..).zip(keys).map(|(i, k)| (k, first_id + i)).collect())
}

fn run(
    left: Vec<L>,
    right: Vec<R>,
    jt: JoinType,
    shards: usize,
    batch: usize,
) -> (Vec<Change>, u64) {
    common::within(Duration::from_secs(60), move || {
        let env = Env::new().shards(shards).batch_size(batch);
        let gauge = StateGauge::new();
        // Two sources: the sides interleave in no fixed order.
        let l = env.from_iter(left).key_by(|l| l.0);
        let r = env.from_iter(right).key_by(|r| r.0);
        let out = l
            .connect(&r)
            .regular_join(RegularJoin::new(jt).state_gauge(&gauge))
            .collect();
        env.execute().expect("job fails");
        (out.take(), gauge.current())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn the_applied_changelog_equals_the_sql_join(
        left in rows(0), right in rows(1_000), jt in join_types(),
    ) {
        let expected = sql(&left, &right, jt);
        for (shards, batch) in common::configs() {
            let (changes, stored) = run(left.clone(), right.clone(), jt, shards, batch);
            let got = apply(&changes);
            prop_assert_eq!(got, Ok(expected.clone()), "{:?}, {} shards, batch {}", jt, shards, batch);
            prop_assert_eq!(stored as usize, left.len() + right.len(), "without TTL every row stays");
            if jt == JoinType::Inner {
                prop_assert!(changes.iter().all(|c| c.kind == RowKind::Insert));
            }
        }
    }
}

/// Emits each item after moving the shared clock to its time (shard 0 only).
#[derive(Clone)]
struct Timed(Vec<(i64, Either<L, R>)>, ManualClock);
struct TimedSplit(std::vec::IntoIter<(i64, Either<L, R>)>, ManualClock);

impl SourceSplit<Either<L, R>> for TimedSplit {
    fn poll(
        &mut self,
        out: &mut SourceOutput<'_, Either<L, R>>,
    ) -> Result<SourceStatus, SpateError> {
        Ok(match self.0.next() {
            Some((t, e)) => {
                self.1.set(t);
                out.emit(e);
                SourceStatus::More
            }
            None => SourceStatus::Done,
        })
    }
}

impl Source<Either<L, R>> for Timed {
    fn split(
        &mut self,
        shard: usize,
        _n: usize,
    ) -> Result<Box<dyn SourceSplit<Either<L, R>>>, SpateError> {
        let items = if shard == 0 {
            std::mem::take(&mut self.0)
        } else {
            Vec::new()
        };
        Ok(Box::new(TimedSplit(items.into_iter(), self.1.clone())))
    }
}

/// Runs the join over `items` on one shard with one-record batches, so each row is joined
/// at the processing time of its item.
fn run_timed(items: Vec<(i64, Either<L, R>)>, spec: RegularJoin) -> Vec<Change> {
    common::within(Duration::from_secs(60), move || {
        let clock = ManualClock::new(0);
        let env = Env::new().shards(1).batch_size(1).clock(clock.clone());
        let src = env.add_source("timed", Timed(items, clock));
        let l = src.flat_map(|e: Either<L, R>| e.left()).key_by(|l| l.0);
        let r = src.flat_map(|e: Either<L, R>| e.right()).key_by(|r| r.0);
        let out = l.connect(&r).regular_join(spec).collect();
        env.execute().expect("job fails");
        out.take()
    })
}

fn ins(l: Option<L>, r: Option<R>) -> Change {
    JoinChange {
        kind: RowKind::Insert,
        left: l,
        right: r,
    }
}
fn del(l: Option<L>, r: Option<R>) -> Change {
    JoinChange {
        kind: RowKind::Delete,
        left: l,
        right: r,
    }
}

#[test]
fn rows_expire_ttl_after_their_last_write_and_expiry_retracts_nothing() {
    let (a, a2) = ((1u8, 1u32), (1, 2));
    let (b, b2, b3) = ((1u8, 10u32), (1, 11), (1, 12));
    let items = vec![
        // +I (a, -)
        (0, Either::Left(a)),
        // -D (a, -), +I (a, b): a's match count is written at 400, its TTL restarts.
        (400, Either::Right(b)),
        // a lives until 1 400: +I (a, b2); written again, it lives until 2 300.
        (1_300, Either::Right(b2)),
        // b (touched at 400) is gone, b2 (1 300) lives until 2 300: +I (a2, b2). b2, on
        // the inner side, counts no matches: not written.
        (2_299, Either::Left(a2)),
        // a expires at 2 300 exactly (nothing is retracted); a2 matches: +I (a2, b3).
        (2_300, Either::Right(b3)),
    ];
    let got = run_timed(items, RegularJoin::left_outer().ttl(StateTtl::new(1_000)));
    assert_eq!(
        got,
        vec![
            ins(Some(a), None),
            del(Some(a), None),
            ins(Some(a), Some(b)),
            ins(Some(a), Some(b2)),
            ins(Some(a2), Some(b2)),
            ins(Some(a2), Some(b3)),
        ]
    );
}

#[test]
fn read_refreshes_ttl_only_when_asked_and_sides_have_their_own_ttl() {
    let (a, b, b2) = ((1u8, 1u32), (1u8, 10u32), (1u8, 11u32));
    // Inner join: only a read refreshes a row (no match count is kept for inner sides).
    let items = vec![
        (0, Either::Left(a)),
        (900, Either::Right(b)),    // reads a at 900
        (1_500, Either::Right(b2)), // a: 0 + 1 000 <= 1 500 expired, unless read at 900
    ];
    let on_write = RegularJoin::inner().left_ttl(StateTtl::new(1_000));
    assert_eq!(
        run_timed(items.clone(), on_write),
        vec![ins(Some(a), Some(b))]
    );
    let on_read =
        RegularJoin::inner().left_ttl(StateTtl::new(1_000).update_on(TtlUpdate::OnReadAndWrite));
    assert_eq!(
        run_timed(items, on_read),
        vec![ins(Some(a), Some(b)), ins(Some(a), Some(b2))]
    );
    // Right rows without TTL stay; left rows with a short TTL go.
    let items = vec![
        (0, Either::Right(b)),
        (0, Either::Left(a)),
        (100, Either::Left((1, 2))),
        (5_000, Either::Left((1, 3))),
    ];
    let spec = RegularJoin::full_outer().left_ttl(StateTtl::new(50));
    assert_eq!(
        run_timed(items, spec),
        vec![
            ins(None, Some(b)),
            del(None, Some(b)),
            ins(Some(a), Some(b)),
            ins(Some((1, 2)), Some(b)),
            ins(Some((1, 3)), Some(b)),
        ]
    );
}

#[test]
fn expired_rows_are_dropped_by_timers_and_later_rows_join_only_each_other() {
    for (shards, batch) in common::configs() {
        for jt in [
            JoinType::Inner,
            JoinType::LeftOuter,
            JoinType::RightOuter,
            JoinType::FullOuter,
        ] {
            let rows = |n: u8, keys: u8, first: u32| -> Vec<L> {
                (0..n).map(|i| (i % keys, first + u32::from(i))).collect()
            };
            let (l1, r1, l2, r2) = (
                rows(6, 3, 0),
                rows(4, 4, 100),
                rows(4, 2, 200),
                rows(5, 5, 300),
            );
            let mut items: Vec<(usize, Either<L, R>)> = Vec::new();
            items.extend(l1.iter().map(|l| (0, Either::Left(*l))));
            items.extend(r1.iter().map(|r| (0, Either::Right(*r))));
            items.extend(l2.iter().map(|l| (1, Either::Left(*l))));
            items.extend(r2.iter().map(|r| (1, Either::Right(*r))));
            let gate = Gate::default();
            let source = Gated {
                items,
                end: 2,
                gate: gate.clone(),
            };
            let clock = ManualClock::new(0);
            let gauge = StateGauge::new();
            let (c, g) = (clock.clone(), gauge.clone());
            let job = std::thread::spawn(move || {
                let env = Env::new().shards(shards).batch_size(batch).clock(c);
                let src = env.add_source("gated", source);
                let l = src.flat_map(|e: Either<L, R>| e.left()).key_by(|l| l.0);
                let r = src.flat_map(|e: Either<L, R>| e.right()).key_by(|r| r.0);
                let spec = RegularJoin::new(jt)
                    .ttl(StateTtl::new(1_000))
                    .state_gauge(&g);
                let out = l.connect(&r).regular_join(spec).collect();
                env.execute().map(|_| out.take())
            });
            let limit = Duration::from_secs(20);
            let first = l1.len() + r1.len();
            eventually(limit, "the first rows stored", || {
                gauge.current() == first as u64
            });
            clock.set(5_000);
            eventually(limit, "expired rows dropped by their timers", || {
                gauge.current() == 0
            });
            gate.open(1);
            gate.open(2);
            let changes = job.join().expect("job thread").expect("job fails");
            let mut expected = sql(&l1, &r1, jt);
            for (row, n) in sql(&l2, &r2, jt) {
                *expected.entry(row).or_default() += n;
            }
            assert_eq!(
                apply(&changes),
                Ok(expected),
                "{jt:?}, {shards} shards, batch {batch}"
            );
            assert_eq!(gauge.current() as usize, l2.len() + r2.len());
        }
    }
}
