//! The validator's signer and every node's verifier, over [`super::context`]'s signing bytes.

use super::context::{DsecContext, PrivateKey, PublicKey, Signature, Vote};
use async_trait::async_trait;
use malachitebft_app_channel::app::types::core::{SignedMessage, ValidatorProof, VoteExtensionScope};
use malachitebft_app_channel::{Signer, Verifier};
use malachitebft_signing::{Error as SigningError, VerificationResult};

/// Signs votes, proposals and proofs with the validator's key (both halves on a hybrid chain).
#[derive(Clone)]
pub struct ConsensusSigner {
    ctx: DsecContext,
    key: PrivateKey,
}

impl ConsensusSigner {
    /// A signer for `key` on the chain of `ctx`.
    pub fn new(ctx: DsecContext, key: PrivateKey) -> Self {
        Self { ctx, key }
    }
}

impl ConsensusSigner {
    /// Sign, retrying while the key's token cannot sign (removed, restarting,
    /// a network HSM reconnecting). Malachite stops the engine on a signing
    /// error, so the validator waits instead, as if it were offline, and
    /// catches up by sync once the token answers again.
    async fn sign(&self, message: &[u8]) -> Signature {
        self.sign_with(message, PrivateKey::sign).await
    }

    async fn sign_with(
        &self,
        message: &[u8],
        sign: impl Fn(&PrivateKey, &[u8]) -> Result<Signature, dsec_sdk::validators::SignerError>,
    ) -> Signature {
        let mut delay = std::time::Duration::from_millis(100);
        loop {
            match sign(&self.key, message) {
                Ok(signature) => return signature,
                Err(error) => {
                    tracing::error!(%error, retry_in_ms = delay.as_millis() as u64, "cannot sign a consensus message");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
    }
}

#[async_trait]
impl Signer<DsecContext> for ConsensusSigner {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<DsecContext, Vote>, SigningError> {
        let signature = self.sign_with(&self.ctx.vote_signing_bytes(&vote), PrivateKey::sign_vote).await;
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(
        &self,
        proposal: super::context::Proposal,
    ) -> Result<SignedMessage<DsecContext, super::context::Proposal>, SigningError> {
        let signature = self.sign(&self.ctx.proposal_signing_bytes(&proposal)).await;
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<DsecContext>,
        extension: super::context::NoExtension,
    ) -> Result<SignedMessage<DsecContext, super::context::NoExtension>, SigningError> {
        let signature = self.sign(&self.ctx.extension_signing_bytes(&scope)).await;
        Ok(SignedMessage::new(extension, signature))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<DsecContext>, SigningError> {
        let signature = self.sign(&self.ctx.validator_proof_signing_bytes(&public_key, &peer_id)).await;
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

/// Verifies signatures of other validators: strict ed25519, and ML-DSA-65
/// too for a validator of a hybrid set (a vote counts only if both verify).
#[derive(Clone)]
pub struct ConsensusVerifier {
    ctx: DsecContext,
}

impl ConsensusVerifier {
    /// A verifier for the chain of `ctx`.
    pub fn new(ctx: DsecContext) -> Self {
        Self { ctx }
    }
}

fn result(valid: bool) -> Result<VerificationResult, SigningError> {
    Ok(VerificationResult::from_bool(valid))
}

#[async_trait]
impl Verifier<DsecContext> for ConsensusVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        result(public_key.verify(&self.ctx.vote_signing_bytes(vote), signature))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &super::context::Proposal,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        result(public_key.verify(&self.ctx.proposal_signing_bytes(proposal), signature))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<DsecContext>,
        _extension: &super::context::NoExtension,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        result(public_key.verify(&self.ctx.extension_signing_bytes(scope), signature))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<DsecContext>,
    ) -> Result<VerificationResult, SigningError> {
        use malachitebft_core_types::SigningScheme;
        let Ok(key) = super::context::ValidatorScheme::decode_public_key(&proof.public_key) else {
            return result(false);
        };
        let message = self.ctx.validator_proof_signing_bytes(&proof.public_key, &proof.peer_id);
        result(key.verify(&message, &proof.signature))
    }
}
