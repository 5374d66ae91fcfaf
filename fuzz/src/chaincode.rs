//! `chaincode_dispatch`: the calldata dispatch of every chaincode module.
//!
//! Modules run on [`MemoryHost`], the in-memory host of `dsec-chaincode`'s
//! `test-utils` feature (a failed call's writes are discarded, as the EVM's
//! journal discards them; storage costs 2,100 gas a read and 20,000 a write).
//!
//! # Input
//!
//! The first byte picks the module (bits 0-2: audit, provenance, settlement,
//! validator set, permissions; 5 to 7 pick none) and the form of the rest (bit 7):
//!
//! - bit 7 clear: the rest is the calldata of one call by the modules'
//!   administrator ([`ADMIN`], also the validator admin and a member of the
//!   audit module's genesis tenant);
//! - bit 7 set: the rest is a sequence of at most 32 calls on one state, each
//!   a flags byte (bits 0-1: the caller, one of [`CALLERS`]; bit 2: a read-only
//!   call; bit 3: one wei sent with it; bit 4: the next block, half a day
//!   later), a two-byte big-endian length and that many bytes of calldata
//!   (fewer if the input ends).
//!
//! # Checks
//!
//! Every call: no panic; never `Failure::Fatal` (the in-memory host never
//! fails, so a module failing fatally on its own would stop the node's block
//! production); at least the dispatch gas charged; more gas used than the limit
//! only when the call ran out of gas; value refused; a successful read-only
//! call writes nothing and logs nothing (the EVM does not stop a module from
//! writing in a `STATICCALL`: the module's own classification of its functions
//! is the only guard); the same call on the same state gives the same answer,
//! gas, writes and logs. After a successful write: the settlement module's
//! balances of every currency seen add up, with what is locked, to its supply;
//! the validator-set schedule reads back with `scheduled_changes` (as the node
//! reads it after each block) as numbered changes of non-empty sets within the
//! limits, with increasing activation heights; the permissions module's sets
//! stay consistent (every member's index points back at it, lengths match)
//! and read back with `read_state` as the node reads them, with a threshold
//! between 1 and the number of administrators.

use crate::input::Input;
use alloy::sol_types::SolCall;
use alloy_primitives::{Address, B256, Bytes, FixedBytes, U256};
use dsec_chaincode::settlement::ISettlement;
use dsec_chaincode::testing::MemoryHost;
use dsec_chaincode::{Call, Chaincode, DISPATCH_GAS, Failure, GenesisTenant, ModuleConfig};
use dsec_chaincode::{audit, permissions, provenance, settlement, validator_set};
use dsec_sdk::validators::{MAX_TOTAL_POWER, MAX_VALIDATORS, ValidatorKey, ValidatorSet};
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

/// The modules' administrator (and the validator admin).
pub(crate) const ADMIN: Address = Address::repeat_byte(0xad);
/// The callers a sequence of calls can pick from: the administrator and three others.
pub(crate) const CALLERS: [Address; 4] =
    [ADMIN, Address::repeat_byte(0x01), Address::repeat_byte(0x02), Address::repeat_byte(0x03)];
/// The genesis hash modules bind signatures to.
pub(crate) const CHAIN: B256 = B256::repeat_byte(0xc4);
/// Text id of the audit module's genesis tenant (members: [`ADMIN`] and `CALLERS[1]`).
pub(crate) const TENANT: &str = "demo-agency";
/// Seeds of the genesis validators' ed25519 keys (power 1 each).
pub(crate) const VALIDATOR_SEEDS: [[u8; 32]; 4] = [[1; 32], [2; 32], [3; 32], [4; 32]];
/// Index of the settlement module in [`modules`] (the low two bits of the first byte).
pub(crate) const SETTLEMENT: u8 = 2;
/// Index of the validator-set module in [`modules`].
pub(crate) const VALIDATORS: u8 = 3;
/// Index of the permissions module in [`modules`] (seeded with [`ADMIN`] as administrator, threshold 1).
pub(crate) const PERMISSIONS: u8 = 4;
/// First-byte flag: the rest is a sequence of calls.
pub(crate) const SEQUENCE: u8 = 0x80;
/// Gas limit of each call.
const GAS_LIMIT: u64 = 5_000_000;
/// Most calls in one sequence.
const MAX_CALLS: usize = 32;
/// Most addresses the settlement balance check looks at.
const MAX_HOLDERS: usize = 256;

