//! Embedded jobs: push from the caller's threads, flush, graceful shutdown that loses
//! nothing, back-pressure on a full input, cancel.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spate::prelude::*;

#[test]
fn shutdown_drains_everything_pushed_on_every_shard_count() {
    for shards in common::SHARDS {
        let got = common::within(Duration::from_secs(60), move || {
            let env = Env::new().shards(shards).batch_size(7);
            let (input, xs) = env.channel_source::<u64>(64);
            let out = xs.rebalance().map(|x| x + 1).to_channel(1 << 16);
            let job = env.start().expect("job starts");
            let pushers: Vec<_> = (0..2u64)
                .map(|p| {
                    let input = input.clone();
                    std::thread::spawn(move || {
                        for i in 0..5_000u64 {
                            input.push(p * 5_000 + i).expect("push");
                        }
                    })
                })
                .collect();
            for p in pushers {
                p.join().expect("pusher");
            }
            let result = job.shutdown().expect("job ends cleanly");
            let mut got: Vec<u64> = out.iter().collect();
            got.sort();
            (got, result.records_out("channel_source"))
        });
        let expected: Vec<u64> = (1..=10_000).collect();
        assert_eq!(got.0, expected, "{shards} shards");
        assert_eq!(got.1, Some(10_000));
    }
}

#[test]
fn flush_returns_once_every_record_pushed_before_it_is_out() {
    for shards in common::SHARDS {
        common::within(Duration::from_secs(60), move || {
            let env = Env::new().shards(shards).low_latency(true);
            let (input, xs) = env.channel_source::<(u8, i64)>(256);
            let out = xs.key_by(|r| r.0).sum(|r| &mut r.1).to_channel(4096);
            let job = env.start().expect("job starts");
            for round in 1..=3i64 {
                for k in 0..10u8 {
                    input.push((k, round)).expect("push");
                }
                job.flush().expect("flush");
                let mut got = Vec::new();
                while let Some(r) = out.try_recv() {
                    got.push(r);
                }
                assert_eq!(got.len(), 10, "round {round}, {shards} shards: {got:?}");
                let total: i64 = (1..=round).sum();
                assert!(got.iter().all(|r| r.1 == total), "{got:?}");
            }
            job.shutdown().expect("job ends cleanly");
        });
    }
}

#[test]
fn a_full_input_blocks_the_pusher_instead_of_growing() {
    let release = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let env = Env::new().shards(1).batch_size(8);
    let (input, xs) = env.channel_source::<u64>(4);
    let (r, s) = (release.clone(), seen.clone());
    xs.for_each(move |_| {
        // The first record holds the shard until released.
        while !r.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        s.fetch_add(1, Ordering::Relaxed);
    });
    let job = env.start().expect("job starts");
    let pushed = Arc::new(AtomicU64::new(0));
    let p = pushed.clone();
    let pusher = std::thread::spawn(move || {
        for i in 0..10_000u64 {
            input.push(i).expect("push");
            p.fetch_add(1, Ordering::Relaxed);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let stuck_at = pushed.load(Ordering::Relaxed);
    assert!(
        stuck_at <= 4 + 8 + 1,
        "the pusher got {stuck_at} records in while the job was blocked"
    );
    release.store(true, Ordering::Release);
    pusher.join().expect("pusher");
    job.shutdown().expect("job ends cleanly");
    assert_eq!(seen.load(Ordering::Relaxed), 10_000);
}

#[test]
fn cancel_stops_a_job_at_once() {
    let env = Env::new().shards(2);
    let (input, xs) = env.channel_source::<u64>(16);
    xs.map(|x| x * 2).to_channel(16);
    let job = env.start().expect("job starts");
    input.push(1).expect("push");
    let t = Instant::now();
    let r = job.cancel();
    assert!(matches!(r, Err(SpateError::Cancelled)), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(input.push(2).is_err(), "a cancelled job takes nothing more");
}
