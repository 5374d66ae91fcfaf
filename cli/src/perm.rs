//! `dsec perm`: show and change the permissions module — the account,
//! deployer and node lists, the administrators of each chaincode module and
//! the permission administrators.
//!
//! With a threshold of 1 a change is a transaction from an administrator.
//! With a threshold of M > 1, M administrators each run the same command with
//! `--sign-only FILE` (their `--key` signs the change at the current nonce)
//! and anyone submits it with `--approval FILE` once per signature. Validators
//! replace the administrators with `replace-admins`, signed with their
//! consensus key files (`--validator-key`) and submitted with
//! `--validator-approval`.

use crate::common::{DEFAULT_RPC_URL, client, parse_key};
use crate::tx::{send, send_calldata, view};
use alloy::sol_types::SolCall;
use alloy_primitives::{Address, B256, Bytes};
use clap::{Args, Subcommand};
use dsec_sdk::chaincode::permissions::{ADDRESS, IPermissions, approval_signer, is_peer_id, sign_approval};
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::AccountKey;
use eyre::{WrapErr, bail, eyre};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Flags of `dsec perm`.
#[derive(Args, Debug)]
pub(crate) struct PermArgs {
    /// JSON-RPC URL of a node.
    #[arg(long, default_value = DEFAULT_RPC_URL, global = true)]
    rpc: String,
    /// Private key that signs (default: dev account 0).
    #[arg(long, global = true)]
    key: Option<String>,
    /// Do not send: write this administrator's approval of the change to FILE.
    #[arg(long, value_name = "FILE", global = true)]
    sign_only: Option<PathBuf>,
    /// Submit the change with these administrators' approvals (repeat the flag).
    #[arg(long = "approval", value_name = "FILE", global = true)]
    approvals: Vec<PathBuf>,
    #[command(subcommand)]
    op: PermCommand,
}

/// `on` or `off`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Switch {
    On,
    Off,
}

/// One permissions operation.
#[derive(Subcommand, Debug)]
enum PermCommand {
    /// Print every list, the administrators and the threshold.
    Show,
    /// Allow an account to send transactions (allowlist mode).
    AddAccount { account: Address },
    /// Take an account off the allowlist.
    RemoveAccount { account: Address },
    /// Refuse an account's transactions in any mode.
    Block { account: Address },
    /// Take an account off the blocklist.
    Unblock { account: Address },
    /// Switch the account allowlist on (only listed accounts send) or off (anyone not blocked).
    AccountAllowlist { state: Switch },
    /// Allow an account to create contracts.
    AddDeployer { account: Address },
    /// Take an account off the deployer list.
    RemoveDeployer { account: Address },
    /// Switch the deployer allowlist on (only listed deployers create) or off.
    DeployerAllowlist { state: Switch },
    /// Allow a non-validator node (libp2p peer id, `dsec keys show` prints it) to connect.
    AddNode { peer_id: String },
    /// Disconnect and refuse a non-validator node.
    RemoveNode { peer_id: String },
    /// Make an account an administrator of a chaincode module.
    AddModuleAdmin {
        /// The module: audit, provenance or settlement.
        #[arg(long)]
        module: String,
        admin: Address,
    },
    /// Remove an administrator of a chaincode module.
    RemoveModuleAdmin {
        /// The module: audit, provenance or settlement.
        #[arg(long)]
        module: String,
        admin: Address,
    },
    /// Replace the permission administrators and their threshold.
    SetAdmins {
        /// Administrators a change needs.
        #[arg(long, default_value = "1")]
        threshold: u64,
        admins: Vec<Address>,
    },
    /// Replace the administrators with the approval of validators holding more
    /// than two thirds of the voting power.
    ReplaceAdmins {
        /// Administrators a change needs.
        #[arg(long, default_value = "1")]
        threshold: u64,
        /// With --sign-only: the validator key file (or pkcs11: URI) that signs.
        #[arg(long, value_name = "FILE")]
        validator_key: Option<PathBuf>,
        /// Validators' approvals (files written with --validator-key --sign-only; repeat the flag).
        #[arg(long = "validator-approval", value_name = "FILE")]
        validator_approvals: Vec<PathBuf>,
        admins: Vec<Address>,
    },
}

