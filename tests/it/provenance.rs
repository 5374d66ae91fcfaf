//! A port's operations desk on a running node, through `dsec provenance`
//! only: a sensor's key is made and registered, a reading it signed is an
//! excursion, a replayed or tampered reading is refused, and so is any reading
//! once the device is revoked; a port-wide closure flags a shipment routed through it, a reroute
//! around it takes effect once two of its three parties approve, customs
//! holds the goods in its jurisdiction and hand-offs wait until it releases
//! them, the shipment is delivered on the new route and its dossier still
//! verifies offline; a revoked party can no longer receive goods.

use dsec_sdk::dev::dev_accounts;
use dsec_tests::{NodeProcess, run_dsec};

fn provenance(node: &NodeProcess, signer: usize, args: &[&str]) -> (bool, String) {
    let key = dev_accounts()[signer].private_key.to_string();
    let mut all = vec!["provenance", "--rpc", &node.rpc_url, "--key", &key];
    all.extend(args);
    run_dsec(&all)
}

fn ok(node: &NodeProcess, signer: usize, args: &[&str]) -> String {
    let (success, out) = provenance(node, signer, args);
    assert!(success, "dsec provenance {args:?} as dev account {signer} failed:\n{out}");
    out
}

fn refused(node: &NodeProcess, signer: usize, args: &[&str], reason: &str) {
    let (success, out) = provenance(node, signer, args);
    assert!(!success, "dsec provenance {args:?} as dev account {signer} succeeded:\n{out}");
    assert!(out.contains(reason), "dsec provenance {args:?}: expected {reason:?} in:\n{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_closure_is_rerouted_by_quorum_and_customs_holds_bind() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::devnet(&dir.path().join("chain"), &["--block-time-ms", "200"]);
    let dev: Vec<String> = dev_accounts().iter().map(|a| a.address.to_string()).collect();
    let (admin, shipper, carrier, port, customs, consignee) = (0, 1, 2, 3, 4, 5);
    for (who, role, name) in [
        (shipper, "shipper", "SHANGHAI-EXPORTS"),
        (carrier, "carrier", "BLUE-OCEAN"),
        (port, "port", "ANTWERP-TERMINAL"),
        (customs, "customs", "BE-CUSTOMS"),
        (consignee, "consignee", "RHEIN-RETAIL"),
    ] {
        ok(&node, admin, &["party", "--party", &dev[who], "--role", role, "--name", name]);
    }
    ok(
        &node,
        shipper,
        &[
            "create",
            "--shipment",
            "PO-77",
            "--consignee",
            &dev[consignee],
            "--origin",
            "CNSHA",
            "--destination",
            "DEDUS",
            "--goods",
            "40 pallets of bearings",
            "--hs-code",
            "848210",
            "--declared-value",
            "2500000",
            "--weight-kg",
            "12000",
            "--leg",
            "CNSHA:NLRTM:sea:19000",
            "--leg",
            "NLRTM:DEDUS:road:230",
        ],
    );
    // The shipper records the goods' embedded emissions for the importer's CBAM declaration.
    let cbam = [
        "cbam",
        "--shipment",
        "PO-77",
        "--installation",
        "CN-STEEL-0042",
        "--route",
        "BF-BOF",
        "--origin-country",
        "CN",
        "--direct",
        "1850",
        "--indirect",
        "320",
    ];
    refused(&node, carrier, &cbam, "only the shipper declares embedded emissions");
    ok(&node, shipper, &cbam);
    refused(&node, shipper, &cbam, "already declared");
    let declaration: serde_json::Value =
        serde_json::from_str(&ok(&node, admin, &["report", "--shipment", "PO-77", "--format", "cbam"])).unwrap();
    assert_eq!(declaration["format"], "dsec-cbam/1");
    assert_eq!(declaration["goods"]["netMassTonnes"], "12.000");
    assert_eq!(declaration["goods"]["countryOfOrigin"], "CN");
    assert_eq!(declaration["installation"]["productionRoute"], "BF-BOF");
    let embedded = &declaration["embeddedEmissions"];
    assert_eq!(
        (embedded["direct"].as_u64(), embedded["indirect"].as_u64(), embedded["total"].as_u64()),
        (Some(22_200), Some(3_840), Some(26_040))
    );
    assert_eq!(embedded["source"]["event"], "EmbeddedEmissionsDeclared", "every figure names its event");
    assert!(
        embedded["source"]["transactionHash"].is_string()
            && declaration["goods"]["source"]["event"] == "ShipmentCreated"
    );
    refused(&node, admin, &["report", "--shipment", "PO-77", "--format", "xml"], "--format \"xml\"");
    // A reefer sensor: its key made and registered to the shipper, a reading signed by it and submitted.
    let secret = dir.path().join("sensor.key");
    let secret_s = secret.to_str().unwrap();
    assert!(ok(&node, shipper, &["device-new", "--out", secret_s]).starts_with("device key 0x"));
    ok(&node, shipper, &["register-device", "--device-secret", secret_s, "--owner", &dev[shipper]]);
    ok(
        &node,
        shipper,
        &["thresholds", "--shipment", "PO-77", "--min-temp", "-500", "--max-temp", "800", "--max-shock", "3000"],
    );
    let reading = dir.path().join("reading.json");
    let observed =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 30).to_string();
    ok(
        &node,
        carrier,
        &[
            "sign-reading",
            "--device-secret",
            secret_s,
            "--shipment",
            "PO-77",
            "--kind",
            "temperature",
            "--value",
            "950",
            "--observed-at",
            &observed,
            "--out",
            reading.to_str().unwrap(),
        ],
    );
    let out = ok(&node, carrier, &["attest", "--reading", reading.to_str().unwrap()]);
    assert!(out.contains("EXCURSION"), "9.5 °C is above the 8 °C threshold: {out}");
    refused(&node, carrier, &["attest", "--reading", reading.to_str().unwrap()], "attestation already recorded");
    let tampered = std::fs::read_to_string(&reading).unwrap().replace("\"value\": 950", "\"value\": 700");
    std::fs::write(&reading, tampered).unwrap();
    refused(&node, carrier, &["attest", "--reading", reading.to_str().unwrap()], "bad device signature");
    ok(&node, shipper, &["hand-over", "--shipment", "PO-77", "--to", &dev[carrier], "--location", "CNSHA"]);
    ok(&node, carrier, &["accept", "--shipment", "PO-77"]);

    // Rotterdam closes: the shipment is flagged.
    refused(
        &node,
        shipper,
        &["disruption", "--location", "NLRTM", "--kind", "strike", "--ends", "2099-01-01"],
        "caller may not declare disruptions",
    );
    refused(
        &node,
        port,
        &["disruption", "--location", "NLRTM", "--kind", "flood", "--ends", "2099-01-01"],
        "--kind \"flood\"",
    );
    let out = ok(&node, port, &["disruption", "--location", "NLRTM", "--kind", "port-closure", "--ends", "2099-01-01"]);
    assert!(out.starts_with("disruption 1 "), "{out}");
    let listed = ok(&node, admin, &["shipments", "--party", &dev[consignee]]);
    assert!(
        listed.contains("1 shipment(s)") && listed.contains("CNSHA -> DEDUS  in transit, DISRUPTED (1)"),
        "{listed}"
    );
    let out = ok(&node, admin, &["disruptions", "--shipment", "PO-77"]);
    assert!(out.contains("disruption 1: port-closure at NLRTM"), "{out}");

    // A reroute via Antwerp: proposed by the shipper, approved by the consignee (2 of 3).
    let via_antwerp = ["--leg", "CNSHA:BEANR:sea:19100", "--leg", "BEANR:DEDUS:road:220"];
    let mut propose = vec!["propose-reroute", "--shipment", "PO-77", "--disruption", "1"];
    propose.extend(via_antwerp);
    refused(&node, port, &propose, "only the shipper, the custodian or the consignee may propose a reroute");
    let out = ok(&node, shipper, &propose);
    assert!(out.contains("reroute proposal 1: 1 of 2 approvals needed"), "{out}");
    refused(&node, port, &["approve-reroute", "--shipment", "PO-77", "--proposal", "1"], "may approve a reroute");
    let out = ok(&node, consignee, &["approve-reroute", "--shipment", "PO-77", "--proposal", "1"]);
    assert!(out.contains("2 of 2 approvals, the new route is in force"), "{out}");
    assert!(ok(&node, admin, &["disruptions", "--shipment", "PO-77"]).contains("0 disruption(s)"));

    // Customs in Antwerp holds the goods: no hand-off until released.
    ok(&node, carrier, &["hand-over", "--shipment", "PO-77", "--to", &dev[port], "--location", "BEANR"]);
    ok(&node, port, &["accept", "--shipment", "PO-77"]);
    refused(&node, customs, &["customs", "--shipment", "PO-77", "--status", "held"], "no jurisdiction in BE");
    ok(&node, admin, &["jurisdictions", "--authority", &dev[customs], "--countries", "BE,NL"]);
    ok(&node, customs, &["customs", "--shipment", "PO-77", "--status", "held", "--reference", "BE-2026-0042"]);
    refused(
        &node,
        port,
        &["hand-over", "--shipment", "PO-77", "--to", &dev[consignee], "--location", "DEDUS"],
        "held by customs until released",
    );
    ok(&node, customs, &["customs", "--shipment", "PO-77", "--status", "released", "--reference", "BE-2026-0042"]);
    ok(&node, port, &["hand-over", "--shipment", "PO-77", "--to", &dev[consignee], "--location", "DEDUS"]);
    ok(&node, consignee, &["accept", "--shipment", "PO-77"]);
    let listed = ok(&node, admin, &["shipments", "--party", &dev[consignee]]);
    assert!(listed.contains("delivered, customs released"), "{listed}");

    // The dossier verifies offline with the new route.
    let dossier = dir.path().join("dossier.json");
    ok(&node, admin, &["dossier", "--shipment", "PO-77", "--out", dossier.to_str().unwrap()]);
    let genesis = dir.path().join("chain/genesis.json");
    let (valid, out) = run_dsec(&["verify", dossier.to_str().unwrap(), "--genesis", genesis.to_str().unwrap()]);
    assert!(valid, "{out}");
    assert!(out.contains("BEANR"), "the route rebuilt from the approved reroute:\n{out}");

    // A revoked device's readings are refused.
    ok(
        &node,
        shipper,
        &["revoke-device", "--device", ok(&node, admin, &["device-key", "--device-secret", secret_s]).trim()],
    );
    ok(
        &node,
        carrier,
        &[
            "sign-reading",
            "--device-secret",
            secret_s,
            "--shipment",
            "PO-77",
            "--kind",
            "temperature",
            "--value",
            "500",
            "--observed-at",
            &observed,
            "--out",
            reading.to_str().unwrap(),
        ],
    );
    refused(&node, carrier, &["attest", "--reading", reading.to_str().unwrap()], "device revoked");

    // A revoked carrier can no longer receive goods.
    ok(&node, admin, &["revoke-party", "--party", &dev[carrier]]);
    ok(
        &node,
        shipper,
        &[
            "create",
            "--shipment",
            "PO-78",
            "--consignee",
            &dev[consignee],
            "--origin",
            "CNSHA",
            "--destination",
            "DEDUS",
            "--goods",
            "spare parts",
            "--hs-code",
            "848210",
            "--declared-value",
            "1000",
            "--weight-kg",
            "100",
            "--leg",
            "CNSHA:DEDUS:air:9000",
        ],
    );
    refused(
        &node,
        shipper,
        &["hand-over", "--shipment", "PO-78", "--to", &dev[carrier], "--location", "CNSHA"],
        "receiver is not a registered party",
    );
    refused(&node, admin, &["shipments", "--party", &dev[consignee], "--limit", "0"], "--limit 0");
}
