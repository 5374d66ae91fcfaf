//! `dsec audit`: anchor a file of audit-log lines, write a proof that one line
//! belongs to an anchored batch, and verify such a proof (offline, and on
//! chain when a node is given).

use crate::common::{DEFAULT_RPC_URL, client, parse_key};
use alloy::sol_types::{SolCall, SolEvent};
use alloy_primitives::B256;
use clap::Subcommand;
use dsec_sdk::chaincode::audit::{ADDRESS, IAuditAnchor, tenant_id};
use dsec_sdk::client::RpcClient;
use dsec_sdk::merkle;
use dsec_sdk::tx::AccountKey;
use eyre::{WrapErr, bail, eyre};
use serde::{Deserialize, Serialize};
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
    },
    /// Write a proof that line N of FILE belongs to an anchored batch.
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
    /// Check a proof offline, and against a node with --rpc.
    Verify {
        /// The proof file.
        proof: PathBuf,
        /// JSON-RPC URL to check the anchor on chain.
        #[arg(long)]
        rpc: Option<String>,
    },
}

impl AuditCommand {
    /// Run the subcommand.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        match self {
            Self::Anchor { tenant, file, rpc, key } => {
                let key = parse_key(key.as_deref(), "--key")?;
                let (seq, hash, root) = anchor(&client(&rpc)?, &key, &tenant, &file).await?;
                println!(
                    "anchored {} as anchor {seq} of tenant {tenant:?}\nroot        {root}\nanchor hash {hash}",
                    file.display()
                );
            }
            Self::Prove { file, line, tenant, seq, rpc, out } => {
                let c = client(&rpc)?;
                let proof = prove(Some(&c), &tenant, &file, line, seq).await?;
                let json = serde_json::to_string_pretty(&proof)?;
                match out {
                    Some(path) => {
                        std::fs::write(&path, json).wrap_err_with(|| format!("cannot write {}", path.display()))?;
                        println!("wrote {}", path.display());
                    }
                    None => println!("{json}"),
                }
            }
            Self::Verify { proof, rpc } => {
                let text =
                    std::fs::read_to_string(&proof).wrap_err_with(|| format!("cannot read {}", proof.display()))?;
                let parsed: LineProof =
                    serde_json::from_str(&text).map_err(|e| eyre!("{}: not a line proof: {e}", proof.display()))?;
                let c = rpc.as_deref().map(client).transpose()?;
                let verified = verify(&parsed, c.as_ref()).await?;
                if !verified.offline {
                    bail!("invalid: the line does not hash to the proof's root");
                }
                match verified.on_chain {
                    Some((block, time)) => println!(
                        "valid: line {} is in anchor {} of tenant {:?}, anchored in block {block} at unix time {time}",
                        parsed.line, parsed.seq, parsed.tenant
                    ),
                    None => println!(
                        "valid offline: line {} hashes to root {} (give --rpc to check the anchor on chain)",
                        parsed.line, parsed.root
                    ),
                }
            }
        }
        Ok(())
    }
}

/// A proof that one line belongs to an anchored batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LineProof {
    /// Tenant id as declared (the on-chain id is its keccak-256).
    pub(crate) tenant: String,
    /// Sequence number of the anchor (1 for the tenant's first).
    pub(crate) seq: u64,
    /// Line number in the file, from 1.
    pub(crate) line: u64,
    /// The line's text.
    pub(crate) text: String,
    /// Number of lines in the batch.
    pub(crate) line_count: u64,
    /// Merkle root of the batch.
    pub(crate) root: B256,
    /// The audit path (RFC 6962).
    pub(crate) proof: Vec<B256>,
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

