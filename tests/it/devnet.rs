//! A newcomer's flow on the dev chain: deploy an ERC-20 written in Solidity,
//! transfer, read events and balances, restart the node, read them again.

use alloy::rpc::types::TransactionRequest;
use alloy::sol;
use alloy::sol_types::{SolCall, SolEvent, SolValue};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use dsec_sdk::client::RpcClient;
use dsec_tests::{NodeProcess, Wallet, artifact_bytecode};
use std::time::{Duration, Instant};

sol! {
    interface IToken {
        function transfer(address to, uint256 value) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
        event Transfer(address indexed from, address indexed to, uint256 value);
    }
}

async fn balance_of(client: &RpcClient, token: Address, owner: Address) -> U256 {
    let req =
        TransactionRequest::default().to(token).input(Bytes::from(IToken::balanceOfCall { owner }.abi_encode()).into());
    U256::abi_decode(&client.call_latest(&req).await.expect("eth_call")).expect("uint256")
}

#[tokio::test(flavor = "multi_thread")]
async fn erc20_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProcess::devnet(dir.path(), &["--block-time-ms", "200"]);
    let client = node.client();
    assert_eq!(client.chain_id().await.unwrap(), 31337);
    assert!(node.output().contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"), "dev accounts are printed");

    let mut alice = Wallet::dev(&client, 0).await;
    let bob = Address::repeat_byte(0xb0);
    let supply = U256::from(1_000_000u64);
    let initcode: Bytes =
        [artifact_bytecode("Token").to_vec(), ("Test".to_string(), "TST".to_string(), supply).abi_encode_params()]
            .concat()
            .into();
    let deployed = alice.send(&client, TxKind::Create, U256::ZERO, initcode, 3_000_000).await;
    assert!(deployed.inner.status());
    let token = deployed.contract_address.expect("contract address");

    let transfer = IToken::transferCall { to: bob, value: U256::from(4_000) }.abi_encode();
    let receipt = alice.send(&client, TxKind::Call(token), U256::ZERO, transfer.into(), 100_000).await;
    assert!(receipt.inner.status());
    assert_eq!(receipt.inner.logs().len(), 1);

    let logs = client
        .logs(serde_json::json!({ "fromBlock": "0x0", "address": token, "topics": [IToken::Transfer::SIGNATURE_HASH] }))
        .await
        .unwrap();
    assert_eq!(logs.len(), 2, "mint and transfer");
    let event = IToken::Transfer::decode_log_data(logs[1].data()).unwrap();
    assert_eq!((event.from, event.to, event.value), (alice.address(), bob, U256::from(4_000)));
    assert_eq!(balance_of(&client, token, bob).await, U256::from(4_000));
    let height = client.block_number().await.unwrap();

    node.stop();
    let node = NodeProcess::devnet(dir.path(), &["--block-time-ms", "200"]);
    let client = node.client();
    assert!(client.block_number().await.unwrap() >= height, "the chain continues from disk");
    assert_eq!(balance_of(&client, token, bob).await, U256::from(4_000));
    assert_eq!(balance_of(&client, token, alice.address()).await, supply - U256::from(4_000));
    let again = client.receipt(receipt.transaction_hash).await.unwrap().expect("receipt after restart");
    assert_eq!(again.block_hash, receipt.block_hash);
    let logs = client.logs(serde_json::json!({ "fromBlock": "0x0", "address": token })).await.unwrap();
    assert_eq!(logs.len(), 2);
    // And it still takes transactions.
    let mut alice = Wallet::dev(&client, 0).await;
    let more = IToken::transferCall { to: bob, value: U256::from(1) }.abi_encode();
    assert!(alice.send(&client, TxKind::Call(token), U256::ZERO, more.into(), 100_000).await.inner.status());
    assert_eq!(balance_of(&client, token, bob).await, U256::from(4_001));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_transactions_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::devnet(dir.path(), &[]);
    let client = node.client();
    let err = client.send_raw(&Bytes::from_static(&[0x02, 0xde, 0xad])).await.unwrap_err().to_string();
    assert!(err.contains("-32602") || err.contains("rlp"), "{err}");
    let mut alice = Wallet::dev(&client, 1).await;
    // A gapped nonce waits in the pool, so sending it twice is deterministic.
    alice.nonce = 5;
    let queued = alice.sign(TxKind::Call(Address::ZERO), U256::from(1), Bytes::new(), 21_000);
    client.send_raw(&queued).await.unwrap();
    let err = client.send_raw(&queued).await.unwrap_err().to_string();
    assert!(err.contains("already known"), "{err}");
    alice.nonce = 0;
    alice.send(&client, TxKind::Call(Address::ZERO), U256::from(1), Bytes::new(), 21_000).await;
    alice.nonce = 0;
    let stale = alice.sign(TxKind::Call(Address::ZERO), U256::from(2), Bytes::new(), 21_000);
    let err = client.send_raw(&stale).await.unwrap_err().to_string();
    assert!(err.contains("nonce too low"), "{err}");
    let mut poor = Wallet { key: dsec_sdk::tx::LocalKey::random(), nonce: 0, chain_id: alice.chain_id };
    let err = client
        .send_raw(&poor.sign(TxKind::Call(Address::ZERO), U256::ZERO, Bytes::new(), 21_000))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("insufficient funds for gas * price + value"), "{err}");
    // The node still answers.
    assert!(client.block_number().await.is_ok());
}

