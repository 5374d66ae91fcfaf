//! Proof bundles: self-contained evidence that transactions were included in
//! a dsec chain *and* finalised by it, which anyone checks offline against
//! nothing but the chain's genesis file.
//!
//! A bundle (format [`FORMAT`], JSON) holds, for each claimed transaction,
//! its EIP-2718 bytes and its receipt as the block's tries encode them, with
//! Merkle-Patricia proofs of both against the header's `transactionsRoot` and
//! `receiptsRoot`; the headers of the blocks involved with their commit
//! certificates; and the **validator-set lineage**: for every validator-set
//! change between the genesis and the last of those blocks, the header that
//! announced it (`nextValidatorsHash`), that header's certificate by the set
//! then in force, and the complete new set. [`verify`] walks the lineage from
//! the genesis set, so every certificate is checked against the set that was
//! entitled to sign it, and a bundle that omits or forges a change fails on
//! the first header whose `validatorsHash` no longer matches.
//!
//! Domain claims ride on the same evidence: an audit-log line with its
//! RFC 6962 path to an anchored Merkle root ([`AuditLine`]), and a shipment
//! dossier whose trail and carbon figures are recomputed from the proven
//! events ([`Dossier`]); see [`explain`].
//!
//! What a valid bundle proves: validators holding more than two thirds of
//! the power of the set in force — as the genesis and the included changes
//! define it — signed the block, and the block commits to these bytes. As
//! with every BFT light client, validators that have *left* the set could
//! still sign an alternative history together; an auditor who has seen a
//! later header can pin it with a checkpoint (the lineage is printed).

pub mod explain;
#[cfg(test)]
mod tests;

use crate::block::{CommitCertificate, Header};
use crate::tx::RecoveredTx;
use crate::validators::{CertificateError, Validator, ValidatorSet, validator_address};
use alloy::consensus::{Receipt, RlpDecodableReceipt, Transaction as _};
use alloy_primitives::{Address, B256, Bytes, Log, U256};
use alloy_trie::nodes::TrieNode;
use alloy_trie::proof::{ProofRetainer, verify_proof};
use alloy_trie::root::adjust_index_for_rlp;
use alloy_trie::{HashBuilder, Nibbles};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The media type of the bundles this module writes and reads.
pub const FORMAT: &str = "dsec-proof/1";

/// Most transactions, blocks or lineage steps one bundle may hold (a dossier
/// of a long-lived shipment stays well below; a hostile file cannot make the
/// verifier work without bound).
pub const MAX_ITEMS: usize = 10_000;

/// A proof bundle (see the module documentation and `docs/proof-bundle.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bundle {
    /// Always [`FORMAT`].
    pub format: String,
    /// Hash of the genesis block of the chain the bundle is about.
    pub genesis_hash: B256,
    /// Every validator-set change from the genesis up to the last block of the bundle, in order.
    pub lineage: Vec<LineageStep>,
    /// The blocks holding the claimed transactions, with their certificates.
    pub blocks: Vec<ProvenBlock>,
    /// The claimed transactions.
    pub transactions: Vec<ProvenTransaction>,
    /// Texts whose keccak-256 is an id in the claims (shipment and tenant names),
    /// so the summary can name them; each is checked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<B256, String>,
    /// A claim that one audit-log line belongs to an anchored batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_line: Option<AuditLine>,
    /// A claim that the bundle holds a shipment's trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dossier: Option<Dossier>,
}

/// One validator-set change: the header that announced the new set, that
/// header's certificate (signed by the set in force), and the new set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineageStep {
    /// The header of the last block the old set signs; its `nextValidatorsHash` names the new set.
    pub header: Header,
    /// The header's commit certificate.
    pub certificate: CommitCertificate,
    /// The new set, which signs from `header.number + 1`.
    pub next_validators: Vec<BundleValidator>,
}

/// A validator as a bundle lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleValidator {
    /// Address (derived from the ed25519 key; checked).
    pub address: Address,
    /// ed25519 public key.
    pub public_key: B256,
    /// Voting power.
    pub power: u64,
    /// ML-DSA-65 public key, on a chain with hybrid consensus signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml_dsa_public_key: Option<Bytes>,
}

