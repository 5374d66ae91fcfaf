//! Post-quantum primitives behind one small interface: ML-DSA-65 signatures
//! (FIPS 204) and ML-KEM-768 key encapsulation (FIPS 203).
//!
//! The implementation is Cryspen's libcrux (`libcrux-ml-dsa`,
//! `libcrux-ml-kem`, pinned exactly: portable Rust, AVX2 chosen at run time,
//! parts formally verified). Callers use [`MlDsa65Key`], [`MlDsa65PublicKey`],
//! [`MlKem768Key`] and [`MlKem768PublicKey`], which work on bytes through the
//! [`Backend`] trait, so the backend can change without touching them. The
//! test suite runs the Wycheproof vectors of both algorithms against the
//! backend and cross-checks it with RustCrypto's `ml-dsa`/`ml-kem`.
//!
//! Keys are derived from seeds (32 bytes for ML-DSA, ξ; 64 bytes for ML-KEM,
//! d ‖ z), the compact form FIPS 204/203 define, which is what a key file
//! stores; seeds are wiped from memory when dropped.

use zeroize::Zeroizing;

/// Bytes of an ML-DSA-65 public (verification) key.
pub const MLDSA65_PUBLIC_KEY_LEN: usize = 1952;
/// Bytes of an ML-DSA-65 signature.
pub const MLDSA65_SIGNATURE_LEN: usize = 3309;
/// Bytes of an ML-DSA key-generation seed (ξ).
pub const MLDSA_SEED_LEN: usize = 32;
/// Longest ML-DSA context string, bytes.
pub const MLDSA_MAX_CONTEXT_LEN: usize = 255;
/// Bytes of an ML-KEM-768 public (encapsulation) key.
pub const MLKEM768_PUBLIC_KEY_LEN: usize = 1184;
/// Bytes of an ML-KEM-768 ciphertext.
pub const MLKEM768_CIPHERTEXT_LEN: usize = 1088;
/// Bytes of an ML-KEM key-generation seed (d ‖ z).
pub const MLKEM_SEED_LEN: usize = 64;
/// Bytes of an ML-KEM shared secret.
pub const MLKEM_SHARED_SECRET_LEN: usize = 32;

/// Why a post-quantum operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PqError {
    /// A key, signature or ciphertext of the wrong size.
    #[error("{what} must be {expected} bytes, got {got}")]
    Length {
        /// What was given.
        what: &'static str,
        /// Its size.
        expected: usize,
        /// The size given.
        got: usize,
    },
    /// An ML-DSA context string longer than 255 bytes.
    #[error("ML-DSA context is {0} bytes; at most 255 allowed")]
    ContextTooLong(usize),
    /// The signature does not verify.
    #[error("ML-DSA-65 signature does not verify")]
    BadSignature,
    /// An ML-KEM public key whose coefficients are not reduced (FIPS 203 §7.2 modulus check).
    #[error("not a valid ML-KEM-768 public key")]
    InvalidKemKey,
    /// The backend refused to sign (it retries internally; this should not happen).
    #[error("ML-DSA-65 signing failed")]
    Signing,
}

fn length(what: &'static str, expected: usize, got: usize) -> Result<(), PqError> {
    if expected == got { Ok(()) } else { Err(PqError::Length { what, expected, got }) }
}

