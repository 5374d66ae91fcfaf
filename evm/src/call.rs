//! `eth_call` and `eth_estimateGas`: executing a transaction request against a
//! state without committing anything.

use crate::db::{OverlayState, StateReader};
use crate::error::InvalidTx;
use crate::executor::{BlockContext, ChainConfig, ExecError, build_evm};
use alloy::rpc::types::TransactionRequest;
use alloy_primitives::{Address, Bytes, Log, TxKind};
use revm::InspectEvm;
use revm::context::TxEnv;
use revm::context::result::{EVMError, ExecutionResult};

/// The result of executing a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// The call returned.
    Success {
        /// Returned bytes.
        output: Bytes,
        /// Gas used.
        gas_used: u64,
        /// Logs it would emit.
        logs: Vec<Log>,
        /// Address created, for a creation.
        created: Option<Address>,
    },
    /// The call reverted.
    Revert {
        /// Revert data (reason or custom error).
        output: Bytes,
        /// Gas used.
        gas_used: u64,
    },
    /// The call halted (out of gas, invalid opcode, ...).
    Halt {
        /// Why.
        reason: String,
        /// Gas used.
        gas_used: u64,
    },
}

impl CallOutcome {
    /// Gas used by the call.
    pub fn gas_used(&self) -> u64 {
        match self {
            Self::Success { gas_used, .. } | Self::Revert { gas_used, .. } | Self::Halt { gas_used, .. } => *gas_used,
        }
    }

    /// Whether the call succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success { .. })
    }
}

/// Why a call could not be executed at all.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The request is invalid against the state (e.g. the sender cannot pay).
    #[error(transparent)]
    Invalid(#[from] InvalidTx),
    /// The node failed.
    #[error(transparent)]
    Fatal(#[from] ExecError),
    /// The request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The call ran longer than the configured timeout and was stopped.
    #[error("execution aborted (timeout = {0:?})")]
    Timeout(std::time::Duration),
    /// The call reverts whatever gas it is given (gas estimation).
    #[error("execution reverted")]
    Reverted(Bytes),
    /// Gas estimation found no gas limit under the cap at which the call succeeds.
    #[error("gas required exceeds allowance ({0})")]
    GasRequiredExceedsAllowance(u64),
    /// A trace would have built more output than its limit, and was stopped.
    #[error(
        "trace too large: more than {0} bytes of output; trace a smaller call, disable stack or memory capture, or use callTracer"
    )]
    TraceTooLarge(usize),
}

/// Limits applied to calls made over RPC.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    /// Gas given to a call that names none, and the most any call may use.
    pub gas_cap: u64,
    /// Wall-clock time one call (or a whole gas estimation, or a trace) may take.
    pub timeout: std::time::Duration,
    /// Output one trace may build, estimated in bytes of JSON.
    pub max_trace_bytes: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self { gas_cap: 50_000_000, timeout: std::time::Duration::from_secs(5), max_trace_bytes: 64 * 1024 * 1024 }
    }
}

pub(crate) fn request_tx_env(
    req: &TransactionRequest,
    chain: &ChainConfig,
    gas_limit: u64,
) -> Result<TxEnv, CallError> {
    let data = req.input.unique_input().map_err(|e| CallError::BadRequest(e.to_string()))?.cloned().unwrap_or_default();
    let mut t = TxEnv {
        caller: req.from.unwrap_or_default(),
        gas_limit,
        kind: req.to.unwrap_or(TxKind::Create),
        value: req.value.unwrap_or_default(),
        data,
        chain_id: Some(chain.chain_id),
        access_list: req.access_list.clone().unwrap_or_default(),
        ..Default::default()
    };
    match (req.gas_price, req.max_fee_per_gas) {
        (Some(_), Some(_)) => {
            return Err(CallError::BadRequest(
                "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified".into(),
            ));
        }
        (Some(price), None) => {
            t.tx_type = 0;
            t.gas_price = price;
        }
        (None, Some(max_fee)) => {
            t.tx_type = 2;
            t.gas_price = max_fee;
            t.gas_priority_fee = Some(req.max_priority_fee_per_gas.unwrap_or(0));
        }
        (None, None) => {
            t.tx_type = if req.access_list.is_some() { 1 } else { 0 };
            t.gas_price = 0;
        }
    }
    if let Some(nonce) = req.nonce {
        t.nonce = nonce;
    }
    Ok(t)
}

/// Execute `req` against `state` in the environment of `block` and discard the effects.
pub fn call<S: StateReader>(
    state: S,
    chain: &ChainConfig,
    block: &BlockContext,
    req: &TransactionRequest,
    limits: &CallLimits,
) -> Result<CallOutcome, CallError> {
    let gas = req.gas.unwrap_or(limits.gas_cap).min(limits.gas_cap);
    run(state, chain, block, req, gas, &Deadline::new(limits.timeout))
}

