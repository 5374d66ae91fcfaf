//! Block proposals as streams of parts, with no effects: [`proposal_parts`]
//! splits a block into the parts its proposer publishes (`Init`, the
//! RLP-encoded block in chunks, a `Fin` part with the block hash and the
//! proposer's signature, Malachite's end-of-stream marker); sending them is the
//! host's concern ([`super::host`]), as Malachite keeps its pure logic apart
//! from effects.

use super::context::{BlockId, DsecContext, Height, PrivateKey, ProposalPart};
use alloy_primitives::B256;
use bytes::Bytes;
use dsec_sdk::block::Block;
use malachitebft_app_channel::app::types::core::Round;
use malachitebft_app_channel::app::types::streaming::{StreamId, StreamMessage};
use malachitebft_engine::util::streaming::StreamContent;

/// Largest chunk of a block in one proposal part.
pub(super) const PART_SIZE: usize = 256 * 1024;

/// The parts that stream `block` (whose header hash is `hash`) for (height,
/// round): Init, the RLP-encoded block in chunks of [`PART_SIZE`], Fin signed
/// by `key` over [`DsecContext::parts_signing_bytes`], end of stream. The
/// stream id is the height and round.
pub(super) fn proposal_parts(
    ctx: &DsecContext,
    key: &PrivateKey,
    height: Height,
    round: Round,
    pol_round: Round,
    block: &Block,
    hash: B256,
) -> Vec<StreamMessage<ProposalPart>> {
    let proposer = key.address();
    let mut id = Vec::with_capacity(12);
    id.extend_from_slice(&height.0.to_be_bytes());
    id.extend_from_slice(&round.as_i64().to_be_bytes()[4..]);
    let stream_id = StreamId::new(Bytes::from(id));
    let bytes = alloy_rlp::encode(block);
    let block_id = BlockId::from(hash);
    let mut parts = vec![StreamContent::Data(ProposalPart::Init { height, round, proposer, pol_round })];
    parts.extend(bytes.chunks(PART_SIZE).map(|c| StreamContent::Data(ProposalPart::Data(c.to_vec()))));
    parts.push(StreamContent::Data(ProposalPart::Fin {
        block_hash: block_id,
        signature: key.sign(&ctx.parts_signing_bytes(height, round, &block_id)),
    }));
    parts.push(StreamContent::Fin);
    parts
        .into_iter()
        .enumerate()
        .map(|(sequence, content)| StreamMessage::new(stream_id.clone(), sequence as u64, content))
        .collect()
}
