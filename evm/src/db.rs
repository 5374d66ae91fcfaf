//! The state the EVM reads: a small trait the node implements over RocksDB
//! (at the head or at a past block) and tests implement in memory, plus the
//! adapter that presents it to revm.

use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256};
use dsec_sdk::state::{AccountState, StateChanges};
use revm::database_interface::{DBErrorMarker, DatabaseRef};
use revm::state::{AccountInfo, Bytecode};
use std::collections::HashMap;

/// A failure of the storage below the EVM (disk error, corruption).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("state read failed: {0}")]
pub struct StateError(pub String);

impl DBErrorMarker for StateError {}

/// Read access to the world state at one point of the chain.
pub trait StateReader: Send + Sync {
    /// The account at `address`, if it exists.
    fn account(&self, address: &Address) -> Result<Option<AccountState>, StateError>;
    /// The value of a storage slot (zero when unset).
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError>;
    /// The code with this hash.
    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError>;
    /// The hash of block `number`, if it is known and not after this state.
    fn block_hash(&self, number: u64) -> Result<Option<B256>, StateError>;
}

impl<T: StateReader + ?Sized> StateReader for &T {
    fn account(&self, address: &Address) -> Result<Option<AccountState>, StateError> {
        (**self).account(address)
    }
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        (**self).storage(address, slot)
    }
    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError> {
        (**self).code(code_hash)
    }
    fn block_hash(&self, number: u64) -> Result<Option<B256>, StateError> {
        (**self).block_hash(number)
    }
}

/// Presents a [`StateReader`] to revm.
#[derive(Debug)]
pub struct RevmDb<S>(pub S);

impl<S: StateReader> DatabaseRef for RevmDb<S> {
    type Error = StateError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        Ok(self.0.account(&address)?.map(|a| AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: if a.code_hash == B256::ZERO { KECCAK256_EMPTY } else { a.code_hash },
            code: None,
            ..Default::default()
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        if code_hash == KECCAK256_EMPTY {
            return Ok(Bytecode::new());
        }
        let code = self.0.code(&code_hash)?.ok_or_else(|| StateError(format!("missing code {code_hash}")))?;
        Bytecode::new_raw_checked(code).map_err(|e| StateError(format!("stored code {code_hash} is malformed: {e:?}")))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, StateError> {
        self.0.storage(&address, &index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, StateError> {
        Ok(self.0.block_hash(number)?.unwrap_or_default())
    }
}

/// State changes layered over a base state: what a block being built or
/// validated sees, and what `pending` queries see.
#[derive(Debug)]
pub struct OverlayState<S> {
    base: S,
    accounts: alloy_primitives::map::AddressMap<Option<AccountState>>,
    storage: alloy_primitives::map::HashMap<(Address, U256), U256>,
    wiped: alloy_primitives::map::AddressSet,
    codes: alloy_primitives::map::B256Map<Bytes>,
}

impl<S: StateReader> OverlayState<S> {
    /// An overlay with no changes yet.
    pub fn new(base: S) -> Self {
        Self {
            base,
            accounts: Default::default(),
            storage: Default::default(),
            wiped: Default::default(),
            codes: Default::default(),
        }
    }

    /// Apply a change set on top of what the overlay holds.
    pub fn apply(&mut self, changes: &StateChanges) {
        for (address, change) in &changes.accounts {
            self.accounts.insert(*address, change.info);
            if change.info.is_none() {
                self.wiped.insert(*address);
                self.storage.retain(|(a, _), _| a != address);
            }
            for (slot, value) in &change.storage {
                self.storage.insert((*address, *slot), *value);
            }
            if let (Some(code), Some(info)) = (&change.new_code, &change.info) {
                self.codes.insert(info.code_hash, code.clone());
            }
        }
    }
}

impl<S: StateReader> StateReader for OverlayState<S> {
    fn account(&self, address: &Address) -> Result<Option<AccountState>, StateError> {
        match self.accounts.get(address) {
            Some(account) => Ok(*account),
            None => self.base.account(address),
        }
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        if let Some(value) = self.storage.get(&(*address, *slot)) {
            return Ok(*value);
        }
        if self.wiped.contains(address) {
            return Ok(U256::ZERO);
        }
        self.base.storage(address, slot)
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError> {
        match self.codes.get(code_hash) {
            Some(code) => Ok(Some(code.clone())),
            None => self.base.code(code_hash),
        }
    }

    fn block_hash(&self, number: u64) -> Result<Option<B256>, StateError> {
        self.base.block_hash(number)
    }
}

/// A whole state in memory, for tests and tools.
#[derive(Debug, Default, Clone)]
pub struct MemoryState {
    /// Accounts by address.
    pub accounts: HashMap<Address, AccountState>,
    /// Storage by (address, slot).
    pub storage: HashMap<(Address, U256), U256>,
    /// Code by hash.
    pub codes: HashMap<B256, Bytes>,
    /// Block hashes by number.
    pub block_hashes: HashMap<u64, B256>,
}

impl MemoryState {
    /// Apply a change set.
    pub fn apply(&mut self, changes: &StateChanges) {
        for (address, change) in &changes.accounts {
            match change.info {
                Some(info) => {
                    self.accounts.insert(*address, info);
                    if let Some(code) = &change.new_code {
                        self.codes.insert(info.code_hash, code.clone());
                    }
                }
                None => {
                    self.accounts.remove(address);
                    self.storage.retain(|(a, _), _| a != address);
                }
            }
            for (slot, value) in &change.storage {
                if value.is_zero() {
                    self.storage.remove(&(*address, *slot));
                } else {
                    self.storage.insert((*address, *slot), *value);
                }
            }
        }
    }
}

impl StateReader for MemoryState {
    fn account(&self, address: &Address) -> Result<Option<AccountState>, StateError> {
        Ok(self.accounts.get(address).copied())
    }
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        Ok(self.storage.get(&(*address, *slot)).copied().unwrap_or_default())
    }
    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError> {
        Ok(self.codes.get(code_hash).cloned())
    }
    fn block_hash(&self, number: u64) -> Result<Option<B256>, StateError> {
        Ok(self.block_hashes.get(&number).copied())
    }
}
