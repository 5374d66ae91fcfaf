//! Validators, validator sets and the verification of commit certificates.
//!
//! A validator is identified by the address derived from its ed25519 consensus
//! key (`keccak256(public_key)[12..]`). Certificates are verified with one
//! verifier everywhere (ed25519-dalek's strict verification), so every node and
//! every offline checker accepts exactly the same signatures.

use crate::block::CommitCertificate;
use alloy_primitives::{Address, B256, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::collections::HashSet;

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
pub struct Validator {
    /// Address derived from the public key.
    pub address: Address,
    /// ed25519 public key used to sign consensus messages.
    pub public_key: B256,
    /// Voting power (weight in quorums and proposer selection).
    pub power: u64,
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
}

/// An ed25519 consensus key of a validator.
#[derive(Clone)]
pub struct ValidatorKey {
    signing: SigningKey,
}

impl std::fmt::Debug for ValidatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorKey").field("address", &self.address()).finish_non_exhaustive()
    }
}

impl ValidatorKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self { signing: SigningKey::generate(&mut rand::rngs::OsRng) }
    }

    /// The key with this 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { signing: SigningKey::from_bytes(seed) }
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
    use crate::block::CommitSignature;

    fn set_of(keys: &[ValidatorKey]) -> ValidatorSet {
        ValidatorSet::new(
            keys.iter().map(|k| Validator { address: k.address(), public_key: k.public_key(), power: 1 }).collect(),
        )
    }

    fn cert(keys: &[ValidatorKey], chain: B256, height: u64, block: B256) -> CommitCertificate {
        let msg = CommitCertificate::signing_bytes(&chain, height, 0, &block);
        CommitCertificate {
            height,
            round: 0,
            block_hash: block,
            signatures: keys
                .iter()
                .map(|k| CommitSignature { validator: k.address(), signature: k.sign(&msg).to_vec().into() })
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
