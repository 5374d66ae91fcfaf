//! Tenant audit anchoring for a multi-tenant government cloud.
//!
//! Tenants (agencies) are created by platform administrators, with members, a
//! residency zone label and a quota of anchors per day. A member anchors a
//! batch of audit-log lines: the RFC 6962 Merkle root, the line count and the
//! tenant's previous anchor hash, so each tenant's anchors form a hash chain
//! that cannot be reordered or forked. Anyone can check on chain (or offline
//! with [`dsec_sdk::merkle`]) that a line belongs to an anchored batch.
//!
//! Administrators remove members (genesis members too), suspend and resume
//! tenants and change their quotas. Members anchoring concurrently use
//! `append`, which chains each batch to the head as the transaction finds it,
//! so two members' anchors in one block both land, in block order.
//!
//! The Solidity interface is `chaincode/sol/IAuditAnchor.sol`.

use crate::storage::{from_short_string, load_u64, load_word, short_string, slot, store_u64, store_word};
use crate::{Call, Chaincode, Failure, GenesisTenant, Host, ModuleConfig};
use alloy::sol_types::{SolCall, SolEvent};
use alloy_primitives::{Address, B256, Bytes, U256};
use std::collections::HashMap;
use std::sync::Arc;

use IAuditAnchor::IAuditAnchorCalls as Calls;
pub use dsec_sdk::chaincode::audit::{ADDRESS, IAuditAnchor, tenant_id};
/// Length of a quota period.
pub const PERIOD_SECS: u64 = 86_400;
/// Stored membership: added by an administrator.
const MEMBER: u64 = 1;
/// Stored membership: removed by an administrator (overrides the genesis).
const REMOVED: u64 = 2;
/// Gas charged per Merkle proof step (a keccak over 65 bytes, under 1 µs:
/// 30 gas at [`crate::gas::GAS_PER_MICROSECOND`]), before the proof is checked.
const PROOF_STEP_GAS: u64 = 60;

/// The audit anchoring module.
#[derive(Debug)]
pub struct AuditAnchoring {
    admins: Vec<Address>,
    genesis_tenants: HashMap<B256, GenesisTenant>,
}

pub use dsec_sdk::chaincode::audit::anchor_hash;

fn ok(output: Vec<u8>) -> Result<Bytes, Failure> {
    Ok(output.into())
}

impl AuditAnchoring {
    /// Build the module from its genesis configuration.
    pub fn from_config(config: &ModuleConfig) -> Result<Arc<dyn Chaincode>, String> {
        if !config.settings.is_null() && config.settings.as_object().is_none_or(|o| !o.is_empty()) {
            return Err("the audit module takes no settings".into());
        }
        let mut genesis_tenants = HashMap::new();
        for t in &config.tenants {
            if short_string(&t.name).is_none() || short_string(&t.residency_zone).is_none() {
                return Err(format!("tenant {:?}: name and residency zone must be at most 31 bytes", t.id));
            }
            genesis_tenants.insert(tenant_id(&t.id), t.clone());
        }
        Ok(Arc::new(Self { admins: config.admins.clone(), genesis_tenants }))
    }

    fn exists(&self, host: &mut dyn Host, tenant: &B256) -> Result<bool, Failure> {
        Ok(self.genesis_tenants.contains_key(tenant)
            || host.sload(slot("tenant.exists", &[tenant.as_slice()]))? != U256::ZERO)
    }

    fn require_tenant(&self, host: &mut dyn Host, tenant: &B256) -> Result<(), Failure> {
        if self.exists(host, tenant)? { Ok(()) } else { Err(Failure::reason("audit: unknown tenant")) }
    }

    fn is_member(&self, host: &mut dyn Host, tenant: &B256, who: &Address) -> Result<bool, Failure> {
        // Stored state overrides the genesis: added, or removed (genesis members too).
        match load_u64(host, slot("tenant.member", &[tenant.as_slice(), who.as_slice()]))? {
            MEMBER => Ok(true),
            REMOVED => Ok(false),
            _ => Ok(self.genesis_tenants.get(tenant).is_some_and(|t| t.members.contains(who))),
        }
    }

