//! Block proposals as streams of parts: splitting a block into parts and
//! reassembling the parts of others, with no effects.
//!
//! A proposer streams its block as [`ProposalPart`]s ([`proposal_parts`]):
//! `Init` (height, round, proposer, proof-of-lock round), the RLP-encoded block
//! in chunks, a `Fin` part with the block hash and the proposer's signature, and
//! Malachite's end-of-stream marker. Gossip delivers them in any order, through
//! any neighbour, possibly more than once. [`ProposalStreams`] collects them per
//! (publisher, stream id), bounded in number ([`MAX_STREAMS`]) and size
//! ([`MAX_STREAM_BYTES`]), and hands back a [`CompletedStream`] once every part
//! is in, its block decoded and checked against the hash the proposer signed.
//! Nothing here touches the network, the clock or the application: who may
//! publish, whether the proposer really signed, and what becomes of the block
//! are the host's concern ([`super::host`]), as Malachite keeps its pure logic
//! apart from effects.

use super::context::{BlockId, DsecContext, Height, PrivateKey, ProposalPart, Signature, ValidatorAddress};
use alloy_primitives::B256;
use bytes::Bytes;
use dsec_sdk::block::Block;
use dsec_sdk::validators::SignerError;
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_app_channel::app::types::core::Round;
use malachitebft_app_channel::app::types::streaming::{StreamId, StreamMessage};
use malachitebft_engine::util::streaming::StreamContent;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// Largest chunk of a block in one proposal part.
pub const PART_SIZE: usize = 256 * 1024;
/// Largest block accepted from a stream (bytes).
pub const MAX_STREAM_BYTES: usize = 64 * 1024 * 1024;
/// Most streams reassembled at once. Beyond it, the publisher holding the
/// most streams loses its oldest: a peer churning stream ids evicts only its own.
pub const MAX_STREAMS: usize = 64;
/// Most parts in one stream: a block of [`MAX_STREAM_BYTES`] in [`PART_SIZE`]
/// chunks, Init, Fin and the end marker, with room to spare. A part with a
/// higher sequence number (`u64::MAX` included) is refused, so every count and
/// sequence stays small; empty parts count like any other.
pub const MAX_PARTS: u64 = (MAX_STREAM_BYTES / PART_SIZE) as u64 + 8;

/// The parts that stream `block` (whose header hash is `hash`) for (height,
/// round): Init, the RLP-encoded block in chunks of [`PART_SIZE`], Fin signed
/// by `key` over [`DsecContext::parts_signing_bytes`], end of stream. The
/// stream id is the height and round. Fails only if the key's token cannot sign.
pub fn proposal_parts(
    ctx: &DsecContext,
    key: &PrivateKey,
    height: Height,
    round: Round,
    pol_round: Round,
    block: &Block,
    hash: B256,
) -> Result<Vec<StreamMessage<ProposalPart>>, SignerError> {
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
        signature: key.sign(&ctx.parts_signing_bytes(height, round, &block_id))?,
    }));
    parts.push(StreamContent::Fin);
    Ok(parts
        .into_iter()
        .enumerate()
        .map(|(sequence, content)| StreamMessage::new(stream_id.clone(), sequence as u64, content))
        .collect())
}

/// The proposal streams being reassembled, each keyed by its publisher and
/// stream id: publishers choose stream ids independently, and gossip relays the
/// parts of one stream through different peers.
#[derive(Default)]
pub struct ProposalStreams {
    streams: HashMap<(PeerId, StreamId), PartialStream>,
}

/// The parts of one stream received so far.
struct PartialStream {
    init: Option<(Height, Round, ValidatorAddress, Round)>,
    data: BTreeMap<u64, Vec<u8>>,
    fin_part: Option<(BlockId, Signature)>,
    end: Option<u64>,
    seen: HashSet<u64>,
    bytes: usize,
    started: Instant,
}

