// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Permissions (dsec system chaincode at 0x...da5ec004).
/// @notice The ledger's rules of who may do what, seeded from the genesis
/// `permissions` section and changed at run time:
///  - the account list: who may send transactions. In open mode anyone may,
///    except blocked accounts; in allowlist mode only listed accounts may.
///  - the deployer list: in allowlist mode only listed accounts may create
///    contracts, directly or through contracts at any call depth.
///  - the node list: libp2p peer ids of non-validator nodes allowed to connect.
///  - the administrators of each chaincode module (by module name).
///  - the permission administrators and their threshold.
/// Permission administrators may always send transactions, so a network
/// cannot lock its administrators out. Every change emits an event and takes
/// effect from the next block.
///
/// A change is one of the change functions below. With a threshold of 1 an
/// administrator calls it directly. With a threshold of M > 1, M distinct
/// administrators each sign `changeDigest(change)` (`change` is the ABI
/// calldata of the change function; the signature is an Ethereum personal
/// message signature, EIP-191, over the 32 digest bytes, as `eth_sign` and
/// wallets make it) and anyone submits the change with `execute`. Every
/// change advances `changeNonce`, which the digest binds, so an approval
/// cannot be replayed.
///
/// Validators holding more than two thirds of the current voting power can
/// always replace the administrators (`replaceAdmins`, approved like a
/// validator-set change: ed25519 signatures over `adminsDigest`).
interface IPermissions {
    /// A current validator's ed25519 signature over `adminsDigest`.
    struct ValidatorApproval {
        bytes32 publicKey;
        bytes signature;
        /// ML-DSA-65 signature on a chain with hybrid consensus signatures (empty otherwise).
        bytes mlDsaSignature;
    }

    event AccountAdded(address indexed account);
    event AccountRemoved(address indexed account);
    event AccountBlocked(address indexed account);
    event AccountUnblocked(address indexed account);
    event AccountAllowlistChanged(bool enabled);
    event DeployerAdded(address indexed account);
    event DeployerRemoved(address indexed account);
    event DeployerAllowlistChanged(bool enabled);
    event NodeAdded(string peerId);
    event NodeRemoved(string peerId);
    event ModuleAdminAdded(string module, address indexed admin);
    event ModuleAdminRemoved(string module, address indexed admin);
    event AdminsChanged(address[] admins, uint64 threshold);
    /// A change was made; `approvers` are the administrators who made it.
    event ChangeMade(uint64 indexed nonce, bytes4 selector, address[] approvers);

    // Changes: called by an administrator when the threshold is 1, or through `execute`.

    /// Allow `account` to send transactions (the allowlist).
    function addAccount(address account) external;
    /// Take `account` off the allowlist.
    function removeAccount(address account) external;
    /// Refuse `account`'s transactions in any mode (the blocklist).
    function blockAccount(address account) external;
    /// Take `account` off the blocklist.
    function unblockAccount(address account) external;
    /// Switch between allowlist mode (`true`) and open mode (`false`).
    function setAccountAllowlist(bool enabled) external;
    /// Allow `account` to create contracts.
    function addDeployer(address account) external;
    /// Take `account` off the deployer list.
    function removeDeployer(address account) external;
    /// Restrict creations to the deployer list (`true`) or let every permitted sender create (`false`).
    function setDeployerAllowlist(bool enabled) external;
    /// Allow the non-validator node with this libp2p peer id to connect.
    function addNode(string calldata peerId) external;
    /// Disconnect and refuse the node with this peer id.
    function removeNode(string calldata peerId) external;
    /// Make `admin` an administrator of the chaincode module `module` ("audit", "provenance", "settlement").
    function addModuleAdmin(string calldata module, address admin) external;
    /// Remove an administrator of a chaincode module.
    function removeModuleAdmin(string calldata module, address admin) external;
    /// Replace the permission administrators and the number of them a change needs.
    function setAdmins(address[] calldata admins, uint64 threshold) external;

    /// Make `change` (the calldata of a change function) with the signatures of `threshold` administrators.
    function execute(bytes calldata change, bytes[] calldata signatures) external;
    /// Replace the administrators with the approval of more than two thirds of the validators' power.
    function replaceAdmins(address[] calldata admins, uint64 threshold, ValidatorApproval[] calldata approvals)
        external;

    /// What administrators sign to approve `change` now: it binds the chain, the nonce and the change.
    function changeDigest(bytes calldata change) external view returns (bytes32);
    /// What validators sign to replace the administrators now.
    function adminsDigest(address[] calldata admins, uint64 threshold) external view returns (bytes32);
    /// Number of changes made so far.
    function changeNonce() external view returns (uint64);

    /// Whether the account allowlist is enabled.
    function accountAllowlistEnabled() external view returns (bool);
    /// The account allowlist.
    function accounts() external view returns (address[] memory);
    /// The blocklist.
    function blockedAccounts() external view returns (address[] memory);
    /// Whether the deployer allowlist is enabled.
    function deployerAllowlistEnabled() external view returns (bool);
    /// The deployer list.
    function deployers() external view returns (address[] memory);
    /// The peer ids of non-validator nodes allowed to connect.
    function nodes() external view returns (string[] memory);
    /// The administrators of a chaincode module.
    function moduleAdmins(string calldata module) external view returns (address[] memory);
    /// The permission administrators.
    function admins() external view returns (address[] memory);
    /// How many administrators a change needs.
    function threshold() external view returns (uint64);
    /// Whether `account` may send transactions now.
    function mayTransact(address account) external view returns (bool);
    /// Whether transactions from `account` may create contracts now.
    function mayDeploy(address account) external view returns (bool);
}
