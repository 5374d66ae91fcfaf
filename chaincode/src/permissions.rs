//! Permissions: the system module holding who may send transactions, who may
//! create contracts, which non-validator nodes may connect, who administers
//! each chaincode module, and who administers all of this.
//!
//! Its storage is seeded by the genesis file (so the genesis state root
//! commits to it) and changed by transactions: directly by an administrator
//! when the threshold is 1, or through `execute` with the signatures of
//! `threshold` administrators over [`change_digest`] (EIP-191 personal
//! messages, as wallets sign them), each signature charged
//! [`ECRECOVER_GAS`]. Every change advances the nonce the digest binds, so an
//! approval cannot be replayed. Validators holding more than two thirds of the
//! current voting power can always replace the administrators
//! (`replaceAdmins`): their approvals are checked exactly as the validator-set
//! module checks a change ([`crate::validator_set`]).
//!
//! The rules bind from the next block: the node reads this module's committed
//! storage after every block that changed it ([`read_state`]) and applies the
//! lists to every transaction of the blocks it builds and validates. Modules
//! ask [`is_module_admin`] whether a caller administers them.
//!
//! The Solidity interface is `chaincode/sol/IPermissions.sol`.

use crate::storage::{load_u64, store_u64};
use crate::validator_set::ValidatorGovernance;
use crate::{Call, Chaincode, Failure, Host};
use alloy::sol_types::{SolCall, SolEvent, SolInterface};
use alloy_primitives::{Address, B256, Bytes, U256};
use std::collections::HashSet;
use std::sync::Arc;

use IPermissions::IPermissionsCalls as Calls;
pub use dsec_sdk::chaincode::permissions::{
    ACCOUNTS, ADDRESS, ADMINS, BLOCKED, DEPLOYERS, IPermissions, MAX_ADMINS, MAX_PEER_ID_LEN, NODES, admins_digest,
    change_digest,
};
use dsec_sdk::chaincode::permissions::{
    account_allowlist_slot, account_key, approval_signer, deployer_allowlist_slot, is_peer_id, module_set, node_key,
    nonce_slot, seeded_slot, set_index_slot, set_item_slot, set_len_slot, text_len_slot, text_slots, text_word_slot,
    threshold_slot,
};

/// Gas charged per administrator signature recovered (the `ECRECOVER` precompile's price).
pub const ECRECOVER_GAS: u64 = 3_000;

fn reason(message: impl std::fmt::Display) -> Failure {
    Failure::reason(format!("permissions: {message}"))
}

/// The permissions module of one chain.
#[derive(Debug, Clone)]
pub struct Permissions {
    chain_hash: B256,
    governance: ValidatorGovernance,
    modules: Vec<String>,
}

impl Permissions {
    /// The module of the chain whose genesis hash is `chain_hash`; `governance`
    /// is the chain's validator-set module (whose validators may replace the
    /// administrators) and `modules` the names of its enabled chaincode modules.
    pub fn new(chain_hash: B256, governance: ValidatorGovernance, modules: Vec<String>) -> Self {
        Self { chain_hash, governance, modules }
    }

    /// The module as a registry entry.
    pub fn into_module(self) -> Arc<dyn Chaincode> {
        Arc::new(self)
    }
}

// ---- sets in storage: members by index, and each key's index plus one ----

fn word(value: U256) -> B256 {
    B256::from(value.to_be_bytes::<32>())
}

fn contains(host: &mut dyn Host, set: &str, key: &B256) -> Result<bool, Failure> {
    Ok(!host.sload(set_index_slot(set, key))?.is_zero())
}

fn insert(host: &mut dyn Host, set: &str, key: &B256) -> Result<bool, Failure> {
    if contains(host, set, key)? {
        return Ok(false);
    }
    let len = load_u64(host, set_len_slot(set))?;
    let next = len.checked_add(1).ok_or_else(|| reason("the list is full"))?;
    host.sstore(set_item_slot(set, len), U256::from_be_bytes(key.0))?;
    store_u64(host, set_index_slot(set, key), next)?;
    store_u64(host, set_len_slot(set), next)?;
    Ok(true)
}