/// What became of a part given to [`ProposalStreams::insert`].
#[derive(Debug)]
pub enum Received {
    /// A part with this sequence number was already received: ignored.
    Duplicate,
    /// Recorded; the stream still misses parts.
    Incomplete,
    /// The stream's data outgrew [`MAX_STREAM_BYTES`], or its publisher's
    /// streams together did: the stream is dropped.
    TooLarge,
    /// The part cannot belong to a well-formed stream (a sequence number at or
    /// beyond [`MAX_PARTS`] or after the end marker, a second Init or Fin
    /// part): the stream is dropped.
    Malformed(&'static str),
    /// The last missing part: the stream is complete and forgotten.
    Complete(Box<CompletedStream>),
}

/// A stream of which every part has arrived.
#[derive(Debug)]
pub struct CompletedStream {
    /// Height, from the Init part.
    pub height: Height,
    /// Round, from the Init part.
    pub round: Round,
    /// Proposer the Init part names (not yet checked against its signature).
    pub proposer: ValidatorAddress,
    /// Proof-of-lock round, from the Init part.
    pub pol_round: Round,
    /// Block hash, from the Fin part.
    pub block_hash: BlockId,
    /// The proposer's signature over the parts' signing bytes, from the Fin part (not yet verified).
    pub signature: Signature,
    /// Number of parts (distinct sequence numbers), end-of-stream marker included.
    pub parts: usize,
    /// Bytes of block data received.
    pub bytes: usize,
    /// Time from the stream's first part to its last.
    pub elapsed: Duration,
    /// The block the data parts carry, if they decode to one whose header hash is `block_hash`.
    pub block: Result<Block, BadBlock>,
}

/// Why the data of a complete stream is not the block it announces.
#[derive(Debug)]
pub enum BadBlock {
    /// The data is not an RLP-encoded block.
    Undecodable(alloy_rlp::Error),
    /// The block's header hash is not the hash in the Fin part.
    HashMismatch,
}

impl ProposalStreams {
    /// Record `msg`, published by `publisher`, received at `now`. A new stream
    /// beyond [`MAX_STREAMS`] first evicts the one that started first. The
    /// stream is complete when its Init part, Fin part and end-of-stream marker
    /// have arrived and as many distinct parts as the marker's sequence number
    /// says (sequences start at 0).
    ///
    /// Bounds, whatever a publisher sends: [`MAX_STREAMS`] streams in all,
    /// [`MAX_PARTS`] parts per stream, and [`MAX_STREAM_BYTES`] of data per
    /// stream and per publisher across its streams; so at most about 64 MiB
    /// plus bookkeeping per publisher, and `MAX_STREAMS × MAX_STREAM_BYTES` in
    /// all only if that many publishers each stream a full-size block.
    pub fn insert(&mut self, publisher: PeerId, msg: StreamMessage<ProposalPart>, now: Instant) -> Received {
        let StreamMessage { stream_id, sequence, content } = msg;
        let key = (publisher, stream_id);
        if sequence >= MAX_PARTS {
            self.streams.remove(&key);
            return Received::Malformed("part sequence number beyond the most parts a stream may have");
        }
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            self.evict_from_largest_holder();
        }
        let stream = self.streams.entry(key.clone()).or_insert_with(|| PartialStream::new(now));
        if !stream.seen.insert(sequence) {
            return Received::Duplicate;
        }
        let malformed = match content {
            StreamContent::Fin if stream.seen.iter().any(|s| *s > sequence) => Some("part after the end of the stream"),
            StreamContent::Fin => {
                stream.end = Some(sequence);
                None
            }
            _ if stream.end.is_some_and(|end| sequence > end) => Some("part after the end of the stream"),
            StreamContent::Data(ProposalPart::Init { .. }) if stream.init.is_some() => Some("a second Init part"),
            StreamContent::Data(ProposalPart::Init { height, round, proposer, pol_round }) => {
                stream.init = Some((height, round, proposer, pol_round));
                None
            }
            StreamContent::Data(ProposalPart::Data(bytes)) => {
                stream.bytes = stream.bytes.saturating_add(bytes.len());
                stream.data.insert(sequence, bytes);
                None
            }
            StreamContent::Data(ProposalPart::Fin { .. }) if stream.fin_part.is_some() => Some("a second Fin part"),
            StreamContent::Data(ProposalPart::Fin { block_hash, signature }) => {
                stream.fin_part = Some((block_hash, signature));
                None
            }
        };
        if let Some(reason) = malformed {
            self.streams.remove(&key);
            return Received::Malformed(reason);
        }
        let stream_bytes = stream.bytes;
        let complete = match (stream.end, &stream.init, &stream.fin_part) {
            (Some(end), Some(_), Some(_)) => stream.seen.len() as u64 == end.saturating_add(1),
            _ => false,
        };
        let publisher_bytes = self
            .streams
            .iter()
            .filter(|((p, _), _)| *p == publisher)
            .fold(0usize, |sum, (_, s)| sum.saturating_add(s.bytes));
        if stream_bytes > MAX_STREAM_BYTES || publisher_bytes > MAX_STREAM_BYTES {
            self.streams.remove(&key);
            return Received::TooLarge;
        }
        if !complete {
            return Received::Incomplete;
        }
        // Both `else` branches are unreachable (checked just above); no panics on peer input.
        let Some(stream) = self.streams.remove(&key) else { return Received::Incomplete };
        let (Some((height, round, proposer, pol_round)), Some((block_hash, signature))) =
            (stream.init, stream.fin_part)
        else {
            return Received::Incomplete;
        };
        let bytes: Vec<u8> = stream.data.into_values().flatten().collect();
        // Exact: a block followed by junk is not the block the proposer signed.
        let block = match alloy_rlp::decode_exact::<Block>(&bytes) {
            Ok(block) if block.header.hash_slow() == block_hash.to_b256() => Ok(block),
            Ok(_) => Err(BadBlock::HashMismatch),
            Err(e) => Err(BadBlock::Undecodable(e)),
        };
        Received::Complete(Box::new(CompletedStream {
            height,
            round,
            proposer,
            pol_round,
            block_hash,
            signature,
            parts: stream.seen.len(),
            bytes: stream.bytes,
            elapsed: now.saturating_duration_since(stream.started),
            block,
        }))
    }
}

