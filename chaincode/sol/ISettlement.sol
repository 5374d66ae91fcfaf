// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Cross-border settlement (dsec chaincode at 0x...da5ec003).
/// @notice Multi-currency balances for KYC-approved parties, payments with FX,
/// atomic payment-versus-payment, and holds on large transfers.
/// Amounts are integers in each currency's minor units. Currency codes are
/// ISO 4217 (three upper-case letters, e.g. "EUR" as bytes3).
/// Invariant: for every currency, the balances plus the amounts locked in
/// holds and PvP escrows equal the supply, which only mint and burn change.
interface ISettlement {
    /// KYC status of a party: none (0), approved (1), frozen (2). Frozen parties can't send or receive.
    event KycSet(address indexed party, uint8 status);
    /// Roles: none (0), compliance officer (1), FX provider (2).
    event RoleSet(address indexed party, uint8 role);
    event CurrencyCreated(bytes3 indexed code, uint8 decimals, address issuer, uint256 holdThreshold);
    event Minted(bytes3 indexed code, address indexed to, uint256 amount);
    event Burned(bytes3 indexed code, address indexed from, uint256 amount);
    event Transferred(bytes3 indexed code, address indexed from, address indexed to, uint256 amount, bytes32 memo);
    event HoldCreated(uint64 indexed id, bytes3 code, address indexed from, address indexed to, uint256 amount, bytes32 memo);
    event HoldResolved(uint64 indexed id, bool approved, address officer);
    event QuotePosted(uint64 indexed id, address indexed provider, bytes3 base, bytes3 quote, uint128 rateNum, uint128 rateDen, uint16 feeBps, uint64 expiresAt);
    event FxPaid(uint64 indexed quoteId, address indexed from, address indexed to, uint256 baseAmount, uint256 quoteAmount, uint256 fee, bytes32 memo);
    event PvpProposed(uint64 indexed id, address indexed proposer, address indexed counterparty, bytes3 giveCode, uint256 giveAmount, bytes3 getCode, uint256 getAmount, uint64 expiresAt);
    event PvpSettled(uint64 indexed id);
    event PvpCancelled(uint64 indexed id);

    /// Set a party's KYC status (compliance officers only).
    function setKyc(address party, uint8 status) external;
    /// Give a party a role (administrators only).
    function setRole(address party, uint8 role) external;
    /// Create a currency ledger (administrators only); transfers above `holdThreshold` wait for a compliance officer (0: never).
    function createCurrency(bytes3 code, uint8 decimals, address issuer, uint256 holdThreshold) external;
    /// Issue new units to an approved party (the currency's issuer only).
    function mint(bytes3 code, address to, uint256 amount) external;
    /// Destroy units from the issuer's own balance (the issuer only).
    function burn(bytes3 code, uint256 amount) external;
    /// Pay an approved party; above the currency's threshold the amount is held and the hold id returned (0 when paid at once).
    function transfer(bytes3 code, address to, uint256 amount, bytes32 memo) external returns (uint64 holdId);
    /// Release a held transfer to its recipient (compliance officers only).
    function approveHold(uint64 id) external;
    /// Return a held transfer to its sender (compliance officers only).
    function rejectHold(uint64 id) external;
    /// Post an FX quote (FX providers only): one minor unit of `base` buys rateNum/rateDen minor units of `quote`, less feeBps.
    function postQuote(bytes3 base, bytes3 quote, uint128 rateNum, uint128 rateDen, uint16 feeBps, uint64 expiresAt)
        external
        returns (uint64 id);
    /// Pay `to` in the quote currency by spending `baseAmount` of the base currency at a live quote.
    function payFx(uint64 quoteId, address to, uint256 baseAmount, bytes32 memo) external returns (uint256 quoteAmount);
    /// Propose a payment-versus-payment: give `giveAmount` of `giveCode` for `getAmount` of `getCode` (locks the give leg).
    function proposePvp(address counterparty, bytes3 giveCode, uint256 giveAmount, bytes3 getCode, uint256 getAmount, uint64 expiresAt)
        external
        returns (uint64 id);
    /// Accept a PvP (the counterparty only): both legs settle together or not at all.
    function acceptPvp(uint64 id) external;
    /// Cancel a PvP that was not accepted (the proposer only) and unlock the give leg.
    function cancelPvp(uint64 id) external;

    function balanceOf(address party, bytes3 code) external view returns (uint256);
    function totalSupply(bytes3 code) external view returns (uint256);
    /// Units of a currency locked in holds and PvP escrows.
    function locked(bytes3 code) external view returns (uint256);
    function kycOf(address party) external view returns (uint8);
    function roleOf(address party) external view returns (uint8);
    function currency(bytes3 code) external view returns (bool exists, uint8 decimals, address issuer, uint256 holdThreshold);
    function hold(uint64 id) external view returns (bytes3 code, address from, address to, uint256 amount, uint8 status);
}
