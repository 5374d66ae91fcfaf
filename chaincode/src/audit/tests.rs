use super::*;
use crate::testing::MemoryHost;
use alloy::sol_types::{SolCall, SolError};
use dsec_sdk::merkle;

const ADMIN: Address = Address::repeat_byte(0xad);
const MEMBER: Address = Address::repeat_byte(0x01);
const STRANGER: Address = Address::repeat_byte(0x02);

fn module(tenants: Vec<GenesisTenant>) -> Arc<dyn Chaincode> {
    AuditAnchoring::from_config(&ModuleConfig { admins: vec![ADMIN], tenants, ..Default::default() }).unwrap()
}

fn reason(f: Failure) -> String {
    match f {
        Failure::Revert(data) => alloy::sol_types::Revert::abi_decode(&data).map(|r| r.reason).unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

fn lines(n: usize) -> Vec<B256> {
    (0..n).map(|i| merkle::leaf_hash(format!("{{\"event\":\"login\",\"n\":{i}}}").as_bytes())).collect()
}

fn setup() -> (Arc<dyn Chaincode>, MemoryHost, B256) {
    let m = module(vec![]);
    let mut host = MemoryHost::new();
    let tenant = tenant_id("tax-agency");
    let create =
        IAuditAnchor::createTenantCall { tenant, name: "Tax Agency".into(), zone: "eu-west".into(), anchorsPerDay: 3 };
    host.call(m.as_ref(), ADMIN, &create.abi_encode()).unwrap();
    host.call(m.as_ref(), ADMIN, &IAuditAnchor::addMemberCall { tenant, member: MEMBER }.abi_encode()).unwrap();
    (m, host, tenant)
}

fn anchor(
    host: &mut MemoryHost,
    m: &dyn Chaincode,
    tenant: B256,
    root: B256,
    count: u64,
    prev: B256,
) -> Result<(u64, B256), String> {
    let out = host
        .call(m, MEMBER, &IAuditAnchor::anchorCall { tenant, root, lineCount: count, prevAnchor: prev }.abi_encode())
        .map_err(reason)?;
    let r = IAuditAnchor::anchorCall::abi_decode_returns(&out).unwrap();
    Ok((r.seq, r.anchorHash))
}

#[test]
fn anchors_form_a_hash_chain_and_lines_verify() {
    let (m, mut host, tenant) = setup();
    let batch = lines(5);
    let root = merkle::root(&batch).unwrap();
    let (seq, first) = anchor(&mut host, m.as_ref(), tenant, root, 5, B256::ZERO).unwrap();
    assert_eq!(seq, 1);
    assert_eq!(first, anchor_hash(&tenant, 1, &root, 5, &B256::ZERO));
    assert_eq!(host.logs.len(), 3, "tenant created, member added, anchored");

    // Every line verifies on chain; a foreign line does not.
    for (i, leaf) in batch.iter().enumerate() {
        let proof = merkle::proof(&batch, i).unwrap();
        let call = IAuditAnchor::verifyLineCall { tenant, seq: 1, leaf: *leaf, index: i as u64, proof };
        let out = host.call(m.as_ref(), STRANGER, &call.abi_encode()).unwrap();
        assert!(IAuditAnchor::verifyLineCall::abi_decode_returns(&out).unwrap());
    }
    let forged = IAuditAnchor::verifyLineCall {
        tenant,
        seq: 1,
        leaf: merkle::leaf_hash(b"forged"),
        index: 0,
        proof: merkle::proof(&batch, 0).unwrap(),
    };
    let out = host.call(m.as_ref(), STRANGER, &forged.abi_encode()).unwrap();
    assert!(!IAuditAnchor::verifyLineCall::abi_decode_returns(&out).unwrap());

    // The next anchor must name the head: a stale or forked previous anchor is refused.
    let second_root = merkle::root(&lines(2)).unwrap();
    assert_eq!(
        anchor(&mut host, m.as_ref(), tenant, second_root, 2, B256::ZERO).unwrap_err(),
        "audit: previous anchor is not the tenant's head"
    );
    let (seq, second) = anchor(&mut host, m.as_ref(), tenant, second_root, 2, first).unwrap();
    assert_eq!(seq, 2);
    let head = host.call(m.as_ref(), STRANGER, &IAuditAnchor::headCall { tenant }.abi_encode()).unwrap();
    let head = IAuditAnchor::headCall::abi_decode_returns(&head).unwrap();
    assert_eq!((head.seq, head.anchorHash), (2, second));
    let info = host.call(m.as_ref(), STRANGER, &IAuditAnchor::anchorOfCall { tenant, seq: 1 }.abi_encode()).unwrap();
    let info = IAuditAnchor::anchorOfCall::abi_decode_returns(&info).unwrap();
    assert_eq!((info.root, info.lineCount, info.timestamp), (root, 5, host.timestamp));
}

#[test]
fn every_refusal_has_its_reason() {
    let (m, mut host, tenant) = setup();
    let root = merkle::root(&lines(1)).unwrap();
    let call =
        |t: B256| IAuditAnchor::anchorCall { tenant: t, root, lineCount: 1, prevAnchor: B256::ZERO }.abi_encode();
    assert_eq!(
        reason(host.call(m.as_ref(), STRANGER, &call(tenant)).unwrap_err()),
        "audit: caller is not a member of the tenant"
    );
    assert_eq!(reason(host.call(m.as_ref(), MEMBER, &call(tenant_id("nobody"))).unwrap_err()), "audit: unknown tenant");
    let empty = IAuditAnchor::anchorCall { tenant, root, lineCount: 0, prevAnchor: B256::ZERO }.abi_encode();
    assert_eq!(reason(host.call(m.as_ref(), MEMBER, &empty).unwrap_err()), "audit: empty batch");
    let create =
        IAuditAnchor::createTenantCall { tenant: tenant_id("x"), name: "X".into(), zone: "z".into(), anchorsPerDay: 1 };
    assert_eq!(
        reason(host.call(m.as_ref(), STRANGER, &create.abi_encode()).unwrap_err()),
        "audit: caller is not a platform administrator"
    );
    let dup = IAuditAnchor::createTenantCall { tenant, name: "Again".into(), zone: "z".into(), anchorsPerDay: 1 };
    assert_eq!(reason(host.call(m.as_ref(), ADMIN, &dup.abi_encode()).unwrap_err()), "audit: tenant exists");
    let long = IAuditAnchor::createTenantCall {
        tenant: tenant_id("y"),
        name: "n".repeat(40),
        zone: "z".into(),
        anchorsPerDay: 1,
    };
    assert_eq!(
        reason(host.call(m.as_ref(), ADMIN, &long.abi_encode()).unwrap_err()),
        "audit: name and zone must be at most 31 bytes"
    );
    assert_eq!(
        reason(host.call(m.as_ref(), MEMBER, &[1, 2, 3]).unwrap_err()),
        "audit: unknown function or bad arguments"
    );
    let read_only = crate::Call { caller: MEMBER, value: U256::ZERO, data: &call(tenant), is_static: true };
    assert_eq!(reason(host.call_with(m.as_ref(), &read_only).unwrap_err()), "audit: state change in a read-only call");
    let paying = crate::Call { caller: MEMBER, value: U256::from(1), data: &call(tenant), is_static: false };
    assert_eq!(reason(host.call_with(m.as_ref(), &paying).unwrap_err()), "audit: the module does not accept value");
}

#[test]
fn quota_is_per_tenant_per_day() {
    let (m, mut host, tenant) = setup();
    let root = merkle::root(&lines(1)).unwrap();
    let mut prev = B256::ZERO;
    for _ in 0..3 {
        prev = anchor(&mut host, m.as_ref(), tenant, root, 1, prev).unwrap().1;
    }
    assert_eq!(
        anchor(&mut host, m.as_ref(), tenant, root, 1, prev).unwrap_err(),
        "audit: anchoring quota exceeded for this period"
    );
    host.timestamp += PERIOD_SECS;
    assert!(anchor(&mut host, m.as_ref(), tenant, root, 1, prev).is_ok(), "a new day resets the quota");
}

#[test]
fn genesis_tenants_need_no_transaction() {
    let m = module(vec![GenesisTenant {
        id: "health-ministry".into(),
        name: "Health Ministry".into(),
        residency_zone: "gov-north".into(),
        members: vec![MEMBER],
        anchors_per_day: 10,
    }]);
    let mut host = MemoryHost::new();
    let tenant = tenant_id("health-ministry");
    let root = merkle::root(&lines(3)).unwrap();
    assert_eq!(anchor(&mut host, m.as_ref(), tenant, root, 3, B256::ZERO).unwrap().0, 1);
    let info = host.call(m.as_ref(), STRANGER, &IAuditAnchor::tenantInfoCall { tenant }.abi_encode()).unwrap();
    let info = IAuditAnchor::tenantInfoCall::abi_decode_returns(&info).unwrap();
    assert!(info.exists && info.zone == "gov-north" && info.anchorsPerDay == 10);
}

#[test]
fn failed_calls_leave_no_writes_and_gas_is_charged() {
    let (m, mut host, tenant) = setup();
    let before = host.storage.clone();
    let root = merkle::root(&lines(1)).unwrap();
    host.gas_limit = 30_000;
    let call = IAuditAnchor::anchorCall { tenant, root, lineCount: 1, prevAnchor: B256::ZERO }.abi_encode();
    assert_eq!(host.call(m.as_ref(), MEMBER, &call).unwrap_err(), Failure::OutOfGas);
    assert_eq!(host.storage, before);
    host.gas_limit = 10_000_000;
    host.call(m.as_ref(), MEMBER, &call).unwrap();
    assert!(host.gas_used > 100_000, "an anchor writes several slots: {}", host.gas_used);
}

#[test]
fn anchor_sequence_numbers_do_not_overflow() {
    let (m, mut host, tenant) = setup();
    // A tenant whose chain is at the last sequence number.
    host.storage.insert(slot("head.seq", &[tenant.as_slice()]), U256::from(u64::MAX));
    let root = B256::repeat_byte(3);
    assert_eq!(
        anchor(&mut host, m.as_ref(), tenant, root, 1, B256::ZERO).unwrap_err(),
        "audit: the tenant's anchor chain is full"
    );
}

#[test]
fn calldata_is_charged_per_word_before_it_is_decoded() {
    let (m, mut host, tenant) = setup();
    // A megabyte that decodes to no function: refused, after paying for every word.
    let garbage = vec![0xffu8; 1 << 20];
    let words = (1u64 << 20) / 32;
    assert_eq!(
        reason(host.call(m.as_ref(), STRANGER, &garbage).unwrap_err()),
        "audit: unknown function or bad arguments"
    );
    assert_eq!(host.gas_used, crate::DISPATCH_GAS + crate::gas::CALLDATA_WORD_GAS * words);
    // Proof steps are charged before the proof is walked, even for a proof that fails early.
    let verify =
        IAuditAnchor::verifyLineCall { tenant, seq: 1, leaf: B256::ZERO, index: 0, proof: vec![B256::ZERO; 1_000] };
    let data = verify.abi_encode();
    host.call(m.as_ref(), STRANGER, &data).unwrap();
    assert!(host.gas_used >= crate::DISPATCH_GAS + crate::gas::calldata_gas(data.len()) + 60 * 1_000);
}

fn call_as<C: SolCall>(host: &mut MemoryHost, m: &dyn Chaincode, who: Address, c: C) -> Result<C::Return, String> {
    let out = host.call(m, who, &c.abi_encode()).map_err(reason)?;
    Ok(C::abi_decode_returns(&out).expect("decodable return"))
}

fn append(host: &mut MemoryHost, m: &dyn Chaincode, who: Address, tenant: B256, n: usize) -> Result<u64, String> {
    let root = merkle::root(&lines(n)).unwrap();
    call_as(host, m, who, IAuditAnchor::appendCall { tenant, root, lineCount: n as u64 }).map(|r| r.seq)
}

#[test]
fn concurrent_members_append_in_block_order_and_the_chain_still_links() {
    let (m, mut host, tenant) = setup();
    let second = Address::repeat_byte(0x03);
    call_as(&mut host, m.as_ref(), ADMIN, IAuditAnchor::addMemberCall { tenant, member: second }).unwrap();
    // Both members saw the empty head; with `anchor` the second would collide.
    let root = merkle::root(&lines(2)).unwrap();
    anchor(&mut host, m.as_ref(), tenant, root, 2, B256::ZERO).unwrap();
    let stale = IAuditAnchor::anchorCall { tenant, root, lineCount: 2, prevAnchor: B256::ZERO };
    assert_eq!(
        call_as(&mut host, m.as_ref(), second, stale).err().unwrap(),
        "audit: previous anchor is not the tenant's head"
    );
    // `append` chains to the head as it finds it.
    assert_eq!(append(&mut host, m.as_ref(), second, tenant, 3), Ok(2));
    let first = call_as(&mut host, m.as_ref(), STRANGER, IAuditAnchor::anchorOfCall { tenant, seq: 1 }).unwrap();
    let (topics, data) = host.logs.last().unwrap();
    let event = IAuditAnchor::Anchored::decode_raw_log(topics.iter().copied(), data).unwrap();
    assert_eq!((event.seq, event.prevAnchor), (2, first.anchorHash), "the appended anchor names its predecessor");
    assert_eq!(event.anchorHash, anchor_hash(&tenant, 2, &event.root, 3, &first.anchorHash));
    assert_eq!(
        append(&mut host, m.as_ref(), STRANGER, tenant, 1),
        Err("audit: caller is not a member of the tenant".into())
    );
}

#[test]
fn administrators_remove_members_suspend_tenants_and_move_quotas() {
    let m = module(vec![GenesisTenant {
        id: "health-ministry".into(),
        name: "Health Ministry".into(),
        residency_zone: "gov-north".into(),
        members: vec![MEMBER],
        anchors_per_day: 2,
    }]);
    let mut host = MemoryHost::new();
    let m = m.as_ref();
    let tenant = tenant_id("health-ministry");
    for (who, call) in [
        (MEMBER, IAuditAnchor::suspendTenantCall { tenant }.abi_encode()),
        (MEMBER, IAuditAnchor::removeMemberCall { tenant, member: MEMBER }.abi_encode()),
        (MEMBER, IAuditAnchor::setQuotaCall { tenant, anchorsPerDay: 9 }.abi_encode()),
    ] {
        assert_eq!(reason(host.call(m, who, &call).err().unwrap()), "audit: caller is not a platform administrator");
    }

    // Quota: 2 a day from the genesis, moved to 3 by an administrator.
    assert_eq!(append(&mut host, m, MEMBER, tenant, 1), Ok(1));
    assert_eq!(append(&mut host, m, MEMBER, tenant, 1), Ok(2));
    assert_eq!(append(&mut host, m, MEMBER, tenant, 1), Err("audit: anchoring quota exceeded for this period".into()));
    call_as(&mut host, m, ADMIN, IAuditAnchor::setQuotaCall { tenant, anchorsPerDay: 3 }).unwrap();
    let status = call_as(&mut host, m, STRANGER, IAuditAnchor::tenantStatusCall { tenant }).unwrap();
    assert_eq!((status.suspended, status.anchorsPerDay, status.usedToday), (false, 3, 2));
    assert_eq!(call_as(&mut host, m, STRANGER, IAuditAnchor::tenantInfoCall { tenant }).unwrap().anchorsPerDay, 3);
    assert_eq!(append(&mut host, m, MEMBER, tenant, 1), Ok(3));

    // Suspended: nobody anchors until resumed.
    host.timestamp += PERIOD_SECS;
    call_as(&mut host, m, ADMIN, IAuditAnchor::suspendTenantCall { tenant }).unwrap();
    assert_eq!(append(&mut host, m, MEMBER, tenant, 1), Err("audit: tenant is suspended".into()));
    assert_eq!(
        call_as(&mut host, m, ADMIN, IAuditAnchor::suspendTenantCall { tenant }).err().unwrap(),
        "audit: tenant is suspended"
    );
    call_as(&mut host, m, ADMIN, IAuditAnchor::resumeTenantCall { tenant }).unwrap();
    assert_eq!(
        call_as(&mut host, m, ADMIN, IAuditAnchor::resumeTenantCall { tenant }).err().unwrap(),
        "audit: tenant is not suspended"
    );
    assert_eq!(append(&mut host, m, MEMBER, tenant, 1), Ok(4));

    // A genesis member removed can no longer anchor; re-added, it can.
    call_as(&mut host, m, ADMIN, IAuditAnchor::removeMemberCall { tenant, member: MEMBER }).unwrap();
    assert!(!call_as(&mut host, m, STRANGER, IAuditAnchor::isMemberCall { tenant, who: MEMBER }).unwrap());
    assert_eq!(append(&mut host, m, MEMBER, tenant, 1), Err("audit: caller is not a member of the tenant".into()));
    assert_eq!(
        call_as(&mut host, m, ADMIN, IAuditAnchor::removeMemberCall { tenant, member: MEMBER }).err().unwrap(),
        "audit: not a member of the tenant"
    );
    call_as(&mut host, m, ADMIN, IAuditAnchor::addMemberCall { tenant, member: MEMBER }).unwrap();
    assert_eq!(append(&mut host, m, MEMBER, tenant, 1), Ok(5));
    let unknown = IAuditAnchor::suspendTenantCall { tenant: tenant_id("nobody") };
    assert_eq!(call_as(&mut host, m, ADMIN, unknown).err().unwrap(), "audit: unknown tenant");
}
