//! The Malachite [`Context`] of dsec: heights, validator addresses, block-hash
//! values, votes, proposals, proposal parts, validator sets with weighted
//! round-robin proposer selection, and the signing scheme: ed25519, or
//! ed25519 and ML-DSA-65 together on a chain whose genesis asks for hybrid
//! consensus signatures (a signature then counts only if both halves verify).
//!
//! Every type that travels (votes, proposals, parts, certificates) has a Borsh
//! encoding, which is what the codecs in [`super::codec`] put on the wire and
//! in the write-ahead log. The bytes a validator signs are defined here, each
//! with its own domain tag and bound to the chain (the genesis hash), so a
//! signature can never be replayed as another kind of message or on another
//! chain. A precommit for a block signs exactly
//! [`dsec_sdk::block::CommitCertificate::signing_bytes`], so the precommits
//! Malachite collects are the node's commit certificate as they are.

use alloy_primitives::{Address as EthAddress, B256};
use borsh::{BorshDeserialize, BorshSerialize};
use dsec_sdk::block::CommitCertificate as SdkCertificate;
use dsec_sdk::validators as sdk;
use dsec_sdk::validators::{SignerError, ValidatorSigner, verify_ml_dsa};
use malachitebft_core_types::{
    self as mct, NilOrVal, Round, SignedExtension, SigningScheme, ValidatorProof, VoteExtensionScope, VoteType,
};
use std::fmt;
use std::sync::Arc;

/// A block height.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl mct::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: `keccak256(ed25519 public key)[12..]`, as in [`dsec_sdk::validators`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct ValidatorAddress(pub [u8; 20]);

impl ValidatorAddress {
    /// The address as an Ethereum-style address.
    pub fn to_eth(self) -> EthAddress {
        EthAddress::from(self.0)
    }
}

impl From<EthAddress> for ValidatorAddress {
    fn from(a: EthAddress) -> Self {
        ValidatorAddress(a.into_array())
    }
}

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_eth())
    }
}

impl mct::Address for ValidatorAddress {}

/// What consensus decides on: the hash of a block. Blocks travel as proposal parts.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct BlockId(pub [u8; 32]);

impl BlockId {
    /// The hash as a `B256`.
    pub fn to_b256(self) -> B256 {
        B256::from(self.0)
    }
}

impl From<B256> for BlockId {
    fn from(h: B256) -> Self {
        BlockId(h.0)
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_b256())
    }
}

impl mct::Value for BlockId {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        *self
    }
}

/// A consensus signature: ed25519 (64 bytes), and on a hybrid chain the
/// ML-DSA-65 signature (3,309 bytes) over the same bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Signature {
    /// The ed25519 half.
    pub ed25519: [u8; 64],
    /// The ML-DSA-65 half (hybrid chains only).
    pub ml_dsa: Option<Vec<u8>>,
}

impl Signature {
    /// An ed25519-only signature.
    pub fn ed25519(bytes: [u8; 64]) -> Self {
        Self { ed25519: bytes, ml_dsa: None }
    }
}

/// A validator's consensus public key: ed25519 (32 bytes), and on a hybrid
/// chain its ML-DSA-65 key (1,952 bytes). Validity is checked when it verifies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct PublicKey {
    /// The ed25519 key.
    pub ed25519: [u8; 32],
    /// The ML-DSA-65 key (hybrid chains only).
    pub ml_dsa: Option<Vec<u8>>,
}

impl PublicKey {
    /// An ed25519-only key.
    pub fn ed25519(bytes: [u8; 32]) -> Self {
        Self { ed25519: bytes, ml_dsa: None }
    }
}

/// A validator's signing key, wherever it is kept (in memory or in a PKCS#11
/// token): consensus signs only through [`ValidatorSigner`], which signs with
/// both halves when the validator is hybrid.
#[derive(Clone, Debug)]
pub struct PrivateKey {
    signer: Arc<dyn ValidatorSigner>,
    /// FAULT INJECTION FOR TESTS: flip a bit of the ML-DSA-65 half of every vote.
    corrupt_ml_dsa: bool,
}

impl PrivateKey {
    /// A key held in memory.
    pub fn local(key: dsec_sdk::validators::ValidatorKey) -> Self {
        Self::new(Arc::new(key))
    }

    /// A key signing through `signer`.
    pub fn new(signer: Arc<dyn ValidatorSigner>) -> Self {
        Self { signer, corrupt_ml_dsa: false }
    }

