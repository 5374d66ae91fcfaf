use super::*;
use crate::testing::MemoryHost;
use alloy::sol_types::{SolCall, SolError};
use rand::{Rng, SeedableRng};

const ADMIN: Address = Address::repeat_byte(0xad);
const OFFICER: Address = Address::repeat_byte(0xc0);
const OFFICER2: Address = Address::repeat_byte(0xc2);
const CADMIN: Address = Address::repeat_byte(0xca);
const FX: Address = Address::repeat_byte(0xf0);
const EUR_ISSUER: Address = Address::repeat_byte(0xe0);
const USD_ISSUER: Address = Address::repeat_byte(0xd0);
const ALICE: Address = Address::repeat_byte(0x0a);
const BOB: Address = Address::repeat_byte(0x0b);
const CAROL: Address = Address::repeat_byte(0x0c);

fn code(s: &str) -> Code {
    Code::from_slice(s.as_bytes())
}

fn reason(f: Failure) -> String {
    match f {
        Failure::Revert(data) => alloy::sol_types::Revert::abi_decode(&data).map(|r| r.reason).unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

struct Bank {
    m: Arc<dyn Chaincode>,
    host: MemoryHost,
}

impl Bank {
    fn call<C: SolCall>(&mut self, who: Address, c: C) -> Result<C::Return, String> {
        let out = self.host.call(self.m.as_ref(), who, &c.abi_encode()).map_err(reason)?;
        Ok(C::abi_decode_returns(&out).expect("decodable return"))
    }

    fn ok<C: SolCall>(&mut self, who: Address, c: C) -> C::Return {
        self.call(who, c).unwrap_or_else(|e| panic!("call refused: {e}"))
    }

    fn balance(&mut self, who: Address, ccy: &str) -> U256 {
        self.ok(who, ISettlement::balanceOfCall { party: who, code: code(ccy) })
    }

    /// A bank with EUR (hold above 1,000,000) and USD, parties approved, roles set.
    fn new() -> Self {
        let m = Settlement::from_config(&ModuleConfig { admins: vec![ADMIN], ..Default::default() }).unwrap();
        let mut b = Self { m, host: MemoryHost::new() };
        b.ok(ADMIN, ISettlement::setRoleCall { party: OFFICER, role: ROLE_COMPLIANCE });
        b.ok(ADMIN, ISettlement::setRoleCall { party: OFFICER2, role: ROLE_COMPLIANCE });
        b.ok(ADMIN, ISettlement::setRoleCall { party: CADMIN, role: ROLE_COMPLIANCE_ADMIN });
        b.ok(ADMIN, ISettlement::setRoleCall { party: FX, role: ROLE_FX_PROVIDER });
        for p in [ALICE, BOB, CAROL, FX, EUR_ISSUER, USD_ISSUER] {
            b.ok(OFFICER, ISettlement::setKycCall { party: p, status: KYC_APPROVED });
        }
        b.ok(
            ADMIN,
            ISettlement::createCurrencyCall {
                code: code("EUR"),
                decimals: 2,
                issuer: EUR_ISSUER,
                holdThreshold: U256::from(1_000_000),
            },
        );
        b.ok(
            ADMIN,
            ISettlement::createCurrencyCall {
                code: code("USD"),
                decimals: 2,
                issuer: USD_ISSUER,
                holdThreshold: U256::ZERO,
            },
        );
        for (ccy, issuer) in [("EUR", EUR_ISSUER), ("USD", USD_ISSUER)] {
            for p in [ALICE, BOB, CAROL, FX] {
                b.ok(issuer, ISettlement::mintCall { code: code(ccy), to: p, amount: U256::from(5_000_000) });
            }
        }
        b
    }

    /// Check `Σ balances + locked = supply` for both currencies.
    fn check_invariants(&mut self) {
        for ccy in ["EUR", "USD"] {
            let mut sum = U256::ZERO;
            for p in [ALICE, BOB, CAROL, FX, EUR_ISSUER, USD_ISSUER, OFFICER, OFFICER2] {
                sum += self.balance(p, ccy);
            }
            let locked = self.ok(ALICE, ISettlement::lockedCall { code: code(ccy) });
            let supply = self.ok(ALICE, ISettlement::totalSupplyCall { code: code(ccy) });
            assert_eq!(sum + locked, supply, "{ccy}: balances {sum} + locked {locked} != supply {supply}");
        }
    }
}

fn pay(to: Address, ccy: &str, amount: u64) -> ISettlement::transferCall {
    ISettlement::transferCall { code: code(ccy), to, amount: U256::from(amount), memo: B256::repeat_byte(1) }
}

#[test]
fn transfers_between_approved_parties() {
    let mut b = Bank::new();
    assert_eq!(b.ok(ALICE, pay(BOB, "USD", 1_500)), 0, "paid at once");
    assert_eq!(b.balance(ALICE, "USD"), U256::from(4_998_500));
    assert_eq!(b.balance(BOB, "USD"), U256::from(5_001_500));
    assert_eq!(b.call(ALICE, pay(BOB, "USD", 10_000_000)).err().unwrap(), "settlement: insufficient balance");
    assert_eq!(b.call(ALICE, pay(BOB, "GBP", 1)).err().unwrap(), "settlement: unknown currency");
    assert_eq!(b.call(ALICE, pay(BOB, "USD", 0)).err().unwrap(), "settlement: amount must be positive");
    let stranger = Address::repeat_byte(0x99);
    assert_eq!(b.call(ALICE, pay(stranger, "USD", 1)).err().unwrap(), "settlement: recipient is not KYC-approved");
    b.check_invariants();
}

#[test]
fn frozen_parties_can_neither_send_nor_receive() {
    let mut b = Bank::new();
    b.ok(OFFICER, ISettlement::setKycCall { party: BOB, status: KYC_FROZEN });
    assert_eq!(b.call(ALICE, pay(BOB, "USD", 1)).err().unwrap(), "settlement: recipient is frozen");
    assert_eq!(b.call(BOB, pay(ALICE, "USD", 1)).err().unwrap(), "settlement: sender is frozen");
    assert_eq!(
        b.call(ALICE, ISettlement::setKycCall { party: BOB, status: KYC_APPROVED }).err().unwrap(),
        "settlement: caller is not a compliance officer"
    );
}

#[test]
fn issuers_mint_and_burn_and_nobody_else() {
    let mut b = Bank::new();
    let supply = b.ok(ALICE, ISettlement::totalSupplyCall { code: code("EUR") });
    assert_eq!(
        b.call(ALICE, ISettlement::mintCall { code: code("EUR"), to: ALICE, amount: U256::from(1) }).err().unwrap(),
        "settlement: caller is not the currency's issuer"
    );
    b.ok(EUR_ISSUER, ISettlement::mintCall { code: code("EUR"), to: EUR_ISSUER, amount: U256::from(700) });
    b.ok(EUR_ISSUER, ISettlement::burnCall { code: code("EUR"), amount: U256::from(200) });
    assert_eq!(b.ok(ALICE, ISettlement::totalSupplyCall { code: code("EUR") }), supply + U256::from(500));
    assert_eq!(
        b.call(EUR_ISSUER, ISettlement::burnCall { code: code("EUR"), amount: U256::from(10_000) }).err().unwrap(),
        "settlement: insufficient balance"
    );
    assert_eq!(
        b.call(
            ADMIN,
            ISettlement::createCurrencyCall {
                code: code("eur"),
                decimals: 2,
                issuer: ADMIN,
                holdThreshold: U256::ZERO
            }
        )
        .err()
        .unwrap(),
        "settlement: currency code must be three upper-case letters (ISO 4217)"
    );
    assert_eq!(
        b.call(
            ADMIN,
            ISettlement::createCurrencyCall {
                code: code("EUR"),
                decimals: 2,
                issuer: ADMIN,
                holdThreshold: U256::ZERO
            }
        )
        .err()
        .unwrap(),
        "settlement: currency exists"
    );
    b.check_invariants();
}

#[test]
fn large_transfers_wait_for_compliance() {
    let mut b = Bank::new();
    let id = b.ok(ALICE, pay(BOB, "EUR", 2_000_000));
    assert_eq!(id, 1);
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(3_000_000), "debited into the hold");
    assert_eq!(b.balance(BOB, "EUR"), U256::from(5_000_000), "not yet credited");
    b.check_invariants();
    assert_eq!(
        b.call(BOB, ISettlement::approveHoldCall { id }).err().unwrap(),
        "settlement: caller is not a compliance officer"
    );
    b.ok(OFFICER, ISettlement::approveHoldCall { id });
    assert_eq!(b.balance(BOB, "EUR"), U256::from(7_000_000));
    assert_eq!(
        b.call(OFFICER, ISettlement::rejectHoldCall { id }).err().unwrap(),
        "settlement: no pending hold with this id"
    );
    let id = b.ok(ALICE, pay(BOB, "EUR", 1_500_000));
    b.ok(OFFICER, ISettlement::rejectHoldCall { id });
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(3_000_000), "refunded");
    b.check_invariants();
}

