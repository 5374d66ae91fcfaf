//! Validators, validator sets and the verification of commit certificates.
//!
//! A validator is identified by the address derived from its ed25519 consensus
//! key (`keccak256(public_key)[12..]`). Certificates are verified with one
//! verifier everywhere (ed25519-dalek's strict verification), so every node and
//! every offline checker accepts exactly the same signatures.
//!
//! A chain whose genesis sets `consensusSignatures: "ed25519+ml-dsa-65"`
//! gives every validator an ML-DSA-65 key beside its ed25519 key: each
//! member of its sets carries both public keys, every consensus signature
//! has both halves, and a signature counts only if both verify (FIPS 204,
//! under the context [`CONSENSUS_ML_DSA_CONTEXT`]). A record finalised by
//! such a chain stays unforgeable for an adversary who breaks ed25519 later.

use crate::block::{CommitCertificate, CommitSignature};
use crate::pq::{MlDsa65Key, MlDsa65PublicKey};
use alloy_primitives::{Address, B256, Bytes, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::collections::HashSet;
use std::sync::Arc;

/// The FIPS 204 context string of every ML-DSA-65 consensus signature (votes,
/// proposals, proposal parts, certificates, validator proofs, governance approvals).
pub const CONSENSUS_ML_DSA_CONTEXT: &[u8] = b"dsec/consensus/v1";

/// Verify the ML-DSA-65 half of a hybrid consensus signature.
/// (The backend checks both lengths; the key is not copied into an owned type first.)
pub fn verify_ml_dsa(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use crate::pq::{Backend, DefaultBackend};
    DefaultBackend::mldsa65_verify(public_key, message, CONSENSUS_ML_DSA_CONTEXT, signature).is_ok()
}

/// Most members a validator set may have (genesis and governance changes).
pub const MAX_VALIDATORS: usize = 150;
/// Largest total voting power of a set (quorum arithmetic never overflows).
pub const MAX_TOTAL_POWER: u64 = 1 << 60;

/// The address of a validator: the last 20 bytes of keccak-256 of its ed25519 public key.
pub fn validator_address(public_key: &[u8; 32]) -> Address {
    Address::from_slice(&keccak256(public_key)[12..])
}

/// One member of a validator set.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
#[rlp(trailing)]
pub struct Validator {
    /// Address derived from the public key.
    pub address: Address,
    /// ed25519 public key used to sign consensus messages.
    pub public_key: B256,
    /// Voting power (weight in quorums and proposer selection).
    pub power: u64,
    /// ML-DSA-65 public key (1,952 bytes) on a hybrid chain, `None` on an
    /// ed25519 chain (and then absent from the encoding, so the set hashes
    /// as it always did).
    pub ml_dsa_public_key: Option<Bytes>,
}

/// A validator set, sorted by address.
#[derive(Debug, Clone, PartialEq, Eq, Default, RlpEncodable, RlpDecodable)]
pub struct ValidatorSet {
    /// Members, sorted by address, with distinct addresses.
    pub validators: Vec<Validator>,
}

/// Why a certificate or validator set was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    /// The certificate is for another block or height than the one checked.
    #[error(
        "certificate is for block {found} at height {found_height}, expected {expected} at height {expected_height}"
    )]
    WrongBlock {
        /// Hash the certificate commits to.
        found: B256,
        /// Height the certificate commits to.
        found_height: u64,
        /// Hash that was expected.
        expected: B256,
        /// Height that was expected.
        expected_height: u64,
    },
    /// A signer is not in the validator set.
    #[error("signer {0} is not a validator at this height")]
    UnknownSigner(Address),
    /// The same validator signed twice.
    #[error("validator {0} signed twice")]
    DuplicateSigner(Address),
    /// A signature does not verify.
    #[error("invalid signature from validator {0}")]
    BadSignature(Address),
    /// A validator of a hybrid set signed without its ML-DSA-65 half.
    #[error("validator {0} signed without the ML-DSA-65 signature its set requires")]
    MissingMlDsaSignature(Address),
    /// The ML-DSA-65 half of a signature does not verify.
    #[error("invalid ML-DSA-65 signature from validator {0}")]
    BadMlDsaSignature(Address),
    /// An ML-DSA-65 signature from a validator that has no ML-DSA-65 key.
    #[error("validator {0} has no ML-DSA-65 key but its signature carries one")]
    UnexpectedMlDsaSignature(Address),
    /// The signers hold two thirds of the power or less.
    #[error("signers hold {signed} of {total} voting power, need more than two thirds")]
    NoQuorum {
        /// Power of the valid signers.
        signed: u64,
        /// Total power of the set.
        total: u64,
    },
}

