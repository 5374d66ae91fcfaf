//! What proven events mean: human descriptions of the logs of dsec's
//! modules, the audit-line claim (line → Merkle root → `Anchored` event),
//! and the shipment dossier (trail and carbon figures recomputed from the
//! proven events, each pointing at the event it comes from).
//!
//! Everything here reads only what [`super::verify`] has already proven.

use super::{AuditLine, Dossier, ProofError, Verified, VerifiedTransaction};
use crate::chaincode::{audit, provenance, settlement, validator_set};
use crate::documents;
use crate::merkle;
use alloy::sol_types::{SolCall, SolEvent};
use alloy_primitives::{Address, B256, FixedBytes, Log};
use std::collections::BTreeMap;

use provenance::{IProvenance, locode_text as locode, mode_name, role_name};

/// Names of the parties registered in the provenance module, taken from
/// proven `PartyRegistered` events, and of ids from the verified labels.
#[derive(Debug, Clone, Default)]
pub struct Names {
    parties: BTreeMap<Address, String>,
    labels: BTreeMap<B256, String>,
    /// Decimals of the currencies whose proven `CurrencyCreated` the bundle holds.
    decimals: BTreeMap<FixedBytes<3>, u8>,
}

impl Names {
    /// The names a verified bundle proves.
    pub fn of(verified: &Verified) -> Self {
        let mut parties = BTreeMap::new();
        let mut decimals = BTreeMap::new();
        for tx in &verified.transactions {
            for log in &tx.logs {
                if log.address == provenance::ADDRESS
                    && let Ok(e) = IProvenance::PartyRegistered::decode_log_data(&log.data)
                {
                    parties.insert(e.party, e.name);
                }
                if log.address == settlement::ADDRESS
                    && let Ok(e) = settlement::ISettlement::CurrencyCreated::decode_log_data(&log.data)
                {
                    decimals.insert(e.code, e.decimals);
                }
            }
        }
        Self { parties, labels: verified.labels.clone(), decimals }
    }

    /// An amount of a currency: with its decimal point when the bundle proves
    /// the currency's creation, else in minor units.
    pub fn amount(&self, amount: &alloy_primitives::U256, code: &FixedBytes<3>) -> String {
        let code_text = String::from_utf8_lossy(code.as_slice()).into_owned();
        match self.decimals.get(code) {
            Some(&d) if d > 0 => {
                let digits = amount.to_string();
                let d = usize::from(d);
                let padded = format!("{digits:0>width$}", width = d + 1);
                let (whole, fraction) = padded.split_at(padded.len() - d);
                format!("{whole}.{fraction} {code_text}")
            }
            Some(_) => format!("{amount} {code_text}"),
            None => format!("{amount} {code_text} (minor units)"),
        }
    }

    /// A party's registered name, or its address.
    pub fn party(&self, address: &Address) -> String {
        self.parties.get(address).cloned().unwrap_or_else(|| address.to_string())
    }

    /// An id's label, or its hex.
    pub fn id(&self, id: &B256) -> String {
        self.labels.get(id).cloned().unwrap_or_else(|| id.to_string())
    }
}

fn currency(code: &FixedBytes<3>) -> String {
    String::from_utf8_lossy(code.as_slice()).into_owned()
}

fn memo(memo: &B256) -> String {
    if memo.is_zero() { String::new() } else { format!(", memo {memo}") }
}

/// The name of a dsec system module at `address`, if it is one.
pub fn module_name(address: &Address) -> Option<&'static str> {
    [
        (validator_set::ADDRESS, "validator-set module"),
        (audit::ADDRESS, "audit module"),
        (provenance::ADDRESS, "provenance module"),
        (settlement::ADDRESS, "settlement module"),
        (crate::chaincode::permissions::ADDRESS, "permissions module"),
        (documents::ADDRESS, "documents module"),
    ]
    .iter()
    .find(|(a, _)| a == address)
    .map(|(_, name)| *name)
}

fn sensor(kind: u8, value: i64) -> String {
    match kind {
        1 => format!("temperature {:.2} °C", value as f64 / 100.0),
        2 => format!("shock {value} milli-g"),
        3 => format!("position {:.5}, {:.5}", (value >> 32) as i32 as f64 / 1e7, value as i32 as f64 / 1e7),
        _ => format!("reading {value} of kind {kind}"),
    }
}

