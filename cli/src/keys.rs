//! `dsec keys`: generate validator and account keys, and show what operators
//! exchange about a key (address, public key, libp2p peer id).

use clap::{Subcommand, ValueEnum};
use dsec_sdk::hsm::{Pkcs11Key, is_pkcs11_uri};
use dsec_sdk::keyfile::{
    open_validator_signer, read_account_key, read_key, write_account_key, write_account_keystore, write_key,
    write_keystore,
};
use dsec_sdk::keystore::{passphrase_from_env, passphrase_from_file};
use dsec_sdk::tx::{AccountKey, LocalKey, MlDsaSigner};
use dsec_sdk::validators::{ValidatorKey, ValidatorSigner};
use std::path::{Path, PathBuf};

/// The signature scheme of an account key.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Ethereum's secp256k1 (wallets, MetaMask, every Ethereum tool).
    Secp256k1,
    /// ML-DSA-65 (FIPS 204), post-quantum; signs dsec's transaction type 0x4D.
    #[value(name = "ml-dsa-65")]
    MlDsa65,
}

impl Scheme {
    /// A fresh random key of this scheme.
    pub(crate) fn generate(self) -> AccountKey {
        match self {
            Scheme::Secp256k1 => AccountKey::Secp256k1(LocalKey::random()),
            Scheme::MlDsa65 => AccountKey::MlDsa65(MlDsaSigner::random()),
        }
    }
}

/// `dsec keys` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Generate an account key and print its address (the file is mode 0600; never overwrites).
    New {
        /// Signature scheme.
        #[arg(long, value_enum, default_value_t = Scheme::Secp256k1)]
        scheme: Scheme,
        /// Where to write the key file.
        #[arg(long)]
        out: PathBuf,
        /// Write an encrypted keystore (Web3 Secret Storage v3, as geth) instead of plaintext.
        #[arg(long)]
        encrypt: bool,
        /// File holding the passphrase (default: $DSEC_PASSWORD_FILE, then $DSEC_PASSWORD).
        #[arg(long, requires = "encrypt")]
        password_file: Option<PathBuf>,
    },
    /// Encrypt a plaintext account or validator key file into a v3 keystore.
    Encrypt {
        /// The plaintext key file.
        file: PathBuf,
        /// Where to write the keystore.
        #[arg(long)]
        out: PathBuf,
        /// File holding the passphrase (default: $DSEC_PASSWORD_FILE, then $DSEC_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Generate a validator key (ed25519): a file (mode 0600; never
    /// overwrites), or with --pkcs11 a key inside an HSM that never leaves it.
    Generate {
        /// Where to write it.
        #[arg(long, required_unless_present = "pkcs11", conflicts_with = "pkcs11")]
        out: Option<PathBuf>,
        /// Generate the key inside a PKCS#11 token instead, named by this URI
        /// (pkcs11:token=…;object=…?module-path=…&pin-source=file:…).
        #[arg(long)]
        pkcs11: Option<String>,
        /// A hybrid key: an ML-DSA-65 half beside the ed25519 key, for a chain
        /// whose consensus signatures are `ed25519+ml-dsa-65`.
        #[arg(long, conflicts_with = "pkcs11")]
        pq: bool,
    },
    /// Print the address and public key of a validator or account key file,
    /// or of a validator key in a token (a pkcs11: URI).
    Show {
        /// The key file or pkcs11: URI.
        file: PathBuf,
    },
}

impl KeysCommand {
    /// Run the subcommand.
    pub(crate) fn run(self) -> eyre::Result<()> {
        match self {
            Self::New { scheme, out, encrypt, password_file } => {
                let key = scheme.generate();
                if encrypt {
                    let passphrase = passphrase(password_file.as_deref())?;
                    write_account_keystore(&out, &key, &passphrase)?;
                } else {
                    write_account_key(&out, &key)?;
                }
                print_account(&key);
            }
            Self::Encrypt { file, out, password_file } => {
                let passphrase = passphrase(password_file.as_deref())?;
                match read_key(&file) {
                    Ok(key) if key.ml_dsa().is_some() => eyre::bail!(
                        "{} is a hybrid (ed25519 + ML-DSA-65) validator key: encrypted keystores hold one secret, so it stays a plain key file (mode 0600)",
                        file.display()
                    ),
                    Ok(key) => {
                        let seed = alloy_primitives::B256::from(key.seed());
                        write_keystore(&out, &seed, key.address(), Some("ed25519"), &passphrase)?;
                        print_key(&key);
                    }
                    Err(_) => {
                        let key = read_account_key(&file)?;
                        write_account_keystore(&out, &key, &passphrase)?;
                        print_account(&key);
                    }
                }
                println!("encrypted  {} (the plaintext {} is unchanged: delete it)", out.display(), file.display());
            }
            Self::Generate { out: Some(out), pkcs11: None, pq } => {
                let key = if pq { ValidatorKey::generate_hybrid() } else { ValidatorKey::generate() };
                write_key(&out, &key)?;
                print_key(&key);
            }
            Self::Generate { pkcs11: Some(uri), .. } => {
                let key = Pkcs11Key::generate(&uri.parse()?)?;
                print_key(&key);
                println!("token      {uri}");
            }
            Self::Generate { out: None, pkcs11: None, .. } => eyre::bail!("give --out FILE or --pkcs11 URI"),
            Self::Show { file } if file.to_str().is_some_and(is_pkcs11_uri) => {
                print_key(open_validator_signer(&file)?.as_ref());
            }
            Self::Show { file } => match read_key(&file) {
                Ok(key) => print_key(&key),
                Err(validator_error) => match read_account_key(&file) {
                    Ok(key) => print_account(&key),
                    Err(account_error) => {
                        eyre::bail!("neither a validator key ({validator_error}) nor an account key ({account_error})")
                    }
                },
            },
        }
        Ok(())
    }
}

/// The passphrase from `--password-file`, else from the environment.
fn passphrase(file: Option<&Path>) -> eyre::Result<zeroize::Zeroizing<Vec<u8>>> {
    let passphrase = match file {
        Some(path) => passphrase_from_file(path)?,
        None => passphrase_from_env()?,
    };
    if passphrase.is_empty() {
        eyre::bail!("the passphrase is empty");
    }
    Ok(passphrase)
}

/// Print an account key's scheme, address and (ML-DSA-65) public key size.
fn print_account(key: &AccountKey) {
    println!("scheme     {}\naddress    {}", key.scheme(), key.address());
    if let AccountKey::MlDsa65(signer) = key {
        let public = signer.key().public_key().as_bytes();
        println!("ml-dsa-65  0x{}", alloy_primitives::hex::encode(public));
    }
}

/// Print what operators exchange about a key: address, public key, and the
/// libp2p peer id of a node using it (a key in a token is not a network
/// identity: that node has its own [p2p] node_key).
fn print_key(key: &dyn ValidatorSigner) {
    println!("address    {}\npublic key {}", key.address(), key.public_key());
    if let Some(ml_dsa) = key.ml_dsa_public_key() {
        println!("ml-dsa-65  0x{}", alloy_primitives::hex::encode(ml_dsa.as_bytes()));
    }
    if key.seed().is_some()
        && let Some(peer) = dsec_consensus::bft::peer_id_of(&key.public_key().0)
    {
        println!("peer id    {peer}");
    }
}
