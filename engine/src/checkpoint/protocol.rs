//! The checkpoint protocol as pure functions from observed facts to decisions: when to
//! trigger an epoch, when it is complete, when it is declined, which checkpoints to keep and
//! which one to restore. The runtime's coordinator carries the decisions out; nothing here
//! touches threads, clocks or files, so every rule is unit-tested.

/// What the coordinator should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing to do yet.
    Wait,
    /// Ask the sources to inject barrier `epoch` now.
    Trigger(u64),
    /// Every shard acknowledged `epoch`: write its manifest, then commit sinks.
    Complete(u64),
    /// `epoch` failed (a shard declined it or it timed out); the next one will be tried.
    Decline {
        /// The epoch given up.
        epoch: u64,
        /// Why, for the log.
        reason: String,
    },
}

/// The epoch in flight and which shards acknowledged it.
#[derive(Debug, Clone)]
struct InFlight {
    epoch: u64,
    started_ms: u64,
    acked: Vec<bool>,
    remaining: usize,
}

/// The coordinator's state machine: one epoch in flight at a time (Flink's default of one
/// concurrent checkpoint), triggered every `interval_ms`, declined after `timeout_ms`.
#[derive(Debug, Clone)]
pub(crate) struct Coordinator {
    shards: usize,
    interval_ms: u64,
    timeout_ms: u64,
    next_epoch: u64,
    last_trigger_ms: Option<u64>,
    in_flight: Option<InFlight>,
    /// Trigger as soon as no epoch is in flight (a savepoint was asked for).
    asap: bool,
}

impl Coordinator {
    /// A coordinator for `shards` shards whose first epoch is `first_epoch` (one more than
    /// the epoch restored from, so that epoch numbers never repeat in a checkpoint directory).
    pub(crate) fn new(shards: usize, interval_ms: u64, timeout_ms: u64, first_epoch: u64) -> Self {
        Coordinator {
            shards,
            interval_ms: interval_ms.max(1),
            timeout_ms: timeout_ms.max(1),
            next_epoch: first_epoch.max(1),
            last_trigger_ms: None,
            in_flight: None,
            asap: false,
        }
    }

    /// The epoch in flight, if any.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> Option<u64> {
        self.in_flight.as_ref().map(|f| f.epoch)
    }

    /// The epoch the next trigger will use.
    pub(crate) fn next_epoch(&self) -> u64 {
        self.next_epoch
    }

    /// A savepoint was asked for: the next epoch is triggered as soon as none is in flight,
    /// without waiting for the interval.
    pub(crate) fn request_now(&mut self) {
        self.asap = true;
    }

    /// Time passed: trigger the next epoch when one is due and none is in flight; decline
    /// the one in flight once it has run longer than the timeout.
    pub(crate) fn on_tick(&mut self, now_ms: u64) -> Decision {
        if let Some(f) = &self.in_flight {
            if now_ms.saturating_sub(f.started_ms) >= self.timeout_ms {
                let epoch = f.epoch;
                self.in_flight = None;
                return Decision::Decline {
                    epoch,
                    reason: format!(
                        "not acknowledged by every shard within {} ms",
                        self.timeout_ms
                    ),
                };
            }
            return Decision::Wait;
        }
        let due = self.asap
            || match self.last_trigger_ms {
                None => now_ms >= self.interval_ms,
                Some(t) => now_ms >= t.saturating_add(self.interval_ms),
            };
        if !due {
            return Decision::Wait;
        }
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        self.asap = false;
        self.last_trigger_ms = Some(now_ms);
        self.in_flight = Some(InFlight {
            epoch,
            started_ms: now_ms,
            acked: vec![false; self.shards],
            remaining: self.shards,
        });
        Decision::Trigger(epoch)
    }

    /// Shard `shard` acknowledged `epoch` (its snapshot files are durable). Acks of epochs
    /// no longer in flight, and repeated acks, change nothing.
    pub(crate) fn on_ack(&mut self, epoch: u64, shard: usize) -> Decision {
        let Some(f) = self.in_flight.as_mut() else {
            return Decision::Wait;
        };
        if f.epoch != epoch || shard >= f.acked.len() || f.acked[shard] {
            return Decision::Wait;
        }
        f.acked[shard] = true;
        f.remaining -= 1;
        if f.remaining == 0 {
            self.in_flight = None;
            return Decision::Complete(epoch);
        }
        Decision::Wait
    }

    /// Shard `shard` could not snapshot `epoch` (a write failed): the epoch fails, the job
    /// goes on, and the next epoch is triggered at its usual time.
    pub(crate) fn on_decline(&mut self, epoch: u64, shard: usize, why: &str) -> Decision {
        match &self.in_flight {
            Some(f) if f.epoch == epoch => {
                self.in_flight = None;
                Decision::Decline {
                    epoch,
                    reason: format!("shard {shard} declined: {why}"),
                }
            }
            _ => Decision::Wait,
        }
    }
}

/// The complete checkpoints to delete so that only the newest `keep` (at least one) remain.
pub(crate) fn to_delete(complete: &[u64], keep: usize) -> Vec<u64> {
    let mut sorted = complete.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let keep = keep.max(1);
    let cut = sorted.len().saturating_sub(keep);
    sorted.truncate(cut);
    sorted
}