fn provenance_event(log: &Log, n: &Names) -> Option<String> {
    use IProvenance::*;
    let d = &log.data;
    let topic0 = *log.topics().first()?;
    Some(match topic0 {
        t if t == PartyRegistered::SIGNATURE_HASH => {
            let e = PartyRegistered::decode_log_data(d).ok()?;
            format!("party {} registered as {} {:?}", e.party, role_name(e.role), e.name)
        }
        t if t == DeviceRegistered::SIGNATURE_HASH => {
            let e = DeviceRegistered::decode_log_data(d).ok()?;
            format!("sensor device {} registered to {}", e.deviceKey, n.party(&e.owner))
        }
        t if t == ShipmentCreated::SIGNATURE_HASH => {
            let e = ShipmentCreated::decode_log_data(d).ok()?;
            format!(
                "shipment {} created by {} for {}: {} → {}, {} kg, HS {}, {} legs",
                n.id(&e.id),
                n.party(&e.shipper),
                n.party(&e.consignee),
                locode(&e.origin),
                locode(&e.destination),
                e.weightKg,
                e.hsCode,
                e.legCount
            )
        }
        t if t == ThresholdsSet::SIGNATURE_HASH => {
            let e = ThresholdsSet::decode_log_data(d).ok()?;
            format!(
                "thresholds of {}: {:.2} to {:.2} °C, shock up to {} milli-g",
                n.id(&e.id),
                e.minTempCenti as f64 / 100.0,
                e.maxTempCenti as f64 / 100.0,
                e.maxShockMilliG
            )
        }
        t if t == HandOverProposed::SIGNATURE_HASH => {
            let e = HandOverProposed::decode_log_data(d).ok()?;
            format!(
                "hand-over of {} proposed by {} to {} at {}",
                n.id(&e.id),
                n.party(&e.from),
                n.party(&e.to),
                locode(&e.location)
            )
        }
        t if t == HandOverCancelled::SIGNATURE_HASH => {
            let e = HandOverCancelled::decode_log_data(d).ok()?;
            format!("hand-over of {} to {} cancelled by {}", n.id(&e.id), n.party(&e.to), n.party(&e.by))
        }
        t if t == CustodyAccepted::SIGNATURE_HASH => {
            let e = CustodyAccepted::decode_log_data(d).ok()?;
            format!(
                "custody of {} handed from {} to {} at {}",
                n.id(&e.id),
                n.party(&e.from),
                n.party(&e.to),
                locode(&e.location)
            )
        }
        t if t == Delivered::SIGNATURE_HASH => {
            let e = Delivered::decode_log_data(d).ok()?;
            format!("{} delivered to {} at {}", n.id(&e.id), n.party(&e.consignee), locode(&e.location))
        }
        t if t == Attested::SIGNATURE_HASH => {
            let e = Attested::decode_log_data(d).ok()?;
            format!(
                "{} attested for {} by device {} (observed at unix time {})",
                sensor(e.kind, e.value),
                n.id(&e.id),
                e.deviceKey,
                e.observedAt
            )
        }
        t if t == Excursion::SIGNATURE_HASH => {
            let e = Excursion::decode_log_data(d).ok()?;
            format!(
                "EXCURSION on {}: {} beyond the limit {} (device {}, unix time {})",
                n.id(&e.id),
                sensor(e.kind, e.value),
                e.limit,
                e.deviceKey,
                e.observedAt
            )
        }
        t if t == CustomsUpdated::SIGNATURE_HASH => {
            let e = CustomsUpdated::decode_log_data(d).ok()?;
            let status = ["?", "lodged", "held", "released"].get(e.status as usize).unwrap_or(&"?");
            format!(
                "customs status of {} set to {status} by {} (reference {})",
                n.id(&e.id),
                n.party(&e.authority),
                e.customsRef
            )
        }
        t if t == Disrupted::SIGNATURE_HASH => {
            let e = Disrupted::decode_log_data(d).ok()?;
            let kind = ["?", "port closure", "weather", "strike", "other"].get(e.kind as usize).unwrap_or(&"?");
            format!(
                "disruption of {} ({kind}) at {} reported by {}",
                n.id(&e.id),
                locode(&e.location),
                n.party(&e.reporter)
            )
        }
        t if t == Rerouted::SIGNATURE_HASH => {
            let e = Rerouted::decode_log_data(d).ok()?;
            let legs: Vec<String> = e
                .legs
                .iter()
                .map(|l| format!("{}→{} {} {} km", locode(&l.from), locode(&l.to), mode_name(l.mode), l.distanceKm))
                .collect();
            format!("{} rerouted by {} from {}: {}", n.id(&e.id), n.party(&e.by), locode(&e.from), legs.join(", "))
        }
        t if t == RerouteProposed::SIGNATURE_HASH => {
            let e = RerouteProposed::decode_log_data(d).ok()?;
            format!(
                "reroute {} of {} proposed by {} around disruption {} ({} new legs)",
                e.proposal,
                n.id(&e.id),
                n.party(&e.by),
                e.disruption,
                e.legs.len()
            )
        }
        t if t == RerouteApproved::SIGNATURE_HASH => {
            let e = RerouteApproved::decode_log_data(d).ok()?;
            format!(
                "reroute {} of {} approved by {} ({} of {} approvals needed)",
                e.proposal,
                n.id(&e.id),
                n.party(&e.by),
                e.approvals,
                e.needed
            )
        }
        t if t == PortDisrupted::SIGNATURE_HASH => {
            let e = PortDisrupted::decode_log_data(d).ok()?;
            format!(
                "disruption {} at {} declared by {} from {} until {}",
                e.disruption,
                locode(&e.location),
                n.party(&e.reporter),
                utc(e.startsAt.saturating_mul(1000)),
                utc(e.endsAt.saturating_mul(1000))
            )
        }
        t if t == EmbeddedEmissionsDeclared::SIGNATURE_HASH => {
            let e = EmbeddedEmissionsDeclared::decode_log_data(d).ok()?;
            format!(
                "embedded emissions of {} declared by {}: route {}, origin {}, {} + {} kg CO2e per tonne, {} kg in all",
                n.id(&e.id),
                n.party(&e.by),
                e.productionRoute,
                String::from_utf8_lossy(e.countryOfOrigin.as_slice()),
                e.directKgPerTonne,
                e.indirectKgPerTonne,
                e.totalKg
            )
        }
        t if t == PartyRevoked::SIGNATURE_HASH => {
            let e = PartyRevoked::decode_log_data(d).ok()?;
            format!("party {} revoked by {}", n.party(&e.party), e.by)
        }
        t if t == DeviceRevoked::SIGNATURE_HASH => {
            let e = DeviceRevoked::decode_log_data(d).ok()?;
            format!("device {} revoked by {}", e.deviceKey, n.party(&e.by))
        }
        _ => return None,
    })
}

