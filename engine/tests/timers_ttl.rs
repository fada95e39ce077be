//! Processing-time timers and state TTL, driven by a manual clock.

mod common;

use std::time::{Duration, Instant};

use spate::io::{Source, SourceOutput, SourceSplit, SourceStatus};
use spate::prelude::*;
use spate::state::{StateTtl, ValueState};
use spate::time::{Clock, ManualClock};

/// Emits `items` on shard 0, then stays idle until the clock reaches `end_at`.
#[derive(Clone)]
struct Script {
    items: Vec<(u8, i64)>,
    clock: ManualClock,
    end_at: i64,
}

struct ScriptSplit {
    items: std::vec::IntoIter<(u8, i64)>,
    clock: ManualClock,
    end_at: i64,
}

impl SourceSplit<(u8, i64)> for ScriptSplit {
    fn poll(&mut self, out: &mut SourceOutput<'_, (u8, i64)>) -> Result<SourceStatus, SpateError> {
        if let Some(r) = self.items.next() {
            out.emit(r);
            return Ok(SourceStatus::More);
        }
        Ok(if self.clock.now_ms() >= self.end_at {
            SourceStatus::Done
        } else {
            SourceStatus::Idle
        })
    }
}

impl Source<(u8, i64)> for Script {
    fn split(
        &mut self,
        shard: usize,
        _n: usize,
    ) -> Result<Box<dyn SourceSplit<(u8, i64)>>, SpateError> {
        let items = if shard == 0 {
            std::mem::take(&mut self.items)
        } else {
            Vec::new()
        };
        Ok(Box::new(ScriptSplit {
            items: items.into_iter(),
            clock: self.clock.clone(),
            end_at: self.end_at,
        }))
    }
}

/// Registers a processing-time timer 100 ms after each record; the timer emits the key.
#[derive(Clone)]
struct Remind;

impl KeyedProcessFunction<u8, (u8, i64), (u8, i64)> for Remind {
    fn process_element(
        &mut self,
        r: (u8, i64),
        ctx: &mut KeyedContext<'_, u8, (u8, i64)>,
    ) -> Result<(), UserError> {
        let at = ctx.current_processing_time() + 100;
        ctx.register_processing_time_timer(at);
        if r.1 < 0 {
            ctx.delete_processing_time_timer(at);
        }
        Ok(())
    }
    fn on_timer(
        &mut self,
        ts: i64,
        ctx: &mut KeyedContext<'_, u8, (u8, i64)>,
    ) -> Result<(), UserError> {
        assert_eq!(
            ctx.time_domain(),
            Some(spate::time::TimeDomain::ProcessingTime)
        );
        ctx.collect((*ctx.current_key(), ts));
        Ok(())
    }
}

#[test]
fn processing_time_timers_fire_when_the_clock_reaches_them_and_deleted_ones_never() {
    for shards in common::SHARDS {
        let clock = ManualClock::new(1_000);
        let c = clock.clone();
        let driver = std::thread::spawn(move || {
            // Move time forward slowly; the job ends when the clock passes 5 000.
            let start = Instant::now();
            while c.now_ms() < 5_000 && start.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(20));
                c.advance(50);
            }
        });
        let script = Script {
            items: vec![(1, 1), (2, -1), (3, 1)],
            clock: clock.clone(),
            end_at: 5_000,
        };
        let out = common::within(Duration::from_secs(30), move || {
            let env = Env::new().shards(shards).clock(clock);
            let out = env
                .add_source("script", script)
                .key_by(|r| r.0)
                .process(Remind)
                .collect();
            env.execute().expect("job fails");
            out.sorted()
        });
        driver.join().expect("clock driver");
        let keys: Vec<u8> = out.iter().map(|r| r.0).collect();
        assert_eq!(
            keys,
            vec![1, 3],
            "key 2 deleted its timer ({shards} shards)"
        );
        assert!(out.iter().all(|r| r.1 >= 1_100 && r.1 < 5_000), "{out:?}");
    }
}

#[test]
fn processing_time_timers_pending_at_the_end_of_input_are_dropped() {
    let env = Env::new().shards(2).clock(ManualClock::new(0));
    let out = env
        .from_iter(vec![(1u8, 1i64)])
        .key_by(|r| r.0)
        .process(Remind)
        .collect();
    env.execute().expect("job fails");
    assert!(out.is_empty());
}

/// Counts records per key with a 1 s TTL on the count.
#[derive(Clone)]
struct CountWithTtl {
    count: ValueState<u8, u64>,
}

impl KeyedProcessFunction<u8, (u8, i64), (u8, u64)> for CountWithTtl {
    fn process_element(
        &mut self,
        r: (u8, i64),
        ctx: &mut KeyedContext<'_, u8, (u8, u64)>,
    ) -> Result<(), UserError> {
        let n = self.count.value(ctx).copied().unwrap_or(0) + 1;
        self.count.update(ctx, n);
        ctx.collect((r.0, n));
        Ok(())
    }
}

#[test]
fn state_ttl_expires_entries_in_processing_time() {
    let clock = ManualClock::new(0);
    // Records are stamped with the time at which the source should emit them; the source
    // moves the shared clock to that time first.
    #[derive(Clone)]
    struct Timed(Vec<(u8, i64)>, ManualClock);
    struct TimedSplit(std::vec::IntoIter<(u8, i64)>, ManualClock);
    impl SourceSplit<(u8, i64)> for TimedSplit {
        fn poll(
            &mut self,
            out: &mut SourceOutput<'_, (u8, i64)>,
        ) -> Result<SourceStatus, SpateError> {
            match self.0.next() {
                Some(r) => {
                    self.1.set(r.1);
                    out.emit(r);
                    Ok(SourceStatus::More)
                }
                None => Ok(SourceStatus::Done),
            }
        }
    }
    impl Source<(u8, i64)> for Timed {
        fn split(
            &mut self,
            shard: usize,
            _n: usize,
        ) -> Result<Box<dyn SourceSplit<(u8, i64)>>, SpateError> {
            let items = if shard == 0 {
                std::mem::take(&mut self.0)
            } else {
                Vec::new()
            };
            Ok(Box::new(TimedSplit(items.into_iter(), self.1.clone())))
        }
    }
    // One shard and one-record batches: the operator reads the clock per batch, right after
    // the source set it.
    let env = Env::new().shards(1).batch_size(1).clock(clock.clone());
    let input = vec![
        (1u8, 0i64),
        (1, 500),
        (1, 1_400),
        (1, 2_500),
        (2, 2_600),
        (1, 3_499),
    ];
    let out = env
        .add_source("timed", Timed(input, clock))
        .key_by(|r| r.0)
        .process(CountWithTtl {
            count: ValueState::with_ttl(StateTtl::new(1_000)),
        })
        .collect();
    env.execute().expect("job fails");
    // 0 → 1; 500 → 2 (touched at 500); 1 400 → 3 (500 + 1 000 > 1 400);
    // 2 500 → expired (1 400 + 1 000 <= 2 500) → 1; 3 499 → 2 (2 500 + 1 000 > 3 499).
    assert_eq!(
        out.take(),
        vec![(1, 1), (1, 2), (1, 3), (1, 1), (2, 1), (1, 2)]
    );
}
