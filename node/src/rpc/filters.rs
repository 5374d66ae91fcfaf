//! Polling filters (`eth_newFilter`, `eth_newBlockFilter`,
//! `eth_newPendingTransactionFilter`, `eth_getFilterChanges`,
//! `eth_getFilterLogs`, `eth_uninstallFilter`) and WebSocket subscriptions
//! (`eth_subscribe` to `newHeads`, `logs`, `newPendingTransactions`).

use super::convert::{rpc_header, rpc_logs};
use super::eth::EthApi;
use super::{RpcResult, internal, invalid_params, server_error};
use crate::chain::CommittedEvent;
use alloy::rpc::types::{Filter, FilterBlockOption, Log};
use alloy_primitives::{B256, U256};
use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{PendingSubscriptionSink, RpcModule};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

/// Filters idle longer than this are removed.
pub const FILTER_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Most pending-transaction hashes a filter keeps between polls.
const MAX_PENDING_PER_FILTER: usize = 10_000;

#[derive(Debug)]
enum FilterKind {
    Blocks { next: u64 },
    Pending { hashes: Vec<B256> },
    Logs { filter: Box<Filter>, next: u64 },
}

#[derive(Debug)]
struct Entry {
    kind: FilterKind,
    last_poll: Instant,
}

/// The installed polling filters.
#[derive(Debug)]
pub struct Filters {
    entries: Mutex<HashMap<u64, Entry>>,
    next_id: Mutex<u64>,
    max_filters: usize,
}

impl Filters {
    /// No filters; at most `max_filters` at once.
    pub fn new(max_filters: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), next_id: Mutex::new(1), max_filters }
    }

    fn install(&self, kind: FilterKind) -> RpcResult<U256> {
        let mut entries = self.entries.lock();
        if entries.len() >= self.max_filters {
            return Err(server_error(format!(
                "too many filters installed (limit {}); uninstall some",
                self.max_filters
            )));
        }
        let mut next = self.next_id.lock();
        let id = *next;
        *next += 1;
        entries.insert(id, Entry { kind, last_poll: Instant::now() });
        Ok(U256::from(id))
    }

    /// Remove filters idle longer than the timeout; returns how many.
    pub fn expire(&self, now: Instant) -> usize {
        let mut entries = self.entries.lock();
        let before = entries.len();
        entries.retain(|_, e| now.duration_since(e.last_poll) < FILTER_IDLE_TIMEOUT);
        before - entries.len()
    }

    /// Record a pending transaction in every pending-transaction filter.
    pub fn on_pending(&self, hash: B256) {
        for entry in self.entries.lock().values_mut() {
            if let FilterKind::Pending { hashes } = &mut entry.kind
                && hashes.len() < MAX_PENDING_PER_FILTER
            {
                hashes.push(hash);
            }
        }
    }
}

fn filter_id(id: U256) -> RpcResult<u64> {
    u64::try_from(id).map_err(|_| server_error("filter not found"))
}

