//! Sealed documents: a versioned envelope that encrypts a document to the
//! parties it names and carries its sender's signature.
//!
//! A fresh 32-byte content key encrypts the document with AES-256-GCM; the
//! content key is wrapped to each recipient under a key-encryption key (KEK)
//! that only that recipient can derive. The sender signs everything, with a
//! secp256k1 or an ML-DSA-65 account key, so a recipient (or anyone holding
//! the envelope) learns who sealed it; only hashes and recipient key ids go on
//! chain (see [`crate::documents`]).
//!
//! # Keys
//!
//! A recipient key ([`RecipientKey`], 96 secret bytes) is an ML-KEM-768 seed
//! (64 bytes, FIPS 203 `d ‖ z`) and an X25519 secret (32 bytes). Its public
//! half ([`RecipientPublicKey`]) is the 1,184-byte ML-KEM-768 encapsulation
//! key and the 32-byte X25519 public key; its key id is
//!
//! ```text
//! keyId = SHA-256("dsec/envelope/v1/keyid" ‖ mlkemPublicKey ‖ x25519PublicKey)
//! ```
//!
//! # Why hybrid: ML-KEM-768 and X25519
//!
//! For each recipient the sender encapsulates to the ML-KEM key *and* runs
//! X25519 with a fresh ephemeral key, and derives the KEK from both shared
//! secrets, the way TLS's `X25519MLKEM768`, Signal's PQXDH and Apple's PQ3
//! combine them:
//!
//! ```text
//! KEK = HKDF-SHA256(ikm  = mlkemSharedSecret ‖ x25519SharedSecret,
//!                   salt = none,
//!                   info = "dsec/envelope/v1/kek" ‖ mlkemCiphertext ‖ x25519Ephemeral ‖ keyId)
//! ```
//!
//! The document stays confidential as long as either ML-KEM-768 or X25519
//! holds: a quantum adversary recording envelopes today (the "harvest now,
//! decrypt later" threat a customs declaration must survive for years) must
//! break ML-KEM, and a flaw found in the young ML-KEM standard or its
//! implementations still leaves the classical protection in place. The cost is
//! 32 bytes per recipient and one scalar multiplication. The info binds the
//! KEK to both ciphertexts and to the recipient's two public keys (through
//! the key id), as the X-Wing combiner does. Small-order X25519 keys, which
//! would contribute nothing, are refused.
//!
//! # Format, version 1
//!
//! ```text
//! envelope   = "DSECENV" ‖ 0x01 ‖ rlp([header, ciphertext, signature])
//! header     = [sender, scheme, senderPublicKey, subject, contentHash, nonce, [recipient, …]]
//! recipient  = [keyId, mlkemCiphertext, x25519Ephemeral, wrappedKey]
//! ```
//!
//! | field | bytes | meaning |
//! | --- | --- | --- |
//! | `sender` | 20 | the sender's account address |
//! | `scheme` | integer | 1 = secp256k1, 2 = ML-DSA-65 |
//! | `senderPublicKey` | 0 or 1,952 | empty for secp256k1; the ML-DSA-65 public key |
//! | `subject` | 32 | what the document is about (a shipment id, an audit tenant id); zero: none |
//! | `contentHash` | 32 | `SHA-256("dsec/envelope/v1/content" ‖ salt ‖ plaintext)` |
//! | `nonce` | 12 | AES-256-GCM nonce of the payload (random) |
//! | `keyId` | 32 | the recipient's key id |
//! | `mlkemCiphertext` | 1,088 | ML-KEM-768 encapsulation to the recipient |
//! | `x25519Ephemeral` | 32 | the sender's fresh X25519 public key for this recipient |
//! | `wrappedKey` | 48 | `AES-256-GCM(KEK, nonce = 0¹², aad = "dsec/envelope/v1/wrap", contentKey)` |
//! | `ciphertext` | 48 + n | `AES-256-GCM(contentKey, nonce, aad = "DSECENV" ‖ 0x01 ‖ rlp(header), salt ‖ plaintext)` |
//! | `signature` | 65 or 3,309 | see below |
//!
//! RLP is Ethereum's, canonical: decoding refuses anything but the one
//! encoding of a value, trailing bytes, an unknown version, fields of the
//! wrong size, no recipient or more than [`MAX_RECIPIENTS`], a key id listed
//! twice, and a payload over [`MAX_PLAINTEXT_LEN`]. The envelope's hash,
//! what goes on chain, is `keccak256` of the whole encoding ([`Envelope::hash`]).
//!
//! # Signature
//!
//! The sender signs the digest of everything but the signature:
//!
//! ```text
//! digest = SHA-256("dsec/envelope/v1/sig" ‖ "DSECENV" ‖ 0x01 ‖ rlp(header) ‖ ciphertext)
//! ```
//!
//! - secp256k1: the 32 digest bytes as an EIP-191 personal message (what
//!   `personal_sign` and wallets sign), 65 bytes `r ‖ s ‖ v` with `v` 27 or
//!   28 and a low `s`; the verifier recovers the address.
//! - ML-DSA-65: the 32 digest bytes under the context `dsec/envelope/v1`;
//!   the verifier checks that `senderPublicKey` derives to `sender` (as
//!   [`crate::tx::mldsa`] derives ML-DSA account addresses) and the signature.
//!
//! Since the signature covers every byte but itself, and RLP has one encoding
//! per value, any change to an envelope is refused by [`Envelope::verify_sender`]
//! before a key is touched; [`Envelope::open`] checks it first.
//!
//! # Why a salted content hash
//!
//! The envelope (and the chain) carries `contentHash`, not a bare hash of the
//! plaintext. Many trade documents have few possible values (a customs form
//! whose only free fields are a status and an HS code); a bare hash would let
//! anyone who sees the chain confirm a guess by hashing it. The 32-byte salt
//! is random, travels only inside the encrypted payload, and makes the hash
//! useless for guessing. A recipient who opened the envelope knows the salt,
//! and can prove to anyone that a plaintext is the anchored one by showing
//! the plaintext and the salt ([`content_hash`]). The hash also commits the
//! sender to one plaintext: AES-GCM alone does not bind a ciphertext to a
//! single key, so a dishonest sender could otherwise give two recipients
//! different content keys that decrypt the same bytes to different documents;
//! every recipient checks the plaintext against the signed hash.

