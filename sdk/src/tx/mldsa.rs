//! Post-quantum accounts: dsec's ML-DSA-65 transaction, EIP-2718 type `0x4D`.
//!
//! # Wire format
//!
//! ```text
//! 0x4D ‖ rlp([chain_id, nonce, max_priority_fee_per_gas, max_fee_per_gas, gas_limit,
//!             to, value, data, access_list, public_key, signature])
//! ```
//!
//! The fields up to `access_list` are those of an EIP-1559 transaction and mean
//! the same; the transaction executes exactly as one. `public_key` is the
//! signer's 1,952-byte ML-DSA-65 public key, `signature` its 3,309-byte
//! ML-DSA-65 signature (FIPS 204, hedged or deterministic; the verifier accepts
//! both) over the 32-byte signing hash
//!
//! ```text
//! keccak256(0x4D ‖ rlp([chain_id, …, access_list, public_key]))
//! ```
//!
//! under the ML-DSA context string `dsec-tx-v1`. The transaction hash is
//! `keccak256` of the whole envelope, as for every EIP-2718 type.
//!
//! # Why type `0x4D`
//!
//! EIP-2718 types go up to `0x7F`. Ethereum uses `0x00`–`0x04`; drafts claim
//! `0x05`–`0x07` (EIP-8202, EIP-8141/8164, EIP-7932); other EVM chains use
//! `0x08`–`0x4A` (Kaia), `0x64`–`0x6A` (Arbitrum), `0x71` (zkSync), `0x76`
//! (Tempo) and `0x7B`–`0x7E` (Celo, the OP stack). `0x4D` (ASCII `M`, for
//! ML-DSA) is claimed by none of them.
//!
//! # Addresses
//!
//! The sender is `keccak256("dsec-ml-dsa-65-address" ‖ public_key)[12..]`. A
//! secp256k1 address is `keccak256(x ‖ y)[12..]` over exactly 64 bytes; the
//! tagged input is 1,974 bytes and starts with the tag, so the two hash
//! inputs can never be the same string: an ML-DSA address equals a
//! secp256k1 one only through a keccak collision, never by construction.
//!
//! # The public key travels with every transaction
//!
//! A transaction carries the full key (a value transfer is 5,3 KB in all)
//! rather than a 20-byte reference to a key registered once on chain (it
//! would be 3,4 KB). The signature is then checked with nothing but the
//! bytes: at admission, in a proposal from a peer and in an auditor's offline
//! proof, with no state lookup, no ordering between a registration and its
//! first use, and no registry to grow. The README gives both sizes as
//! measured by the test `transfer_sizes_with_key_inline_and_by_reference`.

use super::TxDecodeError;
use crate::pq::{MlDsa65Key, MlDsa65PublicKey, PqError};
use alloy::consensus::Transaction;
use alloy::eips::Typed2718;
use alloy::eips::eip2718::Encodable2718;
use alloy::eips::eip2930::AccessList;
use alloy::eips::eip7702::SignedAuthorization;
use alloy_primitives::{Address, B256, Bytes, ChainId, Keccak256, TxKind, U256, keccak256};
use alloy_rlp::{BufMut, Decodable, Encodable, Header};

/// The EIP-2718 type byte of an ML-DSA-65 transaction.
pub const ML_DSA_TX_TYPE: u8 = 0x4D;

/// The ML-DSA context string every transaction signature is made under, so a
/// transaction signature can never be replayed as a signature of anything else.
pub const ML_DSA_TX_CONTEXT: &[u8] = b"dsec-tx-v1";

/// The domain tag hashed before the public key to derive an ML-DSA-65 address.
pub const ML_DSA_ADDRESS_TAG: &[u8] = b"dsec-ml-dsa-65-address";

/// The address of the account an ML-DSA-65 public key controls.
pub fn ml_dsa_address(public_key: &[u8]) -> Address {
    let mut hasher = Keccak256::new();
    hasher.update(ML_DSA_ADDRESS_TAG);
    hasher.update(public_key);
    Address::from_slice(&hasher.finalize()[12..])
}

