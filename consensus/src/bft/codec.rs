//! The one codec of dsec's consensus traffic, WAL and value sync: Borsh, over
//! the types of [`super::context`] and Malachite's own Borsh encodings of its
//! generic messages (signed votes and proposals, certificates, streams, sync).

use super::context::{BlockId, DsecContext, Height, ProposalPart, Signature, ValidatorAddress};
use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, PolkaCertificate, Round, ValidatorProof,
};
use malachitebft_app_channel::app::types::streaming::StreamMessage;
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};
use malachitebft_core_consensus::LivenessMsg;
use malachitebft_sync::ValueResponse;

/// Borsh codec for every message Malachite asks the application to encode.
#[derive(Copy, Clone, Debug, Default)]
pub struct DsecCodec;

/// A message that could not be decoded (or, in theory, encoded).
#[derive(Debug, thiserror::Error)]
#[error("consensus codec: {0}")]
pub struct CodecError(#[from] std::io::Error);

fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, CodecError> {
    Ok(borsh::from_slice(bytes)?)
}

fn encode<T: BorshSerialize>(value: &T) -> Result<Bytes, CodecError> {
    Ok(Bytes::from(borsh::to_vec(value)?))
}

macro_rules! borsh_codec {
    ($($t:ty),* $(,)?) => {$(
        impl Codec<$t> for DsecCodec {
            type Error = CodecError;
            fn decode(&self, bytes: Bytes) -> Result<$t, CodecError> {
                decode(&bytes)
            }
            fn encode(&self, msg: &$t) -> Result<Bytes, CodecError> {
                encode(msg)
            }
        }
    )*};
}

borsh_codec!(
    ProposalPart,
    SignedConsensusMsg<DsecContext>,
    LivenessMsg<DsecContext>,
    StreamMessage<ProposalPart>,
    ProposedValue<DsecContext>,
    PolkaCertificate<DsecContext>,
    Status<DsecContext>,
    Request<DsecContext>,
);

/// A decided value as it travels in a sync response: block bytes and the
/// commit certificate (dsec has no vote extensions, so none are carried).
type WireDecided = (Vec<u8>, u64, i64, BlockId, Vec<(ValidatorAddress, Signature)>);

fn response_to_wire(msg: &Response<DsecContext>) -> (u64, Vec<WireDecided>) {
    let Response::ValueResponse(r) = msg;
    let values = r
        .values
        .iter()
        .map(|v| {
            let c = &v.certificate;
            let sigs = c.commit_signatures.iter().map(|s| (s.address, s.signature.clone())).collect();
            (v.value_bytes.to_vec(), c.height.0, c.round.as_i64(), c.value_id, sigs)
        })
        .collect();
    (r.start_height.0, values)
}

impl Codec<Response<DsecContext>> for DsecCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Response<DsecContext>, CodecError> {
        let (start, values): (u64, Vec<WireDecided>) = decode(&bytes)?;
        let values = values
            .into_iter()
            .map(|(value_bytes, height, round, value_id, sigs)| {
                let round = u32::try_from(round)
                    .map(Round::new)
                    .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "certificate round"))?;
                let commit_signatures = sigs
                    .into_iter()
                    .map(|(address, signature)| ExtendedCommitSignature { address, signature, extension: None })
                    .collect();
                let certificate =
                    ExtendedCommitCertificate { height: Height(height), round, value_id, commit_signatures };
                Ok(RawDecidedValue::new(Bytes::from(value_bytes), certificate))
            })
            .collect::<Result<Vec<_>, std::io::Error>>()?;
        Ok(Response::ValueResponse(ValueResponse::new(Height(start), values)))
    }

    fn encode(&self, msg: &Response<DsecContext>) -> Result<Bytes, CodecError> {
        encode(&response_to_wire(msg))
    }
}

impl HasEncodedLen<Response<DsecContext>> for DsecCodec {
    fn encoded_len(&self, msg: &Response<DsecContext>) -> Result<usize, CodecError> {
        Ok(borsh::object_length(&response_to_wire(msg))?)
    }
}

impl Codec<ValidatorProof<DsecContext>> for DsecCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<DsecContext>, CodecError> {
        let (public_key, peer_id, signature): (Vec<u8>, Vec<u8>, Signature) = decode(&bytes)?;
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }

    fn encode(&self, proof: &ValidatorProof<DsecContext>) -> Result<Bytes, CodecError> {
        encode(&(&proof.public_key, &proof.peer_id, &proof.signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use malachitebft_app_channel::app::types::core::Validity;

    #[test]
    fn proposed_values_and_parts_round_trip_and_garbage_is_an_error() {
        let value = ProposedValue::<DsecContext> {
            height: Height(3),
            round: Round::new(1),
            valid_round: Round::Nil,
            proposer: ValidatorAddress([4; 20]),
            value: BlockId([5; 32]),
            validity: Validity::Valid,
        };
        let bytes = Codec::<ProposedValue<DsecContext>>::encode(&DsecCodec, &value).unwrap();
        assert_eq!(Codec::<ProposedValue<DsecContext>>::decode(&DsecCodec, bytes).unwrap(), value);
        let part = ProposalPart::Data(vec![1, 2, 3]);
        let bytes = Codec::<ProposalPart>::encode(&DsecCodec, &part).unwrap();
        assert_eq!(Codec::<ProposalPart>::decode(&DsecCodec, bytes).unwrap(), part);
        assert!(Codec::<ProposalPart>::decode(&DsecCodec, Bytes::from_static(&[9, 9, 9])).is_err());
    }

    /// Bytes a signed precommit takes on the wire (and in the WAL) with each
    /// signing scheme: a hybrid vote carries the 3,309-byte ML-DSA-65 half.
    #[test]
    fn a_hybrid_vote_is_the_ed25519_vote_plus_its_ml_dsa_signature_and_round_trips() {
        use super::super::context::PrivateKey;
        use dsec_sdk::validators::ValidatorKey;
        use malachitebft_app_channel::app::types::core::{Context, NilOrVal, SignedMessage};
        let ctx = DsecContext::new(alloy_primitives::B256::repeat_byte(1));
        let encoded = |key: PrivateKey| {
            let vote = ctx.new_precommit(Height(9), Round::new(0), NilOrVal::Val(BlockId([3; 32])), key.address());
            let signature = key.sign_vote(&ctx.vote_signing_bytes(&vote)).unwrap();
            let msg = SignedConsensusMsg::Vote(SignedMessage::new(vote, signature));
            let bytes = Codec::<SignedConsensusMsg<DsecContext>>::encode(&DsecCodec, &msg).unwrap();
            assert_eq!(Codec::<SignedConsensusMsg<DsecContext>>::decode(&DsecCodec, bytes.clone()).unwrap(), msg);
            bytes.len()
        };
        let plain = encoded(PrivateKey::local(ValidatorKey::from_seed(&[1; 32])));
        let hybrid = encoded(PrivateKey::local(
            ValidatorKey::from_seed(&[1; 32]).with_ml_dsa(dsec_sdk::pq::MlDsa65Key::from_seed(&[2; 32])),
        ));
        println!("signed precommit on the wire: ed25519 {plain} bytes, ed25519+ml-dsa-65 {hybrid} bytes");
        // Borsh: the Option tag is there either way; Some adds a u32 length and the signature.
        assert_eq!(
            hybrid - plain,
            4 + dsec_sdk::pq::MLDSA65_SIGNATURE_LEN,
            "ed25519 vote {plain} B, hybrid {hybrid} B"
        );
    }
}
