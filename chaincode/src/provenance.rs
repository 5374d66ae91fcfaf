//! Shipment provenance for supply chains.
//!
//! Module administrators register parties, each with exactly one role
//! (shipper, carrier, port operator, customs authority, consignee), and
//! parties register their sensor devices by ed25519 public key, with the
//! device's signature as proof that it holds the key. A shipper
//! creates a shipment with its planned route as contiguous legs between
//! UN/LOCODE locations; the goods then move by two-step custody hand-offs (the
//! custodian proposes, the receiver accepts), and the shipment is delivered
//! when the consignee accepts custody at the destination. Signed sensor
//! readings are checked against the shipment's thresholds, and customs
//! decisions, disruptions and reroutes are recorded. Every step is appended to
//! the shipment's trail, which reads back in order, and the route's carbon
//! footprint is computed per leg with integer arithmetic.
//!
//! Everything a device signs is bound to the chain (its genesis hash), to the
//! module's address and to a versioned domain tag (see
//! [`attestation_digest`] and [`device_registration_digest`]), so a message
//! signed for one chain is refused by every other. Signature checks are
//! charged [`ED25519_VERIFY_GAS`] each, before the check.
//!
//! The Solidity interface is `chaincode/sol/IProvenance.sol`.
//!
//! Storage: a shipment is six packed words (see `Shipment`), one word per
//! leg, two to four words per trail entry (value and detail only when not
//! zero), and per party a de-duplicated list of shipment ids. Packed fields
//! are read back with `field`, so narrowing casts of its result to the
//! field's width are lossless; signed integers are stored as their
//! two's-complement bit pattern.

use crate::gas::ED25519_VERIFY_GAS;
use crate::storage::{from_short_string, load_u64, load_word, short_string, slot, store_u64, store_word};
use crate::{Call, Chaincode, Failure, Host, ModuleConfig};
use alloy::sol_types::{SolCall, SolEvent};
use alloy_primitives::{Address, B256, Bytes, FixedBytes, U256};
use ed25519_dalek::{Signature, VerifyingKey};
use std::sync::Arc;

use IProvenance::IProvenanceCalls as Calls;
use IProvenance::{Leg, TrailEntry};
pub use dsec_sdk::chaincode::provenance::{
    ADDRESS, ATTESTATION_DOMAIN, DEVICE_DOMAIN, IProvenance, MODE_AIR, MODE_INLAND_WATERWAY, MODE_RAIL, MODE_ROAD,
    MODE_SEA, ROLE_CARRIER, ROLE_CONSIGNEE, ROLE_CUSTOMS, ROLE_PORT_OPERATOR, ROLE_SHIPPER, attestation_digest,
    device_registration_digest, emission_factor, leg_carbon_kg,
};

/// The most legs a shipment's route may have.
pub const MAX_LEGS: usize = 32;
/// The most jurisdictions a customs authority may have.
pub const MAX_JURISDICTIONS: usize = 64;
/// The most recent disruptions of a location that count for its shipments.
const DISRUPTIONS_PER_LOCATION: u64 = 64;
/// The most entries one page of a list view returns.
const MAX_PAGE: u64 = 1_000;
/// Trail kind: a reroute proposed (code: its number of legs; detail: the proposal id).
pub const TRAIL_REROUTE_PROPOSED: u8 = 10;
/// A reroute proposal waiting for approvals.
const PROPOSAL_OPEN: u64 = 1;
/// A reroute proposal that took effect.
const PROPOSAL_APPLIED: u64 = 2;
/// The bit of a party's role word that marks it revoked.
const REVOKED_BIT: usize = 8;

/// Shipment status: created, still with the shipper.
pub const STATUS_CREATED: u8 = 1;
/// Shipment status: custody has changed hands at least once.
pub const STATUS_IN_TRANSIT: u8 = 2;
/// Shipment status: the consignee accepted custody at the destination.
pub const STATUS_DELIVERED: u8 = 3;

/// Customs status: declaration lodged.
pub const CUSTOMS_LODGED: u8 = 1;
/// Customs status: goods held.
pub const CUSTOMS_HELD: u8 = 2;
/// Customs status: goods released.
pub const CUSTOMS_RELEASED: u8 = 3;

/// Sensor kind: temperature, value in centi-degrees Celsius.
pub const SENSOR_TEMPERATURE: u8 = 1;
/// Sensor kind: shock, value in milli-g (not negative).
pub const SENSOR_SHOCK: u8 = 2;
/// Sensor kind: GPS position, latitude × 10^7 in the high 32 bits and
/// longitude × 10^7 in the low 32 bits, both signed; no threshold applies.
pub const SENSOR_GPS: u8 = 3;

/// Disruption kind: port closure.
pub const DISRUPTION_PORT_CLOSURE: u8 = 1;
/// Disruption kind: weather.
pub const DISRUPTION_WEATHER: u8 = 2;
/// Disruption kind: strike.
pub const DISRUPTION_STRIKE: u8 = 3;
/// Disruption kind: anything else.
pub const DISRUPTION_OTHER: u8 = 4;

/// Trail kind: the shipment was created.
pub const TRAIL_CREATED: u8 = 1;
/// Trail kind: the custodian proposed a hand-off.
pub const TRAIL_HAND_OVER_PROPOSED: u8 = 2;
/// Trail kind: a pending hand-off was withdrawn or declined.
pub const TRAIL_HAND_OVER_CANCELLED: u8 = 3;
/// Trail kind: the receiver accepted custody.
pub const TRAIL_CUSTODY_ACCEPTED: u8 = 4;
/// Trail kind: the consignee accepted custody at the destination.
pub const TRAIL_DELIVERED: u8 = 5;
/// Trail kind: a sensor reading crossed a threshold.
pub const TRAIL_EXCURSION: u8 = 6;
/// Trail kind: a customs decision.
pub const TRAIL_CUSTOMS: u8 = 7;
/// Trail kind: a disruption was reported.
pub const TRAIL_DISRUPTION: u8 = 8;
/// Trail kind: the remaining route was replaced.
pub const TRAIL_REROUTED: u8 = 9;

/// Largest latitude × 10^7 a GPS reading may carry.
const MAX_LAT_E7: i64 = 900_000_000;
/// Largest longitude × 10^7 a GPS reading may carry.
const MAX_LON_E7: i64 = 1_800_000_000;

/// Whether `code` is a well-formed UN/LOCODE: two letters A-Z (the country)
/// then three characters from A-Z and 2-9.
pub fn is_locode(code: &FixedBytes<5>) -> bool {
    let country = code[..2].iter().all(u8::is_ascii_uppercase);
    let place = code[2..].iter().all(|b| b.is_ascii_uppercase() || (b'2'..=b'9').contains(b));
    country && place
}

fn ok(output: Vec<u8>) -> Result<Bytes, Failure> {
    Ok(output.into())
}

fn emit(host: &mut dyn Host, event: impl SolEvent) -> Result<(), Failure> {
    let log = event.encode_log_data();
    host.emit(log.topics().to_vec(), log.data)
}

/// `bits` bits of `word` starting at bit `shift`, as a `u64` (`bits` ≤ 64).
fn field(word: U256, shift: usize, bits: usize) -> u64 {
    ((word >> shift) & ((U256::from(1) << bits) - U256::from(1))).saturating_to()
}

fn address_word(address: &Address) -> U256 {
    U256::from_be_slice(address.as_slice())
}

/// The address in the low 160 bits of `word`.
fn word_address(word: U256) -> Address {
    Address::from_word(B256::from(word))
}

fn location_bits(location: &FixedBytes<5>) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[3..].copy_from_slice(location.as_slice());
    u64::from_be_bytes(bytes)
}

fn bits_location(bits: u64) -> FixedBytes<5> {
    let bytes = bits.to_be_bytes();
    FixedBytes::from_slice(&bytes[3..])
}

/// A leg packed into a word: from, to (40 bits each), mode (8), distance (32).
fn leg_word(leg: &Leg) -> U256 {
    U256::from(location_bits(&leg.from))
        | (U256::from(location_bits(&leg.to)) << 40usize)
        | (U256::from(leg.mode) << 80usize)
        | (U256::from(leg.distanceKm) << 88usize)
}

fn word_leg(word: U256) -> Leg {
    Leg {
        from: bits_location(field(word, 0, 40)),
        to: bits_location(field(word, 40, 40)),
        mode: field(word, 80, 8) as u8,
        distanceKm: field(word, 88, 32) as u32,
    }
}

