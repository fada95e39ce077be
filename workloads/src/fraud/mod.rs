//! Fraud detection: transactions, the classic rule of Flink's fraud-detection walkthrough,
//! and a generator with planted fraud and its ground truth.
//!
//! - [`model`]: [`Transaction`] and [`Alert`] (amounts in cents, times in epoch ms).
//! - [`classic`]: [`SmallThenLarge`], for an account a transaction under $1.00 immediately
//!   followed (the account's next transaction) by one over $500.00 within one minute raises
//!   an alert — keyed state plus an event-time timer that clears the flag;
//!   [`classic_job`] wires it after `key_by(account)`.
//! - [`generator`]: [`TransactionGenerator`], ordinary traffic that never matches the rule
//!   plus planted cases (true frauds and near misses on every boundary), with the set of
//!   transaction ids that must alert.
//!
//! Still to come (issue 7): dynamic rules broadcast to every shard, insurance-claim rules,
//! and the latency benchmark.

pub mod classic;
pub mod generator;
pub mod model;

pub use classic::{classic_job, SmallThenLarge, LARGE_CENTS, ONE_MINUTE_MS, SMALL_CENTS};
pub use generator::{Planted, TransactionGenerator};
pub use model::{Alert, Transaction};

#[cfg(test)]
mod tests;
