//! Sealed documents: `dsec seal`, `dsec open` and `dsec docs` (recipient
//! keys, the on-chain key directory, document anchors).
//!
//! A party makes a document key once (`dsec docs keygen`) and publishes its
//! public half (`dsec docs publish`); a sender seals a file to parties by
//! address (`dsec seal --to 0x… --to 0x…`: their keys are read from the
//! chain), hands the envelope over off chain and anchors its hash
//! (`dsec docs anchor`); a recipient opens it (`dsec open`), which checks the
//! sender's signature, the content hash and the anchor on chain.

use crate::common::{DEFAULT_RPC_URL, client, parse_key};
use crate::tx::{send, view};
use alloy_primitives::{Address, B256, Bytes};
use clap::{Args, Subcommand};
use dsec_sdk::client::RpcClient;
use dsec_sdk::documents::{ADDRESS, IDocuments, check_anchor, is_valid_kind};
use dsec_sdk::envelope::{Envelope, RecipientKey, RecipientPublicKey, seal_about};
use eyre::{WrapErr, bail, eyre};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a document is about: a shipment, an audit tenant, or a raw 32-byte subject.
#[derive(Args, Debug, Default)]
pub(crate) struct SubjectArgs {
    /// The shipment (provenance id, as `dsec provenance` takes it).
    #[arg(long, conflicts_with_all = ["tenant", "subject"])]
    shipment: Option<String>,
    /// The audit tenant id.
    #[arg(long, conflicts_with = "subject")]
    tenant: Option<String>,
    /// A raw 32-byte subject.
    #[arg(long)]
    subject: Option<B256>,
}

impl SubjectArgs {
    fn subject(&self) -> Option<B256> {
        if let Some(id) = &self.shipment {
            return Some(crate::provenance::shipment_id(id));
        }
        if let Some(tenant) = &self.tenant {
            return Some(dsec_sdk::chaincode::audit::tenant_id(tenant));
        }
        self.subject
    }
}

/// Flags of `dsec seal`.
#[derive(Args, Debug)]
pub(crate) struct SealArgs {
    /// The file to seal.
    file: PathBuf,
    /// A recipient's account address (its published key is read from the
    /// chain); repeat for each recipient.
    #[arg(long = "to", required = true)]
    to: Vec<Address>,
    /// Where to write the envelope (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    about: SubjectArgs,
    /// The sender's account key, which signs the envelope (default: dev account 0).
    #[arg(long)]
    key: Option<String>,
    /// JSON-RPC URL of a node (to read the recipients' keys).
    #[arg(long, default_value = DEFAULT_RPC_URL)]
    rpc: String,
}

impl SealArgs {
    /// Seal the file and write the envelope.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        let sender = parse_key(self.key.as_deref(), "--key")?;
        let plaintext = std::fs::read(&self.file).wrap_err_with(|| format!("cannot read {}", self.file.display()))?;
        let c = client(&self.rpc)?;
        let mut recipients = Vec::with_capacity(self.to.len());
        for party in &self.to {
            recipients.push(published_key(&c, *party).await?);
        }
        let envelope = seal_about(&plaintext, self.about.subject().unwrap_or(B256::ZERO), &recipients, &sender)
            .map_err(|e| eyre!("cannot seal {}: {e}", self.file.display()))?;
        let bytes = envelope.encode();
        write_output(self.out.as_deref(), &bytes)?;
        eprintln!(
            "sealed {} bytes to {} recipient(s); envelope {} ({} bytes)",
            plaintext.len(),
            recipients.len(),
            envelope.hash(),
            bytes.len()
        );
        Ok(())
    }
}

/// Flags of `dsec open`.
#[derive(Args, Debug)]
pub(crate) struct OpenArgs {
    /// The sealed document.
    file: PathBuf,
    /// The recipient's document key file (`dsec docs keygen`).
    #[arg(long)]
    key: PathBuf,
    /// Where to write the plaintext (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Do not check the anchor on chain (signature and content hash are still checked).
    #[arg(long)]
    no_anchor: bool,
    /// JSON-RPC URL of a node (to read the anchor).
    #[arg(long, default_value = DEFAULT_RPC_URL)]
    rpc: String,
}

impl OpenArgs {
    /// Open the envelope, check it against its anchor, and write the plaintext.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        let envelope = read_envelope(&self.file)?;
        let key = read_recipient_key(&self.key)?;
        let opened = envelope.open(&key).map_err(|e| eyre!("{}: {e}", self.file.display()))?;
        if !self.no_anchor {
            let c = client(&self.rpc)?;
            let record = anchored(&c, envelope.hash(), opened.sender).await?;
            check_anchor(&envelope, &record).map_err(|e| eyre!("{}: {e}", self.file.display()))?;
            eprintln!(
                "anchored at block {} as {:?} by {}; the content hash matches",
                record.blockNumber, record.kind, record.sender
            );
        }
        write_output(self.out.as_deref(), &opened.plaintext)?;
        eprintln!("opened {} bytes sealed by {} (signature verified)", opened.plaintext.len(), opened.sender);
        Ok(())
    }
}

