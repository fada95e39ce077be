//! [`StateTypes`]: codecs registered by type, for built-in operators whose key and value
//! types carry no [`StateData`] bound (keyed `reduce`/`sum`/`min`/`max`), so that they can
//! take part in checkpoints without a bound on their API (Flink finds a serializer per type
//! the same way). Looked up once per operator when the job starts.

use std::any::{Any, TypeId};
use std::collections::HashMap;

use super::codec::{DecodeError, StateData};

/// How to encode and decode values of `T`.
pub(crate) struct Codec<T> {
    pub(crate) encode: fn(&T, &mut Vec<u8>),
    pub(crate) decode: fn(&mut &[u8]) -> Result<T, DecodeError>,
}

impl<T> Clone for Codec<T> {
    fn clone(&self) -> Self {
        Codec {
            encode: self.encode,
            decode: self.decode,
        }
    }
}

/// The codecs registered with [`Env::state_type`](crate::Env::state_type).
#[derive(Default, Clone)]
pub(crate) struct StateTypes {
    codecs: HashMap<TypeId, std::sync::Arc<dyn Any + Send + Sync>>,
}

impl StateTypes {
    pub(crate) fn register<T: StateData + 'static>(&mut self) {
        self.codecs.insert(
            TypeId::of::<T>(),
            std::sync::Arc::new(Codec::<T> {
                encode: |v, o| v.encode(o),
                decode: T::decode,
            }),
        );
    }

    pub(crate) fn get<T: 'static>(&self) -> Option<Codec<T>> {
        self.codecs
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<Codec<T>>())
            .cloned()
    }
}