/// The genesis validator set of the validator-set module.
pub(crate) fn genesis_validators() -> ValidatorSet {
    ValidatorSet::new(
        VALIDATOR_SEEDS
            .iter()
            .map(|seed| {
                let key = ValidatorKey::from_seed(seed);
                key.validator(1)
            })
            .collect(),
    )
}

/// The five modules: audit, provenance, settlement ([`SETTLEMENT`]), validator set ([`VALIDATORS`]),
/// permissions ([`PERMISSIONS`]).
pub(crate) fn modules() -> &'static [Arc<dyn Chaincode>] {
    static MODULES: OnceLock<Vec<Arc<dyn Chaincode>>> = OnceLock::new();
    MODULES.get_or_init(|| {
        let config = ModuleConfig { admins: vec![ADMIN], ..ModuleConfig::default() };
        let tenant = GenesisTenant {
            id: TENANT.to_string(),
            name: "Demo Agency".to_string(),
            residency_zone: "local".to_string(),
            members: vec![ADMIN, CALLERS[1]],
            anchors_per_day: 3,
        };
        let governance = validator_set::ValidatorGovernance::new(CHAIN, &genesis_validators(), Some(ADMIN));
        let built = [
            audit::AuditAnchoring::from_config(&ModuleConfig { tenants: vec![tenant], ..config.clone() }),
            provenance::Provenance::from_config(CHAIN, &config),
            settlement::Settlement::from_config(&config),
            Ok(governance.clone().into_module()),
            Ok(permissions::Permissions::new(CHAIN, governance, vec!["audit".into(), "settlement".into()])
                .into_module()),
        ];
        match built.into_iter().collect::<Result<Vec<_>, String>>() {
            Ok(modules) => modules,
            Err(e) => panic!("a chaincode module refuses the fuzz configuration: {e}"),
        }
    })
}

/// One call of the input.
struct CallSpec<'a> {
    caller: Address,
    data: &'a [u8],
    is_static: bool,
    value: bool,
    next_block: bool,
}

/// The calls the input stands for (see the module documentation).
fn calls(data: &[u8]) -> (u8, Vec<CallSpec<'_>>) {
    let mut input = Input::new(data);
    let Some(first) = input.u8() else { return (0, Vec::new()) };
    let module = first & 0b111;
    if first & SEQUENCE == 0 {
        let data = input.up_to(usize::MAX);
        return (module, vec![CallSpec { caller: ADMIN, data, is_static: false, value: false, next_block: false }]);
    }
    let mut calls = Vec::new();
    while calls.len() < MAX_CALLS {
        let (Some(flags), Some(len)) = (input.u8(), input.u16()) else { break };
        calls.push(CallSpec {
            caller: CALLERS[usize::from(flags & 0b11)],
            data: input.up_to(usize::from(len)),
            is_static: flags & 0b100 != 0,
            value: flags & 0b1000 != 0,
            next_block: flags & 0b1_0000 != 0,
        });
    }
    (module, calls)
}

/// The addresses and currency codes the calls have named. Every account that
/// can hold a settlement balance is a caller or was named in calldata; the ABI
/// decoder ignores the high bytes of an address word, so the low 20 bytes of
/// every word count as a name.
struct Named {
    holders: BTreeSet<Address>,
    codes: BTreeSet<FixedBytes<3>>,
    /// Whether every address named is in `holders` (at most [`MAX_HOLDERS`] are kept).
    complete: bool,
}

impl Named {
    /// Note the addresses and currency codes in the ABI words of `calldata` (after the selector).
    fn note(&mut self, calldata: &[u8]) {
        for word in calldata.get(4..).unwrap_or_default().chunks_exact(32) {
            let address = Address::from_slice(&word[12..]);
            if self.holders.len() < MAX_HOLDERS {
                self.holders.insert(address);
            } else if !self.holders.contains(&address) {
                self.complete = false;
            }
            if word[..3].iter().all(u8::is_ascii_uppercase) {
                self.codes.insert(FixedBytes::from_slice(&word[..3]));
            }
        }
    }
}