impl ValidatorSet {
    /// Build a set from members in any order (sorted by address here).
    pub fn new(mut validators: Vec<Validator>) -> Self {
        validators.sort_by_key(|v| v.address);
        Self { validators }
    }

    /// Sum of the voting power of all members.
    pub fn total_power(&self) -> u64 {
        self.validators.iter().map(|v| v.power).fold(0u64, u64::saturating_add)
    }

    /// Whether `power` is more than two thirds of the total.
    pub fn is_quorum(&self, power: u64) -> bool {
        (power as u128) * 3 > (self.total_power() as u128) * 2
    }

    /// The member with this address.
    pub fn get(&self, address: &Address) -> Option<&Validator> {
        self.validators.binary_search_by(|v| v.address.cmp(address)).ok().map(|i| &self.validators[i])
    }

    /// keccak-256 of the RLP encoding of the set (what headers commit to).
    pub fn hash(&self) -> B256 {
        keccak256(alloy_rlp::encode(self))
    }

    /// Check that `cert` proves that `block_hash` was decided at `height` by this set
    /// on the chain whose genesis hash is `chain_hash`.
    pub fn verify_certificate(
        &self,
        chain_hash: &B256,
        height: u64,
        block_hash: &B256,
        cert: &CommitCertificate,
    ) -> Result<(), CertificateError> {
        if cert.height != height || cert.block_hash != *block_hash {
            return Err(CertificateError::WrongBlock {
                found: cert.block_hash,
                found_height: cert.height,
                expected: *block_hash,
                expected_height: height,
            });
        }
        let message = CommitCertificate::signing_bytes(chain_hash, cert.height, cert.round, &cert.block_hash);
        let mut seen = HashSet::with_capacity(cert.signatures.len());
        let mut signed: u64 = 0;
        for sig in &cert.signatures {
            let validator = self.get(&sig.validator).ok_or(CertificateError::UnknownSigner(sig.validator))?;
            if !seen.insert(sig.validator) {
                return Err(CertificateError::DuplicateSigner(sig.validator));
            }
            let key = VerifyingKey::from_bytes(&validator.public_key.0)
                .map_err(|_| CertificateError::BadSignature(sig.validator))?;
            let signature =
                Signature::from_slice(&sig.signature).map_err(|_| CertificateError::BadSignature(sig.validator))?;
            key.verify_strict(&message, &signature).map_err(|_| CertificateError::BadSignature(sig.validator))?;
            match (&validator.ml_dsa_public_key, &sig.ml_dsa_signature) {
                (None, None) => {}
                (Some(_), None) => return Err(CertificateError::MissingMlDsaSignature(sig.validator)),
                (None, Some(_)) => return Err(CertificateError::UnexpectedMlDsaSignature(sig.validator)),
                (Some(key), Some(signature)) => {
                    if !verify_ml_dsa(key, &message, signature) {
                        return Err(CertificateError::BadMlDsaSignature(sig.validator));
                    }
                }
            }
            signed = signed.saturating_add(validator.power);
        }
        if !self.is_quorum(signed) {
            return Err(CertificateError::NoQuorum { signed, total: self.total_power() });
        }
        Ok(())
    }
}

/// Why a validator's signer could not sign (a token removed, a session lost,
/// a PIN locked): the node logs it and skips that vote or proposal; the
/// round moves on without it, as if the validator were briefly offline.
#[derive(Debug, thiserror::Error)]
#[error("validator signer {signer}: {message}")]
pub struct SignerError {
    /// Which signer failed (a PKCS#11 URI without its PIN, or "local key").
    pub signer: String,
    /// What went wrong.
    pub message: String,
}

/// Signs with a validator's ed25519 consensus key wherever the key is kept:
/// in memory ([`ValidatorKey`], read from a key file) or in a PKCS#11 token
/// ([`crate::hsm::Pkcs11Key`]) that never lets it out. Consensus, the
/// single-validator sealer and validator proofs sign only through this.
pub trait ValidatorSigner: Send + Sync + std::fmt::Debug {
    /// The ed25519 public key.
    fn public_key(&self) -> B256;

    /// Sign `message` (pure ed25519, RFC 8032).
    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError>;

