//! Devnet key sets and genesis files: validators with fresh ed25519 keys, and
//! the ten development accounts every Ethereum tool knows, prefunded.

use crate::{ChaincodeModule, FeeConfig, Genesis, GenesisAccount, GenesisValidator, Permissions, Tenant};
use alloy_primitives::U256;
use dsec_sdk::dev::DevAccount;
use dsec_sdk::validators::ValidatorKey;
use std::collections::BTreeMap;

/// Chain id of devnets (the one Hardhat and Anvil use, so wallet presets work).
pub const DEVNET_CHAIN_ID: u64 = 31337;
/// Balance of each development account: 10,000 ether.
pub const DEV_ACCOUNT_BALANCE_WEI: u128 = 10_000 * 1_000_000_000_000_000_000;
/// Block gas limit of devnets.
pub const DEVNET_GAS_LIMIT: u64 = 1_000_000_000;
/// Initial base fee of devnets: 1 gwei.
pub const DEVNET_INITIAL_BASE_FEE: u64 = 1_000_000_000;

/// Options for a devnet genesis.
#[derive(Debug, Clone)]
pub struct DevnetSpec {
    /// Chain id.
    pub chain_id: u64,
    /// Number of validators.
    pub validators: usize,
    /// Block gas limit.
    pub gas_limit: u64,
    /// EIP-1559 fees (`true`) or a zero-fee network (`false`).
    pub eip1559: bool,
    /// Genesis time in milliseconds since the epoch.
    pub timestamp_ms: u64,
    /// Enable the chaincode modules, administered by dev account 0, with a demo tenant.
    pub chaincode: bool,
    /// Let dev account 0 change the validator set alone (`permissions.validatorAdmin`).
    pub validator_admin: bool,
    /// Hybrid consensus signatures (`ed25519+ml-dsa-65`): every validator gets both keys.
    pub hybrid: bool,
}

/// Id of the demo tenant of devnets (members: dev accounts 0 and 1).
pub const DEMO_TENANT: &str = "demo-agency";

impl Default for DevnetSpec {
    fn default() -> Self {
        Self {
            chain_id: DEVNET_CHAIN_ID,
            validators: 1,
            gas_limit: DEVNET_GAS_LIMIT,
            eip1559: true,
            timestamp_ms: 0,
            chaincode: true,
            validator_admin: true,
            hybrid: false,
        }
    }
}

/// A devnet: its genesis and the secret keys of its validators (in genesis order).
#[derive(Debug, Clone)]
pub struct Devnet {
    /// The genesis file.
    pub genesis: Genesis,
    /// The validators' consensus keys, in the order of `genesis.validators`.
    pub validator_keys: Vec<ValidatorKey>,
    /// The prefunded development accounts.
    pub accounts: Vec<DevAccount>,
}

/// Generate a devnet: fresh validator keys and the prefunded dev accounts.
pub fn generate(spec: &DevnetSpec) -> Devnet {
    let validator_keys: Vec<ValidatorKey> = (0..spec.validators.max(1))
        .map(|_| if spec.hybrid { ValidatorKey::generate_hybrid() } else { ValidatorKey::generate() })
        .collect();
    let accounts = dsec_sdk::dev::dev_accounts();
    let alloc: BTreeMap<_, _> = accounts
        .iter()
        .map(|a| (a.address, GenesisAccount { balance: U256::from(DEV_ACCOUNT_BALANCE_WEI), ..Default::default() }))
        .collect();
    let genesis = Genesis {
        chain_id: spec.chain_id,
        timestamp_ms: spec.timestamp_ms,
        gas_limit: spec.gas_limit,
        consensus_signatures: if spec.hybrid {
            crate::ConsensusSignatures::Ed25519MlDsa65
        } else {
            crate::ConsensusSignatures::Ed25519
        },
        fees: FeeConfig {
            eip1559: spec.eip1559,
            initial_base_fee: if spec.eip1559 { DEVNET_INITIAL_BASE_FEE } else { 0 },
            min_base_fee: 0,
            min_gas_price: 0,
        },
        validators: validator_keys
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                name: format!("validator-{i}"),
                public_key: k.public_key(),
                power: 1,
                ml_dsa_public_key: k.ml_dsa_public_key_bytes(),
            })
            .collect(),
        alloc,
        // Open to every sender, administered by dev account 0 (it can switch
        // on the allowlists, add deployers and nodes, rotate module admins).
        permissions: Permissions {
            admins: vec![accounts[0].address],
            validator_admin: spec.validator_admin.then(|| accounts[0].address),
            ..Permissions::default()
        },
        tenants: Vec::new(),
        chaincode: BTreeMap::new(),
    };
    let mut genesis = genesis;
    if spec.chaincode {
        let admin = accounts[0].address;
        genesis.tenants.push(Tenant {
            id: DEMO_TENANT.to_string(),
            name: "Demo Agency".to_string(),
            residency_zone: "local".to_string(),
            members: accounts.iter().take(2).map(|a| a.address).collect(),
            anchors_per_day: 1_000_000,
        });
        for module in ["audit", "provenance", "settlement"] {
            genesis.chaincode.insert(
                module.to_string(),
                ChaincodeModule { enabled: true, admins: vec![admin], settings: serde_json::Value::Null },
            );
        }
    }
    Devnet { genesis, validator_keys, accounts }
}
