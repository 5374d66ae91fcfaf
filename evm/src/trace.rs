//! geth-style tracing (`debug_traceTransaction`, `debug_traceCall`) with the
//! tracers of revm-inspectors: the default struct-log tracer, `callTracer`,
//! `prestateTracer`, `4byteTracer` and the others geth ships natively.

use crate::call::{CallError, CallLimits, request_tx_env};
use crate::db::{RevmDb, StateReader};
use crate::error::InvalidTx;
use crate::executor::{BlockContext, ChainConfig, ExecError, block_env, cfg_env, tx_env};
use alloy::rpc::types::TransactionRequest;
use alloy::rpc::types::trace::geth::{GethDebugTracingOptions, GethTrace};
use dsec_sdk::tx::RecoveredTx;
use revm::context::TxEnv;
use revm::context::result::EVMError;
use revm::database::{CacheDB, EmptyDB};
use revm::{Context, ExecuteCommitEvm, InspectEvm, MainBuilder, MainContext};
use revm_inspectors::tracing::DebugInspector;

fn evm_error(e: EVMError<crate::db::StateError>) -> CallError {
    match e {
        EVMError::Transaction(invalid) => CallError::Invalid(InvalidTx::from_revm(&invalid)),
        EVMError::Database(e) => CallError::Fatal(ExecError::State(e)),
        other => CallError::Fatal(ExecError::Evm(other.to_string())),
    }
}

fn trace<S: StateReader>(
    state: S,
    chain: &ChainConfig,
    block: &BlockContext,
    prior: &[RecoveredTx],
    target: TxEnv,
    relaxed: bool,
    opts: GethDebugTracingOptions,
) -> Result<GethTrace, CallError> {
    let inspector = DebugInspector::new(opts).map_err(|e| CallError::BadRequest(format!("tracer: {e}")))?;
    let mut cfg = cfg_env(chain);
    let mut block_env = block_env(block);
    if relaxed {
        cfg.disable_nonce_check = true;
        cfg.disable_eip3607 = true;
        if target.gas_price == 0 {
            cfg.disable_base_fee = true;
            cfg.disable_balance_check = true;
            block_env.basefee = 0;
        }
        block_env.gas_limit = block_env.gas_limit.max(target.gas_limit);
    }
    let mut evm = Context::mainnet()
        .with_db(CacheDB::new(RevmDb(state)))
        .with_cfg(cfg)
        .with_block(block_env)
        .build_mainnet_with_inspector(inspector)
        .with_precompiles(crate::chaincode::ChaincodePrecompiles::new(chain.chaincode.clone(), crate::executor::SPEC));
    for tx in prior {
        evm.transact_commit(tx_env(tx)).map_err(evm_error)?;
    }
    let result = evm.inspect_tx(target.clone()).map_err(evm_error)?;
    let block_env = evm.ctx.block.clone();
    evm.inspector
        .get_result(None, &target, &block_env, &result, &mut EmptyDB::default())
        .map_err(|e| CallError::BadRequest(format!("tracer: {e}")))
}

/// Trace `tx`, executed after `prior` (the transactions before it in its block)
/// on `state` (the state after the parent block).
pub fn trace_transaction<S: StateReader>(
    state: S,
    chain: &ChainConfig,
    block: &BlockContext,
    prior: &[RecoveredTx],
    tx: &RecoveredTx,
    opts: GethDebugTracingOptions,
) -> Result<GethTrace, CallError> {
    trace(state, chain, block, prior, tx_env(tx), false, opts)
}

/// Trace a call request as `eth_call` would run it.
pub fn trace_call<S: StateReader>(
    state: S,
    chain: &ChainConfig,
    block: &BlockContext,
    req: &TransactionRequest,
    limits: &CallLimits,
    opts: GethDebugTracingOptions,
) -> Result<GethTrace, CallError> {
    let gas = req.gas.unwrap_or(limits.gas_cap).min(limits.gas_cap);
    let mut env = request_tx_env(req, chain, gas)?;
    if req.nonce.is_none() {
        env.nonce = 0;
    }
    trace(state, chain, block, &[], env, true, opts)
}
