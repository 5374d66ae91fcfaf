//! `dsec provenance`: operator commands for the shipment provenance module,
//! the shipment report (JSON) whose every figure points back to the recorded
//! events it comes from, and the dossier: the same trail as a proof bundle
//! that an auditor verifies offline.

use crate::common::{DEFAULT_RPC_URL, client, parse_key};
use crate::tx::{send, view};
use alloy::sol_types::SolEvent;
use alloy_primitives::{Address, B256, FixedBytes, U256, keccak256};
use clap::{Args, Subcommand};
use dsec_sdk::chaincode::provenance::{ADDRESS, IProvenance, MODES, ROLES, emission_factor, locode_text, mode_name};
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::AccountKey;
use eyre::{bail, eyre};
use serde_json::{Value, json};

/// Flags of `dsec provenance`.
#[derive(Args, Debug)]
pub(crate) struct ProvenanceArgs {
    /// JSON-RPC URL of a node.
    #[arg(long, default_value = DEFAULT_RPC_URL, global = true)]
    rpc: String,
    /// Private key that signs (default: dev account 0).
    #[arg(long, global = true)]
    key: Option<String>,
    #[command(subcommand)]
    op: ProvenanceCommand,
}

#[derive(Subcommand, Debug)]
enum ProvenanceCommand {
    /// Register a party: shipper, carrier, port, customs or consignee (administrators).
    Party {
        #[arg(long)]
        party: Address,
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
    },
    /// Create a shipment (registered shippers).
    Create(NewShipment),
    /// Propose to hand the goods over (the current custodian).
    HandOver {
        #[arg(long)]
        shipment: String,
        #[arg(long)]
        to: Address,
        #[arg(long)]
        location: String,
    },
    /// Accept custody (the proposed receiver).
    Accept {
        #[arg(long)]
        shipment: String,
    },
    /// Print the shipment report as JSON: record, route and carbon, trail, events.
    Report {
        #[arg(long)]
        shipment: String,
    },
    /// Write the shipment's dossier: a proof bundle of every event of its trail
    /// (and of its documents), from which `dsec verify` recomputes the trail
    /// and the carbon report offline.
    Dossier {
        #[arg(long)]
        shipment: String,
        /// Where to write it (default: standard output).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

impl ProvenanceArgs {
    /// Run the operation: print the transaction hash, or the report.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        let c = client(&self.rpc)?;
        let key = || parse_key(self.key.as_deref(), "--key");
        let tx = match self.op {
            ProvenanceCommand::Party { party, role, name } => register_party(&c, &key()?, party, &role, &name).await?,
            ProvenanceCommand::Create(new) => create(&c, &key()?, new).await?,
            ProvenanceCommand::HandOver { shipment, to, location } => {
                hand_over(&c, &key()?, &shipment, to, &location).await?
            }
            ProvenanceCommand::Accept { shipment } => accept(&c, &key()?, &shipment).await?,
            ProvenanceCommand::Report { shipment } => {
                println!("{}", serde_json::to_string_pretty(&report(&c, &shipment).await?)?);
                return Ok(());
            }
            ProvenanceCommand::Dossier { shipment, out } => {
                return crate::proof::write(out.as_deref(), &dossier(&c, &shipment).await?);
            }
        };
        println!("ok: transaction {tx}");
        Ok(())
    }
}

const TRAIL_KINDS: [&str; 10] = [
    "unknown",
    "created",
    "hand-over-proposed",
    "hand-over-cancelled",
    "custody-accepted",
    "delivered",
    "excursion",
    "customs",
    "disruption",
    "rerouted",
];

pub(crate) use dsec_sdk::chaincode::provenance::shipment_id;

/// A UN/LOCODE as the ABI's `bytes5`.
pub(crate) fn locode(text: &str) -> eyre::Result<FixedBytes<5>> {
    if text.len() != 5 || !text.is_ascii() {
        bail!("{text:?} is not a UN/LOCODE (five characters such as NLRTM)");
    }
    Ok(FixedBytes::from_slice(text.as_bytes()))
}

/// The role number of a role name.
pub(crate) fn role(name: &str) -> eyre::Result<u8> {
    ROLES.iter().find(|(_, n)| *n == name).map(|(r, _)| *r).ok_or_else(|| {
        eyre!("--role {name:?}: expected one of {}", ROLES.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", "))
    })
}

