//! The `debug_` JSON-RPC methods: `debug_traceTransaction` re-executes a
//! committed transaction on the state before its block, and `debug_traceCall`
//! traces a call on the state after a block, both with geth's tracers.
//!
//! Both run on the blocking pool (they execute EVM code), within the time
//! limit of `eth_call` and an output budget (`[rpc] max_trace_bytes`);
//! `debug_traceCall` also has the gas cap of `eth_call`.

use super::{RpcContext, RpcResult, execution_error, internal, invalid_params, param_error, parse_block_id};
use super::{server_error, store_err};
use alloy::rpc::types::TransactionRequest;
use alloy::rpc::types::trace::geth::{GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace};
use alloy_primitives::B256;
use dsec_evm::call::with_overrides;
use dsec_evm::trace;
use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::Params;
use jsonrpsee::{Extensions, RpcModule};
use std::sync::Arc;

/// Register the `debug_` methods.
pub(super) fn register(module: &mut RpcModule<RpcContext>) -> Result<(), RegisterMethodError> {
    module.register_blocking_method("debug_traceTransaction", trace_transaction)?;
    module.register_blocking_method("debug_traceCall", trace_call)?;
    Ok(())
}

fn trace_transaction(params: Params<'_>, ctx: Arc<RpcContext>, _: Extensions) -> RpcResult<GethTrace> {
    let mut seq = params.sequence();
    let hash: B256 = seq.next().map_err(|e| param_error("transaction hash", e))?;
    let opts: GethDebugTracingOptions =
        seq.optional_next().map_err(|e| param_error("tracing options", e))?.unwrap_or_default();
    let store = ctx.chain.store();
    let (number, index) =
        store.tx_location(&hash).map_err(store_err)?.ok_or_else(|| server_error("transaction not found"))?;
    let header = store.header(number).map_err(store_err)?.ok_or_else(|| server_error("header not found"))?;
    let txs = ctx.block_txs(number)?;
    let state = store.state_at(number.saturating_sub(1)).map_err(|e| server_error(e.to_string()))?;
    let block_ctx = ctx.chain.block_context_of(&header);
    let index = index as usize;
    let tx = txs.get(index).ok_or_else(|| internal("transaction index out of range"))?;
    let config = ctx.chain.config_after(number.saturating_sub(1)).map_err(|e| server_error(e.to_string()))?;
    trace::trace_transaction(state, &config, &block_ctx, &txs[..index], tx, &ctx.call_limits(), opts)
        .map_err(execution_error)
}

fn trace_call(params: Params<'_>, ctx: Arc<RpcContext>, _: Extensions) -> RpcResult<GethTrace> {
    let mut seq = params.sequence();
    let request: TransactionRequest = seq.next().map_err(|e| param_error("transaction", e))?;
    let block = parse_block_id(&mut seq)?;
    let opts: GethDebugTracingCallOptions =
        seq.optional_next().map_err(|e| param_error("tracing options", e))?.unwrap_or_default();
    if opts.block_overrides.is_some() {
        return Err(invalid_params("invalid tracing options: blockOverrides is not supported"));
    }
    ctx.with_state(block, |state, header| {
        let block_ctx = ctx.chain.block_context_of(header);
        let (config, limits, tracing) = (ctx.config_after(header)?, ctx.call_limits(), opts.tracing_options.clone());
        match &opts.state_overrides {
            Some(o) => {
                let state = with_overrides(state, o).map_err(execution_error)?;
                trace::trace_call(&state, &config, &block_ctx, &request, &limits, tracing)
            }
            None => trace::trace_call(state, &config, &block_ctx, &request, &limits, tracing),
        }
        .map_err(execution_error)
    })
}
