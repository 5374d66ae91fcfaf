//! `proposal_stream`: the reassembly of streamed block proposals.
//!
//! The reassembler is `dsec_consensus::bft::stream::ProposalStreams`: pure
//! (no network, clock or application), so it is fuzzed directly.
//!
//! # Input
//!
//! A sequence of operations, each one header byte then its own bytes, until
//! the input runs out (an operation cut short is dropped):
//!
//! - header bits 0-1: the publisher (one of four fixed peer ids);
//! - header bits 2-4: the stream id (one of eight one-byte ids);
//! - header bits 5-7: the operation:
//!   - 0 `Init` part: sequence (2 bytes), height byte, round byte;
//!   - 1 `Data` part: sequence (2 bytes), length byte, that many bytes;
//!   - 2 large `Data` part: sequence (2 bytes), size byte picking a size
//!     around the byte limits (at most four per input; later ones are empty);
//!   - 3 `Fin` part: sequence (2 bytes), a byte repeated as hash and signature;
//!   - 4 end-of-stream marker: sequence (2 bytes);
//!   - 5 `Data` part on a fresh stream id never used before (to churn
//!     streams past the limit): sequence (2 bytes), length byte, bytes;
//!   - 6 one part of a real proposal (built with the node's own
//!     `proposal_parts`): one byte picks the block (bit 0: one chunk or
//!     three) and the part (the other bits); its own stream id and sequence;
//!   - 7 empty `Data` part: sequence (2 bytes).
//!
//! A sequence is two bytes `s`: `0xffff` is `u64::MAX`, `0xfffe` is
//! `u64::MAX - 1`, `0xfffd` is `MAX_PARTS`, `0xfffc` is `MAX_PARTS - 1`, any
//! other is `s % 320`. Each operation happens one millisecond after the last.
//!
//! # Checks
//!
//! A model of the streams follows the answers (what a stream holds is known
//! from them) and predicts each answer from the rules `ProposalStreams::insert`
//! documents; the answer must be the predicted one, and the bounds (parts per
//! stream, bytes per stream and per publisher) must hold in the model after
//! every step. Once a new stream arrives beyond `MAX_STREAMS`, which stream
//! is evicted cannot be seen from outside, so the model stops and only the
//! checks that need no model go on: a sequence at or beyond `MAX_PARTS` is
//! refused, a duplicate is only ever reported for a part sent before, and a
//! completed stream is within the bounds and its block (if it decodes) has the
//! hash its `Fin` part names.

use crate::input::Input;
use alloy_primitives::{Address, B256};
use bytes::Bytes;
use dsec_consensus::bft::context;
use dsec_sdk::block::{Block, Body, BodyTx, Header};
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_app_channel::app::types::core::Round;
use malachitebft_app_channel::app::types::streaming::{StreamId, StreamMessage};
use malachitebft_engine::util::streaming::StreamContent;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use context::{BlockId, DsecContext, Height, PrivateKey, ProposalPart, Signature, ValidatorAddress};
use dsec_consensus::bft::stream::{
    BadBlock, CompletedStream, MAX_PARTS, MAX_STREAM_BYTES, MAX_STREAMS, PART_SIZE, ProposalStreams, Received,
    proposal_parts,
};

/// Publishers an input can name.
const PUBLISHERS: usize = 4;
/// Large data parts one input may carry (each allocates up to 64 MiB).
const MAX_LARGE_PARTS: usize = 4;

/// The content of a part as the model needs it.
#[derive(Debug, Clone)]
enum Part {
    /// `Init` with its height, round, proposer and proof-of-lock round.
    Init(Height, Round, ValidatorAddress, Round),
    /// `Data` of this many bytes.
    Data(usize),
    /// `Fin` with its block hash and signature.
    Fin(BlockId, Signature),
    /// The end-of-stream marker.
    End,
}

impl Part {
    fn of(content: &StreamContent<ProposalPart>) -> Self {
        match content {
            StreamContent::Data(ProposalPart::Init { height, round, proposer, pol_round }) => {
                Part::Init(*height, *round, *proposer, *pol_round)
            }
            StreamContent::Data(ProposalPart::Data(bytes)) => Part::Data(bytes.len()),
            StreamContent::Data(ProposalPart::Fin { block_hash, signature }) => {
                Part::Fin(*block_hash, signature.clone())
            }
            StreamContent::Fin => Part::End,
        }
    }
}

/// What the model knows of one stream being reassembled.
#[derive(Debug, Clone)]
struct Shadow {
    started: Instant,
    init: Option<(Height, Round, ValidatorAddress, Round)>,
    fin: Option<(BlockId, Signature)>,
    end: Option<u64>,
    seen: BTreeSet<u64>,
    bytes: usize,
}

