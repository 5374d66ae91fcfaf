//! Transactions: decoding EIP-2718 envelopes, recovering the sender once
//! (libsecp256k1 for Ethereum's types, ML-DSA-65 verification for dsec's
//! post-quantum type `0x4D`, see [`mldsa`]), and signing locally (dev
//! accounts, CLI, load generator).
//!
//! Sender recovery is the CPU wall of the node (about 43 µs per transaction
//! with libsecp256k1 against about 200 µs with the pure-Rust k256 that alloy
//! uses by default), so it is done here, once, at admission; the recovered
//! sender then travels with the transaction into the mempool, the block body
//! and execution.

use alloy::consensus::{SignableTransaction, Transaction, TxEip1559, TxEnvelope, TxType};
use alloy::eips::Typed2718;
use alloy::eips::eip2718::{Decodable2718, Encodable2718};
use alloy::eips::eip2930::AccessList;
use alloy::eips::eip7702::SignedAuthorization;
use alloy_primitives::{Address, B256, Bytes, ChainId, Signature, TxKind, U256, keccak256};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

pub mod mldsa;
pub use mldsa::{ML_DSA_TX_TYPE, MlDsaSigner, SignedMlDsa65, TxMlDsa65, ml_dsa_address};

/// Half the order of the secp256k1 curve: signatures with a larger `s` are
/// malleable and refused (EIP-2).
const SECP256K1N_HALF: U256 = U256::from_be_bytes([
    0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x5D, 0x57, 0x6E,
    0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
]);

/// Why a raw transaction was refused before it reached the mempool.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TxDecodeError {
    /// The bytes are not a valid EIP-2718 envelope.
    #[error("rlp: {0}")]
    Rlp(String),
    /// Bytes follow the envelope.
    #[error("rlp: input contains more than one value")]
    TrailingBytes,
    /// The transaction type is not accepted by this network.
    #[error("transaction type not supported")]
    UnsupportedType,
    /// Legacy transaction without EIP-155 replay protection.
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    NotReplayProtected,
    /// The signature does not recover to a public key, or is malleable.
    #[error("invalid sender: invalid signature")]
    InvalidSignature,
    /// An ML-DSA-65 transaction whose key or signature has the wrong size, or
    /// whose signature does not verify.
    #[error("invalid sender: {0}")]
    PostQuantum(crate::pq::PqError),
}

/// A signed transaction of any type this network accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "the Ethereum variant is the common one: boxing it costs an allocation per transaction"
)]
pub enum Envelope {
    /// An Ethereum transaction signed with secp256k1 (legacy, EIP-2930, EIP-1559).
    Eth(TxEnvelope),
    /// A dsec ML-DSA-65 transaction (type `0x4D`).
    MlDsa65(Box<SignedMlDsa65>),
}

macro_rules! each {
    ($self:ident, $tx:ident => $e:expr) => {
        match $self {
            Envelope::Eth($tx) => $e,
            Envelope::MlDsa65($tx) => {
                let $tx = $tx.tx();
                $e
            }
        }
    };
}

impl Envelope {
    /// The transaction hash: keccak-256 of the EIP-2718 bytes.
    pub fn tx_hash(&self) -> &B256 {
        match self {
            Envelope::Eth(tx) => tx.tx_hash(),
            Envelope::MlDsa65(tx) => tx.hash(),
        }
    }

    /// The Ethereum transaction, if it is one.
    pub fn as_eth(&self) -> Option<&TxEnvelope> {
        match self {
            Envelope::Eth(tx) => Some(tx),
            Envelope::MlDsa65(_) => None,
        }
    }
}

impl Typed2718 for Envelope {
    fn ty(&self) -> u8 {
        match self {
            Envelope::Eth(tx) => tx.ty(),
            Envelope::MlDsa65(_) => ML_DSA_TX_TYPE,
        }
    }
}

impl Encodable2718 for Envelope {
    fn encode_2718_len(&self) -> usize {
        match self {
            Envelope::Eth(tx) => tx.encode_2718_len(),
            Envelope::MlDsa65(tx) => tx.encode_2718_len(),
        }
    }

