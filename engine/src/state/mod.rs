//! Keyed state: key hashing and key groups, and the state handles a keyed function keeps
//! (`ValueState`, `ListState`, `MapState`, `ReducingState`), each with optional TTL; and the
//! operator (non-keyed) list state, [`OperatorListState`].
//!
//! Why handles are fields of the user's function instead of entries in an engine-owned
//! registry: a handle is a typed hash table (`hashbrown::HashTable`) keyed by the current key,
//! looked up with the key hash the operator computed once per record. No downcast, no virtual
//! call and no second hash per access. The operator tells the handle which key is current
//! through a [`KeyScope`] (the context passed to the function).
//!
//! Key groups: a key's group is its stable hash modulo `max_parallelism`; a shard owns a
//! contiguous range of groups (Flink's formula `group * shards / max_parallelism`). The
//! hash is [`StableHasher`], identical on every machine and release, because key groups are
//! written into savepoints; `ahash` (fixed seeds) is used for in-memory maps only.

mod backend;
#[cfg(test)]
mod cow_tests;
mod gauge;
mod hash;
mod list;
mod map;
pub mod mmap;
mod operator_list;
mod reducing;
mod snapshot;
mod table;
mod ttl;
mod value;

pub use backend::StateBackend;
pub(crate) use gauge::GaugeHandle;
pub use gauge::StateGauge;
pub use hash::{hash_key, key_group, shard_for_key_group, FixedState, StableHasher};
pub use list::ListState;
pub use map::MapState;
pub use operator_list::OperatorListState;
pub use reducing::ReducingState;
pub use ttl::{StateTtl, TtlUpdate, TtlVisibility};
pub use value::ValueState;

use crate::time::Timestamp;

/// The key a keyed function is currently called for, as seen by state handles.
///
/// Implemented by the contexts passed to keyed functions. Contract: `key_hash()` is
/// `hash_key(key())`, and `now()` is the operator's processing time for TTL.
pub trait KeyScope<K> {
    /// The current key.
    fn key(&self) -> &K;
    /// The current key's stable hash (computed once per record by the operator).
    fn key_hash(&self) -> u64;
    /// Processing time used for state TTL.
    fn now(&self) -> Timestamp;
}

/// A key scope for using state handles outside an operator (tests, initialisation).
///
/// # Examples
///
/// ```
/// use spate::state::{FixedKey, ValueState};
/// let mut count = ValueState::<&str, u64>::new();
/// let k = FixedKey::new("alice", 0);
/// count.update(&k, 3);
/// assert_eq!(count.value(&k), Some(&3));
/// ```
#[derive(Debug, Clone)]
pub struct FixedKey<K> {
    key: K,
    hash: u64,
    now: Timestamp,
}

impl<K: std::hash::Hash> FixedKey<K> {
    /// Scope for `key` at processing time `now`.
    pub fn new(key: K, now: Timestamp) -> Self {
        let hash = hash_key(&key);
        FixedKey { key, hash, now }
    }
}

impl<K> KeyScope<K> for FixedKey<K> {
    fn key(&self) -> &K {
        &self.key
    }
    fn key_hash(&self) -> u64 {
        self.hash
    }
    fn now(&self) -> Timestamp {
        self.now
    }
}
