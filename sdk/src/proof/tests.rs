//! Proof bundles over a synthetic chain: real keys, real tries, real
//! certificates, a validator-set change, and every field tampered once.

use super::*;
use crate::block::{CommitSignature, StoredReceipt};
use crate::chaincode::audit;
use crate::tx::LocalKey;
use crate::validators::{ValidatorKey, ValidatorSigner};
use alloy::consensus::TxEip1559;
use alloy::sol_types::SolEvent;
use alloy_primitives::{Bloom, LogData, TxKind, keccak256};

const CHAIN_ID: u64 = 4242;

struct Chain {
    genesis_hash: B256,
    keys: Vec<ValidatorKey>,
    /// Set signing each height, from the given height on.
    sets: Vec<(u64, ValidatorSet, Vec<usize>)>,
}

impl Chain {
    fn new(hybrid: bool) -> Self {
        let keys: Vec<ValidatorKey> =
            (0..5).map(|_| if hybrid { ValidatorKey::generate_hybrid() } else { ValidatorKey::generate() }).collect();
        let genesis = ValidatorSet::new(keys[..4].iter().map(|k| k.validator(1)).collect());
        Self { genesis_hash: keccak256(genesis.hash()), keys, sets: vec![(0, genesis, vec![0, 1, 2, 3])] }
    }

    fn root(&self) -> TrustRoot {
        TrustRoot { genesis_hash: self.genesis_hash, chain_id: CHAIN_ID, validators: self.sets[0].1.clone() }
    }

    fn set_at(&self, height: u64) -> &(u64, ValidatorSet, Vec<usize>) {
        self.sets.iter().rev().find(|(from, _, _)| *from <= height).unwrap()
    }

    /// Change the set from `from`: validator 3 leaves, validator 4 joins with power 2.
    fn change(&mut self, from: u64) {
        let set = ValidatorSet::new(vec![
            self.keys[0].validator(1),
            self.keys[1].validator(1),
            self.keys[2].validator(1),
            self.keys[4].validator(2),
        ]);
        self.sets.push((from, set, vec![4, 0, 1, 2]));
    }

    fn header(&self, number: u64, raws: &[Bytes], receipts: &[Vec<u8>]) -> Header {
        Header {
            number,
            timestamp_ms: 1_790_000_000_000 + number * 1000,
            transactions_root: alloy_trie::root::ordered_trie_root_encoded(raws),
            receipts_root: alloy_trie::root::ordered_trie_root_encoded(receipts),
            validators_hash: self.set_at(number).1.hash(),
            next_validators_hash: self.set_at(number + 1).1.hash(),
            gas_limit: 30_000_000,
            ..Default::default()
        }
    }

    /// A certificate of `header` by the first three signers of its set.
    fn certify(&self, header: &Header) -> CommitCertificate {
        let hash = header.hash_slow();
        let message = CommitCertificate::signing_bytes(&self.genesis_hash, header.number, 0, &hash);
        let (_, _, signers) = self.set_at(header.number);
        let signatures: Vec<CommitSignature> = signers
            .iter()
            .take(3)
            .map(|&i| {
                let key = &self.keys[i];
                key.sign_consensus(&message).unwrap().into_commit_signature(key.address())
            })
            .collect();
        CommitCertificate { height: header.number, round: 0, block_hash: hash, signatures }
    }

    fn block(&self, number: u64, raws: &[Bytes], receipts: &[Vec<u8>]) -> ProvenBlock {
        let header = self.header(number, raws, receipts);
        ProvenBlock { certificate: self.certify(&header), header }
    }
}

fn transfer(key: &LocalKey, nonce: u64, chain_id: u64) -> Bytes {
    key.sign_tx_bytes(TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 1,
        to: TxKind::Call(audit::ADDRESS),
        ..Default::default()
    })
}

fn receipt(success: bool, logs: Vec<Log>) -> Vec<u8> {
    StoredReceipt {
        tx_type: 2,
        success,
        gas_used: 21_000,
        cumulative_gas_used: 21_000,
        effective_gas_price: 1,
        logs,
        contract_address: None,
    }
    .encoded_2718()
}

