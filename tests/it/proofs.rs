//! Proof bundles end to end: a 4-validator devnet changes its validator set,
//! then anchors an audit log and moves a shipment; `dsec proof`, `dsec audit
//! prove` and `dsec provenance dossier` write bundles that `dsec verify`
//! checks offline against the genesis file — before and after the devnet is
//! stopped —, and tampered bundles fail with their reason. A second test
//! grows a chain past the 10,000-block log range and still gets dossiers and
//! audit proofs, through the log index.

use crate::operator_cli::{account, create_po_4711, dsec, dsec_fails};
use dsec_tests::{Network, NodeProcess, read_validator_secret};
use std::path::Path;
use std::time::{Duration, Instant};

async fn wait_for_height(url: &str, height: u64, timeout: Duration) {
    let client = dsec_sdk::client::RpcClient::new(url).unwrap();
    let deadline = Instant::now() + timeout;
    loop {
        if client.block_number().await.unwrap_or(0) >= height {
            return;
        }
        assert!(Instant::now() < deadline, "height {height} not reached in {timeout:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Edit a bundle's JSON and write it beside the original.
fn tampered(original: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(original).unwrap()).unwrap();
    edit(&mut json);
    let path = original.with_file_name(name);
    std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
    path.display().to_string()
}

/// `dsec verify`, timed; the bundle's size and the time go to the test output (for the notes).
fn verify_timed(bundle: &str, genesis: &str, what: &str) -> String {
    let started = Instant::now();
    let out = dsec(&["verify", bundle, "--genesis", genesis]);
    let bytes = std::fs::metadata(bundle).unwrap().len();
    eprintln!("proof figures: {what}: {bytes} bytes, dsec verify {:?}", started.elapsed());
    out
}

/// The shipper, carrier, port and consignee of PO-4711 register, and the
/// shipment goes from Rotterdam by sea to Port Klang, then by road to Singapore.
fn po_4711_journey(rpc: &str) {
    let parties = [(2, "shipper", "MAKER-BV"), (3, "carrier", "CARRIER-A"), (4, "consignee", "IMPORTER-PTE")];
    for (i, role, name) in parties {
        dsec(&["provenance", "party", "--party", &account(i).0, "--role", role, "--name", name, "--rpc", rpc]);
    }
    let ((_, shipper_key), (carrier, carrier_key), (consignee, consignee_key)) = (account(2), account(3), account(4));
    create_po_4711(rpc, &shipper_key, &consignee, &["NLRTM:MYPKG:sea:15000", "MYPKG:SGSIN:road:230"]);
    let hand_over = |to: &str, location: &str, key: &str| {
        dsec(&[
            "provenance",
            "hand-over",
            "--shipment",
            "PO-4711",
            "--to",
            to,
            "--location",
            location,
            "--key",
            key,
            "--rpc",
            rpc,
        ]);
    };
    hand_over(&carrier, "NLRTM", &shipper_key);
    dsec(&["provenance", "accept", "--shipment", "PO-4711", "--key", &carrier_key, "--rpc", rpc]);
    hand_over(&consignee, "SGSIN", &carrier_key);
    dsec(&["provenance", "accept", "--shipment", "PO-4711", "--key", &consignee_key, "--rpc", rpc]);
}

fn audit_log(dir: &Path) -> String {
    let log = dir.join("audit.log");
    let lines: Vec<String> =
        (1..=1024).map(|i| format!("{{\"user\":\"u{i}\",\"action\":\"read\",\"record\":{i}}}")).collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    log.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn bundles_verify_offline_from_the_genesis_across_a_validator_set_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::start(dir.path(), 4);
    let rpc = network.urls[0].clone();
    let genesis = dir.path().join("genesis.json").display().to_string();
    let path = |name: &str| dir.path().join(name).display().to_string();

    // The validator admin (dev account 0) doubles validator 0's power from a near height.
    let keys: Vec<_> =
        (0..4).map(|i| read_validator_secret(&dir.path().join(format!("node{i}/validator.key")))).collect();
    let members: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| serde_json::json!({ "publicKey": k.public_key(), "power": if i == 0 { 2 } else { 1 } }))
        .collect();
    std::fs::write(path("set.json"), serde_json::to_string(&members).unwrap()).unwrap();
    let client = network.client(0);
    let head = client.block_number().await.unwrap();
    let activation = (head + 4).to_string();
    dsec(&[
        "validators",
        "schedule",
        "--set",
        &path("set.json"),
        "--activation",
        &activation,
        "--admin",
        "--rpc",
        &rpc,
    ]);
    wait_for_height(&rpc, head + 5, Duration::from_secs(60)).await;

    // After the change: an audit anchor and a shipment's journey.
    let log = audit_log(dir.path());
    let out = dsec(&["audit", "anchor", "--tenant", "demo-agency", &log, "--rpc", &rpc]);
    assert!(out.contains("as anchor 1 of tenant"), "{out}");
    po_4711_journey(&rpc);

    // One transaction: the anchor's. Its hash from the anchor event's log.
    let anchor_logs = client
        .logs(serde_json::json!({ "fromBlock": "0x0", "address": dsec_sdk::chaincode::audit::ADDRESS }))
        .await
        .unwrap();
    let anchor_tx = format!("{}", anchor_logs.last().unwrap().transaction_hash.unwrap());
    let tx_bundle = path("anchor-tx.json");
    let out = dsec(&["proof", "--tx", &anchor_tx, "--out", &tx_bundle, "--rpc", &rpc]);
    assert!(out.contains("1 validator-set changes"), "{out}");
    let out = verify_timed(&tx_bundle, &genesis, "one transaction (4 validators, 1 set change)");
    assert!(out.contains("VALID") && out.contains("1 change(s)"), "{out}");
    assert!(out.contains("anchor 1 of tenant") && out.contains("1024 lines"), "{out}");
    assert!(out.contains("finalised  by") && out.contains("voting power"), "{out}");
    // The node's own answer to dsec_getTransactionProof is the same bundle.
    let from_rpc = client.transaction_proof(anchor_tx.parse().unwrap()).await.unwrap().unwrap();
    let from_file: dsec_sdk::proof::Bundle =
        serde_json::from_str(&std::fs::read_to_string(&tx_bundle).unwrap()).unwrap();
    assert_eq!(from_rpc, from_file);
    assert!(client.transaction_proof(alloy_primitives::B256::repeat_byte(7)).await.unwrap().is_none());

    // One event only, and a bad index refused by name.
    let out = dsec(&["proof", "--log", &format!("{anchor_tx}:0"), "--out", &path("anchor-log.json"), "--rpc", &rpc]);
    assert!(out.contains("wrote"), "{out}");
    let out = dsec_fails(&["proof", "--log", &format!("{anchor_tx}:5"), "--rpc", &rpc]);
    assert!(out.contains("the transaction has 1 logs"), "{out}");
    let out = dsec_fails(&["proof", "--log", "0x12", "--rpc", &rpc]);
    assert!(out.contains("TXHASH:INDEX"), "{out}");

    // Tampered bundles fail with the reason.
    let bad = tampered(Path::new(&tx_bundle), "t-header.json", |b| b["blocks"][0]["header"]["gasUsed"] = 1.into());
    assert!(dsec_fails(&["verify", &bad, "--genesis", &genesis]).contains("certificate is for block"));
    let bad = tampered(Path::new(&tx_bundle), "t-lineage.json", |b| b["lineage"] = serde_json::json!([]));
    assert!(dsec_fails(&["verify", &bad, "--genesis", &genesis]).contains("a change is missing or forged"));
    let bad = tampered(Path::new(&tx_bundle), "t-receipt.json", |b| {
        let receipt = b["transactions"][0]["receipt"].as_str().unwrap().to_string();
        // The last byte of the receipt: the anchor event's data.
        let flipped = format!("{}{}", &receipt[..receipt.len() - 1], if receipt.ends_with('0') { '1' } else { '0' });
        b["transactions"][0]["receipt"] = flipped.into();
    });
    assert!(dsec_fails(&["verify", &bad, "--genesis", &genesis]).contains("not in the block's receipts root"));
    let bad = tampered(Path::new(&tx_bundle), "t-signature.json", |b| {
        let sig = b["blocks"][0]["certificate"]["signatures"][0]["signature"].as_str().unwrap().to_string();
        let flipped = format!("{}{}", &sig[..10], if &sig[10..11] == "0" { "1" } else { "0" }) + &sig[11..];
        b["blocks"][0]["certificate"]["signatures"][0]["signature"] = flipped.into();
    });
    assert!(dsec_fails(&["verify", &bad, "--genesis", &genesis]).contains("invalid signature from validator"));
    let other = tempfile::tempdir().unwrap();
    dsec(&["devnet", "--write-only", "--validators", "4", "--data-dir", &other.path().display().to_string()]);
    let other_genesis = other.path().join("genesis.json").display().to_string();
    assert!(dsec_fails(&["verify", &tx_bundle, "--genesis", &other_genesis]).contains("the bundle is for the chain"));

    // An audit line: line → root → anchor event → receipt → certificate → lineage.
    let line_bundle = path("line-700.json");
    dsec(&["audit", "prove", &log, "--line", "700", "--tenant", "demo-agency", "--rpc", &rpc, "--out", &line_bundle]);
    // A shipment dossier: every event of PO-4711, with the parties' registrations.
    let dossier = path("po-4711.json");
    dsec(&["provenance", "dossier", "--shipment", "PO-4711", "--rpc", &rpc, "--out", &dossier]);

    // The devnet stops; everything still verifies from the genesis file alone.
    for i in 0..4 {
        network.kill9(i);
    }
    let out = verify_timed(&line_bundle, &genesis, "audit line 700 of 1,024");
    assert!(out.contains("audit line 700 of 1024 in anchor 1 of tenant \"demo-agency\""), "{out}");
    assert!(out.contains("\"u700\""), "{out}");
    let out = dsec(&["audit", "verify", &line_bundle, "--genesis", &genesis]);
    assert!(out.starts_with("valid: line 700 is in anchor 1"), "{out}");
    let bad = tampered(Path::new(&line_bundle), "t-line.json", |b| b["auditLine"]["text"] = "forged".into());
    assert!(dsec_fails(&["audit", "verify", &bad, "--genesis", &genesis]).contains("audit line:"));

    let out = verify_timed(&dossier, &genesis, "shipment dossier");
    assert!(out.contains("shipment PO-4711 ("), "{out}");
    assert!(out.contains("custody of PO-4711 handed from MAKER-BV to CARRIER-A at NLRTM"), "{out}");
    assert!(out.contains("PO-4711 delivered to IMPORTER-PTE at SGSIN"), "{out}");
    assert!(out.contains("= 1440 kg CO2e, completed") && out.contains("= 171 kg CO2e, completed"), "{out}");
    assert!(out.contains("total 1611 kg CO2e"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&dsec(&["verify", &dossier, "--genesis", &genesis, "--json"])).unwrap();
    assert_eq!(json["dossier"]["totalKgCO2e"], 1611);
    // Created, proposed, accepted, proposed, accepted + delivered.
    assert_eq!(json["dossier"]["trail"].as_array().unwrap().len(), 6, "{json}");
    assert!(json["dossier"]["route"][0]["declaredIn"].is_string());
    // A dossier that drops the creation proves no trail.
    let bad = tampered(Path::new(&dossier), "t-dossier.json", |b| {
        // Keep only the last transaction (the delivery).
        let txs = b["transactions"].as_array_mut().unwrap();
        let last = txs.pop().unwrap();
        txs.clear();
        txs.push(last);
    });
    assert!(dsec_fails(&["verify", &bad, "--genesis", &genesis]).contains("dossier:"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_older_than_the_log_range_still_answers_dossiers_and_audit_proofs() {
    let dir = tempfile::tempdir().unwrap();
    // An empty block every millisecond: 10,000 blocks in well under a minute.
    let node = NodeProcess::devnet(&dir.path().join("chain"), &["--block-time-ms", "1"]);
    let rpc = node.rpc_url.clone();
    let log = audit_log(dir.path());
    dsec(&["audit", "anchor", "--tenant", "demo-agency", &log, "--rpc", &rpc]);
    po_4711_journey(&rpc);
    let client = node.client();
    let first = client.block_number().await.unwrap();
    wait_for_height(&rpc, first + 10_100, Duration::from_secs(240)).await;

    // A scan the index cannot narrow is still bounded…
    let err = client.logs(serde_json::json!({ "fromBlock": "0x0" })).await.unwrap_err();
    assert!(err.to_string().contains("max block range"), "{err}");
    // …but filters by module and shipment or tenant reach back to block 0.
    let genesis = dir.path().join("chain/genesis.json").display().to_string();
    let dossier = dir.path().join("dossier.json").display().to_string();
    dsec(&["provenance", "dossier", "--shipment", "PO-4711", "--rpc", &rpc, "--out", &dossier]);
    let out = dsec(&["verify", &dossier, "--genesis", &genesis]);
    assert!(out.contains("delivered to IMPORTER-PTE"), "{out}");
    let line = dir.path().join("line.json").display().to_string();
    dsec(&["audit", "prove", &log, "--line", "3", "--tenant", "demo-agency", "--rpc", &rpc, "--out", &line]);
    assert!(dsec(&["audit", "verify", &line, "--genesis", &genesis]).starts_with("valid: line 3 is in anchor 1"));
    let report: serde_json::Value =
        serde_json::from_str(&dsec(&["provenance", "report", "--shipment", "PO-4711", "--rpc", &rpc])).unwrap();
    assert_eq!(report["events"].as_array().unwrap().len(), 6, "{report}");
}
