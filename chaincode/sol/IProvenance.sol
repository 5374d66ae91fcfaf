// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Shipment provenance (dsec chaincode at 0x...da5ec002).
/// @notice A supply-chain custody record. Module administrators register the
/// parties (one role each) and parties register their sensor devices. A
/// shipper creates a shipment with its planned route as contiguous legs; the
/// goods then move by two-step custody hand-offs (the custodian proposes, the
/// receiver accepts), and the shipment is Delivered when the consignee accepts
/// custody at the destination. Signed sensor readings, customs decisions,
/// disruptions and reroutes are recorded too, and every step is appended to the
/// shipment's trail, which reads back in order.
///
/// A customs Held status blocks hand-offs and delivery until customs releases
/// the shipment; a customs authority acts only where the shipment is in one of
/// its jurisdictions (UN/LOCODE country codes, set by administrators). Ports
/// and carriers declare port-wide disruptions with a time window; a shipment
/// whose remaining route passes through a disrupted location is flagged
/// (`disruptionsOf`), and a reroute around it takes effect once a quorum (more
/// than half) of the shipment's parties — shipper, current custodian,
/// consignee — approve it. Administrators revoke parties, and administrators
/// or owners revoke devices: a revoked party has no role, and a revoked
/// device's readings are refused.
///
/// Encodings:
/// - Locations are UN/LOCODEs as 5 ASCII bytes: a 2-letter country code
///   (A-Z) then 3 characters from A-Z and 2-9, e.g. "NLRTM", "DEHAM", "SGSIN".
/// - Roles: Shipper = 1, Carrier = 2, PortOperator = 3 (port or warehouse),
///   CustomsAuthority = 4, Consignee = 5.
/// - Transport modes: Road = 1, Rail = 2, Sea = 3, Air = 4, InlandWaterway = 5.
/// - Shipment status: Created = 1, InTransit = 2, Delivered = 3.
/// - Customs status: None = 0, Lodged = 1, Held = 2, Released = 3.
/// - Sensor kinds: Temperature = 1 (value in centi-degrees Celsius),
///   Shock = 2 (value in milli-g, not negative), Gps = 3 (value packs the
///   position: latitude × 10^7 in the high 32 bits, longitude × 10^7 as the
///   low 32 bits, both signed; no threshold applies).
/// - Disruption kinds: PortClosure = 1, Weather = 2, Strike = 3, Other = 4.
/// - Trail kinds: Created = 1, HandOverProposed = 2, HandOverCancelled = 3,
///   CustodyAccepted = 4, Delivered = 5 (the custody acceptance that completes
///   the shipment), Excursion = 6, Customs = 7, Disruption = 8, Rerouted = 9,
///   RerouteProposed = 10 (code: number of new legs; detail: the proposal id).
///
/// Carbon: each leg emits distanceKm × weightKg × factor / 1,000,000 kg CO2e
/// (integer division, per leg; the total is the sum of the per-leg figures),
/// where factor is in grams CO2e per tonne-km: Road 62, Rail 22, Sea 8,
/// Air 602, InlandWaterway 31.
interface IProvenance {
    /// One planned leg of a route.
    struct Leg {
        bytes5 from;
        bytes5 to;
        // Transport mode (see above).
        uint8 mode;
        // Distance in kilometres, more than 0.
        uint32 distanceKm;
    }

    /// One step of a shipment's trail.
    struct TrailEntry {
        // Position in the trail, from 1.
        uint64 seq;
        // Trail kind (see above).
        uint8 kind;
        // Who acted (for an excursion: the device's owner).
        address actor;
        // The other side: the receiver of a hand-off proposal or cancellation
        // (the custodian when the receiver declines), the previous custodian
        // on acceptance, the consignee on creation; otherwise zero.
        address counterparty;
        // Where: the hand-off location, or the shipment's location at the time.
        bytes5 location;
        // Block timestamp of the step.
        uint64 timestamp;
        // Excursion: sensor kind; Customs: customs status; Disruption:
        // disruption kind; Rerouted: number of new legs; otherwise 0.
        uint8 code;
        // Excursion: the measured value; otherwise 0.
        int64 value;
        // Created: goods hash; Excursion: device key; Customs: customs
        // reference; otherwise zero.
        bytes32 detail;
    }

