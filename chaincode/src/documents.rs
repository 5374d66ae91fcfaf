//! Sealed documents: the directory of document-encryption keys and the
//! anchors of sealed documents.
//!
//! A party publishes its recipient public key (ML-KEM-768 and X25519, see
//! [`dsec_sdk::envelope`]) with `publishKey`, and again to rotate it; the key
//! is checked as FIPS 203 requires (and an X25519 key of small order refused)
//! before it is stored, each check charged [`KEY_CHECK_GAS`]. A sender seals
//! a document to the keys it reads with `keyOf`, hands the envelope over off
//! chain, and records it with `anchorDocument`: the envelope's hash, its
//! salted content hash, its kind, its recipients' key ids and its subject (a
//! provenance shipment id, an audit tenant id). Anyone reads the record with
//! `document`; a recipient checks the envelope against it with
//! [`dsec_sdk::documents::check_anchor`]. Only hashes and key ids are stored,
//! so the documents themselves stay where their owners keep them.
//!
//! Storage (slots as [`crate::storage::slot`] derives them):
//!
//! | tag | keys | value |
//! | --- | --- | --- |
//! | `key.version` | party | current key version (0: none) |
//! | `key.id` | party | current key id |
//! | `key.x25519` | party | X25519 public key |
//! | `key.mlkem` | party, word index | the ML-KEM-768 public key, 37 words |
//! | `doc.count` | — | documents anchored |
//! | `doc.meta` | record | sender (bits 96–255), block number (32–95), kind length (8–15), recipients (0–7) |
//! | `doc.content` | record | content hash |
//! | `doc.subject` | record | subject |
//! | `doc.kind` | record, word index | the kind's bytes, left-aligned, in 32-byte words |
//! | `doc.recipient` | record, index | recipient key ids |
//!
//! A record is keyed by `keccak256(envelopeHash ‖ sender)`: each account
//! anchors an envelope once, and no account can take an envelope's record
//! from its sender by anchoring the hash first (a recipient looks the record
//! up by the envelope's verified signer).
//!
//! The Solidity interface is `chaincode/sol/IDocuments.sol`.

use crate::storage::{load_u64, load_word, slot, store_u64, store_word};
use crate::{Call, Chaincode, Failure, Host};
use alloy::sol_types::{SolCall, SolEvent};
use alloy_primitives::{Address, B256, Bytes, U256};
use dsec_sdk::envelope::RecipientPublicKey;
use dsec_sdk::pq::MLKEM768_PUBLIC_KEY_LEN;
use std::collections::HashSet;
use std::sync::Arc;

use IDocuments::IDocumentsCalls as Calls;
pub use dsec_sdk::documents::{ADDRESS, IDocuments, MAX_KIND_LEN, MAX_RECIPIENTS, is_valid_kind};

/// Gas for checking a published key before it is stored: the ML-KEM-768
/// modulus check, one X25519 scalar multiplication (the small-order check)
/// and the key id. Measured at about 90 µs (2,700 gas at
/// [`crate::gas::GAS_PER_MICROSECOND`]) by `gas::tests::measure`, and priced
/// at about twice that, as the ed25519 checks are.
pub const KEY_CHECK_GAS: u64 = 6_000;

/// 32-byte words of an ML-KEM-768 public key (1,184 bytes, exactly 37 words).
const MLKEM_WORDS: u64 = (MLKEM768_PUBLIC_KEY_LEN / 32) as u64;

fn reason(message: impl std::fmt::Display) -> Failure {
    Failure::reason(format!("documents: {message}"))
}

fn ok(output: Vec<u8>) -> Result<Bytes, Failure> {
    Ok(output.into())
}

fn party_slot(field: &str, party: &Address) -> U256 {
    slot(field, &[party.as_slice()])
}

fn mlkem_word_slot(party: &Address, index: u64) -> U256 {
    slot("key.mlkem", &[party.as_slice(), &index.to_be_bytes()])
}

/// The storage key of the record of `envelope` anchored by `sender`.
fn record_key(envelope: &B256, sender: &Address) -> B256 {
    alloy_primitives::keccak256([envelope.as_slice(), sender.as_slice()].concat())
}

fn doc_slot(field: &str, envelope: &B256) -> U256 {
    slot(field, &[envelope.as_slice()])
}

fn doc_item_slot(field: &str, envelope: &B256, index: u64) -> U256 {
    slot(field, &[envelope.as_slice(), &index.to_be_bytes()])
}

