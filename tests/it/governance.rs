//! Validator-set changes by governance transaction, end to end: a fifth
//! validator joins by a two-thirds vote of the genesis four, then the admin
//! declared in the genesis removes one. Each change takes effect at its
//! height, which killing validators proves (the chain goes on only if the
//! new set is the one voting), and every certificate of the chain verifies
//! against the set of its own height.

use crate::bft::{block, height, wait_for_height};
use alloy::sol_types::SolCall;
use alloy_primitives::{B256, Bytes, TxKind, U256};
use dsec_sdk::block::CommitCertificate;
use dsec_sdk::chaincode::validator_set::{ADDRESS, IValidatorSet, change_digest};
use dsec_sdk::client::RpcClient;
use dsec_sdk::validators::{Validator, ValidatorKey, ValidatorSet};
use dsec_tests::{Network, Wallet, read_validator_secret, run_dsec};
use std::time::Duration;

fn info(key: &ValidatorKey) -> IValidatorSet::ValidatorInfo {
    IValidatorSet::ValidatorInfo { publicKey: key.public_key(), power: 1, mlDsaPublicKey: Default::default() }
}

/// The validator set that signs height `n`, as the node reports it (its hash checked).
pub(crate) async fn validators_at(client: &RpcClient, n: u64) -> ValidatorSet {
    let v: serde_json::Value =
        client.call("dsec_getValidators", vec![serde_json::json!(format!("0x{n:x}"))]).await.expect("validators");
    let members = v["validators"].as_array().expect("validators array");
    let set = ValidatorSet::new(
        members
            .iter()
            .map(|m| Validator {
                address: m["address"].as_str().unwrap().parse().unwrap(),
                public_key: m["publicKey"].as_str().unwrap().parse().unwrap(),
                power: u64::from_str_radix(m["power"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap(),
                ml_dsa_public_key: m["mlDsaPublicKey"].as_str().map(|k| k.parse::<Bytes>().unwrap()),
            })
            .collect(),
    );
    assert_eq!(v["hash"].as_str().unwrap().parse::<B256>().unwrap(), set.hash());
    set
}

/// The commit certificate of height `n`, as the node serves it.
pub(crate) async fn certificate(client: &RpcClient, n: u64) -> CommitCertificate {
    let v: serde_json::Value =
        client.call("dsec_getCommit", vec![serde_json::json!(format!("0x{n:x}"))]).await.expect("commit");
    CommitCertificate {
        height: n,
        round: v["round"].as_u64().and_then(|r| u32::try_from(r).ok()).expect("round"),
        block_hash: v["blockHash"].as_str().unwrap().parse().unwrap(),
        signatures: serde_json::from_value(v["signatures"].clone()).expect("signatures"),
    }
}

async fn eth_call(client: &RpcClient, data: Vec<u8>) -> Bytes {
    let call = serde_json::json!({ "to": ADDRESS, "data": Bytes::from(data) });
    client.call("eth_call", vec![call, serde_json::json!("latest")]).await.expect("eth_call")
}

#[tokio::test(flavor = "multi_thread")]
async fn validators_join_by_vote_and_leave_by_admin_at_their_activation_height() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::prepare(dir.path(), 5);
    // Node 4 has a key, ports and peers like the others, but is not in the
    // genesis set: it follows until governance adds it.
    let genesis_path = dir.path().join("genesis.json");
    let mut genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&genesis_path).unwrap()).unwrap();
    genesis["validators"].as_array_mut().unwrap().pop();
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&genesis).unwrap()).unwrap();
    for i in 0..5 {
        network.restart(i, &[]);
    }
    let keys: Vec<ValidatorKey> =
        (0..5).map(|i| read_validator_secret(&dir.path().join(format!("node{i}/validator.key")))).collect();
    wait_for_height(&network, &[0, 1, 2, 3, 4], 2, Duration::from_secs(60)).await;
    let client = network.client(0);
    let chain_hash: B256 = client.call("dsec_genesisHash", Vec::<serde_json::Value>::new()).await.unwrap();
    assert_eq!(validators_at(&client, 1).await.validators.len(), 4);

    // Change 1: add node 4, approved by validators 0, 1 and 2 (3 of 4 power).
    let five: Vec<_> = keys.iter().map(info).collect();
    let activation = height(&client).await + 20;
    let digest = change_digest(&chain_hash, 1, activation, &five);
    let onchain = eth_call(
        &client,
        IValidatorSet::changeDigestCall { validators: five.clone(), activationHeight: activation }.abi_encode(),
    )
    .await;
    assert_eq!(B256::from_slice(&onchain), digest, "the module and the SDK compute the same digest");
    let approve = |signers: &[usize]| -> Vec<IValidatorSet::Approval> {
        signers
            .iter()
            .map(|&i| IValidatorSet::Approval {
                publicKey: keys[i].public_key(),
                signature: keys[i].sign(digest.as_slice()).to_vec().into(),
                mlDsaSignature: Default::default(),
            })
            .collect()
    };
    let mut submitter = Wallet::dev(&client, 3).await;
    let call = |approvals| {
        IValidatorSet::scheduleByValidatorsCall { validators: five.clone(), activationHeight: activation, approvals }
            .abi_encode()
    };
    let to = TxKind::Call(ADDRESS);
    let short = submitter.send(&client, to, U256::ZERO, call(approve(&[0, 1])).into(), 2_000_000).await;
    assert!(!short.inner.status(), "two of four approvals must not change the set");
    assert_eq!(approve(&[0]).len(), 1);

    // The operators' way: each signs an approval with `dsec validators approve`,
    // and anyone submits them with `dsec validators schedule`.
    let url = network.urls[0].clone();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let members: Vec<_> = keys.iter().map(|k| serde_json::json!({ "publicKey": k.public_key(), "power": 1 })).collect();
    std::fs::write(path("five.json"), serde_json::to_string(&members).unwrap()).unwrap();
    let activation_arg = activation.to_string();
    for i in 0..3 {
        let key_file = path(&format!("node{i}/validator.key"));
        let (ok, out) = run_dsec(&[
            "validators",
            "approve",
            "--validator-key",
            &key_file,
            "--set",
            &path("five.json"),
            "--activation",
            &activation_arg,
            "--rpc",
            &url,
        ]);
        assert!(ok, "dsec validators approve: {out}");
        std::fs::write(path(&format!("approval{i}.json")), out).unwrap();
    }
    let sender_key = dsec_sdk::dev::dev_accounts()[3].private_key.to_string();
    let schedule = |approvals: &[usize]| {
        let mut args: Vec<String> =
            ["validators", "schedule", "--set", &path("five.json"), "--activation", &activation_arg]
                .iter()
                .map(|s| s.to_string())
                .collect();
        for i in approvals {
            args.extend(["--approval".to_string(), path(&format!("approval{i}.json"))]);
        }
        args.extend(["--key".to_string(), sender_key.clone(), "--rpc".to_string(), url.clone()]);
        run_dsec(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (ok, out) = schedule(&[0, 2]);
    assert!(!ok && out.contains("more than two thirds"), "two approvals must be refused with the reason: {out}");
    let (ok, out) = schedule(&[0, 1, 2]);
    assert!(ok && out.contains("change 1 scheduled"), "three of four approvals schedule the change: {out}");
    let included: u64 = out.split("in block ").nth(1).and_then(|r| r.split(':').next()).unwrap().parse().unwrap();
    assert!(included + 2 <= activation);

    wait_for_height(&network, &[0, 1, 2, 3, 4], activation + 1, Duration::from_secs(60)).await;
    for i in [0, 4] {
        let c = network.client(i);
        assert_eq!(validators_at(&c, activation - 1).await.validators.len(), 4, "node {i}: before activation");
        assert_eq!(validators_at(&c, activation).await.validators.len(), 5, "node {i}: from activation");
    }

    // With five validators of power 1, a quorum is four: with node 3 dead the
    // chain goes on only if the newcomer votes.
    network.kill9(3);
    let killed_at = height(&client).await;
    wait_for_height(&network, &[0, 1, 2, 4], killed_at + 4, Duration::from_secs(60)).await;

    // Change 2: the genesis admin (dev account 0) removes node 3.
    let without_3: Vec<_> = [0, 1, 2, 4].iter().map(|&i| info(&keys[i])).collect();
    let removal = height(&client).await + 14;
    let mut stranger = Wallet::dev(&client, 2).await;
    let admin_call =
        IValidatorSet::scheduleByAdminCall { validators: without_3.clone(), activationHeight: removal }.abi_encode();
    let refused = stranger.send(&client, to, U256::ZERO, admin_call.clone().into(), 2_000_000).await;
    assert!(!refused.inner.status(), "only the validator admin may use the admin path");
    let members: Vec<_> = [0, 1, 2, 4]
        .iter()
        .map(|&i| serde_json::json!({ "name": format!("org-{i}"), "publicKey": keys[i].public_key(), "power": 1 }))
        .collect();
    std::fs::write(path("without3.json"), serde_json::to_string(&members).unwrap()).unwrap();
    let (ok, out) = run_dsec(&[
        "validators",
        "schedule",
        "--admin",
        "--set",
        &path("without3.json"),
        "--activation",
        &removal.to_string(),
        "--rpc",
        &url,
    ]);
    assert!(
        ok && out.contains("change 2 scheduled"),
        "the validator admin (dev account 0) schedules the removal: {out}"
    );
    let (ok, out) = run_dsec(&["validators", "show", "--height", &removal.to_string(), "--rpc", &url]);
    assert!(ok && out.to_lowercase().contains(&keys[4].address().to_string().to_lowercase()), "{out}");
    wait_for_height(&network, &[0, 1, 2, 4], removal + 1, Duration::from_secs(60)).await;
    // The removed validator is no longer a peer: each remaining validator drops
    // it from Malachite's persistent peers and from transaction gossip.
    let (ok, out) = run_dsec(&["keys", "show", &path("node3/validator.key")]);
    assert!(ok, "{out}");
    let peer3 = out.lines().find_map(|l| l.strip_prefix("peer id")).expect("peer id printed").trim().to_string();
    for i in [0, 1, 2, 4] {
        let out = network.output(i);
        let dropped = |what: &str| out.lines().any(|l| l.contains(what) && l.contains(&peer3));
        assert!(
            dropped("consensus peer no longer allowed")
                && dropped("peer no longer allowed (validator set or node list)"),
            "validator {i} kept the removed validator {peer3} as a peer:\n{out}"
        );
    }

    // In the set {0, 1, 2, 4} a quorum is three: node 2 may go too.
    network.kill9(2);
    let h = height(&client).await;
    wait_for_height(&network, &[0, 1, 4], h + 3, Duration::from_secs(60)).await;

    // Every certificate verifies against the set of its own height, as served
    // by the node; between node 3's death and its removal, every quorum
    // needed the newcomer's signature.
    let head = height(&client).await;
    let newcomer = keys[4].address();
    for n in 1..=head {
        let set = validators_at(&client, n).await;
        let expected = if n < activation {
            4
        } else if n < removal {
            5
        } else {
            4
        };
        assert_eq!(set.validators.len(), expected, "set size at height {n}");
        let cert = certificate(&client, n).await;
        let hash = block(&client, n).await.expect("block").header.hash;
        set.verify_certificate(&chain_hash, n, &hash, &cert)
            .unwrap_or_else(|e| panic!("certificate of height {n}: {e}"));
        if n > killed_at + 1 && n < removal {
            assert!(
                cert.signatures.iter().any(|s| s.validator == newcomer),
                "height {n} reached a quorum of 4 of 5 without the newcomer"
            );
        }
        if n >= removal {
            assert!(cert.signatures.iter().all(|s| s.validator != keys[3].address()));
        }
    }
}
