//! Shared helpers for the engine's integration tests.
#![allow(dead_code)]

pub mod checkpoints;
pub mod gated;

use std::sync::mpsc;
use std::time::Duration;

/// Shard counts every stateful operator is checked on.
pub const SHARDS: [usize; 3] = [1, 2, 3];
/// Batch sizes that force batch boundaries everywhere (1, 7) and the default (1024).
pub const BATCHES: [usize; 3] = [1, 7, 1024];

/// Every (shards, batch size) combination.
pub fn configs() -> impl Iterator<Item = (usize, usize)> {
    SHARDS
        .into_iter()
        .flat_map(|s| BATCHES.into_iter().map(move |b| (s, b)))
}

/// Runs `f` on another thread and fails the test if it takes longer than `limit`:
/// a hung job must fail the test, not the whole suite.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the job did not finish within {limit:?}"))
}