impl BundleValidator {
    /// The bundle form of every member of `set`.
    pub fn list(set: &ValidatorSet) -> Vec<Self> {
        set.validators
            .iter()
            .map(|v| Self {
                address: v.address,
                public_key: v.public_key,
                power: v.power,
                ml_dsa_public_key: v.ml_dsa_public_key.clone(),
            })
            .collect()
    }
}

/// A block of the bundle: its header and commit certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvenBlock {
    /// The header.
    pub header: Header,
    /// Its commit certificate.
    pub certificate: CommitCertificate,
}

/// A claimed transaction with its inclusion proofs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvenTransaction {
    /// Number of the block that holds it.
    pub block_number: u64,
    /// Its position in the block, from 0.
    pub index: u64,
    /// The signed transaction, EIP-2718 bytes (the value in the transactions trie).
    pub transaction: Bytes,
    /// Its receipt, EIP-2718 bytes (the value in the receipts trie).
    pub receipt: Bytes,
    /// Trie nodes from `transactionsRoot` to the transaction, root first.
    pub transaction_proof: Vec<Bytes>,
    /// Trie nodes from `receiptsRoot` to the receipt, root first.
    pub receipt_proof: Vec<Bytes>,
    /// Narrow the claim to this log of the receipt (position among the transaction's logs, from 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<u64>,
}

/// A claim that line `line` of a tenant's batch was anchored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditLine {
    /// Tenant id as declared (the on-chain id is its keccak-256).
    pub tenant: String,
    /// Line number in the batch, from 1.
    pub line: u64,
    /// The line's text, without its line ending.
    pub text: String,
    /// Lines in the batch.
    pub line_count: u64,
    /// The line's RFC 6962 audit path, bottom-up.
    pub path: Vec<B256>,
    /// Position in `transactions` of the anchor transaction.
    pub transaction: u64,
}

/// A claim that the bundle's transactions hold the trail of one shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dossier {
    /// The shipment id as text (its keccak-256 is the on-chain id) or 32 bytes of hex.
    pub shipment: String,
}

/// What a bundle is checked against: the chain's identity, taken from its
/// genesis file (`dsec_genesis::Genesis::trust_root`), never from the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustRoot {
    /// The genesis hash.
    pub genesis_hash: B256,
    /// The chain id transactions must be signed for.
    pub chain_id: u64,
    /// The validator set of height 0.
    pub validators: ValidatorSet,
}

