//! The `eth_` JSON-RPC methods of state, blocks, transactions, calls, fees
//! and logs: what wallets, block explorers and Ethereum libraries ask a node.
//!
//! Polling filters (`filters.rs`) and subscriptions (`pubsub.rs`) are `eth_`
//! methods too but have files of their own. Every handler here is a named
//! function over the shared [`RpcContext`]; block ids, state, receipts and
//! the log matcher come from the context, so this file imports no other
//! namespace.

use super::convert::{rpc_block, rpc_transaction};
use super::{RpcContext, RpcResult, execution_error, internal, invalid_params, one, param_error, parse_block_id};
use super::{check_filter_size, receipts, revert_error, server_error, store_err};
use crate::chain::{Chain, SubmitError, TxOrigin};
use alloy::rpc::types::state::StateOverride;
use alloy::rpc::types::{
    AccessListResult, Block, BlockId, BlockNumberOrTag, FeeHistory, Filter, Log, TransactionRequest,
};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use dsec_evm::call::{self as evm, CallError, CallOutcome};
use dsec_sdk::block::RpcReceipt;
use dsec_sdk::tx::RpcTransaction;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::params::ParamsSequence;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{Extensions, RpcModule};
use std::sync::Arc;
use std::time::Duration;

/// Register the `eth_` methods of state, blocks, transactions, calls, fees and logs.
pub(super) fn register(module: &mut RpcModule<RpcContext>) -> Result<(), RegisterMethodError> {
    // The chain and the node.
    module.register_method("eth_chainId", chain_id)?;
    module.register_method("eth_syncing", syncing)?;
    module.register_method("eth_blockNumber", block_number)?;
    module.register_method("eth_accounts", accounts)?;
    module.register_method("eth_coinbase", coinbase)?;
    module.register_method("eth_mining", mining)?;
    module.register_method("eth_hashrate", hashrate)?;
    // Fees.
    module.register_method("eth_gasPrice", gas_price)?;
    module.register_method("eth_maxPriorityFeePerGas", max_priority_fee_per_gas)?;
    module.register_method("eth_blobBaseFee", blob_base_fee)?;
    module.register_blocking_method("eth_feeHistory", fee_history)?;
    // State.
    module.register_method("eth_getBalance", get_balance)?;
    module.register_method("eth_getTransactionCount", get_transaction_count)?;
    module.register_method("eth_getCode", get_code)?;
    module.register_method("eth_getStorageAt", get_storage_at)?;
    // Execution.
    module.register_blocking_method("eth_call", call)?;
    module.register_blocking_method("eth_createAccessList", create_access_list)?;
    module.register_blocking_method("eth_estimateGas", estimate_gas)?;
    // Transactions and receipts. Whole blocks and their receipts are read on
    // the blocking pool, off the async workers consensus and gossip share.
    module.register_async_method("eth_sendRawTransaction", |p, ctx, _| send_raw_transaction(p, ctx))?;
    module.register_async_method("eth_sendRawTransactionSync", |p, ctx, _| send_raw_transaction_sync(p, ctx))?;
    module.register_method("eth_getTransactionByHash", get_transaction_by_hash)?;
    module
        .register_blocking_method("eth_getTransactionReceipt", |p, ctx, ext| get_transaction_receipt(p, &ctx, &ext))?;
    module.register_blocking_method("eth_getBlockReceipts", |p, ctx, ext| get_block_receipts(p, &ctx, &ext))?;
    // Blocks.
    module.register_blocking_method("eth_getBlockByNumber", |p, ctx, ext| get_block_by_number(p, &ctx, &ext))?;
    module.register_blocking_method("eth_getBlockByHash", |p, ctx, ext| get_block_by_hash(p, &ctx, &ext))?;
    module.register_method("eth_getBlockTransactionCountByNumber", get_block_transaction_count_by_number)?;
    module.register_method("eth_getBlockTransactionCountByHash", get_block_transaction_count_by_hash)?;
    module.register_method("eth_getUncleCountByBlockNumber", get_uncle_count_by_block_number)?;
    module.register_method("eth_getUncleCountByBlockHash", get_uncle_count_by_block_hash)?;
    module.register_method("eth_getTransactionByBlockNumberAndIndex", get_transaction_by_block_number_and_index)?;
    module.register_method("eth_getTransactionByBlockHashAndIndex", get_transaction_by_block_hash_and_index)?;
    // Logs.
    module.register_blocking_method("eth_getLogs", get_logs)?;
    Ok(())
}