impl Shadow {
    fn new(started: Instant) -> Self {
        Self { started, init: None, fin: None, end: None, seen: BTreeSet::new(), bytes: 0 }
    }
}

/// The answer the model predicts.
#[derive(Debug)]
enum Expected {
    Duplicate,
    Incomplete,
    TooLarge,
    Malformed,
    Complete {
        init: (Height, Round, ValidatorAddress, Round),
        fin: (BlockId, Signature),
        parts: usize,
        bytes: usize,
        elapsed: Duration,
    },
}

/// A stream as the model keys it: publisher index and stream id bytes.
type Key = (usize, Vec<u8>);

/// The model of the reassembler's streams, exact until an eviction it cannot see.
struct Model {
    exact: bool,
    streams: HashMap<Key, Shadow>,
    /// Every (stream, sequence) sent so far: only these can be duplicates.
    sent: HashSet<(Key, u64)>,
}

impl Model {
    /// Predict the answer to `part` at `sequence` of stream `key` at `now`, and
    /// update the model as the reassembler updates itself.
    fn expect(&mut self, key: &Key, sequence: u64, part: Part, now: Instant) -> Expected {
        if sequence >= MAX_PARTS {
            self.streams.remove(key);
            return Expected::Malformed;
        }
        let mut shadow = self.streams.get(key).cloned().unwrap_or_else(|| Shadow::new(now));
        if shadow.seen.contains(&sequence) {
            return Expected::Duplicate;
        }
        shadow.seen.insert(sequence);
        let malformed = match part {
            Part::End if shadow.seen.iter().any(|s| *s > sequence) => true,
            Part::End => {
                shadow.end = Some(sequence);
                false
            }
            _ if shadow.end.is_some_and(|end| sequence > end) => true,
            Part::Init(..) if shadow.init.is_some() => true,
            Part::Init(height, round, proposer, pol_round) => {
                shadow.init = Some((height, round, proposer, pol_round));
                false
            }
            Part::Data(len) => {
                shadow.bytes = shadow.bytes.saturating_add(len);
                false
            }
            Part::Fin(..) if shadow.fin.is_some() => true,
            Part::Fin(block_hash, signature) => {
                shadow.fin = Some((block_hash, signature));
                false
            }
        };
        if malformed {
            self.streams.remove(key);
            return Expected::Malformed;
        }
        let publisher_bytes = self
            .streams
            .iter()
            .filter(|((p, id), _)| *p == key.0 && *id != key.1)
            .fold(shadow.bytes, |sum, (_, s)| sum.saturating_add(s.bytes));
        if shadow.bytes > MAX_STREAM_BYTES || publisher_bytes > MAX_STREAM_BYTES {
            self.streams.remove(key);
            return Expected::TooLarge;
        }
        if let (Some(end), Some(init), Some(fin)) = (shadow.end, shadow.init, shadow.fin.clone())
            && shadow.seen.len() as u64 == end.saturating_add(1)
        {
            self.streams.remove(key);
            return Expected::Complete {
                init,
                fin,
                parts: shadow.seen.len(),
                bytes: shadow.bytes,
                elapsed: now.saturating_duration_since(shadow.started),
            };
        }
        self.streams.insert(key.clone(), shadow);
        Expected::Incomplete
    }

    /// The documented bounds, on what the model holds.
    fn check_bounds(&self) {
        assert!(self.streams.len() <= MAX_STREAMS, "more than MAX_STREAMS streams held");
        let mut per_publisher = [0usize; PUBLISHERS];
        for ((publisher, _), shadow) in &self.streams {
            assert!(shadow.bytes <= MAX_STREAM_BYTES, "a stream holds {} bytes", shadow.bytes);
            assert!(shadow.seen.len() as u64 <= MAX_PARTS, "a stream holds {} parts", shadow.seen.len());
            if let Some(total) = per_publisher.get_mut(*publisher) {
                *total = total.saturating_add(shadow.bytes);
            }
        }
        for (publisher, total) in per_publisher.iter().enumerate() {
            assert!(*total <= MAX_STREAM_BYTES, "publisher {publisher} holds {total} bytes over its streams");
        }
    }
}

/// The peer id of publisher `index` (an identity multihash of 32 bytes of `index`).
fn peer(index: usize) -> Option<PeerId> {
    let mut bytes = vec![0x00, 0x20];
    bytes.extend_from_slice(&[u8::try_from(index).ok()?; 32]);
    PeerId::from_bytes(&bytes).ok()
}

