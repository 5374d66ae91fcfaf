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
    /// Record a customs decision: lodged, held or released (customs authorities in
    /// their jurisdictions; held blocks hand-offs and delivery until released).
    Customs {
        #[arg(long)]
        shipment: String,
        #[arg(long)]
        status: String,
        /// The customs reference (its keccak-256 goes on chain).
        #[arg(long, default_value = "")]
        reference: String,
    },
    /// Set the country codes a customs authority acts on (administrators).
    Jurisdictions {
        #[arg(long)]
        authority: Address,
        /// Comma-separated ISO 3166-1 alpha-2 codes: NL,DE,BE (empty: none).
        #[arg(long, default_value = "")]
        countries: String,
    },
    /// Revoke a party (administrators): it loses its role.
    RevokeParty {
        #[arg(long)]
        party: Address,
    },
    /// Set a shipment's sensor thresholds (its shipper): readings outside them are excursions.
    Thresholds {
        #[arg(long)]
        shipment: String,
        /// Lowest temperature, centi-degrees Celsius (-2000: -20 °C).
        #[arg(long, allow_hyphen_values = true)]
        min_temp: i64,
        /// Highest temperature, centi-degrees Celsius.
        #[arg(long, allow_hyphen_values = true)]
        max_temp: i64,
        /// Highest shock, milli-g.
        #[arg(long)]
        max_shock: i64,
    },
    /// Make a sensor device key: its ed25519 secret, 32 bytes of hex in FILE
    /// (readable by its owner only); prints the public device key.
    DeviceNew {
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Print the public key of a device secret file.
    DeviceKey {
        #[arg(long)]
        device_secret: std::path::PathBuf,
    },
    /// Register a device to an owner (the owner, or an administrator): the
    /// device's secret signs its registration, proving the key is held.
    RegisterDevice {
        /// The device secret file from `device-new`.
        #[arg(long)]
        device_secret: std::path::PathBuf,
        #[arg(long)]
        owner: Address,
    },
    /// Sign a sensor reading with a device secret, as the device's gateway does,
    /// and write it as JSON for `attest` (needs the chain only for its digest).
    SignReading {
        #[arg(long)]
        device_secret: std::path::PathBuf,
        #[arg(long)]
        shipment: String,
        /// temperature (centi-degrees Celsius), shock (milli-g) or gps.
        #[arg(long)]
        kind: String,
        #[arg(long, allow_hyphen_values = true)]
        value: i64,
        /// When it was observed (a date, an RFC 3339 UTC time or unix seconds; default: now).
        #[arg(long)]
        observed_at: Option<String>,
        /// Where to write the signed reading (default: standard output).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Submit a signed reading file (anyone may): an excursion beyond the
    /// shipment's thresholds is recorded in its trail.
    Attest {
        /// The signed reading, as `sign-reading` writes it.
        #[arg(long)]
        reading: std::path::PathBuf,
    },
    /// Revoke a sensor device (administrators or its owner): its readings are refused.
    RevokeDevice {
        /// The device's ed25519 public key, 32 bytes of hex.
        #[arg(long)]
        device: B256,
    },
    /// Declare a port-wide disruption (ports, carriers or administrators); prints its id.
    Disruption {
        #[arg(long)]
        location: String,
        /// port-closure, weather, strike or other.
        #[arg(long)]
        kind: String,
        /// When it starts (a date, an RFC 3339 UTC time or unix seconds; default: now).
        #[arg(long)]
        starts: Option<String>,
        /// When it ends.
        #[arg(long)]
        ends: String,
    },
    /// List the disruptions, not yet over, on a shipment's remaining route.
    Disruptions {
        #[arg(long)]
        shipment: String,
    },
    /// Propose a reroute around a disruption (the shipper, custodian or
    /// consignee; counts as their approval); prints the proposal id.
    ProposeReroute {
        #[arg(long)]
        shipment: String,
        #[arg(long)]
        disruption: u64,
        /// A new leg FROM:TO:MODE:KM from the current location; repeat in order.
        #[arg(long = "leg", required = true)]
        legs: Vec<String>,
    },
    /// Approve a reroute proposal; it takes effect once more than half of the
    /// shipper, custodian and consignee have approved.
    ApproveReroute {
        #[arg(long)]
        shipment: String,
        #[arg(long)]
        proposal: u64,
    },
    /// List the shipments a party created, held or receives, a page at a time.
    Shipments {
        #[arg(long)]
        party: Address,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// At most this many (1 to 1,000).
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Declare the goods' embedded emissions for the EU CBAM (the shipper, once).
    Cbam {
        #[arg(long)]
        shipment: String,
        /// The producing installation's identifier (its keccak-256 goes on chain, unless 32 bytes of hex).
        #[arg(long)]
        installation: String,
        /// The production route, at most 31 bytes (BF-BOF, EAF, …).
        #[arg(long)]
        route: String,
        /// Country of origin, ISO 3166-1 alpha-2.
        #[arg(long)]
        origin_country: String,
        /// Specific direct emissions, kg CO2e per tonne of goods.
        #[arg(long)]
        direct: u32,
        /// Specific indirect emissions (electricity), kg CO2e per tonne of goods.
        #[arg(long)]
        indirect: u32,
    },
    /// Print the shipment report as JSON: record, route and carbon, trail, events;
    /// with --format cbam, the CBAM declaration data of its goods.
    Report {
        #[arg(long)]
        shipment: String,
        /// json (the whole record) or cbam (declaration-shaped, every figure with its source event).
        #[arg(long, default_value = "json")]
        format: String,
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
            ProvenanceCommand::Customs { shipment, status, reference } => {
                let status = match status.as_str() {
                    "lodged" => 1,
                    "held" => 2,
                    "released" => 3,
                    other => bail!("--status {other:?}: expected lodged, held or released"),
                };
                let customs_ref = if reference.is_empty() { B256::ZERO } else { keccak256(reference.as_bytes()) };
                let call =
                    IProvenance::customsUpdateCall { id: shipment_id(&shipment), status, customsRef: customs_ref };
                send(&c, &key()?, ADDRESS, &call).await?.transaction_hash
            }
            ProvenanceCommand::Jurisdictions { authority, countries } => {
                let mut codes = Vec::new();
                for cc in countries.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()) {
                        bail!("--countries: {cc:?} is not a country code such as NL");
                    }
                    codes.push(FixedBytes::<2>::from_slice(cc.as_bytes()));
                }
                let call = IProvenance::setCustomsJurisdictionsCall { authority, countries: codes };
                send(&c, &key()?, ADDRESS, &call).await?.transaction_hash
            }
            ProvenanceCommand::Thresholds { shipment, min_temp, max_temp, max_shock } => {
                let call = IProvenance::setThresholdsCall {
                    id: shipment_id(&shipment),
                    minTempCenti: min_temp,
                    maxTempCenti: max_temp,
                    maxShockMilliG: max_shock,
                };
                send(&c, &key()?, ADDRESS, &call).await?.transaction_hash
            }
            ProvenanceCommand::DeviceNew { out } => {
                let secret: [u8; 32] = rand::random();
                write_secret(&out, &secret)?;
                let public = ed25519_dalek::SigningKey::from_bytes(&secret).verifying_key().to_bytes();
                println!("device key {} (secret in {})", B256::from(public), out.display());
                return Ok(());
            }
            ProvenanceCommand::DeviceKey { device_secret } => {
                println!("{}", B256::from(read_secret(&device_secret)?.verifying_key().to_bytes()));
                return Ok(());
            }
            ProvenanceCommand::RegisterDevice { device_secret, owner } => {
                use ed25519_dalek::Signer;
                let device = read_secret(&device_secret)?;
                let device_key = B256::from(device.verifying_key().to_bytes());
                let digest =
                    view(&c, ADDRESS, &IProvenance::registrationDigestCall { deviceKey: device_key, owner }).await?;
                let signature = device.sign(digest.as_slice()).to_bytes().to_vec();
                let call =
                    IProvenance::registerDeviceCall { deviceKey: device_key, owner, signature: signature.into() };
                send(&c, &key()?, ADDRESS, &call).await?.transaction_hash
            }
            ProvenanceCommand::SignReading { device_secret, shipment, kind, value, observed_at, out } => {
                use ed25519_dalek::Signer;
                let device = read_secret(&device_secret)?;
                let device_key = B256::from(device.verifying_key().to_bytes());
                let kind_code = match SENSOR_KINDS.iter().position(|k| *k == kind) {
                    Some(i) if i > 0 => i as u8,
                    _ => bail!("--kind {kind:?}: expected temperature, shock or gps"),
                };
                let observed = match observed_at.as_deref() {
                    Some(t) => crate::settle::parse_time(t, "--observed-at")?,
                    None => crate::settle::now_secs(),
                };
                let id = shipment_id(&shipment);
                let call = IProvenance::attestationDigestCall {
                    id,
                    deviceKey: device_key,
                    kind: kind_code,
                    value,
                    observedAt: observed,
                };
                let digest = view(&c, ADDRESS, &call).await?;
                let reading = json!({
                    "shipment": id,
                    "deviceKey": device_key,
                    "kind": kind,
                    "value": value,
                    "observedAt": observed,
                    "signature": alloy_primitives::Bytes::from(device.sign(digest.as_slice()).to_bytes().to_vec()),
                });
                let text = serde_json::to_string_pretty(&reading)?;
                match out {
                    Some(path) => {
                        std::fs::write(&path, text + "\n").map_err(|e| eyre!("cannot write {}: {e}", path.display()))?
                    }
                    None => println!("{text}"),
                }
                return Ok(());
            }
            ProvenanceCommand::Attest { reading } => {
                let text =
                    std::fs::read_to_string(&reading).map_err(|e| eyre!("cannot read {}: {e}", reading.display()))?;
                let r: SignedReading = serde_json::from_str(&text)
                    .map_err(|e| eyre!("{}: not a signed reading: {e}", reading.display()))?;
                let kind = match SENSOR_KINDS.iter().position(|k| *k == r.kind) {
                    Some(i) if i > 0 => i as u8,
                    _ => bail!("{}: kind {:?} is not temperature, shock or gps", reading.display(), r.kind),
                };
                let call = IProvenance::attestCall {
                    id: r.shipment,
                    deviceKey: r.device_key,
                    kind,
                    value: r.value,
                    observedAt: r.observed_at,
                    signature: r.signature,
                };
                let receipt = send(&c, &key()?, ADDRESS, &call).await?;
                let excursion =
                    receipt.inner.logs().iter().any(|l| IProvenance::Excursion::decode_log_data(l.data()).is_ok());
                println!(
                    "{} (transaction {})",
                    if excursion { "recorded as an EXCURSION in the shipment's trail" } else { "recorded" },
                    receipt.transaction_hash
                );
                return Ok(());
            }
            ProvenanceCommand::RevokeParty { party } => {
                send(&c, &key()?, ADDRESS, &IProvenance::revokePartyCall { party }).await?.transaction_hash
            }
            ProvenanceCommand::RevokeDevice { device } => {
                send(&c, &key()?, ADDRESS, &IProvenance::revokeDeviceCall { deviceKey: device }).await?.transaction_hash
            }
            ProvenanceCommand::Disruption { location, kind, starts, ends } => {
                let kind = match DISRUPTION_KINDS.iter().position(|k| *k == kind) {
                    Some(i) if i > 0 => i as u8,
                    _ => bail!("--kind {kind:?}: expected port-closure, weather, strike or other"),
                };
                let starts_at = match starts.as_deref() {
                    Some(t) => crate::settle::parse_time(t, "--starts")?,
                    None => crate::settle::now_secs(),
                };
                let call = IProvenance::declareDisruptionCall {
                    location: locode(&location)?,
                    kind,
                    startsAt: starts_at,
                    endsAt: crate::settle::parse_time(&ends, "--ends")?,
                };
                let receipt = send(&c, &key()?, ADDRESS, &call).await?;
                let id = receipt
                    .inner
                    .logs()
                    .iter()
                    .find_map(|l| IProvenance::PortDisrupted::decode_log_data(l.data()).ok())
                    .map(|e| e.disruption)
                    .unwrap_or_default();
                println!("disruption {id} (transaction {})", receipt.transaction_hash);
                return Ok(());
            }
            ProvenanceCommand::Disruptions { shipment } => {
                let ids = view(&c, ADDRESS, &IProvenance::disruptionsOfCall { id: shipment_id(&shipment) }).await?;
                println!("{} disruption(s) on the remaining route of {shipment}", ids.len());
                for id in ids {
                    let d = view(&c, ADDRESS, &IProvenance::disruptionCall { disruptionId: id }).await?;
                    println!(
                        "disruption {id}: {} at {} from {} until {}, declared by {}",
                        DISRUPTION_KINDS.get(usize::from(d.kind)).copied().unwrap_or("unknown"),
                        locode_text(&d.location),
                        dsec_sdk::proof::explain::utc(d.startsAt.saturating_mul(1000)),
                        dsec_sdk::proof::explain::utc(d.endsAt.saturating_mul(1000)),
                        d.reporter
                    );
                }
                return Ok(());
            }
            ProvenanceCommand::ProposeReroute { shipment, disruption, legs } => {
                let call = IProvenance::proposeRerouteCall {
                    id: shipment_id(&shipment),
                    disruption,
                    newLegs: legs.iter().map(|l| leg(l)).collect::<eyre::Result<Vec<_>>>()?,
                };
                let receipt = send(&c, &key()?, ADDRESS, &call).await?;
                let logs = receipt.inner.logs();
                let proposal = logs
                    .iter()
                    .find_map(|l| IProvenance::RerouteProposed::decode_log_data(l.data()).ok())
                    .map(|e| e.proposal)
                    .unwrap_or_default();
                let approved = logs.iter().find_map(|l| IProvenance::RerouteApproved::decode_log_data(l.data()).ok());
                let (approvals, needed) = approved.map(|a| (a.approvals, a.needed)).unwrap_or_default();
                println!(
                    "reroute proposal {proposal}: {approvals} of {needed} approvals needed (transaction {})",
                    receipt.transaction_hash
                );
                return Ok(());
            }
            ProvenanceCommand::ApproveReroute { shipment, proposal } => {
                let call = IProvenance::approveRerouteCall { id: shipment_id(&shipment), proposal };
                let receipt = send(&c, &key()?, ADDRESS, &call).await?;
                let logs = receipt.inner.logs();
                let applied = logs.iter().any(|l| IProvenance::Rerouted::decode_log_data(l.data()).is_ok());
                let approved = logs.iter().find_map(|l| IProvenance::RerouteApproved::decode_log_data(l.data()).ok());
                let (approvals, needed) = approved.map(|a| (a.approvals, a.needed)).unwrap_or_default();
                let state = if applied { "the new route is in force" } else { "waiting for more approvals" };
                println!(
                    "reroute proposal {proposal}: {approvals} of {needed} approvals, {state} (transaction {})",
                    receipt.transaction_hash
                );
                return Ok(());
            }
            ProvenanceCommand::Shipments { party, offset, limit } => {
                if !(1..=1_000).contains(&limit) {
                    bail!("--limit {limit}: expected 1 to 1,000");
                }
                let call =
                    IProvenance::shipmentsPageCall { party, offset: U256::from(offset), limit: U256::from(limit) };
                let page = view(&c, ADDRESS, &call).await?;
                println!("{} shipment(s), showing {} from {offset}", page.total, page.ids.len());
                for id in page.ids {
                    let s = view(&c, ADDRESS, &IProvenance::shipmentCall { id }).await?;
                    let status = ["-", "created", "in transit", "delivered"].get(usize::from(s.status)).unwrap_or(&"?");
                    let customs = ["", ", customs lodged", ", HELD BY CUSTOMS", ", customs released"]
                        .get(usize::from(s.customsStatus))
                        .unwrap_or(&"");
                    let disrupted = view(&c, ADDRESS, &IProvenance::disruptionsOfCall { id }).await?;
                    let flag =
                        if disrupted.is_empty() { String::new() } else { format!(", DISRUPTED ({})", disrupted.len()) };
                    println!(
                        "{id}  {} -> {}  {status}{customs}{flag}",
                        locode_text(&s.origin),
                        locode_text(&s.destination)
                    );
                }
                return Ok(());
            }
            ProvenanceCommand::Report { shipment, format } => {
                let value = match format.as_str() {
                    "json" => report(&c, &shipment).await?,
                    "cbam" => cbam_report(&c, &shipment).await?,
                    other => bail!("--format {other:?}: expected json or cbam"),
                };
                println!("{}", serde_json::to_string_pretty(&value)?);
                return Ok(());
            }
            ProvenanceCommand::Cbam { shipment, installation, route, origin_country, direct, indirect } => {
                if origin_country.len() != 2 || !origin_country.bytes().all(|b| b.is_ascii_uppercase()) {
                    bail!("--origin-country {origin_country:?}: expected a country code such as CN");
                }
                if route.is_empty() || route.len() > 31 {
                    bail!("--route {route:?}: expected 1 to 31 bytes");
                }
                let call = IProvenance::declareEmbeddedEmissionsCall {
                    id: shipment_id(&shipment),
                    installation: shipment_id(&installation),
                    productionRoute: route,
                    countryOfOrigin: FixedBytes::from_slice(origin_country.as_bytes()),
                    directKgPerTonne: direct,
                    indirectKgPerTonne: indirect,
                };
                send(&c, &key()?, ADDRESS, &call).await?.transaction_hash
            }
            ProvenanceCommand::Dossier { shipment, out } => {
                return crate::proof::write(out.as_deref(), &dossier(&c, &shipment).await?);
            }
        };
        println!("ok: transaction {tx}");
        Ok(())
    }
}

