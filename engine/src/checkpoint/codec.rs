//! [`StateData`]: how keys, values and timers are written into snapshot files.
//!
//! Why a small codec of our own instead of rkyv or serde: state handles are generic over the
//! user's key and value types, and a bound on them must only be asked for where a job
//! checkpoints (when [`KeyedProcessFunction::state`](crate::api::KeyedProcessFunction::state)
//! registers a handle), never on the data path or on APIs that do not checkpoint. A plain
//! encode/decode pair is implemented for the standard types in a few lines each, is
//! versioned by the snapshot file's format version, and decoding is checked: a malformed or
//! truncated buffer gives an error, never a panic or an unbounded allocation.

use std::sync::Arc;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

impl DecodeError {
    fn eof(what: &str) -> Self {
        DecodeError(format!("unexpected end of data reading {what}"))
    }
}

/// A type that can be written into a snapshot and read back.
///
/// Contract: `decode(encode(x)) == x`, `decode` consumes exactly the bytes `encode` wrote,
/// and `decode` never panics on arbitrary input (it returns [`DecodeError`]). The encoding is
/// little-endian and stable across releases within one snapshot format version.
///
/// # Examples
///
/// ```
/// use spate::checkpoint::StateData;
/// let mut buf = Vec::new();
/// (7u32, "seven".to_string(), Some(-1.5f64)).encode(&mut buf);
/// let back = <(u32, String, Option<f64>)>::decode(&mut &buf[..]).unwrap();
/// assert_eq!(back, (7, "seven".to_string(), Some(-1.5)));
/// ```
pub trait StateData: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads one value from the front of `input`, advancing it.
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError>;
}

/// Takes `n` bytes from the front of `input`.
pub(crate) fn take<'a>(
    input: &mut &'a [u8],
    n: usize,
    what: &str,
) -> Result<&'a [u8], DecodeError> {
    if input.len() < n {
        return Err(DecodeError::eof(what));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

macro_rules! number {
    ($($t:ty),*) => {$(
        impl StateData for $t {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
                let b = take(input, std::mem::size_of::<$t>(), stringify!($t))?;
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                Ok(<$t>::from_le_bytes(a))
            }
        }
    )*};
}
number!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

impl StateData for usize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u64).encode(out)
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        usize::try_from(u64::decode(input)?).map_err(|_| DecodeError("usize out of range".into()))
    }
}

impl StateData for isize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as i64).encode(out)
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        isize::try_from(i64::decode(input)?).map_err(|_| DecodeError("isize out of range".into()))
    }
}

impl StateData for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self as u8);
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match take(input, 1, "bool")?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError(format!("invalid bool byte {b}"))),
        }
    }
}

impl StateData for char {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u32).encode(out)
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let c = u32::decode(input)?;
        char::from_u32(c).ok_or_else(|| DecodeError(format!("invalid char {c:#x}")))
    }
}

impl StateData for () {
    fn encode(&self, _out: &mut Vec<u8>) {}
    fn decode(_input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(())
    }
}

/// Reads a length prefix (as [`StateData`] for `Vec` writes it), refusing lengths the remaining input cannot hold (each element
/// takes at least `min_size` bytes), so a corrupt length never allocates without bound.
pub fn decode_len(input: &mut &[u8], min_size: usize) -> Result<usize, DecodeError> {
    let n = u64::decode(input)?;
    let n = usize::try_from(n).map_err(|_| DecodeError(format!("length {n} out of range")))?;
    if n.saturating_mul(min_size.max(1)) > input.len() && min_size > 0 {
        return Err(DecodeError(format!(
            "length {n} exceeds the {} bytes left",
            input.len()
        )));
    }
    Ok(n)
}

impl StateData for String {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.len() as u64).encode(out);
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let n = decode_len(input, 1)?;
        let b = take(input, n, "string")?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError("invalid UTF-8 in a string".into()))
    }
}

impl StateData for Arc<str> {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.len() as u64).encode(out);
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(String::decode(input)?.into())
    }
}

impl<T: StateData> StateData for Box<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out)
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(Box::new(T::decode(input)?))
    }
}

impl<T: StateData> StateData for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.len() as u64).encode(out);
        for x in self {
            x.encode(out);
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        // Zero-sized encodings (`()`) take no bytes: bound their count by a fixed cap.
        let n = decode_len(input, 0)?;
        if n > input.len().saturating_add(1 << 16) {
            return Err(DecodeError(format!("vector length {n} is implausible")));
        }
        let mut v = Vec::with_capacity(n.min(input.len()));
        for _ in 0..n {
            v.push(T::decode(input)?);
        }
        Ok(v)
    }
}

impl<T: StateData> StateData for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(x) => {
                out.push(1);
                x.encode(out);
            }
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match take(input, 1, "option tag")?[0] {
            0 => Ok(None),
            1 => Ok(Some(T::decode(input)?)),
            b => Err(DecodeError(format!("invalid option tag {b}"))),
        }
    }
}

