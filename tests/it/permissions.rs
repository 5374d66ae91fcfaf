//! Who may transact, on running validators: the genesis account and
//! deployer lists refuse at the door with clear errors, contract creations
//! through a factory fail for a non-deployer's transaction and succeed for a
//! deployer's, and the lists are readable over JSON-RPC. The lists change at
//! run time through the permissions module (`dsec perm`), with events, mempool
//! eviction, and history that a fresh node still syncs. JSON-RPC access needs
//! a token or a client certificate when configured.

use alloy::rpc::types::TransactionRequest;
use alloy::sol;
use alloy::sol_types::SolCall;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use dsec_tests::{Network, Wallet, artifact_bytecode};
use serde_json::Value;

sol! {
    interface IFactory {
        function create(uint256 tag) external returns (address child);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn genesis_lists_gate_senders_and_deployers_at_every_depth() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::prepare(dir.path(), 1);
    // Dev accounts 0-8 may send, only account 0 may deploy; account 9 is an outsider.
    let accounts = dsec_sdk::dev::dev_accounts();
    let genesis_path = dir.path().join("genesis.json");
    let mut genesis: Value = serde_json::from_str(&std::fs::read_to_string(&genesis_path).unwrap()).unwrap();
    let senders: Vec<String> = accounts[..9].iter().map(|a| a.address.to_string()).collect();
    genesis["permissions"]["senders"] = serde_json::json!(senders);
    genesis["permissions"]["deployers"] = serde_json::json!([accounts[0].address.to_string()]);
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&genesis).unwrap()).unwrap();
    network.restart(0, &[]);
    let client = network.client(0);

    // The outsider is refused at the door.
    let mut outsider = Wallet::dev(&client, 9).await;
    let raw = outsider.sign(TxKind::Call(Address::repeat_byte(7)), U256::from(1), Bytes::new(), 21_000);
    let err = client.send_raw(&raw).await.unwrap_err().to_string();
    assert!(err.contains("sender not permitted"), "{err}");

    // A listed sender who is not a deployer cannot send a creation...
    let mut sender = Wallet::dev(&client, 1).await;
    let factory_code = artifact_bytecode("Factory");
    let raw = sender.sign(TxKind::Create, U256::ZERO, factory_code.clone(), 3_000_000);
    let err = client.send_raw(&raw).await.unwrap_err().to_string();
    assert!(err.contains("sender not permitted to deploy contracts"), "{err}");
    sender.nonce -= 1;

    // ...the deployer can.
    let mut deployer = Wallet::dev(&client, 0).await;
    let receipt = deployer.send(&client, TxKind::Create, U256::ZERO, factory_code, 3_000_000).await;
    assert!(receipt.inner.status());
    let factory = receipt.contract_address.expect("factory address");

    // Through the factory: the sender's transaction is included but its creation fails, with the reason.
    let create = Bytes::from(IFactory::createCall { tag: U256::from(1) }.abi_encode());
    let request = TransactionRequest::default().from(sender.address()).to(factory).input(create.clone().into());
    let err = client.call_latest(&request).await.unwrap_err().to_string();
    assert!(err.contains("sender not permitted to deploy contracts"), "eth_call says why: {err}");
    let receipt = sender.send(&client, TxKind::Call(factory), U256::ZERO, create.clone(), 1_000_000).await;
    assert!(!receipt.inner.status(), "a non-deployer's transaction creates nothing");
    assert!(receipt.inner.logs().is_empty());
    // The deployer's goes through.
    let receipt = deployer.send(&client, TxKind::Call(factory), U256::ZERO, create, 1_000_000).await;
    assert!(receipt.inner.status());
    assert_eq!(receipt.inner.logs().len(), 1, "Deployed event");

    // The lists over JSON-RPC.
    let listed: Vec<Address> = client.call("perm_getAccountsAllowlist", Vec::new()).await.unwrap();
    let mut expected: Vec<Address> = accounts[..9].iter().map(|a| a.address).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected);
    let view: Value = client.call("dsec_permissions", Vec::new()).await.unwrap();
    assert_eq!(view["accounts"]["mode"], "allowlist");
    assert_eq!(view["deployers"]["allowlist"], serde_json::json!([accounts[0].address]));
}

/// The JSON-RPC code of a refusal for want of authorization.
const UNAUTHORIZED: i64 = -32001;