/// Parse a leg `FROM:TO:MODE:KM`, e.g. `NLRTM:SGSIN:sea:15000`.
pub(crate) fn leg(text: &str) -> eyre::Result<IProvenance::Leg> {
    let parts: Vec<&str> = text.split(':').collect();
    let [from, to, mode, km] = parts.as_slice() else { bail!("--leg {text:?}: expected FROM:TO:MODE:KM") };
    let mode = MODES.iter().find(|(_, n)| n == mode).map(|(m, _)| *m).ok_or_else(|| {
        eyre!("--leg {text:?}: mode must be one of {}", MODES.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", "))
    })?;
    let distance_km: u32 =
        km.parse().map_err(|_| eyre!("--leg {text:?}: distance {km:?} is not a whole number of km"))?;
    Ok(IProvenance::Leg { from: locode(from)?, to: locode(to)?, mode, distanceKm: distance_km })
}

/// Register a party (module administrators).
pub(crate) async fn register_party(
    client: &RpcClient,
    key: &AccountKey,
    party: Address,
    role_name: &str,
    name: &str,
) -> eyre::Result<B256> {
    let call = IProvenance::registerPartyCall { party, role: role(role_name)?, name: name.to_string() };
    Ok(send(client, key, ADDRESS, &call).await?.transaction_hash)
}

/// Everything needed to create a shipment (also the flags of `dsec provenance create`).
#[derive(Debug, Clone, Args)]
pub(crate) struct NewShipment {
    /// Shipment id: text, or 32 bytes of hex.
    #[arg(long = "shipment")]
    pub(crate) id: String,
    /// Consignee.
    #[arg(long)]
    pub(crate) consignee: Address,
    /// Origin UN/LOCODE.
    #[arg(long)]
    pub(crate) origin: String,
    /// Destination UN/LOCODE.
    #[arg(long)]
    pub(crate) destination: String,
    /// Description of the goods; its keccak-256 goes on chain.
    #[arg(long)]
    pub(crate) goods: String,
    /// Harmonized System code.
    #[arg(long)]
    pub(crate) hs_code: u32,
    /// Declared value, minor units.
    #[arg(long)]
    pub(crate) declared_value: U256,
    /// Weight in kg.
    #[arg(long)]
    pub(crate) weight_kg: u32,
    /// A leg FROM:TO:MODE:KM (mode: road, rail, sea, air, inland-waterway); repeat in order.
    #[arg(long = "leg", required = true)]
    pub(crate) legs: Vec<String>,
}

/// Create a shipment (registered shippers).
pub(crate) async fn create(client: &RpcClient, key: &AccountKey, s: NewShipment) -> eyre::Result<B256> {
    let call = IProvenance::createShipmentCall {
        id: shipment_id(&s.id),
        consignee: s.consignee,
        origin: locode(&s.origin)?,
        destination: locode(&s.destination)?,
        goodsHash: keccak256(s.goods.as_bytes()),
        hsCode: s.hs_code,
        declaredValue: s.declared_value,
        weightKg: s.weight_kg,
        legs: s.legs.iter().map(|l| leg(l)).collect::<eyre::Result<Vec<_>>>()?,
    };
    Ok(send(client, key, ADDRESS, &call).await?.transaction_hash)
}

/// Propose a hand-off (the current custodian).
pub(crate) async fn hand_over(
    client: &RpcClient,
    key: &AccountKey,
    id: &str,
    to: Address,
    location: &str,
) -> eyre::Result<B256> {
    let call = IProvenance::handOverCall { id: shipment_id(id), to, location: locode(location)? };
    Ok(send(client, key, ADDRESS, &call).await?.transaction_hash)
}

