//! File sources and sinks: byte-range splits at line boundaries, lines and CSV output.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use spate::prelude::*;

const LIMIT: Duration = Duration::from_secs(60);

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn read_all(path: PathBuf, shards: usize, batch: usize) -> Vec<String> {
    common::within(LIMIT, move || {
        let env = Env::new().shards(shards).batch_size(batch);
        let out = env.read_lines(&path).collect();
        env.execute().expect("job fails");
        out.sorted()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn read_lines_gives_every_line_exactly_once_whatever_the_split(
        lines in prop::collection::vec("[a-z ]{0,12}", 0..40),
        crlf in any::<bool>(),
        trailing_newline in any::<bool>(),
        case in 0u32..1_000_000,
    ) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let mut text = lines.join(sep);
        if trailing_newline && !lines.is_empty() {
            text.push_str(sep);
        }
        let path = temp(&format!("lines-{case}.txt"));
        std::fs::write(&path, &text).expect("write input");
        // What a plain reader sees: `str::lines` also strips one '\r' before '\n'.
        let mut expected: Vec<String> = text.lines().map(String::from).collect();
        expected.sort();
        let numbered_expected: Vec<(u64, String)> =
            text.lines().enumerate().map(|(i, l)| (i as u64 + 1, l.to_string())).collect();
        for shards in 1..=4 {
            for batch in [1, 3, 1024] {
                prop_assert_eq!(&read_all(path.clone(), shards, batch), &expected, "{} shards", shards);
            }
            let p = path.clone();
            let numbered = common::within(LIMIT, move || {
                let env = Env::new().shards(shards).batch_size(2);
                let out = env.read_lines_numbered(&p).collect();
                env.execute().expect("job fails");
                out.sorted()
            });
            prop_assert_eq!(&numbered, &numbered_expected, "line numbers on {} shards", shards);
        }
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn a_missing_input_file_is_an_io_error_naming_the_file() {
    let env = Env::new().shards(2);
    env.read_lines("/nonexistent/spate/input.txt").collect();
    match env.execute() {
        Err(SpateError::Io { path, .. }) => assert!(path.ends_with("input.txt")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn write_lines_and_write_csv_produce_one_file_with_every_record() {
    let lines = temp("out.txt");
    let csv = temp("out.csv");
    for shards in common::SHARDS {
        let (l, c) = (lines.clone(), csv.clone());
        common::within(LIMIT, move || {
            let env = Env::new().shards(shards).batch_size(5);
            let s = env.generate(Some(100), |n| n).rebalance();
            s.write_lines(&l);
            s.map(|n| (format!("k,{n}"), n, "q\"x")).write_csv(&c);
            env.execute().expect("job fails");
        });
        let mut got: Vec<u64> = std::fs::read_to_string(&lines)
            .expect("output exists")
            .lines()
            .map(|l| l.parse().expect("a number per line"))
            .collect();
        got.sort();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        let csv_text = std::fs::read_to_string(&csv).expect("output exists");
        assert_eq!(csv_text.lines().count(), 100);
        assert!(
            csv_text.lines().any(|l| l == "\"k,42\",42,\"q\"\"x\""),
            "RFC 4180 quoting"
        );
    }
}