/// The unsigned fields of an ML-DSA-65 transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxMlDsa65 {
    /// EIP-155 chain id.
    pub chain_id: ChainId,
    /// The sender's nonce.
    pub nonce: u64,
    /// Tip per gas above the base fee.
    pub max_priority_fee_per_gas: u128,
    /// Most the sender pays per gas.
    pub max_fee_per_gas: u128,
    /// Gas limit.
    pub gas_limit: u64,
    /// Recipient, or contract creation.
    pub to: TxKind,
    /// Wei sent.
    pub value: U256,
    /// Calldata, or init code of a creation.
    pub input: Bytes,
    /// EIP-2930 access list.
    pub access_list: AccessList,
    /// The signer's ML-DSA-65 public key (1,952 bytes).
    pub public_key: Bytes,
}

impl TxMlDsa65 {
    fn fields_len(&self) -> usize {
        self.chain_id.length()
            + self.nonce.length()
            + self.max_priority_fee_per_gas.length()
            + self.max_fee_per_gas.length()
            + self.gas_limit.length()
            + self.to.length()
            + self.value.length()
            + self.input.length()
            + self.access_list.length()
            + self.public_key.length()
    }

    fn encode_fields(&self, out: &mut dyn BufMut) {
        self.chain_id.encode(out);
        self.nonce.encode(out);
        self.max_priority_fee_per_gas.encode(out);
        self.max_fee_per_gas.encode(out);
        self.gas_limit.encode(out);
        self.to.encode(out);
        self.value.encode(out);
        self.input.encode(out);
        self.access_list.encode(out);
        self.public_key.encode(out);
    }

    fn decode_fields(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        Ok(Self {
            chain_id: Decodable::decode(buf)?,
            nonce: Decodable::decode(buf)?,
            max_priority_fee_per_gas: Decodable::decode(buf)?,
            max_fee_per_gas: Decodable::decode(buf)?,
            gas_limit: Decodable::decode(buf)?,
            to: Decodable::decode(buf)?,
            value: Decodable::decode(buf)?,
            input: Decodable::decode(buf)?,
            access_list: Decodable::decode(buf)?,
            public_key: Decodable::decode(buf)?,
        })
    }

    /// The 32 bytes the signer signs: `keccak256(0x4D ‖ rlp(fields))`.
    pub fn signature_hash(&self) -> B256 {
        let header = Header { list: true, payload_length: self.fields_len() };
        let mut out = Vec::with_capacity(1 + header.length() + header.payload_length);
        out.push(ML_DSA_TX_TYPE);
        header.encode(&mut out);
        self.encode_fields(&mut out);
        keccak256(&out)
    }

    /// Attach a signature.
    pub fn into_signed(self, signature: Bytes) -> SignedMlDsa65 {
        let mut signed = SignedMlDsa65 { tx: self, signature, hash: B256::ZERO };
        signed.hash = keccak256(signed.encoded_2718());
        signed
    }
}

impl Typed2718 for TxMlDsa65 {
    fn ty(&self) -> u8 {
        ML_DSA_TX_TYPE
    }
}

impl Transaction for TxMlDsa65 {
    fn chain_id(&self) -> Option<ChainId> {
        Some(self.chain_id)
    }
    fn nonce(&self) -> u64 {
        self.nonce
    }
    fn gas_limit(&self) -> u64 {
        self.gas_limit
    }
    fn gas_price(&self) -> Option<u128> {
        None
    }
    fn max_fee_per_gas(&self) -> u128 {
        self.max_fee_per_gas
    }
    fn max_priority_fee_per_gas(&self) -> Option<u128> {
        Some(self.max_priority_fee_per_gas)
    }
    fn max_fee_per_blob_gas(&self) -> Option<u128> {
        None
    }
    fn priority_fee_or_price(&self) -> u128 {
        self.max_priority_fee_per_gas
    }
    fn effective_gas_price(&self, base_fee: Option<u64>) -> u128 {
        alloy::eips::eip1559::calc_effective_gas_price(self.max_fee_per_gas, self.max_priority_fee_per_gas, base_fee)
    }
    fn is_dynamic_fee(&self) -> bool {
        true
    }
    fn kind(&self) -> TxKind {
        self.to
    }
    fn is_create(&self) -> bool {
        self.to.is_create()
    }
    fn value(&self) -> U256 {
        self.value
    }
    fn input(&self) -> &Bytes {
        &self.input
    }
    fn access_list(&self) -> Option<&AccessList> {
        Some(&self.access_list)
    }
    fn blob_versioned_hashes(&self) -> Option<&[B256]> {
        None
    }
    fn authorization_list(&self) -> Option<&[SignedAuthorization]> {
        None
    }
}

