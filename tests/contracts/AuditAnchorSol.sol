// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title The audit-anchoring logic written in Solidity, to compare its gas and
/// throughput with the native chaincode module (same checks, same storage).
contract AuditAnchorSol {
    struct Anchor {
        bytes32 root;
        uint64 lineCount;
        uint64 blockNumber;
        uint64 timestamp;
        bytes32 anchorHash;
    }

    address public immutable admin;
    mapping(bytes32 => bool) public tenantExists;
    mapping(bytes32 => uint64) public quota;
    mapping(bytes32 => mapping(address => bool)) public isMember;
    mapping(bytes32 => uint64) public headSeq;
    mapping(bytes32 => bytes32) public headHash;
    mapping(bytes32 => mapping(uint256 => uint64)) public usage;
    mapping(bytes32 => mapping(uint64 => Anchor)) public anchors;

    event Anchored(
        bytes32 indexed tenant, uint64 indexed seq, bytes32 root, uint64 lineCount, bytes32 prevAnchor, bytes32 anchorHash
    );

    constructor() {
        admin = msg.sender;
    }

    function createTenant(bytes32 tenant, uint64 anchorsPerDay) external {
        require(msg.sender == admin, "audit: caller is not a platform administrator");
        require(!tenantExists[tenant], "audit: tenant exists");
        tenantExists[tenant] = true;
        quota[tenant] = anchorsPerDay;
    }

    function addMember(bytes32 tenant, address member) external {
        require(msg.sender == admin, "audit: caller is not a platform administrator");
        require(tenantExists[tenant], "audit: unknown tenant");
        isMember[tenant][member] = true;
    }

    function anchor(bytes32 tenant, bytes32 root, uint64 lineCount, bytes32 prevAnchor)
        external
        returns (uint64 seq, bytes32 anchorHash)
    {
        require(tenantExists[tenant], "audit: unknown tenant");
        require(isMember[tenant][msg.sender], "audit: caller is not a member of the tenant");
        require(lineCount > 0, "audit: empty batch");
        require(prevAnchor == headHash[tenant], "audit: previous anchor is not the tenant's head");
        uint256 period = block.timestamp / 86400;
        uint64 used = usage[tenant][period];
        require(used < quota[tenant], "audit: anchoring quota exceeded for this period");
        usage[tenant][period] = used + 1;
        seq = headSeq[tenant] + 1;
        anchorHash = keccak256(abi.encode(tenant, uint256(seq), root, uint256(lineCount), prevAnchor));
        anchors[tenant][seq] = Anchor(root, lineCount, uint64(block.number), uint64(block.timestamp), anchorHash);
        headSeq[tenant] = seq;
        headHash[tenant] = anchorHash;
        emit Anchored(tenant, seq, root, lineCount, prevAnchor, anchorHash);
    }
}