/// Why a bundle does not verify. Every variant names the item at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// Another format, or another version of it.
    #[error("unsupported format {0:?}: this verifier reads {FORMAT}")]
    Format(String),
    /// The bundle is about another chain than the genesis file given.
    #[error("the bundle is for the chain with genesis {bundle}, but the genesis file given has hash {genesis}")]
    UnknownGenesis {
        /// Genesis hash named in the bundle.
        bundle: B256,
        /// Hash of the genesis file.
        genesis: B256,
    },
    /// More items than [`MAX_ITEMS`], or no transaction at all.
    #[error("{0}")]
    Shape(String),
    /// Lineage steps out of height order.
    #[error("lineage step {step}: height {height} does not follow the previous step's height {previous}")]
    LineageOrder {
        /// Position of the step.
        step: usize,
        /// Its header's height.
        height: u64,
        /// The previous step's height.
        previous: u64,
    },
    /// A lineage header names another set than the lineage reaches at its height.
    #[error(
        "lineage step {step} (height {height}): the header names validator set {found}, but the lineage from the genesis reaches set {expected} at that height (a change is missing or forged)"
    )]
    LineageWrongSet {
        /// Position of the step.
        step: usize,
        /// Its header's height.
        height: u64,
        /// `validatorsHash` of the header.
        found: B256,
        /// Hash of the set the lineage reaches.
        expected: B256,
    },
    /// A lineage header's certificate does not verify against the set in force.
    #[error("lineage step {step} (height {height}): {source}")]
    LineageCertificate {
        /// Position of the step.
        step: usize,
        /// Its header's height.
        height: u64,
        /// The certificate check's failure.
        source: CertificateError,
    },
    /// The new set listed by a step is not the one its header announces.
    #[error(
        "lineage step {step} (height {height}): the listed next set hashes to {listed}, but the header announces {announced}"
    )]
    LineageNextSet {
        /// Position of the step.
        step: usize,
        /// Its header's height.
        height: u64,
        /// Hash of the listed set.
        listed: B256,
        /// `nextValidatorsHash` of the header.
        announced: B256,
    },
    /// A listed validator's address is not derived from its key, or the set is malformed.
    #[error("lineage step {step}: {message}")]
    LineageSet {
        /// Position of the step.
        step: usize,
        /// What is wrong.
        message: String,
    },
    /// A block names another set than the lineage reaches at its height.
    #[error(
        "block {height}: the header names validator set {found}, but the lineage from the genesis reaches set {expected} at that height (a change is missing or forged)"
    )]
    BlockWrongSet {
        /// The block's height.
        height: u64,
        /// `validatorsHash` of the header.
        found: B256,
        /// Hash of the set the lineage reaches.
        expected: B256,
    },
    /// A block's certificate does not verify (a tampered header changes the hash it must sign).
    #[error("block {height}: {source}")]
    BlockCertificate {
        /// The block's height.
        height: u64,
        /// The certificate check's failure.
        source: CertificateError,
    },
    /// Two entries for one block.
    #[error("block {0} is listed twice")]
    DuplicateBlock(u64),
    /// A transaction's block is not among the bundle's blocks.
    #[error("transaction {item}: block {height} is not in the bundle")]
    MissingBlock {
        /// Position of the transaction.
        item: usize,
        /// The block it names.
        height: u64,
    },
    /// A transaction is not in its block's transactions trie at its index.
    #[error("transaction {item} (block {height}, index {index}): not in the block's transactions root: {reason}")]
    TransactionProof {
        /// Position of the transaction.
        item: usize,
        /// Its block.
        height: u64,
        /// Its index.
        index: u64,
        /// The trie check's failure.
        reason: String,
    },
    /// A receipt is not in its block's receipts trie at its index.
    #[error(
        "receipt of transaction {item} (block {height}, index {index}): not in the block's receipts root: {reason}"
    )]
    ReceiptProof {
        /// Position of the transaction.
        item: usize,
        /// Its block.
        height: u64,
        /// Its index.
        index: u64,
        /// The trie check's failure.
        reason: String,
    },
    /// A proven transaction or receipt cannot be decoded, or is for another chain.
    #[error("transaction {item}: {reason}")]
    Transaction {
        /// Position of the transaction.
        item: usize,
        /// What is wrong.
        reason: String,
    },
    /// The claimed log does not exist.
    #[error("transaction {item}: the claim names log {log}, but the receipt has {count} logs")]
    NoSuchLog {
        /// Position of the transaction.
        item: usize,
        /// The claimed log.
        log: u64,
        /// Logs in the receipt.
        count: usize,
    },
    /// A label is not the text of its id.
    #[error("label {text:?} is not the text of {id} (its keccak-256 is {actual})")]
    Label {
        /// The id.
        id: B256,
        /// The label.
        text: String,
        /// keccak-256 of the label.
        actual: B256,
    },
    /// The audit-line claim does not hold.
    #[error("audit line: {0}")]
    Audit(String),
    /// The dossier claim does not hold.
    #[error("dossier: {0}")]
    Dossier(String),
}

/// A block whose certificate verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBlock {
    /// Height.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Time the proposer built it, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Validators that signed the certificate, with their power.
    pub signers: Vec<(Address, u64)>,
    /// Power of the signers.
    pub signed_power: u64,
    /// Power of the whole set.
    pub total_power: u64,
    /// Members of the set.
    pub set_size: usize,
    /// The set signs ed25519 + ML-DSA-65.
    pub hybrid: bool,
}