fn remove(host: &mut dyn Host, set: &str, key: &B256) -> Result<bool, Failure> {
    let position = load_u64(host, set_index_slot(set, key))?;
    let Some(index) = position.checked_sub(1) else { return Ok(false) };
    let len = load_u64(host, set_len_slot(set))?;
    let last = len.checked_sub(1).ok_or_else(|| Failure::Fatal(format!("permissions: set {set} is inconsistent")))?;
    if index != last {
        let moved = word(host.sload(set_item_slot(set, last))?);
        host.sstore(set_item_slot(set, index), U256::from_be_bytes(moved.0))?;
        store_u64(host, set_index_slot(set, &moved), position)?;
    }
    host.sstore(set_item_slot(set, last), U256::ZERO)?;
    host.sstore(set_index_slot(set, key), U256::ZERO)?;
    store_u64(host, set_len_slot(set), last)?;
    Ok(true)
}

fn members(host: &mut dyn Host, set: &str) -> Result<Vec<B256>, Failure> {
    let len = load_u64(host, set_len_slot(set))?;
    let mut out = Vec::new();
    for i in 0..len {
        out.push(word(host.sload(set_item_slot(set, i))?));
    }
    Ok(out)
}

fn addresses(keys: Vec<B256>) -> Vec<Address> {
    keys.into_iter().map(Address::from_word).collect()
}

fn load_text(host: &mut dyn Host, key: &B256) -> Result<String, Failure> {
    let len = usize::try_from(load_u64(host, text_len_slot(key))?).unwrap_or(usize::MAX).min(MAX_PEER_ID_LEN);
    let mut bytes = Vec::with_capacity(len);
    for i in 0u64.. {
        if bytes.len() >= len {
            break;
        }
        let w = host.sload(text_word_slot(key, i))?.to_be_bytes::<32>();
        let take = (len - bytes.len()).min(32);
        bytes.extend_from_slice(&w[..take]);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn flag(host: &mut dyn Host, slot: U256) -> Result<bool, Failure> {
    Ok(!host.sload(slot)?.is_zero())
}

fn may_transact(host: &mut dyn Host, account: &Address) -> Result<bool, Failure> {
    let key = account_key(account);
    if contains(host, ADMINS, &key)? {
        return Ok(true);
    }
    if contains(host, BLOCKED, &key)? {
        return Ok(false);
    }
    Ok(!flag(host, account_allowlist_slot())? || contains(host, ACCOUNTS, &key)?)
}

fn may_deploy(host: &mut dyn Host, account: &Address) -> Result<bool, Failure> {
    Ok(may_transact(host, account)?
        && (!flag(host, deployer_allowlist_slot())? || contains(host, DEPLOYERS, &account_key(account))?))
}

fn emit(host: &mut dyn Host, log: alloy_primitives::LogData) -> Result<(), Failure> {
    host.emit(log.topics().to_vec(), log.data)
}

/// Whether a call changes state (the change functions, `execute` and `replaceAdmins`).
fn writes(call: &Calls) -> bool {
    is_change(call) || matches!(call, Calls::execute(_) | Calls::replaceAdmins(_))
}

/// Whether a call is one of the change functions `execute` may carry.
fn is_change(call: &Calls) -> bool {
    matches!(
        call,
        Calls::addAccount(_)
            | Calls::removeAccount(_)
            | Calls::blockAccount(_)
            | Calls::unblockAccount(_)
            | Calls::setAccountAllowlist(_)
            | Calls::addDeployer(_)
            | Calls::removeDeployer(_)
            | Calls::setDeployerAllowlist(_)
            | Calls::addNode(_)
            | Calls::removeNode(_)
            | Calls::addModuleAdmin(_)
            | Calls::removeModuleAdmin(_)
            | Calls::setAdmins(_)
    )
}

/// A read-only view of another module's storage through the host, so the
/// validator-set module's own code reads its schedule.
struct Foreign<'a> {
    host: &'a mut dyn Host,
    address: Address,
}

impl Host for Foreign<'_> {
    fn sload(&mut self, slot: U256) -> Result<U256, Failure> {
        self.host.sload_at(self.address, slot)
    }
    fn sload_at(&mut self, address: Address, slot: U256) -> Result<U256, Failure> {
        self.host.sload_at(address, slot)
    }
    fn sstore(&mut self, _: U256, _: U256) -> Result<(), Failure> {
        Err(Failure::Fatal("permissions: the validator-set storage is read-only here".into()))
    }
    fn emit(&mut self, _: Vec<B256>, _: Bytes) -> Result<(), Failure> {
        Err(Failure::Fatal("permissions: the validator-set storage is read-only here".into()))
    }
    fn charge(&mut self, gas: u64) -> Result<(), Failure> {
        self.host.charge(gas)
    }
    fn block_number(&self) -> u64 {
        self.host.block_number()
    }
    fn timestamp(&self) -> u64 {
        self.host.timestamp()
    }
}