/// A signed ML-DSA-65 transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedMlDsa65 {
    tx: TxMlDsa65,
    signature: Bytes,
    hash: B256,
}

impl SignedMlDsa65 {
    /// The signed fields.
    pub fn tx(&self) -> &TxMlDsa65 {
        &self.tx
    }

    /// The ML-DSA-65 signature.
    pub fn signature(&self) -> &Bytes {
        &self.signature
    }

    /// The transaction hash: `keccak256` of the EIP-2718 bytes.
    pub fn hash(&self) -> &B256 {
        &self.hash
    }

    fn payload_len(&self) -> usize {
        self.tx.fields_len() + self.signature.length()
    }

    /// Decode the EIP-2718 bytes of an ML-DSA-65 transaction (type byte
    /// included); every byte must belong to it. The signature is not checked.
    pub fn decode_2718(raw: &[u8]) -> Result<Self, TxDecodeError> {
        let rlp = |e: alloy_rlp::Error| TxDecodeError::Rlp(e.to_string());
        let Some((&ML_DSA_TX_TYPE, mut buf)) = raw.split_first() else {
            return Err(TxDecodeError::UnsupportedType);
        };
        let header = Header::decode(&mut buf).map_err(rlp)?;
        if !header.list {
            return Err(rlp(alloy_rlp::Error::UnexpectedString));
        }
        if header.payload_length > buf.len() {
            return Err(rlp(alloy_rlp::Error::InputTooShort));
        }
        let (mut payload, rest) = buf.split_at(header.payload_length);
        if !rest.is_empty() {
            return Err(TxDecodeError::TrailingBytes);
        }
        let tx = TxMlDsa65::decode_fields(&mut payload).map_err(rlp)?;
        let signature = Bytes::decode(&mut payload).map_err(rlp)?;
        if !payload.is_empty() {
            return Err(rlp(alloy_rlp::Error::ListLengthMismatch {
                expected: header.payload_length,
                got: header.payload_length - payload.len(),
            }));
        }
        Ok(Self { tx, signature, hash: keccak256(raw) })
    }

    /// Check the signature and return the sender it proves.
    pub fn verify(&self) -> Result<Address, TxDecodeError> {
        // The backend refuses a signature of the wrong size by name.
        let key = MlDsa65PublicKey::from_bytes(&self.tx.public_key).map_err(TxDecodeError::PostQuantum)?;
        key.verify(self.tx.signature_hash().as_slice(), ML_DSA_TX_CONTEXT, &self.signature)
            .map_err(TxDecodeError::PostQuantum)?;
        Ok(ml_dsa_address(&self.tx.public_key))
    }
}

impl Typed2718 for SignedMlDsa65 {
    fn ty(&self) -> u8 {
        ML_DSA_TX_TYPE
    }
}

impl Encodable2718 for SignedMlDsa65 {
    fn encode_2718_len(&self) -> usize {
        let payload = self.payload_len();
        1 + Header { list: true, payload_length: payload }.length() + payload
    }

    fn encode_2718(&self, out: &mut dyn BufMut) {
        out.put_u8(ML_DSA_TX_TYPE);
        Header { list: true, payload_length: self.payload_len() }.encode(out);
        self.tx.encode_fields(out);
        self.signature.encode(out);
    }
}

/// An ML-DSA-65 account key that signs dsec transactions.
pub struct MlDsaSigner {
    key: MlDsa65Key,
    address: Address,
}

impl std::fmt::Debug for MlDsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlDsaSigner").field("address", &self.address).finish_non_exhaustive()
    }
}

impl MlDsaSigner {
    /// The signer of this key.
    pub fn new(key: MlDsa65Key) -> Self {
        let address = ml_dsa_address(key.public_key().as_bytes());
        Self { key, address }
    }

    /// The signer of a 32-byte seed (what a key file stores).
    pub fn from_seed(seed: &[u8; crate::pq::MLDSA_SEED_LEN]) -> Self {
        Self::new(MlDsa65Key::from_seed(seed))
    }

    /// A fresh random key.
    pub fn random() -> Self {
        Self::new(MlDsa65Key::generate())
    }

    /// The account address of this key.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The key itself (its seed and public key).
    pub fn key(&self) -> &MlDsa65Key {
        &self.key
    }