/// Two real proposals, as the node streams them: a block of one chunk and one of three.
fn real_streams() -> &'static [Vec<StreamMessage<ProposalPart>>; 2] {
    static STREAMS: OnceLock<[Vec<StreamMessage<ProposalPart>>; 2]> = OnceLock::new();
    STREAMS.get_or_init(|| {
        let ctx = DsecContext::new(B256::repeat_byte(7));
        let key = PrivateKey::local(dsec_sdk::validators::ValidatorKey::from_seed(&[3; 32]));
        let parts = |round: u32, tx_bytes: usize| {
            let header = Header { number: 1, proposer: key.address().to_eth(), ..Default::default() };
            let tx = BodyTx { sender: Address::repeat_byte(1), raw: vec![0xab; tx_bytes].into() };
            let block = Block { header, body: Body { transactions: vec![tx] } };
            let hash = block.header.hash_slow();
            // An in-memory key always signs.
            proposal_parts(&ctx, &key, Height(1), Round::new(round), Round::Nil, &block, hash).unwrap_or_default()
        };
        [parts(0, 100), parts(1, 2 * PART_SIZE + 1000)]
    })
}

/// The sequence number two input bytes stand for.
fn sequence(raw: u16) -> u64 {
    match raw {
        0xffff => u64::MAX,
        0xfffe => u64::MAX - 1,
        0xfffd => MAX_PARTS,
        0xfffc => MAX_PARTS - 1,
        _ => u64::from(raw % 320),
    }
}

/// The size of a large data part: around the per-stream and per-publisher byte limits.
fn large_size(class: u8) -> usize {
    match class % 8 {
        0 => MAX_STREAM_BYTES / 4,
        1 => MAX_STREAM_BYTES / 2 - 1,
        2 => MAX_STREAM_BYTES / 2,
        3 => MAX_STREAM_BYTES / 2 + 1,
        4 => MAX_STREAM_BYTES - 1,
        5 => MAX_STREAM_BYTES,
        6 => MAX_STREAM_BYTES + 1,
        _ => PART_SIZE,
    }
}

/// Whether `received` is the kind of answer the model expected.
fn same_answer(received: &Received, expected: &Expected) -> bool {
    matches!(
        (received, expected),
        (Received::Duplicate, Expected::Duplicate)
            | (Received::Incomplete, Expected::Incomplete)
            | (Received::TooLarge, Expected::TooLarge)
            | (Received::Malformed(_), Expected::Malformed)
            | (Received::Complete(_), Expected::Complete { .. })
    )
}

/// One answer, short (a completed stream's block can be megabytes).
fn describe(received: &Received) -> String {
    match received {
        Received::Complete(done) => format!(
            "Complete {{ parts: {}, bytes: {}, elapsed: {:?}, block ok: {} }}",
            done.parts,
            done.bytes,
            done.elapsed,
            done.block.is_ok()
        ),
        other => format!("{other:?}"),
    }
}

/// The next operation of the input: the publisher and the message, or `None` when the input runs out.
struct Ops<'a> {
    input: Input<'a>,
    large_parts: usize,
    fresh_ids: u64,
}

impl Ops<'_> {
    fn next_op(&mut self) -> Option<(usize, StreamMessage<ProposalPart>)> {
        let header = self.input.u8()?;
        let publisher = usize::from(header & 0b11);
        let stream_id = StreamId::new(Bytes::from(vec![(header >> 2) & 0b111]));
        let message = |sequence: u16, part: ProposalPart| {
            StreamMessage::new(stream_id.clone(), self::sequence(sequence), StreamContent::Data(part))
        };
        let msg = match header >> 5 {
            0 => {
                let (seq, height, round) = (self.input.u16()?, self.input.u8()?, self.input.u8()?);
                let pol_round =
                    if round & 0x80 != 0 { Round::Nil } else { Round::new(u32::from((round >> 4) & 0b111)) };
                let init = ProposalPart::Init {
                    height: Height(u64::from(height)),
                    round: Round::new(u32::from(round & 0x0f)),
                    proposer: ValidatorAddress([height ^ round; 20]),
                    pol_round,
                };
                message(seq, init)
            }
            1 => {
                let seq = self.input.u16()?;
                let len = usize::from(self.input.u8()?);
                message(seq, ProposalPart::Data(self.input.up_to(len).to_vec()))
            }
            2 => {
                let (seq, class) = (self.input.u16()?, self.input.u8()?);
                let len = if self.large_parts < MAX_LARGE_PARTS { large_size(class) } else { 0 };
                self.large_parts += 1;
                // Zeroed, so the pages are not touched unless the stream completes.
                message(seq, ProposalPart::Data(vec![0; len]))
            }
            3 => {
                let (seq, byte) = (self.input.u16()?, self.input.u8()?);
                message(
                    seq,
                    ProposalPart::Fin { block_hash: BlockId([byte; 32]), signature: Signature::ed25519([byte; 64]) },
                )
            }
            4 => StreamMessage::new(stream_id.clone(), sequence(self.input.u16()?), StreamContent::Fin),
            5 => {
                let seq = self.input.u16()?;
                let len = usize::from(self.input.u8()?);
                self.fresh_ids += 1;
                let mut id = vec![0xff];
                id.extend_from_slice(&self.fresh_ids.to_be_bytes());
                let data = ProposalPart::Data(self.input.up_to(len).to_vec());
                StreamMessage::new(StreamId::new(Bytes::from(id)), sequence(seq), StreamContent::Data(data))
            }
            6 => {
                let pick = self.input.u8()?;
                let stream = &real_streams()[usize::from(pick & 1)];
                stream.get(usize::from(pick >> 1) % stream.len().max(1))?.clone()
            }
            _ => message(self.input.u16()?, ProposalPart::Data(Vec::new())),
        };
        Some((publisher, msg))
    }
}