impl Permissions {
    fn check_module(&self, module: &str) -> Result<(), Failure> {
        if self.modules.iter().any(|m| m == module) {
            Ok(())
        } else {
            Err(reason(format!("no chaincode module {module:?} on this chain (modules: {})", self.modules.join(", "))))
        }
    }

    fn check_admins(admins: &[Address], threshold: u64) -> Result<(), Failure> {
        if admins.len() > MAX_ADMINS {
            return Err(reason(format!("at most {MAX_ADMINS} administrators")));
        }
        let mut seen = HashSet::with_capacity(admins.len());
        for admin in admins {
            if admin.is_zero() {
                return Err(reason("the zero address cannot administer"));
            }
            if !seen.insert(admin) {
                return Err(reason(format!("administrator {admin} appears twice")));
            }
        }
        let count = u64::try_from(admins.len()).unwrap_or(u64::MAX);
        if threshold == 0 || (count > 0 && threshold > count) {
            return Err(reason(format!("the threshold must be between 1 and the number of administrators ({count})")));
        }
        Ok(())
    }

    fn set_admins(host: &mut dyn Host, admins: &[Address], threshold: u64) -> Result<(), Failure> {
        Self::check_admins(admins, threshold)?;
        for old in members(host, ADMINS)? {
            remove(host, ADMINS, &old)?;
        }
        for admin in admins {
            insert(host, ADMINS, &account_key(admin))?;
        }
        store_u64(host, threshold_slot(), threshold)?;
        emit(host, IPermissions::AdminsChanged { admins: admins.to_vec(), threshold }.encode_log_data())
    }

    /// Add to or remove from an address list, failing when nothing would change.
    fn change_list(host: &mut dyn Host, set: &str, account: &Address, add: bool, list: &str) -> Result<(), Failure> {
        let key = account_key(account);
        let changed = if add { insert(host, set, &key)? } else { remove(host, set, &key)? };
        if !changed {
            let state = if add { "already on" } else { "not on" };
            return Err(reason(format!("{account} is {state} the {list}")));
        }
        Ok(())
    }

    fn set_flag(host: &mut dyn Host, slot: U256, enabled: bool) -> Result<(), Failure> {
        host.sstore(slot, U256::from(u8::from(enabled)))
    }

