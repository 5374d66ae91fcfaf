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