/// Storage tags of the words of a shipment record, in [`Shipment::encode`] order.
const SHIPMENT_TAGS: [&str; 6] =
    ["ship.shipper", "ship.consignee", "ship.custodian", "ship.pending", "ship.route", "ship.meta"];

/// A shipment record as stored: six words, rewritten only where they changed.
#[derive(Debug, Clone)]
struct Shipment {
    id: B256,
    shipper: Address,
    status: u8,
    customs: u8,
    consignee: Address,
    custodian: Address,
    pending_to: Address,
    pending_location: FixedBytes<5>,
    origin: FixedBytes<5>,
    destination: FixedBytes<5>,
    location: FixedBytes<5>,
    hs_code: u32,
    weight_kg: u32,
    leg_count: u64,
    legs_done: u64,
    trail_len: u64,
    created_at: u64,
    delivered_at: u64,
    /// The words as last read or written.
    stored: [U256; 6],
}

impl Shipment {
    fn slot(id: &B256, word: usize) -> U256 {
        slot(SHIPMENT_TAGS[word], &[id.as_slice()])
    }

    fn load(host: &mut dyn Host, id: &B256) -> Result<Option<Self>, Failure> {
        let first = host.sload(Self::slot(id, 0))?;
        if word_address(first).is_zero() {
            return Ok(None);
        }
        let mut stored = [first; 6];
        for (i, word) in stored.iter_mut().enumerate().skip(1) {
            *word = host.sload(Self::slot(id, i))?;
        }
        let [w_shipper, w_consignee, w_custodian, w_pending, w_route, w_meta] = stored;
        Ok(Some(Self {
            id: *id,
            shipper: word_address(w_shipper),
            status: field(w_shipper, 160, 8) as u8,
            customs: field(w_shipper, 168, 8) as u8,
            consignee: word_address(w_consignee),
            custodian: word_address(w_custodian),
            pending_to: word_address(w_pending),
            pending_location: bits_location(field(w_pending, 160, 40)),
            origin: bits_location(field(w_route, 0, 40)),
            destination: bits_location(field(w_route, 40, 40)),
            location: bits_location(field(w_route, 80, 40)),
            hs_code: field(w_route, 120, 32) as u32,
            weight_kg: field(w_route, 152, 32) as u32,
            leg_count: field(w_route, 184, 32),
            legs_done: field(w_route, 216, 32),
            trail_len: field(w_meta, 0, 64),
            created_at: field(w_meta, 64, 64),
            delivered_at: field(w_meta, 128, 64),
            stored,
        }))
    }

    fn require(host: &mut dyn Host, id: &B256) -> Result<Self, Failure> {
        Self::load(host, id)?.ok_or_else(|| Failure::reason("provenance: unknown shipment"))
    }

    fn encode(&self) -> [U256; 6] {
        [
            address_word(&self.shipper)
                | (U256::from(self.status) << 160usize)
                | (U256::from(self.customs) << 168usize),
            address_word(&self.consignee),
            address_word(&self.custodian),
            address_word(&self.pending_to) | (U256::from(location_bits(&self.pending_location)) << 160usize),
            U256::from(location_bits(&self.origin))
                | (U256::from(location_bits(&self.destination)) << 40usize)
                | (U256::from(location_bits(&self.location)) << 80usize)
                | (U256::from(self.hs_code) << 120usize)
                | (U256::from(self.weight_kg) << 152usize)
                | (U256::from(self.leg_count) << 184usize)
                | (U256::from(self.legs_done) << 216usize),
            U256::from(self.trail_len)
                | (U256::from(self.created_at) << 64usize)
                | (U256::from(self.delivered_at) << 128usize),
        ]
    }

    /// Write the words that changed since the record was read.
    fn save(&mut self, host: &mut dyn Host) -> Result<(), Failure> {
        let words = self.encode();
        for (i, (new, old)) in words.iter().zip(self.stored.iter()).enumerate() {
            if new != old {
                host.sstore(Self::slot(&self.id, i), *new)?;
            }
        }
        self.stored = words;
        Ok(())
    }

    fn delivered(&self) -> bool {
        self.status == STATUS_DELIVERED
    }

    fn require_not_delivered(&self) -> Result<(), Failure> {
        if self.delivered() { Err(Failure::reason("provenance: shipment already delivered")) } else { Ok(()) }
    }

    fn leg_slot(&self, index: u64) -> U256 {
        slot("ship.leg", &[self.id.as_slice(), &index.to_be_bytes()])
    }

    fn read_legs(&self, host: &mut dyn Host) -> Result<Vec<Leg>, Failure> {
        (0..self.leg_count).map(|i| Ok(word_leg(host.sload(self.leg_slot(i))?))).collect()
    }

    /// Replace the legs from `first` on with `legs`.
    fn write_legs(&mut self, host: &mut dyn Host, first: u64, legs: &[Leg]) -> Result<(), Failure> {
        let mut index = first;
        for leg in legs {
            host.sstore(self.leg_slot(index), leg_word(leg))?;
            index = index.checked_add(1).ok_or_else(|| Failure::reason("provenance: too many legs"))?;
        }
        self.leg_count = index;
        Ok(())
    }

    fn trail_slot(&self, tag: &str, seq: u64) -> U256 {
        slot(tag, &[self.id.as_slice(), &seq.to_be_bytes()])
    }

    /// Append a step to the trail, stamped with the block timestamp.
    fn append(&mut self, host: &mut dyn Host, step: Step) -> Result<(), Failure> {
        let seq = self.trail_len.checked_add(1).ok_or_else(|| Failure::reason("provenance: trail is full"))?;
        let head = address_word(&step.actor)
            | (U256::from(step.kind) << 160usize)
            | (U256::from(step.code) << 168usize)
            | (U256::from(location_bits(&step.location)) << 176usize);
        host.sstore(self.trail_slot("trail.head", seq), head)?;
        let when = address_word(&step.counterparty) | (U256::from(host.timestamp()) << 160usize);
        host.sstore(self.trail_slot("trail.when", seq), when)?;
        if step.value != 0 {
            store_u64(host, self.trail_slot("trail.value", seq), step.value as u64)?;
        }
        if !step.detail.is_zero() {
            store_word(host, self.trail_slot("trail.detail", seq), step.detail)?;
        }
        self.trail_len = seq;
        Ok(())
    }

    fn read_trail(&self, host: &mut dyn Host) -> Result<Vec<TrailEntry>, Failure> {
        let mut entries = Vec::new();
        for seq in 1..=self.trail_len {
            let head = host.sload(self.trail_slot("trail.head", seq))?;
            let when = host.sload(self.trail_slot("trail.when", seq))?;
            entries.push(TrailEntry {
                seq,
                kind: field(head, 160, 8) as u8,
                actor: word_address(head),
                counterparty: word_address(when),
                location: bits_location(field(head, 176, 40)),
                timestamp: field(when, 160, 64),
                code: field(head, 168, 8) as u8,
                value: load_u64(host, self.trail_slot("trail.value", seq))? as i64,
                detail: load_word(host, self.trail_slot("trail.detail", seq))?,
            });
        }
        Ok(entries)
    }
}

/// One step to append to a trail.
struct Step {
    kind: u8,
    actor: Address,
    counterparty: Address,
    location: FixedBytes<5>,
    code: u8,
    value: i64,
    detail: B256,
}

impl Step {
    fn new(kind: u8, actor: Address, location: FixedBytes<5>) -> Self {
        Self { kind, actor, counterparty: Address::ZERO, location, code: 0, value: 0, detail: B256::ZERO }
    }
}

/// A shipment's sensor thresholds.
#[derive(Debug, Clone, Copy, Default)]
struct Thresholds {
    set: bool,
    min_temp: i64,
    max_temp: i64,
    max_shock: i64,
}

impl Thresholds {
    fn slot(id: &B256) -> U256 {
        slot("ship.thresholds", &[id.as_slice()])
    }

    fn load(host: &mut dyn Host, id: &B256) -> Result<Self, Failure> {
        let word = host.sload(Self::slot(id))?;
        Ok(Self {
            set: field(word, 0, 8) != 0,
            min_temp: field(word, 8, 64) as i64,
            max_temp: field(word, 72, 64) as i64,
            max_shock: field(word, 136, 64) as i64,
        })
    }