#[test]
fn fx_payments_use_live_quotes_with_a_fee() {
    let mut b = Bank::new();
    let expires = b.host.timestamp + 60;
    // 1 EUR cent buys 1.08 USD cents, fee 0.5%.
    let q = ISettlement::postQuoteCall {
        base: code("EUR"),
        quote: code("USD"),
        rateNum: 108,
        rateDen: 100,
        feeBps: 50,
        expiresAt: expires,
        maxNotional: U256::MAX,
    };
    assert_eq!(b.call(ALICE, q.clone()).err().unwrap(), "settlement: caller is not an FX provider");
    let id = b.ok(FX, q);
    let paid = b
        .ok(ALICE, ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: U256::from(10_000), memo: B256::ZERO })
        .quoteAmount;
    // 10,000 EUR cents -> 10,800 USD cents gross, fee 54, net 10,746.
    assert_eq!(paid, U256::from(10_746));
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(4_990_000));
    assert_eq!(b.balance(FX, "EUR"), U256::from(5_010_000));
    assert_eq!(b.balance(CAROL, "USD"), U256::from(5_010_746));
    assert_eq!(b.balance(FX, "USD"), U256::from(5_000_000 - 10_746));
    b.check_invariants();
    b.host.timestamp = expires;
    assert_eq!(
        b.call(ALICE, ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: U256::from(1), memo: B256::ZERO })
            .err()
            .unwrap(),
        "settlement: quote expired"
    );
    assert_eq!(
        b.call(ALICE, ISettlement::payFxCall { quoteId: 9, to: CAROL, baseAmount: U256::from(1), memo: B256::ZERO })
            .err()
            .unwrap(),
        "settlement: unknown quote"
    );
}

