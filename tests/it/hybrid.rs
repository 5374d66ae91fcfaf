//! Hybrid post-quantum consensus end to end: a four-validator network whose
//! genesis asks for `ed25519+ml-dsa-65` consensus signatures, with real
//! processes, a validator killed and restarted, a fresh full node syncing,
//! certificates checked offline in their hybrid form, and a validator whose
//! ML-DSA-65 halves are corrupt (its votes must not count).

use crate::bft::{assert_halted, block, height, sync_a_full_node, wait_for_height};
use crate::governance::{certificate, validators_at};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use dsec_sdk::client::RpcClient;
use dsec_sdk::validators::CertificateError;
use dsec_tests::{Network, Wallet, read_validator_key, run_dsec};
use std::time::Duration;

async fn genesis_hash(client: &RpcClient) -> B256 {
    client.call("dsec_genesisHash", Vec::<serde_json::Value>::new()).await.expect("genesis hash")
}

/// The certificate of height `n` verifies offline against the set of that
/// height in its hybrid form, and stops verifying when an ML-DSA-65 half is
/// damaged or dropped.
async fn check_hybrid_certificate(client: &RpcClient, n: u64) {
    let chain = genesis_hash(client).await;
    let set = validators_at(client, n).await;
    assert!(set.validators.iter().all(|v| v.ml_dsa_public_key.as_ref().is_some_and(|k| k.len() == 1952)));
    let hash = block(client, n).await.expect("block").header.hash;
    let cert = certificate(client, n).await;
    assert!(cert.signatures.iter().all(|s| s.ml_dsa_signature.as_ref().is_some_and(|p| p.len() == 3309)));
    set.verify_certificate(&chain, n, &hash, &cert).unwrap_or_else(|e| panic!("certificate of {n}: {e}"));

    let mut damaged = cert.clone();
    let mut pq = damaged.signatures[0].ml_dsa_signature.clone().unwrap().to_vec();
    pq[1000] ^= 0x40;
    damaged.signatures[0].ml_dsa_signature = Some(pq.into());
    assert!(matches!(set.verify_certificate(&chain, n, &hash, &damaged), Err(CertificateError::BadMlDsaSignature(_))));
    let mut dropped = cert;
    dropped.signatures[0].ml_dsa_signature = None;
    assert!(matches!(
        set.verify_certificate(&chain, n, &hash, &dropped),
        Err(CertificateError::MissingMlDsaSignature(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hybrid_network_finalises_survives_a_crash_and_syncs_a_full_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::prepare_with(dir.path(), 4, &["--pq"]);
    let genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("genesis.json")).unwrap()).unwrap();
    assert_eq!(genesis["consensusSignatures"], "ed25519+ml-dsa-65");
    // Validator 3's key with another ML-DSA-65 half is refused before the node starts.
    let key_path = dir.path().join("node3").join("validator.key");
    let mut key: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
    key["mlDsaSecretKey"] = serde_json::json!(format!("0x{}", "42".repeat(32)));
    let wrong = dir.path().join("wrong-ml-dsa.key");
    std::fs::write(&wrong, key.to_string()).unwrap();
    let config = network.configs[3].display().to_string();
    let (ok, out) = run_dsec(&["node", "--config", &config, "--validator-key", &wrong.display().to_string()]);
    assert!(!ok && out.contains("differs from the one its validator set lists"), "{out}");
    for i in 0..4 {
        network.restart(i, &[]);
    }
    wait_for_height(&network, &[0, 1, 2, 3], 3, Duration::from_secs(60)).await;

    // A transfer is finalised, and its block's certificate is hybrid.
    let client = network.client(1);
    let mut wallet = Wallet::dev(&client, 2).await;
    let raw = wallet.sign(TxKind::Call(Address::repeat_byte(0x42)), U256::from(7), Bytes::new(), 21_000);
    let hash = client.send_raw(&raw).await.expect("send");
    let receipt = client.wait_for_receipt(hash, Duration::from_secs(30)).await.unwrap().expect("included");
    assert!(receipt.inner.status());
    check_hybrid_certificate(&network.client(0), receipt.block_number.unwrap()).await;

    // A validator killed: the other three go on; restarted, it catches up.
    network.kill9(3);
    let h = height(&network.client(0)).await;
    wait_for_height(&network, &[0, 1, 2], h + 4, Duration::from_secs(60)).await;
    network.restart(3, &[]);
    let h = height(&network.client(0)).await;
    wait_for_height(&network, &[0, 1, 2, 3], h + 2, Duration::from_secs(90)).await;
    check_hybrid_certificate(&network.client(3), h + 1).await;

    // A fresh full node syncs every block by value sync, checking each
    // certificate in its hybrid form before it commits the block.
    let (follower, target) = sync_a_full_node(&mut network, &dir.path().join("full")).await;
    let synced = follower.client();
    check_hybrid_certificate(&synced, target).await;
    assert!(synced.receipt(hash).await.unwrap().is_some(), "the full node serves the receipt");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vote_with_a_valid_ed25519_but_a_bad_ml_dsa_signature_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::prepare_with(dir.path(), 4, &["--pq"]);
    let liar = read_validator_key(&dir.path().join("node3").join("validator.key"));
    for i in 0..3 {
        network.restart(i, &[]);
    }
    network.restart(3, &["--byzantine-bad-ml-dsa"]);
    wait_for_height(&network, &[0, 1, 2], 5, Duration::from_secs(90)).await;

    // No certificate ever holds the liar's signature: its precommits do not count.
    let client = network.client(0);
    let top = height(&client).await;
    for n in 1..=top {
        let cert = certificate(&client, n).await;
        assert!(cert.signatures.len() >= 3, "height {n}: a quorum of honest signatures");
        assert!(cert.signatures.iter().all(|s| s.validator != liar), "height {n}: the liar's vote was counted");
    }

    // Two honest validators and the liar hold three of four ed25519 keys, but
    // only two valid hybrid votes: the chain must stop.
    network.kill9(2);
    let still = assert_halted(&network, Duration::from_secs(6), "the liar's votes made a quorum").await;

    // The honest validator returns: the chain resumes without the liar.
    network.restart(2, &[]);
    wait_for_height(&network, &[0, 1, 2], still + 3, Duration::from_secs(90)).await;
    let n = height(&network.client(0)).await;
    assert!(certificate(&network.client(0), n).await.signatures.iter().all(|s| s.validator != liar));
}
