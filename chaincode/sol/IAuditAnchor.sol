// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Tenant audit anchoring (dsec chaincode at 0x...da5ec0001).
/// @notice Tenants (agencies) anchor the Merkle roots of batches of audit-log
/// lines. Each tenant's anchors form a hash chain: an anchor names the previous
/// one, so the chain cannot be reordered or forked. Anyone can check that a
/// line belongs to an anchored batch with `verifyLine`. Members anchoring at
/// the same time use `append`, which chains to whatever the head is when the
/// transaction executes; `anchor` asserts the head the member saw.
/// Trees follow RFC 6962 with keccak-256: leaf = keccak256(0x00 || line),
/// node = keccak256(0x01 || left || right).
/// Tenant ids are bytes32; a tenant declared in the genesis file with id "x"
/// has the on-chain id keccak256("x").
interface IAuditAnchor {
    event TenantCreated(bytes32 indexed tenant, string name, string zone, uint64 anchorsPerDay);
    event MemberAdded(bytes32 indexed tenant, address indexed member);
    event MemberRemoved(bytes32 indexed tenant, address indexed member);
    /// A suspended tenant cannot anchor until it is resumed.
    event TenantSuspended(bytes32 indexed tenant, address by);
    event TenantResumed(bytes32 indexed tenant, address by);
    event QuotaChanged(bytes32 indexed tenant, uint64 anchorsPerDay, address by);
    event Anchored(
        bytes32 indexed tenant, uint64 indexed seq, bytes32 root, uint64 lineCount, bytes32 prevAnchor, bytes32 anchorHash
    );

    /// Create a tenant (platform administrators only). Name and zone: at most 31 bytes.
    function createTenant(bytes32 tenant, string calldata name, string calldata zone, uint64 anchorsPerDay) external;
    /// Allow `member` to anchor for `tenant` (platform administrators only).
    function addMember(bytes32 tenant, address member) external;
    /// Stop `member` anchoring for `tenant` (platform administrators only; genesis members too).
    function removeMember(bytes32 tenant, address member) external;
    /// Suspend a tenant: no anchoring until resumed (platform administrators only).
    function suspendTenant(bytes32 tenant) external;
    /// Resume a suspended tenant (platform administrators only).
    function resumeTenant(bytes32 tenant) external;
    /// Change a tenant's anchors per UTC day (platform administrators only).
    function setQuota(bytes32 tenant, uint64 anchorsPerDay) external;
    /// Anchor a batch: its Merkle root, its line count and the tenant's current head anchor hash
    /// (refused when another anchor came first: see `append`).
    function anchor(bytes32 tenant, bytes32 root, uint64 lineCount, bytes32 prevAnchor)
        external
        returns (uint64 seq, bytes32 anchorHash);
    /// Anchor a batch after the tenant's head as it is when the transaction executes: members anchoring
    /// concurrently each get the next sequence number, and every anchor still names its predecessor.
    function append(bytes32 tenant, bytes32 root, uint64 lineCount) external returns (uint64 seq, bytes32 anchorHash);

    /// The tenant's latest anchor (0 and zero hash before the first).
    function head(bytes32 tenant) external view returns (uint64 seq, bytes32 anchorHash);
    /// One anchor of a tenant.
    function anchorOf(bytes32 tenant, uint64 seq)
        external
        view
        returns (bytes32 root, uint64 lineCount, uint64 blockNumber, uint64 timestamp, bytes32 anchorHash);
    /// Whether `leaf` (= keccak256(0x00 || line)) is line `index` of anchored batch `seq`.
    function verifyLine(bytes32 tenant, uint64 seq, bytes32 leaf, uint64 index, bytes32[] calldata proof)
        external
        view
        returns (bool);
    /// Whether `who` may anchor for `tenant`.
    function isMember(bytes32 tenant, address who) external view returns (bool);
    /// Whether a tenant is suspended, and its anchors per day and those used today.
    function tenantStatus(bytes32 tenant) external view returns (bool suspended, uint64 anchorsPerDay, uint64 usedToday);
    /// A tenant's settings (its current quota).
    function tenantInfo(bytes32 tenant)
        external
        view
        returns (bool exists, string memory name, string memory zone, uint64 anchorsPerDay);
}