    event PartyRegistered(address indexed party, uint8 role, string name);
    event DeviceRegistered(bytes32 indexed deviceKey, address indexed owner);
    event ShipmentCreated(
        bytes32 indexed id,
        address indexed shipper,
        address indexed consignee,
        bytes5 origin,
        bytes5 destination,
        bytes32 goodsHash,
        uint32 hsCode,
        uint256 declaredValue,
        uint32 weightKg,
        uint64 legCount
    );
    event ThresholdsSet(bytes32 indexed id, int64 minTempCenti, int64 maxTempCenti, int64 maxShockMilliG);
    event HandOverProposed(bytes32 indexed id, address indexed from, address indexed to, bytes5 location);
    event HandOverCancelled(bytes32 indexed id, address indexed by, address indexed to);
    event CustodyAccepted(bytes32 indexed id, address indexed from, address indexed to, bytes5 location);
    event Delivered(bytes32 indexed id, address indexed consignee, bytes5 location);
    event Attested(bytes32 indexed id, bytes32 indexed deviceKey, uint8 kind, int64 value, uint64 observedAt);
    // `limit` is the threshold the value crossed.
    event Excursion(
        bytes32 indexed id, bytes32 indexed deviceKey, uint8 kind, int64 value, int64 limit, uint64 observedAt
    );
    event CustomsUpdated(bytes32 indexed id, address indexed authority, uint8 status, bytes32 customsRef);
    event Disrupted(bytes32 indexed id, address indexed reporter, uint8 kind, bytes5 location);
    event Rerouted(bytes32 indexed id, address indexed by, bytes5 from, Leg[] legs);
    event CustomsJurisdictionsSet(address indexed authority, bytes2[] countries);
    event PartyRevoked(address indexed party, address by);
    event DeviceRevoked(bytes32 indexed deviceKey, address by);
    /// A port-wide disruption at `location` from `startsAt` until `endsAt` (unix seconds).
    event PortDisrupted(uint64 indexed disruption, bytes5 location, uint8 kind, uint64 startsAt, uint64 endsAt, address indexed reporter);
    event RerouteProposed(bytes32 indexed id, uint64 indexed proposal, uint64 disruption, address indexed by, Leg[] legs);
    /// The goods' embedded emissions for the EU CBAM declaration: the producing installation, its
    /// production route, the country of origin, and the specific direct and indirect emissions in
    /// kg CO2e per tonne of goods; `totalKg` is weightKg × (direct + indirect) / 1,000.
    event EmbeddedEmissionsDeclared(
        bytes32 indexed id,
        bytes32 installation,
        string productionRoute,
        bytes2 countryOfOrigin,
        uint32 directKgPerTonne,
        uint32 indirectKgPerTonne,
        uint64 totalKg,
        address by
    );
    event RerouteApproved(bytes32 indexed id, uint64 indexed proposal, address indexed by, uint8 approvals, uint8 needed);

    /// Register `party` with a role (module administrators only). A party has
    /// exactly one role and is registered once. Name: at most 31 bytes.
    function registerParty(address party, uint8 role, string calldata name) external;

    /// Register a sensor device by its ed25519 public key, bound to `owner`, a
    /// registered party (module administrators or `owner` itself). The device
    /// proves it holds the key: `signature` is its 64-byte ed25519 signature
    /// over the 32-byte message
    /// `keccak256(abi.encode(keccak256("dsec.provenance.device.v1"), chainHash,
    /// address(this), deviceKey, owner))`,
    /// where `chainHash` is the chain's genesis block hash (see
    /// `registrationDigest`), so nobody can register a key they do not hold.
    function registerDevice(bytes32 deviceKey, address owner, bytes calldata signature) external;

    /// Create a shipment (registered Shippers only); the caller becomes its
    /// first custodian. `consignee` must be a registered Consignee, `id` new,
    /// `hsCode` and `weightKg` not zero, and `legs` (at most 32) must run
    /// contiguously from `origin` to `destination`.
    function createShipment(
        bytes32 id,
        address consignee,
        bytes5 origin,
        bytes5 destination,
        bytes32 goodsHash,
        uint32 hsCode,
        uint256 declaredValue,
        uint32 weightKg,
        Leg[] calldata legs
    ) external;

