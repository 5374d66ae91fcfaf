//! `dsec audit`: anchor a file of audit-log lines, write a proof bundle that
//! one line belongs to an anchored batch *and* that the anchor is final
//! (line → Merkle root → `Anchored` event → receipt → certificate →
//! validator-set lineage), and verify it offline against the genesis file (or
//! ask a node with `--rpc`); manage tenants (members, suspension, quotas);
//! replay a tenant's whole anchor chain (`verify-chain`).

use crate::common::{DEFAULT_RPC_URL, client, parse_key};
use alloy::sol_types::{SolCall, SolEvent};
use alloy_primitives::B256;
use clap::Subcommand;
use dsec_sdk::chaincode::audit::{ADDRESS, IAuditAnchor, tenant_id};
use dsec_sdk::client::RpcClient;
use dsec_sdk::merkle;
use dsec_sdk::proof::{AuditLine, Bundle};
use dsec_sdk::tx::AccountKey;
use eyre::{WrapErr, bail, eyre};
use std::path::{Path, PathBuf};

/// `dsec audit` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Anchor the Merkle root of FILE's lines for a tenant.
    Anchor {
        /// Tenant id (as declared in the genesis file or at creation).
        #[arg(long)]
        tenant: String,
        /// The audit log: one entry per line.
        file: PathBuf,
        /// JSON-RPC URL of a node.
        #[arg(long, default_value = DEFAULT_RPC_URL)]
        rpc: String,
        /// Private key of a tenant member (default: dev account 0).
        #[arg(long)]
        key: Option<String>,
        /// Anchor only if the tenant's head is still the one read before sending
        /// (`anchor`); by default the batch goes after whatever the head is when
        /// the transaction executes (`append`), so members anchoring at the same
        /// time all succeed.
        #[arg(long)]
        strict: bool,
    },
    /// Manage tenants (platform administrators): create, members, suspension, quota; or show one.
    Tenant {
        #[command(subcommand)]
        op: TenantCommand,
        /// JSON-RPC URL of a node.
        #[arg(long, default_value = DEFAULT_RPC_URL, global = true)]
        rpc: String,
        /// Private key of a platform administrator (default: dev account 0).
        #[arg(long, global = true)]
        key: Option<String>,
    },
    /// Replay a tenant's whole anchor chain from the node's events and stored
    /// anchors: every anchor links to the previous and its hash recomputes, no
    /// sequence number is missing or repeated, each anchor was made by a member
    /// of a tenant not suspended, within the quota of its day; reports the first break.
    VerifyChain {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// JSON-RPC URL of a node.
        #[arg(long, default_value = DEFAULT_RPC_URL)]
        rpc: String,
        /// The chain's genesis file: the members and quota of a tenant declared there
        /// (without it, a genesis tenant's initial members and quota are not checked).
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Write a proof bundle that line N of FILE belongs to an anchored batch and that
    /// the anchor is final; `dsec verify` or `dsec audit verify --genesis` checks it offline.
    Prove {
        /// The anchored file.
        file: PathBuf,
        /// Line number, from 1.
        #[arg(long)]
        line: u64,
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Anchor sequence number (default: looked up on the node by the file's root).
        #[arg(long)]
        seq: Option<u64>,
        /// JSON-RPC URL used to look the anchor up.
        #[arg(long, default_value = DEFAULT_RPC_URL)]
        rpc: String,
        /// Where to write the proof (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a line proof: offline against the genesis file, or by asking a node with --rpc.
    Verify {
        /// The proof bundle written by `dsec audit prove`.
        proof: PathBuf,
        /// The chain's genesis file: check the proof offline, trusting no node.
        #[arg(long, required_unless_present = "rpc")]
        genesis: Option<PathBuf>,
        /// JSON-RPC URL of a node to check the anchor on chain instead.
        #[arg(long)]
        rpc: Option<String>,
    },
}

impl AuditCommand {
    /// Run the subcommand.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        match self {
            Self::Anchor { tenant, file, rpc, key, strict } => {
                let key = parse_key(key.as_deref(), "--key")?;
                let (seq, hash, root) = anchor(&client(&rpc)?, &key, &tenant, &file, strict).await?;
                println!(
                    "anchored {} as anchor {seq} of tenant {tenant:?}\nroot        {root}\nanchor hash {hash}",
                    file.display()
                );
            }
            Self::Tenant { op, rpc, key } => {
                let key = parse_key(key.as_deref(), "--key")?;
                println!("{}", manage_tenant(&client(&rpc)?, &key, op).await?);
            }
            Self::VerifyChain { tenant, rpc, genesis } => {
                let genesis = genesis.map(|g| dsec_genesis::Genesis::load(&g)).transpose()?;
                let report = crate::audit_chain::verify_chain(&client(&rpc)?, &tenant, genesis.as_ref()).await?;
                println!("{}", report.text);
                if report.broken {
                    std::process::exit(1);
                }
            }
            Self::Prove { file, line, tenant, seq, rpc, out } => {
                let bundle = prove(&client(&rpc)?, &tenant, &file, line, seq).await?;
                crate::proof::write(out.as_deref(), &bundle)?;
            }
            Self::Verify { proof, genesis, rpc } => match (genesis, rpc) {
                (Some(genesis), _) => {
                    let verified = crate::proof::verify_file(&proof, &genesis)?;
                    let Some(line) = &verified.audit_line else {
                        bail!("{}: a valid bundle, but it makes no audit-line claim", proof.display())
                    };
                    println!(
                        "valid: line {} is in anchor {} of tenant {:?}, final in block {} (offline, against the genesis)",
                        line.line, line.seq, line.tenant, line.block
                    );
                    print!("{}", dsec_sdk::proof::explain::summary(&verified));
                }
                (None, Some(rpc)) => {
                    let bundle = crate::proof::read(&proof)?;
                    let (block, time, seq, claim) = verify_on_chain(&bundle, &client(&rpc)?).await?;
                    println!(
                        "valid: line {} is in anchor {seq} of tenant {:?}, anchored in block {block} at unix time {time} (as the node at {rpc} reports)",
                        claim.line, claim.tenant
                    );
                }
                (None, None) => bail!("give --genesis GENESIS.json to check offline, or --rpc URL to ask a node"),
            },
        }
        Ok(())
    }
}

