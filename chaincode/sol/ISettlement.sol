// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Cross-border settlement (dsec chaincode at 0x...da5ec003).
/// @notice Multi-currency balances for KYC-approved parties, payments with FX,
/// atomic payment-versus-payment, and compliance holds on every payment path
/// (above a currency's threshold, or beyond a party's daily limit) reviewed
/// under four eyes.
/// Amounts are integers in each currency's minor units. Currency codes are
/// ISO 4217 (three upper-case letters, e.g. "EUR" as bytes3).
/// Invariant: for every currency, the balances plus the amounts locked in
/// holds and PvP escrows equal the supply, which only mint and burn change.
interface ISettlement {
    /// A settled payment as the per-party payment index keeps it. `kind`: transfer (1), FX (2), PvP (3);
    /// `ref`: the hold id (transfer), quote id (FX) or PvP id; an FX payment is two records (the payer's
    /// base leg to the provider, the provider's quote leg to the recipient), a PvP one per leg.
    struct Payment {
        uint64 id;
        uint64 time;
        uint8 kind;
        uint64 ref;
        bytes3 code;
        address from;
        address to;
        uint256 amount;
    }

    /// KYC status of a party: none (0), approved (1), frozen (2). Frozen parties can't send or receive.
    event KycSet(address indexed party, uint8 status);
    /// A party's whole KYC record: status, expiry (unix seconds, 0: none; an expired party can neither send nor
    /// receive) and jurisdiction (ISO 3166-1 alpha-2, e.g. "DE" as bytes2), set by `officer`.
    event KycRecordSet(address indexed party, uint8 status, uint64 expiresAt, bytes2 jurisdiction, address officer);
    /// Roles: none (0), compliance officer (1), FX provider (2), compliance administrator (3).
    event RoleSet(address indexed party, uint8 role);
    event CurrencyCreated(bytes3 indexed code, uint8 decimals, address issuer, uint256 holdThreshold);
    /// Payments above `threshold` minor units in this currency are held (0: none).
    event HoldThresholdSet(bytes3 indexed code, uint256 threshold, address by);
    /// A party's payments in this currency beyond `limit` minor units in a UTC day are held (0: no limit).
    event DailyLimitSet(bytes3 indexed code, uint256 limit, address by);
    event Minted(bytes3 indexed code, address indexed to, uint256 amount);
    event Burned(bytes3 indexed code, address indexed from, uint256 amount);
    event Transferred(bytes3 indexed code, address indexed from, address indexed to, uint256 amount, bytes32 memo);
    /// One leg of a held payment (a transfer has one, an FX payment and a PvP two), its amount locked.
    event HoldCreated(uint64 indexed id, bytes3 code, address indexed from, address indexed to, uint256 amount, bytes32 memo);
    /// Why a payment is held: `kind` transfer (1), FX (2), PvP (3) with `ref` its quote or PvP id; `reason` above the
    /// currency's threshold (1) or beyond the party's daily limit (2); `initiator` the party whose call made it.
    event HoldOpened(uint64 indexed id, uint8 kind, uint8 reason, uint64 ref, address indexed initiator);
    event HoldResolved(uint64 indexed id, bool approved, address officer);
    /// A quote: payments at it may spend at most `maxNotional` base units together.
    event QuotePosted(uint64 indexed id, address indexed provider, bytes3 base, bytes3 quote, uint128 rateNum, uint128 rateDen, uint16 feeBps, uint64 expiresAt, uint256 maxNotional);
    event QuoteWithdrawn(uint64 indexed id);
    event FxPaid(uint64 indexed quoteId, address indexed from, address indexed to, uint256 baseAmount, uint256 quoteAmount, uint256 fee, bytes32 memo);
    event PvpProposed(uint64 indexed id, address indexed proposer, address indexed counterparty, bytes3 giveCode, uint256 giveAmount, bytes3 getCode, uint256 getAmount, uint64 expiresAt);
    /// Accepted, but held for compliance review as hold `holdId`: both legs locked until it is resolved.
    event PvpHeld(uint64 indexed id, uint64 holdId);
    event PvpSettled(uint64 indexed id);
    event PvpCancelled(uint64 indexed id);