    /// The 32-byte seed when the key is in memory (a libp2p identity can be
    /// derived from it); `None` for a key that never leaves its token.
    fn seed(&self) -> Option<[u8; 32]>;

    /// The validator address of the key.
    fn address(&self) -> Address {
        validator_address(&self.public_key().0)
    }

    /// The ML-DSA-65 public key of a hybrid validator (`None`: ed25519 only).
    fn ml_dsa_public_key(&self) -> Option<&MlDsa65PublicKey> {
        None
    }

    /// Sign `message` with the ML-DSA-65 half under [`CONSENSUS_ML_DSA_CONTEXT`]
    /// (`None` when the signer has no ML-DSA-65 key).
    fn try_sign_ml_dsa(&self, _message: &[u8]) -> Result<Option<Vec<u8>>, SignerError> {
        Ok(None)
    }

    /// Both halves of a consensus signature over `message`: ed25519, and
    /// ML-DSA-65 when the signer is hybrid.
    fn sign_consensus(&self, message: &[u8]) -> Result<ConsensusSignature, SignerError> {
        Ok(ConsensusSignature { ed25519: self.try_sign(message)?, ml_dsa: self.try_sign_ml_dsa(message)? })
    }
}

/// A consensus signature: ed25519, plus ML-DSA-65 on a hybrid chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsensusSignature {
    /// The ed25519 half (64 bytes).
    pub ed25519: [u8; 64],
    /// The ML-DSA-65 half (3,309 bytes), on a hybrid chain.
    pub ml_dsa: Option<Vec<u8>>,
}

impl ConsensusSignature {
    /// This signature of a precommit as `validator`'s entry in a commit certificate.
    pub fn into_commit_signature(self, validator: Address) -> CommitSignature {
        CommitSignature {
            validator,
            signature: self.ed25519.to_vec().into(),
            ml_dsa_signature: self.ml_dsa.map(Into::into),
        }
    }
}

/// A validator whose ed25519 key is kept elsewhere (a PKCS#11 token) and
/// whose ML-DSA-65 key is held in memory: tokens do not hold ML-DSA keys yet.
#[derive(Debug)]
pub struct HybridSigner {
    ed25519: Arc<dyn ValidatorSigner>,
    ml_dsa: MlDsa65Key,
}

impl HybridSigner {
    /// Pair `ed25519` with the ML-DSA-65 key `ml_dsa`.
    pub fn new(ed25519: Arc<dyn ValidatorSigner>, ml_dsa: MlDsa65Key) -> Self {
        Self { ed25519, ml_dsa }
    }
}

impl ValidatorSigner for HybridSigner {
    fn public_key(&self) -> B256 {
        self.ed25519.public_key()
    }

    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
        self.ed25519.try_sign(message)
    }

    fn seed(&self) -> Option<[u8; 32]> {
        self.ed25519.seed()
    }

    fn ml_dsa_public_key(&self) -> Option<&MlDsa65PublicKey> {
        Some(self.ml_dsa.public_key())
    }

    fn try_sign_ml_dsa(&self, message: &[u8]) -> Result<Option<Vec<u8>>, SignerError> {
        sign_ml_dsa(&self.ml_dsa, message).map(Some)
    }
}

fn sign_ml_dsa(key: &MlDsa65Key, message: &[u8]) -> Result<Vec<u8>, SignerError> {
    key.sign(message, CONSENSUS_ML_DSA_CONTEXT)
        .map_err(|e| SignerError { signer: "ML-DSA-65 key".into(), message: e.to_string() })
}

impl ValidatorSigner for ValidatorKey {
    fn public_key(&self) -> B256 {
        ValidatorKey::public_key(self)
    }

    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
        Ok(self.sign(message))
    }

    fn seed(&self) -> Option<[u8; 32]> {
        Some(ValidatorKey::seed(self))
    }

    fn ml_dsa_public_key(&self) -> Option<&MlDsa65PublicKey> {
        self.ml_dsa.as_deref().map(MlDsa65Key::public_key)
    }

    fn try_sign_ml_dsa(&self, message: &[u8]) -> Result<Option<Vec<u8>>, SignerError> {
        self.ml_dsa.as_deref().map(|key| sign_ml_dsa(key, message)).transpose()
    }
}

/// A validator's consensus key held in memory: ed25519, and on a hybrid
/// chain an ML-DSA-65 key beside it.
#[derive(Clone)]
pub struct ValidatorKey {
    signing: SigningKey,
    ml_dsa: Option<Arc<MlDsa65Key>>,
}