fn run<S: StateReader>(
    state: S,
    chain: &ChainConfig,
    block: &BlockContext,
    req: &TransactionRequest,
    gas: u64,
    deadline: &Deadline,
) -> Result<CallOutcome, CallError> {
    run_with_state(state, chain, block, req, gas, deadline).map(|(outcome, _)| outcome)
}

/// Stops execution once a wall-clock deadline has passed: every frame still
/// running halts at its next instruction, so the call unwinds quickly.
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    pub(crate) at: std::time::Instant,
    pub(crate) timeout: std::time::Duration,
    steps: u32,
    pub(crate) expired: bool,
}

impl Deadline {
    pub(crate) fn new(timeout: std::time::Duration) -> Self {
        Self { at: std::time::Instant::now() + timeout, timeout, steps: 0, expired: false }
    }
}

impl<CTX> revm::Inspector<CTX> for Deadline {
    fn step(&mut self, interp: &mut revm::interpreter::Interpreter, _context: &mut CTX) {
        self.steps = self.steps.wrapping_add(1);
        if !self.expired && self.steps.is_multiple_of(1024) && std::time::Instant::now() >= self.at {
            self.expired = true;
        }
        if self.expired {
            interp.halt(revm::interpreter::InstructionResult::OutOfGas);
        }
    }
}

fn run_with_state<S: StateReader>(
    state: S,
    chain: &ChainConfig,
    block: &BlockContext,
    req: &TransactionRequest,
    gas: u64,
    deadline: &Deadline,
) -> Result<(CallOutcome, revm::state::EvmState), CallError> {
    let tx = request_tx_env(req, chain, gas)?;
    let zero_price = tx.gas_price == 0;
    let mut block = *block;
    // A call may use more gas than one block holds (as in geth).
    block.gas_limit = block.gas_limit.max(gas);
    if deadline.expired || std::time::Instant::now() >= deadline.at {
        return Err(CallError::Timeout(deadline.timeout));
    }
    // A call runs under the deployer rule of a transaction from its `from`.
    let gate = crate::access::DeployGate { deny: !chain.access.may_deploy(&tx.caller) };
    let mut evm = build_evm(state, chain, &block).with_inspector((deadline.clone(), gate));
    evm.ctx.cfg.disable_nonce_check = req.nonce.is_none();
    evm.ctx.cfg.disable_eip3607 = true;
    evm.ctx.cfg.disable_base_fee = zero_price;
    evm.ctx.cfg.disable_balance_check = zero_price;
    if zero_price {
        evm.ctx.block.basefee = 0;
    }
    let result = evm.inspect_tx(tx);
    if evm.inspector.0.expired {
        return Err(CallError::Timeout(deadline.timeout));
    }
    match result {
        Ok(outcome) => Ok((
            match outcome.result {
                ExecutionResult::Success { gas, logs, output, .. } => {
                    let created = output.address().copied();
                    CallOutcome::Success { output: output.into_data(), gas_used: gas.tx_gas_used(), logs, created }
                }
                ExecutionResult::Revert { gas, output, .. } => {
                    CallOutcome::Revert { output, gas_used: gas.tx_gas_used() }
                }
                ExecutionResult::Halt { reason, gas, .. } => {
                    CallOutcome::Halt { reason: format!("{reason:?}"), gas_used: gas.tx_gas_used() }
                }
            },
            outcome.state,
        )),
        Err(EVMError::Transaction(invalid)) => Err(InvalidTx::from_revm(&invalid).into()),
        Err(EVMError::Database(e)) => Err(ExecError::State(e).into()),
        Err(other) => Err(ExecError::Evm(other.to_string()).into()),
    }
}

/// Find the smallest gas limit at which `req` succeeds (binary search, as geth does).
pub fn estimate_gas<S: StateReader>(
    state: S,
    chain: &ChainConfig,
    block: &BlockContext,
    req: &TransactionRequest,
    limits: &CallLimits,
) -> Result<u64, CallError> {
    let cap = req.gas.unwrap_or(limits.gas_cap).min(limits.gas_cap);
    let overlay = OverlayState::new(state);
    let deadline = Deadline::new(limits.timeout);
    // First at the cap: if it fails there, it fails everywhere; report why.
    let first = run(&overlay, chain, block, req, cap, &deadline)?;
    match &first {
        CallOutcome::Success { .. } => {}
        CallOutcome::Revert { output, .. } => return Err(CallError::Reverted(output.clone())),
        CallOutcome::Halt { .. } => return Err(CallError::GasRequiredExceedsAllowance(cap)),
    }
    // Gas used is a lower bound; try it (plus the 63/64 headroom calls need) before searching.
    let used = first.gas_used();
    let mut lo = used.saturating_sub(1).max(20_999);
    let mut hi = cap;
    let optimistic = (used.saturating_add(2_300)).saturating_mul(64) / 63;
    if optimistic < hi {
        match run(&overlay, chain, block, req, optimistic, &deadline) {
            Ok(o) if o.is_success() => hi = optimistic,
            Ok(_) | Err(CallError::Invalid(_)) => lo = optimistic,
            Err(e) => return Err(e),
        }
    }
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        match run(&overlay, chain, block, req, mid, &deadline) {
            Ok(o) if o.is_success() => hi = mid,
            Ok(_) | Err(CallError::Invalid(_)) => lo = mid,
            Err(e) => return Err(e),
        }
    }
    Ok(hi)
}