use crate::pq::{
    MLDSA65_PUBLIC_KEY_LEN, MLDSA65_SIGNATURE_LEN, MLKEM_SEED_LEN, MLKEM_SHARED_SECRET_LEN, MLKEM768_CIPHERTEXT_LEN,
    MLKEM768_PUBLIC_KEY_LEN, MlDsa65PublicKey, MlKem768Key, MlKem768PublicKey, PqError,
};
use crate::tx::{AccountKey, ml_dsa_address, recover_prehash};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use alloy_primitives::{Address, B256, Bytes, Signature, U256, eip191_hash_message, keccak256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use x25519_dalek::{PublicKey as X25519PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// The first bytes of every envelope.
pub const MAGIC: &[u8; 7] = b"DSECENV";
/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
/// Most recipients of one envelope.
pub const MAX_RECIPIENTS: usize = 64;
/// Largest document, bytes (64 MiB).
pub const MAX_PLAINTEXT_LEN: usize = 64 << 20;
/// Largest encoded envelope, bytes: the largest document and 1 MiB for the
/// header, recipients and signature (64 recipients take about 80 KB).
pub const MAX_ENCODED_LEN: usize = MAX_PLAINTEXT_LEN + (1 << 20);
/// Bytes of a recipient's secret key: the ML-KEM-768 seed, then the X25519 secret.
pub const RECIPIENT_KEY_LEN: usize = MLKEM_SEED_LEN + X25519_KEY_LEN;
/// Bytes of a recipient's public key as [`RecipientPublicKey::to_bytes`] writes it.
pub const RECIPIENT_PUBLIC_KEY_LEN: usize = MLKEM768_PUBLIC_KEY_LEN + X25519_KEY_LEN;
/// Bytes of an X25519 key.
pub const X25519_KEY_LEN: usize = 32;
/// Bytes of the random salt that precedes the plaintext inside the payload.
pub const SALT_LEN: usize = 32;
/// Bytes of a wrapped content key: the 32-byte key and the 16-byte GCM tag.
pub const WRAPPED_KEY_LEN: usize = 48;
/// Bytes of a secp256k1 sender signature (`r ‖ s ‖ v`).
pub const SECP256K1_SIGNATURE_LEN: usize = 65;
/// The ML-DSA context string of sender signatures.
pub const MLDSA_CONTEXT: &[u8] = b"dsec/envelope/v1";

const KEY_ID_DOMAIN: &[u8] = b"dsec/envelope/v1/keyid";
const KEK_DOMAIN: &[u8] = b"dsec/envelope/v1/kek";
const CONTENT_DOMAIN: &[u8] = b"dsec/envelope/v1/content";
const SIGNATURE_DOMAIN: &[u8] = b"dsec/envelope/v1/sig";
const WRAP_AAD: &[u8] = b"dsec/envelope/v1/wrap";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const CONTENT_KEY_LEN: usize = 32;

/// An ML-KEM-768 shared secret, wiped when dropped.
pub(crate) type KemSecret = Zeroizing<[u8; MLKEM_SHARED_SECRET_LEN]>;
/// An ML-KEM-768 ciphertext and its shared secret.
pub(crate) type Encapsulation = (Vec<u8>, KemSecret);

/// Why an envelope could not be sealed, decoded, verified or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The bytes do not start with `DSECENV`.
    #[error("not a dsec sealed document (bad magic)")]
    BadMagic,
    /// A format version this code does not read.
    #[error("sealed document version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u8),
    /// The bytes are not a well-formed envelope.
    #[error("malformed sealed document: {0}")]
    Malformed(String),
    /// The encoding is larger than [`MAX_ENCODED_LEN`].
    #[error("sealed document is {0} bytes; at most {MAX_ENCODED_LEN} allowed")]
    TooLarge(usize),
    /// The document is larger than [`MAX_PLAINTEXT_LEN`].
    #[error("document is {0} bytes; at most {MAX_PLAINTEXT_LEN} allowed")]
    PlaintextTooLarge(usize),
    /// No recipient, or more than [`MAX_RECIPIENTS`].
    #[error("{0} recipients; between 1 and {MAX_RECIPIENTS} allowed")]
    RecipientCount(usize),
    /// A recipient key id listed twice.
    #[error("recipient key {0} is listed twice")]
    DuplicateRecipient(B256),
    /// A sender signature scheme this code does not know.
    #[error("unknown sender signature scheme {0}")]
    UnknownScheme(u8),
    /// A recipient public key that cannot be sealed to.
    #[error("invalid recipient key: {0}")]
    InvalidRecipientKey(String),
    /// A recipient secret key of the wrong size.
    #[error("a recipient key is {RECIPIENT_KEY_LEN} bytes, got {0}")]
    KeyLength(usize),
    /// The key opening the envelope is not one of its recipients.
    #[error("this key is not a recipient of the sealed document")]
    NotARecipient,
    /// The sender's signature does not verify.
    #[error("the sender's signature does not verify")]
    BadSenderSignature,
    /// The signature is by another account than the one the envelope names.
    #[error("the sealed document names {claimed} as sender but was signed by {actual}")]
    SenderMismatch {
        /// The sender the envelope names.
        claimed: Address,
        /// The account whose key made the signature.
        actual: Address,
    },
    /// The content key or the payload does not decrypt: the recipient's entry
    /// or the payload was altered, or the sender sealed it wrongly.
    #[error("decryption failed: the sealed document was altered or sealed wrongly")]
    DecryptionFailed,
    /// The payload decrypts to a document whose hash is not the envelope's.
    #[error("the document does not match the sealed content hash")]
    ContentHashMismatch,
    /// The sender's ML-DSA-65 key failed to sign.
    #[error("signing failed: {0}")]
    Signing(PqError),
    /// The AEAD or the key derivation refused its input (cannot happen with valid sizes).
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
}

fn malformed(message: impl Into<String>) -> EnvelopeError {
    EnvelopeError::Malformed(message.into())
}

/// The signature scheme of the sender's account key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderScheme {
    /// secp256k1 (Ethereum accounts): a 65-byte recoverable signature.
    Secp256k1,
    /// ML-DSA-65 (dsec's post-quantum accounts): the public key and a 3,309-byte signature.
    MlDsa65,
}

