//! The polling-filter methods: `eth_newFilter`, `eth_newBlockFilter`,
//! `eth_newPendingTransactionFilter`, `eth_getFilterChanges`,
//! `eth_getFilterLogs` and `eth_uninstallFilter`, and the task that feeds
//! pending-transaction filters and expires idle ones.
//!
//! The filters themselves are kept in `filter_store.rs` (owned by the shared
//! context); log filters answer through the context's one log matcher, like
//! `eth_getLogs` and the `logs` subscription.

use super::client_limits::ClientIp;
use super::filter_store::FilterKind;
use super::{RpcContext, RpcResult, check_filter_size, internal, invalid_params, server_error};
use alloy::rpc::types::{Filter, FilterBlockOption, Log};
use alloy_primitives::{B256, U256};
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::Params;
use jsonrpsee::{Extensions, RpcModule};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

/// Register the polling-filter methods.
pub(super) fn register(module: &mut RpcModule<RpcContext>) -> Result<(), RegisterMethodError> {
    module.register_method("eth_newFilter", new_filter)?;
    module.register_method("eth_newBlockFilter", new_block_filter)?;
    module.register_method("eth_newPendingTransactionFilter", new_pending_transaction_filter)?;
    module.register_method("eth_uninstallFilter", uninstall_filter)?;
    module.register_blocking_method("eth_getFilterChanges", get_filter_changes)?;
    module.register_blocking_method("eth_getFilterLogs", get_filter_logs)?;
    Ok(())
}

/// The filter id parameter, as the number the store keys filters by.
fn filter_id_param(params: &Params<'_>) -> RpcResult<U256> {
    params.one().map_err(|e| invalid_params(format!("invalid filter id: {}", e.message())))
}

/// An id too large to have been issued names no filter.
fn filter_id(id: U256) -> RpcResult<u64> {
    u64::try_from(id).map_err(|_| server_error("filter not found"))
}

/// The client that sent a request, if known.
fn client(ext: &Extensions) -> Option<std::net::IpAddr> {
    ext.get::<ClientIp>().map(|c| c.0)
}

fn new_filter(params: Params<'_>, ctx: &RpcContext, ext: &Extensions) -> RpcResult<U256> {
    let filter: Filter =
        params.sequence().next().map_err(|e| invalid_params(format!("invalid filter: {}", e.message())))?;
    if matches!(filter.block_option, FilterBlockOption::AtBlockHash(_)) {
        return Err(invalid_params("invalid filter: blockHash is not allowed in eth_newFilter"));
    }
    // Changes are the matching logs of blocks committed after installation.
    let next = ctx.chain.head().header.number + 1;
    check_filter_size(&filter)?;
    ctx.filters.install(FilterKind::Logs { filter: Box::new(filter), next }, client(ext))
}

fn new_block_filter(_: Params<'_>, ctx: &RpcContext, ext: &Extensions) -> RpcResult<U256> {
    let next = ctx.chain.head().header.number + 1;
    ctx.filters.install(FilterKind::Blocks { next }, client(ext))
}

fn new_pending_transaction_filter(_: Params<'_>, ctx: &RpcContext, ext: &Extensions) -> RpcResult<U256> {
    ctx.filters.install(FilterKind::Pending { hashes: Vec::new() }, client(ext))
}

fn uninstall_filter(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<bool> {
    let id = filter_id_param(&params)?;
    let Ok(id) = u64::try_from(id) else { return Ok(false) };
    Ok(ctx.filters.uninstall(id))
}

/// What one poll of `eth_getFilterChanges` has to report, taken from the store under its lock.
enum Changes {
    /// Pending-transaction hashes, already taken out of the filter.
    Pending(Vec<B256>),
    /// Hashes of blocks `from..=to`.
    Blocks { from: u64, to: u64 },
    /// Logs matching `filter` in blocks `from..=to`.
    Logs { filter: Box<Filter>, from: u64, to: u64 },
}

fn get_filter_changes(params: Params<'_>, ctx: Arc<RpcContext>, _: Extensions) -> RpcResult<serde_json::Value> {
    let id = filter_id(filter_id_param(&params)?)?;
    let head = ctx.chain.head().header.number;
    // Take what is needed under the lock, answer outside it.
    let changes = ctx
        .filters
        .poll(id, |kind| match kind {
            FilterKind::Pending { hashes } => Changes::Pending(std::mem::take(hashes)),
            FilterKind::Blocks { next } => {
                let from = *next;
                *next = head + 1;
                Changes::Blocks { from, to: head }
            }
            FilterKind::Logs { filter, next } => {
                let from = *next;
                *next = head + 1;
                Changes::Logs { filter: filter.clone(), from, to: head }
            }
        })
        .ok_or_else(|| server_error("filter not found"))?;
    match changes {
        Changes::Pending(hashes) => Ok(serde_json::to_value(hashes).unwrap_or_default()),
        Changes::Blocks { from, to } => {
            let mut hashes = Vec::new();
            for n in from..=to {
                if let Some(h) = ctx.chain.store().block_hash(n).map_err(|e| internal(e.to_string()))? {
                    hashes.push(h);
                }
            }
            Ok(serde_json::to_value(hashes).unwrap_or_default())
        }
        Changes::Logs { filter, from, to } => {
            if from > to {
                return Ok(serde_json::Value::Array(Vec::new()));
            }
            let ranged = (*filter).from_block(from).to_block(to);
            Ok(serde_json::to_value(ctx.logs(&ranged)?).unwrap_or_default())
        }
    }
}

fn get_filter_logs(params: Params<'_>, ctx: Arc<RpcContext>, _: Extensions) -> RpcResult<Vec<Log>> {
    let id = filter_id(filter_id_param(&params)?)?;
    let filter = ctx
        .filters
        .poll(id, |kind| match kind {
            FilterKind::Logs { filter, .. } => Ok(filter.clone()),
            _ => Err(server_error("filter is not a log filter")),
        })
        .ok_or_else(|| server_error("filter not found"))??;
    ctx.logs(&filter)
}

/// Keep pending-transaction filters fed and expire idle filters, until the chain goes away.
pub(super) async fn maintain(ctx: Arc<RpcContext>) {
    let mut pending = ctx.chain.subscribe_pending();
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            hash = pending.recv() => match hash {
                Ok(h) => ctx.filters.on_pending(h),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                let expired = ctx.filters.expire(Instant::now());
                if expired > 0 {
                    tracing::debug!(expired, "expired idle filters");
                }
            }
        }
    }
}
