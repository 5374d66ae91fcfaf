use super::*;
use crate::testing::MemoryHost;
use dsec_sdk::chaincode::permissions::{Seed, genesis_storage, sign_approval};
use dsec_sdk::tx::LocalKey;
use dsec_sdk::validators::{ValidatorKey, ValidatorSet};

const CHAIN: B256 = B256::repeat_byte(0xc5);
const PEER: &str = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo";

struct Net {
    module: Permissions,
    host: MemoryHost,
    admins: Vec<LocalKey>,
    validators: Vec<ValidatorKey>,
}

fn net(admins: usize, threshold: u64, accounts: Option<Vec<Address>>) -> Net {
    let keys: Vec<LocalKey> = (0..admins).map(|_| LocalKey::random()).collect();
    let validators: Vec<ValidatorKey> = (0..4).map(|_| ValidatorKey::generate()).collect();
    let set = ValidatorSet::new(validators.iter().map(|k| k.validator(1)).collect());
    let governance = ValidatorGovernance::new(CHAIN, &set, None);
    let module = Permissions::new(CHAIN, governance, vec!["settlement".into(), "audit".into()]);
    let seed = Seed {
        admins: keys.iter().map(LocalKey::address).collect(),
        threshold,
        accounts,
        module_admins: [("settlement".to_string(), vec![Address::repeat_byte(0x5e)])].into(),
        ..Seed::default()
    };
    let mut host = MemoryHost::new();
    host.storage.extend(genesis_storage(&seed));
    Net { module, host, admins: keys, validators }
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

impl Net {
    fn call(&mut self, caller: Address, call: impl SolCall) -> Result<Bytes, Failure> {
        self.host.call(&self.module, caller, &call.abi_encode())
    }

    fn admin(&self, i: usize) -> Address {
        self.admins[i].address()
    }

    fn state(&self) -> PermissionState {
        let storage = self.host.storage.clone();
        read_state(&mut |slot| Ok(storage.get(&slot).copied().unwrap_or_default()), &["settlement".to_string()])
            .unwrap()
    }

    fn view<C: SolCall>(&mut self, call: C) -> C::Return {
        let out = self.call(Address::ZERO, call).unwrap();
        C::abi_decode_returns(&out).unwrap()
    }

    /// `execute(change)` signed by the admins at `signers`.
    fn execute(&mut self, change: impl SolCall, signers: &[usize]) -> Result<Bytes, Failure> {
        let change = Bytes::from(change.abi_encode());
        let nonce = self.view(IPermissions::changeNonceCall {});
        let digest = change_digest(&CHAIN, nonce, &change);
        let signatures = signers.iter().map(|&i| sign_approval(&self.admins[i], &digest)).collect();
        self.call(Address::repeat_byte(0x77), IPermissions::executeCall { change, signatures })
    }

    fn event_names(&self) -> Vec<B256> {
        self.host.logs.iter().map(|(topics, _)| topics[0]).collect()
    }
}

#[test]
fn an_administrator_adds_removes_and_re_adds_a_sender_with_events() {
    let outsider = Address::repeat_byte(0x42);
    let mut n = net(1, 1, Some(vec![]));
    assert!(!n.view(IPermissions::mayTransactCall { account: outsider }));
    assert!(n.view(IPermissions::mayTransactCall { account: n.admin(0) }), "administrators may always send");

    let refused = n.call(outsider, IPermissions::addAccountCall { account: outsider });
    assert!(revert_text(refused).contains("is not a permission administrator"));

    let admin = n.admin(0);
    n.call(admin, IPermissions::addAccountCall { account: outsider }).unwrap();
    assert!(n.view(IPermissions::mayTransactCall { account: outsider }));
    assert!(revert_text(n.call(admin, IPermissions::addAccountCall { account: outsider })).contains("already on"));
    n.call(admin, IPermissions::removeAccountCall { account: outsider }).unwrap();
    assert!(!n.view(IPermissions::mayTransactCall { account: outsider }));
    n.call(admin, IPermissions::addAccountCall { account: outsider }).unwrap();
    assert_eq!(n.state().accounts, vec![outsider]);
    assert_eq!(n.state().nonce, 3);
    assert_eq!(
        n.event_names(),
        vec![
            IPermissions::AccountAdded::SIGNATURE_HASH,
            IPermissions::ChangeMade::SIGNATURE_HASH,
            IPermissions::AccountRemoved::SIGNATURE_HASH,
            IPermissions::ChangeMade::SIGNATURE_HASH,
            IPermissions::AccountAdded::SIGNATURE_HASH,
            IPermissions::ChangeMade::SIGNATURE_HASH,
        ]
    );
    // The account is the indexed topic.
    assert_eq!(n.host.logs[0].0[1], outsider.into_word());
}

#[test]
fn open_mode_blocklist_and_deployer_list() {
    let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
    let mut n = net(1, 1, None);
    let admin = n.admin(0);
    assert!(n.view(IPermissions::mayTransactCall { account: a }) && n.view(IPermissions::mayDeployCall { account: a }));
    n.call(admin, IPermissions::blockAccountCall { account: a }).unwrap();
    assert!(
        !n.view(IPermissions::mayTransactCall { account: a }) && !n.view(IPermissions::mayDeployCall { account: a })
    );
    n.call(admin, IPermissions::setDeployerAllowlistCall { enabled: true }).unwrap();
    n.call(admin, IPermissions::addDeployerCall { account: b }).unwrap();
    assert!(n.view(IPermissions::mayDeployCall { account: b }));
    assert!(!n.view(IPermissions::mayDeployCall { account: Address::repeat_byte(3) }));
    n.call(admin, IPermissions::unblockAccountCall { account: a }).unwrap();
    n.call(admin, IPermissions::setAccountAllowlistCall { enabled: true }).unwrap();
    let state = n.state();
    assert!(state.account_allowlist && state.deployer_allowlist);
    assert_eq!((state.blocked, state.deployers), (vec![], vec![b]));
    assert!(!n.view(IPermissions::mayTransactCall { account: a }), "allowlist mode with an empty list");
}

#[test]
fn m_of_n_approvals_too_few_refused_enough_accepted_replay_refused() {
    let account = Address::repeat_byte(0x42);
    let mut n = net(3, 2, Some(vec![]));
    let direct = n.call(n.admin(0), IPermissions::addAccountCall { account });
    assert!(revert_text(direct).contains("need 2 administrator approvals"));
    assert!(
        revert_text(n.execute(IPermissions::addAccountCall { account }, &[0]))
            .contains("1 administrator approvals; 2 needed")
    );
    assert!(revert_text(n.execute(IPermissions::addAccountCall { account }, &[1, 1])).contains("signed twice"));

    // A stranger's signature is refused, naming the signer.
    let stranger = LocalKey::random();
    n.admins.push(stranger.clone());
    let refused = revert_text(n.execute(IPermissions::addAccountCall { account }, &[0, 3]));
    assert!(refused.contains(&stranger.address().to_string()) && refused.contains("not an administrator"), "{refused}");

    // Enough approvals: the change is made and the approvers recorded.
    let change = Bytes::from(IPermissions::addAccountCall { account }.abi_encode());
    let digest = change_digest(&CHAIN, 0, &change);
    let signatures: Vec<Bytes> = [0, 2].iter().map(|&i| sign_approval(&n.admins[i], &digest)).collect();
    n.call(
        Address::repeat_byte(0x77),
        IPermissions::executeCall { change: change.clone(), signatures: signatures.clone() },
    )
    .unwrap();
    assert_eq!(n.state().accounts, vec![account]);
    let (_, data) = n.host.logs.last().unwrap();
    let made = IPermissions::ChangeMade::abi_decode_data(data).unwrap();
    assert_eq!(made.0, IPermissions::addAccountCall::SELECTOR);
    assert_eq!(made.1, vec![n.admin(0), n.admin(2)]);

    // The same signatures again (a replay) no longer verify: the nonce moved on.
    let replay = n.call(Address::repeat_byte(0x77), IPermissions::executeCall { change, signatures });
    assert!(revert_text(replay).contains("not an administrator (or it signs another change or nonce)"));

    // Only change functions travel through execute.
    let inner = Bytes::from(IPermissions::changeNonceCall {}.abi_encode());
    let refused = n.call(Address::ZERO, IPermissions::executeCall { change: inner, signatures: vec![] });
    assert!(revert_text(refused).contains("only change functions"));
}

#[test]
fn validators_replace_the_administrators() {
    let mut n = net(1, 1, None);
    let new_admins = vec![Address::repeat_byte(0xa1), Address::repeat_byte(0xa2)];
    let digest = admins_digest(&CHAIN, 0, &new_admins, 2);
    let approve = |keys: &[ValidatorKey]| -> Vec<IPermissions::ValidatorApproval> {
        keys.iter()
            .map(|k| IPermissions::ValidatorApproval {
                publicKey: k.public_key(),
                signature: k.sign(digest.as_slice()).to_vec().into(),
                mlDsaSignature: Bytes::new(),
            })
            .collect()
    };
    let two = approve(&n.validators[..2]);
    let refused = n.call(
        Address::repeat_byte(9),
        IPermissions::replaceAdminsCall { admins: new_admins.clone(), threshold: 2, approvals: two },
    );
    assert!(revert_text(refused).contains("more than two thirds"));
    let three = approve(&n.validators[..3]);
    n.call(
        Address::repeat_byte(9),
        IPermissions::replaceAdminsCall { admins: new_admins.clone(), threshold: 2, approvals: three },
    )
    .unwrap();
    let state = n.state();
    assert_eq!((state.admins, state.threshold, state.nonce), (new_admins, 2, 1));
    let old = n.admin(0);
    assert!(
        revert_text(n.call(old, IPermissions::addAccountCall { account: old }))
            .contains("not a permission administrator")
    );
}

#[test]
fn administrator_sets_are_checked() {
    let mut n = net(2, 1, None);
    let admin = n.admin(0);
    let dup = n.call(admin, IPermissions::setAdminsCall { admins: vec![admin, admin], threshold: 1 });
    assert!(revert_text(dup).contains("appears twice"));
    let high = n.call(admin, IPermissions::setAdminsCall { admins: vec![admin], threshold: 2 });
    assert!(revert_text(high).contains("threshold must be between 1 and the number of administrators (1)"));
    let zero = n.call(admin, IPermissions::setAdminsCall { admins: vec![Address::ZERO], threshold: 1 });
    assert!(revert_text(zero).contains("zero address"));
}

#[test]
fn module_administrators_rotate_and_other_modules_see_it() {
    let mut n = net(1, 1, None);
    let (officer, successor) = (Address::repeat_byte(0x5e), Address::repeat_byte(0x5f));
    let admin = n.admin(0);
    let unknown = n.call(admin, IPermissions::addModuleAdminCall { module: "payroll".into(), admin: successor });
    assert!(revert_text(unknown).contains("no chaincode module \"payroll\""));
    n.call(admin, IPermissions::addModuleAdminCall { module: "settlement".into(), admin: successor }).unwrap();
    n.call(admin, IPermissions::removeModuleAdminCall { module: "settlement".into(), admin: officer }).unwrap();
    assert_eq!(n.view(IPermissions::moduleAdminsCall { module: "settlement".into() }), vec![successor]);

    let state = n.state();
    assert_eq!(state.module_admins, vec![("settlement".to_string(), vec![successor])]);
}

#[derive(Debug, Default)]
struct ProbeModule;

impl Chaincode for ProbeModule {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn address(&self) -> Address {
        Address::repeat_byte(0xee)
    }
    fn interface(&self) -> &'static str {
        ""
    }
    fn call(&self, host: &mut dyn Host, call: &Call<'_>) -> Result<Bytes, Failure> {
        let admin = is_module_admin(host, "settlement", &call.caller, &[Address::repeat_byte(0x5e)])?;
        Ok(Bytes::from(vec![u8::from(admin)]))
    }
}

