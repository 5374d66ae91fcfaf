//! The development accounts every Ethereum tool knows: the first ten accounts
//! of the mnemonic "test test test test test test test test test test test
//! junk" (derivation path `m/44'/60'/0'/0/i`), as Hardhat and Anvil prefund them.
//! Their keys are public knowledge: never use them outside a devnet.

use crate::tx::LocalKey;
use alloy_primitives::{Address, B256};
use alloy_signer_local::MnemonicBuilder;
use alloy_signer_local::coins_bip39::English;

/// The well-known development mnemonic.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// How many development accounts are prefunded.
pub const DEV_ACCOUNT_COUNT: u32 = 10;

/// One development account.
#[derive(Debug, Clone)]
pub struct DevAccount {
    /// Index in the derivation path.
    pub index: u32,
    /// The account's address.
    pub address: Address,
    /// Its private key (public knowledge).
    pub private_key: B256,
}

impl DevAccount {
    /// A signing key for this account.
    pub fn key(&self) -> LocalKey {
        // Derived keys are valid scalars by construction of BIP-32.
        LocalKey::from_bytes(&self.private_key).unwrap_or_else(|_| unreachable!("BIP-32 keys are valid scalars"))
    }
}

/// Derive the ten development accounts.
pub fn dev_accounts() -> Vec<DevAccount> {
    (0..DEV_ACCOUNT_COUNT)
        .filter_map(|index| {
            let signer = MnemonicBuilder::<English>::default().phrase(DEV_MNEMONIC).index(index).ok()?.build().ok()?;
            Some(DevAccount { index, address: signer.address(), private_key: signer.to_bytes() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_accounts_hardhat_and_anvil_print() {
        let accounts = dev_accounts();
        assert_eq!(accounts.len(), 10);
        assert_eq!(accounts[0].address.to_string(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        assert_eq!(
            accounts[0].private_key.to_string(),
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        );
        assert_eq!(accounts[1].address.to_string(), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        assert_eq!(accounts[0].key().address(), accounts[0].address);
    }
}