/// Accept custody (the proposed receiver).
pub(crate) async fn accept(client: &RpcClient, key: &AccountKey, id: &str) -> eyre::Result<B256> {
    Ok(send(client, key, ADDRESS, &IProvenance::acceptCustodyCall { id: shipment_id(id) }).await?.transaction_hash)
}

fn event_name(topic0: &B256) -> &'static str {
    use IProvenance::*;
    let known: [(B256, &str); 11] = [
        (ShipmentCreated::SIGNATURE_HASH, "ShipmentCreated"),
        (ThresholdsSet::SIGNATURE_HASH, "ThresholdsSet"),
        (HandOverProposed::SIGNATURE_HASH, "HandOverProposed"),
        (HandOverCancelled::SIGNATURE_HASH, "HandOverCancelled"),
        (CustodyAccepted::SIGNATURE_HASH, "CustodyAccepted"),
        (Delivered::SIGNATURE_HASH, "Delivered"),
        (Attested::SIGNATURE_HASH, "Attested"),
        (Excursion::SIGNATURE_HASH, "Excursion"),
        (CustomsUpdated::SIGNATURE_HASH, "CustomsUpdated"),
        (Disrupted::SIGNATURE_HASH, "Disrupted"),
        (Rerouted::SIGNATURE_HASH, "Rerouted"),
    ];
    known.iter().find(|(h, _)| h == topic0).map(|(_, n)| *n).unwrap_or("unknown")
}

/// The shipment report: record, route with carbon per leg (and the inputs of
/// each figure), trail, and the events (block, transaction) behind them.
pub(crate) async fn report(client: &RpcClient, id_text: &str) -> eyre::Result<Value> {
    let id = shipment_id(id_text);
    let s = view(client, ADDRESS, &IProvenance::shipmentCall { id })
        .await
        .map_err(|e| eyre!("shipment {id_text:?}: {e}"))?;
    let progress = view(client, ADDRESS, &IProvenance::progressCall { id }).await?;
    let legs = view(client, ADDRESS, &IProvenance::legsCall { id }).await?;
    let carbon = view(client, ADDRESS, &IProvenance::carbonCall { id }).await?;
    let trail = view(client, ADDRESS, &IProvenance::trailCall { id }).await?;
    let logs = shipment_logs(client, id).await?;
    let documents = anchored_documents(client, id).await?;
    let status = ["unknown", "created", "in-transit", "delivered"].get(s.status as usize).copied().unwrap_or("unknown");
    let route: Vec<Value> = legs
        .iter()
        .zip(carbon.perLegKg.iter())
        .enumerate()
        .map(|(i, (l, kg))| {
            let (mode, factor) = (mode_name(l.mode), emission_factor(l.mode).unwrap_or(0));
            json!({
                "leg": i + 1,
                "from": locode_text(&l.from),
                "to": locode_text(&l.to),
                "mode": mode,
                "distanceKm": l.distanceKm,
                "weightKg": s.weightKg,
                "factorGramsPerTonneKm": factor,
                "kgCO2e": kg,
                "formula": "distanceKm × weightKg × factor / 1,000,000 (integer)",
                "completed": (i as u64) < progress.legsCompleted,
            })
        })
        .collect();
    let steps: Vec<Value> = trail
        .iter()
        .map(|t| {
            json!({
                "seq": t.seq,
                "kind": TRAIL_KINDS.get(t.kind as usize).copied().unwrap_or("unknown"),
                "actor": t.actor,
                "counterparty": t.counterparty,
                "location": locode_text(&t.location),
                "timestamp": t.timestamp,
                "code": t.code,
                "value": t.value,
                "detail": t.detail,
            })
        })
        .collect();
    let events: Vec<Value> = logs
        .iter()
        .map(|l| {
            json!({
                "event": l.topics().first().map(event_name).unwrap_or("unknown"),
                "blockNumber": l.block_number,
                "transactionHash": l.transaction_hash,
                "logIndex": l.log_index,
            })
        })
        .collect();
    Ok(json!({
        "shipment": id,
        "shipper": s.shipper,
        "consignee": s.consignee,
        "origin": locode_text(&s.origin),
        "destination": locode_text(&s.destination),
        "goodsHash": s.goodsHash,
        "hsCode": s.hsCode,
        "declaredValue": s.declaredValue.to_string(),
        "weightKg": s.weightKg,
        "status": status,
        "custodian": s.custodian,
        "location": locode_text(&progress.location),
        "createdAt": progress.createdAt,
        "deliveredAt": progress.deliveredAt,
        "customsStatus": s.customsStatus,
        "route": route,
        "totalKgCO2e": carbon.totalKg,
        "trail": steps,
        "events": events,
        "documents": documents,
    }))
}

