//! The genesis file of a dsec chain: its format, strict parsing, validation,
//! the genesis block it defines, and the generation of devnet key sets.
//!
//! The file is JSON with camelCase keys. Every object rejects unknown fields,
//! and every error names the path of the offending field
//! (e.g. `alloc.0x12…34.balance: invalid hex`).
//!
//! The genesis hash — the hash of block 0 — identifies the chain. Block 0's
//! `parent_hash` is the keccak-256 of the canonical re-serialisation of the
//! parsed file, so every setting (chain id, fees, permissions, …) is bound
//! into it; its `state_root` commits to the allocations and its
//! `validators_hash` to the initial validator set.

use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use dsec_sdk::block::{Body, Header};
use dsec_sdk::state::{AccountChange, AccountState, StateChanges, next_state_root};
use dsec_sdk::validators::{MAX_TOTAL_POWER, MAX_VALIDATORS, Validator, ValidatorSet, validator_address};
use serde::{Deserialize, Deserializer, Serialize, de};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub mod devnet;

/// The genesis file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Genesis {
    /// EIP-155 chain id; transactions signed for another chain are refused.
    pub chain_id: u64,
    /// Time of the genesis block, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub timestamp_ms: u64,
    /// Maximum gas per block.
    pub gas_limit: u64,
    /// How validators sign consensus messages and certificates: `ed25519`
    /// (the default) or `ed25519+ml-dsa-65`, where every validator also holds
    /// an ML-DSA-65 key and a signature counts only if both halves verify.
    #[serde(default, skip_serializing_if = "ConsensusSignatures::is_ed25519")]
    pub consensus_signatures: ConsensusSignatures,
    /// Fee rules of the network.
    pub fees: FeeConfig,
    /// The initial validators.
    pub validators: Vec<GenesisValidator>,
    /// Accounts that exist at genesis.
    #[serde(default, deserialize_with = "unique_map")]
    pub alloc: BTreeMap<Address, GenesisAccount>,
    /// Who may send transactions and deploy contracts.
    #[serde(default)]
    pub permissions: Permissions,
    /// Tenants of the audit-anchoring workload (used by the chaincode modules).
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// Chaincode modules by name, with their settings.
    #[serde(default, deserialize_with = "unique_map")]
    pub chaincode: BTreeMap<String, ChaincodeModule>,
}

/// Fee rules: either a zero-fee network (as many permissioned networks run)
/// or an EIP-1559 base fee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeeConfig {
    /// `true`: the base fee follows EIP-1559 (target = half the gas limit).
    /// `false`: the base fee is always zero.
    pub eip1559: bool,
    /// Base fee of block 1, in wei per gas (ignored when `eip1559` is false).
    #[serde(default)]
    pub initial_base_fee: u64,
    /// The base fee never falls below this, in wei per gas.
    #[serde(default)]
    pub min_base_fee: u64,
    /// Transactions offering less than this gas price (or max fee) are refused by the mempool.
    #[serde(default)]
    pub min_gas_price: u64,
}

/// How validators sign consensus messages and commit certificates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsensusSignatures {
    /// ed25519 alone.
    #[default]
    #[serde(rename = "ed25519")]
    Ed25519,
    /// ed25519 and ML-DSA-65 (FIPS 204) together: a record finalised today
    /// stays unforgeable for an adversary who breaks ed25519 later.
    #[serde(rename = "ed25519+ml-dsa-65")]
    Ed25519MlDsa65,
}

impl ConsensusSignatures {
    /// Whether this is the default, ed25519 alone.
    pub fn is_ed25519(&self) -> bool {
        *self == Self::Ed25519
    }

    /// Whether validators also sign with ML-DSA-65.
    pub fn is_hybrid(&self) -> bool {
        *self == Self::Ed25519MlDsa65
    }
}

impl std::fmt::Display for ConsensusSignatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ed25519 => "ed25519",
            Self::Ed25519MlDsa65 => "ed25519+ml-dsa-65",
        })
    }
}

/// One initial validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisValidator {
    /// Human-readable name (organisation).
    pub name: String,
    /// ed25519 public key, 32 bytes hex.
    pub public_key: B256,
    /// Voting power, at least 1.
    pub power: u64,
    /// ML-DSA-65 public key (1,952 bytes hex), required when
    /// `consensusSignatures` is `ed25519+ml-dsa-65` and refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml_dsa_public_key: Option<Bytes>,
}

/// One account at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisAccount {
    /// Balance in wei (hex quantity or decimal string).
    #[serde(default, deserialize_with = "u256_quantity")]
    pub balance: U256,
    /// Nonce.
    #[serde(default)]
    pub nonce: u64,
    /// Runtime code (hex).
    #[serde(default, skip_serializing_if = "bytes_is_empty")]
    pub code: Bytes,
    /// Storage slots.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "unique_map")]
    pub storage: BTreeMap<U256, U256>,
}