    fn encode_2718(&self, out: &mut dyn alloy_rlp::BufMut) {
        match self {
            Envelope::Eth(tx) => tx.encode_2718(out),
            Envelope::MlDsa65(tx) => tx.encode_2718(out),
        }
    }
}

impl Transaction for Envelope {
    fn chain_id(&self) -> Option<ChainId> {
        each!(self, tx => tx.chain_id())
    }
    fn nonce(&self) -> u64 {
        each!(self, tx => tx.nonce())
    }
    fn gas_limit(&self) -> u64 {
        each!(self, tx => tx.gas_limit())
    }
    fn gas_price(&self) -> Option<u128> {
        each!(self, tx => tx.gas_price())
    }
    fn max_fee_per_gas(&self) -> u128 {
        each!(self, tx => tx.max_fee_per_gas())
    }
    fn max_priority_fee_per_gas(&self) -> Option<u128> {
        each!(self, tx => tx.max_priority_fee_per_gas())
    }
    fn max_fee_per_blob_gas(&self) -> Option<u128> {
        each!(self, tx => tx.max_fee_per_blob_gas())
    }
    fn priority_fee_or_price(&self) -> u128 {
        each!(self, tx => tx.priority_fee_or_price())
    }
    fn effective_gas_price(&self, base_fee: Option<u64>) -> u128 {
        each!(self, tx => tx.effective_gas_price(base_fee))
    }
    fn is_dynamic_fee(&self) -> bool {
        each!(self, tx => tx.is_dynamic_fee())
    }
    fn kind(&self) -> TxKind {
        each!(self, tx => tx.kind())
    }
    fn is_create(&self) -> bool {
        each!(self, tx => tx.is_create())
    }
    fn value(&self) -> U256 {
        each!(self, tx => tx.value())
    }
    fn input(&self) -> &Bytes {
        each!(self, tx => tx.input())
    }
    fn access_list(&self) -> Option<&AccessList> {
        each!(self, tx => tx.access_list())
    }
    fn blob_versioned_hashes(&self) -> Option<&[B256]> {
        each!(self, tx => tx.blob_versioned_hashes())
    }
    fn authorization_list(&self) -> Option<&[SignedAuthorization]> {
        each!(self, tx => tx.authorization_list())
    }
}

/// JSON-RPC shape: Ethereum's for Ethereum types, [`mldsa`]'s for type `0x4D`.
impl serde::Serialize for Envelope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Envelope::Eth(tx) => tx.serialize(serializer),
            Envelope::MlDsa65(tx) => mldsa::MlDsaRpcTx::from(&**tx).serialize(serializer),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Envelope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        let ty = value.get("type").and_then(|t| t.as_str()).unwrap_or_default();
        if ty.eq_ignore_ascii_case("0x4d") {
            let rpc: mldsa::MlDsaRpcTx = serde_json::from_value(value).map_err(D::Error::custom)?;
            Ok(Envelope::MlDsa65(Box::new(rpc.into())))
        } else {
            serde_json::from_value(value).map(Envelope::Eth).map_err(D::Error::custom)
        }
    }
}

/// A transaction as `eth_getTransactionByHash` and blocks with full
/// transactions return it, for every type dsec accepts.
pub type RpcTransaction = alloy::rpc::types::Transaction<Envelope>;

/// A decoded transaction with its sender recovered and its hash computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredTx {
    /// The decoded signed envelope.
    pub envelope: Envelope,
    /// The sender recovered from the signature.
    pub sender: Address,
    /// The transaction hash (keccak-256 of the EIP-2718 bytes).
    pub hash: B256,
    /// The exact EIP-2718 bytes as received.
    pub raw: Bytes,
}

impl RecoveredTx {
    /// Decode EIP-2718 bytes and recover the sender.
    pub fn decode(raw: &[u8]) -> Result<Self, TxDecodeError> {
        let envelope = decode_envelope(raw)?;
        let sender = recover_sender(&envelope)?;
        Ok(Self { hash: *envelope.tx_hash(), envelope, sender, raw: Bytes::copy_from_slice(raw) })
    }

    /// Rebuild from bytes whose sender is already known (block bodies read back
    /// from disk, which were checked when they were admitted or validated).
    pub fn from_trusted(raw: Bytes, sender: Address) -> Result<Self, TxDecodeError> {
        let envelope = decode_envelope(&raw)?;
        Ok(Self { hash: *envelope.tx_hash(), envelope, sender, raw })
    }

