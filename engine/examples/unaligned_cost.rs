//! Aligned vs unaligned checkpoints under back-pressure: a generator → `key_by` over 1,000
//! keys → a deliberately slow keyed process (spins `--spin-ns` per record, default 3,000,
//! and counts in `ValueState`) → a discarding sink, on `--shards` (default 2). The
//! generator is far faster than the keyed process, so the exchange channels stay full.
//! Runs alternate between the two modes (`--runs` each, default 3, `--records` each,
//! default 1,000,000; checkpoints every `--interval-ms`, default 200); prints, per mode,
//! the median and spread of the checkpoint duration (trigger → manifest renamed, as the
//! coordinator reports it), the in-flight bytes per checkpoint, and the throughput.
//!
//! ```text
//! cargo run --release --example unaligned_cost -- [--records N] [--shards S] [--runs R]
//!     [--interval-ms MS] [--spin-ns NS] [--dir DIR (checkpoints under it; default: temp)]
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spate::prelude::*;
use spate::state::ValueState;

#[derive(Clone)]
struct Slow {
    n: ValueState<u64, u64>,
    spin: Duration,
}

impl KeyedProcessFunction<u64, u64, u64> for Slow {
    fn process_element(
        &mut self,
        _v: u64,
        ctx: &mut KeyedContext<'_, u64, u64>,
    ) -> Result<(), UserError> {
        let t = Instant::now();
        while t.elapsed() < self.spin {
            std::hint::spin_loop();
        }
        let n = self.n.value_or_insert_with(ctx, || 0);
        *n += 1;
        if *n % 1_000 == 0 {
            let n = *n;
            ctx.collect(n);
        }
        Ok(())
    }

    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.n);
    }
}

#[derive(Clone)]
struct Discard;
impl spate::io::Sink<u64> for Discard {
    fn write(&mut self, _v: u64, _ts: Option<i64>) -> Result<(), UserError> {
        Ok(())
    }
}

/// What the engine reported through `tracing`: per epoch, its duration (µs), when it was
/// triggered and when the last shard had its snapshot (every participant's part, in-flight
/// data included), and the in-flight bytes recorded for it.
#[derive(Default)]
struct Seen {
    done: BTreeMap<u64, u64>,
    triggered: BTreeMap<u64, Instant>,
    taken: BTreeMap<u64, Instant>,
    inflight: BTreeMap<u64, u64>,
}

/// A minimal `tracing` subscriber collecting the two events of interest.
struct Collect(Arc<Mutex<Seen>>);

#[derive(Default)]
struct Fields {
    epoch: Option<u64>,
    micros: Option<u64>,
    bytes: Option<u64>,
    message: String,
}

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, f: &tracing::field::Field, v: u64) {
        match f.name() {
            "epoch" => self.epoch = Some(v),
            "micros" => self.micros = Some(v),
            "bytes" => self.bytes = Some(v),
            _ => {}
        }
    }
    fn record_i64(&mut self, f: &tracing::field::Field, v: i64) {
        self.record_u64(f, v as u64)
    }
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            self.message = format!("{v:?}");
        }
    }
}