fn anchored(tenant: &str, root: B256, line_count: u64) -> Log {
    let event = audit::IAuditAnchor::Anchored {
        tenant: audit::tenant_id(tenant),
        seq: 1,
        root,
        lineCount: line_count,
        prevAnchor: B256::ZERO,
        anchorHash: B256::repeat_byte(7),
    };
    Log { address: audit::ADDRESS, data: event.encode_log_data() }
}

const LINES: [&str; 5] = ["alpha", "bravo", "charlie", "delta", "echo"];

/// A chain whose set changes at height 4 (announced by block 3), and a bundle
/// proving transaction 1 of block 6 (an audit anchor) from the genesis.
fn scenario(hybrid: bool) -> (Chain, Bundle) {
    let mut chain = Chain::new(hybrid);
    chain.change(4);
    let sender = LocalKey::random();
    let leaves: Vec<B256> = LINES.iter().map(|l| crate::merkle::leaf_hash(l.as_bytes())).collect();
    let root = crate::merkle::root(&leaves).unwrap();
    let raws = vec![transfer(&sender, 0, CHAIN_ID), transfer(&sender, 1, CHAIN_ID), transfer(&sender, 2, CHAIN_ID)];
    let receipts =
        vec![receipt(true, vec![]), receipt(true, vec![anchored("health-agency", root, 5)]), receipt(false, vec![])];
    let block = chain.block(6, &raws, &receipts);
    let step_header = chain.header(3, &[], &[]);
    let step = LineageStep {
        certificate: chain.certify(&step_header),
        header: step_header,
        next_validators: BundleValidator::list(&chain.sets[1].1),
    };
    let mut bundle = Bundle::new(chain.genesis_hash);
    bundle.lineage.push(step);
    bundle.blocks.push(block);
    bundle.transactions.push(ProvenTransaction {
        block_number: 6,
        index: 1,
        transaction: raws[1].clone(),
        receipt: receipts[1].clone().into(),
        transaction_proof: ordered_trie_proof(&raws, 1).unwrap(),
        receipt_proof: ordered_trie_proof(&receipts, 1).unwrap(),
        log: None,
    });
    bundle.audit_line = Some(AuditLine {
        tenant: "health-agency".into(),
        line: 3,
        text: "charlie".into(),
        line_count: 5,
        path: crate::merkle::proof(&leaves, 2).unwrap(),
        transaction: 0,
    });
    (chain, bundle)
}

fn fails(bundle: &Bundle, root: &TrustRoot) -> ProofError {
    verify(bundle, root).expect_err("a tampered bundle must not verify")
}

#[test]
fn ordered_trie_proofs_verify_against_ethereum_roots_for_every_size_and_index() {
    for n in [1usize, 2, 3, 16, 17, 127, 128, 129, 300] {
        let items: Vec<Vec<u8>> = (0..n).map(|i| format!("item {i} {}", "x".repeat(i % 40)).into_bytes()).collect();
        let root = alloy_trie::root::ordered_trie_root_encoded(&items);
        for i in [0, n / 2, n - 1, 0x7f.min(n - 1), 0x80.min(n - 1)] {
            let proof = ordered_trie_proof(&items, i).unwrap();
            verify_ordered_trie_proof(root, i as u64, &items[i], &proof).unwrap();
            let other = (i + 1) % n;
            if other != i {
                assert!(verify_ordered_trie_proof(root, other as u64, &items[i], &proof).is_err(), "n={n} i={i}");
            }
        }
        assert!(ordered_trie_proof(&items, n).is_none());
    }
}