/// Run the `chaincode_dispatch` target on `data`.
pub(crate) fn run(data: &[u8]) {
    let (index, calls) = calls(data);
    let Some(module) = modules().get(usize::from(index)) else { return };
    let module = module.as_ref();
    let mut host = MemoryHost::new();
    host.gas_limit = GAS_LIMIT;
    if index == PERMISSIONS {
        host.storage.extend(permissions_seed());
    }
    let mut named = Named { holders: CALLERS.into_iter().collect(), codes: BTreeSet::new(), complete: true };
    let mut wrote = false;
    for (n, spec) in calls.iter().enumerate() {
        if spec.next_block {
            host.block_number += 1;
            host.timestamp += 43_200;
        }
        named.note(spec.data);
        let call = Call {
            caller: spec.caller,
            value: if spec.value { U256::from(1) } else { U256::ZERO },
            data: spec.data,
            is_static: spec.is_static,
        };
        let context = format!("{} call {n} by {} (static: {})", module.name(), spec.caller, spec.is_static);
        let result = checked_call(module, &mut host, &call, &context);
        if result.is_ok() && !spec.is_static {
            wrote = true;
            if index == VALIDATORS {
                schedule_reads_back(&host, &context);
            }
            if index == PERMISSIONS {
                permissions_consistent(&host, &context);
            }
        }
    }
    if wrote && index == SETTLEMENT && named.complete {
        settlement_adds_up(module, &host, &named, &format!("settlement after {} calls", calls.len()));
    }
}

/// The permissions module's genesis storage: [`ADMIN`] administers, threshold 1,
/// an account allowlist of `CALLERS[1]`, the audit module administered by [`ADMIN`].
pub(crate) fn permissions_seed() -> std::collections::BTreeMap<U256, U256> {
    use dsec_sdk::chaincode::permissions::{Seed, genesis_storage};
    genesis_storage(&Seed {
        admins: vec![ADMIN],
        threshold: 1,
        accounts: Some(vec![CALLERS[1]]),
        module_admins: [("audit".to_string(), vec![ADMIN])].into(),
        ..Seed::default()
    })
}

/// Every set of the permissions module is consistent and the state reads back as the node reads it.
fn permissions_consistent(host: &MemoryHost, context: &str) {
    use dsec_sdk::chaincode::permissions::{
        ACCOUNTS, ADMINS, BLOCKED, DEPLOYERS, NODES, module_set, set_index_slot, set_item_slot, set_len_slot,
    };
    let read = |slot: U256| host.storage.get(&slot).copied().unwrap_or_default();
    for set in [ACCOUNTS, BLOCKED, DEPLOYERS, NODES, ADMINS, &module_set("audit"), &module_set("settlement")] {
        let len: u64 = read(set_len_slot(set)).saturating_to();
        assert!(len <= 1_000, "{context}: set {set} claims {len} members");
        for i in 0..len {
            let key = B256::from(read(set_item_slot(set, i)).to_be_bytes::<32>());
            assert_eq!(
                read(set_index_slot(set, &key)),
                U256::from(i + 1),
                "{context}: member {i} of {set} does not point back at its place"
            );
        }
        assert!(read(set_item_slot(set, len)).is_zero(), "{context}: {set} has a member past its length");
    }
    let state = match permissions::read_state(&mut |slot| Ok(read(slot)), &["audit".to_string()]) {
        Ok(state) => state,
        Err(e) => panic!("{context}: the permissions do not read back: {e}"),
    };
    let admins = u64::try_from(state.admins.len()).unwrap_or(u64::MAX);
    assert!(
        state.threshold >= 1 && state.threshold <= admins.max(1),
        "{context}: threshold {} of {admins}",
        state.threshold
    );
}

/// Make `call` on `host` and check what every call must satisfy.
fn checked_call(
    module: &dyn Chaincode,
    host: &mut MemoryHost,
    call: &Call<'_>,
    context: &str,
) -> Result<Bytes, Failure> {
    let before = host.clone();
    let result = host.call_with(module, call);
    if let Err(Failure::Fatal(message)) = &result {
        panic!("{context}: fatal failure on an in-memory host: {message}");
    }
    assert!(host.gas_used >= DISPATCH_GAS, "{context}: {} gas used, less than the dispatch gas", host.gas_used);
    if host.gas_used > host.gas_limit {
        assert_eq!(result, Err(Failure::OutOfGas), "{context}: {} gas used over the limit", host.gas_used);
    }
    if !call.value.is_zero() {
        assert!(result.is_err(), "{context}: a call with value succeeded");
    }
    if call.is_static && result.is_ok() {
        assert!(host.storage == before.storage, "{context}: a read-only call changed storage");
        assert_eq!(host.logs, before.logs, "{context}: a read-only call emitted logs");
    }
    // Every node must compute the same: repeat the call on the same state.
    let mut again = before;
    let repeated = again.call_with(module, call);
    assert_eq!(repeated, result, "{context}: the same call on the same state answers differently");
    assert_eq!(again.gas_used, host.gas_used, "{context}: the same call on the same state uses other gas");
    assert!(again.storage == host.storage, "{context}: the same call on the same state writes differently");
    assert_eq!(again.logs, host.logs, "{context}: the same call on the same state logs differently");
    result
}

