//! `dsec jwt`: the keys and tokens of authenticated JSON-RPC. `secret`
//! writes a shared HS256 secret (the node's `[rpc] jwt_secret_file`),
//! `public-key` prints the Ed25519 public key of a key file (the node's
//! `[rpc] jwt_public_key_file`), and `new` mints a bearer token.

use clap::Subcommand;
use dsec_node::rpc::auth::{Claims, JwtSigner};
use dsec_sdk::keyfile::read_key;
use eyre::{WrapErr, eyre};
use std::path::PathBuf;

/// `dsec jwt` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum JwtCommand {
    /// Write a new random 32-byte HS256 secret, as hex (mode 0600; never overwrites).
    Secret {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the hex Ed25519 public key of a key file (`dsec keys generate`), for `[rpc] jwt_public_key_file`.
    PublicKey {
        /// The key file that signs tokens.
        #[arg(long)]
        key: PathBuf,
    },
    /// Mint a bearer token.
    New {
        /// Sign with this HS256 secret file.
        #[arg(long, conflicts_with = "key", required_unless_present = "key")]
        secret: Option<PathBuf>,
        /// Sign with this Ed25519 key file (EdDSA).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Namespaces and methods the token may call, e.g. `eth,net,debug_traceCall` (default: all).
        #[arg(long, value_delimiter = ',')]
        scope: Option<Vec<String>>,
        /// Seconds the token stays valid.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

impl JwtCommand {
    /// Run the subcommand.
    pub(crate) fn run(self) -> eyre::Result<()> {
        match self {
            Self::Secret { out } => {
                let secret: [u8; 32] = rand::random();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(&out).wrap_err_with(|| format!("--out {}", out.display()))?;
                std::io::Write::write_all(&mut file, alloy_primitives::hex::encode(secret).as_bytes())
                    .wrap_err_with(|| format!("--out {}", out.display()))?;
                println!("{}", out.display());
            }
            Self::PublicKey { key } => {
                let signer = JwtSigner::ed25519_from_seed(&read_key(&key)?.seed());
                let public = signer.public_key().ok_or_else(|| eyre!("--key: not an Ed25519 key"))?;
                println!("{}", alloy_primitives::hex::encode(public));
            }
            Self::New { secret, key, scope, ttl } => {
                let signer = match (secret, key) {
                    (Some(path), _) => {
                        let text =
                            std::fs::read_to_string(&path).wrap_err_with(|| format!("--secret {}", path.display()))?;
                        let secret = alloy_primitives::hex::decode(text.trim())
                            .map_err(|e| eyre!("--secret {}: not hex: {e}", path.display()))?;
                        JwtSigner::Hs256(secret)
                    }
                    (None, Some(path)) => JwtSigner::ed25519_from_seed(&read_key(&path)?.seed()),
                    (None, None) => return Err(eyre!("give --secret or --key")),
                };
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
                let exp = now.checked_add(ttl).ok_or_else(|| eyre!("--ttl {ttl}: too large"))?;
                println!("{}", signer.sign(&Claims { exp, scope }));
            }
        }
        Ok(())
    }
}