/// A token minted with `dsec jwt new`.
fn mint(args: &[&str]) -> String {
    let mut all = vec!["jwt", "new"];
    all.extend_from_slice(args);
    let (ok, out) = dsec_tests::run_dsec(&all);
    assert!(ok, "dsec jwt new {args:?}: {out}");
    out.trim().to_string()
}

#[test]
fn json_rpc_needs_a_valid_token_within_its_scope_over_http_and_websocket() {
    use dsec_tests::{WsClient, rpc_raw, rpc_request, rpc_with_token, set_config_keys};
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::prepare(dir.path(), 1);
    let secret = dir.path().join("jwt.hex");
    let (ok, out) = dsec_tests::run_dsec(&["jwt", "secret", "--out", &secret.display().to_string()]);
    assert!(ok, "{out}");
    let other = dir.path().join("other.hex");
    assert!(dsec_tests::run_dsec(&["jwt", "secret", "--out", &other.display().to_string()]).0);
    // Every namespace needs a token (the default once a key is set).
    let secret_setting = format!("\"{}\"", secret.display());
    set_config_keys(&network.configs[0], "rpc", &[("jwt_secret_file", &secret_setting)]);
    network.restart(0, &[]);
    let url = network.urls[0].clone();
    let call = rpc_request(1, "eth_blockNumber", serde_json::json!([]));
    let code = |body: &str| serde_json::from_str::<Value>(body).unwrap()["error"]["code"].as_i64();
    let message = |body: &str| serde_json::from_str::<Value>(body).unwrap()["error"]["message"].to_string();

    // No token, an expired one, one signed with another secret: 401 with a JSON-RPC body naming why.
    let reply = rpc_raw(&url, &call);
    assert_eq!((reply.status, code(&reply.body)), (401, Some(UNAUTHORIZED)), "{}", reply.body);
    assert!(message(&reply.body).contains("missing bearer token"), "{}", reply.body);
    let secret_arg = secret.display().to_string();
    let expired = mint(&["--secret", &secret_arg, "--ttl", "0"]);
    let reply = rpc_with_token(&url, &call, &expired);
    assert_eq!(reply.status, 401);
    assert!(message(&reply.body).contains("token expired"), "{}", reply.body);
    let forged = mint(&["--secret", &other.display().to_string()]);
    let reply = rpc_with_token(&url, &call, &forged);
    assert_eq!(reply.status, 401);
    assert!(message(&reply.body).contains("bad token signature"), "{}", reply.body);
    let reply = rpc_with_token(&url, &call, "not.a.jwt");
    assert_eq!(reply.status, 401);
    assert!(message(&reply.body).contains("malformed token"), "{}", reply.body);

    // A valid token within its scope works; a method outside it is named.
    let scoped = mint(&["--secret", &secret_arg, "--scope", "eth"]);
    let reply = rpc_with_token(&url, &call, &scoped);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(serde_json::from_str::<Value>(&reply.body).unwrap()["result"].is_string(), "{}", reply.body);
    let reply = rpc_with_token(&url, &rpc_request(2, "net_version", serde_json::json!([])), &scoped);
    assert_eq!(code(&reply.body), Some(UNAUTHORIZED), "{}", reply.body);
    assert!(message(&reply.body).contains("net_version is outside the token's scope"), "{}", reply.body);

    // Over WebSocket: the upgrade needs the token; then calls and subscriptions work.
    let ws_url = url.replace("http://", "ws://");
    assert!(WsClient::connect(&ws_url).is_err(), "an upgrade without a token is refused");
    let mut ws = WsClient::connect_with_headers(&ws_url, &format!("Authorization: Bearer {scoped}\r\n"))
        .unwrap_or_else(|reply| panic!("upgrade refused: {} {}", reply.status, reply.body));
    ws.send_json(&call).unwrap();
    let answer = ws.recv_json(std::time::Duration::from_secs(10)).expect("an answer");
    assert!(answer["result"].is_string(), "{answer}");
    ws.send_json(&rpc_request(3, "eth_subscribe", serde_json::json!(["newHeads"]))).unwrap();
    let answer = ws.recv_json(std::time::Duration::from_secs(10)).expect("an answer");
    assert!(answer["result"].is_string(), "subscribed: {answer}");
    ws.send_json(&rpc_request(4, "web3_clientVersion", serde_json::json!([]))).unwrap();
    let answer = loop {
        let message = ws.recv_json(std::time::Duration::from_secs(10)).expect("an answer");
        if message["id"] == 4 {
            break message;
        }
    };
    assert_eq!(answer["error"]["code"].as_i64(), Some(UNAUTHORIZED), "{answer}");
}

