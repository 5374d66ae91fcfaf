//! Receipts on finality in one call: `eth_sendRawTransactionSync` (EIP-7966)
//! and the `sync_send` setting, on a four-validator network.

use crate::bft::wait_for_height;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use dsec_sdk::tx::LocalKey;
use dsec_tests::{Network, Wallet, rpc_raw, rpc_request, set_config_keys};
use serde_json::{Value, json};
use std::time::Duration;

/// `eth_sendRawTransactionSync` over HTTP: the whole JSON-RPC reply.
fn send_sync(url: &str, raw: &Bytes, timeout_ms: Option<u64>) -> Value {
    let mut params = vec![json!(raw)];
    params.extend(timeout_ms.map(|t| json!(t)));
    rpc_raw(url, &rpc_request(1, "eth_sendRawTransactionSync", Value::Array(params))).json()
}

fn transfer(wallet: &mut Wallet, value: u64) -> Bytes {
    wallet.sign(TxKind::Call(Address::repeat_byte(0x5e)), U256::from(value), Bytes::new(), 21_000)
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_sends_answer_with_final_receipts_time_out_with_the_hash_and_name_the_expected_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::prepare(dir.path(), 4);
    // Validator 0 serves eth_sendRawTransaction as an automining chain would.
    set_config_keys(&network.configs[0], "rpc", &[("sync_send", "true")]);
    for i in 0..4 {
        network.restart(i, &[]);
    }
    wait_for_height(&network, &[0, 1, 2, 3], 2, Duration::from_secs(60)).await;
    let url = network.urls[1].clone();
    let client = network.client(1);

    // The receipt comes back in the answer, and its block is already final:
    // the commit certificate is served.
    let mut wallet = Wallet::dev(&client, 1).await;
    let reply = send_sync(&url, &transfer(&mut wallet, 1), Some(20_000));
    let receipt = &reply["result"];
    assert_eq!(receipt["status"], "0x1", "{reply}");
    let block = receipt["blockNumber"].clone();
    let commit: Value = client.call("dsec_getCommit", vec![block.clone()]).await.expect("certificate");
    assert!(commit["signatures"].as_array().is_some_and(|s| s.len() >= 3), "{commit}");

    // The same through a real client: alloy's Provider::send_raw_transaction_sync.
    {
        use alloy::providers::{Provider, ProviderBuilder};
        let provider = ProviderBuilder::new().connect_http(url.parse().unwrap());
        let receipt = provider.send_raw_transaction_sync(&transfer(&mut wallet, 1)).await.expect("alloy sync send");
        assert!(receipt.status() && receipt.block_number.is_some(), "{receipt:?}");
    }

    // A nonce gap is refused (code 6) with the nonce expected, and not pooled.
    wallet.nonce += 3;
    let reply = send_sync(&url, &transfer(&mut wallet, 1), None);
    assert_eq!(reply["error"]["code"], 6, "{reply}");
    assert_eq!(reply["error"]["data"], format!("0x{:x}", wallet.nonce - 4), "{reply}");
    let pooled: alloy_primitives::U64 = client.call("dsec_mempoolSize", Vec::new()).await.unwrap();
    assert_eq!(pooled.to::<u64>(), 0);
    wallet.nonce -= 4;

    // A timeout too short for any block: code 4 with the hash; the
    // transaction stays pooled and is included later.
    let raw = transfer(&mut wallet, 2);
    let reply = send_sync(&url, &raw, Some(1));
    assert_eq!(reply["error"]["code"], 4, "{reply}");
    let hash: B256 = serde_json::from_value(reply["error"]["data"].clone()).expect("hash in data");
    assert_eq!(hash, alloy_primitives::keccak256(&raw));
    assert!(
        client.wait_for_receipt(hash, Duration::from_secs(30)).await.unwrap().is_some(),
        "included after the timeout"
    );

    // Bad parameters are named.
    let reply = rpc_raw(&url, &rpc_request(2, "eth_sendRawTransactionSync", json!(["0x02", "soon"]))).json();
    assert_eq!(reply["error"]["code"], -32602, "{reply}");

    // Many concurrent sync sends, each from its own account, all come back with receipts.
    let mut funder = Wallet::dev(&client, 2).await;
    let senders: Vec<LocalKey> = (0..48).map(|_| LocalKey::random()).collect();
    let mut last = B256::ZERO;
    for key in &senders {
        let raw = funder.sign(TxKind::Call(key.address()), U256::from(10u128.pow(18)), Bytes::new(), 21_000);
        last = client.send_raw(&raw).await.expect("fund");
    }
    client.wait_for_receipt(last, Duration::from_secs(60)).await.unwrap().expect("funded");
    let chain_id = client.chain_id().await.unwrap();
    let handles: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let url = network.urls[i % 4].clone();
            std::thread::spawn(move || {
                let mut wallet = Wallet { key, nonce: 0, chain_id };
                send_sync(&url, &transfer(&mut wallet, 3), Some(30_000))
            })
        })
        .collect();
    for handle in handles {
        let reply = handle.join().expect("thread");
        assert_eq!(reply["result"]["status"], "0x1", "{reply}");
    }

    // sync_send: eth_sendRawTransaction itself returns once the block is
    // committed, so the receipt is there on the very next request.
    let c0 = network.client(0);
    let mut wallet = Wallet::dev(&c0, 3).await;
    for _ in 0..3 {
        let hash = c0.send_raw(&transfer(&mut wallet, 4)).await.expect("send");
        assert!(c0.receipt(hash).await.unwrap().is_some(), "no receipt right after eth_sendRawTransaction");
    }
}
