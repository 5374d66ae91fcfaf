//! `dsec-chaincode`: native Rust modules that run beside the EVM as system
//! contracts.
//!
//! A module implements [`Chaincode`]: it lives at a fixed address, speaks a
//! Solidity ABI (so ethers, web3.py, Hardhat and Solidity contracts call it
//! like any contract), and reads and writes its state through a [`Host`]
//! that the EVM provides over its journal — so a revert, in the module or in
//! a contract that called it, undoes the module's writes with everything else.
//! Every storage access is charged gas the way the EVM charges `SLOAD` and
//! `SSTORE`, and computation whose cost grows with the input (calldata,
//! signature checks, public keys, proof steps) is charged per unit before it
//! is done, at the prices in [`gas`], so a call costs what its work costs.
//!
//! Adding a module means writing one type that implements [`Chaincode`] and
//! adding one line to [`MODULES`].
//!
//! Modules in this build: [`audit`] (tenant audit anchoring), [`provenance`]
//! (shipment provenance) and [`settlement`] (cross-border settlement), plus
//! the system modules [`validator_set`] (validator-set governance) and
//! [`permissions`] (who may send, deploy, connect and administer), present on
//! every chain and added by the node with [`Registry::with_module`].

pub mod audit;
pub mod documents;
pub mod gas;
pub mod permissions;
pub mod provenance;
pub mod settlement;
pub mod storage;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod validator_set;

use alloy_primitives::{Address, B256, Bytes, U256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How a chaincode call ended other than by returning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The call reverts with this ABI-encoded data (`Error(string)` or a custom error).
    #[error("revert")]
    Revert(Bytes),
    /// The call ran out of gas.
    #[error("out of gas")]
    OutOfGas,
    /// The node failed (storage error): the whole block fails, not just the call.
    #[error("fatal: {0}")]
    Fatal(String),
}

impl Failure {
    /// A revert with a reason string, ABI-encoded as Solidity's `Error(string)`.
    pub fn reason(message: impl Into<String>) -> Self {
        use alloy::sol_types::SolError;
        Self::Revert(alloy::sol_types::Revert::from(message.into()).abi_encode().into())
    }
}

/// The environment a chaincode call runs in: its own storage, logs, gas and block facts.
pub trait Host {
    /// Read a slot of the module's storage (charges cold/warm `SLOAD` gas).
    fn sload(&mut self, slot: U256) -> Result<U256, Failure>;
    /// Read a slot of another account's storage, charged as [`Host::sload`]:
    /// how a module consults a system module (the permissions module's lists
    /// of module administrators, the validator-set schedule).
    fn sload_at(&mut self, address: Address, slot: U256) -> Result<U256, Failure>;
    /// Write a slot of the module's storage (charges `SSTORE` gas).
    fn sstore(&mut self, slot: U256, value: U256) -> Result<(), Failure>;
    /// Emit a log from the module's address (charges `LOG` gas).
    fn emit(&mut self, topics: Vec<B256>, data: Bytes) -> Result<(), Failure>;
    /// Charge gas for computation.
    fn charge(&mut self, gas: u64) -> Result<(), Failure>;
    /// Height of the block being executed.
    fn block_number(&self) -> u64;
    /// Timestamp (seconds) of the block being executed.
    fn timestamp(&self) -> u64;
}

/// One call to a module.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The account calling (an EOA or a contract).
    pub caller: Address,
    /// Wei sent with the call.
    pub value: U256,
    /// ABI-encoded calldata.
    pub data: &'a [u8],
    /// Whether the call is read-only (`STATICCALL`, `eth_call` views): writes must revert.
    pub is_static: bool,
}