/// A transaction whose inclusion and finality verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTransaction {
    /// Transaction hash.
    pub hash: B256,
    /// Sender, recovered from the signature here.
    pub sender: Address,
    /// Recipient, or `None` for a contract creation.
    pub to: Option<Address>,
    /// Value sent, wei.
    pub value: U256,
    /// Call data.
    pub input: Bytes,
    /// Sender nonce.
    pub nonce: u64,
    /// EIP-2718 type (`0x4D`: signed with ML-DSA-65).
    pub tx_type: u8,
    /// The block.
    pub block: VerifiedBlock,
    /// Position in the block.
    pub index: u64,
    /// EIP-658 status.
    pub success: bool,
    /// The receipt's logs.
    pub logs: Vec<Log>,
    /// The one log the claim is narrowed to, if any.
    pub claimed_log: Option<u64>,
}

impl VerifiedTransaction {
    /// The logs the claim covers: the narrowed one, or all of them, with their positions.
    pub fn claimed_logs(&self) -> impl Iterator<Item = (u64, &Log)> {
        self.logs
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u64, l))
            .filter(|(i, _)| self.claimed_log.is_none_or(|c| c == *i))
    }
}

/// One validator set of the lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSet {
    /// First height it signs.
    pub from_height: u64,
    /// Its hash.
    pub hash: B256,
    /// Members.
    pub size: usize,
    /// Total power.
    pub total_power: u64,
}

/// Everything a bundle proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The chain.
    pub genesis_hash: B256,
    /// The validator sets from the genesis on, as the lineage established them.
    pub lineage: Vec<VerifiedSet>,
    /// The claimed transactions, in bundle order.
    pub transactions: Vec<VerifiedTransaction>,
    /// The verified labels (id → text).
    pub labels: BTreeMap<B256, String>,
    /// The audit-line claim, when the bundle makes one.
    pub audit_line: Option<explain::ProvenLine>,
    /// The shipment dossier, when the bundle makes one.
    pub dossier: Option<explain::ProvenDossier>,
}

fn trie_key(index: usize) -> Nibbles {
    Nibbles::unpack(alloy_rlp::encode_fixed_size(&index))
}

/// The proof (trie nodes, root first) of item `index` of an ordered trie over
/// `items` — the transactions or receipts trie of a block, as Ethereum builds
/// it. `None` when `index` is out of range.
pub fn ordered_trie_proof<T: AsRef<[u8]>>(items: &[T], index: usize) -> Option<Vec<Bytes>> {
    if index >= items.len() {
        return None;
    }
    let target = trie_key(index);
    let mut builder = HashBuilder::default().with_proof_retainer(ProofRetainer::new(vec![target]));
    for i in 0..items.len() {
        let j = adjust_index_for_rlp(i, items.len());
        builder.add_leaf(trie_key(j), items[j].as_ref());
    }
    builder.root();
    let nodes = builder.take_proof_nodes();
    // A node shorter than 32 bytes is embedded in its parent, not referenced
    // by hash: the verifier reads it there (the root is always hashed).
    Some(
        nodes
            .matching_nodes_sorted(&target)
            .into_iter()
            .enumerate()
            .filter(|(i, (_, node))| *i == 0 || node.len() >= 32)
            .map(|(_, (_, node))| node)
            .collect(),
    )
}

/// Check that `value` is item `index` of the ordered trie with root `root`.
pub fn verify_ordered_trie_proof(root: B256, index: u64, value: &[u8], proof: &[Bytes]) -> Result<(), String> {
    let index = usize::try_from(index).map_err(|_| "index out of range".to_string())?;
    let key = trie_key(index);
    // A trie whose root node is shorter than 32 bytes (one tiny item) is still
    // hashed at the root, which the generic verifier does not expect.
    if let [only] = proof
        && only.len() < 32
    {
        if alloy_primitives::keccak256(only) != root {
            return Err("the root node does not hash to the root".into());
        }
        return match alloy_rlp::Decodable::decode(&mut &only[..]) {
            Ok(TrieNode::Leaf(leaf)) if leaf.key == key && leaf.value == value => Ok(()),
            _ => Err("the only node is not this item's leaf".into()),
        };
    }
    verify_proof(root, key, Some(value.to_vec()), proof).map_err(|e| e.to_string())
}

