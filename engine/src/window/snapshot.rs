//! How the window operators find the codecs of their state for checkpoints, without a bound
//! on the window API: key, window, contents and trigger-state types are looked up among
//! those registered with [`Env::state_type`](crate::Env::state_type) (the built-in window
//! and trigger-state types are known without registration), once when the job starts. A
//! contents type built from the element type (a `process` buffer, a `reduce` accumulator)
//! is encoded with the element type's codec.

use std::sync::Arc;

use super::types::{GlobalWindow, TimeWindow};
use crate::checkpoint::types::{Codec, StateTypes};
use crate::checkpoint::{DecodeError, StateData};
use crate::time::Timestamp;

type Enc<T> = Arc<dyn Fn(&T, &mut Vec<u8>) + Send + Sync>;
type Dec<T> = Arc<dyn Fn(&mut &[u8]) -> Result<T, DecodeError> + Send + Sync>;

/// An encoder/decoder pair built at job start (called only when a snapshot is taken or
/// restored, never on the data path).
pub(crate) struct DynCodec<T> {
    pub(crate) enc: Enc<T>,
    pub(crate) dec: Dec<T>,
}

impl<T> Clone for DynCodec<T> {
    fn clone(&self) -> Self {
        DynCodec {
            enc: self.enc.clone(),
            dec: self.dec.clone(),
        }
    }
}

impl<T: 'static> DynCodec<T> {
    pub(crate) fn of(c: Codec<T>) -> Self {
        let (e, d) = (c.encode, c.decode);
        DynCodec {
            enc: Arc::new(e),
            dec: Arc::new(d),
        }
    }

    /// `Option<T>`, written as the `StateData` of `Option` writes it.
    pub(crate) fn option(c: Codec<T>) -> DynCodec<Option<T>> {
        let (e, d) = (c.encode, c.decode);
        DynCodec {
            enc: Arc::new(move |v: &Option<T>, o: &mut Vec<u8>| match v {
                None => o.push(0),
                Some(x) => {
                    o.push(1);
                    e(x, o);
                }
            }),
            dec: Arc::new(move |r| match bool::decode(r)? {
                false => Ok(None),
                true => Ok(Some(d(r)?)),
            }),
        }
    }

    /// `Vec<T>`: a length, then the elements.
    pub(crate) fn vec(c: Codec<T>) -> DynCodec<Vec<T>> {
        let (e, d) = (c.encode, c.decode);
        DynCodec {
            enc: Arc::new(move |v: &Vec<T>, o: &mut Vec<u8>| {
                (v.len() as u64).encode(o);
                v.iter().for_each(|x| e(x, o));
            }),
            dec: Arc::new(move |r| decode_list(r, 0, &|r: &mut &[u8]| d(r))),
        }
    }

    /// `Vec<(Timestamp, T)>`: the buffer of a window behind an evictor.
    pub(crate) fn timestamped_vec(c: Codec<T>) -> DynCodec<Vec<(Timestamp, T)>> {
        let (e, d) = (c.encode, c.decode);
        DynCodec {
            enc: Arc::new(move |v: &Vec<(Timestamp, T)>, o: &mut Vec<u8>| {
                (v.len() as u64).encode(o);
                for (ts, x) in v {
                    ts.encode(o);
                    e(x, o);
                }
            }),
            dec: Arc::new(move |r| {
                decode_list(r, 8, &|r: &mut &[u8]| Ok((Timestamp::decode(r)?, d(r)?)))
            }),
        }
    }
}

/// The codecs of a window operator's state: key, window, contents, trigger state.
pub(crate) struct WindowCodecs<K, W, Acc, TS> {
    pub(crate) key: Codec<K>,
    pub(crate) window: Codec<W>,
    pub(crate) acc: DynCodec<Acc>,
    pub(crate) trigger: Codec<TS>,
}

impl<K, W, Acc, TS> Clone for WindowCodecs<K, W, Acc, TS> {
    fn clone(&self) -> Self {
        WindowCodecs {
            key: self.key.clone(),
            window: self.window.clone(),
            acc: self.acc.clone(),
            trigger: self.trigger.clone(),
        }
    }
}

/// What `checkpoint_role` answers from the codecs looked up at `prepare` (`None`: not looked
/// up, the job has no checkpoints).
pub(crate) fn role<X>(codecs: &Option<Result<X, String>>) -> Result<bool, String> {
    match codecs {
        Some(Ok(_)) => Ok(true),
        Some(Err(why)) => Err(why.clone()),
        None => Err("its codecs were not looked up".into()),
    }
}

/// The codecs found at `prepare`, for a snapshot or a restore.
pub(crate) fn found<X>(codecs: &Option<Result<X, String>>) -> Result<&X, String> {
    match codecs {
        Some(Ok(c)) => Ok(c),
        Some(Err(why)) => Err(why.clone()),
        None => Err("its codecs were not looked up".into()),
    }
}