    fn quota(&self, host: &mut dyn Host, tenant: &B256) -> Result<u64, Failure> {
        let t = tenant.as_slice();
        match self.genesis_tenants.get(tenant) {
            Some(g) if host.sload(slot("tenant.quota.set", &[t]))?.is_zero() => Ok(g.anchors_per_day),
            _ => load_u64(host, slot("tenant.quota", &[t])),
        }
    }

    fn suspended(&self, host: &mut dyn Host, tenant: &B256) -> Result<bool, Failure> {
        Ok(!host.sload(slot("tenant.suspended", &[tenant.as_slice()]))?.is_zero())
    }

    fn used_today(&self, host: &mut dyn Host, tenant: &B256) -> Result<(U256, u64), Failure> {
        let period = host.timestamp() / PERIOD_SECS;
        let usage_slot = slot("usage", &[tenant.as_slice(), &period.to_be_bytes()]);
        Ok((usage_slot, load_u64(host, usage_slot)?))
    }

    fn require_admin(&self, host: &mut dyn Host, caller: &Address) -> Result<(), Failure> {
        if crate::permissions::is_module_admin(host, "audit", caller, &self.admins)? {
            Ok(())
        } else {
            Err(Failure::reason("audit: caller is not a platform administrator"))
        }
    }

    /// Anchor a batch after the tenant's head; with `expected`, only if the
    /// head is that anchor hash.
    fn anchor(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IAuditAnchor::anchorCall,
        expected: bool,
    ) -> Result<Bytes, Failure> {
        self.require_tenant(host, &c.tenant)?;
        if !self.is_member(host, &c.tenant, caller)? {
            return Err(Failure::reason("audit: caller is not a member of the tenant"));
        }
        if self.suspended(host, &c.tenant)? {
            return Err(Failure::reason("audit: tenant is suspended"));
        }
        if c.lineCount == 0 {
            return Err(Failure::reason("audit: empty batch"));
        }
        let head_seq_slot = slot("head.seq", &[c.tenant.as_slice()]);
        let head_hash_slot = slot("head.hash", &[c.tenant.as_slice()]);
        let seq = load_u64(host, head_seq_slot)?;
        let head = load_word(host, head_hash_slot)?;
        if expected && c.prevAnchor != head {
            return Err(Failure::reason("audit: previous anchor is not the tenant's head"));
        }
        let c = IAuditAnchor::anchorCall { prevAnchor: head, ..c };
        let (usage_slot, used) = self.used_today(host, &c.tenant)?;
        if used >= self.quota(host, &c.tenant)? {
            return Err(Failure::reason("audit: anchoring quota exceeded for this period"));
        }
        // `used` is below the quota, a u64, so this does not overflow.
        store_u64(host, usage_slot, used.saturating_add(1))?;
        let seq = seq.checked_add(1).ok_or_else(|| Failure::reason("audit: the tenant's anchor chain is full"))?;
        let hash = anchor_hash(&c.tenant, seq, &c.root, c.lineCount, &c.prevAnchor);
        let base = |field: &str| slot(field, &[c.tenant.as_slice(), &seq.to_be_bytes()]);
        store_word(host, base("anchor.root"), c.root)?;
        let packed = (U256::from(c.lineCount) << 128usize)
            | (U256::from(host.block_number()) << 64usize)
            | U256::from(host.timestamp());
        host.sstore(base("anchor.meta"), packed)?;
        store_word(host, base("anchor.hash"), hash)?;
        store_u64(host, head_seq_slot, seq)?;
        store_word(host, head_hash_slot, hash)?;
        let event = IAuditAnchor::Anchored {
            tenant: c.tenant,
            seq,
            root: c.root,
            lineCount: c.lineCount,
            prevAnchor: c.prevAnchor,
            anchorHash: hash,
        };
        let log = event.encode_log_data();
        host.emit(log.topics().to_vec(), log.data)?;
        ok(IAuditAnchor::anchorCall::abi_encode_returns(&IAuditAnchor::anchorReturn { seq, anchorHash: hash }))
    }

