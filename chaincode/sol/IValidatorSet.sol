// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Validator-set governance (dsec system chaincode at 0x...da5ec000).
/// @notice A change names the complete new validator set and the height at
/// which it starts signing blocks. That height must be at least two after the
/// block that includes the change, so every node knows the set of a height
/// before the height starts, and block headers announce it one height ahead
/// (`nextValidatorsHash`). One change may be pending at a time.
///
/// A change is approved either
///  - by validators of the current set holding more than two thirds of its
///    voting power: each signs `changeDigest(validators, activationHeight)`
///    (the 32 bytes, as they are) with its ed25519 consensus key — and, on a
///    chain with hybrid consensus signatures, with its ML-DSA-65 key too
///    (FIPS 204, context "dsec/consensus/v1") — and anyone submits the
///    signatures with `scheduleByValidators`; or
///  - if the genesis declares `permissions.validatorAdmin`, by a transaction
///    from that account (`scheduleByAdmin`).
///
/// Certificates of old heights stay verifiable: every scheduled set is kept
/// (`change(n)`) and the node serves the set of any height (`dsec_getValidators`).
interface IValidatorSet {
    /// A validator: its ed25519 public key (its address is the last 20 bytes of
    /// keccak256(publicKey)), its voting power (at least 1) and, on a chain
    /// with hybrid consensus signatures, its 1,952-byte ML-DSA-65 public key
    /// (empty on an ed25519 chain).
    struct ValidatorInfo {
        bytes32 publicKey;
        uint64 power;
        bytes mlDsaPublicKey;
    }

    /// A current validator's signatures over the change digest: ed25519, and
    /// ML-DSA-65 on a hybrid chain (empty on an ed25519 chain).
    struct Approval {
        bytes32 publicKey;
        bytes signature;
        bytes mlDsaSignature;
    }

    event ValidatorSetScheduled(uint64 indexed changeNumber, uint64 activationHeight, ValidatorInfo[] validators);

    /// Schedule a change approved by more than two thirds of the current voting power.
    function scheduleByValidators(ValidatorInfo[] calldata validators, uint64 activationHeight, Approval[] calldata approvals)
        external
        returns (uint64 changeNumber);
    /// Schedule a change as the genesis-declared validator admin.
    function scheduleByAdmin(ValidatorInfo[] calldata validators, uint64 activationHeight)
        external
        returns (uint64 changeNumber);

    /// What validators sign to approve this change (it binds the chain, the change number and the set).
    function changeDigest(ValidatorInfo[] calldata validators, uint64 activationHeight) external view returns (bytes32);
    /// Number of changes scheduled so far (the next change gets this number plus one).
    function changeCount() external view returns (uint64);
    /// Change `changeNumber` (1-based): its activation height and set. Change 0 is the genesis set.
    function change(uint64 changeNumber) external view returns (uint64 activationHeight, ValidatorInfo[] memory validators);
    /// The set that signs `height`, as far as it is scheduled now.
    function validatorsAt(uint64 height) external view returns (ValidatorInfo[] memory validators);
    /// The genesis-declared admin (zero address: none).
    function validatorAdmin() external view returns (address);
}