/// An administrator's approval of one change, as `--sign-only` writes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AdminApproval {
    /// The change: the calldata of a change function.
    change: Bytes,
    /// The change nonce it was signed at.
    nonce: u64,
    /// What was signed (as an EIP-191 personal message).
    digest: B256,
    /// The approving administrator.
    signer: Address,
    /// Its 65-byte signature.
    signature: Bytes,
}

/// A validator's approval of replacing the administrators.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ValidatorApprovalFile {
    /// The new administrators.
    admins: Vec<Address>,
    /// Their threshold.
    threshold: u64,
    /// The change nonce it was signed at.
    nonce: u64,
    /// What was signed (the 32 bytes, with the ed25519 consensus key).
    digest: B256,
    /// The validator's public key.
    public_key: B256,
    /// Its ed25519 signature.
    signature: Bytes,
    /// Its ML-DSA-65 signature (a hybrid validator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ml_dsa_signature: Option<Bytes>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> eyre::Result<T> {
    let text = std::fs::read_to_string(path).wrap_err_with(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| eyre!("{}: not {what}: {e}", path.display()))
}

fn write_json(path: &Path, value: &impl Serialize) -> eyre::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").wrap_err_with(|| format!("cannot write {}", path.display()))
}

impl PermArgs {
    /// Run the operation and print its outcome.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        let client = client(&self.rpc)?;
        let key = parse_key(self.key.as_deref(), "--key")?;
        let change: Bytes = match self.op {
            PermCommand::Show => {
                println!("{}", show(&client).await?);
                return Ok(());
            }
            PermCommand::ReplaceAdmins { threshold, validator_key, validator_approvals, admins } => {
                let out = replace_admins(
                    &client,
                    &key,
                    admins,
                    threshold,
                    validator_key,
                    validator_approvals,
                    self.sign_only,
                )
                .await?;
                println!("{out}");
                return Ok(());
            }
            op => change_calldata(op)?,
        };
        let out = match (self.sign_only, self.approvals.is_empty()) {
            (Some(_), false) => bail!("--sign-only and --approval do not go together: sign first, submit after"),
            (Some(path), true) => {
                let approval = sign(&client, &key, change).await?;
                write_json(&path, &approval)?;
                format!(
                    "approval of change {} by {} written to {} (submit with --approval once enough administrators signed)",
                    approval.nonce,
                    approval.signer,
                    path.display()
                )
            }
            (None, true) => {
                let receipt = send_change(&client, &key, &change).await?;
                format!("ok: transaction {} in block {}", receipt.0, receipt.1)
            }
            (None, false) => {
                let approvals: Vec<AdminApproval> =
                    self.approvals.iter().map(|p| read_json(p, "an approval")).collect::<eyre::Result<_>>()?;
                let (hash, block) = execute(&client, &key, change, &approvals).await?;
                format!("ok: approved by {} administrators, transaction {hash} in block {block}", approvals.len())
            }
        };
        println!("{out}");
        Ok(())
    }
}

