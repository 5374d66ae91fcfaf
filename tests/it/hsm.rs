//! A validator whose ed25519 key lives in a PKCS#11 token (SoftHSM2) and never
//! leaves it: the key is generated inside the token by `dsec keys generate
//! --pkcs11`, named in the genesis, and the node signs its votes, proposals and
//! proposal parts through the token.

use crate::bft::{block, height, wait_for_height};
use dsec_tests::{Network, SoftHsm, run_dsec, run_dsec_with_env};
use std::time::Duration;

/// The value after `label` in `dsec keys` output.
fn field(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {label:?} in {out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_validator_whose_key_is_in_softhsm_proposes_and_votes() {
    validator_in_softhsm(false).await;
}

/// On a hybrid chain the token holds the ed25519 half and the ML-DSA-65 half
/// comes from a key file (`validator_ml_dsa_key`): tokens hold no ML-DSA keys.
#[tokio::test(flavor = "multi_thread")]
async fn a_hybrid_validator_whose_ed25519_key_is_in_softhsm_proposes_and_votes() {
    validator_in_softhsm(true).await;
}

async fn validator_in_softhsm(hybrid: bool) {
    let dir = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::init(&dir.path().join("hsm"), "dsec-validators", "4711-test");
    let uri = hsm.uri("validator-3");

    // The key is generated inside the token; only its public half comes out.
    let (ok, out) = run_dsec_with_env(&["keys", "generate", "--pkcs11", &uri], &hsm.env());
    assert!(ok, "dsec keys generate --pkcs11: {out}");
    let (address, public_key) = (field(&out, "address"), field(&out, "public key"));
    assert!(!out.contains("peer id"), "a key in a token is no network identity: {out}");
    let (ok, again) = run_dsec_with_env(&["keys", "generate", "--pkcs11", &uri], &hsm.env());
    assert!(!ok && again.contains("already holds an object labelled \"validator-3\""), "{again}");
    let (ok, shown) = run_dsec_with_env(&["keys", "show", &uri], &hsm.env());
    assert!(ok && field(&shown, "address") == address, "{shown}");

    // A four-validator network whose validator 3 signs with the token's key. Its
    // old key file stays its network identity ([p2p] node_key), which the
    // genesis lists as a permitted node: peers no longer derive it from its
    // consensus key.
    let mut network = Network::prepare_with(dir.path(), 4, if hybrid { &["--pq"] } else { &[] });
    let node3_key = network.dir.join("node3").join("validator.key");
    let (ok, shown) = run_dsec(&["keys", "show", &node3_key.display().to_string()]);
    assert!(ok, "{shown}");
    let peer_id = field(&shown, "peer id");
    let genesis_path = network.dir.join("genesis.json");
    let mut genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&genesis_path).unwrap()).unwrap();
    genesis["validators"][3]["publicKey"] = serde_json::json!(public_key);
    genesis["permissions"]["nodes"] = serde_json::json!([peer_id]);
    if hybrid {
        let pq_key = network.dir.join("node3").join("ml-dsa.key");
        let (ok, out) = run_dsec(&["keys", "new", "--scheme", "ml-dsa-65", "--out", &pq_key.display().to_string()]);
        assert!(ok, "{out}");
        genesis["validators"][3]["mlDsaPublicKey"] = serde_json::json!(field(&out, "ml-dsa-65"));
        // Without the ML-DSA-65 half, the token's key cannot sign for a hybrid chain.
        std::fs::write(&genesis_path, serde_json::to_string_pretty(&genesis).unwrap()).unwrap();
        let config = network.configs[3].display().to_string();
        let (ok, out) = run_dsec_with_env(&["node", "--config", &config, "--validator-key", &uri], &hsm.env());
        assert!(!ok && out.contains("has no ML-DSA-65 half"), "{out}");
        let text = std::fs::read_to_string(&network.configs[3]).unwrap();
        let line = format!("validator_ml_dsa_key = {:?}\n", pq_key.display().to_string());
        std::fs::write(&network.configs[3], format!("{line}{text}")).unwrap();
    }
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&genesis).unwrap()).unwrap();
    dsec_tests::set_config_keys(
        &network.configs[3],
        "p2p",
        &[("node_key", &format!("{:?}", node3_key.display().to_string()))],
    );

    // A wrong PIN is refused with the token's answer before the node starts.
    let wrong_pin = dir.path().join("wrong.pin");
    std::fs::write(&wrong_pin, "0000\n").unwrap();
    let bad_uri = uri.replace(&hsm.pin_file.display().to_string(), &wrong_pin.display().to_string());
    let config = network.configs[3].display().to_string();
    let (ok, out) = run_dsec_with_env(&["node", "--config", &config, "--validator-key", &bad_uri], &hsm.env());
    assert!(!ok && out.contains("the token refused the PIN"), "{out}");

    network.env = hsm.env();
    for i in 0..3 {
        network.restart(i, &[]);
    }
    network.restart(3, &["--validator-key", &uri]);
    wait_for_height(&network, &[0, 1, 2, 3], 12, Duration::from_secs(90)).await;

    // It proposed blocks (round-robin gives it every fourth) and signed commits.
    let client = network.client(0);
    let head = height(&client).await;
    let mut proposed = 0;
    let mut signed = 0;
    for n in 1..=head {
        let b = block(&client, n).await.expect("block");
        if b.header.beneficiary.to_string().eq_ignore_ascii_case(&address) {
            proposed += 1;
        }
        let commit: serde_json::Value =
            client.call("dsec_getCommit", vec![serde_json::json!(format!("0x{n:x}"))]).await.expect("dsec_getCommit");
        let signers = commit["signatures"].as_array().expect("signatures");
        if let Some(ours) =
            signers.iter().find(|s| s["validator"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(&address)))
        {
            signed += 1;
            assert_eq!(ours.get("mlDsaSignature").is_some(), hybrid, "height {n}: {ours}");
        }
    }
    assert!(proposed >= 1, "the token's validator proposed none of {head} blocks");
    assert!(signed >= 1, "the token's validator signed none of {head} commits");
    assert!(network.output(3).contains("the validator key is in a token"), "{}", network.output(3));

    // Stopped, the other three go on (f = 1); restarted, it signs again.
    network.kill9(3);
    let before = height(&client).await;
    wait_for_height(&network, &[0, 1, 2], before + 3, Duration::from_secs(60)).await;
    network.restart(3, &["--validator-key", &uri]);
    let target = height(&client).await + 3;
    wait_for_height(&network, &[0, 1, 2, 3], target, Duration::from_secs(90)).await;
}