    fn anchor_of(
        &self,
        host: &mut dyn Host,
        tenant: &B256,
        seq: u64,
    ) -> Result<Option<IAuditAnchor::anchorOfReturn>, Failure> {
        let head = load_u64(host, slot("head.seq", &[tenant.as_slice()]))?;
        if seq == 0 || seq > head {
            return Ok(None);
        }
        let base = |field: &str| slot(field, &[tenant.as_slice(), &seq.to_be_bytes()]);
        let root = load_word(host, base("anchor.root"))?;
        let meta: U256 = host.sload(base("anchor.meta"))?;
        let mask = U256::from(u64::MAX);
        Ok(Some(IAuditAnchor::anchorOfReturn {
            root,
            lineCount: ((meta >> 128usize) & mask).saturating_to::<u64>(),
            blockNumber: ((meta >> 64usize) & mask).saturating_to::<u64>(),
            timestamp: (meta & mask).saturating_to::<u64>(),
            anchorHash: load_word(host, base("anchor.hash"))?,
        }))
    }
}

impl Chaincode for AuditAnchoring {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn address(&self) -> Address {
        ADDRESS
    }

    fn interface(&self) -> &'static str {
        include_str!("../sol/IAuditAnchor.sol")
    }

    fn call(&self, host: &mut dyn Host, call: &Call<'_>) -> Result<Bytes, Failure> {
        let decoded = crate::decode_call::<Calls>(host, call, "audit", |c| {
            matches!(
                c,
                Calls::createTenant(_)
                    | Calls::addMember(_)
                    | Calls::removeMember(_)
                    | Calls::suspendTenant(_)
                    | Calls::resumeTenant(_)
                    | Calls::setQuota(_)
                    | Calls::anchor(_)
                    | Calls::append(_)
            )
        })?;
        let emit = |host: &mut dyn Host, log: alloy_primitives::LogData| host.emit(log.topics().to_vec(), log.data);
        match decoded {
            Calls::createTenant(c) => {
                self.require_admin(host, &call.caller)?;
                if self.exists(host, &c.tenant)? {
                    return Err(Failure::reason("audit: tenant exists"));
                }
                let (Some(name), Some(zone)) = (short_string(&c.name), short_string(&c.zone)) else {
                    return Err(Failure::reason("audit: name and zone must be at most 31 bytes"));
                };
                let t = c.tenant.as_slice();
                host.sstore(slot("tenant.exists", &[t]), U256::from(1))?;
                host.sstore(slot("tenant.name", &[t]), name)?;
                host.sstore(slot("tenant.zone", &[t]), zone)?;
                store_u64(host, slot("tenant.quota", &[t]), c.anchorsPerDay)?;
                let log = IAuditAnchor::TenantCreated {
                    tenant: c.tenant,
                    name: c.name,
                    zone: c.zone,
                    anchorsPerDay: c.anchorsPerDay,
                }
                .encode_log_data();
                host.emit(log.topics().to_vec(), log.data)?;
                ok(Vec::new())
            }
            Calls::addMember(c) => {
                self.require_admin(host, &call.caller)?;
                self.require_tenant(host, &c.tenant)?;
                store_u64(host, slot("tenant.member", &[c.tenant.as_slice(), c.member.as_slice()]), MEMBER)?;
                let log = IAuditAnchor::MemberAdded { tenant: c.tenant, member: c.member }.encode_log_data();
                host.emit(log.topics().to_vec(), log.data)?;
                ok(Vec::new())
            }
            Calls::removeMember(c) => {
                self.require_admin(host, &call.caller)?;
                self.require_tenant(host, &c.tenant)?;
                if !self.is_member(host, &c.tenant, &c.member)? {
                    return Err(Failure::reason("audit: not a member of the tenant"));
                }
                store_u64(host, slot("tenant.member", &[c.tenant.as_slice(), c.member.as_slice()]), REMOVED)?;
                emit(host, IAuditAnchor::MemberRemoved { tenant: c.tenant, member: c.member }.encode_log_data())?;
                ok(Vec::new())
            }
            Calls::suspendTenant(c) => {
                self.require_admin(host, &call.caller)?;
                self.require_tenant(host, &c.tenant)?;
                if self.suspended(host, &c.tenant)? {
                    return Err(Failure::reason("audit: tenant is suspended"));
                }
                host.sstore(slot("tenant.suspended", &[c.tenant.as_slice()]), U256::from(1))?;
                emit(host, IAuditAnchor::TenantSuspended { tenant: c.tenant, by: call.caller }.encode_log_data())?;
                ok(Vec::new())
            }
            Calls::resumeTenant(c) => {
                self.require_admin(host, &call.caller)?;
                self.require_tenant(host, &c.tenant)?;
                if !self.suspended(host, &c.tenant)? {
                    return Err(Failure::reason("audit: tenant is not suspended"));
                }
                host.sstore(slot("tenant.suspended", &[c.tenant.as_slice()]), U256::ZERO)?;
                emit(host, IAuditAnchor::TenantResumed { tenant: c.tenant, by: call.caller }.encode_log_data())?;
                ok(Vec::new())
            }
            Calls::setQuota(c) => {
                self.require_admin(host, &call.caller)?;
                self.require_tenant(host, &c.tenant)?;
                let t = c.tenant.as_slice();
                store_u64(host, slot("tenant.quota", &[t]), c.anchorsPerDay)?;
                host.sstore(slot("tenant.quota.set", &[t]), U256::from(1))?;
                let log =
                    IAuditAnchor::QuotaChanged { tenant: c.tenant, anchorsPerDay: c.anchorsPerDay, by: call.caller };
                emit(host, log.encode_log_data())?;
                ok(Vec::new())
            }
            Calls::anchor(c) => self.anchor(host, &call.caller, c, true),
            Calls::append(c) => {
                let c = IAuditAnchor::anchorCall {
                    tenant: c.tenant,
                    root: c.root,
                    lineCount: c.lineCount,
                    prevAnchor: B256::ZERO,
                };
                self.anchor(host, &call.caller, c, false)
            }
            Calls::tenantStatus(c) => {
                self.require_tenant(host, &c.tenant)?;
                let out = IAuditAnchor::tenantStatusReturn {
                    suspended: self.suspended(host, &c.tenant)?,
                    anchorsPerDay: self.quota(host, &c.tenant)?,
                    usedToday: self.used_today(host, &c.tenant)?.1,
                };
                ok(IAuditAnchor::tenantStatusCall::abi_encode_returns(&out))
            }
            Calls::head(c) => {
                let seq = load_u64(host, slot("head.seq", &[c.tenant.as_slice()]))?;
                let anchor_hash = load_word(host, slot("head.hash", &[c.tenant.as_slice()]))?;
                ok(IAuditAnchor::headCall::abi_encode_returns(&IAuditAnchor::headReturn {
                    seq,
                    anchorHash: anchor_hash,
                }))
            }
            Calls::anchorOf(c) => {
                let anchor =
                    self.anchor_of(host, &c.tenant, c.seq)?.ok_or_else(|| Failure::reason("audit: no such anchor"))?;
                ok(IAuditAnchor::anchorOfCall::abi_encode_returns(&anchor))
            }
            Calls::verifyLine(c) => {
                let steps = u64::try_from(c.proof.len()).unwrap_or(u64::MAX);
                host.charge(PROOF_STEP_GAS.saturating_mul(steps))?;
                let valid = match self.anchor_of(host, &c.tenant, c.seq)? {
                    Some(a) => dsec_sdk::merkle::verify(&a.root, &c.leaf, c.index, a.lineCount, &c.proof),
                    None => false,
                };
                ok(IAuditAnchor::verifyLineCall::abi_encode_returns(&valid))
            }
            Calls::isMember(c) => {
                let member = self.is_member(host, &c.tenant, &c.who)?;
                ok(IAuditAnchor::isMemberCall::abi_encode_returns(&member))
            }
            Calls::tenantInfo(c) => {
                let out = if let Some(t) = self.genesis_tenants.get(&c.tenant) {
                    IAuditAnchor::tenantInfoReturn {
                        exists: true,
                        name: t.name.clone(),
                        zone: t.residency_zone.clone(),
                        anchorsPerDay: self.quota(host, &c.tenant)?,
                    }
                } else {
                    let t = c.tenant.as_slice();
                    let exists = host.sload(slot("tenant.exists", &[t]))? != U256::ZERO;
                    IAuditAnchor::tenantInfoReturn {
                        exists,
                        name: from_short_string(host.sload(slot("tenant.name", &[t]))?),
                        zone: from_short_string(host.sload(slot("tenant.zone", &[t]))?),
                        anchorsPerDay: load_u64(host, slot("tenant.quota", &[t]))?,
                    }
                };
                ok(IAuditAnchor::tenantInfoCall::abi_encode_returns(&out))
            }
        }
    }
}

#[cfg(test)]
mod tests;
