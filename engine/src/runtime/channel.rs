//! Shard-to-shard channels: bounded single-producer/single-consumer queues between two
//! executors (glommio's shared channels), wrapped so that no other module names glommio.

use glommio::channels::shared_channel::{self, ConnectedReceiver, ConnectedSender};

/// The sending end before it is connected on its shard (`Send`).
pub(crate) struct TxEnd<T: Send + 'static>(shared_channel::SharedSender<T>);
/// The receiving end before it is connected on its shard (`Send`).
pub(crate) struct RxEnd<T: Send + 'static>(shared_channel::SharedReceiver<T>);

/// A bounded channel of `capacity` messages.
pub(crate) fn bounded<T: Send + 'static>(capacity: usize) -> (TxEnd<T>, RxEnd<T>) {
    let (tx, rx) = shared_channel::new_bounded(capacity.max(1));
    (TxEnd(tx), RxEnd(rx))
}

impl<T: Send + 'static> TxEnd<T> {
    /// Binds the end to the current shard. Waits until the peer binds its end too, so all
    /// ends of a shard must be connected concurrently.
    pub(crate) async fn connect(self) -> Tx<T> {
        Tx(self.0.connect().await)
    }
}

impl<T: Send + 'static> RxEnd<T> {
    /// Binds the end to the current shard (see [`TxEnd::connect`]).
    pub(crate) async fn connect(self) -> Rx<T> {
        Rx(self.0.connect().await)
    }
}

/// A connected sending end (`!Send`: it stays on its shard).
pub(crate) struct Tx<T: Send + 'static>(ConnectedSender<T>);
/// A connected receiving end (`!Send`).
pub(crate) struct Rx<T: Send + 'static>(ConnectedReceiver<T>);

impl<T: Send + 'static> Tx<T> {
    /// Sends without waiting; gives the item back when the channel is full or closed.
    #[inline]
    pub(crate) fn try_send(&self, item: T) -> Result<(), Option<T>> {
        self.0.try_send(item).map_err(give_back)
    }

    /// Sends, waiting for space; fails when the receiver is gone.
    pub(crate) async fn send(&self, item: T) -> Result<(), Option<T>> {
        self.0.send(item).await.map_err(give_back)
    }
}

impl<T: Send + 'static> Rx<T> {
    /// The next message, or `None` once the sender is gone and the channel is drained.
    pub(crate) async fn recv(&self) -> Option<T> {
        self.0.recv().await
    }

    /// The next message if one is there now, without waiting (`None` also once the
    /// sender is gone: [`recv`](Rx::recv) then says so). Polls the receive future once with
    /// a no-op waker: glommio keeps every waker registered for a channel, so the task that
    /// waits in `recv` on this channel is still woken.
    pub(crate) fn try_recv(&self) -> Option<T> {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let mut fut = std::pin::pin!(self.0.recv());
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(m) => m,
            Poll::Pending => None,
        }
    }
}

/// The item a failed send hands back, when the error carries it.
fn give_back<T>(e: glommio::GlommioError<T>) -> Option<T> {
    use glommio::{GlommioError, ResourceType};
    match e {
        GlommioError::Closed(ResourceType::Channel(t))
        | GlommioError::WouldBlock(ResourceType::Channel(t)) => Some(t),
        _ => None,
    }
}
