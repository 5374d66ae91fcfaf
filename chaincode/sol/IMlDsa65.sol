// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title ML-DSA-65 signature verification (dsec precompile at 0x...da5ec101).
/// @notice Checks a post-quantum (FIPS 204 ML-DSA-65) signature, so smart
/// accounts, escrows and chaincode flows can accept signatures that stay
/// unforgeable against quantum adversaries.
///  - `publicKey`: the signer's 1,952-byte ML-DSA-65 public key;
///  - `message`: the signed bytes (any length);
///  - `context`: the FIPS 204 context string the signer used (0-255 bytes);
///  - `signature`: the 3,309-byte signature.
/// Returns true if the signature verifies and false if it does not (a
/// signature of the wrong size included). Reverts, with a reason, on calldata
/// that is not this ABI, a public key that is not 1,952 bytes, or a context
/// longer than 255 bytes.
/// Gas: 7,500 plus 12 per 32-byte word of message and context.
interface IMlDsa65 {
    function verify(bytes calldata publicKey, bytes calldata message, bytes calldata context, bytes calldata signature)
        external
        view
        returns (bool valid);
}