/// Who may do what. An absent list means "anyone".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Permissions {
    /// Permission administrators: they change the lists below at run time
    /// through the permissions module (and may always send transactions).
    #[serde(default)]
    pub admins: Vec<Address>,
    /// How many administrators must approve a change (default 1: any one of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_threshold: Option<u64>,
    /// If set, only these addresses may send transactions.
    #[serde(default)]
    pub senders: Option<Vec<Address>>,
    /// If set, only these addresses may deploy contracts.
    #[serde(default)]
    pub deployers: Option<Vec<Address>>,
    /// libp2p peer ids of non-validator nodes allowed to connect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// If set, this account may change the validator set by itself (otherwise
    /// only validators holding more than two thirds of the voting power can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator_admin: Option<Address>,
}

/// A tenant (an agency) of the audit-anchoring workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenant {
    /// Unique identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Data residency zone label.
    pub residency_zone: String,
    /// Accounts that may act for the tenant.
    #[serde(default)]
    pub members: Vec<Address>,
    /// Audit anchors the tenant may make per day.
    #[serde(default = "default_anchors_per_day")]
    pub anchors_per_day: u64,
}

fn default_anchors_per_day() -> u64 {
    1_440
}

/// Settings of one chaincode module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChaincodeModule {
    /// Whether the module is active.
    pub enabled: bool,
    /// Administrators of the module.
    #[serde(default)]
    pub admins: Vec<Address>,
    /// Module-specific settings, validated by the module.
    #[serde(default)]
    pub settings: serde_json::Value,
}