    /// FAULT INJECTION FOR TESTS: this key with the ML-DSA-65 half of every
    /// vote corrupted (ed25519 halves, proposals and proofs stay valid, so its
    /// peers hear its votes): a validator whose votes an honest hybrid
    /// network must not count.
    pub fn with_corrupt_ml_dsa(self) -> Self {
        Self { corrupt_ml_dsa: true, ..self }
    }

    /// Sign `message` (both halves on a hybrid key); fails when the key's token cannot sign now.
    pub fn sign(&self, message: &[u8]) -> Result<Signature, SignerError> {
        let signed = self.signer.sign_consensus(message)?;
        Ok(Signature { ed25519: signed.ed25519, ml_dsa: signed.ml_dsa })
    }

    /// Sign a vote's bytes: as [`PrivateKey::sign`], but a key set up with
    /// [`PrivateKey::with_corrupt_ml_dsa`] damages the ML-DSA-65 half.
    pub fn sign_vote(&self, message: &[u8]) -> Result<Signature, SignerError> {
        let mut signature = self.sign(message)?;
        if self.corrupt_ml_dsa
            && let Some(byte) = signature.ml_dsa.as_mut().and_then(|s| s.get_mut(7))
        {
            *byte ^= 0x01;
        }
        Ok(signature)
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            ed25519: self.signer.public_key().0,
            ml_dsa: self.signer.ml_dsa_public_key().map(|k| k.as_bytes().to_vec()),
        }
    }

    /// The validator address of this key.
    pub fn address(&self) -> ValidatorAddress {
        ValidatorAddress(self.signer.address().into_array())
    }
}

impl PublicKey {
    /// Verify `signature` over `message`: strict ed25519 (the same rule as
    /// certificate verification in the SDK) and, for a hybrid key, ML-DSA-65;
    /// a signature with a half its key does not have is refused.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&self.ed25519) else {
            return false;
        };
        if key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature.ed25519)).is_err() {
            return false;
        }
        match (&self.ml_dsa, &signature.ml_dsa) {
            (None, None) => true,
            (Some(key), Some(signature)) => verify_ml_dsa(key, message, signature),
            _ => false,
        }
    }
}

/// Why a key or signature could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodingError(pub &'static str);

/// The signing scheme of dsec validators: ed25519, or ed25519 and ML-DSA-65.
/// Encodings are the ed25519 bytes followed, on a hybrid chain, by the
/// ML-DSA-65 bytes (64 + 3,309 for a signature, 32 + 1,952 for a key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorScheme;

impl SigningScheme for ValidatorScheme {
    type DecodingError = DecodingError;
    type Signature = Signature;
    type PublicKey = PublicKey;
    type PrivateKey = PrivateKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, DecodingError> {
        use dsec_sdk::pq::MLDSA65_SIGNATURE_LEN;
        let (ed, rest) = bytes.split_at_checked(64).ok_or(DecodingError("a signature starts with 64 ed25519 bytes"))?;
        let ed25519 = ed.try_into().map_err(|_| DecodingError("a signature starts with 64 ed25519 bytes"))?;
        match rest.len() {
            0 => Ok(Signature::ed25519(ed25519)),
            MLDSA65_SIGNATURE_LEN => Ok(Signature { ed25519, ml_dsa: Some(rest.to_vec()) }),
            _ => Err(DecodingError("a hybrid signature is 64 + 3,309 bytes")),
        }
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        let mut out = signature.ed25519.to_vec();
        out.extend_from_slice(signature.ml_dsa.as_deref().unwrap_or_default());
        out
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, DecodingError> {
        use dsec_sdk::pq::MLDSA65_PUBLIC_KEY_LEN;
        let (ed, rest) =
            bytes.split_at_checked(32).ok_or(DecodingError("a public key starts with 32 ed25519 bytes"))?;
        let ed25519 = ed.try_into().map_err(|_| DecodingError("a public key starts with 32 ed25519 bytes"))?;
        match rest.len() {
            0 => Ok(PublicKey::ed25519(ed25519)),
            MLDSA65_PUBLIC_KEY_LEN => Ok(PublicKey { ed25519, ml_dsa: Some(rest.to_vec()) }),
            _ => Err(DecodingError("a hybrid public key is 32 + 1,952 bytes")),
        }
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        let mut out = public_key.ed25519.to_vec();
        out.extend_from_slice(public_key.ml_dsa.as_deref().unwrap_or_default());
        out
    }
}

/// One validator as consensus sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Address derived from the public key.
    pub address: ValidatorAddress,
    /// Consensus key.
    pub public_key: PublicKey,
    /// Voting power.
    pub power: u64,
}