#[test]
fn pvp_settles_both_legs_or_none() {
    let mut b = Bank::new();
    let expires = b.host.timestamp + 600;
    let propose = ISettlement::proposePvpCall {
        counterparty: BOB,
        giveCode: code("EUR"),
        giveAmount: U256::from(900),
        getCode: code("USD"),
        getAmount: U256::from(1_000),
        expiresAt: expires,
    };
    let id = b.ok(ALICE, propose.clone());
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(4_999_100), "give leg locked");
    b.check_invariants();
    assert_eq!(
        b.call(CAROL, ISettlement::acceptPvpCall { id }).err().unwrap(),
        "settlement: caller is not the PvP's counterparty"
    );
    b.ok(BOB, ISettlement::acceptPvpCall { id });
    assert_eq!(b.balance(BOB, "EUR"), U256::from(5_000_900));
    assert_eq!(b.balance(ALICE, "USD"), U256::from(5_001_000));
    assert_eq!(b.balance(BOB, "USD"), U256::from(4_999_000));
    assert_eq!(b.call(BOB, ISettlement::acceptPvpCall { id }).err().unwrap(), "settlement: PvP is not open");
    b.check_invariants();

    // The counterparty cannot pay its leg: nothing moves, the give leg stays locked.
    let big = ISettlement::proposePvpCall { getAmount: U256::from(50_000_000), ..propose.clone() };
    let id = b.ok(ALICE, big);
    assert_eq!(b.call(BOB, ISettlement::acceptPvpCall { id }).err().unwrap(), "settlement: insufficient balance");
    b.ok(ALICE, ISettlement::cancelPvpCall { id });
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(4_999_100), "unlocked on cancel");
    b.check_invariants();
    let id = b.ok(ALICE, propose);
    b.host.timestamp = expires;
    assert_eq!(b.call(BOB, ISettlement::acceptPvpCall { id }).err().unwrap(), "settlement: PvP expired");
}

/// Every pending hold's legs, from the module's own index and views.
fn pending_legs(b: &mut Bank) -> Vec<(Code, U256)> {
    let pending = b.ok(ALICE, ISettlement::pendingHoldsCall { offset: U256::ZERO, limit: U256::from(1_000) });
    assert_eq!(U256::from(pending.ids.len()), pending.total);
    let mut legs = Vec::new();
    for id in pending.ids {
        let first = b.ok(ALICE, ISettlement::holdCall { id });
        assert_eq!(first.status, 1, "hold {id} listed as pending");
        legs.push((first.code, first.amount));
        let detail = b.ok(ALICE, ISettlement::holdDetailCall { id });
        if !detail.amount2.is_zero() {
            legs.push((detail.code2, detail.amount2));
        }
    }
    legs
}

/// Property: whatever sequence of operations runs (transfers, FX payments and
/// PvPs, held or not, approvals and rejections by either officer, thresholds,
/// daily limits, KYC records expiring as time passes, quotes withdrawn; most
/// of them refused), for every currency the balances plus locked funds equal
/// the supply, the locked funds are exactly the pending holds' legs plus the
/// open PvPs' give legs, and the supply moves only by mint and burn.
#[test]
fn invariants_hold_over_random_operation_sequences() {
    let parties = [ALICE, BOB, CAROL, FX, EUR_ISSUER, USD_ISSUER];
    let ccys = ["EUR", "USD"];
    for seed in 0..20u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut b = Bank::new();
        let mut holds = Vec::new();
        // Open PvPs: id, proposer, counterparty, give currency index, give amount.
        let mut pvps: Vec<(u64, Address, Address, usize, U256)> = Vec::new();
        let mut expected_supply = [
            b.ok(ALICE, ISettlement::totalSupplyCall { code: code("EUR") }),
            b.ok(ALICE, ISettlement::totalSupplyCall { code: code("USD") }),
        ];
        let mut quotes = vec![];
        for (base, quote) in [("EUR", "USD"), ("USD", "EUR")] {
            quotes.push(b.ok(
                FX,
                ISettlement::postQuoteCall {
                    base: code(base),
                    quote: code(quote),
                    rateNum: 11,
                    rateDen: 10,
                    feeBps: 30,
                    expiresAt: b.host.timestamp + 1_000_000,
                    maxNotional: U256::from(40_000_000u64),
                },
            ));
        }
        for _ in 0..200 {
            let who = parties[rng.gen_range(0..parties.len())];
            let other = parties[rng.gen_range(0..parties.len())];
            let ci = rng.gen_range(0..2);
            let ccy = ccys[ci];
            let amount = U256::from(rng.gen_range(0..3_000_000u64));
            match rng.gen_range(0..13) {
                0 | 1 => {
                    if let Ok(id) =
                        b.call(who, ISettlement::transferCall { code: code(ccy), to: other, amount, memo: B256::ZERO })
                        && id != 0
                    {
                        holds.push(id);
                    }
                }
                2 => {
                    let issuer = if ci == 0 { EUR_ISSUER } else { USD_ISSUER };
                    if b.call(who, ISettlement::mintCall { code: code(ccy), to: other, amount }).is_ok() {
                        assert_eq!(who, issuer, "only the issuer mints");
                        expected_supply[ci] += amount;
                    }
                }
                3 => {
                    if b.call(who, ISettlement::burnCall { code: code(ccy), amount }).is_ok() {
                        expected_supply[ci] -= amount;
                    }
                }
                4 if !holds.is_empty() => {
                    let id = holds.swap_remove(rng.gen_range(0..holds.len()));
                    let officer = if rng.gen_bool(0.5) { OFFICER } else { OFFICER2 };
                    let resolved = if rng.gen_bool(0.5) {
                        b.call(officer, ISettlement::approveHoldCall { id }).map(|_| ())
                    } else {
                        b.call(officer, ISettlement::rejectHoldCall { id }).map(|_| ())
                    };
                    if resolved.is_err() {
                        holds.push(id);
                    }
                }
                5 => {
                    let pay =
                        ISettlement::payFxCall { quoteId: quotes[ci], to: other, baseAmount: amount, memo: B256::ZERO };
                    if let Ok(paid) = b.call(who, pay)
                        && paid.holdId != 0
                    {
                        holds.push(paid.holdId);
                    }
                }
                6 => {
                    let propose = ISettlement::proposePvpCall {
                        counterparty: other,
                        giveCode: code(ccy),
                        giveAmount: amount,
                        getCode: code(ccys[1 - ci]),
                        getAmount: U256::from(rng.gen_range(1..3_000_000u64)),
                        expiresAt: b.host.timestamp + 100,
                    };
                    if let Ok(id) = b.call(who, propose) {
                        pvps.push((id, who, other, ci, amount));
                    }
                }
                7 if !pvps.is_empty() => {
                    let i = rng.gen_range(0..pvps.len());
                    let (id, proposer, counterparty, ..) = pvps[i];
                    if rng.gen_bool(0.5) {
                        if let Ok(hold) = b.call(counterparty, ISettlement::acceptPvpCall { id }) {
                            pvps.swap_remove(i);
                            if hold != 0 {
                                holds.push(hold);
                            }
                        }
                    } else if b.call(proposer, ISettlement::cancelPvpCall { id }).is_ok() {
                        pvps.swap_remove(i);
                    }
                }
                8 => {
                    let limit = if rng.gen_bool(0.5) { U256::ZERO } else { U256::from(rng.gen_range(1..8_000_000u64)) };
                    if rng.gen_bool(0.5) {
                        b.ok(CADMIN, ISettlement::setDailyLimitCall { code: code(ccy), limit });
                    } else {
                        b.ok(CADMIN, ISettlement::setHoldThresholdCall { code: code(ccy), threshold: limit });
                    }
                }
                9 => b.host.timestamp += rng.gen_range(0..40_000),
                10 => {
                    let expires = if rng.gen_bool(0.5) { 0 } else { b.host.timestamp + rng.gen_range(1..200_000) };
                    let record = ISettlement::setKycRecordCall {
                        party: other,
                        status: KYC_APPROVED,
                        expiresAt: expires,
                        jurisdiction: FixedBytes::from_slice(b"DE"),
                    };
                    b.ok(OFFICER, record);
                }
                _ => {
                    let status = if rng.gen_bool(0.8) { KYC_APPROVED } else { KYC_FROZEN };
                    b.ok(OFFICER, ISettlement::setKycCall { party: other, status });
                }
            }
            b.check_invariants();
            let legs = pending_legs(&mut b);
            for (i, ccy) in ccys.iter().enumerate() {
                assert_eq!(
                    b.ok(ALICE, ISettlement::totalSupplyCall { code: code(ccy) }),
                    expected_supply[i],
                    "seed {seed}"
                );
                let in_holds: U256 = legs.iter().filter(|(c, _)| *c == code(ccy)).map(|(_, a)| *a).sum();
                let in_pvps: U256 = pvps.iter().filter(|p| p.3 == i).map(|p| p.4).sum();
                assert_eq!(
                    b.ok(ALICE, ISettlement::lockedCall { code: code(ccy) }),
                    in_holds + in_pvps,
                    "seed {seed}: {ccy} locked is the pending holds' legs and the open PvPs' give legs"
                );
            }
            let pending = b.ok(ALICE, ISettlement::pendingHoldsCall { offset: U256::ZERO, limit: U256::from(1) });
            assert_eq!(pending.total, U256::from(holds.len()), "seed {seed}: pending holds");
        }
    }
}