impl SenderScheme {
    /// The scheme's number in the envelope.
    pub fn id(self) -> u8 {
        match self {
            SenderScheme::Secp256k1 => 1,
            SenderScheme::MlDsa65 => 2,
        }
    }

    /// The scheme numbered `id`.
    pub fn from_id(id: u8) -> Result<Self, EnvelopeError> {
        match id {
            1 => Ok(SenderScheme::Secp256k1),
            2 => Ok(SenderScheme::MlDsa65),
            other => Err(EnvelopeError::UnknownScheme(other)),
        }
    }

    /// The scheme's name, as `dsec keys new --scheme` takes it.
    pub fn name(self) -> &'static str {
        match self {
            SenderScheme::Secp256k1 => "secp256k1",
            SenderScheme::MlDsa65 => "ml-dsa-65",
        }
    }

    fn public_key_len(self) -> usize {
        match self {
            SenderScheme::Secp256k1 => 0,
            SenderScheme::MlDsa65 => MLDSA65_PUBLIC_KEY_LEN,
        }
    }

    fn signature_len(self) -> usize {
        match self {
            SenderScheme::Secp256k1 => SECP256K1_SIGNATURE_LEN,
            SenderScheme::MlDsa65 => MLDSA65_SIGNATURE_LEN,
        }
    }
}

/// The key id of a recipient public key:
/// `SHA-256("dsec/envelope/v1/keyid" ‖ mlkemPublicKey ‖ x25519PublicKey)`.
pub fn key_id(mlkem_public_key: &[u8], x25519_public_key: &[u8; X25519_KEY_LEN]) -> B256 {
    let mut hasher = Sha256::new();
    hasher.update(KEY_ID_DOMAIN);
    hasher.update(mlkem_public_key);
    hasher.update(x25519_public_key);
    B256::from_slice(&hasher.finalize())
}

/// The salted commitment to a document the envelope carries:
/// `SHA-256("dsec/envelope/v1/content" ‖ salt ‖ plaintext)`.
pub fn content_hash(salt: &B256, plaintext: &[u8]) -> B256 {
    let mut hasher = Sha256::new();
    hasher.update(CONTENT_DOMAIN);
    hasher.update(salt.as_slice());
    hasher.update(plaintext);
    B256::from_slice(&hasher.finalize())
}

/// Refuse an X25519 public key of small order: its shared secret with any
/// key is all zeros, so it would contribute nothing to the KEK. (A clamped
/// scalar is a multiple of the cofactor 8, so its product with a point of
/// order dividing 8 is the identity, and with any other point it is not.)
fn check_x25519_public(key: &[u8; X25519_KEY_LEN]) -> Result<(), EnvelopeError> {
    let probe = StaticSecret::from([0x5a; X25519_KEY_LEN]);
    if probe.diffie_hellman(&X25519PublicKey::from(*key)).was_contributory() {
        Ok(())
    } else {
        Err(EnvelopeError::InvalidRecipientKey("the X25519 key has small order".into()))
    }
}