impl mct::Validator<DsecContext> for Validator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> u64 {
        self.power
    }
}

/// The validator set of one height, sorted by address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    /// Members sorted by address.
    pub validators: Vec<Validator>,
    /// Greatest common divisor of the powers (proposer slots are `power / gcd`).
    slot_unit: u64,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl ValidatorSet {
    /// Convert the node's validator set (members with zero power are left out).
    pub fn from_sdk(set: &sdk::ValidatorSet) -> Self {
        let mut validators: Vec<Validator> = set
            .validators
            .iter()
            .filter(|v| v.power > 0)
            .map(|v| Validator {
                address: v.address.into(),
                public_key: PublicKey {
                    ed25519: v.public_key.0,
                    ml_dsa: v.ml_dsa_public_key.as_ref().map(|k| k.to_vec()),
                },
                power: v.power,
            })
            .collect();
        validators.sort_by_key(|v| v.address);
        let slot_unit = validators.iter().fold(0, |g, v| gcd(g, v.power)).max(1);
        Self { validators, slot_unit }
    }

    /// Weighted round-robin: slot `(height + round) mod (total / gcd)`, each
    /// validator holding `power / gcd` consecutive slots in address order. With
    /// equal powers this is plain round-robin, and a validator with twice the
    /// power proposes twice as often. `None` only for an empty set.
    pub fn proposer(&self, height: u64, round: u32) -> Option<&Validator> {
        let slots: u64 = self.validators.iter().map(|v| v.power / self.slot_unit).sum();
        if slots == 0 {
            return None;
        }
        let mut slot = height.wrapping_add(round as u64) % slots;
        for v in &self.validators {
            let own = v.power / self.slot_unit;
            if slot < own {
                return Some(v);
            }
            slot -= own;
        }
        self.validators.last()
    }
}

impl mct::ValidatorSet<DsecContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> u64 {
        self.validators.iter().map(|v| v.power).fold(0, u64::saturating_add)
    }

    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&Validator> {
        self.validators.binary_search_by(|v| v.address.cmp(address)).ok().map(|i| &self.validators[i])
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A signed proposal's content: "at (height, round) I propose this block".
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The proposed block hash.
    pub value: BlockId,
    /// Proof-of-lock round (`Nil` for a fresh value).
    pub pol_round: Round,
    /// Proposer.
    pub proposer: ValidatorAddress,
}

impl mct::Proposal<DsecContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &BlockId {
        &self.value
    }
    fn take_value(self) -> BlockId {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// Vote extensions are not used by dsec; this is the empty extension.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NoExtension;

impl mct::Extension for NoExtension {
    fn size_bytes(&self) -> usize {
        0
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<BlockId>,
    /// The voter.
    pub validator: ValidatorAddress,
    /// Always `None` (no vote extensions).
    pub extension: Option<SignedExtension<DsecContext>>,
}

impl mct::Vote<DsecContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.vote_type
    }
    fn validator_address(&self) -> &ValidatorAddress {
        &self.validator
    }
    fn extension(&self) -> Option<&SignedExtension<DsecContext>> {
        self.extension.as_ref()
    }
    fn take_extension(&mut self) -> Option<SignedExtension<DsecContext>> {
        self.extension.take()
    }
    fn extend(self, extension: SignedExtension<DsecContext>) -> Self {
        Self { extension: Some(extension), ..self }
    }
}

/// One piece of a streamed block proposal: `Init`, any number of `Data`, `Fin`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    /// Opens the stream: which height and round, who proposes, the proof-of-lock round.
    Init {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// Proposer.
        proposer: ValidatorAddress,
        /// Proof-of-lock round.
        pol_round: Round,
    },
    /// A chunk of the RLP-encoded block.
    Data(Vec<u8>),
    /// Closes the stream with the block hash and the proposer's signature over
    /// [`DsecContext::parts_signing_bytes`] (Malachite does not sign parts).
    Fin {
        /// Hash of the block.
        block_hash: BlockId,
        /// Proposer's signature.
        signature: Signature,
    },
}

impl mct::ProposalPart<DsecContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }
    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin { .. })
    }
}

/// dsec's consensus context: it carries the chain hash that every signature is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsecContext {
    /// Genesis hash of the chain.
    pub chain_hash: B256,
}

impl DsecContext {
    /// A context for the chain whose genesis hash is `chain_hash`.
    pub fn new(chain_hash: B256) -> Self {
        Self { chain_hash }
    }