#[test]
fn is_module_admin_reads_the_permissions_module_once_seeded() {
    let (officer, successor) = (Address::repeat_byte(0x5e), Address::repeat_byte(0x5f));
    let module = ProbeModule;
    // Not seeded (a module tested alone): its configuration decides.
    let mut alone = MemoryHost::new();
    assert_eq!(alone.call(&module, officer, &[]).unwrap()[0], 1);
    assert_eq!(alone.call(&module, successor, &[]).unwrap()[0], 0);
    // Seeded and rotated: the permissions module decides.
    let mut n = net(1, 1, None);
    let admin = n.admin(0);
    n.call(admin, IPermissions::addModuleAdminCall { module: "settlement".into(), admin: successor }).unwrap();
    n.call(admin, IPermissions::removeModuleAdminCall { module: "settlement".into(), admin: officer }).unwrap();
    let mut chain = MemoryHost::new();
    chain.foreign = n.host.storage.iter().map(|(k, v)| ((ADDRESS, *k), *v)).collect();
    assert_eq!(chain.call(&module, officer, &[]).unwrap()[0], 0);
    assert_eq!(chain.call(&module, successor, &[]).unwrap()[0], 1);
}

#[test]
fn nodes_are_peer_ids_and_read_back() {
    let mut n = net(1, 1, None);
    let admin = n.admin(0);
    let bad = n.call(admin, IPermissions::addNodeCall { peerId: "not a peer".into() });
    assert!(revert_text(bad).contains("is not a base58 libp2p peer id"));
    n.call(admin, IPermissions::addNodeCall { peerId: PEER.into() }).unwrap();
    assert_eq!(n.view(IPermissions::nodesCall {}), vec![PEER.to_string()]);
    assert_eq!(n.state().nodes, vec![PEER.to_string()]);
    n.call(admin, IPermissions::removeNodeCall { peerId: PEER.into() }).unwrap();
    assert!(n.state().nodes.is_empty());
    assert!(
        revert_text(n.call(admin, IPermissions::removeNodeCall { peerId: PEER.into() }))
            .contains("not on the node list")
    );
}

