//! `dsec proof` writes the proof bundle of a transaction (or of one of its
//! events); `dsec verify` checks any bundle offline against a genesis file
//! and prints what it proves. The bundle helpers here are shared by
//! `dsec audit prove` and `dsec provenance dossier`.

use crate::common::{DEFAULT_RPC_URL, client};
use alloy::sol_types::SolEvent;
use alloy_primitives::{Address, B256};
use clap::Args;
use dsec_genesis::Genesis;
use dsec_sdk::chaincode::{provenance, settlement};
use dsec_sdk::client::RpcClient;
use dsec_sdk::proof::{Bundle, Verified, explain, verify};
use eyre::{WrapErr, bail, eyre};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Flags of `dsec proof`.
#[derive(Args, Debug)]
pub(crate) struct ProofArgs {
    /// Hash of the transaction to prove.
    #[arg(long, required_unless_present = "log", conflicts_with = "log")]
    tx: Option<B256>,
    /// Prove one event only: TXHASH:INDEX, INDEX counting the transaction's own logs from 0.
    #[arg(long, value_name = "TXHASH:INDEX")]
    log: Option<String>,
    /// Where to write the bundle (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// JSON-RPC URL of a node.
    #[arg(long, default_value = DEFAULT_RPC_URL)]
    rpc: String,
}

impl ProofArgs {
    /// Fetch the bundle and write it.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        let (hash, log) = match (&self.tx, &self.log) {
            (Some(hash), _) => (*hash, None),
            (None, Some(spec)) => parse_log(spec)?,
            (None, None) => bail!("give --tx HASH or --log TXHASH:INDEX"),
        };
        let c = client(&self.rpc)?;
        let mut bundle = fetch(&c, hash).await?;
        if let Some(index) = log {
            narrow(&mut bundle, index).map_err(|e| eyre!("--log {hash}:{index}: {e}"))?;
        }
        add_context(&c, &mut bundle).await?;
        write(self.out.as_deref(), &bundle)
    }
}

fn parse_log(spec: &str) -> eyre::Result<(B256, Option<u64>)> {
    let (hash, index) =
        spec.split_once(':').ok_or_else(|| eyre!("--log {spec:?}: expected TXHASH:INDEX, e.g. 0xab…cd:0"))?;
    let hash: B256 = hash.parse().map_err(|e| eyre!("--log {spec:?}: bad transaction hash: {e}"))?;
    let index: u64 = index.parse().map_err(|_| eyre!("--log {spec:?}: INDEX {index:?} is not a whole number"))?;
    Ok((hash, Some(index)))
}

/// Flags of `dsec verify`.
#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The bundle (`dsec proof`, `dsec audit prove`, `dsec provenance dossier`).
    bundle: PathBuf,
    /// The chain's genesis file: the only thing the bundle is checked against.
    #[arg(long)]
    genesis: PathBuf,
    /// Print the result as JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

impl VerifyArgs {
    /// Verify offline: exit 0 with a summary, or fail with the reason.
    pub(crate) fn run(self) -> eyre::Result<()> {
        let verified = verify_file(&self.bundle, &self.genesis)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report(&verified))?);
        } else {
            print!("{}", explain::summary(&verified));
        }
        Ok(())
    }
}

/// Read a bundle and a genesis file and verify the one against the other.
pub(crate) fn verify_file(bundle: &Path, genesis: &Path) -> eyre::Result<Verified> {
    let genesis = Genesis::load(genesis).map_err(|e| eyre!("--genesis {}: {e}", genesis.display()))?;
    let bundle = read(bundle)?;
    verify(&bundle, &genesis.trust_root()).map_err(|e| eyre!("INVALID: {e}"))
}