impl tracing::Subscriber for Collect {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let mut f = Fields::default();
        e.record(&mut f);
        let Some(epoch) = f.epoch else { return };
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if f.message.contains("checkpoint complete") {
            if let Some(us) = f.micros {
                s.done.insert(epoch, us);
            }
        } else if f.message.contains("checkpoint triggered") {
            s.triggered.insert(epoch, Instant::now());
        } else if f.message.contains("shard snapshot taken") {
            s.taken.insert(epoch, Instant::now()); // the last shard's wins
        } else if f.message.contains("in-flight data recorded") {
            *s.inflight.entry(epoch).or_default() += f.bytes.unwrap_or(0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

struct Run {
    rate: f64,
    durations_ms: Vec<f64>,
    /// Trigger → every shard's snapshot taken (the part alignment decides).
    taken_ms: Vec<f64>,
    inflight: Vec<u64>,
}

fn run(cfg: &Cfg, unaligned: bool, seen: &Arc<Mutex<Seen>>) -> Run {
    *seen.lock().unwrap_or_else(|e| e.into_inner()) = Seen::default();
    let dir = cfg
        .dir
        .join(format!("spate-unaligned-cost-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let env = Env::new()
        .shards(cfg.shards)
        .checkpointing(&dir, Duration::from_millis(cfg.interval_ms))
        .unaligned_checkpoints(unaligned)
        .state_type::<u64>();
    env.generate(Some(cfg.records), |s| {
        s.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000
    })
    .key_by(|k: &u64| *k)
    .process(Slow {
        n: ValueState::new(),
        spin: Duration::from_nanos(cfg.spin_ns),
    })
    .add_sink("discard", Discard);
    let t = Instant::now();
    env.execute().expect("job");
    let rate = cfg.records as f64 / t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    let s = seen.lock().unwrap_or_else(|e| e.into_inner());
    Run {
        rate,
        durations_ms: s.done.values().map(|us| *us as f64 / 1e3).collect(),
        taken_ms: s
            .done
            .keys()
            .filter_map(|e| Some(s.taken.get(e)?.duration_since(*s.triggered.get(e)?)))
            .map(|d| d.as_secs_f64() * 1e3)
            .collect(),
        // Every completed checkpoint, with the in-flight bytes recorded for it (0: none).
        inflight: s
            .done
            .keys()
            .map(|e| s.inflight.get(e).copied().unwrap_or(0))
            .collect(),
    }
}

struct Cfg {
    records: u64,
    shards: usize,
    runs: usize,
    interval_ms: u64,
    spin_ns: u64,
    dir: std::path::PathBuf,
}

fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let mut cfg = Cfg {
        records: 1_000_000,
        shards: 2,
        runs: 3,
        interval_ms: 200,
        spin_ns: 3_000,
        dir: std::env::temp_dir(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--dir" {
            cfg.dir = args.next().map(Into::into).unwrap_or_else(|| {
                eprintln!("--dir needs a directory");
                std::process::exit(2)
            });
            continue;
        }
        let v: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            eprintln!("{a} needs a number");
            std::process::exit(2)
        });
        match a.as_str() {
            "--records" => cfg.records = v,
            "--shards" => cfg.shards = v as usize,
            "--runs" => cfg.runs = v as usize,
            "--interval-ms" => cfg.interval_ms = v,
            "--spin-ns" => cfg.spin_ns = v,
            _ => {
                eprintln!("unknown argument {a}");
                std::process::exit(2)
            }
        }
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    if tracing::subscriber::set_global_default(Collect(seen.clone())).is_err() {
        eprintln!("a tracing subscriber is set already");
        std::process::exit(1)
    }
    println!(
        "records {}, shards {}, runs {} per mode (alternating), interval {} ms, spin {} ns/record, dir {}",
        cfg.records, cfg.shards, cfg.runs, cfg.interval_ms, cfg.spin_ns, cfg.dir.display()
    );
    let mut all: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..cfg.runs {
        for (m, unaligned) in [false, true].into_iter().enumerate() {
            let r = run(&cfg, unaligned, &seen);
            let ms = |v: &[f64]| v.iter().map(|d| d.round() as u64).collect::<Vec<_>>();
            println!(
                "  {:9} {:.3} M rec/s, {} checkpoints, trigger → complete ms {:?}, \
                 trigger → snapshots taken ms {:?}",
                if unaligned { "unaligned" } else { "aligned" },
                r.rate / 1e6,
                r.durations_ms.len(),
                ms(&r.durations_ms),
                ms(&r.taken_ms)
            );
            all[m].push(r);
        }
    }
    println!(
        "| mode | checkpoints | trigger → complete, median (p10–p90) ms | trigger → every \
         shard's snapshot taken, median (p10–p90) ms | in-flight bytes per checkpoint, \
         median (max) | throughput, median M rec/s |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (m, name) in ["aligned", "unaligned"].into_iter().enumerate() {
        let d: Vec<f64> = all[m].iter().flat_map(|r| r.durations_ms.clone()).collect();
        let b: Vec<f64> = all[m]
            .iter()
            .flat_map(|r| r.inflight.iter().map(|x| *x as f64))
            .collect();
        let t: Vec<f64> = all[m].iter().flat_map(|r| r.taken_ms.clone()).collect();
        let rates: Vec<f64> = all[m].iter().map(|r| r.rate / 1e6).collect();
        println!(
            "| {name} | {} | {:.0} ({:.0}–{:.0}) | {:.0} ({:.0}–{:.0}) | {:.0} ({:.0}) | {:.3} |",
            d.len(),
            quantile(&d, 0.5),
            quantile(&d, 0.1),
            quantile(&d, 0.9),
            quantile(&t, 0.5),
            quantile(&t, 0.1),
            quantile(&t, 0.9),
            quantile(&b, 0.5),
            quantile(&b, 1.0),
            quantile(&rates, 0.5)
        );
    }
}