    /// Make one change, approved by `approvers`; advances the nonce and emits its events.
    fn apply(&self, host: &mut dyn Host, change: Calls, approvers: Vec<Address>) -> Result<(), Failure> {
        let selector = change.selector();
        match change {
            Calls::addAccount(c) => {
                Self::change_list(host, ACCOUNTS, &c.account, true, "account list")?;
                emit(host, IPermissions::AccountAdded { account: c.account }.encode_log_data())?;
            }
            Calls::removeAccount(c) => {
                Self::change_list(host, ACCOUNTS, &c.account, false, "account list")?;
                emit(host, IPermissions::AccountRemoved { account: c.account }.encode_log_data())?;
            }
            Calls::blockAccount(c) => {
                Self::change_list(host, BLOCKED, &c.account, true, "blocklist")?;
                emit(host, IPermissions::AccountBlocked { account: c.account }.encode_log_data())?;
            }
            Calls::unblockAccount(c) => {
                Self::change_list(host, BLOCKED, &c.account, false, "blocklist")?;
                emit(host, IPermissions::AccountUnblocked { account: c.account }.encode_log_data())?;
            }
            Calls::setAccountAllowlist(c) => {
                Self::set_flag(host, account_allowlist_slot(), c.enabled)?;
                emit(host, IPermissions::AccountAllowlistChanged { enabled: c.enabled }.encode_log_data())?;
            }
            Calls::addDeployer(c) => {
                Self::change_list(host, DEPLOYERS, &c.account, true, "deployer list")?;
                emit(host, IPermissions::DeployerAdded { account: c.account }.encode_log_data())?;
            }
            Calls::removeDeployer(c) => {
                Self::change_list(host, DEPLOYERS, &c.account, false, "deployer list")?;
                emit(host, IPermissions::DeployerRemoved { account: c.account }.encode_log_data())?;
            }
            Calls::setDeployerAllowlist(c) => {
                Self::set_flag(host, deployer_allowlist_slot(), c.enabled)?;
                emit(host, IPermissions::DeployerAllowlistChanged { enabled: c.enabled }.encode_log_data())?;
            }
            Calls::addNode(c) => {
                if !is_peer_id(&c.peerId) {
                    return Err(reason(format!("{:?} is not a base58 libp2p peer id", c.peerId)));
                }
                let key = node_key(&c.peerId);
                if !insert(host, NODES, &key)? {
                    return Err(reason(format!("node {} is already on the node list", c.peerId)));
                }
                for (slot, value) in text_slots(&key, &c.peerId) {
                    host.sstore(slot, value)?;
                }
                emit(host, IPermissions::NodeAdded { peerId: c.peerId }.encode_log_data())?;
            }
            Calls::removeNode(c) => {
                let key = node_key(&c.peerId);
                if !remove(host, NODES, &key)? {
                    return Err(reason(format!("node {} is not on the node list", c.peerId)));
                }
                for (slot, _) in text_slots(&key, &c.peerId) {
                    host.sstore(slot, U256::ZERO)?;
                }
                emit(host, IPermissions::NodeRemoved { peerId: c.peerId }.encode_log_data())?;
            }
            Calls::addModuleAdmin(c) => {
                self.check_module(&c.module)?;
                if c.admin.is_zero() {
                    return Err(reason("the zero address cannot administer"));
                }
                let list = format!("administrators of {}", c.module);
                Self::change_list(host, &module_set(&c.module), &c.admin, true, &list)?;
                emit(host, IPermissions::ModuleAdminAdded { module: c.module, admin: c.admin }.encode_log_data())?;
            }
            Calls::removeModuleAdmin(c) => {
                self.check_module(&c.module)?;
                let list = format!("administrators of {}", c.module);
                Self::change_list(host, &module_set(&c.module), &c.admin, false, &list)?;
                emit(host, IPermissions::ModuleAdminRemoved { module: c.module, admin: c.admin }.encode_log_data())?;
            }
            Calls::setAdmins(c) => Self::set_admins(host, &c.admins, c.threshold)?,
            _ => return Err(reason("not a change function")),
        }
        self.advance(host, selector, approvers)
    }

    fn advance(&self, host: &mut dyn Host, selector: [u8; 4], approvers: Vec<Address>) -> Result<(), Failure> {
        let nonce = load_u64(host, nonce_slot())?;
        let next = nonce.checked_add(1).ok_or_else(|| reason("no more changes can be numbered"))?;
        store_u64(host, nonce_slot(), next)?;
        emit(host, IPermissions::ChangeMade { nonce, selector: selector.into(), approvers }.encode_log_data())
    }

    /// The administrators who signed `digest`, at least `threshold` of them, each once.
    fn check_signatures(host: &mut dyn Host, digest: &B256, signatures: &[Bytes]) -> Result<Vec<Address>, Failure> {
        let threshold = load_u64(host, threshold_slot())?.max(1);
        let mut approvers = Vec::with_capacity(signatures.len());
        for (i, signature) in signatures.iter().enumerate() {
            host.charge(ECRECOVER_GAS)?;
            let Some(signer) = approval_signer(digest, signature) else {
                return Err(reason(format!("signature {i} is not a 65-byte secp256k1 signature")));
            };
            if !contains(host, ADMINS, &account_key(&signer))? {
                return Err(reason(format!(
                    "signature {i} is by {signer}, not an administrator (or it signs another change or nonce)"
                )));
            }
            if approvers.contains(&signer) {
                return Err(reason(format!("administrator {signer} signed twice")));
            }
            approvers.push(signer);
        }
        let count = u64::try_from(approvers.len()).unwrap_or(u64::MAX);
        if count < threshold {
            return Err(reason(format!("{count} administrator approvals; {threshold} needed")));
        }
        Ok(approvers)
    }
}

