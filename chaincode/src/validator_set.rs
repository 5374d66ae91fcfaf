//! Validator-set governance: the system module through which a network adds,
//! removes or re-weights validators.
//!
//! A change names the complete new set and its activation height, at least
//! [`MIN_ACTIVATION_DELAY`] heights after the block that includes it, so every
//! node knows the set of height `h` once `h - 1` is committed, and the header
//! of `h - 1` announces it (`next_validators_hash`). One change may be pending
//! at a time. A change is approved by ed25519 signatures of current
//! validators holding more than two thirds of the voting power over
//! [`change_digest`], or — when the genesis declares one — by a transaction
//! from the validator admin.
//!
//! Every public key of a proposed set is checked (charged
//! [`ED25519_KEY_GAS`] each) and every approval signature too (charged
//! [`ED25519_VERIFY_GAS`] each), before the check.
//!
//! On a chain with hybrid consensus signatures (its genesis validators carry
//! ML-DSA-65 keys), every member of a proposed set must carry a 1,952-byte
//! ML-DSA-65 public key and every approval an ML-DSA-65 signature that
//! verifies (charged as the ML-DSA-65 precompile charges); on an ed25519
//! chain both must be empty.
//!
//! Every change stays in storage, so the set of any past height can be
//! recomputed and its commit certificates verified. The node reads the
//! schedule with [`scheduled_changes`] after each block.
//!
//! The Solidity interface is `chaincode/sol/IValidatorSet.sol`.

use crate::gas::{ED25519_KEY_GAS, ED25519_VERIFY_GAS};
use crate::storage::{load_u64, load_word, slot, store_u64, store_word};
use crate::{Call, Chaincode, Failure, Host};
use alloy::sol_types::{SolCall, SolEvent};
use alloy_primitives::{Address, B256, Bytes, U256};
use dsec_sdk::validators::{MAX_TOTAL_POWER, MAX_VALIDATORS, ValidatorSet, verify_ml_dsa};
use std::collections::HashSet;
use std::sync::Arc;

use IValidatorSet::IValidatorSetCalls as Calls;
use IValidatorSet::ValidatorInfo;
pub use dsec_sdk::chaincode::validator_set::{ADDRESS, IValidatorSet, change_digest, from_infos, to_infos};

/// A change takes effect this many heights after the block that includes it, or later.
pub const MIN_ACTIVATION_DELAY: u64 = 2;

/// The governance module of one chain.
#[derive(Debug, Clone)]
pub struct ValidatorGovernance {
    chain_hash: B256,
    genesis: Vec<ValidatorInfo>,
    admin: Option<Address>,
    /// Consensus signatures are ed25519 + ML-DSA-65 (the genesis set carries ML-DSA-65 keys).
    hybrid: bool,
}

/// A change read from storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledChange {
    /// 1-based change number.
    pub number: u64,
    /// First height the set signs.
    pub activation_height: u64,
    /// The new set.
    pub validators: ValidatorSet,
}

fn reason(message: impl std::fmt::Display) -> Failure {
    Failure::reason(format!("validators: {message}"))
}

fn count_slot() -> U256 {
    slot("count", &[])
}

fn field(name: &str, change: u64) -> U256 {
    slot(name, &[&change.to_be_bytes()])
}

fn member(name: &str, change: u64, index: u64) -> U256 {
    slot(name, &[&change.to_be_bytes(), &index.to_be_bytes()])
}

impl ValidatorGovernance {
    /// The module of the chain whose genesis hash is `chain_hash`, starting from
    /// the genesis set, with the genesis-declared admin if any.
    /// The chain is hybrid when the genesis set's members carry ML-DSA-65 keys.
    pub fn new(chain_hash: B256, genesis: &ValidatorSet, admin: Option<Address>) -> Self {
        let hybrid = !genesis.validators.is_empty() && genesis.validators.iter().all(|v| v.ml_dsa_public_key.is_some());
        Self { chain_hash, genesis: to_infos(genesis), admin, hybrid }
    }

    /// The module as a registry entry.
    pub fn into_module(self) -> Arc<dyn Chaincode> {
        Arc::new(self)
    }

    fn count(host: &mut dyn Host) -> Result<u64, Failure> {
        load_u64(host, count_slot())
    }

    /// Change `number` (0: the genesis set, active from height 0).
    fn load_change(&self, host: &mut dyn Host, number: u64) -> Result<(u64, Vec<ValidatorInfo>), Failure> {
        if number == 0 { Ok((0, self.genesis.clone())) } else { load_stored_change(host, number) }
    }