    /// Set a party's KYC status, keeping its expiry and jurisdiction (compliance officers, not on themselves).
    function setKyc(address party, uint8 status) external;
    /// Set a party's KYC record (compliance officers, not on themselves).
    function setKycRecord(address party, uint8 status, uint64 expiresAt, bytes2 jurisdiction) external;
    /// Give a party a role (administrators only).
    function setRole(address party, uint8 role) external;
    /// Create a currency ledger (administrators only); payments above `holdThreshold` wait for a compliance officer (0: never).
    function createCurrency(bytes3 code, uint8 decimals, address issuer, uint256 holdThreshold) external;
    /// Change a currency's hold threshold (compliance administrators).
    function setHoldThreshold(bytes3 code, uint256 threshold) external;
    /// Set a currency's daily limit per party (compliance administrators; 0: none).
    function setDailyLimit(bytes3 code, uint256 limit) external;
    /// Issue new units to an approved party (the currency's issuer only).
    function mint(bytes3 code, address to, uint256 amount) external;
    /// Destroy units from the issuer's own balance (the issuer only).
    function burn(bytes3 code, uint256 amount) external;
    /// Pay an approved party; a payment above the currency's threshold or beyond the sender's daily limit is held
    /// and the hold id returned (0 when paid at once).
    function transfer(bytes3 code, address to, uint256 amount, bytes32 memo) external returns (uint64 holdId);
    /// Release a held payment to its recipients (compliance officers who are not party to it).
    function approveHold(uint64 id) external;
    /// Return a held payment's legs to their senders (compliance officers who are not party to it).
    function rejectHold(uint64 id) external;
    /// Post an FX quote (FX providers only): one minor unit of `base` buys rateNum/rateDen minor units of `quote`,
    /// less feeBps, for payments spending at most `maxNotional` base units in all.
    function postQuote(
        bytes3 base,
        bytes3 quote,
        uint128 rateNum,
        uint128 rateDen,
        uint16 feeBps,
        uint64 expiresAt,
        uint256 maxNotional
    ) external returns (uint64 id);
    /// Withdraw a quote (its provider only): no further payment uses it.
    function withdrawQuote(uint64 id) external;
    /// Pay `to` in the quote currency by spending `baseAmount` of the base currency at a live quote; held like a
    /// transfer when either leg is above its currency's threshold or the base leg beyond the payer's daily limit.
    function payFx(uint64 quoteId, address to, uint256 baseAmount, bytes32 memo)
        external
        returns (uint256 quoteAmount, uint64 holdId);
    /// Propose a payment-versus-payment: give `giveAmount` of `giveCode` for `getAmount` of `getCode` (locks the give leg).
    function proposePvp(address counterparty, bytes3 giveCode, uint256 giveAmount, bytes3 getCode, uint256 getAmount, uint64 expiresAt)
        external
        returns (uint64 id);
    /// Accept a PvP (the counterparty only): both legs settle together or not at all, or both wait in one hold.
    function acceptPvp(uint64 id) external returns (uint64 holdId);
    /// Cancel a PvP that was not accepted (the proposer only) and unlock the give leg.
    function cancelPvp(uint64 id) external;

    function balanceOf(address party, bytes3 code) external view returns (uint256);
    /// Every currency's balance of a party.
    function balancesOf(address party) external view returns (bytes3[] memory codes, uint256[] memory amounts);
    function totalSupply(bytes3 code) external view returns (uint256);
    /// Units of a currency locked in holds and PvP escrows.
    function locked(bytes3 code) external view returns (uint256);
    function kycOf(address party) external view returns (uint8);
    /// A party's KYC record; `active`: approved and not expired.
    function kycRecord(address party) external view returns (uint8 status, uint64 expiresAt, bytes2 jurisdiction, bool active);
    function roleOf(address party) external view returns (uint8);
    function currency(bytes3 code) external view returns (bool exists, uint8 decimals, address issuer, uint256 holdThreshold);
    /// A currency's daily limit per party, and what `party` has paid in it today without review.
    function dailyLimit(bytes3 code, address party) external view returns (uint256 limit, uint256 spentToday);
    /// A hold's first leg and status: pending (1), approved (2), rejected (3).
    function hold(uint64 id) external view returns (bytes3 code, address from, address to, uint256 amount, uint8 status);
    /// A hold's kind, reason, reference, initiator and second leg (amount 0 when it has one leg).
    function holdDetail(uint64 id)
        external
        view
        returns (uint8 kind, uint8 reason, uint64 ref, address initiator, bytes3 code2, address from2, address to2, uint256 amount2);
    /// Pending hold ids, oldest first from `offset`, at most `limit` (≤ 1,000) of `total`.
    function pendingHolds(uint256 offset, uint256 limit) external view returns (uint64[] memory ids, uint256 total);
    /// A quote and what payments have spent of it.
    function quoteOf(uint64 id)
        external
        view
        returns (address provider, bytes3 base, bytes3 quote, uint128 rateNum, uint128 rateDen, uint16 feeBps, uint64 expiresAt, uint256 maxNotional, uint256 used, bool withdrawn);
    /// A party's settled payments (sent or received) with `fromTime` ≤ time < `toTime`, oldest first from
    /// `offset`, at most `limit` (≤ 1,000) of the `total` in the period.
    function paymentsOf(address party, uint64 fromTime, uint64 toTime, uint256 offset, uint256 limit)
        external
        view
        returns (Payment[] memory payments, uint256 total);
}