impl std::fmt::Debug for ValidatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorKey").field("address", &self.address()).finish_non_exhaustive()
    }
}

impl ValidatorKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self { signing: SigningKey::generate(&mut rand::rngs::OsRng), ml_dsa: None }
    }

    /// A fresh random hybrid key: ed25519 and ML-DSA-65.
    pub fn generate_hybrid() -> Self {
        Self::generate().with_ml_dsa(MlDsa65Key::generate())
    }

    /// The key with this 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { signing: SigningKey::from_bytes(seed), ml_dsa: None }
    }

    /// This key with an ML-DSA-65 half (a hybrid validator key).
    pub fn with_ml_dsa(self, key: MlDsa65Key) -> Self {
        Self { ml_dsa: Some(Arc::new(key)), ..self }
    }

    /// The ML-DSA-65 half, if the key is hybrid.
    pub fn ml_dsa(&self) -> Option<&MlDsa65Key> {
        self.ml_dsa.as_deref()
    }

    /// The ML-DSA-65 public key bytes, if the key is hybrid (what a genesis or a validator set lists).
    pub fn ml_dsa_public_key_bytes(&self) -> Option<Bytes> {
        self.ml_dsa.as_deref().map(|k| Bytes::copy_from_slice(k.public_key().as_bytes()))
    }

    /// This key as a member of a validator set with `power`.
    pub fn validator(&self, power: u64) -> Validator {
        Validator {
            address: self.address(),
            public_key: self.public_key(),
            power,
            ml_dsa_public_key: self.ml_dsa_public_key_bytes(),
        }
    }

    /// The ed25519 signing key (keep it secret).
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The 32-byte seed of the key (what the key file holds).
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key.
    pub fn public_key(&self) -> B256 {
        B256::from(self.signing.verifying_key().to_bytes())
    }

    /// The validator address of this key.
    pub fn address(&self) -> Address {
        validator_address(&self.signing.verifying_key().to_bytes())
    }

    /// Sign arbitrary bytes.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(keys: &[ValidatorKey]) -> ValidatorSet {
        ValidatorSet::new(keys.iter().map(|k| k.validator(1)).collect())
    }

    fn cert(keys: &[ValidatorKey], chain: B256, height: u64, block: B256) -> CommitCertificate {
        let msg = CommitCertificate::signing_bytes(&chain, height, 0, &block);
        CommitCertificate {
            height,
            round: 0,
            block_hash: block,
            signatures: keys
                .iter()
                .map(|k| k.sign_consensus(&msg).unwrap().into_commit_signature(k.address()))
                .collect(),
        }
    }

    #[test]
    fn quorum_needs_more_than_two_thirds() {
        let keys: Vec<_> = (0..4).map(|_| ValidatorKey::generate()).collect();
        let set = set_of(&keys);
        let (chain, block) = (B256::repeat_byte(1), B256::repeat_byte(2));
        assert!(set.verify_certificate(&chain, 5, &block, &cert(&keys[..3], chain, 5, block)).is_ok());
        assert_eq!(
            set.verify_certificate(&chain, 5, &block, &cert(&keys[..2], chain, 5, block)),
            Err(CertificateError::NoQuorum { signed: 2, total: 4 })
        );
    }

    #[test]
    fn rejects_forged_duplicate_and_foreign_signatures() {
        let keys: Vec<_> = (0..4).map(|_| ValidatorKey::generate()).collect();
        let set = set_of(&keys);
        let (chain, block) = (B256::repeat_byte(1), B256::repeat_byte(2));
        let mut c = cert(&keys[..3], chain, 5, block);
        c.signatures[0].signature = vec![0u8; 64].into();
        assert!(matches!(set.verify_certificate(&chain, 5, &block, &c), Err(CertificateError::BadSignature(_))));
        let mut c = cert(&keys[..3], chain, 5, block);
        c.signatures.push(c.signatures[0].clone());
        assert!(matches!(set.verify_certificate(&chain, 5, &block, &c), Err(CertificateError::DuplicateSigner(_))));
        let outsider = ValidatorKey::generate();
        let c = cert(&[outsider], chain, 5, block);
        assert!(matches!(set.verify_certificate(&chain, 5, &block, &c), Err(CertificateError::UnknownSigner(_))));
        // A certificate for another chain does not verify here.
        let c = cert(&keys, B256::repeat_byte(9), 5, block);
        assert!(matches!(set.verify_certificate(&chain, 5, &block, &c), Err(CertificateError::BadSignature(_))));
    }
}

