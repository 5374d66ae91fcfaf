//! `dsec keys`: generate a validator key file and show what operators
//! exchange about a key (address, public key, libp2p peer id).

use clap::Subcommand;
use dsec_sdk::keyfile::{read_key, write_key};
use dsec_sdk::validators::ValidatorKey;
use std::path::PathBuf;

/// `dsec keys` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Generate a validator key file (mode 0600; never overwrites).
    Generate {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the address and public key of a key file.
    Show {
        /// The key file.
        file: PathBuf,
    },
}

impl KeysCommand {
    /// Run the subcommand.
    pub(crate) fn run(self) -> eyre::Result<()> {
        match self {
            Self::Generate { out } => {
                let key = ValidatorKey::generate();
                write_key(&out, &key)?;
                print_key(&key);
            }
            Self::Show { file } => print_key(&read_key(&file)?),
        }
        Ok(())
    }
}

/// Print what operators exchange about a key: address, public key, libp2p peer id.
fn print_key(key: &ValidatorKey) {
    let peer = dsec_consensus::bft::peer_id_of(&key.public_key().0).map(|p| p.to_string()).unwrap_or_default();
    println!("address    {}\npublic key {}\npeer id    {peer}", key.address(), key.public_key());
}
