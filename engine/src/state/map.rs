//! `MapState`: a map of user keys to values per key.

use std::hash::Hash;

use hashbrown::HashMap;

use super::table::KeyedTable;
use super::ttl::{StateTtl, TtlClock};
use super::{FixedState, KeyScope};

type Inner<UK, UV> = HashMap<UK, (UV, i64), FixedState>;

/// A map per key (Flink's `MapState`). With TTL, every map entry expires on its own.
///
/// # Examples
///
/// ```
/// use spate::state::{FixedKey, MapState};
/// let mut per_item = MapState::<&str, u32, u64>::new();
/// let k = FixedKey::new("user", 0);
/// per_item.put(&k, 7, 1);
/// *per_item.get_mut(&k, &7).unwrap() += 1;
/// assert_eq!(per_item.get(&k, &7), Some(&2));
/// assert_eq!(per_item.remove(&k, &7), Some(2));
/// assert!(per_item.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct MapState<K, UK, UV> {
    pub(super) table: KeyedTable<K, Inner<UK, UV>>,
    ttl: TtlClock,
}

impl<K: Hash + Eq + Clone, UK: Hash + Eq, UV> Default for MapState<K, UK, UV> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone, UK: Hash + Eq, UV> MapState<K, UK, UV> {
    /// An empty state without TTL.
    pub fn new() -> Self {
        MapState {
            table: KeyedTable::new(TtlClock::new(None)),
            ttl: TtlClock::new(None),
        }
    }

    /// An empty state whose map entries expire after `ttl`.
    pub fn with_ttl(ttl: StateTtl) -> Self {
        MapState {
            table: KeyedTable::new(TtlClock::new(None)),
            ttl: TtlClock::new(Some(ttl)),
        }
    }

    /// The value of `user_key` in the current key's map.
    pub fn get<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, user_key: &UK) -> Option<&UV> {
        self.get_mut(scope, user_key).map(|v| &*v)
    }

    /// The value of `user_key` in the current key's map, mutable in place.
    pub fn get_mut<S: KeyScope<K> + ?Sized>(
        &mut self,
        scope: &S,
        user_key: &UK,
    ) -> Option<&mut UV> {
        let now = scope.now();
        let map = self.table.get_mut(scope)?;
        let (_, t) = map.get(user_key)?;
        if self.ttl.hidden(*t, now) {
            map.remove(user_key);
            return None;
        }
        let touch = self.ttl.touch_on_read();
        let (v, t) = map.get_mut(user_key)?;
        if touch {
            *t = now;
        }
        Some(v)
    }

    /// `true` when the current key's map holds `user_key`.
    pub fn contains<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, user_key: &UK) -> bool {
        self.get_mut(scope, user_key).is_some()
    }

    /// Sets `user_key` to `value` in the current key's map.
    pub fn put<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, user_key: UK, value: UV) {
        let now = scope.now();
        if self.ttl.count_write(self.table.len()) {
            let ttl = &self.ttl;
            self.table.retain(|s| {
                s.value.retain(|_, (_, t)| !ttl.expired(*t, now));
                !s.value.is_empty()
            });
        }
        self.table
            .upsert_with(scope, || HashMap::with_hasher(FixedState))
            .insert(user_key, (value, now));
    }

    /// Removes `user_key` from the current key's map, returning its value.
    pub fn remove<S: KeyScope<K> + ?Sized>(&mut self, scope: &S, user_key: &UK) -> Option<UV> {
        let now = scope.now();
        let map = self.table.get_mut(scope)?;
        let (v, t) = map.remove(user_key)?;
        let empty = map.is_empty();
        if empty {
            self.table.remove(scope);
        }
        (!self.ttl.hidden(t, now)).then_some(v)
    }

    /// The current key's entries, in no particular order.
    pub fn entries<S: KeyScope<K> + ?Sized>(
        &mut self,
        scope: &S,
    ) -> impl Iterator<Item = (&UK, &UV)> {
        let now = scope.now();
        let ttl = &self.ttl;
        if let Some(m) = self.table.get_mut(scope) {
            if ttl.ttl.is_some() {
                m.retain(|_, (_, t)| !ttl.hidden(*t, now));
            }
        }
        self.table
            .get_mut(scope)
            .map(|m| m.iter().map(|(k, (v, _))| (k, v)))
            .into_iter()
            .flatten()
    }

    /// Removes the current key's map.
    pub fn clear<S: KeyScope<K> + ?Sized>(&mut self, scope: &S) {
        self.table.remove(scope);
    }

    /// Number of keys with a non-empty map.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// `true` when no key has entries.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }
}
