//! Storage layout helpers: slots derived like Solidity mappings
//! (`keccak256(tag || keys…)`), packed integers and short strings.

use crate::{Failure, Host};
use alloy_primitives::{Address, B256, Bytes, U256};

/// The slot of `tag` keyed by `keys` (each key 32 bytes or less, left-padded).
pub fn slot(tag: &str, keys: &[&[u8]]) -> U256 {
    dsec_sdk::chaincode::storage_slot(tag, keys)
}

/// A read-only [`Host`] over a module's committed storage, for the node to
/// read a system module outside a transaction: `read` gives a slot of the
/// module's account; gas is free; writes, logs and other accounts fail.
pub(crate) struct CommittedStorage<'a> {
    read: &'a mut dyn FnMut(U256) -> Result<U256, String>,
    error: Option<String>,
}

impl<'a> CommittedStorage<'a> {
    /// A host reading through `read`.
    pub(crate) fn new(read: &'a mut dyn FnMut(U256) -> Result<U256, String>) -> Self {
        Self { read, error: None }
    }

    /// The reader's own error behind `failure`, if it was one.
    pub(crate) fn explain(&self, failure: Failure) -> String {
        self.error.clone().unwrap_or_else(|| failure.to_string())
    }
}

impl Host for CommittedStorage<'_> {
    fn sload(&mut self, slot: U256) -> Result<U256, Failure> {
        (self.read)(slot).map_err(|e| {
            self.error = Some(e.clone());
            Failure::Fatal(e)
        })
    }
    fn sload_at(&mut self, _: Address, _: U256) -> Result<U256, Failure> {
        Err(Failure::Fatal("only the module's own storage is read here".into()))
    }
    fn sstore(&mut self, _: U256, _: U256) -> Result<(), Failure> {
        Err(Failure::Fatal("read-only".into()))
    }
    fn emit(&mut self, _: Vec<B256>, _: Bytes) -> Result<(), Failure> {
        Err(Failure::Fatal("read-only".into()))
    }
    fn charge(&mut self, _: u64) -> Result<(), Failure> {
        Ok(())
    }
    fn block_number(&self) -> u64 {
        0
    }
    fn timestamp(&self) -> u64 {
        0
    }
}

/// Read a slot as a 32-byte word.
pub fn load_word(host: &mut dyn Host, slot: U256) -> Result<B256, Failure> {
    Ok(B256::from(host.sload(slot)?))
}

/// Write a 32-byte word.
pub fn store_word(host: &mut dyn Host, slot: U256, word: B256) -> Result<(), Failure> {
    host.sstore(slot, U256::from_be_bytes(word.0))
}

/// Read a `u64`.
pub fn load_u64(host: &mut dyn Host, slot: U256) -> Result<u64, Failure> {
    Ok(host.sload(slot)?.saturating_to())
}

/// Read a `u8` (a larger stored value reads as `u8::MAX`).
pub fn load_u8(host: &mut dyn Host, slot: U256) -> Result<u8, Failure> {
    Ok(host.sload(slot)?.saturating_to())
}

/// Write a `u64`.
pub fn store_u64(host: &mut dyn Host, slot: U256, value: u64) -> Result<(), Failure> {
    host.sstore(slot, U256::from(value))
}

/// Encode a string of at most 31 bytes into one word (data left-aligned, length in the last byte).
pub fn short_string(s: &str) -> Option<U256> {
    let bytes = s.as_bytes();
    if bytes.len() > 31 {
        return None;
    }
    let mut word = [0u8; 32];
    word[..bytes.len()].copy_from_slice(bytes);
    word[31] = u8::try_from(bytes.len()).ok()?;
    Some(U256::from_be_bytes(word))
}

/// Decode a word written by [`short_string`].
pub fn from_short_string(word: U256) -> String {
    let bytes = word.to_be_bytes::<32>();
    let len = usize::from(bytes[31]).min(31);
    String::from_utf8_lossy(&bytes[..len]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_differ_by_tag_and_key() {
        assert_ne!(slot("a", &[b"x"]), slot("b", &[b"x"]));
        assert_ne!(slot("a", &[b"x"]), slot("a", &[b"y"]));
        assert_ne!(slot("a", &[b"x", b"y"]), slot("a", &[b"y", b"x"]));
    }

    #[test]
    fn short_strings_roundtrip() {
        let w = short_string("eu-west").unwrap();
        assert_eq!(from_short_string(w), "eu-west");
        assert!(short_string(&"x".repeat(32)).is_none());
    }
}