fn audit_event(log: &Log, n: &Names) -> Option<String> {
    use audit::IAuditAnchor::*;
    let topic0 = *log.topics().first()?;
    Some(match topic0 {
        t if t == Anchored::SIGNATURE_HASH => {
            let e = Anchored::decode_log_data(&log.data).ok()?;
            format!(
                "anchor {} of tenant {}, {} lines, root {} (anchor hash {})",
                e.seq,
                n.id(&e.tenant),
                e.lineCount,
                e.root,
                e.anchorHash
            )
        }
        t if t == TenantCreated::SIGNATURE_HASH => {
            let e = TenantCreated::decode_log_data(&log.data).ok()?;
            format!("tenant {:?} created (zone {:?}, {} anchors a day)", e.name, e.zone, e.anchorsPerDay)
        }
        t if t == MemberAdded::SIGNATURE_HASH => {
            let e = MemberAdded::decode_log_data(&log.data).ok()?;
            format!("{} may anchor for tenant {}", e.member, n.id(&e.tenant))
        }
        _ => return None,
    })
}

fn settlement_event(log: &Log, n: &Names) -> Option<String> {
    use settlement::ISettlement::*;
    let d = &log.data;
    let topic0 = *log.topics().first()?;
    Some(match topic0 {
        t if t == Transferred::SIGNATURE_HASH => {
            let e = Transferred::decode_log_data(d).ok()?;
            format!("payment of {} from {} to {}{}", n.amount(&e.amount, &e.code), e.from, e.to, memo(&e.memo))
        }
        t if t == FxPaid::SIGNATURE_HASH => {
            let e = FxPaid::decode_log_data(d).ok()?;
            format!(
                "FX payment under quote {}: {} paid {} in the base currency, {} received {} in the quote currency (minor units), fee {}{}",
                e.quoteId,
                e.from,
                e.baseAmount,
                e.to,
                e.quoteAmount,
                e.fee,
                memo(&e.memo)
            )
        }
        t if t == CurrencyCreated::SIGNATURE_HASH => {
            let e = CurrencyCreated::decode_log_data(d).ok()?;
            format!(
                "currency {} created with {} decimals, issuer {}, payments from {} held for review",
                currency(&e.code),
                e.decimals,
                e.issuer,
                n.amount(&e.holdThreshold, &e.code)
            )
        }
        t if t == HoldCreated::SIGNATURE_HASH => {
            let e = HoldCreated::decode_log_data(d).ok()?;
            format!(
                "payment of {} from {} to {} held for review as hold {}{}",
                n.amount(&e.amount, &e.code),
                e.from,
                e.to,
                e.id,
                memo(&e.memo)
            )
        }
        t if t == HoldResolved::SIGNATURE_HASH => {
            let e = HoldResolved::decode_log_data(d).ok()?;
            let verdict = if e.approved { "approved (the payment settled)" } else { "rejected" };
            format!("hold {} {verdict} by compliance officer {}", e.id, e.officer)
        }
        t if t == Minted::SIGNATURE_HASH => {
            let e = Minted::decode_log_data(d).ok()?;
            format!("{} issued to {}", n.amount(&e.amount, &e.code), e.to)
        }
        t if t == Burned::SIGNATURE_HASH => {
            let e = Burned::decode_log_data(d).ok()?;
            format!("{} redeemed by {}", n.amount(&e.amount, &e.code), e.from)
        }
        t if t == PvpProposed::SIGNATURE_HASH => {
            let e = PvpProposed::decode_log_data(d).ok()?;
            format!(
                "payment-versus-payment {} proposed by {} to {}: gives {}, gets {}",
                e.id,
                e.proposer,
                e.counterparty,
                n.amount(&e.giveAmount, &e.giveCode),
                n.amount(&e.getAmount, &e.getCode)
            )
        }
        t if t == PvpSettled::SIGNATURE_HASH => {
            format!("payment-versus-payment {} settled (both legs)", PvpSettled::decode_log_data(d).ok()?.id)
        }
        t if t == PvpCancelled::SIGNATURE_HASH => {
            format!("payment-versus-payment {} cancelled", PvpCancelled::decode_log_data(d).ok()?.id)
        }
        t if t == KycSet::SIGNATURE_HASH => {
            let e = KycSet::decode_log_data(d).ok()?;
            let status = ["none", "approved", "frozen"].get(e.status as usize).unwrap_or(&"?");
            format!("KYC status of {} set to {status}", e.party)
        }
        t if t == KycRecordSet::SIGNATURE_HASH => {
            let e = KycRecordSet::decode_log_data(d).ok()?;
            let expiry = if e.expiresAt == 0 {
                "no expiry".to_string()
            } else {
                format!("valid until {}", utc(e.expiresAt.saturating_mul(1000)))
            };
            let jurisdiction = String::from_utf8_lossy(e.jurisdiction.as_slice()).trim_matches('\0').to_string();
            format!("KYC record of {} set by {}: jurisdiction {jurisdiction}, {expiry}", e.party, e.officer)
        }
        t if t == HoldOpened::SIGNATURE_HASH => {
            let e = HoldOpened::decode_log_data(d).ok()?;
            let kind = match e.kind {
                settlement::KIND_FX => format!("FX payment under quote {}", e.r#ref),
                settlement::KIND_PVP => format!("payment-versus-payment {}", e.r#ref),
                _ => "transfer".to_string(),
            };
            format!("hold {} opened on a {kind} made by {}: {}", e.id, e.initiator, settlement::reason_text(e.reason))
        }
        t if t == HoldThresholdSet::SIGNATURE_HASH => {
            let e = HoldThresholdSet::decode_log_data(d).ok()?;
            format!(
                "payments in {} above {} held for review (set by {})",
                currency(&e.code),
                n.amount(&e.threshold, &e.code),
                e.by
            )
        }
        t if t == DailyLimitSet::SIGNATURE_HASH => {
            let e = DailyLimitSet::decode_log_data(d).ok()?;
            format!("daily limit per party in {} set to {} by {}", currency(&e.code), n.amount(&e.limit, &e.code), e.by)
        }
        t if t == QuotePosted::SIGNATURE_HASH => {
            let e = QuotePosted::decode_log_data(d).ok()?;
            format!(
                "FX quote {} by {}: 1 {} minor unit buys {}/{} {} minor units, fee {} bps, for at most {}",
                e.id,
                e.provider,
                currency(&e.base),
                e.rateNum,
                e.rateDen,
                currency(&e.quote),
                e.feeBps,
                n.amount(&e.maxNotional, &e.base)
            )
        }
        t if t == QuoteWithdrawn::SIGNATURE_HASH => {
            format!("FX quote {} withdrawn", QuoteWithdrawn::decode_log_data(d).ok()?.id)
        }
        t if t == PvpHeld::SIGNATURE_HASH => {
            let e = PvpHeld::decode_log_data(d).ok()?;
            format!(
                "payment-versus-payment {} accepted and held for review as hold {} (both legs locked)",
                e.id, e.holdId
            )
        }
        _ => return None,
    })
}

fn other_module_event(log: &Log, n: &Names) -> Option<String> {
    let topic0 = *log.topics().first()?;
    if log.address == documents::ADDRESS {
        use documents::IDocuments::*;
        if topic0 == DocumentAnchored::SIGNATURE_HASH {
            let e = DocumentAnchored::decode_log_data(&log.data).ok()?;
            return Some(format!(
                "sealed document {:?} {} anchored by {} about {} for {} recipients (content hash {})",
                e.kind,
                e.envelopeHash,
                n.party(&e.sender),
                n.id(&e.subject),
                e.recipients.len(),
                e.contentHash
            ));
        }
        if topic0 == KeyPublished::SIGNATURE_HASH {
            let e = KeyPublished::decode_log_data(&log.data).ok()?;
            return Some(format!("document key {} (version {}) published by {}", e.keyId, e.version, e.party));
        }
    }
    if log.address == validator_set::ADDRESS
        && topic0 == validator_set::IValidatorSet::ValidatorSetScheduled::SIGNATURE_HASH
    {
        let e = validator_set::IValidatorSet::ValidatorSetScheduled::decode_log_data(&log.data).ok()?;
        let power = e.validators.iter().map(|v| v.power).fold(0u64, u64::saturating_add);
        return Some(format!(
            "validator-set change {} scheduled: {} validators, power {power}, from height {}",
            e.changeNumber,
            e.validators.len(),
            e.activationHeight
        ));
    }
    None
}

/// A sentence for a log of one of dsec's modules; `None` for any other log.
pub fn describe_log(log: &Log, names: &Names) -> Option<String> {
    match log.address {
        a if a == provenance::ADDRESS => provenance_event(log, names),
        a if a == audit::ADDRESS => audit_event(log, names),
        a if a == settlement::ADDRESS => settlement_event(log, names),
        _ => other_module_event(log, names),
    }
}

/// An audit line proven down to a final anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenLine {
    /// Tenant id as declared.
    pub tenant: String,
    /// Anchor sequence number.
    pub seq: u64,
    /// Line number, from 1.
    pub line: u64,
    /// The line.
    pub text: String,
    /// Lines in the batch.
    pub line_count: u64,
    /// The batch's Merkle root.
    pub root: B256,
    /// The anchor's hash (links the tenant's anchors).
    pub anchor_hash: B256,
    /// Transaction that anchored it.
    pub transaction: B256,
    /// Its block.
    pub block: u64,
    /// The block's time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

impl AuditLine {
    /// The tenant's `Anchored` event among `logs` whose root this line reaches
    /// along its path, over the claimed line count; else why not. (The logs'
    /// own inclusion and finality are for the caller to establish.)
    pub fn anchor_in<'a>(
        &self,
        logs: impl IntoIterator<Item = &'a Log>,
    ) -> Result<audit::IAuditAnchor::Anchored, String> {
        let tenant = audit::tenant_id(&self.tenant);
        let anchor = logs
            .into_iter()
            .filter(|l| l.address == audit::ADDRESS && l.topics().get(1) == Some(&tenant))
            .find_map(|l| audit::IAuditAnchor::Anchored::decode_log_data(&l.data).ok())
            .ok_or_else(|| format!("anchored nothing for tenant {:?}", self.tenant))?;
        if anchor.lineCount != self.line_count {
            return Err(format!("the anchor covers {} lines, the claim says {}", anchor.lineCount, self.line_count));
        }
        if self.line == 0 || self.line > self.line_count {
            return Err(format!("line {} is not in a batch of {} lines", self.line, self.line_count));
        }
        let leaf = merkle::leaf_hash(self.text.as_bytes());
        if !merkle::verify(&anchor.root, &leaf, self.line - 1, self.line_count, &self.path) {
            return Err(format!(
                "line {} with this text does not hash, along this path, to the anchored root {}",
                self.line, anchor.root
            ));
        }
        Ok(anchor)
    }
}

/// Check the audit-line claim against the proven anchor transaction.
pub(super) fn check_audit_line(claim: &AuditLine, verified: &Verified) -> Result<ProvenLine, ProofError> {
    let bad = |m: String| ProofError::Audit(m);
    let tx = usize::try_from(claim.transaction)
        .ok()
        .and_then(|i| verified.transactions.get(i))
        .ok_or_else(|| bad(format!("names transaction {}, which the bundle does not hold", claim.transaction)))?;
    let anchor =
        claim.anchor_in(tx.claimed_logs().map(|(_, l)| l)).map_err(|e| bad(format!("transaction {}: {e}", tx.hash)))?;
    Ok(ProvenLine {
        tenant: claim.tenant.clone(),
        seq: anchor.seq,
        line: claim.line,
        text: claim.text.clone(),
        line_count: claim.line_count,
        root: anchor.root,
        anchor_hash: anchor.anchorHash,
        transaction: tx.hash,
        block: tx.block.number,
        timestamp_ms: tx.block.timestamp_ms,
    })
}

/// A proven event of a dossier's trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailEvent {
    /// Block of the event.
    pub block: u64,
    /// The block's time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Transaction that emitted it.
    pub transaction: B256,
    /// Position among the transaction's logs.
    pub log: u64,
    /// What happened.
    pub description: String,
}

