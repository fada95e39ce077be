//! Insurance-claim fraud: parties filing too often, and amounts far above a provider's
//! running mean.
//!
//! Rules, with the thresholds of [`ClaimRules`]:
//! - **frequent claimant** / **frequent provider**: at a claim `c`, the party's claims with
//!   `c.ts - window_ms <= ts <= c.ts` (both ends included, `c` too) number more than
//!   `max_claims`: alert on `c`;
//! - **amount outlier**: the provider already has `n >= min_history` earlier claims (those
//!   processed before `c`; in event-time order when the input is) with amounts summing to
//!   `s`, and `c.amount_cents * n > outlier_factor * s` — the amount exceeds
//!   `outlier_factor` × the mean of the earlier claims (all of them, flagged or not). Exactly
//!   `outlier_factor` × the mean is not an outlier.
//!
//! Each rule is a keyed function (by claimant, by provider); [`claims_job`] unions them.

use spate::prelude::*;
use spate::state::ValueState;

use super::timed::TimedValues;

/// An insurance claim. Amounts in cents, times in epoch ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Claim {
    /// Unique id.
    pub id: u64,
    /// Who claims.
    pub claimant: u64,
    /// The provider (clinic, garage) the claim is for.
    pub provider: u64,
    /// Amount in cents.
    pub amount_cents: i64,
    /// Event time, epoch ms.
    pub ts: i64,
}

/// Which claim rule fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClaimRule {
    /// A claimant filed more than `max_claims` within the window.
    FrequentClaimant,
    /// A provider got more than `max_claims` within the window.
    FrequentProvider,
    /// An amount above `outlier_factor` × the provider's running mean.
    AmountOutlier,
}

/// An alert on a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimAlert {
    /// The rule that fired.
    pub rule: ClaimRule,
    /// The claim it fired on.
    pub claim: u64,
    /// The claimant (frequent claimant) or provider (the other rules).
    pub party: u64,
    /// The claim's event time.
    pub ts: i64,
    /// The count in the window, or the claim's amount.
    pub value: i64,
}

/// The thresholds of the claim rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRules {
    /// More claims than this within the window alert.
    pub max_claims: u32,
    /// The window's length, ms.
    pub window_ms: i64,
    /// An amount above this many times the provider's mean alerts…
    pub outlier_factor: i64,
    /// …once the provider has at least this many earlier claims.
    pub min_history: u32,
}

impl Default for ClaimRules {
    /// More than 5 claims in an hour; above 5 × the mean after 3 claims.
    fn default() -> Self {
        ClaimRules {
            max_claims: 5,
            window_ms: 3_600_000,
            outlier_factor: 5,
            min_history: 3,
        }
    }
}

/// Who a [`FrequentFiler`] counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The claimant.
    Claimant,
    /// The provider.
    Provider,
}

impl Party {
    /// The party's id in `c`.
    #[inline]
    pub fn of(self, c: &Claim) -> u64 {
        match self {
            Party::Claimant => c.claimant,
            Party::Provider => c.provider,
        }
    }
}

/// The frequency rule for one party, keyed by that party: the times of its recent claims,
/// freed by event-time timers once no claim still to come can see them.
#[derive(Clone)]
pub struct FrequentFiler {
    party: Party,
    rules: ClaimRules,
    times: ValueState<u64, TimedValues<()>>,
}

impl FrequentFiler {
    /// The rule for `party` with `rules`' thresholds.
    pub fn new(party: Party, rules: ClaimRules) -> Self {
        FrequentFiler {
            party,
            rules,
            times: ValueState::new(),
        }
    }
}

impl KeyedProcessFunction<u64, Claim, ClaimAlert> for FrequentFiler {
    fn process_element(
        &mut self,
        c: Claim,
        ctx: &mut KeyedContext<'_, u64, ClaimAlert>,
    ) -> Result<(), UserError> {
        let w = self.rules.window_ms;
        let times = self.times.value_or_insert_with(ctx, TimedValues::default);
        times.insert(c.ts, ());
        let from = c.ts.saturating_sub(w);
        let n = times.iter().filter(|e| e.0 >= from && e.0 <= c.ts).count();
        if n > self.rules.max_claims as usize {
            ctx.collect(ClaimAlert {
                rule: match self.party {
                    Party::Claimant => ClaimRule::FrequentClaimant,
                    Party::Provider => ClaimRule::FrequentProvider,
                },
                claim: c.id,
                party: self.party.of(&c),
                ts: c.ts,
                value: n as i64,
            });
        }
        ctx.register_event_time_timer(c.ts.saturating_add(w));
        Ok(())
    }

