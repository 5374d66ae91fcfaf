use super::*;
use crate::testing::MemoryHost;
use dsec_sdk::validators::{ValidatorKey, ValidatorSigner};

const CHAIN: B256 = B256::repeat_byte(0xc4);

fn set_of(keys: &[ValidatorKey]) -> ValidatorSet {
    ValidatorSet::new(keys.iter().map(|k| k.validator(1)).collect())
}

fn infos(keys: &[ValidatorKey]) -> Vec<ValidatorInfo> {
    keys.iter()
        .map(|k| ValidatorInfo {
            publicKey: k.public_key(),
            power: 1,
            mlDsaPublicKey: k.ml_dsa_public_key_bytes().unwrap_or_default(),
        })
        .collect()
}

fn approvals(signers: &[&ValidatorKey], digest: B256) -> Vec<IValidatorSet::Approval> {
    signers
        .iter()
        .map(|k| IValidatorSet::Approval {
            publicKey: k.public_key(),
            signature: k.sign(digest.as_slice()).to_vec().into(),
            mlDsaSignature: k.try_sign_ml_dsa(digest.as_slice()).unwrap().unwrap_or_default().into(),
        })
        .collect()
}

fn by_validators(
    host: &mut MemoryHost,
    module: &ValidatorGovernance,
    new: &[ValidatorInfo],
    activation: u64,
    approvals: Vec<IValidatorSet::Approval>,
) -> Result<Bytes, Failure> {
    let data =
        IValidatorSet::scheduleByValidatorsCall { validators: new.to_vec(), activationHeight: activation, approvals }
            .abi_encode();
    host.call(module, Address::repeat_byte(9), &data)
}

fn revert_text(result: Result<Bytes, Failure>) -> String {
    match result {
        Err(Failure::Revert(data)) => {
            use alloy::sol_types::SolError;
            alloy::sol_types::Revert::abi_decode(&data).map(|r| r.reason).unwrap_or_default()
        }
        other => panic!("expected a revert, got {other:?}"),
    }
}

fn read_all(host: &MemoryHost) -> Vec<ScheduledChange> {
    let storage = host.storage.clone();
    scheduled_changes(&mut |slot| Ok(storage.get(&slot).copied().unwrap_or_default()), 1).unwrap()
}

#[test]
fn two_thirds_of_the_current_power_schedule_a_change() {
    let keys: Vec<ValidatorKey> = (0..5).map(|_| ValidatorKey::generate()).collect();
    let module = ValidatorGovernance::new(CHAIN, &set_of(&keys[..4]), None);
    let mut host = MemoryHost::new();
    host.block_number = 10;
    let new = infos(&keys);
    let digest = change_digest(&CHAIN, 1, 12, &new);

    // Two of four is not more than two thirds.
    let two = approvals(&[&keys[0], &keys[1]], digest);
    assert!(revert_text(by_validators(&mut host, &module, &new, 12, two)).contains("2 of 4 voting power"));
    // The same validator twice does not count twice.
    let dup = approvals(&[&keys[0], &keys[1], &keys[1]], digest);
    assert!(revert_text(by_validators(&mut host, &module, &new, 12, dup)).contains("approved twice"));
    // The joining validator cannot approve its own entry.
    let outsider = approvals(&[&keys[0], &keys[1], &keys[4]], digest);
    assert!(revert_text(by_validators(&mut host, &module, &new, 12, outsider)).contains("not a current validator"));
    // Signatures over another activation height (another digest) do not verify.
    let other = approvals(&[&keys[0], &keys[1], &keys[2]], change_digest(&CHAIN, 1, 13, &new));
    assert!(revert_text(by_validators(&mut host, &module, &new, 12, other)).contains("does not verify"));
    // Nor over another chain.
    let other = approvals(&[&keys[0], &keys[1], &keys[2]], change_digest(&B256::ZERO, 1, 12, &new));
    assert!(revert_text(by_validators(&mut host, &module, &new, 12, other)).contains("does not verify"));
    assert!(read_all(&host).is_empty(), "failed calls leave nothing behind");

    let three = approvals(&[&keys[0], &keys[1], &keys[2]], digest);
    let out = by_validators(&mut host, &module, &new, 12, three).unwrap();
    assert_eq!(IValidatorSet::scheduleByValidatorsCall::abi_decode_returns(&out).unwrap(), 1);
    let log =
        IValidatorSet::ValidatorSetScheduled::decode_raw_log(host.logs[0].0.iter().copied(), &host.logs[0].1).unwrap();
    assert_eq!((log.changeNumber, log.activationHeight, log.validators.len()), (1, 12, 5));
    assert_eq!(read_all(&host), vec![ScheduledChange { number: 1, activation_height: 12, validators: set_of(&keys) }]);

    // The view answers the set of any height.
    let at = |host: &mut MemoryHost, height: u64| {
        let out = host.call(&module, Address::ZERO, &IValidatorSet::validatorsAtCall { height }.abi_encode()).unwrap();
        IValidatorSet::validatorsAtCall::abi_decode_returns(&out).unwrap().len()
    };
    assert_eq!((at(&mut host, 11), at(&mut host, 12), at(&mut host, 1000)), (4, 5, 5));
}