    /// The nonce.
    pub fn nonce(&self) -> u64 {
        self.envelope.nonce()
    }

    /// The gas limit.
    pub fn gas_limit(&self) -> u64 {
        self.envelope.gas_limit()
    }

    /// The EIP-2718 type byte.
    pub fn ty(&self) -> u8 {
        self.envelope.ty()
    }

    /// Maximum price per gas the sender pays (legacy: gas price).
    pub fn max_fee_per_gas(&self) -> u128 {
        self.envelope.max_fee_per_gas()
    }

    /// The tip the sender offers above the base fee (legacy: gas price).
    pub fn max_priority_fee_per_gas(&self) -> u128 {
        self.envelope.max_priority_fee_per_gas().unwrap_or_else(|| self.envelope.max_fee_per_gas())
    }

    /// Price per gas actually paid at this base fee, if the transaction can pay it.
    pub fn effective_gas_price(&self, base_fee: u64) -> Option<u128> {
        let max_fee = self.max_fee_per_gas();
        let base = base_fee as u128;
        if max_fee < base {
            return None;
        }
        Some(base + (max_fee - base).min(self.max_priority_fee_per_gas()))
    }

    /// Tip per gas paid to the block's beneficiary at this base fee.
    pub fn effective_tip(&self, base_fee: u64) -> u128 {
        self.effective_gas_price(base_fee).map(|p| p - base_fee as u128).unwrap_or(0)
    }

    /// Whether this transaction creates a contract.
    pub fn is_create(&self) -> bool {
        self.envelope.kind().is_create()
    }

    /// The most the sender can be charged: `gas_limit * max_fee + value`,
    /// saturating at `U256::MAX` (a value chosen to wrap the sum makes the cost
    /// unpayable, never small). The product fits: 64 + 128 bits.
    pub fn max_cost(&self) -> U256 {
        (U256::from(self.gas_limit()) * U256::from(self.max_fee_per_gas())).saturating_add(self.envelope.value())
    }
}

/// Decode an EIP-2718 envelope, refusing trailing bytes and unsupported types.
pub fn decode_envelope(raw: &[u8]) -> Result<Envelope, TxDecodeError> {
    if raw.first() == Some(&ML_DSA_TX_TYPE) {
        return Ok(Envelope::MlDsa65(Box::new(SignedMlDsa65::decode_2718(raw)?)));
    }
    decode_eth_envelope(raw).map(Envelope::Eth)
}

/// Decode an Ethereum (secp256k1-signed) EIP-2718 envelope.
fn decode_eth_envelope(raw: &[u8]) -> Result<TxEnvelope, TxDecodeError> {
    let mut buf = raw;
    let envelope = TxEnvelope::decode_2718(&mut buf).map_err(|e| TxDecodeError::Rlp(e.to_string()))?;
    if !buf.is_empty() {
        return Err(TxDecodeError::TrailingBytes);
    }
    match envelope.tx_type() {
        TxType::Legacy | TxType::Eip2930 | TxType::Eip1559 => {}
        _ => return Err(TxDecodeError::UnsupportedType),
    }
    if envelope.chain_id().is_none() {
        return Err(TxDecodeError::NotReplayProtected);
    }
    Ok(envelope)
}

/// The sender of a signed envelope: recovered with libsecp256k1, or the
/// address of the ML-DSA-65 key whose signature verifies.
pub fn recover_sender(envelope: &Envelope) -> Result<Address, TxDecodeError> {
    match envelope {
        Envelope::Eth(tx) => recover_prehash(&tx.signature_hash(), tx.signature()),
        Envelope::MlDsa65(tx) => tx.verify(),
    }
}

/// Recover the address that signed `prehash`.
pub fn recover_prehash(prehash: &B256, signature: &Signature) -> Result<Address, TxDecodeError> {
    if signature.s() > SECP256K1N_HALF {
        return Err(TxDecodeError::InvalidSignature);
    }
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&signature.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&signature.s().to_be_bytes::<32>());
    let recid = RecoveryId::try_from(signature.v() as i32).map_err(|_| TxDecodeError::InvalidSignature)?;
    let sig = RecoverableSignature::from_compact(&compact, recid).map_err(|_| TxDecodeError::InvalidSignature)?;
    let public =
        SECP256K1.recover_ecdsa(Message::from_digest(prehash.0), &sig).map_err(|_| TxDecodeError::InvalidSignature)?;
    Ok(public_key_address(&public))
}

