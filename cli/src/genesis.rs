//! `dsec genesis`: write the genesis file and validator keys of a new network,
//! and check a genesis file.

use alloy_primitives::Address;
use clap::Subcommand;
use dsec_genesis::Genesis;
use dsec_genesis::devnet::{DEVNET_CHAIN_ID, DevnetSpec, generate};
use dsec_sdk::keyfile::write_key;
use eyre::{WrapErr, bail};
use std::path::PathBuf;

/// `dsec genesis` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum GenesisCommand {
    /// Write a genesis file (and validator keys) for a new network.
    Init {
        /// Where to write the genesis file.
        #[arg(long, default_value = "genesis.json")]
        out: PathBuf,
        /// Directory for the generated validator keys.
        #[arg(long, default_value = "keys")]
        keys_dir: PathBuf,
        /// Number of validators to generate keys for.
        #[arg(long, default_value_t = 1)]
        validators: usize,
        /// Chain id.
        #[arg(long, default_value_t = DEVNET_CHAIN_ID)]
        chain_id: u64,
        /// Zero gas price instead of an EIP-1559 base fee.
        #[arg(long)]
        zero_fee: bool,
        /// Enable the chaincode modules with this administrator (default: no modules).
        #[arg(long)]
        chaincode_admin: Option<Address>,
        /// Let this account change the validator set alone (default: only a
        /// two-thirds majority of the validators can).
        #[arg(long)]
        validator_admin: Option<Address>,
        /// Hybrid consensus signatures (`consensusSignatures: "ed25519+ml-dsa-65"`):
        /// every validator key gets an ML-DSA-65 half beside its ed25519 key.
        #[arg(long)]
        pq: bool,
    },
    /// Check a genesis file and print its hash.
    Validate {
        /// The genesis file.
        file: PathBuf,
    },
}

impl GenesisCommand {
    /// Run the subcommand.
    pub(crate) fn run(self) -> eyre::Result<()> {
        match self {
            Self::Init { out, keys_dir, validators, chain_id, zero_fee, chaincode_admin, validator_admin, pq } => {
                if validators == 0 {
                    bail!("--validators must be at least 1");
                }
                if out.exists() {
                    bail!("{} already exists: refusing to overwrite a genesis file", out.display());
                }
                let mut devnet = generate(&DevnetSpec {
                    chain_id,
                    validators,
                    eip1559: !zero_fee,
                    chaincode: chaincode_admin.is_some(),
                    validator_admin: false,
                    hybrid: pq,
                    ..DevnetSpec::default()
                });
                devnet.genesis.permissions.validator_admin = validator_admin;
                if let Some(admin) = chaincode_admin {
                    for module in devnet.genesis.chaincode.values_mut() {
                        module.admins = vec![admin];
                    }
                    devnet.genesis.tenants.clear();
                }
                std::fs::create_dir_all(&keys_dir).wrap_err_with(|| format!("cannot create {}", keys_dir.display()))?;
                for (i, key) in devnet.validator_keys.iter().enumerate() {
                    let path = keys_dir.join(format!("validator-{i}.key"));
                    write_key(&path, key)?;
                    println!("wrote {} ({})", path.display(), key.address());
                }
                std::fs::write(&out, devnet.genesis.to_json_pretty())
                    .wrap_err_with(|| format!("cannot write {}", out.display()))?;
                println!("wrote {}\ngenesis hash {}", out.display(), devnet.genesis.hash());
                Ok(())
            }
            Self::Validate { file } => {
                let genesis = Genesis::load(&file)?;
                println!(
                    "valid: chain id {}, {} validators ({} consensus signatures), {} accounts\ngenesis hash {}",
                    genesis.chain_id,
                    genesis.validators.len(),
                    genesis.consensus_signatures,
                    genesis.alloc.len(),
                    genesis.hash()
                );
                Ok(())
            }
        }
    }
}
