//! `dsec validators`: operator commands for validator-set governance — show
//! the set of a height, sign an approval of a change with a validator key,
//! and submit a change with approvals (or as the genesis validator admin).

use crate::cli_tx::{send, view};
use alloy_primitives::{Address, B256, Bytes};
use dsec_sdk::chaincode::validator_set::{ADDRESS, IValidatorSet, change_digest};
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::LocalKey;
use dsec_sdk::validators::ValidatorKey;
use eyre::{WrapErr, bail, eyre};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One member of a proposed set, as written in a set file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetMember {
    /// Who runs it (for people; not on chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ed25519 public key (`dsec keys show` prints it).
    pub public_key: B256,
    /// Voting power, at least 1.
    pub power: u64,
}

/// A validator's approval of one change, as `dsec validators approve` writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalFile {
    /// Number the change will have.
    pub change_number: u64,
    /// Height the set takes effect.
    pub activation_height: u64,
    /// What was signed.
    pub digest: B256,
    /// The approving validator's public key.
    pub public_key: B256,
    /// Its ed25519 signature over `digest`.
    pub signature: Bytes,
}

/// Read a set file: a JSON array of `{ "name"?, "publicKey", "power" }`.
pub fn read_set(path: &Path) -> eyre::Result<Vec<IValidatorSet::ValidatorInfo>> {
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
    }
    Ok(members.iter().map(|m| IValidatorSet::ValidatorInfo { publicKey: m.public_key, power: m.power }).collect())
}

/// Read an approval file written by `dsec validators approve`.
pub fn read_approval(path: &Path) -> eyre::Result<ApprovalFile> {
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
pub async fn approve(
    client: &RpcClient,
    key: &ValidatorKey,
    set: &[IValidatorSet::ValidatorInfo],
    activation: u64,
) -> eyre::Result<ApprovalFile> {
    let (change_number, digest) = next_digest(client, set, activation).await?;
    Ok(ApprovalFile {
        change_number,
        activation_height: activation,
        digest,
        public_key: key.public_key(),
        signature: key.sign(digest.as_slice()).to_vec().into(),
    })
}

/// How a change is authorised.
#[derive(Debug, Clone)]
pub enum Authority {
    /// Approvals of current validators (files written by `dsec validators approve`).
    Validators(Vec<ApprovalFile>),
    /// The sender is the genesis validator admin.
    Admin,
}

/// Submit a change; returns the change number and the block that includes it.
pub async fn schedule(
    client: &RpcClient,
    sender: &LocalKey,
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
                .map(|f| IValidatorSet::Approval { publicKey: f.public_key, signature: f.signature })
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
pub async fn show(client: &RpcClient, height: Option<u64>) -> eyre::Result<serde_json::Value> {
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
        let key = ValidatorKey::generate().public_key();
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