/// Every event of the provenance module about shipment `id`, from block 0
/// (the node's log index finds them whatever the chain's age).
async fn shipment_logs(client: &RpcClient, id: B256) -> eyre::Result<Vec<alloy::rpc::types::Log>> {
    client
        .logs(json!({ "fromBlock": "0x0", "address": ADDRESS, "topics": [Value::Null, id] }))
        .await
        .map_err(|e| eyre!("cannot read the shipment's events: {e}"))
}

/// The `DocumentAnchored` events of the documents anchored on shipment `id`, from block 0.
async fn document_logs(client: &RpcClient, id: B256) -> eyre::Result<Vec<alloy::rpc::types::Log>> {
    use dsec_sdk::documents::IDocuments::DocumentAnchored;
    client
        .logs(json!({
            "fromBlock": "0x0",
            "address": dsec_sdk::documents::ADDRESS,
            "topics": [DocumentAnchored::SIGNATURE_HASH, Value::Null, id],
        }))
        .await
        .map_err(|e| eyre!("cannot read the shipment's documents: {e}"))
}

/// The sealed documents anchored on the shipment (`dsec docs anchor --shipment`):
/// kind, envelope and content hashes, sender, recipients' key ids, and where.
async fn anchored_documents(client: &RpcClient, id: B256) -> eyre::Result<Vec<Value>> {
    use dsec_sdk::documents::IDocuments::DocumentAnchored;
    Ok(document_logs(client, id)
        .await?
        .iter()
        .filter_map(|l| {
            let e = DocumentAnchored::decode_log_data(&l.inner.data).ok()?;
            Some(json!({
                "kind": e.kind,
                "envelopeHash": e.envelopeHash,
                "contentHash": e.contentHash,
                "sender": e.sender,
                "recipients": e.recipients,
                "blockNumber": l.block_number,
                "transactionHash": l.transaction_hash,
            }))
        })
        .collect())
}

/// The dossier of a shipment: the proof bundle of every transaction that
/// emitted an event about it (found through the node's log index, so a chain
/// of any age answers), of the documents anchored on it, and of the
/// registrations of the parties involved, with the dossier claim.
pub(crate) async fn dossier(client: &RpcClient, id_text: &str) -> eyre::Result<dsec_sdk::proof::Bundle> {
    let id = shipment_id(id_text);
    let events = shipment_logs(client, id).await?;
    let documents = document_logs(client, id).await?;
    let mut located: Vec<(u64, u64, B256)> = events
        .iter()
        .chain(documents.iter())
        .filter_map(|l| Some((l.block_number?, l.transaction_index?, l.transaction_hash?)))
        .collect();
    located.sort_unstable();
    located.dedup();
    if located.is_empty() {
        bail!("shipment {id_text:?} has no recorded event on this chain");
    }
    let hashes: Vec<B256> = located.iter().map(|(_, _, h)| *h).collect();
    let mut bundle = crate::proof::fetch_all(client, &hashes).await?;
    crate::proof::add_context(client, &mut bundle).await?;
    if id_text.parse::<B256>().is_err() {
        bundle.labels.insert(id, id_text.to_string());
    }
    bundle.dossier = Some(dsec_sdk::proof::Dossier { shipment: id_text.to_string() });
    Ok(bundle)
}
