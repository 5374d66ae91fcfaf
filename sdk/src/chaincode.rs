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

    /// The hash that links an anchor to the previous one:
    /// `keccak256(tenant ‖ seq ‖ root ‖ lineCount ‖ prev)`, integers as 32-byte big-endian words.
    pub fn anchor_hash(tenant: &B256, seq: u64, root: &B256, line_count: u64, prev: &B256) -> B256 {
        let mut buf = Vec::with_capacity(32 * 5);
        buf.extend_from_slice(tenant.as_slice());
        buf.extend_from_slice(&alloy_primitives::U256::from(seq).to_be_bytes::<32>());
        buf.extend_from_slice(root.as_slice());
        buf.extend_from_slice(&alloy_primitives::U256::from(line_count).to_be_bytes::<32>());
        buf.extend_from_slice(prev.as_slice());
        keccak256(&buf)
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
    use alloy::sol_types::{SolType, SolValue, sol_data};
    use alloy_primitives::{Address, B256, address, keccak256};

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

    /// Domain tag of attestation digests (keccak-256 of this text is the first word).
    pub const ATTESTATION_DOMAIN: &str = "dsec.provenance.attestation.v2";

    /// Domain tag of device registration digests (keccak-256 of this text is the first word).
    pub const DEVICE_DOMAIN: &str = "dsec.provenance.device.v1";

    /// The 32-byte message a device signs for `attest` on the chain whose
    /// genesis hash is `chain_hash`:
    /// `keccak256(abi.encode(keccak256(ATTESTATION_DOMAIN), chainHash, address(module), id, deviceKey, kind,
    /// value, observedAt))`.
    pub fn attestation_digest(
        chain_hash: &B256,
        id: &B256,
        device_key: &B256,
        kind: u8,
        value: i64,
        observed_at: u64,
    ) -> B256 {
        type Attestation = (
            sol_data::FixedBytes<32>,
            sol_data::FixedBytes<32>,
            sol_data::Address,
            sol_data::FixedBytes<32>,
            sol_data::FixedBytes<32>,
            sol_data::Uint<8>,
            sol_data::Int<64>,
            sol_data::Uint<64>,
        );
        let fields = (keccak256(ATTESTATION_DOMAIN), *chain_hash, ADDRESS, *id, *device_key, kind, value, observed_at);
        keccak256(Attestation::abi_encode_params(&fields))
    }

    /// The 32-byte message a device signs to be registered to `owner` on the
    /// chain whose genesis hash is `chain_hash` (its proof of possession of the
    /// key): `keccak256(abi.encode(keccak256(DEVICE_DOMAIN), chainHash, address(module), deviceKey, owner))`.
    pub fn device_registration_digest(chain_hash: &B256, device_key: &B256, owner: &Address) -> B256 {
        keccak256((keccak256(DEVICE_DOMAIN), *chain_hash, ADDRESS, *device_key, *owner).abi_encode_params())
    }
}

/// Validator-set governance (a system module, present on every chain).
pub mod validator_set {
    use crate::validators::{Validator, ValidatorSet, validator_address};
    use alloy::sol_types::SolValue;
    use alloy_primitives::{Address, B256, address, keccak256};

    mod bindings {
        alloy::sol!(
            #[sol(all_derives)]
            "../chaincode/sol/IValidatorSet.sol"
        );
    }
    pub use bindings::IValidatorSet;

    /// Where the module lives.
    pub const ADDRESS: Address = address!("0x00000000000000000000000000000000da5ec000");

    /// Domain tag of change digests (keccak-256 of this text is the first word).
    pub const DIGEST_DOMAIN: &str = "dsec.validators.change.v1";

    /// The digest validators sign to approve change `change_number` (1-based)
    /// on the chain whose genesis hash is `chain_hash`:
    /// `keccak256(abi.encode(keccak256(DIGEST_DOMAIN), chainHash, changeNumber, activationHeight, validators))`.
    pub fn change_digest(
        chain_hash: &B256,
        change_number: u64,
        activation_height: u64,
        validators: &[IValidatorSet::ValidatorInfo],
    ) -> B256 {
        let encoded = (keccak256(DIGEST_DOMAIN), *chain_hash, change_number, activation_height, validators.to_vec())
            .abi_encode_params();
        keccak256(encoded)
    }

    /// The ABI form of a validator set.
    pub fn to_infos(set: &ValidatorSet) -> Vec<IValidatorSet::ValidatorInfo> {
        set.validators
            .iter()
            .map(|v| IValidatorSet::ValidatorInfo { publicKey: v.public_key, power: v.power })
            .collect()
    }

    /// A validator set from its ABI form (addresses derived, sorted by address).
    pub fn from_infos(infos: &[IValidatorSet::ValidatorInfo]) -> ValidatorSet {
        ValidatorSet::new(
            infos
                .iter()
                .map(|i| Validator {
                    address: validator_address(&i.publicKey.0),
                    public_key: i.publicKey,
                    power: i.power,
                })
                .collect(),
        )
    }
}