    /// Set the sensor thresholds of a shipment (its shipper only). Until set,
    /// no reading is an excursion. A temperature below `minTempCenti` or above
    /// `maxTempCenti`, or a shock above `maxShockMilliG`, is an excursion.
    function setThresholds(bytes32 id, int64 minTempCenti, int64 maxTempCenti, int64 maxShockMilliG) external;

    /// Propose to hand the goods over to `to` at `location` (the current
    /// custodian only; one pending hand-off at a time).
    function handOver(bytes32 id, address to, bytes5 location) external;

    /// Withdraw a pending hand-off (the custodian) or decline it (the receiver).
    function cancelHandOver(bytes32 id) external;

    /// Accept a pending hand-off (the pending receiver only): the caller
    /// becomes custodian at the hand-off location. The shipment is Delivered
    /// when the caller is the consignee and the location is the destination,
    /// otherwise InTransit. Returns the new status.
    function acceptCustody(bytes32 id) external returns (uint8 status);

    /// Record a sensor reading signed by a registered device whose owner is
    /// involved in the shipment (it appears in `shipmentsOf(owner)`). Anyone
    /// may submit it. `signature` is the 64-byte ed25519 signature by
    /// `deviceKey` over the 32-byte message
    /// `keccak256(abi.encode(keccak256("dsec.provenance.attestation.v2"), chainHash,
    /// address(this), id, deviceKey, kind, value, observedAt))`,
    /// where `chainHash` is the chain's genesis block hash, so a reading signed
    /// for one chain is refused by any other (see `attestationDigest`).
    /// `observedAt` (unix seconds) may not be in the future nor, for a
    /// delivered shipment, after its delivery. Each signed reading is accepted
    /// once. Emits `Excursion` (and appends it to
    /// the trail) when the value crosses a threshold, `Attested` otherwise.
    function attest(
        bytes32 id,
        bytes32 deviceKey,
        uint8 kind,
        int64 value,
        uint64 observedAt,
        bytes calldata signature
    ) external returns (bool excursion);

    /// Record a customs decision (CustomsAuthority parties only, where the
    /// shipment's current location is in one of their jurisdictions). Held
    /// blocks hand-offs and delivery until Released.
    function customsUpdate(bytes32 id, uint8 status, bytes32 customsRef) external;

    /// Set the country codes (ISO 3166-1 alpha-2, at most 64) a customs
    /// authority acts on, replacing its previous set (module administrators).
    function setCustomsJurisdictions(address authority, bytes2[] calldata countries) external;

    /// Declare the goods' embedded emissions for CBAM (the shipper, once, before delivery).
    /// `productionRoute`: at most 31 bytes, e.g. "BF-BOF" or "EAF"; `installation`: the
    /// installation's identifier (e.g. keccak256 of its registry id).
    function declareEmbeddedEmissions(
        bytes32 id,
        bytes32 installation,
        string calldata productionRoute,
        bytes2 countryOfOrigin,
        uint32 directKgPerTonne,
        uint32 indirectKgPerTonne
    ) external;

    /// Revoke a party (module administrators): it no longer has a role.
    function revokeParty(address party) external;

    /// Revoke a device (module administrators or its owner): its readings are refused from now on.
    function revokeDevice(bytes32 deviceKey) external;

    /// Declare a port-wide disruption at `location` from `startsAt` until
    /// `endsAt` (PortOperator or Carrier parties, or module administrators).
    function declareDisruption(bytes5 location, uint8 kind, uint64 startsAt, uint64 endsAt)
        external
        returns (uint64 disruption);

    /// Propose a reroute of a shipment flagged by `disruption` (its shipper,
    /// custodian or consignee): `newLegs` run from the current location to the
    /// destination and avoid the disrupted location. Counts as the proposer's approval.
    function proposeReroute(bytes32 id, uint64 disruption, Leg[] calldata newLegs) external returns (uint64 proposal);

