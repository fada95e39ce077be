//! The walkthrough rule on hand-written sequences and on generated traffic with planted
//! fraud, on 1–3 shards.

use std::collections::BTreeSet;

use spate::prelude::*;

use super::*;

fn t(id: u64, account: u64, amount_cents: i64, ts: i64) -> Transaction {
    Transaction {
        id,
        account,
        beneficiary: 0,
        amount_cents,
        ts,
    }
}

fn alerts(txns: Vec<Transaction>, shards: usize, batch: usize) -> BTreeSet<u64> {
    let env = Env::new().shards(shards).batch_size(batch);
    let out = classic_job(&env.from_iter(txns)).collect();
    env.execute().expect("job runs");
    let got = out.take();
    assert!(got.iter().all(|a| a.rule == classic::RULE));
    got.into_iter().map(|a| a.transaction).collect()
}

#[test]
fn the_walkthrough_rule_on_its_boundaries() {
    let txns = vec![
        // Account 1: small, large exactly one minute later: alert.
        t(1, 1, 99, 0),
        t(2, 1, 50_001, ONE_MINUTE_MS),
        // Account 2: small, large one minute and 1 ms later: none.
        t(3, 2, 1, 10),
        t(4, 2, 900_000, 10 + ONE_MINUTE_MS + 1),
        // Account 3: exactly $1.00 is not small: none.
        t(5, 3, 100, 20),
        t(6, 3, 60_000, 30),
        // Account 4: exactly $500.00 is not large: none; then small, large: alert.
        t(7, 4, 50, 40),
        t(8, 4, 50_000, 50),
        t(9, 4, 50, 60),
        t(10, 4, 70_000, 70),
        // Account 5: small, ordinary, large: the flag is gone.
        t(11, 5, 10, 80),
        t(12, 5, 2_000, 90),
        t(13, 5, 70_000, 100),
        // Account 6: small, small, large: the second small flags again.
        t(14, 6, 10, 110),
        t(15, 6, 20, 120),
        t(16, 6, 70_000, 130),
        // Account 7: large first, then small: nothing.
        t(17, 7, 70_000, 140),
        t(18, 7, 10, 150),
    ];
    let mut sorted = txns.clone();
    sorted.sort_by_key(|x| x.ts);
    for shards in [1, 2, 3] {
        for batch in [1, 7, 1024] {
            assert_eq!(
                alerts(sorted.clone(), shards, batch),
                BTreeSet::from([2, 10, 16]),
                "{shards} shards, batch {batch}"
            );
        }
    }
}

#[test]
fn every_planted_fraud_is_flagged_and_nothing_else() {
    let mut g = TransactionGenerator::new(7, 500);
    let mut txns: Vec<Transaction> = g.by_ref().take(20_000).collect();
    txns.extend(g.finish());
    let planted = g.planted().clone();
    assert!(planted.alerts.len() > 50, "{planted:?}");
    assert!(planted.near_misses > 50, "{planted:?}");
    assert!(
        txns.windows(2).all(|w| w[0].ts <= w[1].ts),
        "in event-time order"
    );
    for shards in [1, 2, 3] {
        for batch in [7, 1024] {
            let got = alerts(txns.clone(), shards, batch);
            assert_eq!(got, planted.alerts, "{shards} shards, batch {batch}");
        }
    }
}

#[test]
fn the_generator_is_deterministic() {
    let a: Vec<_> = TransactionGenerator::new(3, 10).take(1000).collect();
    let b: Vec<_> = TransactionGenerator::new(3, 10).take(1000).collect();
    assert_eq!(a, b);
    let c: Vec<_> = TransactionGenerator::new(4, 10).take(1000).collect();
    assert_ne!(a, c);
}

/// The classic rule and the demo rules together, embedded: the rules are pushed first,
/// then the generated stream.
fn all_alerts(
    txns: &[Transaction],
    shards: usize,
    batch: usize,
) -> (BTreeSet<u64>, BTreeSet<(u32, u64)>) {
    let env = Env::new()
        .shards(shards)
        .batch_size(batch)
        .low_latency(true);
    let (txns_in, stream) = env.channel_source::<Transaction>(1024);
    let (rules_in, rules) = env.channel_source::<rules::RuleUpdate>(16);
    let classic = classic_job(&stream).to_channel(1 << 20);
    let dynamic = dynamic_job(&stream, &rules, 0).to_channel(1 << 20);
    let job = env.start().expect("job starts");
    for r in demo_rules() {
        rules_in
            .push(rules::RuleUpdate::Upsert(r))
            .expect("push rule");
    }
    job.flush().expect("flush");
    for t in txns {
        txns_in.push(*t).expect("push transaction");
    }
    job.shutdown().expect("shutdown");
    let mut c = BTreeSet::new();
    while let Some(a) = classic.try_recv() {
        c.insert(a.transaction);
    }
    let mut d = BTreeSet::new();
    while let Some(a) = dynamic.try_recv() {
        assert!(
            d.insert((a.rule, a.transaction)),
            "one alert per rule and transaction"
        );
    }
    (c, d)
}

#[test]
fn every_planted_rule_case_is_flagged_and_nothing_else() {
    let mut g = TransactionGenerator::new(9, 5_000);
    let mut txns: Vec<Transaction> = g.by_ref().take(30_000).collect();
    txns.extend(g.finish());
    let planted = g.planted().clone();
    for rule in 1..=3 {
        let n = planted.rule_alerts.iter().filter(|a| a.0 == rule).count();
        assert!(n > 10, "rule {rule}: {n} planted cases");
    }
    for (shards, batch) in [(1, 1024), (2, 7), (3, 1024)] {
        let (classic, dynamic) = all_alerts(&txns, shards, batch);
        assert_eq!(classic, planted.alerts, "classic, {shards} shards");
        assert_eq!(dynamic, planted.rule_alerts, "dynamic, {shards} shards");
    }
}
