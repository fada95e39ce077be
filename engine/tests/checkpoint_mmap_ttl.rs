//! mmap state with TTL in checkpoints: the values (with their last-touched times) survive a
//! savepoint and a restore on another shard count; a state saved with a TTL does not restore
//! into a handle without one, nor the reverse (the values are laid out differently).

mod common;
use common::checkpoints::published;
use std::path::Path;
use std::time::Duration;

use spate::prelude::*;
use spate::state::mmap::MmapValueState;
use spate::state::StateTtl;

#[derive(Clone, Default)]
struct Count(MmapValueState<u64, u64>);

impl KeyedProcessFunction<u64, u64, String> for Count {
    fn process_element(
        &mut self,
        _: u64,
        ctx: &mut KeyedContext<'_, u64, String>,
    ) -> Result<(), UserError> {
        let n = self.0.value(ctx)?.map_or(0, |v| v.to_native()) + 1;
        self.0.update(ctx, &n)?;
        ctx.collect(format!("{} {n}", ctx.current_key()));
        Ok(())
    }
    fn state(&mut self, reg: &mut StateRegistry<'_>) {
        reg.register("count", &mut self.0);
    }
}

/// Counts `0..records` by `% 7` on `shards`, from savepoint `from` if any, writing a
/// savepoint `to` at the end.
fn run(
    tmp: &Path,
    shards: usize,
    ttl: bool,
    records: u64,
    (from, to): (Option<&str>, &str),
) -> spate::error::Result<Vec<String>> {
    let mut env = Env::new()
        .shards(shards)
        .checkpointing(tmp.join(format!("chk-{to}")), Duration::from_secs(3600))
        .state_backend(StateBackend::mmap(tmp.join("state")))
        .savepoint_on_finish(tmp.join(to));
    if let Some(f) = from {
        env = env.restore_from(RestoreFrom::Path(tmp.join(f)));
    }
    let handle = if ttl {
        MmapValueState::with_ttl(StateTtl::new(3_600_000))
    } else {
        MmapValueState::unbound()
    };
    let out = tmp.join(format!("out-{to}"));
    env.generate(Some(records), |i| i)
        .uid("numbers")
        .key_by(|v: &u64| v % 7)
        .process(Count(handle))
        .uid("count")
        .write_lines_exactly_once(&out);
    env.execute()?;
    Ok(published(&out))
}

#[test]
fn mmap_state_with_ttl_survives_a_savepoint_on_another_shard_count() {
    let tmp = tempfile::tempdir().unwrap();
    let first = run(tmp.path(), 2, true, 700, (None, "sp1")).unwrap();
    assert_eq!(first.len(), 700);
    let second = run(tmp.path(), 3, true, 1_400, (Some("sp1"), "sp2")).unwrap();
    // Each key's count goes on from 100 (700 records, 7 keys) to 200.
    let mut want: Vec<String> = (0..7u64)
        .flat_map(|k| (101..=200).map(move |n| format!("{k} {n}")))
        .collect();
    want.sort();
    assert_eq!(second, want);
}

#[test]
fn a_ttl_change_between_save_and_restore_is_refused() {
    for (saved, restored) in [(false, true), (true, false)] {
        let tmp = tempfile::tempdir().unwrap();
        run(tmp.path(), 2, saved, 100, (None, "sp1")).unwrap();
        let err = run(tmp.path(), 2, restored, 200, (Some("sp1"), "sp2"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("'count'") && err.contains("TTL"), "{err}");
    }
}
