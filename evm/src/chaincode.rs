//! The bridge from revm to chaincode: a precompile provider that answers at
//! every enabled module's address and runs the module against a [`Host`]
//! backed by revm's journal. The frame revm opens around a precompile call
//! is a journal checkpoint, so a revert — in the module, or later in a
//! contract that called it — undoes the module's writes with the rest.
//!
//! Gas follows the EVM's own prices: `SLOAD` 2,100 cold / 100 warm, `SSTORE`
//! as EIP-2200 + EIP-2929 (20,000 to set a fresh slot, 2,900 to change one,
//! 100 otherwise, +2,100 when cold; no refunds), `LOG` 375 + 375 per topic +
//! 8 per byte.
//!
//! Re-entrancy: a module cannot call back into the EVM (the [`Host`] has no
//! call), and `DELEGATECALL`/`CALLCODE` into a module is refused with a revert.

use dsec_chaincode::{Call, Failure, Host, Registry};
use revm::bytecode::Bytecode;
use revm::context::{Block, Cfg, ContextTr, JournalTr};
use revm::handler::{EthPrecompiles, PrecompileProvider};
use revm::interpreter::{CallInputs, Gas, InstructionResult, InterpreterResult};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, AddressSet, B256, Bytes, Log, U256};
use std::sync::Arc;

/// The marker code a module account gets on its first state-changing call, so
/// the account is never "empty" (EIP-161) and `eth_getCode` shows something.
pub const MODULE_CODE: [u8; 1] = [0xfe];

/// Ethereum's precompiles, dsec's ML-DSA-65 verification precompile
/// ([`crate::mldsa`]) and the enabled chaincode modules.
#[derive(Debug, Clone)]
pub struct ChaincodePrecompiles {
    inner: EthPrecompiles,
    registry: Arc<Registry>,
    warm: AddressSet,
}

impl ChaincodePrecompiles {
    /// The precompiles of `spec` and the modules of `registry`.
    pub fn new(registry: Arc<Registry>, spec: SpecId) -> Self {
        let inner = EthPrecompiles::new(spec);
        let warm = Self::warm_set(&inner, &registry);
        Self { inner, registry, warm }
    }

    fn warm_set(inner: &EthPrecompiles, registry: &Registry) -> AddressSet {
        let mut warm = inner.warm_addresses().clone();
        warm.extend(registry.addresses().copied());
        warm.insert(dsec_sdk::pq::precompile::ADDRESS);
        warm
    }
}

struct JournalHost<'a, J: JournalTr> {
    journal: &'a mut J,
    address: Address,
    gas: &'a mut Gas,
    block_number: u64,
    timestamp: u64,
    fatal: Option<String>,
}

impl<J: JournalTr> JournalHost<'_, J> {
    fn fail<E: std::fmt::Display>(&mut self, e: E) -> Failure {
        let message = e.to_string();
        self.fatal = Some(message.clone());
        Failure::Fatal(message)
    }
}

impl<J: JournalTr> Host for JournalHost<'_, J> {
    fn sload(&mut self, slot: U256) -> Result<U256, Failure> {
        let loaded = match self.journal.sload(self.address, slot) {
            Ok(l) => l,
            Err(e) => return Err(self.fail(e)),
        };
        self.charge(if loaded.is_cold { 2_100 } else { 100 })?;
        Ok(loaded.data)
    }

    fn sload_at(&mut self, address: Address, slot: U256) -> Result<U256, Failure> {
        let loaded = self.journal.load_account(address).map(|_| ());
        if let Err(e) = loaded {
            return Err(self.fail(e));
        }
        let loaded = match self.journal.sload(address, slot) {
            Ok(l) => l,
            Err(e) => return Err(self.fail(e)),
        };
        self.charge(if loaded.is_cold { 2_100 } else { 100 })?;
        Ok(loaded.data)
    }

    fn sstore(&mut self, slot: U256, value: U256) -> Result<(), Failure> {
        let stored = match self.journal.sstore(self.address, slot, value) {
            Ok(s) => s,
            Err(e) => return Err(self.fail(e)),
        };
        let r = &stored.data;
        let mut cost = if r.present_value == r.new_value {
            100
        } else if r.original_value == r.present_value {
            if r.original_value.is_zero() { 20_000 } else { 2_900 }
        } else {
            100
        };
        if stored.is_cold {
            cost += 2_100;
        }
        self.charge(cost)
    }

    fn emit(&mut self, topics: Vec<B256>, data: Bytes) -> Result<(), Failure> {
        let topics_gas = 375u64.saturating_mul(u64::try_from(topics.len()).unwrap_or(u64::MAX));
        let data_gas = 8u64.saturating_mul(u64::try_from(data.len()).unwrap_or(u64::MAX));
        self.charge(375u64.saturating_add(topics_gas).saturating_add(data_gas))?;
        self.journal.log(Log::new_unchecked(self.address, topics, data));
        Ok(())
    }

    fn charge(&mut self, gas: u64) -> Result<(), Failure> {
        if self.gas.record_regular_cost(gas) { Ok(()) } else { Err(Failure::OutOfGas) }
    }

    fn block_number(&self) -> u64 {
        self.block_number
    }

    fn timestamp(&self) -> u64 {
        self.timestamp
    }
}

