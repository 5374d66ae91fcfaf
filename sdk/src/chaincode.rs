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

    /// KYC status: approved.
    pub const KYC_APPROVED: u8 = 1;
    /// KYC status: frozen (can neither send nor receive).
    pub const KYC_FROZEN: u8 = 2;
    /// KYC statuses by name, as the CLI takes them.
    pub const KYC_STATUSES: [(&str, u8); 3] = [("none", 0), ("approved", KYC_APPROVED), ("frozen", KYC_FROZEN)];
    /// Role: compliance officer (reviews holds, sets KYC records).
    pub const ROLE_COMPLIANCE: u8 = 1;
    /// Role: FX provider.
    pub const ROLE_FX_PROVIDER: u8 = 2;
    /// Role: compliance administrator (sets hold thresholds and daily limits).
    pub const ROLE_COMPLIANCE_ADMIN: u8 = 3;
    /// Roles by name, as the CLI takes them.
    pub const ROLES: [(&str, u8); 4] = [
        ("none", 0),
        ("compliance", ROLE_COMPLIANCE),
        ("fx", ROLE_FX_PROVIDER),
        ("compliance-admin", ROLE_COMPLIANCE_ADMIN),
    ];
    /// Payment kind: a transfer.
    pub const KIND_TRANSFER: u8 = 1;
    /// Payment kind: an FX payment.
    pub const KIND_FX: u8 = 2;
    /// Payment kind: a payment-versus-payment.
    pub const KIND_PVP: u8 = 3;
    /// Hold reason: a leg above its currency's threshold.
    pub const REASON_THRESHOLD: u8 = 1;
    /// Hold reason: the paying party's daily limit in the currency would be exceeded.
    pub const REASON_DAILY_LIMIT: u8 = 2;

    /// The name of a payment kind.
    pub fn kind_name(kind: u8) -> &'static str {
        match kind {
            KIND_TRANSFER => "transfer",
            KIND_FX => "fx",
            KIND_PVP => "pvp",
            _ => "unknown",
        }
    }

    /// Why a hold was opened, in words.
    pub fn reason_text(reason: u8) -> &'static str {
        match reason {
            REASON_THRESHOLD => "above the currency's threshold",
            REASON_DAILY_LIMIT => "beyond the payer's daily limit",
            _ => "unknown reason",
        }
    }

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

    /// Transport mode: road.
    pub const MODE_ROAD: u8 = 1;
    /// Transport mode: rail.
    pub const MODE_RAIL: u8 = 2;
    /// Transport mode: sea.
    pub const MODE_SEA: u8 = 3;
    /// Transport mode: air.
    pub const MODE_AIR: u8 = 4;
    /// Transport mode: inland waterway.
    pub const MODE_INLAND_WATERWAY: u8 = 5;

    /// Role: shipper (creates shipments).
    pub const ROLE_SHIPPER: u8 = 1;
    /// Role: carrier.
    pub const ROLE_CARRIER: u8 = 2;
    /// Role: port or warehouse operator.
    pub const ROLE_PORT_OPERATOR: u8 = 3;
    /// Role: customs authority (records customs decisions).
    pub const ROLE_CUSTOMS: u8 = 4;
    /// Role: consignee (receives shipments).
    pub const ROLE_CONSIGNEE: u8 = 5;

    /// The transport modes by number and by the name the CLI takes (`--leg FROM:TO:MODE:KM`).
    pub const MODES: [(u8, &str); 5] = [
        (MODE_ROAD, "road"),
        (MODE_RAIL, "rail"),
        (MODE_SEA, "sea"),
        (MODE_AIR, "air"),
        (MODE_INLAND_WATERWAY, "inland-waterway"),
    ];

    /// The party roles by number and by the name the CLI takes (`--role`).
    pub const ROLES: [(u8, &str); 5] = [
        (ROLE_SHIPPER, "shipper"),
        (ROLE_CARRIER, "carrier"),
        (ROLE_PORT_OPERATOR, "port"),
        (ROLE_CUSTOMS, "customs"),
        (ROLE_CONSIGNEE, "consignee"),
    ];

    /// The name of transport mode `mode`, or `unknown`.
    pub fn mode_name(mode: u8) -> &'static str {
        MODES.iter().find(|(m, _)| *m == mode).map_or("unknown", |(_, name)| name)
    }

    /// The name of party role `role`, or `unknown`.
    pub fn role_name(role: u8) -> &'static str {
        ROLES.iter().find(|(r, _)| *r == role).map_or("unknown", |(_, name)| name)
    }

    /// A UN/LOCODE (`bytes5`) as text.
    pub fn locode_text(code: &alloy_primitives::FixedBytes<5>) -> String {
        String::from_utf8_lossy(code.as_slice()).into_owned()
    }

    /// Emission factor of a transport mode in grams CO2e per tonne-km (`None`
    /// for an unknown mode): road 62, rail 22, sea 8, air 602, inland waterway 31.
    pub fn emission_factor(mode: u8) -> Option<u64> {
        match mode {
            MODE_ROAD => Some(62),
            MODE_RAIL => Some(22),
            MODE_SEA => Some(8),
            MODE_AIR => Some(602),
            MODE_INLAND_WATERWAY => Some(31),
            _ => None,
        }
    }

    /// kg CO2e of carrying `weight_kg` over `distance_km` by `mode`:
    /// `distance_km × weight_kg × factor / 1_000_000`, rounded down (`None` for an
    /// unknown mode).
    pub fn leg_carbon_kg(distance_km: u32, weight_kg: u32, mode: u8) -> Option<u64> {
        let factor = u128::from(emission_factor(mode)?);
        let grams_per_kilo_tonne = u128::from(distance_km).checked_mul(u128::from(weight_kg))?.checked_mul(factor)?;
        u64::try_from(grams_per_kilo_tonne / 1_000_000).ok()
    }

    /// A shipment id from what people write: 32 bytes of hex as they are, any
    /// other text (a purchase-order number such as `PO-4711`) by its keccak-256.
    pub fn shipment_id(text: &str) -> B256 {
        text.parse::<B256>().unwrap_or_else(|_| keccak256(text.as_bytes()))
    }

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
            .map(|v| IValidatorSet::ValidatorInfo {
                publicKey: v.public_key,
                power: v.power,
                mlDsaPublicKey: v.ml_dsa_public_key.clone().unwrap_or_default(),
            })
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
                    ml_dsa_public_key: (!i.mlDsaPublicKey.is_empty()).then(|| i.mlDsaPublicKey.clone()),
                })
                .collect(),
        )
    }
}

