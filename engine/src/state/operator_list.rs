//! [`OperatorListState`]: the operator (non-keyed) list state of Flink's
//! `CheckpointedFunction`, redistributed by element when a job restores on another shard
//! count.

/// A list of elements that a (non-keyed) function keeps for its shard and that checkpoints
/// save: Flink's operator `ListState`. Register it in the function's `state` with
/// [`StateRegistry::register_list`](crate::checkpoint::StateRegistry::register_list)
/// (even-split redistribution) or
/// [`StateRegistry::register_union_list`](crate::checkpoint::StateRegistry::register_union_list)
/// (union redistribution).
///
/// Unlike keyed state it has no key: the whole list belongs to the function instance of one
/// shard. On a restore with the same shard count every shard gets its own list back; on
/// another shard count the lists of all old shards are concatenated (in shard order) and
/// either split into contiguous, near-equal parts (even-split), or given whole to every shard
/// (union). Use it for what can be split by element (buffered records, offsets of
/// partitions); keep it small, it is copied whole at every checkpoint.
///
/// # Examples
///
/// ```
/// use spate::state::OperatorListState;
/// let mut buf = OperatorListState::<u64>::new();
/// buf.add(1);
/// buf.add_all([2, 3]);
/// assert_eq!(buf.get(), &[1, 2, 3]);
/// buf.update(vec![7]);
/// assert_eq!(buf.len(), 1);
/// buf.clear();
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorListState<T> {
    items: Vec<T>,
}

impl<T> Default for OperatorListState<T> {
    fn default() -> Self {
        OperatorListState { items: Vec::new() }
    }
}

impl<T> OperatorListState<T> {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `value`.
    #[inline]
    pub fn add(&mut self, value: T) {
        self.items.push(value);
    }

    /// Appends every element of `values`.
    pub fn add_all(&mut self, values: impl IntoIterator<Item = T>) {
        self.items.extend(values);
    }

    /// Replaces the contents with `values`.
    pub fn update(&mut self, values: Vec<T>) {
        self.items = values;
    }

    /// The elements, in the order they were added.
    pub fn get(&self) -> &[T] {
        &self.items
    }

    /// The elements, to change in place (reorder, remove, edit).
    pub fn get_mut(&mut self) -> &mut Vec<T> {
        &mut self.items
    }

    /// Removes and returns every element.
    pub fn take(&mut self) -> Vec<T> {
        std::mem::take(&mut self.items)
    }

    /// Removes every element.
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `true` when the list holds no element.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
