//! alloy's provider (the Rust client dApps use) against a running node: the
//! wallet filler signs, the provider fills nonce, gas and fees from the node's
//! answers, and deploys, transfers, calls, filters logs and decodes reverts.

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::{BlockId, Filter, TransactionRequest};
use alloy::sol;
use alloy::sol_types::{SolCall, SolError, SolEvent, SolValue};
use alloy_primitives::{Address, Bytes, U256};
use alloy_signer_local::PrivateKeySigner;
use dsec_tests::{NodeProcess, artifact_bytecode};

sol! {
    interface IToken {
        function transfer(address to, uint256 value) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
        event Transfer(address indexed from, address indexed to, uint256 value);
        error InsufficientBalance(address account, uint256 balance, uint256 needed);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn alloy_provider_deploys_transfers_and_decodes_errors() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::devnet(dir.path(), &["--block-time-ms", "200"]);
    let dev = &dsec_sdk::dev::dev_accounts()[4];
    let signer = PrivateKeySigner::from_bytes(&dev.private_key).unwrap();
    let provider =
        ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(node.rpc_url.parse().unwrap());

    assert_eq!(provider.get_chain_id().await.unwrap(), 31337);
    let initcode: Bytes = [
        artifact_bytecode("Token").to_vec(),
        ("Alloy".to_string(), "ALY".to_string(), U256::from(1_000u64)).abi_encode_params(),
    ]
    .concat()
    .into();
    let receipt = provider
        .send_transaction(TransactionRequest::default().with_deploy_code(initcode))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    let token = receipt.contract_address.unwrap();
    let deployed_at = receipt.block_number.unwrap();

    let to = Address::repeat_byte(0x0a);
    let transfer = IToken::transferCall { to, value: U256::from(300) }.abi_encode();
    let receipt = provider
        .send_transaction(TransactionRequest::default().with_to(token).with_input(transfer))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());

    let balance = |block: BlockId| {
        let provider = provider.clone();
        async move {
            let call = TransactionRequest::default()
                .with_to(token)
                .with_input(IToken::balanceOfCall { owner: to }.abi_encode());
            U256::abi_decode(&provider.call(call).block(block).await.unwrap()).unwrap()
        }
    };
    assert_eq!(balance(BlockId::latest()).await, U256::from(300));
    assert_eq!(balance(BlockId::number(deployed_at)).await, U256::ZERO, "history");

    let logs = provider
        .get_logs(&Filter::new().address(token).event_signature(IToken::Transfer::SIGNATURE_HASH).from_block(0))
        .await
        .unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(IToken::Transfer::decode_log_data(logs[1].data()).unwrap().value, U256::from(300));

    // A transfer above the balance: the custom error comes back as revert data.
    let too_much = TransactionRequest::default()
        .with_from(Address::repeat_byte(0x0b))
        .with_to(token)
        .with_input(IToken::transferCall { to, value: U256::from(1) }.abi_encode());
    let err = provider.call(too_much).await.unwrap_err();
    let resp = err.as_error_resp().expect("a JSON-RPC error");
    assert_eq!(resp.code, 3);
    let data: Bytes = serde_json::from_str(resp.data.as_ref().unwrap().get()).unwrap();
    let decoded = IToken::InsufficientBalance::abi_decode(&data).unwrap();
    assert_eq!(decoded.needed, U256::from(1));
}