/// One leg of a dossier's carbon report, computed from proven events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegFigure {
    /// From (UN/LOCODE).
    pub from: String,
    /// To (UN/LOCODE).
    pub to: String,
    /// Transport mode.
    pub mode: &'static str,
    /// Distance, km.
    pub distance_km: u32,
    /// Emission factor, g CO2e per tonne-km.
    pub factor: u64,
    /// kg CO2e: distance × weight × factor / 1,000,000, rounded down.
    pub kg_co2e: u64,
    /// Whether custody changed hands at its end.
    pub completed: bool,
    /// The transaction that declared the leg (the shipment's creation or a reroute).
    pub declared_in: B256,
}

/// A shipment's trail and carbon report, recomputed from proven events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenDossier {
    /// Shipment id.
    pub id: B256,
    /// Its text.
    pub label: String,
    /// Weight, kg (from the proven creation).
    pub weight_kg: u32,
    /// Every proven event about the shipment, in chain order.
    pub trail: Vec<TrailEvent>,
    /// The route as the events leave it, with carbon per leg.
    pub route: Vec<LegFigure>,
    /// Sum of the legs' kg CO2e.
    pub total_kg_co2e: u64,
    /// Delivered (a proven `Delivered` event).
    pub delivered: bool,
}

struct Route {
    legs: Vec<(IProvenance::Leg, B256)>,
    done: usize,
}