    fn store(&self, host: &mut dyn Host, id: &B256) -> Result<(), Failure> {
        let word = U256::from(u8::from(self.set))
            | (U256::from(self.min_temp as u64) << 8usize)
            | (U256::from(self.max_temp as u64) << 72usize)
            | (U256::from(self.max_shock as u64) << 136usize);
        host.sstore(Self::slot(id), word)
    }

    /// The threshold `value` crosses, if any.
    fn crossed(&self, kind: u8, value: i64) -> Option<i64> {
        if !self.set {
            return None;
        }
        match kind {
            SENSOR_TEMPERATURE if value < self.min_temp => Some(self.min_temp),
            SENSOR_TEMPERATURE if value > self.max_temp => Some(self.max_temp),
            SENSOR_SHOCK if value > self.max_shock => Some(self.max_shock),
            _ => None,
        }
    }
}

/// Check that `legs` run contiguously from `start` to `end` with known modes
/// and positive distances; `start_reason` is the refusal when they start elsewhere.
fn validate_legs(
    legs: &[Leg],
    start: &FixedBytes<5>,
    end: &FixedBytes<5>,
    start_reason: &'static str,
) -> Result<(), Failure> {
    let (Some(first), Some(last)) = (legs.first(), legs.last()) else {
        return Err(Failure::reason("provenance: a route needs at least one leg"));
    };
    if legs.len() > MAX_LEGS {
        return Err(Failure::reason("provenance: too many legs"));
    }
    for leg in legs {
        if !is_locode(&leg.from) || !is_locode(&leg.to) {
            return Err(Failure::reason("provenance: legs must run between UN/LOCODEs"));
        }
        if emission_factor(leg.mode).is_none() {
            return Err(Failure::reason("provenance: unknown transport mode"));
        }
        if leg.distanceKm == 0 {
            return Err(Failure::reason("provenance: leg distance must be positive"));
        }
    }
    if first.from != *start {
        return Err(Failure::reason(start_reason));
    }
    if legs.windows(2).any(|pair| pair[0].to != pair[1].from) {
        return Err(Failure::reason("provenance: legs are not contiguous"));
    }
    if last.to != *end {
        return Err(Failure::reason("provenance: the last leg must end at the destination"));
    }
    Ok(())
}

/// A party's role; 0 when it is not registered or revoked.
fn role_of(host: &mut dyn Host, party: &Address) -> Result<u8, Failure> {
    let word = host.sload(slot("party.role", &[party.as_slice()]))?;
    if field(word, REVOKED_BIT, 1) != 0 {
        return Ok(0);
    }
    Ok(field(word, 0, 8) as u8)
}

fn party_revoked(host: &mut dyn Host, party: &Address) -> Result<bool, Failure> {
    Ok(field(host.sload(slot("party.role", &[party.as_slice()]))?, REVOKED_BIT, 1) != 0)
}

fn device_revoked(host: &mut dyn Host, key: &B256) -> Result<bool, Failure> {
    Ok(!host.sload(slot("device.revoked", &[key.as_slice()]))?.is_zero())
}

/// The embedded emissions of `weight_kg` of goods at `direct` + `indirect` kg
/// CO2e per tonne: weight × (direct + indirect) / 1,000, in kg (integer;
/// computed in 128 bits, and at most 2^65 / 1,000 so it fits in a u64).
pub fn embedded_total_kg(weight_kg: u32, direct: u32, indirect: u32) -> u64 {
    let total = u128::from(weight_kg) * (u128::from(direct) + u128::from(indirect)) / 1_000;
    u64::try_from(total).unwrap_or(u64::MAX)
}

/// A port-wide disruption as stored.
#[derive(Debug, Clone, Copy)]
struct Disruption {
    location: FixedBytes<5>,
    kind: u8,
    starts_at: u64,
    ends_at: u64,
}

impl Disruption {
    fn load(host: &mut dyn Host, id: u64) -> Result<Option<Self>, Failure> {
        let word = host.sload(slot("disr.meta", &[&id.to_be_bytes()]))?;
        if word.is_zero() {
            return Ok(None);
        }
        Ok(Some(Self {
            location: bits_location(field(word, 0, 40)),
            kind: field(word, 40, 8) as u8,
            starts_at: field(word, 48, 64),
            ends_at: field(word, 112, 64),
        }))
    }

    fn store(&self, host: &mut dyn Host, id: u64) -> Result<(), Failure> {
        let word = U256::from(location_bits(&self.location))
            | (U256::from(self.kind) << 40usize)
            | (U256::from(self.starts_at) << 48usize)
            | (U256::from(self.ends_at) << 112usize);
        host.sstore(slot("disr.meta", &[&id.to_be_bytes()]), word)
    }
}

