use super::*;
use crate::devnet::{DevnetSpec, generate};

fn sample() -> String {
    generate(&DevnetSpec { validators: 2, ..Default::default() }).genesis.to_json_pretty()
}

fn edit(f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&sample()).unwrap();
    f(&mut v);
    v.to_string()
}

fn error_of(text: &str) -> String {
    Genesis::from_json(text).unwrap_err().to_string()
}

#[test]
fn devnet_genesis_roundtrips_and_hash_is_stable() {
    let text = sample();
    let g = Genesis::from_json(&text).unwrap();
    let again = Genesis::from_json(&g.to_json_pretty()).unwrap();
    assert_eq!(g, again);
    assert_eq!(g.hash(), again.hash());
    assert_eq!(g.alloc.len(), 10);
    assert_eq!(g.validator_set().validators.len(), 2);
}

#[test]
fn every_setting_changes_the_hash() {
    let g = Genesis::from_json(&sample()).unwrap();
    let mut other = g.clone();
    other.fees.min_gas_price = 1;
    assert_ne!(g.hash(), other.hash());
}

#[test]
fn unknown_field_is_named() {
    let text = edit(|v| v["fees"]["surprise"] = 1.into());
    let err = error_of(&text);
    assert!(err.contains("fees") && err.contains("surprise"), "{err}");
}

#[test]
fn malformed_key_and_address_are_named() {
    let text = edit(|v| v["validators"][1]["publicKey"] = "0x1234".into());
    let err = error_of(&text);
    assert!(err.contains("validators[1].publicKey"), "{err}");

    let mut v: serde_json::Value = serde_json::from_str(&sample()).unwrap();
    v["alloc"]["0xnothex"] = serde_json::json!({"balance": "0x1"});
    let err = error_of(&v.to_string());
    assert!(err.contains("alloc"), "{err}");

    let text = edit(|v| {
        let first = v["alloc"].as_object().unwrap().keys().next().unwrap().clone();
        v["alloc"][first]["balance"] = "0xzz".into();
    });
    let err = error_of(&text);
    assert!(err.contains("balance"), "{err}");
}

#[test]
fn duplicate_validator_is_refused() {
    let text = edit(|v| {
        let first = v["validators"][0]["publicKey"].clone();
        v["validators"][1]["publicKey"] = first;
    });
    let err = error_of(&text);
    assert!(err.contains("validators[1].publicKey") && err.contains("duplicate"), "{err}");
}

#[test]
fn duplicate_alloc_key_is_refused() {
    let text = sample();
    let g = Genesis::from_json(&text).unwrap();
    let addr = g.alloc.keys().next().unwrap().to_string();
    let dup = text.replacen("\"alloc\": {", &format!("\"alloc\": {{\n    \"{addr}\": {{\"balance\": \"0x1\"}},"), 1);
    let err = error_of(&dup);
    assert!(err.contains("duplicate key"), "{err}");
}

#[test]
fn rules_are_enforced() {
    assert!(error_of(&edit(|v| v["chainId"] = 0.into())).contains("chainId"));
    assert!(error_of(&edit(|v| v["gasLimit"] = 5.into())).contains("gasLimit"));
    assert!(error_of(&edit(|v| v["validators"] = serde_json::json!([]))).contains("validators"));
    assert!(error_of(&edit(|v| v["validators"][0]["power"] = 0.into())).contains("validators[0].power"));
}

#[test]
fn permissions_default_to_open() {
    // The rules themselves live in the permissions module the genesis seeds.
    let g = Genesis::from_json(&sample()).unwrap();
    assert_eq!(g.permissions_seed().accounts, None, "no sender list: open to anyone");
    let mut listed = g.clone();
    listed.permissions.senders = Some(vec![Address::repeat_byte(1)]);
    assert_eq!(listed.permissions_seed().accounts, Some(vec![Address::repeat_byte(1)]));
}