fn public_key_address(public: &PublicKey) -> Address {
    let uncompressed = public.serialize_uncompressed();
    Address::from_slice(&keccak256(&uncompressed[1..])[12..])
}

/// A secp256k1 private key that signs Ethereum transactions (libsecp256k1).
#[derive(Clone)]
pub struct LocalKey {
    secret: SecretKey,
    address: Address,
}

impl std::fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKey").field("address", &self.address).finish_non_exhaustive()
    }
}

/// A private key that is not a valid secp256k1 scalar.
#[derive(Debug, thiserror::Error)]
#[error("invalid secp256k1 private key")]
pub struct InvalidKey;

impl LocalKey {
    /// The key with these 32 secret bytes.
    pub fn from_bytes(secret: &B256) -> Result<Self, InvalidKey> {
        let secret = SecretKey::from_byte_array(secret.0).map_err(|_| InvalidKey)?;
        let address = public_key_address(&PublicKey::from_secret_key_global(&secret));
        Ok(Self { secret, address })
    }

    /// A fresh random key.
    pub fn random() -> Self {
        loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(key) = Self::from_bytes(&B256::from(bytes)) {
                return key;
            }
        }
    }

    /// The Ethereum address of this key.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The 32 secret bytes.
    pub fn secret_bytes(&self) -> B256 {
        B256::from(self.secret.secret_bytes())
    }

    /// Sign a 32-byte prehash.
    pub fn sign_prehash(&self, prehash: &B256) -> Signature {
        let sig = SECP256K1.sign_ecdsa_recoverable(Message::from_digest(prehash.0), &self.secret);
        let (recid, compact) = sig.serialize_compact();
        let r = U256::from_be_slice(&compact[..32]);
        let s = U256::from_be_slice(&compact[32..]);
        Signature::new(r, s, i32::from(recid) == 1)
    }

    /// Sign a transaction and return it as an envelope.
    pub fn sign_tx<T>(&self, tx: T) -> TxEnvelope
    where
        T: SignableTransaction<Signature>,
        TxEnvelope: From<alloy::consensus::Signed<T>>,
    {
        let signature = self.sign_prehash(&tx.signature_hash());
        TxEnvelope::from(tx.into_signed(signature))
    }

    /// Sign a transaction and return its EIP-2718 bytes.
    pub fn sign_tx_bytes<T>(&self, tx: T) -> Bytes
    where
        T: SignableTransaction<Signature>,
        TxEnvelope: From<alloy::consensus::Signed<T>>,
    {
        self.sign_tx(tx).encoded_2718().into()
    }
}

/// An account key of either scheme: what the CLI and the load generator sign with.
#[derive(Debug)]
pub enum AccountKey {
    /// A secp256k1 key (Ethereum's).
    Secp256k1(LocalKey),
    /// An ML-DSA-65 key (dsec's post-quantum accounts).
    MlDsa65(MlDsaSigner),
}

impl AccountKey {
    /// The account address.
    pub fn address(&self) -> Address {
        match self {
            AccountKey::Secp256k1(key) => key.address(),
            AccountKey::MlDsa65(key) => key.address(),
        }
    }

