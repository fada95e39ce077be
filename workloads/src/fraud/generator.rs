//! Transactions with planted fraud and its ground truth.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use super::classic::{LARGE_CENTS, ONE_MINUTE_MS, SMALL_CENTS};
use super::model::Transaction;
use super::rules::{Aggregate, Comparison, GroupBy, Rule};

/// The ground truth of a generated stream: the transactions that must raise an alert
/// (completing a planted pattern) and how many near misses were planted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Planted {
    /// Ids of the transactions the classic rule must alert on.
    pub alerts: BTreeSet<u64>,
    /// `(rule id, transaction id)` the [`demo_rules`] must alert on.
    pub rule_alerts: BTreeSet<(u32, u64)>,
    /// Planted cases that must not alert (boundaries, gaps, interruptions).
    pub near_misses: u64,
}

/// Rule 1 of [`demo_rules`]: a single transaction above $10 000 (the largest in a minute).
pub const RULE_HUGE: u32 = 1;
/// Rule 2: three transfers or more between the same pair within 10 s.
pub const RULE_PAIR_BURST: u32 = 2;
/// Rule 3: a beneficiary receiving $50 000 or more within 5 s.
pub const RULE_INFLOW: u32 = 3;

const HUGE_CENTS: i64 = 1_000_000;
const BURST_MS: i64 = 10_000;
const INFLOW_CENTS: i64 = 5_000_000;
const INFLOW_MS: i64 = 5_000;

/// The dynamic rules the generator plants cases for, and that its ordinary traffic (at
/// most $500 a transaction, one every 7 ms, random pairs) does not reach.
pub fn demo_rules() -> Vec<Rule> {
    vec![
        Rule {
            id: RULE_HUGE,
            group_by: GroupBy::Account,
            aggregate: Aggregate::Max,
            comparison: Comparison::Gt,
            threshold: HUGE_CENTS,
            window_ms: ONE_MINUTE_MS,
        },
        Rule {
            id: RULE_PAIR_BURST,
            group_by: GroupBy::Pair,
            aggregate: Aggregate::Count,
            comparison: Comparison::Ge,
            threshold: 3,
            window_ms: BURST_MS,
        },
        Rule {
            id: RULE_INFLOW,
            group_by: GroupBy::Beneficiary,
            aggregate: Aggregate::Sum,
            comparison: Comparison::Ge,
            threshold: INFLOW_CENTS,
            window_ms: INFLOW_MS,
        },
    ]
}

/// Generates card transactions in event-time order: ordinary traffic (amounts from $1.00
/// to $500.00 inclusive, which the rule never flags) over `accounts` accounts, and, every
/// so often, a planted case on an account of its own:
///
/// | case | sequence on the account | alert |
/// |---|---|---|
/// | fraud | small, then large within a minute | on the large one |
/// | boundary | small, then large exactly one minute later | on the large one |
/// | double small | small, small, then large within a minute | on the large one |
/// | too late | small, then large one minute and 1 ms later | none |
/// | not small | exactly $1.00, then large | none |
/// | not large | small, then exactly $500.00 | none |
/// | interrupted | small, ordinary, then large within a minute | none |
/// | huge | one transaction above $10 000 | rule 1 |
/// | not huge | exactly $10 000 | none |
/// | pair burst | 3 transfers between a fresh pair within 10 s (≤ 10 000 ms apart) | rule 2 on the third |
/// | slow pair | the third 10 001 ms after the first | none |
/// | inflow | 10 × $5 000 to a fresh beneficiary within 5 s: exactly $50 000 | rule 3 on the tenth |
/// | short inflow | the same, one cent short | none |
///
/// Classic cases pay random ordinary beneficiaries; dynamic cases use fresh accounts and
/// beneficiaries of their own. Deterministic for a seed.
///
/// # Examples
///
/// ```
/// use spate_workloads::fraud::TransactionGenerator;
/// let mut g = TransactionGenerator::new(42, 100);
/// let txns: Vec<_> = g.by_ref().take(10_000).collect();
/// assert!(txns.windows(2).all(|w| w[0].ts <= w[1].ts));
/// assert!(!g.planted().alerts.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct TransactionGenerator {
    rng: u64,
    accounts: u64,
    next_id: u64,
    next_planted_account: u64,
    next_planted_beneficiary: u64,
    now: i64,
    /// Planted transactions waiting for their time: (ts, order, txn).
    pending: BinaryHeap<Reverse<(i64, u64, Transaction)>>,
    planted: Planted,
    /// Tie-breaker keeping a case's transactions in planned order.
    order: u64,
}