/// The disruptions not yet over at the locations of `s`'s remaining legs.
fn disruptions_of(host: &mut dyn Host, s: &Shipment) -> Result<Vec<u64>, Failure> {
    let mut places: Vec<FixedBytes<5>> = Vec::new();
    for index in s.legs_done..s.leg_count {
        let leg = word_leg(host.sload(s.leg_slot(index))?);
        for place in [leg.from, leg.to] {
            if !places.contains(&place) {
                places.push(place);
            }
        }
    }
    let now = host.timestamp();
    let mut ids = Vec::new();
    for place in places {
        let n = load_u64(host, slot("loc.disr.n", &[place.as_slice()]))?;
        for i in n.saturating_sub(DISRUPTIONS_PER_LOCATION)..n {
            let id = load_u64(host, slot("loc.disr", &[place.as_slice(), &i.to_be_bytes()]))?;
            if Disruption::load(host, id)?.is_some_and(|d| d.ends_at > now) {
                ids.push(id);
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The distinct parties of a shipment who decide on a reroute: its shipper,
/// current custodian and consignee.
fn deciders(s: &Shipment) -> Vec<Address> {
    let mut out = vec![s.shipper];
    for party in [s.custodian, s.consignee] {
        if !out.contains(&party) {
            out.push(party);
        }
    }
    out
}

fn device_owner(host: &mut dyn Host, key: &B256) -> Result<Address, Failure> {
    Ok(word_address(host.sload(slot("device.owner", &[key.as_slice()]))?))
}

fn is_involved(host: &mut dyn Host, party: &Address, id: &B256) -> Result<bool, Failure> {
    Ok(host.sload(slot("party.ships.has", &[party.as_slice(), id.as_slice()]))? != U256::ZERO)
}

/// Add `id` to `party`'s shipments unless it is there already.
fn add_involved(host: &mut dyn Host, party: &Address, id: &B256) -> Result<(), Failure> {
    if is_involved(host, party, id)? {
        return Ok(());
    }
    host.sstore(slot("party.ships.has", &[party.as_slice(), id.as_slice()]), U256::from(1))?;
    let len_slot = slot("party.ships.len", &[party.as_slice()]);
    let len = load_u64(host, len_slot)?;
    store_word(host, slot("party.ships", &[party.as_slice(), &len.to_be_bytes()]), *id)?;
    let len = len.checked_add(1).ok_or_else(|| Failure::reason("provenance: too many shipments"))?;
    store_u64(host, len_slot, len)
}

fn shipments_of(host: &mut dyn Host, party: &Address) -> Result<Vec<B256>, Failure> {
    let len = load_u64(host, slot("party.ships.len", &[party.as_slice()]))?;
    (0..len).map(|i| load_word(host, slot("party.ships", &[party.as_slice(), &i.to_be_bytes()]))).collect()
}

/// A public key that decompresses to a curve point of large order.
fn valid_device_key(key: &B256) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(&key.0).ok().filter(|k| !k.is_weak())
}

/// Whether `signature` is `key`'s (strict) ed25519 signature of `digest`.
/// Charges [`ED25519_VERIFY_GAS`] first, which covers decompressing the key.
fn check_device_signature(host: &mut dyn Host, key: &B256, digest: &B256, signature: &[u8]) -> Result<(), Failure> {
    host.charge(ED25519_VERIFY_GAS)?;
    let Some(key) = valid_device_key(key) else {
        return Err(Failure::reason("provenance: invalid ed25519 public key"));
    };
    let signature =
        Signature::from_slice(signature).map_err(|_| Failure::reason("provenance: signature must be 64 bytes"))?;
    if key.verify_strict(digest.as_slice(), &signature).is_err() {
        return Err(Failure::reason("provenance: bad device signature"));
    }
    Ok(())
}

/// The shipment provenance module of one chain.
#[derive(Debug)]
pub struct Provenance {
    chain_hash: B256,
    admins: Vec<Address>,
}

impl Provenance {
    /// Build the module of the chain whose genesis hash is `chain_hash` from
    /// its genesis configuration: its administrators; it takes no settings.
    pub fn from_config(chain_hash: B256, config: &ModuleConfig) -> Result<Arc<dyn Chaincode>, String> {
        if !config.settings.is_null() && config.settings.as_object().is_none_or(|o| !o.is_empty()) {
            return Err("the provenance module takes no settings".into());
        }
        Ok(Arc::new(Self { chain_hash, admins: config.admins.clone() }))
    }

    /// The registry's constructor: the module needs the chain's genesis hash.
    pub(crate) fn registry_entry(
        chain_hash: Option<B256>,
        config: &ModuleConfig,
    ) -> Result<Arc<dyn Chaincode>, String> {
        let chain_hash = chain_hash.ok_or_else(|| {
            "the provenance module binds device signatures to the chain and needs its genesis hash \
             (build the registry with Registry::for_chain)"
                .to_string()
        })?;
        Self::from_config(chain_hash, config)
    }

    fn is_admin(&self, host: &mut dyn Host, who: &Address) -> Result<bool, Failure> {
        crate::permissions::is_module_admin(host, "provenance", who, &self.admins)
    }

    fn register_party(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IProvenance::registerPartyCall,
    ) -> Result<Bytes, Failure> {
        if !self.is_admin(host, caller)? {
            return Err(Failure::reason("provenance: caller is not a module administrator"));
        }
        if c.party.is_zero() {
            return Err(Failure::reason("provenance: party is the zero address"));
        }
        if !(ROLE_SHIPPER..=ROLE_CONSIGNEE).contains(&c.role) {
            return Err(Failure::reason("provenance: unknown role"));
        }
        let Some(name) = short_string(&c.name) else {
            return Err(Failure::reason("provenance: name must be at most 31 bytes"));
        };
        if role_of(host, &c.party)? != 0 {
            return Err(Failure::reason("provenance: party already registered"));
        }
        host.sstore(slot("party.role", &[c.party.as_slice()]), U256::from(c.role))?;
        host.sstore(slot("party.name", &[c.party.as_slice()]), name)?;
        emit(host, IProvenance::PartyRegistered { party: c.party, role: c.role, name: c.name })?;
        ok(Vec::new())
    }

    fn register_device(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IProvenance::registerDeviceCall,
    ) -> Result<Bytes, Failure> {
        if *caller != c.owner && !self.is_admin(host, caller)? {
            return Err(Failure::reason("provenance: only an administrator or the owner may register a device"));
        }
        if role_of(host, &c.owner)? == 0 {
            return Err(Failure::reason("provenance: device owner is not a registered party"));
        }
        if !device_owner(host, &c.deviceKey)?.is_zero() {
            return Err(Failure::reason("provenance: device already registered"));
        }
        // Proof of possession: the device signs its registration to this owner on this chain.
        let digest = device_registration_digest(&self.chain_hash, &c.deviceKey, &c.owner);
        check_device_signature(host, &c.deviceKey, &digest, &c.signature)?;
        host.sstore(slot("device.owner", &[c.deviceKey.as_slice()]), address_word(&c.owner))?;
        emit(host, IProvenance::DeviceRegistered { deviceKey: c.deviceKey, owner: c.owner })?;
        ok(Vec::new())
    }

    fn create_shipment(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IProvenance::createShipmentCall,
    ) -> Result<Bytes, Failure> {
        if role_of(host, caller)? != ROLE_SHIPPER {
            return Err(Failure::reason("provenance: caller is not a registered shipper"));
        }
        if role_of(host, &c.consignee)? != ROLE_CONSIGNEE {
            return Err(Failure::reason("provenance: consignee is not a registered consignee"));
        }
        if Shipment::load(host, &c.id)?.is_some() {
            return Err(Failure::reason("provenance: shipment exists"));
        }
        if !is_locode(&c.origin) || !is_locode(&c.destination) {
            return Err(Failure::reason("provenance: origin and destination must be UN/LOCODEs"));
        }
        if c.origin == c.destination {
            return Err(Failure::reason("provenance: origin and destination are the same"));
        }
        if c.hsCode == 0 {
            return Err(Failure::reason("provenance: HS code is required"));
        }
        if c.weightKg == 0 {
            return Err(Failure::reason("provenance: weight must be positive"));
        }
        validate_legs(&c.legs, &c.origin, &c.destination, "provenance: the first leg must start at the origin")?;
        let mut s = Shipment {
            id: c.id,
            shipper: *caller,
            status: STATUS_CREATED,
            customs: 0,
            consignee: c.consignee,
            custodian: *caller,
            pending_to: Address::ZERO,
            pending_location: FixedBytes::ZERO,
            origin: c.origin,
            destination: c.destination,
            location: c.origin,
            hs_code: c.hsCode,
            weight_kg: c.weightKg,
            leg_count: 0,
            legs_done: 0,
            trail_len: 0,
            created_at: host.timestamp(),
            delivered_at: 0,
            stored: [U256::ZERO; 6],
        };
        s.write_legs(host, 0, &c.legs)?;
        store_word(host, slot("ship.goods", &[c.id.as_slice()]), c.goodsHash)?;
        host.sstore(slot("ship.value", &[c.id.as_slice()]), c.declaredValue)?;
        s.append(
            host,
            Step { counterparty: c.consignee, detail: c.goodsHash, ..Step::new(TRAIL_CREATED, *caller, c.origin) },
        )?;
        s.save(host)?;
        add_involved(host, caller, &c.id)?;
        add_involved(host, &c.consignee, &c.id)?;
        emit(
            host,
            IProvenance::ShipmentCreated {
                id: c.id,
                shipper: *caller,
                consignee: c.consignee,
                origin: c.origin,
                destination: c.destination,
                goodsHash: c.goodsHash,
                hsCode: c.hsCode,
                declaredValue: c.declaredValue,
                weightKg: c.weightKg,
                legCount: s.leg_count,
            },
        )?;
        ok(Vec::new())
    }

    fn set_thresholds(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IProvenance::setThresholdsCall,
    ) -> Result<Bytes, Failure> {
        let s = Shipment::require(host, &c.id)?;
        if *caller != s.shipper {
            return Err(Failure::reason("provenance: only the shipper may set thresholds"));
        }
        s.require_not_delivered()?;
        if c.minTempCenti > c.maxTempCenti {
            return Err(Failure::reason("provenance: minimum temperature above maximum"));
        }
        if c.maxShockMilliG < 0 {
            return Err(Failure::reason("provenance: shock limit can't be negative"));
        }
        let thresholds =
            Thresholds { set: true, min_temp: c.minTempCenti, max_temp: c.maxTempCenti, max_shock: c.maxShockMilliG };
        thresholds.store(host, &c.id)?;
        emit(
            host,
            IProvenance::ThresholdsSet {
                id: c.id,
                minTempCenti: c.minTempCenti,
                maxTempCenti: c.maxTempCenti,
                maxShockMilliG: c.maxShockMilliG,
            },
        )?;
        ok(Vec::new())
    }

    fn hand_over(&self, host: &mut dyn Host, caller: &Address, c: IProvenance::handOverCall) -> Result<Bytes, Failure> {
        let mut s = Shipment::require(host, &c.id)?;
        s.require_not_delivered()?;
        if *caller != s.custodian {
            return Err(Failure::reason("provenance: caller is not the custodian"));
        }
        if s.customs == CUSTOMS_HELD {
            return Err(Failure::reason("provenance: held by customs until released"));
        }
        if !s.pending_to.is_zero() {
            return Err(Failure::reason("provenance: a shipment can't be in two places at once"));
        }
        if role_of(host, &c.to)? == 0 {
            return Err(Failure::reason("provenance: receiver is not a registered party"));
        }
        if c.to == s.custodian {
            return Err(Failure::reason("provenance: the custodian already holds the shipment"));
        }
        if !is_locode(&c.location) {
            return Err(Failure::reason("provenance: location must be a UN/LOCODE"));
        }
        s.pending_to = c.to;
        s.pending_location = c.location;
        s.append(host, Step { counterparty: c.to, ..Step::new(TRAIL_HAND_OVER_PROPOSED, *caller, c.location) })?;
        s.save(host)?;
        emit(host, IProvenance::HandOverProposed { id: c.id, from: *caller, to: c.to, location: c.location })?;
        ok(Vec::new())
    }

    fn cancel_hand_over(&self, host: &mut dyn Host, caller: &Address, id: &B256) -> Result<Bytes, Failure> {
        let mut s = Shipment::require(host, id)?;
        if s.pending_to.is_zero() {
            return Err(Failure::reason("provenance: no hand-off is pending"));
        }
        let counterparty = if *caller == s.custodian {
            s.pending_to
        } else if *caller == s.pending_to {
            s.custodian
        } else {
            return Err(Failure::reason("provenance: only the custodian or the receiver may cancel a hand-off"));
        };
        let to = s.pending_to;
        let location = s.pending_location;
        s.pending_to = Address::ZERO;
        s.pending_location = FixedBytes::ZERO;
        s.append(host, Step { counterparty, ..Step::new(TRAIL_HAND_OVER_CANCELLED, *caller, location) })?;
        s.save(host)?;
        emit(host, IProvenance::HandOverCancelled { id: *id, by: *caller, to })?;
        ok(Vec::new())
    }

    fn accept_custody(&self, host: &mut dyn Host, caller: &Address, id: &B256) -> Result<Bytes, Failure> {
        let mut s = Shipment::require(host, id)?;
        if s.pending_to.is_zero() {
            return Err(Failure::reason("provenance: no hand-off is pending"));
        }
        if *caller != s.pending_to {
            return Err(Failure::reason("provenance: caller is not the receiver of the hand-off"));
        }
        if s.customs == CUSTOMS_HELD {
            return Err(Failure::reason("provenance: held by customs until released"));
        }
        if role_of(host, caller)? == 0 {
            return Err(Failure::reason("provenance: receiver is not a registered party"));
        }
        let previous = s.custodian;
        let location = s.pending_location;
        s.custodian = *caller;
        s.location = location;
        s.pending_to = Address::ZERO;
        s.pending_location = FixedBytes::ZERO;
        // A leg is completed when custody changes hands at its end.
        for index in s.legs_done..s.leg_count {
            if word_leg(host.sload(s.leg_slot(index))?).to == location {
                // index < leg_count, so this does not overflow.
                s.legs_done = index.saturating_add(1);
                break;
            }
        }
        let delivered = *caller == s.consignee && location == s.destination;
        let kind = if delivered {
            s.status = STATUS_DELIVERED;
            s.delivered_at = host.timestamp();
            TRAIL_DELIVERED
        } else {
            s.status = STATUS_IN_TRANSIT;
            TRAIL_CUSTODY_ACCEPTED
        };
        s.append(host, Step { counterparty: previous, ..Step::new(kind, *caller, location) })?;
        s.save(host)?;
        add_involved(host, caller, id)?;
        emit(host, IProvenance::CustodyAccepted { id: *id, from: previous, to: *caller, location })?;
        if delivered {
            emit(host, IProvenance::Delivered { id: *id, consignee: *caller, location })?;
        }
        ok(IProvenance::acceptCustodyCall::abi_encode_returns(&s.status))
    }

    fn attest(&self, host: &mut dyn Host, c: IProvenance::attestCall) -> Result<Bytes, Failure> {
        let mut s = Shipment::require(host, &c.id)?;
        let owner = device_owner(host, &c.deviceKey)?;
        if owner.is_zero() {
            return Err(Failure::reason("provenance: unregistered device"));
        }
        if device_revoked(host, &c.deviceKey)? {
            return Err(Failure::reason("provenance: device revoked"));
        }
        if party_revoked(host, &owner)? {
            return Err(Failure::reason("provenance: device owner revoked"));
        }
        if !is_involved(host, &owner, &c.id)? {
            return Err(Failure::reason("provenance: device owner is not involved in the shipment"));
        }
        match c.kind {
            SENSOR_TEMPERATURE => {}
            SENSOR_SHOCK if c.value < 0 => return Err(Failure::reason("provenance: shock can't be negative")),
            SENSOR_SHOCK => {}
            SENSOR_GPS => {
                let (lat, lon) = (i64::from((c.value >> 32) as i32), i64::from(c.value as i32));
                if lat.abs() > MAX_LAT_E7 || lon.abs() > MAX_LON_E7 {
                    return Err(Failure::reason("provenance: GPS position out of range"));
                }
            }
            _ => return Err(Failure::reason("provenance: unknown sensor kind")),
        }
        if c.observedAt > host.timestamp() {
            return Err(Failure::reason("provenance: observation is in the future"));
        }
        if s.delivered() && c.observedAt > s.delivered_at {
            return Err(Failure::reason("provenance: observation after delivery"));
        }
        let digest = attestation_digest(&self.chain_hash, &c.id, &c.deviceKey, c.kind, c.value, c.observedAt);
        check_device_signature(host, &c.deviceKey, &digest, &c.signature)?;
        let seen_slot = slot("attest.seen", &[digest.as_slice()]);
        if host.sload(seen_slot)? != U256::ZERO {
            return Err(Failure::reason("provenance: attestation already recorded"));
        }
        host.sstore(seen_slot, U256::from(1))?;
        let crossed = Thresholds::load(host, &c.id)?.crossed(c.kind, c.value);
        if let Some(limit) = crossed {
            let location = s.location;
            s.append(
                host,
                Step {
                    code: c.kind,
                    value: c.value,
                    detail: c.deviceKey,
                    ..Step::new(TRAIL_EXCURSION, owner, location)
                },
            )?;
            s.save(host)?;
            emit(
                host,
                IProvenance::Excursion {
                    id: c.id,
                    deviceKey: c.deviceKey,
                    kind: c.kind,
                    value: c.value,
                    limit,
                    observedAt: c.observedAt,
                },
            )?;
        } else {
            emit(
                host,
                IProvenance::Attested {
                    id: c.id,
                    deviceKey: c.deviceKey,
                    kind: c.kind,
                    value: c.value,
                    observedAt: c.observedAt,
                },
            )?;
        }
        ok(IProvenance::attestCall::abi_encode_returns(&crossed.is_some()))
    }

    fn customs_update(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IProvenance::customsUpdateCall,
    ) -> Result<Bytes, Failure> {
        let mut s = Shipment::require(host, &c.id)?;
        if role_of(host, caller)? != ROLE_CUSTOMS {
            return Err(Failure::reason("provenance: caller is not a customs authority"));
        }
        s.require_not_delivered()?;
        if !(CUSTOMS_LODGED..=CUSTOMS_RELEASED).contains(&c.status) {
            return Err(Failure::reason("provenance: unknown customs status"));
        }
        let country = &s.location[..2];
        if host.sload(slot("customs.jur", &[caller.as_slice(), country]))?.is_zero() {
            return Err(Failure::reason(format!(
                "provenance: the customs authority has no jurisdiction in {}",
                String::from_utf8_lossy(country)
            )));
        }
        s.customs = c.status;
        let location = s.location;
        s.append(host, Step { code: c.status, detail: c.customsRef, ..Step::new(TRAIL_CUSTOMS, *caller, location) })?;
        s.save(host)?;
        emit(
            host,
            IProvenance::CustomsUpdated { id: c.id, authority: *caller, status: c.status, customsRef: c.customsRef },
        )?;
        ok(Vec::new())
    }

    fn flag_disruption(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IProvenance::flagDisruptionCall,
    ) -> Result<Bytes, Failure> {
        let mut s = Shipment::require(host, &c.id)?;
        let allowed = *caller == s.custodian
            || self.is_admin(host, caller)?
            || matches!(role_of(host, caller)?, ROLE_CARRIER | ROLE_PORT_OPERATOR);
        if !allowed {
            return Err(Failure::reason("provenance: caller may not report disruptions"));
        }
        s.require_not_delivered()?;
        if !(DISRUPTION_PORT_CLOSURE..=DISRUPTION_OTHER).contains(&c.kind) {
            return Err(Failure::reason("provenance: unknown disruption kind"));
        }
        if !is_locode(&c.location) {
            return Err(Failure::reason("provenance: location must be a UN/LOCODE"));
        }
        s.append(host, Step { code: c.kind, ..Step::new(TRAIL_DISRUPTION, *caller, c.location) })?;
        s.save(host)?;
        emit(host, IProvenance::Disrupted { id: c.id, reporter: *caller, kind: c.kind, location: c.location })?;
        ok(Vec::new())
    }

    fn reroute(&self, host: &mut dyn Host, caller: &Address, c: IProvenance::rerouteCall) -> Result<Bytes, Failure> {
        let mut s = Shipment::require(host, &c.id)?;
        if *caller != s.shipper && *caller != s.custodian {
            return Err(Failure::reason("provenance: only the shipper or the custodian may reroute"));
        }
        s.require_not_delivered()?;
        validate_legs(
            &c.newLegs,
            &s.location,
            &s.destination,
            "provenance: the new route must start at the current location",
        )?;
        let kept = usize::try_from(s.legs_done).unwrap_or(usize::MAX);
        if kept.saturating_add(c.newLegs.len()) > MAX_LEGS {
            return Err(Failure::reason("provenance: too many legs"));
        }
        let first = s.legs_done;
        s.write_legs(host, first, &c.newLegs)?;
        let location = s.location;
        // At most MAX_LEGS new legs, so the count fits in the code byte.
        let code = u8::try_from(c.newLegs.len()).unwrap_or(u8::MAX);
        s.append(host, Step { code, ..Step::new(TRAIL_REROUTED, *caller, location) })?;
        s.save(host)?;
        emit(host, IProvenance::Rerouted { id: c.id, by: *caller, from: location, legs: c.newLegs })?;
        ok(Vec::new())
    }

    fn set_customs_jurisdictions(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IProvenance::setCustomsJurisdictionsCall,
    ) -> Result<Bytes, Failure> {
        if !self.is_admin(host, caller)? {
            return Err(Failure::reason("provenance: caller is not a module administrator"));
        }
        if role_of(host, &c.authority)? != ROLE_CUSTOMS {
            return Err(Failure::reason("provenance: not a customs authority"));
        }
        if c.countries.len() > MAX_JURISDICTIONS {
            return Err(Failure::reason("provenance: at most 64 jurisdictions"));
        }
        if c.countries.iter().any(|cc| !cc.iter().all(u8::is_ascii_uppercase)) {
            return Err(Failure::reason("provenance: a jurisdiction is a country code of two upper-case letters"));
        }
        let a = c.authority.as_slice();
        let count_slot = slot("customs.jurs.n", &[a]);
        for i in 0..load_u64(host, count_slot)? {
            let list_slot = slot("customs.jurs", &[a, &i.to_be_bytes()]);
            let old = host.sload(list_slot)?.to_be_bytes::<32>();
            host.sstore(slot("customs.jur", &[a, &old[30..]]), U256::ZERO)?;
            host.sstore(list_slot, U256::ZERO)?;
        }
        for (i, cc) in c.countries.iter().enumerate() {
            host.sstore(slot("customs.jur", &[a, cc.as_slice()]), U256::from(1))?;
            host.sstore(slot("customs.jurs", &[a, &(i as u64).to_be_bytes()]), U256::from_be_slice(cc.as_slice()))?;
        }
        store_u64(host, count_slot, c.countries.len() as u64)?;
        emit(host, IProvenance::CustomsJurisdictionsSet { authority: c.authority, countries: c.countries })?;
        ok(Vec::new())
    }

    fn jurisdictions(&self, host: &mut dyn Host, authority: &Address) -> Result<Vec<FixedBytes<2>>, Failure> {
        let a = authority.as_slice();
        let n = load_u64(host, slot("customs.jurs.n", &[a]))?.min(MAX_JURISDICTIONS as u64);
        (0..n)
            .map(|i| {
                let word = host.sload(slot("customs.jurs", &[a, &i.to_be_bytes()]))?.to_be_bytes::<32>();
                Ok(FixedBytes::from_slice(&word[30..]))
            })
            .collect()
    }

    fn declare_embedded_emissions(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IProvenance::declareEmbeddedEmissionsCall,
    ) -> Result<Bytes, Failure> {
        let s = Shipment::require(host, &c.id)?;
        if *caller != s.shipper {
            return Err(Failure::reason("provenance: only the shipper declares embedded emissions"));
        }
        s.require_not_delivered()?;
        let meta_slot = slot("cbam.meta", &[c.id.as_slice()]);
        if !host.sload(meta_slot)?.is_zero() {
            return Err(Failure::reason("provenance: embedded emissions already declared"));
        }
        if c.installation.is_zero() {
            return Err(Failure::reason("provenance: the installation is required"));
        }
        let route = match short_string(&c.productionRoute) {
            Some(word) if !c.productionRoute.is_empty() => word,
            _ => return Err(Failure::reason("provenance: the production route must be 1 to 31 bytes")),
        };
        if !c.countryOfOrigin.iter().all(u8::is_ascii_uppercase) {
            return Err(Failure::reason("provenance: the country of origin is two upper-case letters"));
        }
        let total = embedded_total_kg(s.weight_kg, c.directKgPerTonne, c.indirectKgPerTonne);
        let meta = U256::from(1u8)
            | (U256::from_be_slice(c.countryOfOrigin.as_slice()) << 8usize)
            | (U256::from(c.directKgPerTonne) << 24usize)
            | (U256::from(c.indirectKgPerTonne) << 56usize);
        host.sstore(meta_slot, meta)?;
        store_word(host, slot("cbam.installation", &[c.id.as_slice()]), c.installation)?;
        host.sstore(slot("cbam.route", &[c.id.as_slice()]), route)?;
        emit(
            host,
            IProvenance::EmbeddedEmissionsDeclared {
                id: c.id,
                installation: c.installation,
                productionRoute: c.productionRoute,
                countryOfOrigin: c.countryOfOrigin,
                directKgPerTonne: c.directKgPerTonne,
                indirectKgPerTonne: c.indirectKgPerTonne,
                totalKg: total,
                by: *caller,
            },
        )?;
        ok(Vec::new())
    }

    fn embedded_emissions(
        &self,
        host: &mut dyn Host,
        id: &B256,
    ) -> Result<IProvenance::embeddedEmissionsReturn, Failure> {
        let s = Shipment::require(host, id)?;
        let meta = host.sload(slot("cbam.meta", &[id.as_slice()]))?;
        let (direct, indirect) = (field(meta, 24, 32) as u32, field(meta, 56, 32) as u32);
        let country = (field(meta, 8, 16) as u16).to_be_bytes();
        Ok(IProvenance::embeddedEmissionsReturn {
            declared: field(meta, 0, 1) != 0,
            installation: load_word(host, slot("cbam.installation", &[id.as_slice()]))?,
            productionRoute: from_short_string(host.sload(slot("cbam.route", &[id.as_slice()]))?),
            countryOfOrigin: FixedBytes::from(country),
            directKgPerTonne: direct,
            indirectKgPerTonne: indirect,
            totalKg: embedded_total_kg(s.weight_kg, direct, indirect),
        })
    }

    fn revoke_party(&self, host: &mut dyn Host, caller: &Address, party: &Address) -> Result<Bytes, Failure> {
        if !self.is_admin(host, caller)? {
            return Err(Failure::reason("provenance: caller is not a module administrator"));
        }
        let key = slot("party.role", &[party.as_slice()]);
        let word = host.sload(key)?;
        if field(word, 0, 8) == 0 {
            return Err(Failure::reason("provenance: not a registered party"));
        }
        if field(word, REVOKED_BIT, 1) != 0 {
            return Err(Failure::reason("provenance: party already revoked"));
        }
        host.sstore(key, word | (U256::from(1) << REVOKED_BIT))?;
        emit(host, IProvenance::PartyRevoked { party: *party, by: *caller })?;
        ok(Vec::new())
    }

    fn revoke_device(&self, host: &mut dyn Host, caller: &Address, key: &B256) -> Result<Bytes, Failure> {
        let owner = device_owner(host, key)?;
        if owner.is_zero() {
            return Err(Failure::reason("provenance: unregistered device"));
        }
        if *caller != owner && !self.is_admin(host, caller)? {
            return Err(Failure::reason("provenance: only an administrator or the owner may revoke a device"));
        }
        if device_revoked(host, key)? {
            return Err(Failure::reason("provenance: device revoked"));
        }
        host.sstore(slot("device.revoked", &[key.as_slice()]), U256::from(1))?;
        emit(host, IProvenance::DeviceRevoked { deviceKey: *key, by: *caller })?;
        ok(Vec::new())
    }

    fn declare_disruption(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IProvenance::declareDisruptionCall,
    ) -> Result<Bytes, Failure> {
        let allowed =
            matches!(role_of(host, caller)?, ROLE_CARRIER | ROLE_PORT_OPERATOR) || self.is_admin(host, caller)?;
        if !allowed {
            return Err(Failure::reason("provenance: caller may not declare disruptions"));
        }
        if !(DISRUPTION_PORT_CLOSURE..=DISRUPTION_OTHER).contains(&c.kind) {
            return Err(Failure::reason("provenance: unknown disruption kind"));
        }
        if !is_locode(&c.location) {
            return Err(Failure::reason("provenance: location must be a UN/LOCODE"));
        }
        if c.endsAt <= c.startsAt || c.endsAt <= host.timestamp() {
            return Err(Failure::reason("provenance: a disruption must end after it starts and in the future"));
        }
        let next_slot = slot("disr.next", &[]);
        let id = load_u64(host, next_slot)?
            .checked_add(1)
            .ok_or_else(|| Failure::reason("provenance: no more disruption ids"))?;
        store_u64(host, next_slot, id)?;
        Disruption { location: c.location, kind: c.kind, starts_at: c.startsAt, ends_at: c.endsAt }.store(host, id)?;
        host.sstore(slot("disr.reporter", &[&id.to_be_bytes()]), address_word(caller))?;
        let count_slot = slot("loc.disr.n", &[c.location.as_slice()]);
        let n = load_u64(host, count_slot)?;
        store_u64(host, slot("loc.disr", &[c.location.as_slice(), &n.to_be_bytes()]), id)?;
        store_u64(host, count_slot, n.saturating_add(1))?;
        emit(
            host,
            IProvenance::PortDisrupted {
                disruption: id,
                location: c.location,
                kind: c.kind,
                startsAt: c.startsAt,
                endsAt: c.endsAt,
                reporter: *caller,
            },
        )?;
        ok(IProvenance::declareDisruptionCall::abi_encode_returns(&id))
    }

    fn propose_reroute(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: IProvenance::proposeRerouteCall,
    ) -> Result<Bytes, Failure> {
        let mut s = Shipment::require(host, &c.id)?;
        s.require_not_delivered()?;
        if !deciders(&s).contains(caller) {
            return Err(Failure::reason(
                "provenance: only the shipper, the custodian or the consignee may propose a reroute",
            ));
        }
        let Some(disruption) = Disruption::load(host, c.disruption)? else {
            return Err(Failure::reason("provenance: unknown disruption"));
        };
        // In force, and at a place on the remaining route (one read per remaining leg).
        let mut on_route = false;
        for index in s.legs_done..s.leg_count {
            let leg = word_leg(host.sload(s.leg_slot(index))?);
            on_route |= leg.from == disruption.location || leg.to == disruption.location;
        }
        if disruption.ends_at <= host.timestamp() || !on_route {
            return Err(Failure::reason("provenance: the disruption does not affect this shipment"));
        }
        validate_legs(
            &c.newLegs,
            &s.location,
            &s.destination,
            "provenance: the new route must start at the current location",
        )?;
        if c.newLegs.iter().any(|l| l.from == disruption.location || l.to == disruption.location) {
            return Err(Failure::reason("provenance: the new route still passes through the disrupted location"));
        }
        let kept = usize::try_from(s.legs_done).unwrap_or(usize::MAX);
        if kept.saturating_add(c.newLegs.len()) > MAX_LEGS {
            return Err(Failure::reason("provenance: too many legs"));
        }
        let next_slot = slot("rr.next", &[]);
        let proposal = load_u64(host, next_slot)?
            .checked_add(1)
            .ok_or_else(|| Failure::reason("provenance: no more proposal ids"))?;
        store_u64(host, next_slot, proposal)?;
        let p = proposal.to_be_bytes();
        store_word(host, slot("rr.ship", &[&p]), c.id)?;
        store_u64(host, slot("rr.disr", &[&p]), c.disruption)?;
        store_u64(host, slot("rr.n", &[&p]), c.newLegs.len() as u64)?;
        for (i, leg) in c.newLegs.iter().enumerate() {
            host.sstore(slot("rr.leg", &[&p, &(i as u64).to_be_bytes()]), leg_word(leg))?;
        }
        store_u64(host, slot("rr.state", &[&p]), PROPOSAL_OPEN)?;
        let location = s.location;
        // At most MAX_LEGS new legs, so the count fits in the code byte.
        let code = u8::try_from(c.newLegs.len()).unwrap_or(u8::MAX);
        let detail = B256::from(U256::from(proposal));
        s.append(host, Step { code, detail, ..Step::new(TRAIL_REROUTE_PROPOSED, *caller, location) })?;
        s.save(host)?;
        emit(
            host,
            IProvenance::RerouteProposed { id: c.id, proposal, disruption: c.disruption, by: *caller, legs: c.newLegs },
        )?;
        self.approve_reroute(host, caller, &c.id, proposal)?;
        ok(IProvenance::proposeRerouteCall::abi_encode_returns(&proposal))
    }

    /// Record `caller`'s approval of `proposal`; apply it once more than half
    /// of the shipment's deciders have approved. Returns whether it applied.
    fn approve_reroute(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        id: &B256,
        proposal: u64,
    ) -> Result<bool, Failure> {
        let p = proposal.to_be_bytes();
        if load_word(host, slot("rr.ship", &[&p]))? != *id {
            return Err(Failure::reason("provenance: no such reroute proposal for this shipment"));
        }
        if load_u64(host, slot("rr.state", &[&p]))? != PROPOSAL_OPEN {
            return Err(Failure::reason("provenance: the reroute proposal is closed"));
        }
        let mut s = Shipment::require(host, id)?;
        s.require_not_delivered()?;
        let deciders = deciders(&s);
        if !deciders.contains(caller) {
            return Err(Failure::reason(
                "provenance: only the shipper, the custodian or the consignee may approve a reroute",
            ));
        }
        let own = slot("rr.ok", &[&p, caller.as_slice()]);
        if !host.sload(own)?.is_zero() {
            return Err(Failure::reason("provenance: already approved"));
        }
        host.sstore(own, U256::from(1))?;
        let mut approvals = 0u8;
        for party in &deciders {
            if !host.sload(slot("rr.ok", &[&p, party.as_slice()]))?.is_zero() {
                approvals += 1;
            }
        }
        // Deciders are at most three, so these fit.
        let needed = (deciders.len() / 2 + 1) as u8;
        emit(host, IProvenance::RerouteApproved { id: *id, proposal, by: *caller, approvals, needed })?;
        if approvals < needed {
            return Ok(false);
        }
        let n = load_u64(host, slot("rr.n", &[&p]))?;
        let mut legs = Vec::new();
        for i in 0..n.min(MAX_LEGS as u64) {
            legs.push(word_leg(host.sload(slot("rr.leg", &[&p, &i.to_be_bytes()]))?));
        }
        validate_legs(
            &legs,
            &s.location,
            &s.destination,
            "provenance: the shipment moved since this reroute was proposed",
        )?;
        if (s.legs_done as usize).saturating_add(legs.len()) > MAX_LEGS {
            return Err(Failure::reason("provenance: too many legs"));
        }
        let first = s.legs_done;
        s.write_legs(host, first, &legs)?;
        let location = s.location;
        let code = u8::try_from(legs.len()).unwrap_or(u8::MAX);
        s.append(host, Step { code, ..Step::new(TRAIL_REROUTED, *caller, location) })?;
        s.save(host)?;
        store_u64(host, slot("rr.state", &[&p]), PROPOSAL_APPLIED)?;
        emit(host, IProvenance::Rerouted { id: *id, by: *caller, from: location, legs })?;
        Ok(true)
    }

    fn carbon(&self, host: &mut dyn Host, id: &B256) -> Result<IProvenance::carbonReturn, Failure> {
        let s = Shipment::require(host, id)?;
        let mut per_leg = Vec::new();
        let mut total: u64 = 0;
        for leg in s.read_legs(host)? {
            let kg = leg_carbon_kg(leg.distanceKm, s.weight_kg, leg.mode)
                .ok_or_else(|| Failure::reason("provenance: unknown transport mode"))?;
            total = total.checked_add(kg).ok_or_else(|| Failure::reason("provenance: carbon total overflows"))?;
            per_leg.push(kg);
        }
        Ok(IProvenance::carbonReturn { perLegKg: per_leg, totalKg: total })
    }
}

impl Chaincode for Provenance {
    fn name(&self) -> &'static str {
        "provenance"
    }

    fn address(&self) -> Address {
        ADDRESS
    }

    fn interface(&self) -> &'static str {
        include_str!("../sol/IProvenance.sol")
    }

    fn call(&self, host: &mut dyn Host, call: &Call<'_>) -> Result<Bytes, Failure> {
        let decoded = crate::decode_call::<Calls>(host, call, "provenance", |c| {
            matches!(
                c,
                Calls::registerParty(_)
                    | Calls::registerDevice(_)
                    | Calls::createShipment(_)
                    | Calls::setThresholds(_)
                    | Calls::handOver(_)
                    | Calls::cancelHandOver(_)
                    | Calls::acceptCustody(_)
                    | Calls::attest(_)
                    | Calls::customsUpdate(_)
                    | Calls::flagDisruption(_)
                    | Calls::reroute(_)
                    | Calls::setCustomsJurisdictions(_)
                    | Calls::declareEmbeddedEmissions(_)
                    | Calls::revokeParty(_)
                    | Calls::revokeDevice(_)
                    | Calls::declareDisruption(_)
                    | Calls::proposeReroute(_)
                    | Calls::approveReroute(_)
            )
        })?;
        let caller = &call.caller;
        match decoded {
            Calls::registerParty(c) => self.register_party(host, caller, c),
            Calls::registerDevice(c) => self.register_device(host, caller, c),
            Calls::createShipment(c) => self.create_shipment(host, caller, c),
            Calls::setThresholds(c) => self.set_thresholds(host, caller, c),
            Calls::handOver(c) => self.hand_over(host, caller, c),
            Calls::cancelHandOver(c) => self.cancel_hand_over(host, caller, &c.id),
            Calls::acceptCustody(c) => self.accept_custody(host, caller, &c.id),
            Calls::attest(c) => self.attest(host, c),
            Calls::customsUpdate(c) => self.customs_update(host, caller, c),
            Calls::flagDisruption(c) => self.flag_disruption(host, caller, c),
            Calls::reroute(c) => self.reroute(host, caller, c),
            Calls::setCustomsJurisdictions(c) => self.set_customs_jurisdictions(host, caller, c),
            Calls::declareEmbeddedEmissions(c) => self.declare_embedded_emissions(host, caller, c),
            Calls::embeddedEmissions(c) => {
                ok(IProvenance::embeddedEmissionsCall::abi_encode_returns(&self.embedded_emissions(host, &c.id)?))
            }
            Calls::revokeParty(c) => self.revoke_party(host, caller, &c.party),
            Calls::revokeDevice(c) => self.revoke_device(host, caller, &c.deviceKey),
            Calls::declareDisruption(c) => self.declare_disruption(host, caller, c),
            Calls::proposeReroute(c) => self.propose_reroute(host, caller, c),
            Calls::approveReroute(c) => {
                let applied = self.approve_reroute(host, caller, &c.id, c.proposal)?;
                ok(IProvenance::approveRerouteCall::abi_encode_returns(&applied))
            }
            Calls::disruptionsOf(c) => {
                let s = Shipment::require(host, &c.id)?;
                ok(IProvenance::disruptionsOfCall::abi_encode_returns(&disruptions_of(host, &s)?))
            }
            Calls::disruption(c) => {
                let d = Disruption::load(host, c.disruptionId)?
                    .ok_or_else(|| Failure::reason("provenance: unknown disruption"))?;
                let reporter = word_address(host.sload(slot("disr.reporter", &[&c.disruptionId.to_be_bytes()]))?);
                ok(IProvenance::disruptionCall::abi_encode_returns(&IProvenance::disruptionReturn {
                    location: d.location,
                    kind: d.kind,
                    startsAt: d.starts_at,
                    endsAt: d.ends_at,
                    reporter,
                }))
            }
            Calls::customsJurisdictions(c) => {
                ok(IProvenance::customsJurisdictionsCall::abi_encode_returns(&self.jurisdictions(host, &c.authority)?))
            }
            Calls::isRevoked(c) => {
                let out = IProvenance::isRevokedReturn {
                    partyRevoked: party_revoked(host, &c.party)?,
                    deviceRevoked: device_revoked(host, &c.deviceKey)?,
                };
                ok(IProvenance::isRevokedCall::abi_encode_returns(&out))
            }
            Calls::shipmentsPage(c) => {
                let party = c.party.as_slice();
                let total = load_u64(host, slot("party.ships.len", &[party]))?;
                let limit: u64 = c.limit.saturating_to();
                if limit == 0 || limit > MAX_PAGE {
                    return Err(Failure::reason("provenance: limit must be 1 to 1,000"));
                }
                let start = c.offset.saturating_to::<u64>().min(total);
                let mut ids = Vec::new();
                for i in start..start.saturating_add(limit).min(total) {
                    ids.push(load_word(host, slot("party.ships", &[party, &i.to_be_bytes()]))?);
                }
                let out = IProvenance::shipmentsPageReturn { ids, total: U256::from(total) };
                ok(IProvenance::shipmentsPageCall::abi_encode_returns(&out))
            }
            Calls::shipment(c) => {
                let s = Shipment::require(host, &c.id)?;
                let out = IProvenance::shipmentReturn {
                    shipper: s.shipper,
                    consignee: s.consignee,
                    origin: s.origin,
                    destination: s.destination,
                    goodsHash: load_word(host, slot("ship.goods", &[c.id.as_slice()]))?,
                    hsCode: s.hs_code,
                    declaredValue: host.sload(slot("ship.value", &[c.id.as_slice()]))?,
                    weightKg: s.weight_kg,
                    custodian: s.custodian,
                    pendingTo: s.pending_to,
                    status: s.status,
                    customsStatus: s.customs,
                    legCount: s.leg_count,
                    trailLength: s.trail_len,
                };
                ok(IProvenance::shipmentCall::abi_encode_returns(&out))
            }
            Calls::progress(c) => {
                let s = Shipment::require(host, &c.id)?;
                ok(IProvenance::progressCall::abi_encode_returns(&IProvenance::progressReturn {
                    location: s.location,
                    legsCompleted: s.legs_done,
                    createdAt: s.created_at,
                    deliveredAt: s.delivered_at,
                }))
            }
            Calls::thresholds(c) => {
                Shipment::require(host, &c.id)?;
                let t = Thresholds::load(host, &c.id)?;
                ok(IProvenance::thresholdsCall::abi_encode_returns(&IProvenance::thresholdsReturn {
                    set: t.set,
                    minTempCenti: t.min_temp,
                    maxTempCenti: t.max_temp,
                    maxShockMilliG: t.max_shock,
                }))
            }
            Calls::legs(c) => {
                let s = Shipment::require(host, &c.id)?;
                ok(IProvenance::legsCall::abi_encode_returns(&s.read_legs(host)?))
            }
            Calls::trail(c) => {
                let s = Shipment::require(host, &c.id)?;
                ok(IProvenance::trailCall::abi_encode_returns(&s.read_trail(host)?))
            }
            Calls::carbon(c) => ok(IProvenance::carbonCall::abi_encode_returns(&self.carbon(host, &c.id)?)),
            Calls::shipmentsOf(c) => {
                ok(IProvenance::shipmentsOfCall::abi_encode_returns(&shipments_of(host, &c.party)?))
            }
            Calls::isDelivered(c) => {
                let delivered = Shipment::load(host, &c.id)?.is_some_and(|s| s.delivered());
                ok(IProvenance::isDeliveredCall::abi_encode_returns(&delivered))
            }
            Calls::partyOf(c) => {
                let role = role_of(host, &c.party)?;
                let name = from_short_string(host.sload(slot("party.name", &[c.party.as_slice()]))?);
                ok(IProvenance::partyOfCall::abi_encode_returns(&IProvenance::partyOfReturn { role, name }))
            }
            Calls::deviceOwner(c) => {
                ok(IProvenance::deviceOwnerCall::abi_encode_returns(&device_owner(host, &c.deviceKey)?))
            }
            Calls::attestationDigest(c) => {
                let digest = attestation_digest(&self.chain_hash, &c.id, &c.deviceKey, c.kind, c.value, c.observedAt);
                ok(IProvenance::attestationDigestCall::abi_encode_returns(&digest))
            }
            Calls::registrationDigest(c) => {
                let digest = device_registration_digest(&self.chain_hash, &c.deviceKey, &c.owner);
                ok(IProvenance::registrationDigestCall::abi_encode_returns(&digest))
            }
        }
    }
}

#[cfg(test)]
mod tests;