#[test]
fn a_transaction_after_a_validator_set_change_verifies_from_the_genesis_alone() {
    for hybrid in [false, true] {
        let (chain, bundle) = scenario(hybrid);
        let v = verify(&bundle, &chain.root()).unwrap();
        assert_eq!(v.lineage.len(), 2);
        assert_eq!(v.lineage[1].from_height, 4);
        assert_eq!(v.lineage[1].total_power, 5);
        let tx = &v.transactions[0];
        assert_eq!(tx.block.number, 6);
        assert!(tx.success);
        assert_eq!(tx.nonce, 1);
        assert_eq!(tx.block.signed_power, 4);
        assert_eq!(tx.block.hybrid, hybrid);
        let line = v.audit_line.as_ref().unwrap();
        assert_eq!((line.line, line.seq, line.text.as_str()), (3, 1, "charlie"));
        let text = explain::summary(&v);
        assert!(text.contains("anchor 1 of tenant"), "{text}");
        assert!(text.contains("audit line 3 of 5"), "{text}");
        // The bundle survives its JSON form unchanged.
        let json = serde_json::to_string(&bundle).unwrap();
        assert_eq!(serde_json::from_str::<Bundle>(&json).unwrap(), bundle);
    }
}

#[test]
fn every_tampered_field_fails_with_its_own_reason() {
    let (chain, bundle) = scenario(true);
    let root = chain.root();

    // The receipt's status.
    let mut b = bundle.clone();
    b.transactions[0].receipt = receipt(false, vec![anchored("health-agency", B256::ZERO, 5)]).into();
    assert!(matches!(fails(&b, &root), ProofError::ReceiptProof { item: 0, height: 6, index: 1, .. }));

    // A log (one byte of its data).
    let mut b = bundle.clone();
    let mut bytes = b.transactions[0].receipt.to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    b.transactions[0].receipt = bytes.into();
    assert!(matches!(fails(&b, &root), ProofError::ReceiptProof { .. }));

    // A proof node.
    let mut b = bundle.clone();
    let mut node = b.transactions[0].transaction_proof[0].to_vec();
    node[5] ^= 1;
    b.transactions[0].transaction_proof[0] = node.into();
    assert!(matches!(fails(&b, &root), ProofError::TransactionProof { .. }));

    // Another transaction at the claimed index.
    let mut b = bundle.clone();
    b.transactions[0].index = 0;
    assert!(matches!(fails(&b, &root), ProofError::TransactionProof { index: 0, .. }));

    // The header.
    let mut b = bundle.clone();
    b.blocks[0].header.gas_used = 1;
    match fails(&b, &root) {
        ProofError::BlockCertificate { height: 6, source: CertificateError::WrongBlock { .. } } => {}
        other => panic!("{other:?}"),
    }

    // A signature (the ed25519 half, then the ML-DSA-65 half).
    let mut b = bundle.clone();
    let mut sig = b.blocks[0].certificate.signatures[1].signature.to_vec();
    sig[0] ^= 1;
    b.blocks[0].certificate.signatures[1].signature = sig.into();
    assert!(matches!(fails(&b, &root), ProofError::BlockCertificate { source: CertificateError::BadSignature(_), .. }));
    let mut b = bundle.clone();
    let mut sig = b.blocks[0].certificate.signatures[1].ml_dsa_signature.clone().unwrap().to_vec();
    sig[10] ^= 1;
    b.blocks[0].certificate.signatures[1].ml_dsa_signature = Some(sig.into());
    assert!(matches!(
        fails(&b, &root),
        ProofError::BlockCertificate { source: CertificateError::BadMlDsaSignature(_), .. }
    ));

    // A missing signer: two of the set's four signatures are not a quorum.
    let mut b = bundle.clone();
    b.blocks[0].certificate.signatures.pop();
    assert!(matches!(fails(&b, &root), ProofError::BlockCertificate { source: CertificateError::NoQuorum { .. }, .. }));

    // The lineage step left out: block 6's set is not the genesis set.
    let mut b = bundle.clone();
    b.lineage.clear();
    assert!(matches!(fails(&b, &root), ProofError::BlockWrongSet { height: 6, .. }));

    // The lineage step's new set changed (a power raised).
    let mut b = bundle.clone();
    b.lineage[0].next_validators[0].power = 9;
    assert!(matches!(fails(&b, &root), ProofError::LineageNextSet { step: 0, height: 3, .. }));

    // A lineage step signed by the new set instead of the old one.
    let mut b = bundle.clone();
    let mut forged = chain.header(3, &[], &[]);
    forged.validators_hash = chain.sets[1].1.hash();
    b.lineage[0].header = forged;
    assert!(matches!(fails(&b, &root), ProofError::LineageWrongSet { step: 0, height: 3, .. }));

    // A lineage step's certificate from another height.
    let mut b = bundle.clone();
    b.lineage[0].certificate = b.blocks[0].certificate.clone();
    assert!(matches!(fails(&b, &root), ProofError::LineageCertificate { step: 0, .. }));

    // Another genesis.
    let other = Chain::new(true);
    assert!(matches!(fails(&bundle, &other.root()), ProofError::UnknownGenesis { .. }));
    // The right genesis hash but another chain's validators.
    let mut wrong = root.clone();
    wrong.validators = other.sets[0].1.clone();
    assert!(matches!(fails(&bundle, &wrong), ProofError::LineageWrongSet { step: 0, .. }));
    // Another chain id.
    let mut wrong = root.clone();
    wrong.chain_id = 1;
    assert!(matches!(fails(&bundle, &wrong), ProofError::Transaction { item: 0, .. }));

    // A claimed log the receipt does not have.
    let mut b = bundle.clone();
    b.transactions[0].log = Some(1);
    assert!(matches!(fails(&b, &root), ProofError::NoSuchLog { log: 1, count: 1, .. }));

    // The audit line's text, and its position.
    let mut b = bundle.clone();
    b.audit_line.as_mut().unwrap().text = "charlie!".into();
    assert!(matches!(fails(&b, &root), ProofError::Audit(_)));
    let mut b = bundle.clone();
    b.audit_line.as_mut().unwrap().line = 2;
    assert!(matches!(fails(&b, &root), ProofError::Audit(_)));

    // A label that is not its id's text.
    let mut b = bundle.clone();
    b.labels.insert(audit::tenant_id("health-agency"), "tax-agency".into());
    assert!(matches!(fails(&b, &root), ProofError::Label { .. }));

    // Another format version.
    let mut b = bundle.clone();
    b.format = "dsec-proof/2".into();
    assert!(matches!(fails(&b, &root), ProofError::Format(_)));

    // A block without a certificate's worth of power, or listed twice.
    let mut b = bundle.clone();
    b.blocks.push(b.blocks[0].clone());
    assert!(matches!(fails(&b, &root), ProofError::DuplicateBlock(6)));
    let mut b = bundle;
    b.blocks.clear();
    assert!(matches!(fails(&b, &root), ProofError::MissingBlock { item: 0, height: 6 }));
}