    /// Sign a transaction; its `public_key` field is set to this key's.
    pub fn sign_tx(&self, mut tx: TxMlDsa65) -> Result<SignedMlDsa65, PqError> {
        tx.public_key = Bytes::copy_from_slice(self.key.public_key().as_bytes());
        let signature = self.key.sign(tx.signature_hash().as_slice(), ML_DSA_TX_CONTEXT)?;
        Ok(tx.into_signed(signature.into()))
    }

    /// Sign a transaction and return its EIP-2718 bytes.
    pub fn sign_tx_bytes(&self, tx: TxMlDsa65) -> Result<Bytes, PqError> {
        Ok(self.sign_tx(tx)?.encoded_2718().into())
    }
}

impl From<alloy::consensus::TxEip1559> for TxMlDsa65 {
    /// The same transaction with an ML-DSA-65 signer (the key is filled in when signed).
    fn from(tx: alloy::consensus::TxEip1559) -> Self {
        Self {
            chain_id: tx.chain_id,
            nonce: tx.nonce,
            max_priority_fee_per_gas: tx.max_priority_fee_per_gas,
            max_fee_per_gas: tx.max_fee_per_gas,
            gas_limit: tx.gas_limit,
            to: tx.to,
            value: tx.value,
            input: tx.input,
            access_list: tx.access_list,
            public_key: Bytes::new(),
        }
    }
}

/// The JSON-RPC shape of an ML-DSA-65 transaction (`eth_getTransactionByHash`,
/// blocks with full transactions). Besides the EIP-1559 fields it carries
/// `mlDsaPublicKey` and `mlDsaSignature` (not `publicKey`, which web3.py
/// reads as a 64-byte secp256k1 key, nor `signature`, which ethers v6 reads
/// as an ECDSA signature); `v`, `r`, `s` and `yParity` are zero so that
/// libraries which read an ECDSA signature from every transaction (ethers v6)
/// do not fail on a block holding one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MlDsaRpcTx {
    #[serde(rename = "type", with = "alloy::serde::quantity")]
    ty: u8,
    #[serde(with = "alloy::serde::quantity")]
    chain_id: u64,
    #[serde(with = "alloy::serde::quantity")]
    nonce: u64,
    #[serde(rename = "gas", with = "alloy::serde::quantity")]
    gas_limit: u64,
    #[serde(with = "alloy::serde::quantity")]
    max_fee_per_gas: u128,
    #[serde(with = "alloy::serde::quantity")]
    max_priority_fee_per_gas: u128,
    to: Option<Address>,
    value: U256,
    input: Bytes,
    access_list: AccessList,
    ml_dsa_public_key: Bytes,
    ml_dsa_signature: Bytes,
    #[serde(default)]
    r: U256,
    #[serde(default)]
    s: U256,
    #[serde(default, with = "alloy::serde::quantity")]
    v: u64,
    #[serde(default, with = "alloy::serde::quantity")]
    y_parity: u64,
    hash: B256,
}

impl From<&SignedMlDsa65> for MlDsaRpcTx {
    fn from(signed: &SignedMlDsa65) -> Self {
        let tx = &signed.tx;
        Self {
            ty: ML_DSA_TX_TYPE,
            chain_id: tx.chain_id,
            nonce: tx.nonce,
            gas_limit: tx.gas_limit,
            max_fee_per_gas: tx.max_fee_per_gas,
            max_priority_fee_per_gas: tx.max_priority_fee_per_gas,
            to: tx.to.to().copied(),
            value: tx.value,
            input: tx.input.clone(),
            access_list: tx.access_list.clone(),
            ml_dsa_public_key: tx.public_key.clone(),
            ml_dsa_signature: signed.signature.clone(),
            r: U256::ZERO,
            s: U256::ZERO,
            v: 0,
            y_parity: 0,
            hash: signed.hash,
        }
    }
}