impl Chaincode for Permissions {
    fn name(&self) -> &'static str {
        "permissions"
    }

    fn address(&self) -> Address {
        ADDRESS
    }

    fn interface(&self) -> &'static str {
        include_str!("../sol/IPermissions.sol")
    }

    fn call(&self, host: &mut dyn Host, call: &Call<'_>) -> Result<Bytes, Failure> {
        let decoded = crate::decode_call::<Calls>(host, call, "permissions", writes)?;
        if is_change(&decoded) {
            if !contains(host, ADMINS, &account_key(&call.caller))? {
                return Err(reason(format!("{} is not a permission administrator", call.caller)));
            }
            let threshold = load_u64(host, threshold_slot())?.max(1);
            if threshold > 1 {
                return Err(reason(format!(
                    "changes need {threshold} administrator approvals: sign changeDigest and submit with execute"
                )));
            }
            self.apply(host, decoded, vec![call.caller])?;
            return Ok(Bytes::new());
        }
        let out = match decoded {
            Calls::execute(c) => {
                let change = Calls::abi_decode(&c.change).map_err(|_| reason("the change does not decode"))?;
                if !is_change(&change) {
                    return Err(reason("execute carries only change functions"));
                }
                let nonce = load_u64(host, nonce_slot())?;
                let digest = change_digest(&self.chain_hash, nonce, &c.change);
                let approvers = Self::check_signatures(host, &digest, &c.signatures)?;
                self.apply(host, change, approvers)?;
                Vec::new()
            }
            Calls::replaceAdmins(c) => {
                Self::check_admins(&c.admins, c.threshold)?;
                let nonce = load_u64(host, nonce_slot())?;
                let digest = admins_digest(&self.chain_hash, nonce, &c.admins, c.threshold);
                let approvals: Vec<crate::validator_set::IValidatorSet::Approval> = c
                    .approvals
                    .iter()
                    .map(|a| crate::validator_set::IValidatorSet::Approval {
                        publicKey: a.publicKey,
                        signature: a.signature.clone(),
                        mlDsaSignature: a.mlDsaSignature.clone(),
                    })
                    .collect();
                let block = host.block_number();
                let current = {
                    let mut foreign = Foreign { host: &mut *host, address: crate::validator_set::ADDRESS };
                    self.governance.current_set(&mut foreign, block)?
                };
                ValidatorGovernance::check_approvals(host, &current, digest, &approvals)
                    .map_err(|f| match f {
                        Failure::Revert(_) => reason("validator approvals do not hold more than two thirds of the power (or a signature does not verify)"),
                        other => other,
                    })?;
                Self::set_admins(host, &c.admins, c.threshold)?;
                self.advance(host, IPermissions::replaceAdminsCall::SELECTOR, Vec::new())?;
                Vec::new()
            }
            Calls::changeDigest(c) => {
                let change = Calls::abi_decode(&c.change).map_err(|_| reason("the change does not decode"))?;
                if !is_change(&change) {
                    return Err(reason("only change functions are approved"));
                }
                let nonce = load_u64(host, nonce_slot())?;
                IPermissions::changeDigestCall::abi_encode_returns(&change_digest(&self.chain_hash, nonce, &c.change))
            }
            Calls::adminsDigest(c) => {
                let nonce = load_u64(host, nonce_slot())?;
                IPermissions::adminsDigestCall::abi_encode_returns(&admins_digest(
                    &self.chain_hash,
                    nonce,
                    &c.admins,
                    c.threshold,
                ))
            }
            Calls::changeNonce(_) => IPermissions::changeNonceCall::abi_encode_returns(&load_u64(host, nonce_slot())?),
            Calls::accountAllowlistEnabled(_) => {
                IPermissions::accountAllowlistEnabledCall::abi_encode_returns(&flag(host, account_allowlist_slot())?)
            }
            Calls::accounts(_) => IPermissions::accountsCall::abi_encode_returns(&addresses(members(host, ACCOUNTS)?)),
            Calls::blockedAccounts(_) => {
                IPermissions::blockedAccountsCall::abi_encode_returns(&addresses(members(host, BLOCKED)?))
            }
            Calls::deployerAllowlistEnabled(_) => {
                IPermissions::deployerAllowlistEnabledCall::abi_encode_returns(&flag(host, deployer_allowlist_slot())?)
            }
            Calls::deployers(_) => {
                IPermissions::deployersCall::abi_encode_returns(&addresses(members(host, DEPLOYERS)?))
            }
            Calls::nodes(_) => {
                let mut peers = Vec::new();
                for key in members(host, NODES)? {
                    peers.push(load_text(host, &key)?);
                }
                IPermissions::nodesCall::abi_encode_returns(&peers)
            }
            Calls::moduleAdmins(c) => {
                self.check_module(&c.module)?;
                IPermissions::moduleAdminsCall::abi_encode_returns(&addresses(members(host, &module_set(&c.module))?))
            }
            Calls::admins(_) => IPermissions::adminsCall::abi_encode_returns(&addresses(members(host, ADMINS)?)),
            Calls::threshold(_) => {
                IPermissions::thresholdCall::abi_encode_returns(&load_u64(host, threshold_slot())?.max(1))
            }
            Calls::mayTransact(c) => {
                IPermissions::mayTransactCall::abi_encode_returns(&may_transact(host, &c.account)?)
            }
            Calls::mayDeploy(c) => IPermissions::mayDeployCall::abi_encode_returns(&may_deploy(host, &c.account)?),
            _ => return Err(reason("unknown function")),
        };
        Ok(out.into())
    }
}