/// A verified bundle as JSON (`dsec verify --json`).
fn report(v: &Verified) -> serde_json::Value {
    let names = explain::Names::of(v);
    json!({
        "valid": true,
        "genesisHash": v.genesis_hash,
        "validatorSets": v.lineage.iter().map(|s| json!({
            "fromHeight": s.from_height, "hash": s.hash, "validators": s.size, "totalPower": s.total_power,
        })).collect::<Vec<_>>(),
        "transactions": v.transactions.iter().map(|t| json!({
            "hash": t.hash,
            "sender": t.sender,
            "to": t.to,
            "blockNumber": t.block.number,
            "blockHash": t.block.hash,
            "index": t.index,
            "timestampMs": t.block.timestamp_ms,
            "success": t.success,
            "signers": t.block.signers.iter().map(|(a, _)| a).collect::<Vec<_>>(),
            "signedPower": t.block.signed_power,
            "totalPower": t.block.total_power,
            "events": t.claimed_logs().map(|(i, l)| json!({
                "log": i, "address": l.address, "description": explain::describe_log(l, &names),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "auditLine": v.audit_line.as_ref().map(|a| json!({
            "tenant": a.tenant, "seq": a.seq, "line": a.line, "text": a.text, "lineCount": a.line_count,
            "root": a.root, "blockNumber": a.block, "transaction": a.transaction,
        })),
        "dossier": v.dossier.as_ref().map(|d| json!({
            "shipment": d.label,
            "id": d.id,
            "delivered": d.delivered,
            "weightKg": d.weight_kg,
            "trail": d.trail.iter().map(|e| json!({
                "blockNumber": e.block, "timestampMs": e.timestamp_ms, "transaction": e.transaction, "log": e.log,
                "event": e.description,
            })).collect::<Vec<_>>(),
            "route": d.route.iter().map(|l| json!({
                "from": l.from, "to": l.to, "mode": l.mode, "distanceKm": l.distance_km,
                "factorGramsPerTonneKm": l.factor, "kgCO2e": l.kg_co2e, "completed": l.completed,
                "declaredIn": l.declared_in,
            })).collect::<Vec<_>>(),
            "totalKgCO2e": d.total_kg_co2e,
        })),
    })
}

/// The bundle of transaction `hash` from the node (exactly one transaction).
pub(crate) async fn fetch(client: &RpcClient, hash: B256) -> eyre::Result<Bundle> {
    let bundle = client
        .transaction_proof(hash)
        .await
        .map_err(|e| eyre!("dsec_getTransactionProof: {e}"))?
        .ok_or_else(|| eyre!("transaction {hash} is not committed on this node (yet)"))?;
    if bundle.transactions.len() != 1 {
        bail!("dsec_getTransactionProof({hash}) answered with {} transactions, not one", bundle.transactions.len());
    }
    Ok(bundle)
}

/// Narrow the claim of a one-transaction bundle to its log `index`.
pub(crate) fn narrow(bundle: &mut Bundle, index: u64) -> eyre::Result<()> {
    let tx = bundle.transactions.first_mut().ok_or_else(|| eyre!("the bundle holds no transaction"))?;
    let count = dsec_sdk::proof::decode_receipt(&tx.receipt)
        .map_err(|e| eyre!("the node's receipt does not decode: {e}"))?
        .2
        .len() as u64;
    if index >= count {
        bail!("the transaction has {count} logs (0 to {}), not {index}", count.saturating_sub(1));
    }
    tx.log = Some(index);
    Ok(())
}

/// Fetch and merge the bundles of `hashes` (one lineage, each block once).
pub(crate) async fn fetch_all(client: &RpcClient, hashes: &[B256]) -> eyre::Result<Bundle> {
    let mut merged: Option<Bundle> = None;
    for hash in hashes {
        let bundle = fetch(client, *hash).await?;
        match merged.as_mut() {
            None => merged = Some(bundle),
            Some(m) => m.merge(bundle).map_err(|e| eyre!("the node answered for two chains: {e}"))?,
        }
    }
    merged.ok_or_else(|| eyre!("nothing to prove"))
}

/// The parties named in the provenance events of a bundle (to prove their names too).
fn involved_parties(bundle: &Bundle) -> Vec<Address> {
    let mut parties = Vec::new();
    for t in &bundle.transactions {
        let Ok((_, _, logs)) = dsec_sdk::proof::decode_receipt(&t.receipt) else { continue };
        for log in logs.iter().filter(|l| l.address == provenance::ADDRESS) {
            // Indexed address topics of the provenance events (shipper, consignee, from, to, …).
            for topic in log.topics().iter().skip(1) {
                if topic[..12].iter().all(|b| *b == 0) && !topic[12..].iter().all(|b| *b == 0) {
                    parties.push(Address::from_word(*topic));
                }
            }
        }
    }
    parties.sort_unstable();
    parties.dedup();
    parties
}

/// The currencies named in the settlement events of a bundle (to prove their decimals too).
fn currencies(bundle: &Bundle) -> Vec<B256> {
    use settlement::ISettlement::*;
    let mut codes = Vec::new();
    for t in &bundle.transactions {
        let Ok((_, _, logs)) = dsec_sdk::proof::decode_receipt(&t.receipt) else { continue };
        for log in logs.iter().filter(|l| l.address == settlement::ADDRESS) {
            let d = &log.data;
            if let Ok(e) = Transferred::decode_log_data(d) {
                codes.push(e.code);
            } else if let Ok(e) = HoldCreated::decode_log_data(d) {
                codes.push(e.code);
            } else if let Ok(e) = Minted::decode_log_data(d) {
                codes.push(e.code);
            } else if let Ok(e) = Burned::decode_log_data(d) {
                codes.push(e.code);
            } else if let Ok(e) = PvpProposed::decode_log_data(d) {
                codes.extend([e.giveCode, e.getCode]);
            }
        }
    }
    let mut topics: Vec<B256> = codes.iter().map(|c| B256::right_padding_from(c.as_slice())).collect();
    topics.sort_unstable();
    topics.dedup();
    topics
}

/// Add what makes a bundle readable, each proven like the claims: the latest
/// `PartyRegistered` event of every provenance party it names (their names)
/// and the `CurrencyCreated` event of every currency it names (their
/// decimals), found through the node's log index.
pub(crate) async fn add_context(client: &RpcClient, bundle: &mut Bundle) -> eyre::Result<()> {
    let parties: Vec<B256> = involved_parties(bundle).iter().map(|p| p.into_word()).collect();
    let queries = [
        (provenance::ADDRESS, provenance::IProvenance::PartyRegistered::SIGNATURE_HASH, parties),
        (settlement::ADDRESS, settlement::ISettlement::CurrencyCreated::SIGNATURE_HASH, currencies(bundle)),
    ];
    let mut hashes = Vec::new();
    for (address, event, keys) in queries {
        if keys.is_empty() {
            continue;
        }
        let logs = client
            .logs(json!({ "fromBlock": "0x0", "address": address, "topics": [event, keys] }))
            .await
            .map_err(|e| eyre!("cannot find the registrations of the parties and currencies named: {e}"))?;
        // The latest event per key (a party may be registered again under another name).
        let mut latest: std::collections::BTreeMap<B256, B256> = Default::default();
        for log in &logs {
            if let (Some(key), Some(tx)) = (log.topics().get(1), log.transaction_hash) {
                latest.insert(*key, tx);
            }
        }
        hashes.extend(latest.into_values());
    }
    if hashes.is_empty() {
        return Ok(());
    }
    let context = fetch_all(client, &hashes).await?;
    bundle.merge(context).map_err(|e| eyre!("{e}"))
}

/// Read a bundle file.
pub(crate) fn read(path: &Path) -> eyre::Result<Bundle> {
    let text = std::fs::read_to_string(path).wrap_err_with(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| eyre!("{}: not a proof bundle: {e}", path.display()))
}

/// Write a bundle to `out`, or print it.
pub(crate) fn write(out: Option<&Path>, bundle: &Bundle) -> eyre::Result<()> {
    let json = serde_json::to_string_pretty(bundle)?;
    match out {
        Some(path) => {
            std::fs::write(path, &json).wrap_err_with(|| format!("cannot write {}", path.display()))?;
            println!(
                "wrote {} ({} transactions, {} blocks, {} validator-set changes, {} bytes); check it with: dsec verify {} --genesis GENESIS.json",
                path.display(),
                bundle.transactions.len(),
                bundle.blocks.len(),
                bundle.lineage.len(),
                json.len(),
                path.display()
            );
        }
        None => println!("{json}"),
    }
    Ok(())
}