// ---- The chain and the node ----

fn chain_id(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<U64> {
    Ok(U64::from(ctx.chain.config().chain_id))
}

fn syncing(_: Params<'_>, _: &RpcContext, _: &Extensions) -> RpcResult<bool> {
    Ok(false)
}

fn block_number(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<U64> {
    Ok(U64::from(ctx.chain.head().header.number))
}

fn accounts(_: Params<'_>, _: &RpcContext, _: &Extensions) -> RpcResult<Vec<Address>> {
    Ok(Vec::new())
}

fn coinbase(_: Params<'_>, _: &RpcContext, _: &Extensions) -> RpcResult<Address> {
    Err(server_error("etherbase must be explicitly specified: this node holds no accounts"))
}

fn mining(_: Params<'_>, _: &RpcContext, _: &Extensions) -> RpcResult<bool> {
    Ok(false)
}

fn hashrate(_: Params<'_>, _: &RpcContext, _: &Extensions) -> RpcResult<U64> {
    Ok(U64::ZERO)
}

// ---- Fees ----

fn gas_price(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<U256> {
    let head = ctx.chain.head().header;
    let base = ctx.chain.next_base_fee(&head) as u128;
    let tip = if ctx.chain.genesis().fees.eip1559 { 1_000_000_000u128.min(base.max(1)) } else { 0 };
    let price = (base + tip).max(ctx.chain.genesis().fees.min_gas_price as u128);
    Ok(U256::from(price))
}

fn max_priority_fee_per_gas(_: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<U256> {
    let tip = if ctx.chain.genesis().fees.eip1559 { 1_000_000_000u128 } else { 0 };
    Ok(U256::from(tip))
}

fn blob_base_fee(_: Params<'_>, _: &RpcContext, _: &Extensions) -> RpcResult<U256> {
    Err(server_error("blob transactions are not supported on this network"))
}

fn fee_history(params: Params<'_>, ctx: Arc<RpcContext>, _: Extensions) -> RpcResult<FeeHistory> {
    let mut seq = params.sequence();
    let count: U64 = seq.next().map_err(|e| param_error("blockCount", e))?;
    let newest: BlockNumberOrTag = seq.next().map_err(|e| param_error("newestBlock", e))?;
    let percentiles: Option<Vec<f64>> = seq.optional_next().map_err(|e| param_error("rewardPercentiles", e))?;
    build_fee_history(&ctx, count.to(), newest, percentiles)
}

/// Base fees, gas-used ratios and (if `percentiles` are asked for) priority-fee rewards of
/// up to 1024 blocks ending at `newest`.
fn build_fee_history(
    ctx: &RpcContext,
    count: u64,
    newest: BlockNumberOrTag,
    percentiles: Option<Vec<f64>>,
) -> RpcResult<FeeHistory> {
    let count = count.clamp(1, 1024);
    let (newest_number, newest_header, _) = ctx.resolve_required(Some(BlockId::Number(newest)))?;
    let oldest = newest_number.saturating_sub(count - 1);
    if let Some(p) = &percentiles
        && (p.iter().any(|x| !(0.0..=100.0).contains(x)) || p.windows(2).any(|w| w[0] > w[1]))
    {
        return Err(invalid_params("invalid reward percentiles: must be ascending values in [0, 100]"));
    }
    let store = ctx.chain.store();
    let mut base_fees = Vec::new();
    let mut ratios = Vec::new();
    let mut rewards = Vec::new();
    for n in oldest..=newest_number {
        let header = store.header(n).map_err(store_err)?.ok_or_else(|| server_error("header not found"))?;
        base_fees.push(header.base_fee_per_gas as u128);
        ratios.push(if header.gas_limit == 0 { 0.0 } else { header.gas_used as f64 / header.gas_limit as f64 });
        if let Some(p) = &percentiles {
            let txs = ctx.block_txs(n)?;
            let receipts = store.receipts(n).map_err(store_err)?;
            let tips: Vec<(u128, u64)> = txs
                .iter()
                .zip(receipts.iter())
                .map(|(tx, (_, r))| (tx.effective_tip(header.base_fee_per_gas), r.gas_used))
                .collect();
            rewards.push(percentile_tips(tips, p));
        }
    }
    base_fees.push(ctx.chain.next_base_fee(&newest_header) as u128);
    Ok(FeeHistory {
        base_fee_per_gas: base_fees,
        gas_used_ratio: ratios,
        base_fee_per_blob_gas: Vec::new(),
        blob_gas_used_ratio: Vec::new(),
        oldest_block: oldest,
        reward: percentiles.map(|_| rewards),
    })
}

/// For each percentile, the smallest priority fee of one block's `(tip, gas used)` pairs at
/// which that share of the block's gas is reached; zero for an empty block.
fn percentile_tips(mut tips: Vec<(u128, u64)>, percentiles: &[f64]) -> Vec<u128> {
    tips.sort_unstable();
    let total: u64 = tips.iter().map(|(_, g)| g).sum();
    percentiles
        .iter()
        .map(|pct| {
            if tips.is_empty() {
                return 0;
            }
            let threshold = (total as f64 * pct / 100.0) as u64;
            let mut acc = 0;
            for (tip, gas) in &tips {
                acc += gas;
                if acc >= threshold {
                    return *tip;
                }
            }
            tips.last().map(|t| t.0).unwrap_or(0)
        })
        .collect()
}

// ---- State ----

fn get_balance(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<U256> {
    let mut seq = params.sequence();
    let address: Address = seq.next().map_err(|e| param_error("address", e))?;
    let block = parse_block_id(&mut seq)?;
    ctx.with_state(block, |state, _| {
        Ok(state.account(&address).map_err(store_err)?.map(|a| a.balance).unwrap_or_default())
    })
}

fn get_transaction_count(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<U64> {
    let mut seq = params.sequence();
    let address: Address = seq.next().map_err(|e| param_error("address", e))?;
    let block = parse_block_id(&mut seq)?;
    if matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
        return ctx.chain.pending_nonce(&address).map(U64::from).map_err(store_err);
    }
    ctx.with_state(block, |state, _| {
        Ok(U64::from(state.account(&address).map_err(store_err)?.map(|a| a.nonce).unwrap_or_default()))
    })
}

fn get_code(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Bytes> {
    let mut seq = params.sequence();
    let address: Address = seq.next().map_err(|e| param_error("address", e))?;
    let block = parse_block_id(&mut seq)?;
    ctx.with_state(block, |state, _| {
        let Some(account) = state.account(&address).map_err(store_err)? else { return Ok(Bytes::new()) };
        if !account.has_code() {
            return Ok(Bytes::new());
        }
        Ok(state.code(&account.code_hash).map_err(store_err)?.unwrap_or_default())
    })
}

fn get_storage_at(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<B256> {
    let mut seq = params.sequence();
    let address: Address = seq.next().map_err(|e| param_error("address", e))?;
    let slot: U256 = seq.next().map_err(|e| param_error("storage slot", e))?;
    let block = parse_block_id(&mut seq)?;
    ctx.with_state(block, |state, _| Ok(B256::from(state.storage(&address, &slot).map_err(store_err)?)))
}

// ---- Execution ----

/// The answer of `eth_call`: the output, or the revert or halt as an error.
fn call_outcome(outcome: Result<CallOutcome, CallError>) -> RpcResult<Bytes> {
    match outcome {
        Ok(CallOutcome::Success { output, .. }) => Ok(output),
        Ok(CallOutcome::Revert { output, .. }) => Err(revert_error(output)),
        Ok(CallOutcome::Halt { reason, .. }) => Err(server_error(format!("execution halted: {reason}"))),
        Err(e) => Err(execution_error(e)),
    }
}

fn call(params: Params<'_>, ctx: Arc<RpcContext>, _: Extensions) -> RpcResult<Bytes> {
    let mut seq = params.sequence();
    let request: TransactionRequest = seq.next().map_err(|e| param_error("transaction", e))?;
    let block = parse_block_id(&mut seq)?;
    let overrides: Option<StateOverride> = seq.optional_next().map_err(|e| param_error("state overrides", e))?;
    ctx.with_state(block, |state, header| {
        let block_ctx = ctx.chain.block_context_of(header);
        let config = ctx.config_after(header)?;
        match &overrides {
            Some(o) => {
                let state = evm::with_overrides(state, o).map_err(execution_error)?;
                call_outcome(evm::call(&state, &config, &block_ctx, &request, &ctx.call_limits()))
            }
            None => call_outcome(evm::call(state, &config, &block_ctx, &request, &ctx.call_limits())),
        }
    })
}

fn create_access_list(params: Params<'_>, ctx: Arc<RpcContext>, _: Extensions) -> RpcResult<AccessListResult> {
    let mut seq = params.sequence();
    let request: TransactionRequest = seq.next().map_err(|e| param_error("transaction", e))?;
    let block = parse_block_id(&mut seq)?;
    ctx.with_state(block, |state, header| {
        let block_ctx = ctx.chain.block_context_of(header);
        let config = ctx.config_after(header)?;
        let out = evm::create_access_list(state, &config, &block_ctx, &request, &ctx.call_limits())
            .map_err(execution_error)?;
        Ok(AccessListResult { access_list: out.access_list, gas_used: U256::from(out.gas_used), error: out.error })
    })
}

fn estimate_gas(params: Params<'_>, ctx: Arc<RpcContext>, _: Extensions) -> RpcResult<U64> {
    let mut seq = params.sequence();
    let request: TransactionRequest = seq.next().map_err(|e| param_error("transaction", e))?;
    let block = parse_block_id(&mut seq)?;
    ctx.with_state(block, |state, header| {
        let block_ctx = ctx.chain.block_context_of(header);
        let config = ctx.config_after(header)?;
        evm::estimate_gas(state, &config, &block_ctx, &request, &ctx.call_limits())
            .map(U64::from)
            .map_err(execution_error)
    })
}

// ---- Transactions and receipts ----

/// The JSON-RPC error of a refused transaction (EIP-7966's code 6 for a nonce gap).
fn submit_error(error: SubmitError) -> ErrorObjectOwned {
    match error {
        SubmitError::Decode(e) => invalid_params(e.to_string()),
        SubmitError::Pool(e) => server_error(e.to_string()),
        SubmitError::Node(e) => internal(e),
        SubmitError::NonceGap { expected, nonce } => ErrorObjectOwned::owned(
            receipts::NONCE_GAP_CODE,
            format!(
                "The transaction was rejected due to a nonce gap (nonce {nonce}, expected {expected}). Please resubmit with the next on-chain nonce."
            ),
            Some(format!("0x{expected:x}")),
        ),
    }
}

/// Admit a transaction on an admission thread ([`super::admit`]).
async fn submit<T: Send + 'static>(
    ctx: &RpcContext,
    submit: impl FnOnce(&Chain) -> Result<T, SubmitError> + Send + 'static,
) -> RpcResult<T> {
    match ctx.admission.run(submit).await {
        Ok(result) => result.map_err(submit_error),
        Err(e @ super::admit::AdmitError::Overloaded) => {
            Err(ErrorObjectOwned::owned(super::client_limits::RATE_LIMITED_CODE, e.to_string(), None::<()>))
        }
        Err(e @ super::admit::AdmitError::Stopped) => Err(internal(e.to_string())),
    }
}

async fn send_raw_transaction(params: Params<'static>, ctx: Arc<RpcContext>) -> RpcResult<B256> {
    let raw: Bytes = one(&params, "raw transaction")?;
    if !ctx.config.sync_send {
        return submit(&ctx, move |chain| chain.submit(&raw, TxOrigin::Local)).await;
    }
    // Test networks: answer once the block holding it is committed, as an
    // automining chain does. A transaction that waits for a nonce gap to
    // fill, or one that takes longer than the default timeout, is answered
    // with its hash as usual.
    let place = ctx.receipt_waiters.reserve()?;
    let admission = submit(&ctx, move |chain| chain.submit_local(&raw, false)).await?;
    if admission.executable {
        let _ = receipts::wait_for_receipt(&ctx, admission.hash, ctx.config.send_sync_timeout, place).await;
    }
    Ok(admission.hash)
}

/// EIP-7966: admit as `eth_sendRawTransaction` does (refusing a nonce gap
/// with the expected nonce), then answer with the receipt once the block
/// holding it is committed (final: no reorg can undo it), or with error 4
/// and the hash once the timeout passes (the transaction stays pooled).
async fn send_raw_transaction_sync(params: Params<'static>, ctx: Arc<RpcContext>) -> RpcResult<RpcReceipt> {
    let mut seq = params.sequence();
    let raw: Bytes = seq.next().map_err(|e| param_error("raw transaction", e))?;
    let asked: Option<u64> = seq.optional_next().map_err(|e| param_error("timeout (milliseconds)", e))?;
    let max = ctx.config.send_sync_max_timeout;
    // EIP-7966: a missing, zero or too long timeout means the node's default.
    let timeout = match asked.map(Duration::from_millis) {
        Some(t) if !t.is_zero() && t <= max => t,
        _ => ctx.config.send_sync_timeout,
    };
    let place = ctx.receipt_waiters.reserve()?;
    let hash = submit(&ctx, move |chain| chain.submit_local(&raw, true)).await?.hash;
    match receipts::wait_for_receipt(&ctx, hash, timeout, place).await {
        Ok(receipt) => Ok(receipt),
        Err(receipts::NoReceipt::Failed(error)) => Err(error),
        Err(receipts::NoReceipt::TimedOut) => Err(ErrorObjectOwned::owned(
            receipts::TIMEOUT_CODE,
            format!(
                "The transaction was added to the mempool but wasn't processed within the designated timeout interval ({} ms).",
                timeout.as_millis()
            ),
            Some(hash),
        )),
    }
}

fn get_transaction_by_hash(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Option<RpcTransaction>> {
    let hash: B256 = one(&params, "transaction hash")?;
    if let Some((number, index)) = ctx.chain.store().tx_location(&hash).map_err(store_err)? {
        return Ok(ctx
            .tx_at(number, index)?
            .map(|(tx, header, block_hash)| rpc_transaction(&tx, Some((&header, block_hash, index)))));
    }
    Ok(ctx.chain.pooled(&hash).map(|p| rpc_transaction(&p.tx, None)))
}

fn get_transaction_receipt(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Option<RpcReceipt>> {
    let hash: B256 = one(&params, "transaction hash")?;
    match ctx.chain.store().tx_location(&hash).map_err(store_err)? {
        Some((number, index)) => ctx.receipt_at(number, index),
        None => Ok(None),
    }
}

fn get_block_receipts(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Option<Vec<RpcReceipt>>> {
    let id: BlockId = one(&params, "block")?;
    let Some((number, _, _)) = ctx.resolve(id)? else { return Ok(None) };
    let count = ctx.chain.store().receipts(number).map_err(store_err)?.len();
    let mut out = Vec::with_capacity(count);
    for index in 0..count as u32 {
        if let Some(r) = ctx.receipt_at(number, index)? {
            out.push(r);
        }
    }
    Ok(Some(out))
}

// ---- Blocks ----

/// The next parameter as a block number or tag, `invalid block number` if it is not one.
fn block_number_param(seq: &mut ParamsSequence<'_>) -> RpcResult<BlockId> {
    Ok(BlockId::Number(seq.next::<BlockNumberOrTag>().map_err(|e| param_error("block number", e))?))
}

/// The next parameter as a block hash, `invalid block hash` if it is not one.
fn block_hash_param(seq: &mut ParamsSequence<'_>) -> RpcResult<BlockId> {
    Ok(BlockId::from(seq.next::<B256>().map_err(|e| param_error("block hash", e))?))
}

fn get_block_by_number(
    params: Params<'_>,
    ctx: &RpcContext,
    _: &Extensions,
) -> RpcResult<Option<Block<RpcTransaction>>> {
    let mut seq = params.sequence();
    let id = block_number_param(&mut seq)?;
    block_with_flag(ctx, id, &mut seq)
}

fn get_block_by_hash(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Option<Block<RpcTransaction>>> {
    let mut seq = params.sequence();
    let id = block_hash_param(&mut seq)?;
    block_with_flag(ctx, id, &mut seq)
}

/// Block `id`, with full transactions if the next parameter says so (hashes otherwise).
fn block_with_flag(
    ctx: &RpcContext,
    id: BlockId,
    seq: &mut ParamsSequence<'_>,
) -> RpcResult<Option<Block<RpcTransaction>>> {
    let full: bool = seq.optional_next().map_err(|e| param_error("full transactions flag", e))?.unwrap_or(false);
    let Some((number, header, hash)) = ctx.resolve(id)? else { return Ok(None) };
    let txs = ctx.block_txs(number)?;
    Ok(Some(rpc_block(&header, hash, &txs, full)))
}

fn get_block_transaction_count_by_number(
    params: Params<'_>,
    ctx: &RpcContext,
    _: &Extensions,
) -> RpcResult<Option<U64>> {
    transaction_count(ctx, block_number_param(&mut params.sequence())?)
}

fn get_block_transaction_count_by_hash(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Option<U64>> {
    transaction_count(ctx, block_hash_param(&mut params.sequence())?)
}

/// How many transactions block `id` holds; `None` for an unknown block.
fn transaction_count(ctx: &RpcContext, id: BlockId) -> RpcResult<Option<U64>> {
    let Some((number, _, _)) = ctx.resolve(id)? else { return Ok(None) };
    Ok(Some(U64::from(ctx.chain.store().receipts(number).map_err(store_err)?.len())))
}

fn get_uncle_count_by_block_number(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Option<U64>> {
    let id = block_number_param(&mut params.sequence())?;
    Ok(ctx.resolve(id)?.map(|_| U64::ZERO))
}

fn get_uncle_count_by_block_hash(params: Params<'_>, ctx: &RpcContext, _: &Extensions) -> RpcResult<Option<U64>> {
    let id = block_hash_param(&mut params.sequence())?;
    Ok(ctx.resolve(id)?.map(|_| U64::ZERO))
}

fn get_transaction_by_block_number_and_index(
    params: Params<'_>,
    ctx: &RpcContext,
    _: &Extensions,
) -> RpcResult<Option<RpcTransaction>> {
    let mut seq = params.sequence();
    let id = block_number_param(&mut seq)?;
    transaction_at_index(ctx, id, &mut seq)
}

fn get_transaction_by_block_hash_and_index(
    params: Params<'_>,
    ctx: &RpcContext,
    _: &Extensions,
) -> RpcResult<Option<RpcTransaction>> {
    let mut seq = params.sequence();
    let id = block_hash_param(&mut seq)?;
    transaction_at_index(ctx, id, &mut seq)
}

/// Transaction at the index the next parameter gives in block `id`; `None` if either is unknown.
fn transaction_at_index(
    ctx: &RpcContext,
    id: BlockId,
    seq: &mut ParamsSequence<'_>,
) -> RpcResult<Option<RpcTransaction>> {
    let index: U64 = seq.next().map_err(|e| param_error("transaction index", e))?;
    let Some((number, _, _)) = ctx.resolve(id)? else { return Ok(None) };
    let Ok(index) = u32::try_from(index.to::<u64>()) else { return Ok(None) };
    Ok(ctx.tx_at(number, index)?.map(|(tx, header, hash)| rpc_transaction(&tx, Some((&header, hash, index)))))
}

// ---- Logs ----

fn get_logs(params: Params<'_>, ctx: Arc<RpcContext>, _: Extensions) -> RpcResult<Vec<Log>> {
    let filter: Filter = one(&params, "filter")?;
    check_filter_size(&filter)?;
    ctx.logs(&filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_tips_walk_gas_in_tip_order() {
        // Tips 3 (10 gas), 1 (30 gas), 2 (60 gas): sorted 1, 2, 3 with cumulative gas 30, 90, 100.
        let tips = vec![(3, 10), (1, 30), (2, 60)];
        assert_eq!(percentile_tips(tips, &[0.0, 30.0, 31.0, 90.0, 95.0, 100.0]), vec![1, 1, 2, 2, 3, 3]);
        assert_eq!(percentile_tips(Vec::new(), &[10.0, 50.0]), vec![0, 0]);
    }
}