/// Why a genesis file was refused.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The file could not be read.
    #[error("cannot read genesis file {path}: {source}")]
    Io {
        /// Path of the file.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The JSON is malformed or a field has a wrong type or value.
    #[error("genesis: {path}: {message}")]
    Parse {
        /// Path of the offending field (`.` for the document).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file parses but breaks a rule.
    #[error("genesis: {field}: {message}")]
    Invalid {
        /// The offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> GenesisError {
    GenesisError::Invalid { field: field.into(), message: message.into() }
}

/// Smallest block gas limit accepted (one plain transfer must fit).
pub const MIN_GAS_LIMIT: u64 = 21_000;
/// Largest block gas limit accepted.
pub const MAX_GAS_LIMIT: u64 = 10_000_000_000;

impl Genesis {
    /// Parse and validate a genesis document.
    pub fn from_json(text: &str) -> Result<Self, GenesisError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let genesis: Genesis = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            GenesisError::Parse { path, message: e.into_inner().to_string() }
        })?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Read, parse and validate a genesis file.
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| GenesisError::Io { path: path.display().to_string(), source })?;
        Self::from_json(&text)
    }

    /// Pretty JSON of this genesis.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Check the rules that types alone cannot express.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.chain_id == 0 {
            return Err(invalid("chainId", "must be greater than 0"));
        }
        if !(MIN_GAS_LIMIT..=MAX_GAS_LIMIT).contains(&self.gas_limit) {
            return Err(invalid("gasLimit", format!("must be between {MIN_GAS_LIMIT} and {MAX_GAS_LIMIT}")));
        }
        if self.fees.eip1559 && self.fees.initial_base_fee < self.fees.min_base_fee {
            return Err(invalid("fees.initialBaseFee", "must not be below fees.minBaseFee"));
        }
        if self.validators.is_empty() {
            return Err(invalid("validators", "at least one validator is required"));
        }
        if self.validators.len() > MAX_VALIDATORS {
            return Err(invalid("validators", format!("at most {MAX_VALIDATORS} validators")));
        }
        let mut keys = BTreeSet::new();
        let mut ml_dsa_keys = BTreeSet::new();
        let mut names = BTreeSet::new();
        let mut total: u64 = 0;
        for (i, v) in self.validators.iter().enumerate() {
            let field = format!("validators[{i}]");
            if v.name.trim().is_empty() {
                return Err(invalid(format!("{field}.name"), "must not be empty"));
            }
            if !names.insert(v.name.as_str()) {
                return Err(invalid(format!("{field}.name"), format!("duplicate validator name {:?}", v.name)));
            }
            if ed25519_dalek::VerifyingKey::from_bytes(&v.public_key.0).is_err() {
                return Err(invalid(format!("{field}.publicKey"), "not a valid ed25519 public key"));
            }
            if !keys.insert(v.public_key) {
                return Err(invalid(format!("{field}.publicKey"), "duplicate validator"));
            }
            if v.power == 0 {
                return Err(invalid(format!("{field}.power"), "must be at least 1"));
            }
            match (self.consensus_signatures, &v.ml_dsa_public_key) {
                (ConsensusSignatures::Ed25519, None) => {}
                (ConsensusSignatures::Ed25519, Some(_)) => {
                    return Err(invalid(
                        format!("{field}.mlDsaPublicKey"),
                        "only a chain with consensusSignatures \"ed25519+ml-dsa-65\" lists ML-DSA-65 keys",
                    ));
                }
                (ConsensusSignatures::Ed25519MlDsa65, None) => {
                    return Err(invalid(
                        format!("{field}.mlDsaPublicKey"),
                        "required: consensusSignatures is \"ed25519+ml-dsa-65\"",
                    ));
                }
                (ConsensusSignatures::Ed25519MlDsa65, Some(key)) => {
                    if dsec_sdk::pq::MlDsa65PublicKey::from_bytes(key).is_err() {
                        return Err(invalid(
                            format!("{field}.mlDsaPublicKey"),
                            format!("an ML-DSA-65 public key is 1,952 bytes, not {}", key.len()),
                        ));
                    }
                    if !ml_dsa_keys.insert(key) {
                        return Err(invalid(format!("{field}.mlDsaPublicKey"), "duplicate ML-DSA-65 key"));
                    }
                }
            }
            total = total.checked_add(v.power).filter(|t| *t <= MAX_TOTAL_POWER).ok_or_else(|| {
                invalid(format!("{field}.power"), format!("total voting power exceeds {MAX_TOTAL_POWER}"))
            })?;
        }
        for (address, account) in &self.alloc {
            if *address == dsec_sdk::chaincode::permissions::ADDRESS {
                return Err(invalid(format!("alloc.{address}"), "reserved for the permissions module"));
            }
            if !account.code.is_empty() && account.code.len() > 24_576 {
                return Err(invalid(format!("alloc.{address}.code"), "larger than the 24,576-byte code limit"));
            }
        }
        self.validate_permissions()?;
        let mut tenant_ids = BTreeSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if t.id.trim().is_empty() {
                return Err(invalid(format!("tenants[{i}].id"), "must not be empty"));
            }
            if !tenant_ids.insert(t.id.as_str()) {
                return Err(invalid(format!("tenants[{i}].id"), format!("duplicate tenant id {:?}", t.id)));
            }
        }
        Ok(())
    }

    fn validate_permissions(&self) -> Result<(), GenesisError> {
        use dsec_sdk::chaincode::permissions::{MAX_ADMINS, MAX_MODULE_NAME_LEN, is_peer_id};
        let p = &self.permissions;
        if p.admins.len() > MAX_ADMINS {
            return Err(invalid("permissions.admins", format!("at most {MAX_ADMINS} administrators")));
        }
        let mut seen = BTreeSet::new();
        for (i, admin) in p.admins.iter().enumerate() {
            if admin.is_zero() {
                return Err(invalid(format!("permissions.admins[{i}]"), "the zero address cannot administer"));
            }
            if !seen.insert(admin) {
                return Err(invalid(format!("permissions.admins[{i}]"), format!("duplicate administrator {admin}")));
            }
        }
        if let Some(threshold) = p.admin_threshold {
            let admins = p.admins.len() as u64;
            if threshold == 0 || (admins > 0 && threshold > admins) {
                return Err(invalid(
                    "permissions.adminThreshold",
                    format!("must be between 1 and the number of administrators ({admins})"),
                ));
            }
        }
        for (i, peer) in p.nodes.iter().enumerate() {
            if !is_peer_id(peer) {
                return Err(invalid(
                    format!("permissions.nodes[{i}]"),
                    format!("{peer:?} is not a base58 libp2p peer id"),
                ));
            }
        }
        for name in self.chaincode.keys() {
            if name.len() > MAX_MODULE_NAME_LEN {
                return Err(invalid(
                    format!("chaincode.{name}"),
                    format!("module names are at most {MAX_MODULE_NAME_LEN} bytes"),
                ));
            }
        }
        Ok(())
    }

    /// The permissions module's state at height 0, from the `permissions`
    /// section and the administrators of each enabled chaincode module.
    pub fn permissions_seed(&self) -> dsec_sdk::chaincode::permissions::Seed {
        let p = &self.permissions;
        dsec_sdk::chaincode::permissions::Seed {
            admins: p.admins.clone(),
            threshold: p.admin_threshold.unwrap_or(1),
            accounts: p.senders.clone(),
            deployers: p.deployers.clone(),
            nodes: p.nodes.clone(),
            module_admins: self.enabled_chaincode().map(|(name, m)| (name.to_string(), m.admins.clone())).collect(),
        }
    }

    /// The chaincode modules the genesis enables, by name.
    pub fn enabled_chaincode(&self) -> impl Iterator<Item = (&str, &ChaincodeModule)> {
        self.chaincode.iter().filter(|(_, m)| m.enabled).map(|(name, m)| (name.as_str(), m))
    }

    /// The initial validator set.
    pub fn validator_set(&self) -> ValidatorSet {
        ValidatorSet::new(
            self.validators
                .iter()
                .map(|v| Validator {
                    address: validator_address(&v.public_key.0),
                    public_key: v.public_key,
                    power: v.power,
                    ml_dsa_public_key: v.ml_dsa_public_key.clone(),
                })
                .collect(),
        )
    }

    /// keccak-256 of the canonical serialisation of the parsed file.
    pub fn config_hash(&self) -> B256 {
        keccak256(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The allocations, and the permissions module's seeded storage, as the state changes of block 0.
    pub fn state_changes(&self) -> StateChanges {
        use dsec_sdk::chaincode::permissions;
        let mut changes = StateChanges::default();
        // The permissions module's account: its storage and the one-byte
        // marker code every module account carries (so it is never empty).
        let marker = Bytes::from_static(&[0xfe]);
        changes.accounts.insert(
            permissions::ADDRESS,
            AccountChange {
                info: Some(AccountState { nonce: 0, balance: U256::ZERO, code_hash: keccak256(&marker) }),
                storage: permissions::genesis_storage(&self.permissions_seed()),
                new_code: Some(marker),
            },
        );
        for (address, account) in &self.alloc {
            let code_hash = if account.code.is_empty() { KECCAK256_EMPTY } else { keccak256(&account.code) };
            changes.accounts.insert(
                *address,
                AccountChange {
                    info: Some(AccountState { nonce: account.nonce, balance: account.balance, code_hash }),
                    storage: account.storage.iter().filter(|(_, v)| !v.is_zero()).map(|(k, v)| (*k, *v)).collect(),
                    new_code: (!account.code.is_empty()).then(|| account.code.clone()),
                },
            );
        }
        changes
    }

    /// Base fee of block 1.
    pub fn initial_base_fee(&self) -> u64 {
        if self.fees.eip1559 { self.fees.initial_base_fee.max(self.fees.min_base_fee) } else { 0 }
    }

    /// The genesis block (block 0) header.
    pub fn header(&self) -> Header {
        let validators_hash = self.validator_set().hash();
        Header {
            parent_hash: self.config_hash(),
            number: 0,
            timestamp_ms: self.timestamp_ms,
            proposer: Address::ZERO,
            beneficiary: Address::ZERO,
            gas_limit: self.gas_limit,
            gas_used: 0,
            base_fee_per_gas: self.initial_base_fee(),
            transactions_root: alloy_trie::EMPTY_ROOT_HASH,
            receipts_root: alloy_trie::EMPTY_ROOT_HASH,
            logs_bloom: Default::default(),
            state_root: next_state_root(&B256::ZERO, &self.state_changes()),
            validators_hash,
            next_validators_hash: validators_hash,
        }
    }

    /// The genesis block: its header and an empty body.
    pub fn block(&self) -> (Header, Body) {
        (self.header(), Body::default())
    }

    /// The genesis hash, which identifies the chain.
    pub fn hash(&self) -> B256 {
        self.header().hash_slow()
    }

    /// What proof bundles of this chain are verified against
    /// ([`dsec_sdk::proof::verify`]): its genesis hash, chain id and initial validator set.
    pub fn trust_root(&self) -> dsec_sdk::proof::TrustRoot {
        dsec_sdk::proof::TrustRoot {
            genesis_hash: self.hash(),
            chain_id: self.chain_id,
            validators: self.validator_set(),
        }
    }
}

fn bytes_is_empty(b: &Bytes) -> bool {
    b.is_empty()
}

/// Deserialize a map, refusing duplicate keys (serde_json keeps the last one silently).
fn unique_map<'de, D, K, V>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + std::fmt::Debug,
    V: Deserialize<'de>,
{
    struct Visitor<K, V>(std::marker::PhantomData<(K, V)>);
    impl<'de, K, V> de::Visitor<'de> for Visitor<K, V>
    where
        K: Deserialize<'de> + Ord + std::fmt::Debug,
        V: Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map with unique keys")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<K>()? {
                if out.contains_key(&key) {
                    return Err(de::Error::custom(format!("duplicate key {key:?}")));
                }
                let value = map.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(Visitor(std::marker::PhantomData))
}

/// Deserialize a U256 from a `0x` hex quantity, a decimal string or a JSON number.
fn u256_quantity<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Number(n) => Ok(U256::from(n)),
        Raw::Text(s) => {
            let parsed = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                U256::from_str_radix(hex, 16)
            } else {
                U256::from_str_radix(&s, 10)
            };
            parsed.map_err(|e| de::Error::custom(format!("invalid amount {s:?}: {e}")))
        }
    }
}

#[cfg(test)]
mod tests;
