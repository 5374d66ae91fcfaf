//! The `eth_`, `net_`, `web3_` and `dsec_` JSON-RPC methods.

use super::convert::{ReceiptParts, rpc_block, rpc_logs, rpc_receipt, rpc_transaction, stored_tx};
use super::{RpcConfig, RpcResult, execution_error, internal, invalid_params, revert_error, server_error};
use crate::chain::{Chain, SubmitError};
use alloy::rpc::types::AccessListResult;
use alloy::rpc::types::state::StateOverride;
use alloy::rpc::types::trace::geth::{GethDebugTracingCallOptions, GethDebugTracingOptions};
use alloy::rpc::types::{BlockId, BlockNumberOrTag, FeeHistory, Filter, FilterBlockOption, Log, TransactionRequest};
use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256};
use dsec_evm::call::{CallError, CallLimits, CallOutcome, call, create_access_list, estimate_gas, with_overrides};
use dsec_evm::db::StateReader;
use dsec_evm::trace::{trace_call, trace_transaction};
use dsec_sdk::block::Header;
use dsec_sdk::tx::RecoveredTx;
use jsonrpsee::RpcModule;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use std::sync::Arc;

/// State shared by every method.
#[derive(Debug)]
pub struct EthApi {
    /// The chain.
    pub chain: Arc<Chain>,
    /// Limits.
    pub config: RpcConfig,
    /// Client version string.
    pub client_version: String,
    /// Installed polling filters.
    pub filters: super::filters::Filters,
}

fn store_err(e: impl std::fmt::Display) -> ErrorObjectOwned {
    internal(e.to_string())
}

impl EthApi {
    /// Resolve a block id to `(number, header, hash)`; `None` for an unknown hash or a future number.
    fn resolve(&self, id: BlockId) -> RpcResult<Option<(u64, Header, B256)>> {
        let store = self.chain.store();
        let number = match id {
            BlockId::Hash(h) => match store.block_number(&h.block_hash).map_err(store_err)? {
                Some(n) => n,
                None => return Ok(None),
            },
            BlockId::Number(tag) => match tag {
                BlockNumberOrTag::Latest
                | BlockNumberOrTag::Pending
                | BlockNumberOrTag::Safe
                | BlockNumberOrTag::Finalized => self.chain.head().header.number,
                BlockNumberOrTag::Earliest => 0,
                BlockNumberOrTag::Number(n) => n,
            },
        };
        let Some(header) = store.header(number).map_err(store_err)? else { return Ok(None) };
        let hash = store.block_hash(number).map_err(store_err)?.unwrap_or_else(|| header.hash_slow());
        Ok(Some((number, header, hash)))
    }

    /// Like `resolve`, but an unknown block is an error (state queries).
    fn resolve_required(&self, id: Option<BlockId>) -> RpcResult<(u64, Header, B256)> {
        let id = id.unwrap_or(BlockId::Number(BlockNumberOrTag::Latest));
        self.resolve(id)?.ok_or_else(|| server_error("header not found"))
    }

    fn with_state<T>(
        &self,
        id: Option<BlockId>,
        f: impl FnOnce(&dyn StateReader, &Header) -> RpcResult<T>,
    ) -> RpcResult<T> {
        let (number, header, _) = self.resolve_required(id)?;
        let state = self.chain.store().state_at(number).map_err(|e| server_error(e.to_string()))?;
        f(&state, &header)
    }

    fn block_txs(&self, number: u64) -> RpcResult<Vec<RecoveredTx>> {
        self.chain
            .store()
            .transactions(number)
            .map_err(store_err)?
            .iter()
            .map(|t| stored_tx(t).map_err(store_err))
            .collect()
    }

    /// Transaction `index` of block `number`, with the block's header and hash.
    fn tx_at(&self, number: u64, index: u32) -> RpcResult<Option<(RecoveredTx, Header, B256)>> {
        let store = self.chain.store();
        let (Some(body_tx), Some(header), Some(block_hash)) = (
            store.transaction(number, index).map_err(store_err)?,
            store.header(number).map_err(store_err)?,
            store.block_hash(number).map_err(store_err)?,
        ) else {
            return Ok(None);
        };
        Ok(Some((stored_tx(&body_tx).map_err(store_err)?, header, block_hash)))
    }

