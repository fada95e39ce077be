//! Recovery time per GB of keyed state, and checkpoint size and duration, heap against mmap
//! (incremental). One shard: a job inserts `--mb` MB of state (`--value-bytes` values under
//! distinct `u64` keys, in `ValueState` or `MmapValueState`), paced over about `--secs`
//! seconds with checkpoints every `--interval-ms`; then a new job on the same directory
//! restores the final checkpoint.
//!
//! Prints per backend: the load's wall time; per checkpoint, the bytes it lists and the
//! bytes it adds (files or inodes no earlier checkpoint has), and the synchronous snapshot
//! time on the shard (the time spent in `KeyedProcessFunction::state` at the barrier: the
//! heap encoding, or the mmap seal + fsync + links); for the recovery job, the time spent
//! restoring the state (`state` in restore mode, after the checkpoint was verified and
//! loaded) and the recovery job's wall time (verification, load, restore, plus the final
//! snapshot it takes again when it ends, which is a full copy for the heap).
//!
//! ```text
//! cargo run --release --example recovery_bench -- [--mb 256] [--value-bytes 200] [--secs 6]
//!     [--interval-ms 1000] [--dir /tmp]
//! ```

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Parser;
use spate::prelude::*;
use spate::state::mmap::MmapValueState;
use spate::state::ValueState;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// State to build, in MB of keys and values.
    #[arg(long, default_value_t = 256)]
    mb: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 200)]
    value_bytes: usize,
    /// Roughly how long the load runs (paced), so that checkpoints happen during it.
    #[arg(long, default_value_t = 6)]
    secs: u64,
    /// Checkpoint interval.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Parent of the working directories (removed at the end).
    #[arg(long, default_value = "/tmp")]
    dir: PathBuf,
}

/// Durations of `state()` calls over 1 ms, in order: (when, how long).
static CALLS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

fn timed(f: impl FnOnce()) {
    let t = Instant::now();
    f();
    let d = t.elapsed();
    if d > Duration::from_millis(1) {
        if let Ok(mut c) = CALLS.lock() {
            c.push(d);
        }
    }
}

#[derive(Clone, Default)]
struct Heap {
    v: ValueState<u64, Vec<u8>>,
    bytes: usize,
}

impl KeyedProcessFunction<u64, u64, ()> for Heap {
    fn process_element(
        &mut self,
        k: u64,
        ctx: &mut KeyedContext<'_, u64, ()>,
    ) -> Result<(), UserError> {
        self.v.update(ctx, vec![k as u8; self.bytes]);
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        timed(|| reg.register("v", &mut self.v));
    }
}

#[derive(Clone, Default)]
struct Mmap {
    v: MmapValueState<u64, Vec<u8>>,
    bytes: usize,
    buf: Vec<u8>,
}

impl KeyedProcessFunction<u64, u64, ()> for Mmap {
    fn process_element(
        &mut self,
        k: u64,
        ctx: &mut KeyedContext<'_, u64, ()>,
    ) -> Result<(), UserError> {
        self.buf.clear();
        self.buf.resize(self.bytes, k as u8);
        self.v.update(ctx, &self.buf)?;
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        timed(|| reg.register("v", &mut self.v));
    }
}

#[derive(Clone)]
struct Discard;
impl spate::io::Sink<()> for Discard {
    fn write(&mut self, _v: (), _ts: Option<i64>) -> Result<(), UserError> {
        Ok(())
    }
}

fn build(env: &Env, a: &Args, mmap: bool) {
    let keys = a.mb * 1_000_000 / (a.value_bytes as u64 + 8);
    // Pace: a 1 ms pause every `every` records spreads the load over about `secs`.
    let every = (keys / (a.secs * 1000).max(1)).max(1);
    let s = env
        .generate(Some(keys), move |i| {
            if i % every == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            i
        })
        .key_by(|k: &u64| *k);
    if mmap {
        s.process(Mmap {
            bytes: a.value_bytes,
            ..Default::default()
        })
        .add_sink("discard", Discard);
    } else {
        s.process(Heap {
            bytes: a.value_bytes,
            ..Default::default()
        })
        .add_sink("discard", Discard);
    }
}