/// The public key a document is sealed to: an ML-KEM-768 encapsulation key
/// and an X25519 public key. What a party publishes in the on-chain key
/// directory.
#[derive(Clone, PartialEq, Eq)]
pub struct RecipientPublicKey {
    mlkem: MlKem768PublicKey,
    x25519: [u8; X25519_KEY_LEN],
}

impl std::fmt::Debug for RecipientPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientPublicKey").field("key_id", &self.key_id()).finish_non_exhaustive()
    }
}

impl RecipientPublicKey {
    /// The key of these two halves; an X25519 key of small order is refused.
    pub fn new(mlkem: MlKem768PublicKey, x25519: [u8; X25519_KEY_LEN]) -> Result<Self, EnvelopeError> {
        check_x25519_public(&x25519)?;
        Ok(Self { mlkem, x25519 })
    }

    /// The key of a 1,184-byte ML-KEM-768 public key (checked as FIPS 203
    /// requires) and a 32-byte X25519 public key (refused if of small order).
    pub fn from_parts(mlkem: &[u8], x25519: &[u8; X25519_KEY_LEN]) -> Result<Self, EnvelopeError> {
        let mlkem = MlKem768PublicKey::from_bytes(mlkem)
            .map_err(|e| EnvelopeError::InvalidRecipientKey(format!("ML-KEM-768 key: {e}")))?;
        Self::new(mlkem, *x25519)
    }

    /// The key of its 1,216 bytes as [`RecipientPublicKey::to_bytes`] writes them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() != RECIPIENT_PUBLIC_KEY_LEN {
            return Err(EnvelopeError::InvalidRecipientKey(format!(
                "a recipient public key is {RECIPIENT_PUBLIC_KEY_LEN} bytes, got {}",
                bytes.len()
            )));
        }
        let (mlkem, x25519) = bytes.split_at(MLKEM768_PUBLIC_KEY_LEN);
        let x25519: &[u8; X25519_KEY_LEN] =
            x25519.try_into().map_err(|_| EnvelopeError::InvalidRecipientKey("X25519 key size".into()))?;
        Self::from_parts(mlkem, x25519)
    }

    /// The ML-KEM-768 public key, then the X25519 public key: 1,216 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECIPIENT_PUBLIC_KEY_LEN);
        out.extend_from_slice(self.mlkem.as_bytes());
        out.extend_from_slice(&self.x25519);
        out
    }

    /// The ML-KEM-768 half.
    pub fn mlkem(&self) -> &MlKem768PublicKey {
        &self.mlkem
    }

    /// The X25519 half.
    pub fn x25519(&self) -> &[u8; X25519_KEY_LEN] {
        &self.x25519
    }

    /// The key id envelopes name this key by (see [`key_id`]).
    pub fn key_id(&self) -> B256 {
        key_id(self.mlkem.as_bytes(), &self.x25519)
    }
}

/// A recipient's secret key: an ML-KEM-768 seed and an X25519 secret, both
/// wiped from memory when dropped.
pub struct RecipientKey {
    mlkem: MlKem768Key,
    x25519: StaticSecret,
    public: RecipientPublicKey,
}

impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientKey").field("key_id", &self.key_id()).finish_non_exhaustive()
    }
}

impl RecipientKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; RECIPIENT_KEY_LEN]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, bytes.as_mut());
        Self::from_array(&bytes)
    }

    /// The key of its 96 bytes: the ML-KEM-768 seed (64), then the X25519 secret (32).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let array: &[u8; RECIPIENT_KEY_LEN] = bytes.try_into().map_err(|_| EnvelopeError::KeyLength(bytes.len()))?;
        Ok(Self::from_array(array))
    }

    fn from_array(bytes: &[u8; RECIPIENT_KEY_LEN]) -> Self {
        let mut seed = Zeroizing::new([0u8; MLKEM_SEED_LEN]);
        seed.copy_from_slice(&bytes[..MLKEM_SEED_LEN]);
        let mut secret = Zeroizing::new([0u8; X25519_KEY_LEN]);
        secret.copy_from_slice(&bytes[MLKEM_SEED_LEN..]);
        let mlkem = MlKem768Key::from_seed(&seed);
        let x25519 = StaticSecret::from(*secret);
        // A clamped scalar times the base point is never of small order: no check needed.
        let public =
            RecipientPublicKey { mlkem: mlkem.public_key().clone(), x25519: X25519PublicKey::from(&x25519).to_bytes() };
        Self { mlkem, x25519, public }
    }

    /// Its 96 bytes, for a key file.
    pub fn to_bytes(&self) -> Zeroizing<[u8; RECIPIENT_KEY_LEN]> {
        let mut out = Zeroizing::new([0u8; RECIPIENT_KEY_LEN]);
        out[..MLKEM_SEED_LEN].copy_from_slice(self.mlkem.seed());
        out[MLKEM_SEED_LEN..].copy_from_slice(self.x25519.as_bytes());
        out
    }

    /// The public key, to publish.
    pub fn public_key(&self) -> &RecipientPublicKey {
        &self.public
    }

    /// The key id envelopes name this key by.
    pub fn key_id(&self) -> B256 {
        self.public.key_id()
    }

    /// The ML-KEM-768 shared secret of a ciphertext (libcrux).
    fn decapsulate(&self, ciphertext: &[u8]) -> Result<KemSecret, EnvelopeError> {
        self.mlkem.decapsulate(ciphertext).map_err(|_| EnvelopeError::DecryptionFailed)
    }
}

