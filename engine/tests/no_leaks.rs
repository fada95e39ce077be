//! Failed and finished jobs leave no thread behind. One test in a binary of its own, so that
//! no other test's shards run while threads are counted.

use spate::prelude::*;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
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
        assert_eq!(threads(), before, "after a finished job on {shards} shards");
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
        assert_eq!(threads(), before, "after a failed job on {shards} shards");
    }
}
