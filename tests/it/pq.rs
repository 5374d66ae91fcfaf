//! Post-quantum accounts on four running validators: an ML-DSA-65 account
//! (transaction type 0x4D) is funded, sends value, deploys a contract that
//! checks ML-DSA signatures through the precompile, calls chaincode, and
//! every node agrees on its receipts and balances; forged, replayed,
//! misdirected and oversized transactions are refused with clear errors.

use alloy::rpc::types::TransactionRequest;
use alloy::sol;
use alloy::sol_types::SolCall;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use dsec_sdk::chaincode::{audit::IAuditAnchor, permissions::IPermissions};
use dsec_sdk::client::RpcClient;
use dsec_sdk::pq::MlDsa65Key;
use dsec_sdk::tx::{ML_DSA_TX_TYPE, MlDsaSigner, TxMlDsa65};
use dsec_tests::{Network, Wallet, artifact_bytecode, dynamic_fee_tx};
use serde_json::Value;
use std::time::Duration;

sol! {
    interface ICustomsRelease {
        function isSigned(bytes32 shipment, bytes signature) external view returns (bool);
        function release(bytes32 shipment, bytes signature) external;
        function released(bytes32 shipment) external view returns (bool);
    }
}

/// An ML-DSA-65 account with its next nonce.
struct PqWallet {
    signer: MlDsaSigner,
    nonce: u64,
    chain_id: u64,
}

impl PqWallet {
    fn tx(&self, to: TxKind, value: U256, input: Bytes, gas_limit: u64) -> TxMlDsa65 {
        dynamic_fee_tx(self.chain_id, self.nonce, to, value, input, gas_limit).into()
    }

    fn sign(&mut self, to: TxKind, value: U256, input: Bytes, gas_limit: u64) -> Bytes {
        let raw = self.signer.sign_tx_bytes(self.tx(to, value, input, gas_limit)).expect("ML-DSA-65 signs");
        self.nonce += 1;
        raw
    }

