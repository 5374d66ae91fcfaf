// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

interface IAuditAnchorLite {
    function anchor(bytes32 tenant, bytes32 root, uint64 lineCount, bytes32 prevAnchor)
        external
        returns (uint64 seq, bytes32 anchorHash);
    function head(bytes32 tenant) external view returns (uint64 seq, bytes32 anchorHash);
}

/// @title A Solidity contract that calls the audit chaincode, used to check
/// that chaincode writes are undone when the calling contract reverts.
contract AuditCaller {
    IAuditAnchorLite public constant AUDIT = IAuditAnchorLite(0x00000000000000000000000000000000da5Ec001);
    uint256 public anchored;

    function anchorNext(bytes32 tenant, bytes32 root, uint64 lineCount) external returns (uint64 seq) {
        (, bytes32 prev) = AUDIT.head(tenant);
        (seq,) = AUDIT.anchor(tenant, root, lineCount, prev);
        anchored += 1;
    }

    function anchorThenRevert(bytes32 tenant, bytes32 root, uint64 lineCount) external {
        (, bytes32 prev) = AUDIT.head(tenant);
        AUDIT.anchor(tenant, root, lineCount, prev);
        revert("caller: changed my mind");
    }
}
