//! Field-based aggregations shared by keyed and windowed streams (Flink's `sum(field)`,
//! `min(field)`, `max(field)`, `minBy(field)`, `maxBy(field)`): reduce functions built from a
//! field accessor.

use std::ops::AddAssign;

/// Running sum of a field; the other fields are the first record's.
pub(crate) fn sum<T, N, A>(field: A) -> impl FnMut(T, T) -> T + Clone + Send + 'static
where
    N: AddAssign + Copy,
    A: Fn(&mut T) -> &mut N + Clone + Send + 'static,
{
    move |mut acc: T, mut v: T| {
        let x = *field(&mut v);
        *field(&mut acc) += x;
        acc
    }
}

/// Running minimum (`less = true`) or maximum of a field; other fields are the first
/// record's.
pub(crate) fn extreme<T, N, A>(
    field: A,
    less: bool,
) -> impl FnMut(T, T) -> T + Clone + Send + 'static
where
    N: PartialOrd + Copy,
    A: Fn(&mut T) -> &mut N + Clone + Send + 'static,
{
    move |mut acc: T, mut v: T| {
        let x = *field(&mut v);
        let a = field(&mut acc);
        if (less && x < *a) || (!less && x > *a) {
            *a = x;
        }
        acc
    }
}

/// The record with the smallest (`less = true`) or largest field; the earlier on ties.
pub(crate) fn extreme_by<T, N, A>(
    field: A,
    less: bool,
) -> impl FnMut(T, T) -> T + Clone + Send + 'static
where
    N: PartialOrd + Copy,
    A: Fn(&mut T) -> &mut N + Clone + Send + 'static,
{
    move |mut acc: T, mut v: T| {
        let (x, a) = (*field(&mut v), *field(&mut acc));
        if (less && x < a) || (!less && x > a) {
            v
        } else {
            acc
        }
    }
}
