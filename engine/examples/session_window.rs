//! User click sessions: a session is a user's clicks with no gap longer than `--gap`.
//!
//! Input: CSV lines `user,timestamp_ms,url`. Output: one CSV line per session,
//! `user,session_start,session_end,clicks` (end = last click + gap, as Flink's session
//! windows). Malformed lines are reported with their line number and skipped.
//!
//! ```text
//! cargo run --release --example session_window -- --input clicks.csv --gap 1800000
//! ```

mod common;

use std::path::PathBuf;

use clap::Parser;
use spate::prelude::*;
use spate::window::{Count, SessionWindows, TimeWindow, WindowContext};

/// Command-line arguments.
#[derive(Parser, Debug, Clone)]
#[command(about = "Click sessions per user from a CSV of user,timestamp_ms,url")]
struct Args {
    /// CSV input: `user,timestamp_ms,url` per line.
    #[arg(long)]
    input: PathBuf,
    /// Inactivity that ends a session, in ms (default 30 minutes).
    #[arg(long, default_value_t = 30 * 60 * 1000)]
    gap: i64,
    /// How far clicks may arrive out of timestamp order, in ms.
    #[arg(long, default_value_t = 0)]
    out_of_orderness: i64,
    /// Number of shards (default: one per core).
    #[arg(long)]
    shards: Option<usize>,
    /// Where to write the sessions (standard output when absent).
    #[arg(long)]
    output: Option<PathBuf>,
}

/// `(user, timestamp)` of a click, or why the line is not one.
fn parse_click(line: &str) -> Result<(String, i64), String> {
    let mut f = line.splitn(3, ',');
    let (Some(user), Some(ts), Some(_url)) = (f.next(), f.next(), f.next()) else {
        return Err("expected user,timestamp_ms,url".into());
    };
    let ts = ts
        .trim()
        .parse::<i64>()
        .map_err(|e| format!("timestamp '{}': {e}", ts.trim()))?;
    Ok((user.trim().to_string(), ts))
}

/// `user,session_start,session_end,clicks`.
type Session = (String, i64, i64, u64);

fn sessions(env: &Env, args: &Args) -> DataStream<Session> {
    common::read_csv(env, &args.input, false, parse_click)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(args.out_of_orderness)
                .with_timestamp_assigner(|c: &(String, i64)| c.1),
        )
        .key_by(|c: &(String, i64)| c.0.clone())
        .window(SessionWindows::with_gap(args.gap))
        .aggregate_process(
            Count,
            |user: &String, n: &[u64], ctx: &mut WindowContext<'_, TimeWindow, Session>| {
                let w = *ctx.window();
                ctx.collect((user.clone(), w.start, w.end, n[0]));
                Ok(())
            },
        )
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut env = Env::new();
    if let Some(n) = args.shards {
        env = env.shards(n);
    }
    let out = sessions(&env, &args);
    match &args.output {
        Some(p) => out.write_csv(p),
        None => out
            .map(|s| format!("{},{},{},{}", s.0, s.1, s.2, s.3))
            .print_lines(),
    }
    env.execute()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_split_on_gaps_longer_than_the_gap() {
        let path = std::env::temp_dir().join(format!("spate-sessions-{}.csv", std::process::id()));
        std::fs::write(
            &path,
            "u1,1000,/a\nu2,1500,/x\nu1,1500,/b\nu1,9000,/c\nbroken\nu1,10000,/d\nu2,4000,/y\n",
        )
        .expect("write input");
        for shards in 1..=3 {
            let args = Args {
                input: path.clone(),
                gap: 2000,
                out_of_orderness: 0,
                shards: Some(shards),
                output: None,
            };
            let env = Env::new().shards(shards);
            let out = sessions(&env, &args).collect();
            env.execute().expect("job runs");
            assert_eq!(
                out.sorted(),
                vec![
                    ("u1".to_string(), 1000, 3500, 2),
                    ("u1".to_string(), 9000, 12000, 2),
                    ("u2".to_string(), 1500, 3500, 1),
                    ("u2".to_string(), 4000, 6000, 1),
                ]
            );
        }
    }
}