/// The calldata of the change an operation makes.
fn change_calldata(op: PermCommand) -> eyre::Result<Bytes> {
    let peer = |peer_id: String| -> eyre::Result<String> {
        if is_peer_id(&peer_id) {
            Ok(peer_id)
        } else {
            bail!("peer id {peer_id:?}: not a base58 libp2p peer id (`dsec keys show` prints a node's)")
        }
    };
    let on = |s: Switch| s == Switch::On;
    Ok(match op {
        PermCommand::AddAccount { account } => IPermissions::addAccountCall { account }.abi_encode(),
        PermCommand::RemoveAccount { account } => IPermissions::removeAccountCall { account }.abi_encode(),
        PermCommand::Block { account } => IPermissions::blockAccountCall { account }.abi_encode(),
        PermCommand::Unblock { account } => IPermissions::unblockAccountCall { account }.abi_encode(),
        PermCommand::AccountAllowlist { state } => {
            IPermissions::setAccountAllowlistCall { enabled: on(state) }.abi_encode()
        }
        PermCommand::AddDeployer { account } => IPermissions::addDeployerCall { account }.abi_encode(),
        PermCommand::RemoveDeployer { account } => IPermissions::removeDeployerCall { account }.abi_encode(),
        PermCommand::DeployerAllowlist { state } => {
            IPermissions::setDeployerAllowlistCall { enabled: on(state) }.abi_encode()
        }
        PermCommand::AddNode { peer_id } => IPermissions::addNodeCall { peerId: peer(peer_id)? }.abi_encode(),
        PermCommand::RemoveNode { peer_id } => IPermissions::removeNodeCall { peerId: peer(peer_id)? }.abi_encode(),
        PermCommand::AddModuleAdmin { module, admin } => {
            IPermissions::addModuleAdminCall { module, admin }.abi_encode()
        }
        PermCommand::RemoveModuleAdmin { module, admin } => {
            IPermissions::removeModuleAdminCall { module, admin }.abi_encode()
        }
        PermCommand::SetAdmins { threshold, admins } => {
            if admins.is_empty() {
                bail!("set-admins: name at least one administrator (validators can replace them with replace-admins)");
            }
            IPermissions::setAdminsCall { admins, threshold }.abi_encode()
        }
        PermCommand::Show | PermCommand::ReplaceAdmins { .. } => bail!("not a change"),
    }
    .into())
}

/// Send a change as one administrator (threshold 1): the calldata straight to the module.
async fn send_change(client: &RpcClient, key: &AccountKey, change: &Bytes) -> eyre::Result<(B256, u64)> {
    let receipt = send_calldata(client, key, ADDRESS, change.clone()).await?;
    Ok((receipt.transaction_hash, receipt.block_number.unwrap_or_default()))
}

/// Sign `change` at the current nonce with `key`.
async fn sign(client: &RpcClient, key: &AccountKey, change: Bytes) -> eyre::Result<AdminApproval> {
    let nonce = view(client, ADDRESS, &IPermissions::changeNonceCall {}).await?;
    let digest = view(client, ADDRESS, &IPermissions::changeDigestCall { change: change.clone() }).await?;
    let AccountKey::Secp256k1(secp) = key else {
        bail!(
            "--key: administrator approvals are EIP-191 signatures, made with a secp256k1 key (administrators are Ethereum accounts)"
        );
    };
    let signature = sign_approval(secp, &digest);
    Ok(AdminApproval { change, nonce, digest, signer: key.address(), signature })
}

/// Submit `change` through `execute` with administrators' approvals, after checking they approve it now.
async fn execute(
    client: &RpcClient,
    key: &AccountKey,
    change: Bytes,
    approvals: &[AdminApproval],
) -> eyre::Result<(B256, u64)> {
    let nonce = view(client, ADDRESS, &IPermissions::changeNonceCall {}).await?;
    let digest = view(client, ADDRESS, &IPermissions::changeDigestCall { change: change.clone() }).await?;
    for (i, a) in approvals.iter().enumerate() {
        if a.change != change {
            bail!("approval {i} (by {}) approves another change than this command makes", a.signer);
        }
        if a.nonce != nonce {
            bail!(
                "approval {i} (by {}) was signed at change {}; the module is at change {nonce}: sign again",
                a.signer,
                a.nonce
            );
        }
        if approval_signer(&digest, &a.signature) != Some(a.signer) {
            bail!("approval {i}: the signature is not {}'s over this change", a.signer);
        }
    }
    let call =
        IPermissions::executeCall { change, signatures: approvals.iter().map(|a| a.signature.clone()).collect() };
    let receipt = send(client, key, ADDRESS, &call).await?;
    Ok((receipt.transaction_hash, receipt.block_number.unwrap_or_default()))
}