    /// The scheme's name, as `dsec keys new --scheme` takes it.
    pub fn scheme(&self) -> &'static str {
        match self {
            AccountKey::Secp256k1(_) => "secp256k1",
            AccountKey::MlDsa65(_) => "ml-dsa-65",
        }
    }

    /// Sign a dynamic-fee transaction: as EIP-1559 with a secp256k1 key, as
    /// type `0x4D` with the same fields with an ML-DSA-65 key.
    pub fn sign_dynamic_fee(&self, tx: TxEip1559) -> Result<Bytes, crate::pq::PqError> {
        match self {
            AccountKey::Secp256k1(key) => Ok(key.sign_tx_bytes(tx)),
            AccountKey::MlDsa65(key) => key.sign_tx_bytes(tx.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::consensus::transaction::SignerRecoverable;
    use alloy::consensus::{TxEip1559, TxEip2930, TxLegacy};
    use alloy_primitives::TxKind;

    fn eip1559(chain_id: u64, nonce: u64) -> TxEip1559 {
        TxEip1559 {
            chain_id,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(Address::repeat_byte(7)),
            value: U256::from(5),
            ..Default::default()
        }
    }

    #[test]
    fn every_wallet_type_roundtrips_with_the_right_sender() {
        let key = LocalKey::random();
        let legacy = TxLegacy {
            chain_id: Some(1337),
            gas_price: 1,
            gas_limit: 21_000,
            to: TxKind::Call(Address::ZERO),
            ..Default::default()
        };
        let access =
            TxEip2930 { chain_id: 1337, gas_price: 1, gas_limit: 30_000, to: TxKind::Create, ..Default::default() };
        for raw in [key.sign_tx_bytes(legacy), key.sign_tx_bytes(access), key.sign_tx_bytes(eip1559(1337, 3))] {
            let tx = RecoveredTx::decode(&raw).unwrap();
            assert_eq!(tx.sender, key.address());
            assert_eq!(tx.hash, keccak256(&raw));
            // libsecp256k1 and alloy's own recovery agree.
            assert_eq!(tx.envelope.as_eth().unwrap().recover_signer().unwrap(), key.address());
        }
    }

    #[test]
    fn garbage_and_trailing_bytes_are_refused() {
        assert!(matches!(RecoveredTx::decode(&[0x02, 0xff, 0x00]), Err(TxDecodeError::Rlp(_))));
        assert!(matches!(RecoveredTx::decode(&[]), Err(TxDecodeError::Rlp(_))));
        let mut raw = LocalKey::random().sign_tx_bytes(eip1559(1, 0)).to_vec();
        raw.push(0x80);
        assert_eq!(RecoveredTx::decode(&raw), Err(TxDecodeError::TrailingBytes));
    }

    #[test]
    fn pre_eip155_legacy_is_refused() {
        let legacy = TxLegacy { chain_id: None, gas_price: 1, gas_limit: 21_000, ..Default::default() };
        let raw = LocalKey::random().sign_tx_bytes(legacy);
        assert_eq!(RecoveredTx::decode(&raw), Err(TxDecodeError::NotReplayProtected));
    }

    #[test]
    fn high_s_signature_is_refused() {
        let key = LocalKey::random();
        let tx = eip1559(1, 0);
        let sig = key.sign_prehash(&tx.signature_hash());
        // Flip to the malleable twin (n - s, opposite parity).
        let n = U256::from_str_radix("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16).unwrap();
        let twin = Signature::new(sig.r(), n - sig.s(), !sig.v());
        assert_eq!(recover_prehash(&tx.signature_hash(), &twin), Err(TxDecodeError::InvalidSignature));
    }

    #[test]
    fn a_value_that_would_wrap_the_cost_makes_it_unpayable() {
        let tx = TxEip1559 { value: U256::MAX, max_fee_per_gas: u128::MAX, gas_limit: u64::MAX, ..eip1559(1, 0) };
        let tx = RecoveredTx::decode(&LocalKey::random().sign_tx_bytes(tx)).unwrap();
        assert_eq!(tx.max_cost(), U256::MAX);
        let ok = RecoveredTx::decode(&LocalKey::random().sign_tx_bytes(eip1559(1, 0))).unwrap();
        assert_eq!(ok.max_cost(), U256::from(21_000u64 * 2_000_000_000 + 5));
    }

    #[test]
    fn effective_price_follows_eip1559() {
        let raw = LocalKey::random().sign_tx_bytes(eip1559(1, 0));
        let tx = RecoveredTx::decode(&raw).unwrap();
        assert_eq!(tx.effective_gas_price(1_500_000_000), Some(2_000_000_000));
        assert_eq!(tx.effective_gas_price(500_000_000), Some(1_500_000_000));
        assert_eq!(tx.effective_gas_price(3_000_000_000), None);
        assert_eq!(tx.effective_tip(500_000_000), 1_000_000_000);
    }
}
