//! Waiting for a transaction's receipt without polling: `eth_sendRawTransactionSync`
//! (EIP-7966) and the `sync_send` mode of `eth_sendRawTransaction`.
//!
//! A request takes a place (bounded over the node), submits, then parks on a
//! oneshot channel keyed by the transaction hash. One task follows committed
//! blocks and wakes the waiters of each block's transactions, so a thousand
//! waiting requests cost a hash-map entry each and no CPU until their block
//! commits or their timeout fires.

use super::bounded::{Bounded, Place};
use super::{RpcContext, RpcResult, internal};
use alloy_primitives::B256;
use dsec_sdk::block::RpcReceipt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::oneshot;

/// The EIP-7966 timeout error (code 4); its data is the transaction hash.
pub(super) const TIMEOUT_CODE: i32 = 4;
/// The EIP-7966 nonce-gap error (code 6); its data is the expected nonce.
pub(super) const NONCE_GAP_CODE: i32 = 6;

/// Requests waiting for their transaction's block, by transaction hash.
#[derive(Debug)]
pub(super) struct ReceiptWaiters {
    waiting: Mutex<HashMap<B256, Vec<oneshot::Sender<()>>>>,
    places: Bounded,
}

impl ReceiptWaiters {
    /// None waiting; at most `max` at once.
    pub(super) fn new(max: usize) -> Self {
        Self { waiting: Mutex::new(HashMap::new()), places: Bounded::new(max, "requests waiting for receipts") }
    }

    /// A place for one more waiting request, taken before its transaction is submitted.
    pub(super) fn reserve(&self) -> RpcResult<Place> {
        self.places.acquire()
    }

    /// Wake when `hash` is committed.
    fn register(&self, hash: B256) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().entry(hash).or_default().push(tx);
        rx
    }

    /// Forget the requests for `hash` that stopped waiting (timed out or went away).
    fn forget_closed(&self, hash: &B256) {
        let mut waiting = self.waiting.lock();
        if let Some(list) = waiting.get_mut(hash) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                waiting.remove(hash);
            }
        }
    }

    /// Wake the requests waiting for any of `hashes`.
    fn committed(&self, hashes: &[B256]) {
        let mut waiting = self.waiting.lock();
        if waiting.is_empty() {
            return;
        }
        for hash in hashes {
            for tx in waiting.remove(hash).unwrap_or_default() {
                let _ = tx.send(());
            }
        }
    }

    /// The hashes requests are waiting for.
    fn hashes(&self) -> Vec<B256> {
        self.waiting.lock().keys().copied().collect()
    }
}

/// Follow committed blocks and wake their transactions' waiters (the RPC
/// server runs it; a lagging follower checks every waited hash in the store).
pub(super) async fn dispatch(ctx: Arc<RpcContext>) {
    let mut blocks = ctx.chain.subscribe_blocks();
    loop {
        match blocks.recv().await {
            Ok(event) => ctx.receipt_waiters.committed(&event.tx_hashes),
            Err(RecvError::Lagged(_)) => {
                let found: Vec<B256> = ctx
                    .receipt_waiters
                    .hashes()
                    .into_iter()
                    .filter(|h| ctx.chain.store().tx_location(h).ok().flatten().is_some())
                    .collect();
                ctx.receipt_waiters.committed(&found);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// The receipt of `hash` if its block is committed (read on the blocking pool).
async fn receipt_now(ctx: &Arc<RpcContext>, hash: B256) -> RpcResult<Option<RpcReceipt>> {
    let ctx = ctx.clone();
    tokio::task::spawn_blocking(move || match ctx.chain.store().tx_location(&hash).map_err(super::store_err)? {
        Some((number, index)) => ctx.receipt_at(number, index),
        None => Ok(None),
    })
    .await
    .map_err(|e| internal(e.to_string()))?
}

/// Why waiting ended without a receipt.
pub(super) enum NoReceipt {
    /// The timeout passed first.
    TimedOut,
    /// Reading the receipt failed.
    Failed(jsonrpsee::types::ErrorObjectOwned),
}

/// Wait up to `timeout` for the receipt of `hash` (just submitted while
/// holding `place`): registered first, then checked in the store, so a block
/// committed in between is not missed.
pub(super) async fn wait_for_receipt(
    ctx: &Arc<RpcContext>,
    hash: B256,
    timeout: Duration,
    place: Place,
) -> Result<RpcReceipt, NoReceipt> {
    let woken = ctx.receipt_waiters.register(hash);
    let outcome = async {
        if let Some(receipt) = receipt_now(ctx, hash).await.map_err(NoReceipt::Failed)? {
            return Ok(receipt);
        }
        match tokio::time::timeout(timeout, woken).await {
            Ok(Ok(())) => receipt_now(ctx, hash)
                .await
                .map_err(NoReceipt::Failed)?
                .ok_or_else(|| NoReceipt::Failed(internal("the block committed but its receipt is missing"))),
            // The server is stopping (the sender went away) or the timeout passed.
            Ok(Err(_)) | Err(_) => Err(NoReceipt::TimedOut),
        }
    }
    .await;
    ctx.receipt_waiters.forget_closed(&hash);
    drop(place);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_and_freed() {
        let waiters = ReceiptWaiters::new(2);
        let a = waiters.reserve().unwrap();
        let _b = waiters.reserve().unwrap();
        let refused = waiters.reserve().unwrap_err();
        assert!(refused.message().contains("limit 2"), "{}", refused.message());
        drop(a);
        assert!(waiters.reserve().is_ok());
    }

    #[tokio::test]
    async fn a_commit_wakes_exactly_its_waiters_and_closed_ones_are_forgotten() {
        let waiters = ReceiptWaiters::new(10);
        let (one, two) = (B256::repeat_byte(1), B256::repeat_byte(2));
        let first = waiters.register(one);
        let second = waiters.register(one);
        let other = waiters.register(two);
        waiters.committed(&[one, B256::repeat_byte(9)]);
        assert!(first.await.is_ok() && second.await.is_ok());
        drop(other);
        waiters.forget_closed(&two);
        assert!(waiters.hashes().is_empty(), "a request that stopped waiting leaves nothing behind");
    }
}
