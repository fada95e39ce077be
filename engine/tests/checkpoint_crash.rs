//! The crash test: the `crash_job` example's job runs as a child process (this test binary
//! again, in child mode), is killed with SIGKILL at random moments and started again with
//! the same directories until it finishes; its published output must equal a failure-free
//! run's. A quick version (3 kills) runs in the normal suite; `SPATE_CRASH_TEST=1` runs the
//! full one (25 kills), as does `scripts/crash-test.sh` with the example binary.

#[path = "../examples/crash_job.rs"]
#[allow(dead_code)]
mod crash_job;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crash_job::{published, run, Job};

const CHILD: &str = "SPATE_CRASH_CHILD";

fn job(dir: &Path, checkpoints: bool, records: u64) -> Job {
    Job {
        checkpoint_dir: checkpoints.then(|| dir.join("chk")),
        out: dir.join("out"),
        records,
        shards: 2,
        interval_ms: 200,
        // About 1 ms of generator sleep per 20 records per shard: 10,000 records take
        // about 250 ms on 2 shards, whatever the machine's speed.
        slow_every: 20,
    }
}

/// In child mode (started by `crash`), runs the job; otherwise does nothing.
#[test]
fn crash_child() {
    if let Ok(spec) = std::env::var(CHILD) {
        let (dir, records) = spec.split_once('|').expect("dir|records");
        run(&job(
            Path::new(dir),
            true,
            records.parse().expect("records"),
        ))
        .expect("job");
    }
}

fn spawn_child(dir: &Path, records: u64) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{}|{records}", dir.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child starts")
}

/// The job is long enough that it cannot finish before its last kill: each kill comes at
/// most 650 ms after a start, and 10,000 records take about 250 ms on 2 shards.
/// A small deterministic pseudo-random sequence (no dependency needed).
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn crash(kills: u32, records: u64) {
    let reference = {
        let tmp = tempfile::tempdir().unwrap();
        run(&job(tmp.path(), false, records)).unwrap();
        published(&tmp.path().join("out"))
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
    let mut killed = 0;
    let mut finished = false;
    let deadline = Instant::now() + Duration::from_secs(600);
    while !finished {
        assert!(Instant::now() < deadline, "the job never finished");
        let mut child = spawn_child(tmp.path(), records);
        if killed < kills {
            // Between 50 and 650 ms: before, during and after checkpoints.
            let wait = Duration::from_millis(50 + next(&mut seed) % 600);
            let started = Instant::now();
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "the job failed: {status}");
                    panic!("the job finished after only {killed} of {kills} kills: lengthen it");
                }
                if started.elapsed() >= wait {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    killed += 1;
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        } else {
            let status = child.wait().unwrap();
            assert!(status.success(), "the job failed: {status}");
            finished = true;
        }
    }
    let got = published(&tmp.path().join("out"));
    if got != reference {
        let missing = reference
            .iter()
            .filter(|l| !got.contains(l))
            .take(5)
            .collect::<Vec<_>>();
        let extra = got
            .iter()
            .filter(|l| !reference.contains(l))
            .take(5)
            .collect::<Vec<_>>();
        panic!(
            "after {killed} kills: {} lines published, {} expected; missing e.g. {missing:?}, \
             unexpected e.g. {extra:?}",
            got.len(),
            reference.len()
        );
    }
    eprintln!(
        "{killed} kills, {} lines, identical to the failure-free run",
        got.len()
    );
}

#[test]
fn survives_a_few_kills() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    crash(3, 80_000);
}

#[test]
fn survives_many_kills() {
    if std::env::var(CHILD).is_ok() || std::env::var("SPATE_CRASH_TEST").is_err() {
        return;
    }
    crash(25, 800_000);
}