#[test]
fn removal_keeps_the_set_consistent() {
    let mut n = net(1, 1, Some(vec![]));
    let admin = n.admin(0);
    let accounts: Vec<Address> = (1..=5).map(Address::repeat_byte).collect();
    for a in &accounts {
        n.call(admin, IPermissions::addAccountCall { account: *a }).unwrap();
    }
    n.call(admin, IPermissions::removeAccountCall { account: accounts[1] }).unwrap();
    n.call(admin, IPermissions::removeAccountCall { account: accounts[4] }).unwrap();
    let mut left = n.state().accounts;
    left.sort();
    assert_eq!(left, vec![accounts[0], accounts[2], accounts[3]]);
    for a in &left {
        assert!(n.view(IPermissions::mayTransactCall { account: *a }));
    }
    assert!(!n.view(IPermissions::mayTransactCall { account: accounts[1] }));
}

#[test]
fn views_refuse_writes_in_static_calls() {
    let mut n = net(1, 1, None);
    let data = IPermissions::addAccountCall { account: Address::repeat_byte(1) }.abi_encode();
    let call = Call { caller: n.admin(0), value: U256::ZERO, data: &data, is_static: true };
    assert!(revert_text(n.host.call_with(&n.module, &call)).contains("read-only"));
}

#[test]
fn following_the_events_gives_the_state_read_from_storage() {
    let mut n = net(3, 1, Some(vec![Address::repeat_byte(0x11)]));
    let before = n.state();
    let (admin, a, b) = (n.admin(0), Address::repeat_byte(1), Address::repeat_byte(2));
    let changes: Vec<Vec<u8>> = vec![
        IPermissions::addAccountCall { account: a }.abi_encode(),
        IPermissions::removeAccountCall { account: Address::repeat_byte(0x11) }.abi_encode(),
        IPermissions::blockAccountCall { account: b }.abi_encode(),
        IPermissions::setDeployerAllowlistCall { enabled: true }.abi_encode(),
        IPermissions::addDeployerCall { account: a }.abi_encode(),
        IPermissions::addNodeCall { peerId: PEER.into() }.abi_encode(),
        IPermissions::addModuleAdminCall { module: "settlement".into(), admin: b }.abi_encode(),
        IPermissions::removeModuleAdminCall { module: "settlement".into(), admin: Address::repeat_byte(0x5e) }
            .abi_encode(),
        IPermissions::setAccountAllowlistCall { enabled: false }.abi_encode(),
        IPermissions::setAdminsCall { admins: vec![admin, a], threshold: 2 }.abi_encode(),
    ];
    for change in &changes {
        n.host.call(&n.module, admin, change).unwrap();
    }
    // A refused change leaves no event.
    assert!(n.host.call(&n.module, b, &changes[0]).is_err());
    let mut followed = before;
    followed.apply_events(n.host.logs.iter().map(|(t, d)| (t.as_slice(), d.as_ref())));
    let read = n.state();
    let sorted = |s: &PermissionState| {
        let mut s = s.clone();
        for list in [&mut s.accounts, &mut s.blocked, &mut s.deployers, &mut s.admins] {
            list.sort();
        }
        s.module_admins.iter_mut().for_each(|(_, l)| l.sort());
        s
    };
    assert_eq!(sorted(&followed), sorted(&read));
    let storage = n.host.storage.clone();
    let summary =
        read_summary(&mut |slot| Ok(storage.get(&slot).copied().unwrap_or_default()), &["settlement".to_string()])
            .unwrap();
    assert_eq!(summary, followed.summary());
    assert_eq!(summary.counters, (2, 10));
}
