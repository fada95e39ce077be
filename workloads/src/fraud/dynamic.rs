//! Dynamic rules on a second stream, after the design of Flink's fraud-detection demo:
//!
//! ```text
//! transactions ─▶ DynamicKey ──key_by(rule, version, group)──▶ WindowJudge ─▶ RuleAlert
//!                    ▲ (broadcast state: the rules)
//! rule updates ──────┘ broadcast to every shard
//! ```
//!
//! Rules group by different keys, so no single `key_by` fits them all. [`DynamicKey`]
//! (a broadcast function) emits each transaction once per rule in force, tagged with the
//! rule (its current version) and the rule's group key; [`WindowJudge`] (a keyed function
//! keyed by rule id, version and group) keeps each group's transactions as timestamped
//! values, judges the rule on every transaction, and frees what has left the window with
//! event-time timers.
//!
//! Semantics:
//! - A rule update applies to the transactions [`DynamicKey`] sees after it. An embedded
//!   job that must know exactly when a change applies calls `JobHandle::flush` after
//!   pushing it: then every later transaction is judged by the new rule set.
//! - Each update of a rule id (add, change, remove, add again) is a new version with empty
//!   windows: a changed rule does not judge transactions that came before the change.
//! - The transactions must come from one upstream shard (an embedded channel source, a
//!   collection, a single-split source), so that every group's transactions reach
//!   [`WindowJudge`] in the order they were pushed.
//! - Transactions may be up to `max_delay_ms` out of order; later ones (late, behind the
//!   watermark) are still judged, against what the window still holds.
//!
//! The carried rule (a copy in every routed transaction) keeps the two stages consistent
//! while a change travels: the judge never sees a rule version other than the one the
//! transaction was routed by.

use spate::prelude::*;
use spate::state::ValueState;
use spate::time::{WatermarkGenerator, WatermarkOutput};

use super::model::Transaction;
use super::rules::{GroupKey, Rule, RuleAlert, RuleUpdate};
use super::timed::TimedValues;

/// A rule id's current version and rule (`None` once removed; the version is kept so a
/// rule added again starts afresh).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleSlot {
    /// Bumped by every update of the id.
    pub version: u64,
    /// The rule in force, if any.
    pub rule: Option<Rule>,
}

/// A transaction routed to one rule's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed {
    /// The rule, as in force when the transaction was routed.
    pub rule: Rule,
    /// That rule's version.
    pub version: u64,
    /// The group the transaction falls in under this rule.
    pub key: GroupKey,
    /// The transaction.
    pub txn: Transaction,
}

/// The key [`WindowJudge`] runs under: (rule id, version, group).
pub type RouteKey = (u32, u64, GroupKey);

impl Routed {
    /// Its [`RouteKey`].
    #[inline]
    pub fn route_key(&self) -> RouteKey {
        (self.rule.id, self.version, self.key)
    }
}

/// Stage 1: keeps the rule set in broadcast state and routes every transaction to each rule
/// in force (Flink demo's `DynamicKeyFunction`). An invalid rule fails the job with an
/// error naming it (check [`Rule::validate`] before pushing to avoid that).
#[derive(Debug, Clone, Copy, Default)]
pub struct DynamicKey;

impl BroadcastProcessFunction<Transaction, RuleUpdate, Routed> for DynamicKey {
    type StateKey = u32;
    type StateValue = RuleSlot;

    fn process_element(
        &mut self,
        txn: Transaction,
        rules: &BroadcastState<u32, RuleSlot>,
        ctx: &mut ProcessContext<'_, Routed>,
    ) -> Result<(), UserError> {
        for slot in rules.values() {
            if let Some(rule) = slot.rule {
                ctx.collect(Routed {
                    rule,
                    version: slot.version,
                    key: rule.group_by.key(&txn),
                    txn,
                });
            }
        }
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        update: RuleUpdate,
        rules: &mut BroadcastState<u32, RuleSlot>,
        _ctx: &mut ProcessContext<'_, Routed>,
    ) -> Result<(), UserError> {
        let (id, rule) = match update {
            RuleUpdate::Upsert(rule) => {
                rule.validate()?;
                (rule.id, Some(rule))
            }
            RuleUpdate::Remove(id) => (id, None),
        };
        let version = rules.get(&id).map_or(0, |s| s.version) + 1;
        rules.insert(id, RuleSlot { version, rule });
        Ok(())
    }
}

/// One group's window: the rule's length and the `(ts, amount_cents)` of its
/// transactions, by time.
#[derive(Debug, Clone, Default)]
pub struct Window {
    window_ms: i64,
    entries: TimedValues<i64>,
}

/// Stage 2: per (rule, version, group), keeps the transactions as timestamped values,
/// judges the rule on each one, and drops what no transaction still to come can see
/// (Flink demo's `DynamicAlertFunction`).
#[derive(Clone, Default)]
pub struct WindowJudge {
    window: ValueState<RouteKey, Window>,
}