/// Event time of the first transaction: 2026-01-01T00:00:00Z.
const BASE_TS: i64 = 1_767_225_600_000;
/// Event time between two ordinary transactions, ms.
const STEP_MS: i64 = 7;
/// One ordinary transaction in this many starts a planted case.
const CASE_EVERY: u64 = 50;
/// Beneficiaries of dynamic cases start here, apart from ordinary ones.
const PLANTED_BENEFICIARIES: u64 = 1 << 40;

impl TransactionGenerator {
    /// A generator over `accounts` ordinary accounts (at least 1), seeded with `seed`.
    pub fn new(seed: u64, accounts: u64) -> Self {
        let accounts = accounts.max(1);
        TransactionGenerator {
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
            accounts,
            next_id: 1,
            next_planted_account: accounts,
            next_planted_beneficiary: PLANTED_BENEFICIARIES,
            now: BASE_TS,
            pending: BinaryHeap::new(),
            planted: Planted::default(),
            order: 0,
        }
    }

    /// The ground truth of everything planted so far. A planted case's alert is listed as
    /// soon as the case starts: take at least [`Self::drain_len`] more transactions (or
    /// call [`Self::finish`]) so that every listed alert is in the stream.
    pub fn planted(&self) -> &Planted {
        &self.planted
    }

    /// Planted transactions not yet emitted.
    pub fn drain_len(&self) -> usize {
        self.pending.len()
    }

    /// The remaining planted transactions, in time order; no new case starts.
    pub fn finish(&mut self) -> Vec<Transaction> {
        let mut out = Vec::with_capacity(self.pending.len());
        while let Some(Reverse((_, _, t))) = self.pending.pop() {
            out.push(t);
        }
        out
    }

    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    fn txn(&mut self, account: u64, amount_cents: i64, ts: i64) -> Transaction {
        let id = self.next_id;
        self.next_id += 1;
        let beneficiary = self.next_u64() % self.accounts;
        Transaction {
            id,
            account,
            beneficiary,
            amount_cents,
            ts,
        }
    }

    fn plan(&mut self, t: Transaction) {
        self.order += 1;
        self.pending.push(Reverse((t.ts, self.order, t)));
    }

    fn fresh_account(&mut self) -> u64 {
        self.next_planted_account += 1;
        self.next_planted_account - 1
    }

    fn fresh_beneficiary(&mut self) -> u64 {
        self.next_planted_beneficiary += 1;
        self.next_planted_beneficiary - 1
    }

    /// Plans `(account, beneficiary, amount, dt)` transactions from `t0`; the last one
    /// alerts with `rule`, or is a near miss.
    fn plan_case(&mut self, t0: i64, seq: &[(u64, u64, i64, i64)], rule: Option<u32>) {
        for (i, &(account, beneficiary, amount_cents, dt)) in seq.iter().enumerate() {
            let id = self.next_id;
            self.next_id += 1;
            let t = Transaction {
                id,
                account,
                beneficiary,
                amount_cents,
                ts: t0 + dt,
            };
            if i + 1 == seq.len() {
                match rule {
                    Some(r) => {
                        self.planted.rule_alerts.insert((r, id));
                    }
                    None => self.planted.near_misses += 1,
                }
            }
            self.plan(t);
        }
    }