/// The storage slot of `tag` keyed by `keys`, as chaincode modules lay out
/// their storage (like Solidity mappings: `keccak256(keccak256(tag) ‖ keys…)`,
/// each key left-padded to 32 bytes).
pub fn storage_slot(tag: &str, keys: &[&[u8]]) -> alloy_primitives::U256 {
    use alloy_primitives::keccak256;
    let mut buf = Vec::with_capacity(32 * (keys.len() + 1));
    buf.extend_from_slice(keccak256(tag.as_bytes()).as_slice());
    for key in keys {
        let mut word = [0u8; 32];
        let n = key.len().min(32);
        word[32 - n..].copy_from_slice(&key[key.len() - n..]);
        buf.extend_from_slice(&word);
    }
    alloy_primitives::U256::from_be_bytes(keccak256(&buf).0)
}

/// Permissions (a system module, present on every chain): who may send, who
/// may deploy, which nodes may connect, who administers each chaincode module
/// and who administers all of this. Its storage is seeded by the genesis
/// ([`permissions::genesis_storage`]), so the genesis state root commits to it.
pub mod permissions {
    use super::storage_slot;
    use alloy::sol_types::SolValue;
    use alloy_primitives::{Address, B256, U256, address, keccak256};
    use std::collections::BTreeMap;

    mod bindings {
        alloy::sol!(
            #[sol(all_derives)]
            "../chaincode/sol/IPermissions.sol"
        );
    }
    pub use bindings::IPermissions;

    /// Where the module lives.
    pub const ADDRESS: Address = address!("0x00000000000000000000000000000000da5ec004");

    /// Domain tag of change digests (keccak-256 of this text is the first word).
    pub const CHANGE_DOMAIN: &str = "dsec.permissions.change.v1";
    /// Domain tag of administrator-replacement digests signed by validators.
    pub const ADMINS_DOMAIN: &str = "dsec.permissions.admins.v1";

    /// Most permission administrators.
    pub const MAX_ADMINS: usize = 32;
    /// Most bytes of a node's peer id (base58 libp2p peer ids are 46 to 53 characters).
    pub const MAX_PEER_ID_LEN: usize = 64;
    /// Most bytes of a module name.
    pub const MAX_MODULE_NAME_LEN: usize = 31;