    fn receipt_at(&self, number: u64, index: u32) -> RpcResult<Option<alloy::rpc::types::TransactionReceipt>> {
        let Some((first_log_index, receipt)) = self.chain.store().receipt(number, index).map_err(store_err)? else {
            return Ok(None);
        };
        let Some((tx, header, block_hash)) = self.tx_at(number, index)? else { return Ok(None) };
        Ok(Some(rpc_receipt(ReceiptParts {
            receipt: &receipt,
            first_log_index,
            tx: &tx,
            index,
            header: &header,
            block_hash,
        })))
    }

    /// The logs matching `filter`, within the configured range and result limits.
    pub(crate) fn logs(&self, filter: &Filter) -> RpcResult<Vec<Log>> {
        let store = self.chain.store();
        let head = self.chain.head().header.number;
        let (from, to) = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => {
                let n = store.block_number(&hash).map_err(store_err)?.ok_or_else(|| server_error("unknown block"))?;
                (n, n)
            }
            FilterBlockOption::Range { from_block, to_block } => {
                let num = |tag: Option<BlockNumberOrTag>| match tag {
                    None
                    | Some(
                        BlockNumberOrTag::Latest
                        | BlockNumberOrTag::Pending
                        | BlockNumberOrTag::Safe
                        | BlockNumberOrTag::Finalized,
                    ) => head,
                    Some(BlockNumberOrTag::Earliest) => 0,
                    Some(BlockNumberOrTag::Number(n)) => n,
                };
                (num(from_block), num(to_block).min(head))
            }
        };
        if from > to {
            if from > head {
                return Ok(Vec::new());
            }
            return Err(invalid_params("invalid block range params: fromBlock is after toBlock"));
        }
        if to - from >= self.config.max_logs_block_range {
            return Err(server_error(format!(
                "query exceeds max block range {}; narrow fromBlock..toBlock",
                self.config.max_logs_block_range
            )));
        }
        let addresses: Vec<Address> = filter.address.iter().copied().collect();
        let topics: Vec<Vec<B256>> = filter.topics.iter().map(|t| t.iter().copied().collect()).collect();
        let candidates: Vec<u64> = match store.log_candidate_blocks(from, to, &addresses, &topics).map_err(store_err)? {
            Some(set) => set.into_iter().collect(),
            None => (from..=to).collect(),
        };
        let mut out = Vec::new();
        for number in candidates {
            let (Some(header), Some(block_hash)) =
                (store.header(number).map_err(store_err)?, store.block_hash(number).map_err(store_err)?)
            else {
                continue;
            };
            if !filter.matches_bloom(header.logs_bloom) {
                continue;
            }
            let txs = store.transactions(number).map_err(store_err)?;
            for (index, (first, receipt)) in store.receipts(number).map_err(store_err)?.into_iter().enumerate() {
                let Some(body_tx) = txs.get(index) else { continue };
                let tx_hash = keccak256(&body_tx.raw);
                for log in rpc_logs(&receipt, first, tx_hash, index as u32, &header, block_hash) {
                    if filter.matches(&log.inner) {
                        out.push(log);
                        if out.len() > self.config.max_logs_results {
                            return Err(server_error(format!(
                                "query returned more than {} results; narrow the filter",
                                self.config.max_logs_results
                            )));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn call_limits(&self) -> CallLimits {
        CallLimits { gas_cap: self.config.gas_cap, timeout: self.config.call_timeout }
    }

    fn fee_history(
        &self,
        count: u64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        let count = count.clamp(1, 1024);
        let (newest_number, newest_header, _) = self.resolve_required(Some(BlockId::Number(newest)))?;
        let oldest = newest_number.saturating_sub(count - 1);
        if let Some(p) = &percentiles
            && (p.iter().any(|x| !(0.0..=100.0).contains(x)) || p.windows(2).any(|w| w[0] > w[1]))
        {
            return Err(invalid_params("invalid reward percentiles: must be ascending values in [0, 100]"));
        }
        let store = self.chain.store();
        let mut base_fees = Vec::new();
        let mut ratios = Vec::new();
        let mut rewards = Vec::new();
        for n in oldest..=newest_number {
            let header = store.header(n).map_err(store_err)?.ok_or_else(|| server_error("header not found"))?;
            base_fees.push(header.base_fee_per_gas as u128);
            ratios.push(if header.gas_limit == 0 { 0.0 } else { header.gas_used as f64 / header.gas_limit as f64 });
            if let Some(p) = &percentiles {
                let txs = self.block_txs(n)?;
                let receipts = store.receipts(n).map_err(store_err)?;
                let mut tips: Vec<(u128, u64)> = txs
                    .iter()
                    .zip(receipts.iter())
                    .map(|(tx, (_, r))| (tx.effective_tip(header.base_fee_per_gas), r.gas_used))
                    .collect();
                tips.sort_unstable();
                let total: u64 = tips.iter().map(|(_, g)| g).sum();
                rewards.push(
                    p.iter()
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
                        .collect(),
                );
            }
        }
        base_fees.push(self.chain.next_base_fee(&newest_header) as u128);
        Ok(FeeHistory {
            base_fee_per_gas: base_fees,
            gas_used_ratio: ratios,
            base_fee_per_blob_gas: Vec::new(),
            blob_gas_used_ratio: Vec::new(),
            oldest_block: oldest,
            reward: percentiles.map(|_| rewards),
        })
    }
}

fn call_outcome(outcome: Result<CallOutcome, CallError>) -> RpcResult<Bytes> {
    match outcome {
        Ok(CallOutcome::Success { output, .. }) => Ok(output),
        Ok(CallOutcome::Revert { output, .. }) => Err(revert_error(output)),
        Ok(CallOutcome::Halt { reason, .. }) => Err(server_error(format!("execution halted: {reason}"))),
        Err(e) => Err(execution_error(e)),
    }
}

fn parse_block_id(seq: &mut jsonrpsee::types::params::ParamsSequence<'_>) -> RpcResult<Option<BlockId>> {
    seq.optional_next::<BlockId>().map_err(|e| {
        invalid_params(format!("invalid block parameter: {}", e.data().map(|d| d.get()).unwrap_or_default()))
    })
}

fn one<T: serde::de::DeserializeOwned>(params: &Params<'_>, what: &str) -> RpcResult<T> {
    let mut seq = params.sequence();
    seq.next::<T>().map_err(|e| param_error(what, e))
}

fn param_error(what: &str, e: ErrorObjectOwned) -> ErrorObjectOwned {
    let detail = e.data().map(|d| d.get().trim_matches('"').to_string()).unwrap_or_else(|| e.message().to_string());
    invalid_params(format!("invalid {what}: {detail}"))
}

/// Register every method on `module`.
pub fn register(module: &mut RpcModule<EthApi>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_method("web3_clientVersion", |_, api, _| Ok::<_, ErrorObjectOwned>(api.client_version.clone()))?;
    module.register_method("web3_sha3", |params, _, _| {
        let data: Bytes = one(&params, "data")?;
        Ok::<_, ErrorObjectOwned>(keccak256(&data))
    })?;
    module.register_method("net_version", |_, api, _| {
        Ok::<_, ErrorObjectOwned>(api.chain.config().chain_id.to_string())
    })?;
    module.register_method("net_listening", |_, _, _| Ok::<_, ErrorObjectOwned>(true))?;
    module.register_method("net_peerCount", |_, _, _| Ok::<_, ErrorObjectOwned>(U64::ZERO))?;
    module.register_method("eth_chainId", |_, api, _| {
        Ok::<_, ErrorObjectOwned>(U64::from(api.chain.config().chain_id))
    })?;
    module.register_method("eth_syncing", |_, _, _| Ok::<_, ErrorObjectOwned>(false))?;
    module.register_method("eth_blockNumber", |_, api, _| {
        Ok::<_, ErrorObjectOwned>(U64::from(api.chain.head().header.number))
    })?;
    module.register_method("eth_accounts", |_, _, _| Ok::<_, ErrorObjectOwned>(Vec::<Address>::new()))?;
    module.register_method("eth_coinbase", |_, _, _| {
        Err::<Address, _>(server_error("etherbase must be explicitly specified: this node holds no accounts"))
    })?;
    module.register_method("eth_mining", |_, _, _| Ok::<_, ErrorObjectOwned>(false))?;
    module.register_method("eth_hashrate", |_, _, _| Ok::<_, ErrorObjectOwned>(U64::ZERO))?;
    module.register_method("eth_gasPrice", |_, api, _| -> RpcResult<_> {
        let head = api.chain.head().header;
        let base = api.chain.next_base_fee(&head) as u128;
        let tip = if api.chain.genesis().fees.eip1559 { 1_000_000_000u128.min(base.max(1)) } else { 0 };
        let price = (base + tip).max(api.chain.genesis().fees.min_gas_price as u128);
        Ok::<_, ErrorObjectOwned>(U256::from(price))
    })?;
    module.register_method("eth_maxPriorityFeePerGas", |_, api, _| -> RpcResult<_> {
        let tip = if api.chain.genesis().fees.eip1559 { 1_000_000_000u128 } else { 0 };
        Ok::<_, ErrorObjectOwned>(U256::from(tip))
    })?;
    module.register_method("eth_blobBaseFee", |_, _, _| {
        Err::<U256, _>(server_error("blob transactions are not supported on this network"))
    })?;
    module.register_blocking_method("eth_feeHistory", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let count: U64 = seq.next().map_err(|e| param_error("blockCount", e))?;
        let newest: BlockNumberOrTag = seq.next().map_err(|e| param_error("newestBlock", e))?;
        let percentiles: Option<Vec<f64>> = seq.optional_next().map_err(|e| param_error("rewardPercentiles", e))?;
        api.fee_history(count.to(), newest, percentiles)
    })?;
    module.register_method("eth_getBalance", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let address: Address = seq.next().map_err(|e| param_error("address", e))?;
        let block = parse_block_id(&mut seq)?;
        api.with_state(block, |state, _| {
            Ok(state.account(&address).map_err(store_err)?.map(|a| a.balance).unwrap_or_default())
        })
    })?;
    module.register_method("eth_getTransactionCount", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let address: Address = seq.next().map_err(|e| param_error("address", e))?;
        let block = parse_block_id(&mut seq)?;
        if matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
            return api.chain.pending_nonce(&address).map(U64::from).map_err(store_err);
        }
        api.with_state(block, |state, _| {
            Ok(U64::from(state.account(&address).map_err(store_err)?.map(|a| a.nonce).unwrap_or_default()))
        })
    })?;
    module.register_method("eth_getCode", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let address: Address = seq.next().map_err(|e| param_error("address", e))?;
        let block = parse_block_id(&mut seq)?;
        api.with_state(block, |state, _| {
            let Some(account) = state.account(&address).map_err(store_err)? else { return Ok(Bytes::new()) };
            if !account.has_code() {
                return Ok(Bytes::new());
            }
            Ok(state.code(&account.code_hash).map_err(store_err)?.unwrap_or_default())
        })
    })?;
    module.register_method("eth_getStorageAt", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let address: Address = seq.next().map_err(|e| param_error("address", e))?;
        let slot: U256 = seq.next().map_err(|e| param_error("storage slot", e))?;
        let block = parse_block_id(&mut seq)?;
        api.with_state(block, |state, _| Ok(B256::from(state.storage(&address, &slot).map_err(store_err)?)))
    })?;
    module.register_blocking_method("eth_call", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let request: TransactionRequest = seq.next().map_err(|e| param_error("transaction", e))?;
        let block = parse_block_id(&mut seq)?;
        let overrides: Option<StateOverride> = seq.optional_next().map_err(|e| param_error("state overrides", e))?;
        api.with_state(block, |state, header| {
            let ctx = api.chain.block_context_of(header);
            match &overrides {
                Some(o) => {
                    let state = with_overrides(state, o).map_err(execution_error)?;
                    call_outcome(call(&state, api.chain.config(), &ctx, &request, &api.call_limits()))
                }
                None => call_outcome(call(state, api.chain.config(), &ctx, &request, &api.call_limits())),
            }
        })
    })?;
    module.register_blocking_method("eth_createAccessList", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let request: TransactionRequest = seq.next().map_err(|e| param_error("transaction", e))?;
        let block = parse_block_id(&mut seq)?;
        api.with_state(block, |state, header| {
            let ctx = api.chain.block_context_of(header);
            let out = create_access_list(state, api.chain.config(), &ctx, &request, &api.call_limits())
                .map_err(execution_error)?;
            Ok(AccessListResult { access_list: out.access_list, gas_used: U256::from(out.gas_used), error: out.error })
        })
    })?;
    module.register_blocking_method("eth_estimateGas", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let request: TransactionRequest = seq.next().map_err(|e| param_error("transaction", e))?;
        let block = parse_block_id(&mut seq)?;
        api.with_state(block, |state, header| {
            let ctx = api.chain.block_context_of(header);
            estimate_gas(state, api.chain.config(), &ctx, &request, &api.call_limits())
                .map(U64::from)
                .map_err(execution_error)
        })
    })?;
    module.register_blocking_method("eth_sendRawTransaction", |params, api, _| -> RpcResult<_> {
        let raw: Bytes = one(&params, "raw transaction")?;
        api.chain.submit(&raw, crate::chain::TxOrigin::Local).map_err(|e| match e {
            SubmitError::Decode(e) => invalid_params(e.to_string()),
            SubmitError::Pool(e) => server_error(e.to_string()),
            SubmitError::Node(e) => internal(e),
        })
    })?;
    module.register_method("eth_getTransactionByHash", |params, api, _| -> RpcResult<_> {
        let hash: B256 = one(&params, "transaction hash")?;
        if let Some((number, index)) = api.chain.store().tx_location(&hash).map_err(store_err)? {
            return Ok(api
                .tx_at(number, index)?
                .map(|(tx, header, block_hash)| rpc_transaction(&tx, Some((&header, block_hash, index)))));
        }
        Ok(api.chain.pooled(&hash).map(|p| rpc_transaction(&p.tx, None)))
    })?;
    module.register_method("eth_getTransactionReceipt", |params, api, _| -> RpcResult<_> {
        let hash: B256 = one(&params, "transaction hash")?;
        match api.chain.store().tx_location(&hash).map_err(store_err)? {
            Some((number, index)) => api.receipt_at(number, index),
            None => Ok(None),
        }
    })?;
    module.register_method("eth_getBlockReceipts", |params, api, _| -> RpcResult<_> {
        let id: BlockId = one(&params, "block")?;
        let Some((number, _, _)) = api.resolve(id)? else { return Ok(None) };
        let count = api.chain.store().receipts(number).map_err(store_err)?.len();
        let mut out = Vec::with_capacity(count);
        for index in 0..count as u32 {
            if let Some(r) = api.receipt_at(number, index)? {
                out.push(r);
            }
        }
        Ok(Some(out))
    })?;
    for (name, by_hash) in [("eth_getBlockByNumber", false), ("eth_getBlockByHash", true)] {
        module.register_method(name, move |params, api, _| -> RpcResult<_> {
            let mut seq = params.sequence();
            let id: BlockId = if by_hash {
                BlockId::from(seq.next::<B256>().map_err(|e| param_error("block hash", e))?)
            } else {
                BlockId::Number(seq.next::<BlockNumberOrTag>().map_err(|e| param_error("block number", e))?)
            };
            let full: bool =
                seq.optional_next().map_err(|e| param_error("full transactions flag", e))?.unwrap_or(false);
            let Some((number, header, hash)) = api.resolve(id)? else { return Ok(None) };
            let txs = api.block_txs(number)?;
            Ok(Some(rpc_block(&header, hash, &txs, full)))
        })?;
    }
    for (name, by_hash) in
        [("eth_getBlockTransactionCountByNumber", false), ("eth_getBlockTransactionCountByHash", true)]
    {
        module.register_method(name, move |params, api, _| -> RpcResult<_> {
            let id: BlockId = if by_hash {
                BlockId::from(one::<B256>(&params, "block hash")?)
            } else {
                BlockId::Number(one::<BlockNumberOrTag>(&params, "block number")?)
            };
            let Some((number, _, _)) = api.resolve(id)? else { return Ok(None) };
            Ok(Some(U64::from(api.chain.store().receipts(number).map_err(store_err)?.len())))
        })?;
    }
    for (name, by_hash) in [("eth_getUncleCountByBlockNumber", false), ("eth_getUncleCountByBlockHash", true)] {
        module.register_method(name, move |params, api, _| -> RpcResult<_> {
            let id: BlockId = if by_hash {
                BlockId::from(one::<B256>(&params, "block hash")?)
            } else {
                BlockId::Number(one::<BlockNumberOrTag>(&params, "block number")?)
            };
            Ok(api.resolve(id)?.map(|_| U64::ZERO))
        })?;
    }
    for (name, by_hash) in
        [("eth_getTransactionByBlockNumberAndIndex", false), ("eth_getTransactionByBlockHashAndIndex", true)]
    {
        module.register_method(name, move |params, api, _| -> RpcResult<_> {
            let mut seq = params.sequence();
            let id: BlockId = if by_hash {
                BlockId::from(seq.next::<B256>().map_err(|e| param_error("block hash", e))?)
            } else {
                BlockId::Number(seq.next::<BlockNumberOrTag>().map_err(|e| param_error("block number", e))?)
            };
            let index: U64 = seq.next().map_err(|e| param_error("transaction index", e))?;
            let Some((number, _, _)) = api.resolve(id)? else { return Ok(None) };
            let Ok(index) = u32::try_from(index.to::<u64>()) else { return Ok(None) };
            Ok(api.tx_at(number, index)?.map(|(tx, header, hash)| rpc_transaction(&tx, Some((&header, hash, index)))))
        })?;
    }
    module.register_blocking_method("eth_getLogs", |params, api, _| -> RpcResult<_> {
        let filter: Filter = one(&params, "filter")?;
        api.logs(&filter)
    })?;
    module.register_blocking_method("debug_traceTransaction", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let hash: B256 = seq.next().map_err(|e| param_error("transaction hash", e))?;
        let opts: GethDebugTracingOptions =
            seq.optional_next().map_err(|e| param_error("tracing options", e))?.unwrap_or_default();
        let store = api.chain.store();
        let (number, index) =
            store.tx_location(&hash).map_err(store_err)?.ok_or_else(|| server_error("transaction not found"))?;
        let header = store.header(number).map_err(store_err)?.ok_or_else(|| server_error("header not found"))?;
        let txs = api.block_txs(number)?;
        let state = store.state_at(number.saturating_sub(1)).map_err(|e| server_error(e.to_string()))?;
        let ctx = api.chain.block_context_of(&header);
        let index = index as usize;
        let tx = txs.get(index).ok_or_else(|| internal("transaction index out of range"))?;
        trace_transaction(state, api.chain.config(), &ctx, &txs[..index], tx, opts).map_err(execution_error)
    })?;
    module.register_blocking_method("debug_traceCall", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let request: TransactionRequest = seq.next().map_err(|e| param_error("transaction", e))?;
        let block = parse_block_id(&mut seq)?;
        let opts: GethDebugTracingCallOptions =
            seq.optional_next().map_err(|e| param_error("tracing options", e))?.unwrap_or_default();
        if opts.block_overrides.is_some() {
            return Err(invalid_params("invalid tracing options: blockOverrides is not supported"));
        }
        api.with_state(block, |state, header| {
            let ctx = api.chain.block_context_of(header);
            let limits = api.call_limits();
            match &opts.state_overrides {
                Some(o) => {
                    let state = with_overrides(state, o).map_err(execution_error)?;
                    trace_call(&state, api.chain.config(), &ctx, &request, &limits, opts.tracing_options.clone())
                }
                None => trace_call(state, api.chain.config(), &ctx, &request, &limits, opts.tracing_options.clone()),
            }
            .map_err(execution_error)
        })
    })?;
    module.register_method("dsec_getCommit", |params, api, _| -> RpcResult<_> {
        let number: U64 = one(&params, "block number")?;
        let number: u64 = number.to();
        let store = api.chain.store();
        let Some(cert) = store.certificate(number).map_err(store_err)? else { return Ok(None) };
        Ok(Some(serde_json::json!({
            "height": U64::from(cert.height),
            "round": cert.round,
            "blockHash": cert.block_hash,
            "signatures": cert.signatures,
        })))
    })?;
    module.register_method("dsec_getValidators", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let height: Option<U64> = seq.optional_next().map_err(|e| param_error("block number", e))?;
        let height = height.map(|h| h.to::<u64>()).unwrap_or_else(|| api.chain.head().header.number + 1);
        let set = api.chain.validators_at(height);
        Ok(serde_json::json!({
            "height": U64::from(height),
            "hash": set.hash(),
            "totalPower": U64::from(set.total_power()),
            "validators": set.validators.iter().map(|v| serde_json::json!({
                "address": v.address,
                "publicKey": v.public_key,
                "power": U64::from(v.power),
            })).collect::<Vec<_>>(),
        }))
    })?;
    module.register_method("dsec_getEvidence", |params, api, _| -> RpcResult<_> {
        let mut seq = params.sequence();
        let height: Option<U64> = seq.optional_next().map_err(|e| param_error("block number", e))?;
        api.chain.store().evidence(height.map(|h| h.to::<u64>())).map_err(store_err)
    })?;
    module.register_method("dsec_genesisHash", |_, api, _| Ok::<_, ErrorObjectOwned>(api.chain.genesis_hash()))?;
    module.register_method("dsec_mempoolSize", |_, api, _| {
        Ok::<_, ErrorObjectOwned>(U64::from(api.chain.mempool_len()))
    })?;
    Ok(())
}
