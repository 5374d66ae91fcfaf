//! Proposal streaming on the hot path of every block: the proposer encodes its
//! block into signed parts, and each other validator decodes the parts from the
//! wire, reassembles them and decodes the block.
//!
//! `cargo bench -p dsec-consensus --features bench` (see the README's
//! Benchmarks section). Transactions are 110-byte blobs, the size of a signed
//! EIP-1559 transfer: streaming never looks inside them.
// The package's other dependencies are unused here; criterion_group! makes an undocumented `pub fn`.
#![allow(unused_crate_dependencies, missing_docs)]

use alloy_primitives::{Address, Bytes};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dsec_consensus::bft::codec::DsecCodec;
use dsec_consensus::bft::context::{DsecContext, Height, PrivateKey};
use dsec_consensus::bft::stream::{ProposalStreams, Received, proposal_parts};
use dsec_sdk::block::{Block, Body, BodyTx, Header};
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::Round;
use malachitebft_app_channel::app::types::streaming::StreamMessage;
use std::hint::black_box;
use std::time::Instant;

/// Block sizes measured: a small block, and the 5,000 transfers of a block under load.
const SIZES: [usize; 2] = [100, 5_000];

fn block(transactions: usize, key: &PrivateKey) -> Block {
    let header = Header { number: 1, proposer: key.address().to_eth(), ..Default::default() };
    let transactions = (0..transactions)
        .map(|i| BodyTx {
            sender: Address::with_last_byte((i % 256) as u8),
            raw: Bytes::from(vec![(i % 251) as u8; 110]),
        })
        .collect();
    Block { header, body: Body { transactions } }
}

fn proposal(c: &mut Criterion) {
    let key = PrivateKey::local(dsec_sdk::validators::ValidatorKey::from_seed(&[3; 32]));
    let ctx = DsecContext::new(alloy_primitives::B256::repeat_byte(1));
    let codec = DsecCodec;
    let publisher = libp2p::PeerId::random().to_bytes();
    let Ok(publisher) = PeerId::from_bytes(&publisher) else { return };
    let mut group = c.benchmark_group("proposal");
    for size in SIZES {
        let block = block(size, &key);
        let hash = block.header.hash_slow();
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("encode", size), &block, |b, block| {
            b.iter(|| {
                let parts =
                    proposal_parts(&ctx, &key, Height(1), Round::new(0), Round::Nil, block, hash).unwrap_or_default();
                let wire: Vec<_> = parts.iter().filter_map(|p| codec.encode(p).ok()).collect();
                black_box(wire)
            })
        });
        let parts = proposal_parts(&ctx, &key, Height(1), Round::new(0), Round::Nil, &block, hash).unwrap_or_default();
        let wire: Vec<bytes::Bytes> = parts.iter().filter_map(|p| codec.encode(p).ok()).collect();
        group.bench_with_input(BenchmarkId::new("decode", size), &wire, |b, wire| {
            b.iter(|| {
                let mut streams = ProposalStreams::default();
                let mut completed = None;
                for bytes in wire {
                    let msg: Result<StreamMessage<_>, _> = codec.decode(bytes.clone());
                    let Ok(msg) = msg else { continue };
                    if let Received::Complete(done) = streams.insert(publisher, msg, Instant::now()) {
                        completed = Some(done);
                    }
                }
                assert!(completed.as_ref().is_some_and(|c| c.block.is_ok()), "the stream reassembles");
                black_box(completed)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, proposal);
criterion_main!(benches);