    /// The set of accounts allowed to send (allowlist mode).
    pub const ACCOUNTS: &str = "accounts";
    /// The set of accounts refused in any mode.
    pub const BLOCKED: &str = "blocked";
    /// The set of accounts allowed to create contracts (deployer allowlist mode).
    pub const DEPLOYERS: &str = "deployers";
    /// The set of non-validator nodes allowed to connect (keys: keccak-256 of the peer id).
    pub const NODES: &str = "nodes";
    /// The set of permission administrators.
    pub const ADMINS: &str = "admins";

    /// The set holding the administrators of chaincode module `module`.
    pub fn module_set(module: &str) -> String {
        format!("module/{module}")
    }

    /// Slot of the number of members of `set`.
    pub fn set_len_slot(set: &str) -> U256 {
        storage_slot("perm.set.len", &[keccak256(set.as_bytes()).as_slice()])
    }

    /// Slot of member `index` (0-based) of `set`.
    pub fn set_item_slot(set: &str, index: u64) -> U256 {
        storage_slot("perm.set.item", &[keccak256(set.as_bytes()).as_slice(), &index.to_be_bytes()])
    }

    /// Slot holding the position plus one of `key` in `set` (zero: not a member).
    pub fn set_index_slot(set: &str, key: &B256) -> U256 {
        storage_slot("perm.set.index", &[keccak256(set.as_bytes()).as_slice(), key.as_slice()])
    }

    /// Slot of the byte length of the text stored under `key` (node peer ids).
    pub fn text_len_slot(key: &B256) -> U256 {
        storage_slot("perm.text.len", &[key.as_slice()])
    }

    /// Slot of word `index` of the text stored under `key`.
    pub fn text_word_slot(key: &B256, index: u64) -> U256 {
        storage_slot("perm.text.word", &[key.as_slice(), &index.to_be_bytes()])
    }

    /// Slot of the account-allowlist flag (non-zero: allowlist mode).
    pub fn account_allowlist_slot() -> U256 {
        storage_slot("perm.accounts.allowlist", &[])
    }

    /// Slot of the deployer-allowlist flag (non-zero: only listed deployers create).
    pub fn deployer_allowlist_slot() -> U256 {
        storage_slot("perm.deployers.allowlist", &[])
    }

    /// Slot of the administrators' threshold.
    pub fn threshold_slot() -> U256 {
        storage_slot("perm.threshold", &[])
    }

    /// Slot of the change nonce.
    pub fn nonce_slot() -> U256 {
        storage_slot("perm.nonce", &[])
    }

    /// Slot set to 1 when the genesis seeded the module (modules tested alone
    /// find it zero and use the administrators of their own configuration).
    pub fn seeded_slot() -> U256 {
        storage_slot("perm.seeded", &[])
    }

    /// The 32-byte set key of an account.
    pub fn account_key(account: &Address) -> B256 {
        account.into_word()
    }

    /// The 32-byte set key of a node's peer id.
    pub fn node_key(peer_id: &str) -> B256 {
        keccak256(peer_id.as_bytes())
    }

