//! A bank's compliance desk on a running node, through `dsec settle` only:
//! roles and KYC records, currencies, a large transfer held and the four-eyes
//! rule refusing its initiator's own approval before a second officer
//! releases it; an FX payment and a PvP above the threshold held and resolved;
//! a daily limit holding split payments; a KYC record expiring; and the
//! desk's reads (pending holds, a party's payments, balances).

use dsec_sdk::dev::dev_accounts;
use dsec_tests::{NodeProcess, run_dsec};

/// Run `dsec settle ARGS` against the node as dev account `signer`.
fn settle(node: &NodeProcess, signer: usize, args: &[&str]) -> (bool, String) {
    let key = dev_accounts()[signer].private_key.to_string();
    let mut all = vec!["settle", "--rpc", &node.rpc_url, "--key", &key];
    all.extend(args);
    run_dsec(&all)
}

fn ok(node: &NodeProcess, signer: usize, args: &[&str]) -> String {
    let (success, out) = settle(node, signer, args);
    assert!(success, "dsec settle {args:?} as dev account {signer} failed:\n{out}");
    out
}

fn refused(node: &NodeProcess, signer: usize, args: &[&str], reason: &str) {
    let (success, out) = settle(node, signer, args);
    assert!(!success, "dsec settle {args:?} as dev account {signer} succeeded:\n{out}");
    assert!(out.contains(reason), "dsec settle {args:?}: expected {reason:?} in:\n{out}");
}

