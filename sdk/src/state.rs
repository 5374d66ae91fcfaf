//! Accounts, state changes and the state commitment carried in block headers.
//!
//! # The state commitment
//!
//! dsec does not hash the whole state into a Merkle-Patricia trie every block.
//! A header's `state_root` is a *delta chain*:
//!
//! ```text
//! state_root(h) = keccak256( "dsec/state/v1" || state_root(h-1) || keccak256(rlp(changes(h))) )
//! state_root(-1) = 0x00..00
//! ```
//!
//! where `changes(h)` is the canonical, sorted list of every account and
//! storage slot whose value block `h` changed, with its new value (genesis
//! allocations are the changes of block 0). Two validators that start from the
//! same genesis and end a block with different state necessarily differ in some
//! change of some block, so their roots differ from that block on: divergence is
//! detected at the block where it happens. The cost is linear in the number of
//! writes of the block (one keccak over ~100 bytes per changed account or slot),
//! not in the size of the state, so it stays flat as the state grows.
//!
//! What it does not give is a proof of one account's value against a header
//! (`eth_getProof`); that would need a state trie.

use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use std::collections::BTreeMap;

/// The account fields stored for every address (code lives separately, by hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct AccountState {
    /// Number of transactions sent (or contracts created, for a contract).
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// keccak-256 of the account's code (`KECCAK256_EMPTY` for none).
    pub code_hash: B256,
}

impl Default for AccountState {
    fn default() -> Self {
        Self { nonce: 0, balance: U256::ZERO, code_hash: KECCAK256_EMPTY }
    }
}

impl AccountState {
    /// An externally owned account with a balance.
    pub fn with_balance(balance: U256) -> Self {
        Self { balance, ..Default::default() }
    }

    /// Whether the account has code.
    pub fn has_code(&self) -> bool {
        self.code_hash != KECCAK256_EMPTY && self.code_hash != B256::ZERO
    }

    /// Encode to RLP bytes.
    pub fn to_rlp(&self) -> Vec<u8> {
        alloy_rlp::encode(self)
    }

    /// Decode from RLP bytes.
    pub fn from_rlp(mut bytes: &[u8]) -> Result<Self, alloy_rlp::Error> {
        <Self as alloy_rlp::Decodable>::decode(&mut bytes)
    }
}

/// What one block (or one transaction) changed of one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountChange {
    /// The account's new fields; `None` when the account was deleted.
    pub info: Option<AccountState>,
    /// Storage slots written, with their new values (zero means cleared).
    pub storage: BTreeMap<U256, U256>,
    /// Code deployed in this change, if any.
    pub new_code: Option<Bytes>,
}

/// Every account and slot a block changed, in canonical (sorted) order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateChanges {
    /// Changes by address.
    pub accounts: BTreeMap<Address, AccountChange>,
}

#[derive(RlpEncodable)]
struct CommitAccount<'a> {
    address: &'a Address,
    exists: bool,
    nonce: u64,
    balance: &'a U256,
    code_hash: &'a B256,
    storage: Vec<CommitSlot>,
}

#[derive(RlpEncodable)]
struct CommitSlot {
    slot: U256,
    value: U256,
}

impl StateChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Number of accounts and slots changed (for logs and metrics).
    pub fn write_count(&self) -> usize {
        self.accounts.values().map(|a| 1 + a.storage.len()).sum()
    }

    /// Fold a later change set into this one (later values win).
    pub fn merge(&mut self, later: StateChanges) {
        for (address, change) in later.accounts {
            let entry = self.accounts.entry(address).or_default();
            entry.info = change.info;
            if change.info.is_none() {
                entry.storage.clear();
            }
            entry.storage.extend(change.storage);
            if change.new_code.is_some() {
                entry.new_code = change.new_code;
            }
        }
    }

    /// keccak-256 of the canonical encoding of the changes.
    pub fn digest(&self) -> B256 {
        let empty = U256::ZERO;
        let items: Vec<CommitAccount<'_>> = self
            .accounts
            .iter()
            .map(|(address, change)| {
                let (exists, nonce, balance, code_hash) = match &change.info {
                    Some(info) => (true, info.nonce, &info.balance, &info.code_hash),
                    None => (false, 0, &empty, &B256::ZERO),
                };
                CommitAccount {
                    address,
                    exists,
                    nonce,
                    balance,
                    code_hash,
                    storage: change
                        .storage
                        .iter()
                        .map(|(slot, value)| CommitSlot { slot: *slot, value: *value })
                        .collect(),
                }
            })
            .collect();
        let mut buf = Vec::new();
        alloy_rlp::encode_list(&items, &mut buf);
        keccak256(&buf)
    }
}

/// The state commitment of a block from its parent's and the block's changes.
pub fn next_state_root(parent_root: &B256, changes: &StateChanges) -> B256 {
    let mut buf = Vec::with_capacity(13 + 64);
    buf.extend_from_slice(b"dsec/state/v1");
    buf.extend_from_slice(parent_root.as_slice());
    buf.extend_from_slice(changes.digest().as_slice());
    keccak256(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(balance: u64) -> AccountChange {
        AccountChange { info: Some(AccountState::with_balance(U256::from(balance))), ..Default::default() }
    }

    #[test]
    fn root_depends_on_every_change_and_on_the_parent() {
        let mut a = StateChanges::default();
        a.accounts.insert(Address::repeat_byte(1), change(10));
        let mut b = a.clone();
        b.accounts.get_mut(&Address::repeat_byte(1)).unwrap().storage.insert(U256::from(1), U256::from(2));
        let root = next_state_root(&B256::ZERO, &a);
        assert_ne!(root, next_state_root(&B256::ZERO, &b));
        assert_ne!(root, next_state_root(&B256::repeat_byte(1), &a));
        assert_eq!(root, next_state_root(&B256::ZERO, &a.clone()));
    }

    #[test]
    fn merge_keeps_latest_values_and_deletion_clears_storage() {
        let addr = Address::repeat_byte(1);
        let mut first = StateChanges::default();
        let mut c = change(1);
        c.storage.insert(U256::from(1), U256::from(5));
        first.accounts.insert(addr, c);
        let mut second = StateChanges::default();
        second.accounts.insert(addr, AccountChange { info: None, ..Default::default() });
        first.merge(second);
        let merged = &first.accounts[&addr];
        assert!(merged.info.is_none());
        assert!(merged.storage.is_empty());
    }

    #[test]
    fn account_rlp_roundtrip() {
        let account = AccountState { nonce: 3, balance: U256::from(99), code_hash: B256::repeat_byte(4) };
        assert_eq!(AccountState::from_rlp(&account.to_rlp()).unwrap(), account);
    }
}