/// A read-only call on `host` (a copy with no gas limit), which must succeed.
fn view(module: &dyn Chaincode, host: &mut MemoryHost, data: &[u8], context: &str) -> Bytes {
    let call = Call { caller: Address::ZERO, value: U256::ZERO, data, is_static: true };
    match host.call_with(module, &call) {
        Ok(out) => out,
        Err(e) => panic!("{context}: a view call fails: {e:?}"),
    }
}

/// A settlement view answering one `uint256`, called on `host`.
fn view_u256(
    module: &dyn Chaincode,
    host: &mut MemoryHost,
    call: &[u8],
    decode: fn(&[u8]) -> alloy::sol_types::Result<U256>,
    context: &str,
) -> U256 {
    let out = view(module, host, call, context);
    match decode(&out) {
        Ok(value) => value,
        Err(e) => panic!("{context}: a settlement view answers undecodable data: {e}"),
    }
}

/// For every currency that exists among those named: the balances of every
/// address named, plus what is locked in holds and payment-versus-payment
/// offers, are its supply.
fn settlement_adds_up(module: &dyn Chaincode, host: &MemoryHost, named: &Named, context: &str) {
    let mut host = host.clone();
    host.gas_limit = u64::MAX;
    for &code in &named.codes {
        let out = view(module, &mut host, &ISettlement::currencyCall { code }.abi_encode(), context);
        match ISettlement::currencyCall::abi_decode_returns(&out) {
            Ok(currency) if currency.exists => {}
            Ok(_) => continue,
            Err(e) => panic!("{context}: the currency view answers undecodable data: {e}"),
        }
        let supply = ISettlement::totalSupplyCall { code }.abi_encode();
        let supply = view_u256(module, &mut host, &supply, ISettlement::totalSupplyCall::abi_decode_returns, context);
        let locked = ISettlement::lockedCall { code }.abi_encode();
        let mut total = view_u256(module, &mut host, &locked, ISettlement::lockedCall::abi_decode_returns, context);
        for &party in &named.holders {
            let balance = ISettlement::balanceOfCall { party, code }.abi_encode();
            let decode = ISettlement::balanceOfCall::abi_decode_returns;
            total = total.saturating_add(view_u256(module, &mut host, &balance, decode, context));
        }
        assert_eq!(total, supply, "{context}: balances and locked funds of {code} are not its supply");
    }
}

/// The schedule of validator-set changes, read back as the node reads it.
fn schedule_reads_back(host: &MemoryHost, context: &str) {
    let storage = &host.storage;
    let mut read = |slot: U256| -> Result<U256, String> { Ok(storage.get(&slot).copied().unwrap_or_default()) };
    let changes = match validator_set::scheduled_changes(&mut read, 1) {
        Ok(changes) => changes,
        Err(e) => panic!("{context}: the validator-set schedule does not read back: {e}"),
    };
    let mut last_activation = None;
    for (i, change) in changes.iter().enumerate() {
        let set = &change.validators.validators;
        assert_eq!(change.number, i as u64 + 1, "{context}: changes are not numbered from 1");
        assert!(
            !set.is_empty() && set.len() <= MAX_VALIDATORS,
            "{context}: change {} has {} members",
            i + 1,
            set.len()
        );
        let total = change.validators.total_power();
        assert!(total > 0 && total <= MAX_TOTAL_POWER, "{context}: change {} has total power {total}", i + 1);
        assert!(set.windows(2).all(|w| w[0].address < w[1].address), "{context}: change {} repeats a member", i + 1);
        assert!(
            last_activation.is_none_or(|last| change.activation_height > last),
            "{context}: change {} does not activate after the one before",
            i + 1
        );
        last_activation = Some(change.activation_height);
    }
}
