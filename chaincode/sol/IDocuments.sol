// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Sealed documents (dsec chaincode at 0x...da5ec005).
/// @notice The directory of document-encryption keys and the anchors of sealed
/// documents. Documents themselves travel off chain, sealed (dsec's envelope
/// format: AES-256-GCM, the content key encapsulated to each recipient with
/// ML-KEM-768 combined with X25519, signed by the sender); only hashes and
/// recipient key ids are recorded here.
///
/// Keys: a party publishes its ML-KEM-768 public key (1,184 bytes) and X25519
/// public key with `publishKey`, and again to rotate them; versions count from
/// 1. A key id is sha256("dsec/envelope/v1/keyid" || mlkemPublicKey ||
/// x25519PublicKey), the id envelopes name their recipients by.
///
/// Documents: `anchorDocument` records that the caller sealed a document:
/// `envelopeHash` is keccak256 of the sealed bytes, `contentHash` the
/// envelope's salted hash of the plaintext, `recipients` the recipients' key
/// ids (1 to 64, in the envelope's order), `subject` what the document is
/// about (a provenance shipment id, an audit tenant id; zero: nothing), and
/// `kind` a name of 1 to 64 bytes of a-z, 0-9, "-" and "." — "bill-of-lading",
/// "customs-declaration", "certificate-of-origin", "audit-batch", "other", or
/// one of the consortium's own. Each account anchors an envelope once, and
/// records are read by envelope hash and anchoring account (the envelope's
/// signer), so nobody can take a document's record by anchoring its hash first.
interface IDocuments {
    event KeyPublished(address indexed party, uint64 version, bytes32 keyId);
    event DocumentAnchored(
        bytes32 indexed envelopeHash,
        bytes32 indexed subject,
        address indexed sender,
        string kind,
        bytes32 contentHash,
        bytes32[] recipients,
        uint64 seq
    );

    /// Publish (or rotate) the caller's document-encryption key; returns its version.
    function publishKey(bytes calldata mlkemPublicKey, bytes32 x25519PublicKey) external returns (uint64 version);
    /// Record a sealed document; returns its sequence number among all anchored documents (from 1).
    function anchorDocument(
        bytes32 envelopeHash,
        bytes32 contentHash,
        string calldata kind,
        bytes32[] calldata recipients,
        bytes32 subject
    ) external returns (uint64 seq);

    /// A party's current key (reverts if it has published none).
    function keyOf(address party)
        external
        view
        returns (bytes memory mlkemPublicKey, bytes32 x25519PublicKey, uint64 version, bytes32 keyId);
    /// The document `anchoredBy` anchored (reverts if it anchored no such envelope).
    function document(bytes32 envelopeHash, address anchoredBy)
        external
        view
        returns (
            address sender,
            uint64 blockNumber,
            bytes32 contentHash,
            string memory kind,
            bytes32 subject,
            bytes32[] memory recipients
        );
}