/// The lines of a file (without their line endings) and their leaf hashes.
pub(crate) fn read_lines(path: &Path) -> eyre::Result<(Vec<String>, Vec<B256>)> {
    let text = std::fs::read_to_string(path).wrap_err_with(|| format!("cannot read {}", path.display()))?;
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        bail!("{} has no lines to anchor", path.display());
    }
    let leaves = lines.iter().map(|l| merkle::leaf_hash(l.as_bytes())).collect();
    Ok((lines, leaves))
}

async fn view<C: SolCall>(client: &RpcClient, call: &C) -> eyre::Result<C::Return> {
    crate::tx::view(client, ADDRESS, call).await
}

/// Anchor `file` for `tenant` (after the head the transaction finds, or with
/// `strict` only after the head read now); returns the anchor's sequence
/// number and hash, and the file's root.
pub(crate) async fn anchor(
    client: &RpcClient,
    key: &AccountKey,
    tenant: &str,
    file: &Path,
    strict: bool,
) -> eyre::Result<(u64, B256, B256)> {
    let (_, leaves) = read_lines(file)?;
    let root = merkle::root(&leaves).ok_or_else(|| eyre!("empty file"))?;
    let id = tenant_id(tenant);
    let line_count = leaves.len() as u64;
    let receipt = if strict {
        let head = view(client, &IAuditAnchor::headCall { tenant: id }).await?;
        let data = IAuditAnchor::anchorCall { tenant: id, root, lineCount: line_count, prevAnchor: head.anchorHash };
        crate::tx::send(client, key, ADDRESS, &data).await?
    } else {
        crate::tx::send(client, key, ADDRESS, &IAuditAnchor::appendCall { tenant: id, root, lineCount: line_count })
            .await?
    };
    let log = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| IAuditAnchor::Anchored::decode_log_data(l.data()).ok())
        .ok_or_else(|| eyre!("the anchor transaction emitted no Anchored event"))?;
    Ok((log.seq, log.anchorHash, root))
}