/// Run the `proposal_stream` target on `data`.
pub(crate) fn run(data: &[u8]) {
    let Some(peers) = (0..PUBLISHERS).map(peer).collect::<Option<Vec<PeerId>>>() else {
        panic!("the fixed publisher peer ids do not parse");
    };
    let start = Instant::now();
    let mut streams = ProposalStreams::default();
    let mut model = Model { exact: true, streams: HashMap::new(), sent: HashSet::new() };
    let mut ops = Ops { input: Input::new(data), large_parts: 0, fresh_ids: 0 };
    let mut step: u64 = 0;
    while !ops.input.is_empty() {
        let Some((publisher, msg)) = ops.next_op() else { break };
        step += 1;
        let now = start + Duration::from_millis(step);
        let key: Key = (publisher, msg.stream_id.to_bytes().to_vec());
        let sequence = msg.sequence;
        let part = Part::of(&msg.content);
        // A new stream beyond MAX_STREAMS evicts one the model cannot tell.
        if model.exact
            && sequence < MAX_PARTS
            && !model.streams.contains_key(&key)
            && model.streams.len() >= MAX_STREAMS
        {
            model.exact = false;
            model.streams.clear();
        }
        let sent_before = !model.sent.insert((key.clone(), sequence));
        let received = streams.insert(peers[publisher], msg, now);
        let answer = describe(&received);
        let context =
            format!("step {step}: publisher {publisher}, stream {:02x?}, sequence {sequence}, {part:?}", key.1);

        // Checks that need no model.
        if sequence >= MAX_PARTS {
            assert!(matches!(received, Received::Malformed(_)), "{context}: accepted ({answer})");
        }
        if matches!(received, Received::Duplicate) {
            assert!(sent_before, "{context}: a duplicate of a part never sent");
        }
        let expected = if model.exact { Some(model.expect(&key, sequence, part, now)) } else { None };
        if let Some(expected) = &expected {
            assert!(same_answer(&received, expected), "{context}: expected {expected:?}, got {answer}");
        }
        match received {
            Received::Complete(done) => {
                let CompletedStream {
                    height,
                    round,
                    proposer,
                    pol_round,
                    block_hash,
                    signature,
                    parts,
                    bytes,
                    elapsed,
                    block,
                } = *done;
                assert!(parts as u64 <= MAX_PARTS, "{context}: a stream of {parts} parts completed");
                assert!(bytes <= MAX_STREAM_BYTES, "{context}: a stream of {bytes} bytes completed");
                assert!(elapsed <= now.saturating_duration_since(start), "{context}: elapsed {elapsed:?}");
                match &block {
                    Ok(block) => assert_eq!(
                        block.header.hash_slow(),
                        block_hash.to_b256(),
                        "{context}: a block reported good whose hash is not the Fin part's"
                    ),
                    Err(BadBlock::HashMismatch) => {}
                    Err(BadBlock::Undecodable(error)) => {
                        assert!(!error.to_string().is_empty(), "{context}: an RLP error without a message");
                    }
                }
                if let Some(Expected::Complete { init, fin, parts: want_parts, bytes: want_bytes, elapsed: want }) =
                    expected
                {
                    assert_eq!((height, round, proposer, pol_round), init, "{context}: Init fields");
                    assert_eq!((block_hash, signature), fin, "{context}: Fin fields");
                    assert_eq!(parts, want_parts, "{context}: part count");
                    assert_eq!(bytes, want_bytes, "{context}: byte count");
                    assert_eq!(elapsed, want, "{context}: elapsed time");
                }
            }
            Received::Malformed(reason) => assert!(!reason.is_empty(), "{context}: malformed without a reason"),
            Received::Duplicate | Received::Incomplete | Received::TooLarge => {}
        }
        if model.exact {
            model.check_bounds();
        }
    }
}
