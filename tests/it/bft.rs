//! BFT consensus end to end: validator processes on loopback running
//! Malachite, with faults injected for real (SIGKILL, links cut by a relay,
//! an equivocating validator, a peer outside the allowlist).

use alloy::rpc::types::Block;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use dsec_sdk::client::RpcClient;
use dsec_tests::{Network, NodeProcess, Relay, Wallet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) async fn block(client: &RpcClient, n: u64) -> Option<Block> {
    client
        .call::<Option<Block>>(
            "eth_getBlockByNumber",
            vec![serde_json::json!(format!("0x{n:x}")), serde_json::json!(false)],
        )
        .await
        .ok()
        .flatten()
}

pub(crate) async fn height(client: &RpcClient) -> u64 {
    client.block_number().await.unwrap_or(0)
}

/// Wait until every node in `nodes` is at `target` or above.
pub(crate) async fn wait_for_height(network: &Network, nodes: &[usize], target: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let mut lowest = u64::MAX;
        for &i in nodes {
            lowest = lowest.min(height(&network.client(i)).await);
        }
        if lowest >= target {
            return;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = nodes
                .iter()
                .map(|&i| {
                    let out = network.output(i);
                    let tail: Vec<&str> = out.lines().rev().take(12).collect();
                    format!("--- node {i}:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
                })
                .collect();
            panic!(
                "nodes {nodes:?} did not reach height {target} within {within:?} (lowest {lowest})\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The chain stops: after 2 s to settle, validators 0 and 1 gain at most one
/// block (one in flight) over `watch`. Returns the height it stopped at.
pub(crate) async fn assert_halted(network: &Network, watch: Duration, why: &str) -> u64 {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let halted = height(&network.client(0)).await;
    tokio::time::sleep(watch).await;
    let still = height(&network.client(0)).await.max(height(&network.client(1)).await);
    assert!(still <= halted + 1, "{why}, yet height went {halted} -> {still}");
    still
}

/// Every node in `nodes` has the same block hash and state root at heights 1..=up_to.
async fn assert_same_chain(network: &Network, nodes: &[usize], up_to: u64) {
    for n in 1..=up_to {
        let mut first: Option<(B256, B256)> = None;
        for &i in nodes {
            let b = block(&network.client(i), n).await.unwrap_or_else(|| panic!("node {i} lacks block {n}"));
            let here = (b.header.hash, b.header.state_root);
            match first {
                None => first = Some(here),
                Some(f) => assert_eq!(f, here, "node {i} differs at height {n}: a fork"),
            }
        }
    }
}

async fn commit_signers(client: &RpcClient, n: u64) -> usize {
    let cert: serde_json::Value =
        client.call("dsec_getCommit", vec![serde_json::json!(format!("0x{n:x}"))]).await.expect("dsec_getCommit");
    cert["signatures"].as_array().map(|a| a.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn four_validators_agree_and_survive_crashes_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::start(dir.path(), 4);
    wait_for_height(&network, &[0, 1, 2, 3], 3, Duration::from_secs(60)).await;

    // A transaction sent to any node is gossiped and included.
    let mut hashes = Vec::new();
    for i in 0..4 {
        let client = network.client(i);
        let mut wallet = Wallet::dev(&client, 1 + i).await;
        let raw = wallet.sign(TxKind::Call(Address::repeat_byte(0x42)), U256::from(7), Bytes::new(), 21_000);
        hashes.push(client.send_raw(&raw).await.expect("send"));
    }
    for hash in &hashes {
        let receipt = network.client(0).wait_for_receipt(*hash, Duration::from_secs(30)).await.unwrap();
        assert!(receipt.is_some_and(|r| r.inner.status()), "transaction {hash} was not included");
    }
    let h = height(&network.client(0)).await;
    assert!(commit_signers(&network.client(0), h).await >= 3, "a commit certificate holds 2f+1 = 3 signatures");

    // One validator killed: the other three keep finalising.
    network.kill9(3);
    let h = height(&network.client(0)).await;
    wait_for_height(&network, &[0, 1, 2], h + 5, Duration::from_secs(60)).await;

    // Two killed: the chain halts, with no fork between the survivors.
    network.kill9(2);
    let still = assert_halted(&network, Duration::from_secs(4), "two of four validators down: no quorum").await;

    // One returns: the chain resumes.
    network.restart(2, &[]);
    wait_for_height(&network, &[0, 1, 2], still + 3, Duration::from_secs(60)).await;

    // The one down the longest catches up through value sync.
    network.restart(3, &[]);
    let h = height(&network.client(0)).await;
    wait_for_height(&network, &[0, 1, 2, 3], h + 2, Duration::from_secs(90)).await;

    let h = height(&network.client(3)).await.min(height(&network.client(1)).await);
    assert_same_chain(&network, &[0, 1, 2, 3], h).await;
}

/// Route every link of validator `isolated` (consensus and gossip, both
/// directions) through relays the test can cut.
fn relay_links_of(network: &Network, isolated: usize) -> Vec<Relay> {
    let mut relays = Vec::new();
    let reroute = |config: &std::path::Path, from: u16, to: u16| {
        let text = std::fs::read_to_string(config).unwrap();
        // Peer addresses only: `/tcp/<port>/p2p/<id>` (the listen address has no `/p2p`).
        std::fs::write(config, text.replace(&format!("/tcp/{from}/"), &format!("/tcp/{to}/"))).unwrap();
    };
    for ports in [&network.p2p_ports, &network.gossip_ports] {
        let into = Relay::start(ports[isolated]);
        for (i, config) in network.configs.iter().enumerate() {
            if i == isolated {
                continue;
            }
            reroute(config, ports[isolated], into.port);
            let out = Relay::start(ports[i]);
            reroute(&network.configs[isolated], ports[i], out.port);
            relays.push(out);
        }
        relays.push(into);
    }
    relays
}

#[tokio::test(flavor = "multi_thread")]
async fn a_validator_cut_off_from_its_peers_catches_up_and_the_others_never_stall() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::prepare(dir.path(), 4);
    let relays = relay_links_of(&network, 3);
    for i in 0..4 {
        network.restart(i, &[]);
    }
    wait_for_height(&network, &[0, 1, 2, 3], 3, Duration::from_secs(60)).await;

    // Cut every link of validator 3 for longer than several rounds.
    let h = height(&network.client(0)).await;
    for relay in &relays {
        relay.cut();
    }
    let cut_at = Instant::now();
    wait_for_height(&network, &[0, 1, 2], h + 6, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(6).saturating_sub(cut_at.elapsed())).await;
    let isolated = height(&network.client(3)).await;
    assert!(isolated <= h + 1, "validator 3 went from {h} to {isolated} while cut off: the links were not cut");
    let head = height(&network.client(0)).await;
    println!(
        "cut off for {:?}: the others went from {h} to {head}, validator 3 stayed at {isolated}",
        cut_at.elapsed()
    );

    // Reconnected, it catches up through value sync and agrees.
    for relay in &relays {
        relay.heal();
    }
    let healed_at = Instant::now();
    wait_for_height(&network, &[3], head, Duration::from_secs(90)).await;
    println!("validator 3 caught up {} heights in {:?}", head - isolated, healed_at.elapsed());
    wait_for_height(&network, &[0, 1, 2, 3], head + 2, Duration::from_secs(60)).await;
    assert_same_chain(&network, &[0, 1, 2, 3], head + 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_validator_killed_under_load_catches_up_and_no_receipt_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::start(dir.path(), 4);
    wait_for_height(&network, &[0, 1, 2, 3], 2, Duration::from_secs(60)).await;
    let seen: Arc<Mutex<Vec<(B256, B256)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut senders = Vec::new();
    for (k, node) in [(3usize, 0usize), (4, 1), (5, 2)] {
        let client = network.client(node);
        let seen = seen.clone();
        senders.push(tokio::spawn(async move {
            let mut wallet = Wallet::dev(&client, k).await;
            loop {
                let mut sent = Vec::new();
                for _ in 0..20 {
                    let raw = wallet.sign(TxKind::Call(Address::repeat_byte(9)), U256::from(1), Bytes::new(), 21_000);
                    match client.send_raw(&raw).await {
                        Ok(hash) => sent.push(hash),
                        Err(_) => return,
                    }
                }
                for hash in sent {
                    match client.wait_for_receipt(hash, Duration::from_secs(20)).await {
                        Ok(Some(r)) => seen.lock().unwrap().push((hash, r.block_hash.expect("block hash"))),
                        _ => return,
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    network.kill9(3);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    network.restart(3, &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    for s in &senders {
        s.abort();
    }
    let h = height(&network.client(0)).await;
    wait_for_height(&network, &[0, 1, 2, 3], h, Duration::from_secs(90)).await;
    let confirmed = seen.lock().unwrap().clone();
    assert!(confirmed.len() > 20, "the load ran ({} receipts)", confirmed.len());
    for i in 0..4 {
        let client = network.client(i);
        for (tx, block_hash) in &confirmed {
            let receipt = client.receipt(*tx).await.unwrap().unwrap_or_else(|| panic!("node {i} lost {tx}"));
            assert_eq!(receipt.block_hash, Some(*block_hash), "node {i}: {tx} in another block");
        }
    }
    assert_same_chain(&network, &[0, 1, 2, 3], h).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_proposer_killed_mid_round_costs_one_propose_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::start(dir.path(), 4);
    wait_for_height(&network, &[0, 1, 2, 3], 3, Duration::from_secs(60)).await;
    // With one of four validators dead, every fourth height starts with a dead
    // proposer: the wait for those blocks is the recovery time. Watch when
    // each height appears on a survivor.
    network.kill9(2);
    let client = network.client(0);
    let start = height(&client).await;
    let mut seen_at = vec![(start, Instant::now())];
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen_at.len() < 13 && Instant::now() < deadline {
        let h = height(&client).await;
        if h > seen_at.last().map(|(n, _)| *n).unwrap_or(0) {
            seen_at.push((h, Instant::now()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen_at.len() >= 13, "the three survivors stopped finalising: {seen_at:?}");
    let mut recoveries = Vec::new();
    let mut normal = Vec::new();
    for pair in seen_at.windows(2) {
        let ((_, t0), (h, t1)) = (pair[0], pair[1]);
        let cert: serde_json::Value =
            client.call("dsec_getCommit", vec![serde_json::json!(format!("0x{h:x}"))]).await.unwrap();
        let ms = t1.duration_since(t0).as_millis() as u64;
        if cert["round"].as_u64().unwrap_or(0) > 0 { recoveries.push(ms) } else { normal.push(ms) }
    }
    assert!(!recoveries.is_empty(), "no height needed a new round although a proposer was dead");
    println!("time to the next block (ms): after a dead proposer {recoveries:?}; otherwise {normal:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_equivocating_validator_is_recorded_and_causes_no_fork() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::start(dir.path(), 4);
    wait_for_height(&network, &[0, 1, 2, 3], 2, Duration::from_secs(60)).await;
    network.restart(3, &["--byzantine-equivocate"]);
    let h = height(&network.client(0)).await;
    wait_for_height(&network, &[0, 1, 2], h + 6, Duration::from_secs(90)).await;
    let key = dsec_tests::read_validator_key(&network.dir.join("node3").join("validator.key"));
    let mut evidence = Vec::new();
    for _ in 0..100 {
        evidence = network.client(0).call("dsec_getEvidence", Vec::<serde_json::Value>::new()).await.unwrap();
        if !evidence.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let evidence: Vec<serde_json::Value> = evidence;
    assert!(!evidence.is_empty(), "no evidence recorded");
    let culprit = format!("{key:#x}");
    assert!(
        evidence.iter().all(|e| e["validator"].as_str().map(|v| v.eq_ignore_ascii_case(&culprit)) == Some(true)),
        "evidence names only the equivocator {culprit}: {evidence:?}"
    );
    assert!(evidence.iter().all(|e| e["first"] != e["second"]));
    let h = height(&network.client(1)).await.min(height(&network.client(2)).await);
    assert_same_chain(&network, &[0, 1, 2], h).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_outside_the_allowlist_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::start(dir.path(), 4);
    wait_for_height(&network, &[0, 1, 2, 3], 2, Duration::from_secs(60)).await;
    // A stranger: a node with its own key, not a validator and not allowlisted,
    // pointed at the validators' gossip and consensus ports.
    let stranger_dir = dir.path().join("stranger");
    std::fs::create_dir_all(&stranger_dir).unwrap();
    let (ok, out) =
        dsec_tests::run_dsec(&["keys", "generate", "--out", &stranger_dir.join("node.key").display().to_string()]);
    assert!(ok, "{out}");
    let node0 = std::fs::read_to_string(&network.configs[0]).unwrap();
    let field = |name: &str| -> String {
        node0
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().trim_start_matches('=').trim().to_string())
            .unwrap()
    };
    let validator_listen = field("listen");
    let validator_gossip = field("gossip_listen");
    let rpc_port = dsec_tests::free_port_range(3);
    // node0's own peer id is needed to dial it: take it from node1's peers list.
    let node1 = std::fs::read_to_string(&network.configs[1]).unwrap();
    let node0_id = node1
        .lines()
        .find(|l| l.starts_with("peers"))
        .and_then(|l| l.split("/p2p/").nth(1))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let dial = |addr: &str| format!("\"{}/p2p/{node0_id}\"", addr.trim_matches('"'));
    let config = format!(
        "data_dir = {:?}\ngenesis = {:?}\nrpc_addr = \"127.0.0.1:{rpc_port}\"\n[p2p]\nlisten = \"/ip4/127.0.0.1/tcp/{}\"\npeers = [{}]\ngossip_listen = \"/ip4/127.0.0.1/tcp/{}\"\ngossip_peers = [{}]\nnode_key = {:?}\n",
        stranger_dir.display().to_string(),
        network.dir.join("genesis.json").display().to_string(),
        rpc_port + 1,
        dial(&validator_listen),
        rpc_port + 2,
        dial(&validator_gossip),
        stranger_dir.join("node.key").display().to_string(),
    );
    let config_path = stranger_dir.join("node.toml");
    std::fs::write(&config_path, config).unwrap();
    let stranger = NodeProcess::node(&config_path, &format!("http://127.0.0.1:{rpc_port}"), &[]);
    let client = stranger.client();
    let mut wallet = Wallet::dev(&client, 8).await;
    let raw = wallet.sign(TxKind::Call(Address::repeat_byte(0x77)), U256::from(1), Bytes::new(), 21_000);
    let hash = client.send_raw(&raw).await.expect("the stranger admits the transaction locally");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        network.client(0).receipt(hash).await.unwrap().is_none(),
        "a transaction gossiped by a peer outside the allowlist reached the chain"
    );
    let pooled: Option<serde_json::Value> =
        network.client(0).call("eth_getTransactionByHash", vec![serde_json::json!(hash)]).await.unwrap();
    assert!(pooled.is_none(), "the validator accepted a transaction from a refused peer");
    assert!(network.output(0).contains("refused gossip connection"), "validator 0 logged no refusal");
}

/// Start a fresh full node in `dir` (no validator key, its own network key,
/// the validators as peers; validator 0's operator lists it as a persistent
/// peer, since validators accept only those, and restarts), wait until value
/// sync brings it to validator 1's height, and check it holds the same blocks.
pub(crate) async fn sync_a_full_node(network: &mut Network, dir: &std::path::Path) -> (NodeProcess, u64) {
    let full = network.full_node(dir);
    let node0 = std::fs::read_to_string(&network.configs[0]).unwrap();
    let full_addr = format!("\"/ip4/127.0.0.1/tcp/{}/p2p/{}\"", full.p2p_port, full.peer_id);
    let with_full = node0.replacen("peers = [", &format!("peers = [{full_addr}, "), 1);
    std::fs::write(&network.configs[0], with_full).unwrap();
    network.restart(0, &[]);
    let follower = full.start();
    let client = follower.client();
    let target = height(&network.client(1)).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    while height(&client).await < target {
        assert!(Instant::now() < deadline, "the full node did not catch up:\n{}", follower.output());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for n in 1..=target {
        let ours = block(&client, n).await.expect("full node has the block");
        let theirs = block(&network.client(1), n).await.expect("validator has the block");
        assert_eq!(ours.header.hash, theirs.header.hash, "full node differs at {n}");
    }
    (follower, target)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_node_follows_the_chain_through_value_sync_and_serves_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::start(dir.path(), 4);
    wait_for_height(&network, &[0, 1, 2, 3], 4, Duration::from_secs(60)).await;
    // A transaction on the validators, to find on the full node later.
    let mut wallet = Wallet::dev(&network.client(0), 6).await;
    let raw = wallet.sign(TxKind::Call(Address::repeat_byte(0x55)), U256::from(5), Bytes::new(), 21_000);
    let hash = network.client(0).send_raw(&raw).await.unwrap();
    network.client(0).wait_for_receipt(hash, Duration::from_secs(30)).await.unwrap().expect("included");

    let (follower, target) = sync_a_full_node(&mut network, &dir.path().join("full")).await;
    let client = follower.client();
    let receipt = client.receipt(hash).await.unwrap().expect("the full node serves the receipt");
    assert!(receipt.inner.status());
    assert!(commit_signers(&client, target).await >= 3, "the full node stores verified certificates");
}