    fn tagged(&self, tag: &[u8; 16], height: Height, round: Round) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 32 + 8 + 8 + 33);
        out.extend_from_slice(tag);
        out.extend_from_slice(self.chain_hash.as_slice());
        out.extend_from_slice(&height.0.to_be_bytes());
        out.extend_from_slice(&round.as_i64().to_be_bytes());
        out
    }

    /// The bytes a validator signs for a vote. A precommit for a block signs the
    /// SDK's commit-certificate bytes, so certificates verify offline.
    pub fn vote_signing_bytes(&self, vote: &Vote) -> Vec<u8> {
        if let (VoteType::Precommit, NilOrVal::Val(id), Some(round)) =
            (vote.vote_type, &vote.value, vote.round.as_u32())
        {
            return SdkCertificate::signing_bytes(&self.chain_hash, vote.height.0, round, &id.to_b256());
        }
        let tag = match vote.vote_type {
            VoteType::Prevote => b"dsec/prevote/v1\0",
            VoteType::Precommit => b"dsec/precommit/1",
        };
        let mut out = self.tagged(tag, vote.height, vote.round);
        match &vote.value {
            NilOrVal::Nil => out.push(0),
            NilOrVal::Val(id) => {
                out.push(1);
                out.extend_from_slice(&id.0);
            }
        }
        out
    }

    /// The bytes a proposer signs for a proposal.
    pub fn proposal_signing_bytes(&self, proposal: &Proposal) -> Vec<u8> {
        let mut out = self.tagged(b"dsec/proposal/v1", proposal.height, proposal.round);
        out.extend_from_slice(&proposal.pol_round.as_i64().to_be_bytes());
        out.extend_from_slice(&proposal.value.0);
        out.extend_from_slice(&proposal.proposer.0);
        out
    }

    /// The bytes a proposer signs to close a stream of proposal parts.
    pub fn parts_signing_bytes(&self, height: Height, round: Round, block_hash: &BlockId) -> Vec<u8> {
        let mut out = self.tagged(b"dsec/parts/v1\0\0\0", height, round);
        out.extend_from_slice(&block_hash.0);
        out
    }

    /// The bytes signed for a vote extension (unused by dsec, defined for completeness).
    pub fn extension_signing_bytes(&self, scope: &VoteExtensionScope<DsecContext>) -> Vec<u8> {
        let mut out = self.tagged(b"dsec/extension/1", scope.height, scope.round);
        out.extend_from_slice(&scope.value_id.0);
        out
    }

    /// The bytes signed in a proof-of-validator (binds a network key to a consensus key).
    pub fn validator_proof_signing_bytes(&self, public_key: &[u8], peer_id: &[u8]) -> Vec<u8> {
        let mut out = b"dsec/pov/v1\0\0\0\0\0".to_vec();
        out.extend_from_slice(self.chain_hash.as_slice());
        out.extend(ValidatorProof::<DsecContext>::signing_bytes(public_key, peer_id));
        out
    }
}

impl mct::Context for DsecContext {
    type Address = ValidatorAddress;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = mct::LinearTimeouts;
    type Value = BlockId;
    type Vote = Vote;
    type Extension = NoExtension;
    type SigningScheme = ValidatorScheme;