/// Run `openssl` with `args` in `dir`, failing the test with its output.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `curl` posting `eth_blockNumber` to `url` with extra arguments: its exit code and output.
fn curl(dir: &std::path::Path, url: &str, extra: &[&str]) -> (i32, String) {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#;
    let out = std::process::Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "-H", "content-type: application/json", "-d", body])
        .args(extra)
        .arg(url)
        .current_dir(dir)
        .output()
        .expect("curl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn json_rpc_over_mutual_tls_needs_a_client_certificate_from_the_ca() {
    use dsec_tests::set_config_keys;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A test CA, the node's certificate for 127.0.0.1, a client it vouches for and a stranger's self-signed one.
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(
        d,
        &[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=dsec test CA"],
        ]
        .concat(),
    );
    for (name, ext) in [("node", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")] {
        openssl(
            d,
            &[
                &["req"],
                &ec[..],
                &["-keyout", &format!("{name}.key"), "-out", &format!("{name}.csr"), "-subj", &format!("/CN={name}")],
            ]
            .concat(),
        );
        std::fs::write(d.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &format!("{name}.pem"),
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
    openssl(
        d,
        &[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "stranger.key", "-out", "stranger.pem", "-days", "2", "-subj", "/CN=stranger"],
        ]
        .concat(),
    );

    let mut network = Network::prepare(d, 1);
    let path = |name: &str| format!("\"{}\"", d.join(name).display());
    let (cert, key, ca) = (path("node.pem"), path("node.key"), path("ca.pem"));
    set_config_keys(
        &network.configs[0],
        "rpc",
        &[("tls_cert_file", &cert), ("tls_key_file", &key), ("tls_client_ca_file", &ca)],
    );
    network.restart(0, &[]);
    let url = network.urls[0].replace("http://", "https://");

    // A client certificate from the CA: served.
    let (code, out) = curl(d, &url, &["--cacert", "ca.pem", "--cert", "client.pem", "--key", "client.key"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"result\":\"0x"), "{out}");
    // No client certificate, or one the CA never signed: the handshake fails, nothing is served.
    let (code, out) = curl(d, &url, &["--cacert", "ca.pem"]);
    assert_ne!(code, 0, "served without a client certificate: {out}");
    assert!(!out.contains("result"), "{out}");
    let (code, out) = curl(d, &url, &["--cacert", "ca.pem", "--cert", "stranger.pem", "--key", "stranger.key"]);
    assert_ne!(code, 0, "served a stranger: {out}");
    // Plain HTTP on the TLS port gets nothing either.
    let (code, out) = curl(d, &network.urls[0], &[]);
    assert!(code != 0 || !out.contains("result"), "plain HTTP served: {out}");
}

/// Run `dsec perm` against `url` with `args`; returns the transaction hash it printed.
fn perm(url: &str, args: &[&str]) -> alloy_primitives::B256 {
    let mut all = vec!["perm", "--rpc", url];
    all.extend_from_slice(args);
    let (ok, out) = dsec_tests::run_dsec(&all);
    assert!(ok, "dsec perm {args:?}: {out}");
    let hash = out.split_whitespace().skip_while(|w| *w != "transaction").nth(1).unwrap_or_else(|| panic!("{out}"));
    hash.parse().unwrap_or_else(|_| panic!("no transaction hash in {out:?}"))
}

/// Waits until every node of the network has applied the block holding `hash`
/// (a change made through node 0 reaches the others a block later at most;
/// a client that sends to another node right away can still see the old lists).
async fn applied_everywhere(network: &Network, hash: alloy_primitives::B256) {
    let receipt = network.client(0).receipt(hash).await.unwrap().expect("receipt");
    let block = receipt.block_number.expect("included");
    let all: Vec<usize> = (0..network.urls.len()).collect();
    crate::bft::wait_for_height(network, &all, block, std::time::Duration::from_secs(30)).await;
}

/// The first topic of each log of a transaction, and the second (an indexed account) if any.
async fn events(
    client: &dsec_sdk::client::RpcClient,
    hash: alloy_primitives::B256,
) -> Vec<(alloy_primitives::B256, Option<alloy_primitives::B256>)> {
    let receipt = client.receipt(hash).await.unwrap().expect("receipt");
    assert!(receipt.inner.status());
    receipt.inner.logs().iter().map(|l| (l.topics()[0], l.topics().get(1).copied())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn senders_are_added_removed_and_re_added_at_run_time_and_history_still_syncs() {
    use alloy::sol_types::SolEvent;
    use dsec_sdk::chaincode::permissions::IPermissions;
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::start(dir.path(), 4);
    crate::bft::wait_for_height(&network, &[0, 1, 2, 3], 2, std::time::Duration::from_secs(60)).await;
    let accounts = dsec_sdk::dev::dev_accounts();
    let (member, outsider) = (accounts[1].address, accounts[2].address);
    let (c0, c1, c2) = (network.client(0), network.client(1), network.client(2));

    // The devnet's administrator (dev account 0) lists account 1 and switches the allowlist on.
    let added = perm(&network.urls[0], &["add-account", &member.to_string()]);
    assert_eq!(events(&c0, added).await[0], (IPermissions::AccountAdded::SIGNATURE_HASH, Some(member.into_word())));
    let allowlist_on = perm(&network.urls[0], &["account-allowlist", "on"]);
    applied_everywhere(&network, allowlist_on).await;
    let listed: Vec<Address> = c1.call("perm_getAccountsAllowlist", Vec::new()).await.unwrap();
    assert_eq!(listed, vec![member], "every node reads the same list from the ledger");

    // The member transacts; the outsider is refused by every node.
    let mut wallet = Wallet::dev(&c1, 1).await;
    assert!(
        wallet
            .send(&c1, TxKind::Call(Address::repeat_byte(7)), U256::from(1), Bytes::new(), 21_000)
            .await
            .inner
            .status()
    );
    let mut stranger = Wallet::dev(&c2, 2).await;
    let raw = stranger.sign(TxKind::Call(Address::repeat_byte(7)), U256::from(1), Bytes::new(), 21_000);
    for client in [&c0, &c1, &c2] {
        let err = client.send_raw(&raw).await.unwrap_err().to_string();
        assert!(err.contains("sender not permitted"), "{err}");
    }
    let _ = outsider;

    // The member parks a transaction with a nonce gap in validator 2's pool; removing
    // the member evicts it there and everywhere.
    let mut parked = Wallet::dev(&c2, 1).await;
    parked.nonce += 5;
    let raw = parked.sign(TxKind::Call(Address::repeat_byte(7)), U256::from(1), Bytes::new(), 21_000);
    c2.send_raw(&raw).await.unwrap();
    let pooled: alloy_primitives::U64 = c2.call("dsec_mempoolSize", Vec::new()).await.unwrap();
    assert_eq!(pooled.to::<u64>(), 1);
    let removed = perm(&network.urls[0], &["remove-account", &member.to_string()]);
    assert_eq!(events(&c0, removed).await[0], (IPermissions::AccountRemoved::SIGNATURE_HASH, Some(member.into_word())));
    applied_everywhere(&network, removed).await;
    let pooled: alloy_primitives::U64 = c2.call("dsec_mempoolSize", Vec::new()).await.unwrap();
    assert_eq!(pooled.to::<u64>(), 0, "the removed sender's pooled transaction is evicted");
    let raw = wallet.sign(TxKind::Call(Address::repeat_byte(7)), U256::from(1), Bytes::new(), 21_000);
    let err = c1.send_raw(&raw).await.unwrap_err().to_string();
    assert!(err.contains("sender not permitted"), "{err}");
    wallet.nonce -= 1;

    // Re-added, it transacts again.
    let re_added = perm(&network.urls[0], &["add-account", &member.to_string()]);
    applied_everywhere(&network, re_added).await;
    assert!(
        wallet
            .send(&c1, TxKind::Call(Address::repeat_byte(7)), U256::from(2), Bytes::new(), 21_000)
            .await
            .inner
            .status()
    );
    let view: Value = c3_view(&network).await;
    assert_eq!(view["accounts"]["allowlist"], serde_json::json!([member]));
    assert_eq!(view["changeNonce"], "0x4");

    // Every validator followed the changes from their events, never needing to read the lists whole.
    for i in 0..4 {
        let out = network.output(i);
        assert!(out.contains("followed its events"), "validator {i} did not follow the events:\n{out}");
        assert!(!out.contains("disagree"), "validator {i}: events and storage disagreed:\n{out}");
    }

    // A node that starts from nothing replays the whole history, including the
    // member's transactions and the removal, and reaches the same head.
    network.kill9(3);
    let config = std::fs::read_to_string(&network.configs[3]).unwrap();
    let data_dir = config
        .lines()
        .find_map(|l| l.strip_prefix("data_dir = "))
        .map(|v| std::path::PathBuf::from(v.trim().trim_matches('"')))
        .expect("data_dir in the config");
    // Its chain and consensus log go; its key and config stay.
    std::fs::remove_dir_all(data_dir.join("db")).unwrap();
    let _ = std::fs::remove_dir_all(data_dir.join("wal"));
    network.restart(3, &[]);
    let target = crate::bft::height(&c0).await;
    crate::bft::wait_for_height(&network, &[3], target, std::time::Duration::from_secs(90)).await;
    let ours = crate::bft::block(&network.client(3), target).await.expect("block");
    let theirs = crate::bft::block(&c0, target).await.expect("block");
    assert_eq!(ours.header.hash, theirs.header.hash);
}

async fn c3_view(network: &Network) -> Value {
    network.client(3).call("dsec_permissions", Vec::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_node_joins_by_the_node_list_without_restarts_and_is_cut_off_when_removed() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let network = Network::start(dir.path(), 4);
    crate::bft::wait_for_height(&network, &[0, 1, 2, 3], 2, Duration::from_secs(60)).await;

    // A full node with its own network key, dialling the four validators; no validator config changes.
    let full = network.full_node(&dir.path().join("full"));
    let peer_id = full.peer_id.clone();
    let follower = full.start();
    let client = follower.client();

    // Not on the node list: the validators refuse its connections. (Malachite
    // checks a peer once it has identified itself, so value-sync answers can
    // slip through before each refusal: the README says to firewall the
    // consensus port; the ledger's gate is what this test checks.)
    let refused_since = |i: usize, from_line: usize| {
        network
            .output(i)
            .lines()
            .skip(from_line)
            .any(|l| l.contains("Rejecting connection from non-persistent peer") && l.contains(&peer_id))
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !(0..4).any(|i| refused_since(i, 0)) {
        assert!(Instant::now() < deadline, "no validator refused the unlisted node:\n{}", network.output(0));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Listed through the permissions module: accepted by every validator without a restart.
    perm(&network.urls[0], &["add-node", &peer_id]);
    let listed: Vec<String> = network.client(2).call("perm_getNodesAllowlist", Vec::new()).await.unwrap();
    assert_eq!(listed, vec![peer_id.clone()]);
    let target = crate::bft::height(&network.client(0)).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    while crate::bft::height(&client).await < target {
        assert!(Instant::now() < deadline, "the listed node did not catch up:\n{}", follower.output());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Removed: every validator disconnects it and refuses it when it dials again.
    let lines_before: Vec<usize> = (0..4).map(|i| network.output(i).lines().count()).collect();
    perm(&network.urls[0], &["remove-node", &peer_id]);
    let disconnected = |i: usize| {
        network
            .output(i)
            .lines()
            .any(|l| l.contains("consensus peer no longer allowed: disconnected") && l.contains(&peer_id))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(0..4).all(|i| disconnected(i) && refused_since(i, lines_before[i])) {
        assert!(
            Instant::now() < deadline,
            "a validator kept the removed node or did not refuse it again:\n{}",
            network.output(0)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_byzantine_proposer_including_a_refused_sender_is_outvoted_and_the_chain_goes_on() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::prepare(dir.path(), 4);
    // Dev accounts 0-8 may send; account 9 may not.
    let accounts = dsec_sdk::dev::dev_accounts();
    let genesis_path = dir.path().join("genesis.json");
    let mut genesis: Value = serde_json::from_str(&std::fs::read_to_string(&genesis_path).unwrap()).unwrap();
    genesis["permissions"]["senders"] =
        serde_json::json!(accounts[..9].iter().map(|a| a.address.to_string()).collect::<Vec<_>>());
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&genesis).unwrap()).unwrap();
    for i in 0..3 {
        network.restart(i, &[]);
    }
    // Validator 3 admits anyone and proposes what it admitted.
    network.restart(3, &["--byzantine-ignore-permissions"]);
    crate::bft::wait_for_height(&network, &[0, 1, 2, 3], 2, Duration::from_secs(60)).await;

    let byzantine = network.client(3);
    let mut outsider = Wallet::dev(&byzantine, 9).await;
    let raw = outsider.sign(TxKind::Call(Address::repeat_byte(7)), U256::from(1), Bytes::new(), 21_000);
    let refused = byzantine.send_raw(&raw).await.expect("the Byzantine validator admits it");

    // The chain goes on (validator 3 proposes about every fourth height) and
    // includes a permitted transaction, never the refused one.
    let start = crate::bft::height(&network.client(0)).await;
    let mut member = Wallet::dev(&network.client(0), 1).await;
    let receipt = member
        .send(&network.client(0), TxKind::Call(Address::repeat_byte(8)), U256::from(1), Bytes::new(), 21_000)
        .await;
    assert!(receipt.inner.status());
    crate::bft::wait_for_height(&network, &[0, 1, 2], start + 12, Duration::from_secs(90)).await;
    for i in 0..3 {
        assert!(
            network.client(i).receipt(refused).await.unwrap().is_none(),
            "validator {i} included the refused sender"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let rejected = loop {
        let seen = (0..3).any(|i| {
            let out = network.output(i);
            out.lines().any(|l| l.contains("rejecting invalid block") && l.contains("sender not permitted"))
        });
        if seen || Instant::now() > deadline {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(rejected, "no honest validator reported refusing the Byzantine block:\n{}", network.output(0));
    let h = crate::bft::height(&network.client(2)).await;
    let a = crate::bft::block(&network.client(0), h).await.expect("block");
    let b = crate::bft::block(&network.client(2), h).await.expect("block");
    assert_eq!(a.header.hash, b.header.hash, "honest validators agree");
}

/// Run `dsec perm` expecting a refusal; returns its message.
fn perm_refused(url: &str, args: &[&str]) -> String {
    let mut all = vec!["perm", "--rpc", url];
    all.extend_from_slice(args);
    let (ok, out) = dsec_tests::run_dsec(&all);
    assert!(!ok, "dsec perm {args:?} should have been refused: {out}");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn two_of_three_administrators_approve_and_validators_replace_them() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::start(dir.path(), 1);
    let url = network.urls[0].clone();
    let accounts = dsec_sdk::dev::dev_accounts();
    let key = |i: usize| accounts[i].key().secret_bytes().to_string();
    let addr = |i: usize| accounts[i].address.to_string();
    let path = |name: &str| dir.path().join(name).display().to_string();

    // The devnet's administrator hands over to three administrators, two of whom must approve.
    perm(&url, &["set-admins", "--threshold", "2", &addr(1), &addr(2), &addr(3)]);
    let direct = perm_refused(&url, &["--key", &key(1), "add-account", &addr(5)]);
    assert!(direct.contains("changes need 2 administrator approvals"), "{direct}");

    // One approval is not enough; two are; the same two again are a replay.
    let (a, b) = (path("a.json"), path("b.json"));
    for (i, file) in [(1, &a), (2, &b)] {
        let (ok, out) = dsec_tests::run_dsec(&[
            "perm",
            "--rpc",
            &url,
            "--key",
            &key(i),
            "--sign-only",
            file,
            "add-account",
            &addr(5),
        ]);
        assert!(ok, "{out}");
    }
    let one = perm_refused(&url, &["--approval", &a, "add-account", &addr(5)]);
    assert!(one.contains("1 administrator approvals; 2 needed"), "{one}");
    perm(&url, &["--key", &key(7), "--approval", &a, "--approval", &b, "add-account", &addr(5)]);
    let view: Value = network.client(0).call("dsec_permissions", Vec::new()).await.unwrap();
    assert_eq!(view["accounts"]["allowlist"], serde_json::json!([accounts[5].address]));
    let replay = perm_refused(&url, &["--approval", &a, "--approval", &b, "add-account", &addr(5)]);
    assert!(replay.contains("sign again"), "{replay}");
    let other = perm_refused(&url, &["--approval", &a, "--approval", &b, "add-account", &addr(6)]);
    assert!(other.contains("approves another change"), "{other}");

    // The validators (here one, holding all the power) replace the administrators.
    let validator_key = dir.path().join("node0").join("validator.key").display().to_string();
    let v0 = path("v0.json");
    let (ok, out) = dsec_tests::run_dsec(&[
        "perm",
        "--rpc",
        &url,
        "replace-admins",
        "--threshold",
        "1",
        &addr(4),
        "--validator-key",
        &validator_key,
        "--sign-only",
        &v0,
    ]);
    assert!(ok, "{out}");
    perm(&url, &["--key", &key(8), "replace-admins", "--threshold", "1", &addr(4), "--validator-approval", &v0]);
    let view: Value = network.client(0).call("dsec_permissions", Vec::new()).await.unwrap();
    assert_eq!(view["admins"], serde_json::json!([accounts[4].address]));
    assert_eq!(view["threshold"], "0x1");
    perm(&url, &["--key", &key(4), "remove-account", &addr(5)]);
}
