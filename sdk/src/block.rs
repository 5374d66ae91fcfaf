//! Blocks, headers, commit certificates and stored receipts.
//!
//! A dsec header is its own RLP structure (not Ethereum's): it carries the
//! proposer, the hashes of the validator sets, and the state commitment
//! described in [`crate::commitment`]. Its hash is `keccak256(rlp(header))`.

use alloy::consensus::{Eip658Value, Receipt, ReceiptWithBloom};
use alloy::eips::eip2718::Encodable2718;
use alloy::rpc::types::AnyReceiptEnvelope;
use alloy_primitives::{Address, B256, Bloom, Bytes, Log, keccak256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use serde::{Deserialize, Serialize};

/// The header of a dsec block.
#[derive(Debug, Clone, PartialEq, Eq, Default, RlpEncodable, RlpDecodable, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// Hash of the parent block's header (for block 0: the hash of the genesis file).
    pub parent_hash: B256,
    /// Height of the block; the genesis block is 0.
    pub number: u64,
    /// Wall-clock time the proposer built the block, in milliseconds since the Unix epoch.
    /// The EVM sees `timestamp_ms / 1000` as `block.timestamp`.
    pub timestamp_ms: u64,
    /// Address of the validator that proposed the block.
    pub proposer: Address,
    /// Account credited with priority fees (the EVM's `block.coinbase`).
    pub beneficiary: Address,
    /// Maximum gas all transactions of the block may use together.
    pub gas_limit: u64,
    /// Gas used by all transactions of the block.
    pub gas_used: u64,
    /// EIP-1559 base fee per gas of this block (0 on zero-fee networks).
    pub base_fee_per_gas: u64,
    /// Root of the Merkle-Patricia trie of the block's transactions, as Ethereum computes it.
    pub transactions_root: B256,
    /// Root of the Merkle-Patricia trie of the block's receipts, as Ethereum computes it.
    pub receipts_root: B256,
    /// Bloom filter over the addresses and topics of every log of the block.
    pub logs_bloom: Bloom,
    /// State commitment after executing this block (see [`crate::commitment`]).
    pub state_root: B256,
    /// Hash of the validator set that signs this block's commit certificate.
    pub validators_hash: B256,
    /// Hash of the validator set that signs the next height.
    pub next_validators_hash: B256,
}

impl Header {
    /// The block hash: keccak-256 of the RLP encoding of the header.
    pub fn hash_slow(&self) -> B256 {
        let mut buf = Vec::with_capacity(self.length());
        self.encode(&mut buf);
        keccak256(&buf)
    }

    /// The EVM's `block.timestamp` for this block (seconds).
    pub fn timestamp_secs(&self) -> u64 {
        self.timestamp_ms / 1000
    }

    /// Encode the header to RLP bytes.
    pub fn to_rlp(&self) -> Vec<u8> {
        alloy_rlp::encode(self)
    }

    /// Decode a header from RLP bytes; trailing bytes are an error.
    pub fn from_rlp(mut bytes: &[u8]) -> Result<Self, alloy_rlp::Error> {
        let header = Self::decode(&mut bytes)?;
        if !bytes.is_empty() {
            return Err(alloy_rlp::Error::UnexpectedLength);
        }
        Ok(header)
    }
}

/// A transaction as stored in a block body: the signed EIP-2718 bytes and the
/// sender recovered once at admission, so nobody recovers it twice.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BodyTx {
    /// Sender recovered from the signature.
    pub sender: Address,
    /// The EIP-2718 encoded signed transaction.
    pub raw: Bytes,
}

/// The body of a block: its transactions in execution order.
#[derive(Debug, Clone, PartialEq, Eq, Default, RlpEncodable, RlpDecodable)]
pub struct Body {
    /// Transactions in execution order.
    pub transactions: Vec<BodyTx>,
}

/// A whole block: header and body.
#[derive(Debug, Clone, PartialEq, Eq, Default, RlpEncodable, RlpDecodable)]
pub struct Block {
    /// The block header.
    pub header: Header,
    /// The block body.
    pub body: Body,
}

/// One validator's signature in a commit certificate.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable, Serialize, Deserialize)]
#[rlp(trailing)]
#[serde(rename_all = "camelCase")]
pub struct CommitSignature {
    /// Address of the validator (derived from its ed25519 public key).
    pub validator: Address,
    /// ed25519 signature over [`CommitCertificate::signing_bytes`].
    pub signature: Bytes,
    /// On a hybrid chain, the ML-DSA-65 signature over the same bytes (context
    /// [`crate::validators::CONSENSUS_ML_DSA_CONTEXT`]); absent on an ed25519 chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml_dsa_signature: Option<Bytes>,
}

/// Proof that a block was decided: the precommit signatures of validators
/// holding more than two thirds of the voting power of the block's height.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitCertificate {
    /// Height of the decided block.
    pub height: u64,
    /// Consensus round in which the block was decided.
    pub round: u32,
    /// Hash of the decided block.
    pub block_hash: B256,
    /// Precommit signatures.
    pub signatures: Vec<CommitSignature>,
}

