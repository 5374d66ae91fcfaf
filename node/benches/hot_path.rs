//! The per-transaction and per-block work of a validator, each step on its
//! own so that a regression shows as a number: decoding a raw transaction and
//! recovering its sender, mempool admission, building a block of N transfers,
//! validating (re-executing) a block proposed by another validator, with and
//! without the transactions already in its mempool, and committing a block to
//! RocksDB. Every step runs on a real chain in a temporary directory.
//!
//! `cargo bench -p dsec-node --features bench` (see the README's Benchmarks
//! section; `--profile dev` reuses a debug build's artifacts).
// The package's other dependencies are unused here; criterion_group! makes an undocumented `pub fn`.
#![allow(unused_crate_dependencies, missing_docs)]

use alloy::consensus::TxEip1559;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dsec_consensus::{Application, ProposedBlock};
use dsec_genesis::devnet::{Devnet, DevnetSpec, generate};
use dsec_node::chain::{Chain, ChainOptions, TxOrigin};
use dsec_node::metrics::Metrics;
use dsec_sdk::block::{CommitCertificate, CommitSignature};
use dsec_sdk::tx::RecoveredTx;
use dsec_sdk::validators::ValidatorKey;
use std::hint::black_box;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Transfers per block measured: a block at 1,000/s under the dev sealer's
/// 20 ms pacing, and a block of a saturated 4-validator devnet.
const BLOCK_SIZES: [usize; 2] = [100, 2_000];

/// `count` signed EIP-1559 transfers spread over the ten dev accounts, nonces from 0.
fn transfers(count: usize) -> Vec<Bytes> {
    let keys: Vec<_> = dsec_sdk::dev::dev_accounts().iter().map(|a| a.key()).collect();
    (0..count)
        .map(|i| {
            let key = &keys[i % keys.len()];
            key.sign_tx_bytes(TxEip1559 {
                chain_id: 31337,
                nonce: (i / keys.len()) as u64,
                gas_limit: 21_000,
                max_fee_per_gas: 10_000_000_000,
                max_priority_fee_per_gas: 1,
                to: TxKind::Call(Address::with_last_byte((i % 200) as u8 + 1)),
                value: U256::from(1 + i as u64),
                ..Default::default()
            })
        })
        .collect()
}

/// A fresh devnet chain and its sole validator's key.
struct Node {
    chain: Chain,
    key: ValidatorKey,
    _dir: TempDir,
}

/// One devnet for every node of a run, so that a block built by one validates on another.
static DEVNET: LazyLock<Devnet> = LazyLock::new(|| generate(&DevnetSpec::default()));

fn node() -> Node {
    let devnet = &*DEVNET;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let chain = Chain::open(dir.path(), devnet.genesis.clone(), ChainOptions::default(), Arc::new(Metrics::default()))
        .expect("a chain");
    Node { chain, key: devnet.validator_keys[0].clone(), _dir: dir }
}

fn submit_all(chain: &Chain, txs: &[Bytes]) {
    for raw in txs {
        chain.submit(raw, TxOrigin::Local).expect("admitted");
    }
}

fn build(node: &Node) -> ProposedBlock {
    node.chain.build_block(1, node.key.address(), Instant::now() + Duration::from_secs(60)).expect("built")
}

fn certificate(node: &Node, hash: B256) -> CommitCertificate {
    let message = CommitCertificate::signing_bytes(&node.chain.chain_hash(), 1, 0, &hash);
    CommitCertificate {
        height: 1,
        round: 0,
        block_hash: hash,
        signatures: vec![CommitSignature {
            validator: node.key.address(),
            signature: node.key.sign(&message).to_vec().into(),
            ml_dsa_signature: None,
        }],
    }
}

fn transaction(c: &mut Criterion) {
    let raw = transfers(1).remove(0);
    let mut group = c.benchmark_group("transaction");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_and_recover", |b| b.iter(|| black_box(RecoveredTx::decode(black_box(&raw)))));
    group.bench_function("hash", |b| b.iter(|| black_box(alloy_primitives::keccak256(black_box(&raw)))));
    group.finish();
}

fn admission(c: &mut Criterion) {
    const BATCH: usize = 1_000;
    let txs = transfers(BATCH);
    let mut group = c.benchmark_group("mempool");
    group.sample_size(10).throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("admit_local_1000", |b| {
        b.iter_batched(node, |n| submit_all(&n.chain, &txs), BatchSize::PerIteration)
    });
    group.bench_function("gossip_known_1000", |b| {
        b.iter_batched(
            || {
                let n = node();
                submit_all(&n.chain, &txs);
                n
            },
            |n| {
                for raw in &txs {
                    black_box(n.chain.submit(raw, TxOrigin::Gossip).ok());
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn blocks(c: &mut Criterion) {
    let mut group = c.benchmark_group("block");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for size in BLOCK_SIZES {
        let txs = transfers(size);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("build", size), &txs, |b, txs| {
            b.iter_batched(
                || {
                    let n = node();
                    submit_all(&n.chain, txs);
                    n
                },
                |n| black_box(build(&n)),
                BatchSize::PerIteration,
            )
        });
        let proposer = node();
        submit_all(&proposer.chain, &txs);
        let proposed = build(&proposer);
        for pooled in [false, true] {
            let name = if pooled { "validate_pooled" } else { "validate_unseen" };
            group.bench_with_input(BenchmarkId::new(name, size), &proposed, |b, proposed| {
                b.iter_batched(
                    || {
                        let n = node();
                        if pooled {
                            submit_all(&n.chain, &txs);
                        }
                        n
                    },
                    |n| {
                        let verdict = n.chain.validate_block(&proposed.block).expect("validated");
                        assert_eq!(verdict, dsec_consensus::Verdict::Valid);
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        group.bench_with_input(BenchmarkId::new("commit", size), &txs, |b, txs| {
            b.iter_batched(
                || {
                    let n = node();
                    submit_all(&n.chain, txs);
                    let proposed = build(&n);
                    let cert = certificate(&n, proposed.hash);
                    (n, proposed.hash, cert)
                },
                |(n, hash, cert)| {
                    n.chain.commit_block(hash, cert).expect("committed");
                    n
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, transaction, admission, blocks);
criterion_main!(benches);
