//! The records of the fraud workload.

/// A card transaction. Amounts are integer cents, so the rule's boundaries ($1.00,
/// $500.00) are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Transaction {
    /// Unique id.
    pub id: u64,
    /// The paying account.
    pub account: u64,
    /// The receiving account.
    pub beneficiary: u64,
    /// Amount in cents.
    pub amount_cents: i64,
    /// Event time, epoch ms.
    pub ts: i64,
}

/// An alert raised by a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Alert {
    /// The rule that fired.
    pub rule: &'static str,
    /// The account it concerns.
    pub account: u64,
    /// The transaction that completed the pattern.
    pub transaction: u64,
    /// That transaction's event time.
    pub ts: i64,
}