    async fn send(
        &mut self,
        client: &RpcClient,
        to: TxKind,
        value: U256,
        input: Bytes,
        gas_limit: u64,
    ) -> dsec_sdk::block::RpcReceipt {
        let raw = self.sign(to, value, input, gas_limit);
        let hash = client.send_raw(&raw).await.expect("an ML-DSA-65 transaction is admitted");
        assert_eq!(hash, keccak256(&raw));
        let receipt =
            client.wait_for_receipt(hash, Duration::from_secs(30)).await.expect("receipt").expect("included in 30 s");
        assert_eq!(receipt.from, self.signer.address());
        assert_eq!(receipt.inner.r#type, ML_DSA_TX_TYPE);
        receipt
    }
}

async fn refused(client: &RpcClient, raw: &Bytes) -> String {
    client.send_raw(raw).await.expect_err("refused").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn ml_dsa_accounts_transact_deploy_and_call_chaincode_on_four_validators() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::start(dir.path(), 4);
    let client = network.client(0);
    let chain_id = client.chain_id().await.unwrap();
    let mut admin = Wallet::dev(&client, 0).await;
    let mut pq = PqWallet { signer: MlDsaSigner::random(), nonce: 0, chain_id };
    let recipient = Address::repeat_byte(0x42);

    // Funded by a secp256k1 account, like any address.
    let receipt =
        admin.send(&client, TxKind::Call(pq.signer.address()), U256::from(10u128.pow(19)), Bytes::new(), 21_000).await;
    assert!(receipt.inner.status());

    // A value transfer, signed with ML-DSA-65 and sent to another validator.
    let receipt = pq.send(&network.client(1), TxKind::Call(recipient), U256::from(12_345), Bytes::new(), 21_000).await;
    assert!(receipt.inner.status());
    assert_eq!(receipt.gas_used, 21_000);
    let transfer_hash = receipt.transaction_hash;

    // It reads back as a first-class transaction: by hash, in a block with full transactions.
    let tx: Value = client.call("eth_getTransactionByHash", vec![serde_json::json!(transfer_hash)]).await.unwrap();
    assert_eq!(tx["type"], "0x4d");
    assert_eq!(tx["from"].as_str().unwrap().parse::<Address>().unwrap(), pq.signer.address());
    assert_eq!(tx["to"].as_str().unwrap().parse::<Address>().unwrap(), recipient);
    assert_eq!(tx["value"], "0x3039");
    assert_eq!(tx["mlDsaPublicKey"].as_str().unwrap().len(), 2 + 2 * 1952);
    assert_eq!(tx["mlDsaSignature"].as_str().unwrap().len(), 2 + 2 * 3309);
    let block: Value =
        client.call("eth_getBlockByNumber", vec![tx["blockNumber"].clone(), serde_json::json!(true)]).await.unwrap();
    let in_block = block["transactions"].as_array().unwrap().iter().find(|t| t["hash"] == tx["hash"]).cloned();
    assert_eq!(in_block.as_ref(), Some(&tx), "the block lists the same transaction");

    // A contract deployed by the ML-DSA account checks ML-DSA signatures
    // through the precompile: the customs officer's release of a shipment.
    let officer = MlDsa65Key::generate();
    let init = [
        artifact_bytecode("CustomsRelease").to_vec(),
        alloy::sol_types::SolValue::abi_encode_params(&(Bytes::copy_from_slice(officer.public_key().as_bytes()),)),
    ]
    .concat();
    let receipt = pq.send(&client, TxKind::Create, U256::ZERO, init.into(), 3_000_000).await;
    assert!(receipt.inner.status());
    let gate = receipt.contract_address.expect("contract address");
    let shipment = B256::repeat_byte(0x47);
    let signature = Bytes::from(officer.sign(shipment.as_slice(), b"dsec-customs-release").unwrap());
    let mut forged = signature.to_vec();
    forged[10] ^= 1;
    let forged = Bytes::from(forged);
    let is_signed = |sig: &Bytes| {
        let data = ICustomsRelease::isSignedCall { shipment, signature: sig.clone() }.abi_encode();
        TransactionRequest::default().to(gate).input(Bytes::from(data).into())
    };
    let answer = client.call_latest(&is_signed(&signature)).await.unwrap();
    assert!(ICustomsRelease::isSignedCall::abi_decode_returns(&answer).unwrap());
    let answer = client.call_latest(&is_signed(&forged)).await.unwrap();
    assert!(!ICustomsRelease::isSignedCall::abi_decode_returns(&answer).unwrap());
    let release =
        |sig: &Bytes| Bytes::from(ICustomsRelease::releaseCall { shipment, signature: sig.clone() }.abi_encode());
    let request = TransactionRequest::default().from(pq.signer.address()).to(gate).input(release(&forged).into());
    let err = client.call_latest(&request).await.unwrap_err().to_string();
    assert!(err.contains("not signed by the customs officer"), "{err}");
    let receipt = pq.send(&client, TxKind::Call(gate), U256::ZERO, release(&signature), 500_000).await;
    assert!(receipt.inner.status());
    assert_eq!(receipt.inner.logs().len(), 1, "Released");

    // Chaincode: the permission administrator makes the ML-DSA account an
    // audit officer, and it creates a tenant and anchors a batch.
    let add = IPermissions::addModuleAdminCall { module: "audit".into(), admin: pq.signer.address() }.abi_encode();
    let receipt = admin
        .send(&client, TxKind::Call(dsec_sdk::chaincode::permissions::ADDRESS), U256::ZERO, add.into(), 300_000)
        .await;
    assert!(receipt.inner.status());
    let tenant = B256::repeat_byte(0x7e);
    let audit = dsec_sdk::chaincode::audit::ADDRESS;
    let create =
        IAuditAnchor::createTenantCall { tenant, name: "customs".into(), zone: "GBFXT".into(), anchorsPerDay: 10 };
    let receipt = pq.send(&client, TxKind::Call(audit), U256::ZERO, create.abi_encode().into(), 500_000).await;
    assert!(receipt.inner.status(), "an ML-DSA module administrator creates a tenant");
    let member = IAuditAnchor::addMemberCall { tenant, member: pq.signer.address() };
    assert!(
        pq.send(&client, TxKind::Call(audit), U256::ZERO, member.abi_encode().into(), 500_000).await.inner.status()
    );
    let anchor =
        IAuditAnchor::anchorCall { tenant, root: B256::repeat_byte(1), lineCount: 1024, prevAnchor: B256::ZERO };
    let receipt = pq.send(&client, TxKind::Call(audit), U256::ZERO, anchor.abi_encode().into(), 500_000).await;
    assert!(receipt.inner.status(), "and anchors a batch");
    let last_block = receipt.block_number.unwrap();

    // Every validator holds the same receipts and balances.
    let at = serde_json::json!(format!("{last_block:#x}"));
    let reference: Value =
        client.call("eth_getTransactionReceipt", vec![serde_json::json!(transfer_hash)]).await.unwrap();
    for i in 0..4 {
        let node = network.client(i);
        for _ in 0..100 {
            if node.block_number().await.unwrap() >= last_block {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let receipt: Value =
            node.call("eth_getTransactionReceipt", vec![serde_json::json!(transfer_hash)]).await.unwrap();
        assert_eq!(receipt, reference, "validator {i} has the same receipt");
        assert_eq!(receipt["type"], "0x4d");
        for who in [pq.signer.address(), recipient] {
            let balance: U256 = node.call("eth_getBalance", vec![serde_json::json!(who), at.clone()]).await.unwrap();
            let expected: U256 = client.call("eth_getBalance", vec![serde_json::json!(who), at.clone()]).await.unwrap();
            assert_eq!(balance, expected, "validator {i}: balance of {who}");
        }
        assert_eq!(node.balance(recipient).await.unwrap(), U256::from(12_345));
    }

    // Refusals, each with its reason.
    let mut tampered = pq.sign(TxKind::Call(recipient), U256::from(1), Bytes::new(), 21_000).to_vec();
    pq.nonce -= 1;
    let last = tampered.len() - 40;
    tampered[last] ^= 0x01;
    let err = refused(&client, &tampered.into()).await;
    assert!(err.contains("invalid sender: ML-DSA-65 signature does not verify"), "{err}");

    let other_chain = PqWallet { signer: MlDsaSigner::from_seed(&[9; 32]), nonce: 0, chain_id: chain_id + 1 };
    let raw =
        other_chain.signer.sign_tx_bytes(other_chain.tx(TxKind::Call(recipient), U256::ZERO, Bytes::new(), 21_000));
    let err = refused(&client, &raw.unwrap()).await;
    assert!(err.contains("invalid chain id"), "{err}");

    let replay = pq
        .signer
        .sign_tx_bytes(TxMlDsa65 { nonce: 0, ..pq.tx(TxKind::Call(recipient), U256::ZERO, Bytes::new(), 21_000) });
    let err = refused(&client, &replay.unwrap()).await;
    assert!(err.contains("nonce too low"), "{err}");

    let oversized = pq.sign(TxKind::Call(recipient), U256::ZERO, vec![1u8; 200_000].into(), 29_000_000);
    pq.nonce -= 1;
    let err = refused(&client, &oversized).await;
    assert!(err.contains("oversized data"), "{err}");

    // A key of the wrong size is refused by name, not as a bad signature.
    let mut short_key = pq.tx(TxKind::Call(recipient), U256::ZERO, Bytes::new(), 21_000);
    short_key.public_key = Bytes::from(vec![0u8; 100]);
    let raw = alloy::eips::eip2718::Encodable2718::encoded_2718(&short_key.into_signed(vec![0u8; 3309].into()));
    let err = refused(&client, &raw.into()).await;
    assert!(err.contains("ML-DSA-65 public key must be 1952 bytes, got 100"), "{err}");
}
