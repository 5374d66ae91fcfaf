//! `dsec audit verify-chain`: a forensic replay of one tenant's anchor chain.
//!
//! Reads the tenant's events from the node's log index (its creation,
//! members added and removed, suspensions, quota changes, anchors) in chain
//! order and its stored anchors, and checks what the audit module promised:
//! anchors numbered 1, 2, 3… with no gap or repeat; each naming the previous
//! anchor's hash and hashing to its own (recomputed here); each stored anchor
//! equal to its event; each made by a member of a tenant not suspended, within
//! the quota of its UTC day; the head at the last anchor. The first break is
//! reported with the anchor, block and transaction at fault.

use alloy::sol_types::SolEvent;
use alloy_primitives::{Address, B256};
use dsec_genesis::Genesis;
use dsec_sdk::chaincode::audit::{ADDRESS, IAuditAnchor, anchor_hash, tenant_id};
use dsec_sdk::client::RpcClient;
use eyre::eyre;
use std::collections::{BTreeMap, HashSet};

/// Blocks per `eth_getLogs` request (the node's default `max_logs_block_range`).
const WINDOW: u64 = 10_000;
/// Seconds in a quota period (a UTC day), as the module counts.
const PERIOD_SECS: u64 = 86_400;

/// What `verify-chain` found.
pub(crate) struct ChainReport {
    /// The report to print.
    pub(crate) text: String,
    /// Whether a check failed.
    pub(crate) broken: bool,
}

/// One of a tenant's events, as the replay reads it.
#[derive(Debug, Clone)]
enum Item {
    /// Created with this quota.
    Created(u64),
    MemberAdded(Address),
    MemberRemoved(Address),
    Suspended,
    Resumed,
    Quota(u64),
    Anchor(Box<AnchorItem>),
}

/// An `Anchored` event with what the chain stores for it and who sent it.
#[derive(Debug, Clone)]
struct AnchorItem {
    event: IAuditAnchor::Anchored,
    block: u64,
    tx: B256,
    sender: Address,
    stored: IAuditAnchor::anchorOfReturn,
}

/// What is known of a tenant before its first event.
#[derive(Debug, Clone, Default)]
struct Initial {
    /// Members, when known (not for a genesis tenant without the genesis file).
    members: Option<HashSet<Address>>,
    /// Anchors per day, when known.
    quota: Option<u64>,
    notes: Vec<String>,
}

/// All of `tenant`'s audit events, in chain order.
async fn tenant_logs(client: &RpcClient, id: B256) -> eyre::Result<Vec<alloy::rpc::types::Log>> {
    use IAuditAnchor::*;
    let latest = client.block_number().await.map_err(|e| eyre!("cannot reach the node's JSON-RPC: {e}"))?;
    let signatures = [
        TenantCreated::SIGNATURE_HASH,
        MemberAdded::SIGNATURE_HASH,
        MemberRemoved::SIGNATURE_HASH,
        TenantSuspended::SIGNATURE_HASH,
        TenantResumed::SIGNATURE_HASH,
        QuotaChanged::SIGNATURE_HASH,
        Anchored::SIGNATURE_HASH,
    ];
    let mut logs = Vec::new();
    let mut from = 0u64;
    while from <= latest {
        let to = from.saturating_add(WINDOW - 1).min(latest);
        let filter = serde_json::json!({
            "fromBlock": format!("0x{from:x}"),
            "toBlock": format!("0x{to:x}"),
            "address": ADDRESS,
            "topics": [signatures, id],
        });
        logs.extend(client.logs(filter).await.map_err(|e| eyre!("cannot read blocks {from} to {to}: {e}"))?);
        from = to + 1;
    }
    logs.sort_by_key(|l| (l.block_number.unwrap_or_default(), l.log_index.unwrap_or_default()));
    Ok(logs)
}

async fn sender(client: &RpcClient, tx: B256) -> eyre::Result<Address> {
    let found: serde_json::Value = client
        .call("eth_getTransactionByHash", vec![serde_json::json!(tx)])
        .await
        .map_err(|e| eyre!("cannot read transaction {tx}: {e}"))?;
    serde_json::from_value(found["from"].clone()).map_err(|_| eyre!("the node does not know transaction {tx}"))
}

