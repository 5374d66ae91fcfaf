//! `dsec validators`: operator commands for validator-set governance — show
//! the set of a height, sign an approval of a change with a validator key,
//! and submit a change with approvals (or as the genesis validator admin).

use crate::common::{DEFAULT_RPC_URL, client, parse_key};
use crate::tx::{send, view};
use alloy_primitives::{Address, B256, Bytes};
use clap::{Args, Subcommand};
use dsec_sdk::chaincode::validator_set::{ADDRESS, IValidatorSet, change_digest};
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::AccountKey;
use dsec_sdk::validators::ValidatorSigner;
use eyre::{WrapErr, bail, eyre};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Flags of `dsec validators`.
#[derive(Args, Debug)]
pub(crate) struct ValidatorsArgs {
    /// JSON-RPC URL of a node.
    #[arg(long, default_value = DEFAULT_RPC_URL, global = true)]
    rpc: String,
    #[command(subcommand)]
    op: ValidatorsCommand,
}

#[derive(Subcommand, Debug)]
enum ValidatorsCommand {
    /// Print the validator set of a height (default: the next height).
    Show {
        /// Block height.
        #[arg(long)]
        height: Option<u64>,
    },
    /// Sign the next change with a validator key; prints the approval (JSON) to pass to `schedule`.
    Approve {
        /// This validator's key file, or a pkcs11: URI naming its key in a token.
        #[arg(long)]
        validator_key: PathBuf,
        /// The complete new set: a JSON array of {"name"?, "publicKey", "power"}.
        #[arg(long)]
        set: PathBuf,
        /// First height the new set signs (at least two after the block that includes the change).
        #[arg(long)]
        activation: u64,
    },
    /// Submit a change, with approvals of more than two thirds of the current
    /// voting power or, with --admin, as the genesis validator admin.
    Schedule {
        /// The complete new set (as for `approve`).
        #[arg(long)]
        set: PathBuf,
        /// First height the new set signs.
        #[arg(long)]
        activation: u64,
        /// Approval files written by `dsec validators approve` (repeat the flag).
        #[arg(long = "approval")]
        approvals: Vec<PathBuf>,
        /// Submit as the genesis validator admin instead of with approvals.
        #[arg(long, conflicts_with = "approvals")]
        admin: bool,
        /// Private key that sends the transaction (default: dev account 0).
        #[arg(long)]
        key: Option<String>,
    },
}

impl ValidatorsArgs {
    /// Run the subcommand.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        let c = client(&self.rpc)?;
        match self.op {
            ValidatorsCommand::Show { height } => {
                println!("{}", serde_json::to_string_pretty(&show(&c, height).await?)?);
            }
            ValidatorsCommand::Approve { validator_key, set, activation } => {
                let key = dsec_sdk::keyfile::open_validator_signer(&validator_key)?;
                let approval = approve(&c, key.as_ref(), &read_set(&set)?, activation).await?;
                println!("{}", serde_json::to_string_pretty(&approval)?);
            }
            ValidatorsCommand::Schedule { set, activation, approvals, admin, key } => {
                let sender = parse_key(key.as_deref(), "--key")?;
                let authority = if admin {
                    Authority::Admin
                } else {
                    if approvals.is_empty() {
                        bail!("give --approval files (from `dsec validators approve`) or --admin");
                    }
                    Authority::Validators(approvals.iter().map(|p| read_approval(p)).collect::<eyre::Result<_>>()?)
                };
                let set = read_set(&set)?;
                let (number, block) = schedule(&c, &sender, set, activation, authority).await?;
                println!("change {number} scheduled in block {block}: the new set signs from height {activation}");
            }
        }
        Ok(())
    }
}

/// One member of a proposed set, as written in a set file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SetMember {
    /// Who runs it (for people; not on chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// ed25519 public key (`dsec keys show` prints it).
    pub(crate) public_key: B256,
    /// Voting power, at least 1.
    pub(crate) power: u64,
    /// ML-DSA-65 public key, on a chain with hybrid consensus signatures
    /// (`dsec keys show` prints it for a hybrid key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ml_dsa_public_key: Option<Bytes>,
}

/// A validator's approval of one change, as `dsec validators approve` writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ApprovalFile {
    /// Number the change will have.
    pub(crate) change_number: u64,
    /// Height the set takes effect.
    pub(crate) activation_height: u64,
    /// What was signed.
    pub(crate) digest: B256,
    /// The approving validator's public key.
    pub(crate) public_key: B256,
    /// Its ed25519 signature over `digest`.
    pub(crate) signature: Bytes,
    /// Its ML-DSA-65 signature over `digest` (a hybrid validator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ml_dsa_signature: Option<Bytes>,
}

/// Read a set file: a JSON array of `{ "name"?, "publicKey", "power" }`.
pub(crate) fn read_set(path: &Path) -> eyre::Result<Vec<IValidatorSet::ValidatorInfo>> {
    let text = std::fs::read_to_string(path).wrap_err_with(|| format!("cannot read {}", path.display()))?;
    let members: Vec<SetMember> = serde_json::from_str(&text).map_err(|e| eyre!("{}: {e}", path.display()))?;
    if members.is_empty() {
        bail!("{}: the set is empty", path.display());
    }
    for (i, m) in members.iter().enumerate() {
        if m.power == 0 {
            bail!("{}: member {i}: power must be at least 1", path.display());
        }
        if ed25519_dalek::VerifyingKey::from_bytes(&m.public_key.0).is_err() {
            bail!("{}: member {i}: publicKey is not a valid ed25519 public key", path.display());
        }
        if let Some(key) = &m.ml_dsa_public_key
            && dsec_sdk::pq::MlDsa65PublicKey::from_bytes(key).is_err()
        {
            bail!(
                "{}: member {i}: mlDsaPublicKey is {} bytes, an ML-DSA-65 public key is 1,952",
                path.display(),
                key.len()
            );
        }
    }
    Ok(members
        .iter()
        .map(|m| IValidatorSet::ValidatorInfo {
            publicKey: m.public_key,
            power: m.power,
            mlDsaPublicKey: m.ml_dsa_public_key.clone().unwrap_or_default(),
        })
        .collect())
}