/// What an implementation of the two algorithms provides, on bytes. Every
/// method checks its input sizes; [`Libcrux`] is the one in use.
pub trait Backend {
    /// The ML-DSA-65 key pair of `seed`: the public key and the expanded signing key.
    fn mldsa65_keypair(seed: &[u8; MLDSA_SEED_LEN]) -> (Vec<u8>, Zeroizing<Vec<u8>>);
    /// Sign `message` under `context` with an expanded signing key and 32 bytes of
    /// randomness (all zero: the deterministic variant).
    fn mldsa65_sign(
        signing_key: &[u8],
        message: &[u8],
        context: &[u8],
        randomness: [u8; 32],
    ) -> Result<Vec<u8>, PqError>;
    /// Verify an ML-DSA-65 signature.
    fn mldsa65_verify(public_key: &[u8], message: &[u8], context: &[u8], signature: &[u8]) -> Result<(), PqError>;
    /// The ML-KEM-768 key pair of `seed`: the public key and the decapsulation key.
    fn mlkem768_keypair(seed: &[u8; MLKEM_SEED_LEN]) -> (Vec<u8>, Zeroizing<Vec<u8>>);
    /// Encapsulate to a public key (checked first) with 32 bytes of randomness:
    /// the ciphertext and the shared secret.
    fn mlkem768_encapsulate(
        public_key: &[u8],
        randomness: [u8; 32],
    ) -> Result<(Vec<u8>, Zeroizing<[u8; MLKEM_SHARED_SECRET_LEN]>), PqError>;
    /// Decapsulate a ciphertext with a decapsulation key (implicit rejection:
    /// a tampered ciphertext gives an unrelated secret, not an error).
    fn mlkem768_decapsulate(
        decapsulation_key: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<[u8; MLKEM_SHARED_SECRET_LEN]>, PqError>;
}

/// Cryspen's libcrux.
#[derive(Debug, Clone, Copy, Default)]
pub struct Libcrux;

/// The backend dsec uses.
pub type DefaultBackend = Libcrux;

impl Backend for Libcrux {
    fn mldsa65_keypair(seed: &[u8; MLDSA_SEED_LEN]) -> (Vec<u8>, Zeroizing<Vec<u8>>) {
        let pair = libcrux_ml_dsa::ml_dsa_65::generate_key_pair(*seed);
        (pair.verification_key.as_slice().to_vec(), Zeroizing::new(pair.signing_key.as_slice().to_vec()))
    }

    fn mldsa65_sign(
        signing_key: &[u8],
        message: &[u8],
        context: &[u8],
        randomness: [u8; 32],
    ) -> Result<Vec<u8>, PqError> {
        use libcrux_ml_dsa::ml_dsa_65::MLDSA65SigningKey;
        let bytes: &[u8; 4032] = signing_key.try_into().map_err(|_| PqError::Length {
            what: "ML-DSA-65 signing key",
            expected: 4032,
            got: signing_key.len(),
        })?;
        if context.len() > MLDSA_MAX_CONTEXT_LEN {
            return Err(PqError::ContextTooLong(context.len()));
        }
        // libcrux's key types do not wipe themselves; this copy lives for one signature.
        let key = MLDSA65SigningKey::new(*bytes);
        libcrux_ml_dsa::ml_dsa_65::sign(&key, message, context, randomness)
            .map(|s| s.as_slice().to_vec())
            .map_err(|_| PqError::Signing)
    }

    fn mldsa65_verify(public_key: &[u8], message: &[u8], context: &[u8], signature: &[u8]) -> Result<(), PqError> {
        use libcrux_ml_dsa::ml_dsa_65::{MLDSA65Signature, MLDSA65VerificationKey};
        length("ML-DSA-65 public key", MLDSA65_PUBLIC_KEY_LEN, public_key.len())?;
        length("ML-DSA-65 signature", MLDSA65_SIGNATURE_LEN, signature.len())?;
        if context.len() > MLDSA_MAX_CONTEXT_LEN {
            return Err(PqError::ContextTooLong(context.len()));
        }
        let mut key = [0u8; MLDSA65_PUBLIC_KEY_LEN];
        key.copy_from_slice(public_key);
        let mut sig = [0u8; MLDSA65_SIGNATURE_LEN];
        sig.copy_from_slice(signature);
        libcrux_ml_dsa::ml_dsa_65::verify(
            &MLDSA65VerificationKey::new(key),
            message,
            context,
            &MLDSA65Signature::new(sig),
        )
        .map_err(|_| PqError::BadSignature)
    }

    fn mlkem768_keypair(seed: &[u8; MLKEM_SEED_LEN]) -> (Vec<u8>, Zeroizing<Vec<u8>>) {
        let pair = libcrux_ml_kem::mlkem768::generate_key_pair(*seed);
        (pair.public_key().as_slice().to_vec(), Zeroizing::new(pair.private_key().as_slice().to_vec()))
    }