/// One recipient's entry in the header.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
struct RecipientEntry {
    key_id: B256,
    mlkem_ciphertext: Bytes,
    x25519_ephemeral: B256,
    wrapped_key: [u8; WRAPPED_KEY_LEN],
}

/// Everything but the payload and the signature; the payload's AAD and signed.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
struct EnvelopeHeader {
    sender: Address,
    scheme: u8,
    sender_public_key: Bytes,
    subject: B256,
    content_hash: B256,
    nonce: [u8; NONCE_LEN],
    recipients: Vec<RecipientEntry>,
}

impl EnvelopeHeader {
    /// The payload's associated data: `MAGIC ‖ VERSION ‖ rlp(header)`.
    fn aad(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + self.length());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        self.encode(&mut out);
        out
    }

    /// The digest the sender signs:
    /// `SHA-256("dsec/envelope/v1/sig" ‖ MAGIC ‖ VERSION ‖ rlp(header) ‖ ciphertext)`.
    fn signing_digest(&self, ciphertext: &[u8]) -> B256 {
        let mut hasher = Sha256::new();
        hasher.update(SIGNATURE_DOMAIN);
        hasher.update(self.aad());
        hasher.update(ciphertext);
        B256::from_slice(&hasher.finalize())
    }
}

/// AES-256-GCM encryption of `message`.
fn aead_encrypt(key: &[u8; 32], nonce: &[u8; NONCE_LEN], aad: &[u8], message: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| EnvelopeError::Crypto("AES-256-GCM key size"))?;
    cipher
        .encrypt(&Nonce::from(*nonce), Payload { msg: message, aad })
        .map_err(|_| EnvelopeError::Crypto("AES-256-GCM encryption"))
}

/// AES-256-GCM decryption of `ciphertext`; any failure is [`EnvelopeError::DecryptionFailed`].
fn aead_decrypt(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| EnvelopeError::Crypto("AES-256-GCM key size"))?;
    cipher
        .decrypt(&Nonce::from(*nonce), Payload { msg: ciphertext, aad })
        .map(Zeroizing::new)
        .map_err(|_| EnvelopeError::DecryptionFailed)
}

/// The key-encryption key of one recipient entry (see the module documentation).
fn derive_kek(
    mlkem_secret: &[u8; MLKEM_SHARED_SECRET_LEN],
    x25519_secret: &[u8; 32],
    mlkem_ciphertext: &[u8],
    x25519_ephemeral: &[u8; 32],
    key_id: &B256,
) -> Result<Zeroizing<[u8; 32]>, EnvelopeError> {
    let mut ikm = Zeroizing::new([0u8; MLKEM_SHARED_SECRET_LEN + 32]);
    ikm[..MLKEM_SHARED_SECRET_LEN].copy_from_slice(mlkem_secret);
    ikm[MLKEM_SHARED_SECRET_LEN..].copy_from_slice(x25519_secret);
    let hkdf = Hkdf::<Sha256>::new(None, ikm.as_slice());
    let mut kek = Zeroizing::new([0u8; 32]);
    hkdf.expand_multi_info(
        &[KEK_DOMAIN, mlkem_ciphertext, x25519_ephemeral.as_slice(), key_id.as_slice()],
        kek.as_mut_slice(),
    )
    .map_err(|_| EnvelopeError::Crypto("HKDF output length"))?;
    Ok(kek)
}

/// A sealed document: header, encrypted payload and sender signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    header: EnvelopeHeader,
    ciphertext: Bytes,
    signature: Bytes,
    scheme: SenderScheme,
    recipient_ids: Vec<B256>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("sender", &self.header.sender)
            .field("scheme", &self.scheme)
            .field("subject", &self.header.subject)
            .field("content_hash", &self.header.content_hash)
            .field("recipients", &self.recipient_ids)
            .field("payload_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// What a recipient learns by opening an envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct Opened {
    /// The document.
    pub plaintext: Vec<u8>,
    /// The salt of the content hash: with the plaintext, it proves to anyone
    /// that the document is the one sealed (and anchored).
    pub salt: B256,
    /// The sender, whose signature verified.
    pub sender: Address,
    /// The envelope's content hash, which the plaintext and salt match.
    pub content_hash: B256,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("plaintext_len", &self.plaintext.len())
            .field("sender", &self.sender)
            .field("content_hash", &self.content_hash)
            .finish_non_exhaustive()
    }
}

/// Seal `plaintext` to `recipients`, signed by `sender`, with no subject.
pub fn seal(
    plaintext: &[u8],
    recipients: &[RecipientPublicKey],
    sender: &AccountKey,
) -> Result<Envelope, EnvelopeError> {
    seal_about(plaintext, B256::ZERO, recipients, sender)
}