impl Route {
    fn custody_at(&mut self, location: &FixedBytes<5>) {
        // As the module does: the first pending leg ending here is completed.
        if let Some(i) = self.legs.iter().skip(self.done).position(|(l, _)| l.to == *location) {
            self.done = self.done.saturating_add(i).saturating_add(1);
        }
    }
}

fn creation_route(
    tx: &VerifiedTransaction,
    id: &B256,
    event: &IProvenance::ShipmentCreated,
) -> Result<Vec<(IProvenance::Leg, B256)>, ProofError> {
    let bad = |m: String| ProofError::Dossier(m);
    if tx.to != Some(provenance::ADDRESS) {
        return Err(bad(format!("the creation {} was not a direct call of the provenance module", tx.hash)));
    }
    let call = IProvenance::createShipmentCall::abi_decode(&tx.input)
        .map_err(|e| bad(format!("the creation {} has call data that is not createShipment: {e}", tx.hash)))?;
    if call.id != *id || call.legs.len() as u64 != event.legCount {
        return Err(bad(format!("the creation {}'s call data does not match its event", tx.hash)));
    }
    Ok(call.legs.into_iter().map(|l| (l, tx.hash)).collect())
}

/// Check the dossier claim: the bundle holds the shipment's creation, and
/// the trail and carbon figures follow from the proven events alone.
pub(super) fn check_dossier(claim: &Dossier, verified: &Verified) -> Result<ProvenDossier, ProofError> {
    let bad = |m: String| ProofError::Dossier(m);
    let id = provenance::shipment_id(&claim.shipment);
    let names = Names::of(verified);
    let mut ordered: Vec<&VerifiedTransaction> = verified.transactions.iter().collect();
    ordered.sort_by_key(|t| (t.block.number, t.index));
    let mut trail = Vec::new();
    let mut route: Option<Route> = None;
    let mut weight_kg = 0u32;
    let mut delivered = false;
    for tx in ordered {
        for (position, log) in tx.claimed_logs() {
            let about_shipment = (log.address == provenance::ADDRESS && log.topics().get(1) == Some(&id))
                || (log.address == documents::ADDRESS && log.topics().get(2) == Some(&id));
            if !about_shipment {
                continue;
            }
            let topic0 = log.topics().first().copied().unwrap_or_default();
            if topic0 == IProvenance::ShipmentCreated::SIGNATURE_HASH {
                let e = IProvenance::ShipmentCreated::decode_log_data(&log.data)
                    .map_err(|e| bad(format!("undecodable creation event: {e}")))?;
                route = Some(Route { legs: creation_route(tx, &id, &e)?, done: 0 });
                weight_kg = e.weightKg;
            } else if let Some(r) = route.as_mut() {
                if topic0 == IProvenance::CustodyAccepted::SIGNATURE_HASH
                    && let Ok(e) = IProvenance::CustodyAccepted::decode_log_data(&log.data)
                {
                    r.custody_at(&e.location);
                } else if topic0 == IProvenance::Rerouted::SIGNATURE_HASH
                    && let Ok(e) = IProvenance::Rerouted::decode_log_data(&log.data)
                {
                    r.legs.truncate(r.done);
                    r.legs.extend(e.legs.into_iter().map(|l| (l, tx.hash)));
                } else if topic0 == IProvenance::Delivered::SIGNATURE_HASH {
                    delivered = true;
                }
            } else {
                return Err(bad(format!(
                    "an event of transaction {} precedes the shipment's proven creation",
                    tx.hash
                )));
            }
            trail.push(TrailEvent {
                block: tx.block.number,
                timestamp_ms: tx.block.timestamp_ms,
                transaction: tx.hash,
                log: position,
                description: describe_log(log, &names).unwrap_or_else(|| format!("event {topic0} of {}", log.address)),
            });
        }
    }
    let route =
        route.ok_or_else(|| bad(format!("the bundle does not prove the creation of shipment {}", claim.shipment)))?;
    let mut figures = Vec::with_capacity(route.legs.len());
    let mut total = 0u64;
    for (i, (leg, declared_in)) in route.legs.iter().enumerate() {
        let factor =
            provenance::emission_factor(leg.mode).ok_or_else(|| bad(format!("leg {} has an unknown mode", i + 1)))?;
        let kg = provenance::leg_carbon_kg(leg.distanceKm, weight_kg, leg.mode)
            .ok_or_else(|| bad(format!("leg {}'s carbon overflows", i + 1)))?;
        total = total.checked_add(kg).ok_or_else(|| bad("the carbon total overflows".into()))?;
        figures.push(LegFigure {
            from: locode(&leg.from),
            to: locode(&leg.to),
            mode: mode_name(leg.mode),
            distance_km: leg.distanceKm,
            factor,
            kg_co2e: kg,
            completed: i < route.done,
            declared_in: *declared_in,
        });
    }
    Ok(ProvenDossier { id, label: names.id(&id), weight_kg, trail, route: figures, total_kg_co2e: total, delivered })
}