/// The JSON-RPC URL and process id of each validator, from the banner of
/// `dsec devnet --validators N`: `(i) 0x…  JSON-RPC http://…  pid N  config …`.
fn devnet_validators(banner: &str) -> Vec<(String, u32)> {
    banner
        .lines()
        .filter(|l| l.starts_with('(') && l.contains("JSON-RPC"))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let after = |w: &str| words[words.iter().position(|x| *x == w).unwrap() + 1];
            (after("JSON-RPC").to_string(), after("pid").parse().unwrap())
        })
        .collect()
}

async fn height_of(url: &str) -> Option<u64> {
    RpcClient::new(url).ok()?.block_number().await.ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_devnet_restarts_a_killed_validator_while_the_others_keep_finalising() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = NodeProcess::devnet_network(dir.path(), 4, &[]);
    let validators = devnet_validators(&devnet.output());
    assert_eq!(validators.len(), 4, "{}", devnet.output());
    let (url0, _) = validators[0].clone();
    let (url3, pid3) = validators[3].clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while height_of(&url3).await.unwrap_or(0) < 3 {
        assert!(Instant::now() < deadline, "the devnet made no progress:\n{}", devnet.output());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // kill -9 one validator process, as a user would.
    let killed = std::process::Command::new("kill").args(["-9", &pid3.to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !devnet.output().contains("validator exited; restarting it") {
        assert!(Instant::now() < deadline, "the supervisor reported no death:\n{}", devnet.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The other three go on while it is down (BFT tolerates one of four).
    let before = height_of(&url0).await.expect("validator 0 answers");
    let deadline = Instant::now() + Duration::from_secs(30);
    while height_of(&url0).await.unwrap_or(0) < before + 3 {
        assert!(Instant::now() < deadline, "the other validators stopped finalising:\n{}", devnet.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dir.path().join("node3").join("db").exists(), "the dead validator's data directory is kept");

    // It comes back by itself and catches up.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ours, theirs) = (height_of(&url3).await, height_of(&url0).await.unwrap_or(0));
        if ours.is_some_and(|h| h + 1 >= theirs && h > before) {
            break;
        }
        assert!(Instant::now() < deadline, "validator 3 did not come back:\n{}", devnet.output());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(devnet.output().contains("validator restarted"), "{}", devnet.output());

    // Ctrl-C (SIGTERM here) still stops everything.
    devnet.stop();
    assert!(height_of(&url0).await.is_none(), "validator 0 still answers after the devnet stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_devnet_killed_with_sigkill_leaves_no_validator_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = NodeProcess::devnet_network(dir.path(), 4, &[]);
    let validators = devnet_validators(&devnet.output());
    assert_eq!(validators.len(), 4, "{}", devnet.output());
    let alive = |pid: u32| std::path::Path::new(&format!("/proc/{pid}")).exists();
    assert!(validators.iter().all(|(_, pid)| alive(*pid)));
    // No shutdown code runs in the supervisor: its validators notice on their own.
    devnet.kill9();
    let deadline = Instant::now() + Duration::from_secs(15);
    while validators.iter().any(|(_, pid)| alive(*pid)) {
        assert!(Instant::now() < deadline, "validators outlived their killed supervisor");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