/// Seal `plaintext` about `subject` (a shipment id, an audit tenant id; zero
/// for none) to `recipients`, signed by `sender`. Recipients are listed in
/// the order given; the same key twice is refused.
pub fn seal_about(
    plaintext: &[u8],
    subject: B256,
    recipients: &[RecipientPublicKey],
    sender: &AccountKey,
) -> Result<Envelope, EnvelopeError> {
    seal_with(plaintext, subject, recipients, sender, |public: &MlKem768PublicKey| {
        public.encapsulate().map_err(|e| EnvelopeError::InvalidRecipientKey(format!("ML-KEM-768 key: {e}")))
    })
}

/// [`seal_about`] with the ML-KEM-768 encapsulation done by `encapsulate`
/// (the interoperability tests seal with RustCrypto's `ml-kem`).
pub(crate) fn seal_with<E>(
    plaintext: &[u8],
    subject: B256,
    recipients: &[RecipientPublicKey],
    sender: &AccountKey,
    encapsulate: E,
) -> Result<Envelope, EnvelopeError>
where
    E: FnMut(&MlKem768PublicKey) -> Result<Encapsulation, EnvelopeError>,
{
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(EnvelopeError::PlaintextTooLarge(plaintext.len()));
    }
    let mut salt = B256::ZERO;
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, salt.as_mut_slice());
    let hash = content_hash(&salt, plaintext);
    seal_inner(plaintext, &salt, hash, subject, recipients, sender, encapsulate)
}

/// Seal with a given salt and content hash (tests give a wrong hash to check
/// that recipients notice).
fn seal_inner<E>(
    plaintext: &[u8],
    salt: &B256,
    content_hash: B256,
    subject: B256,
    recipients: &[RecipientPublicKey],
    sender: &AccountKey,
    mut encapsulate: E,
) -> Result<Envelope, EnvelopeError>
where
    E: FnMut(&MlKem768PublicKey) -> Result<Encapsulation, EnvelopeError>,
{
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(EnvelopeError::PlaintextTooLarge(plaintext.len()));
    }
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(EnvelopeError::RecipientCount(recipients.len()));
    }
    let mut content_key = Zeroizing::new([0u8; CONTENT_KEY_LEN]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, content_key.as_mut());
    let mut nonce = [0u8; NONCE_LEN];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);

    let mut seen = HashSet::with_capacity(recipients.len());
    let mut entries = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let key_id = recipient.key_id();
        if !seen.insert(key_id) {
            return Err(EnvelopeError::DuplicateRecipient(key_id));
        }
        let (mlkem_ciphertext, mlkem_secret) = encapsulate(&recipient.mlkem)?;
        if mlkem_ciphertext.len() != MLKEM768_CIPHERTEXT_LEN {
            return Err(EnvelopeError::Crypto("ML-KEM-768 ciphertext size"));
        }
        let mut ephemeral_secret = Zeroizing::new([0u8; X25519_KEY_LEN]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, ephemeral_secret.as_mut());
        let ephemeral = StaticSecret::from(*ephemeral_secret);
        let ephemeral_public = X25519PublicKey::from(&ephemeral).to_bytes();
        let shared = ephemeral.diffie_hellman(&X25519PublicKey::from(recipient.x25519));
        if !shared.was_contributory() {
            return Err(EnvelopeError::InvalidRecipientKey("the X25519 key has small order".into()));
        }
        let kek = derive_kek(&mlkem_secret, shared.as_bytes(), &mlkem_ciphertext, &ephemeral_public, &key_id)?;
        // Each KEK is derived from fresh secrets and encrypts exactly one
        // message (this content key), so a fixed all-zero nonce never repeats under a key.
        let wrapped = aead_encrypt(&kek, &[0u8; NONCE_LEN], WRAP_AAD, content_key.as_slice())?;
        let wrapped_key: [u8; WRAPPED_KEY_LEN] =
            wrapped.try_into().map_err(|_| EnvelopeError::Crypto("wrapped key size"))?;
        entries.push(RecipientEntry {
            key_id,
            mlkem_ciphertext: mlkem_ciphertext.into(),
            x25519_ephemeral: B256::from(ephemeral_public),
            wrapped_key,
        });
    }

    let (scheme, sender_public_key) = match sender {
        AccountKey::Secp256k1(_) => (SenderScheme::Secp256k1, Bytes::new()),
        AccountKey::MlDsa65(key) => (SenderScheme::MlDsa65, Bytes::copy_from_slice(key.key().public_key().as_bytes())),
    };
    let header = EnvelopeHeader {
        sender: sender.address(),
        scheme: scheme.id(),
        sender_public_key,
        subject,
        content_hash,
        nonce,
        recipients: entries,
    };
    let mut padded = Zeroizing::new(Vec::with_capacity(SALT_LEN.saturating_add(plaintext.len())));
    padded.extend_from_slice(salt.as_slice());
    padded.extend_from_slice(plaintext);
    let ciphertext = aead_encrypt(&content_key, &nonce, &header.aad(), &padded)?;
    let signature = sign(&header, &ciphertext, sender)?;
    Envelope::from_parts(header, ciphertext.into(), signature)
}

