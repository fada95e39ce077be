//! Word count, the classic: the final count of every word in a text file.
//!
//! Tokenises like Flink's `WordCount` example: lower-case the line, split on runs of
//! characters outside `[A-Za-z0-9_]`, drop empty tokens. Writes one `word<TAB>count` line per
//! distinct word (in no particular order) to `--output`, or to standard output.
//!
//! ```text
//! cargo run --release --example word_count -- --input README.md --shards 2
//! ```
//!
//! The file is split across shards by byte range; words are partitioned by key; each shard
//! counts its words in keyed state and emits the totals when the input ends (an event-time
//! timer at the end of time, which a bounded input reaches).

use std::path::PathBuf;

use clap::Parser;
use spate::prelude::*;
use spate::state::ValueState;

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(about = "Count the words of a text file with Spate")]
struct Args {
    /// The text file to read.
    #[arg(long)]
    input: PathBuf,
    /// Where to write `word<TAB>count` lines (standard output when absent).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Number of shards (default: one per core).
    #[arg(long)]
    shards: Option<usize>,
}

/// Splits a line into lower-case words as Flink's `WordCount` tokenizer does.
pub fn tokenize(line: &str) -> Vec<String> {
    line.to_lowercase()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// Counts each word and emits `(word, total)` once, when the input ends.
#[derive(Clone, Default)]
struct FinalCount {
    count: ValueState<String, u64>,
}

impl KeyedProcessFunction<String, String, (String, u64)> for FinalCount {
    fn process_element(
        &mut self,
        _w: String,
        ctx: &mut KeyedContext<'_, String, (String, u64)>,
    ) -> Result<(), UserError> {
        match self.count.value_mut(ctx) {
            Some(n) => *n += 1,
            None => {
                self.count.update(ctx, 1);
                ctx.register_event_time_timer(i64::MAX);
            }
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _ts: i64,
        ctx: &mut KeyedContext<'_, String, (String, u64)>,
    ) -> Result<(), UserError> {
        let n = self.count.value(ctx).copied().unwrap_or(0);
        self.count.clear(ctx);
        ctx.collect((ctx.current_key().clone(), n));
        Ok(())
    }
}

/// Builds the word-count job on `env`: the stream of final `(word, count)` pairs.
fn word_counts(env: &Env, input: &std::path::Path) -> DataStream<(String, u64)> {
    env.read_lines(input)
        .flat_map(|line: String| tokenize(&line))
        .key_by(|w: &String| w.clone())
        .process(FinalCount::default())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut env = Env::new();
    if let Some(n) = args.shards {
        env = env.shards(n);
    }
    let lines = word_counts(&env, &args.input).map(|(w, n)| format!("{w}\t{n}"));
    match &args.output {
        Some(path) => lines.write_lines(path),
        None => lines.print_lines(),
    }
    let result = env.execute()?;
    eprintln!("word_count: finished in {:?}", result.elapsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A real text: this crate's own sources and docs, plus lines with tricky characters.
    fn corpus() -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut text = String::new();
        let mut stack = vec![root.join("src"), root.join("examples")];
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .expect("read dir")
                .flatten()
                .collect();
            entries.sort_by_key(|e| e.path());
            for e in entries {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    text.push_str(&std::fs::read_to_string(&p).expect("read source"));
                }
            }
        }
        text.push_str("Ünïcödé words, UPPER lower MiXeD_case snake_case 42 x42 \r\n");
        text.push_str("--- punctuation!!! (parens) [brackets] {braces} a.b.c don't\n\n\t\n");
        text
    }

    fn plain_count(text: &str) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            for w in tokenize(line) {
                *counts.entry(w).or_default() += 1;
            }
        }
        counts
    }

    #[test]
    fn tokenizer_splits_like_flinks_word_count() {
        assert_eq!(
            tokenize("Don't STOP_me now, 42x!"),
            vec!["don", "t", "stop_me", "now", "42x"]
        );
        assert_eq!(tokenize("  ünï--cödé "), vec!["n", "c", "d"]);
        assert!(tokenize("!!! ...").is_empty());
    }

    #[test]
    fn word_count_equals_a_single_threaded_count_on_a_real_text() {
        let text = corpus();
        let path =
            std::env::temp_dir().join(format!("spate-word-count-{}.txt", std::process::id()));
        std::fs::write(&path, &text).expect("write corpus");
        let expected = plain_count(&text);
        assert!(expected.len() > 500, "a real text has many distinct words");
        for shards in 1..=3 {
            for batch in [7, 1024] {
                let env = Env::new().shards(shards).batch_size(batch);
                let out = word_counts(&env, &path).collect();
                env.execute().expect("job fails");
                let got: BTreeMap<String, u64> = out.take().into_iter().collect();
                assert_eq!(got, expected, "{shards} shards, batch {batch}");
            }
        }
        let _ = std::fs::remove_file(&path);
    }
}
