//! `ListState`: a list of values per key.

use std::hash::Hash;

use super::table::KeyedTable;
use super::ttl::{StateTtl, TtlClock};
use super::KeyScope;

/// A list of values per key (Flink's `ListState`). With TTL, every element expires on its
/// own, as in Flink.
///
/// # Examples
///
/// ```
/// use spate::state::{FixedKey, ListState};
/// let mut seen = ListState::<u32, &str>::new();
/// let k = FixedKey::new(1, 0);
/// seen.add(&k, "a");
/// seen.add(&k, "b");
/// assert_eq!(seen.get(&k).collect::<Vec<_>>(), vec![&"a", &"b"]);
/// ```
#[derive(Debug, Clone)]
pub struct ListState<K, V> {
    pub(super) table: KeyedTable<K, Vec<(V, i64)>>,
    ttl: TtlClock,
}

impl<K: Hash + Eq + Clone, V> Default for ListState<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone, V> ListState<K, V> {
    /// An empty state without TTL.
    pub fn new() -> Self {
        ListState {
            table: KeyedTable::new(TtlClock::new(None)),
            ttl: TtlClock::new(None),
        }
    }

    /// An empty state whose elements expire after `ttl`.
    pub fn with_ttl(ttl: StateTtl) -> Self {
        ListState {
            table: KeyedTable::new(TtlClock::new(None)),
            ttl: TtlClock::new(Some(ttl)),
        }
    }

    /// The current key's elements, oldest first (empty when none).
    pub fn get<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) -> impl Iterator<Item = &V> {
        let now = scope.now();
        let ttl = &self.ttl;
        let list = self.table.get_mut(scope);
        let empty_now = match list {
            Some(l) => {
                if ttl.ttl.is_some() {
                    l.retain(|(_, t)| !ttl.hidden(*t, now));
                    if ttl.touch_on_read() {
                        l.iter_mut().for_each(|(_, t)| *t = now);
                    }
                }
                l.is_empty()
            }
            None => false,
        };
        if empty_now {
            self.table.remove(scope);
        }
        self.table
            .get_mut(scope)
            .map(|l| l.iter().map(|(v, _)| v))
            .into_iter()
            .flatten()
    }

    /// Appends `value` to the current key's list.
    pub fn add<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, value: V) {
        let now = scope.now();
        if self.ttl.count_write(self.table.len()) {
            self.sweep(now);
        }
        self.table.upsert_with(scope, Vec::new).push((value, now));
    }

    /// Replaces the current key's list.
    pub fn update<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, values: Vec<V>) {
        if values.is_empty() {
            self.table.remove(scope);
            return;
        }
        let now = scope.now();
        let l = self.table.upsert_with(scope, Vec::new);
        l.clear();
        l.extend(values.into_iter().map(|v| (v, now)));
    }

    /// Removes the current key's list and returns its elements.
    pub fn take<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) -> Vec<V> {
        let now = scope.now();
        let ttl = &self.ttl;
        self.table
            .remove(scope)
            .map(|l| {
                l.into_iter()
                    .filter(|(_, t)| !ttl.hidden(*t, now))
                    .map(|(v, _)| v)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes the current key's list.
    pub fn clear<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) {
        self.table.remove(scope);
    }

    /// Number of keys with a non-empty list.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// `true` when no key has elements.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    fn sweep(&mut self, now: i64) {
        let ttl = &self.ttl;
        self.table.retain(|s| {
            s.value.retain(|(_, t)| !ttl.expired(*t, now));
            !s.value.is_empty()
        });
    }
}