/// The packed `doc.meta` word (never zero: a document has at least one recipient).
fn pack_meta(sender: &Address, block_number: u64, kind_len: u8, recipients: u8) -> U256 {
    (U256::from_be_slice(sender.as_slice()) << 96usize)
        | (U256::from(block_number) << 32usize)
        | (U256::from(kind_len) << 8usize)
        | U256::from(recipients)
}

/// Sender, block number, kind length and recipient count of a `doc.meta` word.
fn unpack_meta(meta: U256) -> (Address, u64, u8, u8) {
    let sender = Address::from_word(B256::from((meta >> 96usize).to_be_bytes::<32>()));
    let block_number = ((meta >> 32usize) & U256::from(u64::MAX)).saturating_to::<u64>();
    let kind_len = ((meta >> 8usize) & U256::from(u8::MAX)).saturating_to::<u8>();
    let recipients = (meta & U256::from(u8::MAX)).saturating_to::<u8>();
    (sender, block_number, kind_len, recipients)
}

/// The documents module.
#[derive(Debug, Clone, Copy, Default)]
pub struct Documents;

impl Documents {
    /// The module as a registry entry: a system module the node adds to every chain.
    pub fn into_module(self) -> Arc<dyn Chaincode> {
        Arc::new(self)
    }

    fn publish_key(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IDocuments::publishKeyCall,
    ) -> Result<Bytes, Failure> {
        if c.mlkemPublicKey.len() != MLKEM768_PUBLIC_KEY_LEN {
            return Err(reason(format!(
                "an ML-KEM-768 public key is {MLKEM768_PUBLIC_KEY_LEN} bytes, got {}",
                c.mlkemPublicKey.len()
            )));
        }
        host.charge(KEY_CHECK_GAS)?;
        let key = RecipientPublicKey::from_parts(&c.mlkemPublicKey, &c.x25519PublicKey.0).map_err(reason)?;
        let key_id = key.key_id();
        let version_slot = party_slot("key.version", caller);
        let current = load_u64(host, version_slot)?;
        if current > 0 && load_word(host, party_slot("key.id", caller))? == key_id {
            return Err(reason(format!("key {key_id} is already the caller's current key")));
        }
        let version = current.checked_add(1).ok_or_else(|| reason("the caller's key version is exhausted"))?;
        for (index, word) in (0u64..).zip(c.mlkemPublicKey.chunks_exact(32)) {
            store_word(host, mlkem_word_slot(caller, index), B256::from_slice(word))?;
        }
        store_word(host, party_slot("key.x25519", caller), c.x25519PublicKey)?;
        store_word(host, party_slot("key.id", caller), key_id)?;
        store_u64(host, version_slot, version)?;
        let log = IDocuments::KeyPublished { party: *caller, version, keyId: key_id }.encode_log_data();
        host.emit(log.topics().to_vec(), log.data)?;
        ok(IDocuments::publishKeyCall::abi_encode_returns(&version))
    }

    fn key_of(&self, host: &mut dyn Host, party: &Address) -> Result<Bytes, Failure> {
        let version = load_u64(host, party_slot("key.version", party))?;
        if version == 0 {
            return Err(reason(format!("{party} has published no key")));
        }
        let mut mlkem = Vec::with_capacity(MLKEM768_PUBLIC_KEY_LEN);
        for index in 0..MLKEM_WORDS {
            mlkem.extend_from_slice(load_word(host, mlkem_word_slot(party, index))?.as_slice());
        }
        let out = IDocuments::keyOfReturn {
            mlkemPublicKey: mlkem.into(),
            x25519PublicKey: load_word(host, party_slot("key.x25519", party))?,
            version,
            keyId: load_word(host, party_slot("key.id", party))?,
        };
        ok(IDocuments::keyOfCall::abi_encode_returns(&out))
    }

