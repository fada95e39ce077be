//! The output side: a bounded channel to the caller, or a callback on the shard threads.

use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::{self, Receiver as CbReceiver, Sender};

use super::Control;
use crate::api::{Data, DataStream};
use crate::error::UserError;
use crate::io::Sink;
use crate::time::Timestamp;

/// Takes a running job's results (see [`DataStream::to_channel`]). `recv` returns `None`
/// once the job has ended and every result has been taken.
#[derive(Debug)]
pub struct Receiver<T> {
    rx: CbReceiver<T>,
}

impl<T> Receiver<T> {
    /// The next result, waiting for it; `None` once the job ended and nothing is left.
    pub fn recv(&self) -> Option<T> {
        self.rx.recv().ok()
    }

    /// The next result if one is there.
    pub fn try_recv(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// The next result, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<T> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// Every result until the job ends.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.rx.iter()
    }
}

/// A sink that hands records to `deliver` and acknowledges flush barriers.
#[derive(Clone)]
struct EmbeddedSink<D> {
    deliver: D,
    control: Arc<Control>,
    id: usize,
    shard: usize,
    shards: usize,
}

/// How an embedded sink delivers one record.
trait Deliver<T>: Clone + Send + 'static {
    fn deliver(&mut self, value: T) -> Result<(), UserError>;
}

struct ToChannel<T>(Sender<T>);

impl<T> Clone for ToChannel<T> {
    fn clone(&self) -> Self {
        ToChannel(self.0.clone())
    }
}

impl<T: Send + 'static> Deliver<T> for ToChannel<T> {
    #[inline]
    fn deliver(&mut self, value: T) -> Result<(), UserError> {
        // A receiver dropped by the caller means nobody wants the results: not an error.
        let _ = self.0.send(value);
        Ok(())
    }
}

#[derive(Clone)]
struct Callback<F>(F);

impl<T, F: FnMut(T) + Clone + Send + 'static> Deliver<T> for Callback<F> {
    #[inline]
    fn deliver(&mut self, value: T) -> Result<(), UserError> {
        (self.0)(value);
        Ok(())
    }
}

impl<T, D: Deliver<T>> Sink<T> for EmbeddedSink<D> {
    fn open(&mut self, shard: usize, shards: usize) -> Result<(), UserError> {
        self.shard = shard;
        self.shards = shards;
        Ok(())
    }

    #[inline]
    fn write(&mut self, value: T, _ts: Option<Timestamp>) -> Result<(), UserError> {
        self.deliver.deliver(value)
    }

    fn on_barrier(&mut self, epoch: u64) -> Result<(), UserError> {
        self.control.ack(self.id, self.shard, self.shards, epoch);
        Ok(())
    }
}

impl<T: Data> DataStream<T> {
    fn embedded_sink<D: Deliver<T>>(&self, name: &str, deliver: D) {
        let (control, id) = {
            let mut inner = self.env.inner.borrow_mut();
            let id = inner.embedding.sinks;
            inner.embedding.sinks += 1;
            (inner.embedding.control.clone(), id)
        };
        self.add_sink(
            name,
            EmbeddedSink {
                deliver,
                control,
                id,
                shard: 0,
                shards: 1,
            },
        );
    }

    /// Sends the records to the caller through a channel of `capacity` (the job waits
    /// while it is full). Meant for embedded jobs ([`Env::start`](crate::Env::start)).
    ///
    /// # Examples
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = Env::new().shards(2);
    /// let out = env.from_iter(1..=4u32).map(|x| x * x).to_channel(8);
    /// env.start().unwrap().join().unwrap();
    /// let mut got: Vec<u32> = out.iter().collect();
    /// got.sort();
    /// assert_eq!(got, vec![1, 4, 9, 16]);
    /// ```
    pub fn to_channel(&self, capacity: usize) -> Receiver<T>
    where
        T: Send,
    {
        let (tx, rx) = channel::bounded(capacity.max(1));
        self.embedded_sink("to_channel", ToChannel(tx));
        Receiver { rx }
    }

    /// Calls `f` with every record, on the shard thread that produced it (keep it short:
    /// it runs on the job's hot path).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
    /// use spate::prelude::*;
    /// let total = Arc::new(AtomicU64::new(0));
    /// let t = total.clone();
    /// let env = Env::new().shards(2);
    /// env.from_iter(1..=4u64).for_each(move |x| {
    ///     t.fetch_add(x, Ordering::Relaxed);
    /// });
    /// env.start().unwrap().join().unwrap();
    /// assert_eq!(total.load(Ordering::Relaxed), 10);
    /// ```
    pub fn for_each<F: FnMut(T) + Clone + Send + 'static>(&self, f: F) {
        self.embedded_sink("for_each", Callback(f));
    }
}
