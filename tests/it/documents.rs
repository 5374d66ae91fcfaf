//! Sealed documents end to end, the way their users run them: parties make
//! document keys and publish them on chain, a shipper seals a customs
//! declaration to three of them by address, anchors it on shipment PO-4711,
//! and each recipient opens it with `dsec open`, which checks the sender's
//! signature, the content hash and the anchor; a party it was not sealed to
//! cannot, and a flipped bit anywhere in the file is detected.

use crate::operator_cli::{account, create_po_4711, dsec, dsec_fails};
use dsec_tests::{NodeProcess, run_dsec};
use std::path::Path;

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customs_declaration_sealed_to_three_parties_is_anchored_and_opened_by_each() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::devnet(&dir.path().join("chain"), &[]);
    let rpc = node.rpc_url.as_str();
    let work = dir.path();

    // Customs, the consignee and the carrier (dev accounts 1-3) publish
    // document keys; dev account 4 makes one but is not a recipient.
    for i in 1..=4 {
        let key = path(work, &format!("doc{i}.key"));
        dsec(&["docs", "keygen", "--out", &key]);
        let (_, account_key) = account(i);
        if i <= 3 {
            let out = dsec(&["docs", "publish", "--doc-key", &key, "--key", &account_key, "--rpc", rpc]);
            assert!(out.contains("version 1"), "{out}");
        }
    }
    let (outsider, _) = account(4);
    let err = dsec_fails(&["seal", &path(work, "doc1.key"), "--to", &outsider, "--rpc", rpc]);
    assert!(err.contains("no published document key"), "{err}");

    // The shipper (dev account 0, also the provenance administrator) registers
    // itself and creates shipment PO-4711.
    let (shipper, _) = account(0);
    dsec(&["provenance", "party", "--party", &shipper, "--role", "shipper", "--name", "Maker BV", "--rpc", rpc]);
    let (consignee, _) = account(2);
    dsec(&["provenance", "party", "--party", &consignee, "--role", "consignee", "--name", "Importer", "--rpc", rpc]);
    create_po_4711(rpc, &account(0).1, &consignee, &["NLRTM:SGSIN:sea:15000"]);

    // The shipper seals the declaration to the three by address.
    let declaration = b"Customs declaration C88 for PO-4711: 40 pallets of transformers, HS 850440, EUR 250,000\n";
    std::fs::write(work.join("declaration.txt"), declaration).unwrap();
    let sealed = path(work, "declaration.sealed");
    let mut args = vec!["seal".to_string(), path(work, "declaration.txt"), "--shipment".into(), "PO-4711".into()];
    for i in 1..=3 {
        args.extend(["--to".to_string(), account(i).0]);
    }
    args.extend(["--out".to_string(), sealed.clone(), "--rpc".into(), rpc.to_string()]);
    dsec(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let bytes = std::fs::read(&sealed).unwrap();
    assert!(bytes.starts_with(b"DSECENV\x01"));
    assert!(!bytes.windows(20).any(|w| w == &declaration[..20]), "the envelope does not carry the plaintext in clear");

    // Opening before the anchor exists is refused (the recipient checks the chain).
    let err = dsec_fails(&["open", &sealed, "--key", &path(work, "doc1.key"), "--rpc", rpc]);
    assert!(err.contains("is not anchored"), "{err}");

    // Only the sender anchors it, on the shipment it names.
    let (_, other_key) = account(5);
    let err =
        dsec_fails(&["docs", "anchor", &sealed, "--kind", "customs-declaration", "--key", &other_key, "--rpc", rpc]);
    assert!(err.contains("only its sender anchors it"), "{err}");
    let err = dsec_fails(&["docs", "anchor", &sealed, "--kind", "Customs Declaration", "--rpc", rpc]);
    assert!(err.contains("--kind"), "{err}");
    let err =
        dsec_fails(&["docs", "anchor", &sealed, "--kind", "customs-declaration", "--shipment", "PO-9", "--rpc", rpc]);
    assert!(err.contains("the envelope is about"), "{err}");
    dsec(&["docs", "anchor", &sealed, "--kind", "customs-declaration", "--rpc", rpc]);
    // The shipment's report lists the document beside its events.
    let report: serde_json::Value =
        serde_json::from_str(&dsec(&["provenance", "report", "--shipment", "PO-4711", "--rpc", rpc])).unwrap();
    let listed = &report["documents"][0];
    assert_eq!(listed["kind"], "customs-declaration");
    assert_eq!(listed["recipients"].as_array().unwrap().len(), 3);
    assert_eq!(report["documents"].as_array().unwrap().len(), 1);
    let err = dsec_fails(&["docs", "anchor", &sealed, "--kind", "customs-declaration", "--rpc", rpc]);
    assert!(err.contains("already anchored"), "{err}");
    let shown: serde_json::Value = serde_json::from_str(&dsec(&["docs", "show", &sealed, "--rpc", rpc])).unwrap();
    assert_eq!(shown["kind"], "customs-declaration");
    assert_eq!(shown["sender"].as_str().unwrap().to_lowercase(), account(0).0.to_lowercase());
    assert_eq!(shown["recipients"].as_array().unwrap().len(), 3);
    assert_eq!(shown["checkedAgainstFile"], true);

    // Each recipient opens it and gets the declaration, checked against the anchor.
    for i in 1..=3 {
        let out = path(work, &format!("opened{i}.txt"));
        let report =
            dsec(&["open", &sealed, "--key", &path(work, &format!("doc{i}.key")), "--out", &out, "--rpc", rpc]);
        assert!(report.contains("content hash matches"), "{report}");
        assert!(report.contains(&account(0).0), "names the verified sender: {report}");
        assert_eq!(std::fs::read(&out).unwrap(), declaration);
    }
    // The party it was not sealed to cannot.
    let err = dsec_fails(&["open", &sealed, "--key", &path(work, "doc4.key"), "--rpc", rpc]);
    assert!(err.contains("not a recipient"), "{err}");

    // A flipped bit anywhere in the file is detected: sampled offsets across
    // every field (the unit tests flip every bit of an envelope).
    let tampered = path(work, "tampered.sealed");
    let step = (bytes.len() / 23).max(1);
    for offset in (0..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
        let mut copy = bytes.clone();
        copy[offset] ^= 0x10;
        std::fs::write(&tampered, &copy).unwrap();
        let (ok, text) = run_dsec(&["open", &tampered, "--key", &path(work, "doc2.key"), "--rpc", rpc]);
        assert!(!ok, "a flipped bit at offset {offset} of {} went unnoticed:\n{text}", bytes.len());
    }

    // Rotation: a new key replaces the old one; documents sealed later use it.
    let rotated = path(work, "doc1b.key");
    dsec(&["docs", "keygen", "--out", &rotated]);
    let out = dsec(&["docs", "publish", "--doc-key", &rotated, "--key", &account(1).1, "--rpc", rpc]);
    assert!(out.contains("version 2"), "{out}");
    let later = path(work, "later.sealed");
    dsec(&["seal", &path(work, "declaration.txt"), "--to", &account(1).0, "--out", &later, "--rpc", rpc]);
    let err = dsec_fails(&["open", &later, "--key", &path(work, "doc1.key"), "--no-anchor"]);
    assert!(err.contains("not a recipient"), "{err}");
    dsec(&["open", &later, "--key", &rotated, "--no-anchor", "--out", &path(work, "later.txt")]);
    assert_eq!(std::fs::read(work.join("later.txt")).unwrap(), declaration);
}