/// Whether `who` administers the chaincode module `module`, as the
/// permissions module records it. A chain whose genesis did not seed the
/// permissions module (a module tested alone) uses `configured`, the
/// administrators of the module's own configuration.
pub fn is_module_admin(
    host: &mut dyn Host,
    module: &str,
    who: &Address,
    configured: &[Address],
) -> Result<bool, Failure> {
    if host.sload_at(ADDRESS, seeded_slot())?.is_zero() {
        return Ok(configured.contains(who));
    }
    Ok(!host.sload_at(ADDRESS, set_index_slot(&module_set(module), &account_key(who)))?.is_zero())
}

/// Everything the module holds, read from committed storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionState {
    /// Whether only listed accounts may send.
    pub account_allowlist: bool,
    /// The account allowlist.
    pub accounts: Vec<Address>,
    /// Accounts refused in any mode.
    pub blocked: Vec<Address>,
    /// Whether only listed deployers may create contracts.
    pub deployer_allowlist: bool,
    /// The deployer list.
    pub deployers: Vec<Address>,
    /// Peer ids of non-validator nodes allowed to connect.
    pub nodes: Vec<String>,
    /// Permission administrators.
    pub admins: Vec<Address>,
    /// Administrators a change needs.
    pub threshold: u64,
    /// Changes made so far.
    pub nonce: u64,
    /// Administrators of each chaincode module asked for, by name.
    pub module_admins: Vec<(String, Vec<Address>)>,
}

/// The module's state, read from its committed storage through `read`
/// (slot → value), with the administrators of each module in `modules`.
/// Errors are the reader's.
pub fn read_state(
    read: &mut dyn FnMut(U256) -> Result<U256, String>,
    modules: &[String],
) -> Result<PermissionState, String> {
    let mut host = crate::storage::CommittedStorage::new(read);
    let result = (|| -> Result<PermissionState, Failure> {
        let h: &mut dyn Host = &mut host;
        let mut nodes = Vec::new();
        for key in members(h, NODES)? {
            nodes.push(load_text(h, &key)?);
        }
        let mut module_admins = Vec::new();
        for module in modules {
            module_admins.push((module.clone(), addresses(members(h, &module_set(module))?)));
        }
        Ok(PermissionState {
            account_allowlist: flag(h, account_allowlist_slot())?,
            accounts: addresses(members(h, ACCOUNTS)?),
            blocked: addresses(members(h, BLOCKED)?),
            deployer_allowlist: flag(h, deployer_allowlist_slot())?,
            deployers: addresses(members(h, DEPLOYERS)?),
            nodes,
            admins: addresses(members(h, ADMINS)?),
            threshold: load_u64(h, threshold_slot())?.max(1),
            nonce: load_u64(h, nonce_slot())?,
            module_admins,
        })
    })();
    result.map_err(|f| host.explain(f))
}

/// What identifies a [`PermissionState`] cheaply: its flags, threshold and
/// nonce and the size of each set, read in a dozen slots ([`read_summary`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Account allowlist flag, deployer allowlist flag.
    pub flags: (bool, bool),
    /// Threshold and change nonce.
    pub counters: (u64, u64),
    /// Sizes of the account, blocked, deployer, node and administrator sets,
    /// then of each module's administrators in the order asked for.
    pub sizes: Vec<usize>,
}

impl PermissionState {
    /// This state's [`Summary`].
    pub fn summary(&self) -> Summary {
        let mut sizes =
            vec![self.accounts.len(), self.blocked.len(), self.deployers.len(), self.nodes.len(), self.admins.len()];
        sizes.extend(self.module_admins.iter().map(|(_, admins)| admins.len()));
        Summary {
            flags: (self.account_allowlist, self.deployer_allowlist),
            counters: (self.threshold, self.nonce),
            sizes,
        }
    }

