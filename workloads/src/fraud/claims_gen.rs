//! Insurance claims with planted fraud and its ground truth.

use std::collections::BTreeSet;

use super::claims::{Claim, ClaimRule, ClaimRules};

/// Claims in event-time order and the alerts they must raise.
#[derive(Debug, Clone, Default)]
pub struct GeneratedClaims {
    /// The claims, by `(ts, id)`.
    pub claims: Vec<Claim>,
    /// `(rule, claim id)` of every alert the rules must raise, and no other.
    pub alerts: BTreeSet<(ClaimRule, u64)>,
    /// Planted cases that must not alert.
    pub near_misses: u64,
}

/// Event time of the first claim: 2026-01-01T00:00:00Z.
const BASE_TS: i64 = 1_767_225_600_000;
/// Ordinary claimants and providers, used in turn (coprime counts mix the pairs).
const CLAIMANTS: u64 = 1_000;
const PROVIDERS: u64 = 999;
/// Planted cases use ids from here on, so they share no party with ordinary traffic.
const PLANTED_IDS: u64 = 1_000_000;
/// One ordinary claim in this many starts a planted case.
const CASE_EVERY: u64 = 40;

/// Generates `n` ordinary claims and the planted cases started among them, for `rules`.
///
/// Ordinary traffic never alerts: a claim every `step` ms, where each claimant and provider
/// comes round once per 999–1 000 claims, with `step` chosen so that a window holds at most
/// `max_claims` claims of one party; amounts lie in `[lo, outlier_factor × lo]`, never above
/// `outlier_factor` × any mean of them. Planted cases, each on parties of its own:
///
/// | case | pattern | alert |
/// |---|---|---|
/// | frequent claimant | `max_claims + 1` claims within the window | on the last |
/// | claimant boundary | the last exactly `window_ms` after the first | on the last |
/// | claimant near miss | the last `window_ms + 1` after the first | none |
/// | frequent provider | `max_claims + 1` claims to one provider within the window | on the last |
/// | provider near miss | `max_claims` claims within the window | none |
/// | outlier | `min_history` claims of `a`, then one of `factor × a + 1` | on the last |
/// | outlier boundary | `min_history` claims of `a`, then exactly `factor × a` | none |
/// | short history | `min_history − 1` claims of `a`, then a huge one | none |
///
/// Needs `max_claims >= 1`, `min_history >= 1` and `min_history + 1 <= max_claims` (so an
/// outlier case is not also a frequent provider), `outlier_factor >= 2`, `window_ms >= 1`;
/// other rules are clamped to that. Deterministic for a seed.
///
/// # Examples
///
/// ```
/// use spate_workloads::fraud::claims::ClaimRules;
/// use spate_workloads::fraud::claims_gen::generate_claims;
/// let g = generate_claims(1, 2_000, ClaimRules::default());
/// assert!(g.claims.windows(2).all(|w| (w[0].ts, w[0].id) <= (w[1].ts, w[1].id)));
/// assert!(!g.alerts.is_empty() && g.near_misses > 0);
/// ```
pub fn generate_claims(seed: u64, n: u64, rules: ClaimRules) -> GeneratedClaims {
    let mut g = Gen {
        rng: seed ^ 0x2545_F491_4F6C_DD1D,
        rules: clamp(rules),
        out: GeneratedClaims::default(),
        next_id: 1,
        next_party: PLANTED_IDS,
    };
    let r = g.rules;
    // Each party comes round every ~CLAIMANTS claims: at most max_claims in any window
    // when (max_claims − 1) × round > window.
    let step = r.window_ms / (CLAIMANTS as i64 - 1) / (r.max_claims as i64 - 1).max(1) + 1;
    let lo = 10_000;
    for i in 0..n {
        let ts = BASE_TS + i as i64 * step;
        let amount = g.between(lo, lo * r.outlier_factor);
        let id = g.id();
        g.out.claims.push(Claim {
            id,
            claimant: i % CLAIMANTS,
            provider: i % PROVIDERS,
            amount_cents: amount,
            ts,
        });
        if g.next() % CASE_EVERY == 0 {
            g.case(ts + 1);
        }
    }
    g.out.claims.sort_by_key(|c| (c.ts, c.id));
    g.out
}

fn clamp(mut r: ClaimRules) -> ClaimRules {
    r.max_claims = r.max_claims.max(2);
    r.min_history = r.min_history.clamp(1, r.max_claims - 1);
    r.outlier_factor = r.outlier_factor.max(2);
    r.window_ms = r.window_ms.max(1);
    r
}

struct Gen {
    rng: u64,
    rules: ClaimRules,
    out: GeneratedClaims,
    next_id: u64,
    next_party: u64,
}

impl Gen {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    fn party(&mut self) -> u64 {
        self.next_party += 1;
        self.next_party - 1
    }

    /// Claims at `t0 + span × j / (k − 1)` for `j < k`; returns the last claim's id.
    fn spread(
        &mut self,
        k: u32,
        t0: i64,
        span: i64,
        mut party: impl FnMut(&mut Self) -> (u64, u64),
    ) -> u64 {
        let mut last = 0;
        for j in 0..k as i64 {
            let ts = t0 + span * j / (k as i64 - 1).max(1);
            let (claimant, provider) = party(self);
            let amount = self.between(10_000, 20_000);
            last = self.id();
            self.out.claims.push(Claim {
                id: last,
                claimant,
                provider,
                amount_cents: amount,
                ts,
            });
        }
        last
    }

    /// `history` claims of `a` to a fresh provider, then one of `last`; the last claim's id.
    fn outlier(&mut self, t0: i64, history: u32, a: i64, last: i64) -> u64 {
        let provider = self.party();
        let span = self.rules.window_ms * 3;
        for j in 0..=history as i64 {
            let amount = if j == history as i64 { last } else { a };
            let claimant = self.party();
            let id = self.id();
            self.out.claims.push(Claim {
                id,
                claimant,
                provider,
                amount_cents: amount,
                ts: t0 + span * j / (history as i64 + 1),
            });
        }
        self.next_id - 1
    }

    fn case(&mut self, t0: i64) {
        let r = self.rules;
        let over = r.max_claims + 1;
        let within = self.between(0, r.window_ms);
        let a = self.between(10_000, 20_000);
        let (rule, id) = match self.next() % 8 {
            0..=2 => {
                let claimant = self.party();
                let span = [within, r.window_ms, r.window_ms + 1][(self.next_id % 3) as usize];
                let last = self.spread(over, t0, span, |g| (claimant, g.party()));
                (
                    (span <= r.window_ms).then_some(ClaimRule::FrequentClaimant),
                    last,
                )
            }
            3 => {
                let provider = self.party();
                let last = self.spread(over, t0, within, |g| (g.party(), provider));
                (Some(ClaimRule::FrequentProvider), last)
            }
            4 => {
                let provider = self.party();
                let last = self.spread(r.max_claims, t0, within, |g| (g.party(), provider));
                (None, last)
            }
            5 => {
                let last = self.outlier(t0, r.min_history, a, r.outlier_factor * a + 1);
                (Some(ClaimRule::AmountOutlier), last)
            }
            6 => {
                let last = self.outlier(t0, r.min_history, a, r.outlier_factor * a);
                (None, last)
            }
            _ => {
                let last = self.outlier(t0, r.min_history - 1, a, 1_000 * r.outlier_factor * a);
                (None, last)
            }
        };
        match rule {
            Some(rule) => {
                self.out.alerts.insert((rule, id));
            }
            None => self.out.near_misses += 1,
        }
    }
}