/// Register the filter and subscription methods.
pub fn register(module: &mut RpcModule<EthApi>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_method("eth_newFilter", |params, api, _| -> RpcResult<_> {
        let filter: Filter =
            params.sequence().next().map_err(|e| invalid_params(format!("invalid filter: {}", e.message())))?;
        if matches!(filter.block_option, FilterBlockOption::AtBlockHash(_)) {
            return Err(invalid_params("invalid filter: blockHash is not allowed in eth_newFilter"));
        }
        // Changes are the matching logs of blocks committed after installation.
        let next = api.chain.head().header.number + 1;
        api.filters.install(FilterKind::Logs { filter: Box::new(filter), next })
    })?;
    module.register_method("eth_newBlockFilter", |_, api, _| -> RpcResult<_> {
        let next = api.chain.head().header.number + 1;
        api.filters.install(FilterKind::Blocks { next })
    })?;
    module.register_method("eth_newPendingTransactionFilter", |_, api, _| -> RpcResult<_> {
        api.filters.install(FilterKind::Pending { hashes: Vec::new() })
    })?;
    module.register_method("eth_uninstallFilter", |params, api, _| -> RpcResult<_> {
        let id: U256 = params.one().map_err(|e| invalid_params(format!("invalid filter id: {}", e.message())))?;
        let Ok(id) = u64::try_from(id) else { return Ok::<_, ErrorObjectOwned>(false) };
        Ok(api.filters.entries.lock().remove(&id).is_some())
    })?;
    module.register_blocking_method("eth_getFilterChanges", |params, api, _| -> RpcResult<_> {
        let id: U256 = params.one().map_err(|e| invalid_params(format!("invalid filter id: {}", e.message())))?;
        let id = filter_id(id)?;
        let head = api.chain.head().header.number;
        // Take what is needed under the lock, answer outside it.
        let work = {
            let mut entries = api.filters.entries.lock();
            let entry = entries.get_mut(&id).ok_or_else(|| server_error("filter not found"))?;
            entry.last_poll = Instant::now();
            match &mut entry.kind {
                FilterKind::Pending { hashes } => {
                    return Ok(serde_json::to_value(std::mem::take(hashes)).unwrap_or_default());
                }
                FilterKind::Blocks { next } => {
                    let from = *next;
                    *next = head + 1;
                    Err((from, head))
                }
                FilterKind::Logs { filter, next } => {
                    let from = *next;
                    *next = head + 1;
                    Ok((filter.clone(), from, head))
                }
            }
        };
        match work {
            Err((from, to)) => {
                let mut hashes = Vec::new();
                for n in from..=to {
                    if let Some(h) = api.chain.store().block_hash(n).map_err(|e| internal(e.to_string()))? {
                        hashes.push(h);
                    }
                }
                Ok(serde_json::to_value(hashes).unwrap_or_default())
            }
            Ok((filter, from, to)) => {
                if from > to {
                    return Ok(serde_json::Value::Array(Vec::new()));
                }
                let ranged = (*filter).clone().from_block(from).to_block(to);
                Ok(serde_json::to_value(api.logs(&ranged)?).unwrap_or_default())
            }
        }
    })?;
    module.register_blocking_method("eth_getFilterLogs", |params, api, _| -> RpcResult<_> {
        let id: U256 = params.one().map_err(|e| invalid_params(format!("invalid filter id: {}", e.message())))?;
        let id = filter_id(id)?;
        let filter = {
            let mut entries = api.filters.entries.lock();
            let entry = entries.get_mut(&id).ok_or_else(|| server_error("filter not found"))?;
            entry.last_poll = Instant::now();
            match &entry.kind {
                FilterKind::Logs { filter, .. } => filter.clone(),
                _ => return Err(server_error("filter is not a log filter")),
            }
        };
        api.logs(&filter)
    })?;

    module.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |params, pending, api, _| async move {
            let mut seq = params.sequence();
            let kind: String = match seq.next() {
                Ok(k) => k,
                Err(e) => {
                    pending.reject(invalid_params(format!("invalid subscription type: {}", e.message()))).await;
                    return Ok(());
                }
            };
            match kind.as_str() {
                "newHeads" => subscribe_heads(pending, api).await,
                "logs" => {
                    let filter: Filter = match seq.optional_next::<Filter>() {
                        Ok(f) => f.unwrap_or_default(),
                        Err(e) => {
                            pending.reject(invalid_params(format!("invalid logs filter: {}", e.message()))).await;
                            return Ok(());
                        }
                    };
                    subscribe_logs(pending, api, filter).await
                }
                "newPendingTransactions" => {
                    let full: bool = seq.optional_next().ok().flatten().unwrap_or(false);
                    subscribe_pending(pending, api, full).await
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
        },
    )?;
    Ok(())
}

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

async fn subscribe_heads(pending: PendingSubscriptionSink, api: Arc<EthApi>) -> SubscriptionResult {
    let mut rx = api.chain.subscribe_blocks();
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

fn block_logs(api: &EthApi, event: &CommittedEvent, filter: &Filter) -> Result<Vec<Log>, String> {
    if !filter.matches_bloom(event.header.logs_bloom) {
        return Ok(Vec::new());
    }
    let store = api.chain.store();
    let receipts = store.receipts(event.header.number).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (index, (first, receipt)) in receipts.iter().enumerate() {
        let tx_hash = event.tx_hashes.get(index).copied().unwrap_or_default();
        for log in rpc_logs(receipt, *first, tx_hash, index as u32, &event.header, event.hash) {
            if filter.matches(&log.inner) {
                out.push(log);
            }
        }
    }
    Ok(out)
}

async fn subscribe_logs(pending: PendingSubscriptionSink, api: Arc<EthApi>, filter: Filter) -> SubscriptionResult {
    let mut rx = api.chain.subscribe_blocks();
    let sink = pending.accept().await?;
    loop {
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            event = next_block(&mut rx) => {
                let Some(event) = event else { return Ok(()) };
                for log in block_logs(&api, &event, &filter)? {
                    sink.send(serde_json::value::to_raw_value(&log)?).await?;
                }
            }
        }
    }
}

async fn subscribe_pending(pending: PendingSubscriptionSink, api: Arc<EthApi>, full: bool) -> SubscriptionResult {
    let mut rx = api.chain.subscribe_pending();
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
                    match api.chain.pooled(&hash) {
                        Some(p) => serde_json::value::to_raw_value(&super::convert::rpc_transaction(&p.tx, None))?,
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

/// Keep pending-transaction filters fed and expire idle filters, until the chain goes away.
pub async fn maintain(api: Arc<EthApi>) {
    let mut pending = api.chain.subscribe_pending();
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            hash = pending.recv() => match hash {
                Ok(h) => api.filters.on_pending(h),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                let expired = api.filters.expire(Instant::now());
                if expired > 0 {
                    tracing::debug!(expired, "expired idle filters");
                }
            }
        }
    }
}
