//! Dynamic rules: what a rule says, and how one is judged on a window of transactions
//! (pure functions, shared by the job and the tests' reference).

use std::fmt;

use super::model::Transaction;

/// What a rule groups transactions by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupBy {
    /// The paying account.
    Account,
    /// The receiving account.
    Beneficiary,
    /// The (paying, receiving) pair.
    Pair,
}

/// The value of one group: which grouping and which accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKey {
    /// Grouped by paying account.
    Account(u64),
    /// Grouped by receiving account.
    Beneficiary(u64),
    /// Grouped by (paying, receiving) account.
    Pair(u64, u64),
}

impl GroupBy {
    /// The group `t` falls in.
    #[inline]
    pub fn key(self, t: &Transaction) -> GroupKey {
        match self {
            GroupBy::Account => GroupKey::Account(t.account),
            GroupBy::Beneficiary => GroupKey::Beneficiary(t.beneficiary),
            GroupBy::Pair => GroupKey::Pair(t.account, t.beneficiary),
        }
    }
}

/// How the transactions of a window are summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aggregate {
    /// Sum of the amounts, cents.
    Sum,
    /// Number of transactions.
    Count,
    /// Largest amount, cents.
    Max,
}

/// How the aggregate is compared with the threshold (`aggregate <op> threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Comparison {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
}

impl Comparison {
    /// Whether `value <op> threshold` holds.
    #[inline]
    pub fn holds(self, value: i64, threshold: i64) -> bool {
        match self {
            Comparison::Gt => value > threshold,
            Comparison::Ge => value >= threshold,
            Comparison::Lt => value < threshold,
            Comparison::Le => value <= threshold,
            Comparison::Eq => value == threshold,
        }
    }
}

/// A fraud rule: "for each `group_by` group, when the `aggregate` of its transactions in
/// the last `window_ms` `comparison` `threshold`, alert".
///
/// Judged at every transaction `t` of the group, over the group's transactions with
/// `t.ts - window_ms <= ts <= t.ts` (both ends included, `t` itself too) that arrived
/// while this version of the rule was in force: a changed rule starts with empty windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rule {
    /// The rule's id, named by every alert it raises.
    pub id: u32,
    /// What transactions are grouped by.
    pub group_by: GroupBy,
    /// How a window is summarised.
    pub aggregate: Aggregate,
    /// How the summary is compared with the threshold.
    pub comparison: Comparison,
    /// The threshold (cents for sum and max, a number of transactions for count).
    pub threshold: i64,
    /// The window's length, ms (at least 0: 0 is "transactions at the same ms").
    pub window_ms: i64,
}

/// Why a rule was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRule {
    /// The rule's id.
    pub id: u32,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for InvalidRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid fraud rule {}: {}", self.id, self.reason)
    }
}

impl std::error::Error for InvalidRule {}

/// The longest window a rule may have: one year.
pub const MAX_WINDOW_MS: i64 = 366 * 24 * 3_600_000;

impl Rule {
    /// Checks the rule: its window must be between 0 and [`MAX_WINDOW_MS`].
    pub fn validate(&self) -> Result<(), InvalidRule> {
        if !(0..=MAX_WINDOW_MS).contains(&self.window_ms) {
            return Err(InvalidRule {
                id: self.id,
                reason: "window_ms must be between 0 and one year",
            });
        }
        Ok(())
    }

    /// Whether the rule fires on a window with these `(ts, amount_cents)` entries, judged at
    /// time `at`; the aggregate if it does. Entries outside `[at - window_ms, at]` are
    /// ignored.
    pub fn judge<'a>(&self, at: i64, entries: impl Iterator<Item = &'a (i64, i64)>) -> Option<i64> {
        let from = at.saturating_sub(self.window_ms);
        let mut value = match self.aggregate {
            Aggregate::Sum | Aggregate::Count => 0i64,
            Aggregate::Max => i64::MIN,
        };
        let mut any = false;
        for &(ts, amount) in entries {
            if ts < from || ts > at {
                continue;
            }
            any = true;
            value = match self.aggregate {
                Aggregate::Sum => value.saturating_add(amount),
                Aggregate::Count => value + 1,
                Aggregate::Max => value.max(amount),
            };
        }
        // An empty window cannot happen (the transaction judged is in it); be exact anyway.
        (any && self.comparison.holds(value, self.threshold)).then_some(value)
    }
}

/// A change to the rule set, on the rule stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleUpdate {
    /// Adds the rule, or replaces the rule with its id.
    Upsert(Rule),
    /// Removes the rule with this id (nothing if there is none).
    Remove(u32),
}

/// An alert raised by a dynamic rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleAlert {
    /// The id of the rule that fired.
    pub rule: u32,
    /// The group it fired for.
    pub key: GroupKey,
    /// The transaction that was judged.
    pub transaction: u64,
    /// That transaction's event time.
    pub ts: i64,
    /// The aggregate that passed the threshold.
    pub value: i64,
}
