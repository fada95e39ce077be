//! The walkthrough rule: a small transaction immediately followed by a large one.

use spate::prelude::*;
use spate::state::ValueState;

use super::model::{Alert, Transaction};

/// Below this many cents a transaction is small ($1.00; exactly $1.00 is not small).
pub const SMALL_CENTS: i64 = 100;
/// Above this many cents a transaction is large ($500.00; exactly $500.00 is not large).
pub const LARGE_CENTS: i64 = 50_000;
/// How long a small transaction keeps the account flagged, ms (exactly one minute later
/// still counts).
pub const ONE_MINUTE_MS: i64 = 60_000;

/// The rule's name in alerts.
pub const RULE: &str = "small-then-large";

/// Flink's `FraudDetector`: per account, remember the last transaction if it was small;
/// the account's next transaction raises an alert if it is large and at most a minute
/// later; any next transaction clears the flag. An event-time timer a minute after the
/// small transaction clears it too, so flagged accounts hold no state for long.
///
/// Timing is judged on the transactions' own timestamps (`large.ts − small.ts ≤ 60 000`),
/// so the result does not depend on when watermarks arrive; the timer only frees state.
///
/// # Examples
///
/// ```
/// use spate_workloads::fraud::{classic_job, Transaction};
/// use spate_workloads::spate::prelude::*;
///
/// let t = |id, amount_cents, ts| Transaction { id, account: 7, beneficiary: 1, amount_cents, ts };
/// let env = Env::new().shards(2);
/// let alerts = classic_job(&env.from_iter(vec![t(1, 99, 1_000), t(2, 60_000, 30_000)])).collect();
/// env.execute().unwrap();
/// assert_eq!(alerts.take().iter().map(|a| a.transaction).collect::<Vec<_>>(), vec![2]);
/// ```
#[derive(Clone, Default)]
pub struct SmallThenLarge {
    /// Timestamp of the account's last transaction, if it was small.
    small_at: ValueState<u64, i64>,
}

impl KeyedProcessFunction<u64, Transaction, Alert> for SmallThenLarge {
    fn process_element(
        &mut self,
        t: Transaction,
        ctx: &mut KeyedContext<'_, u64, Alert>,
    ) -> Result<(), UserError> {
        if let Some(&small_at) = self.small_at.value(ctx) {
            if t.amount_cents > LARGE_CENTS && t.ts - small_at <= ONE_MINUTE_MS {
                ctx.collect(Alert {
                    rule: RULE,
                    account: t.account,
                    transaction: t.id,
                    ts: t.ts,
                });
            }
            self.small_at.clear(ctx);
            ctx.delete_event_time_timer(small_at + ONE_MINUTE_MS);
        }
        if t.amount_cents < SMALL_CENTS {
            self.small_at.update(ctx, t.ts);
            ctx.register_event_time_timer(t.ts + ONE_MINUTE_MS);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        ts: Timestamp,
        ctx: &mut KeyedContext<'_, u64, Alert>,
    ) -> Result<(), UserError> {
        if self
            .small_at
            .value(ctx)
            .is_some_and(|s| s + ONE_MINUTE_MS == ts)
        {
            self.small_at.clear(ctx);
        }
        Ok(())
    }
}

/// `transactions` (with or without timestamps: the rule reads `Transaction::ts`) keyed by
/// account through [`SmallThenLarge`]. The stream must keep each account's transactions
/// in order, as a single source split or an account-partitioned source does.
pub fn classic_job(transactions: &DataStream<Transaction>) -> DataStream<Alert> {
    transactions
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps()
                .with_timestamp_assigner(|t: &Transaction| t.ts),
        )
        .key_by(|t: &Transaction| t.account)
        .process(SmallThenLarge::default())
}