fn result(result: InstructionResult, output: Bytes, gas: Gas) -> Result<Option<InterpreterResult>, String> {
    Ok(Some(InterpreterResult::new(result, output, gas)))
}

impl<CTX: ContextTr<Cfg: Cfg<Spec = SpecId>>> PrecompileProvider<CTX> for ChaincodePrecompiles {
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: SpecId) -> bool {
        let changed = <EthPrecompiles as PrecompileProvider<CTX>>::set_spec(&mut self.inner, spec);
        self.warm = Self::warm_set(&self.inner, &self.registry);
        changed
    }

    fn run(&mut self, context: &mut CTX, inputs: &CallInputs) -> Result<Option<InterpreterResult>, String> {
        if inputs.bytecode_address == dsec_sdk::pq::precompile::ADDRESS {
            let data = inputs.input.bytes(context);
            return Ok(Some(crate::mldsa::run(&data, inputs.gas_limit)));
        }
        let Some(module) = self.registry.get(&inputs.bytecode_address).cloned() else {
            return <EthPrecompiles as PrecompileProvider<CTX>>::run(&mut self.inner, context, inputs);
        };
        let mut gas = Gas::new(inputs.gas_limit);
        if inputs.target_address != inputs.bytecode_address {
            let reason = Failure::reason("chaincode cannot be called with DELEGATECALL or CALLCODE");
            let Failure::Revert(data) = reason else { unreachable!("reason() builds a revert") };
            return result(InstructionResult::Revert, data, gas);
        }
        let data = inputs.input.bytes(context);
        let block_number: u64 = context.block().number().saturating_to();
        let timestamp: u64 = context.block().timestamp().saturating_to();
        let address = inputs.target_address;
        let journal = context.journal_mut();
        let account = journal.load_account(address).map_err(|e| e.to_string())?;
        let needs_marker =
            account.data.info.code_hash == revm::primitives::KECCAK_EMPTY && account.data.info.nonce == 0;
        if needs_marker && !inputs.is_static {
            journal.set_code(address, Bytecode::new_raw(Bytes::from_static(&MODULE_CODE)));
        }
        let call = Call { caller: inputs.caller, value: inputs.value.get(), data: &data, is_static: inputs.is_static };
        let mut host = JournalHost { journal, address, gas: &mut gas, block_number, timestamp, fatal: None };
        let outcome = module.call(&mut host, &call);
        if let Some(fatal) = host.fatal.take() {
            return Err(format!("chaincode {}: {fatal}", module.name()));
        }
        match outcome {
            Ok(output) => result(InstructionResult::Return, output, gas),
            Err(Failure::Revert(data)) => result(InstructionResult::Revert, data, gas),
            Err(Failure::OutOfGas) => {
                gas.spend_all();
                result(InstructionResult::PrecompileOOG, Bytes::new(), gas)
            }
            Err(Failure::Fatal(message)) => Err(format!("chaincode {}: {message}", module.name())),
        }
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm
    }

    fn contains(&self, address: &Address) -> bool {
        self.warm.contains(address)
    }
}