    fn mlkem768_encapsulate(
        public_key: &[u8],
        randomness: [u8; 32],
    ) -> Result<(Vec<u8>, Zeroizing<[u8; MLKEM_SHARED_SECRET_LEN]>), PqError> {
        use libcrux_ml_kem::mlkem768::MlKem768PublicKey;
        length("ML-KEM-768 public key", MLKEM768_PUBLIC_KEY_LEN, public_key.len())?;
        let key = MlKem768PublicKey::try_from(public_key).map_err(|_| PqError::InvalidKemKey)?;
        // libcrux's encapsulate does not check the modulus: check first.
        if !libcrux_ml_kem::mlkem768::validate_public_key(&key) {
            return Err(PqError::InvalidKemKey);
        }
        let (ciphertext, secret) = libcrux_ml_kem::mlkem768::encapsulate(&key, randomness);
        Ok((ciphertext.as_slice().to_vec(), Zeroizing::new(secret)))
    }

    fn mlkem768_decapsulate(
        decapsulation_key: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<[u8; MLKEM_SHARED_SECRET_LEN]>, PqError> {
        use libcrux_ml_kem::mlkem768::{MlKem768Ciphertext, MlKem768PrivateKey};
        length("ML-KEM-768 decapsulation key", 2400, decapsulation_key.len())?;
        length("ML-KEM-768 ciphertext", MLKEM768_CIPHERTEXT_LEN, ciphertext.len())?;
        let key = MlKem768PrivateKey::try_from(decapsulation_key).map_err(|_| PqError::InvalidKemKey)?;
        let ct = MlKem768Ciphertext::try_from(ciphertext).map_err(|_| PqError::InvalidKemKey)?;
        Ok(Zeroizing::new(libcrux_ml_kem::mlkem768::decapsulate(&key, &ct)))
    }
}

/// An ML-DSA-65 key: its seed (what a key file stores), public key and expanded signing key.
pub struct MlDsa65Key {
    seed: Zeroizing<[u8; MLDSA_SEED_LEN]>,
    public: MlDsa65PublicKey,
    signing: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for MlDsa65Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlDsa65Key").field("public", &self.public).finish_non_exhaustive()
    }
}

impl MlDsa65Key {
    /// The key of `seed` (FIPS 204 ξ).
    pub fn from_seed(seed: &[u8; MLDSA_SEED_LEN]) -> Self {
        let (public, signing) = DefaultBackend::mldsa65_keypair(seed);
        Self { seed: Zeroizing::new(*seed), public: MlDsa65PublicKey(public), signing }
    }

    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; MLDSA_SEED_LEN]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The seed, for a key file.
    pub fn seed(&self) -> &[u8; MLDSA_SEED_LEN] {
        &self.seed
    }

    /// The public key.
    pub fn public_key(&self) -> &MlDsa65PublicKey {
        &self.public
    }

    /// Sign `message` under `context` (hedged: fresh randomness per signature, as FIPS 204 recommends).
    pub fn sign(&self, message: &[u8], context: &[u8]) -> Result<Vec<u8>, PqError> {
        let mut randomness = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut randomness);
        DefaultBackend::mldsa65_sign(&self.signing, message, context, randomness)
    }

    /// Sign deterministically (the same signature every time; for tests and vectors).
    pub fn sign_deterministic(&self, message: &[u8], context: &[u8]) -> Result<Vec<u8>, PqError> {
        DefaultBackend::mldsa65_sign(&self.signing, message, context, [0; 32])
    }
}

/// An ML-DSA-65 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct MlDsa65PublicKey(Vec<u8>);

impl std::fmt::Debug for MlDsa65PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlDsa65PublicKey(0x{}…)", alloy_primitives::hex::encode(&self.0[..8.min(self.0.len())]))
    }
}

impl MlDsa65PublicKey {
    /// A public key from its 1,952 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PqError> {
        length("ML-DSA-65 public key", MLDSA65_PUBLIC_KEY_LEN, bytes.len())?;
        Ok(Self(bytes.to_vec()))
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Verify `signature` over `message` under `context`.
    pub fn verify(&self, message: &[u8], context: &[u8], signature: &[u8]) -> Result<(), PqError> {
        DefaultBackend::mldsa65_verify(&self.0, message, context, signature)
    }
}

/// An ML-KEM-768 key: its seed and decapsulation key.
pub struct MlKem768Key {
    seed: Zeroizing<[u8; MLKEM_SEED_LEN]>,
    public: MlKem768PublicKey,
    decapsulation: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for MlKem768Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlKem768Key").finish_non_exhaustive()
    }
}

