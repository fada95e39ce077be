//! `ReducingState`: a value per key folded with a reduce function.

use std::hash::Hash;

use super::table::KeyedTable;
use super::ttl::{StateTtl, TtlClock};
use super::KeyScope;

/// A value per key that every `add` folds in with `reduce` (Flink's `ReducingState`).
///
/// # Examples
///
/// ```
/// use spate::state::{FixedKey, ReducingState};
/// let mut total = ReducingState::<u8, i64, _>::new(|a, b| a + b);
/// let k = FixedKey::new(1, 0);
/// total.add(&k, 2);
/// total.add(&k, 3);
/// assert_eq!(total.get(&k), Some(&5));
/// ```
#[derive(Debug, Clone)]
pub struct ReducingState<K, V, F> {
    pub(super) table: KeyedTable<K, Option<V>>,
    reduce: F,
}

impl<K: Hash + Eq + Clone, V, F: Fn(V, V) -> V> ReducingState<K, V, F> {
    /// An empty state folding with `reduce`.
    pub fn new(reduce: F) -> Self {
        ReducingState {
            table: KeyedTable::new(TtlClock::new(None)),
            reduce,
        }
    }

    /// An empty state folding with `reduce` whose entries expire after `ttl`.
    pub fn with_ttl(reduce: F, ttl: StateTtl) -> Self {
        ReducingState {
            table: KeyedTable::new(TtlClock::new(Some(ttl))),
            reduce,
        }
    }

    /// The current key's folded value.
    pub fn get<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) -> Option<&V> {
        self.table.get_mut(scope).and_then(|v| v.as_ref())
    }

    /// Folds `value` into the current key's value.
    pub fn add<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, value: V) {
        let reduce = &self.reduce;
        let slot = self.table.upsert_with(scope, || None);
        *slot = Some(match slot.take() {
            Some(acc) => reduce(acc, value),
            None => value,
        });
    }

    /// Removes the current key's value.
    pub fn clear<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) {
        self.table.remove(scope);
    }

    /// Number of keys with a value.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// `true` when no key has a value.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }
}
