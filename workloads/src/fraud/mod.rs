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
//! - [`rules`] and [`dynamic`]: rules that arrive on a second stream while the job runs
//!   (broadcast state), each grouping by account, beneficiary or the pair and comparing a
//!   sum, count or max over a sliding event-time window with a threshold;
//!   [`dynamic_job`] wires them.
//! - [`claims`]: insurance-claim fraud — a claimant or provider filing more than N claims
//!   within a window, or a claim far above its provider's running mean ([`claims_job`]);
//!   [`claims_gen`] generates claims with planted cases and their ground truth.

pub mod claims;
pub mod claims_gen;
pub mod classic;
pub mod dynamic;
pub mod generator;
pub mod model;
pub mod rules;
pub mod timed;

pub use claims::{claims_job, Claim, ClaimAlert, ClaimRule, ClaimRules};
pub use classic::{classic_job, SmallThenLarge, LARGE_CENTS, ONE_MINUTE_MS, SMALL_CENTS};
pub use dynamic::{dynamic_job, dynamic_job_stamped, DynamicKey, WindowJudge};
pub use generator::{demo_rules, Planted, TransactionGenerator};
pub use model::{Alert, Transaction};

#[cfg(test)]
mod claims_tests;
#[cfg(test)]
mod dynamic_tests;
#[cfg(test)]
mod tests;
