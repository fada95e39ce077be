//! Fraud detection embedded in the caller's process: generated card transactions and rule
//! updates are pushed into a running Spate job; the classic walkthrough rule and the
//! dynamic rules (broadcast to every shard) raise alerts, which come back through
//! callbacks. The program prints some alerts, a check against the planted ground truth and
//! an event→alert latency summary.
//!
//! ```text
//! cargo run --release -p spate-workloads --example fraud_detection -- 200000 2
//! ```
//! (arguments: transactions, shards)

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use spate_workloads::fraud::rules::{Aggregate, Comparison, GroupBy, Rule, RuleUpdate};
use spate_workloads::fraud::{
    classic_job, demo_rules, dynamic_job, Planted, Transaction, TransactionGenerator,
};
use spate_workloads::spate::prelude::*;

/// What one run saw.
struct Summary {
    classic: BTreeSet<u64>,
    dynamic: BTreeSet<(u32, u64)>,
    expected: Planted,
    latencies_us: Vec<f64>,
}

/// Alert arrivals: (transaction id, ns since the origin), filled by the job's callbacks.
type Arrivals = Arc<Mutex<Vec<(u64, u64)>>>;

/// A rule no generated traffic reaches, added and removed mid-stream to show updates.
const WATCH: Rule = Rule {
    id: 99,
    group_by: GroupBy::Account,
    aggregate: Aggregate::Count,
    comparison: Comparison::Gt,
    threshold: 1_000,
    window_ms: 1_000,
};

fn run(n: u64, shards: usize, print: bool) -> Result<Summary, SpateError> {
    let env = Env::new().shards(shards).low_latency(true);
    let (input, txns) = env.channel_source::<Transaction>(4096);
    let (rules_in, rules) = env.channel_source::<RuleUpdate>(64);
    let origin = Instant::now();
    let arrivals: Arrivals = Arc::default();
    let classic: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let dynamic: Arc<Mutex<BTreeSet<(u32, u64)>>> = Arc::default();
    let (arr, seen) = (arrivals.clone(), classic.clone());
    classic_job(&txns).for_each(move |a| {
        let now = origin.elapsed().as_nanos() as u64;
        if let (Ok(mut arr), Ok(mut seen)) = (arr.lock(), seen.lock()) {
            arr.push((a.transaction, now));
            if print && seen.len() < 3 {
                println!(
                    "ALERT {}: account {} transaction {}",
                    a.rule, a.account, a.transaction
                );
            }
            seen.insert(a.transaction);
        }
    });
    let (arr, seen) = (arrivals.clone(), dynamic.clone());
    dynamic_job(&txns, &rules, 0).for_each(move |a| {
        let now = origin.elapsed().as_nanos() as u64;
        if let (Ok(mut arr), Ok(mut seen)) = (arr.lock(), seen.lock()) {
            arr.push((a.transaction, now));
            if print && seen.iter().filter(|s| s.0 == a.rule).count() < 2 {
                println!(
                    "ALERT rule {}: {:?} transaction {} value {}",
                    a.rule, a.key, a.transaction, a.value
                );
            }
            seen.insert((a.rule, a.transaction));
        }
    });
    let job = env.start()?;
    for r in demo_rules() {
        rules_in.push(RuleUpdate::Upsert(r))?;
    }
    job.flush()?; // the rules are in force on every shard from here on
    let mut gen = TransactionGenerator::new(11, 10_000);
    // When each transaction was pushed (ids are dense from 1).
    let mut pushed_at = vec![0u64; (n + n / 5 + 1024) as usize];
    let mut push = |t: Transaction| -> Result<(), SpateError> {
        if let Some(slot) = pushed_at.get_mut(t.id as usize) {
            *slot = origin.elapsed().as_nanos() as u64;
        }
        input.push(t)
    };
    for (i, t) in gen.by_ref().take(n as usize).enumerate() {
        if i as u64 == n / 3 {
            rules_in.push(RuleUpdate::Upsert(WATCH))?;
        } else if i as u64 == 2 * n / 3 {
            rules_in.push(RuleUpdate::Remove(WATCH.id))?;
        }
        push(t)?;
    }
    for t in gen.finish() {
        push(t)?;
    }
    job.shutdown()?; // drains: every alert has been delivered
    let latencies_us = arrivals
        .lock()
        .map(|a| {
            a.iter()
                .map(|&(id, at)| {
                    let sent = pushed_at.get(id as usize).copied().unwrap_or(at);
                    at.saturating_sub(sent) as f64 / 1e3
                })
                .collect()
        })
        .unwrap_or_default();
    fn take<T: Clone + Ord>(m: &Mutex<BTreeSet<T>>) -> BTreeSet<T> {
        m.lock().map(|s| s.clone()).unwrap_or_default()
    }
    Ok(Summary {
        classic: take(&classic),
        dynamic: take(&dynamic),
        expected: gen.planted().clone(),
        latencies_us,
    })
}

fn main() -> Result<(), SpateError> {
    let mut args = std::env::args().skip(1);
    let n = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let shards = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let s = run(n, shards, true)?;
    let mut l = s.latencies_us.clone();
    l.sort_by(f64::total_cmp);
    let q = |p: f64| {
        l.get(((l.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "classic rule: {} alerts for {} planted ({} missed, {} unexpected)",
        s.classic.len(),
        s.expected.alerts.len(),
        s.expected.alerts.difference(&s.classic).count(),
        s.classic.difference(&s.expected.alerts).count()
    );
    println!(
        "dynamic rules: {} alerts for {} planted ({} missed, {} unexpected)",
        s.dynamic.len(),
        s.expected.rule_alerts.len(),
        s.expected.rule_alerts.difference(&s.dynamic).count(),
        s.dynamic.difference(&s.expected.rule_alerts).count()
    );
    println!(
        "push→alert latency µs (pushed as fast as the input takes them, so queueing included): \
         p50 {:.1} p99 {:.1} max {:.1} over {} alerts",
        q(0.5),
        q(0.99),
        q(1.0),
        l.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_planted_fraud_alerts_and_nothing_else() {
        for shards in [1, 2] {
            let s = run(20_000, shards, false).expect("job runs");
            assert!(!s.expected.alerts.is_empty() && !s.expected.rule_alerts.is_empty());
            assert_eq!(s.classic, s.expected.alerts, "{shards} shards");
            assert_eq!(s.dynamic, s.expected.rule_alerts, "{shards} shards");
            assert_eq!(
                s.latencies_us.len(),
                s.classic.len() + s.dynamic.len(),
                "one arrival per alert"
            );
        }
    }
}