/// The type, status and logs of an EIP-2718 encoded receipt (the bytes a receipts trie holds).
pub fn decode_receipt(bytes: &[u8]) -> Result<(u8, bool, Vec<Log>), String> {
    let (ty, mut body) = match bytes.first() {
        None => return Err("empty receipt".into()),
        Some(&b) if b >= 0xc0 => (0, bytes),
        Some(&b) => (b, &bytes[1..]),
    };
    let receipt = Receipt::<Log>::rlp_decode_with_bloom(&mut body).map_err(|e| format!("bad receipt: {e}"))?;
    if !body.is_empty() {
        return Err("trailing bytes after the receipt".into());
    }
    if receipt.logs_bloom != crate::block::logs_bloom(receipt.receipt.logs.iter()) {
        return Err("the receipt's bloom filter does not match its logs".into());
    }
    Ok((ty, receipt.receipt.status.coerce_status(), receipt.receipt.logs))
}

impl Bundle {
    /// An empty bundle about the chain `genesis_hash`.
    pub fn new(genesis_hash: B256) -> Self {
        Self {
            format: FORMAT.to_string(),
            genesis_hash,
            lineage: Vec::new(),
            blocks: Vec::new(),
            transactions: Vec::new(),
            labels: BTreeMap::new(),
            audit_line: None,
            dossier: None,
        }
    }

    /// Add `other`'s transactions, blocks and labels to this bundle (one
    /// lineage serves them all: the longer of the two is kept, as each is a
    /// prefix of the chain's). Transactions already present are not repeated.
    pub fn merge(&mut self, other: Bundle) -> Result<(), ProofError> {
        if other.genesis_hash != self.genesis_hash {
            return Err(ProofError::UnknownGenesis { bundle: other.genesis_hash, genesis: self.genesis_hash });
        }
        if other.lineage.len() > self.lineage.len() {
            self.lineage = other.lineage;
        }
        for block in other.blocks {
            if !self.blocks.iter().any(|b| b.header.number == block.header.number) {
                self.blocks.push(block);
            }
        }
        self.blocks.sort_by_key(|b| b.header.number);
        for tx in other.transactions {
            if let Some(existing) =
                self.transactions.iter_mut().find(|t| t.block_number == tx.block_number && t.index == tx.index)
            {
                // The same transaction claimed whole and narrowed: the whole claim covers both.
                if existing.log != tx.log {
                    existing.log = None;
                }
            } else {
                self.transactions.push(tx);
            }
        }
        self.transactions.sort_by_key(|t| (t.block_number, t.index));
        self.labels.extend(other.labels);
        Ok(())
    }

    /// The position of the transaction at (`block_number`, `index`).
    pub fn position(&self, block_number: u64, index: u64) -> Option<usize> {
        self.transactions.iter().position(|t| t.block_number == block_number && t.index == index)
    }
}

fn parse_set(step: usize, list: &[BundleValidator]) -> Result<ValidatorSet, ProofError> {
    let bad = |message: String| ProofError::LineageSet { step, message };
    if list.is_empty() || list.len() > crate::validators::MAX_VALIDATORS {
        return Err(bad(format!("a validator set has 1 to {} members", crate::validators::MAX_VALIDATORS)));
    }
    let mut members = Vec::with_capacity(list.len());
    for v in list {
        if validator_address(&v.public_key.0) != v.address {
            return Err(bad(format!("validator {} is not the address of its public key", v.address)));
        }
        members.push(Validator {
            address: v.address,
            public_key: v.public_key,
            power: v.power,
            ml_dsa_public_key: v.ml_dsa_public_key.clone(),
        });
    }
    let set = ValidatorSet::new(members);
    if set.validators.windows(2).any(|w| w[0].address == w[1].address) {
        return Err(bad("a validator is listed twice".into()));
    }
    Ok(set)
}