    /// Approve a reroute proposal (the shipper, custodian or consignee); it
    /// takes effect when more than half of them have approved.
    function approveReroute(bytes32 id, uint64 proposal) external returns (bool applied);

    /// Report a disruption at `location` (the custodian, any Carrier or
    /// PortOperator party, or a module administrator).
    function flagDisruption(bytes32 id, uint8 kind, bytes5 location) external;

    /// Replace the remaining planned legs (the shipper or the custodian). The
    /// legs already completed are kept; `newLegs` must run contiguously from
    /// the shipment's current location (the origin before any hand-off) to
    /// the destination. A leg is completed when custody is accepted at its end.
    function reroute(bytes32 id, Leg[] calldata newLegs) external;

    /// A shipment's record (reverts for an unknown shipment).
    function shipment(bytes32 id)
        external
        view
        returns (
            address shipper,
            address consignee,
            bytes5 origin,
            bytes5 destination,
            bytes32 goodsHash,
            uint32 hsCode,
            uint256 declaredValue,
            uint32 weightKg,
            address custodian,
            address pendingTo,
            uint8 status,
            uint8 customsStatus,
            uint64 legCount,
            uint64 trailLength
        );

    /// Where a shipment is: its current location, how many of its legs are
    /// completed, and when it was created and delivered (0 if not yet).
    function progress(bytes32 id)
        external
        view
        returns (bytes5 location, uint64 legsCompleted, uint64 createdAt, uint64 deliveredAt);

    /// A shipment's sensor thresholds (`set` is false until `setThresholds`).
    function thresholds(bytes32 id)
        external
        view
        returns (bool set, int64 minTempCenti, int64 maxTempCenti, int64 maxShockMilliG);

    /// A shipment's current legs: the completed ones, then the planned ones.
    function legs(bytes32 id) external view returns (Leg[] memory);

    /// A shipment's trail, in order.
    function trail(bytes32 id) external view returns (TrailEntry[] memory);

    /// The kg CO2e of each current leg and their sum.
    function carbon(bytes32 id) external view returns (uint64[] memory perLegKg, uint64 totalKg);

    /// Ids of the shipments `party` created, accepted custody of or is the
    /// consignee of, each once, in the order the party became involved.
    function shipmentsOf(address party) external view returns (bytes32[] memory);

    /// The disruptions, not yet over, at a location on the shipment's remaining route.
    function disruptionsOf(bytes32 id) external view returns (uint64[] memory);

    /// A disruption.
    function disruption(uint64 disruptionId)
        external
        view
        returns (bytes5 location, uint8 kind, uint64 startsAt, uint64 endsAt, address reporter);

    /// A shipment's declared embedded emissions (`declared` false until declared).
    function embeddedEmissions(bytes32 id)
        external
        view
        returns (
            bool declared,
            bytes32 installation,
            string memory productionRoute,
            bytes2 countryOfOrigin,
            uint32 directKgPerTonne,
            uint32 indirectKgPerTonne,
            uint64 totalKg
        );

    /// A customs authority's jurisdictions.
    function customsJurisdictions(address authority) external view returns (bytes2[] memory);

    /// Whether a party or a device has been revoked.
    function isRevoked(address party, bytes32 deviceKey) external view returns (bool partyRevoked, bool deviceRevoked);

    /// A page of `shipmentsOf(party)`: from `offset`, at most `limit` (≤ 1,000), and how many in all.
    function shipmentsPage(address party, uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory ids, uint256 total);

    /// Whether the shipment is delivered (false for an unknown shipment).
    function isDelivered(bytes32 id) external view returns (bool);

    /// A party's role and name (0 and "" when not registered).
    function partyOf(address party) external view returns (uint8 role, string memory name);

    /// The owner of a registered device (zero when not registered).
    function deviceOwner(bytes32 deviceKey) external view returns (address);

    /// The message a device signs for `attest` on this chain.
    function attestationDigest(bytes32 id, bytes32 deviceKey, uint8 kind, int64 value, uint64 observedAt)
        external
        view
        returns (bytes32);

    /// The message a device signs to be registered to `owner` on this chain
    /// (for `registerDevice`).
    function registrationDigest(bytes32 deviceKey, address owner) external view returns (bytes32);
}
