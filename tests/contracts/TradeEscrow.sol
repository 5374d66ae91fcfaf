// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

interface ISettlementLite {
    function transfer(bytes3 code, address to, uint256 amount, bytes32 memo) external returns (uint64 holdId);
}

interface IProvenanceLite {
    function isDelivered(bytes32 id) external view returns (bool);
}

/// @title Trade-finance escrow: holds a settlement payment and releases it to
/// the seller only once the provenance chaincode shows the shipment delivered.
/// @dev The buyer funds it with a settlement transfer to this contract's address
/// (which must be KYC-approved in the settlement module).
contract TradeEscrow {
    ISettlementLite public constant SETTLEMENT = ISettlementLite(0x00000000000000000000000000000000da5eC003);
    IProvenanceLite public constant PROVENANCE = IProvenanceLite(0x00000000000000000000000000000000Da5eC002);

    address public immutable buyer;
    address public immutable seller;
    bytes32 public immutable shipment;
    bytes3 public immutable currency;
    uint256 public immutable amount;
    bool public released;

    event Released(bytes32 indexed shipment, address indexed seller, uint256 amount);

    error NotDelivered(bytes32 shipment);

    constructor(address seller_, bytes32 shipment_, bytes3 currency_, uint256 amount_) {
        buyer = msg.sender;
        seller = seller_;
        shipment = shipment_;
        currency = currency_;
        amount = amount_;
    }

    /// Pay the seller once the shipment is delivered. Anyone may trigger it.
    function release() external {
        require(!released, "escrow: already released");
        if (!PROVENANCE.isDelivered(shipment)) revert NotDelivered(shipment);
        released = true;
        SETTLEMENT.transfer(currency, seller, amount, shipment);
        emit Released(shipment, seller, amount);
    }

    /// Pays the seller and then reverts: used to show that the chaincode
    /// transfer made inside a reverted transaction is undone.
    function releaseThenAbort() external {
        SETTLEMENT.transfer(currency, seller, amount, shipment);
        revert("escrow: aborted after paying");
    }
}