/// The anchor transaction of `root` for `tenant` (of anchor `seq` when given),
/// and the position of its `Anchored` event among the transaction's logs,
/// found through the node's log index (any age of chain).
async fn find_anchor(client: &RpcClient, tenant: &str, root: &B256, seq: Option<u64>) -> eyre::Result<(B256, u64)> {
    let seq_topic = seq.map(|s| B256::from(alloy_primitives::U256::from(s)));
    let filter = serde_json::json!({
        "fromBlock": "0x0",
        "address": ADDRESS,
        "topics": [IAuditAnchor::Anchored::SIGNATURE_HASH, tenant_id(tenant), seq_topic],
    });
    let logs = client.logs(filter).await.map_err(|e| eyre!("cannot search anchors: {e}"))?;
    let log = logs
        .iter()
        .find(|l| IAuditAnchor::Anchored::decode_log_data(l.data()).is_ok_and(|a| a.root == *root))
        .ok_or_else(|| match seq {
            Some(s) => eyre!("anchor {s} of tenant {tenant:?} does not have this file's root {root}"),
            None => eyre!("no anchor of tenant {tenant:?} has this file's root {root}"),
        })?;
    let tx = log.transaction_hash.ok_or_else(|| eyre!("the node returned an anchor without its transaction"))?;
    let receipt = client
        .receipt(tx)
        .await
        .map_err(|e| eyre!("cannot read the anchor's receipt: {e}"))?
        .ok_or_else(|| eyre!("the anchor transaction {tx} has no receipt"))?;
    let position = receipt
        .inner
        .logs()
        .iter()
        .position(|l| l.log_index == log.log_index)
        .ok_or_else(|| eyre!("the anchor's event is not in its receipt"))?;
    Ok((tx, position as u64))
}

/// The proof bundle of line `line` (from 1) of `file`: the anchor
/// transaction's inclusion and finality, narrowed to its `Anchored` event,
/// with the line's Merkle path to the anchored root.
pub(crate) async fn prove(
    client: &RpcClient,
    tenant: &str,
    file: &Path,
    line: u64,
    seq: Option<u64>,
) -> eyre::Result<Bundle> {
    let (lines, leaves) = read_lines(file)?;
    if line == 0 || line > lines.len() as u64 {
        bail!("--line {line}: the file has lines 1 to {}", lines.len());
    }
    let root = merkle::root(&leaves).ok_or_else(|| eyre!("empty file"))?;
    let (tx, log) = find_anchor(client, tenant, &root, seq).await?;
    let index = (line - 1) as usize;
    let path = merkle::proof(&leaves, index).ok_or_else(|| eyre!("line out of range"))?;
    let mut bundle = crate::proof::fetch(client, tx).await?;
    crate::proof::narrow(&mut bundle, log)?;
    bundle.labels.insert(tenant_id(tenant), tenant.to_string());
    bundle.audit_line = Some(AuditLine {
        tenant: tenant.to_string(),
        line,
        text: lines[index].clone(),
        line_count: leaves.len() as u64,
        path,
        transaction: 0,
    });
    Ok(bundle)
}

/// Check a line proof against a node instead of the genesis: the anchor the
/// bundle's receipt names must be the chain's, with the same root and size,
/// and the module must accept the line. Returns the anchor's block, time and number.
async fn verify_on_chain(bundle: &Bundle, client: &RpcClient) -> eyre::Result<(u64, u64, u64, AuditLine)> {
    let claim = bundle.audit_line.clone().ok_or_else(|| eyre!("the bundle makes no audit-line claim"))?;
    let tx = usize::try_from(claim.transaction)
        .ok()
        .and_then(|i| bundle.transactions.get(i))
        .ok_or_else(|| eyre!("the claim names a transaction the bundle does not hold"))?;
    let (_, _, logs) = dsec_sdk::proof::decode_receipt(&tx.receipt).map_err(|e| eyre!("invalid: {e}"))?;
    let anchor = claim.anchor_in(&logs).map_err(|e| eyre!("invalid: the bundle's anchor transaction {e}"))?;
    let id = tenant_id(&claim.tenant);
    let leaf = merkle::leaf_hash(claim.text.as_bytes());
    let anchored = view(client, &IAuditAnchor::anchorOfCall { tenant: id, seq: anchor.seq }).await?;
    if anchored.root != anchor.root || anchored.lineCount != claim.line_count {
        bail!(
            "invalid: anchor {} of tenant {:?} has root {} over {} lines on chain, not this proof's",
            anchor.seq,
            claim.tenant,
            anchored.root,
            anchored.lineCount
        );
    }
    let accepted = view(
        client,
        &IAuditAnchor::verifyLineCall {
            tenant: id,
            seq: anchor.seq,
            leaf,
            index: claim.line - 1,
            proof: claim.path.clone(),
        },
    )
    .await?;
    if !accepted {
        bail!("invalid: the audit module rejects this proof");
    }
    Ok((anchored.blockNumber, anchored.timestamp, anchor.seq, claim))
}

