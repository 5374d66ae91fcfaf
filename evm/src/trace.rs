//! geth-style tracing (`debug_traceTransaction`, `debug_traceCall`) with the
//! tracers of revm-inspectors: the default struct-log tracer, `callTracer`,
//! `prestateTracer`, `4byteTracer` and the others geth ships natively.

use crate::access::DeployGate;
use crate::call::{CallError, CallLimits, Deadline, request_tx_env};
use crate::db::StateReader;
use crate::error::InvalidTx;
use crate::executor::{BlockContext, BlockExecutor, ChainConfig, ExecError, TxExecError, block_env, cfg_env, tx_env};
use alloy::rpc::types::TransactionRequest;
use alloy::rpc::types::trace::geth::{GethDebugTracingOptions, GethTrace};
use dsec_sdk::tx::RecoveredTx;
use revm::bytecode::opcode::{SLOAD, SSTORE};
use revm::context::TxEnv;
use revm::context::result::EVMError;
use revm::database::EmptyDB;
use revm::interpreter::interpreter_types::{Jumps, MemoryTr, ReturnData};
use revm::interpreter::{CallInputs, CallOutcome, CreateInputs, CreateOutcome, InstructionResult, Interpreter};
use revm::primitives::Log;
use revm::{Context, InspectEvm, MainBuilder, MainContext};
use revm_inspectors::tracing::DebugInspector;

fn evm_error(e: EVMError<crate::db::StateError>) -> CallError {
    match e {
        EVMError::Transaction(invalid) => CallError::Invalid(InvalidTx::from_revm(&invalid)),
        EVMError::Database(e) => CallError::Fatal(ExecError::State(e)),
        other => CallError::Fatal(ExecError::Evm(other.to_string())),
    }
}

/// What one traced step, call or log adds to the output, estimated in bytes
/// of JSON, and when tracing must stop: a trace that would pass its byte
/// budget or its deadline is halted (every frame stops at its next
/// instruction) and answered with an error instead of a result.
#[derive(Debug)]
struct TraceBudget {
    /// Whether each step becomes a struct log (the default tracer), and what it captures.
    struct_logs: Option<StructLogCapture>,
    max_bytes: usize,
    used: usize,
    deadline: Deadline,
    /// Storage slots touched so far: each SLOAD/SSTORE log repeats the contract's touched slots.
    slots: usize,
    too_large: bool,
}

#[derive(Debug, Clone, Copy)]
struct StructLogCapture {
    stack: bool,
    memory: bool,
    storage: bool,
    return_data: bool,
}

/// Bytes of one struct log without its stack, memory, storage or return data.
const STRUCT_LOG_BYTES: usize = 160;
/// Bytes of one stack word, memory word or storage entry as JSON hex.
const WORD_BYTES: usize = 70;
/// Bytes of one call frame or log without its data.
const FRAME_BYTES: usize = 300;

impl TraceBudget {
    fn new(opts: &GethDebugTracingOptions, limits: &CallLimits) -> Self {
        let c = &opts.config;
        let struct_logs = opts.tracer.is_none().then(|| StructLogCapture {
            stack: c.is_stack_enabled(),
            memory: c.is_memory_enabled(),
            storage: c.is_storage_enabled(),
            return_data: c.is_return_data_enabled(),
        });
        Self {
            struct_logs,
            max_bytes: limits.max_trace_bytes,
            used: 0,
            deadline: Deadline::new(limits.timeout),
            slots: 0,
            too_large: false,
        }
    }

    /// Count `bytes` more output; whether the trace may go on.
    fn charge(&mut self, bytes: usize) -> bool {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.max_bytes {
            self.too_large = true;
        }
        !self.too_large
    }

    fn stopped(&self) -> bool {
        self.too_large || self.deadline.expired
    }

    /// The error of a stopped trace, if it was stopped.
    fn error(&self) -> Option<CallError> {
        if self.too_large {
            Some(CallError::TraceTooLarge(self.max_bytes))
        } else if self.deadline.expired {
            Some(CallError::Timeout(self.deadline.timeout))
        } else {
            None
        }
    }
}

