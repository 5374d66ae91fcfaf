//! Who may transact and who may create contracts: rules of the ledger, applied
//! by every validator while it executes a block, not only by the node that
//! first admits a transaction.
//!
//! A transaction whose sender may not send is invalid (the block builder
//! skips it, a validator refuses a block containing it). A contract-creation
//! transaction from a sender who may not deploy is invalid too. A creation
//! *inside* a transaction (`CREATE`/`CREATE2` at any call depth) whose origin
//! may not deploy fails like a creation that runs out of funds: the creating
//! frame sees address 0 and the revert reason
//! `sender not permitted to deploy contracts`, keeps all the gas it offered,
//! and the transaction goes on (Avalanche's deployer allowlist works this way).

use alloy::sol_types::SolError;
use alloy_primitives::{Address, Bytes};
use revm::interpreter::{CreateInputs, CreateOutcome, Gas, InstructionResult, InterpreterResult};
use std::collections::HashSet;

/// The revert reason of a creation refused by the deployer rule.
pub const DEPLOY_NOT_PERMITTED: &str = "sender not permitted to deploy contracts";

/// The account and deployer lists in force (`None`: anyone), the blocklist,
/// and the permission administrators, who may always send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRules {
    senders: Option<HashSet<Address>>,
    deployers: Option<HashSet<Address>>,
    blocked: HashSet<Address>,
    administrators: HashSet<Address>,
}

impl AccessRules {
    /// Anyone may send and deploy.
    pub fn open() -> Self {
        Self::default()
    }

    /// Only `senders` may send (`None`: anyone) and only `deployers` may
    /// create contracts (`None`: anyone who may send).
    pub fn new(
        senders: Option<impl IntoIterator<Item = Address>>,
        deployers: Option<impl IntoIterator<Item = Address>>,
    ) -> Self {
        Self {
            senders: senders.map(|s| s.into_iter().collect()),
            deployers: deployers.map(|d| d.into_iter().collect()),
            blocked: HashSet::new(),
            administrators: HashSet::new(),
        }
    }

    /// The rules the permissions module's state sets: its allowlists when
    /// enabled, its blocklist, and its administrators.
    pub fn from_permissions(state: &dsec_chaincode::permissions::PermissionState) -> Self {
        Self {
            senders: state.account_allowlist.then(|| state.accounts.iter().copied().collect()),
            deployers: state.deployer_allowlist.then(|| state.deployers.iter().copied().collect()),
            blocked: state.blocked.iter().copied().collect(),
            administrators: state.admins.iter().copied().collect(),
        }
    }

    /// Whether `sender` may send transactions: an administrator always may; a
    /// blocked account never; otherwise anyone in open mode, or a listed account.
    pub fn may_send(&self, sender: &Address) -> bool {
        self.administrators.contains(sender)
            || (!self.blocked.contains(sender) && self.senders.as_ref().is_none_or(|list| list.contains(sender)))
    }

    /// Whether transactions from `origin` may create contracts, directly or through contracts.
    pub fn may_deploy(&self, origin: &Address) -> bool {
        self.deployers.as_ref().is_none_or(|list| list.contains(origin))
    }

    /// The account list, sorted (`None`: anyone may send).
    pub fn senders(&self) -> Option<Vec<Address>> {
        self.senders.as_ref().map(sorted)
    }

    /// The deployer list, sorted (`None`: anyone who may send may deploy).
    pub fn deployers(&self) -> Option<Vec<Address>> {
        self.deployers.as_ref().map(sorted)
    }

    /// The blocklist, sorted.
    pub fn blocked(&self) -> Vec<Address> {
        sorted(&self.blocked)
    }

    /// The permission administrators, sorted.
    pub fn administrators(&self) -> Vec<Address> {
        sorted(&self.administrators)
    }

    /// Whether every sender may deploy (no creation needs watching).
    pub fn deploy_is_open(&self) -> bool {
        self.deployers.is_none()
    }
}

fn sorted(set: &HashSet<Address>) -> Vec<Address> {
    let mut list: Vec<Address> = set.iter().copied().collect();
    list.sort_unstable();
    list
}

/// Refuses every contract creation while `deny` is set: the inspector a
/// transaction from a non-deployer runs under.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeployGate {
    /// Refuse creations.
    pub deny: bool,
}

impl<CTX> revm::Inspector<CTX> for DeployGate {
    fn create(&mut self, _: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        self.deny.then(|| refused_creation(inputs))
    }
}

/// The outcome of a creation refused by the deployer rule: reverted with the
/// reason, no address, every gas unit given back (the shape revm gives a
/// creation that fails before running, such as one too deep).
pub(crate) fn refused_creation(inputs: &CreateInputs) -> CreateOutcome {
    let reason = alloy::sol_types::Revert::from(DEPLOY_NOT_PERMITTED).abi_encode();
    CreateOutcome {
        result: InterpreterResult {
            result: InstructionResult::Revert,
            output: Bytes::from(reason),
            gas: Gas::new_with_regular_gas_and_reservoir(inputs.gas_limit(), inputs.reservoir()),
        },
        address: None,
        charged_create_state_gas: inputs.charged_create_state_gas(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_restrict_only_when_present() {
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let open = AccessRules::open();
        assert!(open.may_send(&a) && open.may_deploy(&a) && open.deploy_is_open());
        let rules = AccessRules::new(Some([a, b]), Some([a]));
        assert!(rules.may_send(&a) && rules.may_send(&b) && !rules.may_send(&Address::ZERO));
        assert!(rules.may_deploy(&a) && !rules.may_deploy(&b) && !rules.deploy_is_open());
        let senders_only = AccessRules::new(Some([a]), None::<Vec<Address>>);
        assert!(senders_only.may_deploy(&b), "no deployer list: whoever may send may deploy");
        assert_eq!(rules.senders(), Some(vec![a, b]));
        assert_eq!(senders_only.deployers(), None);
    }

    #[test]
    fn administrators_always_send_and_blocked_accounts_never() {
        use dsec_chaincode::permissions::PermissionState;
        let (admin, blocked, listed) = (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3));
        let state = PermissionState {
            account_allowlist: true,
            accounts: vec![listed, blocked],
            blocked: vec![blocked, admin],
            admins: vec![admin],
            ..Default::default()
        };
        let rules = AccessRules::from_permissions(&state);
        assert!(rules.may_send(&admin), "an administrator, even blocked and unlisted");
        assert!(!rules.may_send(&blocked), "blocked beats listed");
        assert!(rules.may_send(&listed) && !rules.may_send(&Address::repeat_byte(4)));
        assert!(rules.deploy_is_open());
        let open = AccessRules::from_permissions(&PermissionState { blocked: vec![blocked], ..Default::default() });
        assert!(open.may_send(&listed) && !open.may_send(&blocked) && open.senders().is_none());
    }
}
