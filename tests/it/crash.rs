//! The store under `kill -9`: blocks are produced while transactions flow, the
//! process is killed at random instants and reopened. Each time it must be at
//! a block boundary, and every receipt a client saw before the kill must
//! still be there.

use alloy::rpc::types::Block;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use dsec_sdk::client::RpcClient;
use dsec_tests::{NodeProcess, Wallet};
use rand::Rng;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn block(client: &RpcClient, n: u64) -> Block {
    client
        .call::<Option<Block>>(
            "eth_getBlockByNumber",
            vec![serde_json::json!(format!("0x{n:x}")), serde_json::json!(false)],
        )
        .await
        .expect("eth_getBlockByNumber")
        .expect("block exists")
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_random_instants_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let seen: Arc<Mutex<Vec<(B256, B256)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut rng = rand::thread_rng();
    for round in 0..4 {
        let mut node = NodeProcess::devnet(dir.path(), &["--block-time-ms", "50"]);
        let client = node.client();

        // Everything confirmed before earlier kills is still there, in the same block.
        let confirmed = seen.lock().unwrap().clone();
        for (tx, block_hash) in &confirmed {
            let receipt =
                client.receipt(*tx).await.unwrap().unwrap_or_else(|| panic!("round {round}: receipt of {tx} lost"));
            assert_eq!(receipt.block_hash, Some(*block_hash), "round {round}: {tx} moved");
        }
        // The chain on disk is whole: every block links to its parent and has all its receipts.
        let head = client.block_number().await.unwrap();
        let mut parent = block(&client, 0).await.header.hash;
        for n in 1..=head {
            let b = block(&client, n).await;
            assert_eq!(b.header.parent_hash, parent, "round {round}: block {n} does not link");
            for tx in b.transactions.hashes() {
                assert!(client.receipt(tx).await.unwrap().is_some(), "round {round}: block {n} lacks a receipt");
            }
            parent = b.header.hash;
        }

        // Send transfers one after another, recording every receipt we see.
        let sender = {
            let client = client.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut wallet = Wallet::dev(&client, 2).await;
                loop {
                    let raw = wallet.sign(TxKind::Call(Address::repeat_byte(9)), U256::from(1), Bytes::new(), 21_000);
                    let Ok(hash) = client.send_raw(&raw).await else { return };
                    match client.wait_for_receipt(hash, Duration::from_secs(10)).await {
                        Ok(Some(r)) => seen.lock().unwrap().push((hash, r.block_hash.expect("block hash"))),
                        _ => return,
                    }
                }
            })
        };
        let alive_ms = rng.gen_range(300..2_000);
        tokio::time::sleep(Duration::from_millis(alive_ms)).await;
        node.kill9();
        sender.abort();
        let _ = sender.await;
    }
    assert!(seen.lock().unwrap().len() > 4, "the test sent transactions");

    // A last start checks what the last kill left.
    let node = NodeProcess::devnet(dir.path(), &[]);
    let client = node.client();
    let confirmed = seen.lock().unwrap().clone();
    for (tx, block_hash) in &confirmed {
        let receipt = client.receipt(*tx).await.unwrap().expect("receipt survives the last kill");
        assert_eq!(receipt.block_hash, Some(*block_hash));
    }
}