#[test]
fn permission_settings_are_checked_and_named() {
    let admin = "0x00000000000000000000000000000000000000a1";
    let two = edit(|v| {
        v["permissions"]["admins"] = serde_json::json!([admin]);
        v["permissions"]["adminThreshold"] = 2.into();
    });
    assert!(
        error_of(&two).contains("permissions.adminThreshold: must be between 1 and the number of administrators (1)")
    );
    let dup = edit(|v| v["permissions"]["admins"] = serde_json::json!([admin, admin]));
    assert!(error_of(&dup).contains("permissions.admins[1]: duplicate administrator"));
    let node = edit(|v| v["permissions"]["nodes"] = serde_json::json!(["enode://1234@127.0.0.1:30303"]));
    assert!(error_of(&node).contains("permissions.nodes[0]"));
    let reserved =
        edit(|v| v["alloc"]["0x00000000000000000000000000000000da5ec004"] = serde_json::json!({"balance": "1"}));
    assert!(error_of(&reserved).contains("reserved for the permissions module"));
}

#[test]
fn the_permissions_section_seeds_the_module_and_the_state_root() {
    use dsec_sdk::chaincode::permissions::{ADDRESS, account_allowlist_slot, seeded_slot};
    let g = Genesis::from_json(&sample()).unwrap();
    let module = &g.state_changes().accounts[&ADDRESS];
    assert_eq!(module.storage.get(&seeded_slot()), Some(&U256::from(1)));
    assert!(!module.storage.contains_key(&account_allowlist_slot()), "no sender list: open mode");
    let mut listed = g.clone();
    listed.permissions.senders = Some(vec![Address::repeat_byte(1)]);
    assert_eq!(listed.state_changes().accounts[&ADDRESS].storage.get(&account_allowlist_slot()), Some(&U256::from(1)));
    assert_ne!(g.header().state_root, listed.header().state_root, "the state root commits to the lists");
    let seed = g.permissions_seed();
    assert_eq!(seed.module_admins.keys().cloned().collect::<Vec<_>>(), vec!["audit", "provenance", "settlement"]);
}

#[test]
fn hybrid_consensus_signatures_need_an_ml_dsa_key_per_validator() {
    let hybrid = generate(&DevnetSpec { validators: 2, hybrid: true, ..Default::default() }).genesis;
    assert!(hybrid.consensus_signatures.is_hybrid());
    let text = hybrid.to_json_pretty();
    assert!(text.contains("\"consensusSignatures\": \"ed25519+ml-dsa-65\""));
    let parsed = Genesis::from_json(&text).unwrap();
    assert!(
        parsed.validator_set().validators.iter().all(|v| v.ml_dsa_public_key.as_ref().map(|k| k.len()) == Some(1952))
    );
    assert_ne!(parsed.validator_set().hash(), {
        let mut plain = parsed.clone();
        plain.consensus_signatures = ConsensusSignatures::Ed25519;
        plain.validators.iter_mut().for_each(|v| v.ml_dsa_public_key = None);
        plain.validator_set().hash()
    });

    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["validators"][1].as_object_mut().unwrap().remove("mlDsaPublicKey");
    assert!(error_of(&v.to_string()).contains("validators[1].mlDsaPublicKey"));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["validators"][0]["mlDsaPublicKey"] = "0x1234".into();
    assert!(error_of(&v.to_string()).contains("1,952 bytes"));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["validators"][1]["mlDsaPublicKey"] = v["validators"][0]["mlDsaPublicKey"].clone();
    assert!(error_of(&v.to_string()).contains("duplicate ML-DSA-65 key"));
    // An ed25519 chain refuses ML-DSA keys, and the setting's name is checked.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("consensusSignatures");
    assert!(error_of(&v.to_string()).contains("validators[0].mlDsaPublicKey"));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["consensusSignatures"] = "ml-dsa".into();
    assert!(error_of(&v.to_string()).contains("consensusSignatures"));
    // An ed25519 genesis does not mention the setting, so its hash is unchanged.
    assert!(!sample().contains("consensusSignatures"));
}
