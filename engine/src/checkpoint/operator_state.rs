//! Operator (non-keyed) list state in snapshots (Flink's operator `ListState` of a
//! `CheckpointedFunction`): its sections, and how the lists of N old shards are dealt to M
//! new ones.
//!
//! A list is one section, `spate/oplist/<mode>/<name>`, with one entry per element in list
//! order (key group 0: the entries have no key). A restore reads the section from the file
//! of every old shard and deals the elements by the mode the function registers:
//!
//! - **even-split** (`register_list`): the same shard count gives every shard its own list
//!   back; another one concatenates the old shards' lists in shard order and cuts the result
//!   into `M` contiguous parts whose sizes differ by at most one (the first `len mod M`
//!   shards get one more), so no element is lost or duplicated;
//! - **union** (`register_union_list`): every shard gets the concatenation of all lists.

use super::codec::StateData;
use super::format::{SnapshotBuilder, StateWriter};
use super::registry::RestoreView;
use crate::state::OperatorListState;

/// Prefix of the sections of operator list state.
pub(crate) const PREFIX: &str = "spate/oplist/";

/// How a list is dealt to the shards of a restored job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redistribution {
    /// Every element to exactly one shard (Flink's `getListState`).
    EvenSplit,
    /// Every element to every shard (Flink's `getUnionListState`).
    Union,
}

impl Redistribution {
    fn tag(self) -> &'static str {
        match self {
            Redistribution::EvenSplit => "split",
            Redistribution::Union => "union",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Redistribution::EvenSplit => "an even-split list (register_list)",
            Redistribution::Union => "a union list (register_union_list)",
        }
    }
}

/// The section name of list `name` registered with `mode`.
pub(crate) fn section(mode: Redistribution, name: &str) -> String {
    format!("{PREFIX}{}/{name}", mode.tag())
}

/// The mode and name of a list section (`None` for any other section).
pub(crate) fn parse_section(s: &str) -> Option<(Redistribution, &str)> {
    let rest = s.strip_prefix(PREFIX)?;
    let (tag, name) = rest.split_once('/')?;
    let mode = match tag {
        "split" => Redistribution::EvenSplit,
        "union" => Redistribution::Union,
        _ => return None,
    };
    Some((mode, name))
}

/// Writes every element of `list` into `b`, in order.
pub(crate) fn snapshot<T: StateData>(
    list: &OperatorListState<T>,
    b: &mut SnapshotBuilder,
    mode: Redistribution,
    name: &str,
) {
    let mut w = StateWriter::new(b.max_parallelism());
    for x in list.get() {
        w.entry(0, |o| x.encode(o));
    }
    b.add(&section(mode, name), w);
}

/// The elements shard `shard` of `shards` gets from the lists of the old shards (`old[i]`:
/// old shard `i`'s list), in order.
pub(crate) fn share<E>(
    old: &[Vec<E>],
    shard: usize,
    shards: usize,
    mode: Redistribution,
) -> Vec<&E> {
    if mode == Redistribution::EvenSplit && old.len() == shards {
        return old.get(shard).into_iter().flatten().collect();
    }
    let all = old.iter().flatten();
    match mode {
        Redistribution::Union => all.collect(),
        Redistribution::EvenSplit => {
            let len: usize = old.iter().map(Vec::len).sum();
            let shards = shards.max(1);
            let (base, extra) = (len / shards, len % shards);
            let start = shard * base + shard.min(extra);
            let n = base + usize::from(shard < extra);
            all.skip(start).take(n).collect()
        }
    }
}

/// Replaces the contents of `list` with its share of the snapshot's elements.
pub(crate) fn restore<T: StateData>(
    list: &mut OperatorListState<T>,
    v: &RestoreView,
    mode: Redistribution,
    name: &str,
) -> Result<(), String> {
    list.clear();
    let Some(old) = v.lists.get(&section(mode, name)) else {
        let other = match mode {
            Redistribution::EvenSplit => Redistribution::Union,
            Redistribution::Union => Redistribution::EvenSplit,
        };
        if v.lists.contains_key(&section(other, name)) {
            return Err(format!(
                "state '{name}' was saved as {} and is now registered as {}",
                other.describe(),
                mode.describe()
            ));
        }
        return Ok(());
    };
    for bytes in share(old, v.shard, v.shards, mode) {
        let r = &mut &bytes[..];
        let x = T::decode(r).map_err(|e| format!("state '{name}': {e}"))?;
        if !r.is_empty() {
            return Err(format!(
                "state '{name}': {} bytes left after an element",
                r.len()
            ));
        }
        list.add(x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Lists of N old shards dealt to M new ones (1–4): even-split gives every element
        /// to exactly one shard, in order, with sizes differing by at most one (or each
        /// shard its own list when N = M); union gives every shard all of them.
        #[test]
        fn lists_are_redistributed_without_loss_or_duplicates(
            old in proptest::collection::vec(proptest::collection::vec(any::<u32>(), 0..12), 1..=4),
            m in 1usize..=4,
        ) {
            let all: Vec<u32> = old.iter().flatten().copied().collect();
            let mut dealt = Vec::new();
            let mut sizes = Vec::new();
            for shard in 0..m {
                let mine: Vec<u32> = share(&old, shard, m, Redistribution::EvenSplit)
                    .into_iter().copied().collect();
                if old.len() == m {
                    prop_assert_eq!(&mine, &old[shard]);
                }
                sizes.push(mine.len());
                dealt.extend(mine);
                let union: Vec<u32> = share(&old, shard, m, Redistribution::Union)
                    .into_iter().copied().collect();
                prop_assert_eq!(&union, &all);
            }
            prop_assert_eq!(&dealt, &all, "every element once, in order");
            if old.len() != m {
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                prop_assert!(hi - lo <= 1, "sizes {:?}", sizes);
            }
        }
    }

    #[test]
    fn sections_name_their_mode() {
        let s = section(Redistribution::Union, "offsets/a");
        assert_eq!(
            parse_section(&s),
            Some((Redistribution::Union, "offsets/a"))
        );
        assert_eq!(parse_section("spate/timers/event"), None);
        assert_eq!(parse_section("count"), None);
    }
}
