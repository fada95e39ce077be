//! Failed and finished jobs leave no thread behind. One test in a binary of its own, so that
//! no other test's shards run while threads are counted.

use spate::prelude::*;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// Threads named after a shard. `execute` joins every shard thread; glommio's blocking-pool
/// helper, spawned unnamed from a shard thread, inherits its name and exits on its own once
/// the executor is dropped, so the count is read after a bounded wait.
fn shard_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| {
        d.flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.starts_with("spate-shard"))
            })
            .count()
    })
}

/// `count()` once it reaches `expected` or 2 s have passed.
fn settled(count: fn() -> usize, expected: usize) -> usize {
    for _ in 0..100 {
        if count() == expected {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    count()
}

#[test]
fn finished_and_failed_jobs_leave_no_threads_behind() {
    let before = threads();
    for shards in 1..=3 {
        let env = Env::new().shards(shards);
        let out = env
            .generate(Some(10_000), |s| s)
            .key_by(|s| s % 7)
            .sum(|s| s)
            .collect();
        env.execute().expect("job fails");
        assert_eq!(out.len(), 10_000);
        assert_eq!(
            settled(shard_threads, 0),
            0,
            "after a finished job on {shards} shards"
        );
        assert_eq!(settled(threads, before), before);
    }
    for shards in 1..=3 {
        let env = Env::new().shards(shards);
        env.generate(None, |s| s)
            .key_by(|s| s % 7)
            .as_stream()
            .map(|s| {
                assert!(s < 50_000, "enough");
                s
            });
        assert!(env.execute().is_err());
        assert_eq!(
            settled(shard_threads, 0),
            0,
            "after a failed job on {shards} shards"
        );
        assert_eq!(settled(threads, before), before);
    }
}
