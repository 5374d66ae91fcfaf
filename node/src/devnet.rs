//! `dsec devnet`: a dev chain in one command, with the well-known development
//! accounts prefunded and JSON-RPC on 127.0.0.1:8545.

use crate::keys::{read_key, write_key};
use crate::run::NodeSettings;
use dsec_genesis::Genesis;
use dsec_genesis::devnet::{DEV_ACCOUNT_BALANCE_WEI, DevnetSpec, generate};
use eyre::{WrapErr, bail};
use std::path::{Path, PathBuf};

/// Name of the genesis file inside a devnet data directory.
pub const GENESIS_FILE: &str = "genesis.json";
/// Name of the validator key file inside a devnet data directory.
pub const KEY_FILE: &str = "validator.key";

/// A devnet directory: its genesis and validator key, created on first use.
#[derive(Debug)]
pub struct DevnetDir {
    /// The directory.
    pub path: PathBuf,
    /// The genesis.
    pub genesis: Genesis,
    /// Whether it was created now (false: an existing devnet restarts).
    pub created: bool,
}

/// Create a devnet in `dir`, or reopen the one already there.
pub fn prepare(dir: &Path, spec: &DevnetSpec) -> eyre::Result<(DevnetDir, dsec_sdk::validators::ValidatorKey)> {
    if spec.validators != 1 {
        bail!(
            "--validators {}: a devnet of several validators needs BFT consensus, which this build does not include yet",
            spec.validators
        );
    }
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    let genesis_path = dir.join(GENESIS_FILE);
    let key_path = dir.join(KEY_FILE);
    if genesis_path.exists() {
        let genesis = Genesis::load(&genesis_path)?;
        let key = read_key(&key_path)?;
        return Ok((DevnetDir { path: dir.to_path_buf(), genesis, created: false }, key));
    }
    let devnet = generate(spec);
    std::fs::write(&genesis_path, devnet.genesis.to_json_pretty())
        .wrap_err_with(|| format!("cannot write {}", genesis_path.display()))?;
    let key = devnet.validator_keys[0].clone();
    write_key(&key_path, &key)?;
    Ok((DevnetDir { path: dir.to_path_buf(), genesis: devnet.genesis, created: true }, key))
}

/// The banner printed at start-up, listing the dev accounts as Anvil and Hardhat do.
pub fn banner(settings: &NodeSettings, rpc_url: &str) -> String {
    let mut out = String::new();
    out.push_str("\n                 dsec devnet\n\nAvailable Accounts\n==================\n");
    let accounts = dsec_sdk::dev::dev_accounts();
    let eth = DEV_ACCOUNT_BALANCE_WEI / 1_000_000_000_000_000_000;
    for a in &accounts {
        out.push_str(&format!("({}) {} ({} ETH)\n", a.index, a.address, eth));
    }
    out.push_str("\nPrivate Keys\n==================\n");
    for a in &accounts {
        out.push_str(&format!("({}) {}\n", a.index, a.private_key));
    }
    out.push_str(&format!(
        "\nWallet\n==================\nMnemonic:          {}\nDerivation path:   m/44'/60'/0'/0/\n\nChain ID:          {}\nGenesis hash:      {}\nData directory:    {}\n\nListening on {}\n",
        dsec_sdk::dev::DEV_MNEMONIC,
        settings.genesis.chain_id,
        settings.genesis.hash(),
        settings.data_dir.display(),
        rpc_url,
    ));
    out.push_str("These keys are public knowledge: never use them outside a devnet.\n");
    out
}