    /// Starts a planted case of a dynamic rule at `t0`.
    fn start_rule_case(&mut self, t0: i64, case: u64) {
        let (a, b) = (self.fresh_account(), self.fresh_beneficiary());
        let ordinary = self.between(SMALL_CENTS, LARGE_CENTS);
        match case {
            0 | 1 => {
                let amount = if case == 0 {
                    self.between(HUGE_CENTS + 1, 4 * HUGE_CENTS)
                } else {
                    HUGE_CENTS
                };
                self.plan_case(t0, &[(a, b, amount, 0)], (case == 0).then_some(RULE_HUGE));
            }
            2 | 3 => {
                let span = if case == 2 {
                    self.between(0, BURST_MS)
                } else {
                    BURST_MS + 1
                };
                let seq = [
                    (a, b, ordinary, 0),
                    (a, b, ordinary, span / 2),
                    (a, b, ordinary, span),
                ];
                self.plan_case(t0, &seq, (case == 2).then_some(RULE_PAIR_BURST));
            }
            _ => {
                let span = self.between(0, INFLOW_MS);
                let mut seq: Vec<(u64, u64, i64, i64)> = (0..10)
                    .map(|i| (self.fresh_account(), b, INFLOW_CENTS / 10, span * i / 9))
                    .collect();
                let short = case == 5;
                if let Some(last) = seq.last_mut() {
                    last.2 -= i64::from(short);
                }
                self.plan_case(t0, &seq, (!short).then_some(RULE_INFLOW));
            }
        }
    }

    /// Starts a planted case at the current time on a fresh account.
    fn start_case(&mut self) {
        let t0 = self.now + 1;
        let kind = self.next_u64() % 13;
        if kind >= 7 {
            self.start_rule_case(t0, kind - 7);
            return;
        }
        let account = self.fresh_account();
        let small = self.between(1, SMALL_CENTS - 1);
        let large = self.between(LARGE_CENTS + 1, 10 * LARGE_CENTS);
        let within = self.between(0, ONE_MINUTE_MS);
        let case = kind;
        let seq: Vec<(i64, i64)> = match case {
            0 => vec![(small, 0), (large, within)],
            1 => vec![(small, 0), (large, ONE_MINUTE_MS)],
            2 => vec![
                (small, 0),
                (small, within / 2),
                (large, within / 2 + within / 2),
            ],
            3 => vec![(small, 0), (large, ONE_MINUTE_MS + 1)],
            4 => vec![(SMALL_CENTS, 0), (large, within)],
            5 => vec![(small, 0), (LARGE_CENTS, within)],
            _ => vec![(small, 0), (5_000, within / 2), (large, within)],
        };
        let alerts = case <= 2;
        let n = seq.len();
        for (i, (amount, dt)) in seq.into_iter().enumerate() {
            let t = self.txn(account, amount, t0 + dt);
            if i + 1 == n {
                if alerts {
                    self.planted.alerts.insert(t.id);
                } else {
                    self.planted.near_misses += 1;
                }
            }
            self.plan(t);
        }
    }
}

impl Iterator for TransactionGenerator {
    type Item = Transaction;

    /// The next transaction in event-time order (ties: ordinary before planted).
    fn next(&mut self) -> Option<Transaction> {
        if let Some(Reverse((ts, _, _))) = self.pending.peek() {
            if *ts < self.now + STEP_MS {
                return self.pending.pop().map(|Reverse((_, _, t))| t);
            }
        }
        self.now += STEP_MS;
        if self.next_u64() % CASE_EVERY == 0 {
            self.start_case();
        }
        let account = self.next_u64() % self.accounts;
        let amount = self.between(SMALL_CENTS, LARGE_CENTS);
        let now = self.now;
        Some(self.txn(account, amount, now))
    }
}