/// Read an approval file written by `dsec validators approve`.
pub(crate) fn read_approval(path: &Path) -> eyre::Result<ApprovalFile> {
    let text = std::fs::read_to_string(path).wrap_err_with(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| eyre!("{}: not an approval: {e}", path.display()))
}

/// The digest of the next change for `set` at `activation`, and its number, from the node.
async fn next_digest(
    client: &RpcClient,
    set: &[IValidatorSet::ValidatorInfo],
    activation: u64,
) -> eyre::Result<(u64, B256)> {
    let chain_hash: B256 = client.call("dsec_genesisHash", Vec::<serde_json::Value>::new()).await?;
    let number = view(client, ADDRESS, &IValidatorSet::changeCountCall {}).await? + 1;
    Ok((number, change_digest(&chain_hash, number, activation, set)))
}

/// Sign the next change with a validator key.
pub(crate) async fn approve(
    client: &RpcClient,
    key: &dyn ValidatorSigner,
    set: &[IValidatorSet::ValidatorInfo],
    activation: u64,
) -> eyre::Result<ApprovalFile> {
    let (change_number, digest) = next_digest(client, set, activation).await?;
    let signed = key.sign_consensus(digest.as_slice())?;
    Ok(ApprovalFile {
        change_number,
        activation_height: activation,
        digest,
        public_key: key.public_key(),
        signature: signed.ed25519.to_vec().into(),
        ml_dsa_signature: signed.ml_dsa.map(Into::into),
    })
}

/// How a change is authorised.
#[derive(Debug, Clone)]
pub(crate) enum Authority {
    /// Approvals of current validators (files written by `dsec validators approve`).
    Validators(Vec<ApprovalFile>),
    /// The sender is the genesis validator admin.
    Admin,
}

/// Submit a change; returns the change number and the block that includes it.
pub(crate) async fn schedule(
    client: &RpcClient,
    sender: &AccountKey,
    set: Vec<IValidatorSet::ValidatorInfo>,
    activation: u64,
    authority: Authority,
) -> eyre::Result<(u64, u64)> {
    let receipt = match authority {
        Authority::Admin => {
            let admin = view(client, ADDRESS, &IValidatorSet::validatorAdminCall {}).await?;
            if admin == Address::ZERO {
                bail!("this chain has no validator admin: collect approvals with `dsec validators approve`");
            }
            if admin != sender.address() {
                bail!("--key signs as {}, but the validator admin is {admin}", sender.address());
            }
            send(
                client,
                sender,
                ADDRESS,
                &IValidatorSet::scheduleByAdminCall { validators: set, activationHeight: activation },
            )
            .await?
        }
        Authority::Validators(files) => {
            let (number, digest) = next_digest(client, &set, activation).await?;
            for (i, f) in files.iter().enumerate() {
                if f.digest != digest {
                    bail!(
                        "approval {i} ({}) is for change {} at height {}, not change {number} of this set at height {activation}",
                        f.public_key,
                        f.change_number,
                        f.activation_height
                    );
                }
            }
            let approvals = files
                .into_iter()
                .map(|f| IValidatorSet::Approval {
                    publicKey: f.public_key,
                    signature: f.signature,
                    mlDsaSignature: f.ml_dsa_signature.unwrap_or_default(),
                })
                .collect();
            let call =
                IValidatorSet::scheduleByValidatorsCall { validators: set, activationHeight: activation, approvals };
            send(client, sender, ADDRESS, &call).await?
        }
    };
    let count = view(client, ADDRESS, &IValidatorSet::changeCountCall {}).await?;
    Ok((count, receipt.block_number.unwrap_or_default()))
}

/// The set of `height` (default: the next height), as the node reports it.
pub(crate) async fn show(client: &RpcClient, height: Option<u64>) -> eyre::Result<serde_json::Value> {
    let params = height.map(|h| vec![serde_json::json!(format!("0x{h:x}"))]).unwrap_or_default();
    Ok(client.call("dsec_getValidators", params).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_files_name_their_bad_member() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("set.json");
        let key = dsec_sdk::validators::ValidatorKey::generate().public_key();
        std::fs::write(&path, format!(r#"[{{"name":"port","publicKey":"{key}","power":2}}]"#)).unwrap();
        assert_eq!(read_set(&path).unwrap()[0].power, 2);
        std::fs::write(&path, format!(r#"[{{"publicKey":"{key}","power":0}}]"#)).unwrap();
        assert!(read_set(&path).unwrap_err().to_string().contains("member 0: power"));
        std::fs::write(&path, format!(r#"[{{"publicKey":"{key}","power":1,"weight":3}}]"#)).unwrap();
        assert!(read_set(&path).unwrap_err().to_string().contains("weight"));
        std::fs::write(&path, "[]").unwrap();
        assert!(read_set(&path).unwrap_err().to_string().contains("empty"));
    }
}
