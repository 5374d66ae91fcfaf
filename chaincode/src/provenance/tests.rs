use super::*;
use crate::testing::MemoryHost;
use alloy::sol_types::SolError;
use alloy_primitives::keccak256;
use ed25519_dalek::{Signer, SigningKey};

const ADMIN: Address = Address::repeat_byte(0xad);
const SHIPPER: Address = Address::repeat_byte(0x51);
const CARRIER: Address = Address::repeat_byte(0xca);
const PORT: Address = Address::repeat_byte(0x90);
const CUSTOMS: Address = Address::repeat_byte(0xc5);
const CONSIGNEE: Address = Address::repeat_byte(0xc0);
const STRANGER: Address = Address::repeat_byte(0x02);

/// The genesis hash of the test chain.
const CHAIN: B256 = B256::repeat_byte(0xc4);
const ID: B256 = B256::repeat_byte(0x11);
const GOODS: B256 = B256::repeat_byte(0x60);
const WEIGHT_KG: u32 = 12_000;

fn loc(code: &str) -> FixedBytes<5> {
    FixedBytes::from_slice(code.as_bytes())
}

fn leg(from: &str, to: &str, mode: u8, distance_km: u32) -> Leg {
    Leg { from: loc(from), to: loc(to), mode, distanceKm: distance_km }
}

/// The planned route of the test shipment: Shanghai by sea to Rotterdam, then
/// by road to Düsseldorf.
fn route() -> Vec<Leg> {
    vec![leg("CNSHA", "NLRTM", MODE_SEA, 19_000), leg("NLRTM", "DEDUS", MODE_ROAD, 230)]
}

fn create_call(id: B256, legs: Vec<Leg>) -> IProvenance::createShipmentCall {
    IProvenance::createShipmentCall {
        id,
        consignee: CONSIGNEE,
        origin: loc("CNSHA"),
        destination: loc("DEDUS"),
        goodsHash: GOODS,
        hsCode: 847_130,
        declaredValue: U256::from(25_000_000u64),
        weightKg: WEIGHT_KG,
        legs,
    }
}

