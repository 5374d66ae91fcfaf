//! `dsec audit` end to end: anchor a log file through the audit chaincode on a
//! running devnet, write a proof bundle for one line, verify it offline
//! against the genesis and on chain, and see tampering and non-members refused.

use dsec_tests::{NodeProcess, run_dsec as dsec};

#[tokio::test(flavor = "multi_thread")]
async fn anchor_prove_and_verify_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::devnet(&dir.path().join("chain"), &[]);
    let log = dir.path().join("audit.log");
    let lines: Vec<String> =
        (1..=7).map(|i| format!("{{\"user\":\"u{i}\",\"action\":\"read\",\"record\":{i}}}")).collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let (log_s, rpc) = (log.to_str().unwrap(), node.rpc_url.as_str());

    let (ok, out) = dsec(&["audit", "anchor", "--tenant", "demo-agency", log_s, "--rpc", rpc]);
    assert!(ok, "{out}");
    assert!(out.contains("as anchor 1 of tenant"), "{out}");

    let proof = dir.path().join("proof.json");
    let (ok, out) = dsec(&[
        "audit",
        "prove",
        log_s,
        "--line",
        "3",
        "--tenant",
        "demo-agency",
        "--rpc",
        rpc,
        "--out",
        proof.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = dsec(&["audit", "verify", proof.to_str().unwrap(), "--rpc", rpc]);
    assert!(ok && out.contains("valid: line 3 is in anchor 1"), "{out}");
    let genesis = dir.path().join("chain/genesis.json");
    let (ok, out) = dsec(&["audit", "verify", proof.to_str().unwrap(), "--genesis", genesis.to_str().unwrap()]);
    assert!(
        ok && out.contains("valid: line 3 is in anchor 1") && out.contains("(offline, against the genesis)"),
        "{out}"
    );
    let (ok, out) = dsec(&["audit", "verify", proof.to_str().unwrap()]);
    assert!(!ok && out.contains("--genesis"), "{out}");

    // A tampered line no longer verifies.
    let tampered = std::fs::read_to_string(&proof).unwrap().replace("\\\"u3\\\"", "\\\"u9\\\"");
    let forged = dir.path().join("forged.json");
    std::fs::write(&forged, tampered).unwrap();
    let (ok, out) = dsec(&["audit", "verify", forged.to_str().unwrap(), "--rpc", rpc]);
    assert!(!ok && out.contains("invalid"), "{out}");

    // The chain continues: a second anchor links to the first.
    let (ok, out) = dsec(&["audit", "anchor", "--tenant", "demo-agency", log_s, "--rpc", rpc]);
    assert!(ok && out.contains("as anchor 2 of tenant"), "{out}");

    // Someone who is not a member of the tenant is refused with the module's reason.
    let stranger = format!("{}", dsec_sdk::dev::dev_accounts()[5].private_key);
    let (ok, out) = dsec(&["audit", "anchor", "--tenant", "demo-agency", log_s, "--rpc", rpc, "--key", &stranger]);
    assert!(!ok && out.contains("not a member"), "{out}");
    let (ok, out) = dsec(&["audit", "prove", log_s, "--line", "99", "--tenant", "demo-agency", "--rpc", rpc]);
    assert!(!ok && out.contains("--line 99"), "{out}");
}
