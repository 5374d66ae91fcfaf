//! A newcomer's flow on the dev chain: deploy an ERC-20 written in Solidity,
//! transfer, read events and balances, restart the node, read them again.

use alloy::rpc::types::TransactionRequest;
use alloy::sol;
use alloy::sol_types::{SolCall, SolEvent, SolValue};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use dsec_sdk::client::RpcClient;
use dsec_tests::{NodeProcess, Wallet, artifact_bytecode};

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
    assert!(deployed.status());
    let token = deployed.contract_address.expect("contract address");

    let transfer = IToken::transferCall { to: bob, value: U256::from(4_000) }.abi_encode();
    let receipt = alice.send(&client, TxKind::Call(token), U256::ZERO, transfer.into(), 100_000).await;
    assert!(receipt.status());
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
    assert!(alice.send(&client, TxKind::Call(token), U256::ZERO, more.into(), 100_000).await.status());
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