impl CallError {
    /// Revert data, if the call reverted.
    pub fn revert_data(&self) -> Option<&Bytes> {
        match self {
            Self::Reverted(data) => Some(data),
            _ => None,
        }
    }
}

/// What `eth_createAccessList` answers: the accounts and slots the call touches
/// (sender, recipient and precompiles left out, as geth does) and the gas the
/// call uses with that list.
#[derive(Debug, Clone)]
pub struct AccessListOutcome {
    /// The access list.
    pub access_list: alloy::eips::eip2930::AccessList,
    /// Gas used with the list.
    pub gas_used: u64,
    /// Why the call failed, if it did.
    pub error: Option<String>,
}

/// Build the access list of a call.
pub fn create_access_list<S: StateReader>(
    state: S,
    chain: &ChainConfig,
    block: &BlockContext,
    req: &TransactionRequest,
    limits: &CallLimits,
) -> Result<AccessListOutcome, CallError> {
    use alloy::eips::eip2930::{AccessList, AccessListItem};
    let gas = req.gas.unwrap_or(limits.gas_cap).min(limits.gas_cap);
    let overlay = OverlayState::new(state);
    let deadline = Deadline::new(limits.timeout);
    let (_, touched) = run_with_state(&overlay, chain, block, req, gas, &deadline)?;
    let from = req.from.unwrap_or_default();
    let to = req.to.and_then(|k| k.to().copied());
    let precompiles =
        revm::precompile::Precompiles::new(revm::precompile::PrecompileSpecId::from_spec_id(crate::executor::SPEC));
    let mut items: Vec<AccessListItem> = touched
        .iter()
        .filter(|(address, _)| **address != from && Some(**address) != to && !precompiles.contains(address))
        .map(|(address, account)| {
            let mut keys: Vec<alloy_primitives::B256> =
                account.storage.keys().map(|k| alloy_primitives::B256::from(*k)).collect();
            keys.sort();
            AccessListItem { address: *address, storage_keys: keys }
        })
        .collect();
    items.sort_by_key(|i| i.address);
    let access_list = AccessList(items);
    let mut with_list = req.clone();
    with_list.access_list = Some(access_list.clone());
    let outcome = run(&overlay, chain, block, &with_list, gas, &deadline)?;
    let error = match &outcome {
        CallOutcome::Success { .. } => None,
        CallOutcome::Revert { output, .. } => {
            Some(format!("execution reverted: 0x{}", alloy_primitives::hex::encode(output)))
        }
        CallOutcome::Halt { reason, .. } => Some(reason.clone()),
    };
    Ok(AccessListOutcome { access_list, gas_used: outcome.gas_used(), error })
}

/// Layer `eth_call` state overrides (balance, nonce, code, full or partial
/// storage) over a state.
pub fn with_overrides<S: StateReader>(
    state: S,
    overrides: &alloy::rpc::types::state::StateOverride,
) -> Result<OverlayState<S>, CallError> {
    use dsec_sdk::state::{AccountChange, AccountState, StateChanges};
    let mut overlay = OverlayState::new(state);
    for (address, o) in overrides.iter() {
        if o.state.is_some() && o.state_diff.is_some() {
            return Err(CallError::BadRequest(format!("account {address} has both 'state' and 'stateDiff'")));
        }
        if o.move_precompile_to.is_some() {
            return Err(CallError::BadRequest("movePrecompileToAddress is not supported".into()));
        }
        let current = overlay.account(address).map_err(ExecError::State)?.unwrap_or_default();
        let code_hash = o.code.as_ref().map(alloy_primitives::keccak256).unwrap_or(current.code_hash);
        let info = AccountState {
            nonce: o.nonce.unwrap_or(current.nonce),
            balance: o.balance.unwrap_or(current.balance),
            code_hash: if o.code.as_ref().is_some_and(|c| c.is_empty()) {
                alloy_primitives::KECCAK256_EMPTY
            } else {
                code_hash
            },
        };
        if o.state.is_some() {
            // Full replacement: drop the stored slots first.
            let mut wipe = StateChanges::default();
            wipe.accounts.insert(*address, AccountChange::default());
            overlay.apply(&wipe);
        }
        let slots = o.state.as_ref().or(o.state_diff.as_ref());
        let change = AccountChange {
            info: Some(info),
            storage: slots
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (alloy_primitives::U256::from_be_bytes(k.0), alloy_primitives::U256::from_be_bytes(v.0))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            new_code: o.code.clone().filter(|c| !c.is_empty()),
        };
        let mut changes = StateChanges::default();
        changes.accounts.insert(*address, change);
        overlay.apply(&changes);
    }
    Ok(overlay)
}