/// A quote from FX: one `base` unit buys `num / den` `quote` units, at `fee_bps`.
fn quote(b: &mut Bank, num: u128, den: u128, fee_bps: u16) -> u64 {
    let expires = b.host.timestamp + 60;
    let q = ISettlement::postQuoteCall {
        base: code("EUR"),
        quote: code("USD"),
        rateNum: num,
        rateDen: den,
        feeBps: fee_bps,
        expiresAt: expires,
        maxNotional: U256::MAX,
    };
    b.ok(FX, q)
}

#[test]
fn fx_fees_on_huge_amounts_are_exact_not_wrapped() {
    let mut b = Bank::new();
    b.ok(CADMIN, ISettlement::setHoldThresholdCall { code: code("EUR"), threshold: U256::ZERO });
    let half = U256::from(1) << 255usize;
    let quarter = half >> 1usize;
    b.ok(EUR_ISSUER, ISettlement::mintCall { code: code("EUR"), to: ALICE, amount: half + quarter });
    b.ok(USD_ISSUER, ISettlement::mintCall { code: code("USD"), to: FX, amount: half });
    // 1:1 at a 50% fee: 2^255 EUR buys 2^255 USD gross, fee 2^254, net 2^254.
    // (2^255 × 5,000 wraps to 0 in 256 bits: a wrapped fee would be 0 and the net 2^255.)
    let id = quote(&mut b, 1, 1, 5_000);
    let pay = ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: half, memo: B256::ZERO };
    assert_eq!(b.ok(ALICE, pay).quoteAmount, half >> 1usize);
    let (topics, data) = b.host.logs.last().unwrap();
    let paid = ISettlement::FxPaid::decode_raw_log(topics.iter().copied(), data).unwrap();
    assert_eq!((paid.quoteAmount, paid.fee), (half >> 1usize, half >> 1usize));
    b.check_invariants();

    // The rate is applied with a 512-bit product: 2^254 × 2 / 4 does not overflow on the way.
    let id = quote(&mut b, 2, 4, 0);
    let pay = ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: quarter, memo: B256::ZERO };
    assert_eq!(b.ok(ALICE, pay).quoteAmount, quarter >> 1usize);
    b.check_invariants();
    // A result beyond 256 bits is refused.
    let id = quote(&mut b, 4, 1, 0);
    let pay = ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: quarter, memo: B256::ZERO };
    assert_eq!(b.call(ALICE, pay).err().unwrap(), "settlement: amount overflows");
    // A full fee leaves nothing to pay.
    let id = quote(&mut b, 1, 1, 10_000);
    let pay = ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: U256::from(100), memo: B256::ZERO };
    assert_eq!(b.call(ALICE, pay).err().unwrap(), "settlement: amount too small at this rate");
}