/// A time in milliseconds since the Unix epoch as a UTC date and time
/// (`2026-12-03 04:00:00 UTC`).
pub fn utc(ms: u64) -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm), UTC.
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem / 60 % 60, rem % 60)
}

fn power_share(signed: u64, total: u64) -> String {
    let pct = if total == 0 { 0.0 } else { signed as f64 * 100.0 / total as f64 };
    format!("{signed} of {total} voting power ({pct:.1}%)")
}

/// The human summary `dsec verify` prints for a verified bundle.
pub fn summary(v: &Verified) -> String {
    let names = Names::of(v);
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("VALID: proven final on the chain with genesis {}", v.genesis_hash));
    let changes = v.lineage.len().saturating_sub(1);
    line(format!(
        "validator sets: the genesis set ({} validators){}",
        v.lineage.first().map_or(0, |s| s.size),
        if changes == 0 {
            String::new()
        } else {
            format!(", then {changes} change(s) each signed by the set before it")
        }
    ));
    for set in v.lineage.iter().skip(1) {
        line(format!(
            "  from height {}: set {} of {} validators, power {}",
            set.from_height, set.hash, set.size, set.total_power
        ));
    }
    if v.dossier.is_some() {
        // A dossier's point is its trail: one line on finality, not a page per transaction.
        let blocks: std::collections::BTreeSet<u64> = v.transactions.iter().map(|t| t.block.number).collect();
        let weakest = v
            .transactions
            .iter()
            .min_by(|a, b| {
                (u128::from(a.block.signed_power) * u128::from(b.block.total_power))
                    .cmp(&(u128::from(b.block.signed_power) * u128::from(a.block.total_power)))
            })
            .map(|t| power_share(t.block.signed_power, t.block.total_power))
            .unwrap_or_default();
        line(format!(
            "{} transactions in {} blocks, each block finalised by more than two thirds of its validators' power (the least: {weakest}); `dsec verify --json` lists them",
            v.transactions.len(),
            blocks.len()
        ));
    }
    for tx in v.transactions.iter().filter(|_| v.dossier.is_none()) {
        line(String::new());
        line(format!("transaction {}", tx.hash));
        let signature = if tx.tx_type == crate::tx::ML_DSA_TX_TYPE { "ML-DSA-65" } else { "secp256k1" };
        line(format!("  sender     {} (signature {signature} checked here)", names.party(&tx.sender)));
        match tx.to {
            Some(to) => match module_name(&to) {
                Some(module) => line(format!("  to         {to} ({module})")),
                None => line(format!("  to         {}", names.party(&to))),
            },
            None => line("  to         (contract creation)".into()),
        }
        if !tx.value.is_zero() {
            line(format!("  value      {} wei", tx.value));
        }
        line(format!(
            "  block      {} ({}), index {}, at {}",
            tx.block.number,
            tx.block.hash,
            tx.index,
            utc(tx.block.timestamp_ms)
        ));
        line(format!("  status     {}", if tx.success { "succeeded" } else { "REVERTED" }));
        line(format!(
            "  finalised  by {} of {} validators holding {}{}",
            tx.block.signers.len(),
            tx.block.set_size,
            power_share(tx.block.signed_power, tx.block.total_power),
            if tx.block.hybrid { ", each with ed25519 and ML-DSA-65 signatures" } else { ", ed25519 signatures" }
        ));
        let signers: Vec<String> = tx.block.signers.iter().map(|(a, p)| format!("{a} ({p})")).collect();
        line(format!("  signers    {}", signers.join(", ")));
        for (i, log) in tx.claimed_logs() {
            let what = describe_log(log, &names)
                .unwrap_or_else(|| format!("log of {} with {} topics", log.address, log.topics().len()));
            line(format!("  event {i}    {what}"));
        }
    }
    if let Some(a) = &v.audit_line {
        line(String::new());
        line(format!(
            "audit line {} of {} in anchor {} of tenant {:?} (root {}), anchored in block {} at {}:",
            a.line,
            a.line_count,
            a.seq,
            a.tenant,
            a.root,
            a.block,
            utc(a.timestamp_ms)
        ));
        line(format!("  {}", a.text));
    }
    if let Some(d) = &v.dossier {
        line(String::new());
        line(format!(
            "shipment {} ({} events{}):",
            d.label,
            d.trail.len(),
            if d.delivered { ", delivered" } else { ", not delivered yet" }
        ));
        for e in &d.trail {
            line(format!("  {}  block {:>6}  {}", utc(e.timestamp_ms), e.block, e.description));
        }
        line(format!("carbon ({} kg, factors in g CO2e per tonne-km):", d.weight_kg));
        for (i, leg) in d.route.iter().enumerate() {
            line(format!(
                "  leg {} {}→{} {} {} km × {} kg × {} / 1,000,000 = {} kg CO2e{}  [declared in {}]",
                i + 1,
                leg.from,
                leg.to,
                leg.mode,
                leg.distance_km,
                d.weight_kg,
                leg.factor,
                leg.kg_co2e,
                if leg.completed { ", completed" } else { "" },
                leg.declared_in
            ));
        }
        line(format!("  total {} kg CO2e", d.total_kg_co2e));
        line("  (the dossier proves each listed event; it cannot prove that no event was left out)".into());
    }
    out
}