/// The sender's signature over the header and payload.
fn sign(header: &EnvelopeHeader, ciphertext: &[u8], sender: &AccountKey) -> Result<Bytes, EnvelopeError> {
    let digest = header.signing_digest(ciphertext);
    match sender {
        AccountKey::Secp256k1(key) => {
            let signature = key.sign_prehash(&eip191_hash_message(digest.as_slice()));
            let mut out = [0u8; SECP256K1_SIGNATURE_LEN];
            out[..32].copy_from_slice(&signature.r().to_be_bytes::<32>());
            out[32..64].copy_from_slice(&signature.s().to_be_bytes::<32>());
            out[64] = 27 + u8::from(signature.v());
            Ok(Bytes::copy_from_slice(&out))
        }
        AccountKey::MlDsa65(key) => {
            key.key().sign(digest.as_slice(), MLDSA_CONTEXT).map(Bytes::from).map_err(EnvelopeError::Signing)
        }
    }
}

impl Envelope {
    /// An envelope of decoded (or freshly sealed) parts, every size checked.
    fn from_parts(header: EnvelopeHeader, ciphertext: Bytes, signature: Bytes) -> Result<Self, EnvelopeError> {
        let scheme = SenderScheme::from_id(header.scheme)?;
        if header.sender_public_key.len() != scheme.public_key_len() {
            return Err(malformed(format!(
                "a {} sender public key is {} bytes, got {}",
                scheme.name(),
                scheme.public_key_len(),
                header.sender_public_key.len()
            )));
        }
        if signature.len() != scheme.signature_len() {
            return Err(malformed(format!(
                "a {} signature is {} bytes, got {}",
                scheme.name(),
                scheme.signature_len(),
                signature.len()
            )));
        }
        let count = header.recipients.len();
        if count == 0 || count > MAX_RECIPIENTS {
            return Err(EnvelopeError::RecipientCount(count));
        }
        let mut recipient_ids = Vec::with_capacity(count);
        let mut seen = HashSet::with_capacity(count);
        for (i, entry) in header.recipients.iter().enumerate() {
            if entry.mlkem_ciphertext.len() != MLKEM768_CIPHERTEXT_LEN {
                return Err(malformed(format!(
                    "recipient {i}: an ML-KEM-768 ciphertext is {MLKEM768_CIPHERTEXT_LEN} bytes, got {}",
                    entry.mlkem_ciphertext.len()
                )));
            }
            if !seen.insert(entry.key_id) {
                return Err(EnvelopeError::DuplicateRecipient(entry.key_id));
            }
            recipient_ids.push(entry.key_id);
        }
        let overhead = SALT_LEN + TAG_LEN;
        if ciphertext.len() < overhead {
            return Err(malformed(format!("the payload is {} bytes, at least {overhead} expected", ciphertext.len())));
        }
        if ciphertext.len() - overhead > MAX_PLAINTEXT_LEN {
            return Err(EnvelopeError::PlaintextTooLarge(ciphertext.len() - overhead));
        }
        Ok(Self { header, ciphertext, signature, scheme, recipient_ids })
    }