impl From<MlDsaRpcTx> for SignedMlDsa65 {
    fn from(rpc: MlDsaRpcTx) -> Self {
        let tx = TxMlDsa65 {
            chain_id: rpc.chain_id,
            nonce: rpc.nonce,
            max_priority_fee_per_gas: rpc.max_priority_fee_per_gas,
            max_fee_per_gas: rpc.max_fee_per_gas,
            gas_limit: rpc.gas_limit,
            to: rpc.to.map_or(TxKind::Create, TxKind::Call),
            value: rpc.value,
            input: rpc.input,
            access_list: rpc.access_list,
            public_key: rpc.ml_dsa_public_key,
        };
        tx.into_signed(rpc.ml_dsa_signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pq::{MLDSA65_PUBLIC_KEY_LEN, MLDSA65_SIGNATURE_LEN};
    use crate::tx::{Envelope, LocalKey, RecoveredTx, TxDecodeError};

    fn transfer(chain_id: u64, nonce: u64) -> TxMlDsa65 {
        TxMlDsa65 {
            chain_id,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(Address::repeat_byte(7)),
            value: U256::from(10u64.pow(18)),
            ..Default::default()
        }
    }

    #[test]
    fn signed_transactions_decode_to_their_signer_and_reencode_exactly() {
        let signer = MlDsaSigner::from_seed(&[1; 32]);
        let raw = signer.sign_tx_bytes(transfer(1337, 5)).unwrap();
        assert_eq!(raw[0], ML_DSA_TX_TYPE);
        let tx = RecoveredTx::decode(&raw).unwrap();
        assert_eq!(tx.sender, signer.address());
        assert_eq!(tx.sender, ml_dsa_address(signer.key().public_key().as_bytes()));
        assert_eq!(tx.hash, keccak256(&raw));
        assert_eq!((tx.ty(), tx.nonce(), tx.gas_limit()), (ML_DSA_TX_TYPE, 5, 21_000));
        assert_eq!(tx.envelope.encoded_2718(), raw.to_vec());
        assert_eq!(tx.envelope.encode_2718_len(), raw.len());
        assert_eq!(tx.effective_gas_price(1_500_000_000), Some(2_000_000_000));
        // Rebuilt from a block body without verifying: the same transaction.
        assert_eq!(RecoveredTx::from_trusted(raw.clone(), tx.sender).unwrap(), tx);
    }

    #[test]
    fn every_byte_of_the_signed_fields_is_covered_by_the_signature() {
        let signer = MlDsaSigner::random();
        let raw = signer.sign_tx_bytes(transfer(1, 0)).unwrap().to_vec();
        // Flip one bit in each field area: chain id, the key, the signature.
        for at in [4, 100, raw.len() - 1000] {
            let mut tampered = raw.clone();
            tampered[at] ^= 0x01;
            match RecoveredTx::decode(&tampered) {
                Err(TxDecodeError::PostQuantum(_)) | Err(TxDecodeError::Rlp(_)) => {}
                Ok(tx) => assert_ne!(tx.sender, signer.address(), "a tampered transaction proves the same sender"),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        // A signature under another context (not a transaction signature) is refused.
        let tx = transfer(1, 0);
        let mut with_key = tx.clone();
        with_key.public_key = Bytes::copy_from_slice(signer.key().public_key().as_bytes());
        let foreign = signer.key().sign(with_key.signature_hash().as_slice(), b"dsec-other-v1").unwrap();
        let raw = with_key.into_signed(foreign.into()).encoded_2718();
        assert_eq!(
            RecoveredTx::decode(&raw),
            Err(TxDecodeError::PostQuantum(crate::pq::PqError::BadSignature)),
            "a signature made under another context"
        );
    }

    #[test]
    fn malformed_envelopes_are_refused_by_name() {
        let raw = MlDsaSigner::random().sign_tx_bytes(transfer(1, 0)).unwrap().to_vec();
        let mut trailing = raw.clone();
        trailing.push(0x80);
        assert_eq!(RecoveredTx::decode(&trailing), Err(TxDecodeError::TrailingBytes));
        assert!(matches!(RecoveredTx::decode(&raw[..raw.len() - 1]), Err(TxDecodeError::Rlp(_))));
        assert!(matches!(RecoveredTx::decode(&[ML_DSA_TX_TYPE]), Err(TxDecodeError::Rlp(_))));
        assert!(matches!(RecoveredTx::decode(&[ML_DSA_TX_TYPE, 0x80]), Err(TxDecodeError::Rlp(_))));
        let mut no_key = transfer(1, 0);
        no_key.public_key = Bytes::from_static(&[1, 2, 3]);
        let raw = no_key.into_signed(vec![0u8; MLDSA65_SIGNATURE_LEN].into()).encoded_2718();
        let err = RecoveredTx::decode(&raw).unwrap_err().to_string();
        assert_eq!(err, "invalid sender: ML-DSA-65 public key must be 1952 bytes, got 3");
    }

    #[test]
    fn addresses_are_domain_separated_from_secp256k1() {
        let signer = MlDsaSigner::from_seed(&[2; 32]);
        let public = signer.key().public_key().as_bytes();
        // Not keccak(pk)[12..], the untagged rule other chains use.
        assert_ne!(signer.address(), Address::from_slice(&keccak256(public)[12..]));
        // The preimage of a secp256k1 address is 64 bytes; ours never is.
        assert_eq!(ML_DSA_ADDRESS_TAG.len() + public.len(), 1974);
        assert_ne!(signer.address(), LocalKey::random().address());
        assert_eq!(MlDsaSigner::from_seed(&[2; 32]).address(), signer.address(), "one seed, one address");
    }

    #[test]
    fn json_shape_roundtrips_and_keeps_ethers_fields() {
        let signer = MlDsaSigner::random();
        let raw = signer.sign_tx_bytes(transfer(1337, 1)).unwrap();
        let tx = RecoveredTx::decode(&raw).unwrap();
        let json = serde_json::to_value(&tx.envelope).unwrap();
        assert_eq!(json["type"], "0x4d");
        assert_eq!(json["gas"], "0x5208");
        assert_eq!(json["r"], "0x0");
        assert_eq!(json["yParity"], "0x0");
        assert_eq!(json["hash"], serde_json::json!(tx.hash));
        let back: Envelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, tx.envelope);
        // Ethereum's types keep Ethereum's shape.
        let eth = LocalKey::random().sign_tx(alloy::consensus::TxEip1559 { chain_id: 1, ..Default::default() });
        let json = serde_json::to_value(Envelope::Eth(eth.clone())).unwrap();
        assert_eq!(json["type"], "0x2");
        assert_eq!(serde_json::from_value::<Envelope>(json).unwrap(), Envelope::Eth(eth));
    }

    /// What admission pays per transaction to decode it and establish its
    /// sender: libsecp256k1 recovery against ML-DSA-65 verification.
    /// `cargo test --release -p dsec-sdk -- --ignored decode_speed --nocapture`
    #[test]
    #[ignore = "a measurement, not a check"]
    fn decode_speed() {
        let n = 2_000;
        let secp = LocalKey::random();
        let pq = MlDsaSigner::random();
        let eth: Vec<Bytes> = (0..n)
            .map(|i| {
                let t = transfer(1, i);
                secp.sign_tx_bytes(alloy::consensus::TxEip1559 {
                    chain_id: 1,
                    nonce: i,
                    gas_limit: t.gas_limit,
                    to: t.to,
                    value: t.value,
                    ..Default::default()
                })
            })
            .collect();
        let mldsa: Vec<Bytes> = (0..n).map(|i| pq.sign_tx_bytes(transfer(1, i)).unwrap()).collect();
        for (name, raws) in [("secp256k1 EIP-1559", &eth), ("ML-DSA-65 (0x4D)", &mldsa)] {
            let started = std::time::Instant::now();
            for raw in raws.iter() {
                assert!(RecoveredTx::decode(raw).is_ok());
            }
            let each = started.elapsed() / n as u32;
            println!("{name}: decode and establish the sender {each:?} per transaction, {} B", raws[0].len());
        }
    }

    /// The bytes of a value transfer with the key inline (the format in use)
    /// and, for comparison, with a 20-byte reference to a registered key.
    #[test]
    fn transfer_sizes_with_key_inline_and_by_reference() {
        let signer = MlDsaSigner::random();
        let inline = signer.sign_tx_bytes(transfer(1337, 1)).unwrap().len();
        let by_reference = inline - MLDSA65_PUBLIC_KEY_LEN - 3 + 21;
        let t = transfer(1337, 1);
        let eip1559 = alloy::consensus::TxEip1559 {
            chain_id: t.chain_id,
            nonce: t.nonce,
            gas_limit: t.gas_limit,
            max_fee_per_gas: t.max_fee_per_gas,
            max_priority_fee_per_gas: t.max_priority_fee_per_gas,
            to: t.to,
            value: t.value,
            ..Default::default()
        };
        let secp = LocalKey::random().sign_tx_bytes(eip1559).len();
        println!("value transfer: secp256k1 {secp} B, ML-DSA-65 key inline {inline} B, by reference {by_reference} B");
        assert!((5_250..5_350).contains(&inline), "{inline}");
        assert!((3_300..3_420).contains(&by_reference), "{by_reference}");
    }
}