/// The hold id in `held for compliance review as hold N`.
fn hold_id(out: &str) -> String {
    let rest = out.split("as hold ").nth(1).unwrap_or_else(|| panic!("not held:\n{out}"));
    rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn compliance_desk_holds_every_payment_path_under_four_eyes() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::devnet(dir.path(), &["--block-time-ms", "200"]);
    let dev: Vec<String> = dev_accounts().iter().map(|a| a.address.to_string()).collect();
    let (admin, officer, officer2, cadmin, fx, alice, bob) = (0, 1, 2, 3, 4, 5, 6);

    ok(&node, admin, &["role", "--party", &dev[officer], "--role", "compliance"]);
    ok(&node, admin, &["role", "--party", &dev[officer2], "--role", "compliance"]);
    ok(&node, admin, &["role", "--party", &dev[cadmin], "--role", "compliance-admin"]);
    ok(&node, admin, &["role", "--party", &dev[fx], "--role", "fx"]);
    refused(&node, officer, &["kyc", "--party", &dev[officer], "--status", "approved"], "four eyes");
    ok(&node, officer2, &["kyc", "--party", &dev[officer], "--status", "approved", "--jurisdiction", "NL"]);
    for p in [admin, fx, alice, bob] {
        ok(
            &node,
            officer,
            &["kyc", "--party", &dev[p], "--status", "approved", "--jurisdiction", "DE", "--expires", "2099-12-31"],
        );
    }
    let shown = ok(&node, admin, &["kyc-of", "--party", &dev[alice]]);
    assert!(shown.contains("KYC approved, expires 2099-12-31 00:00:00 UTC, jurisdiction DE"), "{shown}");
    ok(
        &node,
        admin,
        &["currency", "--code", "EUR", "--decimals", "2", "--issuer", &dev[admin], "--hold-threshold", "1000000"],
    );
    ok(&node, admin, &["currency", "--code", "USD", "--decimals", "2", "--issuer", &dev[admin]]);
    for p in [officer, fx, alice, bob] {
        ok(&node, admin, &["mint", "--code", "EUR", "--to", &dev[p], "--amount", "5000000"]);
        ok(&node, admin, &["mint", "--code", "USD", "--to", &dev[p], "--amount", "5000000"]);
    }

    // A large transfer by an officer: held, and that officer cannot release it.
    let out = ok(
        &node,
        officer,
        &["transfer", "--code", "EUR", "--to", &dev[alice], "--amount", "2000000", "--reference", "INV-1"],
    );
    assert!(out.contains("above the currency's threshold"), "{out}");
    let id = hold_id(&out);
    let holds = ok(&node, admin, &["holds"]);
    assert!(holds.contains(&format!("hold {id}: transfer by {}", dev[officer])), "{holds}");
    assert!(holds.contains("20000.00 EUR"), "{holds}");
    refused(
        &node,
        officer,
        &["approve-hold", "--id", &id],
        "four eyes: a compliance officer cannot review a payment they are party to",
    );
    refused(&node, alice, &["approve-hold", "--id", &id], "caller is not a compliance officer");
    ok(&node, officer2, &["approve-hold", "--id", &id]);
    assert!(ok(&node, admin, &["balance", "--party", &dev[alice], "--code", "EUR"]).contains("70000.00 EUR"));
    refused(&node, officer2, &["approve-hold", "--id", &id], "no pending hold with this id");

    // FX above the threshold: held, then rejected (both legs return).
    let out = ok(
        &node,
        fx,
        &[
            "fx-quote",
            "--base",
            "EUR",
            "--quote",
            "USD",
            "--rate",
            "1.08",
            "--fee-bps",
            "50",
            "--max-notional",
            "10000000",
        ],
    );
    let quote = out.split("quote ").nth(1).unwrap().split(',').next().unwrap().to_string();
    let out = ok(&node, alice, &["fx-pay", "--quote", &quote, "--to", &dev[bob], "--amount", "2000000"]);
    let fx_hold = hold_id(&out);
    assert!(ok(&node, admin, &["holds"]).contains(&format!("hold {fx_hold}: fx by {}", dev[alice])));
    ok(&node, officer, &["reject-hold", "--id", &fx_hold]);
    assert!(ok(&node, admin, &["balance", "--party", &dev[alice], "--code", "EUR"]).contains("70000.00 EUR"));
    let paid = ok(&node, alice, &["fx-pay", "--quote", &quote, "--to", &dev[bob], "--amount", "10000"]);
    assert!(paid.contains("paid 10746 quote minor units, fee 54"), "{paid}");
    ok(&node, fx, &["fx-withdraw", "--id", &quote]);
    refused(&node, alice, &["fx-pay", "--quote", &quote, "--to", &dev[bob], "--amount", "1"], "quote withdrawn");

    // A PvP above the threshold: accepted into one hold, then settled by an officer party to neither leg.
    let out = ok(
        &node,
        alice,
        &[
            "pvp",
            "propose",
            "--counterparty",
            &dev[bob],
            "--give",
            "EUR",
            "--give-amount",
            "1500000",
            "--get",
            "USD",
            "--get-amount",
            "1600000",
        ],
    );
    let pvp = out.split("PvP ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    let out = ok(&node, bob, &["pvp", "accept", "--id", &pvp]);
    let pvp_hold = hold_id(&out);
    ok(&node, officer2, &["approve-hold", "--id", &pvp_hold]);
    assert!(ok(&node, admin, &["balance", "--party", &dev[bob], "--code", "EUR"]).contains("65000.00 EUR"));

    // A daily limit: the payment that would pass it is held.
    refused(
        &node,
        officer,
        &["daily-limit", "--code", "USD", "--amount", "100000"],
        "caller is not a compliance administrator",
    );
    ok(&node, cadmin, &["daily-limit", "--code", "USD", "--amount", "100000"]);
    assert!(
        ok(&node, bob, &["transfer", "--code", "USD", "--to", &dev[alice], "--amount", "60000"]).contains("settled")
    );
    let out = ok(&node, bob, &["transfer", "--code", "USD", "--to", &dev[alice], "--amount", "50000"]);
    assert!(out.contains("beyond the payer's daily limit"), "{out}");

    // The desk's reads.
    let payments = ok(&node, admin, &["payments", "--party", &dev[alice]]);
    assert!(payments.contains("payment(s) in the period"), "{payments}");
    assert!(payments.contains("transfer") && payments.contains("fx") && payments.contains("pvp"), "{payments}");
    assert!(payments.contains(&format!("from {}", dev[officer])), "{payments}");
    let balances = ok(&node, admin, &["balances", "--party", &dev[bob]]);
    assert!(balances.contains("EUR") && balances.contains("USD"), "{balances}");
    refused(&node, admin, &["payments", "--party", &dev[alice], "--limit", "0"], "--limit 0");
    refused(
        &node,
        admin,
        &["kyc", "--party", &dev[alice], "--status", "approved", "--expires", "someday"],
        "--expires \"someday\"",
    );

    // A KYC record that expires: its party can no longer send.
    let soon = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 4).to_string();
    ok(&node, officer, &["kyc", "--party", &dev[bob], "--status", "approved", "--expires", &soon]);
    std::thread::sleep(std::time::Duration::from_secs(6));
    refused(
        &node,
        bob,
        &["transfer", "--code", "EUR", "--to", &dev[alice], "--amount", "1"],
        "sender's KYC has expired",
    );
    let shown = ok(&node, admin, &["kyc-of", "--party", &dev[bob]]);
    assert!(shown.contains("may not transact"), "{shown}");
}