#[cfg(test)]
mod hybrid_tests {
    use super::*;

    fn hybrid_cert(keys: &[ValidatorKey], chain: B256, block: B256) -> (ValidatorSet, CommitCertificate) {
        let set = ValidatorSet::new(keys.iter().map(|k| k.validator(1)).collect());
        let msg = CommitCertificate::signing_bytes(&chain, 3, 0, &block);
        let signatures =
            keys[..3].iter().map(|k| k.sign_consensus(&msg).unwrap().into_commit_signature(k.address())).collect();
        (set, CommitCertificate { height: 3, round: 0, block_hash: block, signatures })
    }

    #[test]
    fn a_hybrid_certificate_needs_both_halves_of_every_signature() {
        let keys: Vec<_> = (0..4).map(|_| ValidatorKey::generate_hybrid()).collect();
        let (chain, block) = (B256::repeat_byte(1), B256::repeat_byte(2));
        let (set, cert) = hybrid_cert(&keys, chain, block);
        assert!(set.verify_certificate(&chain, 3, &block, &cert).is_ok());

        // A valid ed25519 signature with a bad ML-DSA-65 half does not count.
        let mut bad = cert.clone();
        let mut pq = bad.signatures[1].ml_dsa_signature.clone().unwrap().to_vec();
        pq[100] ^= 1;
        bad.signatures[1].ml_dsa_signature = Some(pq.into());
        assert_eq!(
            set.verify_certificate(&chain, 3, &block, &bad),
            Err(CertificateError::BadMlDsaSignature(bad.signatures[1].validator))
        );
        // Nor does one without it.
        let mut missing = cert.clone();
        missing.signatures[0].ml_dsa_signature = None;
        assert_eq!(
            set.verify_certificate(&chain, 3, &block, &missing),
            Err(CertificateError::MissingMlDsaSignature(missing.signatures[0].validator))
        );
        // An ML-DSA-65 signature by another validator's key does not verify either.
        let mut swapped = cert.clone();
        swapped.signatures[0].ml_dsa_signature = cert.signatures[1].ml_dsa_signature.clone();
        assert!(matches!(
            set.verify_certificate(&chain, 3, &block, &swapped),
            Err(CertificateError::BadMlDsaSignature(_))
        ));
        // An ed25519 set refuses a signature carrying an ML-DSA half.
        let plain: Vec<_> = keys.iter().map(|k| ValidatorKey::from_seed(&k.seed())).collect();
        let plain_set = ValidatorSet::new(plain.iter().map(|k| k.validator(1)).collect());
        assert!(matches!(
            plain_set.verify_certificate(&chain, 3, &block, &cert),
            Err(CertificateError::UnexpectedMlDsaSignature(_))
        ));
    }

    #[test]
    fn an_ed25519_set_hashes_as_before_and_a_hybrid_one_commits_to_the_ml_dsa_keys() {
        #[derive(RlpEncodable)]
        struct LegacyValidator {
            address: Address,
            public_key: B256,
            power: u64,
        }
        #[derive(RlpEncodable)]
        struct LegacySet {
            validators: Vec<LegacyValidator>,
        }
        let key = ValidatorKey::from_seed(&[5; 32]);
        let plain = ValidatorSet::new(vec![key.validator(1)]);
        // A member without an ML-DSA key encodes as the three fields it always had.
        let legacy = LegacySet {
            validators: vec![LegacyValidator { address: key.address(), public_key: key.public_key(), power: 1 }],
        };
        assert_eq!(plain.hash(), keccak256(alloy_rlp::encode(&legacy)));
        let hybrid = ValidatorSet::new(vec![key.clone().with_ml_dsa(MlDsa65Key::from_seed(&[6; 32])).validator(1)]);
        let other = ValidatorSet::new(vec![key.with_ml_dsa(MlDsa65Key::from_seed(&[7; 32])).validator(1)]);
        assert_ne!(plain.hash(), hybrid.hash());
        assert_ne!(hybrid.hash(), other.hash());
        let decoded: ValidatorSet = alloy_rlp::Decodable::decode(&mut &alloy_rlp::encode(&hybrid)[..]).unwrap();
        assert_eq!(decoded, hybrid);
    }
}
