//! WebSocket subscriptions: `eth_subscribe` to `newHeads`, `logs` and
//! `newPendingTransactions` (and `eth_unsubscribe`), fed by the chain's
//! committed-block and pending-transaction broadcasts.
//!
//! The `logs` subscription matches each committed block through the shared
//! context's one log matcher, with the transaction hashes the block event
//! already carries.

use super::context::TxHashes;
use super::convert::{rpc_header, rpc_transaction};
use super::{RpcContext, check_filter_size, invalid_params};
use crate::chain::CommittedEvent;
use alloy::rpc::types::Filter;
use jsonrpsee::core::{RegisterMethodError, SubscriptionResult};
use jsonrpsee::types::Params;
use jsonrpsee::{Extensions, PendingSubscriptionSink, RpcModule};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// Register `eth_subscribe`, its notification `eth_subscription` and `eth_unsubscribe`.
pub(super) fn register(module: &mut RpcModule<RpcContext>) -> Result<(), RegisterMethodError> {
    module.register_subscription("eth_subscribe", "eth_subscription", "eth_unsubscribe", subscribe)?;
    Ok(())
}

/// Accept or reject one `eth_subscribe`, then serve it until the client or the chain goes away.
async fn subscribe(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
    ctx: Arc<RpcContext>,
    _: Extensions,
) -> SubscriptionResult {
    let mut seq = params.sequence();
    let kind: String = match seq.next() {
        Ok(k) => k,
        Err(e) => {
            pending.reject(invalid_params(format!("invalid subscription type: {}", e.message()))).await;
            return Ok(());
        }
    };
    // Counted over all connections; the place is freed when the subscription ends.
    let _slot = match ctx.subscriptions.acquire() {
        Ok(slot) => slot,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    match kind.as_str() {
        "newHeads" => subscribe_heads(pending, ctx).await,
        "logs" => {
            let filter: Filter = match seq.optional_next::<Filter>() {
                Ok(f) => f.unwrap_or_default(),
                Err(e) => {
                    pending.reject(invalid_params(format!("invalid logs filter: {}", e.message()))).await;
                    return Ok(());
                }
            };
            if let Err(e) = check_filter_size(&filter) {
                pending.reject(e).await;
                return Ok(());
            }
            subscribe_logs(pending, ctx, filter).await
        }
        "newPendingTransactions" => {
            let full: bool = seq.optional_next().ok().flatten().unwrap_or(false);
            subscribe_pending(pending, ctx, full).await
        }
        other => {
            pending
                .reject(invalid_params(format!(
                    "unknown subscription type {other:?}: use newHeads, logs or newPendingTransactions"
                )))
                .await;
            Ok(())
        }
    }
}

/// The next committed block, or `None` once the chain is gone.
async fn next_block(rx: &mut tokio::sync::broadcast::Receiver<Arc<CommittedEvent>>) -> Option<Arc<CommittedEvent>> {
    loop {
        match rx.recv().await {
            Ok(event) => return Some(event),
            // A slow subscriber skips what it missed rather than blocking the node.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return None,
        }
    }
}

async fn subscribe_heads(pending: PendingSubscriptionSink, ctx: Arc<RpcContext>) -> SubscriptionResult {
    let mut rx = ctx.chain.subscribe_blocks();
    let sink = pending.accept().await?;
    loop {
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            event = next_block(&mut rx) => {
                let Some(event) = event else { return Ok(()) };
                let header = rpc_header(&event.header, event.hash, 0);
                sink.send(serde_json::value::to_raw_value(&header)?).await?;
            }
        }
    }
}

async fn subscribe_logs(pending: PendingSubscriptionSink, ctx: Arc<RpcContext>, filter: Filter) -> SubscriptionResult {
    let mut rx = ctx.chain.subscribe_blocks();
    let sink = pending.accept().await?;
    loop {
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            event = next_block(&mut rx) => {
                let Some(event) = event else { return Ok(()) };
                let logs = ctx
                    .block_logs(&filter, &event.header, event.hash, TxHashes::Known(&event.tx_hashes))
                    // The subscription ends with the store's own message, as it always has.
                    .map_err(|e| e.message().to_string())?;
                for log in logs {
                    sink.send(serde_json::value::to_raw_value(&log)?).await?;
                }
            }
        }
    }
}

async fn subscribe_pending(pending: PendingSubscriptionSink, ctx: Arc<RpcContext>, full: bool) -> SubscriptionResult {
    let mut rx = ctx.chain.subscribe_pending();
    let sink = pending.accept().await?;
    loop {
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            hash = rx.recv() => {
                let hash = match hash {
                    Ok(h) => h,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return Ok(()),
                };
                let message = if full {
                    match ctx.chain.pooled(&hash) {
                        Some(p) => serde_json::value::to_raw_value(&rpc_transaction(&p.tx, None))?,
                        None => continue,
                    }
                } else {
                    serde_json::value::to_raw_value(&hash)?
                };
                sink.send(message).await?;
            }
        }
    }
}