impl<T: StateData, const N: usize> StateData for [T; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        for x in self {
            x.encode(out);
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let mut v = Vec::with_capacity(N);
        for _ in 0..N {
            v.push(T::decode(input)?);
        }
        v.try_into()
            .map_err(|_| DecodeError("array length mismatch".into()))
    }
}

/// Encodes `len` entries as [`Vec`] does: the count, then each item.
fn encode_seq<'a, T: StateData + 'a>(
    len: usize,
    items: impl Iterator<Item = &'a T>,
    out: &mut Vec<u8>,
) {
    (len as u64).encode(out);
    for x in items {
        x.encode(out);
    }
}

impl<T: StateData> StateData for std::collections::VecDeque<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_seq(self.len(), self.iter(), out);
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(Vec::<T>::decode(input)?.into())
    }
}

/// Maps are written as their entries (count, then key and value of each), in the map's
/// iteration order; decoding a duplicate key is an error (a corrupt buffer).
macro_rules! map {
    () => {
        fn encode(&self, out: &mut Vec<u8>) {
            (self.len() as u64).encode(out);
            for (k, v) in self {
                k.encode(out);
                v.encode(out);
            }
        }
        fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
            let n = decode_len(input, 0)?;
            if n > input.len().saturating_add(1 << 16) {
                return Err(DecodeError(format!("map length {n} is implausible")));
            }
            let mut m = Self::default();
            for _ in 0..n {
                let k = K::decode(input)?;
                let v = V::decode(input)?;
                if m.insert(k, v).is_some() {
                    return Err(DecodeError("duplicate key in a map".into()));
                }
            }
            Ok(m)
        }
    };
}

impl<K, V, S> StateData for std::collections::HashMap<K, V, S>
where
    K: StateData + Eq + std::hash::Hash,
    V: StateData,
    S: std::hash::BuildHasher + Default,
{
    map!();
}

impl<K, V, S> StateData for hashbrown::HashMap<K, V, S>
where
    K: StateData + Eq + std::hash::Hash,
    V: StateData,
    S: std::hash::BuildHasher + Default,
{
    map!();
}

impl<K: StateData + Ord, V: StateData> StateData for std::collections::BTreeMap<K, V> {
    map!();
}

macro_rules! tuple {
    ($($n:ident),+) => {
        impl<$($n: StateData),+> StateData for ($($n,)+) {
            #[allow(non_snake_case)]
            fn encode(&self, out: &mut Vec<u8>) {
                let ($($n,)+) = self;
                $($n.encode(out);)+
            }
            fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
                Ok(($($n::decode(input)?,)+))
            }
        }
    };
}
tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);
tuple!(A, B, C, D, E);
tuple!(A, B, C, D, E, F);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round<T: StateData + PartialEq + std::fmt::Debug>(x: T) {
        let mut buf = Vec::new();
        x.encode(&mut buf);
        let mut input = &buf[..];
        assert_eq!(T::decode(&mut input).unwrap(), x);
        assert!(input.is_empty(), "decode consumed every byte");
        // Every strict prefix fails cleanly (no panic).
        for cut in 0..buf.len() {
            let _ = T::decode(&mut &buf[..cut]);
        }
    }

    proptest! {
        #[test]
        fn standard_types_round_trip(
            a in any::<i64>(), b in any::<u8>(), s in ".{0,12}", f in any::<f64>(),
            v in proptest::collection::vec((any::<u32>(), any::<bool>()), 0..8),
            o in proptest::option::of(any::<i32>()), c in any::<char>(),
        ) {
            round((a, b, s.clone(), v.clone(), o, c));
            round(Arc::<str>::from(s.as_str()));
            let mut buf = Vec::new();
            f.encode(&mut buf);
            prop_assert_eq!(f64::decode(&mut &buf[..]).unwrap().to_bits(), f.to_bits());
            round([a, a.wrapping_add(1)]);
            round(Some(vec![Some(s)]));
            let m: std::collections::BTreeMap<u32, bool> = v.iter().copied().collect();
            round(m.clone());
            let h: std::collections::HashMap<u32, bool, crate::state::FixedState> =
                v.iter().copied().collect();
            round(h);
            round(v.iter().copied().collect::<std::collections::VecDeque<_>>());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = <(String, Vec<Option<u64>>, bool)>::decode(&mut &bytes[..]);
            let _ = Vec::<()>::decode(&mut &bytes[..]);
            let _ = std::collections::BTreeMap::<u8, ()>::decode(&mut &bytes[..]);
        }
    }

    #[test]
    fn corrupt_lengths_are_errors() {
        let mut buf = Vec::new();
        u64::MAX.encode(&mut buf);
        assert!(String::decode(&mut &buf[..]).is_err());
        assert!(Vec::<u64>::decode(&mut &buf[..]).is_err());
        assert!(bool::decode(&mut &[7u8][..]).is_err());
        // A key written twice is corrupt, not silently merged.
        let mut buf = Vec::new();
        vec![(1u8, 2u8), (1, 3)].encode(&mut buf);
        let dup = std::collections::BTreeMap::<u8, u8>::decode(&mut &buf[..]);
        assert!(dup.is_err());
    }
}