#[test]
fn one_change_at_a_time_and_later_changes_need_the_new_set() {
    let keys: Vec<ValidatorKey> = (0..5).map(|_| ValidatorKey::generate()).collect();
    let module = ValidatorGovernance::new(CHAIN, &set_of(&keys[..4]), None);
    let mut host = MemoryHost::new();
    host.block_number = 10;
    let five = infos(&keys);
    let too_early = approvals(&keys[..4].iter().collect::<Vec<_>>(), change_digest(&CHAIN, 1, 11, &five));
    assert!(revert_text(by_validators(&mut host, &module, &five, 11, too_early)).contains("too early"));
    let ok = approvals(&keys[..3].iter().collect::<Vec<_>>(), change_digest(&CHAIN, 1, 20, &five));
    by_validators(&mut host, &module, &five, 20, ok).unwrap();

    // While change 1 is pending, no other change.
    let four = infos(&keys[1..]);
    let early = approvals(&keys[..4].iter().collect::<Vec<_>>(), change_digest(&CHAIN, 2, 25, &four));
    assert!(revert_text(by_validators(&mut host, &module, &four, 25, early)).contains("still pending"));

    // Once it is active, quorum is counted over the five: three of five is not enough.
    host.block_number = 20;
    let digest = change_digest(&CHAIN, 2, 25, &four);
    let three = approvals(&[&keys[1], &keys[2], &keys[4]], digest);
    assert!(revert_text(by_validators(&mut host, &module, &four, 25, three)).contains("3 of 5"));
    let four_signers = approvals(&[&keys[1], &keys[2], &keys[3], &keys[4]], digest);
    by_validators(&mut host, &module, &four, 25, four_signers).unwrap();
    let changes = read_all(&host);
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1].validators, set_of(&keys[1..]));
    let storage = host.storage.clone();
    let later = scheduled_changes(&mut |slot| Ok(storage.get(&slot).copied().unwrap_or_default()), 2).unwrap();
    assert_eq!(later.len(), 1, "reading from a change number skips the earlier ones");
}

#[test]
fn the_admin_path_exists_only_when_the_genesis_declares_an_admin() {
    let keys: Vec<ValidatorKey> = (0..2).map(|_| ValidatorKey::generate()).collect();
    let admin = Address::repeat_byte(0xad);
    let call = IValidatorSet::scheduleByAdminCall { validators: infos(&keys), activationHeight: 5 }.abi_encode();
    let mut host = MemoryHost::new();
    let without = ValidatorGovernance::new(CHAIN, &set_of(&keys[..1]), None);
    assert!(revert_text(host.call(&without, admin, &call)).contains("no validator admin"));
    let with = ValidatorGovernance::new(CHAIN, &set_of(&keys[..1]), Some(admin));
    assert!(revert_text(host.call(&with, Address::repeat_byte(1), &call)).contains("not the validator admin"));
    host.call(&with, admin, &call).unwrap();
    assert_eq!(read_all(&host)[0].validators, set_of(&keys));
    // Views are read-only calls; schedule calls are refused in one.
    let static_call = Call { caller: admin, value: U256::ZERO, data: &call, is_static: true };
    assert!(revert_text(host.call_with(&with, &static_call)).contains("read-only"));
}