/// Anchor `file` for `tenant`; returns the receipt's anchor sequence number and hash.
pub(crate) async fn anchor(
    client: &RpcClient,
    key: &AccountKey,
    tenant: &str,
    file: &Path,
) -> eyre::Result<(u64, B256, B256)> {
    let (_, leaves) = read_lines(file)?;
    let root = merkle::root(&leaves).ok_or_else(|| eyre!("empty file"))?;
    let id = tenant_id(tenant);
    let head = view(client, &IAuditAnchor::headCall { tenant: id }).await?;
    let data =
        IAuditAnchor::anchorCall { tenant: id, root, lineCount: leaves.len() as u64, prevAnchor: head.anchorHash };
    let receipt = crate::tx::send(client, key, ADDRESS, &data).await?;
    let log = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| IAuditAnchor::Anchored::decode_log_data(l.data()).ok())
        .ok_or_else(|| eyre!("the anchor transaction emitted no Anchored event"))?;
    Ok((log.seq, log.anchorHash, root))
}

/// Find the anchor of `root` for `tenant` among the Anchored events.
async fn find_seq(client: &RpcClient, tenant: &str, root: &B256) -> eyre::Result<u64> {
    let filter = serde_json::json!({
        "fromBlock": "0x0",
        "address": ADDRESS,
        "topics": [IAuditAnchor::Anchored::SIGNATURE_HASH, tenant_id(tenant)],
    });
    let logs = client.logs(filter).await.map_err(|e| eyre!("cannot search anchors: {e}"))?;
    logs.iter()
        .filter_map(|l| IAuditAnchor::Anchored::decode_log_data(l.data()).ok())
        .find(|a| a.root == *root)
        .map(|a| a.seq)
        .ok_or_else(|| eyre!("no anchor of tenant {tenant:?} has this file's root {root}"))
}

/// Build the proof of line `line` (from 1) of `file`.
pub(crate) async fn prove(
    client: Option<&RpcClient>,
    tenant: &str,
    file: &Path,
    line: u64,
    seq: Option<u64>,
) -> eyre::Result<LineProof> {
    let (lines, leaves) = read_lines(file)?;
    if line == 0 || line > lines.len() as u64 {
        bail!("--line {line}: the file has lines 1 to {}", lines.len());
    }
    let root = merkle::root(&leaves).ok_or_else(|| eyre!("empty file"))?;
    let seq = match (seq, client) {
        (Some(s), _) => s,
        (None, Some(c)) => find_seq(c, tenant, &root).await?,
        (None, None) => bail!("give --seq, or --rpc to look the anchor up"),
    };
    let index = (line - 1) as usize;
    let proof = merkle::proof(&leaves, index).ok_or_else(|| eyre!("line out of range"))?;
    Ok(LineProof {
        tenant: tenant.to_string(),
        seq,
        line,
        text: lines[index].clone(),
        line_count: leaves.len() as u64,
        root,
        proof,
    })
}

/// What verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    /// The proof is consistent with its root.
    pub(crate) offline: bool,
    /// The chain's anchor has this root and size and the module accepts the line (when checked).
    pub(crate) on_chain: Option<(u64, u64)>,
}

/// Verify a proof offline, and against the chain when a client is given.
pub(crate) async fn verify(proof: &LineProof, client: Option<&RpcClient>) -> eyre::Result<Verified> {
    let leaf = merkle::leaf_hash(proof.text.as_bytes());
    let offline = merkle::verify(&proof.root, &leaf, proof.line.saturating_sub(1), proof.line_count, &proof.proof);
    if !offline {
        return Ok(Verified { offline, on_chain: None });
    }
    let Some(client) = client else { return Ok(Verified { offline, on_chain: None }) };
    let id = tenant_id(&proof.tenant);
    let anchored = view(client, &IAuditAnchor::anchorOfCall { tenant: id, seq: proof.seq }).await?;
    if anchored.root != proof.root || anchored.lineCount != proof.line_count {
        bail!(
            "anchor {} of tenant {:?} has root {} over {} lines, not this proof's",
            proof.seq,
            proof.tenant,
            anchored.root,
            anchored.lineCount
        );
    }
    let accepted = view(
        client,
        &IAuditAnchor::verifyLineCall {
            tenant: id,
            seq: proof.seq,
            leaf,
            index: proof.line - 1,
            proof: proof.proof.clone(),
        },
    )
    .await?;
    if !accepted {
        bail!("the audit module rejects this proof");
    }
    Ok(Verified { offline, on_chain: Some((anchored.blockNumber, anchored.timestamp)) })
}