#[test]
fn fees_are_bounded_when_quoted_and_when_paid() {
    let mut b = Bank::new();
    let expires = b.host.timestamp + 60;
    let q = ISettlement::postQuoteCall {
        base: code("EUR"),
        quote: code("USD"),
        rateNum: 1,
        rateDen: 1,
        feeBps: 10_001,
        expiresAt: expires,
        maxNotional: U256::MAX,
    };
    assert_eq!(b.call(FX, q).err().unwrap(), "settlement: fee above 100%");
    // A stored fee above 100% (not writable through the module) is refused rather than underflowing.
    let id = quote(&mut b, 1, 1, 50);
    b.host.storage.insert(slot("quote.fee", &[&id.to_be_bytes()]), U256::from(20_000));
    let pay = ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: U256::from(100), memo: B256::ZERO };
    assert_eq!(b.call(ALICE, pay).err().unwrap(), "settlement: fee above 100%");
}

#[test]
fn id_counters_do_not_overflow() {
    let mut b = Bank::new();
    b.host.storage.insert(slot("quote.next", &[]), U256::from(u64::MAX));
    let expires = b.host.timestamp + 60;
    let q = ISettlement::postQuoteCall {
        base: code("EUR"),
        quote: code("USD"),
        rateNum: 1,
        rateDen: 1,
        feeBps: 0,
        expiresAt: expires,
        maxNotional: U256::MAX,
    };
    assert_eq!(b.call(FX, q).err().unwrap(), "settlement: no more ids");
    b.host.storage.insert(slot("hold.next", &[]), U256::from(u64::MAX));
    assert_eq!(b.call(ALICE, pay(BOB, "EUR", 2_000_000)).err().unwrap(), "settlement: no more ids");
}

#[test]
fn stored_statuses_are_read_without_truncation() {
    let mut b = Bank::new();
    // 257 truncated to a u8 is 1, KYC_APPROVED: a status out of range must not read as approved.
    let dave = Address::repeat_byte(0x0d);
    b.host.storage.insert(slot("kyc", &[dave.as_slice()]), U256::from(257));
    assert_eq!(b.call(ALICE, pay(dave, "USD", 1)).err().unwrap(), "settlement: recipient is not KYC-approved");
    assert_eq!(b.ok(ALICE, ISettlement::kycOfCall { party: dave }), u8::MAX);
    b.host.storage.insert(slot("role", &[dave.as_slice()]), U256::from(256 + u64::from(ROLE_COMPLIANCE)));
    let approve = ISettlement::setKycCall { party: dave, status: KYC_APPROVED };
    assert_eq!(b.call(dave, approve).err().unwrap(), "settlement: caller is not a compliance officer");
}

/// The last event of type `E` the module emitted.
fn last_event<E: SolEvent>(b: &Bank) -> E {
    b.host
        .logs
        .iter()
        .rev()
        .find_map(|(topics, data)| E::decode_raw_log(topics.iter().copied(), data).ok())
        .expect("event emitted")
}

fn fx_quote(b: &mut Bank, base: &str, quote: &str, max: u64) -> u64 {
    let expires = b.host.timestamp + 10 * DAY;
    b.ok(
        FX,
        ISettlement::postQuoteCall {
            base: code(base),
            quote: code(quote),
            rateNum: 108,
            rateDen: 100,
            feeBps: 50,
            expiresAt: expires,
            maxNotional: U256::from(max),
        },
    )
}

#[test]
fn large_fx_payments_are_held_on_either_leg_and_settle_only_when_approved() {
    let mut b = Bank::new();
    let q = fx_quote(&mut b, "EUR", "USD", 10_000_000);
    // 2,000,000 EUR cents is above the EUR threshold of 1,000,000: held.
    let pay = ISettlement::payFxCall { quoteId: q, to: CAROL, baseAmount: U256::from(2_000_000), memo: B256::ZERO };
    let held = b.ok(ALICE, pay.clone());
    // 2,000,000 × 1.08 = 2,160,000 gross, fee 10,800, net 2,149,200.
    assert_eq!(held.quoteAmount, U256::from(2_149_200));
    assert_ne!(held.holdId, 0, "held for review");
    let opened: ISettlement::HoldOpened = last_event(&b);
    assert_eq!((opened.kind, opened.reason, opened.r#ref, opened.initiator), (KIND_FX, REASON_THRESHOLD, q, ALICE));
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(3_000_000), "base leg debited into the hold");
    assert_eq!(b.balance(CAROL, "USD"), U256::from(5_000_000), "recipient not yet paid");
    assert_eq!(b.balance(FX, "USD"), U256::from(5_000_000 - 2_149_200), "provider's quote leg reserved");
    assert_eq!(b.ok(ALICE, ISettlement::lockedCall { code: code("USD") }), U256::from(2_149_200));
    b.check_invariants();
    b.ok(OFFICER, ISettlement::approveHoldCall { id: held.holdId });
    let paid: ISettlement::FxPaid = last_event(&b);
    assert_eq!((paid.quoteId, paid.quoteAmount, paid.fee), (q, U256::from(2_149_200), U256::from(10_800)));
    assert_eq!(b.balance(CAROL, "USD"), U256::from(7_149_200));
    assert_eq!(b.balance(FX, "EUR"), U256::from(7_000_000));
    b.check_invariants();

    // Rejected: both legs go back, and the quote's notional is free again.
    let held = b.ok(ALICE, pay.clone());
    assert_eq!(b.ok(ALICE, ISettlement::quoteOfCall { id: q }).used, U256::from(4_000_000));
    b.ok(OFFICER, ISettlement::rejectHoldCall { id: held.holdId });
    assert_eq!(b.ok(ALICE, ISettlement::quoteOfCall { id: q }).used, U256::from(2_000_000));
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(3_000_000));
    assert_eq!(b.balance(FX, "USD"), U256::from(5_000_000 - 2_149_200));
    b.check_invariants();

    // The quote leg alone above its currency's threshold holds it too.
    b.ok(CADMIN, ISettlement::setHoldThresholdCall { code: code("USD"), threshold: U256::from(50_000) });
    let small = ISettlement::payFxCall { baseAmount: U256::from(100_000), ..pay };
    assert_ne!(b.ok(ALICE, small).holdId, 0, "108,000 USD cents is above the USD threshold");
    b.check_invariants();
}