    /// The set signing `height` as scheduled now, read through `host` (whose
    /// storage is this module's: the permissions module reads it through a view).
    pub(crate) fn current_set(&self, host: &mut dyn Host, height: u64) -> Result<Vec<ValidatorInfo>, Failure> {
        self.set_at(host, height)
    }

    /// The set signing `height` as scheduled now.
    fn set_at(&self, host: &mut dyn Host, height: u64) -> Result<Vec<ValidatorInfo>, Failure> {
        let mut number = Self::count(host)?;
        // Change 0 (the genesis set) is active from height 0, so the walk ends there.
        while number > 0 && load_u64(host, field("change.activation", number))? > height {
            number -= 1;
        }
        Ok(self.load_change(host, number)?.1)
    }

    /// Check a proposed set; each public key is charged [`ED25519_KEY_GAS`] before it is decompressed.
    fn check_set(&self, host: &mut dyn Host, infos: &[ValidatorInfo]) -> Result<(), Failure> {
        if infos.is_empty() {
            return Err(reason("the new set is empty"));
        }
        if infos.len() > MAX_VALIDATORS {
            return Err(reason(format!("the new set has {} members, at most {MAX_VALIDATORS} allowed", infos.len())));
        }
        let mut keys = HashSet::with_capacity(infos.len());
        let mut ml_dsa_keys = HashSet::with_capacity(infos.len());
        let mut total: u64 = 0;
        for (i, v) in infos.iter().enumerate() {
            if v.power == 0 {
                return Err(reason(format!("validator {i}: power must be at least 1")));
            }
            host.charge(ED25519_KEY_GAS)?;
            match ed25519_dalek::VerifyingKey::from_bytes(&v.publicKey.0) {
                Ok(key) if !key.is_weak() => {}
                _ => return Err(reason(format!("validator {i}: {} is not a valid ed25519 public key", v.publicKey))),
            }
            if !keys.insert(v.publicKey) {
                return Err(reason(format!("validator {i}: {} appears twice", v.publicKey)));
            }
            match (self.hybrid, v.mlDsaPublicKey.len()) {
                (true, dsec_sdk::pq::MLDSA65_PUBLIC_KEY_LEN) | (false, 0) => {}
                (true, len) => {
                    return Err(reason(format!(
                        "validator {i}: this chain signs consensus with ed25519+ml-dsa-65, so every validator needs a 1,952-byte ML-DSA-65 public key (got {len} bytes)"
                    )));
                }
                (false, _) => {
                    return Err(reason(format!(
                        "validator {i}: this chain signs consensus with ed25519 only; mlDsaPublicKey must be empty"
                    )));
                }
            }
            if self.hybrid && !ml_dsa_keys.insert(v.mlDsaPublicKey.clone()) {
                return Err(reason(format!("validator {i}: its ML-DSA-65 public key appears twice")));
            }
            total = total.saturating_add(v.power);
        }
        if total > MAX_TOTAL_POWER {
            return Err(reason(format!("total voting power {total} exceeds {MAX_TOTAL_POWER}")));
        }
        Ok(())
    }

    /// Check timing and the set, then store change `count + 1` and emit its event.
    fn schedule(
        &self,
        host: &mut dyn Host,
        infos: &[ValidatorInfo],
        activation: u64,
        approve: impl FnOnce(&mut dyn Host, &[ValidatorInfo], B256) -> Result<(), Failure>,
    ) -> Result<u64, Failure> {
        self.check_set(host, infos)?;
        let block = host.block_number();
        let earliest = block.saturating_add(MIN_ACTIVATION_DELAY);
        if activation < earliest {
            return Err(reason(format!(
                "activation height {activation} is too early: a change included at height {block} takes effect at height {earliest} or later"
            )));
        }
        let count = Self::count(host)?;
        if count > 0 {
            let pending = load_u64(host, field("change.activation", count))?;
            if pending > block {
                return Err(reason(format!("change {count} is still pending (activation at height {pending})")));
            }
        }
        let number = count.checked_add(1).ok_or_else(|| reason("no more changes can be numbered"))?;
        let current = self.set_at(host, block)?;
        approve(host, &current, change_digest(&self.chain_hash, number, activation, infos))?;
        store_u64(host, field("change.activation", number), activation)?;
        // At most MAX_VALIDATORS members (checked above).
        store_u64(host, field("change.len", number), u64::try_from(infos.len()).unwrap_or(u64::MAX))?;
        for (i, v) in (0u64..).zip(infos) {
            store_word(host, member("change.key", number, i), v.publicKey)?;
            store_u64(host, member("change.power", number, i), v.power)?;
            // A hybrid member's ML-DSA-65 key: 1,952 bytes, exactly 61 words.
            for (w, word) in (0u64..).zip(v.mlDsaPublicKey.chunks(32)) {
                store_word(host, ml_dsa_word(number, i, w), B256::from_slice(word))?;
            }
        }
        store_u64(host, count_slot(), number)?;
        let log = IValidatorSet::ValidatorSetScheduled {
            changeNumber: number,
            activationHeight: activation,
            validators: infos.to_vec(),
        }
        .encode_log_data();
        host.emit(log.topics().to_vec(), log.data)?;
        Ok(number)
    }

