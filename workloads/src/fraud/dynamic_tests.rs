//! Dynamic rules: hand-written add/change/remove sequences on their boundaries, and random
//! sequences against a naive reference, on 1–3 shards with tiny batches, in an embedded job
//! (a flush after each step fixes which rules a transaction meets).

use std::collections::BTreeMap;

use proptest::prelude::*;
use spate::prelude::*;

use super::rules::*;
use super::*;

/// One step of a scenario: a rule update, or transactions.
#[derive(Debug, Clone)]
enum Step {
    Rule(RuleUpdate),
    Txns(Vec<Transaction>),
}

/// Runs the steps through [`dynamic_job_stamped`] (flushing after each) and returns the
/// alerts.
fn run(steps: &[Step], shards: usize, batch: usize, max_delay: i64) -> Vec<RuleAlert> {
    let env = Env::new()
        .shards(shards)
        .batch_size(batch)
        .low_latency(true);
    let (txns_in, txns) = env.channel_source::<Transaction>(256);
    let (rules_in, rules) = env.channel_source::<RuleUpdate>(16);
    // Punctuated watermarks (one after every transaction), so that the windows' eviction
    // timers fire between transactions, not only at the end.
    let txns = txns.assign_timestamps_and_watermarks(
        WatermarkStrategy::for_bounded_out_of_orderness(max_delay)
            .with_timestamp_assigner(|t: &Transaction| t.ts)
            .punctuated(),
    );
    let alerts = dynamic_job_stamped(&txns, &rules).to_channel(1 << 16);
    let job = env.start().expect("job starts");
    let mut got = Vec::new();
    for s in steps {
        match s {
            Step::Rule(u) => rules_in.push(*u).expect("push rule"),
            Step::Txns(ts) => {
                for t in ts {
                    txns_in.push(*t).expect("push transaction");
                }
            }
        }
        job.flush().expect("flush");
        while let Some(a) = alerts.try_recv() {
            got.push(a);
        }
    }
    job.shutdown().expect("shutdown");
    while let Some(a) = alerts.try_recv() {
        got.push(a);
    }
    got.sort();
    got
}

