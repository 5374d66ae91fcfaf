// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title A child contract the factory deploys.
contract Child {
    address public immutable parent;
    uint256 public immutable tag;

    constructor(uint256 tag_) {
        parent = msg.sender;
        tag = tag_;
    }
}

/// @title Deploys children with CREATE and CREATE2, so tests can check both address rules.
contract Factory {
    event Deployed(address indexed child, uint256 indexed tag, bool salted);

    function create(uint256 tag) external returns (address child) {
        child = address(new Child(tag));
        emit Deployed(child, tag, false);
    }

    function create2(uint256 tag, bytes32 salt) external returns (address child) {
        child = address(new Child{salt: salt}(tag));
        emit Deployed(child, tag, true);
    }

    function predict(uint256 tag, bytes32 salt) external view returns (address) {
        bytes32 codeHash = keccak256(abi.encodePacked(type(Child).creationCode, abi.encode(tag)));
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, codeHash)))));
    }
}