/// The validator sets of the lineage, by the first height each signs.
struct Timeline {
    sets: Vec<(u64, ValidatorSet, B256)>,
}

impl Timeline {
    fn at(&self, height: u64) -> &(u64, ValidatorSet, B256) {
        // The genesis set signs from 0, so there is always one.
        let i = self.sets.partition_point(|(from, _, _)| *from <= height);
        &self.sets[i.saturating_sub(1)]
    }
}

fn walk_lineage(bundle: &Bundle, root: &TrustRoot) -> Result<Timeline, ProofError> {
    let genesis_hash = root.validators.hash();
    let mut timeline = Timeline { sets: vec![(0, root.validators.clone(), genesis_hash)] };
    let mut previous = 0u64;
    for (step, s) in bundle.lineage.iter().enumerate() {
        let height = s.header.number;
        if height <= previous {
            return Err(ProofError::LineageOrder { step, height, previous });
        }
        let (_, set, set_hash) = timeline.at(height);
        if s.header.validators_hash != *set_hash {
            return Err(ProofError::LineageWrongSet {
                step,
                height,
                found: s.header.validators_hash,
                expected: *set_hash,
            });
        }
        set.verify_certificate(&root.genesis_hash, height, &s.header.hash_slow(), &s.certificate)
            .map_err(|source| ProofError::LineageCertificate { step, height, source })?;
        let next = parse_set(step, &s.next_validators)?;
        let next_hash = next.hash();
        if next_hash != s.header.next_validators_hash {
            return Err(ProofError::LineageNextSet {
                step,
                height,
                listed: next_hash,
                announced: s.header.next_validators_hash,
            });
        }
        let from = height.checked_add(1).ok_or(ProofError::LineageOrder { step, height, previous })?;
        timeline.sets.push((from, next, next_hash));
        previous = height;
    }
    Ok(timeline)
}

fn verify_block(block: &ProvenBlock, timeline: &Timeline, root: &TrustRoot) -> Result<VerifiedBlock, ProofError> {
    let height = block.header.number;
    let (_, set, set_hash) = timeline.at(height);
    if block.header.validators_hash != *set_hash {
        return Err(ProofError::BlockWrongSet { height, found: block.header.validators_hash, expected: *set_hash });
    }
    let hash = block.header.hash_slow();
    set.verify_certificate(&root.genesis_hash, height, &hash, &block.certificate)
        .map_err(|source| ProofError::BlockCertificate { height, source })?;
    let signers: Vec<(Address, u64)> = block
        .certificate
        .signatures
        .iter()
        .filter_map(|s| set.get(&s.validator).map(|v| (v.address, v.power)))
        .collect();
    Ok(VerifiedBlock {
        number: height,
        hash,
        timestamp_ms: block.header.timestamp_ms,
        signed_power: signers.iter().map(|(_, p)| *p).fold(0u64, u64::saturating_add),
        signers,
        total_power: set.total_power(),
        set_size: set.validators.len(),
        hybrid: set.validators.iter().all(|v| v.ml_dsa_public_key.is_some()),
    })
}