    /// The envelope's bytes: `MAGIC ‖ VERSION ‖ rlp([header, ciphertext, signature])`.
    pub fn encode(&self) -> Vec<u8> {
        let payload_length = self.header.length() + self.ciphertext.length() + self.signature.length();
        let list = alloy_rlp::Header { list: true, payload_length };
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + list.length() + payload_length);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        list.encode(&mut out);
        self.header.encode(&mut out);
        self.ciphertext.encode(&mut out);
        self.signature.encode(&mut out);
        out
    }

    /// Decode an envelope, refusing anything but its one canonical encoding
    /// (see the module documentation). The signature is not checked here:
    /// [`Envelope::verify_sender`] and [`Envelope::open`] do.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENCODED_LEN {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(EnvelopeError::BadMagic)?;
        let (&version, mut body) = rest.split_first().ok_or_else(|| malformed("no version byte"))?;
        if version != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let rlp = |e: alloy_rlp::Error| malformed(e.to_string());
        let list = alloy_rlp::Header::decode(&mut body).map_err(rlp)?;
        if !list.list {
            return Err(malformed("the body is not an RLP list"));
        }
        if list.payload_length > body.len() {
            return Err(malformed(format!("truncated: {} of {} body bytes", body.len(), list.payload_length)));
        }
        if list.payload_length < body.len() {
            return Err(malformed(format!("{} trailing bytes", body.len() - list.payload_length)));
        }
        let header = EnvelopeHeader::decode(&mut body).map_err(rlp)?;
        let ciphertext = Bytes::decode(&mut body).map_err(rlp)?;
        let signature = Bytes::decode(&mut body).map_err(rlp)?;
        if !body.is_empty() {
            return Err(malformed(format!("{} bytes after the signature", body.len())));
        }
        let envelope = Self::from_parts(header, ciphertext, signature)?;
        // RLP has one encoding per value: re-encoding proves the input used it,
        // so equal contents always have equal bytes and an equal hash.
        if envelope.encode() != bytes {
            return Err(malformed("not in canonical RLP"));
        }
        Ok(envelope)
    }

    /// `keccak256` of the encoding: the id the chain anchors the document by.
    pub fn hash(&self) -> B256 {
        keccak256(self.encode())
    }

    /// The recipients' key ids, in the order sealed.
    pub fn recipients(&self) -> &[B256] {
        &self.recipient_ids
    }

    /// Whether the key with id `key_id` is a recipient.
    pub fn is_recipient(&self, key_id: &B256) -> bool {
        self.recipient_ids.contains(key_id)
    }

    /// The salted hash of the document (see [`content_hash`]).
    pub fn content_hash(&self) -> B256 {
        self.header.content_hash
    }

    /// What the document is about (zero: nothing named).
    pub fn subject(&self) -> B256 {
        self.header.subject
    }

    /// The sender the envelope names, not yet verified: see [`Envelope::verify_sender`].
    pub fn claimed_sender(&self) -> Address {
        self.header.sender
    }

    /// The sender's signature scheme.
    pub fn scheme(&self) -> SenderScheme {
        self.scheme
    }

    /// Bytes of the document inside (the payload less the salt and the tag).
    pub fn plaintext_len(&self) -> usize {
        self.ciphertext.len().saturating_sub(SALT_LEN + TAG_LEN)
    }

    /// Check the sender's signature with no secret: the verified sender.
    pub fn verify_sender(&self) -> Result<Address, EnvelopeError> {
        let digest = self.header.signing_digest(&self.ciphertext);
        let claimed = self.header.sender;
        let actual = match self.scheme {
            SenderScheme::Secp256k1 => {
                let raw = <&[u8; SECP256K1_SIGNATURE_LEN]>::try_from(&self.signature[..])
                    .map_err(|_| EnvelopeError::BadSenderSignature)?;
                // Only 27 and 28: any other `v` (0, 1, EIP-155 values) would be
                // a second encoding of the same signature.
                let parity = match raw[64] {
                    27 => false,
                    28 => true,
                    _ => return Err(EnvelopeError::BadSenderSignature),
                };
                let signature =
                    Signature::new(U256::from_be_slice(&raw[..32]), U256::from_be_slice(&raw[32..64]), parity);
                recover_prehash(&eip191_hash_message(digest.as_slice()), &signature)
                    .map_err(|_| EnvelopeError::BadSenderSignature)?
            }
            SenderScheme::MlDsa65 => {
                let key = MlDsa65PublicKey::from_bytes(&self.header.sender_public_key)
                    .map_err(|_| EnvelopeError::BadSenderSignature)?;
                let owner = ml_dsa_address(key.as_bytes());
                if owner != claimed {
                    return Err(EnvelopeError::SenderMismatch { claimed, actual: owner });
                }
                key.verify(digest.as_slice(), MLDSA_CONTEXT, &self.signature)
                    .map_err(|_| EnvelopeError::BadSenderSignature)?;
                owner
            }
        };
        if actual != claimed {
            return Err(EnvelopeError::SenderMismatch { claimed, actual });
        }
        Ok(actual)
    }

    /// Open the envelope with a recipient's key: the sender's signature is
    /// checked first, then the key's entry is found by key id, the content
    /// key unwrapped, the payload decrypted and the plaintext checked against
    /// the content hash.
    pub fn open(&self, key: &RecipientKey) -> Result<Opened, EnvelopeError> {
        self.open_with(key, |ciphertext: &[u8]| key.decapsulate(ciphertext))
    }

    /// [`Envelope::open`] with the ML-KEM-768 decapsulation done by
    /// `decapsulate` (the interoperability tests open with RustCrypto's `ml-kem`).
    pub(crate) fn open_with<D>(&self, key: &RecipientKey, decapsulate: D) -> Result<Opened, EnvelopeError>
    where
        D: FnOnce(&[u8]) -> Result<KemSecret, EnvelopeError>,
    {
        let sender = self.verify_sender()?;
        let key_id = key.key_id();
        let entry = self.header.recipients.iter().find(|e| e.key_id == key_id).ok_or(EnvelopeError::NotARecipient)?;
        let mlkem_secret = decapsulate(&entry.mlkem_ciphertext[..])?;
        let shared = key.x25519.diffie_hellman(&X25519PublicKey::from(entry.x25519_ephemeral.0));
        if !shared.was_contributory() {
            return Err(EnvelopeError::DecryptionFailed);
        }
        let kek =
            derive_kek(&mlkem_secret, shared.as_bytes(), &entry.mlkem_ciphertext, &entry.x25519_ephemeral.0, &key_id)?;
        let unwrapped = aead_decrypt(&kek, &[0u8; NONCE_LEN], WRAP_AAD, &entry.wrapped_key)?;
        let mut content_key = Zeroizing::new([0u8; CONTENT_KEY_LEN]);
        if unwrapped.len() != CONTENT_KEY_LEN {
            return Err(EnvelopeError::DecryptionFailed);
        }
        content_key.copy_from_slice(&unwrapped);
        let padded = aead_decrypt(&content_key, &self.header.nonce, &self.header.aad(), &self.ciphertext)?;
        let (salt, plaintext) = padded.split_at_checked(SALT_LEN).ok_or(EnvelopeError::DecryptionFailed)?;
        let salt = B256::from_slice(salt);
        if content_hash(&salt, plaintext) != self.header.content_hash {
            return Err(EnvelopeError::ContentHashMismatch);
        }
        Ok(Opened { plaintext: plaintext.to_vec(), salt, sender, content_hash: self.header.content_hash })
    }
}

#[cfg(test)]
mod tests;