    /// Follow the module's events (topics and data of its logs, in order) to
    /// the state after them. The node checks the result against
    /// [`read_summary`] and reads the whole state again if they differ.
    pub fn apply_events<'a>(&mut self, logs: impl IntoIterator<Item = (&'a [B256], &'a [u8])>) {
        use IPermissions as P;
        fn decode<E: SolEvent>(topics: &[B256], data: &[u8]) -> Option<E> {
            E::decode_raw_log(topics.iter().copied(), data).ok()
        }
        fn add(list: &mut Vec<Address>, a: Address) {
            if !list.contains(&a) {
                list.push(a);
            }
        }
        for (topics, data) in logs {
            let Some(signature) = topics.first() else { continue };
            match *signature {
                P::AccountAdded::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::AccountAdded>(topics, data) {
                        add(&mut self.accounts, e.account);
                    }
                }
                P::AccountRemoved::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::AccountRemoved>(topics, data) {
                        self.accounts.retain(|a| *a != e.account);
                    }
                }
                P::AccountBlocked::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::AccountBlocked>(topics, data) {
                        add(&mut self.blocked, e.account);
                    }
                }
                P::AccountUnblocked::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::AccountUnblocked>(topics, data) {
                        self.blocked.retain(|a| *a != e.account);
                    }
                }
                P::AccountAllowlistChanged::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::AccountAllowlistChanged>(topics, data) {
                        self.account_allowlist = e.enabled;
                    }
                }
                P::DeployerAdded::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::DeployerAdded>(topics, data) {
                        add(&mut self.deployers, e.account);
                    }
                }
                P::DeployerRemoved::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::DeployerRemoved>(topics, data) {
                        self.deployers.retain(|a| *a != e.account);
                    }
                }
                P::DeployerAllowlistChanged::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::DeployerAllowlistChanged>(topics, data) {
                        self.deployer_allowlist = e.enabled;
                    }
                }
                P::NodeAdded::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::NodeAdded>(topics, data)
                        && !self.nodes.contains(&e.peerId)
                    {
                        self.nodes.push(e.peerId);
                    }
                }
                P::NodeRemoved::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::NodeRemoved>(topics, data) {
                        self.nodes.retain(|n| *n != e.peerId);
                    }
                }
                P::ModuleAdminAdded::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::ModuleAdminAdded>(topics, data)
                        && let Some((_, admins)) = self.module_admins.iter_mut().find(|(m, _)| *m == e.module)
                    {
                        add(admins, e.admin);
                    }
                }
                P::ModuleAdminRemoved::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::ModuleAdminRemoved>(topics, data)
                        && let Some((_, admins)) = self.module_admins.iter_mut().find(|(m, _)| *m == e.module)
                    {
                        admins.retain(|a| *a != e.admin);
                    }
                }
                P::AdminsChanged::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::AdminsChanged>(topics, data) {
                        self.admins = e.admins;
                        self.threshold = e.threshold.max(1);
                    }
                }
                P::ChangeMade::SIGNATURE_HASH => {
                    if let Some(e) = decode::<P::ChangeMade>(topics, data) {
                        self.nonce = e.nonce.saturating_add(1);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The [`Summary`] of the module's committed storage, read through `read`
/// (a dozen slots, whatever the size of the lists), with the module
/// administrators of `modules`.
pub fn read_summary(read: &mut dyn FnMut(U256) -> Result<U256, String>, modules: &[String]) -> Result<Summary, String> {
    let mut host = crate::storage::CommittedStorage::new(read);
    let result = (|| -> Result<Summary, Failure> {
        let h: &mut dyn Host = &mut host;
        let mut sizes = Vec::new();
        let sets = [ACCOUNTS, BLOCKED, DEPLOYERS, NODES, ADMINS].map(String::from);
        for set in sets.iter().chain(modules.iter().map(|m| module_set(m)).collect::<Vec<_>>().iter()) {
            sizes.push(usize::try_from(load_u64(h, set_len_slot(set))?).unwrap_or(usize::MAX));
        }
        Ok(Summary {
            flags: (flag(h, account_allowlist_slot())?, flag(h, deployer_allowlist_slot())?),
            counters: (load_u64(h, threshold_slot())?.max(1), load_u64(h, nonce_slot())?),
            sizes,
        })
    })();
    result.map_err(|f| host.explain(f))
}

#[cfg(test)]
mod tests;
