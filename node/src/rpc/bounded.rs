//! A count of things held at once over all clients, bounded (WebSocket
//! subscriptions, requests waiting for a receipt), and the place each holds.

use super::{RpcResult, server_error};
use std::sync::Arc;

/// A count of things held at once over all clients, bounded: WebSocket
/// subscriptions (jsonrpsee bounds them only per connection) and requests
/// waiting for a receipt.
#[derive(Debug)]
pub(super) struct Bounded {
    held: Arc<std::sync::atomic::AtomicUsize>,
    max: usize,
    /// What is counted, as the refusal names it ("subscriptions open").
    what: &'static str,
}

/// One place of a [`Bounded`] count; dropping it frees the place.
#[derive(Debug)]
pub(super) struct Place(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Bounded {
    /// None held; at most `max` of `what`.
    pub(super) fn new(max: usize, what: &'static str) -> Self {
        Self { held: Arc::new(std::sync::atomic::AtomicUsize::new(0)), max, what }
    }

    /// One more place, or the error when all are taken.
    pub(super) fn acquire(&self) -> RpcResult<Place> {
        let taken =
            self.held.fetch_update(std::sync::atomic::Ordering::AcqRel, std::sync::atomic::Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(Place(self.held.clone())),
            Err(_) => Err(server_error(format!("too many {} on this node (limit {})", self.what, self.max))),
        }
    }
}