    /// Verify approvals of `digest` by `current` members holding a two-thirds
    /// majority; each approval is charged [`ED25519_VERIFY_GAS`] before it is checked.
    pub(crate) fn check_approvals(
        host: &mut dyn Host,
        current: &[ValidatorInfo],
        digest: B256,
        approvals: &[IValidatorSet::Approval],
    ) -> Result<(), Failure> {
        let total: u64 = current.iter().map(|v| v.power).fold(0, u64::saturating_add);
        let mut seen = HashSet::with_capacity(approvals.len());
        let mut approved: u64 = 0;
        for (i, a) in approvals.iter().enumerate() {
            host.charge(ED25519_VERIFY_GAS)?;
            let Some(validator) = current.iter().find(|v| v.publicKey == a.publicKey) else {
                return Err(reason(format!("approval {i}: {} is not a current validator", a.publicKey)));
            };
            if !seen.insert(a.publicKey) {
                return Err(reason(format!("approval {i}: {} approved twice", a.publicKey)));
            }
            let verified = ed25519_dalek::VerifyingKey::from_bytes(&a.publicKey.0).ok().is_some_and(|key| {
                ed25519_dalek::Signature::from_slice(&a.signature)
                    .is_ok_and(|sig| key.verify_strict(digest.as_slice(), &sig).is_ok())
            });
            if !verified {
                return Err(reason(format!("approval {i}: the signature of {} does not verify", a.publicKey)));
            }
            match (validator.mlDsaPublicKey.is_empty(), a.mlDsaSignature.is_empty()) {
                (true, true) => {}
                (true, false) => {
                    return Err(reason(format!(
                        "approval {i}: {} has no ML-DSA-65 key, so mlDsaSignature must be empty",
                        a.publicKey
                    )));
                }
                (false, true) => {
                    return Err(reason(format!(
                        "approval {i}: {} must also sign with its ML-DSA-65 key (hybrid consensus signatures)",
                        a.publicKey
                    )));
                }
                (false, false) => {
                    host.charge(dsec_sdk::pq::precompile::gas(
                        32,
                        dsec_sdk::validators::CONSENSUS_ML_DSA_CONTEXT.len(),
                    ))?;
                    if !verify_ml_dsa(&validator.mlDsaPublicKey, digest.as_slice(), &a.mlDsaSignature) {
                        return Err(reason(format!(
                            "approval {i}: the ML-DSA-65 signature of {} does not verify",
                            a.publicKey
                        )));
                    }
                }
            }
            approved = approved.saturating_add(validator.power);
        }
        if u128::from(approved) * 3 <= u128::from(total) * 2 {
            return Err(reason(format!(
                "approvals hold {approved} of {total} voting power; more than two thirds is needed"
            )));
        }
        Ok(())
    }
}