/// Sensor kinds by number (0 unused).
const SENSOR_KINDS: [&str; 4] = ["unknown", "temperature", "shock", "gps"];

/// A sensor reading signed by its device, as `sign-reading` writes it and `attest` reads it.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignedReading {
    shipment: B256,
    device_key: B256,
    kind: String,
    value: i64,
    observed_at: u64,
    signature: alloy_primitives::Bytes,
}

/// Write a device secret, readable by its owner only.
fn write_secret(path: &std::path::Path, secret: &[u8; 32]) -> eyre::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| eyre!("cannot create {}: {e}", path.display()))?;
    writeln!(file, "{}", B256::from(*secret)).map_err(|e| eyre!("cannot write {}: {e}", path.display()))
}

/// Read a device secret written by [`write_secret`].
fn read_secret(path: &std::path::Path) -> eyre::Result<ed25519_dalek::SigningKey> {
    let text = std::fs::read_to_string(path).map_err(|e| eyre!("cannot read {}: {e}", path.display()))?;
    let secret: B256 =
        text.trim().parse().map_err(|_| eyre!("{}: not a device secret (32 bytes of hex)", path.display()))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&secret.0))
}

/// Disruption kinds by number (0 unused).
const DISRUPTION_KINDS: [&str; 5] = ["unknown", "port-closure", "weather", "strike", "other"];