#[test]
fn unknown_json_fields_and_foreign_logs_are_refused_or_described_plainly() {
    let (_, bundle) = scenario(false);
    let mut json = serde_json::to_value(&bundle).unwrap();
    json["extra"] = serde_json::json!(1);
    assert!(serde_json::from_value::<Bundle>(json).is_err());
    let foreign =
        Log { address: Address::repeat_byte(1), data: LogData::new_unchecked(vec![B256::ZERO], Bytes::new()) };
    assert_eq!(explain::describe_log(&foreign, &explain::Names::default()), None);
    assert_eq!(Bloom::ZERO, crate::block::logs_bloom([]));
}

#[test]
fn merged_bundles_keep_one_lineage_and_one_copy_of_each_block_and_transaction() {
    let (chain, bundle) = scenario(false);
    let mut merged = Bundle::new(chain.genesis_hash);
    merged.merge(bundle.clone()).unwrap();
    let mut narrowed = bundle.clone();
    narrowed.transactions[0].log = Some(0);
    merged.merge(narrowed).unwrap();
    assert_eq!(merged.blocks.len(), 1);
    assert_eq!(merged.transactions.len(), 1);
    assert_eq!(merged.transactions[0].log, None);
    assert_eq!(merged.lineage, bundle.lineage);
    let other = Bundle::new(B256::repeat_byte(1));
    assert!(merged.merge(other).is_err());
}