    /// What the genesis declares: the module's state at height 0.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Seed {
        /// Permission administrators.
        pub admins: Vec<Address>,
        /// Administrators a change needs (at least 1).
        pub threshold: u64,
        /// The account allowlist (`None`: open mode).
        pub accounts: Option<Vec<Address>>,
        /// The deployer allowlist (`None`: every permitted sender may deploy).
        pub deployers: Option<Vec<Address>>,
        /// Peer ids of non-validator nodes allowed to connect.
        pub nodes: Vec<String>,
        /// Administrators of each chaincode module, by module name.
        pub module_admins: BTreeMap<String, Vec<Address>>,
    }

    /// The storage the genesis gives the module (zero slots left out).
    pub fn genesis_storage(seed: &Seed) -> BTreeMap<U256, U256> {
        let mut storage = BTreeMap::new();
        let add_set = |storage: &mut BTreeMap<U256, U256>, set: &str, keys: &[B256]| {
            let mut count = 0u64;
            for key in keys {
                let index_slot = set_index_slot(set, key);
                if storage.contains_key(&index_slot) {
                    continue;
                }
                storage.insert(set_item_slot(set, count), U256::from_be_bytes(key.0));
                count += 1;
                storage.insert(index_slot, U256::from(count));
            }
            if count > 0 {
                storage.insert(set_len_slot(set), U256::from(count));
            }
        };
        let addresses = |list: &[Address]| list.iter().map(account_key).collect::<Vec<_>>();
        add_set(&mut storage, ADMINS, &addresses(&seed.admins));
        if let Some(accounts) = &seed.accounts {
            storage.insert(account_allowlist_slot(), U256::from(1));
            add_set(&mut storage, ACCOUNTS, &addresses(accounts));
        }
        if let Some(deployers) = &seed.deployers {
            storage.insert(deployer_allowlist_slot(), U256::from(1));
            add_set(&mut storage, DEPLOYERS, &addresses(deployers));
        }
        add_set(&mut storage, NODES, &seed.nodes.iter().map(|p| node_key(p)).collect::<Vec<_>>());
        for peer in &seed.nodes {
            for (slot, value) in text_slots(&node_key(peer), peer) {
                storage.insert(slot, value);
            }
        }
        for (module, admins) in &seed.module_admins {
            add_set(&mut storage, &module_set(module), &addresses(admins));
        }
        storage.insert(threshold_slot(), U256::from(seed.threshold.max(1)));
        storage.insert(seeded_slot(), U256::from(1));
        storage.retain(|_, v| !v.is_zero());
        storage
    }

    /// The slots and values that store `text` under `key`: its length, then its bytes in 32-byte words.
    pub fn text_slots(key: &B256, text: &str) -> Vec<(U256, U256)> {
        let bytes = text.as_bytes();
        let mut out = vec![(text_len_slot(key), U256::from(bytes.len()))];
        for (i, chunk) in (0u64..).zip(bytes.chunks(32)) {
            let mut word = [0u8; 32];
            word[..chunk.len()].copy_from_slice(chunk);
            out.push((text_word_slot(key, i), U256::from_be_bytes(word)));
        }
        out
    }

    /// Whether `peer_id` looks like a libp2p peer id in base58 (a multihash of an
    /// ed25519 key, `12D3KooW…`, or of a longer key, `Qm…`): base58 characters only,
    /// 40 to [`MAX_PEER_ID_LEN`] of them.
    pub fn is_peer_id(peer_id: &str) -> bool {
        const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
        (40..=MAX_PEER_ID_LEN).contains(&peer_id.len()) && peer_id.bytes().all(|b| BASE58.contains(&b))
    }

    /// The digest administrators sign (as an EIP-191 personal message) to approve
    /// `change` (a change function's calldata) as change number `nonce` on the
    /// chain whose genesis hash is `chain_hash`:
    /// `keccak256(abi.encode(keccak256(CHANGE_DOMAIN), chainHash, address(module), nonce, keccak256(change)))`.
    pub fn change_digest(chain_hash: &B256, nonce: u64, change: &[u8]) -> B256 {
        keccak256((keccak256(CHANGE_DOMAIN), *chain_hash, ADDRESS, nonce, keccak256(change)).abi_encode_params())
    }

    /// The digest validators sign (the 32 bytes, with their ed25519 consensus key)
    /// to replace the administrators at change number `nonce`:
    /// `keccak256(abi.encode(keccak256(ADMINS_DOMAIN), chainHash, address(module), nonce, admins, threshold))`.
    pub fn admins_digest(chain_hash: &B256, nonce: u64, admins: &[Address], threshold: u64) -> B256 {
        keccak256(
            (keccak256(ADMINS_DOMAIN), *chain_hash, ADDRESS, nonce, admins.to_vec(), threshold).abi_encode_params(),
        )
    }

    /// The prehash an administrator's signature covers: the EIP-191 personal
    /// message of the 32 digest bytes (what `eth_sign` and wallets sign).
    pub fn approval_prehash(digest: &B256) -> B256 {
        alloy_primitives::eip191_hash_message(digest.as_slice())
    }

    /// An administrator's approval of `digest`: 65 bytes, `r ‖ s ‖ v` with `v` 27 or 28.
    pub fn sign_approval(key: &crate::tx::LocalKey, digest: &B256) -> alloy_primitives::Bytes {
        key.sign_prehash(&approval_prehash(digest)).as_bytes().to_vec().into()
    }

    /// The administrator whose approval `signature` is of `digest`, if it is a well-formed signature.
    pub fn approval_signer(digest: &B256, signature: &[u8]) -> Option<Address> {
        let signature = alloy_primitives::Signature::from_raw(signature).ok()?;
        crate::tx::recover_prehash(&approval_prehash(digest), &signature).ok()
    }
}
