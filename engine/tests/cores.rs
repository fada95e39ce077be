//! `Env::cores`: every thread of a job (shards, snapshot writers, the checkpoint
//! coordinator) runs on the cores it is given, and a bad list fails the job before it
//! starts. One test in this binary, so that the threads it finds are its job's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spate::prelude::*;

/// `(name, CPUs allowed)` of every `spate-*` thread of this process, from `/proc`.
fn spate_threads() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !name.starts_with("spate-") {
            continue;
        }
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim()
            .to_string();
        out.push((name.trim().to_string(), cpus));
    }
    out.sort();
    out
}

#[test]
fn every_thread_of_a_job_runs_on_its_cores() {
    let allowed = Env::allowed_cores();
    let core = *allowed.last().expect("the kernel lists this thread's CPUs");
    let dir = tempfile::tempdir().unwrap();
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let s = seen.clone();
    // Two shards on one core: not pinned, but kept to it.
    let env = Env::new()
        .shards(2)
        .batch_size(8)
        .cores([core])
        .checkpointing(dir.path(), Duration::from_millis(30))
        .state_type::<u64>();
    let out = env
        .generate(Some(400), |i| {
            std::thread::sleep(Duration::from_millis(1));
            i
        })
        .map(move |i| {
            if i == 350 {
                *s.lock().unwrap() = spate_threads();
            }
            i
        })
        .key_by(|i| i % 7)
        .reduce(|a, b| a + b)
        .collect();
    let result = env.execute().unwrap();
    assert_eq!(out.len(), 400);
    assert!(!result.checkpoints.is_empty());
    let seen = seen.lock().unwrap().clone();
    let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "spate-checkpoin",
        "spate-shard-0",
        "spate-shard-1",
        "spate-snapshot-",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(expected)),
            "{expected} in {names:?}"
        );
    }
    for (name, cpus) in &seen {
        assert_eq!(cpus, &core.to_string(), "thread {name}");
    }

    let bad = Env::new().shards(1).cores([core, core]);
    bad.from_iter(0..3u8).collect();
    match bad.execute() {
        Err(SpateError::Config(m)) => assert!(m.contains("twice"), "{m}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
