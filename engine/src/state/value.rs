//! `ValueState`: one value per key.

use std::hash::Hash;

use super::table::KeyedTable;
use super::ttl::{StateTtl, TtlClock};
use super::KeyScope;

/// One value per key (Flink's `ValueState`). Keep it as a field of a keyed function and
/// pass the function's context as the scope.
///
/// # Examples
///
/// ```
/// use spate::state::{FixedKey, ValueState};
/// let mut last = ValueState::<String, i64>::new();
/// let k = FixedKey::new("k".to_string(), 0);
/// assert_eq!(last.value(&k), None);
/// last.update(&k, 5);
/// assert_eq!(last.value(&k), Some(&5));
/// last.clear(&k);
/// assert!(last.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct ValueState<K, V> {
    pub(super) table: KeyedTable<K, V>,
}

impl<K: Hash + Eq + Clone, V> Default for ValueState<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone, V> ValueState<K, V> {
    /// An empty state without TTL.
    pub fn new() -> Self {
        ValueState {
            table: KeyedTable::new(TtlClock::new(None)),
        }
    }

    /// An empty state whose entries expire after `ttl`.
    pub fn with_ttl(ttl: StateTtl) -> Self {
        ValueState {
            table: KeyedTable::new(TtlClock::new(Some(ttl))),
        }
    }

    /// The current key's value.
    pub fn value<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) -> Option<&V> {
        self.table.get_mut(scope).map(|v| &*v)
    }

    /// The current key's value, mutable in place (counts as a read for TTL).
    pub fn value_mut<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) -> Option<&mut V> {
        self.table.get_mut(scope)
    }

    /// The current key's value, created with `init` when absent (or expired), mutable in
    /// place; one lookup. Counts as a write for TTL.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::state::{FixedKey, ValueState};
    /// let mut seen = ValueState::<u8, Vec<char>>::new();
    /// let k = FixedKey::new(1, 0);
    /// seen.value_or_insert_with(&k, Vec::new).push('a');
    /// seen.value_or_insert_with(&k, Vec::new).push('b');
    /// assert_eq!(seen.value(&k), Some(&vec!['a', 'b']));
    /// ```
    pub fn value_or_insert_with<S: KeyScope<K> + ?Sized>(
        &mut self,
        scope: &S,
        init: impl FnOnce() -> V,
    ) -> &mut V {
        self.table.upsert_with(scope, init)
    }

    /// Sets the current key's value.
    pub fn update<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, value: V) {
        let mut value = Some(value);
        let slot = self
            .table
            .upsert_with(scope, || value.take().expect("init runs once"));
        if let Some(v) = value {
            *slot = v;
        }
    }

    /// Removes the current key's value.
    pub fn clear<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) {
        self.table.remove(scope);
    }

    /// Number of keys with a value (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// `true` when no key has a value.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Every `(key, value)` pair, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.table.iter().map(|s| (&s.key, &s.value))
    }
}