fn reason(f: Failure) -> String {
    match f {
        Failure::Revert(data) => alloy::sol_types::Revert::abi_decode(&data).map(|r| r.reason).unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

fn device() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn device_key(key: &SigningKey) -> B256 {
    B256::from(key.verifying_key().to_bytes())
}

/// `key`'s registration to `owner` on `chain`, signed by the device.
fn registration_on(chain: &B256, key: &SigningKey, owner: Address) -> IProvenance::registerDeviceCall {
    let device_key = device_key(key);
    let digest = device_registration_digest(chain, &device_key, &owner);
    IProvenance::registerDeviceCall {
        deviceKey: device_key,
        owner,
        signature: key.sign(digest.as_slice()).to_vec().into(),
    }
}

/// `key`'s registration to `owner` on the test chain.
fn registration(key: &SigningKey, owner: Address) -> IProvenance::registerDeviceCall {
    registration_on(&CHAIN, key, owner)
}

/// A module with every kind of party registered, and a host.
struct World {
    m: Arc<dyn Chaincode>,
    host: MemoryHost,
}

impl World {
    fn new() -> Self {
        let m = Provenance::from_config(CHAIN, &ModuleConfig { admins: vec![ADMIN], ..Default::default() }).unwrap();
        let mut world = Self { m, host: MemoryHost::new() };
        for (party, role, name) in [
            (SHIPPER, ROLE_SHIPPER, "Shanghai Exports Ltd"),
            (CARRIER, ROLE_CARRIER, "Blue Ocean Lines"),
            (PORT, ROLE_PORT_OPERATOR, "Rotterdam Terminal"),
            (CUSTOMS, ROLE_CUSTOMS, "NL Customs"),
            (CONSIGNEE, ROLE_CONSIGNEE, "Rhein Retail GmbH"),
        ] {
            world.ok(ADMIN, &IProvenance::registerPartyCall { party, role, name: name.into() });
        }
        world
    }

    /// With the test shipment created by the shipper.
    fn with_shipment() -> Self {
        let mut world = Self::new();
        world.ok(SHIPPER, &create_call(ID, route()));
        world
    }

    fn send<C: SolCall>(&mut self, who: Address, call: &C) -> Result<Bytes, String> {
        self.host.call(self.m.as_ref(), who, &call.abi_encode()).map_err(reason)
    }

    fn ok<C: SolCall>(&mut self, who: Address, call: &C) -> Bytes {
        self.send(who, call).unwrap_or_else(|e| panic!("{}: {e}", C::SIGNATURE))
    }

    fn err<C: SolCall>(&mut self, who: Address, call: &C) -> String {
        match self.send(who, call) {
            Ok(_) => panic!("{} succeeded", C::SIGNATURE),
            Err(e) => e,
        }
    }

    fn hand(&mut self, from: Address, to: Address, at: &str) {
        self.host.timestamp += 3_600;
        self.ok(from, &IProvenance::handOverCall { id: ID, to, location: loc(at) });
        self.host.timestamp += 600;
        self.ok(to, &IProvenance::acceptCustodyCall { id: ID });
    }

    /// Set a customs authority's jurisdictions (as the administrator).
    fn jurisdictions(&mut self, authority: Address, countries: &[&str]) {
        let countries = countries.iter().map(|c| FixedBytes::from_slice(c.as_bytes())).collect();
        self.ok(ADMIN, &IProvenance::setCustomsJurisdictionsCall { authority, countries });
    }

    fn shipment(&mut self, id: B256) -> IProvenance::shipmentReturn {
        let out = self.ok(STRANGER, &IProvenance::shipmentCall { id });
        IProvenance::shipmentCall::abi_decode_returns(&out).unwrap()
    }

    fn trail(&mut self, id: B256) -> Vec<TrailEntry> {
        let out = self.ok(STRANGER, &IProvenance::trailCall { id });
        IProvenance::trailCall::abi_decode_returns(&out).unwrap()
    }

    fn legs(&mut self, id: B256) -> Vec<Leg> {
        let out = self.ok(STRANGER, &IProvenance::legsCall { id });
        IProvenance::legsCall::abi_decode_returns(&out).unwrap()
    }

    fn carbon(&mut self, id: B256) -> (Vec<u64>, u64) {
        let out = self.ok(STRANGER, &IProvenance::carbonCall { id });
        let r = IProvenance::carbonCall::abi_decode_returns(&out).unwrap();
        (r.perLegKg, r.totalKg)
    }

    fn shipments_of(&mut self, party: Address) -> Vec<B256> {
        let out = self.ok(STRANGER, &IProvenance::shipmentsOfCall { party });
        IProvenance::shipmentsOfCall::abi_decode_returns(&out).unwrap()
    }

    fn is_delivered(&mut self, id: B256) -> bool {
        let out = self.ok(STRANGER, &IProvenance::isDeliveredCall { id });
        IProvenance::isDeliveredCall::abi_decode_returns(&out).unwrap()
    }

    /// The last log, checked to be a `E` about shipment `id`.
    fn last_log<E: SolEvent>(&self, id: B256) -> E {
        let (topics, data) = self.host.logs.last().unwrap();
        assert_eq!(topics[0], E::SIGNATURE_HASH, "expected {}", E::SIGNATURE);
        assert_eq!(topics[1], id, "the shipment id is the first indexed topic");
        E::decode_raw_log(topics.iter().copied(), data).unwrap()
    }

    /// Sign and build an attestation by `key`.
    fn attestation(key: &SigningKey, kind: u8, value: i64, observed_at: u64) -> IProvenance::attestCall {
        Self::attestation_on(&CHAIN, key, kind, value, observed_at)
    }

    /// Sign and build an attestation by `key` for the chain `chain`.
    fn attestation_on(
        chain: &B256,
        key: &SigningKey,
        kind: u8,
        value: i64,
        observed_at: u64,
    ) -> IProvenance::attestCall {
        let device_key = device_key(key);
        let digest = attestation_digest(chain, &ID, &device_key, kind, value, observed_at);
        let signature = key.sign(digest.as_slice()).to_bytes().to_vec().into();
        IProvenance::attestCall { id: ID, deviceKey: device_key, kind, value, observedAt: observed_at, signature }
    }
}

#[test]
fn settings_must_be_empty() {
    let null = ModuleConfig { admins: vec![ADMIN], ..Default::default() };
    let m = Provenance::from_config(CHAIN, &null).unwrap();
    assert_eq!((m.name(), m.address()), ("provenance", ADDRESS));
    assert!(m.interface().contains("interface IProvenance"));
    let empty = ModuleConfig { settings: serde_json::json!({}), ..Default::default() };
    assert!(Provenance::from_config(CHAIN, &empty).is_ok());
    for settings in [serde_json::json!({ "factor": 1 }), serde_json::json!([]), serde_json::json!("x")] {
        let config = ModuleConfig { settings, ..Default::default() };
        assert_eq!(Provenance::from_config(CHAIN, &config).unwrap_err(), "the provenance module takes no settings");
    }
}

#[test]
fn the_registry_builds_the_module_only_for_a_chain() {
    let config = || [("provenance", ModuleConfig { admins: vec![ADMIN], ..Default::default() })];
    let err = crate::Registry::new(config()).unwrap_err().to_string();
    assert!(err.contains("provenance") && err.contains("genesis hash"), "{err}");
    let registry = crate::Registry::for_chain(CHAIN, config()).unwrap();
    let m = registry.get(&ADDRESS).unwrap().clone();
    // The registry's module signs over the chain it was built for.
    let mut host = MemoryHost::new();
    let view = IProvenance::registrationDigestCall { deviceKey: B256::repeat_byte(1), owner: SHIPPER };
    let out = host.call(m.as_ref(), STRANGER, &view.abi_encode()).unwrap();
    assert_eq!(
        IProvenance::registrationDigestCall::abi_decode_returns(&out).unwrap(),
        device_registration_digest(&CHAIN, &B256::repeat_byte(1), &SHIPPER)
    );
}

#[test]
fn locodes_are_two_letters_then_three_letters_or_digits_2_to_9() {
    for good in ["NLRTM", "CNSHA", "USNYC", "DE2AB", "GB9ZZ", "FR299"] {
        assert!(is_locode(&loc(good)), "{good}");
    }
    for bad in ["nlrtm", "NLRT1", "NLRT0", "N1RTM", "12RTM", "NL RT", "NL-RT", "NLrtm"] {
        assert!(!is_locode(&loc(bad)), "{bad}");
    }
    assert!(!is_locode(&FixedBytes::ZERO));
}

#[test]
fn parties_are_registered_once_with_one_role_by_admins() {
    let mut w = World::new();
    let out = w.ok(STRANGER, &IProvenance::partyOfCall { party: PORT });
    let party = IProvenance::partyOfCall::abi_decode_returns(&out).unwrap();
    assert_eq!((party.role, party.name.as_str()), (ROLE_PORT_OPERATOR, "Rotterdam Terminal"));
    let out = w.ok(STRANGER, &IProvenance::partyOfCall { party: STRANGER });
    let nobody = IProvenance::partyOfCall::abi_decode_returns(&out).unwrap();
    assert_eq!((nobody.role, nobody.name.as_str()), (0, ""));
    let (topics, _) = w.host.logs.last().unwrap();
    assert_eq!(topics[0], IProvenance::PartyRegistered::SIGNATURE_HASH);

    let register =
        |party: Address, role: u8, name: &str| IProvenance::registerPartyCall { party, role, name: name.into() };
    assert_eq!(
        w.err(SHIPPER, &register(STRANGER, ROLE_CARRIER, "Me")),
        "provenance: caller is not a module administrator"
    );
    assert_eq!(w.err(ADMIN, &register(STRANGER, 0, "Nobody")), "provenance: unknown role");
    assert_eq!(w.err(ADMIN, &register(STRANGER, 6, "Nobody")), "provenance: unknown role");
    assert_eq!(
        w.err(ADMIN, &register(STRANGER, ROLE_CARRIER, &"n".repeat(32))),
        "provenance: name must be at most 31 bytes"
    );
    assert_eq!(w.err(ADMIN, &register(Address::ZERO, ROLE_CARRIER, "Zero")), "provenance: party is the zero address");
    assert_eq!(
        w.err(ADMIN, &register(CARRIER, ROLE_CONSIGNEE, "Second role")),
        "provenance: party already registered",
        "a party has exactly one role"
    );
    w.ok(ADMIN, &register(STRANGER, ROLE_CARRIER, &"n".repeat(31)));
}

#[test]
fn devices_are_valid_keys_bound_to_registered_parties() {
    let mut w = World::new();
    let key = device_key(&device());
    let register = |key: B256, owner: Address| IProvenance::registerDeviceCall {
        deviceKey: key,
        owner,
        signature: vec![0u8; 64].into(),
    };
    assert_eq!(
        w.err(STRANGER, &registration(&device(), SHIPPER)),
        "provenance: only an administrator or the owner may register a device"
    );
    assert_eq!(
        w.err(STRANGER, &registration(&device(), STRANGER)),
        "provenance: device owner is not a registered party"
    );
    assert_eq!(w.err(ADMIN, &registration(&device(), STRANGER)), "provenance: device owner is not a registered party");
    // A y coordinate that is not on the curve, and the identity (a small-order point).
    let off_curve = (2u8..)
        .map(|b| {
            let mut k = [0u8; 32];
            k[0] = b;
            k
        })
        .find(|k| VerifyingKey::from_bytes(k).is_err())
        .unwrap();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for bad in [off_curve, identity] {
        assert_eq!(w.err(SHIPPER, &register(B256::from(bad), SHIPPER)), "provenance: invalid ed25519 public key");
    }
    w.ok(SHIPPER, &registration(&device(), SHIPPER));
    let (topics, _) = w.host.logs.last().unwrap();
    assert_eq!((topics[0], topics[1]), (IProvenance::DeviceRegistered::SIGNATURE_HASH, key));
    assert_eq!(w.err(ADMIN, &registration(&device(), CARRIER)), "provenance: device already registered");
    let other = SigningKey::from_bytes(&[8u8; 32]);
    w.ok(ADMIN, &registration(&other, CARRIER));
    let out = w.ok(STRANGER, &IProvenance::deviceOwnerCall { deviceKey: device_key(&other) });
    assert_eq!(IProvenance::deviceOwnerCall::abi_decode_returns(&out).unwrap(), CARRIER);
}

#[test]
fn a_device_proves_it_holds_its_key_to_be_registered() {
    let mut w = World::new();
    let victim = device();
    let thief = SigningKey::from_bytes(&[9u8; 32]);
    // The carrier tries to register the shipper's device key as its own: it
    // can't sign for the key, so whatever it signs with is refused.
    let mut stolen = registration(&thief, CARRIER);
    stolen.deviceKey = device_key(&victim);
    assert_eq!(w.err(CARRIER, &stolen), "provenance: bad device signature");
    // A signature by the device for another owner, another chain or over
    // nothing proves nothing either.
    let mut for_shipper = registration(&victim, SHIPPER);
    for_shipper.owner = CARRIER;
    assert_eq!(w.err(CARRIER, &for_shipper), "provenance: bad device signature");
    let other_chain = registration_on(&B256::repeat_byte(0x0c), &victim, CARRIER);
    assert_eq!(w.err(CARRIER, &other_chain), "provenance: bad device signature");
    let zeros = IProvenance::registerDeviceCall { signature: vec![0u8; 64].into(), ..registration(&victim, CARRIER) };
    assert_eq!(w.err(CARRIER, &zeros), "provenance: bad device signature");
    let short = IProvenance::registerDeviceCall { signature: vec![1u8; 63].into(), ..registration(&victim, CARRIER) };
    assert_eq!(w.err(CARRIER, &short), "provenance: signature must be 64 bytes");
    assert!(w.host.gas_used > crate::DISPATCH_GAS + ED25519_VERIFY_GAS, "the check is charged: {}", w.host.gas_used);
    let out = w.ok(STRANGER, &IProvenance::deviceOwnerCall { deviceKey: device_key(&victim) });
    assert_eq!(IProvenance::deviceOwnerCall::abi_decode_returns(&out).unwrap(), Address::ZERO);

    // The device's own signature registers it, and the digest is the one the module publishes.
    let view = IProvenance::registrationDigestCall { deviceKey: device_key(&victim), owner: SHIPPER };
    let out = w.ok(STRANGER, &view);
    assert_eq!(
        IProvenance::registrationDigestCall::abi_decode_returns(&out).unwrap(),
        device_registration_digest(&CHAIN, &device_key(&victim), &SHIPPER)
    );
    w.ok(SHIPPER, &registration(&victim, SHIPPER));
    let out = w.ok(STRANGER, &IProvenance::deviceOwnerCall { deviceKey: device_key(&victim) });
    assert_eq!(IProvenance::deviceOwnerCall::abi_decode_returns(&out).unwrap(), SHIPPER);
}

#[test]
fn a_registration_signature_is_charged_before_it_is_checked() {
    let mut w = World::new();
    let forged =
        IProvenance::registerDeviceCall { signature: vec![0u8; 64].into(), ..registration(&device(), SHIPPER) };
    let call = forged.abi_encode();
    // Dispatch, calldata, and two reads (the owner's role, the device's owner) come first.
    let before_check = crate::DISPATCH_GAS + crate::gas::calldata_gas(call.len()) + 2 * 2_100;
    w.host.gas_limit = before_check + ED25519_VERIFY_GAS - 1;
    assert_eq!(w.host.call(w.m.as_ref(), SHIPPER, &call).unwrap_err(), Failure::OutOfGas, "not checked unpaid");
    w.host.gas_limit = before_check + ED25519_VERIFY_GAS;
    assert_eq!(reason(w.host.call(w.m.as_ref(), SHIPPER, &call).unwrap_err()), "provenance: bad device signature");
    assert_eq!(w.host.gas_used, before_check + ED25519_VERIFY_GAS);
}

#[test]
fn shipments_are_created_by_shippers_with_contiguous_routes() {
    let mut w = World::new();
    let good = create_call(ID, route());
    assert_eq!(w.err(CARRIER, &good), "provenance: caller is not a registered shipper");
    assert_eq!(w.err(STRANGER, &good), "provenance: caller is not a registered shipper");
    let to_carrier = IProvenance::createShipmentCall { consignee: CARRIER, ..good.clone() };
    assert_eq!(w.err(SHIPPER, &to_carrier), "provenance: consignee is not a registered consignee");

    let mut bad_origin = create_call(ID, vec![leg("CNSH1", "NLRTM", MODE_SEA, 1), leg("NLRTM", "DEDUS", MODE_ROAD, 1)]);
    bad_origin.origin = loc("CNSH1");
    assert_eq!(w.err(SHIPPER, &bad_origin), "provenance: origin and destination must be UN/LOCODEs");
    let lower = IProvenance::createShipmentCall { destination: loc("dedus"), ..good.clone() };
    assert_eq!(w.err(SHIPPER, &lower), "provenance: origin and destination must be UN/LOCODEs");
    let same = IProvenance::createShipmentCall { destination: loc("CNSHA"), ..good.clone() };
    assert_eq!(w.err(SHIPPER, &same), "provenance: origin and destination are the same");
    let no_hs = IProvenance::createShipmentCall { hsCode: 0, ..good.clone() };
    assert_eq!(w.err(SHIPPER, &no_hs), "provenance: HS code is required");
    let weightless = IProvenance::createShipmentCall { weightKg: 0, ..good.clone() };
    assert_eq!(w.err(SHIPPER, &weightless), "provenance: weight must be positive");

    let routes: Vec<(Vec<Leg>, &str)> = vec![
        (vec![], "provenance: a route needs at least one leg"),
        (
            vec![leg("CNSHA", "SGSIN", MODE_SEA, 3_800), leg("NLRTM", "DEDUS", MODE_ROAD, 230)],
            "provenance: legs are not contiguous",
        ),
        (
            vec![leg("CNNGB", "NLRTM", MODE_SEA, 19_000), leg("NLRTM", "DEDUS", MODE_ROAD, 230)],
            "provenance: the first leg must start at the origin",
        ),
        (vec![leg("CNSHA", "NLRTM", MODE_SEA, 19_000)], "provenance: the last leg must end at the destination"),
        (
            vec![leg("CNSHA", "NLRTM", MODE_SEA, 0), leg("NLRTM", "DEDUS", MODE_ROAD, 230)],
            "provenance: leg distance must be positive",
        ),
        (
            vec![leg("CNSHA", "NLRTM", 0, 19_000), leg("NLRTM", "DEDUS", MODE_ROAD, 230)],
            "provenance: unknown transport mode",
        ),
        (
            vec![leg("CNSHA", "NLRTM", MODE_SEA, 19_000), leg("NLRTM", "DEDUS", 6, 230)],
            "provenance: unknown transport mode",
        ),
        (
            vec![leg("CNSHA", "NLRT0", MODE_SEA, 19_000), leg("NLRT0", "DEDUS", MODE_ROAD, 230)],
            "provenance: legs must run between UN/LOCODEs",
        ),
    ];
    for (legs, expected) in routes {
        assert_eq!(w.err(SHIPPER, &create_call(ID, legs)), expected);
    }
    let mut long = vec![leg("CNSHA", "CNSHA", MODE_ROAD, 1); MAX_LEGS];
    long.push(leg("CNSHA", "DEDUS", MODE_AIR, 8_000));
    assert_eq!(w.err(SHIPPER, &create_call(ID, long)), "provenance: too many legs");

    assert_eq!(w.err(SHIPPER, &IProvenance::shipmentCall { id: ID }), "provenance: unknown shipment");
    w.ok(SHIPPER, &good);
    assert_eq!(w.err(SHIPPER, &good), "provenance: shipment exists");

    let s = w.shipment(ID);
    assert_eq!((s.shipper, s.consignee, s.custodian, s.pendingTo), (SHIPPER, CONSIGNEE, SHIPPER, Address::ZERO));
    assert_eq!((s.origin, s.destination, s.goodsHash), (loc("CNSHA"), loc("DEDUS"), GOODS));
    assert_eq!((s.hsCode, s.declaredValue, s.weightKg), (847_130, U256::from(25_000_000u64), WEIGHT_KG));
    assert_eq!((s.status, s.customsStatus, s.legCount, s.trailLength), (STATUS_CREATED, 0, 2, 1));
    assert_eq!(w.legs(ID), route());
    let created = w.last_log::<IProvenance::ShipmentCreated>(ID);
    assert_eq!((created.shipper, created.consignee, created.legCount), (SHIPPER, CONSIGNEE, 2));
    let trail = w.trail(ID);
    assert_eq!(trail.len(), 1);
    assert_eq!((trail[0].seq, trail[0].kind, trail[0].actor), (1, TRAIL_CREATED, SHIPPER));
    assert_eq!((trail[0].counterparty, trail[0].location, trail[0].detail), (CONSIGNEE, loc("CNSHA"), GOODS));
    assert_eq!(trail[0].timestamp, w.host.timestamp);
    assert!(!w.is_delivered(ID));
}

#[test]
fn full_journey_ends_delivered_with_the_trail_in_order() {
    let mut w = World::with_shipment();
    let start = w.host.timestamp;

    w.hand(SHIPPER, CARRIER, "CNSHA");
    let s = w.shipment(ID);
    assert_eq!((s.custodian, s.status), (CARRIER, STATUS_IN_TRANSIT));
    w.hand(CARRIER, PORT, "NLRTM");
    w.hand(PORT, CARRIER, "NLRTM");
    let out = w.ok(STRANGER, &IProvenance::progressCall { id: ID });
    let p = IProvenance::progressCall::abi_decode_returns(&out).unwrap();
    assert_eq!((p.location, p.legsCompleted, p.createdAt, p.deliveredAt), (loc("NLRTM"), 1, start, 0));
    assert!(!w.is_delivered(ID));

    w.host.timestamp += 3_600;
    w.ok(CARRIER, &IProvenance::handOverCall { id: ID, to: CONSIGNEE, location: loc("DEDUS") });
    w.host.timestamp += 600;
    let out = w.ok(CONSIGNEE, &IProvenance::acceptCustodyCall { id: ID });
    assert_eq!(IProvenance::acceptCustodyCall::abi_decode_returns(&out).unwrap(), STATUS_DELIVERED);
    let delivered = w.last_log::<IProvenance::Delivered>(ID);
    assert_eq!((delivered.consignee, delivered.location), (CONSIGNEE, loc("DEDUS")));
    let (topics, data) = &w.host.logs[w.host.logs.len() - 2];
    let accepted = IProvenance::CustodyAccepted::decode_raw_log(topics.iter().copied(), data).unwrap();
    assert_eq!((accepted.from, accepted.to), (CARRIER, CONSIGNEE));

    assert!(w.is_delivered(ID));
    let s = w.shipment(ID);
    assert_eq!((s.custodian, s.pendingTo, s.status, s.trailLength), (CONSIGNEE, Address::ZERO, STATUS_DELIVERED, 9));
    let out = w.ok(STRANGER, &IProvenance::progressCall { id: ID });
    let p = IProvenance::progressCall::abi_decode_returns(&out).unwrap();
    assert_eq!((p.location, p.legsCompleted, p.deliveredAt), (loc("DEDUS"), 2, w.host.timestamp));

    let trail = w.trail(ID);
    let expected = [
        (TRAIL_CREATED, SHIPPER, CONSIGNEE, "CNSHA"),
        (TRAIL_HAND_OVER_PROPOSED, SHIPPER, CARRIER, "CNSHA"),
        (TRAIL_CUSTODY_ACCEPTED, CARRIER, SHIPPER, "CNSHA"),
        (TRAIL_HAND_OVER_PROPOSED, CARRIER, PORT, "NLRTM"),
        (TRAIL_CUSTODY_ACCEPTED, PORT, CARRIER, "NLRTM"),
        (TRAIL_HAND_OVER_PROPOSED, PORT, CARRIER, "NLRTM"),
        (TRAIL_CUSTODY_ACCEPTED, CARRIER, PORT, "NLRTM"),
        (TRAIL_HAND_OVER_PROPOSED, CARRIER, CONSIGNEE, "DEDUS"),
        (TRAIL_DELIVERED, CONSIGNEE, CARRIER, "DEDUS"),
    ];
    assert_eq!(trail.len(), expected.len());
    for (i, (entry, (kind, actor, counterparty, at))) in trail.iter().zip(expected).enumerate() {
        assert_eq!(entry.seq, i as u64 + 1);
        assert_eq!((entry.kind, entry.actor, entry.counterparty, entry.location), (kind, actor, counterparty, loc(at)));
    }
    assert_eq!(trail[0].timestamp, start);
    assert!(trail.windows(2).all(|p| p[0].timestamp < p[1].timestamp), "block timestamps in order");
    assert_eq!(trail[8].timestamp, w.host.timestamp);

    // A delivered shipment is closed.
    let again = IProvenance::handOverCall { id: ID, to: CARRIER, location: loc("DEDUS") };
    assert_eq!(w.err(CONSIGNEE, &again), "provenance: shipment already delivered");
    let customs = IProvenance::customsUpdateCall { id: ID, status: CUSTOMS_HELD, customsRef: B256::ZERO };
    assert_eq!(w.err(CUSTOMS, &customs), "provenance: shipment already delivered");
    let reroute = IProvenance::rerouteCall { id: ID, newLegs: vec![leg("DEDUS", "DEDUS", MODE_ROAD, 1)] };
    assert_eq!(w.err(SHIPPER, &reroute), "provenance: shipment already delivered");
    let disruption = IProvenance::flagDisruptionCall { id: ID, kind: DISRUPTION_STRIKE, location: loc("DEDUS") };
    assert_eq!(w.err(ADMIN, &disruption), "provenance: shipment already delivered");
    let thresholds = IProvenance::setThresholdsCall { id: ID, minTempCenti: 0, maxTempCenti: 1, maxShockMilliG: 1 };
    assert_eq!(w.err(SHIPPER, &thresholds), "provenance: shipment already delivered");
    assert_eq!(w.err(CONSIGNEE, &IProvenance::acceptCustodyCall { id: ID }), "provenance: no hand-off is pending");
}

#[test]
fn hand_offs_take_two_steps_and_only_the_right_parties() {
    let mut w = World::with_shipment();
    let hand = |to: Address, at: &str| IProvenance::handOverCall { id: ID, to, location: loc(at) };
    let accept = IProvenance::acceptCustodyCall { id: ID };
    let cancel = IProvenance::cancelHandOverCall { id: ID };

    assert_eq!(w.err(CARRIER, &hand(CARRIER, "CNSHA")), "provenance: caller is not the custodian");
    assert_eq!(w.err(CARRIER, &accept), "provenance: no hand-off is pending");
    assert_eq!(w.err(SHIPPER, &cancel), "provenance: no hand-off is pending");
    assert_eq!(w.err(SHIPPER, &hand(STRANGER, "CNSHA")), "provenance: receiver is not a registered party");
    assert_eq!(w.err(SHIPPER, &hand(SHIPPER, "CNSHA")), "provenance: the custodian already holds the shipment");
    assert_eq!(w.err(SHIPPER, &hand(CARRIER, "CN SH")), "provenance: location must be a UN/LOCODE");
    let unknown = IProvenance::handOverCall { id: B256::repeat_byte(9), to: CARRIER, location: loc("CNSHA") };
    assert_eq!(w.err(SHIPPER, &unknown), "provenance: unknown shipment");

    w.ok(SHIPPER, &hand(CARRIER, "CNSHA"));
    let proposed = w.last_log::<IProvenance::HandOverProposed>(ID);
    assert_eq!((proposed.from, proposed.to, proposed.location), (SHIPPER, CARRIER, loc("CNSHA")));
    assert_eq!(w.shipment(ID).pendingTo, CARRIER);
    assert_eq!(w.err(SHIPPER, &hand(PORT, "CNSHA")), "provenance: a shipment can't be in two places at once");
    assert_eq!(w.err(PORT, &accept), "provenance: caller is not the receiver of the hand-off");
    assert_eq!(w.err(SHIPPER, &accept), "provenance: caller is not the receiver of the hand-off");
    assert_eq!(w.err(PORT, &cancel), "provenance: only the custodian or the receiver may cancel a hand-off");
    assert_eq!(w.shipment(ID).custodian, SHIPPER, "custody changes only on acceptance");

    // The receiver declines; the custodian proposes again, then withdraws.
    w.ok(CARRIER, &cancel);
    let cancelled = w.last_log::<IProvenance::HandOverCancelled>(ID);
    assert_eq!((cancelled.by, cancelled.to), (CARRIER, CARRIER));
    assert_eq!(w.err(CARRIER, &accept), "provenance: no hand-off is pending");
    w.ok(SHIPPER, &hand(PORT, "CNSHA"));
    w.ok(SHIPPER, &cancel);
    let trail = w.trail(ID);
    let kinds: Vec<_> = trail.iter().map(|e| (e.kind, e.actor, e.counterparty)).collect();
    assert_eq!(
        kinds,
        vec![
            (TRAIL_CREATED, SHIPPER, CONSIGNEE),
            (TRAIL_HAND_OVER_PROPOSED, SHIPPER, CARRIER),
            (TRAIL_HAND_OVER_CANCELLED, CARRIER, SHIPPER),
            (TRAIL_HAND_OVER_PROPOSED, SHIPPER, PORT),
            (TRAIL_HAND_OVER_CANCELLED, SHIPPER, PORT),
        ]
    );

    // The consignee taking custody away from the destination is not a delivery.
    w.ok(SHIPPER, &hand(CONSIGNEE, "NLRTM"));
    let out = w.ok(CONSIGNEE, &accept);
    assert_eq!(IProvenance::acceptCustodyCall::abi_decode_returns(&out).unwrap(), STATUS_IN_TRANSIT);
    assert!(!w.is_delivered(ID));
    assert_eq!(w.trail(ID).last().unwrap().kind, TRAIL_CUSTODY_ACCEPTED);
    assert_eq!(w.err(SHIPPER, &hand(CARRIER, "NLRTM")), "provenance: caller is not the custodian");
}

#[test]
fn attestations_are_signed_by_registered_devices_and_excursions_recorded() {
    let mut w = World::with_shipment();
    let key = device();
    let now = w.host.timestamp;

    let unsigned = World::attestation(&key, SENSOR_TEMPERATURE, 500, now);
    assert_eq!(w.err(STRANGER, &unsigned), "provenance: unregistered device");
    // A carrier's device may not report on a shipment the carrier never held.
    let carrier_key = SigningKey::from_bytes(&[8u8; 32]);
    w.ok(CARRIER, &registration(&carrier_key, CARRIER));
    assert_eq!(
        w.err(STRANGER, &World::attestation(&carrier_key, SENSOR_TEMPERATURE, 500, now)),
        "provenance: device owner is not involved in the shipment"
    );
    w.ok(SHIPPER, &registration(&key, SHIPPER));

    // Until thresholds are set, no reading is an excursion.
    let out = w.ok(STRANGER, &World::attestation(&key, SENSOR_TEMPERATURE, 3_000, now));
    assert!(!IProvenance::attestCall::abi_decode_returns(&out).unwrap());
    assert!(w.host.gas_used > crate::DISPATCH_GAS + ED25519_VERIFY_GAS);
    let attested = w.last_log::<IProvenance::Attested>(ID);
    assert_eq!((attested.kind, attested.value, attested.observedAt), (SENSOR_TEMPERATURE, 3_000, now));

    // Thresholds: shipper only, consistent.
    let set = |min: i64, max: i64, shock: i64| IProvenance::setThresholdsCall {
        id: ID,
        minTempCenti: min,
        maxTempCenti: max,
        maxShockMilliG: shock,
    };
    assert_eq!(w.err(CARRIER, &set(200, 800, 5_000)), "provenance: only the shipper may set thresholds");
    assert_eq!(w.err(SHIPPER, &set(800, 200, 5_000)), "provenance: minimum temperature above maximum");
    assert_eq!(w.err(SHIPPER, &set(200, 800, -1)), "provenance: shock limit can't be negative");
    w.ok(SHIPPER, &set(200, 800, 5_000));
    w.last_log::<IProvenance::ThresholdsSet>(ID);
    let out = w.ok(STRANGER, &IProvenance::thresholdsCall { id: ID });
    let t = IProvenance::thresholdsCall::abi_decode_returns(&out).unwrap();
    assert_eq!((t.set, t.minTempCenti, t.maxTempCenti, t.maxShockMilliG), (true, 200, 800, 5_000));

    // In range: Attested, no trail entry.
    let trail_before = w.shipment(ID).trailLength;
    for (kind, value) in [(SENSOR_TEMPERATURE, 200), (SENSOR_TEMPERATURE, 800), (SENSOR_SHOCK, 5_000)] {
        let out = w.ok(STRANGER, &World::attestation(&key, kind, value, now));
        assert!(!IProvenance::attestCall::abi_decode_returns(&out).unwrap());
        w.last_log::<IProvenance::Attested>(ID);
    }
    let gps = (i64::from(519_244_000i32) << 32) | i64::from(44_777_000u32);
    w.ok(STRANGER, &World::attestation(&key, SENSOR_GPS, gps, now));
    assert_eq!(w.last_log::<IProvenance::Attested>(ID).value, gps);
    assert_eq!(w.shipment(ID).trailLength, trail_before);

    // Out of range: Excursion, with the limit crossed, and a trail entry.
    for (kind, value, limit) in
        [(SENSOR_TEMPERATURE, 950, 800), (SENSOR_TEMPERATURE, -150, 200), (SENSOR_SHOCK, 6_000, 5_000)]
    {
        let out = w.ok(STRANGER, &World::attestation(&key, kind, value, now - 60));
        assert!(IProvenance::attestCall::abi_decode_returns(&out).unwrap());
        let excursion = w.last_log::<IProvenance::Excursion>(ID);
        assert_eq!((excursion.kind, excursion.value, excursion.limit), (kind, value, limit));
        assert_eq!(excursion.deviceKey, device_key(&key));
        let entry = w.trail(ID).pop().unwrap();
        assert_eq!((entry.kind, entry.actor, entry.code, entry.value), (TRAIL_EXCURSION, SHIPPER, kind, value));
        assert_eq!((entry.detail, entry.location), (device_key(&key), loc("CNSHA")));
    }
    assert_eq!(w.shipment(ID).trailLength, trail_before + 3);

    // Refusals.
    let replay = World::attestation(&key, SENSOR_TEMPERATURE, 950, now - 60);
    assert_eq!(w.err(STRANGER, &replay), "provenance: attestation already recorded");
    let mut forged = World::attestation(&key, SENSOR_TEMPERATURE, 500, now);
    forged.value = 450;
    assert_eq!(w.err(STRANGER, &forged), "provenance: bad device signature");
    let mut by_other_key = World::attestation(&carrier_key, SENSOR_TEMPERATURE, 500, now);
    by_other_key.deviceKey = device_key(&key);
    assert_eq!(w.err(STRANGER, &by_other_key), "provenance: bad device signature");
    let mut short = World::attestation(&key, SENSOR_TEMPERATURE, 500, now);
    short.signature = vec![0u8; 63].into();
    assert_eq!(w.err(STRANGER, &short), "provenance: signature must be 64 bytes");
    assert_eq!(w.err(STRANGER, &World::attestation(&key, 4, 1, now)), "provenance: unknown sensor kind");
    assert_eq!(
        w.err(STRANGER, &World::attestation(&key, SENSOR_SHOCK, -1, now)),
        "provenance: shock can't be negative"
    );
    let off_globe = i64::from(910_000_000i32) << 32;
    assert_eq!(
        w.err(STRANGER, &World::attestation(&key, SENSOR_GPS, off_globe, now)),
        "provenance: GPS position out of range"
    );
    assert_eq!(
        w.err(STRANGER, &World::attestation(&key, SENSOR_TEMPERATURE, 500, now + 1)),
        "provenance: observation is in the future"
    );
    let mut unknown = World::attestation(&key, SENSOR_TEMPERATURE, 500, now);
    unknown.id = B256::repeat_byte(9);
    assert_eq!(w.err(STRANGER, &unknown), "provenance: unknown shipment");

    // Once the carrier holds the goods, its devices may report.
    w.hand(SHIPPER, CARRIER, "CNSHA");
    w.ok(STRANGER, &World::attestation(&carrier_key, SENSOR_TEMPERATURE, 500, w.host.timestamp));
}

#[test]
fn readings_of_a_delivered_shipment_must_predate_delivery() {
    let mut w = World::with_shipment();
    let key = device();
    w.ok(SHIPPER, &registration(&key, SHIPPER));
    w.hand(SHIPPER, CARRIER, "CNSHA");
    w.hand(CARRIER, CONSIGNEE, "DEDUS");
    let delivered_at = w.host.timestamp;
    w.host.timestamp += 86_400;
    let late = World::attestation(&key, SENSOR_TEMPERATURE, 500, delivered_at + 1);
    assert_eq!(w.err(STRANGER, &late), "provenance: observation after delivery");
    w.ok(STRANGER, &World::attestation(&key, SENSOR_TEMPERATURE, 500, delivered_at - 7_200));
}

#[test]
fn the_signed_message_is_the_abi_encoded_attestation() {
    let mut w = World::new();
    let key = B256::repeat_byte(0x4b);
    // abi.encode(keccak256("dsec.provenance.attestation.v2"), chainHash, address(module), id, deviceKey,
    // uint8 kind, int64 value, uint64 observedAt), by hand.
    let mut encoded = Vec::new();
    encoded.extend_from_slice(keccak256("dsec.provenance.attestation.v2").as_slice());
    encoded.extend_from_slice(CHAIN.as_slice());
    encoded.extend_from_slice(&[0u8; 12]);
    encoded.extend_from_slice(ADDRESS.as_slice());
    encoded.extend_from_slice(ID.as_slice());
    encoded.extend_from_slice(key.as_slice());
    encoded.extend_from_slice(&U256::from(SENSOR_TEMPERATURE).to_be_bytes::<32>());
    encoded.extend_from_slice(&[0xff; 31]);
    encoded.push(0x83); // -125, sign-extended
    encoded.extend_from_slice(&U256::from(1_700_000_000u64).to_be_bytes::<32>());
    let expected = keccak256(&encoded);
    assert_eq!(attestation_digest(&CHAIN, &ID, &key, SENSOR_TEMPERATURE, -125, 1_700_000_000), expected);
    let view = IProvenance::attestationDigestCall {
        id: ID,
        deviceKey: key,
        kind: SENSOR_TEMPERATURE,
        value: -125,
        observedAt: 1_700_000_000,
    };
    let out = w.ok(STRANGER, &view);
    assert_eq!(IProvenance::attestationDigestCall::abi_decode_returns(&out).unwrap(), expected);

    // abi.encode(keccak256("dsec.provenance.device.v1"), chainHash, address(module), deviceKey, owner), by hand.
    let mut encoded = Vec::new();
    encoded.extend_from_slice(keccak256("dsec.provenance.device.v1").as_slice());
    encoded.extend_from_slice(CHAIN.as_slice());
    encoded.extend_from_slice(&[0u8; 12]);
    encoded.extend_from_slice(ADDRESS.as_slice());
    encoded.extend_from_slice(key.as_slice());
    encoded.extend_from_slice(&[0u8; 12]);
    encoded.extend_from_slice(SHIPPER.as_slice());
    assert_eq!(device_registration_digest(&CHAIN, &key, &SHIPPER), keccak256(&encoded));
}

#[test]
fn an_attestation_signature_is_charged_before_it_is_checked() {
    let mut w = World::with_shipment();
    w.ok(SHIPPER, &registration(&device(), SHIPPER));
    let mut forged = World::attestation(&device(), SENSOR_TEMPERATURE, 500, w.host.timestamp);
    forged.value = 501;
    let call = forged.abi_encode();
    // Dispatch, calldata, and ten reads (the shipment's six words, the device's owner, whether the device
    // and its owner are revoked, the owner's involvement).
    let before_check = crate::DISPATCH_GAS + crate::gas::calldata_gas(call.len()) + 10 * 2_100;
    w.host.gas_limit = before_check + ED25519_VERIFY_GAS - 1;
    assert_eq!(w.host.call(w.m.as_ref(), STRANGER, &call).unwrap_err(), Failure::OutOfGas, "not checked unpaid");
    w.host.gas_limit = before_check + ED25519_VERIFY_GAS;
    assert_eq!(reason(w.host.call(w.m.as_ref(), STRANGER, &call).unwrap_err()), "provenance: bad device signature");
    assert_eq!(w.host.gas_used, before_check + ED25519_VERIFY_GAS);
}

#[test]
fn an_attestation_signed_for_another_chain_is_refused() {
    // The same device is registered, by its owner, on two chains with the same parties and shipment.
    let other_chain = B256::repeat_byte(0x0c);
    let mut here = World::with_shipment();
    let key = device();
    here.ok(SHIPPER, &registration(&key, SHIPPER));
    let now = here.host.timestamp;
    let signed_elsewhere = World::attestation_on(&other_chain, &key, SENSOR_TEMPERATURE, 500, now);
    assert_eq!(here.err(STRANGER, &signed_elsewhere), "provenance: bad device signature");
    here.ok(STRANGER, &World::attestation(&key, SENSOR_TEMPERATURE, 500, now));

    let config = ModuleConfig { admins: vec![ADMIN], ..Default::default() };
    let mut there = World { m: Provenance::from_config(other_chain, &config).unwrap(), host: here.host.clone() };
    // Same state (a fork of this chain's storage), another chain: this chain's reading does not verify there.
    assert_eq!(
        there.err(STRANGER, &World::attestation(&key, SENSOR_TEMPERATURE, 600, now)),
        "provenance: bad device signature"
    );
    there.ok(STRANGER, &World::attestation_on(&other_chain, &key, SENSOR_TEMPERATURE, 600, now));
}

#[test]
fn customs_decisions_come_from_customs_authorities() {
    let mut w = World::with_shipment();
    let update = |status: u8| IProvenance::customsUpdateCall { id: ID, status, customsRef: B256::repeat_byte(0xde) };
    assert_eq!(w.err(CARRIER, &update(CUSTOMS_LODGED)), "provenance: caller is not a customs authority");
    assert_eq!(w.err(ADMIN, &update(CUSTOMS_LODGED)), "provenance: caller is not a customs authority");
    assert_eq!(w.err(CUSTOMS, &update(0)), "provenance: unknown customs status");
    assert_eq!(w.err(CUSTOMS, &update(4)), "provenance: unknown customs status");
    let unknown = IProvenance::customsUpdateCall { id: B256::repeat_byte(9), status: 1, customsRef: B256::ZERO };
    assert_eq!(w.err(CUSTOMS, &unknown), "provenance: unknown shipment");
    // Bound to its jurisdictions: the shipment is in China (CNSHA).
    assert_eq!(w.err(CUSTOMS, &update(CUSTOMS_LODGED)), "provenance: the customs authority has no jurisdiction in CN");
    w.jurisdictions(CUSTOMS, &["NL", "DE"]);
    assert_eq!(w.err(CUSTOMS, &update(CUSTOMS_LODGED)), "provenance: the customs authority has no jurisdiction in CN");
    w.jurisdictions(CUSTOMS, &["CN"]);
    for status in [CUSTOMS_LODGED, CUSTOMS_HELD, CUSTOMS_RELEASED] {
        w.ok(CUSTOMS, &update(status));
        let event = w.last_log::<IProvenance::CustomsUpdated>(ID);
        assert_eq!((event.authority, event.status, event.customsRef), (CUSTOMS, status, B256::repeat_byte(0xde)));
        assert_eq!(w.shipment(ID).customsStatus, status);
    }
    let entry = w.trail(ID).pop().unwrap();
    assert_eq!((entry.kind, entry.actor, entry.code), (TRAIL_CUSTOMS, CUSTOMS, CUSTOMS_RELEASED));
    assert_eq!((entry.detail, entry.location), (B256::repeat_byte(0xde), loc("CNSHA")));
}

#[test]
fn disruptions_come_from_custodians_carriers_ports_or_admins() {
    let mut w = World::with_shipment();
    let flag = |kind: u8, at: &str| IProvenance::flagDisruptionCall { id: ID, kind, location: loc(at) };
    assert_eq!(w.err(STRANGER, &flag(DISRUPTION_WEATHER, "CNSHA")), "provenance: caller may not report disruptions");
    assert_eq!(w.err(CONSIGNEE, &flag(DISRUPTION_WEATHER, "CNSHA")), "provenance: caller may not report disruptions");
    assert_eq!(w.err(CUSTOMS, &flag(DISRUPTION_WEATHER, "CNSHA")), "provenance: caller may not report disruptions");
    assert_eq!(w.err(SHIPPER, &flag(0, "CNSHA")), "provenance: unknown disruption kind");
    assert_eq!(w.err(SHIPPER, &flag(5, "CNSHA")), "provenance: unknown disruption kind");
    assert_eq!(w.err(SHIPPER, &flag(DISRUPTION_OTHER, "CNSH0")), "provenance: location must be a UN/LOCODE");

    w.ok(SHIPPER, &flag(DISRUPTION_WEATHER, "CNSHA")); // the custodian
    w.hand(SHIPPER, CARRIER, "CNSHA");
    assert_eq!(
        w.err(SHIPPER, &flag(DISRUPTION_WEATHER, "CNSHA")),
        "provenance: caller may not report disruptions",
        "the shipper is no longer the custodian"
    );
    w.ok(PORT, &flag(DISRUPTION_PORT_CLOSURE, "NLRTM"));
    let event = w.last_log::<IProvenance::Disrupted>(ID);
    assert_eq!((event.reporter, event.kind, event.location), (PORT, DISRUPTION_PORT_CLOSURE, loc("NLRTM")));
    w.ok(CARRIER, &flag(DISRUPTION_STRIKE, "NLRTM"));
    w.ok(ADMIN, &flag(DISRUPTION_OTHER, "SGSIN"));
    let disruptions: Vec<_> =
        w.trail(ID).into_iter().filter(|e| e.kind == TRAIL_DISRUPTION).map(|e| (e.actor, e.code, e.location)).collect();
    assert_eq!(
        disruptions,
        vec![
            (SHIPPER, DISRUPTION_WEATHER, loc("CNSHA")),
            (PORT, DISRUPTION_PORT_CLOSURE, loc("NLRTM")),
            (CARRIER, DISRUPTION_STRIKE, loc("NLRTM")),
            (ADMIN, DISRUPTION_OTHER, loc("SGSIN")),
        ]
    );
}

#[test]
fn reroutes_replace_the_remaining_legs_from_the_current_location() {
    let mut w = World::with_shipment();
    let reroute = |legs: Vec<Leg>| IProvenance::rerouteCall { id: ID, newLegs: legs };

    // Before any hand-off the route starts at the origin.
    let via_antwerp = vec![leg("CNSHA", "BEANR", MODE_SEA, 19_500), leg("BEANR", "DEDUS", MODE_INLAND_WATERWAY, 280)];
    assert_eq!(
        w.err(CARRIER, &reroute(via_antwerp.clone())),
        "provenance: only the shipper or the custodian may reroute"
    );
    w.ok(SHIPPER, &reroute(via_antwerp.clone()));
    assert_eq!(w.legs(ID), via_antwerp);
    let event = w.last_log::<IProvenance::Rerouted>(ID);
    assert_eq!((event.by, event.from, event.legs.clone()), (SHIPPER, loc("CNSHA"), via_antwerp));
    w.ok(SHIPPER, &reroute(route()));

    // In Rotterdam, with the sea leg done, the port reroutes the rest by rail then road.
    w.hand(SHIPPER, CARRIER, "CNSHA");
    w.hand(CARRIER, PORT, "NLRTM");
    // MAX_LEGS contiguous legs would fit a new shipment, but not after the completed sea leg.
    let mut too_long = vec![leg("NLRTM", "NLRTM", MODE_ROAD, 1); MAX_LEGS - 1];
    too_long.push(leg("NLRTM", "DEDUS", MODE_ROAD, 230));
    let checks: Vec<(Vec<Leg>, &str)> = vec![
        (vec![], "provenance: a route needs at least one leg"),
        (vec![leg("CNSHA", "DEDUS", MODE_ROAD, 900)], "provenance: the new route must start at the current location"),
        (
            vec![leg("NLRTM", "DEDUI", MODE_RAIL, 200), leg("DEDUS", "DEDUS", MODE_ROAD, 10)],
            "provenance: legs are not contiguous",
        ),
        (vec![leg("NLRTM", "DEHAM", MODE_RAIL, 480)], "provenance: the last leg must end at the destination"),
        (vec![leg("NLRTM", "DEDUS", MODE_RAIL, 0)], "provenance: leg distance must be positive"),
        (vec![leg("NLRTM", "DEDUS", 9, 200)], "provenance: unknown transport mode"),
        (too_long, "provenance: too many legs"),
    ];
    for (legs, expected) in checks {
        assert_eq!(w.err(PORT, &reroute(legs)), expected);
    }
    assert_eq!(w.err(STRANGER, &reroute(route())), "provenance: only the shipper or the custodian may reroute");
    let rest = vec![leg("NLRTM", "DEDUI", MODE_RAIL, 210), leg("DEDUI", "DEDUS", MODE_ROAD, 30)];
    w.ok(PORT, &reroute(rest.clone()));
    let mut expected = vec![route()[0].clone()];
    expected.extend(rest);
    assert_eq!(w.legs(ID), expected, "the completed sea leg is kept");
    assert_eq!(w.shipment(ID).legCount, 3);
    let entry = w.trail(ID).pop().unwrap();
    assert_eq!((entry.kind, entry.actor, entry.code, entry.location), (TRAIL_REROUTED, PORT, 2, loc("NLRTM")));

    // The shipper may reroute too, and the journey completes on the new route.
    w.ok(SHIPPER, &reroute(vec![leg("NLRTM", "DEDUS", MODE_ROAD, 230)]));
    assert_eq!(w.legs(ID), route());
    w.hand(PORT, CARRIER, "NLRTM");
    w.hand(CARRIER, CONSIGNEE, "DEDUS");
    assert!(w.is_delivered(ID));
}

#[test]
fn carbon_is_computed_per_leg_in_integers() {
    let mut w = World::with_shipment();
    // Sea: 19 000 km × 12 000 kg × 8 g/t·km / 1 000 000 = 1 824 kg exactly.
    // Road: 230 km × 12 000 kg × 62 g/t·km / 1 000 000 = 171.12, rounded down to 171 kg.
    assert_eq!(w.carbon(ID), (vec![1_824, 171], 1_995));
    assert_eq!(leg_carbon_kg(19_000, 12_000, MODE_SEA), Some(1_824));
    assert_eq!(leg_carbon_kg(1_000, 1_000, MODE_AIR), Some(602));
    assert_eq!(leg_carbon_kg(1_000, 1_000, MODE_RAIL), Some(22));
    assert_eq!(leg_carbon_kg(1_000, 1_000, MODE_INLAND_WATERWAY), Some(31));
    assert_eq!(leg_carbon_kg(1_000, 1_000, 0), None);
    assert_eq!(leg_carbon_kg(u32::MAX, u32::MAX, MODE_AIR), Some(11_104_939_927_202_009), "no overflow");
    // Rerouting the road leg onto rail: 230 × 12 000 × 22 / 1 000 000 = 60.72 → 60 kg.
    w.ok(
        SHIPPER,
        &IProvenance::rerouteCall {
            id: ID,
            newLegs: vec![leg("CNSHA", "NLRTM", MODE_SEA, 19_000), leg("NLRTM", "DEDUS", MODE_RAIL, 230)],
        },
    );
    assert_eq!(w.carbon(ID), (vec![1_824, 60], 1_884));
    assert_eq!(w.err(STRANGER, &IProvenance::carbonCall { id: B256::ZERO }), "provenance: unknown shipment");
}

#[test]
fn shipments_of_lists_each_shipment_once_per_party() {
    let mut w = World::with_shipment();
    let second = B256::repeat_byte(0x22);
    w.ok(SHIPPER, &create_call(second, route()));
    w.hand(SHIPPER, CARRIER, "CNSHA");
    w.hand(CARRIER, PORT, "NLRTM");
    w.hand(PORT, CARRIER, "NLRTM");
    w.hand(CARRIER, CONSIGNEE, "DEDUS");
    assert_eq!(w.shipments_of(SHIPPER), vec![ID, second]);
    assert_eq!(w.shipments_of(CONSIGNEE), vec![ID, second], "named at creation, custody adds no duplicate");
    assert_eq!(w.shipments_of(CARRIER), vec![ID], "custody accepted twice, listed once");
    assert_eq!(w.shipments_of(PORT), vec![ID]);
    assert_eq!(w.shipments_of(CUSTOMS), Vec::<B256>::new());
    // A pending receiver is not listed until it accepts.
    w.ok(SHIPPER, &IProvenance::handOverCall { id: second, to: PORT, location: loc("CNSHA") });
    assert_eq!(w.shipments_of(PORT), vec![ID]);
    w.ok(PORT, &IProvenance::acceptCustodyCall { id: second });
    assert_eq!(w.shipments_of(PORT), vec![ID, second]);
}

#[test]
fn unknown_shipments_are_refused_and_not_delivered() {
    let mut w = World::new();
    let id = B256::repeat_byte(9);
    assert_eq!(w.err(CARRIER, &IProvenance::acceptCustodyCall { id }), "provenance: unknown shipment");
    assert_eq!(w.err(CARRIER, &IProvenance::cancelHandOverCall { id }), "provenance: unknown shipment");
    let reroute = IProvenance::rerouteCall { id, newLegs: route() };
    assert_eq!(w.err(SHIPPER, &reroute), "provenance: unknown shipment");
    let flag = IProvenance::flagDisruptionCall { id, kind: DISRUPTION_WEATHER, location: loc("NLRTM") };
    assert_eq!(w.err(ADMIN, &flag), "provenance: unknown shipment");
    let set = IProvenance::setThresholdsCall { id, minTempCenti: 0, maxTempCenti: 1, maxShockMilliG: 1 };
    assert_eq!(w.err(SHIPPER, &set), "provenance: unknown shipment");
    assert_eq!(w.err(STRANGER, &IProvenance::legsCall { id }), "provenance: unknown shipment");
    assert_eq!(w.err(STRANGER, &IProvenance::trailCall { id }), "provenance: unknown shipment");
    assert_eq!(w.err(STRANGER, &IProvenance::progressCall { id }), "provenance: unknown shipment");
    assert_eq!(w.err(STRANGER, &IProvenance::thresholdsCall { id }), "provenance: unknown shipment");
    assert!(!w.is_delivered(id), "an escrow asking about an unknown shipment gets false");
}

#[test]
fn read_only_calls_value_and_garbage_are_refused() {
    let mut w = World::with_shipment();
    let hand = IProvenance::handOverCall { id: ID, to: CARRIER, location: loc("CNSHA") }.abi_encode();
    let read_only = Call { caller: SHIPPER, value: U256::ZERO, data: &hand, is_static: true };
    assert_eq!(
        reason(w.host.call_with(w.m.as_ref(), &read_only).unwrap_err()),
        "provenance: state change in a read-only call"
    );
    let paying = Call { caller: SHIPPER, value: U256::from(1), data: &hand, is_static: false };
    assert_eq!(
        reason(w.host.call_with(w.m.as_ref(), &paying).unwrap_err()),
        "provenance: the module does not accept value"
    );
    assert_eq!(
        reason(w.host.call(w.m.as_ref(), SHIPPER, &[1, 2, 3]).unwrap_err()),
        "provenance: unknown function or bad arguments"
    );
    // Views work in static calls.
    let view = IProvenance::isDeliveredCall { id: ID }.abi_encode();
    let static_view = Call { caller: STRANGER, value: U256::ZERO, data: &view, is_static: true };
    assert!(w.host.call_with(w.m.as_ref(), &static_view).is_ok());
}

#[test]
fn failed_calls_leave_no_writes_and_gas_is_charged() {
    let mut w = World::new();
    let before = w.host.storage.clone();
    let logs = w.host.logs.len();
    w.host.gas_limit = 100_000;
    let create = create_call(ID, route()).abi_encode();
    assert_eq!(w.host.call(w.m.as_ref(), SHIPPER, &create).unwrap_err(), Failure::OutOfGas);
    assert_eq!(w.host.storage, before);
    assert_eq!(w.host.logs.len(), logs);
    w.host.gas_limit = 10_000_000;
    w.host.call(w.m.as_ref(), SHIPPER, &create).unwrap();
    assert!(w.host.gas_used > 200_000, "a shipment writes many slots: {}", w.host.gas_used);
}

#[test]
fn selectors_match_solc() {
    // From solc 0.8.37's method identifiers for chaincode/sol/IProvenance.sol.
    assert_eq!(IProvenance::createShipmentCall::SELECTOR, [0x16, 0x7f, 0xf0, 0xea]);
    assert_eq!(IProvenance::attestCall::SELECTOR, [0x48, 0xce, 0x2e, 0xd5]);
    assert_eq!(IProvenance::rerouteCall::SELECTOR, [0x0a, 0x38, 0x98, 0x25]);
    assert_eq!(IProvenance::isDeliveredCall::SELECTOR, [0xe1, 0x52, 0x6b, 0x46]);
    assert_eq!(IProvenance::registerDeviceCall::SELECTOR, [0x33, 0x20, 0xf9, 0xb6]);
    assert_eq!(IProvenance::registrationDigestCall::SELECTOR, [0x90, 0x1a, 0xb2, 0x2f]);
}

fn view<C: SolCall>(w: &mut World, call: &C) -> C::Return {
    C::abi_decode_returns(&w.ok(STRANGER, call)).unwrap()
}

#[test]
fn a_customs_hold_blocks_hand_offs_and_delivery_until_released() {
    let mut w = World::with_shipment();
    w.hand(SHIPPER, CARRIER, "CNSHA");
    w.hand(CARRIER, PORT, "NLRTM");
    w.jurisdictions(CUSTOMS, &["NL"]);
    let update = |status: u8| IProvenance::customsUpdateCall { id: ID, status, customsRef: B256::repeat_byte(0xde) };
    // A pending hand-off cannot be accepted once customs holds the goods.
    w.ok(PORT, &IProvenance::handOverCall { id: ID, to: CONSIGNEE, location: loc("NLRTM") });
    w.ok(CUSTOMS, &update(CUSTOMS_HELD));
    assert_eq!(
        w.err(CONSIGNEE, &IProvenance::acceptCustodyCall { id: ID }),
        "provenance: held by customs until released"
    );
    w.ok(PORT, &IProvenance::cancelHandOverCall { id: ID });
    let hand_over = IProvenance::handOverCall { id: ID, to: CONSIGNEE, location: loc("DEDUS") };
    assert_eq!(w.err(PORT, &hand_over), "provenance: held by customs until released");
    w.ok(CUSTOMS, &update(CUSTOMS_RELEASED));
    w.ok(PORT, &hand_over);
    assert_eq!(w.shipment(ID).status, STATUS_IN_TRANSIT);
    w.ok(CONSIGNEE, &IProvenance::acceptCustodyCall { id: ID });
    assert_eq!(w.shipment(ID).status, STATUS_DELIVERED);
    let set = IProvenance::setCustomsJurisdictionsCall { authority: CARRIER, countries: vec![] };
    assert_eq!(w.err(ADMIN, &set), "provenance: not a customs authority");
    let set =
        IProvenance::setCustomsJurisdictionsCall { authority: CUSTOMS, countries: vec![FixedBytes::from_slice(b"n1")] };
    assert_eq!(w.err(ADMIN, &set), "provenance: a jurisdiction is a country code of two upper-case letters");
    assert_eq!(w.err(CUSTOMS, &set), "provenance: caller is not a module administrator");
    let listed = view(&mut w, &IProvenance::customsJurisdictionsCall { authority: CUSTOMS });
    assert_eq!(listed, vec![FixedBytes::<2>::from_slice(b"NL")]);
}

#[test]
fn revoked_parties_lose_their_role_and_revoked_devices_their_voice() {
    let mut w = World::with_shipment();
    let key = device();
    w.ok(SHIPPER, &registration(&key, SHIPPER));
    let now = w.host.timestamp;
    w.ok(STRANGER, &World::attestation(&key, SENSOR_TEMPERATURE, 500, now));
    assert_eq!(
        w.err(STRANGER, &IProvenance::revokeDeviceCall { deviceKey: device_key(&key) }),
        "provenance: only an administrator or the owner may revoke a device"
    );
    w.ok(SHIPPER, &IProvenance::revokeDeviceCall { deviceKey: device_key(&key) });
    assert_eq!(w.err(STRANGER, &World::attestation(&key, SENSOR_TEMPERATURE, 501, now)), "provenance: device revoked");
    let revoked = view(&mut w, &IProvenance::isRevokedCall { party: SHIPPER, deviceKey: device_key(&key) });
    assert_eq!((revoked.partyRevoked, revoked.deviceRevoked), (false, true));

    assert_eq!(
        w.err(SHIPPER, &IProvenance::revokePartyCall { party: CARRIER }),
        "provenance: caller is not a module administrator"
    );
    w.ok(ADMIN, &IProvenance::revokePartyCall { party: CARRIER });
    assert_eq!(w.err(ADMIN, &IProvenance::revokePartyCall { party: CARRIER }), "provenance: party already revoked");
    assert_eq!(w.err(ADMIN, &IProvenance::revokePartyCall { party: STRANGER }), "provenance: not a registered party");
    let hand_over = IProvenance::handOverCall { id: ID, to: CARRIER, location: loc("CNSHA") };
    assert_eq!(w.err(SHIPPER, &hand_over), "provenance: receiver is not a registered party");
    assert_eq!(view(&mut w, &IProvenance::partyOfCall { party: CARRIER }).role, 0);
    let flag = IProvenance::declareDisruptionCall {
        location: loc("NLRTM"),
        kind: DISRUPTION_STRIKE,
        startsAt: now,
        endsAt: now + 60,
    };
    assert_eq!(w.err(CARRIER, &flag), "provenance: caller may not declare disruptions");
    // The shipper revoked: its devices' readings are refused too, and it creates nothing more.
    let other = SigningKey::from_bytes(&[8u8; 32]);
    w.ok(SHIPPER, &registration(&other, SHIPPER));
    w.ok(ADMIN, &IProvenance::revokePartyCall { party: SHIPPER });
    assert_eq!(
        w.err(STRANGER, &World::attestation(&other, SENSOR_TEMPERATURE, 502, now)),
        "provenance: device owner revoked"
    );
    assert!(w.send(SHIPPER, &create_call(B256::repeat_byte(0x12), route())).is_err());
}

#[test]
fn a_port_disruption_flags_shipments_and_a_quorum_reroutes_them() {
    let mut w = World::with_shipment();
    w.hand(SHIPPER, CARRIER, "CNSHA");
    let now = w.host.timestamp;
    let declare = |at: &str, ends: u64| IProvenance::declareDisruptionCall {
        location: loc(at),
        kind: DISRUPTION_PORT_CLOSURE,
        startsAt: now,
        endsAt: ends,
    };
    assert_eq!(w.err(SHIPPER, &declare("NLRTM", now + 86_400)), "provenance: caller may not declare disruptions");
    assert_eq!(
        w.err(PORT, &declare("NLRTM", now)),
        "provenance: a disruption must end after it starts and in the future"
    );
    let elsewhere =
        IProvenance::declareDisruptionCall::abi_decode_returns(&w.ok(PORT, &declare("SGSIN", now + 86_400))).unwrap();
    let closure =
        IProvenance::declareDisruptionCall::abi_decode_returns(&w.ok(PORT, &declare("NLRTM", now + 86_400))).unwrap();
    let (topics, data) = w.host.logs.last().unwrap();
    let event = IProvenance::PortDisrupted::decode_raw_log(topics.iter().copied(), data).unwrap();
    assert_eq!((event.disruption, event.location, event.reporter), (closure, loc("NLRTM"), PORT));
    // Rotterdam is on the remaining route (sea to NLRTM, road to DEDUS); Singapore is not.
    assert_eq!(view(&mut w, &IProvenance::disruptionsOfCall { id: ID }), vec![closure]);

    let via_antwerp = vec![leg("CNSHA", "BEANR", MODE_SEA, 19_100), leg("BEANR", "DEDUS", MODE_ROAD, 220)];
    let propose =
        |disruption: u64, legs: Vec<Leg>| IProvenance::proposeRerouteCall { id: ID, disruption, newLegs: legs };
    assert_eq!(
        w.err(PORT, &propose(closure, via_antwerp.clone())),
        "provenance: only the shipper, the custodian or the consignee may propose a reroute"
    );
    assert_eq!(
        w.err(SHIPPER, &propose(elsewhere, via_antwerp.clone())),
        "provenance: the disruption does not affect this shipment"
    );
    assert_eq!(
        w.err(SHIPPER, &propose(closure, route())),
        "provenance: the new route still passes through the disrupted location"
    );
    let proposal =
        IProvenance::proposeRerouteCall::abi_decode_returns(&w.ok(SHIPPER, &propose(closure, via_antwerp.clone())))
            .unwrap();
    let (topics, data) = w.host.logs.last().unwrap();
    let approved = IProvenance::RerouteApproved::decode_raw_log(topics.iter().copied(), data).unwrap();
    assert_eq!((approved.approvals, approved.needed), (1, 2), "shipper, carrier (custodian) and consignee decide");
    assert_eq!(w.legs(ID), route(), "one approval of three is not enough");
    let approve = IProvenance::approveRerouteCall { id: ID, proposal };
    assert_eq!(w.err(SHIPPER, &approve), "provenance: already approved");
    assert_eq!(
        w.err(PORT, &approve),
        "provenance: only the shipper, the custodian or the consignee may approve a reroute"
    );
    assert!(IProvenance::approveRerouteCall::abi_decode_returns(&w.ok(CONSIGNEE, &approve)).unwrap(), "two of three");
    assert_eq!(w.legs(ID), via_antwerp);
    assert_eq!(w.err(CARRIER, &approve), "provenance: the reroute proposal is closed");
    let kinds: Vec<u8> = w.trail(ID).iter().map(|e| e.kind).collect();
    assert!(kinds.ends_with(&[TRAIL_REROUTE_PROPOSED, TRAIL_REROUTED]), "{kinds:?}");
    assert!(view(&mut w, &IProvenance::disruptionsOfCall { id: ID }).is_empty(), "no longer routed through Rotterdam");
    // The journey completes on the new route.
    w.hand(CARRIER, PORT, "BEANR");
    w.hand(PORT, CONSIGNEE, "DEDUS");
    assert_eq!(w.shipment(ID).status, STATUS_DELIVERED);
    let page =
        view(&mut w, &IProvenance::shipmentsPageCall { party: CONSIGNEE, offset: U256::ZERO, limit: U256::from(10) });
    assert_eq!((page.ids, page.total), (vec![ID], U256::from(1)));
    assert!(
        w.send(STRANGER, &IProvenance::shipmentsPageCall { party: CONSIGNEE, offset: U256::ZERO, limit: U256::ZERO })
            .is_err()
    );
}

#[test]
fn the_shipper_declares_embedded_emissions_once_for_cbam() {
    let mut w = World::with_shipment();
    let declare = |direct: u32| IProvenance::declareEmbeddedEmissionsCall {
        id: ID,
        installation: B256::repeat_byte(0x1a),
        productionRoute: "BF-BOF".into(),
        countryOfOrigin: FixedBytes::from_slice(b"CN"),
        directKgPerTonne: direct,
        indirectKgPerTonne: 320,
    };
    assert!(!view(&mut w, &IProvenance::embeddedEmissionsCall { id: ID }).declared);
    assert_eq!(w.err(CARRIER, &declare(1_850)), "provenance: only the shipper declares embedded emissions");
    let bad_route = IProvenance::declareEmbeddedEmissionsCall { productionRoute: String::new(), ..declare(1_850) };
    assert_eq!(w.err(SHIPPER, &bad_route), "provenance: the production route must be 1 to 31 bytes");
    let bad_country =
        IProvenance::declareEmbeddedEmissionsCall { countryOfOrigin: FixedBytes::from_slice(b"cn"), ..declare(1_850) };
    assert_eq!(w.err(SHIPPER, &bad_country), "provenance: the country of origin is two upper-case letters");
    w.ok(SHIPPER, &declare(1_850));
    let event = w.last_log::<IProvenance::EmbeddedEmissionsDeclared>(ID);
    // 12,000 kg = 12 t at 1,850 + 320 kg CO2e per tonne.
    assert_eq!((event.totalKg, event.by), (26_040, SHIPPER));
    let declared = view(&mut w, &IProvenance::embeddedEmissionsCall { id: ID });
    assert_eq!(
        (
            declared.declared,
            declared.productionRoute.as_str(),
            declared.countryOfOrigin.as_slice(),
            declared.directKgPerTonne,
            declared.indirectKgPerTonne,
            declared.totalKg
        ),
        (true, "BF-BOF", &b"CN"[..], 1_850, 320, 26_040)
    );
    assert_eq!(w.err(SHIPPER, &declare(1)), "provenance: embedded emissions already declared");
    let most = u128::from(u32::MAX) * 2 * u128::from(u32::MAX) / 1_000;
    assert_eq!(u128::from(embedded_total_kg(u32::MAX, u32::MAX, u32::MAX)), most, "no overflow at the extremes");
}