impl CommitCertificate {
    /// The bytes every validator signs when it commits to `block_hash` at
    /// `(height, round)` on the chain identified by `chain_hash` (the genesis hash).
    pub fn signing_bytes(chain_hash: &B256, height: u64, round: u32, block_hash: &B256) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 32 + 8 + 4 + 32);
        out.extend_from_slice(b"dsec/commit/v1\0\0");
        out.extend_from_slice(chain_hash.as_slice());
        out.extend_from_slice(&height.to_be_bytes());
        out.extend_from_slice(&round.to_be_bytes());
        out.extend_from_slice(block_hash.as_slice());
        out
    }

    /// Encode the certificate to RLP bytes.
    pub fn to_rlp(&self) -> Vec<u8> {
        alloy_rlp::encode(self)
    }

    /// Decode a certificate from RLP bytes.
    pub fn from_rlp(mut bytes: &[u8]) -> Result<Self, alloy_rlp::Error> {
        Self::decode(&mut bytes)
    }
}

/// A receipt as `eth_getTransactionReceipt` returns it, for every transaction
/// type dsec accepts (its `type` is a number, so type `0x4D` fits).
pub type RpcReceipt = alloy::rpc::types::TransactionReceipt<AnyReceiptEnvelope<alloy::rpc::types::Log>>;

/// The receipt of one transaction as the node stores it. The RPC layer adds
/// block hash, index and sender when it answers.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
#[rlp(trailing)]
pub struct StoredReceipt {
    /// EIP-2718 transaction type (0 legacy, 1 access list, 2 dynamic fee, ...).
    pub tx_type: u8,
    /// Whether the transaction succeeded (EIP-658 status).
    pub success: bool,
    /// Gas used by this transaction alone.
    pub gas_used: u64,
    /// Gas used by the block up to and including this transaction.
    pub cumulative_gas_used: u64,
    /// Price per gas actually paid (base fee + effective tip).
    pub effective_gas_price: u128,
    /// Logs emitted, in order.
    pub logs: Vec<Log>,
    /// Address of the contract created, if the transaction was a creation that succeeded.
    pub contract_address: Option<Address>,
}

impl StoredReceipt {
    /// The receipt as Ethereum encodes it (what the receipts root commits to):
    /// `rlp(receipt)` for a legacy transaction, `type ‖ rlp(receipt)` for a
    /// typed one, dsec's ML-DSA-65 type `0x4D` included.
    pub fn to_envelope(&self) -> AnyReceiptEnvelope {
        let receipt = Receipt {
            status: Eip658Value::Eip658(self.success),
            cumulative_gas_used: self.cumulative_gas_used,
            logs: self.logs.clone(),
        };
        AnyReceiptEnvelope { inner: ReceiptWithBloom::new(receipt, self.bloom()), r#type: self.tx_type }
    }

    /// The EIP-2718 encoding of the receipt.
    pub fn encoded_2718(&self) -> Vec<u8> {
        self.to_envelope().encoded_2718()
    }

    /// Bloom filter of this receipt's logs.
    pub fn bloom(&self) -> Bloom {
        logs_bloom(self.logs.iter())
    }
}

/// The bloom filter over a set of logs, as Ethereum computes it.
pub fn logs_bloom<'a>(logs: impl IntoIterator<Item = &'a Log>) -> Bloom {
    let mut bloom = Bloom::ZERO;
    for log in logs {
        bloom.accrue_log(log);
    }
    bloom
}

/// Encode a list of stored receipts (one block's worth).
pub fn encode_receipts(receipts: &[StoredReceipt]) -> Vec<u8> {
    let mut out = Vec::new();
    alloy_rlp::encode_list(receipts, &mut out);
    out
}

/// Decode a list of stored receipts.
pub fn decode_receipts(mut bytes: &[u8]) -> Result<Vec<StoredReceipt>, alloy_rlp::Error> {
    Vec::<StoredReceipt>::decode(&mut bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rlp_roundtrip_and_hash_changes_with_fields() {
        let header = Header { number: 7, timestamp_ms: 1_700_000_000_123, gas_limit: 30_000_000, ..Default::default() };
        let bytes = header.to_rlp();
        assert_eq!(Header::from_rlp(&bytes).unwrap(), header);
        let mut other = header.clone();
        other.gas_used = 1;
        assert_ne!(header.hash_slow(), other.hash_slow());
        assert_eq!(header.timestamp_secs(), 1_700_000_000);
    }

    #[test]
    fn header_rejects_trailing_bytes() {
        let mut bytes = Header::default().to_rlp();
        bytes.push(0);
        assert!(Header::from_rlp(&bytes).is_err());
    }

    #[test]
    fn receipts_roundtrip() {
        let receipts = vec![StoredReceipt {
            tx_type: 2,
            success: true,
            gas_used: 21_000,
            cumulative_gas_used: 21_000,
            effective_gas_price: 7,
            logs: vec![Log::new_unchecked(
                Address::repeat_byte(1),
                vec![B256::repeat_byte(2)],
                Bytes::from_static(b"x"),
            )],
            contract_address: Some(Address::repeat_byte(9)),
        }];
        let bytes = encode_receipts(&receipts);
        assert_eq!(decode_receipts(&bytes).unwrap(), receipts);
        assert_ne!(receipts[0].bloom(), Bloom::ZERO);
    }
}