    fn on_timer(
        &mut self,
        t: Timestamp,
        ctx: &mut KeyedContext<'_, u64, ClaimAlert>,
    ) -> Result<(), UserError> {
        let horizon = t.saturating_sub(self.rules.window_ms);
        let empty = self.times.value_mut(ctx).is_some_and(|times| {
            times.evict_through(horizon);
            times.is_empty()
        });
        if empty {
            self.times.clear(ctx);
        }
        Ok(())
    }
}

/// The outlier rule, keyed by provider: the count and sum of the provider's claims so far.
#[derive(Clone)]
pub struct AmountOutlier {
    rules: ClaimRules,
    history: ValueState<u64, (i64, i64)>,
}

impl AmountOutlier {
    /// The rule with `rules`' thresholds.
    pub fn new(rules: ClaimRules) -> Self {
        AmountOutlier {
            rules,
            history: ValueState::new(),
        }
    }

    /// Whether `amount` is an outlier after `n` earlier claims summing to `sum`.
    #[inline]
    pub fn is_outlier(rules: &ClaimRules, amount: i64, n: i64, sum: i64) -> bool {
        n >= i64::from(rules.min_history)
            && (amount as i128) * (n as i128) > (rules.outlier_factor as i128) * (sum as i128)
    }
}

impl KeyedProcessFunction<u64, Claim, ClaimAlert> for AmountOutlier {
    fn process_element(
        &mut self,
        c: Claim,
        ctx: &mut KeyedContext<'_, u64, ClaimAlert>,
    ) -> Result<(), UserError> {
        let h = self.history.value_or_insert_with(ctx, || (0, 0));
        let outlier = Self::is_outlier(&self.rules, c.amount_cents, h.0, h.1);
        h.0 += 1;
        h.1 = h.1.saturating_add(c.amount_cents);
        if outlier {
            ctx.collect(ClaimAlert {
                rule: ClaimRule::AmountOutlier,
                claim: c.id,
                party: c.provider,
                ts: c.ts,
                value: c.amount_cents,
            });
        }
        Ok(())
    }
}

/// The claim rules over `claims` (event time from `Claim::ts`, at most `max_delay_ms` out
/// of order; from one upstream shard, so each party's claims keep their order).
///
/// # Examples
///
/// ```
/// use spate_workloads::fraud::claims::*;
/// use spate_workloads::spate::prelude::*;
///
/// let rules = ClaimRules { max_claims: 2, window_ms: 1_000, outlier_factor: 3, min_history: 2 };
/// let c = |id, claimant, provider, amount_cents, ts| Claim { id, claimant, provider, amount_cents, ts };
/// let env = Env::new().shards(2);
/// let claims = env.from_iter(vec![
///     c(1, 7, 100, 50, 0), c(2, 7, 101, 50, 500), c(3, 7, 102, 50, 1_000), // 3 in [0, 1000]
///     c(4, 8, 200, 100, 0), c(5, 9, 200, 100, 5_000), c(6, 10, 200, 601, 9_000), // 601 > 3 × 100
/// ]);
/// let alerts = claims_job(&claims, rules, 0).collect();
/// env.execute().unwrap();
/// let got: Vec<_> = alerts.sorted().into_iter().map(|a| (a.rule, a.claim)).collect();
/// assert_eq!(got, vec![(ClaimRule::FrequentClaimant, 3), (ClaimRule::AmountOutlier, 6)]);
/// ```
pub fn claims_job(
    claims: &DataStream<Claim>,
    rules: ClaimRules,
    max_delay_ms: i64,
) -> DataStream<ClaimAlert> {
    let claims = claims.assign_timestamps_and_watermarks(
        WatermarkStrategy::for_bounded_out_of_orderness(max_delay_ms)
            .with_timestamp_assigner(|c: &Claim| c.ts),
    );
    claims_job_stamped(&claims, rules)
}

/// The claim rules over claims that already carry timestamps and watermarks — see
/// [`claims_job`].
pub fn claims_job_stamped(claims: &DataStream<Claim>, rules: ClaimRules) -> DataStream<ClaimAlert> {
    let by_claimant = claims
        .key_by(|c: &Claim| c.claimant)
        .process(FrequentFiler::new(Party::Claimant, rules));
    let by_provider = claims.key_by(|c: &Claim| c.provider);
    let frequent_provider = by_provider.process(FrequentFiler::new(Party::Provider, rules));
    let outliers = by_provider.process(AmountOutlier::new(rules));
    by_claimant.union(&[frequent_provider, outliers])
}
