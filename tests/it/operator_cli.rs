//! The operator CLI against a running devnet: `dsec provenance` (parties, a
//! shipment's journey, the JSON report) and `dsec settle` (roles, KYC,
//! currencies, payments, a compliance hold).

use dsec_tests::{NodeProcess, run_dsec};

/// Run `dsec` and return its output; fail the test if it fails.
pub(crate) fn dsec(args: &[&str]) -> String {
    let (ok, text) = run_dsec(args);
    assert!(ok, "dsec {args:?} failed:\n{text}");
    text
}

/// Run `dsec` and return its output; fail the test if it succeeds.
pub(crate) fn dsec_fails(args: &[&str]) -> String {
    let (ok, text) = run_dsec(args);
    assert!(!ok, "dsec {args:?} should fail:\n{text}");
    text
}

/// Create shipment PO-4711 (40 pallets of transformers, Rotterdam to
/// Singapore) to `consignee` along `legs`, signed by the shipper's key.
pub(crate) fn create_po_4711(rpc: &str, shipper_key: &str, consignee: &str, legs: &[&str]) {
    let mut args = vec![
        "provenance",
        "create",
        "--shipment",
        "PO-4711",
        "--consignee",
        consignee,
        "--origin",
        "NLRTM",
        "--destination",
        "SGSIN",
        "--goods",
        "40 pallets of transformers",
        "--hs-code",
        "850440",
        "--declared-value",
        "250000",
        "--weight-kg",
        "12000",
        "--key",
        shipper_key,
        "--rpc",
        rpc,
    ];
    for leg in legs {
        args.extend(["--leg", leg]);
    }
    dsec(&args);
}

/// Dev account `i`: its address and private key, as the CLI takes them.
pub(crate) fn account(i: usize) -> (String, String) {
    let a = &dsec_sdk::dev::dev_accounts()[i];
    (a.address.to_string(), a.private_key.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn provenance_journey_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::devnet(dir.path(), &[]);
    let rpc = node.rpc_url.as_str();
    let ((shipper, shipper_key), (carrier, carrier_key), (consignee, consignee_key)) =
        (account(2), account(3), account(4));
    for (party, role, name) in [
        (&shipper, "shipper", "Maker BV"),
        (&carrier, "carrier", "Sea Line"),
        (&consignee, "consignee", "Importer Pte"),
    ] {
        dsec(&["provenance", "party", "--party", party, "--role", role, "--name", name, "--rpc", rpc]);
    }
    let err =
        dsec_fails(&["provenance", "party", "--party", &shipper, "--role", "pirate", "--name", "x", "--rpc", rpc]);
    assert!(err.contains("--role \"pirate\""), "{err}");
    create_po_4711(rpc, &shipper_key, &consignee, &["NLRTM:MYPKG:sea:15000", "MYPKG:SGSIN:road:230"]);
    // Only the custodian may hand over.
    let err = dsec_fails(&[
        "provenance",
        "hand-over",
        "--shipment",
        "PO-4711",
        "--to",
        &carrier,
        "--location",
        "NLRTM",
        "--key",
        &carrier_key,
        "--rpc",
        rpc,
    ]);
    assert!(err.contains("provenance:"), "{err}");
    dsec(&[
        "provenance",
        "hand-over",
        "--shipment",
        "PO-4711",
        "--to",
        &carrier,
        "--location",
        "NLRTM",
        "--key",
        &shipper_key,
        "--rpc",
        rpc,
    ]);
    dsec(&["provenance", "accept", "--shipment", "PO-4711", "--key", &carrier_key, "--rpc", rpc]);
    dsec(&[
        "provenance",
        "hand-over",
        "--shipment",
        "PO-4711",
        "--to",
        &consignee,
        "--location",
        "SGSIN",
        "--key",
        &carrier_key,
        "--rpc",
        rpc,
    ]);
    dsec(&["provenance", "accept", "--shipment", "PO-4711", "--key", &consignee_key, "--rpc", rpc]);

    let report: serde_json::Value =
        serde_json::from_str(&dsec(&["provenance", "report", "--shipment", "PO-4711", "--rpc", rpc])).unwrap();
    assert_eq!(report["status"], "delivered");
    assert_eq!(report["location"], "SGSIN");
    // Sea: 15,000 km × 12,000 kg × 8 g / 10^6 = 1,440 kg; road: 230 × 12,000 × 62 / 10^6 = 171 kg.
    assert_eq!(report["route"][0]["kgCO2e"], 1440);
    assert_eq!(report["route"][1]["kgCO2e"], 171);
    assert_eq!(report["totalKgCO2e"], 1611);
    let kinds: Vec<&str> = report["trail"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "hand-over-proposed", "custody-accepted", "hand-over-proposed", "delivered"]);
    let events: Vec<&str> = report["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(events.contains(&"ShipmentCreated") && events.contains(&"Delivered"), "{events:?}");
    assert!(report["events"][0]["transactionHash"].is_string(), "every figure points to its transaction");
}

#[tokio::test(flavor = "multi_thread")]
async fn settlement_operator_flow() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::devnet(dir.path(), &[]);
    let rpc = node.rpc_url.as_str();
    let (admin, _) = account(0);
    let ((alice, alice_key), (bob, _)) = (account(5), account(6));
    dsec(&["settle", "role", "--party", &admin, "--role", "compliance", "--rpc", rpc]);
    // The officer approves others' KYC, never its own (four eyes); as issuer it needs none.
    let own = dsec_fails(&["settle", "kyc", "--party", &admin, "--status", "approved", "--rpc", rpc]);
    assert!(own.contains("four eyes"), "{own}");
    for party in [&alice, &bob] {
        dsec(&["settle", "kyc", "--party", party, "--status", "approved", "--rpc", rpc]);
    }
    dsec(&[
        "settle",
        "currency",
        "--code",
        "EUR",
        "--decimals",
        "2",
        "--issuer",
        &admin,
        "--hold-threshold",
        "100000",
        "--rpc",
        rpc,
    ]);
    dsec(&["settle", "mint", "--code", "EUR", "--to", &alice, "--amount", "500000", "--rpc", rpc]);
    dsec(&[
        "settle",
        "transfer",
        "--code",
        "EUR",
        "--to",
        &bob,
        "--amount",
        "2500",
        "--reference",
        "INV-1",
        "--key",
        &alice_key,
        "--rpc",
        rpc,
    ]);
    let held = dsec(&[
        "settle", "transfer", "--code", "EUR", "--to", &bob, "--amount", "200000", "--key", &alice_key, "--rpc", rpc,
    ]);
    assert!(held.contains("held for compliance review as hold 1"), "{held}");
    assert!(
        dsec(&["settle", "balance", "--party", &bob, "--code", "EUR", "--rpc", rpc])
            .starts_with("25.00 EUR (2500 minor units)")
    );
    dsec(&["settle", "approve-hold", "--id", "1", "--rpc", rpc]);
    assert!(dsec(&["settle", "balance", "--party", &bob, "--code", "EUR", "--rpc", rpc]).starts_with("2025.00 EUR"));
    let err = dsec_fails(&[
        "settle", "transfer", "--code", "EUR", "--to", &bob, "--amount", "99999999", "--key", &alice_key, "--rpc", rpc,
    ]);
    assert!(err.contains("insufficient balance"), "{err}");
    let err =
        dsec_fails(&["settle", "currency", "--code", "euro", "--decimals", "2", "--issuer", &admin, "--rpc", rpc]);
    assert!(err.contains("--code \"euro\""), "{err}");
}
