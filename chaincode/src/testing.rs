//! An in-memory [`Host`] for testing modules without an EVM. A failed call's
//! writes are discarded, as the EVM's journal discards them.

use crate::{Call, Chaincode, Failure, Host};
use alloy_primitives::{Address, B256, Bytes, U256};
use std::collections::HashMap;

/// Storage, logs, gas and block facts in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryHost {
    /// Storage slots.
    pub storage: HashMap<U256, U256>,
    /// Other accounts' storage, read by [`Host::sload_at`] (a module cannot write it).
    pub foreign: HashMap<(Address, U256), U256>,
    /// Logs emitted by successful calls: topics and data.
    pub logs: Vec<(Vec<B256>, Bytes)>,
    /// Gas used by the last call.
    pub gas_used: u64,
    /// Gas limit of each call.
    pub gas_limit: u64,
    /// Block height.
    pub block_number: u64,
    /// Block timestamp, seconds.
    pub timestamp: u64,
}

struct Session<'a> {
    host: &'a mut MemoryHost,
    writes: HashMap<U256, U256>,
    logs: Vec<(Vec<B256>, Bytes)>,
    gas: u64,
}

impl Session<'_> {
    fn charge_inner(&mut self, gas: u64) -> Result<(), Failure> {
        self.gas = self.gas.saturating_add(gas);
        if self.gas > self.host.gas_limit { Err(Failure::OutOfGas) } else { Ok(()) }
    }
}

impl Host for Session<'_> {
    fn sload(&mut self, slot: U256) -> Result<U256, Failure> {
        self.charge_inner(2_100)?;
        Ok(self.writes.get(&slot).or_else(|| self.host.storage.get(&slot)).copied().unwrap_or_default())
    }
    fn sload_at(&mut self, address: Address, slot: U256) -> Result<U256, Failure> {
        self.charge_inner(2_100)?;
        Ok(self.host.foreign.get(&(address, slot)).copied().unwrap_or_default())
    }
    fn sstore(&mut self, slot: U256, value: U256) -> Result<(), Failure> {
        self.charge_inner(20_000)?;
        self.writes.insert(slot, value);
        Ok(())
    }
    fn emit(&mut self, topics: Vec<B256>, data: Bytes) -> Result<(), Failure> {
        let topics_gas = 375u64.saturating_mul(u64::try_from(topics.len()).unwrap_or(u64::MAX));
        let data_gas = 8u64.saturating_mul(u64::try_from(data.len()).unwrap_or(u64::MAX));
        self.charge_inner(375u64.saturating_add(topics_gas).saturating_add(data_gas))?;
        self.logs.push((topics, data));
        Ok(())
    }
    fn charge(&mut self, gas: u64) -> Result<(), Failure> {
        self.charge_inner(gas)
    }
    fn block_number(&self) -> u64 {
        self.host.block_number
    }
    fn timestamp(&self) -> u64 {
        self.host.timestamp
    }
}

impl MemoryHost {
    /// A host with a generous gas limit.
    pub fn new() -> Self {
        Self { gas_limit: 10_000_000, block_number: 1, timestamp: 1_700_000_000, ..Default::default() }
    }

    /// Call `module` as `caller`; writes and logs are kept only if it succeeds.
    pub fn call(&mut self, module: &dyn Chaincode, caller: Address, data: &[u8]) -> Result<Bytes, Failure> {
        self.call_with(module, &Call { caller, value: U256::ZERO, data, is_static: false })
    }

    /// Call with every field of [`Call`] given.
    pub fn call_with(&mut self, module: &dyn Chaincode, call: &Call<'_>) -> Result<Bytes, Failure> {
        let mut session = Session { host: self, writes: HashMap::new(), logs: Vec::new(), gas: 0 };
        let result = module.call(&mut session, call);
        let (writes, logs, gas) = (session.writes, session.logs, session.gas);
        self.gas_used = gas;
        if result.is_ok() {
            self.storage.extend(writes);
            self.logs.extend(logs);
        }
        result
    }
}