#[test]
fn malformed_sets_are_refused_with_the_offending_member() {
    let keys: Vec<ValidatorKey> = (0..2).map(|_| ValidatorKey::generate()).collect();
    let admin = Address::repeat_byte(0xad);
    let module = ValidatorGovernance::new(CHAIN, &set_of(&keys[..1]), Some(admin));
    let mut host = MemoryHost::new();
    let mut try_set = |validators: Vec<ValidatorInfo>| {
        let call = IValidatorSet::scheduleByAdminCall { validators, activationHeight: 10 }.abi_encode();
        revert_text(host.call(&module, admin, &call))
    };
    assert!(try_set(Vec::new()).contains("empty"));
    let mut zero = infos(&keys);
    zero[1].power = 0;
    assert!(try_set(zero).contains("validator 1: power"));
    let mut twice = infos(&keys);
    twice[1].publicKey = twice[0].publicKey;
    assert!(try_set(twice).contains("appears twice"));
    let mut bad_key = infos(&keys);
    bad_key[0].publicKey = B256::ZERO; // the identity point: a weak key
    assert!(try_set(bad_key).contains("not a valid ed25519 public key"));
    let mut heavy = infos(&keys);
    heavy[0].power = MAX_TOTAL_POWER;
    assert!(try_set(heavy).contains("exceeds"));
    let garbage = host.call(&module, admin, &[1, 2, 3]);
    assert!(revert_text(garbage).contains("unknown function"));
}

#[test]
fn every_key_of_a_proposed_set_is_charged_before_it_is_checked() {
    let keys: Vec<ValidatorKey> = (0..MAX_VALIDATORS).map(|_| ValidatorKey::generate()).collect();
    let module = ValidatorGovernance::new(CHAIN, &set_of(&keys[..1]), None);
    let mut host = MemoryHost::new();
    let view = IValidatorSet::changeDigestCall { validators: infos(&keys), activationHeight: 10 }.abi_encode();
    host.call(&module, Address::ZERO, &view).unwrap();
    let keys_gas = ED25519_KEY_GAS * MAX_VALIDATORS as u64;
    assert!(host.gas_used >= crate::DISPATCH_GAS + keys_gas, "{} gas for {MAX_VALIDATORS} keys", host.gas_used);
    // With gas for all but the last key, the call runs out of gas instead of checking it unpaid.
    let before_keys = crate::DISPATCH_GAS + crate::gas::calldata_gas(view.len());
    host.gas_limit = before_keys + keys_gas - 1;
    assert_eq!(host.call(&module, Address::ZERO, &view).unwrap_err(), Failure::OutOfGas);
}

#[test]
fn every_approval_is_charged_before_its_signature_is_checked() {
    let keys: Vec<ValidatorKey> = (0..4).map(|_| ValidatorKey::generate()).collect();
    let module = ValidatorGovernance::new(CHAIN, &set_of(&keys), None);
    let mut host = MemoryHost::new();
    host.block_number = 10;
    let new = infos(&keys[..3]);
    // Three approvals, the last one forged: three checks, all paid for.
    let mut forged = approvals(&[&keys[0], &keys[1], &keys[2]], change_digest(&CHAIN, 1, 12, &new));
    forged[2].signature = vec![0u8; 64].into();
    assert!(revert_text(by_validators(&mut host, &module, &new, 12, forged)).contains("approval 2"));
    assert!(host.gas_used >= crate::DISPATCH_GAS + 3 * ED25519_KEY_GAS + 3 * ED25519_VERIFY_GAS);
}