/// A tenant-management operation.
#[derive(Subcommand, Debug)]
pub(crate) enum TenantCommand {
    /// Create a tenant.
    Create {
        #[arg(long)]
        tenant: String,
        /// Display name (at most 31 bytes).
        #[arg(long)]
        name: String,
        /// Residency zone label (at most 31 bytes).
        #[arg(long)]
        zone: String,
        /// Anchors per UTC day.
        #[arg(long, default_value_t = 1_440)]
        quota: u64,
    },
    /// Allow an account to anchor for the tenant.
    AddMember {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        member: alloy_primitives::Address,
    },
    /// Stop an account anchoring for the tenant (a genesis member too).
    RemoveMember {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        member: alloy_primitives::Address,
    },
    /// Suspend the tenant: no anchoring until resumed.
    Suspend {
        #[arg(long)]
        tenant: String,
    },
    /// Resume a suspended tenant.
    Resume {
        #[arg(long)]
        tenant: String,
    },
    /// Change the tenant's anchors per UTC day.
    Quota {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        anchors_per_day: u64,
    },
    /// Show a tenant: name, zone, status, quota and use today, head anchor.
    Show {
        #[arg(long)]
        tenant: String,
    },
}

/// Run a tenant-management operation; returns what to print.
async fn manage_tenant(client: &RpcClient, key: &AccountKey, op: TenantCommand) -> eyre::Result<String> {
    let done = |r: dsec_sdk::block::RpcReceipt| {
        format!("ok: transaction {} in block {}", r.transaction_hash, r.block_number.unwrap_or_default())
    };
    let send = |call| async move { crate::tx::send_calldata(client, key, ADDRESS, call).await };
    Ok(match op {
        TenantCommand::Create { tenant, name, zone, quota } => {
            if name.len() > 31 || zone.len() > 31 {
                bail!("--name and --zone: at most 31 bytes each");
            }
            let call = IAuditAnchor::createTenantCall { tenant: tenant_id(&tenant), name, zone, anchorsPerDay: quota };
            done(send(call.abi_encode().into()).await?)
        }
        TenantCommand::AddMember { tenant, member } => {
            done(send(IAuditAnchor::addMemberCall { tenant: tenant_id(&tenant), member }.abi_encode().into()).await?)
        }
        TenantCommand::RemoveMember { tenant, member } => {
            let call = IAuditAnchor::removeMemberCall { tenant: tenant_id(&tenant), member };
            done(send(call.abi_encode().into()).await?)
        }
        TenantCommand::Suspend { tenant } => {
            done(send(IAuditAnchor::suspendTenantCall { tenant: tenant_id(&tenant) }.abi_encode().into()).await?)
        }
        TenantCommand::Resume { tenant } => {
            done(send(IAuditAnchor::resumeTenantCall { tenant: tenant_id(&tenant) }.abi_encode().into()).await?)
        }
        TenantCommand::Quota { tenant, anchors_per_day } => {
            let call = IAuditAnchor::setQuotaCall { tenant: tenant_id(&tenant), anchorsPerDay: anchors_per_day };
            done(send(call.abi_encode().into()).await?)
        }
        TenantCommand::Show { tenant } => {
            let id = tenant_id(&tenant);
            let info = view(client, &IAuditAnchor::tenantInfoCall { tenant: id }).await?;
            if !info.exists {
                bail!("--tenant {tenant:?}: no such tenant");
            }
            let status = view(client, &IAuditAnchor::tenantStatusCall { tenant: id }).await?;
            let head = view(client, &IAuditAnchor::headCall { tenant: id }).await?;
            format!(
                "tenant {tenant:?} ({}), zone {}: {}, {} of {} anchors used today, head anchor {} ({})",
                info.name,
                info.zone,
                if status.suspended { "SUSPENDED" } else { "active" },
                status.usedToday,
                status.anchorsPerDay,
                head.seq,
                head.anchorHash
            )
        }
    })
}