/// The codec of `T`: registered with `Env::state_type`, or one of the built-in window and
/// trigger-state types.
pub(crate) fn lookup<T: 'static>(types: &StateTypes) -> Option<Codec<T>> {
    types.get::<T>().or_else(|| {
        let mut builtin = StateTypes::default();
        builtin.register::<()>();
        builtin.register::<u64>();
        builtin.register::<i64>();
        builtin.register::<Option<i64>>();
        builtin.register::<TimeWindow>();
        builtin.register::<GlobalWindow>();
        builtin.get::<T>()
    })
}

/// The codec of `T`, or the sentence naming the type to register.
pub(crate) fn need<T: 'static>(types: &StateTypes, what: &str) -> Result<Codec<T>, String> {
    lookup::<T>(types).ok_or_else(|| {
        format!(
            "register its {what} type `{}` with Env::state_type",
            std::any::type_name::<T>()
        )
    })
}

/// Collects every missing codec into one message (so the user fixes them all at once).
pub(crate) fn join_missing(parts: Vec<Result<(), String>>) -> Result<(), String> {
    let missing: Vec<String> = parts.into_iter().filter_map(|r| r.err()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join("; "))
    }
}

/// Decodes a count-prefixed list of pairs.
pub(crate) fn decode_pairs<A, B>(
    r: &mut &[u8],
    a: &dyn Fn(&mut &[u8]) -> Result<A, DecodeError>,
    b: &dyn Fn(&mut &[u8]) -> Result<B, DecodeError>,
) -> Result<Vec<(A, B)>, DecodeError> {
    decode_list(r, 0, &|r: &mut &[u8]| Ok((a(r)?, b(r)?)))
}

/// Decodes a count-prefixed list whose elements take at least `min_size` bytes each. No
/// allocation ahead of the bytes read; elements that take no bytes (`()`, `GlobalWindow`)
/// are capped in number, so a corrupt count cannot make it loop for long.
pub(crate) fn decode_list<X>(
    r: &mut &[u8],
    min_size: usize,
    f: &dyn Fn(&mut &[u8]) -> Result<X, DecodeError>,
) -> Result<Vec<X>, DecodeError> {
    let n = crate::checkpoint::decode_len(r, min_size)?;
    let mut v = Vec::new();
    for i in 0..n {
        let before = r.len();
        v.push(f(r)?);
        if r.len() == before && n - i > (1 << 16) {
            return Err(DecodeError(format!("list of {n} empty entries")));
        }
    }
    Ok(v)
}

/// Encodes a count-prefixed list of pairs.
pub(crate) fn encode_pairs<A, B>(
    v: &[(A, B)],
    o: &mut Vec<u8>,
    a: &dyn Fn(&A, &mut Vec<u8>),
    b: &dyn Fn(&B, &mut Vec<u8>),
) {
    (v.len() as u64).encode(o);
    for (x, y) in v {
        a(x, o);
        b(y, o);
    }
}

impl StateData for TimeWindow {
    fn encode(&self, out: &mut Vec<u8>) {
        self.start.encode(out);
        self.end.encode(out);
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(TimeWindow::new(i64::decode(input)?, i64::decode(input)?))
    }
}

impl StateData for GlobalWindow {
    fn encode(&self, _out: &mut Vec<u8>) {}
    fn decode(_input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(GlobalWindow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_codecs_round_trip_and_reject_truncation() {
        let types = StateTypes::default();
        assert!(lookup::<String>(&types).is_none(), "not registered");
        let w = need::<TimeWindow>(&types, "window").unwrap();
        let mut o = Vec::new();
        (w.encode)(&TimeWindow::new(-5, 10), &mut o);
        assert_eq!((w.decode)(&mut &o[..]).unwrap(), TimeWindow::new(-5, 10));
        let mut types = StateTypes::default();
        types.register::<String>();
        let s = need::<String>(&types, "element").unwrap();
        let v = DynCodec::vec(s.clone());
        let t = DynCodec::timestamped_vec(s.clone());
        let opt = DynCodec::option(s);
        let mut o = Vec::new();
        (v.enc)(&vec!["a".to_string(), "bc".into()], &mut o);
        (t.enc)(&vec![(7, "x".to_string())], &mut o);
        (opt.enc)(&Some("y".to_string()), &mut o);
        let r = &mut &o[..];
        assert_eq!((v.dec)(r).unwrap(), vec!["a".to_string(), "bc".into()]);
        assert_eq!((t.dec)(r).unwrap(), vec![(7, "x".to_string())]);
        assert_eq!((opt.dec)(r).unwrap(), Some("y".to_string()));
        assert!(r.is_empty());
        let mut only_v = Vec::new();
        (v.enc)(&vec!["a".to_string(), "bc".into()], &mut only_v);
        for cut in 0..only_v.len() {
            assert!((v.dec)(&mut &only_v[..cut]).is_err(), "truncated at {cut}");
        }
        assert!((t.dec)(&mut &[255u8, 255, 255, 255, 0, 0, 0, 0][..]).is_err());
        let e = need::<Vec<u8>>(&types, "key").err().unwrap();
        assert!(e.contains("key type `alloc::vec::Vec<u8>`"), "{e}");
    }
}