fn env(a: &Args, chk: &Path, state: &Path, mmap: bool) -> Env {
    let e = Env::new()
        .shards(1)
        .checkpoint_config(spate::checkpoint::CheckpointConfig {
            retain: 1000,
            ..spate::checkpoint::CheckpointConfig::new(chk, Duration::from_millis(a.interval_ms))
        });
    if mmap {
        e.state_backend(StateBackend::mmap(state))
    } else {
        e
    }
}

/// Every file under `d`: (inode, size).
fn files(d: &Path) -> Vec<(u64, u64)> {
    let mut v = Vec::new();
    let mut stack = vec![d.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if let Ok(md) = std::fs::metadata(&p) {
                if md.is_dir() {
                    stack.push(p);
                } else if p.file_name().is_some_and(|n| n != "_manifest") {
                    v.push((md.ino(), md.len()));
                }
            }
        }
    }
    v
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

fn run(a: &Args, mmap: bool) -> anyhow::Result<()> {
    let name = if mmap { "mmap" } else { "heap" };
    let root = a
        .dir
        .join(format!("spate-recovery-{name}-{}", std::process::id()));
    let (chk, state) = (root.join("chk"), root.join("state"));
    CALLS.lock().map_err(|_| anyhow::anyhow!("lock"))?.clear();
    let e = env(a, &chk, &state, mmap);
    build(&e, a, mmap);
    let t = Instant::now();
    e.execute()?;
    let load = t.elapsed();
    let snaps: Vec<Duration> =
        std::mem::take(&mut *CALLS.lock().map_err(|_| anyhow::anyhow!("lock"))?);

    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&chk)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("_manifest").is_file())
        .collect();
    dirs.sort();
    let mut seen: HashSet<u64> = HashSet::new();
    println!(
        "{name}: load {:.2} s, {} checkpoints",
        load.as_secs_f64(),
        dirs.len()
    );
    let mut last_listed = 0;
    for d in &dirs {
        let f = files(d);
        let listed: u64 = f.iter().map(|x| x.1).sum();
        let added: u64 = f.iter().filter(|x| !seen.contains(&x.0)).map(|x| x.1).sum();
        seen.extend(f.iter().map(|x| x.0));
        println!(
            "  {}: lists {:.1} MB, adds {:.1} MB",
            d.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            mb(listed),
            mb(added),
        );
        last_listed = listed;
    }
    let ms: Vec<String> = snaps
        .iter()
        .map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
        .collect();
    println!(
        "  synchronous snapshot times at the barriers, ms (last: the final one): {}",
        ms.join(" ")
    );
    let distinct: u64 = {
        let mut all = std::collections::HashMap::new();
        for d in &dirs {
            for (ino, len) in files(d) {
                all.insert(ino, len);
            }
        }
        all.values().sum()
    };
    println!(
        "  all checkpoints: {:.1} MB on disk (distinct files), {:.1} MB listed in total",
        mb(distinct),
        mb(dirs
            .iter()
            .map(|d| files(d).iter().map(|x| x.1).sum::<u64>())
            .sum())
    );

    // Recovery: a new job on the same directory restores the final checkpoint.
    CALLS.lock().map_err(|_| anyhow::anyhow!("lock"))?.clear();
    let e = env(a, &chk, &state, mmap);
    build(&e, a, mmap);
    let t = Instant::now();
    e.execute()?;
    let wall = t.elapsed();
    let calls = std::mem::take(&mut *CALLS.lock().map_err(|_| anyhow::anyhow!("lock"))?);
    let restore = calls.first().copied().unwrap_or_default();
    let gb = last_listed as f64 / 1e9;
    println!(
        "  recovery of {:.1} MB: restore {:.3} s ({:.2} s/GB), job wall {:.3} s ({:.2} s/GB)",
        mb(last_listed),
        restore.as_secs_f64(),
        restore.as_secs_f64() / gb,
        wall.as_secs_f64(),
        wall.as_secs_f64() / gb
    );
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    run(&a, false)?;
    run(&a, true)?;
    Ok(())
}