impl Chaincode for ValidatorGovernance {
    fn name(&self) -> &'static str {
        "validators"
    }

    fn address(&self) -> Address {
        ADDRESS
    }

    fn interface(&self) -> &'static str {
        include_str!("../sol/IValidatorSet.sol")
    }

    fn call(&self, host: &mut dyn Host, call: &Call<'_>) -> Result<Bytes, Failure> {
        let decoded = crate::decode_call::<Calls>(host, call, "validators", |c| {
            matches!(c, Calls::scheduleByValidators(_) | Calls::scheduleByAdmin(_))
        })?;
        let out = match decoded {
            Calls::scheduleByValidators(c) => {
                let number = self.schedule(host, &c.validators, c.activationHeight, |host, current, digest| {
                    Self::check_approvals(host, current, digest, &c.approvals)
                })?;
                IValidatorSet::scheduleByValidatorsCall::abi_encode_returns(&number)
            }
            Calls::scheduleByAdmin(c) => {
                match self.admin {
                    Some(admin) if admin == call.caller => {}
                    Some(_) => return Err(reason("caller is not the validator admin")),
                    None => return Err(reason("this chain has no validator admin: changes need validator approvals")),
                }
                let number = self.schedule(host, &c.validators, c.activationHeight, |_, _, _| Ok(()))?;
                IValidatorSet::scheduleByAdminCall::abi_encode_returns(&number)
            }
            Calls::changeDigest(c) => {
                self.check_set(host, &c.validators)?;
                let number =
                    Self::count(host)?.checked_add(1).ok_or_else(|| reason("no more changes can be numbered"))?;
                IValidatorSet::changeDigestCall::abi_encode_returns(&change_digest(
                    &self.chain_hash,
                    number,
                    c.activationHeight,
                    &c.validators,
                ))
            }
            Calls::changeCount(_) => IValidatorSet::changeCountCall::abi_encode_returns(&Self::count(host)?),
            Calls::change(c) => {
                if c.changeNumber > Self::count(host)? {
                    return Err(reason(format!("no change {}", c.changeNumber)));
                }
                let (activation, validators) = self.load_change(host, c.changeNumber)?;
                IValidatorSet::changeCall::abi_encode_returns(&IValidatorSet::changeReturn {
                    activationHeight: activation,
                    validators,
                })
            }
            Calls::validatorsAt(c) => {
                IValidatorSet::validatorsAtCall::abi_encode_returns(&self.set_at(host, c.height)?)
            }
            Calls::validatorAdmin(_) => {
                IValidatorSet::validatorAdminCall::abi_encode_returns(&self.admin.unwrap_or(Address::ZERO))
            }
        };
        Ok(out.into())
    }
}

/// Stored change `number` (1-based): its activation height and set.
fn load_stored_change(host: &mut dyn Host, number: u64) -> Result<(u64, Vec<ValidatorInfo>), Failure> {
    let activation = load_u64(host, field("change.activation", number))?;
    let len = load_u64(host, field("change.len", number))?.min(u64::try_from(MAX_VALIDATORS).unwrap_or(u64::MAX));
    let mut infos = Vec::new();
    for i in 0..len {
        let public_key = load_word(host, member("change.key", number, i))?;
        let power = load_u64(host, member("change.power", number, i))?;
        // A hybrid member's ML-DSA-65 key is stored in 61 words; an ed25519
        // member has none (its first word is zero: no ML-DSA-65 key starts
        // with 32 zero bytes but by a 2^-256 chance).
        let mut ml_dsa = Vec::new();
        let first = load_word(host, ml_dsa_word(number, i, 0))?;
        if !first.is_zero() {
            ml_dsa.extend_from_slice(first.as_slice());
            for w in 1..ML_DSA_KEY_WORDS {
                ml_dsa.extend_from_slice(load_word(host, ml_dsa_word(number, i, w))?.as_slice());
            }
        }
        infos.push(ValidatorInfo { publicKey: public_key, power, mlDsaPublicKey: ml_dsa.into() });
    }
    Ok((activation, infos))
}

/// Words of a stored ML-DSA-65 public key (1,952 bytes).
const ML_DSA_KEY_WORDS: u64 = (dsec_sdk::pq::MLDSA65_PUBLIC_KEY_LEN / 32) as u64;

fn ml_dsa_word(change: u64, index: u64, word: u64) -> U256 {
    slot("change.mldsa", &[&change.to_be_bytes(), &index.to_be_bytes(), &word.to_be_bytes()])
}

/// The changes numbered `from` and above, read from the module's committed
/// storage through `read` (slot → value). Errors are the reader's.
pub fn scheduled_changes(
    read: &mut dyn FnMut(U256) -> Result<U256, String>,
    from: u64,
) -> Result<Vec<ScheduledChange>, String> {
    let mut host = crate::storage::CommittedStorage::new(read);
    let fail = |host: &crate::storage::CommittedStorage<'_>, f: Failure| host.explain(f);
    let count = ValidatorGovernance::count(&mut host).map_err(|f| fail(&host, f))?;
    let mut out = Vec::new();
    for number in from.max(1)..=count {
        let (activation_height, infos) = load_stored_change(&mut host, number).map_err(|f| fail(&host, f))?;
        out.push(ScheduledChange { number, activation_height, validators: from_infos(&infos) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