#[test]
fn change_numbers_do_not_overflow() {
    let keys: Vec<ValidatorKey> = (0..2).map(|_| ValidatorKey::generate()).collect();
    let admin = Address::repeat_byte(0xad);
    let module = ValidatorGovernance::new(CHAIN, &set_of(&keys[..1]), Some(admin));
    let mut host = MemoryHost::new();
    // A store whose change counter is at its limit (change u64::MAX active since height 0).
    host.storage.insert(count_slot(), U256::from(u64::MAX));
    let call = IValidatorSet::scheduleByAdminCall { validators: infos(&keys), activationHeight: 10 }.abi_encode();
    assert!(revert_text(host.call(&module, admin, &call)).contains("no more changes"));
    let view = IValidatorSet::changeDigestCall { validators: infos(&keys), activationHeight: 10 }.abi_encode();
    assert!(revert_text(host.call(&module, admin, &view)).contains("no more changes"));
}

#[test]
fn a_hybrid_chain_needs_ml_dsa_keys_in_sets_and_both_signatures_in_approvals() {
    let keys: Vec<ValidatorKey> = (0..5).map(|_| ValidatorKey::generate_hybrid()).collect();
    let module = ValidatorGovernance::new(CHAIN, &set_of(&keys[..4]), None);
    let mut host = MemoryHost::new();
    host.block_number = 10;
    let new = infos(&keys);
    let digest = change_digest(&CHAIN, 1, 12, &new);
    let signers = [&keys[0], &keys[1], &keys[2]];

    // A member without an ML-DSA-65 key is refused.
    let mut missing = new.clone();
    missing[4].mlDsaPublicKey = Bytes::new();
    let refused =
        by_validators(&mut host, &module, &missing, 12, approvals(&signers, change_digest(&CHAIN, 1, 12, &missing)));
    assert!(revert_text(refused).contains("1,952-byte ML-DSA-65 public key"));
    // An approval with a valid ed25519 signature but no ML-DSA-65 one does not count.
    let mut ed_only = approvals(&signers, digest);
    ed_only[1].mlDsaSignature = Bytes::new();
    assert!(
        revert_text(by_validators(&mut host, &module, &new, 12, ed_only))
            .contains("must also sign with its ML-DSA-65 key")
    );
    // Nor one whose ML-DSA-65 signature does not verify.
    let mut bad = approvals(&signers, digest);
    let mut pq = bad[2].mlDsaSignature.to_vec();
    pq[10] ^= 1;
    bad[2].mlDsaSignature = pq.into();
    assert!(revert_text(by_validators(&mut host, &module, &new, 12, bad)).contains("ML-DSA-65 signature of"));
    assert!(read_all(&host).is_empty(), "failed calls leave nothing behind");

    // Both halves from three of four: scheduled, and the stored set keeps every ML-DSA-65 key.
    by_validators(&mut host, &module, &new, 12, approvals(&signers, digest)).unwrap();
    assert_eq!(read_all(&host), vec![ScheduledChange { number: 1, activation_height: 12, validators: set_of(&keys) }]);

    // An ed25519 chain refuses ML-DSA-65 keys in a set.
    let plain: Vec<ValidatorKey> = (0..4).map(|_| ValidatorKey::generate()).collect();
    let module = ValidatorGovernance::new(CHAIN, &set_of(&plain), None);
    let mut host = MemoryHost::new();
    host.block_number = 10;
    let mut with_pq = infos(&plain);
    with_pq[0].mlDsaPublicKey = new[0].mlDsaPublicKey.clone();
    let digest = change_digest(&CHAIN, 1, 12, &with_pq);
    let refused =
        by_validators(&mut host, &module, &with_pq, 12, approvals(&[&plain[0], &plain[1], &plain[2]], digest));
    assert!(revert_text(refused).contains("mlDsaPublicKey must be empty"));
}
