//! Claim rules: planted cases (recall and precision 100%), boundaries, and random claims
//! (out of order) against a naive reference, on 1–3 shards with tiny batches.

use std::collections::BTreeSet;

use proptest::prelude::*;
use spate::prelude::*;

use super::claims::*;
use super::claims_gen::generate_claims;

fn run(
    claims: Vec<Claim>,
    rules: ClaimRules,
    delay: i64,
    shards: usize,
    batch: usize,
) -> Vec<ClaimAlert> {
    let env = Env::new().shards(shards).batch_size(batch);
    // Punctuated watermarks, so that eviction timers fire between claims.
    let claims = env.from_iter(claims).assign_timestamps_and_watermarks(
        WatermarkStrategy::for_bounded_out_of_orderness(delay)
            .with_timestamp_assigner(|c: &Claim| c.ts)
            .punctuated(),
    );
    let out = claims_job_stamped(&claims, rules).collect();
    env.execute().expect("job runs");
    out.sorted()
}

/// The naive reference: every rule recomputed from all earlier claims.
fn reference(claims: &[Claim], r: ClaimRules) -> Vec<ClaimAlert> {
    let mut out = Vec::new();
    for (i, c) in claims.iter().enumerate() {
        let seen = &claims[..=i];
        let in_window = |f: &dyn Fn(&Claim) -> bool| {
            seen.iter()
                .filter(|x| f(x) && x.ts >= c.ts - r.window_ms && x.ts <= c.ts)
                .count() as i64
        };
        let n = in_window(&|x| x.claimant == c.claimant);
        if n > i64::from(r.max_claims) {
            out.push(ClaimAlert {
                rule: ClaimRule::FrequentClaimant,
                claim: c.id,
                party: c.claimant,
                ts: c.ts,
                value: n,
            });
        }
        let n = in_window(&|x| x.provider == c.provider);
        if n > i64::from(r.max_claims) {
            out.push(ClaimAlert {
                rule: ClaimRule::FrequentProvider,
                claim: c.id,
                party: c.provider,
                ts: c.ts,
                value: n,
            });
        }
        let before: Vec<i64> = claims[..i]
            .iter()
            .filter(|x| x.provider == c.provider)
            .map(|x| x.amount_cents)
            .collect();
        let n = before.len() as i64;
        if n >= i64::from(r.min_history) {
            let mean = before.iter().sum::<i64>() as f64 / n as f64;
            // Exact: amount > factor × mean, compared without rounding.
            if (c.amount_cents * n) > r.outlier_factor * before.iter().sum::<i64>() {
                assert!(c.amount_cents as f64 > r.outlier_factor as f64 * mean - 1e-6);
                out.push(ClaimAlert {
                    rule: ClaimRule::AmountOutlier,
                    claim: c.id,
                    party: c.provider,
                    ts: c.ts,
                    value: c.amount_cents,
                });
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_planted_claim_fraud_is_flagged_and_nothing_else() {
    let rules = ClaimRules::default();
    let g = generate_claims(5, 20_000, rules);
    let kinds: BTreeSet<ClaimRule> = g.alerts.iter().map(|a| a.0).collect();
    assert_eq!(kinds.len(), 3, "every rule has planted cases: {kinds:?}");
    assert!(
        g.alerts.len() > 100 && g.near_misses > 100,
        "{} / {}",
        g.alerts.len(),
        g.near_misses
    );
    for shards in [1, 2, 3] {
        for batch in [7, 1024] {
            let got: BTreeSet<(ClaimRule, u64)> = run(g.claims.clone(), rules, 0, shards, batch)
                .into_iter()
                .map(|a| (a.rule, a.claim))
                .collect();
            let missed: Vec<_> = g.alerts.difference(&got).collect();
            let unexpected: Vec<_> = got.difference(&g.alerts).collect();
            assert!(
                missed.is_empty() && unexpected.is_empty(),
                "{shards} shards, batch {batch}: missed {missed:?}, unexpected {unexpected:?}"
            );
        }
    }
}

#[test]
fn claim_rules_on_their_boundaries() {
    let r = ClaimRules {
        max_claims: 2,
        window_ms: 100,
        outlier_factor: 4,
        min_history: 2,
    };
    let c = |id, claimant, provider, amount_cents, ts| Claim {
        id,
        claimant,
        provider,
        amount_cents,
        ts,
    };
    let claims = vec![
        // Claimant 1: 3 claims, the last exactly 100 ms after the first: alert on 3.
        c(1, 1, 10, 100, 0),
        c(2, 1, 11, 100, 50),
        c(3, 1, 12, 100, 100),
        // Claimant 1 at 201: [101, 201] holds only this one.
        c(4, 1, 13, 100, 201),
        // Provider 20: history 100, 300 (mean 200); 800 = 4 × 200 is not above; then
        // history 100, 300, 800 (mean 400): 1 601 > 1 600 is.
        c(5, 2, 20, 100, 1_000),
        // Claimant 3 at 1 000, 1 001, 1 001 (3: alert); claimant 9 at 1 101 moves the
        // watermark to 1 100, which frees the claim at 1 000 only: claimant 3 at 1 101
        // counts 3 again.
        c(11, 3, 40, 100, 1_000),
        c(12, 3, 41, 100, 1_001),
        c(13, 3, 42, 100, 1_001),
        c(14, 9, 44, 100, 1_101),
        c(15, 3, 43, 100, 1_101),
        c(6, 3, 20, 300, 2_000),
        c(7, 4, 20, 800, 3_000),
        c(8, 5, 20, 1_601, 4_000),
        // Provider 30: one earlier claim only: no outlier however large.
        c(9, 6, 30, 10, 5_000),
        c(10, 7, 30, 1_000_000, 6_000),
    ];
    let want = vec![
        ClaimAlert {
            rule: ClaimRule::FrequentClaimant,
            claim: 3,
            party: 1,
            ts: 100,
            value: 3,
        },
        ClaimAlert {
            rule: ClaimRule::FrequentClaimant,
            claim: 13,
            party: 3,
            ts: 1_001,
            value: 3,
        },
        ClaimAlert {
            rule: ClaimRule::FrequentClaimant,
            claim: 15,
            party: 3,
            ts: 1_101,
            value: 3,
        },
        ClaimAlert {
            rule: ClaimRule::AmountOutlier,
            claim: 8,
            party: 20,
            ts: 4_000,
            value: 1_601,
        },
    ];
    assert_eq!(reference(&claims, r), want);
    for shards in [1, 2, 3] {
        assert_eq!(
            run(claims.clone(), r, 0, shards, 1),
            want,
            "{shards} shards"
        );
    }
}

/// At most this far behind the newest claim (none late).
const MAX_DELAY: i64 = 10;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn claim_rules_match_the_reference(
        raw in prop::collection::vec((0u64..4, 0u64..3, 1i64..60, 0i64..20, 0i64..MAX_DELAY), 0..60),
        max_claims in 1u32..4,
        window_ms in 0i64..50,
    ) {
        let r = ClaimRules { max_claims, window_ms, outlier_factor: 2, min_history: 2 };
        let mut base = 0;
        let claims: Vec<Claim> = raw.iter().enumerate().map(|(i, &(cl, pr, amt, dt, j))| {
            base += dt;
            Claim { id: i as u64, claimant: cl, provider: pr, amount_cents: amt, ts: base + j }
        }).collect();
        let want = reference(&claims, r);
        for shards in [1, 2, 3] {
            for batch in [1, 7, 1024] {
                prop_assert_eq!(&run(claims.clone(), r, MAX_DELAY, shards, batch), &want, "{} shards, batch {}", shards, batch);
            }
        }
    }
}
