//! Fraud detection embedded in the caller's process: generated card transactions are
//! pushed into a running Spate job, alerts come back through a channel, and the program
//! prints them with a latency summary and a check against the planted ground truth.
//!
//! ```text
//! cargo run --release -p spate-workloads --example fraud_detection -- 200000 2
//! ```
//! (arguments: transactions, shards)

use std::collections::BTreeSet;
use std::time::Instant;

use spate_workloads::fraud::{SmallThenLarge, Transaction, TransactionGenerator};
use spate_workloads::spate::prelude::*;

/// What one run saw.
struct Summary {
    alerts: BTreeSet<u64>,
    expected: BTreeSet<u64>,
    latencies_us: Vec<f64>,
}

fn run(n: u64, shards: usize, print: bool) -> Result<Summary, SpateError> {
    let env = Env::new().shards(shards).low_latency(true);
    let (input, txns) = env.channel_source::<Transaction>(4096);
    let alerts = txns
        .key_by(|t: &Transaction| t.account)
        .process(SmallThenLarge::default())
        .to_channel(1 << 16);
    let job = env.start()?;
    let mut gen = TransactionGenerator::new(11, 10_000);
    // When each transaction was pushed (ids are dense from 1).
    let origin = Instant::now();
    let mut pushed_at = vec![0u64; (n + n / 10 + 1024) as usize];
    let mut push = |t: Transaction| -> Result<(), SpateError> {
        if let Some(slot) = pushed_at.get_mut(t.id as usize) {
            *slot = origin.elapsed().as_nanos() as u64;
        }
        input.push(t)
    };
    for t in gen.by_ref().take(n as usize) {
        push(t)?;
    }
    for t in gen.finish() {
        push(t)?;
    }
    job.flush()?;
    let mut seen = BTreeSet::new();
    let mut latencies_us = Vec::new();
    while let Some(a) = alerts.try_recv() {
        let now = origin.elapsed().as_nanos() as u64;
        let at = pushed_at
            .get(a.transaction as usize)
            .copied()
            .unwrap_or(now);
        latencies_us.push(now.saturating_sub(at) as f64 / 1e3);
        if print && seen.len() < 5 {
            println!(
                "ALERT {}: account {} transaction {} at {}",
                a.rule, a.account, a.transaction, a.ts
            );
        }
        seen.insert(a.transaction);
    }
    job.shutdown()?;
    Ok(Summary {
        alerts: seen,
        expected: gen.planted().alerts.clone(),
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
        "{} alerts for {} planted frauds ({} missed, {} unexpected)",
        s.alerts.len(),
        s.expected.len(),
        s.expected.difference(&s.alerts).count(),
        s.alerts.difference(&s.expected).count()
    );
    println!(
        "push→alert-taken latency µs (pushed as fast as possible, alerts read after a flush, \
         so this bounds it from above): p50 {:.1} p99 {:.1} max {:.1}",
        q(0.5),
        q(0.99),
        q(1.0)
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
            assert!(!s.expected.is_empty());
            assert_eq!(s.alerts, s.expected, "{shards} shards");
        }
    }
}