impl KeyedProcessFunction<RouteKey, Routed, RuleAlert> for WindowJudge {
    fn process_element(
        &mut self,
        r: Routed,
        ctx: &mut KeyedContext<'_, RouteKey, RuleAlert>,
    ) -> Result<(), UserError> {
        let (ts, w) = (r.txn.ts, r.rule.window_ms);
        let win = self.window.value_or_insert_with(ctx, || Window {
            window_ms: w,
            entries: TimedValues::default(),
        });
        win.entries.insert(ts, r.txn.amount_cents);
        if let Some(value) = r.rule.judge(ts, win.entries.iter()) {
            ctx.collect(RuleAlert {
                rule: r.rule.id,
                key: r.key,
                transaction: r.txn.id,
                ts,
                value,
            });
        }
        // Once the watermark passes ts + window, no transaction still to come (at or after
        // the watermark) has this one in its window.
        ctx.register_event_time_timer(ts.saturating_add(w));
        Ok(())
    }

    fn on_timer(
        &mut self,
        t: Timestamp,
        ctx: &mut KeyedContext<'_, RouteKey, RuleAlert>,
    ) -> Result<(), UserError> {
        let empty = match self.window.value_mut(ctx) {
            Some(win) => {
                win.entries.evict_through(t.saturating_sub(win.window_ms));
                win.entries.is_empty()
            }
            None => false,
        };
        if empty {
            self.window.clear(ctx);
        }
        Ok(())
    }
}

/// Watermarks for the rule stream: it never holds event time back (rule updates apply in
/// arrival order, not by timestamp), so it reports a watermark just below `+∞` at every
/// watermark interval.
#[derive(Debug, Clone, Copy, Default)]
pub struct RulesHoldNoTime;

impl WatermarkGenerator<RuleUpdate> for RulesHoldNoTime {
    fn on_event(&mut self, _r: &RuleUpdate, _ts: Timestamp, out: &mut WatermarkOutput) {
        out.emit_watermark(i64::MAX - 1);
    }
    fn on_periodic_emit(&mut self, out: &mut WatermarkOutput) {
        out.emit_watermark(i64::MAX - 1);
    }
}

/// The dynamic-rules job on streams that already carry timestamps and watermarks (the
/// transactions') — see [`dynamic_job`].
pub fn dynamic_job_stamped(
    transactions: &DataStream<Transaction>,
    rules: &DataStream<RuleUpdate>,
) -> DataStream<RuleAlert> {
    let rules =
        rules.assign_timestamps_and_watermarks(WatermarkStrategy::for_generator(RulesHoldNoTime));
    transactions
        .connect_broadcast(&rules)
        .process(DynamicKey)
        .key_by(|r: &Routed| r.route_key())
        .process(WindowJudge::default())
}

/// Judges `transactions` (event time from `Transaction::ts`, at most `max_delay_ms` out of
/// order) by the rules on `rules`, which may change while the job runs.
///
/// # Examples
///
/// ```
/// use spate_workloads::fraud::rules::*;
/// use spate_workloads::fraud::{dynamic_job, Transaction};
/// use spate_workloads::spate::prelude::*;
///
/// // Rule 9: more than 2 transactions to the same beneficiary within 10 s.
/// let rule = Rule { id: 9, group_by: GroupBy::Beneficiary, aggregate: Aggregate::Count,
///                   comparison: Comparison::Gt, threshold: 2, window_ms: 10_000 };
/// let t = |id, account, ts| Transaction { id, account, beneficiary: 5, amount_cents: 100, ts };
/// let env = Env::new().shards(2).low_latency(true);
/// let (txns_in, txns) = env.channel_source::<Transaction>(64);
/// let (rules_in, rules) = env.channel_source::<RuleUpdate>(8);
/// let alerts = dynamic_job(&txns, &rules, 0).to_channel(64);
/// let job = env.start().unwrap();
/// rules_in.push(RuleUpdate::Upsert(rule)).unwrap();
/// job.flush().unwrap(); // the rule is in force from here on
/// for txn in [t(1, 1, 0), t(2, 2, 4_000), t(3, 3, 10_000), t(4, 4, 20_001)] {
///     txns_in.push(txn).unwrap();
/// }
/// job.flush().unwrap();
/// let a = alerts.try_recv().unwrap();
/// assert_eq!((a.rule, a.key, a.transaction, a.value), (9, GroupKey::Beneficiary(5), 3, 3));
/// assert_eq!(alerts.try_recv(), None); // at 20 001 the window holds one transaction
/// job.shutdown().unwrap();
/// ```
pub fn dynamic_job(
    transactions: &DataStream<Transaction>,
    rules: &DataStream<RuleUpdate>,
    max_delay_ms: i64,
) -> DataStream<RuleAlert> {
    let txns = transactions.assign_timestamps_and_watermarks(
        WatermarkStrategy::for_bounded_out_of_orderness(max_delay_ms)
            .with_timestamp_assigner(|t: &Transaction| t.ts),
    );
    dynamic_job_stamped(&txns, rules)
}
