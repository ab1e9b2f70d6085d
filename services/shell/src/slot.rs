//! One piece of IO in flight, kept by a loop as an arm of its `select!`.

use futures::FutureExt;
use futures::future::BoxFuture;
use std::future::Future;

/// At most one future of a kind in flight. [`Slot::wait`] is pending while
/// the slot is empty, so it can stand as an arm of a `select!` at all times;
/// when the future completes, the slot is empty again.
pub struct Slot<T> {
    future: Option<BoxFuture<'static, T>>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot { future: None }
    }
}

impl<T> Slot<T> {
    /// Puts a future in the slot, dropping any that was there.
    pub fn put(&mut self, future: impl Future<Output = T> + Send + 'static) {
        self.future = Some(future.boxed());
    }

    pub fn is_busy(&self) -> bool {
        self.future.is_some()
    }

    /// The future's output; pending while the slot is empty.
    pub async fn wait(&mut self) -> T {
        let Some(future) = self.future.as_mut() else {
            return std::future::pending().await;
        };
        let output = future.await;
        self.future = None;
        output
    }
}