/// Flags of `dsec docs`.
#[derive(Args, Debug)]
pub(crate) struct DocsArgs {
    /// JSON-RPC URL of a node.
    #[arg(long, default_value = DEFAULT_RPC_URL, global = true)]
    rpc: String,
    /// Account key that signs transactions (default: dev account 0).
    #[arg(long, global = true)]
    key: Option<String>,
    #[command(subcommand)]
    op: DocsCommand,
}

#[derive(Subcommand, Debug)]
enum DocsCommand {
    /// Make a document key (ML-KEM-768 + X25519) and write it to a file (mode 0600).
    Keygen {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Publish (or rotate) the sender account's document key in the on-chain directory.
    Publish {
        /// The document key file.
        #[arg(long)]
        doc_key: PathBuf,
    },
    /// Print a party's published document key.
    Key {
        /// The party's account address.
        party: Address,
    },
    /// Anchor a sealed document: its hash, content hash, kind, recipients and subject.
    Anchor {
        /// The sealed document.
        file: PathBuf,
        /// bill-of-lading, customs-declaration, certificate-of-origin, audit-batch, other, or the consortium's own.
        #[arg(long)]
        kind: String,
        #[command(flatten)]
        about: SubjectArgs,
    },
    /// Print an anchored document's record (by sealed file, or by envelope
    /// hash and --sender), checked against the file if given.
    Show {
        /// The sealed document, or its envelope hash.
        document: String,
        /// The account that anchored it (with an envelope hash; a file names its signer).
        #[arg(long)]
        sender: Option<Address>,
    },
}

impl DocsArgs {
    /// Run the operation.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        // Keygen needs no node; every other operation reads or writes the chain.
        let node = || client(&self.rpc);
        match self.op {
            DocsCommand::Keygen { out } => {
                let key = RecipientKey::generate();
                write_recipient_key(&out, &key)?;
                println!("key id     {}\nwrote      {}", key.key_id(), out.display());
                Ok(())
            }
            DocsCommand::Publish { doc_key } => {
                let c = node()?;
                let account = parse_key(self.key.as_deref(), "--key")?;
                let key = read_recipient_key(&doc_key)?;
                let public = key.public_key();
                let call = IDocuments::publishKeyCall {
                    mlkemPublicKey: Bytes::copy_from_slice(public.mlkem().as_bytes()),
                    x25519PublicKey: B256::from(*public.x25519()),
                };
                let receipt = send(&c, &account, ADDRESS, &call).await?;
                let (_, _, version, key_id) = published(&c, account.address()).await?;
                println!(
                    "published  key {key_id} (version {version}) for {}\ntransaction {}",
                    account.address(),
                    receipt.transaction_hash
                );
                Ok(())
            }
            DocsCommand::Key { party } => {
                let c = node()?;
                let (_, x25519, version, key_id) = published(&c, party).await?;
                println!("party      {party}\nkey id     {key_id}\nversion    {version}\nx25519     {x25519}");
                Ok(())
            }
            DocsCommand::Anchor { file, kind, about } => {
                let c = node()?;
                if !is_valid_kind(&kind) {
                    bail!(
                        "--kind {kind:?}: 1 to 64 characters of a-z, 0-9, '-' and '.' (bill-of-lading, customs-declaration, certificate-of-origin, audit-batch, other)"
                    );
                }
                let account = parse_key(self.key.as_deref(), "--key")?;
                let envelope = read_envelope(&file)?;
                let signer = envelope.verify_sender().map_err(|e| eyre!("{}: {e}", file.display()))?;
                if signer != account.address() {
                    bail!(
                        "{} is signed by {signer}; only its sender anchors it (--key is {})",
                        file.display(),
                        account.address()
                    );
                }
                let subject = match (about.subject(), envelope.subject()) {
                    (Some(given), sealed) if !sealed.is_zero() && given != sealed => {
                        bail!("the envelope is about {sealed}, not {given}")
                    }
                    (Some(given), _) => given,
                    (None, sealed) => sealed,
                };
                let call = IDocuments::anchorDocumentCall {
                    envelopeHash: envelope.hash(),
                    contentHash: envelope.content_hash(),
                    kind,
                    recipients: envelope.recipients().to_vec(),
                    subject,
                };
                let receipt = send(&c, &account, ADDRESS, &call).await?;
                println!(
                    "anchored   envelope {}\nblock      {}\ntransaction {}",
                    envelope.hash(),
                    receipt.block_number.unwrap_or_default(),
                    receipt.transaction_hash
                );
                Ok(())
            }
            DocsCommand::Show { document, sender } => {
                let c = node()?;
                let (hash, envelope, sender) = match document.parse::<B256>() {
                    Ok(hash) => {
                        let sender =
                            sender.ok_or_else(|| eyre!("with an envelope hash, give --sender (who anchored it)"))?;
                        (hash, None, sender)
                    }
                    Err(_) => {
                        let envelope = read_envelope(Path::new(&document))?;
                        let signer = envelope.verify_sender().map_err(|e| eyre!("{document}: {e}"))?;
                        (envelope.hash(), Some(envelope), sender.unwrap_or(signer))
                    }
                };
                let record = anchored(&c, hash, sender).await?;
                if let Some(envelope) = &envelope {
                    check_anchor(envelope, &record).map_err(|e| eyre!("{document}: {e}"))?;
                }
                let recipients: Vec<String> = record.recipients.iter().map(|r| r.to_string()).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "envelopeHash": hash,
                        "sender": record.sender,
                        "blockNumber": record.blockNumber,
                        "kind": record.kind,
                        "subject": record.subject,
                        "contentHash": record.contentHash,
                        "recipients": recipients,
                        "checkedAgainstFile": envelope.is_some(),
                    }))?
                );
                Ok(())
            }
        }
    }
}

