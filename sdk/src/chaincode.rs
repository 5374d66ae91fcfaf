//! Typed Rust calls for dsec's chaincode modules: their addresses and the
//! Solidity ABIs generated from the interfaces in `chaincode/sol/`, so Rust
//! clients build calldata and decode results and events exactly as
//! ethers.js or web3.py do from the same ABI.

/// Tenant audit anchoring.
pub mod audit {
    use alloy_primitives::{Address, B256, address, keccak256};

    mod bindings {
        alloy::sol!(
            #[sol(all_derives)]
            "../chaincode/sol/IAuditAnchor.sol"
        );
    }
    pub use bindings::IAuditAnchor;

    /// Where the module lives.
    pub const ADDRESS: Address = address!("0x00000000000000000000000000000000da5ec001");

    /// The on-chain id of a tenant declared with the text id `name`.
    pub fn tenant_id(name: &str) -> B256 {
        keccak256(name.as_bytes())
    }
}

/// Cross-border settlement.
pub mod settlement {
    use alloy_primitives::{Address, FixedBytes, address};

    #[allow(clippy::too_many_arguments)]
    mod bindings {
        alloy::sol!(
            #[sol(all_derives)]
            "../chaincode/sol/ISettlement.sol"
        );
    }
    pub use bindings::ISettlement;

    /// Where the module lives.
    pub const ADDRESS: Address = address!("0x00000000000000000000000000000000da5ec003");

    /// An ISO 4217 code as the ABI's `bytes3`, if it is three upper-case letters.
    pub fn currency(code: &str) -> Option<FixedBytes<3>> {
        (code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()))
            .then(|| FixedBytes::from_slice(code.as_bytes()))
    }
}

/// Shipment provenance.
pub mod provenance {
    use alloy_primitives::{Address, address};

    #[allow(clippy::too_many_arguments)]
    mod bindings {
        alloy::sol!(
            #[sol(all_derives)]
            "../chaincode/sol/IProvenance.sol"
        );
    }
    pub use bindings::IProvenance;

    /// Where the module lives.
    pub const ADDRESS: Address = address!("0x00000000000000000000000000000000da5ec002");
}