/// Replay `tenant`'s chain on the node at `client`.
pub(crate) async fn verify_chain(
    client: &RpcClient,
    tenant: &str,
    genesis: Option<&Genesis>,
) -> eyre::Result<ChainReport> {
    use IAuditAnchor::*;
    let id = tenant_id(tenant);
    let info = crate::tx::view(client, ADDRESS, &tenantInfoCall { tenant: id }).await?;
    if !info.exists {
        eyre::bail!("--tenant {tenant:?}: no such tenant");
    }
    let head = crate::tx::view(client, ADDRESS, &headCall { tenant: id }).await?;
    let mut items = Vec::new();
    for log in tenant_logs(client, id).await? {
        let data = log.data();
        items.push(if let Ok(e) = TenantCreated::decode_log_data(data) {
            Item::Created(e.anchorsPerDay)
        } else if let Ok(e) = MemberAdded::decode_log_data(data) {
            Item::MemberAdded(e.member)
        } else if let Ok(e) = MemberRemoved::decode_log_data(data) {
            Item::MemberRemoved(e.member)
        } else if TenantSuspended::decode_log_data(data).is_ok() {
            Item::Suspended
        } else if TenantResumed::decode_log_data(data).is_ok() {
            Item::Resumed
        } else if let Ok(e) = QuotaChanged::decode_log_data(data) {
            Item::Quota(e.anchorsPerDay)
        } else if let Ok(event) = Anchored::decode_log_data(data) {
            let tx =
                log.transaction_hash.ok_or_else(|| eyre!("the node returned an anchor without its transaction"))?;
            // A missing anchor reads as zeros, which the replay reports as a mismatch.
            let stored = crate::tx::view(client, ADDRESS, &anchorOfCall { tenant: id, seq: event.seq })
                .await
                .unwrap_or(anchorOfReturn {
                    root: B256::ZERO,
                    lineCount: 0,
                    blockNumber: 0,
                    timestamp: 0,
                    anchorHash: B256::ZERO,
                });
            let sender = sender(client, tx).await?;
            Item::Anchor(Box::new(AnchorItem {
                event,
                block: log.block_number.unwrap_or_default(),
                tx,
                sender,
                stored,
            }))
        } else {
            continue;
        });
    }
    let declared = genesis.and_then(|g| g.tenants.iter().find(|t| tenant_id(&t.id) == id));
    let created = items.iter().any(|i| matches!(i, Item::Created(_)));
    let quota_changes = items.iter().any(|i| matches!(i, Item::Quota(_)));
    let mut initial = Initial::default();
    if let Some(t) = declared {
        initial.members = Some(t.members.iter().copied().collect());
        initial.quota = Some(t.anchors_per_day);
    } else if created {
        initial.members = Some(HashSet::new());
    } else {
        initial.notes.push("a genesis tenant and no --genesis: its genesis members are not checked".to_string());
        if quota_changes {
            initial.notes.push("its quota before the first change is not checked".to_string());
        } else {
            initial.quota = Some(info.anchorsPerDay);
        }
    }
    Ok(replay(tenant, &items, initial, (head.seq, head.anchorHash), info.anchorsPerDay))
}