/// A party's published key: (ML-KEM key, X25519 key, version, key id).
async fn published(c: &RpcClient, party: Address) -> eyre::Result<(Bytes, B256, u64, B256)> {
    let r = view(c, ADDRESS, &IDocuments::keyOfCall { party })
        .await
        .map_err(|e| eyre!("{party} has no published document key ({e})"))?;
    Ok((r.mlkemPublicKey, r.x25519PublicKey, r.version, r.keyId))
}

/// A party's published key, checked.
async fn published_key(c: &RpcClient, party: Address) -> eyre::Result<RecipientPublicKey> {
    let (mlkem, x25519, _, key_id) = published(c, party).await?;
    let key = RecipientPublicKey::from_parts(&mlkem, &x25519.0).map_err(|e| eyre!("{party}'s key: {e}"))?;
    if key.key_id() != key_id {
        bail!("{party}'s published key does not match its key id");
    }
    Ok(key)
}

/// The anchor of `hash` by `sender`.
async fn anchored(c: &RpcClient, hash: B256, sender: Address) -> eyre::Result<IDocuments::documentReturn> {
    view(c, ADDRESS, &IDocuments::documentCall { envelopeHash: hash, anchoredBy: sender })
        .await
        .map_err(|e| eyre!("envelope {hash} is not anchored by {sender} on this chain ({e})"))
}

fn read_envelope(path: &Path) -> eyre::Result<Envelope> {
    let bytes = std::fs::read(path).wrap_err_with(|| format!("cannot read {}", path.display()))?;
    Envelope::decode(&bytes).map_err(|e| eyre!("{}: not a sealed document: {e}", path.display()))
}

fn write_output(out: Option<&Path>, bytes: &[u8]) -> eyre::Result<()> {
    match out {
        Some(path) => std::fs::write(path, bytes).wrap_err_with(|| format!("cannot write {}", path.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes).and_then(|()| stdout.flush()).wrap_err("cannot write to standard output")
        }
    }
}

/// The on-disk form of a document key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecipientKeyFile {
    /// The key id envelopes name this recipient by.
    key_id: B256,
    /// The public key (ML-KEM-768 ‖ X25519, 1,216 bytes).
    public_key: Bytes,
    /// The secret (ML-KEM-768 seed ‖ X25519 secret, 96 bytes).
    secret_key: Bytes,
}

fn write_recipient_key(path: &Path, key: &RecipientKey) -> eyre::Result<()> {
    let file = RecipientKeyFile {
        key_id: key.key_id(),
        public_key: key.public_key().to_bytes().into(),
        secret_key: Bytes::copy_from_slice(key.to_bytes().as_ref()),
    };
    let text = serde_json::to_string_pretty(&file)?;
    dsec_sdk::keyfile::write_new_private(path, text.as_bytes()).map_err(|e| eyre!("{e}"))
}

fn read_recipient_key(path: &Path) -> eyre::Result<RecipientKey> {
    let text = std::fs::read_to_string(path).wrap_err_with(|| format!("cannot read {}", path.display()))?;
    let file: RecipientKeyFile =
        serde_json::from_str(&text).map_err(|e| eyre!("{}: not a document key file: {e}", path.display()))?;
    let key = RecipientKey::from_bytes(&file.secret_key).map_err(|e| eyre!("{}: {e}", path.display()))?;
    if key.key_id() != file.key_id {
        bail!("{}: keyId does not match the secret key", path.display());
    }
    Ok(key)
}