#[test]
fn large_pvps_are_held_with_both_legs_locked() {
    let mut b = Bank::new();
    let expires = b.host.timestamp + 600;
    let propose = ISettlement::proposePvpCall {
        counterparty: BOB,
        giveCode: code("EUR"),
        giveAmount: U256::from(2_000_000),
        getCode: code("USD"),
        getAmount: U256::from(2_100_000),
        expiresAt: expires,
    };
    let id = b.ok(ALICE, propose.clone());
    let hold = b.ok(BOB, ISettlement::acceptPvpCall { id });
    assert_ne!(hold, 0, "the EUR leg is above the threshold");
    let held: ISettlement::PvpHeld = last_event(&b);
    assert_eq!((held.id, held.holdId), (id, hold));
    assert_eq!(b.balance(BOB, "USD"), U256::from(2_900_000), "the get leg is locked too");
    assert_eq!(b.balance(ALICE, "USD"), U256::from(5_000_000), "nothing delivered yet");
    assert_eq!(b.call(ALICE, ISettlement::cancelPvpCall { id }).err().unwrap(), "settlement: PvP is not open");
    assert_eq!(b.call(BOB, ISettlement::acceptPvpCall { id }).err().unwrap(), "settlement: PvP is not open");
    let detail = b.ok(ALICE, ISettlement::holdDetailCall { id: hold });
    assert_eq!((detail.kind, detail.r#ref, detail.initiator), (KIND_PVP, id, BOB));
    assert_eq!(
        (detail.code2, detail.from2, detail.to2, detail.amount2),
        (code("USD"), BOB, ALICE, U256::from(2_100_000))
    );
    b.check_invariants();
    b.ok(OFFICER, ISettlement::approveHoldCall { id: hold });
    let settled: ISettlement::PvpSettled = last_event(&b);
    assert_eq!(settled.id, id);
    assert_eq!(b.balance(BOB, "EUR"), U256::from(7_000_000));
    assert_eq!(b.balance(ALICE, "USD"), U256::from(7_100_000));
    b.check_invariants();

    // Rejected: each leg returns to the party that gave it.
    let id = b.ok(ALICE, propose);
    let hold = b.ok(BOB, ISettlement::acceptPvpCall { id });
    b.ok(OFFICER2, ISettlement::rejectHoldCall { id: hold });
    let cancelled: ISettlement::PvpCancelled = last_event(&b);
    assert_eq!(cancelled.id, id);
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(3_000_000));
    assert_eq!(b.balance(BOB, "USD"), U256::from(2_900_000));
    assert_eq!(b.ok(ALICE, ISettlement::lockedCall { code: code("EUR") }), U256::ZERO);
    b.check_invariants();
}

#[test]
fn four_eyes_no_officer_reviews_their_own_payment_or_kyc() {
    let mut b = Bank::new();
    b.ok(OFFICER2, ISettlement::setKycCall { party: OFFICER, status: KYC_APPROVED });
    b.ok(EUR_ISSUER, ISettlement::mintCall { code: code("EUR"), to: OFFICER, amount: U256::from(3_000_000) });
    let id = b.ok(OFFICER, pay(BOB, "EUR", 2_000_000));
    assert_eq!(
        b.call(OFFICER, ISettlement::approveHoldCall { id }).err().unwrap(),
        "settlement: four eyes: a compliance officer cannot review a payment they are party to"
    );
    assert_eq!(
        b.call(OFFICER, ISettlement::rejectHoldCall { id }).err().unwrap(),
        "settlement: four eyes: a compliance officer cannot review a payment they are party to"
    );
    // Nor a payment to themselves.
    b.ok(OFFICER, ISettlement::setKycCall { party: OFFICER2, status: KYC_APPROVED });
    let to_officer = b.ok(ALICE, pay(OFFICER2, "EUR", 1_500_000));
    assert!(b.call(OFFICER2, ISettlement::approveHoldCall { id: to_officer }).is_err());
    b.ok(OFFICER2, ISettlement::approveHoldCall { id });
    assert_eq!(b.balance(BOB, "EUR"), U256::from(7_000_000));
    let resolved: ISettlement::HoldResolved = last_event(&b);
    assert_eq!((resolved.id, resolved.approved, resolved.officer), (id, true, OFFICER2));
    assert_eq!(
        b.call(OFFICER, ISettlement::setKycCall { party: OFFICER, status: KYC_APPROVED }).err().unwrap(),
        "settlement: four eyes: a compliance officer cannot change their own KYC status"
    );
    let own = ISettlement::setKycRecordCall {
        party: OFFICER,
        status: KYC_APPROVED,
        expiresAt: 0,
        jurisdiction: FixedBytes::from_slice(b"NL"),
    };
    assert!(b.call(OFFICER, own).is_err());
    b.check_invariants();
}

#[test]
fn thresholds_and_daily_limits_are_set_by_compliance_administrators() {
    let mut b = Bank::new();
    let set = ISettlement::setHoldThresholdCall { code: code("USD"), threshold: U256::from(700) };
    for who in [ALICE, OFFICER, ADMIN] {
        assert_eq!(b.call(who, set.clone()).err().unwrap(), "settlement: caller is not a compliance administrator");
    }
    b.ok(CADMIN, set);
    let event: ISettlement::HoldThresholdSet = last_event(&b);
    assert_eq!((event.code, event.threshold, event.by), (code("USD"), U256::from(700), CADMIN));
    assert_eq!(b.ok(ALICE, ISettlement::currencyCall { code: code("USD") }).holdThreshold, U256::from(700));
    assert_ne!(b.ok(ALICE, pay(BOB, "USD", 701)), 0);
    assert_eq!(b.ok(ALICE, pay(BOB, "USD", 700)), 0);
    let unknown = ISettlement::setDailyLimitCall { code: code("GBP"), limit: U256::from(1) };
    assert_eq!(b.call(CADMIN, unknown).err().unwrap(), "settlement: unknown currency");
    assert_eq!(
        b.call(ALICE, ISettlement::setDailyLimitCall { code: code("USD"), limit: U256::from(1) }).err().unwrap(),
        "settlement: caller is not a compliance administrator"
    );
    assert_eq!(
        b.call(ADMIN, ISettlement::setRoleCall { party: ALICE, role: 4 }).err().unwrap(),
        "settlement: unknown role"
    );
}

#[test]
fn a_daily_limit_holds_payments_split_to_stay_below_the_threshold() {
    let mut b = Bank::new();
    b.ok(CADMIN, ISettlement::setDailyLimitCall { code: code("USD"), limit: U256::from(100_000) });
    let event: ISettlement::DailyLimitSet = last_event(&b);
    assert_eq!(event.limit, U256::from(100_000));
    assert_eq!(b.ok(ALICE, pay(BOB, "USD", 60_000)), 0);
    assert_eq!(b.ok(ALICE, pay(CAROL, "USD", 40_000)), 0, "exactly the limit");
    let day = b.ok(ALICE, ISettlement::dailyLimitCall { code: code("USD"), party: ALICE });
    assert_eq!((day.limit, day.spentToday), (U256::from(100_000), U256::from(100_000)));
    let id = b.ok(ALICE, pay(BOB, "USD", 1));
    assert_ne!(id, 0, "one more cent today is held");
    let opened: ISettlement::HoldOpened = last_event(&b);
    assert_eq!(opened.reason, REASON_DAILY_LIMIT);
    assert_eq!(b.ok(BOB, pay(ALICE, "USD", 90_000)), 0, "the limit is per party");
    // An FX payment's base leg counts against the payer's day too.
    let q = fx_quote(&mut b, "USD", "EUR", 1_000_000);
    let fx = ISettlement::payFxCall { quoteId: q, to: CAROL, baseAmount: U256::from(20_000), memo: B256::ZERO };
    assert_ne!(b.ok(BOB, fx.clone()).holdId, 0, "BOB's day: 90,000 + 20,000");
    // The next UTC day starts from zero; an approved hold does not count.
    b.ok(OFFICER, ISettlement::approveHoldCall { id });
    b.host.timestamp += DAY;
    assert_eq!(b.ok(ALICE, ISettlement::dailyLimitCall { code: code("USD"), party: ALICE }).spentToday, U256::ZERO);
    assert_eq!(b.ok(BOB, fx).holdId, 0);
    assert_eq!(b.ok(ALICE, pay(BOB, "USD", 100_000)), 0);
    b.check_invariants();
}

#[test]
fn kyc_records_expire_and_carry_a_jurisdiction() {
    let mut b = Bank::new();
    let now = b.host.timestamp;
    let record = |party, expires_at, jurisdiction: &[u8; 2]| ISettlement::setKycRecordCall {
        party,
        status: KYC_APPROVED,
        expiresAt: expires_at,
        jurisdiction: FixedBytes::from_slice(jurisdiction),
    };
    b.ok(OFFICER, record(BOB, now + 100, b"SG"));
    let set: ISettlement::KycRecordSet = last_event(&b);
    assert_eq!((set.party, set.expiresAt, set.officer), (BOB, now + 100, OFFICER));
    let r = b.ok(ALICE, ISettlement::kycRecordCall { party: BOB });
    assert_eq!(
        (r.status, r.expiresAt, r.jurisdiction.as_slice(), r.active),
        (KYC_APPROVED, now + 100, &b"SG"[..], true)
    );
    assert_eq!(b.ok(ALICE, pay(BOB, "USD", 10)), 0);
    b.host.timestamp = now + 100;
    assert!(!b.ok(ALICE, ISettlement::kycRecordCall { party: BOB }).active);
    assert_eq!(b.call(ALICE, pay(BOB, "USD", 10)).err().unwrap(), "settlement: recipient's KYC has expired");
    assert_eq!(b.call(BOB, pay(ALICE, "USD", 10)).err().unwrap(), "settlement: sender's KYC has expired");
    // A hold waiting while the recipient's KYC expires cannot be approved, only rejected.
    b.ok(OFFICER, record(CAROL, b.host.timestamp + 50, b"GB"));
    let id = b.ok(ALICE, pay(CAROL, "EUR", 2_000_000));
    b.host.timestamp += 50;
    assert_eq!(
        b.call(OFFICER, ISettlement::approveHoldCall { id }).err().unwrap(),
        "settlement: recipient's KYC has expired"
    );
    b.ok(OFFICER, ISettlement::rejectHoldCall { id });
    // Renewed: the status keeps the new expiry; setKyc keeps the record.
    b.ok(OFFICER, record(BOB, b.host.timestamp + 1_000, b"SG"));
    b.ok(OFFICER, ISettlement::setKycCall { party: BOB, status: KYC_APPROVED });
    assert_eq!(b.ok(ALICE, ISettlement::kycRecordCall { party: BOB }).expiresAt, b.host.timestamp + 1_000);
    assert_eq!(b.ok(ALICE, pay(BOB, "USD", 10)), 0);
    assert_eq!(
        b.call(OFFICER, record(BOB, b.host.timestamp, b"SG")).err().unwrap(),
        "settlement: KYC expiry is in the past"
    );
    assert_eq!(
        b.call(OFFICER, record(BOB, 0, b"s1")).err().unwrap(),
        "settlement: jurisdiction must be an ISO 3166-1 alpha-2 code (two upper-case letters)"
    );
    b.check_invariants();
}

#[test]
fn quotes_have_a_maximum_notional_and_can_be_withdrawn() {
    let mut b = Bank::new();
    let q = fx_quote(&mut b, "EUR", "USD", 50_000);
    let posted: ISettlement::QuotePosted = last_event(&b);
    assert_eq!(posted.maxNotional, U256::from(50_000));
    let fx = |amount: u64| ISettlement::payFxCall {
        quoteId: q,
        to: CAROL,
        baseAmount: U256::from(amount),
        memo: B256::ZERO,
    };
    b.ok(ALICE, fx(30_000));
    assert_eq!(b.call(BOB, fx(30_000)).err().unwrap(), "settlement: payment exceeds the quote's remaining notional");
    b.ok(BOB, fx(20_000));
    let info = b.ok(ALICE, ISettlement::quoteOfCall { id: q });
    assert_eq!(
        (info.provider, info.maxNotional, info.used, info.withdrawn),
        (FX, U256::from(50_000), U256::from(50_000), false)
    );
    let q = fx_quote(&mut b, "EUR", "USD", 50_000);
    let fx = |amount: u64| ISettlement::payFxCall {
        quoteId: q,
        to: CAROL,
        baseAmount: U256::from(amount),
        memo: B256::ZERO,
    };
    assert_eq!(
        b.call(ALICE, ISettlement::withdrawQuoteCall { id: q }).err().unwrap(),
        "settlement: caller is not the quote's provider"
    );
    b.ok(FX, ISettlement::withdrawQuoteCall { id: q });
    let withdrawn: ISettlement::QuoteWithdrawn = last_event(&b);
    assert_eq!(withdrawn.id, q);
    assert_eq!(b.call(ALICE, fx(1)).err().unwrap(), "settlement: quote withdrawn");
    assert_eq!(b.call(FX, ISettlement::withdrawQuoteCall { id: q }).err().unwrap(), "settlement: quote withdrawn");
    assert_eq!(b.call(FX, ISettlement::withdrawQuoteCall { id: 99 }).err().unwrap(), "settlement: unknown quote");
    let zero = ISettlement::postQuoteCall {
        base: code("EUR"),
        quote: code("USD"),
        rateNum: 1,
        rateDen: 1,
        feeBps: 0,
        expiresAt: b.host.timestamp + 60,
        maxNotional: U256::ZERO,
    };
    assert_eq!(b.call(FX, zero).err().unwrap(), "settlement: maxNotional must be positive");
    b.check_invariants();
}

#[test]
fn holds_payments_and_balances_are_queried_without_logs() {
    let mut b = Bank::new();
    let start = b.host.timestamp;
    let h1 = b.ok(ALICE, pay(BOB, "EUR", 2_000_000));
    b.host.timestamp += 10;
    assert_eq!(b.ok(ALICE, pay(BOB, "USD", 100)), 0);
    let h2 = b.ok(CAROL, pay(BOB, "EUR", 1_100_000));
    b.host.timestamp += 10;
    let h3 = b.ok(BOB, pay(ALICE, "EUR", 3_000_000));
    let all = |b: &mut Bank| {
        let mut ids = b.ok(ALICE, ISettlement::pendingHoldsCall { offset: U256::ZERO, limit: U256::from(10) }).ids;
        ids.sort();
        ids
    };
    assert_eq!(all(&mut b), vec![h1, h2, h3]);
    b.ok(OFFICER, ISettlement::approveHoldCall { id: h1 });
    assert_eq!(all(&mut b), vec![h2, h3]);
    let page = b.ok(ALICE, ISettlement::pendingHoldsCall { offset: U256::from(1), limit: U256::from(5) });
    assert_eq!((page.ids.len(), page.total), (1, U256::from(2)));
    assert_eq!(
        b.call(ALICE, ISettlement::pendingHoldsCall { offset: U256::ZERO, limit: U256::ZERO }).err().unwrap(),
        "settlement: limit must be 1 to 1,000"
    );
    assert_eq!(
        b.call(ALICE, ISettlement::pendingHoldsCall { offset: U256::ZERO, limit: U256::from(1_001) }).err().unwrap(),
        "settlement: limit must be 1 to 1,000"
    );

    // BOB's payments: the USD transfer at start + 10, then the approved hold at start + 20.
    let payments = |b: &mut Bank, from: u64, to: u64, offset: u64, limit: u64| {
        b.ok(
            ALICE,
            ISettlement::paymentsOfCall {
                party: BOB,
                fromTime: from,
                toTime: to,
                offset: U256::from(offset),
                limit: U256::from(limit),
            },
        )
    };
    let got = payments(&mut b, start, start + 100, 0, 10);
    assert_eq!(got.total, U256::from(2));
    assert_eq!(
        got.payments.iter().map(|p| (p.time, p.kind, p.code, p.from, p.to, p.amount)).collect::<Vec<_>>(),
        vec![
            (start + 10, KIND_TRANSFER, code("USD"), ALICE, BOB, U256::from(100)),
            (start + 20, KIND_TRANSFER, code("EUR"), ALICE, BOB, U256::from(2_000_000)),
        ]
    );
    assert_eq!(payments(&mut b, start + 11, start + 100, 0, 10).total, U256::from(1));
    assert_eq!(payments(&mut b, start, start + 10, 0, 10).total, U256::ZERO, "the end is exclusive");
    let second = payments(&mut b, start, start + 100, 1, 1);
    assert_eq!((second.payments.len(), second.payments[0].amount), (1, U256::from(2_000_000)));
    assert_eq!(
        b.call(
            ALICE,
            ISettlement::paymentsOfCall {
                party: BOB,
                fromTime: 5,
                toTime: 4,
                offset: U256::ZERO,
                limit: U256::from(1)
            }
        )
        .err()
        .unwrap(),
        "settlement: the period ends before it starts"
    );

    let balances = b.ok(ALICE, ISettlement::balancesOfCall { party: BOB });
    assert_eq!(balances.codes, vec![code("EUR"), code("USD")]);
    // EUR: 5,000,000 + 2,000,000 (hold 1 approved) - 3,000,000 (BOB's own payment, held).
    assert_eq!(balances.amounts, vec![U256::from(4_000_000), U256::from(5_000_100)]);
}