/// The naive reference: every rule version keeps every transaction it saw per group and
/// judges the whole list.
fn reference(steps: &[Step]) -> Vec<RuleAlert> {
    let mut rules: BTreeMap<u32, (u64, Option<Rule>)> = BTreeMap::new();
    let mut windows: BTreeMap<(u32, u64, GroupKey), Vec<(i64, i64)>> = BTreeMap::new();
    let mut out = Vec::new();
    for s in steps {
        match s {
            Step::Rule(u) => {
                let (id, r) = match *u {
                    RuleUpdate::Upsert(r) => (r.id, Some(r)),
                    RuleUpdate::Remove(id) => (id, None),
                };
                let v = rules.get(&id).map_or(0, |e| e.0) + 1;
                rules.insert(id, (v, r));
            }
            Step::Txns(ts) => {
                for t in ts {
                    for (&id, &(v, r)) in &rules {
                        let Some(r) = r else { continue };
                        let key = r.group_by.key(t);
                        let w = windows.entry((id, v, key)).or_default();
                        w.push((t.ts, t.amount_cents));
                        let from = t.ts - r.window_ms;
                        let inside: Vec<i64> = w
                            .iter()
                            .filter(|e| e.0 >= from && e.0 <= t.ts)
                            .map(|e| e.1)
                            .collect();
                        let value = match r.aggregate {
                            Aggregate::Sum => inside.iter().sum(),
                            Aggregate::Count => inside.len() as i64,
                            Aggregate::Max => inside.iter().copied().max().unwrap_or(i64::MIN),
                        };
                        if r.comparison.holds(value, r.threshold) {
                            out.push(RuleAlert {
                                rule: id,
                                key,
                                transaction: t.id,
                                ts: t.ts,
                                value,
                            });
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out
}

fn rule(id: u32, g: GroupBy, a: Aggregate, c: Comparison, threshold: i64, window_ms: i64) -> Rule {
    Rule {
        id,
        group_by: g,
        aggregate: a,
        comparison: c,
        threshold,
        window_ms,
    }
}

fn txn(id: u64, account: u64, beneficiary: u64, amount_cents: i64, ts: i64) -> Transaction {
    Transaction {
        id,
        account,
        beneficiary,
        amount_cents,
        ts,
    }
}

#[test]
fn rules_added_changed_and_removed_mid_stream_on_their_boundaries() {
    use Aggregate::*;
    use Comparison::*;
    use GroupBy::*;
    let r1 = rule(1, Account, Sum, Gt, 1_000, 100);
    let steps = vec![
        // Before any rule: nothing.
        Step::Txns(vec![txn(1, 1, 9, 5_000, 0)]),
        Step::Rule(RuleUpdate::Upsert(r1)),
        Step::Txns(vec![
            txn(2, 1, 9, 600, 10),
            // Sum over [10, 110] is 1 000: not > 1 000.
            txn(3, 1, 9, 400, 110),
            // 1 001, the window's start (10) included: alert.
            txn(4, 1, 9, 1, 110),
            // [111, 211]: 1 000 alone; 10 and 110 have left.
            txn(5, 1, 9, 1_000, 211),
        ]),
        // Change: >= instead of >; windows start empty.
        Step::Rule(RuleUpdate::Upsert(rule(1, Account, Sum, Ge, 1_000, 100))),
        Step::Txns(vec![
            txn(6, 1, 9, 999, 212),
            // 999 + 1 = 1 000 >= 1 000: alert (the 1 000 at 211 was before the change).
            txn(7, 1, 9, 1, 213),
        ]),
        // Rule 2: two transactions of the same pair in the same ms (window 0).
        Step::Rule(RuleUpdate::Upsert(rule(2, Pair, Count, Ge, 2, 0))),
        Step::Txns(vec![
            txn(8, 3, 4, 1, 300),
            txn(9, 3, 5, 1, 300),
            txn(10, 3, 4, 1, 301),
            // Same pair, same ms as 10: alert from rule 2 only.
            txn(11, 3, 4, 1, 301),
        ]),
        // Remove rule 1: account 1 no longer alerts.
        Step::Rule(RuleUpdate::Remove(1)),
        Step::Txns(vec![txn(12, 1, 9, 9_999, 400)]),
        // Rule 3: a beneficiary's largest amount in 50 ms is exactly 777; rule 4: an
        // account's largest amount in 50 ms is below 10 (only tiny payments).
        Step::Rule(RuleUpdate::Upsert(rule(3, Beneficiary, Max, Eq, 777, 50))),
        Step::Rule(RuleUpdate::Upsert(rule(4, Account, Max, Lt, 10, 50))),
        Step::Txns(vec![
            txn(13, 5, 7, 777, 500),
            txn(14, 6, 7, 9, 501),
            txn(15, 6, 7, 800, 552),
            txn(16, 6, 7, 2, 603),
        ]),
        // Rule 1 again, as before: a new version, empty windows.
        Step::Rule(RuleUpdate::Upsert(r1)),
        Step::Txns(vec![txn(17, 1, 9, 1_001, 700)]),
        // Removing a rule that does not exist changes nothing.
        Step::Rule(RuleUpdate::Remove(77)),
        Step::Txns(vec![txn(18, 1, 9, 1, 701)]),
    ];
    let a = |rule, key, transaction, ts, value| RuleAlert {
        rule,
        key,
        transaction,
        ts,
        value,
    };
    let mut want = vec![
        a(1, GroupKey::Account(1), 4, 110, 1_001),
        a(1, GroupKey::Account(1), 7, 213, 1_000),
        a(2, GroupKey::Pair(3, 4), 11, 301, 2),
        a(3, GroupKey::Beneficiary(7), 13, 500, 777),
        // 14: max(777, 9) = 777 for beneficiary 7.
        a(3, GroupKey::Beneficiary(7), 14, 501, 777),
        a(4, GroupKey::Account(6), 14, 501, 9),
        // 16: [553, 603] for account 6 holds 2 only (800 was at 552).
        a(4, GroupKey::Account(6), 16, 603, 2),
        a(1, GroupKey::Account(1), 17, 700, 1_001),
        a(1, GroupKey::Account(1), 18, 701, 1_002),
    ];
    want.sort();
    assert_eq!(
        reference(&steps),
        want,
        "the reference agrees with the hand count"
    );
    for shards in [1, 2, 3] {
        for batch in [1, 1024] {
            assert_eq!(
                run(&steps, shards, batch, 0),
                want,
                "{shards} shards, batch {batch}"
            );
        }
    }
}

#[test]
fn an_invalid_rule_fails_the_job_with_an_error_naming_it() {
    let env = Env::new().shards(2);
    let bad = rule(42, GroupBy::Account, Aggregate::Sum, Comparison::Gt, 1, -5);
    let _alerts = dynamic_job(
        &env.from_iter(vec![txn(1, 1, 1, 1, 0)]),
        &env.from_iter(vec![RuleUpdate::Upsert(bad)]),
        0,
    )
    .collect();
    let msg = env.execute().expect_err("the rule is refused").to_string();
    assert!(msg.contains("invalid fraud rule 42"), "{msg}");
}

/// Most records are at most this far behind the newest (none late).
const MAX_DELAY: i64 = 15;

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let rule = (
        0u32..3,
        prop_oneof![
            Just(GroupBy::Account),
            Just(GroupBy::Beneficiary),
            Just(GroupBy::Pair)
        ],
        prop_oneof![
            Just(Aggregate::Sum),
            Just(Aggregate::Count),
            Just(Aggregate::Max)
        ],
        prop_oneof![
            Just(Comparison::Gt),
            Just(Comparison::Ge),
            Just(Comparison::Lt),
            Just(Comparison::Le),
            Just(Comparison::Eq)
        ],
        0i64..40,
        0i64..60,
    )
        .prop_map(|(id, g, a, c, th, w)| {
            // Thresholds in the range of each aggregate.
            let threshold = match a {
                Aggregate::Count => th / 8,
                _ => th * 3,
            };
            RuleUpdate::Upsert(Rule {
                id,
                group_by: g,
                aggregate: a,
                comparison: c,
                threshold,
                window_ms: w,
            })
        });
    let update = prop_oneof![3 => rule, 1 => (0u32..3).prop_map(RuleUpdate::Remove)];
    let txns = prop::collection::vec(
        (0u64..3, 0u64..3, 0i64..40, 0i64..8, 0i64..MAX_DELAY),
        1..12,
    );
    let step = prop_oneof![
        1 => update.prop_map(Step::Rule),
        2 => txns.prop_map(|v| Step::Txns(v.into_iter().map(|(a, b, amt, dt, j)| txn(0, a, b, amt, dt * 1_000 + j)).collect())),
    ];
    prop::collection::vec(step, 1..10).prop_map(|mut steps| {
        // Ids dense from 1; times: increasing bases (dt, stored in thousands) plus jitter.
        let (mut id, mut base) = (0, 0);
        for s in &mut steps {
            if let Step::Txns(ts) = s {
                for t in ts {
                    id += 1;
                    base += t.ts / 1_000;
                    t.id = id;
                    t.ts = base + t.ts % 1_000;
                }
            }
        }
        steps
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn dynamic_rules_match_the_reference(steps in steps()) {
        let want = reference(&steps);
        for shards in [1, 2, 3] {
            for batch in [1, 1024] {
                prop_assert_eq!(&run(&steps, shards, batch, MAX_DELAY), &want, "{} shards, batch {}", shards, batch);
            }
        }
    }
}