const TRAIL_KINDS: [&str; 11] = [
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
    "reroute-proposed",
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
    let known: [(B256, &str); 14] = [
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
        (RerouteProposed::SIGNATURE_HASH, "RerouteProposed"),
        (RerouteApproved::SIGNATURE_HASH, "RerouteApproved"),
        (EmbeddedEmissionsDeclared::SIGNATURE_HASH, "EmbeddedEmissionsDeclared"),
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
/// Where a figure comes from: the event, its block, transaction and position.
fn source(log: &alloy::rpc::types::Log) -> Value {
    json!({
        "event": log.topics().first().map(event_name).unwrap_or("unknown"),
        "blockNumber": log.block_number,
        "transactionHash": log.transaction_hash,
        "logIndex": log.log_index,
    })
}

/// The CBAM declaration data of a shipment's goods (EU Regulation 2023/956):
/// the importer, the goods (CN/HS code, net mass, country of origin), the
/// producing installation and route, and the embedded emissions, each figure
/// with the event it comes from; the transport emissions beside them, for
/// information (CBAM's embedded emissions exclude transport).
pub(crate) async fn cbam_report(client: &RpcClient, id_text: &str) -> eyre::Result<Value> {
    let id = shipment_id(id_text);
    let s = view(client, ADDRESS, &IProvenance::shipmentCall { id })
        .await
        .map_err(|e| eyre!("shipment {id_text:?}: {e}"))?;
    let e = view(client, ADDRESS, &IProvenance::embeddedEmissionsCall { id }).await?;
    if !e.declared {
        bail!("shipment {id_text:?}: no embedded emissions declared (the shipper runs `dsec provenance cbam`)");
    }
    let legs = view(client, ADDRESS, &IProvenance::legsCall { id }).await?;
    let carbon = view(client, ADDRESS, &IProvenance::carbonCall { id }).await?;
    let logs = shipment_logs(client, id).await?;
    let find = |name: &str| logs.iter().rev().find(|l| l.topics().first().map(event_name) == Some(name)).map(source);
    let created = find("ShipmentCreated");
    let declared = find("EmbeddedEmissionsDeclared");
    let route_source = find("Rerouted").or_else(|| created.clone());
    let kg = |per_tonne: u32| u64::from(s.weightKg) * u64::from(per_tonne) / 1_000;
    let legs: Vec<Value> = legs
        .iter()
        .zip(carbon.perLegKg.iter())
        .map(|(l, kg)| {
            json!({
                "from": locode_text(&l.from),
                "to": locode_text(&l.to),
                "mode": mode_name(l.mode),
                "distanceKm": l.distanceKm,
                "kgCO2e": kg,
            })
        })
        .collect();
    Ok(json!({
        "format": "dsec-cbam/1",
        "regulation": "EU 2023/956 (CBAM): embedded emissions of imported goods",
        "importer": s.consignee,
        "goods": {
            "shipment": id,
            "label": id_text,
            "hsCode": s.hsCode,
            "netMassKg": s.weightKg,
            "netMassTonnes": format!("{}.{:03}", s.weightKg / 1000, s.weightKg % 1000),
            "countryOfOrigin": String::from_utf8_lossy(e.countryOfOrigin.as_slice()),
            "origin": locode_text(&s.origin),
            "destination": locode_text(&s.destination),
            "source": created,
        },
        "installation": {
            "id": e.installation,
            "productionRoute": e.productionRoute,
            "source": declared,
        },
        "embeddedEmissions": {
            "unit": "kg CO2e",
            "directSpecificPerTonne": e.directKgPerTonne,
            "indirectSpecificPerTonne": e.indirectKgPerTonne,
            "direct": kg(e.directKgPerTonne),
            "indirect": kg(e.indirectKgPerTonne),
            "total": e.totalKg,
            "formula": "netMassKg × (direct + indirect per tonne) / 1,000, integer kg (direct and indirect each rounded down alone)",
            "source": declared,
        },
        "transportEmissions": {
            "informative": "not part of CBAM's embedded emissions",
            "unit": "kg CO2e",
            "total": carbon.totalKg,
            "legs": legs,
            "source": route_source,
        },
    }))
}

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