/// The checkpoint to restore: the newest whose verification succeeded. Every newer one that
/// failed is reported with its reason through `skipped` (the caller logs it).
pub(crate) fn choose_restore(
    mut candidates: Vec<(u64, Result<(), String>)>,
    mut skipped: impl FnMut(u64, &str),
) -> Option<u64> {
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    for (epoch, verdict) in candidates {
        match verdict {
            Ok(()) => return Some(epoch),
            Err(why) => skipped(epoch, &why),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_every_interval_one_at_a_time() {
        let mut c = Coordinator::new(2, 100, 1_000, 1);
        assert_eq!(c.on_tick(50), Decision::Wait);
        assert_eq!(c.on_tick(100), Decision::Trigger(1));
        // In flight: no second trigger even when the interval passed again.
        assert_eq!(c.on_tick(250), Decision::Wait);
        assert_eq!(c.on_ack(1, 0), Decision::Wait);
        assert_eq!(c.on_ack(1, 1), Decision::Complete(1));
        assert_eq!(c.in_flight(), None);
        // The interval counts from the last trigger (100): 250 ≥ 200.
        assert_eq!(c.on_tick(250), Decision::Trigger(2));
        assert_eq!(c.next_epoch(), 3);
    }

    #[test]
    fn a_savepoint_request_triggers_at_once_but_after_the_epoch_in_flight() {
        let mut c = Coordinator::new(1, 1_000_000, 10_000_000, 1);
        c.request_now();
        assert_eq!(
            c.on_tick(5),
            Decision::Trigger(1),
            "no wait for the interval"
        );
        c.request_now();
        assert_eq!(c.on_tick(6), Decision::Wait, "epoch 1 in flight");
        assert_eq!(c.on_ack(1, 0), Decision::Complete(1));
        assert_eq!(c.on_tick(7), Decision::Trigger(2));
        assert_eq!(c.on_ack(2, 0), Decision::Complete(2));
        assert_eq!(c.on_tick(8), Decision::Wait, "served: back to the interval");
    }

    #[test]
    fn completion_needs_every_shard_once() {
        let mut c = Coordinator::new(3, 10, 1_000, 7);
        assert_eq!(c.on_tick(10), Decision::Trigger(7));
        assert_eq!(c.on_ack(7, 2), Decision::Wait);
        assert_eq!(c.on_ack(7, 2), Decision::Wait, "a repeated ack counts once");
        assert_eq!(
            c.on_ack(6, 0),
            Decision::Wait,
            "an old epoch's ack is ignored"
        );
        assert_eq!(
            c.on_ack(7, 9),
            Decision::Wait,
            "an unknown shard is ignored"
        );
        assert_eq!(c.on_ack(7, 0), Decision::Wait);
        assert_eq!(c.on_ack(7, 1), Decision::Complete(7));
        assert_eq!(c.on_ack(7, 1), Decision::Wait, "nothing in flight any more");
    }

    #[test]
    fn a_declined_epoch_fails_and_the_next_one_is_still_tried() {
        let mut c = Coordinator::new(2, 10, 1_000, 1);
        assert_eq!(c.on_tick(10), Decision::Trigger(1));
        assert_eq!(c.on_ack(1, 0), Decision::Wait);
        match c.on_decline(1, 1, "disk full") {
            Decision::Decline { epoch: 1, reason } => assert!(reason.contains("disk full")),
            d => panic!("unexpected {d:?}"),
        }
        // A late ack of the declined epoch does not complete it.
        assert_eq!(c.on_ack(1, 1), Decision::Wait);
        assert_eq!(c.on_decline(1, 0, "again"), Decision::Wait);
        assert_eq!(c.on_tick(20), Decision::Trigger(2));
        assert_eq!(c.on_ack(2, 0), Decision::Wait);
        assert_eq!(c.on_ack(2, 1), Decision::Complete(2));
    }

    #[test]
    fn an_epoch_times_out() {
        let mut c = Coordinator::new(1, 10, 100, 1);
        assert_eq!(c.on_tick(10), Decision::Trigger(1));
        assert_eq!(c.on_tick(109), Decision::Wait);
        assert!(matches!(c.on_tick(110), Decision::Decline { epoch: 1, .. }));
        assert_eq!(c.on_tick(110), Decision::Trigger(2));
    }

    #[test]
    fn retention_keeps_the_newest() {
        assert_eq!(to_delete(&[3, 1, 2, 5], 2), vec![1, 2]);
        assert_eq!(to_delete(&[1], 3), Vec::<u64>::new());
        assert_eq!(to_delete(&[1, 2], 0), vec![1], "at least one is kept");
    }

    #[test]
    fn restore_picks_the_newest_valid_and_reports_the_skipped() {
        let mut skipped = Vec::new();
        let got = choose_restore(
            vec![
                (1, Ok(())),
                (3, Err("bad checksum".into())),
                (2, Ok(())),
                (4, Err("truncated".into())),
            ],
            |e, why| skipped.push((e, why.to_string())),
        );
        assert_eq!(got, Some(2));
        assert_eq!(
            skipped,
            vec![
                (4, "truncated".to_string()),
                (3, "bad checksum".to_string())
            ]
        );
        assert_eq!(choose_restore(vec![(1, Err("x".into()))], |_, _| {}), None);
        assert_eq!(choose_restore(Vec::new(), |_, _| {}), None);
    }
}