    fn anchor_document(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IDocuments::anchorDocumentCall,
    ) -> Result<Bytes, Failure> {
        if c.envelopeHash.is_zero() {
            return Err(reason("the envelope hash is zero"));
        }
        if c.contentHash.is_zero() {
            return Err(reason("the content hash is zero"));
        }
        if !is_valid_kind(&c.kind) {
            return Err(reason(format!(
                "the kind must be 1 to {MAX_KIND_LEN} bytes of a-z, 0-9, '-' and '.', starting with a letter or digit"
            )));
        }
        let count = c.recipients.len();
        if count == 0 || count > MAX_RECIPIENTS {
            return Err(reason(format!("a document names 1 to {MAX_RECIPIENTS} recipients, got {count}")));
        }
        let mut seen = HashSet::with_capacity(count);
        for (i, id) in c.recipients.iter().enumerate() {
            if id.is_zero() {
                return Err(reason(format!("recipient {i} is the zero key id")));
            }
            if !seen.insert(*id) {
                return Err(reason(format!("recipient {i}: key id {id} is listed twice")));
            }
        }
        let h = record_key(&c.envelopeHash, caller);
        let meta_slot = doc_slot("doc.meta", &h);
        if !host.sload(meta_slot)?.is_zero() {
            return Err(reason(format!("envelope {} is already anchored by {caller}", c.envelopeHash)));
        }
        let count_slot = slot("doc.count", &[]);
        let seq =
            load_u64(host, count_slot)?.checked_add(1).ok_or_else(|| reason("the document sequence is exhausted"))?;
        // Both fit a byte: at most 64 recipients and 64 bytes of kind, checked above.
        let (kind_len, recipients) = (
            u8::try_from(c.kind.len()).map_err(|_| reason("kind too long"))?,
            u8::try_from(count).map_err(|_| reason("too many recipients"))?,
        );
        let block_number = host.block_number();
        host.sstore(meta_slot, pack_meta(caller, block_number, kind_len, recipients))?;
        store_word(host, doc_slot("doc.content", &h), c.contentHash)?;
        store_word(host, doc_slot("doc.subject", &h), c.subject)?;
        for (index, chunk) in (0u64..).zip(c.kind.as_bytes().chunks(32)) {
            let mut word = [0u8; 32];
            word[..chunk.len()].copy_from_slice(chunk);
            store_word(host, doc_item_slot("doc.kind", &h, index), B256::from(word))?;
        }
        for (index, id) in (0u64..).zip(&c.recipients) {
            store_word(host, doc_item_slot("doc.recipient", &h, index), *id)?;
        }
        store_u64(host, count_slot, seq)?;
        let log = IDocuments::DocumentAnchored {
            envelopeHash: c.envelopeHash,
            subject: c.subject,
            sender: *caller,
            kind: c.kind,
            contentHash: c.contentHash,
            recipients: c.recipients,
            seq,
        }
        .encode_log_data();
        host.emit(log.topics().to_vec(), log.data)?;
        ok(IDocuments::anchorDocumentCall::abi_encode_returns(&seq))
    }

    fn document(&self, host: &mut dyn Host, envelope: &B256, anchored_by: &Address) -> Result<Bytes, Failure> {
        let key = record_key(envelope, anchored_by);
        let h = &key;
        let meta = host.sload(doc_slot("doc.meta", h))?;
        if meta.is_zero() {
            return Err(reason(format!("envelope {envelope} is not anchored by {anchored_by}")));
        }
        let (sender, block_number, kind_len, count) = unpack_meta(meta);
        let kind_len = usize::from(kind_len).min(MAX_KIND_LEN);
        let mut kind = Vec::with_capacity(kind_len.next_multiple_of(32));
        for index in 0..u64::try_from(kind_len.div_ceil(32)).unwrap_or(0) {
            kind.extend_from_slice(load_word(host, doc_item_slot("doc.kind", h, index))?.as_slice());
        }
        kind.truncate(kind_len);
        let mut recipients = Vec::with_capacity(usize::from(count));
        for index in 0..u64::from(count) {
            recipients.push(load_word(host, doc_item_slot("doc.recipient", h, index))?);
        }
        let out = IDocuments::documentReturn {
            sender,
            blockNumber: block_number,
            contentHash: load_word(host, doc_slot("doc.content", h))?,
            kind: String::from_utf8_lossy(&kind).into_owned(),
            subject: load_word(host, doc_slot("doc.subject", h))?,
            recipients,
        };
        ok(IDocuments::documentCall::abi_encode_returns(&out))
    }
}

impl Chaincode for Documents {
    fn name(&self) -> &'static str {
        "documents"
    }

    fn address(&self) -> Address {
        ADDRESS
    }

    fn interface(&self) -> &'static str {
        include_str!("../sol/IDocuments.sol")
    }

    fn call(&self, host: &mut dyn Host, call: &Call<'_>) -> Result<Bytes, Failure> {
        let decoded = crate::decode_call::<Calls>(host, call, "documents", |c| {
            matches!(c, Calls::publishKey(_) | Calls::anchorDocument(_))
        })?;
        match decoded {
            Calls::publishKey(c) => self.publish_key(host, &call.caller, c),
            Calls::keyOf(c) => self.key_of(host, &c.party),
            Calls::anchorDocument(c) => self.anchor_document(host, &call.caller, c),
            Calls::document(c) => self.document(host, &c.envelopeHash, &c.anchoredBy),
        }
    }
}

#[cfg(test)]
mod tests;