/// `replace-admins`: sign as a validator, or submit validators' approvals.
async fn replace_admins(
    client: &RpcClient,
    key: &AccountKey,
    admins: Vec<Address>,
    threshold: u64,
    validator_key: Option<PathBuf>,
    approvals: Vec<PathBuf>,
    sign_only: Option<PathBuf>,
) -> eyre::Result<String> {
    let nonce = view(client, ADDRESS, &IPermissions::changeNonceCall {}).await?;
    let digest = view(client, ADDRESS, &IPermissions::adminsDigestCall { admins: admins.clone(), threshold }).await?;
    match (validator_key, sign_only) {
        (Some(path), Some(out)) => {
            let validator = dsec_sdk::keyfile::open_validator_signer(&path)
                .map_err(|e| eyre!("--validator-key {}: {e}", path.display()))?;
            let signed = validator.sign_consensus(digest.as_slice())?;
            let file = ValidatorApprovalFile {
                admins,
                threshold,
                nonce,
                digest,
                public_key: validator.public_key(),
                signature: signed.ed25519.to_vec().into(),
                ml_dsa_signature: signed.ml_dsa.map(Into::into),
            };
            write_json(&out, &file)?;
            Ok(format!("validator approval written to {}", out.display()))
        }
        (Some(_), None) | (None, Some(_)) => {
            bail!("a validator signs with both --validator-key FILE and --sign-only FILE")
        }
        (None, None) => {
            if approvals.is_empty() {
                bail!("give --validator-approval files (written with --validator-key and --sign-only)");
            }
            let mut list = Vec::new();
            for path in &approvals {
                let file: ValidatorApprovalFile = read_json(path, "a validator approval")?;
                if file.admins != admins || file.threshold != threshold {
                    bail!("{}: approves other administrators or another threshold", path.display());
                }
                if file.nonce != nonce {
                    bail!(
                        "{}: signed at change {}; the module is at change {nonce}: sign again",
                        path.display(),
                        file.nonce
                    );
                }
                list.push(IPermissions::ValidatorApproval {
                    publicKey: file.public_key,
                    signature: file.signature,
                    mlDsaSignature: file.ml_dsa_signature.unwrap_or_default(),
                });
            }
            let call = IPermissions::replaceAdminsCall { admins, threshold, approvals: list };
            let receipt = send(client, key, ADDRESS, &call).await?;
            Ok(format!(
                "ok: administrators replaced by the validators, transaction {} in block {}",
                receipt.transaction_hash,
                receipt.block_number.unwrap_or_default()
            ))
        }
    }
}

/// A report of everything the module holds, from `dsec_permissions`.
async fn show(client: &RpcClient) -> eyre::Result<String> {
    let p: serde_json::Value = client.call("dsec_permissions", Vec::<serde_json::Value>::new()).await?;
    let list = |v: &serde_json::Value| -> String {
        // Addresses with their EIP-55 checksum, as wallets show them; peer ids as they are.
        let items: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str())
            .map(|x| x.parse::<Address>().map(|a| a.to_checksum(None)).unwrap_or_else(|_| x.to_string()))
            .collect();
        if items.is_empty() { "(none)".to_string() } else { items.join("\n    ") }
    };
    let mut out = String::new();
    out.push_str(&format!(
        "administrators (threshold {}, {} changes made):\n    {}\n",
        p["threshold"].as_str().and_then(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok()).unwrap_or(1),
        p["changeNonce"].as_str().and_then(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok()).unwrap_or(0),
        list(&p["admins"])
    ));
    out.push_str(&format!(
        "accounts: {}\n    {}\n",
        p["accounts"]["mode"].as_str().unwrap_or("?"),
        list(&p["accounts"]["allowlist"])
    ));
    out.push_str(&format!("blocked:\n    {}\n", list(&p["accounts"]["blocklist"])));
    out.push_str(&format!(
        "deployers: {}\n    {}\n",
        p["deployers"]["mode"].as_str().unwrap_or("?"),
        list(&p["deployers"]["allowlist"])
    ));
    out.push_str(&format!("nodes:\n    {}\n", list(&p["nodes"])));
    if let Some(modules) = p["moduleAdmins"].as_object() {
        for (name, admins) in modules {
            out.push_str(&format!("{name} administrators:\n    {}\n", list(admins)));
        }
    }
    Ok(out.trim_end().to_string())
}