impl ProposalStreams {
    /// Make room for one stream: the publisher holding the most streams loses
    /// the one it started first (ties: the stream started first overall).
    fn evict_from_largest_holder(&mut self) {
        let mut held: HashMap<PeerId, usize> = HashMap::new();
        for (publisher, _) in self.streams.keys() {
            *held.entry(*publisher).or_default() += 1;
        }
        let victim = self
            .streams
            .iter()
            .max_by_key(|((publisher, _), s)| (held.get(publisher).copied().unwrap_or(0), std::cmp::Reverse(s.started)))
            .map(|(k, _)| k.clone());
        if let Some(victim) = victim {
            self.streams.remove(&victim);
        }
    }
}

impl PartialStream {
    fn new(started: Instant) -> Self {
        Self { init: None, data: BTreeMap::new(), fin_part: None, end: None, seen: HashSet::new(), bytes: 0, started }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsec_sdk::block::{Body, BodyTx, Header};

    fn key(seed: u8) -> PrivateKey {
        PrivateKey::local(dsec_sdk::validators::ValidatorKey::from_seed(&[seed; 32]))
    }

    fn ctx() -> DsecContext {
        DsecContext::new(B256::repeat_byte(7))
    }

    fn peer() -> PeerId {
        PeerId::from_bytes(&libp2p::PeerId::random().to_bytes()).expect("a peer id")
    }

    /// A block at height 1 proposed by `key`, with `tx_bytes` bytes of transaction data.
    fn block(key: &PrivateKey, tx_bytes: usize) -> Block {
        let header = Header { number: 1, proposer: key.address().to_eth(), ..Default::default() };
        let tx = BodyTx { sender: Default::default(), raw: vec![0xab; tx_bytes].into() };
        Block { header, body: Body { transactions: vec![tx] } }
    }

    /// The parts `key` streams for `block` at (1, `round`).
    fn parts(key: &PrivateKey, block: &Block, round: u32) -> Vec<StreamMessage<ProposalPart>> {
        proposal_parts(&ctx(), key, Height(1), Round::new(round), Round::Nil, block, block.header.hash_slow()).unwrap()
    }

    fn is_end_marker(part: &StreamMessage<ProposalPart>) -> bool {
        matches!(part.content, StreamContent::Fin)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_stream_completes_only_with_its_last_missing_part_in_any_order() {
        let key = key(3);
        let block = block(&key, 2 * PART_SIZE + 1000);
        let parts = parts(&key, &block, 0);
        // Init, three chunks of data, the signed Fin part, the end-of-stream marker.
        assert_eq!(parts.len(), 6);
        let expected_signature = key
            .sign(&ctx().parts_signing_bytes(Height(1), Round::new(0), &BlockId::from(block.header.hash_slow())))
            .unwrap();

        // Whichever part comes last (Init, any chunk, the Fin part or the
        // marker), the stream completes with it and not before.
        for last in 0..parts.len() {
            let others: Vec<usize> = (0..parts.len()).filter(|&i| i != last).collect();
            for order in [others.clone(), others.into_iter().rev().collect()] {
                let (mut streams, publisher, start) = (ProposalStreams::default(), peer(), Instant::now());
                for (n, &i) in order.iter().enumerate() {
                    let received = streams.insert(publisher, parts[i].clone(), start + ms(n as u64));
                    assert!(matches!(received, Received::Incomplete), "part {i} before {last}: {received:?}");
                }
                let received = streams.insert(publisher, parts[last].clone(), start + ms(order.len() as u64));
                let Received::Complete(done) = received else { panic!("part {last} last: {received:?}") };
                assert_eq!(done.height, Height(1));
                assert_eq!(done.round, Round::new(0));
                assert_eq!(done.proposer, key.address());
                assert_eq!(done.pol_round, Round::Nil);
                assert_eq!(done.block_hash, BlockId::from(block.header.hash_slow()));
                assert_eq!(done.signature, expected_signature);
                assert_eq!(done.parts, 6);
                assert_eq!(done.bytes, alloy_rlp::encode(&block).len());
                assert_eq!(done.elapsed, ms(5));
                assert_eq!(done.block.expect("the block"), block);
            }
        }
    }

    #[test]
    fn duplicate_parts_are_ignored() {
        let key = key(3);
        let block = block(&key, PART_SIZE + 1);
        let parts = parts(&key, &block, 0);
        let (mut streams, publisher, now) = (ProposalStreams::default(), peer(), Instant::now());
        let (last, rest) = parts.split_last().expect("parts");
        for part in rest {
            assert!(matches!(streams.insert(publisher, part.clone(), now), Received::Incomplete));
            assert!(matches!(streams.insert(publisher, part.clone(), now), Received::Duplicate));
        }
        let Received::Complete(done) = streams.insert(publisher, last.clone(), now) else { panic!("not complete") };
        assert_eq!(done.parts, parts.len());
        assert_eq!(done.bytes, alloy_rlp::encode(&block).len(), "duplicate data is not counted");
        assert_eq!(done.block.expect("the block"), block);
    }

    #[test]
    fn publishers_using_the_same_stream_id_are_kept_apart() {
        let (key_a, key_b) = (key(3), key(4));
        let (block_a, block_b) = (block(&key_a, 100), block(&key_b, 200));
        let (parts_a, parts_b) = (parts(&key_a, &block_a, 0), parts(&key_b, &block_b, 0));
        assert_eq!(parts_a[0].stream_id, parts_b[0].stream_id);
        assert_eq!(parts_a.len(), parts_b.len());
        let (mut streams, a, b, now) = (ProposalStreams::default(), peer(), peer(), Instant::now());

        let n = parts_a.len() - 1;
        for (part_a, part_b) in parts_a[..n].iter().zip(&parts_b[..n]) {
            assert!(matches!(streams.insert(a, part_a.clone(), now), Received::Incomplete));
            assert!(matches!(streams.insert(b, part_b.clone(), now), Received::Incomplete));
        }
        let Received::Complete(done) = streams.insert(b, parts_b[n].clone(), now) else { panic!("b not complete") };
        assert_eq!((done.proposer, done.block.expect("b's block")), (key_b.address(), block_b));
        let Received::Complete(done) = streams.insert(a, parts_a[n].clone(), now) else { panic!("a not complete") };
        assert_eq!((done.proposer, done.block.expect("a's block")), (key_a.address(), block_a));
    }

    #[test]
    fn a_stream_beyond_the_byte_limit_is_dropped() {
        let id = StreamId::new(Bytes::from_static(b"large"));
        let init = ProposalPart::Init {
            height: Height(1),
            round: Round::new(0),
            proposer: key(3).address(),
            pol_round: Round::Nil,
        };
        let part = |sequence: u64, p: ProposalPart| StreamMessage::new(id.clone(), sequence, StreamContent::Data(p));
        let (mut streams, publisher, now) = (ProposalStreams::default(), peer(), Instant::now());

        assert!(matches!(streams.insert(publisher, part(0, init.clone()), now), Received::Incomplete));
        let almost = ProposalPart::Data(vec![0; MAX_STREAM_BYTES - 1]);
        assert!(matches!(streams.insert(publisher, part(1, almost), now), Received::Incomplete));
        // Exactly the limit is accepted; one byte more drops the stream.
        assert!(matches!(streams.insert(publisher, part(2, ProposalPart::Data(vec![0])), now), Received::Incomplete));
        assert!(matches!(streams.insert(publisher, part(3, ProposalPart::Data(vec![0])), now), Received::TooLarge));
        // The stream is forgotten: its Init part starts a new one instead of being a duplicate.
        assert!(matches!(streams.insert(publisher, part(0, init), now), Received::Incomplete));
    }

    #[test]
    fn the_stream_started_first_is_evicted_beyond_max_streams() {
        let key = key(3);
        let block = block(&key, 100);
        let streams_of_parts: Vec<_> = (0..=MAX_STREAMS as u32).map(|round| parts(&key, &block, round)).collect();
        let (mut streams, publisher, start) = (ProposalStreams::default(), peer(), Instant::now());

        // MAX_STREAMS streams, each lacking only its end marker. Stream 0
        // starts first but receives its other parts last.
        let stream0 = &streams_of_parts[0];
        assert!(matches!(streams.insert(publisher, stream0[0].clone(), start), Received::Incomplete));
        for (round, parts) in streams_of_parts[..MAX_STREAMS].iter().enumerate().skip(1) {
            for part in parts.iter().filter(|p| !is_end_marker(p)) {
                let received = streams.insert(publisher, part.clone(), start + ms(round as u64));
                assert!(matches!(received, Received::Incomplete));
            }
        }
        for part in stream0[1..].iter().filter(|p| !is_end_marker(p)) {
            assert!(matches!(streams.insert(publisher, part.clone(), start + ms(100)), Received::Incomplete));
        }

        // One more stream evicts stream 0; stream 1, started next, stays.
        let newest = streams_of_parts[MAX_STREAMS][0].clone();
        assert!(matches!(streams.insert(publisher, newest, start + ms(200)), Received::Incomplete));
        let end = |round: usize| streams_of_parts[round].last().expect("an end marker").clone();
        assert!(matches!(streams.insert(publisher, end(1), start + ms(300)), Received::Complete(_)));
        assert!(matches!(streams.insert(publisher, end(0), start + ms(300)), Received::Incomplete));
        assert!(matches!(streams.insert(publisher, end(2), start + ms(300)), Received::Complete(_)));
    }

    /// A bare part of stream `id`.
    fn raw_part(id: &StreamId, sequence: u64, part: ProposalPart) -> StreamMessage<ProposalPart> {
        StreamMessage::new(id.clone(), sequence, StreamContent::Data(part))
    }

    #[test]
    fn out_of_range_sequences_are_refused_not_a_panic() {
        let key = key(3);
        let block = block(&key, 100);
        let parts = parts(&key, &block, 0);
        let (mut streams, publisher, now) = (ProposalStreams::default(), peer(), Instant::now());
        for part in &parts[..parts.len() - 1] {
            assert!(matches!(streams.insert(publisher, part.clone(), now), Received::Incomplete));
        }
        // An end marker at u64::MAX would make `end + 1` overflow.
        let mut last = parts[parts.len() - 1].clone();
        last.sequence = u64::MAX;
        assert!(matches!(streams.insert(publisher, last.clone(), now), Received::Malformed(_)));
        last.sequence = MAX_PARTS;
        assert!(matches!(streams.insert(publisher, last, now), Received::Malformed(_)));
        // A data part after the end marker, or an end marker before parts already seen, drops the stream.
        let id = parts[0].stream_id.clone();
        let end = |sequence| StreamMessage::new(id.clone(), sequence, StreamContent::Fin);
        assert!(matches!(streams.insert(publisher, end(2), now), Received::Incomplete));
        let after = raw_part(&id, 3, ProposalPart::Data(vec![1]));
        assert!(matches!(streams.insert(publisher, after, now), Received::Malformed(_)));
        assert!(matches!(
            streams.insert(publisher, raw_part(&id, 5, ProposalPart::Data(vec![])), now),
            Received::Incomplete
        ));
        assert!(matches!(streams.insert(publisher, end(4), now), Received::Malformed(_)));
    }

    #[test]
    fn empty_parts_and_repeated_headers_are_bounded() {
        let id = StreamId::new(Bytes::from_static(b"empty"));
        let init = ProposalPart::Init {
            height: Height(1),
            round: Round::new(0),
            proposer: key(3).address(),
            pol_round: Round::Nil,
        };
        let (mut streams, publisher, now) = (ProposalStreams::default(), peer(), Instant::now());
        assert!(matches!(streams.insert(publisher, raw_part(&id, 0, init.clone()), now), Received::Incomplete));
        assert!(matches!(streams.insert(publisher, raw_part(&id, 1, init), now), Received::Malformed(_)));
        // Empty data parts take sequence numbers, which run out at MAX_PARTS.
        for sequence in 0..MAX_PARTS {
            let received = streams.insert(publisher, raw_part(&id, sequence, ProposalPart::Data(Vec::new())), now);
            assert!(matches!(received, Received::Incomplete), "{sequence}: {received:?}");
        }
        let received = streams.insert(publisher, raw_part(&id, MAX_PARTS, ProposalPart::Data(Vec::new())), now);
        assert!(matches!(received, Received::Malformed(_)));
        assert!(streams.streams.is_empty());
    }

    #[test]
    fn a_publisher_churning_stream_ids_evicts_only_its_own_streams() {
        let (honest_key, honest, churner, start) = (key(3), peer(), peer(), Instant::now());
        let block = block(&honest_key, 100);
        let honest_parts = parts(&honest_key, &block, 0);
        let (last, rest) = honest_parts.split_last().expect("parts");
        let mut streams = ProposalStreams::default();
        for part in rest {
            assert!(matches!(streams.insert(honest, part.clone(), start), Received::Incomplete));
        }
        // The honest stream is the oldest; a thousand fresh stream ids from another publisher come later.
        for n in 0..1_000u64 {
            let id = StreamId::new(Bytes::from(n.to_be_bytes().to_vec()));
            let part = raw_part(&id, 0, ProposalPart::Data(vec![0; 10]));
            assert!(matches!(streams.insert(churner, part, start + ms(1 + n)), Received::Incomplete));
            assert!(streams.streams.len() <= MAX_STREAMS);
        }
        let Received::Complete(done) = streams.insert(honest, last.clone(), start + ms(2_000)) else {
            panic!("the honest stream was evicted")
        };
        assert_eq!(done.block.expect("the block"), block);
    }

    #[test]
    fn a_publisher_cannot_hold_more_than_one_streams_worth_of_data() {
        let (mut streams, publisher, now) = (ProposalStreams::default(), peer(), Instant::now());
        let chunk = MAX_STREAM_BYTES / 4;
        for n in 0..4u64 {
            let id = StreamId::new(Bytes::from(n.to_be_bytes().to_vec()));
            let received = streams.insert(publisher, raw_part(&id, 1, ProposalPart::Data(vec![0; chunk])), now);
            assert!(matches!(received, Received::Incomplete), "stream {n}: {received:?}");
        }
        let id = StreamId::new(Bytes::from_static(b"one too many"));
        let received = streams.insert(publisher, raw_part(&id, 1, ProposalPart::Data(vec![0; 1])), now);
        assert!(matches!(received, Received::TooLarge));
        // Another publisher is not held to the first one's budget.
        let received = streams.insert(peer(), raw_part(&id, 1, ProposalPart::Data(vec![0; chunk])), now);
        assert!(matches!(received, Received::Incomplete));
    }

    #[test]
    fn an_undecodable_block_is_reported() {
        let key = key(3);
        let id = StreamId::new(Bytes::from_static(b"garbage"));
        let contents = [
            StreamContent::Data(ProposalPart::Init {
                height: Height(1),
                round: Round::new(0),
                proposer: key.address(),
                pol_round: Round::Nil,
            }),
            StreamContent::Data(ProposalPart::Data(b"not a block".to_vec())),
            StreamContent::Data(ProposalPart::Fin {
                block_hash: BlockId([1; 32]),
                signature: Signature::ed25519([0; 64]),
            }),
            StreamContent::Fin,
        ];
        let (mut streams, publisher, now) = (ProposalStreams::default(), peer(), Instant::now());
        let mut received = Received::Incomplete;
        for (sequence, content) in contents.into_iter().enumerate() {
            received = streams.insert(publisher, StreamMessage::new(id.clone(), sequence as u64, content), now);
        }
        let Received::Complete(done) = received else { panic!("not complete: {received:?}") };
        assert_eq!((done.height, done.round, done.parts, done.bytes), (Height(1), Round::new(0), 4, 11));
        assert!(matches!(done.block, Err(BadBlock::Undecodable(_))), "{:?}", done.block);
    }

    #[test]
    fn a_block_followed_by_junk_is_undecodable() {
        let key = key(3);
        let block = block(&key, 100);
        let mut data = alloy_rlp::encode(&block);
        data.push(0);
        let id = StreamId::new(Bytes::from_static(b"trailing"));
        let contents = [
            StreamContent::Data(ProposalPart::Init {
                height: Height(1),
                round: Round::new(0),
                proposer: key.address(),
                pol_round: Round::Nil,
            }),
            StreamContent::Data(ProposalPart::Data(data)),
            StreamContent::Data(ProposalPart::Fin {
                block_hash: BlockId::from(block.header.hash_slow()),
                signature: Signature::ed25519([0; 64]),
            }),
            StreamContent::Fin,
        ];
        let (mut streams, publisher, now) = (ProposalStreams::default(), peer(), Instant::now());
        let mut received = Received::Incomplete;
        for (sequence, content) in contents.into_iter().enumerate() {
            received = streams.insert(publisher, StreamMessage::new(id.clone(), sequence as u64, content), now);
        }
        let Received::Complete(done) = received else { panic!("not complete: {received:?}") };
        assert!(matches!(done.block, Err(BadBlock::Undecodable(_))), "{:?}", done.block);
    }

    #[test]
    fn a_block_not_matching_its_signed_hash_is_reported() {
        let key = key(3);
        let block = block(&key, 100);
        let mut parts = parts(&key, &block, 0);
        for part in &mut parts {
            if let StreamContent::Data(ProposalPart::Fin { block_hash, .. }) = &mut part.content {
                *block_hash = BlockId([1; 32]);
            }
        }
        let (mut streams, publisher, now) = (ProposalStreams::default(), peer(), Instant::now());
        let mut received = Received::Incomplete;
        for part in parts {
            received = streams.insert(publisher, part, now);
        }
        let Received::Complete(done) = received else { panic!("not complete: {received:?}") };
        assert_eq!(done.block_hash, BlockId([1; 32]));
        assert!(matches!(done.block, Err(BadBlock::HashMismatch)), "{:?}", done.block);
    }
}
