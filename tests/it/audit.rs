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

/// Tenant management and concurrency on a running devnet: two members anchor
/// at the same moment and both land, chained; a removed member and a
/// suspended tenant are refused; a moved quota binds; and `verify-chain`
/// replays the whole chain intact.
#[tokio::test(flavor = "multi_thread")]
async fn members_anchor_concurrently_and_the_chain_replays_intact() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::devnet(&dir.path().join("chain"), &["--block-time-ms", "500"]);
    let rpc = node.rpc_url.as_str();
    let genesis = dir.path().join("chain/genesis.json");
    let keys: Vec<String> = dsec_sdk::dev::dev_accounts().iter().map(|a| a.private_key.to_string()).collect();
    let member1 = dsec_sdk::dev::dev_accounts()[1].address.to_string();
    let write = |name: &str, n: usize| {
        let path = dir.path().join(name);
        std::fs::write(&path, (0..n).map(|i| format!("{name} line {i}\n")).collect::<String>()).unwrap();
        path.display().to_string()
    };
    let (a, b) = (write("a.log", 3), write("b.log", 5));

    // Both members of demo-agency anchor at once: both succeed (append), numbered 1 and 2.
    let run = |file: String, key: String, rpc: String| {
        std::thread::spawn(move || {
            dsec(&["audit", "anchor", "--tenant", "demo-agency", &file, "--rpc", &rpc, "--key", &key])
        })
    };
    let first = run(a.clone(), keys[0].clone(), rpc.to_string());
    let second = run(b.clone(), keys[1].clone(), rpc.to_string());
    let (ok1, out1) = first.join().unwrap();
    let (ok2, out2) = second.join().unwrap();
    assert!(ok1 && ok2, "{out1}\n{out2}");
    let mut seqs: Vec<bool> = vec![out1.contains("as anchor 1"), out2.contains("as anchor 1")];
    seqs.sort();
    assert_eq!(seqs, vec![false, true], "one is anchor 1, the other anchor 2:\n{out1}\n{out2}");

    // The administrator (dev account 0) manages the tenant.
    let tenant = |args: &[&str]| {
        let mut all = vec!["audit", "tenant"];
        all.extend(args);
        all.extend(["--rpc", rpc]);
        dsec(&all)
    };
    let (ok, out) = tenant(&["remove-member", "--tenant", "demo-agency", "--member", &member1, "--key", &keys[1]]);
    assert!(!ok && out.contains("caller is not a platform administrator"), "{out}");
    let (ok, out) = tenant(&["remove-member", "--tenant", "demo-agency", "--member", &member1]);
    assert!(ok, "{out}");
    let (ok, out) = dsec(&["audit", "anchor", "--tenant", "demo-agency", &b, "--rpc", rpc, "--key", &keys[1]]);
    assert!(!ok && out.contains("not a member"), "{out}");
    assert!(tenant(&["suspend", "--tenant", "demo-agency"]).0);
    let (ok, out) = dsec(&["audit", "anchor", "--tenant", "demo-agency", &a, "--rpc", rpc]);
    assert!(!ok && out.contains("tenant is suspended"), "{out}");
    let (ok, out) = tenant(&["show", "--tenant", "demo-agency"]);
    assert!(ok && out.contains("SUSPENDED") && out.contains("head anchor 2"), "{out}");
    assert!(tenant(&["resume", "--tenant", "demo-agency"]).0);
    assert!(tenant(&["quota", "--tenant", "demo-agency", "--anchors-per-day", "3"]).0);
    let (ok, out) = dsec(&["audit", "anchor", "--tenant", "demo-agency", &a, "--rpc", rpc, "--strict"]);
    assert!(ok && out.contains("as anchor 3"), "{out}");
    let (ok, out) = dsec(&["audit", "anchor", "--tenant", "demo-agency", &a, "--rpc", rpc]);
    assert!(!ok && out.contains("quota exceeded"), "{out}");

    // The replay: intact, every anchor by a member at the time.
    let (ok, out) = dsec(&[
        "audit",
        "verify-chain",
        "--tenant",
        "demo-agency",
        "--rpc",
        rpc,
        "--genesis",
        genesis.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("3 anchors") && out.contains("chain intact") && out.contains("by a member at the time"),
        "{out}"
    );
    let (ok, out) = dsec(&["audit", "verify-chain", "--tenant", "nobody", "--rpc", rpc]);
    assert!(!ok && out.contains("no such tenant"), "{out}");
}