    fn select_proposer<'a>(&self, set: &'a ValidatorSet, height: Height, round: Round) -> &'a Validator {
        // Malachite never starts a height with an empty set (ConsensusReady and
        // Next::Start refuse one), and asks only for defined rounds.
        #[allow(clippy::expect_used)]
        set.proposer(height.0, round.as_u32().unwrap_or(0)).expect("validator set is not empty")
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockId,
        pol_round: Round,
        address: ValidatorAddress,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, proposer: address }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: ValidatorAddress,
    ) -> Vote {
        Vote { vote_type: VoteType::Prevote, height, round, value: value_id, validator: address, extension: None }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: ValidatorAddress,
    ) -> Vote {
        Vote { vote_type: VoteType::Precommit, height, round, value: value_id, validator: address, extension: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsec_sdk::validators::ValidatorKey;

    fn set(powers: &[u64]) -> ValidatorSet {
        let members = powers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let key = ValidatorKey::from_seed(&[i as u8 + 1; 32]);
                key.validator(*p)
            })
            .collect();
        ValidatorSet::from_sdk(&sdk::ValidatorSet::new(members))
    }

    #[test]
    fn proposer_rotates_with_height_and_round_and_follows_power() {
        let equal = set(&[10, 10, 10, 10]);
        let picks: Vec<_> = (0..4).map(|h| equal.proposer(h, 0).map(|v| v.address)).collect();
        let distinct: std::collections::HashSet<_> = picks.iter().collect();
        assert_eq!(distinct.len(), 4, "equal powers: every validator proposes once in four heights");
        assert_eq!(equal.proposer(5, 1).map(|v| v.address), equal.proposer(6, 0).map(|v| v.address));

        let weighted = set(&[2, 1]);
        let mut counts = std::collections::HashMap::new();
        for h in 0..300 {
            *counts.entry(weighted.proposer(h, 0).map(|v| v.power)).or_insert(0) += 1;
        }
        assert_eq!(counts[&Some(2)], 200);
        assert_eq!(counts[&Some(1)], 100);
    }

    #[test]
    fn a_hybrid_vote_counts_only_if_both_halves_verify() {
        use dsec_sdk::pq::MlDsa65Key;
        let ctx = DsecContext::new(B256::repeat_byte(7));
        let key = PrivateKey::local(ValidatorKey::from_seed(&[1; 32]).with_ml_dsa(MlDsa65Key::from_seed(&[2; 32])));
        let public = key.public_key();
        let vote = mct::Context::new_prevote(&ctx, Height(5), Round::new(0), NilOrVal::Nil, key.address());
        let bytes = ctx.vote_signing_bytes(&vote);

        let honest = key.sign_vote(&bytes).unwrap();
        assert_eq!(honest.ml_dsa.as_ref().map(Vec::len), Some(dsec_sdk::pq::MLDSA65_SIGNATURE_LEN));
        assert!(public.verify(&bytes, &honest));

        // A valid ed25519 half with a corrupt ML-DSA-65 half does not count.
        let liar = key.clone().with_corrupt_ml_dsa().sign_vote(&bytes).unwrap();
        assert_eq!(liar.ed25519, honest.ed25519, "ed25519 is deterministic: the liar's ed25519 half is valid");
        assert!(!public.verify(&bytes, &liar));
        // Nor does a signature missing its ML-DSA-65 half, or one for other bytes.
        assert!(!public.verify(&bytes, &Signature::ed25519(honest.ed25519)));
        assert!(!public.verify(
            &ctx.proposal_signing_bytes(&Proposal {
                height: Height(5),
                round: Round::new(0),
                value: BlockId([0; 32]),
                pol_round: Round::Nil,
                proposer: key.address(),
            }),
            &honest
        ));
        // An ed25519-only key refuses a signature that carries an ML-DSA-65 half.
        assert!(!PublicKey::ed25519(public.ed25519).verify(&bytes, &honest));

        // Encodings round-trip and refuse wrong lengths.
        let encoded = ValidatorScheme::encode_signature(&honest);
        assert_eq!(encoded.len(), 64 + 3309);
        assert_eq!(ValidatorScheme::decode_signature(&encoded).unwrap(), honest);
        assert!(ValidatorScheme::decode_signature(&encoded[..100]).is_err());
        let encoded = ValidatorScheme::encode_public_key(&public);
        assert_eq!(encoded.len(), 32 + 1952);
        assert_eq!(ValidatorScheme::decode_public_key(&encoded).unwrap(), public);
        assert!(ValidatorScheme::decode_public_key(&encoded[..40]).is_err());
    }

    #[test]
    fn a_precommit_signs_the_commit_certificate_bytes_and_prevotes_do_not() {
        let ctx = DsecContext::new(B256::repeat_byte(7));
        let id = BlockId([9; 32]);
        let addr = ValidatorAddress([1; 20]);
        let precommit = mct::Context::new_precommit(&ctx, Height(5), Round::new(2), NilOrVal::Val(id), addr);
        let prevote = mct::Context::new_prevote(&ctx, Height(5), Round::new(2), NilOrVal::Val(id), addr);
        let nil = mct::Context::new_precommit(&ctx, Height(5), Round::new(2), NilOrVal::Nil, addr);
        let cert_bytes = SdkCertificate::signing_bytes(&ctx.chain_hash, 5, 2, &id.to_b256());
        assert_eq!(ctx.vote_signing_bytes(&precommit), cert_bytes);
        assert_ne!(ctx.vote_signing_bytes(&prevote), cert_bytes);
        assert_ne!(ctx.vote_signing_bytes(&nil), ctx.vote_signing_bytes(&prevote));
    }
}