/// A native module.
pub trait Chaincode: Send + Sync + std::fmt::Debug {
    /// Short name used in the genesis `chaincode` section.
    fn name(&self) -> &'static str;
    /// The fixed address it answers at.
    fn address(&self) -> Address;
    /// Its Solidity interface (the ABI clients use).
    fn interface(&self) -> &'static str;
    /// Execute a call.
    fn call(&self, host: &mut dyn Host, call: &Call<'_>) -> Result<Bytes, Failure>;
}

pub use gas::DISPATCH_GAS;

/// The checks every module runs first: charge the dispatch gas and the
/// calldata's words, refuse value, decode the calldata against the module's
/// ABI, and refuse a state-changing function in a read-only call. Reasons are
/// prefixed with `module`.
pub fn decode_call<C: alloy::sol_types::SolInterface>(
    host: &mut dyn Host,
    call: &Call<'_>,
    module: &str,
    writes: impl Fn(&C) -> bool,
) -> Result<C, Failure> {
    host.charge(DISPATCH_GAS.saturating_add(gas::calldata_gas(call.data.len())))?;
    if !call.value.is_zero() {
        return Err(Failure::reason(format!("{module}: the module does not accept value")));
    }
    let decoded = C::abi_decode(call.data)
        .map_err(|_| Failure::reason(format!("{module}: unknown function or bad arguments")))?;
    if call.is_static && writes(&decoded) {
        return Err(Failure::reason(format!("{module}: state change in a read-only call")));
    }
    Ok(decoded)
}

/// Configuration of a module from the genesis file.
#[derive(Debug, Clone, Default)]
pub struct ModuleConfig {
    /// Administrators declared in the genesis. On a chain they seed the
    /// permissions module, which is then the authority
    /// ([`permissions::is_module_admin`]); a module tested alone uses these.
    pub admins: Vec<Address>,
    /// Module-specific settings.
    pub settings: serde_json::Value,
    /// Tenants declared in the genesis file (used by the audit module).
    pub tenants: Vec<GenesisTenant>,
}

/// A tenant declared in the genesis file.
#[derive(Debug, Clone)]
pub struct GenesisTenant {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Residency zone label.
    pub residency_zone: String,
    /// Members allowed to anchor.
    pub members: Vec<Address>,
    /// Anchors allowed per day.
    pub anchors_per_day: u64,
}

/// Why the registry could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// The genesis enables a module this build does not have.
    #[error("chaincode module {0:?} is not available in this build (available: {1})")]
    Unknown(String, String),
    /// The module refused its settings.
    #[error("chaincode module {module}: {message}")]
    BadSettings {
        /// Module name.
        module: String,
        /// What is wrong.
        message: String,
    },
}

/// A module's constructor: the genesis hash of the chain (when the registry
/// is built for one, see [`Registry::for_chain`]) and the module's configuration.
type Constructor = fn(Option<B256>, &ModuleConfig) -> Result<Arc<dyn Chaincode>, String>;

/// Every module this build provides: name and constructor. One line per module.
pub const MODULES: &[(&str, Constructor)] = &[
    ("audit", |_, config| audit::AuditAnchoring::from_config(config)),
    ("provenance", provenance::Provenance::registry_entry),
    ("settlement", |_, config| settlement::Settlement::from_config(config)),
];

/// The enabled modules, by address.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    modules: BTreeMap<Address, Arc<dyn Chaincode>>,
}

impl Registry {
    /// No modules.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Build the modules the genesis enables on the chain whose genesis hash
    /// is `chain_hash`. Modules that check signatures bind them to it, so a
    /// message signed for one chain does not verify on another.
    pub fn for_chain<'a>(
        chain_hash: B256,
        enabled: impl IntoIterator<Item = (&'a str, ModuleConfig)>,
    ) -> Result<Self, RegistryError> {
        Self::build(Some(chain_hash), enabled)
    }

    /// Build the modules the genesis enables without the chain's identity. A
    /// module that binds signatures to the chain (`provenance`) is refused:
    /// use [`Registry::for_chain`].
    pub fn new<'a>(enabled: impl IntoIterator<Item = (&'a str, ModuleConfig)>) -> Result<Self, RegistryError> {
        Self::build(None, enabled)
    }

    fn build<'a>(
        chain_hash: Option<B256>,
        enabled: impl IntoIterator<Item = (&'a str, ModuleConfig)>,
    ) -> Result<Self, RegistryError> {
        let mut modules = BTreeMap::new();
        for (name, config) in enabled {
            let constructor = MODULES.iter().find(|(n, _)| *n == name).map(|(_, c)| c).ok_or_else(|| {
                RegistryError::Unknown(name.to_string(), MODULES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
            })?;
            let module = constructor(chain_hash, &config)
                .map_err(|message| RegistryError::BadSettings { module: name.to_string(), message })?;
            modules.insert(module.address(), module);
        }
        Ok(Self { modules })
    }

    /// Add a module built by the node itself (a system module such as
    /// [`validator_set::ValidatorGovernance`]); it replaces any at its address.
    pub fn with_module(mut self, module: Arc<dyn Chaincode>) -> Self {
        self.modules.insert(module.address(), module);
        self
    }

    /// The module at `address`.
    pub fn get(&self, address: &Address) -> Option<&Arc<dyn Chaincode>> {
        self.modules.get(address)
    }

    /// Addresses of all enabled modules.
    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        self.modules.keys()
    }

    /// Whether no module is enabled.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_modules_are_refused_and_known_ones_built() {
        let err = Registry::new([("provenance-x", ModuleConfig::default())]).unwrap_err();
        assert!(err.to_string().contains("provenance-x") && err.to_string().contains("audit"));
        let registry = Registry::new([("audit", ModuleConfig::default())]).unwrap();
        assert!(registry.get(&audit::ADDRESS).is_some());
    }
}