/// Check `items` (a tenant's events in chain order) against the audit
/// module's rules, and the chain's end against the tenant's `head`.
fn replay(tenant: &str, items: &[Item], initial: Initial, head: (u64, B256), quota_now: u64) -> ChainReport {
    let id = tenant_id(tenant);
    let Initial { mut members, mut quota, notes } = initial;
    let mut removed: HashSet<Address> = HashSet::new();
    let mut suspended = false;
    let mut per_day: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut seq, mut last) = (0u64, B256::ZERO);
    let mut unchecked_members = 0u64;
    let mut first_block = None;
    let broken = |a: &AnchorItem, why: String| ChainReport {
        text: format!(
            "BROKEN at anchor {} of tenant {tenant:?} (block {}, transaction {}): {why}",
            a.event.seq, a.block, a.tx
        ),
        broken: true,
    };
    for item in items {
        let a = match item {
            Item::Created(q) | Item::Quota(q) => {
                quota = Some(*q);
                continue;
            }
            Item::MemberAdded(m) => {
                removed.remove(m);
                if let Some(set) = members.as_mut() {
                    set.insert(*m);
                }
                continue;
            }
            Item::MemberRemoved(m) => {
                removed.insert(*m);
                if let Some(set) = members.as_mut() {
                    set.remove(m);
                }
                continue;
            }
            Item::Suspended => {
                suspended = true;
                continue;
            }
            Item::Resumed => {
                suspended = false;
                continue;
            }
            Item::Anchor(a) => a,
        };
        let e = &a.event;
        first_block.get_or_insert(a.block);
        let due = seq.saturating_add(1);
        if e.seq != due {
            return broken(a, format!("anchor {} found where anchor {due} was due (a gap or a repeat)", e.seq));
        }
        if e.prevAnchor != last {
            return broken(
                a,
                format!("it names {} as previous anchor, but anchor {seq} hashed to {last}", e.prevAnchor),
            );
        }
        let recomputed = anchor_hash(&id, e.seq, &e.root, e.lineCount, &e.prevAnchor);
        if recomputed != e.anchorHash {
            return broken(a, format!("its event says hash {}, but its fields hash to {recomputed}", e.anchorHash));
        }
        let s = &a.stored;
        if (s.root, s.lineCount, s.anchorHash, s.blockNumber) != (e.root, e.lineCount, e.anchorHash, a.block) {
            return broken(
                a,
                format!(
                    "the stored anchor (root {}, {} lines, hash {}, block {}) differs from its event",
                    s.root, s.lineCount, s.anchorHash, s.blockNumber
                ),
            );
        }
        match &members {
            Some(set) if !set.contains(&a.sender) => {
                return broken(a, format!("made by {}, not a member of the tenant then", a.sender));
            }
            Some(_) => {}
            None if removed.contains(&a.sender) => {
                return broken(a, format!("made by {}, removed from the tenant before", a.sender));
            }
            None => unchecked_members += 1,
        }
        if suspended {
            return broken(a, "made while the tenant was suspended".to_string());
        }
        let count = per_day.entry(s.timestamp / PERIOD_SECS).or_default();
        *count += 1;
        if let Some(q) = quota
            && *count > q
        {
            return broken(a, format!("anchor number {count} of its UTC day, above the quota of {q} then in force"));
        }
        (seq, last) = (e.seq, e.anchorHash);
    }
    if head != (seq, last) {
        return ChainReport {
            text: format!(
                "BROKEN: tenant {tenant:?}'s head is anchor {} ({}), but its events end at anchor {seq} ({last})",
                head.0, head.1
            ),
            broken: true,
        };
    }
    let busiest = per_day.values().max().copied().unwrap_or(0);
    let mut text = format!(
        "tenant {tenant:?}: {seq} anchors{}, chain intact: numbered 1 to {seq} without a gap, each naming its predecessor and hashing to its own hash (recomputed), stored anchors equal to their events, none made while suspended, at most {busiest} in a UTC day (quota now {quota_now}), head {last}",
        first_block.map(|b| format!(" from block {b}")).unwrap_or_default(),
    );
    if members.is_some() {
        text.push_str("; every anchor made by a member at the time");
    } else if unchecked_members > 0 {
        text.push_str(&format!("; {unchecked_members} anchors' senders checked only against removals"));
    }
    for note in notes {
        text.push_str(&format!("\nnote: {note}"));
    }
    ChainReport { text, broken: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMBER: Address = Address::repeat_byte(1);
    const DAY: u64 = 1_800_000_000 / PERIOD_SECS * PERIOD_SECS;

    /// A valid chain of `n` anchors by MEMBER, one per hour of one day.
    fn chain(n: u64) -> Vec<Item> {
        let id = tenant_id("t");
        let mut items = vec![Item::Created(10), Item::MemberAdded(MEMBER)];
        let mut prev = B256::ZERO;
        for seq in 1..=n {
            let root = B256::repeat_byte(seq as u8);
            let hash = anchor_hash(&id, seq, &root, 4, &prev);
            let event =
                IAuditAnchor::Anchored { tenant: id, seq, root, lineCount: 4, prevAnchor: prev, anchorHash: hash };
            let stored = IAuditAnchor::anchorOfReturn {
                root,
                lineCount: 4,
                blockNumber: 10 + seq,
                timestamp: DAY + seq * 3600,
                anchorHash: hash,
            };
            items.push(Item::Anchor(Box::new(AnchorItem {
                event,
                block: 10 + seq,
                tx: B256::repeat_byte(0xee),
                sender: MEMBER,
                stored,
            })));
            prev = hash;
        }
        items
    }

    fn head_of(items: &[Item]) -> (u64, B256) {
        items
            .iter()
            .rev()
            .find_map(|i| match i {
                Item::Anchor(a) => Some((a.event.seq, a.event.anchorHash)),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// A tenant created on chain: no member until one is added.
    fn created() -> Initial {
        Initial { members: Some(HashSet::new()), ..Initial::default() }
    }

    fn check(items: &[Item]) -> ChainReport {
        replay("t", items, created(), head_of(items), 10)
    }

    fn anchor_mut(items: &mut [Item], seq: u64) -> &mut AnchorItem {
        items
            .iter_mut()
            .find_map(|i| match i {
                Item::Anchor(a) if a.event.seq == seq => Some(a.as_mut()),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn an_intact_chain_replays_and_every_kind_of_break_is_named() {
        let good = chain(5);
        let report = check(&good);
        assert!(
            !report.broken && report.text.contains("5 anchors") && report.text.contains("by a member"),
            "{}",
            report.text
        );

        let mut gap = good.clone();
        gap.remove(4); // anchor 3
        let report = check(&gap);
        assert!(report.broken && report.text.contains("anchor 4 found where anchor 3 was due"), "{}", report.text);

        let mut relinked = good.clone();
        anchor_mut(&mut relinked, 3).event.prevAnchor = B256::repeat_byte(9);
        let report = check(&relinked);
        assert!(
            report.broken && report.text.contains("BROKEN at anchor 3") && report.text.contains("as previous anchor"),
            "{}",
            report.text
        );

        let mut rehashed = good.clone();
        anchor_mut(&mut rehashed, 2).event.root = B256::repeat_byte(0x77);
        assert!(check(&rehashed).text.contains("but its fields hash to"));

        let mut restored = good.clone();
        anchor_mut(&mut restored, 4).stored.lineCount = 5;
        assert!(check(&restored).text.contains("differs from its event"));

        let mut stranger = good.clone();
        anchor_mut(&mut stranger, 2).sender = Address::repeat_byte(2);
        assert!(check(&stranger).text.contains("not a member of the tenant then"));

        let mut removed = good.clone();
        removed.insert(5, Item::MemberRemoved(MEMBER)); // before anchor 4
        let report = check(&removed);
        assert!(report.broken && report.text.contains("BROKEN at anchor 4"), "{}", report.text);

        let mut suspended = good.clone();
        suspended.insert(3, Item::Suspended); // before anchor 2
        assert!(check(&suspended).text.contains("made while the tenant was suspended"));
        suspended.insert(4, Item::Resumed);
        assert!(!check(&suspended).broken);

        let mut over = good.clone();
        over.insert(4, Item::Quota(2)); // before anchor 3, the third of the day
        assert!(check(&over).text.contains("above the quota of 2"));

        let report = replay("t", &good, created(), (4, B256::ZERO), 10);
        assert!(report.broken && report.text.contains("head is anchor 4"), "{}", report.text);
    }

    #[test]
    fn a_genesis_tenant_without_its_genesis_checks_what_it_can_and_says_so() {
        let mut items = chain(2);
        items.remove(0); // no TenantCreated: declared in the genesis
        items.remove(0);
        let initial = Initial { notes: vec!["a genesis tenant".into()], ..Initial::default() };
        let report = replay("t", &items, initial, head_of(&items), 10);
        assert!(
            !report.broken && report.text.contains("2 anchors' senders checked only against removals"),
            "{}",
            report.text
        );
        assert!(report.text.contains("note: a genesis tenant"));
    }
}