impl MlKem768Key {
    /// The key of `seed` (FIPS 203 d ‖ z).
    pub fn from_seed(seed: &[u8; MLKEM_SEED_LEN]) -> Self {
        let (public, decapsulation) = DefaultBackend::mlkem768_keypair(seed);
        Self { seed: Zeroizing::new(*seed), public: MlKem768PublicKey(public), decapsulation }
    }

    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; MLKEM_SEED_LEN]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The seed, for a key file.
    pub fn seed(&self) -> &[u8; MLKEM_SEED_LEN] {
        &self.seed
    }

    /// The public key.
    pub fn public_key(&self) -> &MlKem768PublicKey {
        &self.public
    }

    /// The shared secret of a ciphertext encapsulated to this key.
    pub fn decapsulate(&self, ciphertext: &[u8]) -> Result<Zeroizing<[u8; MLKEM_SHARED_SECRET_LEN]>, PqError> {
        DefaultBackend::mlkem768_decapsulate(&self.decapsulation, ciphertext)
    }
}

/// An ML-KEM-768 public key, checked when parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct MlKem768PublicKey(Vec<u8>);

impl std::fmt::Debug for MlKem768PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MlKem768PublicKey(0x{}…)", alloy_primitives::hex::encode(&self.0[..8.min(self.0.len())]))
    }
}

impl MlKem768PublicKey {
    /// A public key from its 1,184 bytes, refused unless its coefficients are reduced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PqError> {
        length("ML-KEM-768 public key", MLKEM768_PUBLIC_KEY_LEN, bytes.len())?;
        let key = libcrux_ml_kem::mlkem768::MlKem768PublicKey::try_from(bytes).map_err(|_| PqError::InvalidKemKey)?;
        if !libcrux_ml_kem::mlkem768::validate_public_key(&key) {
            return Err(PqError::InvalidKemKey);
        }
        Ok(Self(bytes.to_vec()))
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Encapsulate a fresh shared secret to this key: the ciphertext and the secret.
    pub fn encapsulate(&self) -> Result<(Vec<u8>, Zeroizing<[u8; MLKEM_SHARED_SECRET_LEN]>), PqError> {
        let mut randomness = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut randomness);
        DefaultBackend::mlkem768_encapsulate(&self.0, randomness)
    }
}

/// The ML-DSA-65 verification precompile: lets Solidity contracts and
/// chaincode flows check post-quantum signatures (a smart account, an escrow
/// released by a customs officer's ML-DSA signature).
///
/// Called with the ABI of [`IMlDsa65::verifyCall`], from Solidity as
/// `IMlDsa65(0x…da5ec101).verify(publicKey, message, context, signature)`.
/// It returns `true` when the signature verifies, `false` when it does not
/// (a signature of the wrong size included), and reverts with a reason for
/// input that is a caller's mistake: calldata that is not the ABI of
/// `verify`, a public key that is not 1,952 bytes, a context over 255 bytes.
///
/// Gas: [`BASE_GAS`] plus [`WORD_GAS`] per 32-byte word of message and
/// context. The base is the measured verification time priced as this
/// machine prices `ecrecover`: 3,000 gas for a 43 µs libsecp256k1 recovery,
/// against 107 µs for an ML-DSA-65 verification (test `pq_speed`); the words
/// pay for hashing the message, at SHA-256's rate.
pub mod precompile {
    use alloy_primitives::{Address, address};

    /// Address of the precompile, beside the chaincode modules (`0x…da5ec0NN`).
    pub const ADDRESS: Address = address!("0x00000000000000000000000000000000da5ec101");
    /// Gas of one verification.
    pub const BASE_GAS: u64 = 7_500;
    /// Gas per 32-byte word of message and context.
    pub const WORD_GAS: u64 = 12;

    alloy::sol! {
        /// The ML-DSA-65 verification precompile at `0x…da5ec101`.
        interface IMlDsa65 {
            /// Whether `signature` is `publicKey`'s ML-DSA-65 signature of `message` under `context`.
            function verify(bytes publicKey, bytes message, bytes context, bytes signature)
                external view returns (bool valid);
        }
    }

    /// The gas a verification of a `message_len`-byte message under a
    /// `context_len`-byte context costs.
    pub fn gas(message_len: usize, context_len: usize) -> u64 {
        let words = (message_len as u64).div_ceil(32).saturating_add((context_len as u64).div_ceil(32));
        BASE_GAS.saturating_add(WORD_GAS.saturating_mul(words))
    }
}

#[cfg(test)]
mod tests;
