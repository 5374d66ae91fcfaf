// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Exercises the execution paths dsec's tests check: storage, events,
/// reverts with a reason and with a custom error, running out of gas.
contract Probe {
    uint256 public value;
    mapping(uint256 => uint256) public slots;

    event ValueSet(address indexed by, uint256 indexed newValue, string note);

    error Unauthorized(address caller, uint256 code);

    function set(uint256 newValue, string calldata note) external {
        value = newValue;
        emit ValueSet(msg.sender, newValue, note);
    }

    function failWithReason() external pure {
        revert("probe: refused");
    }

    function failWithCustomError(uint256 code) external view {
        revert Unauthorized(msg.sender, code);
    }

    function setThenFail(uint256 newValue) external {
        value = newValue;
        require(newValue == 0, "probe: nonzero");
    }

    /// Writes `count` storage slots: used to exhaust the gas given.
    function burn(uint256 count) external {
        for (uint256 i = 0; i < count; i++) {
            slots[i] = i + 1;
        }
    }

    function blockInfo() external view returns (uint256 number, uint256 timestamp, uint256 chainId) {
        return (block.number, block.timestamp, block.chainid);
    }
}
