//! Who may transact, on a running validator: the genesis account and
//! deployer lists refuse at the door with clear errors, contract creations
//! through a factory fail for a non-deployer's transaction and succeed for a
//! deployer's, and the lists are readable over JSON-RPC.

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
    assert!(receipt.status());
    let factory = receipt.contract_address.expect("factory address");

    // Through the factory: the sender's transaction is included but its creation fails, with the reason.
    let create = Bytes::from(IFactory::createCall { tag: U256::from(1) }.abi_encode());
    let request = TransactionRequest::default().from(sender.address()).to(factory).input(create.clone().into());
    let err = client.call_latest(&request).await.unwrap_err().to_string();
    assert!(err.contains("sender not permitted to deploy contracts"), "eth_call says why: {err}");
    let receipt = sender.send(&client, TxKind::Call(factory), U256::ZERO, create.clone(), 1_000_000).await;
    assert!(!receipt.status(), "a non-deployer's transaction creates nothing");
    assert!(receipt.inner.logs().is_empty());
    // The deployer's goes through.
    let receipt = deployer.send(&client, TxKind::Call(factory), U256::ZERO, create, 1_000_000).await;
    assert!(receipt.status());
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
