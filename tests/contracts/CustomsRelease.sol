// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

interface IMlDsa65Verify {
    function verify(bytes calldata publicKey, bytes calldata message, bytes calldata context, bytes calldata signature)
        external
        view
        returns (bool valid);
}

/// @title A customs release gate: a shipment is released only with the customs
/// officer's ML-DSA-65 signature over its id, checked by dsec's precompile.
/// Used by the tests of the precompile.
contract CustomsRelease {
    IMlDsa65Verify public constant MLDSA = IMlDsa65Verify(address(uint160(0xda5ec101)));
    bytes public constant CONTEXT = "dsec-customs-release";

    bytes public officerKey;
    mapping(bytes32 => bool) public released;

    event Released(bytes32 indexed shipment);

    constructor(bytes memory officerKey_) {
        officerKey = officerKey_;
    }

    /// Whether `signature` is the officer's release of `shipment` (no state change).
    function isSigned(bytes32 shipment, bytes calldata signature) public view returns (bool) {
        return MLDSA.verify(officerKey, abi.encodePacked(shipment), CONTEXT, signature);
    }

    /// Release `shipment` with the officer's signature; reverts if it does not verify.
    function release(bytes32 shipment, bytes calldata signature) external {
        require(isSigned(shipment, signature), "CustomsRelease: not signed by the customs officer");
        released[shipment] = true;
        emit Released(shipment);
    }
}