fn verify_transaction(
    item: usize,
    t: &ProvenTransaction,
    block: &ProvenBlock,
    verified: &VerifiedBlock,
    root: &TrustRoot,
) -> Result<VerifiedTransaction, ProofError> {
    let (height, index) = (t.block_number, t.index);
    verify_ordered_trie_proof(block.header.transactions_root, index, &t.transaction, &t.transaction_proof)
        .map_err(|reason| ProofError::TransactionProof { item, height, index, reason })?;
    verify_ordered_trie_proof(block.header.receipts_root, index, &t.receipt, &t.receipt_proof)
        .map_err(|reason| ProofError::ReceiptProof { item, height, index, reason })?;
    let bad = |reason: String| ProofError::Transaction { item, reason };
    let tx = RecoveredTx::decode(&t.transaction).map_err(|e| bad(format!("cannot decode or recover: {e}")))?;
    let chain_id = tx.envelope.chain_id();
    if chain_id != Some(root.chain_id) {
        return Err(bad(format!("signed for chain id {chain_id:?}, the genesis has chain id {}", root.chain_id)));
    }
    let (ty, success, logs) = decode_receipt(&t.receipt).map_err(bad)?;
    if ty != tx.ty() {
        return Err(bad(format!("receipt of type {ty} for a transaction of type {}", tx.ty())));
    }
    if let Some(log) = t.log
        && usize::try_from(log).map_or(true, |l| l >= logs.len())
    {
        return Err(ProofError::NoSuchLog { item, log, count: logs.len() });
    }
    Ok(VerifiedTransaction {
        hash: tx.hash,
        sender: tx.sender,
        to: tx.envelope.kind().to().copied(),
        value: tx.envelope.value(),
        input: tx.envelope.input().clone(),
        nonce: tx.envelope.nonce(),
        tx_type: ty,
        block: verified.clone(),
        index,
        success,
        logs,
        claimed_log: t.log,
    })
}

/// Verify `bundle` against the chain identified by `root`, offline: the
/// lineage from the genesis set, every block's certificate, every
/// transaction's and receipt's inclusion, the labels, and the audit-line and
/// dossier claims. Returns what was proven, or the first precise reason not.
pub fn verify(bundle: &Bundle, root: &TrustRoot) -> Result<Verified, ProofError> {
    if bundle.format != FORMAT {
        return Err(ProofError::Format(bundle.format.clone()));
    }
    if bundle.genesis_hash != root.genesis_hash {
        return Err(ProofError::UnknownGenesis { bundle: bundle.genesis_hash, genesis: root.genesis_hash });
    }
    if bundle.transactions.is_empty() {
        return Err(ProofError::Shape("the bundle claims no transaction".into()));
    }
    for (what, n) in [
        ("lineage steps", bundle.lineage.len()),
        ("blocks", bundle.blocks.len()),
        ("transactions", bundle.transactions.len()),
        ("labels", bundle.labels.len()),
    ] {
        if n > MAX_ITEMS {
            return Err(ProofError::Shape(format!("{n} {what}: a bundle holds at most {MAX_ITEMS}")));
        }
    }
    for (id, text) in &bundle.labels {
        let actual = alloy_primitives::keccak256(text.as_bytes());
        if actual != *id {
            return Err(ProofError::Label { id: *id, text: text.clone(), actual });
        }
    }
    let timeline = walk_lineage(bundle, root)?;
    let mut blocks: BTreeMap<u64, (&ProvenBlock, VerifiedBlock)> = BTreeMap::new();
    for block in &bundle.blocks {
        let verified = verify_block(block, &timeline, root)?;
        if blocks.insert(block.header.number, (block, verified)).is_some() {
            return Err(ProofError::DuplicateBlock(block.header.number));
        }
    }
    let mut transactions = Vec::with_capacity(bundle.transactions.len());
    for (item, t) in bundle.transactions.iter().enumerate() {
        let (block, verified) =
            blocks.get(&t.block_number).ok_or(ProofError::MissingBlock { item, height: t.block_number })?;
        transactions.push(verify_transaction(item, t, block, verified, root)?);
    }
    let lineage = timeline
        .sets
        .iter()
        .map(|(from, set, hash)| VerifiedSet {
            from_height: *from,
            hash: *hash,
            size: set.validators.len(),
            total_power: set.total_power(),
        })
        .collect();
    let mut verified = Verified {
        genesis_hash: root.genesis_hash,
        lineage,
        transactions,
        labels: bundle.labels.clone(),
        audit_line: None,
        dossier: None,
    };
    if let Some(claim) = &bundle.audit_line {
        verified.audit_line = Some(explain::check_audit_line(claim, &verified)?);
    }
    if let Some(claim) = &bundle.dossier {
        verified.dossier = Some(explain::check_dossier(claim, &verified)?);
    }
    Ok(verified)
}