impl<CTX> revm::Inspector<CTX> for TraceBudget {
    fn step(&mut self, interp: &mut Interpreter, context: &mut CTX) {
        revm::Inspector::<CTX>::step(&mut self.deadline, interp, context);
        if let Some(capture) = self.struct_logs {
            let mut bytes = STRUCT_LOG_BYTES;
            if capture.stack {
                bytes = bytes.saturating_add(interp.stack.len().saturating_mul(WORD_BYTES));
            }
            if capture.memory {
                bytes = bytes.saturating_add(interp.memory.size().saturating_mul(2));
            }
            if capture.return_data {
                bytes = bytes.saturating_add(interp.return_data.buffer().len().saturating_mul(2));
            }
            if capture.storage && matches!(interp.bytecode.opcode(), SLOAD | SSTORE) {
                self.slots = self.slots.saturating_add(1);
                bytes = bytes.saturating_add(self.slots.saturating_mul(2 * WORD_BYTES));
            }
            self.charge(bytes);
        }
        if self.stopped() {
            interp.halt(InstructionResult::OutOfGas);
        }
    }

    fn call(&mut self, _: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        let input = inputs.input.len();
        self.charge(FRAME_BYTES.saturating_add(input.saturating_mul(2)));
        None
    }

    fn call_end(&mut self, _: &mut CTX, _: &CallInputs, outcome: &mut CallOutcome) {
        self.charge(outcome.output().len().saturating_mul(2));
    }

    fn create(&mut self, _: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        self.charge(FRAME_BYTES.saturating_add(inputs.init_code().len().saturating_mul(2)));
        None
    }

    fn log(&mut self, _: &mut CTX, log: Log) {
        let topics = log.topics().len().saturating_mul(WORD_BYTES);
        self.charge(FRAME_BYTES.saturating_add(topics).saturating_add(log.data.data.len().saturating_mul(2)));
    }
}

/// What is traced: a committed transaction as it ran, or a call request with
/// `eth_call`'s relaxed checks (no nonce or EOA check; no fee checks at price 0).
enum Target {
    Committed(TxEnv),
    Call(TxEnv),
}

fn trace<S: StateReader>(
    state: S,
    chain: &ChainConfig,
    block: &BlockContext,
    prior: &[RecoveredTx],
    target: Target,
    limits: &CallLimits,
    opts: GethDebugTracingOptions,
) -> Result<GethTrace, CallError> {
    let (target, relaxed) = match target {
        Target::Committed(env) => (env, false),
        Target::Call(env) => (env, true),
    };
    let budget = TraceBudget::new(&opts, limits);
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
    // The transactions before the target run as the block ran them, under the
    // same rules (sender and deployer lists included).
    let mut before = BlockExecutor::new(state, chain, block);
    for tx in prior {
        before.execute(tx).map_err(|e| match e {
            TxExecError::Invalid(invalid) => CallError::Invalid(invalid),
            TxExecError::Fatal(e) => CallError::Fatal(e),
        })?;
    }
    let gate = DeployGate { deny: !chain.access.may_deploy(&target.caller) };
    let mut evm = Context::mainnet()
        .with_db(before.into_db())
        .with_cfg(cfg)
        .with_block(block_env)
        .build_mainnet_with_inspector((inspector, (budget, gate)))
        .with_precompiles(crate::chaincode::ChaincodePrecompiles::new(chain.chaincode.clone(), crate::executor::SPEC));
    if std::time::Instant::now() >= evm.inspector.1.0.deadline.at {
        return Err(CallError::Timeout(limits.timeout));
    }
    let result = evm.inspect_tx(target.clone()).map_err(evm_error);
    // A stopped trace is an error, whatever the halted execution returned.
    if let Some(e) = evm.inspector.1.0.error() {
        return Err(e);
    }
    let result = result?;
    let block_env = evm.ctx.block.clone();
    evm.inspector
        .0
        .get_result(None, &target, &block_env, &result, &mut EmptyDB::default())
        .map_err(|e| CallError::BadRequest(format!("tracer: {e}")))
}

/// Trace `tx`, executed after `prior` (the transactions before it in its block)
/// on `state` (the state after the parent block), within `limits`' time and output budget.
pub fn trace_transaction<S: StateReader>(
    state: S,
    chain: &ChainConfig,
    block: &BlockContext,
    prior: &[RecoveredTx],
    tx: &RecoveredTx,
    limits: &CallLimits,
    opts: GethDebugTracingOptions,
) -> Result<GethTrace, CallError> {
    trace(state, chain, block, prior, Target::Committed(tx_env(tx)), limits, opts)
}

/// Trace a call request as `eth_call` would run it, within `limits`.
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
    trace(state, chain, block, &[], Target::Call(env), limits, opts)
}
