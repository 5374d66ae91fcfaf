//! `consensus_codec`: every message kind of the consensus codec.
//!
//! [`DsecCodec`] is what a node runs on everything its peers send it
//! (consensus messages, proposal parts, liveness messages, sync requests and
//! responses, proofs of validator) and on its own write-ahead log. The whole
//! input is tried as each kind.

use bytes::Bytes;
use dsec_consensus::bft::codec::DsecCodec;
use dsec_consensus::bft::context::{DsecContext, ProposalPart};
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{PolkaCertificate, ValidatorProof};
use malachitebft_app_channel::app::types::streaming::StreamMessage;
use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};
use std::fmt::Debug;

/// Run the `consensus_codec` target on `data`.
pub(crate) fn run(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    round_trip::<ProposalPart>(&bytes);
    round_trip::<SignedConsensusMsg<DsecContext>>(&bytes);
    round_trip::<LivenessMsg<DsecContext>>(&bytes);
    round_trip::<StreamMessage<ProposalPart>>(&bytes);
    round_trip::<ProposedValue<DsecContext>>(&bytes);
    round_trip::<PolkaCertificate<DsecContext>>(&bytes);
    round_trip::<Status<DsecContext>>(&bytes);
    round_trip::<Request<DsecContext>>(&bytes);
    round_trip::<ValidatorProof<DsecContext>>(&bytes);
    if let Some(response) = round_trip::<Response<DsecContext>>(&bytes) {
        // Sync sizes its responses with `encoded_len`: it must be the real length.
        let encoded = encode(&response);
        match HasEncodedLen::<Response<DsecContext>>::encoded_len(&DsecCodec, &response) {
            Ok(len) => assert_eq!(len, encoded.len(), "encoded_len of a sync response is not its encoded length"),
            Err(e) => panic!("encoded_len fails on a decoded sync response: {e}"),
        }
    }
}

/// Encode `value`, which came from decoding, so it must encode.
fn encode<T: Debug>(value: &T) -> Bytes
where
    DsecCodec: Codec<T>,
{
    match Codec::<T>::encode(&DsecCodec, value) {
        Ok(bytes) => bytes,
        Err(e) => panic!("a decoded {} does not encode: {e}\n{value:?}", std::any::type_name::<T>()),
    }
}

/// If `bytes` decode as a `T`: check that it encodes, that the encoding
/// decodes to an equal value and that this re-encodes to the same bytes (the
/// encoding is a fixed point, so what a node signs, stores and relays does not
/// change by being decoded), and return the value.
fn round_trip<T: PartialEq + Debug>(bytes: &Bytes) -> Option<T>
where
    DsecCodec: Codec<T>,
{
    let value = Codec::<T>::decode(&DsecCodec, bytes.clone()).ok()?;
    let name = std::any::type_name::<T>();
    let encoded = encode(&value);
    let again = match Codec::<T>::decode(&DsecCodec, encoded.clone()) {
        Ok(again) => again,
        Err(e) => panic!("the encoding of a decoded {name} does not decode: {e}\n{value:?}"),
    };
    assert_eq!(again, value, "{name} changes when encoded and decoded again");
    assert_eq!(encode(&again), encoded, "{name} encodes differently after a round trip");
    // Borsh has one encoding per value (and `borsh::from_slice` refuses
    // trailing bytes), so a message decodes only from its own encoding: a
    // relayer cannot vary the bytes (and so the gossip message id, the hash of
    // the bytes) of a message it forwards.
    assert_eq!(&encoded, bytes, "{name} decodes from bytes that are not its encoding");
    Some(value)
}
